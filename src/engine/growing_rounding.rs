//! `ceil` and `floor` of a decimal with one more integer digit, as PostgreSQL's numeric
//! grows one.
//!
//! DataFusion's keep the argument's type, so rounding the largest numeric(12,2) up
//! (9999999999.99 to 10000000000) fails "Decimal overflow while applying ceil", also
//! inside a CASE, a coalesce or an abs. Declaring the wider type here lets type coercion
//! see it everywhere; the argument is cast to it before DataFusion's function runs.

use std::sync::Arc;

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, DECIMAL128_MAX_PRECISION, DECIMAL256_MAX_PRECISION};
use datafusion::error::Result;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

#[derive(Debug, PartialEq, Eq, Hash)]
struct GrowingRounding {
    inner: ScalarUDF,
}

/// `ceil` and `floor`, to register in place of DataFusion's.
pub fn udfs() -> Vec<ScalarUDF> {
    use datafusion::functions::math;
    [math::ceil(), math::floor()]
        .into_iter()
        .map(|f| ScalarUDF::new_from_impl(GrowingRounding { inner: f.as_ref().clone() }))
        .collect()
}

/// The type a rounded `t` needs: one more digit, where the type has room.
fn grown(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Decimal128(p, s) if *p < DECIMAL128_MAX_PRECISION => Some(DataType::Decimal128(p + 1, *s)),
        DataType::Decimal256(p, s) if *p < DECIMAL256_MAX_PRECISION => Some(DataType::Decimal256(p + 1, *s)),
        _ => None,
    }
}

impl ScalarUDFImpl for GrowingRounding {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] => match grown(t) {
                Some(wider) => Ok(wider),
                None => self.inner.return_type(arg_types),
            },
            _ => self.inner.return_type(arg_types),
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let wider = args.arg_fields.first().and_then(|f| grown(f.data_type()));
        if let (Some(wider), [arg]) = (wider, args.args.as_mut_slice()) {
            *arg = match arg {
                ColumnarValue::Array(a) => ColumnarValue::Array(cast(a, &wider)?),
                ColumnarValue::Scalar(s) => ColumnarValue::Scalar(s.cast_to(&wider)?),
            };
            let field = &args.arg_fields[0];
            args.arg_fields = vec![Arc::new(Field::new(field.name(), wider, field.is_nullable()))];
        }
        self.inner.invoke_with_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn evaluate_bounds(&self, inputs: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(inputs)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}
