//! A cast that rounds a decimal to fewer fractional digits, kept opaque to the optimizer.
//!
//! DataFusion's simplifier unwraps casts in comparisons as if every cast were one to one:
//! `CAST(amt AS numeric(12,1)) > 10.50` became `amt > 10.50`, and `round(amt, 1)` (a
//! cast to scale 1 here, see `exact_arithmetic`) NOT BETWEEN 0 AND 10.50 kept 10.54. A
//! rounding cast is monotonic but not one to one, so no comparison may look through it.
//! This analyzer rule, after type coercion, turns every decimal cast that drops
//! fractional digits into `fedsql_rounding_cast(x, NULL::target)`, which casts the same way.

use std::sync::Arc;

use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TryCast, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundingCast {
    signature: Signature,
}

impl ScalarUDFImpl for RoundingCast {
    fn name(&self) -> &str {
        "fedsql_rounding_cast"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The second argument is a NULL of the target type.
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[1].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        let options = CastOptions { safe: false, ..Default::default() };
        match &args.args[0] {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(cast_with_options(a, &target, &options)?)),
            ColumnarValue::Scalar(s) => {
                let a = cast_with_options(&s.to_array()?, &target, &options)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
        }
    }
}

fn udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(RoundingCast { signature: Signature::any(2, Volatility::Immutable) }))
}

fn scale(t: &DataType) -> Option<i8> {
    match t {
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Some(*s),
        _ => None,
    }
}

fn opaque(e: Expr, schema: &DFSchema, rounding: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
    let (inner, target, try_cast) = match &e {
        Expr::Cast(Cast { expr, field }) => (expr, field.data_type().clone(), false),
        Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type().clone(), true),
        _ => return Ok(Transformed::no(e)),
    };
    let (Some(to), Ok(Some(from))) = (scale(&target), inner.get_type(schema).map(|t| scale(&t))) else {
        return Ok(Transformed::no(e));
    };
    if to >= from || try_cast {
        return Ok(Transformed::no(e));
    }
    let null = Expr::Literal(ScalarValue::try_from(&target)?, None);
    let (Expr::Cast(Cast { expr, .. }) | Expr::TryCast(TryCast { expr, .. })) = e else { unreachable!() };
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(rounding.clone(), vec![*expr, null]))))
}

#[derive(Debug, Default)]
pub struct OpaqueRoundingCasts;

impl AnalyzerRule for OpaqueRoundingCasts {
    fn name(&self) -> &str {
        "fedsql_opaque_rounding_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let rounding = udf();
        super::exact_arithmetic::rewrite_expressions(plan, &|e, schema| opaque(e, schema, &rounding))
    }
}
