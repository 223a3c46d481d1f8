//! SQLSTATEs, read-only sources, per-connection sessions, over the wire.

mod common;

use common::*;

#[tokio::test]
async fn every_error_has_its_sqlstate_and_the_connection_survives() {
    let my = MysqlDb::create("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1,'a');");
    let cats = Catalogs::new()
        .mysql("live", &my.name)
        // Nothing listens on port 1: this catalog is unavailable from the start.
        .mysql_port("gone", "nodb", 1);
    let server = Server::start(&cats);
    let c = server.client().await;
    let t = format!("live.{}.t", my.name);

    let cases = [
        ("SELEC 1".to_string(), "42601", ""),
        (format!("SELECT * FROM live.{}.missing", my.name), "42P01", "live"),
        ("SELECT * FROM nocat.s.t".to_string(), "3D000", "nocat"),
        ("SELECT * FROM live.noschema.t".to_string(), "42P01", "noschema"),
        (format!("SELECT * INTO scratch FROM {t}"), "25006", ""),
        (format!("EXPLAIN ANALYZE INSERT INTO {t} VALUES (3,'c')"), "25006", "live"),
        ("SET TIME ZONE 'Mars/Olympus'".to_string(), "22023", "Mars/Olympus"),
        ("SELECT * FROM gone.nodb.t".to_string(), "08001", "gone"),
        (format!("INSERT INTO {t} VALUES (2,'b')"), "25006", "live"),
        (format!("UPDATE {t} SET v = 'x'"), "25006", "live"),
        (format!("DELETE FROM {t}"), "25006", "live"),
        (format!("DROP TABLE {t}"), "25006", "live"),
        ("CREATE TABLE scratch (a int)".to_string(), "25006", ""),
        (format!("SELECT nosuchcol FROM {t}"), "42703", ""),
    ];
    for (sql, code, names) in cases {
        let err = c.simple_query(&sql).await.expect_err(&sql);
        let (got, msg) = sqlstate(&err);
        assert_eq!(got, code, "{sql}: {msg}");
        assert!(msg.contains(names), "{sql}: message `{msg}` should name `{names}`");
        // The same connection still answers.
        assert_eq!(rows(&c, &format!("SELECT v FROM {t}")).await, vec![vec!["a".to_string()]]);
    }
    // Extended protocol errors carry the same codes.
    let err = c.query(&format!("SELECT * FROM live.{}.missing", my.name), &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err).0, "42P01");
    // Nothing was written to the source.
    assert_eq!(mysql(Some(&my.name), "SELECT count(*) FROM t"), vec![vec!["1".to_string()]]);
}

#[tokio::test]
async fn fedsql_connections_are_named_at_the_source() {
    let pg = PgDb::create("CREATE TABLE t (id int); INSERT INTO t VALUES (1);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    assert_eq!(rows(&c, "SELECT count(*) FROM crm.public.t").await[0][0], "1");
    // PostgreSQL sees them as `fedsql` (they also run with default_transaction_read_only).
    let admin = pg_connect(5432, &pg.name).await;
    let seen = rows(&admin, &format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'fedsql'", pg.name)).await;
    assert!(seen[0][0].parse::<i64>().unwrap() >= 1, "{seen:?}");
}

#[tokio::test]
async fn sessions_are_isolated_and_time_zone_moves_day_boundaries() {
    let pg = PgDb::create("CREATE TABLE ev (id int, at timestamptz);
        INSERT INTO ev VALUES (1, '2026-03-01 16:30:00+00'), (2, '2026-03-01 14:00:00+00');").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let seoul = server.client().await;
    let utc = server.client().await;
    seoul.batch_execute("SET TIME ZONE 'Asia/Seoul'").await.unwrap();
    assert_eq!(rows(&seoul, "SHOW TIME ZONE").await[0][0], "Asia/Seoul");
    assert_eq!(rows(&utc, "SHOW TIME ZONE").await[0][0], "UTC");
    // 16:30 UTC is 01:30 the next day in Seoul; 14:00 UTC is 23:00 the same day.
    let q = "SELECT id, CAST(date_trunc('day', at) AS VARCHAR) FROM crm.public.ev ORDER BY id";
    let in_seoul = rows(&seoul, q).await;
    let in_utc = rows(&utc, q).await;
    assert!(in_utc[0][1].starts_with("2026-03-01"), "{in_utc:?}");
    assert!(in_utc[1][1].starts_with("2026-03-01"), "{in_utc:?}");
    assert!(in_seoul[0][1].starts_with("2026-03-02"), "{in_seoul:?}");
    assert!(in_seoul[1][1].starts_with("2026-03-01"), "{in_seoul:?}");

    // The other spellings of the same SET, and day boundaries in GROUP BY and WHERE.
    utc.batch_execute("SET timezone TO 'Asia/Seoul'").await.unwrap();
    assert_eq!(rows(&utc, "SHOW TIME ZONE").await[0][0], "Asia/Seoul");
    let per_day = rows(&utc, "SELECT CAST(CAST(at AS DATE) AS VARCHAR) AS day, count(*) FROM crm.public.ev GROUP BY 1 ORDER BY 1").await;
    assert_eq!(per_day, [["2026-03-01", "1"], ["2026-03-02", "1"]]);
    let on_day = rows(&utc, "SELECT id FROM crm.public.ev WHERE date_part('day', at) = 2").await;
    assert_eq!(on_day, [["1"]]);
    let on_day = rows(&utc, "SELECT id FROM crm.public.ev WHERE date_trunc('day', at) = TIMESTAMPTZ '2026-03-02 00:00:00+09'").await;
    assert_eq!(on_day, [["1"]]);
    // Instants print in the session's zone, as timestamptz does in PostgreSQL.
    let shown = rows(&utc, "SELECT at FROM crm.public.ev WHERE id = 1").await;
    assert!(shown[0][0].starts_with("2026-03-02 01:30:00") && shown[0][0].ends_with("+09"), "{shown:?}");
    utc.batch_execute("SET timezone = 'UTC'").await.unwrap();
    let per_day = rows(&utc, "SELECT CAST(CAST(at AS DATE) AS VARCHAR), count(*) FROM crm.public.ev GROUP BY 1").await;
    assert_eq!(per_day, [["2026-03-01", "2"]]);
}
