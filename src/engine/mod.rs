//! The engine: one DataFusion session template with every catalog, federation, and the
//! guardrails. Fronts (server, cli) ask it for a per-client session.

mod access;
mod admission;
mod array_parameters;
pub mod audit;
mod catalog;
mod checked_arithmetic;
mod computed_table;
mod execution;
mod memory;
mod decimal_avg;
mod decimal_literal;
mod exact_arithmetic;
mod exact_sum;
mod exact_variance;
mod filter_pushdown;
mod wide_comparison;
mod wide_union;
mod growing_rounding;
mod int4_literal;
mod shifted_variance;
mod null_aware_in;
mod null_in_list;
pub mod plan_cache;
mod outer_join_constants;
pub mod error;
pub mod guard;
mod rounding_cast;
pub mod snapshots;
mod timezone;
mod topk;
mod window_inputs;
mod yielding;

use std::sync::Arc;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::DataFrame;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_federation::FederatedQueryPlanner;

pub use catalog::{SourceCatalog, SourceCatalogProvider, Status};

pub use access::Access;
pub use admission::Statement as InFlight;
pub use execution::lower_thread_priority;
use execution::Query;

use crate::config::ServerConfig;
use crate::connectors::ConfiguredCatalog;
use error::{classify, QueryError};

/// The catalog that holds pg_catalog and scratch objects; sources can't use this name.
pub const DEFAULT_CATALOG: &str = "fedsql";

/// Settings that belong to one client session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    pub time_zone: Option<String>,
    /// The session's user: what it may read, and its share of the limits.
    pub user: String,
    /// Whether single-source subtrees go to their source as one statement; off, the
    /// engine computes everything above the scans (the differential tester's second oracle).
    pub pushdown: bool,
    /// Schemas of the default catalog to resolve unqualified names in, in order: the
    /// first that exists is the current schema (PostgreSQL's search_path).
    pub search_path: Vec<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings { time_zone: None, user: String::new(), pushdown: true, search_path: Vec::new() }
    }
}

/// A session template: DataFusion's state with every catalog as one access sees them.
struct Templates {
    /// With federation.
    pushdown: SessionState,
    /// Without federation.
    local: SessionState,
    /// The functions that read the session's options when made (now() and its zone).
    zoned: Vec<Arc<datafusion::logical_expr::ScalarUDF>>,
}

/// What a front adds to every session template: how its clients see the catalogs and
/// which functions they call (`pg::Postgres`). The engine itself is the same for every
/// front.
pub trait SessionDialect: Send + Sync {
    /// Installs itself on a template for `access`, registering the default catalog
    /// ([`DEFAULT_CATALOG`]), which it returns: the engine adds its own `fedsql` schema.
    fn install(
        &self,
        ctx: &mut SessionContext,
        sources: &[Arc<SourceCatalog>],
        access: &Access,
    ) -> Result<Arc<dyn datafusion::catalog::CatalogProvider>, String>;
}

pub struct Engine {
    catalogs: Vec<Arc<SourceCatalog>>,
    dialect: Arc<dyn SessionDialect>,
    server: ServerConfig,
    /// One template per distinct access, made at its first session.
    templates: std::sync::Mutex<std::collections::HashMap<Access, Arc<Templates>>>,
    /// Runs queries that read sources (see `execution`).
    cpu: tokio::runtime::Handle,
    runtime: Arc<RuntimeEnv>,
    admission: admission::Admission,
    /// The tasks of executing queries, which a shutdown waits for.
    tasks: tokio_util::task::TaskTracker,
    audit: Arc<audit::Audit>,
}

impl Engine {
    /// Connects every catalog (concurrently; a failing one is marked unavailable) and
    /// starts their refreshers.
    /// `refresh_snapshots`: whether this process keeps the snapshots fresh (the server),
    /// or only reads their stored versions (`fedsql query`, `fedsql check`), so that one
    /// process alone writes a data directory.
    pub async fn start(
        configs: Vec<ConfiguredCatalog>,
        server: &ServerConfig,
        cpu: tokio::runtime::Handle,
        refresh_snapshots: bool,
        dialect: Arc<dyn SessionDialect>,
    ) -> Result<Engine, String> {
        if let Some(c) = configs.iter().map(|c| &c.config).find(|c| c.name == DEFAULT_CATALOG) {
            return Err(format!(
                "{}: the catalog name `{DEFAULT_CATALOG}` is reserved; rename the file",
                c.file.display()
            ));
        }
        Access::check_config(server)?;
        let spill = server.data_dir.join("spill");
        std::fs::create_dir_all(&spill)
            .map_err(|e| format!("data_dir: cannot create {}: {e}", spill.display()))?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(server.limits.memory.as_u64() as usize)))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![spill])))
            // DataFusion keeps file listings forever by default: a Parquet table would miss
            // files added since its first query and fail on files removed. Footers stay
            // cached (keyed by size and modification time).
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()
            .map_err(|e| format!("runtime: {e}"))?;
        let catalogs: Vec<Arc<SourceCatalog>> = configs
            .into_iter()
            .map(|c| Arc::new(SourceCatalog::new(c, runtime.clone())))
            .collect();
        futures::future::join_all(catalogs.iter().map(|c| c.refresh())).await;
        let snapshot_root = if catalogs.iter().any(|c| !c.config().snapshots.is_empty()) {
            let location = server.snapshots.location(&server.data_dir);
            Some(snapshots::store::StoreRoot::open(&location, &server.snapshots.s3, &runtime)?)
        } else {
            None
        };
        for c in &catalogs {
            c.spawn_refresher();
            if let Some(root) = &snapshot_root {
                c.start_snapshots(root, refresh_snapshots).await?;
            }
        }
        let engine = Engine {
            catalogs,
            dialect,
            server: server.clone(),
            templates: Default::default(),
            cpu,
            runtime,
            admission: admission::Admission::new(server.limits.clone()),
            tasks: tokio_util::task::TaskTracker::new(),
            audit: Arc::default(),
        };
        // The shared template is made now: a broken pg_catalog stops startup.
        engine.templates(&Access::All)?;
        Ok(engine)
    }

    /// The templates for `access`, made at its first use.
    fn templates(&self, access: &Access) -> Result<Arc<Templates>, String> {
        let mut cache = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cache.get(access) {
            return Ok(t.clone());
        }
        let t = Arc::new(self.build_templates(access)?);
        cache.insert(access.clone(), t.clone());
        Ok(t)
    }

    fn build_templates(&self, access: &Access) -> Result<Templates, String> {
        // information_schema is ours (pg::catalog), PostgreSQL-shaped.
        let mut config = SessionConfig::new()
            .with_information_schema(false)
            .with_default_catalog_and_schema(DEFAULT_CATALOG, "public")
            .with_create_default_catalog_and_schema(false)
            .with_extension(Arc::new(access.clone()));
        // As in PostgreSQL, `0.1` is an exact numeric, not a double.
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        // An aggregate over a UNION compares its input's logical and physical schemas, field
        // metadata included, and DataFusion merges a UNION's metadata one way in each (the
        // logical side drops what coalesce() carries, the physical side keeps it): a declared
        // varchar(16) against a varchar(40) failed XX000. A wrong type or nullability still
        // fails where batches are built.
        config.options_mut().execution.skip_physical_aggregate_schema_check = true;
        let state = SessionStateBuilder::new()
            .with_optimizer_rules(optimizer_rules(true))
            .with_query_planner(Arc::new(FederatedQueryPlanner::new()))
            .with_analyzer_rules(analyzer_rules())
            .with_physical_optimizer_rules(physical_rules())
            .with_physical_optimizer_rule(Arc::new(crate::connectors::ShowSentStatements))
            .with_physical_optimizer_rule(Arc::new(yielding::YieldingJoins))
            .with_physical_optimizer_rule(Arc::new(topk::FullTopKKeys))
            .with_default_features()
            .with_config(config)
            .with_runtime_env(self.runtime.clone())
            .build();
        let ctx = SessionContext::new_with_state(state);
        for udaf in exact_variance::udafs() {
            ctx.register_udaf(udaf);
        }
        for udf in growing_rounding::udfs().into_iter().chain(wide_union::udfs()) {
            ctx.register_udf(udf);
        }
        let mut ctx = ctx;
        for c in &self.catalogs {
            ctx.register_catalog(c.name(), Arc::new(SourceCatalogProvider(c.clone())));
        }
        let tool_catalog = self.dialect.install(&mut ctx, &self.catalogs, access)?;
        let own = Arc::new(datafusion::catalog::MemorySchemaProvider::new());
        use datafusion::catalog::SchemaProvider;
        own.register_table("queries".into(), Arc::new(audit::queries_table(self.audit.clone())))
            .map_err(|e| format!("fedsql.queries: {e}"))?;
        own.register_table("snapshots".into(), Arc::new(snapshots::snapshots_table(self.catalogs.clone())))
            .map_err(|e| format!("fedsql.snapshots: {e}"))?;
        tool_catalog.register_schema("fedsql", own).map_err(|e| format!("fedsql.queries: {e}"))?;
        let pushdown = ctx.state();
        let local = SessionStateBuilder::new_from_existing(pushdown.clone())
            .with_optimizer_rules(optimizer_rules(false))
            .build();
        let options = pushdown.config().options();
        let zoned = pushdown
            .scalar_functions()
            .values()
            .filter(|f| f.inner().with_updated_config(options).is_some())
            .cloned()
            .collect();
        Ok(Templates { pushdown, local, zoned })
    }

    /// What `user` may read.
    pub fn access(&self, user: &str) -> Access {
        // Checked at startup, so every user's grants parse.
        Access::of(&self.server, user).unwrap_or_else(|_| Access::nothing(user))
    }

    /// The record of every statement.
    pub fn audit(&self) -> &audit::Audit {
        &self.audit
    }

    pub fn server_config(&self) -> &ServerConfig {
        &self.server
    }

    pub fn catalogs(&self) -> &[Arc<SourceCatalog>] {
        &self.catalogs
    }

    /// Executes `df` for `user`: a query that reads sources waits for its turn and runs on
    /// the execution runtime within its memory share; dropping the stream stops it.
    pub async fn execute(&self, df: DataFrame, user: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let light = execution::is_light(df.logical_plan());
        self.run(Query::new(df), light, user).await
    }

    /// Executes `optimized`, made by `plan_cache` from `plan`, as `execute` would `plan`.
    pub async fn execute_optimized(
        &self,
        state: SessionState,
        plan: &LogicalPlan,
        optimized: LogicalPlan,
        user: &str,
    ) -> Result<SendableRecordBatchStream, QueryError> {
        // Whether it reads sources shows in the plan before federation hides its scans.
        self.run(Query::optimized(state, optimized), execution::is_light(plan), user).await
    }

    async fn run(&self, query: Query, light: bool, user: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let pool = memory::QueryPool::new(self.runtime.memory_pool.clone(), self.admission.limits().query_memory.as_u64() as usize);
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.runtime)
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .map_err(|e| classify(&e))?;
        if light {
            let task_ctx = query.task_ctx(runtime);
            let plan = query.physical().await.map_err(|e| classify(&e))?;
            return datafusion::physical_plan::execute_stream(plan, task_ctx).map_err(|e| classify(&e));
        }
        let permit = self.admission.admit(user).await?;
        execution::spawn(&self.cpu, &self.tasks, query, runtime, Some(permit)).await.map_err(|e| classify(&e))
    }

    /// Counts one statement as in flight (for a shutdown's drain) until dropped.
    pub fn statement(&self) -> InFlight {
        self.admission.statement()
    }

    /// Resolves when a shutdown ends the statements still running.
    pub fn terminated(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.admission.terminated()
    }

    /// Lets statements in flight finish for up to `grace`, then ends the rest; returns
    /// how many were ended.
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        let ended = self.admission.drain(grace).await;
        // Ended queries stop their statements on the sources as their tasks go.
        let settle = std::time::Duration::from_secs(5);
        self.tasks.close();
        let _ = tokio::time::timeout(settle, self.tasks.wait()).await;
        crate::connectors::cancels_sent(settle).await;
        ended
    }

    /// A fresh session for one client's statement, with that client's settings and access.
    pub fn session(&self, settings: &SessionSettings) -> SessionContext {
        let access = self.access(&settings.user);
        let templates = match self.templates(&access) {
            Ok(t) => t,
            Err(e) => {
                // The shared template was made at startup; another can only fail alike.
                tracing::error!(error = %e, "session template");
                self.templates(&Access::All).expect("made at startup")
            }
        };
        let mut state = if settings.pushdown { templates.pushdown.clone() } else { templates.local.clone() };
        // PostgreSQL's TimeZone defaults to UTC here (server/settings.rs): now() is a
        // timestamptz in it, as it is there.
        let tz = settings.time_zone.clone().unwrap_or_else(|| "UTC".to_string());
        state.config_mut().options_mut().execution.time_zone = Some(tz);
        let default_catalog = state.catalog_list().catalog(DEFAULT_CATALOG);
        if let Some(schema) = settings
            .search_path
            .iter()
            .find(|s| default_catalog.as_ref().is_some_and(|c| c.schema(s).is_some()))
        {
            state.config_mut().options_mut().catalog.default_schema = schema.clone();
        }
        // Functions that read the session's options when made (now()'s zone,
        // current_schema()), made again, as `SET` would.
        let options = state.config().options().clone();
        for f in templates.zoned.iter().filter_map(|f| f.inner().with_updated_config(&options)) {
            use datafusion::execution::FunctionRegistry;
            let _ = state.register_udf(Arc::new(f));
        }
        SessionContext::new_with_state(state)
    }
}

/// DataFusion's analyzer rules, with literals made plain before type coercion reads
/// them and the session's zone applied after.
fn analyzer_rules() -> Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Analyzer::new().rules;
    rules.insert(0, Arc::new(decimal_literal::PlainDecimalLiterals));
    rules.insert(1, Arc::new(int4_literal::Int4Literals));
    rules.insert(2, Arc::new(null_aware_in::NullAwareInSubquery));
    rules.insert(3, Arc::new(null_in_list::NullInList));
    rules.push(Arc::new(timezone::SessionTimeZone));
    rules.push(Arc::new(rounding_cast::OpaqueRoundingCasts));
    rules
}

/// DataFusion's physical rules, with ours first: projection pushdown moves a projection's
/// expressions into a Parquet scan (`projection=[bi * 2 as x]`), out of reach of a rule
/// run later (`bi * 2` wrapped to -2 there), and the ordering rules must not see lossy
/// casts in filters (`rounding_cast`) nor an outer join's null-supplying constants.
fn physical_rules() -> Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    [
        Arc::new(checked_arithmetic::CheckedArithmetic) as _,
        Arc::new(rounding_cast::OpaqueFilterCasts) as _,
        Arc::new(outer_join_constants::OuterJoinConstants) as _,
    ]
        .into_iter()
        .chain(filter_pushdown::physical_rules())
        .collect()
}

/// DataFusion's rules with federation, then ours (which see only what stays local).
///
/// datafusion-federation places its rule right after `scalar_subquery_to_join`, before
/// DataFusion turns `FROM a, b WHERE a.k = b.k` into an inner join and pushes filters
/// down: a source would then receive a cross join with its filters kept here. Federation
/// runs after `push_down_filter` instead, and before the projection rules, whose
/// rewrites (common subexpressions, pruned projections) the unparser can't always spell.
fn optimizer_rules(federate: bool) -> Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    if !federate {
        rules.push(Arc::new(window_inputs::WindowInputsProjected));
        rules.push(Arc::new(decimal_avg::RoundDecimalAvg));
        return rules;
    }
    let after = rules
        .iter()
        .position(|r| r.name() == "push_down_filter")
        .map_or(rules.len(), |p| p + 1);
    rules.insert(after, Arc::new(datafusion_federation::FederationOptimizerRule::new()));
    // Window inputs first: `avg` widens its argument with a cast it recognises on the
    // next pass, and a cast over arithmetic moved into a projection would be widened
    // again (rounded twice: ...045|45 became ...046).
    rules.push(Arc::new(window_inputs::WindowInputsProjected));
    rules.push(Arc::new(decimal_avg::RoundDecimalAvg));
    rules
}

/// Checks and plans one statement: the single path every front uses.
pub async fn plan_statement(ctx: &SessionContext, stmt: &Statement) -> Result<LogicalPlan, QueryError> {
    plan_typed_statement(ctx, stmt, &[]).await
}

/// `plan_statement`, a query's `$n` of the type the client declared at `declared[n - 1]`
/// (SQL, Arrow). Those before the first undeclared one are planned with their types, as
/// `PREPARE p(types) AS ...` declares them (`sum($1)` needs one); the others are given
/// theirs in the plan.
pub async fn plan_typed_statement(
    ctx: &SessionContext,
    stmt: &Statement,
    declared: &[Option<(datafusion::sql::sqlparser::ast::DataType, datafusion::arrow::datatypes::DataType)>],
) -> Result<LogicalPlan, QueryError> {
    // One copy of the session's state for the checks and the planning (each copy clones
    // every function registry).
    let state = ctx.state();
    guard::check(&state, stmt).await?;
    let types: Vec<_> = declared.iter().map_while(|t| t.as_ref().map(|(sql, _)| sql.clone())).collect();
    let typed = !types.is_empty() && matches!(stmt, Statement::Query(_));
    let planned_with = if typed { types.len() } else { 0 };
    let planned = match typed {
        true => Statement::Prepare {
            name: datafusion::sql::sqlparser::ast::Ident::new("fedsql_parse"),
            data_types: types,
            statement: Box::new(stmt.clone()),
        },
        false => stmt.clone(),
    };
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(planned)))
        .await
        .map_err(|e| classify(&e))?;
    let plan = match plan {
        LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(p)) if typed => Arc::unwrap_or_clone(p.input),
        plan => plan,
    };
    // Result types are described to the client from this plan: rules that change a
    // column's type run here, not among the analyzer's.
    use datafusion::optimizer::AnalyzerRule;
    let declared: Vec<_> = match stmt {
        Statement::Query(_) => declared
            .iter()
            .enumerate()
            .map(|(i, t)| t.as_ref().filter(|_| i >= planned_with).map(|(_, arrow)| arrow.clone()))
            .collect(),
        _ => Vec::new(),
    };
    array_parameters::declared(plan, &declared)
        .and_then(array_parameters::infer)
        .and_then(|plan| exact_sum::ExactSums.analyze(plan, state.config_options()))
        .and_then(exact_arithmetic::widen)
        .and_then(wide_comparison::widen)
        .and_then(wide_union::widen)
        .and_then(|plan| described_as_executed(&state, plan))
        .map_err(|e| classify(&e))
}

/// A statement that names parameters nobody binds (`$1` in a simple query) fails as
/// PostgreSQL's does, before it runs.
pub fn check_no_parameters(plan: &LogicalPlan) -> Result<(), QueryError> {
    let params = plan.get_parameter_types().map_err(|e| classify(&e))?;
    match params.keys().min() {
        None => Ok(()),
        Some(name) => Err(QueryError::new(error::sqlstate::UNDEFINED_PARAMETER, format!("there is no parameter {name}"))),
    }
}

/// Whether `plan` is a query (rows computed), not a command.
fn is_query(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Projection(_) | LogicalPlan::Union(_) | LogicalPlan::Sort(_) | LogicalPlan::Limit(_)
            | LogicalPlan::Aggregate(_) | LogicalPlan::Distinct(_) | LogicalPlan::Filter(_) | LogicalPlan::Window(_)
            // INTERSECT and EXCEPT are planned as semi and anti joins.
            | LogicalPlan::Join(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Values(_)
    )
}

/// `plan` with its result columns in the types execution produces. Clients are told the
/// types of this plan, while execution runs it through the analyzer first, whose type
/// coercion can change a column's type (`SELECT 0 UNION ALL SELECT 1.5` is numeric, not
/// the first branch's int8: rows were encoded against the wrong type). A cast to the
/// analyzed type on top makes both agree; the analyzer then finds it already done.
fn described_as_executed(state: &SessionState, plan: LogicalPlan) -> datafusion::error::Result<LogicalPlan> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::Column;
    use datafusion::logical_expr::{cast, Expr, LogicalPlanBuilder};
    if !is_query(&plan) {
        return Ok(plan);
    }
    let analyzed = state.analyzer().execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    let (before, after) = (plan.schema(), analyzed.schema());
    // Instants are shown in the session's zone by the analyzer; the wire writes them alike.
    let differs = |a: &DataType, b: &DataType| a != b && !matches!((a, b), (DataType::Timestamp(..), DataType::Timestamp(..)));
    if before.fields().len() != after.fields().len()
        || !before.fields().iter().zip(after.fields()).any(|(a, b)| differs(a.data_type(), b.data_type()))
    {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = before
        .iter()
        .zip(after.fields())
        .map(|((q, f), executed)| {
            let col = Expr::Column(Column::from((q, f)));
            if differs(f.data_type(), executed.data_type()) {
                cast(col, executed.data_type().clone()).alias_qualified(q.cloned(), f.name())
            } else {
                col
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}
