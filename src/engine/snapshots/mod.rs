//! Snapshots: source tables kept as local Parquet, refreshed on a schedule, so queries on
//! them never reach the source (`[[snapshot]]` in a catalog file).
//!
//! A query on a snapshotted table reads the current version only. Before the first load
//! ends it fails with 55000 naming the table and the load's progress (unless the catalog
//! says `before_first_load = "source"`): a dashboard that waited would hold its
//! connection for as long as the load takes, and one that fell through would put the very
//! load the snapshot exists to avoid on the primary.

mod refresh;
mod status;
pub mod store;

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
// Deprecated in parquet 59 in favour of a hand-written AsyncFileReader; still the
// reader DataFusion itself is built on.
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::ParquetObjectReader;
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;

pub use refresh::Progress;
pub use status::snapshots_table;
use store::{now_micros, Manifest, TableStore};

use super::catalog::SourceCatalog;
use crate::config::snapshot::{BeforeFirstLoad, RefreshMode, Schedule, SnapshotConfig};

/// What the last refresh did.
#[derive(Debug, Clone, Default)]
pub struct LastRefresh {
    pub at: Option<SystemTime>,
    pub rows_read: u64,
    pub statements: u64,
    pub full: bool,
    pub took: Duration,
    pub error: Option<String>,
}

#[derive(Default)]
struct State {
    current: Option<(Manifest, Arc<dyn TableProvider>)>,
    /// Kept on disk until the next version: queries planned on it may still read it.
    previous: Option<Manifest>,
    last: LastRefresh,
    next: Option<SystemTime>,
    running: bool,
}

pub struct Snapshot {
    pub catalog: String,
    pub schema: String,
    pub table: String,
    pub config: SnapshotConfig,
    store: TableStore,
    state: RwLock<State>,
    pub progress: Progress,
    /// One refresh at a time (the schedule and REFRESH SNAPSHOT).
    refreshing: tokio::sync::Mutex<()>,
    /// Set once the stored version is loaded (or known to be missing).
    loaded: tokio::sync::watch::Sender<bool>,
    /// Set once a version serves or the first load has failed.
    settled: tokio::sync::watch::Sender<bool>,
}

/// A snapshot's state as `fedsql.snapshots` shows it.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub mode: RefreshMode,
    pub state: &'static str,
    pub version: Option<u64>,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub refreshed_at: Option<i64>,
    pub next: Option<SystemTime>,
    pub last: LastRefresh,
    /// Rows and bytes the running refresh has read and written so far.
    pub reading: Option<(u64, u64)>,
}

impl Snapshot {
    pub fn new(catalog: &str, schema: &str, table: &str, config: SnapshotConfig, store: TableStore) -> Self {
        Snapshot {
            catalog: catalog.into(),
            schema: schema.into(),
            table: table.into(),
            config,
            store,
            state: RwLock::new(State::default()),
            progress: Progress::default(),
            refreshing: tokio::sync::Mutex::new(()),
            loaded: tokio::sync::watch::Sender::new(false),
            settled: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Waits until a version serves or the first load has failed.
    pub async fn wait_settled(&self) {
        let _ = self.settled.subscribe().wait_for(|done| *done).await;
    }

    /// Waits until the stored version is loaded (or known to be missing).
    pub async fn wait_loaded(&self) {
        let _ = self.loaded.subscribe().wait_for(|done| *done).await;
    }

    pub fn name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.table)
    }

    /// The current version, for a query.
    pub fn provider(&self) -> Option<Arc<dyn TableProvider>> {
        self.state.read().unwrap().current.as_ref().map(|(_, p)| p.clone())
    }

    pub fn before_first_load(&self) -> BeforeFirstLoad {
        self.config.before_first_load
    }

    /// Why a query can't read this snapshot yet.
    pub fn not_loaded(&self) -> String {
        let state = self.state.read().unwrap();
        let progress = if state.running {
            format!(
                "the first load has read {} rows ({}) so far",
                self.progress.rows.load(Ordering::Relaxed),
                bytesize::ByteSize(self.progress.bytes.load(Ordering::Relaxed))
            )
        } else {
            match &state.last.error {
                Some(e) => format!("the first load failed: {e}"),
                None => "the first load has not started yet".into(),
            }
        };
        format!(
            "snapshot of {} is not loaded yet: {progress}; queries on it answer once it ends (before_first_load = \"source\" reads the source until then)",
            self.name()
        )
    }

    pub fn report(&self) -> Report {
        let state = self.state.read().unwrap();
        let manifest = state.current.as_ref().map(|(m, _)| m);
        Report {
            name: self.name(),
            mode: self.config.refresh,
            state: match (manifest.is_some(), state.running, state.last.error.is_some()) {
                (false, true, _) => "loading",
                (false, false, true) => "failed",
                (false, false, false) => "waiting",
                (true, true, _) => "refreshing",
                (true, false, true) => "stale",
                (true, false, false) => "ready",
            },
            version: manifest.map(|m| m.version),
            rows: manifest.map(Manifest::rows),
            bytes: manifest.map(Manifest::bytes),
            refreshed_at: manifest.map(|m| m.refreshed_at),
            next: state.next,
            last: state.last.clone(),
            reading: state.running.then(|| (self.progress.rows.load(Ordering::Relaxed), self.progress.bytes.load(Ordering::Relaxed))),
        }
    }

    #[allow(deprecated)]
    async fn provider_for(&self, manifest: &Manifest) -> Result<Arc<dyn TableProvider>, String> {
        let first = manifest.files.first().ok_or("a version without files")?;
        // The schema as written, with each column's declared type.
        let reader = ParquetObjectReader::new(self.store.store.clone(), self.store.file_path(&first.path));
        let schema = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(|e| e.to_string())?.schema().clone();
        let urls = manifest
            .files
            .iter()
            .map(|f| ListingTableUrl::parse(self.store.file_url(&f.path)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config).map_err(|e| e.to_string())?))
    }

    /// Serves the stored version, if there is one; says how it went.
    async fn load(&self) -> String {
        match self.store.manifest().await {
            Ok(Some(manifest)) => match self.provider_for(&manifest).await {
                Ok(provider) => {
                    let age = Duration::from_micros((now_micros() - manifest.refreshed_at).max(0) as u64);
                    let said = format!(
                        "serving stored version {} ({} rows, {}, refreshed {} ago)",
                        manifest.version,
                        manifest.rows(),
                        bytesize::ByteSize(manifest.bytes()),
                        humantime::format_duration(Duration::from_secs(age.as_secs()))
                    );
                    self.state.write().unwrap().current = Some((manifest, provider));
                    super::catalog::tables_changed();
                    said
                }
                Err(e) => format!("stored version {} unreadable ({e}); loading again", manifest.version),
            },
            Ok(None) => "no stored version; the first load starts now".into(),
            Err(e) => format!("store unreadable ({e}); loading again"),
        }
    }

    /// Reads the source and publishes a new version. The old one serves until then, and
    /// keeps serving if this fails.
    pub async fn refresh(&self, catalog: &SourceCatalog) -> Result<LastRefresh, String> {
        let _one = self.refreshing.lock().await;
        let started = std::time::Instant::now();
        self.progress.rows.store(0, Ordering::Relaxed);
        self.progress.bytes.store(0, Ordering::Relaxed);
        self.state.write().unwrap().running = true;
        let result = self.try_refresh(catalog).await;
        let (last, keep) = {
            let mut state = self.state.write().unwrap();
            state.running = false;
            let last = match result {
                Ok((manifest, provider, rows_read, statements, full)) => {
                    let replaced = state.current.replace((manifest, provider)).map(|(m, _)| m);
                    state.previous = replaced;
                    LastRefresh { at: Some(SystemTime::now()), rows_read, statements, full, took: started.elapsed(), error: None }
                }
                Err(e) => LastRefresh { at: Some(SystemTime::now()), took: started.elapsed(), error: Some(e), ..state.last.clone() },
            };
            state.last = last.clone();
            super::catalog::tables_changed();
            self.settled.send_replace(true);
            let keep: Vec<Manifest> = state.current.iter().map(|(m, _)| m.clone()).chain(state.previous.clone()).collect();
            (last, keep)
        };
        if let Err(e) = self.store.collect_garbage(&keep.iter().collect::<Vec<_>>()).await {
            tracing::warn!(snapshot = %self.name(), error = %e, "old snapshot files not removed");
        }
        match &last.error {
            None => {
                tracing::info!(snapshot = %self.name(), rows_read = last.rows_read, statements = last.statements, full = last.full, took = ?last.took, "snapshot refreshed");
                Ok(last)
            }
            Some(e) => {
                tracing::warn!(snapshot = %self.name(), error = %e, "snapshot refresh failed; the previous version still serves");
                Err(e.clone())
            }
        }
    }

    async fn try_refresh(&self, catalog: &SourceCatalog) -> Result<(Manifest, Arc<dyn TableProvider>, u64, u64, bool), String> {
        let reads = catalog.refresh_source();
        let live = || async { reads.live_table(&self.schema, &self.table).await.map_err(|e| super::error::classify(&e).message) };
        let source = match live().await? {
            Some(s) => s,
            // Not listed yet (the source was down when it last listed its tables).
            None => {
                if let super::Status::Unavailable(reason) = reads.refresh().await {
                    return Err(reason);
                }
                live().await?.ok_or_else(|| format!("{} is not a table of the source", self.name()))?
            }
        };
        let reader = crate::connectors::source_reader(&source)
            .ok_or_else(|| format!("{}: this catalog's tables are files already; a snapshot is for database sources", self.name()))?;
        let key = refresh::key_of(self.config.key.as_ref(), reads.primary_key(&self.schema, &self.table), &self.name())?;
        let previous = self.state.read().unwrap().current.as_ref().map(|(m, _)| m.clone());
        let _slot = catalog.refresh_slot().await;
        let outcome = refresh::Refresh {
            reader,
            key,
            config: &self.config,
            store: &self.store,
            previous: previous.as_ref(),
            progress: &self.progress,
        }
        .run()
        .await
        .map_err(|e| format!("{}: {e}", self.name()))?;
        let provider = self.provider_for(&outcome.manifest).await?;
        self.store.publish(&outcome.manifest).await?;
        Ok((outcome.manifest, provider, outcome.rows_read, outcome.statements, outcome.full))
    }

    /// When the next scheduled refresh is due, after one that ended at `last` (ok or not).
    fn next_after(&self, ok: bool) -> SystemTime {
        let now = SystemTime::now();
        let jitter = |max: Duration| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write(self.name().as_bytes());
            max.mul_f64((h.finish() % 1000) as f64 / 1000.0)
        };
        match &self.config.schedule {
            Schedule::Every(every) if !ok => now + (*every).min(Duration::from_secs(60)),
            Schedule::Every(every) => now + *every + jitter((*every / 10).min(Duration::from_secs(30))),
            Schedule::Cron { expression, time_zone } => {
                let next = croner::parser::CronParser::new()
                    .parse(expression)
                    .ok()
                    .and_then(|c| c.find_next_occurrence(&chrono::Utc::now().with_timezone(time_zone), false).ok())
                    .map(|t| SystemTime::UNIX_EPOCH + Duration::from_micros(t.timestamp_micros().max(0) as u64));
                let next = next.unwrap_or(now + Duration::from_secs(3600));
                if ok { next + jitter(Duration::from_secs(5)) } else { next.min(now + Duration::from_secs(60)) }
            }
        }
    }

    /// Loads the stored version, then (with `refresh`) refreshes on the schedule until the
    /// catalog is gone.
    pub fn spawn(self: Arc<Self>, catalog: Weak<SourceCatalog>, refresh: bool) {
        tokio::spawn(async move {
            let said = self.load().await;
            tracing::info!(snapshot = %self.name(), "{said}");
            self.loaded.send_replace(true);
            if self.provider().is_some() {
                self.settled.send_replace(true);
            }
            if !refresh {
                return;
            }
            {
                let _one = self.refreshing.lock().await;
                let keep: Vec<Manifest> = self.state.read().unwrap().current.iter().map(|(m, _)| m.clone()).collect();
                if let Err(e) = self.store.collect_garbage(&keep.iter().collect::<Vec<_>>()).await {
                    tracing::warn!(snapshot = %self.name(), error = %e, "abandoned snapshot files not removed");
                }
            }
            let mut next = match &self.state.read().unwrap().current {
                None => SystemTime::now(),
                Some((m, _)) => {
                    let refreshed = SystemTime::UNIX_EPOCH + Duration::from_micros(m.refreshed_at.max(0) as u64);
                    match &self.config.schedule {
                        Schedule::Every(every) => refreshed + *every,
                        Schedule::Cron { .. } => self.next_after(true),
                    }
                }
            };
            loop {
                self.state.write().unwrap().next = Some(next);
                if let Ok(wait) = next.duration_since(SystemTime::now()) {
                    tokio::time::sleep(wait).await;
                }
                let Some(catalog) = catalog.upgrade() else { return };
                let ok = self.refresh(&catalog).await.is_ok();
                drop(catalog);
                next = self.next_after(ok);
            }
        });
    }
}
