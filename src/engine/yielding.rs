//! Joins that yield. DataFusion's tasks yield to the runtime when their inputs make them
//! (`EnsureCooperative` wraps the scans), but a join can produce millions of rows from
//! inputs already in memory without reading them again: a nested-loop join under a
//! `count(*)` ran for seconds without a yield, so a cancel or a timeout that had already
//! answered the client left both cores busy until it ended. Each join's output here counts
//! against the task's budget, so an aborted query stops within a few batches.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec,
};
use datafusion::physical_plan::unnest::UnnestExec;
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug)]
pub struct YieldingJoins;

/// Whether `plan` can emit more rows than it reads.
fn multiplies_rows(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<NestedLoopJoinExec>()
        || plan.is::<HashJoinExec>()
        || plan.is::<CrossJoinExec>()
        || plan.is::<SortMergeJoinExec>()
        || plan.is::<SymmetricHashJoinExec>()
        || plan.is::<UnnestExec>()
}

impl PhysicalOptimizerRule for YieldingJoins {
    fn name(&self) -> &str {
        "yielding_joins"
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            // A join already wrapped keeps its one wrapper.
            let wrapped = node.is::<CooperativeExec>();
            let mut changed = false;
            let children: Vec<Arc<dyn ExecutionPlan>> = node
                .children()
                .into_iter()
                .map(|c| {
                    if !wrapped && multiplies_rows(c.as_ref()) {
                        changed = true;
                        Arc::new(CooperativeExec::new(c.clone())) as Arc<dyn ExecutionPlan>
                    } else {
                        c.clone()
                    }
                })
                .collect();
            if !changed {
                return Ok(Transformed::no(node));
            }
            datafusion::physical_plan::replace_children_if_necessary(node, children).map(Transformed::yes)
        })
        .map(|t| {
            let plan = t.data;
            if multiplies_rows(plan.as_ref()) {
                Arc::new(CooperativeExec::new(plan)) as Arc<dyn ExecutionPlan>
            } else {
                plan
            }
        })
    }

    fn schema_check(&self) -> bool {
        true
    }
}
