//! `1e15` parses as Decimal128(1, -15): a negative scale. Arrow turns such a decimal into
//! a float inexactly (`1 / 10f64.powi(-15)` is 999999999999999.9, so `f = 1e15` matched
//! nothing), and the unparser sends that float to the sources. PostgreSQL reads `1e15` as
//! the numeric 1000000000000000. The same value with scale 0 means that everywhere.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct PlainDecimalLiterals;

/// `v × 10^-scale` with scale 0, when it fits a Decimal128.
fn with_scale_zero(v: i128, precision: u8, scale: i8) -> Option<ScalarValue> {
    let shift = u32::from(scale.unsigned_abs());
    let value = 10i128.checked_pow(shift)?.checked_mul(v)?;
    let precision = precision.checked_add(u8::try_from(shift).ok()?)?;
    (precision <= 38).then_some(ScalarValue::Decimal128(Some(value), precision, 0))
}

fn plain(e: Expr) -> Result<Transformed<Expr>> {
    match e {
        Expr::Literal(ScalarValue::Decimal128(Some(v), p, s), meta) if s < 0 => match with_scale_zero(v, p, s) {
            Some(value) => Ok(Transformed::yes(Expr::Literal(value, meta))),
            None => Ok(Transformed::no(Expr::Literal(ScalarValue::Decimal128(Some(v), p, s), meta))),
        },
        other => Ok(Transformed::no(other)),
    }
}

impl AnalyzerRule for PlainDecimalLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Columns keep their names: nodes above read them by name.
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let saved = names.save(&e);
                Ok(e.transform_up(plain)?.update_data(|e| saved.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fedsql_plain_decimal_literals"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_literals_get_scale_zero() {
        assert_eq!(with_scale_zero(1, 1, -15), Some(ScalarValue::Decimal128(Some(1_000_000_000_000_000), 16, 0)));
        assert_eq!(with_scale_zero(25, 2, -2), Some(ScalarValue::Decimal128(Some(2500), 4, 0)));
        // Too wide for a Decimal128: left as it is.
        assert_eq!(with_scale_zero(1, 1, -40), None);
    }
}
