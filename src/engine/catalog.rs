//! A source catalog as DataFusion sees it: the table list is cached and refreshed on a
//! schedule or on a miss, so planning never costs a remote round trip per table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;

use crate::config::CatalogConfig;
use crate::connectors::{self, Comment, Connector, ConnectorError, Key, TableSize};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(3);
/// Catalog calls (listing, schema reads) that take longer mark the source unreachable.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Available,
    Unavailable(String),
}

#[derive(Default)]
struct Listing {
    tables: BTreeMap<String, BTreeSet<String>>,
    /// Views and their definitions.
    views: BTreeMap<(String, String), String>,
    keys: Vec<Key>,
    comments: Vec<Comment>,
    sizes: HashMap<(String, String), TableSize>,
    providers: HashMap<(String, String), Arc<dyn TableProvider>>,
}

pub struct SourceCatalog {
    config: CatalogConfig,
    runtime: Arc<RuntimeEnv>,
    connector: RwLock<Option<Arc<dyn Connector>>>,
    status: RwLock<Status>,
    listing: RwLock<Listing>,
    /// When the latest refresh started; the lock also coalesces concurrent refreshes.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SourceCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceCatalog({})", self.config.name)
    }
}

impl SourceCatalog {
    pub fn new(config: CatalogConfig, runtime: Arc<RuntimeEnv>) -> Self {
        Self {
            config,
            runtime,
            connector: RwLock::new(None),
            status: RwLock::new(Status::Unavailable("not connected yet".into())),
            listing: RwLock::new(Listing::default()),
            last_refresh: tokio::sync::Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &CatalogConfig {
        &self.config
    }

    pub fn status(&self) -> Status {
        self.status.read().unwrap().clone()
    }

    pub fn counts(&self) -> (usize, usize) {
        let l = self.listing.read().unwrap();
        (l.tables.len(), l.tables.values().map(BTreeSet::len).sum())
    }

    fn connector(&self) -> Option<Arc<dyn Connector>> {
        self.connector.read().unwrap().clone()
    }

    /// Connects if needed and re-lists tables. Failures mark the catalog unavailable.
    pub async fn refresh(&self) -> Status {
        let mut last = self.last_refresh.lock().await;
        *last = Some(Instant::now());
        let result = self.try_refresh().await;
        let status = match result {
            Ok(()) => Status::Available,
            Err(e) => {
                tracing::warn!(catalog = self.name(), error = %e, "catalog unavailable");
                Status::Unavailable(e.to_string())
            }
        };
        *self.status.write().unwrap() = status.clone();
        status
    }

    async fn try_refresh(&self) -> Result<(), ConnectorError> {
        let connector = match self.connector() {
            Some(c) => c,
            None => {
                let c = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    connectors::connect(&self.config, &self.runtime),
                )
                .await
                .map_err(|_| ConnectorError::Unreachable {
                    catalog: self.name().to_string(),
                    message: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
                })??;
                *self.connector.write().unwrap() = Some(c.clone());
                c
            }
        };
        let entries = tokio::time::timeout(SOURCE_TIMEOUT, connector.list_tables())
            .await
            .map_err(|_| ConnectorError::Unreachable {
                catalog: self.name().to_string(),
                message: format!("listing tables took over {}s", SOURCE_TIMEOUT.as_secs()),
            })??;
        let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut views = BTreeMap::new();
        for e in entries {
            if let Some(definition) = e.view {
                views.insert((e.schema.clone(), e.table.clone()), definition);
            }
            tables.entry(e.schema).or_default().insert(e.table);
        }
        let keys = self.decoration("keys", connector.list_keys()).await;
        let comments = self.decoration("comments", connector.list_comments()).await;
        let sizes = self.decoration("sizes", connector.list_sizes()).await;
        let listed = |schema: &String, table: &String| tables.get(schema).is_some_and(|t| t.contains(table));
        let mut listing = self.listing.write().unwrap();
        listing.keys = keys.into_iter().filter(|k| listed(&k.schema, &k.table)).collect();
        listing.comments = comments.into_iter().filter(|c| listed(&c.schema, &c.table)).collect();
        listing.views = views;
        listing.sizes = sizes.into_iter().map(|(s, t, size)| ((s, t), size)).collect();
        listing.tables = tables;
        // Schemas may have changed: providers are rebuilt on next use.
        listing.providers.clear();
        Ok(())
    }

    /// Keys and comments only decorate the listing: without them tools still browse and
    /// query, so a failure to read them is logged, not fatal.
    async fn decoration<T>(
        &self,
        what: &str,
        read: impl std::future::Future<Output = Result<Vec<T>, ConnectorError>>,
    ) -> Vec<T> {
        match tokio::time::timeout(SOURCE_TIMEOUT, read).await {
            Ok(Ok(items)) => items,
            Ok(Err(e)) => {
                tracing::warn!(catalog = self.name(), error = %e, "{what} not listed");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(catalog = self.name(), "{what} not listed within {}s", SOURCE_TIMEOUT.as_secs());
                Vec::new()
            }
        }
    }

    /// Refreshes after a miss, unless a refresh started after the miss (concurrent misses
    /// share one listing).
    async fn refresh_on_miss(&self) {
        let missed_at = Instant::now();
        let covered = {
            let last = self.last_refresh.lock().await;
            last.is_some_and(|t| t > missed_at)
        };
        if !covered {
            self.refresh().await;
        }
    }

    /// The primary and foreign keys of the listed tables.
    pub fn keys(&self) -> Vec<Key> {
        self.listing.read().unwrap().keys.clone()
    }

    /// Comments on the listed tables and their columns.
    pub fn comments(&self) -> Vec<Comment> {
        self.listing.read().unwrap().comments.clone()
    }

    /// A table's size at the source, as of the latest refresh.
    pub fn size(&self, schema: &str, table: &str) -> Option<TableSize> {
        self.listing.read().unwrap().sizes.get(&(schema.to_string(), table.to_string())).copied()
    }

    /// For a view in the source, its definition (empty if the source does not say).
    pub fn view_definition(&self, schema: &str, table: &str) -> Option<String> {
        self.listing.read().unwrap().views.get(&(schema.to_string(), table.to_string())).cloned()
    }

    fn has_table(&self, schema: &str, table: &str) -> bool {
        let l = self.listing.read().unwrap();
        l.tables.get(schema).is_some_and(|t| t.contains(table))
    }

    fn has_schema(&self, schema: &str) -> bool {
        self.listing.read().unwrap().tables.contains_key(schema)
    }

    /// Whether the schema and the table exist, refreshing once on a miss.
    pub async fn lookup(&self, schema: &str, table: &str) -> (bool, bool) {
        if !self.has_table(schema, table) {
            self.refresh_on_miss().await;
        }
        (self.has_schema(schema), self.has_table(schema, table))
    }

    async fn table(&self, schema: &str, table: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let key = (schema.to_string(), table.to_string());
        if let Some(p) = self.listing.read().unwrap().providers.get(&key) {
            return Ok(Some(p.clone()));
        }
        if !self.has_table(schema, table) {
            return Ok(None);
        }
        let Some(connector) = self.connector() else {
            return Err(DataFusionError::External(Box::new(
                ConnectorError::Unreachable {
                    catalog: self.name().to_string(),
                    message: "not connected".into(),
                },
            )));
        };
        let provider = tokio::time::timeout(SOURCE_TIMEOUT, connector.table_provider(schema, table))
            .await
            .map_err(|_| ConnectorError::Unreachable {
                catalog: self.name().to_string(),
                message: format!("reading {schema}.{table} took over {}s", SOURCE_TIMEOUT.as_secs()),
            })
            .and_then(|r| r)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.listing
            .write()
            .unwrap()
            .providers
            .insert(key, provider.clone());
        Ok(Some(provider))
    }

    /// Refreshes on the catalog's schedule until the process ends; an unavailable
    /// catalog retries sooner, so a source that comes back is seen within seconds.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = Duration::from_secs(self.config.refresh_secs.max(1));
        tokio::spawn(async move {
            loop {
                let wait = match weak.upgrade().map(|c| c.status()) {
                    None => return,
                    Some(Status::Available) => every,
                    Some(Status::Unavailable(_)) => every.min(UNAVAILABLE_RETRY),
                };
                tokio::time::sleep(wait).await;
                let Some(catalog) = weak.upgrade() else { return };
                catalog.refresh().await;
            }
        });
    }
}

/// What DataFusion holds: a shared handle, so schema providers can keep their catalog.
#[derive(Debug)]
pub struct SourceCatalogProvider(pub Arc<SourceCatalog>);

impl CatalogProvider for SourceCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        self.0.listing.read().unwrap().tables.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.0.has_schema(name).then(|| {
            Arc::new(SourceSchema {
                catalog: self.0.clone(),
                schema: name.to_string(),
            }) as Arc<dyn SchemaProvider>
        })
    }
}

#[derive(Debug)]
struct SourceSchema {
    catalog: Arc<SourceCatalog>,
    schema: String,
}

#[async_trait]
impl SchemaProvider for SourceSchema {
    fn table_names(&self) -> Vec<String> {
        let l = self.catalog.listing.read().unwrap();
        l.tables
            .get(&self.schema)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.catalog.table(&self.schema, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.has_table(&self.schema, name)
    }
}
