//! End to end over the wire: real MariaDB, PostgreSQL and Parquet, a real fedsql process
//! and tokio-postgres as the client. Expected numbers come from the sources themselves.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Writes a Parquet file with fedsql's own `query --format parquet`.
fn write_parquet(path: &Path, select: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let empty = Catalogs::new();
    let out = Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["query", "--catalogs"])
        .arg(&empty.dir)
        .args([select, "--format", "parquet", "--output"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn assert_close(what: &str, got: &str, want: &str) {
    let (g, w): (f64, f64) = (got.parse().unwrap(), want.parse().unwrap());
    assert!(close(g, w), "{what}: fedsql {got} vs source {want}");
}

const CALLS: &str = "CREATE TABLE calls (id INT PRIMARY KEY, org_code VARCHAR(8), duration_ms INT, fee DECIMAL(12,2));
INSERT INTO calls VALUES (1,'A',120,1.10),(2,'A',80,2.25),(3,'B',300,0.05),(4,'B',310,9.99),(5,'B',95,3.30),(6,'C',7,0.01);";

#[tokio::test]
async fn three_source_join_matches_the_sources() {
    let my = MysqlDb::create(CALLS);
    let pg = PgDb::create("CREATE TABLE orgs (org_code text PRIMARY KEY, org_name text);
        INSERT INTO orgs VALUES ('A','가나은행'),('B','다라카드'),('C','마바보험');").await;
    let hist = std::env::temp_dir().join(unique("fedsql_hist"));
    write_parquet(&hist.join("api/calls/month=2026-10/part-0.parquet"),
        "SELECT * FROM (VALUES (101,'A',200,CAST(4.40 AS DECIMAL(12,2))),(102,'B',50,CAST(0.60 AS DECIMAL(12,2))),(103,'C',1000,CAST(12.34 AS DECIMAL(12,2)))) AS t(id, org_code, duration_ms, fee)");
    // The same history rows in MariaDB, so MariaDB can compute the expected answer.
    mysql(Some(&my.name), "CREATE TABLE hist (id INT, org_code VARCHAR(8), duration_ms INT, fee DECIMAL(12,2));
        INSERT INTO hist VALUES (101,'A',200,4.40),(102,'B',50,0.60),(103,'C',1000,12.34);
        CREATE TABLE orgs (org_code VARCHAR(8), org_name VARCHAR(20)) CHARACTER SET utf8mb4;
        INSERT INTO orgs VALUES ('A','가나은행'),('B','다라카드'),('C','마바보험');");
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name).parquet("history", &hist);
    let server = Server::start(&cats);
    let client = server.client().await;

    let got = rows(&client, &format!(
        "SELECT o.org_name, count(*), avg(c.duration_ms), stddev(c.duration_ms), sum(c.fee)
         FROM (SELECT org_code, duration_ms, fee FROM live.{db}.calls
               UNION ALL SELECT org_code, duration_ms, fee FROM history.api.calls) c
         JOIN crm.public.orgs o ON o.org_code = c.org_code
         GROUP BY o.org_name ORDER BY o.org_name", db = my.name)).await;
    let want = mysql(Some(&my.name),
        "SELECT o.org_name, count(*), avg(c.duration_ms + 0e0), stddev_samp(c.duration_ms + 0e0), sum(c.fee)
         FROM (SELECT org_code, duration_ms, fee FROM calls UNION ALL SELECT org_code, duration_ms, fee FROM hist) c
         JOIN orgs o ON o.org_code = c.org_code GROUP BY o.org_name ORDER BY o.org_name");
    assert_eq!(got.len(), 3);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g[0], w[0]);
        assert_eq!(g[1], w[1]);
        assert_close("avg", &g[2], &w[2]);
        assert_close("stddev", &g[3], &w[3]);
        // Decimal SUM is exact, digit for digit.
        assert_eq!(g[4], w[4], "sum(fee) of {}", g[0]);
    }
    let _ = std::fs::remove_dir_all(&hist);
}

const STATS: &str = "SELECT g, count(x), avg(x), stddev(x), stddev_samp(x), stddev_pop(x), variance(x), var_samp(x), var_pop(x), sum(d), min(d), max(d), avg(d)";

/// Every statistic asked of a source's table, computed locally over a join, and computed
/// by the source itself must agree; none is sent to the source.
async fn check_stats(
    client: &tokio_postgres::Client,
    table: &str,
    source_rows: Vec<Vec<String>>,
    remote_log: impl Fn() -> Vec<String>,
) {
    let single_sql = format!("{STATS} FROM {table} GROUP BY g ORDER BY g");
    let single = rows(client, &single_sql).await;
    let log = remote_log();
    // Sources compute variances in double precision (MySQL) or with few digits for large
    // values (PostgreSQL's numeric): the engine's is exact, and no statistic is sent.
    assert!(!log.iter().any(|s| s.to_lowercase().contains("stddev")), "{log:#?}");
    // Joining a Parquet table keeps the aggregate in the engine.
    let local = rows(client, &format!(
        "{STATS} FROM {table} CROSS JOIN one.s.one GROUP BY g ORDER BY g")).await;
    let local_plan = format!("{:?}", rows(client, &format!(
        "EXPLAIN {STATS} FROM {table} CROSS JOIN one.s.one GROUP BY g ORDER BY g")).await);
    assert!(local_plan.contains("AggregateExec"), "{local_plan}");
    assert_eq!(single.len(), source_rows.len());
    for ((p, l), s) in single.iter().zip(&local).zip(&source_rows) {
        assert_eq!(p[0], s[0]);
        assert_eq!(p[1], s[1]);
        for i in 2..9 {
            assert_close(&format!("one-source col {i}"), &p[i], &s[i]);
            assert_close(&format!("local col {i}"), &l[i], &s[i]);
        }
        for i in 9..13 {
            assert_eq!(p[i], s[i], "one-source decimal col {i}");
            assert_eq!(l[i], s[i], "local decimal col {i}");
        }
    }
}

fn one_row_parquet() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("fedsql_one"));
    write_parquet(&dir.join("s/one/part-0.parquet"), "SELECT 1 AS one");
    dir
}

#[tokio::test]
async fn mysql_statistics_mean_the_same_alone_joined_and_at_the_source() {
    mysql_general_log_on();
    let my = MysqlDb::create("CREATE TABLE t (g INT, x INT, d DECIMAL(12,2));
        INSERT INTO t VALUES (1,10,1.01),(1,20,2.02),(1,45,3.03),(2,7,100.00),(2,7,0.01),(2,8,0.10),(3,1,0.01),(3,2,0.01),(3,4,0.00);");
    let one = one_row_parquet();
    let cats = Catalogs::new().mysql("live", &my.name).parquet("one", &one);
    let server = Server::start(&cats);
    let client = server.client().await;
    let source = mysql(Some(&my.name),
        "SELECT g, count(x), avg(x + 0e0), stddev_samp(x + 0e0), stddev_samp(x + 0e0), stddev_pop(x + 0e0), var_samp(x + 0e0), var_samp(x + 0e0), var_pop(x + 0e0), sum(d), min(d), max(d), avg(d) FROM t GROUP BY g ORDER BY g");
    let db = my.name.clone();
    check_stats(&client, &format!("live.{db}.t"), source, || mysql_statements(&db)).await;
    mysql(None, "SET GLOBAL general_log = 0");
    let _ = std::fs::remove_dir_all(&one);
}

#[tokio::test]
async fn postgres_statistics_mean_the_same_alone_joined_and_at_the_source() {
    let pg = PgDb::create("CREATE TABLE t (g int, x int, d numeric(12,2));
        INSERT INTO t VALUES (1,10,1.01),(1,20,2.02),(1,45,3.03),(2,7,100.00),(2,7,0.01),(2,8,0.10),(3,1,0.01),(3,2,0.01),(3,4,0.00);").await;
    let src = pg_connect(5432, &pg.name).await;
    let source = rows(&src, "SELECT g, count(x), avg(x), stddev(x), stddev_samp(x), stddev_pop(x), variance(x), var_samp(x), var_pop(x), sum(d), min(d), max(d), round(avg(d), 6) FROM t GROUP BY g ORDER BY g").await;
    drop(src);
    pg_log_statements(&pg.name).await;
    let one = one_row_parquet();
    let cats = Catalogs::new().postgres("crm", &pg.name).parquet("one", &one);
    let server = Server::start(&cats);
    let client = server.client().await;
    let db = pg.name.clone();
    check_stats(&client, "crm.public.t", source, || pg_statements(&db)).await;
    let _ = std::fs::remove_dir_all(&one);
}

/// Expressions that mean something else at a source give the engine's answer.
#[tokio::test]
async fn non_portable_expressions_keep_the_engine_meaning() {
    let my = MysqlDb::create("CREATE TABLE t (id INT, a VARCHAR(5), b VARCHAR(5), n INT NULL, f DECIMAL(5,2));
        INSERT INTO t VALUES (1,'Jo','hn',NULL,2.70),(2,'x','y',5,-2.70),(3,'Jo','hn',1,0.50);");
    let pg = PgDb::create("CREATE TABLE t (id int, n int); INSERT INTO t VALUES (1, 6), (2, 3);").await;
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    let t = format!("live.{}.t", my.name);
    // MySQL reads || as OR.
    assert_eq!(rows(&c, &format!("SELECT id FROM {t} WHERE a || b = 'John' ORDER BY id")).await, [["1"], ["3"]]);
    // MySQL puts NULLs first when ascending; DataFusion (like PostgreSQL) last.
    assert_eq!(rows(&c, &format!("SELECT id FROM {t} ORDER BY n LIMIT 2")).await, [["3"], ["2"]]);
    // A fraction cast to an integer rounds half away from zero, as in PostgreSQL and at the
    // sources (DataFusion truncates: this test once asserted its 2, -2, 0).
    assert_eq!(rows(&c, &format!("SELECT CAST(f AS INT) FROM {t} ORDER BY id")).await, [["3"], ["-3"], ["1"]]);
    // MySQL's / on integers is exact division.
    assert_eq!(rows(&c, &format!("SELECT id / 2 FROM {t} ORDER BY id")).await, [["0"], ["1"], ["1"]]);
    // Decimals sent as text still sort, dedupe and union as numbers at the source.
    let pg2 = pg_connect(5432, &pg.name).await;
    pg2.batch_execute("CREATE TABLE m (v numeric(8,2)); INSERT INTO m VALUES (9.00), (100.00), (9.00);").await.unwrap();
    assert_eq!(rows(&c, "SELECT DISTINCT v FROM crm.public.m ORDER BY v DESC LIMIT 2").await, [["100.00"], ["9.00"]]);
    assert_eq!(rows(&c, "SELECT v FROM crm.public.m UNION ALL SELECT v FROM crm.public.m ORDER BY v LIMIT 1").await, [["9.00"]]);
    // MySQL's default collation is case-insensitive and ignores trailing spaces;
    // fedsql compares text byte for byte wherever it runs.
    mysql(Some(&my.name), "CREATE TABLE w (id INT, v VARCHAR(5)) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
        INSERT INTO w VALUES (1,'a'),(2,'A'),(3,'a '),(4,'b');");
    let w = format!("live.{}.w", my.name);
    assert_eq!(rows(&c, &format!("SELECT id FROM {w} WHERE v = 'a'")).await, [["1"]]);
    assert_eq!(rows(&c, &format!("SELECT id FROM {w} WHERE v IN ('A', 'b') ORDER BY id")).await, [["2"], ["4"]]);
    assert_eq!(rows(&c, &format!("SELECT id FROM {w} WHERE v <> 'a' ORDER BY id")).await, [["2"], ["3"], ["4"]]);
    assert_eq!(rows(&c, &format!("SELECT count(*) FROM (SELECT v FROM {w} GROUP BY v)")).await, [["4"]]);
    assert_eq!(rows(&c, &format!("SELECT count(DISTINCT v) FROM {w}")).await, [["4"]]);
    assert_eq!(rows(&c, &format!("SELECT id FROM {w} ORDER BY v, id LIMIT 2")).await, [["2"], ["1"]]);
    assert_eq!(rows(&c, &format!("SELECT count(*) FROM {w} x JOIN {w} y ON x.v = y.v")).await, [["4"]]);
    assert_eq!(rows(&c, &format!("SELECT min(v) FROM {w}")).await, [["A"]]);
    // The unparser writes XOR as ^, a power in PostgreSQL.
    assert_eq!(rows(&c, "SELECT n # 1 FROM crm.public.t ORDER BY id").await, [["7"], ["2"]]);
}

/// `FROM a, b WHERE a.k = b.k` over one source reaches it as a join with its filters,
/// not as a cross join filtered here (TPC-H writes every join this way).
#[tokio::test]
async fn comma_joins_reach_the_source_as_joins_with_their_filters() {
    let setup = "CREATE TABLE part (p_key int PRIMARY KEY, p_kind text);
        CREATE TABLE stock (s_part int, s_qty int, s_cost numeric(12,2));
        INSERT INTO part SELECT g, CASE WHEN g % 3 = 0 THEN 'bolt' ELSE 'nut' END FROM generate_series(1, 300) g;
        INSERT INTO stock SELECT g % 300 + 1, g % 7, (g % 13) * 1.25 FROM generate_series(1, 3000) g;";
    let pg = PgDb::create(setup).await;
    let src = pg_connect(5432, &pg.name).await;
    // The Parquet side, also loaded into PostgreSQL so it can compute the answer.
    src.batch_execute("CREATE TABLE region (r_part int, r_name text);
        INSERT INTO region SELECT g, CASE WHEN g % 2 = 0 THEN 'east' ELSE 'west' END FROM generate_series(1, 300) g;").await.unwrap();
    let query = |part: &str, stock: &str, region: &str| format!(
        "SELECT r_name, count(*), sum(s_qty * s_cost) FROM {part}, {stock}, {region}
         WHERE p_key = s_part AND p_kind = 'bolt' AND s_qty > 2 AND r_part = p_key
         GROUP BY r_name ORDER BY r_name");
    let want = rows(&src, &query("part", "stock", "region")).await;
    drop(src);
    pg_log_statements(&pg.name).await;
    let hist = std::env::temp_dir().join(unique("fedsql_region"));
    write_parquet(&hist.join("s/region/part-0.parquet"),
        "SELECT CAST(g AS INT) AS r_part, CASE WHEN g % 2 = 0 THEN 'east' ELSE 'west' END AS r_name FROM generate_series(1, 300) AS t(g)");
    let cats = Catalogs::new().postgres("crm", &pg.name).parquet("h", &hist);
    let server = Server::start(&cats);
    let client = server.client().await;
    let got = rows(&client, &query("crm.public.part", "crm.public.stock", "h.s.region")).await;
    assert_eq!(got, want);
    assert_eq!(want.len(), 2);
    let log = pg_statements(&pg.name);
    let remote = log.iter().find(|s| s.contains("\"stock\"")).unwrap_or_else(|| panic!("{log:#?}"));
    assert!(remote.contains("JOIN") && !remote.contains("CROSS JOIN"), "{remote}");
    assert!(remote.contains("'bolt'") && remote.contains("> 2"), "{remote}");
    let _ = std::fs::remove_dir_all(&hist);
}

/// Correlated subqueries over a source answer what the source itself answers: in a
/// SELECT list (not NULL, as the pg_catalog compatibility parser would make it) and in
/// WHERE (decorrelated with a constant group key, which PostgreSQL must not receive as
/// `GROUP BY true`).
#[tokio::test]
async fn correlated_subqueries_answer_as_the_source_does() {
    let pg = PgDb::create("CREATE TABLE orgs (org text PRIMARY KEY);
        CREATE TABLE m (id int, org text, amt numeric(10,2));
        INSERT INTO orgs VALUES ('A'), ('B'), ('C');
        INSERT INTO m VALUES (1, 'A', 1.10), (2, 'A', 2.20), (3, 'B', 5.00);").await;
    let queries = |o: &str, m: &str| [
        format!("SELECT o.org, (SELECT count(*) FROM {m} x WHERE x.org = o.org) AS n FROM {o} o ORDER BY 1"),
        format!("SELECT o.org, (SELECT sum(x.amt) FROM {m} x WHERE x.org = o.org) FROM {o} o ORDER BY 1"),
        format!("SELECT o.org FROM {o} o WHERE (SELECT sum(x.amt) FROM {m} x WHERE x.org = o.org) > 2 ORDER BY 1"),
    ];
    let src = pg_connect(5432, &pg.name).await;
    let mut want = Vec::new();
    for q in queries("orgs", "m") {
        want.push(rows(&src, &q).await);
    }
    drop(src);
    assert_eq!(want[0], [["A", "2"], ["B", "1"], ["C", "0"]]);
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let client = server.client().await;
    for (q, w) in queries("crm.public.orgs", "crm.public.m").iter().zip(&want) {
        assert_eq!(&rows(&client, q).await, w, "{q}");
    }
}

/// The shapes BI tools send with a row limit (a preview's `LIMIT 2000`) answer what the
/// source answers: named or computed columns over a LIMIT, a LIMIT with OFFSET, a join's
/// two columns of one name next to an exact decimal, on PostgreSQL and MySQL. The
/// unparser wrote `SELECT t.c AS x FROM (... LIMIT 1) AS derived_limit`, which neither
/// accepts.
#[tokio::test]
async fn limited_selects_answer_as_the_source_does() {
    let ddl = "CREATE TABLE orgs (org_code varchar(8) PRIMARY KEY, name varchar(20));
        CREATE TABLE members (id int PRIMARY KEY, org_code varchar(8), amt decimal(30,10));
        INSERT INTO orgs VALUES ('A', 'alpha'), ('B', 'beta');
        INSERT INTO members VALUES (1, 'A', 12345678901234567890.0123456789), (2, 'B', -0.5), (3, 'A', 7);";
    let pg = PgDb::create(ddl).await;
    let my = MysqlDb::create(ddl);
    let queries = |o: &str, m: &str| [
        format!("SELECT org_code AS code FROM {m} ORDER BY id LIMIT 2"),
        format!("SELECT upper(org_code), id + 1 AS next FROM {m} ORDER BY id DESC LIMIT 2"),
        format!("SELECT count(*) FROM (SELECT id AS i FROM {m} LIMIT 2) t"),
        format!("SELECT m.org_code, o.org_code, m.amt FROM {m} m JOIN {o} o ON o.org_code = m.org_code ORDER BY m.id LIMIT 2"),
        format!("SELECT * FROM {m} m JOIN {o} o ON o.org_code = m.org_code ORDER BY m.id"),
        format!("SELECT id, amt AS a FROM {m} ORDER BY id LIMIT 1 OFFSET 1"),
        // A user's own inner LIMIT is not the outer one's copy.
        format!("SELECT * FROM (SELECT id, amt FROM {m} ORDER BY id LIMIT 2) s WHERE amt > 0 LIMIT 2000"),
        format!("SELECT count(*) FROM (SELECT id + 1 AS x FROM (SELECT id FROM {m} ORDER BY id LIMIT 2) s OFFSET 1) t"),
    ];
    let src = pg_connect(5432, &pg.name).await;
    let mut want = Vec::new();
    for q in queries("orgs", "members") {
        want.push(rows(&src, &q).await);
    }
    drop(src);
    assert_eq!(want[3], [["A", "A", "12345678901234567890.0123456789"], ["B", "B", "-0.5000000000"]]);
    assert_eq!((want[6].len(), &want[7][0][0]), (1, &"1".to_string()));
    let cats = Catalogs::new().postgres("crm", &pg.name).mysql("shop", &my.name);
    let server = Server::start(&cats);
    let client = server.client().await;
    for (catalog, o, m) in [("PostgreSQL", "crm.public.orgs".to_string(), "crm.public.members".to_string()),
                             ("MySQL", format!("shop.{}.orgs", my.name), format!("shop.{}.members", my.name))] {
        for (q, w) in queries(&o, &m).iter().zip(&want) {
            assert_eq!(&rows(&client, q).await, w, "{catalog}: {q}");
        }
    }
}

/// EXPLAIN shows each source's statement byte for byte as the source receives it
/// (column names, transport casts, MySQL's hex literals), apart from the per-run marker.
#[tokio::test]
async fn explain_shows_the_statement_as_sent() {
    let pg = PgDb::create("CREATE TABLE t (id int, amt numeric(12,2)); INSERT INTO t VALUES (1, 1.50), (2, 2.25);").await;
    pg_log_statements(&pg.name).await;
    let my = MysqlDb::create("CREATE TABLE t (id INT, s VARCHAR(20)); INSERT INTO t VALUES (1, 'say \"hi\"'), (2, 'x');");
    mysql_general_log_on();
    let cats = Catalogs::new().postgres("crm", &pg.name).mysql("live", &my.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    let sent_line = |plan: Vec<Vec<String>>| -> String {
        let text = plan.into_iter().flatten().collect::<Vec<_>>().join("\n");
        let line = text.lines().find(|l| l.contains("SentStatementExec: sql=")).unwrap_or_else(|| panic!("{text}")).to_string();
        line.split_once("sql=").unwrap().1.trim().to_string()
    };
    let unmarked = |s: &str| s.split_once("*/ ").map_or(s.to_string(), |(_, rest)| rest.to_string());

    let query = "SELECT id, sum(amt) AS total FROM crm.public.t WHERE id > 0 GROUP BY id";
    let explained = sent_line(rows(&c, &format!("EXPLAIN {query}")).await);
    assert_eq!(rows(&c, query).await.len(), 2);
    let logged: Vec<String> = pg_statements(&pg.name).iter().map(|s| unmarked(s)).collect();
    assert!(logged.contains(&explained), "EXPLAIN: {explained}\nPostgreSQL logged: {logged:#?}");
    assert!(explained.contains("CAST(") && explained.contains("AS TEXT"), "{explained}");

    let query = format!("SELECT id FROM live.{}.t WHERE s = 'say \"hi\"'", my.name);
    let explained = sent_line(rows(&c, &format!("EXPLAIN {query}")).await);
    assert_eq!(rows(&c, &query).await, [["1"]]);
    let logged: Vec<String> = mysql_statements(&my.name).iter().map(|s| unmarked(s)).collect();
    assert!(logged.contains(&explained), "EXPLAIN: {explained}\nMariaDB logged: {logged:#?}");
    assert!(explained.contains("_utf8mb4 X'"), "{explained}");
}
