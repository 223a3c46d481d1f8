//! `sum` of a bigint is a numeric in PostgreSQL: it never overflows. DataFusion sums an
//! Int64 into an Int64 that wraps silently (9223372036854775807 + 1 summed to
//! -9223372036854775808). Summing the values as Decimal128(38, 0) gives PostgreSQL's type
//! and answer, here and at any source the sum is sent to.
//!
//! `sum` and `avg` of a decimal keep 10 more integer digits than the values have, capped
//! at Decimal128's 38: the sum of numeric(38,20) values is kept in 18 integer digits, and
//! overflowed (for AVG as an internal error). Where the cap bites, the values are summed
//! as Decimal256 instead, which holds the 10 digits more.
//!
//! Window functions `sum` and `avg` are widened the same way.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::{Aggregate, Cast, Expr, ExprSchemable, LogicalPlan, Window, WindowFunctionDefinition};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercionRewriter;
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct ExactSums;

/// The type `sum` or `avg` (`func`) adds `e` in, where DataFusion's own would overflow,
/// with `e` as it is to be summed. AVG of a bigint already runs in DataFusion's own wide
/// state.
fn exact_sum_type(func: &str, e: &Expr, input: &LogicalPlan) -> Option<(DataType, Expr)> {
    let schema = input.schema();
    // This runs before type coercion (result types are described from its plan), where a
    // CASE reports its first branch's type (`CASE .. THEN 0 ELSE amt END` seemed a bigint,
    // and summed as numeric(38,0) lost its decimals). Its branches are made to meet as
    // `wide_union` makes them, and its type is the one coercion gives it.
    let mut case = false;
    let _ = e.apply(|x| {
        case |= matches!(x, Expr::Case(_));
        Ok(if case { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    let (e, t) = if case {
        let e = e.clone().transform_up(|x| super::wide_union::widened_case(x, schema)).ok()?.data;
        let coerced = e.clone().rewrite(&mut TypeCoercionRewriter::new(schema)).ok()?.data;
        let t = coerced.get_type(schema).ok()?;
        (e, t)
    } else {
        (e.clone(), e.get_type(schema).ok()?)
    };
    // A bigint already summed as numeric(38,0): 10^19 rows could not overflow it. A cast
    // to anything else (`sum(CAST(bi AS BIGINT))`) is summed like any other bigint.
    if let Expr::Cast(c) = &e {
        if matches!(c.expr.get_type(schema).ok()?, DataType::Int64 | DataType::UInt64)
            && c.field.data_type() == &DataType::Decimal128(38, 0)
        {
            return None;
        }
    }
    let to = match (func, t) {
        ("sum", DataType::Int64 | DataType::UInt64) => DataType::Decimal128(38, 0),
        (_, DataType::Decimal128(p, s)) if p + 10 > DECIMAL128_MAX_PRECISION => DataType::Decimal256(p, s),
        _ => return None,
    };
    Some((to, e))
}

fn exact(agg: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let widened = |e: &Expr| match e {
        Expr::AggregateFunction(AggregateFunction { func, params })
            if matches!(func.name(), "sum" | "avg") && params.args.len() == 1 =>
        {
            let (to, arg) = exact_sum_type(func.name(), &params.args[0], &agg.input)?;
            let mut params = params.clone();
            params.args[0] = Expr::Cast(Cast::new(Box::new(arg), to));
            let name = e.schema_name().to_string();
            Some(Expr::AggregateFunction(AggregateFunction { func: func.clone(), params }).alias(name))
        }
        _ => None,
    };
    if !agg.aggr_expr.iter().any(|e| widened(e).is_some()) {
        return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
    }
    let aggr = agg.aggr_expr.iter().map(|e| widened(e).unwrap_or_else(|| e.clone())).collect();
    let rewritten = Aggregate::try_new(Arc::clone(&agg.input), agg.group_expr.clone(), aggr)?;
    Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
}

/// `sum(x) OVER (...)` and `avg(x) OVER (...)` as the aggregates: a running sum of
/// bigints wrapped, one of numeric(38,20) overflowed into another number (the tester).
fn exact_window(w: Window) -> Result<Transformed<LogicalPlan>> {
    let widened = |e: &Expr| {
        let inner = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            e => e,
        };
        let Expr::WindowFunction(f) = inner else { return None };
        let WindowFunctionDefinition::AggregateUDF(func) = &f.fun else { return None };
        if !matches!(func.name(), "sum" | "avg") || f.params.args.len() != 1 {
            return None;
        }
        let (to, arg) = exact_sum_type(func.name(), &f.params.args[0], &w.input)?;
        let mut params = f.params.clone();
        params.args[0] = Expr::Cast(Cast::new(Box::new(arg), to));
        let name = e.schema_name().to_string();
        Some(Expr::WindowFunction(Box::new(WindowFunction { fun: f.fun.clone(), params })).alias(name))
    };
    if !w.window_expr.iter().any(|e| widened(e).is_some()) {
        return Ok(Transformed::no(LogicalPlan::Window(w)));
    }
    let exprs = w.window_expr.iter().map(|e| widened(e).unwrap_or_else(|| e.clone())).collect();
    Ok(Transformed::yes(LogicalPlan::Window(Window::try_new(exprs, Arc::clone(&w.input))?)))
}

impl AnalyzerRule for ExactSums {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut changed = false;
        plan.transform_up_with_subqueries(|node| {
            let node = match node {
                LogicalPlan::Aggregate(agg) => exact(agg)?,
                LogicalPlan::Window(w) => exact_window(w)?,
                other => Transformed::no(other),
            };
            changed |= node.transformed;
            // Nodes above a rewritten aggregate see its new column type.
            if changed && !node.transformed {
                return Ok(Transformed::yes(node.data.recompute_schema()?));
            }
            Ok(node)
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fedsql_exact_sums"
    }
}
