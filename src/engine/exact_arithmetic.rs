//! Arithmetic answered as PostgreSQL answers it where DataFusion's types fall short
//! (`ceil` and `floor`: `growing_rounding`):
//!
//! - `round(d, n)` of a decimal is declared with scale n but produced with d's scale, and
//!   then fails to compare (`Decimal128(12, 1) < Decimal128(13, 2)`). A cast to scale n
//!   rounds half away from zero, as PostgreSQL's `round` does, and is what it declares.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan};

/// Whether `e` has its final type before type coercion: a column, a literal, a cast, or
/// the negation of one. A CASE or an arithmetic expression is typed only by coercion, and
/// a cast to the type it seems to have could round.
fn typed_already(e: &Expr) -> bool {
    match e {
        Expr::Column(_) | Expr::Literal(..) | Expr::Cast(_) => true,
        Expr::Negative(inner) => typed_already(inner),
        _ => false,
    }
}

fn widened(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = e else {
        return Ok(Transformed::no(e));
    };
    if func.name() == "round" {
        if let Some(rounded) = round_as_cast(&args, schema) {
            return Ok(Transformed::yes(rounded));
        }
    }
    Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args })))
}

/// `round(d, n)` of a decimal `d` typed already, with a literal `n` >= 0, as a cast to scale `n`.
fn round_as_cast(args: &[Expr], schema: &DFSchema) -> Option<Expr> {
    if !typed_already(args.first()?) {
        return None;
    }
    let Ok(DataType::Decimal128(p, s)) = args.first()?.get_type(schema) else {
        return None;
    };
    let n = match args.get(1) {
        None => 0,
        Some(Expr::Literal(v, _)) => i64::try_from(v.clone()).ok().or_else(|| v.cast_to(&DataType::Int64).ok().and_then(|v| i64::try_from(v).ok()))?,
        Some(_) => return None,
    };
    let n = u8::try_from(n).ok().filter(|n| *n <= 38)?;
    let whole = p.saturating_sub(u8::try_from(s).ok()?);
    let precision = (whole + n + 1).min(38);
    let scale = i8::try_from(n).ok()?;
    Some(Expr::Cast(Cast::new(Box::new(args[0].clone()), DataType::Decimal128(precision, scale))))
}

/// `plan` with decimal rounding as PostgreSQL computes it; column names unchanged.
pub fn widen(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_expressions(plan, &widened)
}

/// `plan` with `rewrite` applied bottom-up to every expression of every node (subqueries
/// included), each node's input schema at hand; column names and types above follow.
pub fn rewrite_expressions(
    plan: LogicalPlan,
    rewrite: &dyn Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    let mut changed = false;
    plan.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        let schema = match node.inputs().as_slice() {
            [one] => one.schema().clone(),
            _ => node.schema().clone(),
        };
        let node = node.map_expressions(|e| {
            let saved = names.save(&e);
            Ok(e.transform_up(|x| rewrite(x, &schema))?.update_data(|e| saved.restore(e)))
        })?;
        changed |= node.transformed;
        if changed {
            return Ok(Transformed::yes(node.data.recompute_schema()?));
        }
        Ok(node)
    })
    .map(|t| t.data)
}
