//! Plan shapes DataFusion's unparser spells wrongly, rewritten into ones it spells right.
//!
//! Decorrelated subqueries group by a constant (`true AS __always_true`); PostgreSQL
//! rejects `GROUP BY true` ("non-integer constant in GROUP BY") and MySQL would read a
//! number there as a column position. `coalesce(true, true)` is the same constant as an
//! expression, which both group by as DataFusion does.
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
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::{Aggregate, Expr, Filter, LogicalPlan, Projection, SubqueryAlias};

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

/// The federated plan in shapes the unparser writes as valid SQL.
pub fn for_unparser(plan: LogicalPlan) -> Result<LogicalPlan> {
    // One walk, children first: each rule sees its inputs already rewritten.
    plan.transform_up(|node| {
        lift_filter_over_alias(node)?
            .transform_data(constant_group_keys_as_expressions)?
            .transform_data(merged_column_projection)?
            .transform_data(named_aggregates)
    })
    .map(|t| t.data)
}

/// A projection that only picks columns of the projection below it is folded into that
/// one: the unparser writes the lower one as a derived table, yet keeps the upper one's
/// column qualifiers (`SELECT o.org FROM (SELECT o.org ...) AS derived_projection`).
fn merged_column_projection(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(upper) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Projection(lower) = upper.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    let Some(exprs) = picked_columns(upper, lower) else {
        return Ok(Transformed::no(node));
    };
    let merged = Projection::try_new(exprs, lower.input.clone())?;
    Ok(Transformed::yes(LogicalPlan::Projection(merged)))
}

/// `upper`'s expressions written over `lower`'s input, when `upper` only picks columns.
fn picked_columns(upper: &Projection, lower: &Projection) -> Option<Vec<Expr>> {
    upper
        .expr
        .iter()
        .zip(upper.schema.iter())
        .map(|(e, (q, f))| {
            let column = match e {
                Expr::Column(c) => c,
                Expr::Alias(a) => match a.expr.as_ref() {
                    Expr::Column(c) => c,
                    _ => return None,
                },
                _ => return None,
            };
            let value = lower.expr[lower.schema.maybe_index_of_column(column)?].clone().unalias();
            Some(value.alias_qualified(q.cloned(), f.name()))
        })
        .collect()
}

/// A projection over an aggregate that passes an aggregate on as a bare column
/// (`sum(x.amt)`) is written `SELECT sum(x.amt)`, which a source names `sum`, not
/// `sum(x.amt)` as the query above it reads: such columns get their name as an alias.
fn named_aggregates(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(p) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Aggregate(agg) = p.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    let keys = agg.group_expr.len();
    let is_aggregate = |c: &Column| agg.schema.maybe_index_of_column(c).is_some_and(|i| i >= keys);
    if !p.expr.iter().any(|e| matches!(e, Expr::Column(c) if is_aggregate(c))) {
        return Ok(Transformed::no(node));
    }
    let exprs = p
        .expr
        .iter()
        .map(|e| match e {
            Expr::Column(c) if is_aggregate(c) => e.clone().alias_qualified(c.relation.clone(), c.name.clone()),
            other => other.clone(),
        })
        .collect();
    let projection = Projection::try_new(exprs, p.input.clone())?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Literal(..) => true,
        Expr::Alias(a) => is_constant(&a.expr),
        _ => false,
    }
}

fn constant_group_keys_as_expressions(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Aggregate(agg) = &node else {
        return Ok(Transformed::no(node));
    };
    if !agg.group_expr.iter().any(is_constant) || agg.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(Transformed::no(node));
    }
    let keys = agg
        .group_expr
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !is_constant(e) {
                return e.clone();
            }
            let value = e.clone().unalias();
            let (q, f) = agg.schema.qualified_field(i);
            coalesce(vec![value.clone(), value]).alias_qualified(q.cloned(), f.name())
        })
        .collect();
    let keyed = Aggregate::try_new(agg.input.clone(), keys, agg.aggr_expr.clone())?;
    Ok(Transformed::yes(LogicalPlan::Aggregate(keyed)))
}

/// Lifts a filter that sits between an alias and a derived table above the alias.
fn lift_filter_over_alias(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
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
}
