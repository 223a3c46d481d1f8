//! EXPLAIN shows each source statement byte for byte as it is sent.
//!
//! datafusion-federation's `VirtualExecutionPlan` prints the statement as its unparser and
//! analyzers leave it; our executor then names the columns and wraps them in transport
//! casts (`sql.rs`). Above every such plan sits a `SealedScanExec` whose line
//! (`SentStatementExec: sql=...`) is the text the executor sends: it is found by running
//! the executor in a capture mode that records the statement and starts nothing. Each run also prefixes a marker comment of
//! its own (`/* fedsql-q <pid>.<n> */`, see `remote_cancel`).

use std::cell::RefCell;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_federation::sql::VirtualExecutionPlan;

use super::sealed_scan::SealedScanExec;

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// In capture mode, takes the statement the executor would send (and it sends nothing).
pub(crate) fn captured(statement: &str) -> bool {
    CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(list) => {
            list.push(statement.to_string());
            true
        }
        None => false,
    })
}

/// The statements `plan` would send, computed as its execution computes them.
pub(crate) fn statements(plan: &Arc<dyn ExecutionPlan>) -> Result<Vec<String>> {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let run = plan.execute(0, Arc::new(TaskContext::default()));
    let sent = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    run.map(|_| sent)
}

/// Puts a `SealedScanExec` above every federated source statement (the last physical
/// rule, so sealing changes no pushdown decision): EXPLAIN shows what it sends.
#[derive(Debug, Default)]
pub struct ShowSentStatements;

impl PhysicalOptimizerRule for ShowSentStatements {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            if node.downcast_ref::<SealedScanExec>().is_some() {
                // A table read's statement, sealed when it was planned.
                Ok(Transformed::new(node, false, TreeNodeRecursion::Jump))
            } else if node.downcast_ref::<VirtualExecutionPlan>().is_some() {
                let sealed = Arc::new(SealedScanExec::new(node)) as Arc<dyn ExecutionPlan>;
                Ok(Transformed::new(sealed, true, TreeNodeRecursion::Jump))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }
    fn name(&self) -> &str {
        "fedsql_show_sent_statements"
    }
    fn schema_check(&self) -> bool {
        true
    }
}
