//! Plan shapes DataFusion's unparser spells wrongly, rewritten into ones it spells right.
//!
//! `push_down_filter` moves a filter below a `SubqueryAlias`, renaming its columns to the
//! inner relation's (`t.id` becomes `sales.id`). Over a derived table (a LIMIT, an
//! aggregate, ...) the unparser then writes `FROM (SELECT ... LIMIT 2) AS t WHERE
//! sales.id > 1`, which no database accepts. Lifting such a filter back above the alias,
//! named by the alias again, gives the statement the user wrote.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, SubqueryAlias};

/// Whether the unparser writes `plan` as a derived table rather than a plain `FROM table`.
fn derived(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => false,
        LogicalPlan::Filter(f) => derived(&f.input),
        _ => true,
    }
}

/// `predicate`, written over `alias`'s input, in the alias's own column names.
fn renamed(predicate: Expr, alias: &SubqueryAlias) -> Result<Expr> {
    let inner = alias.input.schema();
    predicate
        .transform(|e| match e {
            Expr::Column(c) => match inner.maybe_index_of_column(&c) {
                Some(i) => {
                    let (q, f) = alias.schema.qualified_field(i);
                    Ok(Transformed::yes(Expr::Column(Column::new(q.cloned(), f.name()))))
                }
                None => Ok(Transformed::no(Expr::Column(c))),
            },
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}

/// Lifts every filter that sits between an alias and a derived table above the alias.
pub fn lift_filters_over_aliases(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| {
        let LogicalPlan::SubqueryAlias(alias) = &node else {
            return Ok(Transformed::no(node));
        };
        let LogicalPlan::Filter(filter) = alias.input.as_ref() else {
            return Ok(Transformed::no(node));
        };
        if !derived(&filter.input) {
            return Ok(Transformed::no(node));
        }
        let below = SubqueryAlias::try_new(filter.input.clone(), alias.alias.clone())?;
        let predicate = renamed(filter.predicate.clone(), &below)?;
        let lifted = Filter::try_new(predicate, Arc::new(LogicalPlan::SubqueryAlias(below)))?;
        Ok(Transformed::yes(LogicalPlan::Filter(lifted)))
    })
    .map(|t| t.data)
}
