//! Test harness: real services, a real fedsql process, real clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::{Client, NoTls};

mod proxy;
mod s3;
#[allow(unused_imports)]
pub use proxy::Proxy;
#[allow(unused_imports)]
pub use s3::{Bucket, S3_ENDPOINT};

/// A name no other test run (here or in CI) will use.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() % 1_000_000_000;
    format!("{prefix}_{}_{t}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Runs SQL in MariaDB through its own client; returns tab-separated rows.
pub fn mysql(db: Option<&str>, sql: &str) -> Vec<Vec<String>> {
    mysql_at(3306, db, sql)
}

pub fn mysql_at(port: u16, db: Option<&str>, sql: &str) -> Vec<Vec<String>> {
    let mut cmd = Command::new("mariadb");
    cmd.args(["--default-character-set=utf8mb4", "-h", "127.0.0.1", "-P", &port.to_string(), "-u", "root", "-N", "-B", "-e", sql]);
    if let Some(db) = db {
        cmd.arg(db);
    }
    let out = cmd.output().expect("the mariadb client is installed");
    assert!(out.status.success(), "mariadb failed: {}\n{sql}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// A MariaDB database that is dropped at the end of the test.
pub struct MysqlDb {
    pub name: String,
}

impl MysqlDb {
    pub fn create(setup: &str) -> Self {
        let name = unique("fedsql_t");
        mysql(None, &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"));
        mysql(Some(&name), setup);
        MysqlDb { name }
    }
}

impl Drop for MysqlDb {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e", &format!("DROP DATABASE IF EXISTS {}", self.name)])
            .output();
    }
}

pub async fn pg_connect(port: u16, db: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname={db}"),
        NoTls,
    )
    .await
    .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}/{db}: {e}"));
    tokio::spawn(conn);
    client
}

/// A PostgreSQL database that is dropped at the end of the test.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub async fn create(setup: &str) -> Self {
        let name = unique("fedsql_t");
        let admin = pg_connect(5432, "postgres").await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let c = pg_connect(5432, &name).await;
        c.batch_execute(setup).await.unwrap();
        PgDb { name }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q", "-c",
                   &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
    }
}

/// A directory of catalog files.
pub struct Catalogs {
    pub dir: PathBuf,
}

impl Catalogs {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("fedsql_catalogs"));
        std::fs::create_dir_all(&dir).unwrap();
        Catalogs { dir }
    }
    pub fn add(self, name: &str, toml: &str) -> Self {
        std::fs::write(self.dir.join(format!("{name}.toml")), toml).unwrap();
        self
    }
    pub fn mysql(self, name: &str, db: &str) -> Self {
        self.mysql_port(name, db, 3306)
    }
    pub fn mysql_port(self, name: &str, db: &str, port: u16) -> Self {
        self.add(name, &format!(
            "connector = \"mysql\"\nurl = \"mysql://root@127.0.0.1:{port}/{db}\"\nsslmode = \"disable\"\nrefresh_secs = 1\n"))
    }
    pub fn postgres(self, name: &str, db: &str) -> Self {
        self.postgres_port(name, db, 5432, "postgres")
    }
    pub fn postgres_port(self, name: &str, db: &str, port: u16, connector: &str) -> Self {
        self.add(name, &format!(
            "connector = \"{connector}\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"postgres\"\ndatabase = \"{db}\"\nsslmode = \"disable\"\nrefresh_secs = 1\n"))
    }
    pub fn parquet(self, name: &str, dir: &Path) -> Self {
        self.add(name, &format!("connector = \"parquet\"\nlocation = \"file://{}/\"\n", dir.display()))
    }
}

impl Drop for Catalogs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `fedsql serve`, killed on drop.
pub struct Server {
    child: Child,
    config_file: PathBuf,
    pub port: u16,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    pub fn start(catalogs: &Catalogs) -> Self {
        Self::start_with(catalogs, "")
    }

    /// Starts with `config` as the server's settings file (`fedsql serve --config`).
    pub fn start_with(catalogs: &Catalogs, config: &str) -> Self {
        let config_file = catalogs.dir.with_extension("server.toml");
        std::fs::write(&config_file, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_fedsql"))
            .args(["serve", "--catalogs"])
            .arg(&catalogs.dir)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config_file)
            .env("RUST_LOG", "fedsql=debug,info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fedsql");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let port = loop {
            let line = lines.next().expect("fedsql exited before listening").unwrap();
            eprintln!("[fedsql] {line}");
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(addr) = line.strip_prefix("fedsql listening on ") {
                break addr.rsplit(':').next().unwrap().parse().unwrap();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[fedsql] {line}");
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server { child, config_file, port, log }
    }

    /// The server's peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    }

    /// CPU seconds the server has used so far (user and system).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        // SAFETY: sysconf only reads its argument.
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    /// Sends SIGTERM, as a service manager stops a server.
    pub fn terminate(&self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    /// Waits up to `limit` for the server to exit; its status if it did.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub async fn client(&self) -> Client {
        pg_connect(self.port, "fedsql").await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.config_file.as_path());
    }
}

/// A Parquet table of `rows` rows, `id` (0..rows) and `v` (a scrambled 0..10007), as
/// `<dir>/<schema>/<table>/data.parquet`.
pub fn parquet_table(dir: &Path, schema: &str, table: &str, rows: i64) {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let path = dir.join(schema).join(table);
    std::fs::create_dir_all(&path).unwrap();
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Int64Array::from_iter_values(0..rows)),
            std::sync::Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 7919 % 10007))),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(path.join("data.parquet")).unwrap();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The SQLSTATE and message of a failed statement.
pub fn sqlstate(e: &tokio_postgres::Error) -> (String, String) {
    let db = e.as_db_error().unwrap_or_else(|| panic!("not a server error: {e}"));
    (db.code().code().to_string(), db.message().to_string())
}

/// All rows of a simple query as text (NULL as "NULL").
pub async fn rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    let msgs = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    msgs.into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Turns on MariaDB's general log (as a table) for statement checks.
pub fn mysql_general_log_on() {
    mysql(None, "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;");
}

/// Statements MariaDB logged that mention `needle` (e.g. a unique database name).
pub fn mysql_statements(needle: &str) -> Vec<String> {
    mysql(None, &format!(
        "SELECT REPLACE(REPLACE(CONVERT(argument USING utf8mb4), '\\n', ' '), '\\t', ' ') FROM mysql.general_log \
         WHERE command_type IN ('Query', 'Prepare', 'Execute') AND argument LIKE '%{needle}%' \
         AND argument NOT LIKE '%general_log%' ORDER BY event_time"))
    .into_iter()
    .map(|r| r.join("\t"))
    .collect()
}

/// Makes PostgreSQL log every statement run in `db` (new connections only).
pub async fn pg_log_statements(db: &str) {
    let admin = pg_connect(5432, "postgres").await;
    admin.batch_execute(&format!("ALTER DATABASE {db} SET log_statement = 'all'")).await.unwrap();
}

/// Statements PostgreSQL logged for `db`, read from the server's own log file.
pub fn pg_statements(db: &str) -> Vec<String> {
    let mut out = Vec::new();
    let logs = std::fs::read_dir("/var/log/postgresql").expect("PostgreSQL logs in /var/log/postgresql");
    for entry in logs.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        let mut current: Option<String> = None;
        for line in text.lines() {
            let is_new = line.len() > 4 && line.as_bytes()[..4].iter().all(u8::is_ascii_digit);
            if is_new {
                out.extend(current.take());
                let marker = format!("@{db} LOG:  ");
                if let Some(pos) = line.find(&marker) {
                    let rest = &line[pos + marker.len()..];
                    if let Some((_, sql)) = rest.split_once(": ") {
                        if rest.starts_with("statement") || rest.starts_with("execute") {
                            current = Some(sql.to_string());
                        }
                    }
                }
            } else if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
        }
        out.extend(current.take());
    }
    out
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throwaway MariaDB server of the test's own, on its own port; killed on drop.
pub struct ThrowawayMariaDb {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl ThrowawayMariaDb {
    /// Prepares a data directory; `start` runs the server.
    pub fn new(port: u16) -> Self {
        let dir = std::env::temp_dir().join(unique("fedsql_mariadb"));
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--skip-test-db", "--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", dir.display()))
            .output()
            .expect("mariadb-install-db is installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ThrowawayMariaDb { port, dir, child: None }
    }

    pub fn start(&mut self) {
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
            .arg(format!("--datadir={}", self.dir.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}/sock", self.dir.display()))
            .arg(format!("--log-error={}/err.log", self.dir.display()))
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("throwaway MariaDB did not open port {}", self.port);
    }

    /// Kills the server the hard way, as a crash or a network cut would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ThrowawayMariaDb {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
