//! A source catalog as DataFusion sees it: the table list is cached and refreshed on a
//! schedule or on a miss, so planning never costs a remote round trip per table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;

use super::error::{sqlstate, QueryError};
use super::snapshots::store::StoreRoot;
use super::snapshots::Snapshot;
use crate::config::snapshot::BeforeFirstLoad;
use crate::config::CatalogConfig;
use crate::connectors::{self, Comment, ConfiguredCatalog, Connector, ConnectorError, Key, TableSize};

/// Counts changes to what a table name resolves to (a re-listing, a snapshot's new
/// version): a plan kept across statements (`plan_cache`) holds only within one count.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Marks every kept plan as made from tables that may have changed.
pub fn tables_changed() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(3);
/// Catalog calls (listing, schema reads) that take longer mark the source unreachable.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server start waits for snapshots' first loads.
const FIRST_LOAD_WAIT: Duration = Duration::from_secs(10);

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
    source: Arc<dyn connectors::Source>,
    runtime: Arc<RuntimeEnv>,
    connector: RwLock<Option<Arc<dyn Connector>>>,
    status: RwLock<Status>,
    listing: RwLock<Listing>,
    /// When the latest refresh started; the lock also coalesces concurrent refreshes.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// Snapshotted tables by (schema, table), and where they are stored.
    snapshots: RwLock<BTreeMap<(String, String), Arc<Snapshot>>>,
    /// The store, this catalog, and whether this process refreshes (else it only reads).
    snapshot_store: std::sync::OnceLock<(StoreRoot, Weak<SourceCatalog>, bool)>,
    /// Refreshes reading at once: never more than the catalog's connections.
    refresh_slots: tokio::sync::Semaphore,
    /// The replica refreshes read (`refresh_url`), a catalog of its own.
    replica: Option<Arc<SourceCatalog>>,
}

impl std::fmt::Debug for SourceCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceCatalog({})", self.config.name)
    }
}

impl SourceCatalog {
    pub fn new(catalog: ConfiguredCatalog, runtime: Arc<RuntimeEnv>) -> Self {
        let ConfiguredCatalog { config, source, replica } = catalog;
        let replica = replica.map(|source| {
            let config = CatalogConfig { snapshots: Vec::new(), refresh_url: None, ..config.clone() };
            Arc::new(SourceCatalog::new(ConfiguredCatalog { config, source, replica: None }, runtime.clone()))
        });
        Self {
            runtime,
            connector: RwLock::new(None),
            status: RwLock::new(Status::Unavailable("not connected yet".into())),
            listing: RwLock::new(Listing::default()),
            last_refresh: tokio::sync::Mutex::new(None),
            snapshots: RwLock::new(BTreeMap::new()),
            snapshot_store: std::sync::OnceLock::new(),
            refresh_slots: tokio::sync::Semaphore::new(source.max_connections().max(1)),
            source,
            replica,
            config,
        }
    }

    /// Starts the catalog's snapshots, stored under `root`: each loads its stored version,
    /// then refreshes on its schedule. Tables a `schema.*` entry covers are found in the
    /// listing, and in the store while the source is down.
    pub async fn start_snapshots(self: &Arc<Self>, root: &StoreRoot, refresh: bool) -> Result<(), String> {
        if self.config.snapshots.is_empty() {
            return Ok(());
        }
        let _ = self.snapshot_store.set((root.clone(), Arc::downgrade(self), refresh));
        let mut stored: Vec<(String, String)> = Vec::new();
        for c in &self.config.snapshots {
            match &c.table {
                Some(t) => stored.push((c.schema.clone(), t.clone())),
                None => {
                    let prefix = root.folder(&[self.name(), c.schema.as_str()]);
                    if let Ok(list) = root.store().list_with_delimiter(Some(&prefix)).await {
                        for folder in list.common_prefixes {
                            if let Some(t) = folder.filename() {
                                stored.push((c.schema.clone(), t.to_string()));
                            }
                        }
                    }
                }
            }
        }
        self.resolve_snapshots(stored);
        let listed = self.listed_tables();
        self.resolve_snapshots(listed);
        // Stored versions serve from the first query on; first loads that end within
        // FIRST_LOAD_WAIT do too, larger ones go on while the server answers (55000).
        let loads = self.snapshots().into_iter().map(|s| async move { s.wait_loaded().await });
        let _ = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(loads)).await;
        if refresh {
            let settled = self.snapshots().into_iter().map(|s| async move { s.wait_settled().await });
            let _ = tokio::time::timeout(FIRST_LOAD_WAIT, futures::future::join_all(settled)).await;
        }
        Ok(())
    }

    fn listed_tables(&self) -> Vec<(String, String)> {
        let l = self.listing.read().unwrap();
        l.tables.iter().flat_map(|(s, ts)| ts.iter().map(move |t| (s.clone(), t.clone()))).collect()
    }

    /// Adds (and starts) a snapshot for each of `tables` a `[[snapshot]]` entry covers.
    fn resolve_snapshots(&self, tables: Vec<(String, String)>) {
        let Some((root, me, refresh)) = self.snapshot_store.get() else { return };
        for (schema, table) in tables {
            let Some(config) = self.config.snapshots.iter().find(|c| c.covers(&schema, &table)) else { continue };
            let key = (schema.clone(), table.clone());
            let mut snapshots = self.snapshots.write().unwrap();
            if snapshots.contains_key(&key) {
                continue;
            }
            let table_store = root.table(self.name(), &schema, &table);
            let snapshot = Arc::new(Snapshot::new(self.name(), &schema, &table, config.clone(), table_store));
            snapshots.insert(key, snapshot.clone());
            snapshot.spawn(me.clone(), *refresh);
        }
    }

    /// Every snapshot of this catalog.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.snapshots.read().unwrap().values().cloned().collect()
    }

    pub fn snapshot(&self, schema: &str, table: &str) -> Option<Arc<Snapshot>> {
        self.snapshots.read().unwrap().get(&(schema.to_string(), table.to_string())).cloned()
    }

    /// Where refreshes read: the replica (`refresh_url`), else the source.
    pub fn refresh_source(&self) -> &SourceCatalog {
        self.replica.as_deref().unwrap_or(self)
    }

    /// A turn to read the source for a refresh.
    pub async fn refresh_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.refresh_slots.acquire().await.ok()
    }

    /// The primary key's columns, as listed.
    pub fn primary_key(&self, schema: &str, table: &str) -> Option<Vec<String>> {
        let l = self.listing.read().unwrap();
        l.keys
            .iter()
            .find(|k| k.schema == schema && k.table == table && k.references.is_none())
            .map(|k| k.columns.clone())
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &CatalogConfig {
        &self.config
    }

    /// Where it reads, with no secret.
    pub fn describe(&self) -> String {
        self.source.describe()
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
            Ok(()) => {
                let listed = self.listed_tables();
                self.resolve_snapshots(listed);
                Status::Available
            }
            Err(e) => {
                tracing::warn!(catalog = self.name(), error = %e, "catalog unavailable");
                Status::Unavailable(e.to_string())
            }
        };
        *self.status.write().unwrap() = status.clone();
        tables_changed();
        status
    }

    async fn try_refresh(&self) -> Result<(), ConnectorError> {
        let connector = match self.connector() {
            Some(c) => c,
            None => {
                let c = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    self.source.connect(self.name(), &self.runtime),
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
        l.tables.get(schema).is_some_and(|t| t.contains(table)) || self.snapshot(schema, table).is_some()
    }

    fn has_schema(&self, schema: &str) -> bool {
        self.listing.read().unwrap().tables.contains_key(schema)
            || self.snapshots.read().unwrap().keys().any(|(s, _)| s == schema)
    }

    /// A snapshotted table's current version; else the source's table.
    async fn table(&self, schema: &str, table: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(snapshot) = self.snapshot(schema, table) {
            match snapshot.provider() {
                Some(p) => return Ok(Some(p)),
                None if snapshot.before_first_load() == BeforeFirstLoad::Source => {}
                None => {
                    return Err(DataFusionError::External(Box::new(QueryError::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        snapshot.not_loaded(),
                    ))))
                }
            }
        }
        self.live_table(schema, table).await
    }

    /// Whether the schema and the table exist, refreshing once on a miss.
    pub async fn lookup(&self, schema: &str, table: &str) -> (bool, bool) {
        if !self.has_table(schema, table) {
            self.refresh_on_miss().await;
        }
        (self.has_schema(schema), self.has_table(schema, table))
    }

    /// The source's own table, never a snapshot.
    pub async fn live_table(&self, schema: &str, table: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let key = (schema.to_string(), table.to_string());
        if let Some(p) = self.listing.read().unwrap().providers.get(&key) {
            return Ok(Some(p.clone()));
        }
        if !self.listing.read().unwrap().tables.get(schema).is_some_and(|t| t.contains(table)) {
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
        let mut names: BTreeSet<String> = self.0.listing.read().unwrap().tables.keys().cloned().collect();
        names.extend(self.0.snapshots.read().unwrap().keys().map(|(s, _)| s.clone()));
        names.into_iter().collect()
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
        let mut names: BTreeSet<String> = {
            let l = self.catalog.listing.read().unwrap();
            l.tables.get(&self.schema).cloned().unwrap_or_default()
        };
        names.extend(self.catalog.snapshots.read().unwrap().keys().filter(|(s, _)| *s == self.schema).map(|(_, t)| t.clone()));
        names.into_iter().collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.catalog.table(&self.schema, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.has_table(&self.schema, name)
    }
}
