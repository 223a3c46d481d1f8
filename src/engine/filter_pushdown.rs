//! DataFusion's physical filter pushdown, not run over plans where one node's columns
//! repeat a name.
//!
//! The rule moves a filter through a projection by column name. After a join's sides are
//! swapped, a projection names `b1.amt` and `b2.amt` both `amt`: the filter on `b1.amt`
//! above a RIGHT JOIN was pushed into the other side as a filter on `b2.amt`, and the
//! join returned 44 rows where PostgreSQL returns 33 (the differential tester). A join's
//! dynamic filter travels the same way: the filter for `b2.k` pruned rows of `b1.k`, and
//! a three-table join over Parquet lost a row. Plans whose names are unique keep both.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

type Rule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

#[derive(Debug)]
struct UnambiguousFilterPushdown(Rule);

/// Whether a node of `plan` has two columns of one name.
fn repeats_a_name(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut repeats = false;
    let _ = plan.apply(|node| {
        let schema = node.schema();
        let mut seen = HashSet::new();
        repeats = schema.fields().iter().any(|f| !seen.insert(f.name()));
        Ok(if repeats { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    repeats
}

impl PhysicalOptimizerRule for UnambiguousFilterPushdown {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if repeats_a_name(&plan) {
            return Ok(plan);
        }
        self.0.optimize(plan, config)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn schema_check(&self) -> bool {
        self.0.schema_check()
    }
}

/// DataFusion's physical optimizer rules, with filter pushdown guarded.
pub fn physical_rules() -> Vec<Rule> {
    PhysicalOptimizer::new()
        .rules
        .into_iter()
        .map(|rule| -> Rule {
            if rule.name().starts_with("FilterPushdown") {
                Arc::new(UnambiguousFilterPushdown(rule))
            } else {
                rule
            }
        })
        .collect()
}
