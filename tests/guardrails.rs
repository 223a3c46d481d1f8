//! One heavy query hurts no one: cancel and statement_timeout stop CPU-bound work, other
//! sessions stay responsive, excess queries queue, memory is bounded, and SIGTERM drains.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio_postgres::Client;

/// A nested-loop join that keeps both cores busy for many seconds (20,000² pairs).
const HEAVY: &str = "SELECT count(*) FROM pq.s.t a JOIN pq.s.t b ON a.v < b.v + a.id % 3";

struct Heavy {
    _cats: Catalogs,
    _data: tempdir::Dir,
    server: Server,
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn heavy_server(config: &str) -> Heavy {
    let data = tempdir::Dir(std::env::temp_dir().join(unique("fedsql_guard")));
    parquet_table(&data.0, "s", "t", 20_000);
    let cats = Catalogs::new().parquet("pq", &data.0);
    let server = Server::start_with(&cats, config);
    Heavy { _cats: cats, _data: data, server }
}

/// CPU seconds the server uses over `window`, starting `after` from now.
async fn cpu_used(server: &Server, after: Duration, window: Duration) -> f64 {
    tokio::time::sleep(after).await;
    let before = server.cpu_seconds();
    tokio::time::sleep(window).await;
    server.cpu_seconds() - before
}

async fn expect_code<T: std::fmt::Debug>(result: Result<T, tokio_postgres::Error>, code: &str) -> String {
    let err = result.expect_err("the statement should have failed");
    let (got, msg) = sqlstate(&err);
    assert_eq!(got, code, "{msg}");
    msg
}

#[tokio::test]
async fn cancel_stops_a_cpu_bound_join_over_both_protocols() {
    let h = heavy_server("");
    let c = h.server.client().await;
    for extended in [false, true] {
        let token = c.cancel_token();
        let cancel = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let sent = Instant::now();
            token.cancel_query(tokio_postgres::NoTls).await.unwrap();
            sent
        };
        let run = async {
            let r = if extended { c.query(HEAVY, &[]).await.map(|_| ()) } else { c.simple_query(HEAVY).await.map(|_| ()) };
            (r, Instant::now())
        };
        let (sent, (result, ended)) = tokio::join!(cancel, run);
        expect_code(result, "57014").await;
        let took = ended.duration_since(sent);
        assert!(took < Duration::from_secs(1), "extended={extended}: the cancel took {took:?}");
        // The work stopped too, not only the answer: the server goes idle.
        let cpu = cpu_used(&h.server, Duration::from_millis(500), Duration::from_secs(1)).await;
        assert!(cpu < 0.3, "extended={extended}: {cpu:.2} CPU seconds in the second after the cancel");
        // The same connection goes on.
        assert_eq!(rows(&c, "SELECT 1").await[0][0], "1");
    }
}

#[tokio::test]
async fn statement_timeout_stops_a_cpu_bound_join_over_both_protocols() {
    let h = heavy_server("");
    let c = h.server.client().await;
    c.batch_execute("SET statement_timeout = '500ms'").await.unwrap();
    for extended in [false, true] {
        let start = Instant::now();
        let r = if extended { c.query(HEAVY, &[]).await.map(|_| ()) } else { c.simple_query(HEAVY).await.map(|_| ()) };
        let msg = expect_code(r, "57014").await;
        assert!(msg.contains("statement timeout"), "{msg}");
        let took = start.elapsed();
        assert!(took < Duration::from_millis(1500), "extended={extended}: a 500 ms timeout took {took:?}");
        let cpu = cpu_used(&h.server, Duration::from_millis(500), Duration::from_secs(1)).await;
        assert!(cpu < 0.3, "extended={extended}: {cpu:.2} CPU seconds in the second after the timeout");
        assert_eq!(rows(&c, "SELECT 2").await[0][0], "2");
    }
}

#[tokio::test]
async fn other_sessions_are_served_while_two_heavy_queries_run() {
    let h = heavy_server("");
    let busy: Vec<Client> = vec![h.server.client().await, h.server.client().await];
    let running: Vec<_> = busy
        .iter()
        .map(|c| {
            let c = c.cancel_token();
            c
        })
        .collect();
    let heavy = futures::future::join_all(busy.iter().map(|c| c.simple_query(HEAVY)));
    let probe = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            let start = Instant::now();
            let c = h.server.client().await;
            assert_eq!(rows(&c, "SELECT 1").await[0][0], "1");
            let tables = rows(&c, "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
                                   ON n.oid = c.relnamespace WHERE n.nspname = 'pq.s'").await;
            assert_eq!(tables, vec![vec!["t".to_string()]]);
            slowest = slowest.max(start.elapsed());
        }
        for token in &running {
            token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        }
        slowest
    };
    let (results, slowest) = tokio::join!(heavy, probe);
    // Before the execution runtime, a new connection waited 17 s behind two such joins.
    assert!(slowest < Duration::from_secs(2), "connect, SELECT 1 and a catalog query took {slowest:?}");
    for r in results {
        expect_code(r, "57014").await;
    }
}

#[tokio::test]
async fn excess_queries_wait_in_the_queue_then_fail_with_53000() {
    let h = heavy_server("[limits]\nmax_running_queries = 1\nqueue_timeout = \"1s\"\n");
    let a = h.server.client().await;
    let b = h.server.client().await;
    let heavy = a.simple_query(HEAVY);
    let queued = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        let msg = expect_code(b.simple_query("SELECT count(*) FROM pq.s.t").await, "53000").await;
        assert!(msg.contains("limits.queue_timeout"), "{msg}");
        assert!(start.elapsed() >= Duration::from_secs(1), "failed after {:?}, before the queue timeout", start.elapsed());
        // What reads no source is not queued.
        assert_eq!(rows(&b, "SELECT 1").await[0][0], "1");
        a.cancel_token().cancel_query(tokio_postgres::NoTls).await.unwrap();
    };
    let (r, ()) = tokio::join!(heavy, queued);
    expect_code(r, "57014").await;
    // The place is free again.
    assert_eq!(rows(&b, "SELECT count(*) FROM pq.s.t").await[0][0], "20000");
}

#[tokio::test]
async fn one_user_queues_behind_their_own_queries_not_behind_others() {
    let h = heavy_server("[limits]\nmax_running_queries = 4\nmax_running_queries_per_user = 1\nqueue_timeout = \"1s\"\n");
    let connect = |user: &'static str| {
        let port = h.server.port;
        async move {
            let (c, conn) = tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user={user} dbname=fedsql"), tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c
        }
    };
    let alice = connect("alice").await;
    let alice2 = connect("alice").await;
    let bob = connect("bob").await;
    let heavy = alice.simple_query(HEAVY);
    let others = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        expect_code(alice2.simple_query("SELECT count(*) FROM pq.s.t").await, "53000").await;
        assert_eq!(rows(&bob, "SELECT count(*) FROM pq.s.t").await[0][0], "20000");
        alice.cancel_token().cancel_query(tokio_postgres::NoTls).await.unwrap();
    };
    let (r, ()) = tokio::join!(heavy, others);
    expect_code(r, "57014").await;
}

#[tokio::test]
async fn a_query_past_its_memory_share_fails_with_53200_and_sorts_spill() {
    let h = heavy_server("[limits]\nmemory = \"256MiB\"\nquery_memory = \"48MiB\"\n");
    let c = h.server.client().await;
    let other = h.server.client().await;
    let before = h.server.peak_rss_mib();
    // A hash join whose build side holds 6 million keys.
    let join = "SELECT count(*) FROM generate_series(1, 6000000) a(x) JOIN generate_series(1, 6000000) b(y) ON a.x = b.y";
    let msg = expect_code(c.simple_query(join).await, "53200").await;
    assert!(msg.contains("limits.query_memory") && msg.contains("48"), "{msg}");
    let peak = h.server.peak_rss_mib();
    assert!(peak < before + 48 + 200, "peak RSS {peak} MiB, {before} MiB before the join");
    // A sort larger than the share spills to data_dir and answers.
    let sort = "SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY x * 7919 % 10000019) AS r FROM generate_series(1, 4000000) t(x)) s";
    assert_eq!(rows(&c, sort).await[0][0], "4000000");
    assert_eq!(rows(&other, "SELECT 1").await[0][0], "1");
}

#[tokio::test]
async fn sigterm_lets_running_statements_finish_then_exits_0() {
    let pg = PgDb::create("CREATE VIEW slow AS SELECT 7 AS x FROM pg_sleep(2);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let mut server = Server::start_with(&cats, "[shutdown]\ngrace = \"30s\"\n");
    let c = server.client().await;
    let running = c.simple_query("SELECT x FROM crm.public.slow");
    let stop = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.terminate();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // No new connections once draining.
        let refused = tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=u dbname=fedsql", server.port), tokio_postgres::NoTls).await;
        assert!(refused.is_err(), "a new connection was accepted while draining");
    };
    let (result, ()) = tokio::join!(running, stop);
    let got: Vec<_> = result
        .expect("the running statement finishes")
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec!["7"]);
    let status = server.wait_exit(Duration::from_secs(10)).expect("the server exits once drained");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn sigterm_ends_statements_past_the_grace_with_57p01() {
    let pg = PgDb::create("CREATE VIEW slow AS SELECT 7 AS x FROM pg_sleep(60);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let mut server = Server::start_with(&cats, "[shutdown]\ngrace = \"1s\"\n");
    let c = server.client().await;
    let running = c.simple_query("SELECT x FROM crm.public.slow");
    let stop = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.terminate();
        Instant::now()
    };
    let (result, sent) = tokio::join!(running, stop);
    let msg = expect_code(result, "57P01").await;
    assert!(msg.contains("shutting down"), "{msg}");
    let status = server.wait_exit(Duration::from_secs(10)).expect("the server exits after the grace");
    assert!(status.success(), "{status:?}");
    assert!(sent.elapsed() < Duration::from_secs(8), "exit took {:?}", sent.elapsed());
    // The statement on PostgreSQL ended with it.
    let admin = pg_connect(5432, &pg.name).await;
    let start = Instant::now();
    loop {
        let n = rows(&admin, &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%slow%' AND pid <> pg_backend_pid()", pg.name)).await;
        if n[0][0] == "0" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the source statement outlived the server");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
