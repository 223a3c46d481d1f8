//! PostgreSQL and Redshift (through its Postgres protocol), through
//! datafusion-table-providers' Postgres pool and SQL tables.
//!
//! Redshift lacks much of modern Postgres (jsonb, LATERAL, string_agg, ...). The Redshift
//! catalog therefore never uses the table providers' schema query: it reads
//! `information_schema.columns`, which both Redshift and PostgreSQL have.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::sql::unparser::dialect::PostgreSqlDialect;
use datafusion_table_providers::postgres::DynPostgresConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::postgrespool::PostgresConnectionPool;
use datafusion_table_providers::sql::sql_provider_datafusion::SqlTable;
use datafusion_table_providers::util::secrets::to_secret_map;
use datafusion_table_providers::UnsupportedTypeAction;

use super::sql::config::{DbConfig, Defaults};
use super::sql::dialect::SourceDialect;
use super::sql::remote_cancel::{PostgresCancel, RemoteCancel};
use super::sql::{comments_from_rows, federate, Failure, keys_from_rows, literal, query_strings, sizes_from_rows, tables_from_rows};
use super::{redact, Comment, Connector, ConnectorError, DeclaredType, Key, Kind, Source, TableEntry, TableSize};
use crate::config::SslMode;

/// `connector = "postgres"`.
pub(super) struct Postgres;

const DEFAULTS: Defaults = Defaults { kind: "postgres", port: 5432, sslmode: SslMode::Prefer, schemes: &["postgres", "postgresql"] };

impl Kind for Postgres {
    fn name(&self) -> &'static str {
        DEFAULTS.kind
    }
    fn configure(&self, keys: &toml::Table, _: &std::path::Path) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(PostgresSource { db: DbConfig::parse(keys, &DEFAULTS)?, dialect: SourceDialect::Postgres }))
    }
    fn at_url(&self, keys: &toml::Table, url: &str) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(PostgresSource { db: DbConfig::at_url(keys, url, &DEFAULTS)?, dialect: SourceDialect::Postgres }))
    }
}

/// A source spoken to over PostgreSQL's protocol: PostgreSQL, or Redshift (`dialect`).
pub(super) struct PostgresSource {
    pub db: DbConfig,
    pub dialect: SourceDialect,
}

#[async_trait]
impl Source for PostgresSource {
    fn describe(&self) -> String {
        self.db.describe()
    }
    fn max_connections(&self) -> usize {
        self.db.max_connections
    }
    async fn connect(&self, catalog: &str, _: &Arc<datafusion::execution::runtime_env::RuntimeEnv>) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(PostgresConnector::connect(catalog, &self.db, self.dialect).await?))
    }
}

pub struct PostgresConnector {
    catalog: String,
    read_timeout: std::time::Duration,
    pool: Arc<DynPostgresConnectionPool>,
    schemas: Option<Vec<String>>,
    dialect: SourceDialect,
    password: String,
    cancel: Arc<PostgresCancel>,
}

impl PostgresConnector {
    pub async fn connect(
        catalog: &str,
        db: &DbConfig,
        dialect: SourceDialect,
    ) -> Result<Self, ConnectorError> {
        let sslmode = match db.sslmode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        };
        let mut params = HashMap::from([
            ("host".to_string(), db.host.clone()),
            ("port".to_string(), db.port.to_string()),
            ("user".to_string(), db.user.clone()),
            ("db".to_string(), db.database.clone()),
            ("sslmode".to_string(), sslmode.to_string()),
            (
                "connection_pool_size".to_string(),
                db.max_connections.to_string(),
            ),
        ]);
        if !db.password.expose().is_empty() {
            params.insert("pass".into(), db.password.expose().to_string());
        }
        if let Some(cert) = &db.sslrootcert {
            params.insert("sslrootcert".into(), cert.clone());
        }
        params.insert("application_name".into(), "fedsql".into());
        if dialect == SourceDialect::Postgres {
            // Belt and braces: the source itself refuses writes from our sessions.
            // (Redshift takes no startup options.)
            // A fixed zone: text of timestamps never depends on the server's default.
            params.insert(
                "options".into(),
                "-c default_transaction_read_only=on -c TimeZone=UTC".into(),
            );
        }
        let cancel_params = params.clone();
        let pool = PostgresConnectionPool::new(to_secret_map(params))
            .await
            .map_err(|e| ConnectorError::Unreachable {
                catalog: catalog.to_string(),
                message: redact(e.to_string(), db.password.expose()),
            })?
            // jsonb (and other types without an Arrow twin) arrive as text.
            .with_unsupported_type_action(UnsupportedTypeAction::String);
        Ok(Self {
            catalog: catalog.to_string(),
            read_timeout: db.read_timeout,
            pool: Arc::new(pool),
            schemas: db.schemas.clone(),
            dialect,
            password: db.password.expose().to_string(),
            cancel: Arc::new(PostgresCancel::new(cancel_params)),
        })
    }

    fn failed(&self, f: Failure) -> ConnectorError {
        f.into_error(&self.catalog, &self.password)
    }

    fn source_error(&self, message: String) -> ConnectorError {
        ConnectorError::Source {
            catalog: self.catalog.clone(),
            message: redact(message, &self.password),
        }
    }

    /// Rows of a catalog query whose first column is a schema, for the shown schemas.
    async fn rows_of_shown_schemas(&self, sql: &str) -> Result<Vec<Vec<String>>, ConnectorError> {
        let rows = query_strings(self.pool.as_ref(), sql)
            .await
            .map_err(|f| self.failed(f))?;
        Ok(rows
            .into_iter()
            .filter(|r| self.schemas.as_ref().is_none_or(|s| s.contains(&r[0])))
            .collect())
    }

    /// Rows of `information_schema.columns` (both Redshift and PostgreSQL have it).
    async fn columns(
        &self,
        schema: &str,
        table: &str,
        select: &str,
        filter: &str,
    ) -> Result<Vec<Vec<String>>, ConnectorError> {
        let sql = format!(
            "SELECT {select} FROM information_schema.columns \
             WHERE table_schema = {} AND table_name = {} {filter} ORDER BY ordinal_position",
            literal(schema),
            literal(table)
        );
        query_strings(self.pool.as_ref(), &sql)
            .await
            .map_err(|f| self.failed(f))
    }

    /// Redshift-safe schema inference from `information_schema.columns`.
    async fn redshift_schema(&self, schema: &str, table: &str) -> Result<Schema, ConnectorError> {
        let rows = self
            .columns(
                schema,
                table,
                "column_name, data_type, numeric_precision, numeric_scale, is_nullable, character_maximum_length",
                "",
            )
            .await?;
        if rows.is_empty() {
            return Err(self.source_error(format!("table {schema}.{table} has no columns")));
        }
        let fields = rows
            .iter()
            .map(|r| {
                let ty = redshift_type(&r[1], r[2].parse().ok(), r[3].parse().ok())
                    .ok_or_else(|| {
                        self.source_error(format!(
                            "table {schema}.{table}: column {} has unsupported type {}",
                            r[0], r[1]
                        ))
                    })?;
                let field = Field::new(&r[0], ty, r[4] != "NO");
                Ok(match DeclaredType::from_source(&r[1], r[5].parse().ok()) {
                    Some(declared) => declared.on(field),
                    None => field,
                })
            })
            .collect::<Result<Vec<_>, ConnectorError>>()?;
        Ok(Schema::new(fields))
    }
}

impl PostgresConnector {
    /// The provider's schema, corrected from information_schema.columns:
    /// - `numeric` without precision holds any number; the provider types it
    ///   Decimal128(38,20), which overflows past 18 integer digits. Such columns become
    ///   Decimal256(76,20) (they travel as text, so nothing is lost on the way).
    /// - text of a declared type (`varchar(40)`, `jsonb`, `uuid`, ...) records it.
    async fn retyped(&self, schema: &str, table: &str, arrow: &SchemaRef) -> Result<Option<SchemaRef>, ConnectorError> {
        let select = "column_name, udt_name, numeric_precision, character_maximum_length";
        let rows = self.columns(schema, table, select, "").await?;
        let mut changed = false;
        let fields: Vec<_> = arrow
            .fields()
            .iter()
            .map(|f| {
                let Some(r) = rows.iter().find(|r| &r[0] == f.name()) else { return f.clone() };
                let field = f.as_ref().clone();
                let retyped = match (f.data_type(), DeclaredType::from_source(&r[1], r[3].parse().ok())) {
                    _ if r[1] == "numeric" && r[2].is_empty() => {
                        DeclaredType::Numeric.on(Field::new(f.name(), super::sql::UNCONSTRAINED_NUMERIC, f.is_nullable()))
                    }
                    (DataType::Utf8, Some(declared)) => declared.on(field),
                    _ => return f.clone(),
                };
                changed = true;
                Arc::new(retyped)
            })
            .collect();
        Ok(changed.then(|| Arc::new(Schema::new(fields))))
    }
}

/// Primary and foreign keys from Redshift's catalog (informational there, but declared).
/// Redshift has neither unnest nor LATERAL: key positions come from a small list of
/// numbers, and column names from information_schema (its ordinal_position is attnum).
fn redshift_keys_sql() -> String {
    // PostgreSQL allows 32 key columns; Redshift fewer.
    let positions: Vec<String> = (1..=32).map(|i| format!("SELECT {i} AS pos")).collect();
    format!(
        "SELECT n.nspname::varchar, c.relname::varchar, con.conname::varchar, col.column_name::varchar, \
         COALESCE(fn.nspname::varchar, ''), COALESCE(fc.relname::varchar, ''), COALESCE(fcol.column_name::varchar, '') \
         FROM pg_catalog.pg_constraint con \
         JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN ({}) p \
         JOIN information_schema.columns col ON col.table_schema = n.nspname AND col.table_name = c.relname \
         AND col.ordinal_position = con.conkey[p.pos] \
         LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid \
         LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
         LEFT JOIN information_schema.columns fcol ON fcol.table_schema = fn.nspname AND fcol.table_name = fc.relname \
         AND fcol.ordinal_position = con.confkey[p.pos] \
         WHERE con.contype IN ('p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_%' \
         ORDER BY 1, 2, 3, p.pos",
        positions.join(" UNION ALL ")
    )
}

/// Arrow types for the column types Redshift has, as the Postgres provider decodes them.
fn redshift_type(name: &str, precision: Option<u8>, scale: Option<i8>) -> Option<DataType> {
    Some(match name {
        "smallint" => DataType::Int16,
        "integer" => DataType::Int32,
        "bigint" => DataType::Int64,
        "numeric" => DataType::Decimal128(precision.unwrap_or(18), scale.unwrap_or(0)),
        "real" => DataType::Float32,
        "double precision" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "character" | "character varying" | "text" | "name" | "super" => DataType::Utf8,
        "date" => DataType::Date32,
        "time without time zone" => DataType::Time64(TimeUnit::Nanosecond),
        "timestamp without time zone" => DataType::Timestamp(TimeUnit::Nanosecond, None),
        "timestamp with time zone" => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        "interval" => DataType::Interval(IntervalUnit::MonthDayNano),
        _ => return None,
    })
}

#[async_trait]
impl Connector for PostgresConnector {
    async fn list_tables(&self) -> Result<Vec<TableEntry>, ConnectorError> {
        // pg_views has every definition; information_schema.views only the user's own.
        let sql = "SELECT t.table_schema, t.table_name, t.table_type, COALESCE(v.definition, '') \
                   FROM information_schema.tables t LEFT JOIN pg_catalog.pg_views v \
                   ON v.schemaname = t.table_schema AND v.viewname = t.table_name \
                   WHERE t.table_schema NOT IN ('pg_catalog', 'information_schema') \
                   AND t.table_schema NOT LIKE 'pg\\_%' ORDER BY 1, 2";
        Ok(tables_from_rows(self.rows_of_shown_schemas(sql).await?))
    }

    async fn list_comments(&self) -> Result<Vec<Comment>, ConnectorError> {
        // Redshift keeps comments in pg_description too. Column numbers are matched
        // through information_schema (its ordinal_position is attnum), which both have.
        let sql = "SELECT n.nspname::varchar, c.relname::varchar, COALESCE(col.column_name::varchar, ''), \
                   d.description::varchar \
                   FROM pg_catalog.pg_description d \
                   JOIN pg_catalog.pg_class c ON c.oid = d.objoid \
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   LEFT JOIN information_schema.columns col ON col.table_schema = n.nspname \
                   AND col.table_name = c.relname AND col.ordinal_position = d.objsubid \
                   WHERE d.classoid = (SELECT k.oid FROM pg_catalog.pg_class k \
                   JOIN pg_catalog.pg_namespace kn ON kn.oid = k.relnamespace \
                   WHERE k.relname = 'pg_class' AND kn.nspname = 'pg_catalog') \
                   AND (d.objsubid = 0 OR col.column_name IS NOT NULL) \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2, d.objsubid";
        Ok(comments_from_rows(self.rows_of_shown_schemas(sql).await?))
    }

    async fn list_sizes(&self) -> Result<Vec<(String, String, TableSize)>, ConnectorError> {
        // Redshift has no size functions of PostgreSQL's (its svv_table_info counts MB).
        if self.dialect == SourceDialect::Redshift {
            return Ok(Vec::new());
        }
        let sql = "SELECT n.nspname::text, c.relname::text, pg_relation_size(c.oid), pg_table_size(c.oid), \
                   pg_total_relation_size(c.oid) FROM pg_catalog.pg_class c \
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_%'";
        Ok(sizes_from_rows(self.rows_of_shown_schemas(sql).await?))
    }

    async fn list_keys(&self) -> Result<Vec<Key>, ConnectorError> {
        if self.dialect == SourceDialect::Redshift {
            return Ok(keys_from_rows(self.rows_of_shown_schemas(&redshift_keys_sql()).await?));
        }
        // pg_catalog, not information_schema: the latter hides constraints from a user
        // who may only SELECT, which is how fedsql should connect.
        let sql = "SELECT n.nspname::text, c.relname::text, con.conname::text, a.attname::text, \
                   COALESCE(fn.nspname::text, ''), COALESCE(fc.relname::text, ''), COALESCE(fa.attname::text, '') \
                   FROM pg_catalog.pg_constraint con \
                   JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, pos) \
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
                   LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid \
                   LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
                   LEFT JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[k.pos] \
                   WHERE con.contype IN ('p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_%' \
                   ORDER BY 1, 2, 3, k.pos";
        Ok(keys_from_rows(self.rows_of_shown_schemas(sql).await?))
    }

    async fn table_provider(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, ConnectorError> {
        let table_ref = TableReference::partial(schema, table);
        let sql_table = if self.dialect == SourceDialect::Redshift {
            let arrow_schema = self.redshift_schema(schema, table).await?;
            SqlTable::new_with_schema("redshift", &self.pool, arrow_schema, table_ref.clone())
        } else {
            SqlTable::new("postgres", &self.pool, table_ref.clone())
                .await
                .map_err(|e| self.failed(Failure::of(&e).reading(&format!("table {schema}.{table}"))))?
        }
        .with_dialect(Arc::new(PostgreSqlDialect {}));
        let retyped = match self.dialect {
            SourceDialect::Redshift => None,
            _ => self.retyped(schema, table, &sql_table.schema()).await?,
        };
        // Redshift lists running statements elsewhere (stv_recents): not canceled yet.
        let cancel = (self.dialect == SourceDialect::Postgres)
            .then(|| self.cancel.clone() as Arc<dyn RemoteCancel>);
        Ok(federate(Arc::new(sql_table), table_ref, self.dialect, &self.catalog, self.read_timeout, retyped, cancel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redshift_numeric_keeps_precision() {
        assert_eq!(
            redshift_type("numeric", Some(12), Some(2)),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(redshift_type("geometry", None, None), None);
    }
}
