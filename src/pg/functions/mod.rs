//! PostgreSQL functions tools call that DataFusion and datafusion-pg-catalog lack, or
//! answer differently.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::common::{exec_err, plan_err, Result as DfResult};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, SimpleScalarUDF, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;

mod ranking;
pub mod format;
mod function_text;
mod privileges;

pub use function_text::{REGTYPES_NAME, REGTYPE_NAME};

/// What `version()` answers. SQLAlchemy, Metabase and Superset read the PostgreSQL
/// version out of it (`PostgreSQL <major>.<minor>`); DataFusion's says "Apache DataFusion".
pub fn version_text() -> String {
    format!(
        "PostgreSQL {} (fedsql {}, Apache DataFusion {}) on {}-linux, 64-bit",
        crate::pg::SERVER_VERSION,
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH
    )
}

fn constant(name: &str, args: Vec<DataType>, value: ScalarValue) -> ScalarUDF {
    let ty = value.data_type();
    create_udf(name, args, ty, Volatility::Stable, Arc::new(move |_| Ok(ColumnarValue::Scalar(value.clone()))))
}

/// `f(...) -> NULL` of type `ty`, for any arguments of the given counts: what fedsql
/// cannot know.
fn unknown(name: &str, arities: &[usize], ty: DataType) -> ScalarUDF {
    fixed(name, arities, ScalarValue::try_from(&ty).expect("a type with a NULL"))
}

/// `f(...) -> value`, for any arguments of the given counts.
fn fixed(name: &str, arities: &[usize], value: ScalarValue) -> ScalarUDF {
    let ty = value.data_type();
    let signature = Signature::one_of(arities.iter().map(|n| TypeSignature::Any(*n)).collect(), Volatility::Stable);
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        name,
        signature,
        ty,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
    ))
}

/// PostgreSQL's `pg_size_pretty(bigint)`: bytes below 10 kB, then kB, MB, GB, TB and PB,
/// each below 20 480 of its unit, halves rounded away from zero.
fn size_pretty(size: i64) -> String {
    // (unit, limit, rounds, bits)
    const UNITS: [(&str, i64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let mut size = size;
    for (i, (name, limit, rounds, bits)) in UNITS.iter().enumerate() {
        let Some(next) = UNITS.get(i + 1) else { break };
        if size.unsigned_abs() < *limit as u64 {
            return format!("{} {name}", if *rounds { half_rounded(size) } else { size });
        }
        let shift = next.3 - bits - u32::from(next.2) + u32::from(*rounds);
        size /= 1i64 << shift;
    }
    format!("{} PB", half_rounded(size))
}

fn half_rounded(x: i64) -> i64 {
    (x + if x < 0 { -1 } else { 1 }) / 2
}

/// `name(bigint) -> text`, value by value.
fn int_to_text(name: &str, f: fn(i64) -> Option<String>) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let values = args[0].to_array(1)?;
            let texts: StringArray = values.as_primitive::<Int64Type>().iter().map(|v| f(v?)).collect();
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&texts, 0)?),
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(texts)),
            })
        }),
    )
}

/// PostgreSQL's name of a server encoding by number (`\l` shows it); datafusion-pg-catalog
/// answers "UTF-8" for every number.
fn encoding_name(id: i64) -> Option<&'static str> {
    Some(match id {
        0 => "SQL_ASCII",
        6 => "UTF8",
        8 => "LATIN1",
        _ => return None,
    })
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

/// `fedsql_subscripts(array)`: the array's subscripts, 1 to its length, as an array:
/// `generate_subscripts(a, 1)` is planned as `unnest(fedsql_subscripts(a))`.
pub const SUBSCRIPTS: &str = "fedsql_subscripts";
/// `fedsql_expandarray(array)`: `{x: element, n: subscript}` per element, as an array:
/// PostgreSQL's `information_schema._pg_expandarray(a)` is `unnest(fedsql_expandarray(a))`.
pub const EXPANDARRAY: &str = "fedsql_expandarray";

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArraySubscripts {
    name: &'static str,
    signature: Signature,
}

impl ArraySubscripts {
    fn element(args: &[DataType]) -> DfResult<FieldRef> {
        match &args[0] {
            DataType::List(f) | DataType::LargeList(f) => Ok(f.clone()),
            other => plan_err!("expected an array, got {other}"),
        }
    }
    fn struct_fields(element: &FieldRef) -> Fields {
        Fields::from(vec![Field::new("x", element.data_type().clone(), true), Field::new("n", DataType::Int32, false)])
    }
}

impl ScalarUDFImpl for ArraySubscripts {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        let element = Self::element(args)?;
        let item = if self.name == SUBSCRIPTS {
            DataType::Int32
        } else {
            DataType::Struct(Self::struct_fields(&element))
        };
        Ok(DataType::List(Arc::new(Field::new_list_field(item, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // generate_subscripts(a, dim): fedsql's arrays have one dimension.
        if let Some(dim) = args.args.get(1) {
            let dim = cast(&dim.to_array(args.number_rows)?, &DataType::Int64)?;
            if dim.as_primitive::<Int64Type>().iter().any(|d| d.is_some_and(|d| d != 1)) {
                return exec_err!("generate_subscripts: arrays here have one dimension; ask for dimension 1");
            }
        }
        let array = args.args[0].to_array(args.number_rows)?;
        let list = cast(&array, &DataType::List(Self::element(&[array.data_type().clone()])?))?;
        let list = list.as_list::<i32>();
        let offsets = list.offsets().clone();
        let subscripts: Int32Array = list
            .offsets()
            .windows(2)
            .flat_map(|w| 1..=(w[1] - w[0]))
            .collect();
        let flat = list.values().slice(offsets[0] as usize, (offsets[offsets.len() - 1] - offsets[0]) as usize);
        let rebased = OffsetBuffer::new(offsets.iter().map(|o| o - offsets[0]).collect::<Vec<_>>().into());
        let (field, values): (FieldRef, ArrayRef) = if self.name == SUBSCRIPTS {
            (Arc::new(Field::new_list_field(DataType::Int32, true)), Arc::new(subscripts))
        } else {
            let fields = Self::struct_fields(&Self::element(&[array.data_type().clone()])?);
            let pairs = StructArray::try_new(fields.clone(), vec![flat, Arc::new(subscripts)], None)?;
            (Arc::new(Field::new_list_field(DataType::Struct(fields), true)), Arc::new(pairs))
        };
        let out = ListArray::try_new(field, rebased, values, list.nulls().cloned())?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_typeof(x)`: the name PostgreSQL's `format_type` gives the argument's type
/// (`integer`, `numeric`, `timestamp with time zone`, `text[]`; `unknown` for a bare NULL).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

fn format_type_name(field: &Field) -> String {
    match field.data_type() {
        DataType::Null => "unknown".to_string(),
        DataType::List(inner) | DataType::LargeList(inner) => format!("{}[]", format_type_name(inner)),
        _ => crate::pg::types::PgColumnType::of_field(field).data_type.to_string(),
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(format_type_name(&args.arg_fields[0])))))
    }
}

/// `current_schema()`: the session's current schema (`public`, or the first source
/// schema its search_path names). Made again for each session with its options.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSchema {
    schema: String,
    signature: Signature,
}

impl CurrentSchema {
    fn new(schema: &str) -> Self {
        CurrentSchema { schema: schema.to_string(), signature: Signature::exact(vec![], Volatility::Stable) }
    }
}

impl ScalarUDFImpl for CurrentSchema {
    fn name(&self) -> &str {
        "current_schema"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(self.schema.clone()))))
    }
    fn with_updated_config(&self, config: &datafusion::config::ConfigOptions) -> Option<ScalarUDF> {
        Some(ScalarUDF::new_from_impl(CurrentSchema::new(&config.catalog.default_schema)))
    }
}

pub fn register(ctx: &SessionContext, access: &crate::engine::Access) {
    ranking::register(ctx);
    ctx.register_udf(ScalarUDF::new_from_impl(CurrentSchema::new("public")));
    for name in [SUBSCRIPTS, EXPANDARRAY] {
        let signature = Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Immutable);
        ctx.register_udf(ScalarUDF::new_from_impl(ArraySubscripts { name, signature }));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(SingleRow { signature: Signature::any(2, Volatility::Immutable) }));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject { signature: Signature::variadic_any(Volatility::Immutable) }));
    // fedsql has no sequences, so no column owns one.
    ctx.register_udf(unknown("pg_get_serial_sequence", &[2], DataType::Utf8));
    ctx.register_udf(always_true("pg_collation_is_visible"));
    ctx.register_udf(ScalarUDF::new_from_impl(PgTypeof { signature: Signature::any(1, Volatility::Immutable) }));
    ctx.register_udf(constant("version", vec![], ScalarValue::Utf8(Some(version_text()))));
    // asyncpg's pool reset; fedsql takes no advisory locks, so there is nothing to free.
    ctx.register_udf(constant("pg_advisory_unlock_all", vec![], ScalarValue::Utf8(None)));
    ctx.register_udf(always_true("pg_function_is_visible"));
    // fedsql has no triggers.
    ctx.register_udf(unknown("pg_get_triggerdef", &[1, 2], DataType::Utf8));
    ctx.register_udf(int_to_text("pg_size_pretty", |size| Some(size_pretty(size))));
    // The default tablespaces, whose location PostgreSQL prints as ''.
    ctx.register_udf(fixed("pg_tablespace_location", &[1], ScalarValue::Utf8(Some(String::new()))));
    ctx.register_udf(int_to_text("pg_encoding_to_char", |id| encoding_name(id).map(String::from)));
    ctx.register_udf(always_true("pg_type_is_visible"));
    // fedsql has no temporary schemas (dbt's docs generation asks).
    ctx.register_udf(fixed("pg_is_other_temp_schema", &[1], ScalarValue::Boolean(Some(false))));
    ctx.register_udf(format::udf());
    for udf in privileges::udfs(access) {
        ctx.register_udf(udf);
    }
    ctx.register_udf(crate::pg::rewrite::like_escape::udf());
}

/// The functions that read datafusion-pg-catalog's fixed tables (pg_proc, pg_type).
pub fn register_static(ctx: &SessionContext, static_tables: &Arc<PgCatalogStaticTables>) -> DfResult<()> {
    for udf in function_text::udfs(static_tables)? {
        ctx.register_udf(udf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn size_pretty_matches_postgresql() {
        // PostgreSQL 15's own answers.
        for (size, text) in [
            (0, "0 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (-10240, "-10 kB"),
            (20_971_519, "20 MB"),
            (20_971_520, "20 MB"),
            (1_610_612_735, "1536 MB"),
            (i64::MAX, "8192 PB"),
        ] {
            assert_eq!(size_pretty(size), text, "{size}");
        }
    }
}
