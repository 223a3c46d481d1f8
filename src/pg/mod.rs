//! Everything that makes fedsql look like PostgreSQL to its clients, in one place, used
//! by both fronts (the wire server and `fedsql query`):
//!
//! - `rewrite`: client SQL made plannable with PostgreSQL's meaning (the compatibility
//!   parser, regclass/regproc, array literals, result column names, LIKE escapes,
//!   correlated scalar subqueries in catalog queries);
//! - `catalog`: the database tools browse (pg_catalog with the sources' keys, indexes and
//!   comments, our information_schema, the system views);
//! - `functions`: PostgreSQL functions tools call (`version()`, `format`, privileges,
//!   `pg_get_*`);
//! - `settings`: PostgreSQL's session settings (SET, SHOW, RESET, `current_setting()`,
//!   startup options) with their values and errors;
//! - `types`: Arrow types as PostgreSQL names and numbers them, type names in casts, and
//!   PostgreSQL's reading of boolean literals.
//!
//! The engine knows nothing of this: it calls [`Postgres`] through `engine::SessionDialect`
//! when it makes a session template. Dependencies point one way: `pg` uses `engine`,
//! `connectors` and `config`; `server` and `cli` use `pg`.

pub mod catalog;
pub mod functions;
pub mod rewrite;
pub mod settings;
pub mod types;

use std::sync::Arc;

use datafusion::catalog::CatalogProvider;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::prelude::SessionContext;

use crate::engine::{Access, SessionDialect, SourceCatalog, DEFAULT_CATALOG};

pub use rewrite::{parse_sql, SqlParser};

/// The version tools see: a PostgreSQL 16 server (SQLAlchemy, Metabase and pgjdbc pick
/// their catalog queries by it).
pub const SERVER_VERSION: &str = "16.6";
/// `server_version_num`, the same version as an integer.
pub const SERVER_VERSION_NUM: &str = "160006";

/// The schemas a `search_path` value names, in order (`"$user"` has no schema here).
/// `public` is fedsql's own, empty schema; a path naming a source schema
/// (`SET search_path TO "crm.public"`) makes it the current schema, where unqualified
/// names resolve and which `current_schema()` reports.
pub fn search_path(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim())
        .map(|s| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).map_or(s.to_string(), |s| s.replace("\"\"", "\"")))
        .filter(|s| !s.is_empty() && s != "$user")
        .collect()
}

/// PostgreSQL as fedsql's clients see it, installed on every session template.
#[derive(Debug, Default)]
pub struct Postgres;

impl SessionDialect for Postgres {
    fn install(
        &self,
        ctx: &mut SessionContext,
        sources: &[Arc<SourceCatalog>],
        access: &Access,
    ) -> Result<Arc<dyn CatalogProvider>, String> {
        ctx.register_expr_planner(Arc::new(types::bool_literal::BooleanLiterals))
            .map_err(|e| format!("planner: {e}"))?;
        let tool_catalog = Arc::new(catalog::ToolCatalog::new(sources.to_vec(), access.clone()));
        ctx.register_catalog(DEFAULT_CATALOG, tool_catalog.clone());
        catalog::install(ctx, tool_catalog.clone()).map_err(|e| format!("pg_catalog: {e}"))?;
        // After datafusion-pg-catalog's setup, which installs its own type planner.
        // int2vector subscripts go before DataFusion's field access planner.
        {
            let state = ctx.state_ref();
            let existing = state.read().clone();
            let planners: Vec<Arc<dyn ExprPlanner>> = std::iter::once(Arc::new(types::vector_subscripts::VectorSubscripts) as _)
                .chain(existing.expr_planners().iter().cloned())
                .collect();
            *state.write() = SessionStateBuilder::new_from_existing(existing)
                .with_type_planner(Arc::new(types::planner::PgTypePlanner::default()))
                .with_expr_planners(planners)
                .build();
        }
        functions::register(ctx, access);
        Ok(tool_catalog)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_path_names_schemas_in_order() {
        assert_eq!(super::search_path("\"$user\", public"), vec!["public"]);
        assert_eq!(super::search_path("crm.public, \"we\"\"ird\""), vec!["crm.public", "we\"ird"]);
        assert!(super::search_path("").is_empty());
    }
}
