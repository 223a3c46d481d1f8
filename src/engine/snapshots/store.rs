//! Where snapshots live: `<root>/<catalog>/<schema>/<table>/`, the root a local folder or
//! `s3://bucket/prefix/`, holding Parquet files under
//! one folder per version (`v000007/part-000000.parquet`) and `manifest.toml`, which names
//! the files of the current version. A refresh writes its files first and the manifest
//! last, in one atomic put (a rename on a local disk, a single PUT on S3): readers see the
//! old version or the new one, never a part of one. Files nothing names are removed.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use object_store::buffered::BufWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::execution::runtime_env::RuntimeEnv;

use crate::config::S3Config;
use serde::{Deserialize, Serialize};

/// Rows per Parquet file: files are the unit of reuse between versions and of parallel scans.
const ROWS_PER_FILE: usize = 1_000_000;
/// Rows per row group: the unit of statistics and pruning.
const ROWS_PER_GROUP: usize = 128 * 1024;
/// Rows per data page at most: a lookup by key reads the one page the page index names.
const ROWS_PER_PAGE: usize = 8 * 1024;
/// A dictionary larger than this falls back to plain pages (parquet's default: 1 MB).
const DICTIONARY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the table's folder.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// The current version of one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub version: u64,
    pub files: Vec<FileEntry>,
    /// Microseconds since the epoch.
    pub refreshed_at: i64,
    /// When the last full refresh ended.
    pub full_at: i64,
    /// The greatest cursor value read (append), in the cursor column's own units.
    pub cursor_max: Option<i64>,
}

impl Manifest {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// The snapshot store: a local folder or an S3 prefix.
#[derive(Debug, Clone)]
pub struct StoreRoot {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// `prefix` as a URL DataFusion reads, without a trailing '/'.
    url: String,
}

impl StoreRoot {
    /// Opens `location` (a folder, `file:///path` or `s3://bucket/prefix/`), creating a
    /// folder; S3 stores are registered with `runtime` so that scans find them.
    pub fn open(location: &str, s3: &S3Config, runtime: &RuntimeEnv) -> Result<StoreRoot, String> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("snapshots: `{location}` names no bucket"));
            }
            let store = crate::connectors::s3_store(bucket, s3).map_err(|e| format!("snapshots: {location}: {e}"))?;
            let bucket_url = url::Url::parse(&format!("s3://{bucket}")).map_err(|e| format!("snapshots: {location}: {e}"))?;
            runtime.register_object_store(&bucket_url, store.clone());
            let prefix = Path::from(prefix.trim_matches('/'));
            let url = if prefix.as_ref().is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
            return Ok(StoreRoot { store, prefix, url });
        }
        let folder = std::path::PathBuf::from(location.strip_prefix("file://").unwrap_or(location));
        std::fs::create_dir_all(&folder).map_err(|e| format!("snapshots: cannot create {}: {e}", folder.display()))?;
        let folder = folder.canonicalize().map_err(|e| format!("snapshots: {}: {e}", folder.display()))?;
        let store = LocalFileSystem::new_with_prefix(&folder).map_err(|e| format!("snapshots: {e}"))?;
        Ok(StoreRoot { store: Arc::new(store), prefix: Path::default(), url: format!("file://{}", folder.display()) })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The folder of `parts` (catalog, schema[, table]) under the root.
    pub fn folder(&self, parts: &[&str]) -> Path {
        parts.iter().fold(self.prefix.clone(), |p, part| p.join(*part))
    }

    pub fn table(&self, catalog: &str, schema: &str, table: &str) -> TableStore {
        TableStore {
            store: self.store.clone(),
            prefix: self.folder(&[catalog, schema, table]),
            url: format!("{}/{catalog}/{schema}/{table}", self.url),
        }
    }
}

/// One table's folder in the store.
#[derive(Debug, Clone)]
pub struct TableStore {
    pub store: Arc<dyn ObjectStore>,
    /// The table's folder.
    pub prefix: Path,
    /// The folder as a URL DataFusion reads (`file:///...`, `s3://...`).
    pub url: String,
}

pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

impl TableStore {
    fn manifest_path(&self) -> Path {
        self.prefix.clone().join("manifest.toml")
    }

    pub fn file_path(&self, relative: &str) -> Path {
        relative.split('/').fold(self.prefix.clone(), |p, part| p.join(part))
    }

    pub fn file_url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.url.trim_end_matches('/'))
    }

    pub async fn manifest(&self) -> Result<Option<Manifest>, String> {
        match self.store.get(&self.manifest_path()).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(|e| e.to_string())?;
                let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
                toml::from_str(text).map(Some).map_err(|e| format!("{}: {e}", self.manifest_path()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Makes `manifest` the current version, in one atomic put.
    pub async fn publish(&self, manifest: &Manifest) -> Result<(), String> {
        let text = toml::to_string(manifest).map_err(|e| e.to_string())?;
        self.store
            .put(&self.manifest_path(), PutPayload::from(text.into_bytes()))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Removes every file but the manifest that no manifest of `keep` names: files of
    /// versions no longer current, and of a refresh that never ended (a crash), staging
    /// files of unfinished uploads included. Runs while no refresh of the table does.
    pub async fn collect_garbage(&self, keep: &[&Manifest]) -> Result<usize, String> {
        let named: BTreeSet<String> = keep.iter().flat_map(|m| m.files.iter().map(|f| f.path.clone())).collect();
        let listed: Vec<_> = self.store.list(Some(&self.prefix)).try_collect().await.map_err(|e| e.to_string())?;
        let mut removed = 0;
        for meta in listed {
            let Some(relative) = meta.location.prefix_match(&self.prefix) else { continue };
            let relative = relative.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/");
            if relative != "manifest.toml" && !named.contains(&relative) {
                self.store.delete(&meta.location).await.map_err(|e| e.to_string())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Streams batches into Parquet files of one version folder, a new file every
/// `ROWS_PER_FILE` rows; memory is one row group per column.
pub struct PartWriter {
    table: TableStore,
    folder: String,
    stem: &'static str,
    schema: SchemaRef,
    /// The snapshot's key columns: written without a dictionary.
    key: Vec<String>,
    current: Option<(String, AsyncArrowWriter<BufWriter>, u64)>,
    pub files: Vec<FileEntry>,
}

impl PartWriter {
    pub fn new(table: &TableStore, version: u64, stem: &'static str, schema: SchemaRef, key: &[String]) -> Self {
        let folder = format!("v{version:06}");
        PartWriter { table: table.clone(), folder, stem, schema, key: key.to_vec(), current: None, files: Vec::new() }
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum::<u64>()
            + self.current.as_ref().map_or(0, |c| c.1.bytes_written() as u64)
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                // Numbered across writers: one version may hold several writers' files.
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let relative = format!("{}/{}-{n:06}.parquet", self.folder, self.stem);
                // A dictionary page is decoded whole for any row of its group: a key column
                // (every value distinct) is written plain, and another column falls back to
                // plain pages once its dictionary passes 64 KB, so that a lookup by key reads
                // small pages (B3 in BENCHMARKS.md).
                let properties = self
                    .key
                    .iter()
                    .fold(WriterProperties::builder(), |p, k| p.set_column_dictionary_enabled(ColumnPath::from(k.as_str()), false))
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(|e| e.to_string())?))
                    .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
                    .set_data_page_row_count_limit(ROWS_PER_PAGE)
                    .set_dictionary_page_size_limit(DICTIONARY_BYTES)
                    .build();
                let sink = BufWriter::new(self.table.store.clone(), self.table.file_path(&relative));
                let writer = AsyncArrowWriter::try_new(sink, self.schema.clone(), Some(properties))
                    .map_err(|e| e.to_string())?;
                self.current = Some((relative, writer, 0));
            }
            let (_, writer, rows) = self.current.as_mut().expect("opened above");
            let room = ROWS_PER_FILE - *rows as usize;
            let take = room.min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, take)).await.map_err(|e| e.to_string())?;
            *rows += take as u64;
            offset += take;
            if *rows as usize >= ROWS_PER_FILE {
                self.close_file().await?;
            }
        }
        Ok(())
    }

    async fn close_file(&mut self) -> Result<(), String> {
        if let Some((path, writer, rows)) = self.current.take() {
            let bytes = writer.bytes_written() as u64;
            writer.close().await.map_err(|e| e.to_string())?;
            self.files.push(FileEntry { path, rows, bytes });
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Vec<FileEntry>, String> {
        self.close_file().await?;
        Ok(self.files)
    }
}
