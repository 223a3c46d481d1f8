//! AVG of a DECIMAL rounds, as in PostgreSQL and MySQL.
//!
//! DataFusion's decimal AVG truncates at its result scale (s+4): AVG of 0.01, 0.01, 0.00
//! is 0.006666 where the sources answer 0.006667. Locally computed averages therefore
//! run one digit wider (input cast to scale s+1, so the average is truncated at s+5) and
//! are then cast to the usual type, which rounds half away from zero: exactly the
//! rounded value. `avg(x) OVER (...)` the same (it truncated: the tester's
//! `avg(amt) OVER ()`). The rule runs after federation, so pushed-down SQL is untouched (the
//! sources round by themselves).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION, DECIMAL256_MAX_PRECISION};
use datafusion::common::tree_node::Transformed;
use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::common::DFSchema;
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, Projection, Window, WindowFunctionDefinition};
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

/// The argument of `avg(args)` cast one digit wider, if it is a decimal with room. An
/// argument already cast that way was widened by an earlier pass (a user's
/// `avg(CAST(id AS NUMERIC(20,2)))` is not: it truncated).
fn widened_avg(name: &str, args: &[Expr], distinct: bool, input: &DFSchema) -> Result<Option<Vec<Expr>>> {
    let [arg] = args else { return Ok(None) };
    if name != "avg" || distinct {
        return Ok(None);
    }
    if let Expr::Cast(c) = arg {
        if c.expr.get_type(input).ok().as_ref().and_then(wider).as_ref() == Some(c.field.data_type()) {
            return Ok(None);
        }
    }
    match wider(&arg.get_type(input)?) {
        Some(t) => Ok(Some(vec![arg.clone().cast_to(&t, input)?])),
        None => Ok(None),
    }
}

/// `plan` under a projection casting its columns back to the types of `schema` (the
/// rest of the plan expects them), under the same names.
fn cast_back(schema: &DFSchema, plan: LogicalPlan) -> Result<LogicalPlan> {
    let new_schema = plan.schema().clone();
    let exprs = schema
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
    Ok(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?))
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
        let inner = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        let new = match inner {
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                match widened_avg(func.name(), &params.args, params.distinct, input_schema)? {
                    Some(args) => {
                        changed = true;
                        let params = AggregateFunctionParams { args, ..params.clone() };
                        Expr::AggregateFunction(AggregateFunction { func: func.clone(), params }).alias(name)
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
    cast_back(&agg.schema, LogicalPlan::Aggregate(new_agg)).map(Some)
}

/// `avg(x) OVER (...)` as the aggregate: one digit wider, then rounded back.
fn rewrite_window(w: &Window) -> Result<Option<LogicalPlan>> {
    let input_schema = w.input.schema();
    let first = input_schema.fields().len();
    let mut changed = false;
    let mut exprs = Vec::with_capacity(w.window_expr.len());
    for (i, e) in w.window_expr.iter().enumerate() {
        let inner = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        let widened = match inner {
            Expr::WindowFunction(f) => match &f.fun {
                WindowFunctionDefinition::AggregateUDF(u) => {
                    widened_avg(u.name(), &f.params.args, f.params.distinct, input_schema)?.map(|args| (f, args))
                }
                _ => None,
            },
            _ => None,
        };
        exprs.push(match widened {
            Some((f, args)) => {
                changed = true;
                let params = WindowFunctionParams { args, ..f.params.clone() };
                let wf = WindowFunction { fun: f.fun.clone(), params };
                Expr::WindowFunction(Box::new(wf)).alias(w.schema.field(first + i).name())
            }
            None => e.clone(),
        });
    }
    if !changed {
        return Ok(None);
    }
    let window = Window::try_new(exprs, w.input.clone())?;
    cast_back(&w.schema, LogicalPlan::Window(window)).map(Some)
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
            LogicalPlan::Window(w) => match rewrite_window(w)? {
                Some(p) => Ok(Transformed::yes(p)),
                None => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })
    }
}
