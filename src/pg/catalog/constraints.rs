//! `pg_catalog.pg_constraint` with the primary and foreign keys sources declare, and
//! `pg_get_constraintdef()` spelling them. datafusion-pg-catalog ships a fixed table
//! (PostgreSQL's own system constraints, `conkey` as text); tools join it on
//! `attnum = ANY(conkey)` (Metabase's foreign keys) and on `conrelid` (psql's `\d`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int16Array, Int16Builder, Int32Array, ListBuilder, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{ScalarUDF, Signature, TypeSignature, Volatility};
use futures::future::BoxFuture;

use super::keys::{index_oid, Row, SourceKeys, FIRST_OID};
use super::oid_text::{KeyText, OidText};
use super::ToolView;
use crate::connectors::Key;
use crate::pg::functions::format::quote_ident;

fn columns(names: &[String]) -> String {
    names.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

/// What PostgreSQL's `pg_get_constraintdef` prints for a key.
fn definition(referenced_schema: &Option<String>, key: &Key) -> String {
    match (&key.references, referenced_schema) {
        (Some((_, table, cols)), Some(schema)) => format!(
            "FOREIGN KEY ({}) REFERENCES {}.{}({})",
            columns(&key.columns),
            quote_ident(schema),
            quote_ident(table),
            columns(cols)
        ),
        _ => format!("PRIMARY KEY ({})", columns(&key.columns)),
    }
}

pub(super) fn table_schema() -> SchemaRef {
    use DataType::{Boolean, Int16, Int32, Utf8};
    let list = DataType::List(Arc::new(Field::new_list_field(Int16, true)));
    let mut fields = vec![
        Field::new("oid", Int32, false),
        Field::new("conname", Utf8, false),
        Field::new("connamespace", Int32, false),
        Field::new("contype", Utf8, false),
        Field::new("condeferrable", Boolean, false),
        Field::new("condeferred", Boolean, false),
        Field::new("convalidated", Boolean, false),
        Field::new("conrelid", Int32, false),
        Field::new("contypid", Int32, false),
        Field::new("conindid", Int32, false),
        Field::new("conparentid", Int32, false),
        Field::new("confrelid", Int32, false),
        Field::new("confupdtype", Utf8, false),
        Field::new("confdeltype", Utf8, false),
        Field::new("confmatchtype", Utf8, false),
        Field::new("conislocal", Boolean, false),
        Field::new("coninhcount", Int16, false),
        Field::new("connoinherit", Boolean, false),
        Field::new("conkey", list.clone(), true),
        Field::new("confkey", list, true),
    ];
    for name in ["conpfeqop", "conppeqop", "conffeqop", "confdelsetcols", "conexclop", "conbin"] {
        fields.push(Field::new(name, Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

fn to_batch(rows: &[Row]) -> DfResult<RecordBatch> {
    let n = rows.len();
    let int = |f: &dyn Fn(&Row) -> i32| Arc::new(rows.iter().map(f).collect::<Int32Array>()) as ArrayRef;
    let text = |f: &dyn Fn(&Row) -> &str| Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>()) as ArrayRef;
    let flag = |v: bool| Arc::new(BooleanArray::from(vec![v; n])) as ArrayRef;
    let keys = |f: &dyn Fn(&Row) -> Option<&Vec<i16>>| {
        let mut b = ListBuilder::new(Int16Builder::new());
        for r in rows {
            match f(r) {
                Some(k) => {
                    b.values().append_slice(k);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let fk = |r: &Row, yes: &'static str, no: &'static str| if r.foreign { yes } else { no };
    let mut columns = vec![
        int(&|r| r.oid),
        text(&|r| r.name.as_str()),
        int(&|r| r.namespace),
        text(&|r| fk(r, "f", "p")),
        flag(false),
        flag(false),
        flag(true),
        int(&|r| r.table),
        int(&|_| 0),
        int(&|r| if r.foreign { 0 } else { index_oid(r.oid) }),
        int(&|_| 0),
        int(&|r| r.referenced),
        text(&|r| fk(r, "a", " ")),
        text(&|r| fk(r, "a", " ")),
        text(&|r| fk(r, "s", " ")),
        flag(true),
        Arc::new(Int16Array::from(vec![0i16; n])) as ArrayRef,
        flag(true),
        keys(&|r| Some(&r.key)),
        keys(&|r| r.referenced_key.as_ref()),
    ];
    for _ in 0..6 {
        columns.push(Arc::new(StringArray::from(vec![None::<&str>; n])) as ArrayRef);
    }
    Ok(RecordBatch::try_new(table_schema(), columns)?)
}

pub(super) fn constraint_batch<'a>(keys: &'a SourceKeys, state: &'a dyn Session) -> BoxFuture<'a, DfResult<RecordBatch>> {
    Box::pin(async move { to_batch(&keys.rows(state).await?) })
}

pub fn constraintdef_udf(view: ToolView) -> ScalarUDF {
    let signature = Signature::new(
        TypeSignature::OneOf(vec![
            TypeSignature::Exact(vec![DataType::Int32]),
            TypeSignature::Exact(vec![DataType::Int32, DataType::Boolean]),
        ]),
        Volatility::Stable,
    );
    let text: KeyText = |keys, oid, _| {
        let (_, referenced, key) = keys.get(usize::try_from(oid.checked_sub(FIRST_OID)?).ok()?)?;
        Some(definition(referenced, key))
    };
    OidText::keyed("pg_get_constraintdef", signature, view, false, text)
}
