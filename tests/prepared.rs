//! Prepared statements run from a kept optimized plan (`engine::plan_cache`): each
//! Execute binds its own values, on every source, and answers as the statement planned
//! whole would; values the kept plan was not made for are planned whole.

mod common;

use std::time::Duration;

use common::*;
use tokio_postgres::types::ToSql;

const ACCOUNTS: &str = "CREATE TABLE accounts (id INT PRIMARY KEY, org TEXT, balance DECIMAL(20,4), opened DATE)";
const ROWS: &str = "INSERT INTO accounts VALUES (1,'A',10.0001,'2024-01-01'),(2,'A',20.0002,'2024-02-01'),(3,'B',30.0003,'2024-03-01'),(4,NULL,40.0004,'2024-04-01')";

/// Rows of a prepared statement's execution, as text.
async fn run(client: &tokio_postgres::Client, stmt: &tokio_postgres::Statement, params: &[&(dyn ToSql + Sync)]) -> Vec<String> {
    let rows = client.query(stmt, params).await.unwrap_or_else(|e| panic!("{e:?}"));
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    let v: Option<String> = match r.columns()[i].type_().name() {
                        "int4" => r.get::<_, Option<i32>>(i).map(|v| v.to_string()),
                        "int8" => r.get::<_, Option<i64>>(i).map(|v| v.to_string()),
                        _ => r.get::<_, Option<String>>(i),
                    };
                    v.unwrap_or_else(|| "NULL".into())
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn kept_plans(server: &Server) -> usize {
    server.log().matches("ran the kept plan").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_execute_binds_its_values_on_every_source() {
    let my = MysqlDb::create(&format!("{ACCOUNTS}; {ROWS}"));
    let pg = PgDb::create(&format!("{ACCOUNTS}; {ROWS}")).await;
    pg_log_statements(&pg.name).await;
    let catalogs = Catalogs::new().mysql("my", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&catalogs);
    let client = server.client().await;
    let tables = [format!("my.{}.accounts", my.name), "crm.public.accounts".to_string()];
    for table in &tables {
        let lookup = client
            .prepare(&format!("SELECT id, org, CAST(balance AS TEXT) FROM {table} WHERE id = $1"))
            .await
            .unwrap();
        let by_org = client
            .prepare(&format!("SELECT count(*), CAST(sum(balance) AS TEXT) FROM {table} WHERE org = $1 AND opened < $2"))
            .await
            .unwrap();
        for round in 0..2 {
            for (id, want) in [(1, "1|A|10.0001"), (3, "3|B|30.0003"), (4, "4|NULL|40.0004")] {
                assert_eq!(run(&client, &lookup, &[&id]).await, vec![want.to_string()], "{table} id {id}, round {round}");
            }
            assert!(run(&client, &lookup, &[&9]).await.is_empty(), "{table}");
            let march = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
            assert_eq!(run(&client, &by_org, &[&"A", &march]).await, vec!["2|30.0003"], "{table}");
            assert_eq!(run(&client, &by_org, &[&"B", &march]).await, vec!["0|NULL"], "{table}");
            // NULL is planned whole: `org = NULL` is never true.
            assert_eq!(run(&client, &by_org, &[&None::<&str>, &march]).await, vec!["0|NULL"], "{table}");
            // A date no source can be sent keeps its comparison in the engine.
            let far = chrono::NaiveDate::from_ymd_opt(10000, 1, 1).unwrap();
            assert_eq!(run(&client, &by_org, &[&"A", &far]).await, vec!["2|30.0003"], "{table}");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(kept_plans(&server) >= 20, "most Executes ran a kept plan: {}", kept_plans(&server));
    // force_custom_plan plans each Execute with its values, as PostgreSQL's does.
    client.batch_execute("SET plan_cache_mode = force_custom_plan").await.unwrap();
    let before = kept_plans(&server);
    let lookup = client.prepare("SELECT id, org, CAST(balance AS TEXT) FROM crm.public.accounts WHERE id = $1").await.unwrap();
    for _ in 0..3 {
        assert_eq!(run(&client, &lookup, &[&3]).await, vec!["3|B|30.0003"]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kept_plans(&server), before, "no kept plan ran under force_custom_plan");
    // The kept plan still sends the source its filter, with the value bound.
    let sent = pg_statements(&pg.name);
    let sent: Vec<&String> = sent.iter().filter(|s| s.contains("fedsql-q")).collect();
    assert!(sent.iter().any(|s| s.contains("accounts") && s.contains("\"id\" = 3)")), "{sent:#?}");
    assert!(!sent.iter().any(|s| s.contains("$1")), "{sent:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_plan_follows_parquet_joins_and_limits() {
    let dir = std::env::temp_dir().join(unique("fedsql_prepared"));
    parquet_table(&dir, "lake", "events", 1000);
    let pg = PgDb::create("CREATE TABLE names (id BIGINT PRIMARY KEY, name TEXT); INSERT INTO names SELECT g, 'n' || g FROM generate_series(0, 999) g").await;
    let catalogs = Catalogs::new().parquet("files", &dir).postgres("crm", &pg.name);
    let server = Server::start(&catalogs);
    let client = server.client().await;
    let join = client
        .prepare("SELECT e.id, e.v, n.name FROM files.lake.events e JOIN crm.public.names n ON n.id = e.id WHERE e.id BETWEEN $1 AND $2 ORDER BY e.id LIMIT $3")
        .await
        .unwrap();
    for (lo, hi, limit) in [(10i64, 12i64, 10i64), (500, 900, 2), (998, 2000, 5)] {
        let want: Vec<String> = (lo..=hi.min(999)).take(limit as usize).map(|i| format!("{i}|{}|n{i}", i * 7919 % 10007)).collect();
        assert_eq!(run(&client, &join, &[&lo, &hi, &limit]).await, want, "{lo}..{hi} limit {limit}");
    }
    // A function the optimizer would fold is read again at each Execute.
    let clock = client.prepare("SELECT CAST(now() AS TEXT), count(*) FROM files.lake.events WHERE id < $1").await.unwrap();
    let first = run(&client, &clock, &[&5i64]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = run(&client, &clock, &[&5i64]).await;
    assert_ne!(first, second, "now() moved between Executes");
    assert!(first[0].ends_with("|5"), "{first:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
