//! `connector = "redshift"`: Amazon Redshift through its PostgreSQL protocol. The
//! PostgreSQL connector reads it; Redshift differs in its defaults (port 5439, TLS
//! required) and its dialect (`SourceDialect::Redshift`: what it can be sent, how it reads
//! a backslash, no startup options).

use std::sync::Arc;

use super::postgres::PostgresSource;
use super::sql::config::{DbConfig, Defaults};
use super::sql::dialect::SourceDialect;
use super::{Kind, Source};
use crate::config::SslMode;

pub(super) struct Redshift;

const DEFAULTS: Defaults =
    Defaults { kind: "redshift", port: 5439, sslmode: SslMode::Require, schemes: &["redshift", "postgres", "postgresql"] };

impl Kind for Redshift {
    fn name(&self) -> &'static str {
        DEFAULTS.kind
    }
    fn configure(&self, keys: &toml::Table, _: &std::path::Path) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(PostgresSource { db: DbConfig::parse(keys, &DEFAULTS)?, dialect: SourceDialect::Redshift }))
    }
    fn at_url(&self, keys: &toml::Table, url: &str) -> Result<Arc<dyn Source>, String> {
        Ok(Arc::new(PostgresSource { db: DbConfig::at_url(keys, url, &DEFAULTS)?, dialect: SourceDialect::Redshift }))
    }
}
