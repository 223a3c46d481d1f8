//! Snapshots over real MariaDB and PostgreSQL: queries on a snapshotted table send the
//! source nothing (its own statement logs say so), refreshes catch what they must, and a
//! crash or an outage leaves the last complete version serving.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A data directory that is removed at the end of the test.
struct DataDir(std::path::PathBuf);

impl DataDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("fedsql_data"));
        std::fs::create_dir_all(&dir).unwrap();
        DataDir(dir)
    }
    fn config(&self) -> String {
        format!("data_dir = \"{}\"\n", self.0.display())
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until `fedsql.snapshots` says `name` is in `state`; returns its row.
async fn wait_state(client: &tokio_postgres::Client, name: &str, states: &[&str]) -> Vec<String> {
    let start = Instant::now();
    loop {
        let got = rows(
            client,
            &format!("SELECT state, rows, version, last_statements, last_error, age_seconds FROM fedsql.snapshots WHERE name = '{name}'"),
        )
        .await;
        if let Some(row) = got.first() {
            if states.contains(&row[0].as_str()) {
                return row.clone();
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{name} never reached {states:?}: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `catalogs` with `lines` added to catalog `name`'s file.
fn with_lines(catalogs: Catalogs, name: &str, lines: &str) -> Catalogs {
    let toml = std::fs::read_to_string(catalogs.dir.join(format!("{name}.toml"))).unwrap() + lines;
    catalogs.add(name, &toml)
}

fn sorted(mut r: Vec<Vec<String>>) -> Vec<Vec<String>> {
    r.sort();
    r
}

const LOG_TABLE: &str = "CREATE TABLE api_call_log (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, org_code VARCHAR(16) NOT NULL, \
     requested_at DATETIME(6) NOT NULL, duration_ms INT, fee DECIMAL(12,2)); \
     CREATE TABLE orgs (org_code VARCHAR(16) PRIMARY KEY, name VARCHAR(40));";

fn fill_log(db: &str, rows: usize) {
    let values: Vec<String> = (1..=rows)
        .map(|i| {
            let fee = if i % 7 == 0 { "NULL".to_string() } else { format!("{}.{:02}", i % 1000, i % 100) };
            format!(
                "({i}, 'BANK{:02}', TIMESTAMP('2026-11-30 23:00:00') + INTERVAL {} SECOND, {}, {fee})",
                i % 5,
                i * 7,
                (i * 37) % 2000
            )
        })
        .collect();
    for chunk in values.chunks(500) {
        mysql(Some(db), &format!("INSERT INTO api_call_log VALUES {}", chunk.join(",")));
    }
    mysql(Some(db), "INSERT INTO orgs VALUES ('BANK00','Zero'),('BANK01','One'),('BANK02','Two'),('BANK03','Three')");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bi_queries_on_a_mysql_snapshot_send_the_source_nothing() {
    mysql_general_log_on();
    let db = MysqlDb::create(LOG_TABLE);
    fill_log(&db.name, 1000);
    let data = DataDir::new();
    let catalogs = Catalogs::new().mysql("live", &db.name);
    let catalogs = with_lines(catalogs, "live", &format!("\n[[snapshot]]\ntable = \"{}.api_call_log\"\nevery = \"1h\"\nchunk_rows = 300\n", db.name));
    let server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let name = format!("live.{}.api_call_log", db.name);
    let ready = wait_state(&client, &name, &["ready"]).await;
    assert_eq!(ready[1], "1000", "{ready:?}");
    // A full load reads in key-ordered chunks of chunk_rows: 1000 rows are 4 statements.
    assert_eq!(ready[3], "4", "{ready:?}");
    // MariaDB logs a prepared statement twice (Prepare, Execute).
    let mut reads: Vec<String> = mysql_statements(&db.name).into_iter().filter(|s| s.contains("api_call_log") && s.contains("ORDER BY")).collect();
    reads.dedup();
    assert_eq!(reads.len(), 4, "{reads:#?}");
    assert!(reads.iter().all(|s| s.contains("LIMIT 300")), "{reads:#?}");

    let before = mysql_statements(&db.name).len();
    let t = format!("live.{}.api_call_log", db.name);
    let o = format!("live.{}.orgs", db.name);
    let queries = [
        (format!("SELECT count(*), sum(fee), min(requested_at), max(duration_ms) FROM {t}"),
         "SELECT count(*), sum(fee), min(requested_at), max(duration_ms) FROM api_call_log".to_string()),
        (format!("SELECT org_code, count(*), sum(duration_ms), round(avg(fee), 6) FROM {t} WHERE org_code = 'BANK01' GROUP BY org_code"),
         "SELECT org_code, count(*), sum(duration_ms), round(avg(fee), 6) FROM api_call_log WHERE org_code = 'BANK01' GROUP BY org_code".to_string()),
        (format!("SELECT id, fee FROM {t} WHERE requested_at >= '2026-12-01 00:00:00' ORDER BY id LIMIT 5"),
         "SELECT id, fee FROM api_call_log WHERE requested_at >= '2026-12-01 00:00:00' ORDER BY id LIMIT 5".to_string()),
        (format!("SELECT DISTINCT org_code FROM {t} ORDER BY 1"), "SELECT DISTINCT org_code FROM api_call_log ORDER BY 1".to_string()),
    ];
    for (ours, theirs) in &queries {
        let got = rows(&client, ours).await;
        let want = mysql(Some(&db.name), theirs);
        let want: Vec<Vec<String>> = want
            .into_iter()
            .map(|r| r.into_iter().map(|v| v.trim_end_matches(".000000").to_string()).collect())
            .collect();
        let got: Vec<Vec<String>> = got.into_iter().map(|r| r.into_iter().map(|v| v.replace('T', " ").trim_end_matches(".000000").to_string()).collect()).collect();
        assert_eq!(got, want, "{ours}");
    }
    // A snapshot joined with a live table of the same source: only the live one is read.
    let joined = rows(&client, &format!("SELECT o.name, count(*) FROM {t} l JOIN {o} o ON o.org_code = l.org_code GROUP BY o.name ORDER BY 1")).await;
    assert_eq!(joined, vec![vec!["One".to_string(), "200".into()], vec!["Three".into(), "200".into()], vec!["Two".into(), "200".into()], vec!["Zero".into(), "200".into()]]);
    let after: Vec<String> = mysql_statements(&db.name).into_iter().skip(before).collect();
    let on_snapshot: Vec<&String> = after.iter().filter(|s| s.contains("api_call_log")).collect();
    assert!(on_snapshot.is_empty(), "queries on the snapshot reached MariaDB: {on_snapshot:#?}");
    assert!(after.iter().any(|s| s.contains("orgs")), "the live table was read: {after:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_refresh_keeps_ties_late_rows_and_updates_without_duplicates() {
    let db = MysqlDb::create("CREATE TABLE events (id INT PRIMARY KEY, at DATETIME(6) NOT NULL, v INT)");
    mysql(Some(&db.name), "INSERT INTO events VALUES (1,'2026-12-01 09:00:00',1),(2,'2026-12-01 09:00:00',2),(3,'2026-12-01 09:00:01',3),(4,'2026-12-01 09:00:01',4),(5,'2026-12-01 09:00:01',5)");
    // Older rows, far outside any overlap: an append never reads them again.
    let old: Vec<String> = (1000..1100).map(|i| format!("({i},'2026-11-01 00:00:00',{i})")).collect();
    mysql(Some(&db.name), &format!("INSERT INTO events VALUES {}", old.join(",")));
    let data = DataDir::new();
    let catalogs = Catalogs::new().mysql("live", &db.name);
    // chunk_rows = 2: chunks end inside runs of equal cursor values.
    let catalogs = with_lines(catalogs, "live", &format!("\n[[snapshot]]\ntable = \"{}.events\"\nrefresh = \"append\"\ncursor = \"at\"\noverlap = \"10m\"\nevery = \"1h\"\nchunk_rows = 2\n", db.name));
    let server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let name = format!("live.{}.events", db.name);
    wait_state(&client, &name, &["ready"]).await;
    let ours = format!("SELECT id, CAST(at AS TEXT), v FROM {name}");
    let check = |step: &'static str| {
        let client = &client;
        let ours = ours.clone();
        let db = db.name.clone();
        async move {
            let got = sorted(rows(client, &ours).await);
            let want = sorted(mysql(Some(&db), "SELECT id, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s'), v FROM events"));
            assert_eq!(got.len(), want.len(), "{step}: {got:?} vs {want:?}");
            for (g, w) in got.iter().zip(&want) {
                let at = g[1].replace('T', " ");
                assert_eq!((&g[0], at.get(..19).unwrap_or(&at), &g[2]), (&w[0], w[1].as_str(), &w[2]), "{step}");
            }
            let dup = rows(client, &format!("SELECT count(*) - count(DISTINCT id) FROM {}", ours.rsplit("FROM ").next().unwrap())).await;
            assert_eq!(dup[0][0], "0", "{step}: duplicated keys");
        }
    };
    check("first load").await;
    let refresh = format!("REFRESH SNAPSHOT {name}");
    // A row sharing the last maximum cursor value.
    mysql(Some(&db.name), "INSERT INTO events VALUES (6,'2026-12-01 09:00:01',6)");
    let r = rows(&client, &refresh).await;
    assert_eq!(r[0][5], "f", "an append, not a full refresh: {r:?}");
    check("a tie with the last maximum").await;
    // A late row, inside the overlap.
    mysql(Some(&db.name), "INSERT INTO events VALUES (7,'2026-12-01 08:55:00',7)");
    rows(&client, &refresh).await;
    check("a late row").await;
    // Updated in place inside the window, and moved forward from outside it.
    mysql(Some(&db.name), "UPDATE events SET v = 60 WHERE id = 6; UPDATE events SET v = 10, at = '2026-12-01 09:30:00' WHERE id = 1");
    let r = rows(&client, &refresh).await;
    check("updates").await;
    // Reads stay bounded: the window, not the table.
    assert!(r[0][3].parse::<u64>().unwrap() <= 7, "append read {} rows", r[0][3]);
    // Twice in a row changes nothing.
    rows(&client, &refresh).await;
    check("an idle refresh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_removes_deleted_rows_and_an_outage_serves_the_last_version() {
    let db = MysqlDb::create("CREATE TABLE accounts (id INT PRIMARY KEY, balance DECIMAL(20,4))");
    mysql(Some(&db.name), "INSERT INTO accounts VALUES (1, 10.0001), (2, 20.0002), (3, 30.0003)");
    let proxy = Proxy::start(3306);
    let data = DataDir::new();
    let catalogs = Catalogs::new().mysql_port("live", &db.name, proxy.port);
    let catalogs = with_lines(catalogs, "live", &format!("read_timeout = \"2s\"\n\n[[snapshot]]\ntable = \"{}.accounts\"\nevery = \"1h\"\n", db.name));
    let server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let name = format!("live.{}.accounts", db.name);
    wait_state(&client, &name, &["ready"]).await;
    mysql(Some(&db.name), "DELETE FROM accounts WHERE id = 2; INSERT INTO accounts VALUES (4, 40.0004)");
    rows(&client, &format!("REFRESH SNAPSHOT {name}")).await;
    let got = rows(&client, &format!("SELECT id, balance FROM {name} ORDER BY id")).await;
    assert_eq!(got, vec![vec!["1".to_string(), "10.0001".into()], vec!["3".into(), "30.0003".into()], vec!["4".into(), "40.0004".into()]]);

    // The command line refreshes it through the server, and says what it read.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["snapshot", "refresh", &name, "--server", &format!("postgresql://postgres@127.0.0.1:{}/fedsql", server.port)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("{name}: version 3, 3 rows; read 3 rows in 1 statements (full refresh)")), "{stdout}");

    // The source stops answering: the refresh fails, the snapshot keeps answering.
    proxy.blackhole();
    let err = client.simple_query(&format!("REFRESH SNAPSHOT {name}")).await.unwrap_err();
    let (code, message) = sqlstate(&err);
    assert_eq!(code, "08006", "{message}");
    assert!(message.contains(&name), "{message}");
    let got = rows(&client, &format!("SELECT sum(balance) FROM {name}")).await;
    assert_eq!(got[0][0], "80.0008");
    let status = wait_state(&client, &name, &["stale"]).await;
    assert!(!status[4].is_empty(), "the last error is shown: {status:?}");
    let age: i64 = status[5].parse().unwrap_or(-1);
    assert!((0..60).contains(&age), "its age is shown, as of the refresh before the outage: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_refresh_then_restart_serves_the_previous_version() {
    mysql_general_log_on();
    let db = MysqlDb::create(LOG_TABLE);
    fill_log(&db.name, 20_000);
    let data = DataDir::new();
    let proxy = Proxy::start(3306);
    let catalogs = Catalogs::new().mysql_port("live", &db.name, proxy.port);
    let catalogs = with_lines(catalogs, "live", &format!("\n[[snapshot]]\ntable = \"{}.api_call_log\"\nevery = \"1h\"\nchunk_rows = 100\n", db.name));
    let name = format!("live.{}.api_call_log", db.name);
    let mut server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let first = wait_state(&client, &name, &["ready"]).await;
    assert_eq!(first[1], "20000");
    mysql(Some(&db.name), "DELETE FROM api_call_log WHERE id > 10000");

    // A slow source: the refresh takes 200 statements of 100 rows, each delayed.
    proxy.slow(Duration::from_millis(30));
    let refresher = server.client().await;
    let refresh = format!("REFRESH SNAPSHOT {name}");
    tokio::spawn(async move { let _ = refresher.simple_query(&refresh).await; });
    let start = Instant::now();
    loop {
        let reading = rows(&client, &format!("SELECT refreshing_rows FROM fedsql.snapshots WHERE name = '{name}'")).await;
        if reading[0][0].parse::<u64>().is_ok_and(|n| n >= 2000) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the refresh never started: {reading:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(client);
    drop(server); // SIGKILL mid-refresh
    proxy.forward();

    let before = mysql_statements("api_call_log").len();
    server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let got = rows(&client, &format!("SELECT count(*), max(id) FROM {name}")).await;
    assert_eq!(got, vec![vec!["20000".to_string(), "20000".into()]], "the last complete version serves");
    let status = wait_state(&client, &name, &["ready"]).await;
    assert_eq!(status[2], "1", "{status:?}");
    assert!(server.log().contains("serving stored version 1"), "{}", server.log());
    let after: Vec<String> = mysql_statements("api_call_log").into_iter().skip(before).filter(|s| s.contains(&db.name)).collect();
    assert!(after.is_empty(), "the restarted server read the source: {after:#?}");
    // The unfinished version's files are gone.
    let folder = data.0.join("snapshots/live").join(&db.name).join("api_call_log/v000002");
    let left = std::fs::read_dir(&folder).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "files of the unfinished refresh are left in {}", folder.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_snapshot_answers_without_statements() {
    let db = PgDb::create(
        "CREATE TABLE payments (id bigint PRIMARY KEY, paid_at timestamptz NOT NULL, amount numeric(18,2));
         INSERT INTO payments SELECT g, '2026-12-01 00:00:00+09'::timestamptz + g * interval '1 minute', g * 1.25 FROM generate_series(1, 500) g;",
    )
    .await;
    pg_log_statements(&db.name).await;
    let data = DataDir::new();
    let catalogs = Catalogs::new().postgres("pay", &db.name);
    let catalogs = with_lines(catalogs, "pay", "\n[[snapshot]]\ntable = \"public.payments\"\nrefresh = \"append\"\ncursor = \"paid_at\"\ncron = \"0 9 * * *\"\ntime_zone = \"Asia/Seoul\"\n");
    let server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let status = wait_state(&client, "pay.public.payments", &["ready"]).await;
    assert_eq!(status[1], "500");
    let before = pg_statements(&db.name).len();
    let got = rows(&client, "SELECT count(*), sum(amount), min(paid_at), stddev(amount) > 0 FROM pay.public.payments WHERE paid_at >= '2026-11-30'").await;
    assert_eq!(got[0][..3], ["500".to_string(), "156562.50".into(), "2026-11-30 15:01:00+00".into()]);
    let after: Vec<String> = pg_statements(&db.name).into_iter().skip(before).filter(|s| s.contains("payments")).collect();
    assert!(after.is_empty(), "the snapshot query reached PostgreSQL: {after:#?}");
    // The next cron refresh is at 09:00 in Seoul (00:00 UTC).
    let next = rows(&client, "SELECT CAST(next_refresh AS TEXT) FROM fedsql.snapshots").await;
    assert!(next[0][0].replace('T', " ").contains(" 00:00:0"), "{next:?}");
}

/// Catalog `live` reaching `db` through a blackholed proxy, with a snapshot of its table
/// `t` and `lines` added to the catalog.
fn snapshot_behind_a_blackhole(db: &MysqlDb, lines: &str) -> (Proxy, DataDir, Catalogs) {
    let proxy = Proxy::start(3306);
    proxy.blackhole();
    let catalogs = Catalogs::new().mysql_port("live", &db.name, proxy.port);
    let snapshot = format!("read_timeout = \"2s\"\n{lines}\n[[snapshot]]\ntable = \"{}.t\"\n", db.name);
    (proxy, DataDir::new(), with_lines(catalogs, "live", &snapshot))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_before_the_first_load_is_55000_naming_the_table_and_never_reaches_the_source() {
    let db = MysqlDb::create("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)");
    let (proxy, data, catalogs) = snapshot_behind_a_blackhole(&db, "");
    let server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let name = format!("live.{}.t", db.name);
    let err = client.simple_query(&format!("SELECT * FROM {name}")).await.unwrap_err();
    let (code, message) = sqlstate(&err);
    assert_eq!(code, "55000", "{message}");
    assert!(message.contains(&name) && message.contains("not loaded yet"), "{message}");
    // The connection survives, and the source comes back: the first load ends.
    proxy.forward();
    rows(&client, &format!("REFRESH SNAPSHOT {name}")).await;
    assert_eq!(rows(&client, &format!("SELECT id FROM {name}")).await, vec![vec!["1".to_string()]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_url_reads_refreshes_from_the_replica() {
    // The primary stops answering; the "replica" (the same server, reached directly)
    // serves every refresh read, and queries read the snapshot.
    let db = MysqlDb::create("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(8)); INSERT INTO t VALUES (1, 'a'), (2, 'b')");
    let replica = format!("refresh_url = \"mysql://root@127.0.0.1:3306/{}\"\n", db.name);
    let (_primary, data, catalogs) = snapshot_behind_a_blackhole(&db, &replica);
    let server = Server::start_with(&catalogs, &data.config());
    let client = server.client().await;
    let name = format!("live.{}.t", db.name);
    wait_state(&client, &name, &["ready"]).await;
    assert_eq!(rows(&client, &format!("SELECT id, v FROM {name} ORDER BY id")).await, vec![vec!["1".to_string(), "a".into()], vec!["2".into(), "b".into()]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_keeps_the_snapshot_and_serves_it_after_a_restart_with_the_source_down() {
    let db = MysqlDb::create("CREATE TABLE accounts (id INT PRIMARY KEY, balance DECIMAL(20,4), org VARCHAR(8))");
    mysql(Some(&db.name), "INSERT INTO accounts VALUES (1, 10.0001, 'a'), (2, 20.0002, 'b'), (3, 30.0003, 'a')");
    let bucket = Bucket::new("fedsql-snap");
    let proxy = Proxy::start(3306);
    let catalogs = Catalogs::new().mysql_port("live", &db.name, proxy.port);
    let catalogs = with_lines(catalogs, "live", &format!("read_timeout = \"2s\"\n\n[[snapshot]]\ntable = \"{}.accounts\"\nevery = \"1h\"\n", db.name));
    let config = |data: &DataDir| {
        data.config()
            + &format!(
                "[snapshots]\nlocation = \"s3://{}/snap/\"\n[snapshots.s3]\nendpoint = \"{S3_ENDPOINT}\"\nregion = \"us-east-1\"\n\
                 access_key_id = \"test\"\nsecret_access_key = \"snapshot-secret-0f9e\"\nallow_http = true\n",
                bucket.0
            )
    };
    let name = format!("live.{}.accounts", db.name);
    let first_data = DataDir::new();
    let server = Server::start_with(&catalogs, &config(&first_data));
    let client = server.client().await;
    let status = wait_state(&client, &name, &["ready"]).await;
    assert_eq!(status[1], "3", "{status:?}");
    let keys = bucket.keys("snap/");
    let folder = format!("snap/live/{}/accounts/", db.name);
    assert!(keys.contains(&format!("{folder}manifest.toml")), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with(&format!("{folder}v000001/")) && k.ends_with(".parquet")), "{keys:?}");
    assert!(!first_data.0.join("snapshots").exists(), "an S3 store writes nothing to the data directory");
    let got = rows(&client, &format!("SELECT org, sum(balance) FROM {name} GROUP BY org ORDER BY org")).await;
    assert_eq!(got, vec![vec!["a".to_string(), "40.0004".into()], vec!["b".into(), "20.0002".into()]]);
    // Refreshes publish versions 2 and 3; version 1's files go (the previous version
    // stays for queries still reading it).
    mysql(Some(&db.name), "DELETE FROM accounts WHERE id = 2");
    rows(&client, &format!("REFRESH SNAPSHOT {name}")).await;
    rows(&client, &format!("REFRESH SNAPSHOT {name}")).await;
    let keys = bucket.keys(&folder);
    assert!(keys.iter().any(|k| k.contains("/v000003/")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("/v000001/")), "{keys:?}");
    drop(client);
    drop(server);

    // Another machine (a new data directory), the source down: the stored version serves.
    proxy.blackhole();
    let second_data = DataDir::new();
    let server = Server::start_with(&catalogs, &config(&second_data));
    let client = server.client().await;
    let got = rows(&client, &format!("SELECT count(*), sum(balance) FROM {name}")).await;
    assert_eq!(got, vec![vec!["2".to_string(), "40.0004".into()]]);
    assert!(server.log().contains("serving stored version 3"), "{}", server.log());
    assert!(!server.log().contains("snapshot-secret-0f9e"), "a credential reached the log: {}", server.log());
}
