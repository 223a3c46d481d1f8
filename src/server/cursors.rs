//! DECLARE, FETCH and CLOSE.
//!
//! A cursor's query is planned and run as every other statement is (grants, admission,
//! the audit, the wire encoding), and its rows wait in a portal of the cursor's name:
//! a Describe of that portal gives the columns (psycopg 3's named cursors), and FETCH
//! answers `FETCH n` with them (psqlODBC's cursor mode). datafusion-postgres's cursor
//! hook planned the query on its own, past the grant check, and described no columns.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CloseCursor, Declare, DeclareType, FetchDirection, Statement, Value};
use datafusion_postgres::hooks::HookClient;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::PortalStore;
use pgwire::api::ClientInfo;
use pgwire::error::PgWireResult;

use super::{encode, format_options, refused, user_error, Named, QueryService};
use crate::engine::error::sqlstate;

/// The result schema of each open cursor of a session, for describing a FETCH before it runs.
type OpenCursors = Named<SchemaRef>;

/// A cursor's query, as a statement of its own.
fn cursor_query(declare: &Declare) -> PgWireResult<(String, Statement)> {
    if declare.declare_type != Some(DeclareType::Cursor) {
        return Err(refused(sqlstate::FEATURE_NOT_SUPPORTED, "DECLARE is supported for cursors only"));
    }
    let name = declare.names.first().ok_or_else(|| refused(sqlstate::SYNTAX_ERROR, "DECLARE needs a cursor name"))?;
    let query = declare.for_query.as_ref().ok_or_else(|| refused(sqlstate::SYNTAX_ERROR, "DECLARE CURSOR needs a FOR query"))?;
    Ok((name.value.clone(), Statement::Query(query.clone())))
}

/// What the extended protocol's Parse plans for a cursor statement: a DECLARE's query
/// (for its parameters; it answers no rows), or a FETCH's columns.
pub(super) async fn parse(
    service: &QueryService,
    stmt: &Statement,
    ctx: &SessionContext,
    client: &(dyn ClientInfo + Send + Sync),
) -> Option<PgWireResult<LogicalPlan>> {
    let rows = |schema: DFSchema| LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(schema) });
    match stmt {
        Statement::Declare { stmts } => Some(match stmts.as_slice() {
            [declare] => match cursor_query(declare) {
                Ok((_, query)) => service.plan(ctx, &query).await,
                Err(e) => Err(e),
            },
            _ => Err(refused(sqlstate::FEATURE_NOT_SUPPORTED, "one cursor per DECLARE")),
        }),
        Statement::Fetch { name, .. } => {
            let schema = OpenCursors::of(client).lock().get(&name.value).cloned();
            let schema = schema.map_or_else(|| Ok(DFSchema::empty()), |s| DFSchema::try_from(s.as_ref().clone()));
            Some(schema.map(rows).map_err(super::df_error))
        }
        Statement::Close { .. } => Some(Ok(rows(DFSchema::empty()))),
        _ => None,
    }
}

/// Whether `stmt` declares a cursor (its Describe has no rows: the query's are fetched).
pub(super) fn is_declare(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Declare { .. })
}

/// Answers a DECLARE, FETCH or CLOSE; None for any other statement. `planned` is the
/// extended protocol's plan of a DECLARE's query, with its parameters.
pub(super) async fn answer(
    service: &QueryService,
    stmt: &Statement,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
    planned: Option<(&LogicalPlan, &ParamValues)>,
) -> Option<PgWireResult<Response>> {
    match stmt {
        Statement::Declare { stmts } => Some(declare(service, stmts, ctx, client, planned).await),
        Statement::Fetch { name, direction, .. } => Some(fetch(client, &name.value, direction).await),
        Statement::Close { cursor } => Some(close(client, cursor)),
        _ => None,
    }
}

async fn declare(
    service: &QueryService,
    stmts: &[Declare],
    ctx: &SessionContext,
    client: &mut dyn HookClient,
    planned: Option<(&LogicalPlan, &ParamValues)>,
) -> PgWireResult<Response> {
    let [declare] = stmts else {
        return Err(refused(sqlstate::FEATURE_NOT_SUPPORTED, "one cursor per DECLARE"));
    };
    let (name, query) = cursor_query(declare)?;
    if client.portal_store().get_portal(&name).is_some() {
        return Err(refused(sqlstate::DUPLICATE_CURSOR, format!("cursor \"{name}\" already exists")));
    }
    let plan = match planned {
        Some((plan, params)) => plan.clone().replace_params_with_values(params).map_err(super::df_error)?,
        None => {
            let plan = service.plan(ctx, &query).await?;
            crate::engine::check_no_parameters(&plan).map_err(user_error)?;
            plan
        }
    };
    let format = if declare.binary == Some(true) { Format::UnifiedBinary } else { Format::UnifiedText };
    let options = format_options(&*client);
    let schema = Arc::new(encode::result_schema(&plan));
    let rows = service.run(&*client, ctx, plan.clone(), &format, options, None).await?;
    let text = query.to_string();
    let stored = StoredStatement::new(name.clone(), (text, Some((query, plan))), vec![]);
    let portal = Portal::new_cursor(name.clone(), Arc::new(stored));
    portal.start(rows).await;
    client.portal_store().put_portal(Arc::new(portal));
    OpenCursors::of(&*client).lock().insert(name, schema);
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

/// How many rows a FETCH asks for: None for all of them.
fn count(direction: &FetchDirection) -> PgWireResult<Option<usize>> {
    let number = |v: &Value| match v {
        Value::Number(n, _) => n.parse::<usize>().map_err(|_| refused(sqlstate::FEATURE_NOT_SUPPORTED, "cursors scan forward only")),
        _ => Err(refused(sqlstate::SYNTAX_ERROR, "FETCH needs a row count")),
    };
    match direction {
        FetchDirection::Next | FetchDirection::Forward { limit: None } => Ok(Some(1)),
        FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => number(limit).map(Some),
        FetchDirection::All | FetchDirection::ForwardAll => Ok(None),
        _ => Err(refused(sqlstate::FEATURE_NOT_SUPPORTED, "cursors scan forward only (FETCH NEXT, FORWARD, ALL or a count)")),
    }
}

async fn fetch(client: &mut dyn HookClient, name: &str, direction: &FetchDirection) -> PgWireResult<Response> {
    let count = count(direction)?;
    let portal = match client.portal_store().get_portal(name) {
        Some(entry) => entry.value().cloned(),
        None => None,
    }
    .ok_or_else(|| refused(sqlstate::INVALID_CURSOR_NAME, format!("cursor \"{name}\" does not exist")))?;
    let mut response = match count {
        // pgwire's fetch of 0 rows is a fetch of all.
        Some(0) => QueryResponse::new(Arc::new(vec![]), futures::stream::empty()),
        n => portal.fetch(n.unwrap_or(0)).await?.response,
    };
    // A finished cursor still answers with its columns.
    if response.row_schema().is_empty() {
        let schema = OpenCursors::of(&*client).lock().get(name).cloned();
        if let Some(schema) = schema {
            let (fields, _) = encode::wire_fields(&schema, &Format::UnifiedText, None)?;
            response = QueryResponse::new(Arc::new(fields), futures::stream::empty());
        }
    }
    response.set_command_tag("FETCH");
    Ok(Response::Query(response))
}

fn close(client: &mut dyn HookClient, cursor: &CloseCursor) -> PgWireResult<Response> {
    let open = OpenCursors::of(&*client);
    let mut open = open.lock();
    match cursor {
        CloseCursor::All => {
            for name in open.drain().map(|(n, _)| n) {
                client.portal_store().rm_portal(&name);
            }
        }
        CloseCursor::Specific { name } => {
            if open.remove(&name.value).is_none() {
                return Err(refused(sqlstate::INVALID_CURSOR_NAME, format!("cursor \"{}\" does not exist", name.value)));
            }
            client.portal_store().rm_portal(&name.value);
        }
    }
    Ok(Response::Execution(Tag::new("CLOSE CURSOR")))
}
