//! Comments sources keep on tables and columns, where PostgreSQL tools read them:
//! `pg_description` (pgjdbc's REMARKS, DBeaver, Metabase's table descriptions),
//! `obj_description(oid, 'pg_class')` and `col_description(oid, attnum)` (psql's `\dt+`
//! and `\d+`, SQLAlchemy, Metabase's field comments).
//!

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{internal_datafusion_err, Result as DfResult};
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;

use super::keys::SourceKeys;

/// `(table oid, column number or 0) -> comment` for every comment sources keep.
async fn described(keys: &SourceKeys, state: &dyn Session) -> DfResult<HashMap<(i32, i32), String>> {
    let mut comments = Vec::new();
    for source in &keys.view.0.sources {
        for c in source.comments() {
            comments.push((format!("{}.{}", source.name(), c.schema), c));
        }
    }
    if comments.is_empty() {
        return Ok(HashMap::new());
    }
    let mut schemas: Vec<&str> = comments.iter().map(|(s, _)| s.as_str()).collect();
    schemas.sort();
    schemas.dedup();
    let oids = keys.oids(state, &schemas).await?;
    let mut out = HashMap::new();
    for (schema, c) in &comments {
        let Some(&(table, _)) = oids.get(&(schema.clone(), c.table.clone())) else { continue };
        let number = match &c.column {
            None => 0,
            Some(column) => {
                let Some(provider) = keys.view.table(schema, &c.table).await else { continue };
                let Ok(i) = provider.schema().index_of(column) else { continue };
                i as i32 + 1
            }
        };
        out.insert((table, number), c.text.clone());
    }
    Ok(out)
}

pub(super) fn description_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("objoid", DataType::Int32, false),
        Field::new("classoid", DataType::Int32, false),
        Field::new("objsubid", DataType::Int32, false),
        Field::new("description", DataType::Utf8, true),
    ]))
}

/// pg_description's rows: one per source comment, then datafusion-pg-catalog's own
/// (PostgreSQL's descriptions of its functions and types, for `\df+` and the like).
pub(super) fn description_batch<'a>(
    keys: &'a SourceKeys,
    state: &'a dyn Session,
) -> BoxFuture<'a, DfResult<RecordBatch>> {
    Box::pin(async move {
        let mut rows: Vec<_> = described(keys, state).await?.into_iter().collect();
        rows.sort();
        // `classoid`: pg_class's own OID here (`'pg_class'::regclass`), not PostgreSQL's 1259.
        let pg_class = match rows.is_empty() {
            true => 0,
            false => keys.oids(state, &["pg_catalog"]).await?.get(&("pg_catalog".into(), "pg_class".into())).map_or(0, |o| o.0),
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(rows.iter().map(|((t, _), _)| *t).collect::<Int32Array>()),
            Arc::new(Int32Array::from(vec![pg_class; rows.len()])),
            Arc::new(rows.iter().map(|((_, n), _)| *n).collect::<Int32Array>()),
            Arc::new(rows.iter().map(|(_, d)| Some(d.as_str())).collect::<StringArray>()),
        ];
        let schema = description_schema();
        let mut batches = vec![RecordBatch::try_new(schema.clone(), columns)?];
        if let Some(upstream) = keys.catalog.table("pg_description").await? {
            let plan = upstream.scan(state, None, &[], None).await?;
            for batch in datafusion::physical_plan::collect(plan, state.task_ctx()).await? {
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| Ok(cast(batch.column_by_name(f.name()).ok_or_else(|| {
                        internal_datafusion_err!("pg_description has no {}", f.name())
                    })?, f.data_type())?))
                    .collect::<DfResult<Vec<_>>>()?;
                batches.push(RecordBatch::try_new(schema.clone(), columns)?);
            }
        }
        Ok(concat_batches(&schema, &batches)?)
    })
}

/// `obj_description(oid[, catalog])` (`col_description(oid, column)` with `column`):
/// the comment on a table or a column.
pub(super) fn description<'a>(
    keys: &'a SourceKeys,
    args: &'a [ArrayRef],
    column: bool,
) -> BoxFuture<'a, DfResult<ArrayRef>> {
    Box::pin(async move {
        let state = SessionContext::new().state();
        let described = described(keys, &state).await?;
        let oids = cast(&args[0], &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        let second = args.get(1).map(|a| cast(a, if column { &DataType::Int32 } else { &DataType::Utf8 })).transpose()?;
        let texts: StringArray = (0..oids.len())
            .map(|i| {
                let oid = oids.is_valid(i).then(|| oids.value(i))?;
                let number = match &second {
                    None => 0,
                    Some(n) if column => {
                        let n = n.as_primitive::<Int32Type>();
                        n.is_valid(i).then(|| n.value(i))?
                    }
                    // obj_description's catalog: only pg_class objects have comments here.
                    Some(catalog) => {
                        let catalog = catalog.as_string::<i32>();
                        (catalog.is_valid(i) && catalog.value(i) == "pg_class").then_some(0)?
                    }
                };
                described.get(&(oid, number)).cloned()
            })
            .collect();
        Ok(Arc::new(texts) as ArrayRef)
    })
}
