//! Arithmetic answered as PostgreSQL answers it where DataFusion's types fall short
//! (`ceil` and `floor`: `growing_rounding`):
//!
//! - `CAST(d AS int)` of a decimal rounds (`rounded_integer_cast`).
//! - `round(d, n)` of a decimal (128 or 256 bits) is declared with scale n but produced with d's scale, and
//!   then fails to compare (`Decimal128(12, 1) < Decimal128(13, 2)`). A cast to scale n
//!   rounds half away from zero, as PostgreSQL's `round` does, and is what it declares.

use datafusion::arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION, DECIMAL256_MAX_PRECISION};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
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

/// `CAST(d AS int)` of a decimal with fractional digits, rounded first as PostgreSQL
/// rounds it (half away from zero: 10.50 is 11). DataFusion truncates (10), and its
/// simplifier then read `CAST(m AS INT) = 3` as `m = 3` (no row of 3.33 matched). The
/// rounding is a cast to scale 0, which `rounding_cast` keeps opaque.
fn rounded_integer_cast(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::Cast(Cast { expr, field }) = e else {
        return None;
    };
    if !field.data_type().is_integer() {
        return None;
    }
    let whole = match expr.get_type(schema).ok()? {
        DataType::Decimal128(p, s) if s > 0 => DataType::Decimal128((p - s as u8 + 1).min(DECIMAL128_MAX_PRECISION), 0),
        DataType::Decimal256(p, s) if s > 0 => DataType::Decimal256((p - s as u8 + 1).min(DECIMAL256_MAX_PRECISION), 0),
        _ => return None,
    };
    let rounded = Expr::Cast(Cast::new(expr.clone(), whole));
    Some(Expr::Cast(Cast::new_from_field(Box::new(rounded), field.clone())))
}

fn widened(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if let Some(rounded) = rounded_integer_cast(&e, schema) {
        return Ok(Transformed::yes(rounded));
    }
    let Expr::ScalarFunction(ScalarFunction { func, args }) = e else {
        return Ok(Transformed::no(e));
    };
    if func.name() == "round" {
        if let Some(rounded) = round_as_cast(&args, schema) {
            return Ok(Transformed::yes(rounded));
        }
        if let Some(places) = args.get(1).and_then(int32_places) {
            let args = vec![args[0].clone(), places];
            return Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction { func, args })));
        }
    }
    Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args })))
}

/// The places of `round(x, 1)` as the Int32 its signature asks for. DataFusion types a
/// decimal `round` by its places only when they are a literal, and type coercion wraps an
/// Int64 literal in a cast: before coercion `round(nv, 1)` is Decimal256(76, 1), after it
/// Decimal256(76, 20), and once the cast is folded (76, 1) again. Whatever was coerced
/// against the middle type (`greatest`'s other arguments) failed at execution.
fn int32_places(places: &Expr) -> Option<Expr> {
    match places {
        Expr::Literal(v @ ScalarValue::Int64(Some(_)), meta) => {
            Some(Expr::Literal(v.cast_to(&DataType::Int32).ok()?, meta.clone()))
        }
        _ => None,
    }
}

/// `round(d, n)` of a decimal `d` typed already, with a literal `n` >= 0, as a cast to scale `n`.
fn round_as_cast(args: &[Expr], schema: &DFSchema) -> Option<Expr> {
    if !typed_already(args.first()?) {
        return None;
    }
    let (p, s, max) = match args.first()?.get_type(schema).ok()? {
        DataType::Decimal128(p, s) => (p, s, DECIMAL128_MAX_PRECISION),
        DataType::Decimal256(p, s) => (p, s, DECIMAL256_MAX_PRECISION),
        _ => return None,
    };
    let n = match args.get(1) {
        None => 0,
        Some(Expr::Literal(v, _)) => i64::try_from(v.clone()).ok().or_else(|| v.cast_to(&DataType::Int64).ok().and_then(|v| i64::try_from(v).ok()))?,
        Some(_) => return None,
    };
    let n = u8::try_from(n).ok().filter(|n| *n <= max)?;
    let whole = p.saturating_sub(u8::try_from(s).ok()?);
    let precision = (whole + n + 1).min(max);
    let scale = i8::try_from(n).ok()?;
    let to = if max == DECIMAL128_MAX_PRECISION {
        DataType::Decimal128(precision, scale)
    } else {
        DataType::Decimal256(precision, scale)
    };
    Some(Expr::Cast(Cast::new(Box::new(args[0].clone()), to)))
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
