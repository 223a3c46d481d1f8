//! PostgreSQL functions tools call that DataFusion and datafusion-pg-catalog lack, or
//! answer differently.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;

/// What `version()` answers. SQLAlchemy, Metabase and Superset read the PostgreSQL
/// version out of it (`PostgreSQL <major>.<minor>`); DataFusion's says "Apache DataFusion".
pub fn version_text() -> String {
    format!(
        "PostgreSQL 16.6 (fedsql {}, Apache DataFusion {}) on {}-linux, 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH
    )
}

fn constant(name: &str, args: Vec<DataType>, value: ScalarValue) -> ScalarUDF {
    let ty = value.data_type();
    create_udf(name, args, ty, Volatility::Stable, Arc::new(move |_| Ok(ColumnarValue::Scalar(value.clone()))))
}

/// `f(oid) -> true` for each row: everything fedsql lists is visible on the search path.
fn always_true(name: &str) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))),
                ColumnarValue::Array(a) => {
                    ColumnarValue::Array(Arc::new(BooleanArray::from(vec![true; a.len()])) as ArrayRef)
                }
            })
        }),
    )
}

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(constant("version", vec![], ScalarValue::Utf8(Some(version_text()))));
    // asyncpg's pool reset; fedsql takes no advisory locks, so there is nothing to free.
    ctx.register_udf(constant("pg_advisory_unlock_all", vec![], ScalarValue::Utf8(None)));
    ctx.register_udf(always_true("pg_function_is_visible"));
    ctx.register_udf(always_true("pg_type_is_visible"));
}
