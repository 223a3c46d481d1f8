//! Comparisons of decimals whose common type needs more than 38 digits, made in 256 bits.
//!
//! DataFusion compares numeric(30,10) with numeric(38,20) as Decimal128(38,20), which
//! holds 18 integer digits: comparing 12345678901234567890.5 with anything failed
//! "Overflowing" (and a source sent the same cast failed 22003). PostgreSQL's numeric
//! compares any two values. Both sides get a Decimal256 wide enough for both (up to 76
//! digits) before type coercion picks the narrower one.

use datafusion::arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION, DECIMAL256_MAX_PRECISION};
use datafusion::common::tree_node::Transformed;
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::{Between, BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator};

fn decimal(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => Some((*p, *s)),
        _ => None,
    }
}

/// The Decimal256 that holds every value of `types` exactly, where Decimal128 cannot: the
/// widest scale, and the most integer digits up to 76 in all. (Past 76, the declared type
/// is wider than its values: an unconstrained PostgreSQL numeric is Decimal256(76, 20),
/// and holds at most 38 digits here.)
pub(super) fn wide_common_type(types: &[DataType]) -> Option<DataType> {
    let decimals: Vec<(u8, i8)> = types.iter().map(decimal).collect::<Option<_>>()?;
    let scale = decimals.iter().map(|(_, s)| *s).max()?;
    let whole = decimals.iter().map(|(p, s)| *p as i16 - *s as i16).max()?;
    let needed = whole + scale as i16;
    let precision = u8::try_from(needed.min(DECIMAL256_MAX_PRECISION as i16)).ok()?;
    let fits = (0..DECIMAL256_MAX_PRECISION as i8).contains(&scale);
    (needed > DECIMAL128_MAX_PRECISION as i16 && fits).then_some(DataType::Decimal256(precision, scale))
}

fn cast(e: Expr, t: &DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), t.clone()))
}

fn widened(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let type_of = |e: &Expr| e.get_type(schema).ok();
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if op.supports_propagation() || matches!(op, Operator::IsDistinctFrom | Operator::IsNotDistinctFrom) => {
            match (type_of(&left), type_of(&right)) {
                (Some(l), Some(r)) => match wide_common_type(&[l, r]) {
                    Some(t) => Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                        Box::new(cast(*left, &t)),
                        op,
                        Box::new(cast(*right, &t)),
                    )))),
                    None => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
                },
                _ => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
            }
        }
        Expr::Between(b) => {
            let types: Option<Vec<DataType>> = [&b.expr, &b.low, &b.high].iter().map(|e| type_of(e)).collect();
            match types.as_deref().and_then(wide_common_type) {
                Some(t) => Ok(Transformed::yes(Expr::Between(Between::new(
                    Box::new(cast(*b.expr, &t)),
                    b.negated,
                    Box::new(cast(*b.low, &t)),
                    Box::new(cast(*b.high, &t)),
                )))),
                None => Ok(Transformed::no(Expr::Between(b))),
            }
        }
        Expr::InList(mut l) => {
            let types: Option<Vec<DataType>> = std::iter::once(&*l.expr).chain(&l.list).map(type_of).collect();
            match types.as_deref().and_then(wide_common_type) {
                Some(t) => {
                    l.expr = Box::new(cast(*l.expr, &t));
                    l.list = l.list.into_iter().map(|e| cast(e, &t)).collect();
                    Ok(Transformed::yes(Expr::InList(l)))
                }
                None => Ok(Transformed::no(Expr::InList(l))),
            }
        }
        other => Ok(Transformed::no(other)),
    }
}

/// A join whose key pairs need the wide type (INTERSECT and EXCEPT are planned as joins on
/// every column, with keys no filter holds), with both keys of each such pair cast to it.
fn widened_keys(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Join(mut join) = plan else {
        return Ok(Transformed::no(plan));
    };
    let mut changed = false;
    for (l, r) in join.on.iter_mut() {
        let types = (l.get_type(join.left.schema()), r.get_type(join.right.schema()));
        let (Ok(lt), Ok(rt)) = types else { continue };
        if let Some(t) = wide_common_type(&[lt, rt]) {
            *l = cast(l.clone(), &t);
            *r = cast(r.clone(), &t);
            changed = true;
        }
    }
    Ok(Transformed::new_transformed(LogicalPlan::Join(join), changed))
}

/// `plan` with every such comparison made in 256 bits; column names unchanged.
pub fn widen(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = super::exact_arithmetic::rewrite_expressions(plan, &widened)?;
    plan.transform_up_with_subqueries(widened_keys).map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_types_past_38_digits_widen() {
        let d = |p, s| DataType::Decimal128(p, s);
        assert_eq!(wide_common_type(&[d(30, 10), d(38, 20)]), Some(DataType::Decimal256(40, 20)));
        assert_eq!(wide_common_type(&[d(12, 2), d(38, 20)]), None);
        assert_eq!(wide_common_type(&[d(30, 10), DataType::Decimal256(76, 1)]), Some(DataType::Decimal256(76, 10)));
        assert_eq!(wide_common_type(&[d(30, 10), DataType::Int32]), None);
    }
}
