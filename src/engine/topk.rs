//! A TopK per partition sorts by every key of the merge above it.
//!
//! DataFusion drops from a partition's sort the keys constant within that partition, and
//! its TopK shares one threshold among its partitions, built from the keys it kept. Over
//! a UNION whose branches hold different constants (`3.14 AS c2` in one, `0.1 AS c2` in
//! the other; `ORDER BY c2 DESC, c4 LIMIT 3`), a branch that filled its heap first set a
//! threshold on c4 alone that rejected the other branch's rows, which rank first by c2:
//! the answer depended on which partition ran first (the differential tester). Sorting a
//! partition by a key constant in it costs nothing and keeps the shared threshold right.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug)]
pub struct FullTopKKeys;

impl PhysicalOptimizerRule for FullTopKKeys {
    fn name(&self) -> &str {
        "fedsql_full_topk_keys"
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(merge) = node.downcast_ref::<SortPreservingMergeExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(sort) = merge.input().downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            if sort.fetch().is_none() || !sort.preserve_partitioning() || sort.expr() == merge.expr() {
                return Ok(Transformed::no(node));
            }
            let full = SortExec::new(merge.expr().clone(), sort.input().clone())
                .with_preserve_partitioning(true)
                .with_fetch(sort.fetch());
            let merged = SortPreservingMergeExec::new(merge.expr().clone(), Arc::new(full)).with_fetch(merge.fetch());
            Ok(Transformed::yes(Arc::new(merged) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
