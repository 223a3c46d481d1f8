//! AVG of a DECIMAL rounds, as in PostgreSQL and MySQL.
//!
//! DataFusion's decimal AVG truncates at its result scale (s+4): AVG of 0.01, 0.01, 0.00
//! is 0.006666 where the sources answer 0.006667. Locally computed averages therefore
//! run one digit wider (input cast to scale s+1, so the average is truncated at s+5) and
//! are then cast to the usual type, which rounds half away from zero: exactly the
//! rounded value. The rule runs after federation, so pushed-down SQL is untouched (the
//! sources round by themselves).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION, DECIMAL256_MAX_PRECISION};
use datafusion::common::tree_node::Transformed;
use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, Projection};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct RoundDecimalAvg;

/// The widened argument type for an AVG over `t`, when there is room for it.
fn wider(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Decimal128(p, s) if *p + 5 <= DECIMAL128_MAX_PRECISION && *s >= 0 => {
            Some(DataType::Decimal128(p + 1, s + 1))
        }
        DataType::Decimal256(p, s) if *p + 5 <= DECIMAL256_MAX_PRECISION && *s >= 0 => {
            Some(DataType::Decimal256(p + 1, s + 1))
        }
        _ => None,
    }
}

fn rewrite(agg: &Aggregate) -> Result<Option<LogicalPlan>> {
    if agg.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(None);
    }
    let input_schema = agg.input.schema();
    let mut changed = false;
    let mut aggr_expr = Vec::with_capacity(agg.aggr_expr.len());
    let n_groups = agg.group_expr.len();
    for (i, e) in agg.aggr_expr.iter().enumerate() {
        let name = agg.schema.field(n_groups + i).name().clone();
        let (inner, _alias) = match e {
            Expr::Alias(a) => (a.expr.as_ref(), Some(a.name.clone())),
            other => (other, None),
        };
        let new = match inner {
            // An argument cast to one digit wider than its own decimal was widened by an
            // earlier pass (a user's `avg(CAST(id AS NUMERIC(20,2)))` is not: it truncated).
            Expr::AggregateFunction(AggregateFunction { func, params })
                if func.name() == "avg"
                    && params.args.len() == 1
                    && !params.distinct
                    && !matches!(&params.args[0], Expr::Cast(c)
                        if c.expr.get_type(input_schema).ok().as_ref().and_then(wider).as_ref() == Some(c.field.data_type())) =>
            {
                let arg_type = params.args[0].get_type(input_schema)?;
                match wider(&arg_type) {
                    Some(t) => {
                        changed = true;
                        let mut params = params.clone();
                        params.args = vec![params.args[0].clone().cast_to(&t, input_schema)?];
                        Expr::AggregateFunction(AggregateFunction { func: func.clone(), params })
                            .alias(name)
                    }
                    None => e.clone(),
                }
            }
            _ => e.clone(),
        };
        aggr_expr.push(new);
    }
    if !changed {
        return Ok(None);
    }
    let new_agg = Aggregate::try_new(agg.input.clone(), agg.group_expr.clone(), aggr_expr)?;
    let new_schema = new_agg.schema.clone();
    // Cast back to the types the rest of the plan expects, under the same names.
    let exprs = agg
        .schema
        .iter()
        .zip(new_schema.iter())
        .map(|((q, old), (nq, new))| {
            let col = Expr::Column(Column::from((nq, new)));
            let e = if old.data_type() == new.data_type() {
                col
            } else {
                col.cast_to(old.data_type(), &new_schema)?
            };
            Ok(e.alias_qualified(q.cloned(), old.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(new_agg)))?;
    Ok(Some(LogicalPlan::Projection(projection)))
}

impl OptimizerRule for RoundDecimalAvg {
    fn name(&self) -> &str {
        "round_decimal_avg"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up_with_subqueries(|node| match &node {
            LogicalPlan::Aggregate(agg) => match rewrite(agg)? {
                Some(p) => Ok(Transformed::yes(p)),
                None => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })
    }
}
