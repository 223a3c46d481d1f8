//! Catalog files: one `*.toml` per catalog, named after the file stem (Trino style).

mod keys;
pub mod server;
pub mod snapshot;

pub use server::{Limits, ServerConfig};

use std::fmt;
use std::path::{Path, PathBuf};

pub use keys::{count, typed};


#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{dir}: cannot read catalogs directory: {source}")]
    Dir { dir: String, source: std::io::Error },
}

/// A secret value: masked in every Debug/Display so it never reaches a log or an error.
#[derive(Clone, Default, PartialEq, serde::Deserialize)]
#[serde(transparent)]
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
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// An S3 endpoint and its credentials (`[s3]`, `[snapshots.s3]`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    #[serde(default, deserialize_with = "keys::switch")]
    pub allow_http: bool,
}

/// A catalog file: the keys every catalog has, and its connector's own keys, which the
/// connector reads (`connectors::configure`).
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub name: String,
    pub file: PathBuf,
    /// `connector = "..."`, as written (None: missing).
    pub connector: Option<String>,
    /// Every other key, `${VAR}` expanded.
    pub keys: toml::Table,
    /// Seconds between background refreshes of the table list.
    pub refresh_secs: u64,
    /// Tables kept as local snapshots (`[[snapshot]]`).
    pub snapshots: Vec<snapshot::SnapshotConfig>,
    /// Where snapshot refreshes read (a read replica); None: the source itself.
    pub refresh_url: Option<String>,
}

impl CatalogConfig {
    /// The folder relative paths in the file are taken from.
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }
}

/// The keys every catalog file may have, whatever its connector.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedKeys {
    connector: Option<String>,
    #[serde(default, deserialize_with = "keys::count")]
    refresh_secs: Option<u64>,
    snapshot: Option<toml::Value>,
    refresh_url: Option<String>,
}

pub const DEFAULT_REFRESH_SECS: u64 = 60;

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
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    parse_catalog(name, &text, path, &|v| std::env::var(v).ok())
        .map_err(|message| ConfigError::Invalid { file, message })
}

/// Parses one catalog file's text; `env` resolves `${VAR}`.
pub fn parse_catalog(
    name: &str,
    text: &str,
    file: &Path,
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
    let toml::Value::Table(mut keys) = expand_env(toml::Value::Table(table), env)? else {
        unreachable!("a table expands to a table")
    };
    let shared: SharedKeys = typed(keys::take::<SharedKeys>(&mut keys), "")?;
    let snapshots = match &shared.snapshot {
        Some(v) => snapshot::parse(v)?,
        None => Vec::new(),
    };
    if shared.refresh_url.is_some() && snapshots.is_empty() {
        return Err("`refresh_url` is for snapshot refreshes: add a [[snapshot]]".into());
    }
    Ok(CatalogConfig {
        name: name.to_string(),
        file: file.to_path_buf(),
        connector: shared.connector,
        keys,
        refresh_secs: shared.refresh_secs.unwrap_or(DEFAULT_REFRESH_SECS),
        snapshots,
        refresh_url: shared.refresh_url,
    })
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

/// An `[s3]` table (its strings already expanded); `at` names it in errors.
pub fn parse_s3(s: &toml::Table, at: &str) -> Result<S3Config, String> {
    let s3: S3Config = typed(s.clone(), at)?;
    if let Some(ep) = &s3.endpoint {
        if ep.starts_with("http://") && !s3.allow_http {
            return Err(format!("`{at}endpoint` `{ep}` is plain http: set `allow_http = true` in [{}]", at.trim_end_matches('.')));
        }
    }
    Ok(s3)
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
    fn shared_keys_are_taken_and_the_rest_expanded() {
        let text = "connector = \"postgres\"\nrefresh_secs = \"${SECS}\"\nhost = \"${HOST:-h}\"\n";
        let c = parse_catalog("p", text, Path::new("c/p.toml"), &env(&[("SECS", "5")])).unwrap();
        assert_eq!((c.connector.as_deref(), c.refresh_secs), (Some("postgres"), 5));
        assert_eq!(c.keys.get("host").and_then(|v| v.as_str()), Some("h"));
        assert_eq!((c.keys.len(), c.dir()), (1, Path::new("c")));
        let err = parse_catalog("p", "password = \"${PGPW}\"", Path::new("p.toml"), &env(&[])).unwrap_err();
        assert_eq!(err, "environment variable `PGPW` is not set");
    }

    #[test]
    fn refresh_url_needs_a_snapshot() {
        let err = parse_catalog("p", "connector = \"mysql\"\nrefresh_url = \"mysql://r/db\"", Path::new("p.toml"), &env(&[]))
            .unwrap_err();
        assert!(err.contains("add a [[snapshot]]"), "{err}");
    }

    #[test]
    fn s3_keys_are_checked() {
        let s3 = |text: &str| parse_s3(&toml::from_str(text).unwrap(), "s3.");
        assert_eq!(s3("endpint = \"x\"").unwrap_err(), "unknown key `s3.endpint` (did you mean `s3.endpoint`?)");
        assert!(s3("endpoint = \"http://127.0.0.1:9000\"").unwrap_err().contains("allow_http = true"));
        let ok = s3("endpoint = \"http://127.0.0.1:9000\"\nallow_http = true\nsecret_access_key = \"k\"").unwrap();
        assert!(!format!("{ok:?}").contains("\"k\""));
    }
}
