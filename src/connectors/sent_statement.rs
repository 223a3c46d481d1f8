//! EXPLAIN shows each source statement byte for byte as it is sent.
//!
//! datafusion-federation's `VirtualExecutionPlan` prints the statement as its unparser and
//! analyzers leave it; our executor then names the columns and wraps them in transport
//! casts (`sql.rs`). Above every such plan sits a `SentStatementExec` whose line is the
//! text the executor sends: it is found by running the executor in a capture mode that
//! records the statement and starts nothing. Each run also prefixes a marker comment of
//! its own (`/* fedsql-q <pid>.<n> */`, see `remote_cancel`).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties};
use datafusion_federation::sql::VirtualExecutionPlan;

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
fn statements(plan: &Arc<dyn ExecutionPlan>) -> Result<Vec<String>> {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let run = plan.execute(0, Arc::new(TaskContext::default()));
    let sent = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    run.map(|_| sent)
}

#[derive(Debug)]
pub struct SentStatementExec {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for SentStatementExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match statements(&self.input) {
            Ok(sent) => write!(f, "SentStatementExec: sql={}", sent.join("; ")),
            Err(e) => write!(f, "SentStatementExec: (not computed: {e})"),
        }
    }
}

impl ExecutionPlan for SentStatementExec {
    fn name(&self) -> &str {
        "SentStatementExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(SentStatementExec { input })),
            _ => datafusion::common::internal_err!("SentStatementExec takes one child"),
        }
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// Puts a `SentStatementExec` above every source statement (the last physical rule).
#[derive(Debug, Default)]
pub struct ShowSentStatements;

impl PhysicalOptimizerRule for ShowSentStatements {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.downcast_ref::<VirtualExecutionPlan>().is_some() {
                Ok(Transformed::yes(Arc::new(SentStatementExec { input: node }) as Arc<dyn ExecutionPlan>))
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
