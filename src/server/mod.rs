//! The Postgres wire front. Each statement runs in a session built for its client, so a
//! SET in one connection is invisible to the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::QueryHook;
use futures::{Sink, SinkExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::query::{send_execution_response, send_query_response, send_ready_for_query};
use pgwire::api::store::Entry;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, ConnectionManager, ErrorHandler,
    PgWireConnectionState, PgWireServerHandlers, Type, DEFAULT_NAME,
};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;
use tokio::net::TcpListener;

mod auth;
mod commands;
mod copy;
mod cursors;
mod encode;
mod idle;
mod parameters;
mod prepared;
mod scram;
mod settings;
mod snapshot_commands;
mod tls;

pub use auth::Authenticator;
pub use scram::Verifier;

/// Iterations of a new verifier (PostgreSQL's default).
pub fn scram_iterations() -> u32 {
    scram::DEFAULT_ITERATIONS
}

/// A salt for a new verifier.
pub fn random_salt() -> Vec<u8> {
    scram::random_bytes(16)
}

use crate::pg::{parse_sql, SqlParser};

use crate::engine::error::{classify, sqlstate, QueryError};
use crate::engine::plan_cache::PlanCache;
use crate::engine::{plan_statement, plan_typed_statement, Engine, SessionSettings};

type PlannedStatement = (String, Option<(Statement, LogicalPlan)>);

/// The kept plans (`engine::plan_cache`) of a connection's named statements, each with
/// the statement it was made for: a name parsed again is another statement.
#[derive(Default)]
struct KeptPlans(std::sync::Mutex<HashMap<String, (Arc<StoredStatement<PlannedStatement>>, Arc<PlanCache>)>>);

/// Statements a connection may keep plans for before those closed are let go.
const KEPT_PLANS: usize = 64;

/// Where `statement` keeps its plan; None for the unnamed statement, parsed for one run.
fn plan_cache<C>(client: &C, statement: &Arc<StoredStatement<PlannedStatement>>) -> Option<Arc<PlanCache>>
where
    C: ClientInfo + ClientPortalStore,
    C::PortalStore: PortalStore,
{
    if statement.id.is_empty() {
        return None;
    }
    let plans = connection_state::<KeptPlans, _>(client);
    let mut plans = plans.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((kept, cache)) = plans.get(&statement.id) {
        if Arc::ptr_eq(kept, statement) {
            return Some(cache.clone());
        }
    }
    if plans.len() >= KEPT_PLANS {
        // The held statements keep their addresses, so an address match is that statement.
        plans.retain(|name, (kept, _)| match client.portal_store().get_statement(name) {
            Some(Entry::Value(current)) => std::ptr::eq(Arc::as_ptr(&current).cast::<()>(), Arc::as_ptr(kept).cast::<()>()),
            _ => false,
        });
    }
    let cache = Arc::new(PlanCache::default());
    plans.insert(statement.id.clone(), (statement.clone(), cache.clone()));
    Some(cache)
}


/// State one connection keeps, made on first use in its extensions, so it ends with it.
fn connection_state<T: Default + Send + Sync + 'static, C: ClientInfo + ?Sized>(client: &C) -> Arc<T> {
    if let Some(state) = client.session_extensions().get::<T>() {
        return state;
    }
    client.session_extensions().insert(T::default());
    client.session_extensions().get::<T>().expect("inserted above")
}

/// What one session keeps by name (its prepared statements, its open cursors).
struct Named<V>(std::sync::Mutex<std::collections::HashMap<String, V>>);

impl<V> Default for Named<V> {
    fn default() -> Self {
        Named(Default::default())
    }
}

impl<V: Send + Sync + 'static> Named<V> {
    fn of<C: ClientInfo + ?Sized>(client: &C) -> Arc<Self> {
        connection_state(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, V>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An ErrorResponse of `code` for a statement the session cannot run.
fn refused(code: &'static str, message: impl Into<String>) -> PgWireError {
    user_error(QueryError::new(code, message))
}

fn user_error(e: QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        e.sqlstate.into(),
        e.message,
    )))
}

impl From<QueryError> for PgWireError {
    fn from(e: QueryError) -> Self {
        user_error(e)
    }
}

fn df_error(e: datafusion::error::DataFusionError) -> PgWireError {
    user_error(classify(&e))
}

fn settings<C: ClientInfo + ?Sized>(client: &C) -> SessionSettings {
    SessionSettings {
        time_zone: client.metadata().get("timezone").cloned(),
        user: client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_default(),
        pushdown: client.metadata().get("fedsql.pushdown").is_none_or(|v| v == "on"),
        search_path: client.metadata().get("search_path").map(|p| crate::pg::search_path(p)).unwrap_or_default(),
    }
}

use settings::statement_timeout;

/// The connection's last session and the settings it was made with.
#[derive(Default)]
struct CachedSession(std::sync::Mutex<Option<(SessionSettings, SessionContext)>>);

/// The session for the client's next statement: the one its previous statement used while
/// no setting changed (making one copies every function registry and re-makes the
/// zone-dependent functions: about 5% of a prepared `SELECT 1`).
fn session<C: ClientInfo + ?Sized>(engine: &Engine, client: &C) -> SessionContext {
    let settings = settings(client);
    let cached = connection_state::<CachedSession, C>(client);
    let mut cached = cached.0.lock().unwrap_or_else(|p| p.into_inner());
    match &*cached {
        Some((made_with, ctx)) if *made_with == settings => ctx.clone(),
        _ => {
            let ctx = engine.session(&settings);
            *cached = Some((settings, ctx.clone()));
            ctx
        }
    }
}

async fn with_timeout<T>(
    timeout: Option<Duration>,
    fut: impl std::future::Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match timeout {
        Some(d) => tokio::time::timeout(d, fut).await.map_err(|_| {
            user_error(QueryError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ))
        })?,
        None => fut.await,
    }
}

pub struct QueryService {
    engine: Arc<Engine>,
    parser: SqlParser,
    hooks: Vec<Arc<dyn QueryHook>>,
    sessions: Arc<idle::Sessions>,
}

impl QueryService {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            parser: SqlParser::new(engine.catalogs().iter().map(|c| c.name().to_string()).collect()),
            engine: engine.clone(),
            hooks: vec![
                Arc::new(commands::SessionCommands),
                Arc::new(snapshot_commands::SnapshotCommands(engine.clone())),
                Arc::new(TransactionStatementHook),
            ],
            sessions: Arc::default(),
        }
    }

    fn parse(&self, sql: &str) -> PgWireResult<Vec<Statement>> {
        parse_sql(&self.parser, sql).map_err(user_error)
    }

    /// Executes a planned statement for the client, its rows encoded as they come.
    async fn run<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        ctx: &SessionContext,
        plan: LogicalPlan,
        format: &Format,
        options: Arc<FormatOptions>,
        deadline: Option<tokio::time::Instant>,
    ) -> PgWireResult<pgwire::api::results::QueryResponse> {
        let df = ctx.execute_logical_plan(plan).await.map_err(df_error)?;
        let plan = df.logical_plan().clone();
        let user = client.metadata().get(pgwire::api::METADATA_USER).map_or("", String::as_str);
        let batches = self.engine.execute(df, user);
        self.respond(client, &plan, batches, format, options, deadline).await
    }

    /// Runs `optimized`, the kept plan of `plan` with its parameters bound, as `run`
    /// runs a plan.
    #[allow(clippy::too_many_arguments)]
    async fn run_optimized<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        ctx: &SessionContext,
        plan: &LogicalPlan,
        optimized: LogicalPlan,
        format: &Format,
        options: Arc<FormatOptions>,
        deadline: Option<tokio::time::Instant>,
    ) -> PgWireResult<pgwire::api::results::QueryResponse> {
        let user = client.metadata().get(pgwire::api::METADATA_USER).map_or("", String::as_str);
        let batches = self.engine.execute_optimized(ctx.state(), plan, optimized, user);
        self.respond(client, plan, batches, format, options, deadline).await
    }

    /// The rows of `plan` as the client asked for them, counted for the audit.
    async fn respond<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        plan: &LogicalPlan,
        batches: impl std::future::Future<Output = Result<SendableRecordBatchStream, QueryError>>,
        format: &Format,
        options: Arc<FormatOptions>,
        deadline: Option<tokio::time::Instant>,
    ) -> PgWireResult<pgwire::api::results::QueryResponse> {
        let draft = client.session_extensions().get::<AuditDraft>();
        if let Some(d) = &draft {
            d.catalogs.lock().unwrap_or_else(|p| p.into_inner()).extend(crate::engine::audit::catalogs_read(plan));
        }
        let batches = batches.await.map_err(user_error)?;
        let counted = draft.map(|d| Box::new(move |n: u64| { d.rows.fetch_add(n, std::sync::atomic::Ordering::Relaxed); }) as encode::RowCounter);
        encode::encode(plan, batches, format, options, deadline, counted)
    }

    /// Checks and plans one statement.
    async fn plan(&self, ctx: &SessionContext, stmt: &Statement) -> PgWireResult<LogicalPlan> {
        plan_statement(ctx, stmt).await.map_err(user_error)
    }

    /// Checks and plans one statement of the extended protocol, its parameters of the
    /// types the client declared.
    async fn plan_typed(&self, ctx: &SessionContext, stmt: &Statement, types: &[Option<Type>]) -> PgWireResult<LogicalPlan> {
        let declared: Vec<_> = types.iter().map(|t| t.as_ref().and_then(crate::pg::types::declared_parameter)).collect();
        plan_typed_statement(ctx, stmt, &declared).await.map_err(user_error)
    }
}

fn format_options<C: ClientInfo + ?Sized>(client: &C) -> Arc<FormatOptions> {
    Arc::new(FormatOptions::from_client_metadata(client.metadata()))
}

#[async_trait]
impl SimpleQueryHandler for QueryService {
    /// pgwire's own handler lets a CancelRequest stop planning only; here it also stops
    /// rows that are still streaming (psql's Ctrl-C, psycopg2's `cancel()`).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let _in_flight = self.engine.statement();
        let _busy = self.sessions.busy(&client.socket_addr());
        let audit = audit_start(client);
        let mut result = self.answer(client, &query).await;
        audit_finish(&self.engine, client, &query.query, audit, &mut result);
        result
    }

    /// Runs every statement of a simple query; rows stream as they are sent.
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = self.parse(query)?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut results = Vec::with_capacity(statements.len());
        'statements: for stmt in statements {
            let mut stmt = prepared::resolve(client, stmt)?;
            if settings::calls_session_functions(&stmt) {
                let changes = settings::inline_session_functions(&mut stmt, client.metadata_mut(), None)?;
                report_changes(client, changes).await?;
            }
            // Earlier statements (SET TIME ZONE, ...) may change the session.
            let ctx = session(&self.engine, client);
            if let Some(r) = cursors::answer(self, &stmt, &ctx, client, None).await {
                results.push(r?);
                continue 'statements;
            }
            if let Some(r) = prepared::deallocate_parsed(client.portal_store(), &stmt) {
                results.push(r);
                continue 'statements;
            }
            if let Some(r) = prepared::answer(self, &stmt, &ctx, client).await {
                results.push(r?);
                continue 'statements;
            }
            for hook in &self.hooks {
                if let Some(r) = hook.handle_simple_query(&stmt, &ctx, client).await {
                    results.push(r?);
                    continue 'statements;
                }
            }
            let copy = match copy::request(&stmt) {
                Some(request) => Some(request.map_err(user_error)?),
                None => None,
            };
            let timeout = statement_timeout(client);
            let deadline = encode::deadline(timeout);
            let options = format_options(client);
            let resp = with_timeout(timeout, async {
                let (stmt, copy_format) = match copy {
                    Some((query, format)) => (query, Some(format)),
                    None => (stmt, None),
                };
                let plan = self.plan(&ctx, &stmt).await?;
                crate::engine::check_no_parameters(&plan).map_err(user_error)?;
                let rows = self.run(client, &ctx, plan, &Format::UnifiedText, options, deadline).await?;
                Ok(match copy_format {
                    Some(format) => Response::CopyOut(copy::response(rows, format)),
                    None => Response::Query(rows),
                })
            })
            .await?;
            results.push(resp);
        }
        Ok(results)
    }
}

impl QueryService {
    /// Answers one simple Query message: every statement in it, then ReadyForQuery.
    async fn answer<C>(&self, client: &mut C, query: &Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let canceled = cancel_signal(client, &self.engine).await;
        client.set_state(PgWireConnectionState::QueryInProgress);
        let mut status = client.transaction_status();
        let work = async {
            for response in self.do_query(client, &query.query).await? {
                send_response(client, response, &mut status, true).await?;
            }
            Ok(())
        };
        let result = match futures::future::select(Box::pin(work), Box::pin(canceled)).await {
            futures::future::Either::Left((r, _)) => r,
            futures::future::Either::Right((stop, _)) => Err(stopped_error(stop)),
        };
        client.set_state(PgWireConnectionState::ReadyForQuery);
        result?;
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }
}

/// Tells the client of settings a statement changed (ParameterStatus).
async fn report_changes<C>(client: &mut C, changes: Vec<settings::Change>) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for message in settings::status_messages(changes) {
        client.send(message).await?;
    }
    Ok(())
}

/// Why a statement was stopped from outside.
enum Stop {
    Canceled,
    Shutdown,
}

/// Resolves when a CancelRequest names this connection's query, or when a shutdown ends
/// the statements still running; taken before the work starts.
async fn cancel_signal<C>(client: &C, engine: &Engine) -> impl std::future::Future<Output = Stop> + Send + 'static
where
    C: ClientInfo + ClientPortalStore,
{
    let rx = match client.session_extensions().get::<Arc<ConnectionHandle>>() {
        Some(handle) => Some(handle.start_query().await),
        None => None,
    };
    let shutdown = engine.terminated();
    let canceled = async move {
        // Only a real cancel counts; a dropped sender is not one.
        let fired = match rx {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        if !fired {
            futures::future::pending::<()>().await;
        }
    };
    async move {
        tokio::select! {
            _ = canceled => Stop::Canceled,
            _ = shutdown => Stop::Shutdown,
        }
    }
}

fn stopped_error(stop: Stop) -> PgWireError {
    match stop {
        Stop::Canceled => user_error(QueryError::new(sqlstate::QUERY_CANCELED, "canceling statement due to user request")),
        Stop::Shutdown => user_error(QueryError::new(sqlstate::ADMIN_SHUTDOWN, "terminating statement: the server is shutting down")),
    }
}

/// Sends one response; `describe` sends the row description first (simple protocol).
async fn send_response<C>(
    client: &mut C,
    response: Response,
    status: &mut TransactionStatus,
    describe: bool,
) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    match response {
        Response::Query(results) => send_query_response(client, results, describe).await,
        Response::EmptyQuery => client
            .feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new()))
            .await
            .map_err(PgWireError::from),
        Response::Execution(tag) => send_execution_response(client, tag).await,
        Response::TransactionStart(tag) => {
            *status = status.to_in_transaction_state();
            send_execution_response(client, tag).await
        }
        Response::TransactionEnd(tag) => {
            *status = status.to_idle_state();
            send_execution_response(client, tag).await
        }
        Response::Error(e) => Err(PgWireError::UserError(e)),
        Response::CopyOut(rows) => pgwire::api::copy::send_copy_out_response(client, rows).await,
        _ => Err(user_error(QueryError::new(sqlstate::FEATURE_NOT_SUPPORTED, "COPY FROM STDIN is not supported"))),
    }
}

/// The `oid[]` parameter of asyncpg's type lookup, as an int4 array.
fn oid_array_parameter<S: Clone>(portal: &Portal<S>) -> PgWireResult<ParamValues> {
    let oids: Option<Vec<Option<u32>>> = portal.parameter(0, &Type::OID_ARRAY)?;
    let values: Vec<ScalarValue> = oids
        .unwrap_or_default()
        .into_iter()
        .map(|o| ScalarValue::Int32(o.and_then(|o| i32::try_from(o).ok())))
        .collect();
    let list = ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int32));
    Ok(ParamValues::List(vec![list.into()]))
}

/// The types of `$1` to the highest `$n` the plan names, by position: a parameter the
/// plan no longer names (a rewrite dropped the expression that read it) is untyped, so
/// that the others keep their places.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<(String, Option<DataType>)>> {
    let named = plan.get_parameter_types().map_err(df_error)?;
    let position = |id: &str| id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()).filter(|n| *n > 0);
    let count = named.keys().filter_map(|id| position(id)).max().unwrap_or(0);
    let mut params: Vec<(String, Option<DataType>)> = (1..=count).map(|n| (format!("${n}"), None)).collect();
    for (id, t) in named {
        if let Some(n) = position(&id) {
            params[n - 1].1 = t;
        }
    }
    Ok(params)
}

pub struct StatementParser {
    service: Arc<QueryService>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = PlannedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let service = &self.service;
        let mut statements = service.parse(sql)?;
        if statements.is_empty() {
            return Ok(None);
        }
        let stmt = prepared::resolve(client, statements.remove(0))?;
        let query = stmt.to_string();
        let ctx = session(&service.engine, client);
        if let Some(plan) = cursors::parse(service, &stmt, &ctx, client).await {
            return Ok(Some((query, Some((stmt, plan?)))));
        }
        if let Some(plan) = prepared::parse(&stmt) {
            return Ok(Some((query, Some((stmt, plan)))));
        }
        for hook in &service.hooks {
            if let Some(plan) = hook.handle_extended_parse_query(&stmt, &ctx, client).await {
                return Ok(Some((query, Some((stmt, plan?)))));
            }
        }
        // Session functions are evaluated again at each Execute; this plan describes.
        // A COPY TO STDOUT keeps its statement and is planned as its query.
        let mut statement = match copy::request(&stmt) {
            Some(request) => request.map_err(user_error)?.0,
            None => stmt.clone(),
        };
        settings::inline_session_functions(&mut statement, &mut client.metadata().clone(), None)?;
        let plan = service.plan_typed(&ctx, &statement, types).await?;
        Ok(Some((query, Some((stmt, plan)))))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let Some((parsed, plan)) = &stmt.1 else {
            return Ok(vec![]);
        };
        if crate::pg::rewrite::is_type_lookup(parsed) {
            return Ok(vec![Type::OID_ARRAY]);
        }
        parameter_types(plan)?
            .into_iter()
            .map(|(_, t)| t.map_or(Ok(Type::UNKNOWN), |t| into_pg_type(&t)))
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.1 {
            Some((stmt, plan))
                if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_))
                    && copy::request(stmt).is_none()
                    && !cursors::is_declare(stmt) =>
            {
                encode::wire_fields(
                    &encode::result_schema(plan),
                    column_format.unwrap_or(&Format::UnifiedText),
                    None,
                )
                .map(|(fields, _)| fields)
            }
            _ => Ok(vec![]),
        }
    }
}

pub struct ExtendedService {
    service: Arc<QueryService>,
    parser: Arc<StatementParser>,
}

#[async_trait]
impl ExtendedQueryHandler for ExtendedService {
    type Statement = PlannedStatement;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// pgwire's Execute stores a whole result in the portal before sending it (to
    /// support row limits). A plain Execute (no row limit) streams here instead, and a
    /// CancelRequest stops it while rows are still being produced.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME).to_string();
        let statement = match client.portal_store().get_portal(&name) {
            Some(Entry::Value(p)) => p.statement.statement.0.clone(),
            _ => String::new(),
        };
        let _busy = self.service.sessions.busy(&client.socket_addr());
        let audit = audit_start(client);
        let mut result = self.execute_portal(client, message).await;
        audit_finish(&self.service.engine, client, &statement, audit, &mut result);
        result
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some((stmt, plan)) = &portal.statement.statement.1 else {
            return Ok(Response::EmptyQuery);
        };
        let types = parameter_types(plan)?;
        let type_refs: Vec<Option<&DataType>> = types.iter().map(|(_, t)| t.as_ref()).collect();
        let params: ParamValues = if crate::pg::rewrite::is_type_lookup(stmt) {
            oid_array_parameter(portal)?
        } else {
            parameters::decode(portal, &type_refs)?
        };
        let ctx = session(&self.service.engine, client);
        if let Some(r) = cursors::answer(&self.service, stmt, &ctx, client, Some((plan, &params))).await {
            return r;
        }
        if let Some(r) = prepared::deallocate_parsed(client.portal_store(), stmt) {
            return Ok(r);
        }
        if let Some(r) = prepared::answer(&self.service, stmt, &ctx, client).await {
            return r;
        }
        for hook in &self.service.hooks {
            if let Some(r) = hook
                .handle_extended_query(stmt, plan, &params, &ctx, client)
                .await
            {
                return r;
            }
        }
        let (stmt, copy_format) = match copy::request(stmt) {
            Some(request) => {
                let (query, format) = request.map_err(user_error)?;
                (std::borrow::Cow::Owned(query), Some(format))
            }
            None => (std::borrow::Cow::Borrowed(stmt), None),
        };
        let replanned = if settings::calls_session_functions(&stmt) {
            let mut stmt = stmt.into_owned();
            let changes = settings::inline_session_functions(&mut stmt, client.metadata_mut(), Some(&params))?;
            report_changes(client, changes).await?;
            let ctx = session(&self.service.engine, client);
            Some(self.service.plan(&ctx, &stmt).await?)
        } else {
            None
        };
        let plan = replanned.as_ref().unwrap_or(plan);
        let timeout = statement_timeout(client);
        let deadline = encode::deadline(timeout);
        let options = format_options(client);
        with_timeout(timeout, async {
            let format = if copy_format.is_some() { &Format::UnifiedText } else { &portal.result_column_format };
            let custom = client.metadata().get("plan_cache_mode").is_some_and(|m| m.eq_ignore_ascii_case("force_custom_plan"));
            let cache = match replanned {
                Some(_) => None,
                None if custom => None,
                None => plan_cache(client, &portal.statement),
            };
            let kept = match cache {
                Some(cache) => {
                    let types: Vec<Option<DataType>> = types.iter().map(|(_, t)| t.clone()).collect();
                    cache.bound(&ctx, plan, &types, &params).map_err(df_error)?
                }
                None => None,
            };
            let rows = match kept {
                Some(optimized) => {
                    tracing::debug!("ran the kept plan");
                    self.service.run_optimized(client, &ctx, plan, optimized, format, options, deadline).await?
                }
                None => {
                    let plan = match types.is_empty() {
                        true => plan.clone(),
                        false => plan.clone().replace_params_with_values(&params).map_err(df_error)?,
                    };
                    self.service.run(client, &ctx, plan, format, options, deadline).await?
                }
            };
            Ok(match copy_format {
                Some(format) => Response::CopyOut(copy::response(rows, format)),
                None => Response::Query(rows),
            })
        })
        .await
    }
}

impl ExtendedService {
    /// Runs (or fetches from) a portal for one Execute message.
    async fn execute_portal<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PlannedStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME).to_string();
        let portal = match client.portal_store().get_portal(&name) {
            Some(Entry::Value(p)) => p,
            _ => return self._on_execute(client, message).await,
        };
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return self._on_execute(client, message).await;
        }
        let _in_flight = self.service.engine.statement();
        if matches!(*portal.state().lock().await, PortalExecutionState::Initial) {
            // Runs the statement: all its rows, or (row-limited) a result to fetch from.
            let canceled = cancel_signal(client, &self.service.engine).await;
            client.set_state(PgWireConnectionState::QueryInProgress);
            let mut status = client.transaction_status();
            let work = async {
                match self.do_query(client, portal.as_ref(), 0).await? {
                    Response::Query(results) if message.max_rows > 0 => {
                        portal.start(results).await;
                        Ok(true)
                    }
                    response => {
                        if matches!(response, Response::Query(_)) {
                            *portal.state().lock().await = PortalExecutionState::Finished;
                        }
                        send_response(client, response, &mut status, false).await.map(|_| false)
                    }
                }
            };
            let result = match futures::future::select(Box::pin(work), Box::pin(canceled)).await {
                futures::future::Either::Left((r, _)) => r,
                futures::future::Either::Right((stop, _)) => Err(stopped_error(stop)),
            };
            client.set_state(PgWireConnectionState::ReadyForQuery);
            client.set_transaction_status(status);
            if !result? {
                return Ok(());
            }
        }
        // Rows of a row-limited Execute (pgjdbc's fetchSize) are read from the sources
        // while the client waits, so a cancel stops the fetch too; the portal goes, and
        // with its stream the statement on the source.
        let canceled = cancel_signal(client, &self.service.engine).await;
        let stop = match futures::future::select(Box::pin(self._on_execute(client, message)), Box::pin(canceled)).await {
            futures::future::Either::Left((r, _)) => return r,
            futures::future::Either::Right((stop, _)) => stop,
        };
        client.portal_store().rm_portal(&name);
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Err(stopped_error(stop))
    }

}

/// Gives every error a fitting SQLSTATE, including those raised while rows stream.
struct SqlStateErrors;

impl ErrorHandler for SqlStateErrors {
    fn on_error<C: ClientInfo>(&self, _client: &C, error: &mut PgWireError) {
        normalize(error);
        tracing::info!(error = %error, "statement failed");
    }
}

/// An error as the client will see it: with a SQLSTATE.
fn normalize(error: &mut PgWireError) {
    if let PgWireError::ApiError(inner) = error {
        let q = match inner.downcast_ref::<datafusion::error::DataFusionError>() {
            Some(e) => classify(e),
            None => QueryError::new(sqlstate::INTERNAL_ERROR, inner.to_string()),
        };
        *error = user_error(q);
    }
}

/// What a statement under way has done so far, for its audit entry.
#[derive(Default)]
struct AuditDraft {
    rows: std::sync::atomic::AtomicU64,
    catalogs: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// Starts an audit entry for a statement of `client`'s.
fn audit_start<C: ClientInfo + ?Sized>(client: &C) -> (Arc<AuditDraft>, std::time::Instant, std::time::SystemTime) {
    client.session_extensions().insert(AuditDraft::default());
    let draft = client.session_extensions().get::<AuditDraft>().expect("inserted above");
    (draft, std::time::Instant::now(), std::time::SystemTime::now())
}

/// Records a statement's audit entry; an error is normalized as the client will see it.
fn audit_finish<C: ClientInfo + ?Sized>(
    engine: &Engine,
    client: &C,
    statement: &str,
    (draft, started, at): (Arc<AuditDraft>, std::time::Instant, std::time::SystemTime),
    result: &mut PgWireResult<()>,
) {
    let (sqlstate, message) = match result {
        Ok(()) => (None, None),
        Err(e) => {
            normalize(e);
            match e {
                PgWireError::UserError(info) => (Some(info.code.clone()), Some(info.message.clone())),
                other => (Some(sqlstate::CONNECTION_FAILURE.to_string()), Some(other.to_string())),
            }
        }
    };
    let metadata = client.metadata();
    engine.audit().record(crate::engine::audit::Entry {
        at,
        user: metadata.get(pgwire::api::METADATA_USER).cloned().unwrap_or_default(),
        client: client.socket_addr().to_string(),
        application: metadata.get(pgwire::api::METADATA_APPLICATION_NAME).cloned().unwrap_or_default(),
        statement: statement.to_string(),
        catalogs: draft.catalogs.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        rows: draft.rows.load(std::sync::atomic::Ordering::Relaxed),
        duration: started.elapsed(),
        sqlstate,
        message,
    });
}

pub struct Handlers {
    simple: Arc<QueryService>,
    extended: Arc<ExtendedService>,
    auth: Arc<Authenticator>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>, auth: Arc<Authenticator>) -> Self {
        let service = Arc::new(QueryService::new(engine));
        Self {
            extended: Arc::new(ExtendedService {
                service: service.clone(),
                parser: Arc::new(StatementParser {
                    service: service.clone(),
                }),
            }),
            simple: service,
            cancel: Arc::new(DefaultCancelHandler::new(auth.connection_manager.clone())),
            auth,
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.simple.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.extended.clone()
    }
    /// A login's state is per connection: pgwire asks once per connection.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(auth::Login::new(self.auth.clone()))
    }
    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Serves until SIGTERM or SIGINT: then stops accepting, lets running statements finish
/// for up to `grace`, ends the rest with 57P01, and returns.
pub async fn serve(engine: Arc<Engine>, listener: TcpListener) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let config = engine.server_config();
    let grace = config.shutdown.grace;
    let idle_timeout = config.limits.idle_session_timeout;
    let (tls, certificate_hash) = match &config.tls {
        Some(t) => {
            let (acceptor, hash) = tls::acceptor(t)?;
            (Some(acceptor), Some(hash))
        }
        None => (None, None),
    };
    let auth = Arc::new(Authenticator::new(config, certificate_hash, Arc::new(ConnectionManager::new()))?);
    let handlers = Arc::new(Handlers::new(engine.clone(), auth));
    let io = |e: std::io::Error| e.to_string();
    let mut terminate = signal(SignalKind::terminate()).map_err(io)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(io)?;
    loop {
        let (socket, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: the server goes on once some close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        let handlers = handlers.clone();
        let tls = tls.clone();
        let sessions = handlers.simple.sessions.clone();
        let activity = sessions.open(addr);
        tokio::spawn(async move {
            let idle = async {
                match idle_timeout {
                    Some(t) => idle::expired(activity, t).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                ended = pgwire::tokio::process_socket(socket, tls, handlers) => {
                    if let Err(e) = ended {
                        tracing::debug!(%addr, error = %e, "connection ended with an error");
                    }
                }
                // Dropping the connection's future closes its socket.
                () = idle => tracing::info!(%addr, "closing a session idle past limits.idle_session_timeout"),
            }
            sessions.close(&addr);
        });
    }
    drop(listener);
    tracing::info!(grace = %humantime::format_duration(grace), "shutting down: no new connections, running statements may finish");
    let ended = engine.drain(grace).await;
    tracing::info!(ended, "shut down");
    Ok(())
}
