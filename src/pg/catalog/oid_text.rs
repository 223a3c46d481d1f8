//! Text functions of catalog OIDs:
//! - of key OIDs, from the listed keys: `pg_get_constraintdef`, `pg_get_indexdef`;
//! - of relation OIDs, which need pg_class: `obj_description`, `col_description` and
//!   `fedsql_regclass` (a relation's name as `oid::regclass` prints it in PostgreSQL),
//!   `pg_get_viewdef`.
//!   These are async: a table OID is pg_class's, which datafusion-pg-catalog hands out
//!   when it lists tables, so resolving one means reading pg_class.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;

use super::comments::description;
use super::keys::{all_keys, KeyList, SourceKeys};
use crate::pg::functions::format::quote_ident;
use super::{ToolCatalog, ToolView};
use crate::connectors::TableSize;

/// `fedsql_regclass(oid)`: what PostgreSQL prints for `oid::regclass`.
pub const REGCLASS_NAME: &str = "fedsql_regclass";

/// An async function of relation OIDs: the keys, its arguments and the session's current
/// schema (what is on the search path besides pg_catalog).
type Text = for<'a> fn(&'a SourceKeys, &'a [ArrayRef], &'a str) -> BoxFuture<'a, DfResult<ArrayRef>>;

/// Text of a key OID: the keys, one OID and (if asked for) a column number.
pub(super) type KeyText = fn(&KeyList, i32, i32) -> Option<String>;

#[derive(Debug)]
enum Answer {
    Keys { view: ToolView, column_arg: bool, text: KeyText },
    Relations { keys: SourceKeys, text: Text, returns: DataType },
}

#[derive(Debug)]
pub(super) struct OidText {
    name: &'static str,
    signature: Signature,
    answer: Answer,
}

impl OidText {
    /// A function of key OIDs; with `column_arg`, its second argument is a column number.
    pub(super) fn keyed(name: &'static str, signature: Signature, view: ToolView, column_arg: bool, text: KeyText) -> ScalarUDF {
        ScalarUDF::new_from_impl(OidText { name, signature, answer: Answer::Keys { view, column_arg, text } })
    }
}

impl PartialEq for OidText {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for OidText {}
impl std::hash::Hash for OidText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for OidText {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(match &self.answer {
            Answer::Relations { returns, .. } => returns.clone(),
            Answer::Keys { .. } => DataType::Utf8,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Answer::Keys { view, column_arg, text } = &self.answer else {
            return exec_err!("{} runs asynchronously", self.name);
        };
        let keys = all_keys(view);
        let int = |i: usize| cast(&args.args[i].to_array(args.number_rows)?, &DataType::Int32);
        let oids = int(0)?;
        let columns = match args.args.len() > 1 && *column_arg {
            true => Some(int(1)?),
            false => None,
        };
        let oids = oids.as_primitive::<Int32Type>();
        let texts: StringArray = (0..args.number_rows)
            .map(|i| {
                let oid = oids.is_valid(i).then(|| oids.value(i))?;
                let column = columns.as_ref().map_or(0, |c| c.as_primitive::<Int32Type>().value(i));
                text(&keys, oid, column)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(texts)))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for OidText {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Answer::Relations { keys, text, .. } = &self.answer else {
            return self.invoke_with_args(args);
        };
        let arrays = args.args.iter().map(|a| a.to_array(args.number_rows)).collect::<DfResult<Vec<_>>>()?;
        let current_schema = args.config_options.catalog.default_schema.clone();
        Ok(ColumnarValue::Array(text(keys, &arrays, &current_schema).await?))
    }
}

/// A relation's name as regclass prints it: bare on the search path (pg_catalog, the
/// current schema), else schema-qualified; each part quoted when it needs to be.
fn regclass_names<'a>(keys: &'a SourceKeys, args: &'a [ArrayRef], current: &'a str) -> BoxFuture<'a, DfResult<ArrayRef>> {
    Box::pin(async move {
        let state = SessionContext::new().state();
        let names = keys.names(&state).await?;
        let oids = cast(&args[0], &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        let names: StringArray = oids
            .iter()
            .map(|oid| {
                let oid = oid?;
                // PostgreSQL prints an OID it does not know as the number.
                let Some((schema, table)) = names.get(&oid) else { return Some(oid.to_string()) };
                Some(match on_search_path(schema, current) {
                    true => quote_ident(table),
                    false => format!("{}.{}", quote_ident(schema), quote_ident(table)),
                })
            })
            .collect();
        Ok(Arc::new(names) as ArrayRef)
    })
}

/// Whether a relation of `schema` is found by its bare name: pg_catalog, then the
/// current schema.
fn on_search_path(schema: &str, current: &str) -> bool {
    schema == "pg_catalog" || schema == current
}

/// `pg_table_is_visible(oid)`: whether the relation is the one its bare name finds, as
/// PostgreSQL answers it (NULL for an unknown OID). The path searched is pg_catalog, then
/// the current schema when search_path names a source schema; by default (`public`,
/// fedsql's own and empty) every source schema in listing order, so that psql's `\dt`
/// lists the sources' tables and SQLAlchemy's `get_table_names()` lists each name once
/// (it listed every source's, duplicates included). information_schema is never on it.
fn visible<'a>(keys: &'a SourceKeys, args: &'a [ArrayRef], current: &'a str) -> BoxFuture<'a, DfResult<ArrayRef>> {
    Box::pin(async move {
        let names = keys.names(&SessionContext::new().state()).await?;
        let path: Vec<String> = match current {
            "public" => keys.view.0.schema_list().into_iter().filter(|s| s != "information_schema").collect(),
            current => vec![current.to_string()],
        };
        let rank = |schema: &str| match schema {
            "pg_catalog" => Some(0),
            s => path.iter().position(|p| p == s).map(|i| i + 1),
        };
        // Each bare name finds the relation of the first schema on the path holding one.
        let mut found: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (schema, table) in names.values() {
            if let Some(r) = rank(schema) {
                let best = found.entry(table.as_str()).or_insert(r);
                *best = (*best).min(r);
            }
        }
        let oids = cast(&args[0], &DataType::Int32)?;
        let answers: BooleanArray = oids
            .as_primitive::<Int32Type>()
            .iter()
            .map(|oid| {
                let (schema, table) = names.get(&oid?)?;
                Some(rank(schema).is_some_and(|r| found.get(table.as_str()) == Some(&r)))
            })
            .collect();
        Ok(Arc::new(answers) as ArrayRef)
    })
}

/// `pg_get_viewdef(oid[, pretty])`: a source view's definition, in the source's SQL.
fn view_definitions<'a>(keys: &'a SourceKeys, args: &'a [ArrayRef], _: &'a str) -> BoxFuture<'a, DfResult<ArrayRef>> {
    Box::pin(async move {
        let texts: StringArray = per_relation(keys, &args[0], |view, schema, table| view.view_definition(schema, table))
            .await?
            .into_iter()
            .collect();
        Ok(Arc::new(texts) as ArrayRef)
    })
}

/// `f(catalog, schema, table)` for each relation OID in `oids` (None for unknown OIDs).
async fn per_relation<T>(
    keys: &SourceKeys,
    oids: &ArrayRef,
    f: impl Fn(&ToolCatalog, &str, &str) -> Option<T>,
) -> DfResult<Vec<Option<T>>> {
    let state = SessionContext::new().state();
    let names = keys.names(&state).await?;
    let oids = cast(oids, &DataType::Int32)?;
    Ok(oids
        .as_primitive::<Int32Type>()
        .iter()
        .map(|oid| {
            let (schema, table) = names.get(&oid?)?;
            f(&keys.view.0, schema, table)
        })
        .collect())
}

/// `pg_relation_size`, `pg_table_size`, `pg_total_relation_size`, `pg_indexes_size`:
/// the source's own counts, as of the catalog's latest refresh; NULL where the source
/// does not say (Parquet, Redshift) or for fedsql's own relations.
fn sized<'a>(keys: &'a SourceKeys, args: &'a [ArrayRef], pick: fn(&TableSize) -> i64) -> BoxFuture<'a, DfResult<ArrayRef>> {
    Box::pin(async move {
        let bytes: Int64Array = per_relation(keys, &args[0], |view, schema, table| view.table_size(schema, table).map(|s| pick(&s)))
            .await?
            .into_iter()
            .collect();
        Ok(Arc::new(bytes) as ArrayRef)
    })
}

pub fn udfs(keys: impl Fn() -> SourceKeys) -> Vec<ScalarUDF> {
    // Arguments of any integer or text type, cast when read. Volatile: never folded at
    // planning, where an async function cannot run.
    let signature = |counts: &[usize]| {
        Signature::new(TypeSignature::OneOf(counts.iter().map(|n| TypeSignature::Any(*n)).collect()), Volatility::Volatile)
    };
    let udf = |name, signature, text: Text, returns| {
        let answer = Answer::Relations { keys: keys(), text, returns };
        AsyncScalarUDF::new(Arc::new(OidText { name, signature, answer })).into_scalar_udf()
    };
    let text = DataType::Utf8;
    vec![
        udf("obj_description", signature(&[1, 2]), |k, a, _| description(k, a, false), text.clone()),
        udf("col_description", signature(&[2]), |k, a, _| description(k, a, true), text.clone()),
        udf(REGCLASS_NAME, signature(&[1]), regclass_names, text.clone()),
        udf("pg_get_viewdef", signature(&[1, 2]), view_definitions, text),
        udf("pg_table_is_visible", signature(&[1]), visible, DataType::Boolean),
        udf("pg_relation_size", signature(&[1, 2]), |k, a, _| sized(k, a, |s| s.relation), DataType::Int64),
        udf("pg_table_size", signature(&[1]), |k, a, _| sized(k, a, |s| s.table), DataType::Int64),
        udf("pg_total_relation_size", signature(&[1]), |k, a, _| sized(k, a, |s| s.total), DataType::Int64),
        udf("pg_indexes_size", signature(&[1]), |k, a, _| sized(k, a, |s| s.total - s.table), DataType::Int64),
    ]
}
