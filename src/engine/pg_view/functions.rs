//! PostgreSQL functions tools call that DataFusion and datafusion-pg-catalog lack, or
//! answer differently.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::common::{exec_err, plan_err, Result as DfResult};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
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

/// The OID of a built-in type by any of its names; NULL for types fedsql does not have
/// (SQLAlchemy's psycopg dialect probes `to_regtype('hstore')`).
fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().trim_start_matches("pg_catalog.").to_ascii_lowercase();
    Some(match name.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "name" => 19,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

fn to_regtype() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = arrays[0].as_string::<i32>();
            let oids: Int32Array = (0..names.len())
                .map(|i| if names.is_null(i) { None } else { type_oid(names.value(i)) })
                .collect();
            Ok(if matches!(args[0], ColumnarValue::Scalar(_)) {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&oids, 0)?)
            } else {
                ColumnarValue::Array(Arc::new(oids))
            })
        }),
    )
}

/// `json_build_object(k1, v1, ...)`: a JSON object as text (SQLAlchemy's column
/// reflection builds identity and collation details with it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.len() % 2 != 0 {
            return plan_err!("json_build_object takes key/value pairs, got {} arguments", args.args.len());
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = arrays
            .iter()
            .map(|a| cast(a, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let mut object = String::from("{");
            for pair in 0..arrays.len() / 2 {
                let (k, v) = (texts[2 * pair].as_string::<i32>(), texts[2 * pair + 1].as_string::<i32>());
                if pair > 0 {
                    object.push_str(", ");
                }
                object.push_str(&json_string(if k.is_null(row) { "" } else { k.value(row) }));
                object.push_str(" : ");
                let value = if v.is_null(row) {
                    "null".to_string()
                } else if arrays[2 * pair + 1].data_type().is_numeric() || arrays[2 * pair + 1].data_type() == &DataType::Boolean {
                    v.value(row).to_string()
                } else {
                    json_string(v.value(row))
                };
                object.push_str(&value);
            }
            object.push('}');
            out.append_value(object);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What a scalar subquery is worth once aggregated: `single_row(count(*), first_value(v))`
/// is `v`, or PostgreSQL's error when the subquery found more than one row. DataFusion
/// only decorrelates aggregated subqueries; PostgreSQL checks the row count at run time.
pub const SINGLE_ROW: &str = "fedsql_single_row";

#[derive(Debug, PartialEq, Eq, Hash)]
struct SingleRow {
    signature: Signature,
}

impl ScalarUDFImpl for SingleRow {
    fn name(&self) -> &str {
        SINGLE_ROW
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        Ok(args[1].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let counts = args.args[0].to_array(args.number_rows)?;
        let counts = cast(&counts, &DataType::Int64)?;
        if counts.as_primitive::<Int64Type>().iter().any(|n| n.unwrap_or(0) > 1) {
            return exec_err!("more than one row returned by a subquery used as an expression");
        }
        Ok(args.args[1].clone())
    }
}

fn null_text(name: &str, args: Vec<DataType>) -> ScalarUDF {
    constant(name, args, ScalarValue::Utf8(None))
}

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(SingleRow { signature: Signature::any(2, Volatility::Immutable) }));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject { signature: Signature::variadic_any(Volatility::Immutable) }));
    // fedsql has no sequences, so no column owns one.
    ctx.register_udf(null_text("pg_get_serial_sequence", vec![DataType::Utf8, DataType::Utf8]));
    ctx.register_udf(always_true("pg_collation_is_visible"));
    ctx.register_udf(to_regtype());
    ctx.register_udf(constant("version", vec![], ScalarValue::Utf8(Some(version_text()))));
    // asyncpg's pool reset; fedsql takes no advisory locks, so there is nothing to free.
    ctx.register_udf(constant("pg_advisory_unlock_all", vec![], ScalarValue::Utf8(None)));
    ctx.register_udf(always_true("pg_function_is_visible"));
    ctx.register_udf(always_true("pg_type_is_visible"));
    ctx.register_udf(super::format::udf());
    for udf in super::privileges::udfs() {
        ctx.register_udf(udf);
    }
    // Sources' comments are not read yet: no object has a description.
    ctx.register_udf(null_text("col_description", vec![DataType::Int32, DataType::Int32]));
    ctx.register_udf(null_text("obj_description", vec![DataType::Int32, DataType::Utf8]));
}
