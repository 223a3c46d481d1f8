//! Connectors: the code for one kind of source. A catalog is one configured instance.
//!
//! Each kind is a folder: `mysql/`, `postgres/`, `redshift/` (PostgreSQL's connector with
//! Redshift's defaults and dialect), `parquet/`. A kind reads its own keys of a catalog
//! file into a typed config ([`Kind::configure`]) and connects it ([`Source::connect`]).
//! `sql/` is what the database kinds share: their keys, pushdown, dialect rewrites,
//! remote cancel and stall guards.
//!
//! Adding a source kind is one folder with a type implementing [`Kind`], [`Source`] and
//! [`Connector`], and one line in [`KINDS`].

mod declared_type;
mod mysql;
mod parquet;
mod postgres;
mod redshift;
mod s3;
mod sql;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::execution::runtime_env::RuntimeEnv;

use crate::config::{CatalogConfig, ConfigError};

pub use declared_type::DeclaredType;
pub use s3::s3_store;
pub use sql::dialect::SourceDialect;
pub use sql::pushdown::calendar_literal_pushable;
pub use sql::remote_cancel::cancels_sent;
pub use sql::sent_statement::ShowSentStatements;
pub use sql::{source_reader, SourceReader};

/// The kinds a catalog's `connector = "..."` names.
static KINDS: &[&dyn Kind] = &[&mysql::MySql, &postgres::Postgres, &redshift::Redshift, &parquet::Parquet];

/// One kind of source: its name in `connector = "..."` and how it reads its keys.
trait Kind: Sync {
    fn name(&self) -> &'static str;
    /// Reads a catalog's own keys; relative paths start at `dir`.
    fn configure(&self, keys: &toml::Table, dir: &Path) -> Result<Arc<dyn Source>, String>;
    /// The same source reached at `url` (`refresh_url`: a read replica snapshots read).
    fn at_url(&self, _keys: &toml::Table, _url: &str) -> Result<Arc<dyn Source>, String> {
        Err(format!("`refresh_url` is not a key of connector `{}`", self.name()))
    }
}

/// A configured source, not yet connected.
#[async_trait]
pub trait Source: Send + Sync {
    /// Where it reads, for `fedsql check`, with no secret.
    fn describe(&self) -> String;
    /// Connections it may hold at once; snapshot refreshes share them.
    fn max_connections(&self) -> usize;
    /// Connects one catalog. Object stores are registered on `runtime`.
    async fn connect(&self, catalog: &str, runtime: &Arc<RuntimeEnv>) -> Result<Arc<dyn Connector>, ConnectorError>;
}

/// A catalog file with its source configured by its kind.
#[derive(Clone)]
pub struct ConfiguredCatalog {
    pub config: CatalogConfig,
    pub source: Arc<dyn Source>,
    /// Where snapshot refreshes read (`refresh_url`), if not the source.
    pub replica: Option<Arc<dyn Source>>,
}

/// Has the catalog's connector read its keys; a mistake names the file.
pub fn configure(config: CatalogConfig) -> Result<ConfiguredCatalog, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { file: config.file.display().to_string(), message };
    let names = || KINDS.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
    let connector = config
        .connector
        .as_deref()
        .ok_or_else(|| invalid(format!("missing key `connector` (one of {})", names())))?;
    let kind = KINDS
        .iter()
        .find(|k| k.name() == connector)
        .ok_or_else(|| invalid(format!("unknown connector `{connector}` (expected one of {})", names())))?;
    let source = kind.configure(&config.keys, config.dir()).map_err(invalid)?;
    let replica = match config.refresh_url.as_deref() {
        Some(url) => Some(kind.at_url(&config.keys, url).map_err(invalid)?),
        None => None,
    };
    Ok(ConfiguredCatalog { config, source, replica })
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The source cannot be reached (network, auth, server down).
    #[error("catalog `{catalog}` is unavailable: {message}")]
    Unreachable { catalog: String, message: String },
    /// The source answered with an error.
    #[error("catalog `{catalog}`: {message}")]
    Source { catalog: String, message: String },
    /// The connection to the source broke while a statement was on it.
    #[error("catalog `{catalog}`: {message}")]
    Lost { catalog: String, message: String },
    /// The source rejected the statement with this SQLSTATE (a division by zero, an
    /// overflow, ... in a computation it was sent).
    #[error("catalog `{catalog}`: {message}")]
    Rejected { catalog: String, sqlstate: String, message: String },
    /// The source sent nothing for longer than the catalog's `read_timeout`.
    #[error("catalog `{catalog}`: the source sent nothing for {after} (read_timeout); the statement was abandoned")]
    Stalled { catalog: String, after: String },
    /// A value the source sent does not fit the column's type exactly.
    #[error("catalog `{catalog}`: {message}")]
    OutOfRange { catalog: String, message: String },
}

/// PostgreSQL has no unsigned integers: an unsigned column is shown and computed as the
/// next wider signed type (INT UNSIGNED as bigint, BIGINT UNSIGNED as numeric(20,0)), so
/// `u + u` and `-u` mean what they mean in PostgreSQL instead of wrapping at 2^32.
pub(crate) fn signed_type(t: &DataType) -> DataType {
    match t {
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 => DataType::Int64,
        DataType::UInt64 => DataType::Decimal128(20, 0),
        t => t.clone(),
    }
}

/// `schema` with its unsigned columns widened by [`signed_type`].
pub(crate) fn signed_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(signed_type(f.data_type())))
        .collect();
    std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// One table as the source lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableEntry {
    pub schema: String,
    pub table: String,
    /// For a view in the source, its definition as the source prints it (empty if the
    /// source does not say): tools list views apart from tables and show what they are.
    pub view: Option<String>,
}

/// A table's size on disk at the source, in bytes, as PostgreSQL's size functions count:
/// the main data (`pg_relation_size`), with TOAST (`pg_table_size`), with indexes too
/// (`pg_total_relation_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSize {
    pub relation: i64,
    pub table: i64,
    pub total: i64,
}

/// A comment the source keeps on a table (`column` None) or on one of its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub schema: String,
    pub table: String,
    pub column: Option<String>,
    pub text: String,
}

/// A primary or foreign key a source declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    /// For a foreign key: the referenced schema, table and columns (in key order).
    pub references: Option<(String, String, Vec<String>)>,
}

/// A connected catalog. Listing is one call so that a refresh costs one round trip per source.
/// Every method is required: a kind whose source has no keys, comments or sizes says so.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Every table and view, across the allowed schemas.
    async fn list_tables(&self) -> Result<Vec<TableEntry>, ConnectorError>;
    /// Primary and foreign keys of those tables (tools show and join on them).
    async fn list_keys(&self) -> Result<Vec<Key>, ConnectorError>;
    /// Comments on those tables and their columns (tools show them as descriptions).
    async fn list_comments(&self) -> Result<Vec<Comment>, ConnectorError>;
    /// Sizes of those tables where the source tells them: `(schema, table, size)`.
    async fn list_sizes(&self) -> Result<Vec<(String, String, TableSize)>, ConnectorError>;
    /// A read-only provider for one table (federated for SQL sources).
    async fn table_provider(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, ConnectorError>;
}

/// Removes a secret from a message that came back from a driver.
pub(crate) fn redact(message: String, secret: &str) -> String {
    if secret.len() >= 2 {
        message.replace(secret, "***")
    } else {
        message
    }
}
