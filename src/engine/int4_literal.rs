//! Integer literals typed as PostgreSQL types them: `1` is an int4 where it fits, an int8
//! where only that fits. DataFusion makes every one an Int64, so `SELECT 1` was sent as
//! int8 (JavaScript drivers read it as the string "1") and `i * 100` over an int4 column
//! computed in int8 where PostgreSQL's int4 arithmetic raises 22003 on overflow.
//!
//! Arithmetic of integer literals, and of immutable functions of them, is done here,
//! checked: DataFusion's simplifier folds it wrapping (`2147483647 + 1` was -2147483648
//! and `abs(2147483647) * 100` was -100 where PostgreSQL raises 22003).
//!
//! Runs first among the analyzer rules, before type coercion reads the literals. LIMIT
//! and OFFSET keep their int8 (DataFusion reads them as such), as does `count(*)`'s
//! argument, by which the unparser recognises it.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{ColumnarValue, Volatility};
use datafusion::physical_expr::create_physical_expr;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator, Values};

use super::error::{sqlstate, QueryError};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct Int4Literals;

fn narrowed(e: Expr) -> Result<Transformed<Expr>> {
    match e {
        // count(*) and count(1): their argument is not a value anyone reads.
        Expr::AggregateFunction(AggregateFunction { ref func, ref params }) if func.name() == "count" && params.args.iter().all(|a| matches!(a, Expr::Literal(..))) => {
            Ok(Transformed::new(e, false, TreeNodeRecursion::Jump))
        }
        Expr::Literal(ScalarValue::Int64(Some(v)), meta) => match i32::try_from(v) {
            Ok(v) => Ok(Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(v)), meta))),
            Err(_) => Ok(Transformed::no(Expr::Literal(ScalarValue::Int64(Some(v)), meta))),
        },
        other => Ok(Transformed::no(other)),
    }
}

fn out_of_range(kind: &str) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(QueryError::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, format!("{kind} out of range"))))
}

/// `e` as an integer literal when it is a constant (`abs(2147483647)`,
/// `CAST(2147483647 AS INTEGER)`): DataFusion's
/// simplifier would fold the arithmetic over it wrapping (`abs(2147483647) * 100` was
/// -100). Anything that is not a constant, or fails, stays as it is.
fn constant_integer(e: &Expr) -> Option<Expr> {
    if matches!(e, Expr::Literal(..)) {
        return Some(e.clone());
    }
    // Built of literals by immutable scalar functions, casts, CASE and operators only.
    let mut constant = true;
    let _ = e.apply(|x| {
        constant &= match x {
            Expr::Literal(..) | Expr::Cast(_) | Expr::TryCast(_) | Expr::Case(_) | Expr::BinaryExpr(_) | Expr::Negative(_)
            | Expr::Not(_) | Expr::IsNull(_) | Expr::IsNotNull(_) => true,
            Expr::ScalarFunction(f) => f.func.signature().volatility == Volatility::Immutable,
            _ => false,
        };
        Ok(if constant { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    if !constant {
        return None;
    }
    let empty = DFSchema::empty();
    let physical = create_physical_expr(e, &empty, &ExecutionProps::new(), &PhysicalPlanningContext::default()).ok()?;
    let one_row = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(1))).ok()?;
    let value = match physical.evaluate(&one_row).ok()? {
        ColumnarValue::Scalar(v) => v,
        ColumnarValue::Array(a) if a.len() == 1 => ScalarValue::try_from_array(&a, 0).ok()?,
        ColumnarValue::Array(_) => return None,
    };
    matches!(value, ScalarValue::Int32(Some(_)) | ScalarValue::Int64(Some(_))).then(|| Expr::Literal(value, None))
}

/// `a op b` of two integer constants of one type, computed checked.
fn folded(e: Expr) -> Result<Transformed<Expr>> {
    let e = match &e {
        Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Plus | Operator::Minus | Operator::Multiply), right })
            if !matches!((left.as_ref(), right.as_ref()), (Expr::Literal(..), Expr::Literal(..))) =>
        {
            match (constant_integer(left), constant_integer(right)) {
                (Some(l), Some(r)) => Expr::BinaryExpr(BinaryExpr::new(Box::new(l), *op, Box::new(r))),
                _ => e,
            }
        }
        _ => e,
    };
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        if let Expr::Negative(inner) = &e {
            return Ok(match inner.as_ref() {
                Expr::Literal(ScalarValue::Int32(Some(v)), _) => {
                    Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(v.checked_neg().ok_or_else(|| out_of_range("integer"))?)), None))
                }
                Expr::Literal(ScalarValue::Int64(Some(v)), _) => {
                    Transformed::yes(Expr::Literal(ScalarValue::Int64(Some(v.checked_neg().ok_or_else(|| out_of_range("bigint"))?)), None))
                }
                _ => Transformed::no(e),
            });
        }
        return Ok(Transformed::no(e));
    };
    let apply = |a: i64, b: i64| match op {
        Operator::Plus => Some(a.checked_add(b)),
        Operator::Minus => Some(a.checked_sub(b)),
        Operator::Multiply => Some(a.checked_mul(b)),
        _ => None,
    };
    // The result has the wider type, as type coercion would give it.
    let int = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Int32(Some(v)), _) => Some((i64::from(*v), false)),
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some((*v, true)),
        _ => None,
    };
    let (Some((a, wide_a)), Some((b, wide_b))) = (int(left), int(right)) else { return Ok(Transformed::no(e)) };
    let Some(result) = apply(a, b) else { return Ok(Transformed::no(e)) };
    let value = if wide_a || wide_b {
        ScalarValue::Int64(Some(result.ok_or_else(|| out_of_range("bigint"))?))
    } else {
        ScalarValue::Int32(Some(result.and_then(|v| i32::try_from(v).ok()).ok_or_else(|| out_of_range("integer"))?))
    };
    Ok(Transformed::yes(Expr::Literal(value, None)))
}

/// `plan` with its schema made again from its expressions' new types.
fn retyped(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        // recompute_schema leaves VALUES as they were.
        LogicalPlan::Values(Values { values, .. }) => LogicalPlanBuilder::values(values)?.build(),
        plan => plan.recompute_schema(),
    }
}

impl AnalyzerRule for Int4Literals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            if matches!(node, LogicalPlan::Limit(_)) {
                return Ok(Transformed::no(node));
            }
            // Columns keep their names: nodes above read them by name.
            let names = NamePreserver::new(&node);
            let node = node.map_expressions(|e| {
                let saved = names.save(&e);
                let e = e.transform_down(narrowed)?.transform_data(|e| e.transform_up(folded))?;
                Ok(e.update_data(|e| saved.restore(e)))
            })?;
            if node.transformed {
                retyped(node.data).map(Transformed::yes)
            } else {
                Ok(node)
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fedsql_int4_literals"
    }
}

#[cfg(test)]
mod constant_tests {
    use super::*;
    use datafusion::execution::FunctionRegistry;
    use datafusion::prelude::*;

    #[test]
    fn constant_function_calls_are_folded_checked() {
        let ctx = SessionContext::new();
        let abs = ctx.udf("abs").unwrap();
        let call = abs.call(vec![lit(2147483647i32)]);
        assert_eq!(constant_integer(&call), Some(lit(2147483647i32)));
        let product = call * lit(100i32);
        let err = folded(product).unwrap_err();
        assert!(err.to_string().contains("integer out of range"), "{err}");
        let cast = cast(lit(2147483647i32), datafusion::arrow::datatypes::DataType::Int32);
        assert!(folded(cast * lit(100i32)).is_err());
        let case = when(lit(true), lit(2147483647i32)).end().unwrap();
        assert!(folded(case * lit(100i32)).is_err());
        assert_eq!(folded(abs.call(vec![lit(-5i32)]) * lit(100i32)).unwrap().data, lit(500i32));
        assert_eq!(constant_integer(&col("x")), None);
    }
}
