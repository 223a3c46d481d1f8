//! The primary and foreign keys sources declare, as pg_catalog rows see them: each key
//! numbered with a constraint OID, its table and columns resolved to pg_class and
//! pg_attribute numbers. pg_constraint, pg_index, pg_class's index rows and
//! pg_description are built from them at scan time.
//!
//! Constraint OIDs are numbered from `FIRST_OID` in listing order; table and namespace
//! OIDs are pg_class's and pg_namespace's, read at scan time.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{internal_datafusion_err, Result as DfResult};
use datafusion::datasource::{MemTable, TableType};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, JoinType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{col, lit, SessionContext};
use futures::future::BoxFuture;

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

/// One constraint row, OIDs resolved.
pub(super) struct Row {
    pub oid: i32,
    pub name: String,
    pub namespace: i32,
    pub foreign: bool,
    pub table: i32,
    pub referenced: i32,
    pub key: Vec<i16>,
    pub referenced_key: Option<Vec<i16>>,
}

#[derive(Debug)]
pub(super) struct SourceKeys {
    pub view: ToolView,
    /// datafusion-pg-catalog's pg_catalog, for its pg_class and pg_namespace.
    pub catalog: Arc<dyn SchemaProvider>,
}

impl SourceKeys {
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

/// Every key as listed, with the tool-facing names of its schema and referenced schema.
pub(super) type KeyList = [(String, Option<String>, Key)];

/// Builds a catalog table's rows at scan time.
pub(super) type Build = for<'a> fn(&'a SourceKeys, &'a dyn Session) -> BoxFuture<'a, DfResult<RecordBatch>>;

/// A catalog table made at scan time from what the sources declare: pg_constraint,
/// pg_index, pg_description.
#[derive(Debug)]
pub(super) struct KeyTable {
    pub keys: SourceKeys,
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

