//! What the SQL connectors share: federated providers with dialect rewrites, and
//! catalog queries run through the table providers' own pools.

pub(crate) mod config;
pub(crate) mod derived_names;
pub(crate) mod dialect;
pub(crate) mod pushdown;
pub(crate) mod remote_cancel;
pub(crate) mod sealed_scan;
pub(crate) mod sent_statement;
pub(crate) mod stall;
pub(crate) mod unparse;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::compute::{cast, cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::common::{Statistics, TableReference};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{PhysicalExpr, SendableRecordBatchStream};
use datafusion::sql::unparser::dialect::Dialect;
use datafusion_federation::sql::{
    AstAnalyzer, LogicalOptimizer, RemoteTableRef, SQLExecutor, SQLFederationProvider,
    SQLTableSource, VirtualExecutionPlan,
};
use datafusion_federation::FederatedTableProviderAdaptor;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use futures::{StreamExt, TryStreamExt};

use self::dialect::{alias_columns, rewrite_for, travel_names, SourceDialect};
use self::pushdown::{keep_unpushable_local, scan_filter};
use self::remote_cancel::{CancelOnDrop, RemoteCancel};
use self::sealed_scan::SealedScanExec;
use super::{Comment, ConnectorError, Key, TableEntry, TableSize};

/// Wraps a table provider's own SQL executor, adding our dialect rewrites.
struct DialectExecutor {
    inner: Arc<dyn SQLExecutor>,
    dialect: SourceDialect,
    catalog: String,
    read_timeout: std::time::Duration,
    /// Stops a statement whose stream is dropped unfinished (none for Redshift yet).
    cancel: Option<Arc<dyn RemoteCancel>>,
}

/// A remote failure, naming the catalog (the engine classifies it).
/// How a column of type `t` travels from the source when the provider would lose or
/// fail on it: the SQL type it is cast to and the Arrow type that arrives.
fn transport(dialect: SourceDialect, t: &DataType) -> Option<(&'static str, DataType)> {
    match (dialect, t) {
        (SourceDialect::MySql, _) => None,
        // Redshift's TEXT is VARCHAR(256): a number fits.
        (SourceDialect::Redshift, t) if t.is_decimal() => Some(("VARCHAR", DataType::Utf8)),
        (_, t) if t.is_decimal() => Some(("TEXT", DataType::Utf8)),
        // The unparser writes a double literal as a plain number (1e30 as
        // `1000000000000000019884624838656.0`), which PostgreSQL reads as a numeric: the
        // column would arrive as numeric where a double is planned.
        (_, DataType::Float64) => Some(("DOUBLE PRECISION", DataType::Float64)),
        // Sessions run in UTC, so the instant keeps the wall clock's digits.
        (_, DataType::Timestamp(_, None)) => {
            Some(("TIMESTAMPTZ", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))))
        }
        _ => None,
    }
}

/// How a PostgreSQL `numeric` without a precision is read (`postgres::retyped`). Other
/// decimal columns either hold what their declared scale allows or are computed (an AVG
/// or a quotient, rounded to the scale the engine plans for it, as it would itself).
pub(crate) const UNCONSTRAINED_NUMERIC: DataType = DataType::Decimal256(76, 20);

/// Checks that every decimal that arrived as text fits `field`'s scale: the cast to it
/// would round the digits beyond (`0.000000000000000000000001` came back as 0).
fn exact_decimals(texts: &dyn Array, field: &Field, catalog: &str) -> DfResult<()> {
    let (DataType::Decimal128(precision, scale) | DataType::Decimal256(precision, scale)) = field.data_type() else {
        return Ok(());
    };
    let scale = usize::try_from(*scale).unwrap_or(0);
    for v in texts.as_string::<i32>().iter().flatten() {
        let digits = v.strip_prefix('-').unwrap_or(v);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = !whole.is_empty() && whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit());
        if !plain || fraction.trim_end_matches('0').len() > scale {
            return Err(DataFusionError::External(Box::new(ConnectorError::OutOfRange {
                catalog: catalog.to_string(),
                message: format!(
                    "column `{}` holds {v}, which numeric({precision},{scale}) cannot hold exactly \
                     (a numeric without a precision is read with {scale} decimals): give the \
                     column a precision and scale at the source, or cast it in a view",
                    field.name()
                ),
            })));
        }
    }
    Ok(())
}

/// Decimals as text without the trailing fractional zeros past `scale`: a source writes
/// a sum of numeric(30,10) and numeric(38,20) with 20 decimals, which the cast to the
/// Decimal128(38,10) the engine planned rejects as 40 digits although it holds the value.
fn zeros_past_scale_dropped(texts: &ArrayRef, scale: i8) -> ArrayRef {
    let scale = usize::try_from(scale).unwrap_or(0);
    let long = |v: &str| v.split_once('.').is_some_and(|(_, f)| f.len() > scale && f.ends_with('0'));
    let strings = texts.as_string::<i32>();
    if !strings.iter().flatten().any(long) {
        return texts.clone();
    }
    let trimmed: StringArray = strings
        .iter()
        .map(|v| {
            v.map(|v| match v.split_once('.') {
                Some((whole, fraction)) if fraction.len() > scale => {
                    let kept = fraction.trim_end_matches('0');
                    let kept = &fraction[..kept.len().max(scale)];
                    if kept.is_empty() { whole.to_string() } else { format!("{whole}.{kept}") }
                }
                _ => v.to_string(),
            })
        })
        .collect();
    Arc::new(trimmed)
}

/// A double that is -0.0 at the source (PostgreSQL's `-1.5 * 0`) arrives as 0.0, as the
/// engine's own arithmetic gives it (`checked_arithmetic`): PostgreSQL orders -0 equal
/// to 0, while DataFusion's sort puts it first (a cross-source UNION came back out of
/// order). Adding 0.0 leaves every other value as it is.
fn positive_zeros(c: &ArrayRef) -> DfResult<ArrayRef> {
    use datafusion::arrow::array::{Float32Array, Float64Array};
    use datafusion::arrow::compute::kernels::numeric::add;
    Ok(match c.data_type() {
        DataType::Float64 => add(c, &Float64Array::new_scalar(0.0))?,
        DataType::Float32 => add(c, &Float32Array::new_scalar(0.0))?,
        _ => c.clone(),
    })
}

fn source_error(catalog: &str, e: DataFusionError) -> DataFusionError {
    let catalog = catalog.to_string();
    DataFusionError::External(Box::new(match source_answer(&e) {
        Some((sqlstate, said)) => {
            let message = said.unwrap_or_else(|| e.to_string());
            ConnectorError::Rejected { catalog, sqlstate, message }
        }
        None => Failure::of(&e).into_error(&catalog, ""),
    }))
}

/// Why a statement on a source failed: the connection broke (or never opened), or the
/// source refused it.
#[derive(Debug)]
pub(crate) struct Failure {
    lost: bool,
    message: String,
}

impl Failure {
    fn connecting(e: impl std::fmt::Display) -> Failure {
        Failure { lost: true, message: e.to_string() }
    }

    pub(crate) fn of(e: &(dyn std::error::Error + 'static)) -> Failure {
        Failure { lost: connection_lost(e), message: e.to_string() }
    }

    /// The same failure, its message prefixed with what was being read.
    pub(crate) fn reading(mut self, what: &str) -> Failure {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The error for `catalog`, with `secret` removed from the driver's text.
    pub(crate) fn into_error(self, catalog: &str, secret: &str) -> ConnectorError {
        let (catalog, message) = (catalog.to_string(), super::redact(self.message, secret));
        match self.lost {
            true => ConnectorError::Lost { catalog, message },
            false => ConnectorError::Source { catalog, message },
        }
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        f.message
    }
}

/// Whether the connection to the source broke: an I/O error or a closed connection on
/// the drivers' error types down the chain of causes. Upstream gap: the table providers
/// turn many driver errors into text (`Execution(String)`, their pools' `Display`), so
/// what is left of those is the drivers' words for it.
fn connection_lost(e: &(dyn std::error::Error + 'static)) -> bool {
    const DRIVER_WORDS: &[&str] = &[
        "connection refused",
        "connection reset",
        "broken pipe",
        "connection closed",
        "unexpected eof",
        "timed out",
        "can't connect",
        "could not connect",
        "error connecting",
        "unavailable",
        "io error",
    ];
    let mut cause = Some(e);
    while let Some(err) = cause {
        if err.is::<std::io::Error>()
            || err.downcast_ref::<tokio_postgres::Error>().is_some_and(tokio_postgres::Error::is_closed)
            || matches!(
                err.downcast_ref::<mysql_async::Error>(),
                Some(mysql_async::Error::Io(_) | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed))
            )
        {
            return true;
        }
        cause = err.source();
    }
    let text = e.to_string().to_lowercase();
    DRIVER_WORDS.iter().any(|w| text.contains(w))
}

/// The SQLSTATE the source answered with, and its own message where the driver kept it,
/// found on the drivers' error types down the chain of causes the table providers wrap
/// them in (whose own text is "Failed to execute query. db error").
fn source_answer(e: &(dyn std::error::Error + 'static)) -> Option<(String, Option<String>)> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(db) = err.downcast_ref::<tokio_postgres::Error>().and_then(|p| p.as_db_error()) {
            let mut message = db.message().to_string();
            if let Some(detail) = db.detail() {
                message = format!("{message} ({detail})");
            }
            return Some((db.code().code().to_string(), Some(message)));
        }
        if let Some(mysql_async::Error::Server(server)) = err.downcast_ref::<mysql_async::Error>() {
            return Some((server.state.clone(), Some(server.message.clone())));
        }
        cause = err.source();
    }
    // The table providers turn most driver errors into text (`Execution(String)`); what
    // is left of the code is the line each driver's own message format gives it.
    let text = e.to_string();
    let postgres = text.lines().find_map(|l| l.trim().strip_prefix("SQLSTATE: "));
    let mysql = text.split_once("ERROR ").and_then(|(_, rest)| rest.split_once(" (")).and_then(|(_, rest)| rest.split_once(')')).map(|(state, _)| state);
    // The Postgres provider's text keeps the server's message on an `ERROR: ` line.
    let said = text.lines().find_map(|l| l.trim().strip_prefix("ERROR: ")).map(|m| {
        match text.lines().find_map(|l| l.trim().strip_prefix("DETAIL: ")) {
            Some(detail) => format!("{m} ({detail})"),
            None => m.to_string(),
        }
    });
    postgres
        .or(mysql)
        .filter(|s| s.len() == 5 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|s| (s.to_string(), said))
}

/// The column a statement whose rows have no columns selects at a MySQL source.
const ROW_PLACEHOLDER: &str = "fedsql_row";

#[async_trait]
impl SQLExecutor for DialectExecutor {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn compute_context(&self) -> Option<String> {
        self.inner.compute_context()
    }
    fn dialect(&self) -> Arc<dyn Dialect> {
        self.inner.dialect()
    }
    fn logical_optimizer(&self) -> Option<LogicalOptimizer> {
        let dialect = self.dialect;
        Some(match self.inner.logical_optimizer() {
            Some(mut theirs) => {
                Box::new(move |plan| keep_unpushable_local(theirs(plan)?, dialect))
            }
            None => Box::new(move |plan| keep_unpushable_local(plan, dialect)),
        })
    }
    fn ast_analyzer(&self) -> Option<AstAnalyzer> {
        let mut ours = rewrite_for(self.dialect);
        Some(match self.inner.ast_analyzer() {
            Some(mut theirs) => Box::new(move |stmt| ours(theirs(stmt)?)),
            None => ours,
        })
    }
    fn execute(
        &self,
        query: &str,
        schema: SchemaRef,
        filters: &[Arc<dyn PhysicalExpr>],
    ) -> DfResult<SendableRecordBatchStream> {
        let fields: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        // Rows without columns (a filter on parameters over a table): MySQL has no
        // `SELECT FROM t`, so one constant column travels and is dropped on arrival.
        let placeholder_column = fields.is_empty() && self.dialect == SourceDialect::MySql;
        let names = match placeholder_column {
            true => vec![ROW_PLACEHOLDER.to_string()],
            false => travel_names(&fields, self.dialect),
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let travel: Vec<Option<(&str, DataType)>> = match placeholder_column {
            true => vec![None],
            false => schema.fields().iter().map(|f| transport(self.dialect, f.data_type())).collect(),
        };
        let casts: Vec<Option<&str>> = travel.iter().map(|t| t.as_ref().map(|(sql, _)| *sql)).collect();
        let mut query = alias_columns(query, &names, &casts, self.dialect)?;
        if self::sent_statement::captured(&query) {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::empty())));
        }
        let marker = self.cancel.as_ref().map(|_| remote_cancel::marker());
        if let Some(m) = &marker {
            query = format!("{m} {query}");
        }
        tracing::debug!(source = self.inner.name(), sql = %query, "remote statement");
        // Sent as another type, or typed differently by the provider (MySQL TIMESTAMP arrives
        // without its zone): every column is brought to the type the engine planned.
        let sent = match placeholder_column {
            true => Arc::new(Schema::new(vec![Field::new(ROW_PLACEHOLDER, DataType::Int64, true)])),
            false => Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .zip(&travel)
                    .zip(&names)
                    .map(|((f, t), name)| match t {
                        Some((_, arrow)) => Arc::new(Field::new(*name, arrow.clone(), true)),
                        None => Arc::new(f.as_ref().clone().with_name(*name)),
                    })
                    .collect::<Vec<_>>(),
            )),
        };
        let stream = self.inner.execute(&query, sent, filters).map_err(|e| source_error(&self.catalog, e))?;
        let target = schema.clone();
        let catalog = self.catalog.clone();
        let batches = stream.map(move |batch| {
            let batch = batch.map_err(|e| source_error(&catalog, e))?;
            let columns = batch
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(c, f)| {
                    let c = &positive_zeros(c)?;
                    if c.data_type() == f.data_type() {
                        return Ok(c.clone());
                    }
                    // Decimals arrive as text of whichever string type the provider chose.
                    let c = &match c.data_type() {
                        DataType::LargeUtf8 | DataType::Utf8View if f.data_type().is_decimal() => cast(c, &DataType::Utf8)?,
                        _ => c.clone(),
                    };
                    if f.data_type() == &UNCONSTRAINED_NUMERIC && c.data_type() == &DataType::Utf8 {
                        exact_decimals(c, f, &catalog)?;
                    }
                    let options = CastOptions { safe: false, ..Default::default() };
                    let c = match (f.data_type(), c.data_type()) {
                        (DataType::Decimal128(_, scale) | DataType::Decimal256(_, scale), DataType::Utf8) => {
                            zeros_past_scale_dropped(c, *scale)
                        }
                        _ => c.clone(),
                    };
                    cast_with_options(&c, f.data_type(), &options).map_err(DataFusionError::from)
                })
                .collect::<DfResult<Vec<_>>>()?;
            let rows = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(target.clone(), columns, &rows)?)
        });
        let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(schema, batches));
        let stream = match (marker, &self.cancel) {
            (Some(m), Some(cancel)) => Box::pin(CancelOnDrop::new(stream, m, cancel.clone())),
            _ => stream,
        };
        Ok(Box::pin(self::stall::StallGuard::new(stream, self.read_timeout, &self.catalog)))
    }
    async fn statistics(&self, plan: &LogicalPlan) -> DfResult<Statistics> {
        self.inner.statistics(plan).await
    }
    async fn table_names(&self) -> DfResult<Vec<String>> {
        self.inner.table_names().await
    }
    async fn get_table_schema(&self, table_name: &str) -> DfResult<SchemaRef> {
        self.inner.get_table_schema(table_name).await
    }
}

/// The table provider DataFusion sees for a SQL source table: the provider's own, with
/// better column types where we know them (MySQL TIMESTAMP as an instant) and honest
/// answers about which filters the source applies exactly (see `pushdown::scan_filter`).
///
/// A scan (a table read outside a federated subtree, or every read with pushdown off) is
/// sent like a federated subtree, through our executor: its statement gets the same
/// dialect rewrites and transport casts (exact decimals, literals MySQL keeps), the cancel
/// marker, and arrives in the planned types. The provider's own scan has none of these.
struct SourceTable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    dialect: SourceDialect,
    table_ref: TableReference,
    source: Arc<SQLTableSource>,
    executor: Arc<DialectExecutor>,
}

impl std::fmt::Debug for SourceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTable").field("table", &self.table_ref).field("dialect", &self.dialect).finish()
    }
}

#[async_trait]
impl TableProvider for SourceTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let theirs = self.inner.supports_filters_pushdown(filters)?;
        Ok(filters
            .iter()
            .zip(theirs)
            .map(|(f, t)| scan_filter(f, t, &self.schema, self.dialect))
            .collect())
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // DataFusion's simplifier rewrites a scan's filters after the scan took them:
        // `EXTRACT(YEAR FROM d) BETWEEN -42 AND 7` became `d >= DATE '-0042-01-01'`,
        // which no source calendar holds. A filter no longer sendable runs here.
        let (sent, kept): (Vec<Expr>, Vec<Expr>) = filters.iter().cloned().partition(|f| {
            scan_filter(f, TableProviderFilterPushDown::Exact, &self.schema, self.dialect)
                != TableProviderFilterPushDown::Unsupported
        });
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let wanted = projection.cloned().unwrap_or(all);
        let mut read = wanted.clone();
        for c in kept.iter().flat_map(|f| f.column_refs()) {
            if let Ok(i) = self.schema.index_of(&c.name) {
                if !read.contains(&i) {
                    read.push(i);
                }
            }
        }
        // A read for its row count alone still names a column: no source takes `SELECT FROM`.
        let count_only = read.is_empty();
        if count_only {
            read.push(0);
        }
        let source = provider_as_source(Arc::new(FederatedTableProviderAdaptor::new(self.source.clone())));
        let mut plan = LogicalPlanBuilder::scan_with_filters(self.table_ref.clone(), source, Some(read.clone()), sent)?;
        if limit.is_some() && kept.is_empty() {
            plan = plan.limit(0, limit)?;
        }
        let plan = plan.build()?;
        let statistics = Statistics::new_unknown(plan.schema().as_arrow());
        let df_schema = plan.schema().clone();
        let mut exec: Arc<dyn ExecutionPlan> =
            Arc::new(SealedScanExec::new(Arc::new(VirtualExecutionPlan::new(plan, self.executor.clone(), statistics))));
        if let Some(predicate) = datafusion::logical_expr::utils::conjunction(kept) {
            let predicate = state.create_physical_expr(predicate, &df_schema)?;
            exec = Arc::new(datafusion::physical_plan::filter::FilterExec::try_new(predicate, exec)?);
            if let Some(n) = limit {
                exec = Arc::new(datafusion::physical_plan::limit::LocalLimitExec::new(exec, n));
            }
        }
        if read == wanted {
            return Ok(exec);
        }
        let columns = wanted
            .iter()
            .map(|i| {
                let position = read.iter().position(|r| r == i).expect("read holds every wanted column");
                let name = self.schema.field(*i).name();
                let column = datafusion::physical_expr::expressions::Column::new(name, position);
                ProjectionExpr::new(Arc::new(column) as Arc<dyn PhysicalExpr>, name.clone())
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(ProjectionExec::try_new(columns, exec)?))
    }
}

/// `schema` without the Postgres provider's `source_type` field metadata, which no one
/// reads: across a UNION of a `text` and a `varchar(40)` column, DataFusion's logical and
/// physical plans merged it differently and refused to run ("Physical input schema should
/// be the same ... field metadata").
fn without_source_types(schema: SchemaRef) -> SchemaRef {
    use datafusion_table_providers::SOURCE_TYPE_METADATA_KEY;
    if !schema.fields().iter().any(|f| f.metadata().contains_key(SOURCE_TYPE_METADATA_KEY)) {
        return schema;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut metadata = f.metadata().clone();
            metadata.remove(SOURCE_TYPE_METADATA_KEY);
            f.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Makes a provider that is also a SQL executor federated, with our rewrites.
/// `schema` overrides the provider's own column types.
pub(crate) fn federate<T>(
    table: Arc<T>,
    table_ref: TableReference,
    dialect: SourceDialect,
    catalog: &str,
    read_timeout: std::time::Duration,
    schema: Option<SchemaRef>,
    cancel: Option<Arc<dyn RemoteCancel>>,
) -> Arc<dyn TableProvider>
where
    T: TableProvider + SQLExecutor + 'static,
{
    let schema = without_source_types(schema.unwrap_or_else(|| table.schema()));
    let executor = Arc::new(DialectExecutor {
        inner: table.clone(),
        dialect,
        catalog: catalog.to_string(),
        read_timeout,
        cancel,
    });
    let federation = Arc::new(SQLFederationProvider::new(executor.clone()));
    let source = Arc::new(SQLTableSource::new_with_schema(
        federation,
        RemoteTableRef::from(table_ref.clone()),
        schema.clone(),
    ));
    let provider: Arc<dyn TableProvider> = Arc::new(SourceTable {
        inner: table.clone(),
        schema,
        dialect,
        table_ref,
        source: source.clone(),
        executor,
    });
    Arc::new(FederatedTableProviderAdaptor::new_with_provider(source, provider))
}

/// What reads a federated source table with statements of our own: the executor behind
/// it (transport casts, remote cancel, `read_timeout`) and the table's engine types.
pub struct SourceReader {
    pub executor: Arc<dyn SQLExecutor>,
    pub schema: SchemaRef,
    pub dialect: SourceDialect,
    pub table: TableReference,
}

/// The reader behind a provider [`federate`] made; None for any other provider.
pub fn source_reader(provider: &Arc<dyn TableProvider>) -> Option<SourceReader> {
    use std::any::Any;
    let adaptor = (provider.as_ref() as &dyn Any).downcast_ref::<FederatedTableProviderAdaptor>()?;
    let table = (adaptor.table_provider.as_ref()?.as_ref() as &dyn Any).downcast_ref::<SourceTable>()?;
    Some(SourceReader {
        executor: table.executor.clone(),
        schema: table.schema.clone(),
        dialect: table.dialect,
        table: table.table_ref.clone(),
    })
}

/// Runs a catalog query on the pool and returns its rows as strings (NULL as "").
pub(crate) async fn query_strings<T: 'static, P: 'static>(
    pool: &(dyn DbConnectionPool<T, P> + Send + Sync),
    sql: &str,
) -> Result<Vec<Vec<String>>, Failure> {
    let conn = pool.connect().await.map_err(Failure::connecting)?;
    let conn = conn
        .as_async()
        .ok_or_else(|| Failure { lost: false, message: "connection is not async".into() })?;
    let stream = conn.query_arrow(sql, &[], None).await.map_err(|e| Failure::of(&*e))?;
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| Failure::of(&e))?;
    let mut rows = Vec::new();
    for batch in batches {
        let cols = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8).map_err(|e| Failure::of(&e)))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..batch.num_rows() {
            rows.push(
                cols.iter()
                    .map(|c| {
                        let s = c.as_string::<i32>();
                        if s.is_null(i) {
                            String::new()
                        } else {
                            s.value(i).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Keys from catalog rows of one column each, in key order: schema, table, key name,
/// column, then (foreign keys only) referenced schema, table and column.
pub(crate) fn keys_from_rows(rows: Vec<Vec<String>>) -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::new();
    for r in rows {
        let [schema, table, name, column, ref_schema, ref_table, ref_column] = &r[..] else { continue };
        let same = keys
            .last()
            .is_some_and(|k| (&k.schema, &k.table, &k.name) == (schema, table, name));
        if !same {
            keys.push(Key {
                schema: schema.clone(),
                table: table.clone(),
                name: name.clone(),
                columns: Vec::new(),
                references: (!ref_table.is_empty()).then(|| (ref_schema.clone(), ref_table.clone(), Vec::new())),
            });
        }
        let key = keys.last_mut().expect("pushed above");
        key.columns.push(column.clone());
        if let Some((_, _, cols)) = key.references.as_mut() {
            cols.push(ref_column.clone());
        }
    }
    keys
}

/// Tables from catalog rows: schema, table, table type, view definition.
pub(crate) fn tables_from_rows(rows: Vec<Vec<String>>) -> Vec<TableEntry> {
    rows.into_iter()
        .filter_map(|r| {
            let [schema, table, kind, definition] = <[String; 4]>::try_from(r).ok()?;
            Some(TableEntry { schema, table, view: (kind == "VIEW").then_some(definition) })
        })
        .collect()
}

/// Comments from catalog rows: schema, table, column (empty for the table's own), text.
pub(crate) fn comments_from_rows(rows: Vec<Vec<String>>) -> Vec<Comment> {
    rows.into_iter()
        .filter_map(|r| {
            let [schema, table, column, text] = <[String; 4]>::try_from(r).ok()?;
            Some(Comment { schema, table, column: (!column.is_empty()).then_some(column), text })
        })
        .collect()
}

/// Sizes from catalog rows: schema, table, then the three byte counts of `TableSize`.
pub(crate) fn sizes_from_rows(rows: Vec<Vec<String>>) -> Vec<(String, String, TableSize)> {
    rows.into_iter()
        .filter_map(|r| {
            let [schema, table, relation, total_table, total] = <[String; 5]>::try_from(r).ok()?;
            let size = TableSize { relation: relation.parse().ok()?, table: total_table.parse().ok()?, total: total.parse().ok()? };
            Some((schema, table, size))
        })
        .collect()
}

/// A SQL string literal, quoted for any of our sources.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_past_the_planned_scale_are_dropped() {
        let texts: ArrayRef = Arc::new(StringArray::from(vec![Some("-12345678901234567890.01234567890000000000"), None, Some("1.5")]));
        let trimmed = zeros_past_scale_dropped(&texts, 10);
        let options = CastOptions { safe: false, ..Default::default() };
        let d = cast_with_options(&trimmed, &DataType::Decimal128(38, 10), &options).unwrap();
        assert_eq!(cast(&d, &DataType::Utf8).unwrap().as_string::<i32>().value(0), "-12345678901234567890.0123456789");
    }
}
