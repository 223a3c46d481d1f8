//! A source statement in the physical plan: it takes no filters from the physical plan,
//! and EXPLAIN shows it as sent (see `sent_statement`).
//!
//! Which predicates reach a source is decided once, on the logical plan (`pushdown.rs`),
//! where the provider answers Exact or Inexact per filter. The table providers' `SqlExec`
//! also accepts every `FilterExec` predicate DataFusion's physical `FilterPushdown` offers
//! and drops the engine's check: a text equality MySQL compares case-insensitively would
//! then decide alone (`v = 'a'` matching 'A'). This wrapper turns those offers down.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};

#[derive(Debug)]
pub(crate) struct SealedScanExec {
    input: Arc<dyn ExecutionPlan>,
}

impl SealedScanExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        SealedScanExec { input }
    }
}

impl DisplayAs for SealedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match super::sent_statement::statements(&self.input) {
            Ok(sent) if !sent.is_empty() => write!(f, "SentStatementExec: sql={}", sent.join("; ")),
            Ok(_) => write!(f, "SealedScanExec"),
            Err(e) => write!(f, "SentStatementExec: (not computed: {e})"),
        }
    }
}

impl ExecutionPlan for SealedScanExec {
    fn name(&self) -> &str {
        "SealedScanExec"
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
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(SealedScanExec { input })),
            _ => datafusion::common::internal_err!("SealedScanExec takes one child"),
        }
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
