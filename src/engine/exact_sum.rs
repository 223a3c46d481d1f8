//! `sum` of a bigint is a numeric in PostgreSQL: it never overflows. DataFusion sums an
//! Int64 into an Int64 that wraps silently (9223372036854775807 + 1 summed to
//! -9223372036854775808). Summing the values as Decimal128(38, 0) gives PostgreSQL's type
//! and answer, here and at any source the sum is sent to.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Cast, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct ExactBigintSum;

fn wide(e: &Expr, input: &LogicalPlan) -> bool {
    matches!(e.get_type(input.schema()), Ok(DataType::Int64 | DataType::UInt64))
}

fn exact(agg: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let widened = |e: &Expr| match e {
        Expr::AggregateFunction(AggregateFunction { func, params })
            if func.name() == "sum" && params.args.len() == 1 && wide(&params.args[0], &agg.input) =>
        {
            let mut params = params.clone();
            params.args[0] = Expr::Cast(Cast::new(Box::new(params.args[0].clone()), DataType::Decimal128(38, 0)));
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

impl AnalyzerRule for ExactBigintSum {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut changed = false;
        plan.transform_up_with_subqueries(|node| {
            let node = match node {
                LogicalPlan::Aggregate(agg) => exact(agg)?,
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
        "fedsql_exact_bigint_sum"
    }
}
