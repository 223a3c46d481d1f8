//! Catalog files: one `*.toml` per catalog, named after the file stem (Trino style).

pub mod server;
pub mod snapshot;

pub use server::{Limits, ServerConfig};

use std::fmt;
use std::path::{Path, PathBuf};


#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{dir}: cannot read catalogs directory: {source}")]
    Dir { dir: String, source: std::io::Error },
}

/// A secret value: masked in every Debug/Display so it never reaches a log or an error.
#[derive(Clone, Default, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Mysql,
    Postgres,
    Redshift,
    Parquet,
}

impl ConnectorKind {
    pub fn name(self) -> &'static str {
        match self {
            ConnectorKind::Mysql => "mysql",
            ConnectorKind::Postgres => "postgres",
            ConnectorKind::Redshift => "redshift",
            ConnectorKind::Parquet => "parquet",
        }
    }
}

/// A database source (mysql, postgres, redshift) with everything resolved.
#[derive(Debug, Clone)]
pub struct DbConfig {
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
    pub read_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub allow_http: bool,
}

#[derive(Debug, Clone)]
pub struct ParquetConfig {
    /// Always ends with '/'.
    pub location: String,
    pub s3: S3Config,
}

#[derive(Debug, Clone)]
pub enum SourceConfig {
    Db(DbConfig),
    Parquet(ParquetConfig),
}

#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub name: String,
    pub file: PathBuf,
    pub kind: ConnectorKind,
    pub source: SourceConfig,
    /// Seconds between background refreshes of the table list.
    pub refresh_secs: u64,
    /// Tables kept as local snapshots (`[[snapshot]]`).
    pub snapshots: Vec<snapshot::SnapshotConfig>,
    /// Where snapshot refreshes read (`refresh_url`, a read replica); None: the source itself.
    pub refresh_source: Option<SourceConfig>,
}

const DB_KEYS: &[&str] = &[
    "connector",
    "url",
    "host",
    "port",
    "user",
    "password",
    "database",
    "sslmode",
    "sslrootcert",
    "schemas",
    "max_connections",
    "read_timeout",
    "refresh_secs",
    "snapshot",
    "refresh_url",
];
const PARQUET_KEYS: &[&str] = &["connector", "location", "s3", "refresh_secs"];
const S3_KEYS: &[&str] = &[
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "allow_http",
];

pub const DEFAULT_MAX_CONNECTIONS: usize = 4;
pub const DEFAULT_REFRESH_SECS: u64 = 60;
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Loads every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<CatalogConfig>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Dir {
        dir: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files.iter().map(|f| load_file(f)).collect()
}

pub fn load_file(path: &Path) -> Result<CatalogConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        file: file.clone(),
        message: format!("cannot read: {e}"),
    })?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    parse_catalog(&name, &text, base, &|v| std::env::var(v).ok()).map_err(|message| {
        ConfigError::Invalid { file, message }
    })
    .map(|mut c| {
        c.file = path.to_path_buf();
        c
    })
}

/// Parses one catalog file's text; `env` resolves `${VAR}`, and a relative parquet
/// `location` is taken from `base` (the file's directory).
pub fn parse_catalog(
    name: &str,
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CatalogConfig, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "catalog name `{name}` (the file stem) must be letters, digits and `_`"
        ));
    }
    // Only the position and the reason: the offending line may hold a password.
    let table: toml::Table = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => {
            let line = text[..span.start].matches('\n').count() + 1;
            format!("invalid TOML at line {line}: {}", e.message())
        }
        None => format!("invalid TOML: {}", e.message()),
    })?;
    let table = expand_env(toml::Value::Table(table), env)?;
    let toml::Value::Table(table) = table else {
        unreachable!()
    };
    let connector = match table.get("connector") {
        Some(toml::Value::String(s)) => s.as_str(),
        Some(_) => return Err("`connector` must be a string".into()),
        None => {
            return Err(
                "missing key `connector` (one of mysql, postgres, redshift, parquet)".into(),
            )
        }
    };
    let kind = match connector {
        "mysql" => ConnectorKind::Mysql,
        "postgres" => ConnectorKind::Postgres,
        "redshift" => ConnectorKind::Redshift,
        "parquet" => ConnectorKind::Parquet,
        other => {
            return Err(format!(
                "unknown connector `{other}` (expected mysql, postgres, redshift or parquet)"
            ))
        }
    };
    let allowed = if kind == ConnectorKind::Parquet {
        PARQUET_KEYS
    } else {
        DB_KEYS
    };
    check_keys(&table, allowed, "")?;
    let refresh_secs = opt_int(&table, "refresh_secs")?
        .map(|v| v as u64)
        .unwrap_or(DEFAULT_REFRESH_SECS);
    let source = if kind == ConnectorKind::Parquet {
        SourceConfig::Parquet(parse_parquet(&table, base)?)
    } else {
        SourceConfig::Db(parse_db(kind, &table)?)
    };
    let snapshots = match table.get("snapshot") {
        Some(v) => snapshot::parse(v)?,
        None => Vec::new(),
    };
    // A replica reached as the source is, with its own URL.
    let refresh_source = match opt_str(&table, "refresh_url")? {
        None => None,
        Some(_) if snapshots.is_empty() => return Err("`refresh_url` is for snapshot refreshes: add a [[snapshot]]".into()),
        Some(url) => {
            let mut replica = table.clone();
            for key in ["host", "port", "user", "password", "database", "refresh_url", "snapshot"] {
                replica.remove(key);
            }
            replica.insert("url".into(), toml::Value::String(url));
            Some(SourceConfig::Db(parse_db(kind, &replica).map_err(|e| format!("refresh_url: {e}"))?))
        }
    };
    Ok(CatalogConfig {
        name: name.to_string(),
        file: PathBuf::new(),
        kind,
        source,
        refresh_secs,
        snapshots,
        refresh_source,
    })
}

fn check_keys(table: &toml::Table, allowed: &[&str], prefix: &str) -> Result<(), String> {
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = allowed
                .iter()
                .find(|a| edit_distance(a, key) <= 2)
                .map(|a| format!(" (did you mean `{prefix}{a}`?)"))
                .unwrap_or_else(|| format!(" (allowed: {})", allowed.join(", ")));
            return Err(format!("unknown key `{prefix}{key}`{hint}"));
        }
    }
    Ok(())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Replaces `${VAR}` in every string; an unset variable is an error naming it.
pub(crate) fn expand_env(value: toml::Value, env: &dyn Fn(&str) -> Option<String>) -> Result<toml::Value, String> {
    Ok(match value {
        toml::Value::String(s) => toml::Value::String(expand_str(&s, env)?),
        toml::Value::Array(a) => toml::Value::Array(
            a.into_iter()
                .map(|v| expand_env(v, env))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => toml::Value::Table(
            t.into_iter()
                .map(|(k, v)| Ok((k, expand_env(v, env)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

pub(crate) fn expand_str(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated `${` (expected `${NAME}`)".to_string())?;
        // `${VAR:-default}` falls back; plain `${VAR}` must be set.
        let (var, default) = match after[..end].split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (&after[..end], None),
        };
        let value = env(var)
            .or_else(|| default.map(str::to_string))
            .ok_or_else(|| format!("environment variable `{var}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn opt_str(t: &toml::Table, key: &str) -> Result<Option<String>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn opt_int(t: &toml::Table, key: &str) -> Result<Option<i64>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i)),
        // `${VAR}` expansion always yields a string.
        Some(toml::Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("`{key}` must be a non-negative integer, got `{s}`")),
        Some(_) => Err(format!("`{key}` must be a non-negative integer")),
    }
}

fn opt_bool(t: &toml::Table, key: &str) -> Result<Option<bool>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
        Some(toml::Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(_) => Err(format!("`{key}` must be true or false")),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn parse_db(kind: ConnectorKind, t: &toml::Table) -> Result<DbConfig, String> {
    let (default_port, default_ssl, scheme) = match kind {
        ConnectorKind::Mysql => (3306, SslMode::Prefer, &["mysql"][..]),
        ConnectorKind::Postgres => (5432, SslMode::Prefer, &["postgres", "postgresql"][..]),
        _ => (5439, SslMode::Require, &["redshift", "postgres", "postgresql"][..]),
    };
    let mut cfg = DbConfig {
        host: "127.0.0.1".into(),
        port: default_port,
        user: String::new(),
        password: Secret::default(),
        database: String::new(),
        sslmode: default_ssl,
        sslrootcert: None,
        schemas: None,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        read_timeout: DEFAULT_READ_TIMEOUT,
    };
    if let Some(raw) = opt_str(t, "url")? {
        for key in ["host", "port", "user", "password", "database"] {
            if t.contains_key(key) {
                return Err(format!("`{key}` conflicts with `url`: use one or the other"));
            }
        }
        // The URL itself may carry a password: never echo it back.
        let url = url::Url::parse(&raw).map_err(|e| format!("`url` is not a valid URL: {e}"))?;
        if !scheme.contains(&url.scheme()) {
            return Err(format!(
                "`url` scheme `{}` does not fit connector `{}` (expected {}://)",
                url.scheme(),
                kind.name(),
                scheme[0]
            ));
        }
        if let Some(h) = url.host_str() {
            cfg.host = h.to_string();
        }
        if let Some(p) = url.port() {
            cfg.port = p;
        }
        cfg.user = percent_decode(url.username());
        cfg.password = Secret::new(percent_decode(url.password().unwrap_or("")));
        cfg.database = percent_decode(url.path().trim_start_matches('/'));
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "sslmode" | "ssl-mode" => {
                    cfg.sslmode = parse_sslmode(&v.to_lowercase().replace('_', "-"))?
                }
                "sslrootcert" => cfg.sslrootcert = Some(v.into_owned()),
                other => return Err(format!("unknown `url` parameter `{other}`")),
            }
        }
    } else {
        if let Some(h) = opt_str(t, "host")? {
            cfg.host = h;
        }
        if let Some(p) = opt_int(t, "port")? {
            cfg.port = u16::try_from(p).map_err(|_| format!("`port` {p} is out of range"))?;
        }
        cfg.user = opt_str(t, "user")?.unwrap_or_default();
        cfg.password = Secret::new(opt_str(t, "password")?.unwrap_or_default());
        cfg.database = opt_str(t, "database")?.unwrap_or_default();
    }
    if cfg.user.is_empty() {
        return Err("missing `user` (or a user in `url`)".into());
    }
    if cfg.database.is_empty() {
        return Err("missing `database` (or a database in `url`)".into());
    }
    if let Some(s) = opt_str(t, "sslmode")? {
        cfg.sslmode = parse_sslmode(&s)?;
    }
    if let Some(s) = opt_str(t, "sslrootcert")? {
        cfg.sslrootcert = Some(s);
    }
    if let Some(p) = &cfg.sslrootcert {
        if !Path::new(p).exists() {
            return Err(format!("`sslrootcert` file `{p}` does not exist"));
        }
    }
    match t.get("schemas") {
        None => {}
        Some(toml::Value::Array(a)) => {
            let list = a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("`schemas` must be a list of strings")?;
            cfg.schemas = Some(list);
        }
        Some(_) => return Err("`schemas` must be a list of strings".into()),
    }
    if let Some(n) = opt_int(t, "max_connections")? {
        if n == 0 {
            return Err("`max_connections` must be at least 1".into());
        }
        cfg.max_connections = n as usize;
    }
    if let Some(text) = opt_str(t, "read_timeout")? {
        let d = humantime::parse_duration(&text)
            .map_err(|e| format!("`read_timeout` = \"{text}\": {e} (write it like \"30s\" or \"5m\")"))?;
        if d.is_zero() {
            return Err("`read_timeout` must be longer than zero".into());
        }
        cfg.read_timeout = d;
    }
    Ok(cfg)
}

fn parse_sslmode(s: &str) -> Result<SslMode, String> {
    SslMode::parse(s).ok_or_else(|| {
        format!("`sslmode` = `{s}` is not one of disable, prefer, require, verify-full")
    })
}

fn parse_parquet(t: &toml::Table, base: &Path) -> Result<ParquetConfig, String> {
    let mut location = opt_str(t, "location")?
        .ok_or("missing `location` (s3://bucket/prefix/ or file:///abs/path/)")?;
    if !location.contains("://") {
        // A plain path, relative to the catalog file.
        let path = base.join(&location);
        let abs = path
            .canonicalize()
            .map_err(|e| format!("`location` {}: {e}", path.display()))?;
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
    let s3 = match t.get("s3") {
        None => S3Config::default(),
        Some(toml::Value::Table(s)) => {
            if !is_s3 {
                return Err("`[s3]` is only valid with an s3:// location".into());
            }
            parse_s3(s, "s3.")?
        }
        Some(_) => return Err("`s3` must be a table ([s3])".into()),
    };
    Ok(ParquetConfig { location, s3 })
}

/// An `[s3]` table (its strings already expanded); `at` names it in errors.
pub(crate) fn parse_s3(s: &toml::Table, at: &str) -> Result<S3Config, String> {
    check_keys(s, S3_KEYS, at)?;
    let s3 = S3Config {
        endpoint: opt_str(s, "endpoint")?,
        region: opt_str(s, "region")?,
        access_key_id: opt_str(s, "access_key_id")?.map(Secret::new),
        secret_access_key: opt_str(s, "secret_access_key")?.map(Secret::new),
        allow_http: opt_bool(s, "allow_http")?.unwrap_or(false),
    };
    if let Some(ep) = &s3.endpoint {
        if ep.starts_with("http://") && !s3.allow_http {
            return Err(format!("`{at}endpoint` `{ep}` is plain http: set `allow_http = true` in [{}]", at.trim_end_matches('.')));
        }
    }
    Ok(s3)
}

/// A stable text form of the key settings, for `check`, with no secret.
pub fn describe(c: &CatalogConfig) -> String {
    match &c.source {
        SourceConfig::Db(d) => format!(
            "{}://{}@{}:{}/{}",
            c.kind.name(),
            d.user,
            d.host,
            d.port,
            d.database
        ),
        SourceConfig::Parquet(p) => p.location.clone(),
    }
}



#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn mysql_url_and_defaults() {
        let c = parse_catalog(
            "live",
            "connector = \"mysql\"\nurl = \"mysql://app:p%40ss@db.internal:3307/shop?sslmode=require\"\n",
            Path::new("."), &env(&[]),
        )
        .unwrap();
        let SourceConfig::Db(d) = c.source else { panic!() };
        assert_eq!(d.host, "db.internal");
        assert_eq!(d.port, 3307);
        assert_eq!(d.user, "app");
        assert_eq!(d.password.expose(), "p@ss");
        assert_eq!(d.database, "shop");
        assert_eq!(d.sslmode, SslMode::Require);
        assert_eq!(d.max_connections, 4);
        assert!(!format!("{d:?}").contains("p@ss"));
    }

    #[test]
    fn redshift_defaults_to_5439_and_require() {
        let c = parse_catalog(
            "wh",
            "connector = \"redshift\"\nhost = \"x\"\nuser = \"u\"\ndatabase = \"d\"\n",
            Path::new("."), &env(&[]),
        )
        .unwrap();
        let SourceConfig::Db(d) = c.source else { panic!() };
        assert_eq!(d.port, 5439);
        assert_eq!(d.sslmode, SslMode::Require);
    }

    #[test]
    fn env_expansion_and_missing_var() {
        let text = "connector = \"postgres\"\nhost = \"h\"\nuser = \"u\"\npassword = \"${PGPW}\"\ndatabase = \"d\"\nport = \"${PGPORT}\"\n";
        let c = parse_catalog("p", text, Path::new("."), &env(&[("PGPW", "s3cret"), ("PGPORT", "6000")])).unwrap();
        let SourceConfig::Db(d) = c.source else { panic!() };
        assert_eq!(d.password.expose(), "s3cret");
        assert_eq!(d.port, 6000);
        let err = parse_catalog("p", text, Path::new("."), &env(&[("PGPORT", "1")])).unwrap_err();
        assert_eq!(err, "environment variable `PGPW` is not set");
        let with_default = text.replace("${PGPW}", "${PGPW:-dflt}");
        let c = parse_catalog("p", &with_default, Path::new("."), &env(&[("PGPORT", "1")])).unwrap();
        let SourceConfig::Db(d) = c.source else { panic!() };
        assert_eq!(d.password.expose(), "dflt");
    }

    #[test]
    fn unknown_key_and_connector_are_named() {
        let err = parse_catalog(
            "p",
            "connector = \"postgres\"\nhost = \"h\"\nsslmod = \"disable\"\n",
            Path::new("."), &env(&[]),
        )
        .unwrap_err();
        assert_eq!(err, "unknown key `sslmod` (did you mean `sslmode`?)");
        let err = parse_catalog("p", "connector = \"oracle\"\n", Path::new("."), &env(&[])).unwrap_err();
        assert!(err.contains("unknown connector `oracle`"), "{err}");
        let err = parse_catalog(
            "p",
            "connector = \"parquet\"\nlocation = \"s3://b/\"\n[s3]\nendpint = \"x\"\n",
            Path::new("."), &env(&[]),
        )
        .unwrap_err();
        assert_eq!(err, "unknown key `s3.endpint` (did you mean `s3.endpoint`?)");
    }

    #[test]
    fn parquet_requires_allow_http_for_http_endpoint() {
        let text = "connector = \"parquet\"\nlocation = \"s3://b/p\"\n[s3]\nendpoint = \"http://127.0.0.1:9000\"\n";
        let err = parse_catalog("h", text, Path::new("."), &env(&[])).unwrap_err();
        assert!(err.contains("allow_http = true"), "{err}");
        let ok = format!("{text}allow_http = true\n");
        let c = parse_catalog("h", &ok, Path::new("."), &env(&[])).unwrap();
        let SourceConfig::Parquet(p) = c.source else { panic!() };
        assert_eq!(p.location, "s3://b/p/");
    }

    #[test]
    fn read_timeout_is_a_duration() {
        let base = "connector = \"mysql\"\nurl = \"mysql://u@h/db\"\n";
        let c = parse_catalog("live", &format!("{base}read_timeout = \"90s\"\n"), Path::new("."), &env(&[])).unwrap();
        let SourceConfig::Db(d) = c.source else { panic!() };
        assert_eq!(d.read_timeout, std::time::Duration::from_secs(90));
        let e = parse_catalog("live", &format!("{base}read_timeout = \"soon\"\n"), Path::new("."), &env(&[])).unwrap_err();
        assert!(e.contains("read_timeout"), "{e}");
    }

    #[test]
    fn bad_sslmode_is_named() {
        let err = parse_catalog(
            "p",
            "connector = \"mysql\"\nuser = \"u\"\ndatabase = \"d\"\nsslmode = \"required\"\n",
            Path::new("."), &env(&[]),
        )
        .unwrap_err();
        assert!(err.contains("`sslmode` = `required`"), "{err}");
    }
}
