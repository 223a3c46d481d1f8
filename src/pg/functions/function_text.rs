//! `pg_get_function_result(oid)` and `pg_get_function_arguments(oid)`, which psql's `\df`
//! shows, from datafusion-pg-catalog's pg_proc and pg_type (PostgreSQL's built-ins).
//! Argument defaults are not spelled: pg_proc keeps them as parse trees.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility};
use datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;

use super::format::quote_ident;
use crate::pg::types::standard_name;

/// `oid -> (typname, typelem)`.
type Types = HashMap<i32, (String, i32)>;

/// A type as format_type writes it: SQL-standard names, arrays as `elem[]`, others by
/// their (quoted if need be) name.
fn type_name(oid: i32, types: &Types) -> String {
    let Some((name, elem)) = types.get(&oid) else { return format!("oid({oid})") };
    if name.starts_with('_') && *elem != 0 {
        return format!("{}[]", type_name(*elem, types));
    }
    match (name.as_str(), standard_name(name)) {
        ("bpchar", _) => "character".into(),
        ("timetz", _) => "time with time zone".into(),
        ("varbit", _) => "bit varying".into(),
        (_, "USER-DEFINED" | "ARRAY") => match name.as_str() {
            // Type names that are keywords or clash with SQL's own.
            "char" | "any" => format!("\"{name}\""),
            _ => quote_ident(name),
        },
        (_, standard) => standard.into(),
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> DfResult<Arc<dyn Array>> {
    let c = batch.column_by_name(name).ok_or_else(|| datafusion::common::internal_datafusion_err!("pg_proc has no {name}"))?;
    Ok(c.clone())
}

/// A text array column of pg_proc (`[25, 18]`, `['o', 'o']`, or a bare `25 23` list).
fn list(text: &str) -> Vec<String> {
    text.trim_matches(|c| c == '[' || c == ']' || c == '{' || c == '}')
        .split([',', ' '])
        .map(|s| s.trim().trim_matches('\'').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Every type in pg_type.
fn types(tables: &PgCatalogStaticTables) -> DfResult<Types> {
    let mut types = Types::new();
    for batch in tables.pg_type.data() {
        let (oid, name, elem) = (cast(&column(batch, "oid")?, &DataType::Int32)?, column(batch, "typname")?, cast(&column(batch, "typelem")?, &DataType::Int32)?);
        let name = cast(&name, &DataType::Utf8)?;
        let (oid, name, elem) = (oid.as_primitive::<Int32Type>(), name.as_string::<i32>(), elem.as_primitive::<Int32Type>());
        for r in 0..batch.num_rows() {
            types.insert(oid.value(r), (name.value(r).to_string(), elem.value(r)));
        }
    }
    Ok(types)
}

/// `oid -> (result, arguments)` for every function in pg_proc.
fn texts(tables: &PgCatalogStaticTables, types: &Types) -> DfResult<HashMap<i32, (String, String)>> {
    let mut out = HashMap::new();
    for batch in tables.pg_proc.data() {
        let int = |n: &str| -> DfResult<Arc<dyn Array>> { Ok(cast(&column(batch, n)?, &DataType::Int32)?) };
        let text = |n: &str| -> DfResult<Arc<dyn Array>> { Ok(cast(&column(batch, n)?, &DataType::Utf8)?) };
        let (oid, rettype, retset) = (int("oid")?, int("prorettype")?, cast(&column(batch, "proretset")?, &DataType::Boolean)?);
        let (args, all_args, names, modes) = (text("proargtypes")?, text("proallargtypes")?, text("proargnames")?, text("proargmodes")?);
        let (oid, rettype, retset) = (oid.as_primitive::<Int32Type>(), rettype.as_primitive::<Int32Type>(), retset.as_boolean());
        let (args, all_args, names, modes) = (args.as_string::<i32>(), all_args.as_string::<i32>(), names.as_string::<i32>(), modes.as_string::<i32>());
        let value = |a: &StringArray, r: usize| if a.is_null(r) { Vec::new() } else { list(a.value(r)) };
        for r in 0..batch.num_rows() {
            let all = value(all_args, r);
            let arg_types = if all.is_empty() { value(args, r) } else { all };
            let (names, modes) = (value(names, r), value(modes, r));
            let mut table_columns = Vec::new();
            let mut arguments = Vec::new();
            for (i, t) in arg_types.iter().enumerate() {
                let ty = type_name(t.parse().unwrap_or(0), types);
                let name = names.get(i).filter(|n| !n.is_empty()).map(|n| format!("{} ", quote_ident(n))).unwrap_or_default();
                match modes.get(i).map(String::as_str) {
                    Some("t") => table_columns.push(format!("{name}{ty}")),
                    Some("o") => arguments.push(format!("OUT {name}{ty}")),
                    Some("b") => arguments.push(format!("INOUT {name}{ty}")),
                    Some("v") => arguments.push(format!("VARIADIC {name}{ty}")),
                    _ => arguments.push(format!("{name}{ty}")),
                }
            }
            let result = match (table_columns.is_empty(), retset.value(r)) {
                (false, _) => format!("TABLE({})", table_columns.join(", ")),
                (true, true) => format!("SETOF {}", type_name(rettype.value(r), types)),
                (true, false) => type_name(rettype.value(r), types),
            };
            out.insert(oid.value(r), (result, arguments.join(", ")));
        }
    }
    Ok(out)
}

/// A text function of one OID argument (NULL where `text` has none).
fn oid_text_udf(name: &str, text: impl Fn(i32) -> Option<String> + Send + Sync + 'static) -> ScalarUDF {
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        name,
        Signature::new(TypeSignature::Any(1), Volatility::Stable),
        DataType::Utf8,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let oids = cast(&args[0].to_array(1)?, &DataType::Int32)?;
            let out: StringArray = oids.as_primitive::<Int32Type>().iter().map(|o| text(o?)).collect();
            Ok(match scalar {
                true => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
                false => ColumnarValue::Array(Arc::new(out)),
            })
        }),
    ))
}

/// Every name a type is known by (`int8`, `bigint`; `timestamptz`, `timestamp with time
/// zone`) -> its OID in pg_type.
fn type_oids(types: &Types) -> HashMap<String, i32> {
    let mut oids: HashMap<String, i32> = types.iter().map(|(oid, (name, _))| (name.clone(), *oid)).collect();
    for (oid, (name, _)) in types {
        let standard = standard_name(name);
        if !matches!(standard, "ARRAY" | "USER-DEFINED") {
            oids.insert(standard.to_string(), *oid);
        }
    }
    // SQL's other spellings.
    for (alias, name) in [("int", "int4"), ("integer", "int4"), ("decimal", "numeric"), ("character", "bpchar"), ("char", "bpchar"), ("float", "float8")] {
        if let Some(oid) = oids.get(name).copied() {
            oids.insert(alias.to_string(), oid);
        }
    }
    oids
}

/// The OID of the type `name` (`text`, `pg_catalog.int8`, `text[]`); None if pg_type has
/// no such type.
fn type_oid(name: &str, oids: &HashMap<String, i32>, types: &Types) -> Option<i32> {
    let name = name.trim();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(name).to_ascii_lowercase();
    if let Some(element) = name.strip_suffix("[]") {
        let element = type_oid(element, oids, types)?;
        return types.iter().find(|(_, (n, e))| *e == element && n.starts_with('_')).map(|(oid, _)| *oid);
    }
    oids.get(&name).copied()
}

/// `to_regtype(name)`: the type's OID by any of its names, from pg_type; NULL for types
/// fedsql does not have (SQLAlchemy's psycopg dialect probes `to_regtype('hstore')`).
fn to_regtype_udf(types: Arc<Types>) -> ScalarUDF {
    let oids = type_oids(&types);
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "to_regtype",
        Signature::new(TypeSignature::Any(1), Volatility::Stable),
        DataType::Int32,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let names = cast(&args[0].to_array(1)?, &DataType::Utf8)?;
            let out: datafusion::arrow::array::Int32Array =
                names.as_string::<i32>().iter().map(|n| n.and_then(|n| type_oid(n, &oids, &types))).collect();
            Ok(match scalar {
                true => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
                false => ColumnarValue::Array(Arc::new(out)),
            })
        }),
    ))
}

pub fn udfs(tables: &PgCatalogStaticTables) -> DfResult<[ScalarUDF; 5]> {
    let types = Arc::new(types(tables)?);
    let texts = Arc::new(texts(tables, &types)?);
    let (result, arguments, names) = (texts.clone(), texts, types.clone());
    Ok([
        oid_text_udf("pg_get_function_result", move |oid| result.get(&oid).map(|t| t.0.clone())),
        oid_text_udf("pg_get_function_arguments", move |oid| arguments.get(&oid).map(|t| t.1.clone())),
        oid_text_udf(REGTYPE_NAME, move |oid| Some(type_name(oid, &names))),
        regtypes_udf(types.clone()),
        to_regtype_udf(types),
    ])
}

/// `fedsql_regtype(oid)`: what PostgreSQL prints for `oid::regtype`.
pub const REGTYPE_NAME: &str = "fedsql_regtype";
/// `fedsql_regtypes(oids)`: `oids::regtype[]` of one of pg_proc's text arrays of type
/// OIDs (`[25, 18]`, or an oidvector's `25 18`), as the names PostgreSQL prints.
pub const REGTYPES_NAME: &str = "fedsql_regtypes";

fn regtypes_udf(types: Arc<Types>) -> ScalarUDF {
    let item = Arc::new(Field::new_list_field(DataType::Utf8, true));
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        REGTYPES_NAME,
        Signature::new(TypeSignature::Any(1), Volatility::Stable),
        DataType::List(item),
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let texts = cast(&args[0].to_array(1)?, &DataType::Utf8)?;
            let mut out = ListBuilder::new(StringBuilder::new());
            for text in texts.as_string::<i32>() {
                match text {
                    Some(text) => {
                        for oid in list(text) {
                            out.values().append_value(type_name(oid.parse().unwrap_or(0), &types));
                        }
                        out.append(true);
                    }
                    None => out.append(false),
                }
            }
            let out = out.finish();
            Ok(match scalar {
                true => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
                false => ColumnarValue::Array(Arc::new(out)),
            })
        }),
    ))
}
