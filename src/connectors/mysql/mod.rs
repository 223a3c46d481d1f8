//! MySQL and MariaDB, through datafusion-table-providers' MySQL pool and tables.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion_table_providers::mysql::sql_table::MySQLTable;
use datafusion_table_providers::sql::db_connection_pool::mysqlpool::MySQLConnectionPool;
use datafusion_table_providers::util::secrets::to_secret_map;

use super::sql::config::{DbConfig, Defaults};
use super::sql::dialect::SourceDialect;
use super::sql::remote_cancel::{MySqlCancel, RemoteCancel};
use super::sql::{comments_from_rows, federate, Failure, keys_from_rows, literal, query_strings, sizes_from_rows, tables_from_rows};
use super::{redact, Comment, Connector, ConnectorError, DeclaredType, Key, Kind, Source, TableEntry, TableSize};
use crate::config::SslMode;

/// `connector = "mysql"`: MySQL and MariaDB.
pub(super) struct MySql;

const DEFAULTS: Defaults = Defaults { kind: "mysql", port: 3306, sslmode: SslMode::Prefer, schemes: &["mysql"] };

impl Kind for MySql {
    fn name(&self) -> &'static str {
        DEFAULTS.kind
    }
    fn configure(&self, keys: &toml::Table, _: &std::path::Path) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(MySqlSource(DbConfig::parse(keys, &DEFAULTS)?)))
    }
    fn at_url(&self, keys: &toml::Table, url: &str) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(MySqlSource(DbConfig::at_url(keys, url, &DEFAULTS)?)))
    }
}

struct MySqlSource(DbConfig);

#[async_trait]
impl Source for MySqlSource {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn max_connections(&self) -> usize {
        self.0.max_connections
    }
    async fn connect(&self, catalog: &str, _: &Arc<datafusion::execution::runtime_env::RuntimeEnv>) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(MySqlConnector::connect(catalog, &self.0).await?))
    }
}

pub struct MySqlConnector {
    catalog: String,
    read_timeout: std::time::Duration,
    pool: Arc<MySQLConnectionPool>,
    schemas: Vec<String>,
    password: String,
}

impl MySqlConnector {
    pub async fn connect(catalog: &str, db: &DbConfig) -> Result<Self, ConnectorError> {
        let sslmode = match db.sslmode {
            SslMode::Disable => "disabled",
            SslMode::Prefer => "preferred",
            SslMode::Require | SslMode::VerifyFull => "required",
        };
        let mut params = HashMap::from([
            ("host".to_string(), db.host.clone()),
            ("tcp_port".to_string(), db.port.to_string()),
            ("user".to_string(), db.user.clone()),
            ("db".to_string(), db.database.clone()),
            ("sslmode".to_string(), sslmode.to_string()),
            ("pool_min".to_string(), "0".to_string()),
            ("pool_max".to_string(), db.max_connections.to_string()),
        ]);
        if !db.password.expose().is_empty() {
            params.insert("pass".into(), db.password.expose().to_string());
        }
        if let Some(cert) = &db.sslrootcert {
            params.insert("sslrootcert".into(), cert.clone());
        }
        let pool = MySQLConnectionPool::new(to_secret_map(params))
            .await
            .map_err(|e| ConnectorError::Unreachable {
                catalog: catalog.to_string(),
                message: redact(e.to_string(), db.password.expose()),
            })?;
        Ok(Self {
            catalog: catalog.to_string(),
            read_timeout: db.read_timeout,
            pool: Arc::new(pool),
            // A MySQL "schema" is a database; by default only the configured one is shown.
            schemas: db
                .schemas
                .clone()
                .unwrap_or_else(|| vec![db.database.clone()]),
            password: db.password.expose().to_string(),
        })
    }

    /// The shown schemas as an SQL list, for `IN (...)`.
    fn schema_list(&self) -> String {
        self.schemas.iter().map(|s| literal(s)).collect::<Vec<_>>().join(", ")
    }

    fn failed(&self, f: Failure) -> ConnectorError {
        f.into_error(&self.catalog, &self.password)
    }
}

#[async_trait]
impl Connector for MySqlConnector {
    async fn list_tables(&self) -> Result<Vec<TableEntry>, ConnectorError> {
        let list = self.schema_list();
        let sql = format!(
            "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, COALESCE(v.VIEW_DEFINITION, '') \
             FROM information_schema.TABLES t LEFT JOIN information_schema.VIEWS v \
             ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME \
             WHERE t.TABLE_SCHEMA IN ({list}) ORDER BY 1, 2"
        );
        let rows = query_strings(self.pool.as_ref(), &sql)
            .await
            .map_err(|f| self.failed(f))?;
        Ok(tables_from_rows(rows))
    }

    async fn list_comments(&self) -> Result<Vec<Comment>, ConnectorError> {
        let list = self.schema_list();
        // A view's TABLE_COMMENT is the word VIEW, not a comment.
        let sql = format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, '', TABLE_COMMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA IN ({list}) AND TABLE_TYPE = 'BASE TABLE' AND TABLE_COMMENT <> '' \
             UNION ALL \
             SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA IN ({list}) AND COLUMN_COMMENT <> ''"
        );
        let rows = query_strings(self.pool.as_ref(), &sql)
            .await
            .map_err(|f| self.failed(f))?;
        Ok(comments_from_rows(rows))
    }

    async fn list_sizes(&self) -> Result<Vec<(String, String, TableSize)>, ConnectorError> {
        // InnoDB's estimates, as SHOW TABLE STATUS gives them: data, then data and indexes.
        let list = self.schema_list();
        let sql = format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, DATA_LENGTH, DATA_LENGTH, DATA_LENGTH + INDEX_LENGTH \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({list}) AND TABLE_TYPE = 'BASE TABLE'"
        );
        let rows = query_strings(self.pool.as_ref(), &sql)
            .await
            .map_err(|f| self.failed(f))?;
        Ok(sizes_from_rows(rows))
    }

    async fn list_keys(&self) -> Result<Vec<Key>, ConnectorError> {
        let list = self.schema_list();
        // MySQL names every primary key PRIMARY; tools expect names unique per schema.
        let sql = format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, \
             CASE WHEN CONSTRAINT_NAME = 'PRIMARY' THEN CONCAT(TABLE_NAME, '_pkey') ELSE CONSTRAINT_NAME END, \
             COLUMN_NAME, COALESCE(REFERENCED_TABLE_SCHEMA, ''), COALESCE(REFERENCED_TABLE_NAME, ''), \
             COALESCE(REFERENCED_COLUMN_NAME, '') \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA IN ({list}) \
             AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL) \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
        );
        let rows = query_strings(self.pool.as_ref(), &sql)
            .await
            .map_err(|f| self.failed(f))?;
        Ok(keys_from_rows(rows))
    }

    async fn table_provider(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, ConnectorError> {
        let table_ref = TableReference::partial(schema, table);
        // TIMESTAMP is an instant (sessions run at +00:00); DATETIME is a wall clock. The
        // provider marks every column nullable; NOT NULL columns are marked here, and
        // VARCHAR(n)/CHAR(n) recorded as such.
        let columns = query_strings(
            self.pool.as_ref(),
            &format!(
                "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = {} \
                 AND TABLE_NAME = {}",
                literal(schema),
                literal(table)
            ),
        )
        .await
        .map_err(|f| self.failed(f))?;
        let provider = MySQLTable::new(&self.pool, table_ref.clone())
            .await
            .map_err(|e| self.failed(Failure::of(&e).reading(&format!("table {schema}.{table}"))))?;
        let column = |name: &str| columns.iter().find(|r| r[0] == name);
        let fields: Vec<_> = provider
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let Some(c) = column(f.name()) else { return f.clone() };
                let data_type = match f.data_type() {
                    DataType::Timestamp(unit, None) if c[1].eq_ignore_ascii_case("timestamp") => {
                        DataType::Timestamp(*unit, Some("UTC".into()))
                    }
                    t => super::signed_type(t),
                };
                let field = Field::new(f.name(), data_type, c[2] != "NO");
                match (f.data_type(), DeclaredType::from_source(&c[1].to_ascii_lowercase(), c[3].parse().ok())) {
                    (DataType::Utf8, Some(declared)) => Arc::new(declared.on(field)),
                    _ => Arc::new(field),
                }
            })
            .collect();
        let retyped = Some(Arc::new(Schema::new(fields)));
        let cancel: Arc<dyn RemoteCancel> = Arc::new(MySqlCancel(self.pool.clone()));
        Ok(federate(Arc::new(provider), table_ref, SourceDialect::MySql, &self.catalog, self.read_timeout, retyped, Some(cancel)))
    }
}
