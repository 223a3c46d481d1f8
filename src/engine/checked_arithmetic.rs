//! Integer arithmetic that fails on overflow, as PostgreSQL's does (22003). DataFusion's
//! `+ - *` wrap at the type's width unless told otherwise, and its negation always wraps:
//! `-i` of a MySQL INT holding -2147483648 answered -2147483648 (the differential tester).
//! Every expression a node evaluates on rows gets checked operators (a negation becomes
//! `0 - x`, checked): projections, filters, aggregates (`GROUP BY -bi` and
//! `var_samp(-bi)` answered where PostgreSQL raises), join keys and join filters (a
//! cross-source `WHERE b.a_id < a.bi - b.a_id` evaluated in a nested-loop join counted
//! wrapped rows) and sort keys (`ORDER BY bi - 5` sorted the wrapped value). Window
//! functions read theirs from a projection (`window_inputs`).
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
use datafusion::physical_expr::{LexOrdering, PhysicalExprRef, PhysicalSortExpr};
use datafusion::physical_plan::aggregates::{AggregateExec, PhysicalGroupBy};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, NestedLoopJoinExecBuilder, SortMergeJoinExec};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
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

/// Checks expressions, remembering whether any changed.
#[derive(Default)]
struct Checker {
    changed: bool,
}

impl Checker {
    fn expr(&mut self, e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Arc<dyn PhysicalExpr>> {
        let c = checked(e, schema)?;
        self.changed |= c.transformed;
        Ok(c.data)
    }

    fn exprs(&mut self, es: &[Arc<dyn PhysicalExpr>], schema: &Schema) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        es.iter().map(|e| self.expr(e, schema)).collect()
    }

    fn ordering(&mut self, o: &LexOrdering, schema: &Schema) -> Result<LexOrdering> {
        let sorts = o
            .iter()
            .map(|s| Ok(PhysicalSortExpr { expr: self.expr(&s.expr, schema)?, options: s.options }))
            .collect::<Result<Vec<_>>>()?;
        Ok(LexOrdering::new(sorts).expect("an ordering stays non-empty"))
    }

    /// A join's filter, evaluated over its own intermediate schema.
    fn join_filter(&mut self, f: Option<&JoinFilter>) -> Result<Option<JoinFilter>> {
        f.map(|f| Ok(JoinFilter::new(self.expr(f.expression(), f.schema())?, f.column_indices().to_vec(), f.schema().clone())))
            .transpose()
    }

    fn join_on(&mut self, on: &[(PhysicalExprRef, PhysicalExprRef)], left: &Schema, right: &Schema) -> Result<Vec<(PhysicalExprRef, PhysicalExprRef)>> {
        on.iter().map(|(l, r)| Ok((self.expr(l, left)?, self.expr(r, right)?))).collect()
    }
}

/// `a` with its group keys, aggregate arguments, orderings and filters checked, if any
/// changed. Only an aggregate that reads rows computes them: a final one merges states,
/// and its argument expressions still name the columns of the partial aggregate's input.
fn checked_aggregate(a: &AggregateExec) -> Result<Option<AggregateExec>> {
    use datafusion::physical_plan::aggregates::AggregateMode;
    if !matches!(a.mode(), AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned) {
        return Ok(None);
    }
    let schema = a.input().schema();
    let mut check = Checker::default();
    let g = a.group_expr();
    let keys = g.expr().iter().map(|(e, name)| Ok((check.expr(e, &schema)?, name.clone()))).collect::<Result<Vec<_>>>()?;
    let group_by = PhysicalGroupBy::new(keys, g.null_expr().to_vec(), g.groups().to_vec(), g.has_grouping_set());
    let mut aggregates = Vec::with_capacity(a.aggr_expr().len());
    for f in a.aggr_expr() {
        let args = check.exprs(&f.expressions(), &schema)?;
        let order = f.order_bys().iter().map(|o| check.expr(&o.expr, &schema)).collect::<Result<Vec<_>>>()?;
        aggregates.push(f.with_new_expressions(args, order).map_or_else(|| f.clone(), Arc::new));
    }
    let filters =
        a.filter_expr().iter().map(|f| f.as_ref().map(|f| check.expr(f, &schema)).transpose()).collect::<Result<Vec<_>>>()?;
    if !check.changed {
        return Ok(None);
    }
    let rebuilt = AggregateExec::try_new(*a.mode(), group_by, aggregates, filters, a.input().clone(), a.input_schema())?;
    Ok(Some(rebuilt.with_limit_options(a.limit_options())))
}

/// `node` with its expressions checked, if it has any that changed: projections, filters,
/// aggregates, join keys and filters, and sort keys. This rule runs
/// before DataFusion's own, so joins carry no dynamic filters yet and sorts no TopK.
fn checked_node(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let mut check = Checker::default();
    let rebuilt: Arc<dyn ExecutionPlan> = if let Some(p) = node.downcast_ref::<ProjectionExec>() {
        let schema = p.input().schema();
        let exprs = p
            .expr()
            .iter()
            .map(|pe| Ok(ProjectionExpr { expr: check.expr(&pe.expr, &schema)?, alias: pe.alias.clone() }))
            .collect::<Result<Vec<_>>>()?;
        if !check.changed {
            return Ok(None);
        }
        Arc::new(ProjectionExec::try_new(exprs, p.input().clone())?)
    } else if let Some(a) = node.downcast_ref::<AggregateExec>() {
        return Ok(checked_aggregate(a)?.map(|a| Arc::new(a) as Arc<dyn ExecutionPlan>));
    } else if let Some(f) = node.downcast_ref::<FilterExec>() {
        let predicate = check.expr(f.predicate(), &f.input().schema())?;
        if !check.changed {
            return Ok(None);
        }
        // Selectivity, projection and batch size stay as they were.
        Arc::new(FilterExecBuilder::from(f).with_predicate(predicate).build()?)
    } else if let Some(j) = node.downcast_ref::<NestedLoopJoinExec>() {
        let filter = check.join_filter(j.filter())?;
        if !check.changed {
            return Ok(None);
        }
        Arc::new(NestedLoopJoinExecBuilder::from(j).with_filter(filter).build()?)
    } else if let Some(j) = node.downcast_ref::<HashJoinExec>() {
        let on = check.join_on(j.on(), &j.left().schema(), &j.right().schema())?;
        let filter = check.join_filter(j.filter())?;
        if !check.changed {
            return Ok(None);
        }
        Arc::new(j.builder().with_on(on).with_filter(filter).build()?)
    } else if let Some(j) = node.downcast_ref::<SortMergeJoinExec>() {
        let on = check.join_on(j.on(), &j.left().schema(), &j.right().schema())?;
        let filter = check.join_filter(j.filter().as_ref())?;
        if !check.changed {
            return Ok(None);
        }
        let (left, right) = (j.left().clone(), j.right().clone());
        Arc::new(SortMergeJoinExec::try_new(left, right, on, filter, j.join_type(), j.sort_options().to_vec(), j.null_equality())?)
    } else if let Some(s) = node.downcast_ref::<SortExec>() {
        let ordering = check.ordering(s.expr(), &s.input().schema())?;
        if !check.changed {
            return Ok(None);
        }
        let sort = SortExec::new(ordering, s.input().clone()).with_preserve_partitioning(s.preserve_partitioning());
        Arc::new(sort.with_fetch(s.fetch()))
    } else {
        return Ok(None);
    };
    Ok(Some(rebuilt))
}

impl PhysicalOptimizerRule for CheckedArithmetic {
    fn name(&self) -> &str {
        "checked_arithmetic"
    }

    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match checked_node(&node)? {
                Some(rebuilt) => Transformed::yes(rebuilt),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
