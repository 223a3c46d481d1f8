//! Where queries execute. Protocol handling keeps its own runtime; a query that reads
//! sources runs on a second runtime of lower-priority threads, so a CPU-bound join can
//! neither starve new connections nor delay a cancel or a statement timeout. The rows
//! come back through a small channel; dropping the stream (cancel, timeout, a client gone)
//! aborts the query's task and every task it spawned, which frees its memory and its
//! statements on the sources.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use super::admission::Permit;
use super::DEFAULT_CATALOG;

/// Batches a query may run ahead of its client.
const AHEAD: usize = 2;

/// Lowers the calling thread's scheduling priority (Linux applies `setpriority` to a
/// thread), so execution threads yield the CPU to protocol threads.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Whether `plan` reads nothing but fedsql's own catalog tables (or nothing at all):
/// `SELECT 1`, pg_catalog and information_schema queries run where they are asked, and
/// stay quick while sources are busy.
pub fn is_light(plan: &LogicalPlan) -> bool {
    let mut light = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.clone().resolve(DEFAULT_CATALOG, "public");
            let own = &*name.catalog == DEFAULT_CATALOG
                && matches!(&*name.schema, "pg_catalog" | "information_schema");
            if !own {
                light = false;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    light
}

/// Batches sent between two turns given to the rest of the connection's task.
const YIELD_EVERY: u32 = 8;

/// A task aborted when dropped.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

fn panicked(e: tokio::task::JoinError) -> DataFusionError {
    DataFusionError::Internal(format!("query execution stopped unexpectedly: {e}"))
}

/// A statement's plan on its way to execution.
pub struct Query {
    state: SessionState,
    plan: LogicalPlan,
    /// Whether the analyzer and optimizer have made it already (`plan_cache`).
    optimized: bool,
}

impl Query {
    pub fn new(df: DataFrame) -> Self {
        let (state, plan) = df.into_parts();
        Self { state, plan, optimized: false }
    }

    pub fn optimized(state: SessionState, plan: LogicalPlan) -> Self {
        Self { state, plan, optimized: true }
    }

    pub async fn physical(&self) -> Result<Arc<dyn ExecutionPlan>> {
        match self.optimized {
            true => self.state.query_planner().create_physical_plan(&self.plan, &self.state).await,
            false => self.state.create_physical_plan(&self.plan).await,
        }
    }

    pub fn task_ctx(&self, runtime: Arc<RuntimeEnv>) -> Arc<TaskContext> {
        Arc::new(TaskContext::from(&self.state).with_runtime(runtime))
    }
}

/// Plans and runs `query` on `cpu` with `runtime` (the query's memory pool), holding
/// `permit` until the work has stopped. Planning errors come back here, before any row.
pub async fn spawn(
    cpu: &Handle,
    tasks: &TaskTracker,
    query: Query,
    runtime: Arc<RuntimeEnv>,
    permit: Option<Permit>,
) -> Result<SendableRecordBatchStream> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(AHEAD);
    let task = tasks.spawn_on(async move {
        let _permit = permit;
        let task_ctx = query.task_ctx(runtime);
        let started = match query.physical().await {
            Ok(plan) => datafusion::physical_plan::execute_stream(plan, task_ctx),
            Err(e) => Err(e),
        };
        let mut stream = match started {
            Ok(s) => {
                if ready_tx.send(Ok(s.schema())).is_err() {
                    return;
                }
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }, cpu);
    let mut task = AbortOnDrop(Some(task));
    let schema = match ready_rx.await {
        Ok(ready) => ready?,
        Err(_) => {
            let handle = task.0.take().expect("set above");
            return Err(match handle.await {
                Err(e) => panicked(e),
                Ok(()) => DataFusionError::Internal("query execution ended before it started".into()),
            });
        }
    };
    let rows = futures::stream::unfold((rx, task, 0u32), |(mut rx, mut task, sent)| async move {
        // Batches that are always ready would keep the sending task from ever seeing a
        // cancel or a timeout raced against it: it gives way every few batches.
        if sent % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
        match rx.recv().await {
            Some(item) => Some((item, (rx, task, sent.wrapping_add(1)))),
            // The task ended: at the last row, or by a panic that must not pass for one.
            None => match task.0.take()?.await {
                Err(e) if e.is_panic() => Some((Err(panicked(e)), (rx, task, sent))),
                _ => None,
            },
        }
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
}
