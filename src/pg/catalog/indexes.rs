//! The unique index behind each primary key, as PostgreSQL shows it: a `pg_index` row
//! (pgjdbc's getPrimaryKeys, SQLAlchemy's get_pk_constraint and psql's `\d` join on it),
//! an index entry in `pg_class` (its name is the key's), and `pg_get_indexdef()`.
//!
//! datafusion-pg-catalog ships a fixed pg_index (PostgreSQL's own system indexes) with
//! `indkey` as text; ours has fedsql's keys, with `indkey` an int2 array of attnums.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, ListBuilder, PrimitiveBuilder, RecordBatch,
    StringArray,
};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Int16Type, Int32Type, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::{Expr, ScalarUDF, Signature, TypeSignature, Volatility};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{binary, in_list, Column, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;

use super::keys::{index_oid, KeyList, SourceKeys, Row, FIRST_OID};
use super::oid_text::OidText;
use crate::pg::functions::format::quote_ident;
use super::ToolView;
use crate::connectors::DeclaredType;

/// B-tree, PostgreSQL's `pg_am` OID.
const BTREE: i32 = 403;

pub(super) fn index_schema() -> SchemaRef {
    use DataType::{Boolean, Int16, Int32, Utf8};
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    let mut fields = vec![
        Field::new("indexrelid", Int32, false),
        Field::new("indrelid", Int32, false),
        Field::new("indnatts", Int16, false),
        Field::new("indnkeyatts", Int16, false),
    ];
    for flag in [
        "indisunique", "indnullsnotdistinct", "indisprimary", "indisexclusion", "indimmediate", "indisclustered",
        "indisvalid", "indcheckxmin", "indisready", "indislive", "indisreplident",
    ] {
        fields.push(Field::new(flag, Boolean, false));
    }
    fields.extend([
        // int2vector, as in PostgreSQL: psqlODBC reads `indkey[0]` and parses the text `1 2`.
        DeclaredType::Int2Vector.on(Field::new("indkey", list(Int16), false)),
        Field::new("indcollation", list(Int32), false),
        Field::new("indclass", list(Int32), false),
        DeclaredType::Int2Vector.on(Field::new("indoption", list(Int16), false)),
        Field::new("indexprs", Utf8, true),
        Field::new("indpred", Utf8, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// `per_key(k)` for each primary key, as an array of one list per row.
fn lists<T: ArrowPrimitiveType>(keys: &[&Row], per_key: impl Fn(&Row) -> Vec<T::Native>) -> ArrayRef {
    let mut b = ListBuilder::new(PrimitiveBuilder::<T>::new());
    for k in keys {
        b.values().append_slice(&per_key(k));
        b.append(true);
    }
    Arc::new(b.finish())
}

pub(super) fn index_batch<'a>(keys: &'a SourceKeys, state: &'a dyn Session) -> BoxFuture<'a, DfResult<RecordBatch>> {
    Box::pin(async move { index_rows(&keys.rows(state).await?) })
}

fn index_rows(rows: &[Row]) -> DfResult<RecordBatch> {
    let keys: Vec<&Row> = rows.iter().filter(|r| !r.foreign).collect();
    let n = keys.len();
    let width = Int16Array::from(keys.iter().map(|k| k.key.len() as i16).collect::<Vec<_>>());
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(keys.iter().map(|k| index_oid(k.oid)).collect::<Int32Array>()),
        Arc::new(keys.iter().map(|k| k.table).collect::<Int32Array>()),
        Arc::new(width.clone()),
        Arc::new(width),
    ];
    // unique, nulls not distinct, primary, exclusion, immediate, clustered, valid,
    // checkxmin, ready, live, replica identity
    for v in [true, false, true, false, true, false, true, false, true, true, false] {
        columns.push(Arc::new(BooleanArray::from(vec![v; n])));
    }
    // indkey; indcollation and indclass (defaults: 0); indoption
    columns.push(lists::<Int16Type>(&keys, |k| k.key.clone()));
    columns.push(lists::<Int32Type>(&keys, |k| vec![0; k.key.len()]));
    columns.push(lists::<Int32Type>(&keys, |k| vec![0; k.key.len()]));
    columns.push(lists::<Int16Type>(&keys, |k| vec![0; k.key.len()]));
    columns.push(Arc::new(StringArray::from(vec![None::<&str>; n])));
    columns.push(Arc::new(StringArray::from(vec![None::<&str>; n])));
    Ok(RecordBatch::try_new(index_schema(), columns)?)
}

/// datafusion-pg-catalog's pg_class plus one `relkind = 'i'` row per primary key.
#[derive(Debug)]
pub struct PgClassWithIndexes {
    pub(super) inner: Arc<dyn TableProvider>,
    pub(super) keys: SourceKeys,
}

impl PgClassWithIndexes {
    /// Index rows in pg_class's own schema: what an index has, zero or NULL elsewhere.
    fn index_rows(&self, rows: &[Row]) -> DfResult<RecordBatch> {
        let keys: Vec<&Row> = rows.iter().filter(|r| !r.foreign).collect();
        let schema = self.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                let values: Vec<ScalarValue> = keys
                    .iter()
                    .map(|k| {
                        let known = match f.name().as_str() {
                            "oid" => ScalarValue::Int32(Some(index_oid(k.oid))),
                            "relname" => ScalarValue::Utf8(Some(k.name.clone())),
                            "relnamespace" => ScalarValue::Int32(Some(k.namespace)),
                            "relkind" => ScalarValue::Utf8(Some("i".into())),
                            "relam" => ScalarValue::Int32(Some(BTREE)),
                            "relnatts" => ScalarValue::Int16(Some(k.key.len() as i16)),
                            "relpersistence" => ScalarValue::Utf8(Some("p".into())),
                            "relreplident" => ScalarValue::Utf8(Some("n".into())),
                            "relispopulated" => ScalarValue::Boolean(Some(true)),
                            _ if f.is_nullable() => return ScalarValue::try_from(f.data_type()),
                            _ => return ScalarValue::new_default(f.data_type()),
                        };
                        known.cast_to(f.data_type())
                    })
                    .collect::<DfResult<_>>()?;
                if values.is_empty() {
                    return Ok(datafusion::arrow::array::new_empty_array(f.data_type()));
                }
                ScalarValue::iter_to_array(values)
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

#[async_trait]
impl TableProvider for PgClassWithIndexes {
    fn schema(&self) -> SchemaRef {
        let inner = self.inner.schema();
        let mut fields: Vec<Field> = inner.fields().iter().map(|f| f.as_ref().clone()).collect();
        for (name, ty) in missing_class_columns() {
            if inner.field_with_name(name).is_err() {
                fields.push(Field::new(name, ty, true));
            }
        }
        Arc::new(Schema::new(fields))
    }
    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        let wanted = projection.unwrap_or(&all);
        let rows = self.keys.rows(state).await?;
        // Upstream's columns from its scan (oid always: it decides relhasindex); the ones
        // it lacks as NULLs.
        let inner = self.inner.schema();
        let oid = inner.index_of("oid")?;
        let mut theirs: Vec<usize> = wanted.iter().copied().filter(|i| *i < inner.fields().len()).collect();
        if !theirs.contains(&oid) {
            theirs.push(oid);
        }
        let scanned = self.inner.scan(state, Some(&theirs), &[], None).await?;
        let scanned_schema = scanned.schema();
        let column = |i: usize| -> Arc<dyn PhysicalExpr> {
            let at = theirs.iter().position(|t| *t == i).expect("scanned above");
            Arc::new(Column::new(inner.field(i).name(), at))
        };
        // A table with a primary key has an index; a table on either side of a foreign
        // key has (PostgreSQL's internal) triggers. psql's `\d` lists indexes, and
        // foreign keys both ways, only for tables flagged so.
        let literals = |oids: Vec<i32>| -> Vec<Arc<dyn PhysicalExpr>> {
            oids.into_iter().map(|o| Arc::new(Literal::new(ScalarValue::Int32(Some(o)))) as Arc<dyn PhysicalExpr>).collect()
        };
        let indexed = literals(rows.iter().filter(|r| !r.foreign).map(|r| r.table).collect());
        let triggered = literals(rows.iter().filter(|r| r.foreign).flat_map(|r| [r.table, r.referenced]).collect());
        let mut exprs: Vec<ProjectionExpr> = Vec::new();
        for &i in wanted {
            let field = schema.field(i);
            let flagged = match field.name().as_str() {
                "relhasindex" => &indexed,
                "relhastriggers" => &triggered,
                _ => &Vec::new(),
            };
            let expr: Arc<dyn PhysicalExpr> = match field.name().as_str() {
                _ if i >= inner.fields().len() => Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?)),
                _ if !flagged.is_empty() => {
                    let listed = in_list(column(oid), flagged.clone(), &false, &scanned_schema)?;
                    binary(column(i), Operator::Or, listed, &scanned_schema)?
                }
                _ => column(i),
            };
            exprs.push(ProjectionExpr { expr, alias: field.name().clone() });
        }
        let classes: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(exprs, scanned)?);
        if rows.iter().all(|r| r.foreign) {
            return Ok(classes);
        }
        let indexes = MemTable::try_new(schema, vec![vec![self.index_rows(&rows)?]])?
            .scan(state, projection, &[], None)
            .await?;
        UnionExec::try_new(vec![classes, indexes])
    }
}

/// pg_class columns PostgreSQL has and datafusion-pg-catalog lacks (SQLAlchemy's index
/// reflection reads `reloptions`).
fn missing_class_columns() -> [(&'static str, DataType); 1] {
    [("reloptions", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))))]
}

/// `pg_get_indexdef(index [, column, pretty])`: the CREATE INDEX statement, or with a
/// column number above 0 that column's name.
fn index_definition(keys: &KeyList, oid: i32, column: i32) -> Option<String> {
    let (schema, _, key) = keys.get(usize::try_from(oid - index_oid(FIRST_OID)).ok()?)?;
    let quoted: Vec<String> = key.columns.iter().map(|c| quote_ident(c)).collect();
    if column > 0 {
        return quoted.get(column as usize - 1).cloned();
    }
    Some(format!(
        "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
        quote_ident(&key.name),
        quote_ident(schema),
        quote_ident(&key.table),
        quoted.join(", ")
    ))
}

pub fn indexdef_udf(view: ToolView) -> ScalarUDF {
    // Numbers of any integer type: cast when read.
    let signature =
        Signature::new(TypeSignature::OneOf(vec![TypeSignature::Any(1), TypeSignature::Any(3)]), Volatility::Stable);
    OidText::keyed("pg_get_indexdef", signature, view, true, index_definition)
}

/// datafusion-pg-catalog's pg_attribute with `atttypmod` for decimals: `numeric(p,s)`
/// is `(p << 16 | s) + 4`, which `format_type`, psql's `\d` and pgjdbc's sizes read.
/// Columns whose source declared a text type (`varchar(40)`, `jsonb`, `uuid`) have
/// that type's `atttypid` and `atttypmod`.
/// Upstream builds the whole table in memory; so does this.
#[derive(Debug)]
pub struct PgAttributeWithTypmods {
    pub(super) inner: Arc<dyn TableProvider>,
    pub(super) keys: SourceKeys,
}

impl PgAttributeWithTypmods {
    /// The columns of each primary key's index, as PostgreSQL lists them: the table
    /// column's row with the index's OID and the column's position in the key
    /// (psqlODBC's SQLPrimaryKeys joins `ia.attrelid = i.indexrelid`).
    async fn index_columns(&self, state: &dyn Session, tables: &[RecordBatch], relid: usize, num: usize) -> DfResult<Vec<RecordBatch>> {
        let mut at = std::collections::HashMap::new();
        for (b, batch) in tables.iter().enumerate() {
            let relids = cast(batch.column(relid), &DataType::Int32)?;
            let nums = cast(batch.column(num), &DataType::Int32)?;
            let (relids, nums) = (relids.as_primitive::<Int32Type>(), nums.as_primitive::<Int32Type>());
            for r in 0..batch.num_rows() {
                at.insert((relids.value(r), nums.value(r)), (b, r));
            }
        }
        let mut out = Vec::new();
        for key in self.keys.rows(state).await?.iter().filter(|k| !k.foreign) {
            for (position, column) in key.key.iter().enumerate() {
                let Some(&(b, r)) = at.get(&(key.table, i32::from(*column))) else { continue };
                let row = tables[b].slice(r, 1);
                let mut columns = row.columns().to_vec();
                let index: ArrayRef = Arc::new(Int32Array::from(vec![index_oid(key.oid)]));
                columns[relid] = cast(&index, row.column(relid).data_type())?;
                let position: ArrayRef = Arc::new(Int32Array::from(vec![position as i32 + 1]));
                columns[num] = cast(&position, row.column(num).data_type())?;
                out.push(RecordBatch::try_new(row.schema(), columns)?);
            }
        }
        Ok(out)
    }
}

/// PostgreSQL's type modifier of a column of Arrow type `t`, or -1.
fn typmod(t: &DataType) -> i32 {
    match t {
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) | DataType::Decimal256(p, s)
            if *s >= 0 =>
        {
            ((i32::from(*p) << 16) | i32::from(*s as u8)) + 4
        }
        _ => -1,
    }
}

#[async_trait]
impl TableProvider for PgAttributeWithTypmods {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.inner.schema();
        let all = self.inner.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(all, state.task_ctx()).await?;
        let sources: Vec<String> = self.keys.view.0.schema_list().into_iter().filter(|s| s.contains('.')).collect();
        let names: Vec<&str> = sources.iter().map(String::as_str).collect();
        let mut by_oid = std::collections::HashMap::new();
        for ((schema_name, table), (oid, _)) in self.keys.oids(state, &names).await? {
            if let Some(t) = self.keys.view.table(&schema_name, &table).await {
                by_oid.insert(oid, t.schema());
            }
        }
        let at = |name: &str| schema.index_of(name);
        let (relid, num, typid_at, typmod_at) = (at("attrelid")?, at("attnum")?, at("atttypid")?, at("atttypmod")?);
        let storage_at = at("attstorage")?;
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches {
            let relids = cast(batch.column(relid), &DataType::Int32)?;
            let nums = cast(batch.column(num), &DataType::Int32)?;
            let (relids, nums) = (relids.as_primitive::<Int32Type>(), nums.as_primitive::<Int32Type>());
            let old_typids = cast(batch.column(typid_at), &DataType::Int32)?;
            let (old_typids, old_typmods) = (old_typids.as_primitive::<Int32Type>(), batch.column(typmod_at).as_primitive::<Int32Type>());
            let old_storage = cast(batch.column(storage_at), &DataType::Utf8)?;
            let old_storage = old_storage.as_string::<i32>();
            let (mut typids, mut typmods, mut storage) = (Vec::new(), Vec::new(), Vec::new());
            for r in 0..batch.num_rows() {
                let field = by_oid.get(&relids.value(r)).and_then(|s| s.fields().get((nums.value(r) - 1) as usize));
                let old = (old_typids.value(r), old_typmods.value(r), old_storage.is_valid(r).then(|| old_storage.value(r)));
                let (typid, typmod, stored) = match field.map(|f| (f, DeclaredType::of(f))) {
                    Some((_, Some(declared))) => (declared.oid() as i32, declared.typmod(), Some(declared.storage())),
                    Some((f, None)) => (old.0, typmod(f.data_type()), old.2),
                    None => old,
                };
                typids.push(typid);
                typmods.push(typmod);
                storage.push(stored);
            }
            let mut columns = batch.columns().to_vec();
            let typids: ArrayRef = Arc::new(Int32Array::from(typids));
            columns[typid_at] = cast(&typids, batch.column(typid_at).data_type())?;
            columns[typmod_at] = Arc::new(Int32Array::from(typmods));
            let storage: ArrayRef = Arc::new(StringArray::from(storage));
            columns[storage_at] = cast(&storage, batch.column(storage_at).data_type())?;
            out.push(RecordBatch::try_new(schema.clone(), columns)?);
        }
        let index_columns = self.index_columns(state, &out, relid, num).await?;
        out.extend(index_columns);
        MemTable::try_new(schema, vec![out])?.scan(state, projection, &[], limit).await
    }
}
