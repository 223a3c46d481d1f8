//! Sources that come and go, tables that appear, and secrets that never leak.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Retries `sql` until it succeeds, for at most `limit`.
async fn eventually(client: &tokio_postgres::Client, sql: &str, limit: Duration) -> Vec<Vec<String>> {
    let start = Instant::now();
    loop {
        match client.simple_query(sql).await {
            Ok(_) => return rows(client, sql).await,
            Err(e) if start.elapsed() < limit => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("{sql} still fails after {limit:?}: {e:?}"),
        }
    }
}

#[tokio::test]
async fn a_source_down_at_start_goes_away_and_comes_back() {
    let port = free_port();
    let mut db = ThrowawayMariaDb::new(port);
    let cats = Catalogs::new().mysql_port("live", "shop", port);
    // The source is down: the server still starts and says so.
    let server = Server::start(&cats);
    let c = server.client().await;
    let err = c.simple_query("SELECT * FROM live.shop.orders").await.unwrap_err();
    let (code, msg) = sqlstate(&err);
    assert!(code.starts_with("08"), "{code} {msg}");
    assert!(msg.contains("live"), "{msg}");
    assert_eq!(rows(&c, "SELECT 1").await[0][0], "1");

    // It comes up: the catalog reconnects by itself.
    db.start();
    mysql_at(port, None, "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, amount DECIMAL(10,2)); INSERT INTO shop.orders VALUES (1, 9.99), (2, 0.01);");
    let got = eventually(&c, "SELECT sum(amount) FROM live.shop.orders", Duration::from_secs(20)).await;
    assert_eq!(got[0][0], "10.00");

    // It dies: queries fail with a connection SQLSTATE naming the catalog; fedsql lives on.
    db.kill();
    let err = c.simple_query("SELECT sum(amount) FROM live.shop.orders").await.unwrap_err();
    let (code, msg) = sqlstate(&err);
    assert!(code.starts_with("08"), "{code} {msg}");
    assert!(msg.contains("live"), "{msg}");
    assert_eq!(rows(&c, "SELECT 2").await[0][0], "2");

    // It comes back with its data.
    db.start();
    let got = eventually(&c, "SELECT count(*) FROM live.shop.orders", Duration::from_secs(20)).await;
    assert_eq!(got[0][0], "2");
}

#[tokio::test]
async fn a_table_created_after_start_appears_without_restart() {
    let my = MysqlDb::create("CREATE TABLE a (id INT);");
    let pg = PgDb::create("CREATE TABLE a (id int);").await;
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    mysql(Some(&my.name), "CREATE TABLE later (v VARCHAR(5)); INSERT INTO later VALUES ('새');");
    let src = pg_connect(5432, &pg.name).await;
    src.batch_execute("CREATE VIEW later_view AS SELECT 42 AS answer").await.unwrap();
    assert_eq!(rows(&c, &format!("SELECT v FROM live.{}.later", my.name)).await[0][0], "새");
    // Views are tables too.
    assert_eq!(rows(&c, "SELECT answer FROM crm.public.later_view").await[0][0], "42");
}

#[tokio::test]
async fn passwords_never_appear_in_errors_logs_or_explain() {
    let my = MysqlDb::create("CREATE TABLE t (id INT); INSERT INTO t VALUES (1);");
    let user = unique("fu");
    let secret = format!("Pw{}", unique("x"));
    mysql(None, &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'; GRANT SELECT ON {}.* TO '{user}'@'%';", my.name));
    let wrong = format!("Wrong{}", unique("y"));
    let cats = Catalogs::new()
        .add("good", &format!("connector = \"mysql\"\nurl = \"mysql://{user}:{secret}@127.0.0.1:3306/{}\"\nsslmode = \"disable\"\n", my.name))
        .add("bad", &format!("connector = \"mysql\"\nhost = \"127.0.0.1\"\nuser = \"{user}\"\npassword = \"{wrong}\"\ndatabase = \"{}\"\nsslmode = \"disable\"\n", my.name));
    let server = Server::start(&cats);
    let c = server.client().await;
    let mut seen = String::new();
    seen.push_str(&format!("{:?}", rows(&c, &format!("EXPLAIN SELECT * FROM good.{}.t WHERE id = 1", my.name)).await));
    assert_eq!(rows(&c, &format!("SELECT id FROM good.{}.t", my.name)).await[0][0], "1");
    let err = c.simple_query(&format!("SELECT * FROM bad.{}.t", my.name)).await.unwrap_err();
    let (code, msg) = sqlstate(&err);
    assert!(code.starts_with("08"), "{code} {msg}");
    seen.push_str(&msg);
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["check", "--catalogs"]).arg(&cats.dir).output().unwrap();
    assert!(!check.status.success(), "check must fail for the bad catalog");
    seen.push_str(&String::from_utf8_lossy(&check.stdout));
    seen.push_str(&String::from_utf8_lossy(&check.stderr));
    seen.push_str(&server.log());
    assert!(seen.contains("bad"), "the failing catalog is named");
    assert!(!seen.contains(&secret), "password leaked:\n{seen}");
    assert!(!seen.contains(&wrong), "password leaked:\n{seen}");
    mysql(None, &format!("DROP USER '{user}'@'%'"));
}
