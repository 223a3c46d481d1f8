//! Checks made before planning: writes are refused, and every table reference names a
//! catalog, schema and table that exist (with the right SQLSTATE when they don't).

use datafusion::common::TableReference;
use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;

use super::access::Access;
use super::catalog::{SourceCatalogProvider, Status};
use super::error::{classify, sqlstate, QueryError};

/// The verb of a statement that would write, if it is one.
fn write_verb(stmt: &Statement) -> Option<&'static str> {
    Some(match stmt {
        Statement::Explain { statement, .. } => return write_verb(statement),
        Statement::Query(q) if select_into(q) => "SELECT INTO",
        Statement::Insert(_) => "INSERT",
        Statement::Update { .. } => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge { .. } => "MERGE",
        Statement::Truncate { .. } => "TRUNCATE",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView { .. } => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::AlterTable { .. } => "ALTER TABLE",
        Statement::AlterView { .. } => "ALTER VIEW",
        Statement::Drop { .. } => "DROP",
        Statement::Copy { to: false, .. } => "COPY FROM",
        Statement::Grant { .. } => "GRANT",
        Statement::Revoke { .. } => "REVOKE",
        _ => return None,
    })
}

fn select_into(q: &datafusion::sql::sqlparser::ast::Query) -> bool {
    use datafusion::sql::sqlparser::ast::SetExpr;
    matches!(q.body.as_ref(), SetExpr::Select(s) if s.into.is_some())
}

fn source(state: &SessionState, name: &str) -> Option<std::sync::Arc<super::catalog::SourceCatalog>> {
    let catalog = state.catalog_list().catalog(name)?;
    (catalog.as_ref() as &dyn std::any::Any)
        .downcast_ref::<SourceCatalogProvider>()
        .map(|p| p.0.clone())
}

/// Runs every check on one statement.
pub async fn check(state: &SessionState, stmt: &Statement) -> Result<(), QueryError> {
    let df_stmt = DfStatement::Statement(Box::new(stmt.clone()));
    let refs = state
        .resolve_table_references(&df_stmt)
        .map_err(|e| classify(&e))?;
    let options = state.config().options();
    let default_catalog = options.catalog.default_catalog.clone();
    let default_schema = options.catalog.default_schema.clone();
    let access = state.config().get_extension::<Access>().unwrap_or_else(|| std::sync::Arc::new(Access::All));

    if let Some(verb) = write_verb(stmt) {
        // DROP names its objects without DataFusion resolving them as references.
        let dropped = match stmt {
            Statement::Drop { names, .. } => names
                .iter()
                .map(|n| TableReference::from(n.to_string().as_str()))
                .collect(),
            _ => vec![],
        };
        let target = refs
            .iter()
            .chain(&dropped)
            .map(|r| r.clone().resolve(&default_catalog, &default_schema).catalog.to_string())
            .find(|c| source(state, c).is_some());
        let message = match target {
            Some(c) => format!("catalog `{c}` is read-only: {verb} is not allowed"),
            None => format!("fedsql is read-only: {verb} is not allowed"),
        };
        return Err(QueryError::new(sqlstate::READ_ONLY_SQL_TRANSACTION, message));
    }

    for r in refs {
        let full = r.resolve(&default_catalog, &default_schema);
        let (mut cat, mut schema, table) = (&*full.catalog, &*full.schema, &*full.table);
        // Tools name source schemas `"catalog.schema"` in the default catalog (pg::catalog).
        if cat == default_catalog {
            if let Some((c, s)) = schema.split_once('.').filter(|(c, _)| source(state, c).is_some()) {
                (cat, schema) = (c, s);
            }
        }
        if state.catalog_list().catalog(cat).is_none() {
            return Err(QueryError::new(
                sqlstate::INVALID_CATALOG_NAME,
                format!("catalog `{cat}` does not exist (in `{cat}.{schema}.{table}`)"),
            ));
        }
        let Some(src) = source(state, cat) else {
            continue;
        };
        // Refused whether or not it exists: what is not granted is not there to probe.
        if !access.table(cat, schema, table) {
            let user = access.user().unwrap_or_default();
            return Err(QueryError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied for table `{cat}.{schema}.{table}`: user \"{user}\" has no grant on it"),
            ));
        }
        // A snapshot answers while its source is down.
        if src.snapshot(schema, table).is_some() {
            continue;
        }
        let (has_schema, has_table) = src.lookup(schema, table).await;
        if let Status::Unavailable(reason) = src.status() {
            return Err(QueryError::new(sqlstate::CONNECTION_UNABLE, reason));
        }
        if !has_schema {
            // PostgreSQL answers a missing schema in a query as a missing relation.
            return Err(QueryError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation `{cat}.{schema}.{table}` does not exist: catalog `{cat}` has no schema `{schema}`"),
            ));
        }
        if !has_table {
            return Err(QueryError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation `{cat}.{schema}.{table}` does not exist"),
            ));
        }
    }
    Ok(())
}
