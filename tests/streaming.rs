//! Results stream: a result far larger than the server's memory use, and a statement
//! timeout that stops a query while it runs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;

#[tokio::test]
async fn a_large_result_streams_without_being_buffered() {
    let cats = Catalogs::new();
    let server = Server::start(&cats);
    let c = server.client().await;
    let baseline = server.peak_rss_mib();
    // 4M rows of ~90 bytes: about 360 MB if it were held whole.
    let n: i64 = 4_000_000;
    let sql = format!("SELECT value AS v, value * 2 AS w, CAST(value AS VARCHAR) AS s, repeat('x', 64) AS pad FROM generate_series(1, {n})");
    let stream = c.query_raw(sql.as_str(), Vec::<i64>::new()).await.unwrap();
    futures::pin_mut!(stream);
    let mut count = 0i64;
    let mut sum = 0i64;
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        count += 1;
        sum += row.get::<_, i64>(0);
    }
    assert_eq!(count, n);
    assert_eq!(sum, n * (n + 1) / 2);
    let peak = server.peak_rss_mib();
    assert!(peak < baseline + 200, "peak RSS {peak} MiB (baseline {baseline} MiB): the result was buffered");
}

#[tokio::test]
async fn statement_timeout_stops_a_running_query() {
    let cats = Catalogs::new();
    let server = Server::start(&cats);
    let c = server.client().await;
    c.batch_execute("SET statement_timeout = 300").await.unwrap();
    let started = Instant::now();
    let err = c
        .simple_query("SELECT count(*) FROM generate_series(1, 100000000000) a")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).0, "57014");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    // The session goes on; with the timeout off, queries run to the end.
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    assert_eq!(rows(&c, "SELECT count(*) FROM generate_series(1, 1000)").await[0][0], "1000");
}

#[tokio::test]
async fn a_cancel_request_stops_a_streaming_query() {
    let cats = Catalogs::new();
    let server = Server::start(&cats);
    let c = server.client().await;
    let stream = c
        .query_raw("SELECT value FROM generate_series(1, 10000000000)", Vec::<i64>::new())
        .await
        .unwrap();
    futures::pin_mut!(stream);
    for _ in 0..10 {
        stream.next().await.unwrap().unwrap();
    }
    cancel_and_expect_57014(&c, stream).await;
}

/// The same over the simple protocol (psql's Ctrl-C, psycopg2's `cancel()`): rows were
/// already streaming, so only a cancel that reaches the stream can stop them.
#[tokio::test]
async fn a_cancel_request_stops_a_streaming_simple_query() {
    let cats = Catalogs::new();
    let server = Server::start(&cats);
    let c = server.client().await;
    let stream = c.simple_query_raw("SELECT value FROM generate_series(1, 10000000000)").await.unwrap();
    futures::pin_mut!(stream);
    let mut seen = 0;
    while seen < 10 {
        if let tokio_postgres::SimpleQueryMessage::Row(_) = stream.next().await.unwrap().unwrap() {
            seen += 1;
        }
    }
    cancel_and_expect_57014(&c, stream).await;
}

/// Cancels the query whose rows are streaming: it must end with 57014 within 2 s, and the
/// connection must still answer.
async fn cancel_and_expect_57014<T>(
    c: &tokio_postgres::Client,
    mut stream: std::pin::Pin<&mut impl futures::Stream<Item = Result<T, tokio_postgres::Error>>>,
) {
    let started = Instant::now();
    c.cancel_token().cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("the query ended instead of being canceled"),
        }
    };
    assert_eq!(sqlstate(&err).0, "57014");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(rows(c, "SELECT 1").await[0][0], "1");
}

/// Statements of `db` still running on PostgreSQL, other than this check.
async fn pg_running(db: &str) -> i64 {
    let admin = pg_connect(5432, "postgres").await;
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%slow%' AND pid <> pg_backend_pid()";
    admin.query_one(sql, &[&db]).await.unwrap().get(0)
}

/// Statements of `db` still running on MariaDB (the check itself runs without a database).
fn mysql_running(db: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{db}' AND INFO LIKE '%slow%'");
    mysql(None, &sql)[0][0].parse().unwrap()
}

/// Waits up to `secs` for `check` to hold.
async fn eventually<F: std::future::Future<Output = bool>>(secs: u64, mut check: impl FnMut() -> F) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A CancelRequest stops the statement on PostgreSQL too, and statement_timeout the one on
/// MariaDB: both sources would otherwise sleep on for 60 s after the client gave up.
#[tokio::test]
async fn cancel_and_timeout_stop_the_statement_on_the_source() {
    let pg = PgDb::create("CREATE VIEW slow AS SELECT pg_sleep(60) IS NOT NULL AS slept").await;
    let my = MysqlDb::create("CREATE VIEW slow AS SELECT SLEEP(60) AS slept");
    let cats = Catalogs::new().postgres("crm", &pg.name).mysql("shop", &my.name);
    let server = Server::start(&cats);

    let c = server.client().await;
    let token = c.cancel_token();
    let query = tokio::spawn(async move { c.simple_query("SELECT slept FROM crm.public.slow").await.map(|_| ()) });
    let pg_name = pg.name.clone();
    let started = || { let db = pg_name.clone(); async move { pg_running(&db).await > 0 } };
    assert!(eventually(20, started).await, "the statement never reached PostgreSQL");
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = query.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&err).0, "57014");
    assert!(eventually(5, || { let db = pg_name.clone(); async move { pg_running(&db).await == 0 } }).await,
            "pg_sleep still runs on PostgreSQL after the cancel");

    let c = server.client().await;
    c.batch_execute("SET statement_timeout = '2s'").await.unwrap();
    let sql = format!("SELECT slept FROM \"shop.{}\".slow", my.name);
    let query = tokio::spawn(async move { c.simple_query(&sql).await.map(|_| ()) });
    let my_name = my.name.clone();
    let started = || { let db = my_name.clone(); async move { mysql_running(&db) > 0 } };
    assert!(eventually(20, started).await, "the statement never reached MariaDB");
    let err = query.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&err).0, "57014");
    assert!(eventually(5, || { let db = my_name.clone(); async move { mysql_running(&db) == 0 } }).await,
            "SLEEP still runs on MariaDB after the timeout");
}

/// A row-limited Execute (pgjdbc's fetchSize, a cursor's FETCH) reads rows from the source
/// while the client waits: a CancelRequest stops that fetch within 2 s, ends the
/// statement on the source, and the connection goes on.
#[tokio::test]
async fn cancel_stops_a_row_limited_fetch() {
    // 300 rows, one each 0.2 s: 60 s in all, unless canceled.
    let pg = PgDb::create("CREATE VIEW slow AS SELECT g, pg_sleep(0.2) IS NOT NULL AS slept FROM generate_series(1, 300) g").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let mut c = server.client().await;
    let token = c.cancel_token();
    let pg_name = pg.name.clone();
    let fetch = async {
        let tx = c.transaction().await.unwrap();
        let portal = tx.bind("SELECT g FROM crm.public.slow", &[]).await.unwrap();
        let started = Instant::now();
        let err = tx.query_portal(&portal, 10).await.unwrap_err();
        (err, started.elapsed())
    };
    let cancel = async {
        let db = pg_name.clone();
        assert!(eventually(20, || { let db = db.clone(); async move { pg_running(&db).await > 0 } }).await,
                "the statement never reached PostgreSQL");
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        Instant::now()
    };
    let ((err, _), canceled_at) = tokio::join!(fetch, cancel);
    assert_eq!(sqlstate(&err).0, "57014");
    assert!(canceled_at.elapsed() < Duration::from_secs(2), "the fetch went on {:?} after the cancel", canceled_at.elapsed());
    assert!(eventually(5, || { let db = pg_name.clone(); async move { pg_running(&db).await == 0 } }).await,
            "the statement still runs on PostgreSQL after the cancel");
    assert_eq!(rows(&c, "SELECT 1").await[0][0], "1");
}
