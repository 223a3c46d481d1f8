//! Type names in casts: datafusion-pg-catalog's planner (OID aliases such as `regclass`,
//! `pg_catalog.`-qualified built-ins), and `name`, PostgreSQL's identifier type, which
//! it accepts only as `pg_catalog.name` (psqlODBC's `'fedsql'::name` was 0A000).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;

#[derive(Debug, Default)]
pub struct PgTypePlanner(PgOidTypePlanner);

impl TypePlanner for PgTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<Arc<Field>>> {
        if let SqlType::Custom(name, args) = sql_type {
            if args.is_empty() && name.0.len() == 1 && name.to_string().eq_ignore_ascii_case("name") {
                return Ok(Some(Arc::new(Field::new("", DataType::Utf8, true))));
            }
        }
        self.0.plan_type_field(sql_type)
    }
}
