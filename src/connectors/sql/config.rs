//! The keys of a database catalog (MySQL, PostgreSQL, Redshift): a `url` or its parts,
//! TLS, the schemas shown, the pool and the read timeout. Each kind gives its defaults.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{count, typed, Secret, SslMode};

pub const DEFAULT_MAX_CONNECTIONS: usize = 4;
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// What differs between the database kinds before connecting.
pub struct Defaults {
    pub kind: &'static str,
    pub port: u16,
    pub sslmode: SslMode,
    /// URL schemes a `url` may have; the first is shown in errors.
    pub schemes: &'static [&'static str],
}

/// A database source with everything resolved.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub kind: &'static str,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub database: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
    pub schemas: Option<Vec<String>>,
    pub max_connections: usize,
    /// The longest a statement on this source may go without sending a row (connecting
    /// included) before it fails with 08006: a source that stopped answering.
    pub read_timeout: Duration,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DbKeys {
    url: Option<String>,
    host: Option<String>,
    #[serde(default, deserialize_with = "count")]
    port: Option<u64>,
    user: Option<String>,
    password: Option<Secret>,
    database: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    schemas: Option<Vec<String>>,
    #[serde(default, deserialize_with = "count")]
    max_connections: Option<u64>,
    read_timeout: Option<String>,
}

impl DbConfig {
    /// Reads a catalog's database keys.
    pub fn parse(keys: &toml::Table, defaults: &Defaults) -> Result<DbConfig, String> {
        let keys: DbKeys = typed(keys.clone(), "")?;
        let mut cfg = DbConfig {
            kind: defaults.kind,
            host: "127.0.0.1".into(),
            port: defaults.port,
            user: String::new(),
            password: Secret::default(),
            database: String::new(),
            sslmode: defaults.sslmode,
            sslrootcert: None,
            schemas: keys.schemas.clone(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            read_timeout: DEFAULT_READ_TIMEOUT,
        };
        match &keys.url {
            Some(url) => cfg.read_url(url, &keys, defaults)?,
            None => {
                cfg.host = keys.host.clone().unwrap_or(cfg.host);
                if let Some(p) = keys.port {
                    cfg.port = u16::try_from(p).map_err(|_| format!("`port` {p} is out of range"))?;
                }
                cfg.user = keys.user.clone().unwrap_or_default();
                cfg.password = keys.password.clone().unwrap_or_default();
                cfg.database = keys.database.clone().unwrap_or_default();
            }
        }
        if cfg.user.is_empty() {
            return Err("missing `user` (or a user in `url`)".into());
        }
        if cfg.database.is_empty() {
            return Err("missing `database` (or a database in `url`)".into());
        }
        if let Some(s) = &keys.sslmode {
            cfg.sslmode = parse_sslmode(s)?;
        }
        if let Some(p) = keys.sslrootcert.or(cfg.sslrootcert.take()) {
            if !Path::new(&p).exists() {
                return Err(format!("`sslrootcert` file `{p}` does not exist"));
            }
            cfg.sslrootcert = Some(p);
        }
        match keys.max_connections {
            Some(0) => return Err("`max_connections` must be at least 1".into()),
            Some(n) => cfg.max_connections = n as usize,
            None => {}
        }
        if let Some(text) = keys.read_timeout {
            let d = humantime::parse_duration(&text)
                .map_err(|e| format!("`read_timeout` = \"{text}\": {e} (write it like \"30s\" or \"5m\")"))?;
            if d.is_zero() {
                return Err("`read_timeout` must be longer than zero".into());
            }
            cfg.read_timeout = d;
        }
        Ok(cfg)
    }

    /// The same source reached at another `url` (a read replica): every other key kept.
    pub fn at_url(keys: &toml::Table, url: &str, defaults: &Defaults) -> Result<DbConfig, String> {
        let mut replica = keys.clone();
        for key in ["host", "port", "user", "password", "database"] {
            replica.remove(key);
        }
        replica.insert("url".into(), toml::Value::String(url.to_string()));
        Self::parse(&replica, defaults).map_err(|e| format!("refresh_url: {e}"))
    }

    /// A stable text form for `fedsql check`, with no secret.
    pub fn describe(&self) -> String {
        format!("{}://{}@{}:{}/{}", self.kind, self.user, self.host, self.port, self.database)
    }

    fn read_url(&mut self, raw: &str, keys: &DbKeys, defaults: &Defaults) -> Result<(), String> {
        let parts = [
            ("host", keys.host.is_some()),
            ("port", keys.port.is_some()),
            ("user", keys.user.is_some()),
            ("password", keys.password.is_some()),
            ("database", keys.database.is_some()),
        ];
        if let Some((key, _)) = parts.iter().find(|(_, given)| *given) {
            return Err(format!("`{key}` conflicts with `url`: use one or the other"));
        }
        // The URL itself may carry a password: never echo it back.
        let url = url::Url::parse(raw).map_err(|e| format!("`url` is not a valid URL: {e}"))?;
        if !defaults.schemes.contains(&url.scheme()) {
            return Err(format!(
                "`url` scheme `{}` does not fit connector `{}` (expected {}://)",
                url.scheme(),
                defaults.kind,
                defaults.schemes[0]
            ));
        }
        if let Some(h) = url.host_str() {
            self.host = h.to_string();
        }
        if let Some(p) = url.port() {
            self.port = p;
        }
        self.user = percent_decode(url.username());
        self.password = Secret::new(percent_decode(url.password().unwrap_or("")));
        self.database = percent_decode(url.path().trim_start_matches('/'));
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "sslmode" | "ssl-mode" => self.sslmode = parse_sslmode(&v.to_lowercase().replace('_', "-"))?,
                "sslrootcert" => self.sslrootcert = Some(v.into_owned()),
                other => return Err(format!("unknown `url` parameter `{other}`")),
            }
        }
        Ok(())
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn parse_sslmode(s: &str) -> Result<SslMode, String> {
    SslMode::parse(s).ok_or_else(|| format!("`sslmode` = `{s}` is not one of disable, prefer, require, verify-full"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MYSQL: Defaults = Defaults { kind: "mysql", port: 3306, sslmode: SslMode::Prefer, schemes: &["mysql"] };
    const REDSHIFT: Defaults =
        Defaults { kind: "redshift", port: 5439, sslmode: SslMode::Require, schemes: &["redshift", "postgres", "postgresql"] };

    fn parse(text: &str, defaults: &Defaults) -> Result<DbConfig, String> {
        DbConfig::parse(&toml::from_str(text).unwrap(), defaults)
    }

    #[test]
    fn url_and_defaults() {
        let d = parse("url = \"mysql://app:p%40ss@db.internal:3307/shop?sslmode=require\"", &MYSQL).unwrap();
        assert_eq!((d.host.as_str(), d.port, d.user.as_str()), ("db.internal", 3307, "app"));
        assert_eq!((d.password.expose(), d.database.as_str()), ("p@ss", "shop"));
        assert_eq!((d.sslmode, d.max_connections), (SslMode::Require, 4));
        assert!(!format!("{d:?}").contains("p@ss"));
        assert_eq!(d.describe(), "mysql://app@db.internal:3307/shop");
        let e = parse("url = \"postgres://u@h/db\"", &MYSQL).unwrap_err();
        assert!(e.contains("does not fit connector `mysql`"), "{e}");
        let e = parse("url = \"mysql://u@h/db\"\nhost = \"h\"", &MYSQL).unwrap_err();
        assert_eq!(e, "`host` conflicts with `url`: use one or the other");
    }

    #[test]
    fn parts_take_the_kind_defaults() {
        let d = parse("host = \"x\"\nuser = \"u\"\ndatabase = \"d\"\nport = \"6000\"", &REDSHIFT).unwrap();
        assert_eq!((d.port, d.sslmode), (6000, SslMode::Require));
        let d = parse("host = \"x\"\nuser = \"u\"\ndatabase = \"d\"", &REDSHIFT).unwrap();
        assert_eq!(d.port, 5439);
        assert_eq!(parse("host = \"x\"\ndatabase = \"d\"", &MYSQL).unwrap_err(), "missing `user` (or a user in `url`)");
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("host = \"h\"\nsslmod = \"disable\"", &MYSQL).unwrap_err();
        assert_eq!(e, "unknown key `sslmod` (did you mean `sslmode`?)");
        let e = parse("user = \"u\"\ndatabase = \"d\"\nsslmode = \"required\"", &MYSQL).unwrap_err();
        assert!(e.contains("`sslmode` = `required`"), "{e}");
        let e = parse("url = \"mysql://u@h/db\"\nread_timeout = \"soon\"", &MYSQL).unwrap_err();
        assert!(e.contains("read_timeout"), "{e}");
        let d = parse("url = \"mysql://u@h/db\"\nread_timeout = \"90s\"", &MYSQL).unwrap();
        assert_eq!(d.read_timeout, Duration::from_secs(90));
        let e = parse("url = \"mysql://u@h/db\"\nmax_connections = 0", &MYSQL).unwrap_err();
        assert_eq!(e, "`max_connections` must be at least 1");
    }

    #[test]
    fn a_replica_keeps_every_other_key() {
        let keys: toml::Table = toml::from_str("host = \"primary\"\nuser = \"u\"\ndatabase = \"d\"\nmax_connections = 2").unwrap();
        let r = DbConfig::at_url(&keys, "mysql://ro@replica/d", &MYSQL).unwrap();
        assert_eq!((r.host.as_str(), r.user.as_str(), r.max_connections), ("replica", "ro", 2));
    }
}
