//! The constants of an outer join's null-supplying side are not constants of its output.
//!
//! DataFusion 55 carries every equivalence class of both inputs into a LEFT, RIGHT or
//! FULL join's output (`EquivalenceGroup::join`), constants included: after
//! `LEFT JOIN (SELECT .. WHERE n = 5) q`, `q.n` is 5 or NULL, yet `ORDER BY q.n` was taken
//! as satisfied and its sort dropped (the differential tester: NULLs came between the 5s).
//! Each null-supplying input is wrapped in [`NullSupplied`], which shows the join its
//! input's orderings without the constants.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinType, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::{ChildStats, ExecutionPlanProperties, StatisticsArgs};
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream};

/// Wraps the null-supplying inputs of outer joins; runs before the rules that reason
/// about orderings.
#[derive(Debug)]
pub struct OuterJoinConstants;

fn join_type(plan: &dyn ExecutionPlan) -> Option<JoinType> {
    if let Some(j) = plan.downcast_ref::<HashJoinExec>() {
        return Some(*j.join_type());
    }
    if let Some(j) = plan.downcast_ref::<NestedLoopJoinExec>() {
        return Some(*j.join_type());
    }
    if let Some(j) = plan.downcast_ref::<SortMergeJoinExec>() {
        return Some(j.join_type());
    }
    plan.downcast_ref::<SymmetricHashJoinExec>().map(|j| *j.join_type())
}

impl PhysicalOptimizerRule for OuterJoinConstants {
    fn name(&self) -> &str {
        "fedsql_outer_join_constants"
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let nullable = match join_type(node.as_ref()) {
                Some(JoinType::Left) => [false, true],
                Some(JoinType::Right) => [true, false],
                Some(JoinType::Full) => [true, true],
                _ => return Ok(Transformed::no(node)),
            };
            let children: Vec<Arc<dyn ExecutionPlan>> = node
                .children()
                .into_iter()
                .zip(nullable)
                .map(|(c, nullable)| match nullable && !c.is::<NullSupplied>() {
                    true => Arc::new(NullSupplied::new(c.clone())) as _,
                    false => c.clone(),
                })
                .collect();
            datafusion::physical_plan::replace_children_if_necessary(node, children).map(Transformed::yes)
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Its input, as seen by an outer join that may pad it with NULLs.
#[derive(Debug, Clone)]
pub struct NullSupplied {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl NullSupplied {
    fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let theirs = input.equivalence_properties();
        let orderings = theirs.oeq_class().iter().cloned();
        let eq = EquivalenceProperties::new_with_orderings(input.schema(), orderings)
            .with_constraints(theirs.constraints().clone());
        let properties = PlanProperties::clone(input.properties()).with_eq_properties(eq).into();
        Self { input, properties }
    }
}

impl DisplayAs for NullSupplied {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NullSupplied")
    }
}

impl ExecutionPlan for NullSupplied {
    fn name(&self) -> &str {
        "NullSupplied"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
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

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        Ok(Arc::new(match options.children_properties {
            ChildrenPropertiesMode::Keep => Self { input, properties: self.properties.clone() },
            ChildrenPropertiesMode::Recompute => Self::new(input),
        }))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(&self, input_stats: &[Arc<Statistics>], _args: &StatisticsArgs) -> Result<Arc<Statistics>> {
        Ok(input_stats[0].clone())
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }
}
