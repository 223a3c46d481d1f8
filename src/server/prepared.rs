//! SQL PREPARE, EXECUTE and DEALLOCATE: statements a session names and runs again with
//! arguments (psql scripts, SQL that jobs send, drivers that prepare in SQL). An EXECUTE
//! becomes its statement with the arguments bound (`pg::rewrite::parameters`) before it
//! is planned, so it runs as every other statement does: grants, admission, timeouts,
//! the audit and cancel.

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DataType, Ident, Statement};
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::ClientInfo;
use pgwire::error::PgWireResult;

use super::{refused, user_error, Named, QueryService};
use crate::engine::error::sqlstate;
use crate::pg::rewrite::parameters;

/// A prepared statement: its statement with `$n` placeholders, and the declared types.
struct Prepared {
    statement: Statement,
    types: Vec<DataType>,
}

/// The prepared statements of one session, by name.
type Session = Named<Arc<Prepared>>;

/// A statement name as PostgreSQL folds it: unquoted names are lower case.
fn folded(name: &Ident) -> String {
    match name.quote_style {
        Some(_) => name.value.clone(),
        None => name.value.to_lowercase(),
    }
}

fn missing(name: &str) -> pgwire::error::PgWireError {
    refused(sqlstate::INVALID_SQL_STATEMENT_NAME, format!("prepared statement \"{name}\" does not exist"))
}

/// The statement to plan for `stmt`: an EXECUTE's prepared statement with its arguments
/// bound; any other statement as it is.
pub(super) fn resolve<C: ClientInfo + ?Sized>(client: &C, stmt: Statement) -> PgWireResult<Statement> {
    let Statement::Execute { name: Some(name), parameters, immediate: false, into, using, .. } = &stmt else {
        return Ok(stmt);
    };
    if !into.is_empty() || !using.is_empty() {
        return Err(refused(sqlstate::FEATURE_NOT_SUPPORTED, "EXECUTE supports only a parameter list"));
    }
    let [part] = name.0.as_slice() else {
        return Err(refused(sqlstate::SYNTAX_ERROR, format!("prepared statement name {name} is qualified")));
    };
    let Some(ident) = part.as_ident() else { return Err(missing(&part.to_string())) };
    let name = folded(ident);
    let prepared = Session::of(client).lock().get(&name).cloned();
    let prepared = prepared.ok_or_else(|| missing(&name))?;
    parameters::bind(&name, &prepared.statement, &prepared.types, parameters).map_err(user_error)
}

/// What the extended protocol's Parse plans for a PREPARE or DEALLOCATE: no rows.
pub(super) fn parse(stmt: &Statement) -> Option<LogicalPlan> {
    matches!(stmt, Statement::Prepare { .. } | Statement::Deallocate { .. })
        .then(|| LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(DFSchema::empty()) }))
}

/// Answers a PREPARE or DEALLOCATE; None for any other statement.
pub(super) async fn answer(
    service: &QueryService,
    stmt: &Statement,
    ctx: &SessionContext,
    client: &(dyn ClientInfo + Send + Sync),
) -> Option<PgWireResult<Response>> {
    match stmt {
        Statement::Prepare { name, data_types, statement } => {
            Some(prepare(service, ctx, client, folded(name), data_types, statement).await)
        }
        Statement::Deallocate { name, .. } => Some(deallocate(client, name)),
        _ => None,
    }
}

async fn prepare(
    service: &QueryService,
    ctx: &SessionContext,
    client: &(dyn ClientInfo + Send + Sync),
    name: String,
    types: &[DataType],
    statement: &Statement,
) -> PgWireResult<Response> {
    if Session::of(client).lock().contains_key(&name) {
        return Err(refused(sqlstate::DUPLICATE_PREPARED_STATEMENT, format!("prepared statement \"{name}\" already exists")));
    }
    if matches!(statement, Statement::Prepare { .. } | Statement::Execute { .. } | Statement::Deallocate { .. }) {
        return Err(refused(sqlstate::SYNTAX_ERROR, "PREPARE cannot prepare PREPARE, EXECUTE or DEALLOCATE"));
    }
    // Checked now, as PostgreSQL does: a missing table or column fails the PREPARE.
    service.plan(ctx, statement).await?;
    let prepared = Arc::new(Prepared { statement: statement.clone(), types: types.to_vec() });
    Session::of(client).lock().insert(name, prepared);
    Ok(Response::Execution(Tag::new("PREPARE")))
}

/// A DEALLOCATE of a statement the protocol prepared (Parse), as psycopg 3 on a libpq
/// older than 17 closes the statements it evicts: PostgreSQL keeps both kinds in one
/// namespace.
pub(super) fn deallocate_parsed<S: PortalStore>(store: &S, stmt: &Statement) -> Option<Response> {
    let Statement::Deallocate { name, .. } = stmt else { return None };
    let folded = folded(name);
    store.get_statement(&folded)?;
    store.rm_statement(&folded);
    Some(Response::Execution(Tag::new("DEALLOCATE")))
}

fn deallocate(client: &(dyn ClientInfo + Send + Sync), name: &Ident) -> PgWireResult<Response> {
    let session = Session::of(client);
    let mut statements = session.lock();
    if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
        statements.clear();
        return Ok(Response::Execution(Tag::new("DEALLOCATE ALL")));
    }
    let name = folded(name);
    match statements.remove(&name) {
        Some(_) => Ok(Response::Execution(Tag::new("DEALLOCATE"))),
        None => Err(missing(&name)),
    }
}
