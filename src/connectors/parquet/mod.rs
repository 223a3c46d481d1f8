//! Parquet files under one location (S3 or a local directory).
//!
//! Layout: `<location>/<schema>/<table>/[key=value/...]*.parquet`. `key=value` folders
//! become string partition columns and prune scans.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::SessionStateBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::ObjectStore;
use url::Url;

use super::{Comment, Connector, ConnectorError, Key, Kind, Source, TableEntry, TableSize};
use crate::config::{parse_s3, typed, S3Config};

/// `connector = "parquet"`.
pub(super) struct Parquet;

impl Kind for Parquet {
    fn name(&self) -> &'static str {
        "parquet"
    }
    fn configure(&self, keys: &toml::Table, dir: &std::path::Path) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(ParquetConfig::parse(keys, dir)?))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParquetKeys {
    location: Option<String>,
    s3: Option<toml::Table>,
}

#[derive(Debug, Clone)]
pub struct ParquetConfig {
    /// Always ends with '/'.
    pub location: String,
    pub s3: S3Config,
}

impl ParquetConfig {
    /// Reads a catalog's keys; a plain `location` path is taken from `dir`.
    fn parse(keys: &toml::Table, dir: &std::path::Path) -> Result<ParquetConfig, String> {
        let keys: ParquetKeys = typed(keys.clone(), "")?;
        let mut location = keys.location.ok_or("missing `location` (s3://bucket/prefix/ or file:///abs/path/)")?;
        if !location.contains("://") {
            let path = dir.join(&location);
            let abs = path.canonicalize().map_err(|e| format!("`location` {}: {e}", path.display()))?;
            location = format!("file://{}", abs.display());
        }
        if !location.ends_with('/') {
            location.push('/');
        }
        let is_s3 = location.starts_with("s3://");
        if !is_s3 && !location.starts_with("file:///") {
            return Err(format!(
                "`location` = `{location}` must start with s3:// or file:/// or be a path relative to this file"
            ));
        }
        let s3 = match keys.s3 {
            None => S3Config::default(),
            Some(_) if !is_s3 => return Err("`[s3]` is only valid with an s3:// location".into()),
            Some(s) => parse_s3(&s, "s3.")?,
        };
        Ok(ParquetConfig { location, s3 })
    }
}

#[async_trait]
impl Source for ParquetConfig {
    fn describe(&self) -> String {
        self.location.clone()
    }
    fn max_connections(&self) -> usize {
        1
    }
    async fn connect(&self, catalog: &str, runtime: &Arc<RuntimeEnv>) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(ParquetConnector::connect(catalog, self, runtime)?))
    }
}

pub struct ParquetConnector {
    catalog: String,
    location: String,
    store: Arc<dyn ObjectStore>,
    /// The store-relative prefix of `location` ("" or "a/b/").
    prefix: String,
    runtime: Arc<RuntimeEnv>,
}

impl ParquetConnector {
    pub fn connect(
        catalog: &str,
        cfg: &ParquetConfig,
        runtime: &Arc<RuntimeEnv>,
    ) -> Result<Self, ConnectorError> {
        let err = |message: String| ConnectorError::Unreachable {
            catalog: catalog.to_string(),
            message,
        };
        let url = Url::parse(&cfg.location).map_err(|e| err(format!("bad location: {e}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if url.scheme() == "s3" {
            let bucket = url
                .host_str()
                .ok_or_else(|| err("location has no bucket".into()))?;
            let store = super::s3::s3_store(bucket, &cfg.s3).map_err(err)?;
            let root = Url::parse(&format!("s3://{bucket}")).expect("bucket URL");
            runtime.register_object_store(&root, store.clone());
            (store, url.path().trim_start_matches('/').to_string())
        } else {
            (
                Arc::new(LocalFileSystem::new()),
                url.path().trim_start_matches('/').to_string(),
            )
        };
        Ok(Self {
            catalog: catalog.to_string(),
            location: cfg.location.clone(),
            store,
            prefix,
            runtime: runtime.clone(),
        })
    }

    fn error(&self, message: String) -> ConnectorError {
        ConnectorError::Unreachable {
            catalog: self.catalog.clone(),
            message,
        }
    }

    /// A problem with one table's files (not with reaching the store).
    fn table_error(&self, message: String) -> ConnectorError {
        ConnectorError::Source {
            catalog: self.catalog.clone(),
            message,
        }
    }

    /// The folder names directly under `prefix` ("a/b/").
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, ConnectorError> {
        let path = StorePath::from(prefix);
        let listing = self
            .store
            .list_with_delimiter(Some(&path))
            .await
            .map_err(|e| self.error(format!("listing {}: {e}", self.location)))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| !n.starts_with('.') && !n.starts_with('_'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Partition keys from the first chain of `key=value` folders under a table.
    async fn partition_keys(&self, table_prefix: &str) -> Result<Vec<String>, ConnectorError> {
        let mut keys = Vec::new();
        let mut prefix = table_prefix.to_string();
        loop {
            let folders = self.folders(&prefix).await?;
            let Some(first) = folders.first() else {
                break;
            };
            let Some((key, _)) = first.split_once('=') else {
                break;
            };
            keys.push(key.to_string());
            prefix = format!("{prefix}{first}/");
        }
        Ok(keys)
    }
}

#[async_trait]
impl Connector for ParquetConnector {
    async fn list_tables(&self) -> Result<Vec<TableEntry>, ConnectorError> {
        let mut out = Vec::new();
        for schema in self.folders(&self.prefix).await? {
            for table in self.folders(&format!("{}{schema}/", self.prefix)).await? {
                out.push(TableEntry {
                    schema: schema.clone(),
                    table,
                    view: None,
                });
            }
        }
        Ok(out)
    }

    // Parquet files declare no keys, comments or sizes a tool would show.
    async fn list_keys(&self) -> Result<Vec<Key>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn list_comments(&self) -> Result<Vec<Comment>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn list_sizes(&self) -> Result<Vec<(String, String, TableSize)>, ConnectorError> {
        Ok(Vec::new())
    }

    async fn table_provider(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, ConnectorError> {
        let table_prefix = format!("{}{schema}/{table}/", self.prefix);
        let keys = self.partition_keys(&table_prefix).await?;
        let url = ListingTableUrl::parse(format!("{}{schema}/{table}/", self.location))
            .map_err(|e| self.table_error(e.to_string()))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(keys.into_iter().map(|k| (k, DataType::Utf8)).collect());
        let state = SessionStateBuilder::new()
            .with_runtime_env(self.runtime.clone())
            .build();
        let file_schema = options
            .infer_schema(&state, &url)
            .await
            .map_err(|e| self.table_error(format!("table {schema}.{table}: {e}")))?;
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(super::signed_schema(&file_schema));
        let table = ListingTable::try_new(config)
            .map_err(|e| self.table_error(format!("table {schema}.{table}: {e}")))?;
        Ok(Arc::new(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParquetConfig, String> {
        ParquetConfig::parse(&toml::from_str(text).unwrap(), std::path::Path::new("."))
    }

    #[test]
    fn s3_location_and_its_endpoint() {
        let text = "location = \"s3://b/p\"\n[s3]\nendpoint = \"http://127.0.0.1:9000\"\n";
        assert!(parse(text).unwrap_err().contains("allow_http = true"));
        let p = parse(&format!("{text}allow_http = true\n")).unwrap();
        assert_eq!(p.location, "s3://b/p/");
        let e = parse("location = \"s3://b/\"\n[s3]\nendpint = \"x\"").unwrap_err();
        assert_eq!(e, "unknown key `s3.endpint` (did you mean `s3.endpoint`?)");
        let e = parse("location = \"file:///tmp/\"\n[s3]\nregion = \"x\"").unwrap_err();
        assert!(e.contains("only valid with an s3://"), "{e}");
    }
}
