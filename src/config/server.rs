//! The server's own settings (`fedsql serve --config fedsql.toml`): where spill files go,
//! and the limits that keep one heavy query from hurting the others. Every key has a
//! default sized from the machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `HOST:PORT`; `--listen` overrides it.
    pub listen: Option<String>,
    /// The catalogs directory (relative to this file); `--catalogs` overrides it.
    pub catalogs: Option<PathBuf>,
    /// Spill files (and later snapshots) live here.
    pub data_dir: PathBuf,
    pub tls: Option<Tls>,
    /// Users by name; with none, sessions are trusted (loopback only unless `--insecure`).
    pub users: BTreeMap<String, User>,
    /// What each user or group may read: `catalog`, `catalog.schema` or
    /// `catalog.schema.table`, each optionally ending in `.*`, or `*`.
    pub grants: BTreeMap<String, Vec<String>>,
    pub limits: Limits,
    pub shutdown: Shutdown,
    pub snapshots: SnapshotStore,
}

/// `[snapshots]`: where snapshots are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotStore {
    /// A folder (relative to this file) or `s3://bucket/prefix/`; default `<data_dir>/snapshots`.
    pub location: Option<String>,
    /// `[snapshots.s3]`, as a Parquet catalog's `[s3]`.
    #[serde(rename = "s3")]
    s3_table: Option<toml::Table>,
    #[serde(skip)]
    pub s3: super::S3Config,
}

impl SnapshotStore {
    /// Where snapshots live with this configuration and `data_dir`.
    pub fn location(&self, data_dir: &Path) -> String {
        self.location.clone().unwrap_or_else(|| data_dir.join("snapshots").display().to_string())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain and private key (relative to this file).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Refuse sessions that do not use TLS.
    #[serde(default)]
    pub require: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// A SCRAM-SHA-256 verifier as PostgreSQL stores it (`fedsql passwd NAME` prints one),
    /// or `${VAR}` holding one.
    pub password: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// May read everything.
    #[serde(default)]
    pub admin: bool,
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Queries executing at once over the whole server; more wait in a queue.
    pub max_running_queries: usize,
    /// Queries executing at once for one user name.
    pub max_running_queries_per_user: usize,
    /// How long a query may wait in the queue before it fails with 53000.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Memory for the working state of every query together (sorts, aggregates, joins).
    pub memory: ByteSize,
    /// Memory for one query; past it, sorts and aggregates spill and a join fails with 53200.
    pub query_memory: ByteSize,
    /// Sessions at once; past it, a login gets 53300.
    pub max_connections: usize,
    /// A session that runs no statement this long is closed (default: never).
    #[serde(with = "humantime_serde", default)]
    pub idle_session_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shutdown {
    /// On SIGTERM, running statements get this long to finish before they are canceled.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        // The user's data directory, as XDG has it.
        let data_dir = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(std::env::temp_dir)
            .join("fedsql");
        ServerConfig {
            listen: None,
            catalogs: None,
            data_dir,
            tls: None,
            users: BTreeMap::new(),
            grants: BTreeMap::new(),
            limits: Limits::default(),
            shutdown: Shutdown::default(),
            snapshots: SnapshotStore::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let memory = machine_memory().map_or(ByteSize::gib(2), |m| ByteSize::b(m / 2));
        Limits {
            // Queries waiting on their sources hold a place without using a core, and a
            // dashboard sends a dozen at once as one user.
            max_running_queries: (8 * cores).max(8),
            max_running_queries_per_user: (4 * cores).max(4),
            queue_timeout: Duration::from_secs(60),
            memory,
            query_memory: ByteSize::b(memory.as_u64() / 4),
            max_connections: 200,
            idle_session_timeout: None,
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown { grace: Duration::from_secs(30) }
    }
}

/// The memory this process may use: the cgroup's limit if one is set, else the machine's.
fn machine_memory() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

impl ServerConfig {
    /// Reads `path`; a relative `data_dir` is taken from the file's directory.
    pub fn load(path: &Path) -> Result<ServerConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let env = |v: &str| std::env::var(v).ok();
        let mut config = Self::parse(&text, &env).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let relative = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        relative(&mut config.data_dir);
        if let Some(l) = config.snapshots.location.as_mut().filter(|l| !l.contains("://")) {
            *l = base.join(&*l).display().to_string();
        }
        if let Some(c) = config.catalogs.as_mut() {
            relative(c);
        }
        if let Some(t) = config.tls.as_mut() {
            relative(&mut t.cert);
            relative(&mut t.key);
        }
        Ok(config)
    }

    /// Parses the file's text; `env` resolves `${VAR}` in user passwords.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ServerConfig, String> {
        let mut config: ServerConfig = toml::from_str(text).map_err(|e| e.message().to_string())?;
        for (name, user) in config.users.iter_mut() {
            user.password = super::expand_str(&user.password, env).map_err(|e| format!("users.{name}.password: {e}"))?;
        }
        let snapshots = &mut config.snapshots;
        if let Some(t) = snapshots.s3_table.take() {
            if !snapshots.location.as_deref().is_some_and(|l| l.starts_with("s3://")) {
                return Err("[snapshots.s3] is only valid with an s3:// `snapshots.location`".into());
            }
            let t = super::expand_env(toml::Value::Table(t), env)?;
            snapshots.s3 = super::parse_s3(t.as_table().expect("a table stays one"), "snapshots.s3.")?;
        }
        if let Some(l) = &snapshots.location {
            if l.contains("://") && !l.starts_with("s3://") && !l.starts_with("file:///") {
                return Err(format!("snapshots.location `{l}` must be a folder, file:///path or s3://bucket/prefix/"));
            }
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let l = &self.limits;
        if l.max_running_queries == 0 || l.max_running_queries_per_user == 0 {
            return Err("limits.max_running_queries and limits.max_running_queries_per_user must be at least 1".into());
        }
        if l.query_memory > l.memory {
            return Err(format!("limits.query_memory ({}) is larger than limits.memory ({})", l.query_memory, l.memory));
        }
        let principals: Vec<&String> = self.users.keys().chain(self.users.values().flat_map(|u| &u.groups)).collect();
        if let Some(unknown) = self.grants.keys().find(|g| !principals.contains(g)) {
            return Err(format!("grants.{unknown}: no user has that name or group"));
        }
        if l.query_memory < ByteSize::mib(16) {
            return Err(format!("limits.query_memory ({}) must be at least 16 MiB", l.query_memory));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_are_read_as_written() {
        let c = ServerConfig::parse(
            "data_dir = \"/tmp/x\"\n[limits]\nmemory = \"1GiB\"\nquery_memory = \"256MiB\"\nqueue_timeout = \"5s\"\n[shutdown]\ngrace = \"2m\"",
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.limits.memory, ByteSize::gib(1));
        assert_eq!(c.limits.query_memory, ByteSize::mib(256));
        assert_eq!(c.limits.queue_timeout, Duration::from_secs(5));
        assert_eq!(c.shutdown.grace, Duration::from_secs(120));
    }

    #[test]
    fn unknown_keys_and_impossible_limits_are_refused() {
        let e = ServerConfig::parse("[limits]\nmemroy = \"1GiB\"", &|_| None).unwrap_err();
        assert!(e.contains("memroy"), "{e}");
        let e = ServerConfig::parse("[limits]\nmemory = \"1GiB\"\nquery_memory = \"2GiB\"", &|_| None).unwrap_err();
        assert!(e.contains("query_memory"), "{e}");
    }

    #[test]
    fn defaults_fit_the_machine() {
        let l = Limits::default();
        assert!(l.query_memory <= l.memory && l.max_running_queries >= l.max_running_queries_per_user);
    }
}
