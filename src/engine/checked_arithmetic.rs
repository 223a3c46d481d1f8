//! Integer arithmetic that fails on overflow, as PostgreSQL's does (22003). DataFusion's
//! `+ - *` wrap at the type's width unless told otherwise, and its negation always wraps:
//! `-i` of a MySQL INT holding -2147483648 answered -2147483648 (the differential tester).
//! Projections, filters and aggregates (their group keys and arguments: `GROUP BY -bi`
//! and `var_samp(-bi)` answered where PostgreSQL raises) get checked operators; a
//! negation becomes `0 - x`, checked.
//!
//! A double product, quotient, remainder or negation that is -0.0 becomes 0.0: PostgreSQL
//! orders and compares -0 equal to 0, while DataFusion's sort puts -0.0 first (`ORDER BY
//! f * 0, id` came back in another order). Adding 0.0 leaves every other value as it is.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Literal, NegativeExpr};
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, PhysicalGroupBy};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug)]
pub struct CheckedArithmetic;

/// `expr` with every wrapping `+ - *` and every integer negation checked.
fn checked(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Transformed<Arc<dyn PhysicalExpr>>> {
    expr.clone().transform_up(|e| {
        if let Some(b) = e.downcast_ref::<BinaryExpr>() {
            let op = *b.op();
            let mut out = e.clone();
            if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) {
                out = Arc::new(BinaryExpr::new(b.left().clone(), op, b.right().clone()).with_fail_on_overflow(true));
            }
            if matches!(op, Operator::Multiply | Operator::Divide | Operator::Modulo) {
                out = without_negative_zero(out, schema)?;
            }
            return Ok(Transformed::new_transformed(out.clone(), !Arc::ptr_eq(&out, &e)));
        }
        if let Some(n) = e.downcast_ref::<NegativeExpr>() {
            let t = n.arg().data_type(schema)?;
            if t.is_floating() {
                return Ok(Transformed::yes(without_negative_zero(e.clone(), schema)?));
            }
            if t.is_signed_integer() {
                let zero = Arc::new(Literal::new(ScalarValue::new_zero(&t)?));
                let c = BinaryExpr::new(zero, Operator::Minus, n.arg().clone()).with_fail_on_overflow(true);
                return Ok(Transformed::yes(Arc::new(c) as Arc<dyn PhysicalExpr>));
            }
        }
        Ok(Transformed::no(e))
    })
}

/// `e + 0.0` for a double `e`: the same value, with -0.0 made 0.0.
fn without_negative_zero(e: Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Arc<dyn PhysicalExpr>> {
    let t = e.data_type(schema)?;
    if !t.is_floating() {
        return Ok(e);
    }
    let zero = Arc::new(Literal::new(ScalarValue::new_zero(&t)?));
    Ok(Arc::new(BinaryExpr::new(e, Operator::Plus, zero)))
}

/// `a` with its group keys and aggregate arguments checked, if any changed. Only an
/// aggregate that reads rows computes them: a final one merges states, and its argument
/// expressions still name the columns of the partial aggregate's input.
fn checked_aggregate(a: &AggregateExec) -> Result<Option<AggregateExec>> {
    use datafusion::physical_plan::aggregates::AggregateMode;
    if !matches!(a.mode(), AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned) {
        return Ok(None);
    }
    let schema = a.input().schema();
    let mut changed = false;
    let mut check = |e: &Arc<dyn PhysicalExpr>| -> Result<Arc<dyn PhysicalExpr>> {
        let c = checked(e, &schema)?;
        changed |= c.transformed;
        Ok(c.data)
    };
    let g = a.group_expr();
    let keys = g.expr().iter().map(|(e, name)| Ok((check(e)?, name.clone()))).collect::<Result<Vec<_>>>()?;
    let group_by = PhysicalGroupBy::new(keys, g.null_expr().to_vec(), g.groups().to_vec(), g.has_grouping_set());
    let mut aggregates = Vec::with_capacity(a.aggr_expr().len());
    for f in a.aggr_expr() {
        let args = f.expressions().iter().map(&mut check).collect::<Result<Vec<_>>>()?;
        let order = f.order_bys().iter().map(|o| o.expr.clone()).collect();
        aggregates.push(f.with_new_expressions(args, order).map_or_else(|| f.clone(), Arc::new));
    }
    if !changed {
        return Ok(None);
    }
    let rebuilt = AggregateExec::try_new(*a.mode(), group_by, aggregates, a.filter_expr().to_vec(), a.input().clone(), a.input_schema())?;
    Ok(Some(rebuilt.with_limit_options(a.limit_options())))
}

impl PhysicalOptimizerRule for CheckedArithmetic {
    fn name(&self) -> &str {
        "checked_arithmetic"
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if let Some(p) = node.downcast_ref::<ProjectionExec>() {
                let schema = p.input().schema();
                let mut changed = false;
                let exprs = p
                    .expr()
                    .iter()
                    .map(|pe| {
                        let c = checked(&pe.expr, &schema)?;
                        changed |= c.transformed;
                        Ok(ProjectionExpr { expr: c.data, alias: pe.alias.clone() })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if changed {
                    return Ok(Transformed::yes(Arc::new(ProjectionExec::try_new(exprs, p.input().clone())?) as Arc<dyn ExecutionPlan>));
                }
            } else if let Some(a) = node.downcast_ref::<AggregateExec>() {
                if let Some(rebuilt) = checked_aggregate(a)? {
                    return Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>));
                }
            } else if let Some(f) = node.downcast_ref::<FilterExec>() {
                let c = checked(f.predicate(), &f.input().schema())?;
                if c.transformed {
                    // Selectivity, projection and batch size stay as they were.
                    let rebuilt = FilterExecBuilder::from(f).with_predicate(c.data).build()?;
                    return Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>));
                }
            }
            Ok(Transformed::no(node))
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
