//! System views defined by SQL over fedsql's own catalog:
//! - `pg_tables` and `pg_views` over pg_class (datafusion-pg-catalog lists every table,
//!   views too, in pg_tables, and has an empty pg_views);
//! - Redshift's `svv_columns` (Redash's Redshift schema browser) over our
//!   information_schema, and `svv_external_schemas`, empty (fedsql has no Spectrum schemas).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{internal_datafusion_err, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

/// A view defined by SQL over fedsql's own catalog, planned at scan time. Every column of
/// `sql` is cast to the declared type, so the declared schema is the planned one.
#[derive(Debug)]
pub struct SqlView {
    columns: Vec<(&'static str, DataType)>,
    from: &'static str,
}

impl SqlView {
    fn sql(&self) -> String {
        let select: Vec<String> = self
            .columns
            .iter()
            .map(|(name, ty)| {
                // arrow_cast, not CAST: VARCHAR may plan as Utf8View.
                format!("arrow_cast({name}, '{ty}') AS {name}")
            })
            .collect();
        format!("SELECT {} FROM {}", select.join(", "), self.from)
    }
}

/// `pg_tables`: ordinary and partitioned tables.
pub fn pg_tables() -> SqlView {
    use DataType::{Boolean, Utf8};
    SqlView {
        columns: vec![
            ("schemaname", Utf8),
            ("tablename", Utf8),
            ("tableowner", Utf8),
            ("tablespace", Utf8),
            ("hasindexes", Boolean),
            ("hasrules", Boolean),
            ("hastriggers", Boolean),
            ("rowsecurity", Boolean),
        ],
        from: concat!(
            "(SELECT n.nspname AS schemaname, c.relname AS tablename, 'postgres' AS tableowner, ",
            "NULL AS tablespace, c.relhasindex AS hasindexes, false AS hasrules, false AS hastriggers, ",
            "false AS rowsecurity FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ",
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p'))"
        ),
    }
}

/// `pg_views`: views, with their definitions as their sources print them.
pub fn pg_views() -> SqlView {
    use DataType::Utf8;
    SqlView {
        columns: vec![("schemaname", Utf8), ("viewname", Utf8), ("viewowner", Utf8), ("definition", Utf8)],
        from: concat!(
            "(SELECT n.nspname AS schemaname, c.relname AS viewname, 'postgres' AS viewowner, ",
            "pg_get_viewdef(c.oid) AS definition FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ",
            "ON n.oid = c.relnamespace WHERE c.relkind = 'v')"
        ),
    }
}

/// Redshift's `svv_columns`, for every column fedsql lists.
pub fn svv_columns() -> SqlView {
    use DataType::{Int32, Utf8};
    SqlView {
        columns: vec![
            ("table_catalog", Utf8),
            ("table_schema", Utf8),
            ("table_name", Utf8),
            ("column_name", Utf8),
            ("ordinal_position", Int32),
            ("column_default", Utf8),
            ("is_nullable", Utf8),
            ("data_type", Utf8),
            ("character_maximum_length", Int32),
            ("numeric_precision", Int32),
            ("numeric_precision_radix", Int32),
            ("numeric_scale", Int32),
            ("remarks", Utf8),
        ],
        from: "(SELECT *, CAST(NULL AS VARCHAR) AS remarks FROM information_schema.columns)",
    }
}

/// Redshift's `svv_external_schemas`: none here.
pub fn svv_external_schemas() -> SqlView {
    use DataType::{Int32, Utf8};
    SqlView {
        columns: vec![
            ("esoid", Int32),
            ("eskind", Int32),
            ("schemaname", Utf8),
            ("esowner", Int32),
            ("databasename", Utf8),
            ("esoptions", Utf8),
        ],
        from: "(SELECT 0 AS esoid, 0 AS eskind, '' AS schemaname, 0 AS esowner, '' AS databasename, '' AS esoptions WHERE false)",
    }
}

#[async_trait]
impl TableProvider for SqlView {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()))
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| internal_datafusion_err!("a catalog view needs a SessionState"))?;
        let ctx = SessionContext::new_with_state(state.clone());
        let mut df = ctx.sql(&self.sql()).await?;
        if let Some(p) = projection {
            let names: Vec<&str> = p.iter().map(|&i| self.columns[i].0).collect();
            df = df.select_columns(&names)?;
        }
        df.create_physical_plan().await
    }
}
