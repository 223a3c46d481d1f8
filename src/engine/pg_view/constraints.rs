//! `pg_catalog.pg_constraint` with the primary and foreign keys sources declare, and
//! `pg_get_constraintdef()` spelling them. datafusion-pg-catalog ships a fixed table
//! (PostgreSQL's own system constraints, `conkey` as text); tools join it on
//! `attnum = ANY(conkey)` (Metabase's foreign keys) and on `conrelid` (psql's `\d`).
//!
//! Constraint OIDs are numbered from `FIRST_OID` in listing order; table and namespace
//! OIDs are pg_class's and pg_namespace's, read at scan time.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int16Array, Int16Builder, Int32Array, ListBuilder, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{internal_datafusion_err, Result as DfResult};
use datafusion::datasource::{MemTable, TableType};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{
    Expr, ScalarUDF, Signature, TypeSignature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::logical_expr::JoinType;
use datafusion::prelude::{col, lit, SessionContext};
use futures::future::BoxFuture;

use super::format::quote_ident;
use super::oid_text::{KeyText, OidText};
use super::ToolView;
use crate::connectors::Key;

pub(super) const FIRST_OID: i32 = 1_900_000_000;

/// The OID of the index behind primary key `oid` (PostgreSQL's `conindid`).
pub(super) fn index_oid(constraint_oid: i32) -> i32 {
    constraint_oid + 50_000_000
}

/// Every key, with the tool-facing schema name (`catalog.schema`) of its table and of
/// the table it references, in a stable order: the OID of key `i` is `FIRST_OID + i`.
pub(super) fn all_keys(view: &ToolView) -> Vec<(String, Option<String>, Key)> {
    let mut out = Vec::new();
    for source in &view.0.sources {
        for key in source.keys() {
            // A key of a table the session may not read, or naming one, is not listed.
            let hidden = !view.0.visible(source.name(), &key.schema, &key.table)
                || key.references.as_ref().is_some_and(|(s, t, _)| !view.0.visible(source.name(), s, t));
            if hidden {
                continue;
            }
            let schema = format!("{}.{}", source.name(), key.schema);
            let referenced = key.references.as_ref().map(|(s, _, _)| format!("{}.{s}", source.name()));
            out.push((schema, referenced, key));
        }
    }
    out
}

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

fn table_schema() -> SchemaRef {
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

/// One constraint row, OIDs resolved.
pub(super) struct Row {
    pub oid: i32,
    pub name: String,
    pub namespace: i32,
    pub foreign: bool,
    pub table: i32,
    pub referenced: i32,
    pub key: Vec<i16>,
    referenced_key: Option<Vec<i16>>,
}

#[derive(Debug)]
pub(super) struct PgConstraint {
    pub view: ToolView,
    /// datafusion-pg-catalog's pg_catalog, for its pg_class and pg_namespace.
    pub catalog: Arc<dyn SchemaProvider>,
}

impl PgConstraint {
    /// `(schema, table, table oid, namespace oid)` of every relation in `schemas` (all
    /// with None), from datafusion-pg-catalog's own pg_class (ours adds index rows made
    /// from these keys).
    async fn relations(&self, state: &dyn Session, schemas: Option<&[&str]>) -> DfResult<Vec<(String, String, i32, i32)>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| internal_datafusion_err!("pg_constraint needs a SessionState"))?;
        let table = |name: &'static str| async move {
            self.catalog.table(name).await?.ok_or_else(|| internal_datafusion_err!("pg_catalog.{name} is missing"))
        };
        let ctx = SessionContext::new_with_state(state.clone());
        let class = ctx.read_table(table("pg_class").await?)?.alias("c")?;
        let namespace = ctx.read_table(table("pg_namespace").await?)?.alias("n")?;
        let mut joined = class.join_on(namespace, JoinType::Inner, [col("c.relnamespace").eq(col("n.oid"))])?;
        if let Some(schemas) = schemas {
            joined = joined.filter(col("n.nspname").in_list(schemas.iter().map(|s| lit(*s)).collect(), false))?;
        }
        let batches = joined
            .select(vec![col("n.nspname"), col("c.relname"), col("c.oid"), col("n.oid")])?
            .collect()
            .await?;
        let mut out = Vec::new();
        for batch in batches {
            let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
            let int = |i: usize| cast(batch.column(i), &DataType::Int32);
            let (schema, table, table_oid, ns_oid) = (text(0)?, text(1)?, int(2)?, int(3)?);
            let (schema, table) = (schema.as_string::<i32>(), table.as_string::<i32>());
            let (table_oid, ns_oid) = (table_oid.as_primitive::<Int32Type>(), ns_oid.as_primitive::<Int32Type>());
            for r in 0..batch.num_rows() {
                out.push((schema.value(r).to_string(), table.value(r).to_string(), table_oid.value(r), ns_oid.value(r)));
            }
        }
        Ok(out)
    }

    /// `(schema, table) -> (table oid, namespace oid)` for the relations in `schemas`.
    pub(super) async fn oids(&self, state: &dyn Session, schemas: &[&str]) -> DfResult<HashMap<(String, String), (i32, i32)>> {
        let relations = self.relations(state, Some(schemas)).await?;
        Ok(relations.into_iter().map(|(s, t, oid, ns)| ((s, t), (oid, ns))).collect())
    }

    /// `table oid -> (schema, table)` for every relation.
    pub(super) async fn names(&self, state: &dyn Session) -> DfResult<HashMap<i32, (String, String)>> {
        let relations = self.relations(state, None).await?;
        Ok(relations.into_iter().map(|(s, t, oid, _)| (oid, (s, t))).collect())
    }

    /// Column numbers (pg_attribute.attnum) of `names` in one table.
    async fn attnums(&self, schema: &str, table: &str, names: &[String]) -> Option<Vec<i16>> {
        let provider = self.view.table(schema, table).await?;
        let arrow = provider.schema();
        names.iter().map(|n| arrow.index_of(n).ok().map(|i| i as i16 + 1)).collect()
    }

    pub(super) async fn rows(&self, state: &dyn Session) -> DfResult<Vec<Row>> {
        let keys = all_keys(&self.view);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut schemas: Vec<&str> = keys.iter().map(|(s, _, _)| s.as_str()).collect();
        schemas.extend(keys.iter().filter_map(|(_, r, _)| r.as_deref()));
        schemas.sort();
        schemas.dedup();
        let oids = self.oids(state, &schemas).await?;
        let mut rows = Vec::new();
        for (i, (schema, referenced_schema, key)) in keys.iter().enumerate() {
            let Some(&(table, namespace)) = oids.get(&(schema.clone(), key.table.clone())) else { continue };
            let Some(attnums) = self.attnums(schema, &key.table, &key.columns).await else { continue };
            let (referenced, referenced_key) = match (&key.references, referenced_schema) {
                (Some((_, rt, rc)), Some(rs)) => {
                    let Some(&(rel, _)) = oids.get(&(rs.clone(), rt.clone())) else { continue };
                    let Some(nums) = self.attnums(rs, rt, rc).await else { continue };
                    (rel, Some(nums))
                }
                _ => (0, None),
            };
            rows.push(Row {
                oid: FIRST_OID + i as i32,
                name: key.name.clone(),
                namespace,
                foreign: key.references.is_some(),
                table,
                referenced,
                key: attnums,
                referenced_key,
            });
        }
        Ok(rows)
    }
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

/// Builds a catalog table's rows at scan time.
pub(super) type Build = for<'a> fn(&'a PgConstraint, &'a dyn Session) -> BoxFuture<'a, DfResult<RecordBatch>>;

fn constraint_batch<'a>(keys: &'a PgConstraint, state: &'a dyn Session) -> BoxFuture<'a, DfResult<RecordBatch>> {
    Box::pin(async move { to_batch(&keys.rows(state).await?) })
}

/// A catalog table made at scan time from what the sources declare: pg_constraint,
/// pg_index, pg_description.
#[derive(Debug)]
pub(super) struct KeyTable {
    pub keys: PgConstraint,
    pub schema: fn() -> SchemaRef,
    pub build: Build,
}

#[async_trait]
impl TableProvider for KeyTable {
    fn schema(&self) -> SchemaRef {
        (self.schema)()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = (self.build)(&self.keys, state).await?;
        MemTable::try_new((self.schema)(), vec![vec![batch]])?.scan(state, projection, &[], limit).await
    }
}

/// datafusion-pg-catalog's pg_catalog with our `pg_constraint` and `pg_index`, the
/// primary keys' indexes in `pg_class`, and Redshift's `svv_` views.
#[derive(Debug)]
pub struct PgCatalogWithKeys {
    pub inner: Arc<dyn SchemaProvider>,
    pub view: ToolView,
}

#[async_trait]
impl SchemaProvider for PgCatalogWithKeys {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }
    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let keys = PgConstraint { view: self.view.clone(), catalog: self.inner.clone() };
        match name.to_ascii_lowercase().as_str() {
            "pg_constraint" => Ok(Some(Arc::new(KeyTable { keys, schema: table_schema, build: constraint_batch }))),
            "pg_index" => Ok(Some(Arc::new(KeyTable {
                keys,
                schema: super::indexes::index_schema,
                build: super::indexes::index_batch,
            }))),
            "pg_description" => Ok(Some(Arc::new(KeyTable {
                keys,
                schema: super::comments::description_schema,
                build: super::comments::description_batch,
            }))),
            "pg_tables" => Ok(Some(Arc::new(super::sql_views::pg_tables()))),
            "pg_views" => Ok(Some(Arc::new(super::sql_views::pg_views()))),
            "pg_class" => {
                let Some(inner) = self.inner.table(name).await? else { return Ok(None) };
                Ok(Some(Arc::new(super::indexes::PgClassWithIndexes { inner, keys })))
            }
            "pg_attribute" => {
                let Some(inner) = self.inner.table(name).await? else { return Ok(None) };
                Ok(Some(Arc::new(super::indexes::PgAttributeWithTypmods { inner, keys })))
            }
            "svv_columns" => Ok(Some(Arc::new(super::sql_views::svv_columns()))),
            "svv_external_schemas" => Ok(Some(Arc::new(super::sql_views::svv_external_schemas()))),
            _ => self.inner.table(name).await,
        }
    }
    fn table_exist(&self, name: &str) -> bool {
        matches!(name.to_ascii_lowercase().as_str(), "svv_columns" | "svv_external_schemas") || self.inner.table_exist(name)
    }
}

/// Every key as listed, with the tool-facing names of its schema and referenced schema.
pub(super) type KeyList = [(String, Option<String>, Key)];

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
