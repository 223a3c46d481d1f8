//! How Postgres tools see fedsql: one database, `fedsql`, whose schemas are the source
//! schemas named `catalog.schema` (`crm.public`, `history.api`) next to `public`,
//! `pg_catalog` and `information_schema`.
//!
//! The names a tool shows are valid SQL as written: `crm.public.orgs` is a three-part
//! name, and the quoted form tools generate, `"crm.public"."orgs"`, resolves here to the
//! same table. pg_catalog (datafusion-pg-catalog's tables) and information_schema (ours,
//! PostgreSQL-shaped) list exactly these schemas.

mod comments;
mod constraints;
mod indexes;
mod information_schema;
mod keys;
mod oid_text;
mod pg_catalog;
mod sql_views;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider,
};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use datafusion_pg_catalog::setup_pg_catalog;

pub use information_schema::InformationSchema;
pub use oid_text::REGCLASS_NAME;

use crate::engine::{Access, DEFAULT_CATALOG};
use crate::engine::{SourceCatalog, SourceCatalogProvider};

/// Schemas of fedsql's own, kept in memory.
pub const OWN_SCHEMAS: [&str; 3] = ["public", "pg_catalog", "information_schema"];

/// fedsql's own schema (the audit table), left out of listings.
pub const HIDDEN_SCHEMA: &str = "fedsql";

/// The default catalog: fedsql's own schemas plus every source schema as `catalog.schema`.
#[derive(Debug)]
pub struct ToolCatalog {
    own: MemoryCatalogProvider,
    sources: Vec<Arc<SourceCatalog>>,
    /// What the session's user may read: nothing else is listed.
    access: Access,
}

impl ToolCatalog {
    pub fn new(sources: Vec<Arc<SourceCatalog>>, access: Access) -> Self {
        let sources = sources.into_iter().filter(|s| access.catalog(s.name())).collect();
        Self { own: MemoryCatalogProvider::new(), sources, access }
    }

    /// Whether a source table is listed for this session.
    pub fn visible(&self, catalog: &str, schema: &str, table: &str) -> bool {
        self.access.table(catalog, schema, table)
    }

    /// Splits `crm.public` into the source catalog and its schema name.
    fn source_schema(&self, name: &str) -> Option<(&Arc<SourceCatalog>, String)> {
        let (catalog, schema) = name.split_once('.')?;
        let source = self.sources.iter().find(|s| s.name() == catalog)?;
        Some((source, schema.to_string()))
    }

    /// Whether a source table is a view in its source; None for fedsql's own schemas.
    fn source_view(&self, schema: &str, table: &str) -> Option<bool> {
        let (source, schema) = self.source_schema(schema)?;
        Some(source.view_definition(&schema, table).is_some())
    }

    /// A source table's size, where its source tells it.
    pub fn table_size(&self, schema: &str, table: &str) -> Option<crate::connectors::TableSize> {
        let (source, schema) = self.source_schema(schema)?;
        source.size(&schema, table)
    }

    /// A source view's definition, as its source prints it.
    pub fn view_definition(&self, schema: &str, table: &str) -> Option<String> {
        let (source, schema) = self.source_schema(schema)?;
        source.view_definition(&schema, table).filter(|d| !d.is_empty())
    }

    /// The schemas tools browse, in order: fedsql's own, then each source's.
    pub fn schema_list(&self) -> Vec<String> {
        // fedsql's own record (`fedsql.queries`) is read by name, not browsed as data.
        let mut names: Vec<String> = self.own.schema_names().into_iter().filter(|n| n != HIDDEN_SCHEMA).collect();
        names.sort_by_key(|n| OWN_SCHEMAS.iter().position(|o| o == n).unwrap_or(usize::MAX));
        for source in &self.sources {
            let provider = SourceCatalogProvider(source.clone());
            names.extend(
                provider
                    .schema_names()
                    .into_iter()
                    .filter(|s| self.access.schema(source.name(), s))
                    .map(|s| format!("{}.{s}", source.name())),
            );
        }
        names
    }
}

impl CatalogProvider for ToolCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schema_list()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(own) = self.own.schema(name) {
            return Some(own);
        }
        let (source, schema) = self.source_schema(name)?;
        if !self.access.schema(source.name(), &schema) {
            return None;
        }
        let inner = SourceCatalogProvider(source.clone()).schema(&schema)?;
        Some(Arc::new(VisibleTables { inner, catalog: source.name().to_string(), schema, access: self.access.clone() }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        if name.contains('.') {
            return Err(DataFusionError::Plan(format!(
                "schema `{name}`: fedsql's own schema names cannot contain `.`"
            )));
        }
        self.own.register_schema(name, schema)
    }
}

/// A source schema as one session sees it: only the tables it may read.
#[derive(Debug)]
struct VisibleTables {
    inner: Arc<dyn SchemaProvider>,
    catalog: String,
    schema: String,
    access: Access,
}

#[async_trait]
impl SchemaProvider for VisibleTables {
    fn table_names(&self) -> Vec<String> {
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| self.access.table(&self.catalog, &self.schema, t))
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if !self.access.table(&self.catalog, &self.schema, name) {
            return Ok(None);
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.access.table(&self.catalog, &self.schema, name) && self.inner.table_exist(name)
    }
}

/// Installs the tool view on `ctx`: `public`, our information_schema, and
/// datafusion-pg-catalog's pg_catalog walking [`ToolView`] (its own setup walks every
/// catalog, which would list each source table twice), with the catalog functions that
/// read it.
pub fn install(ctx: &SessionContext, catalog: Arc<ToolCatalog>) -> DfResult<()> {
    let view = ToolView(catalog.clone());
    catalog.register_schema("public", Arc::new(MemorySchemaProvider::new()))?;
    catalog.register_schema("information_schema", Arc::new(InformationSchema::new(view.clone())))?;
    setup_pg_catalog(ctx, DEFAULT_CATALOG, EmptyContextProvider).map_err(|e| *e)?;
    let static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
    crate::pg::functions::register_static(ctx, &static_tables)?;
    let upstream: Arc<dyn SchemaProvider> =
        Arc::new(PgCatalogSchemaProvider::try_new(view.clone(), static_tables, EmptyContextProvider)?);
    let pg_catalog = pg_catalog::PgCatalogWithKeys { inner: upstream.clone(), view: view.clone() };
    catalog.register_schema("pg_catalog", Arc::new(pg_catalog))?;
    let oids = || keys::SourceKeys { view: view.clone(), catalog: upstream.clone() };
    for udf in oid_text::udfs(oids) {
        ctx.register_udf(udf);
    }
    ctx.register_udf(constraints::constraintdef_udf(view.clone()));
    ctx.register_udf(indexes::indexdef_udf(view));
    Ok(())
}

/// What pg_catalog walks: only the default catalog, so each table shows once.
#[derive(Debug, Clone)]
pub struct ToolView(pub Arc<ToolCatalog>);

impl ToolView {
    /// A table's provider, or None when it is gone or its source is unreachable: one
    /// broken source must not break every tool's schema browser.
    pub async fn table(&self, schema: &str, table: &str) -> Option<Arc<dyn TableProvider>> {
        let provider = self.0.schema(schema)?;
        match provider.table(table).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(schema, table, error = %e, "table left out of the catalog listing");
                None
            }
        }
    }
}

impl ToolView {
    /// A listed table's type: a source's views are views, whatever their provider says.
    pub fn kind(&self, schema: &str, table: &str, provider: &Arc<dyn TableProvider>) -> TableType {
        match self.0.source_view(schema, table) {
            Some(true) => TableType::View,
            _ => provider.table_type(),
        }
    }
}

#[async_trait]
impl CatalogInfo for ToolView {
    async fn catalog_names(&self) -> DfResult<Vec<String>> {
        Ok(vec![DEFAULT_CATALOG.to_string()])
    }

    async fn schema_names(&self, catalog: &str) -> DfResult<Option<Vec<String>>> {
        Ok((catalog == DEFAULT_CATALOG).then(|| self.0.schema_list()))
    }

    async fn table_names(&self, catalog: &str, schema: &str) -> DfResult<Option<Vec<String>>> {
        if catalog != DEFAULT_CATALOG {
            return Ok(None);
        }
        Ok(self.0.schema(schema).map(|s| {
            let mut names = s.table_names();
            names.sort();
            names
        }))
    }

    async fn table_schema(&self, catalog: &str, schema: &str, table: &str) -> DfResult<Option<SchemaRef>> {
        if catalog != DEFAULT_CATALOG {
            return Ok(None);
        }
        Ok(self.table(schema, table).await.map(|t| t.schema()))
    }

    async fn table_type(&self, catalog: &str, schema: &str, table: &str) -> DfResult<Option<TableType>> {
        if catalog != DEFAULT_CATALOG {
            return Ok(None);
        }
        Ok(self.table(schema, table).await.map(|t| self.kind(schema, table, &t)))
    }
}
