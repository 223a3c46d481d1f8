//! The command line (`check`, `query`) and psql against `serve`.

mod common;

use std::process::Command;

use common::*;

fn fedsql(args: &[&str], catalogs: &Catalogs) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(args)
        .arg("--catalogs")
        .arg(&catalogs.dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn check_reports_each_catalog_and_fails_on_problems() {
    let my = MysqlDb::create("CREATE TABLE a (id INT); CREATE TABLE b (id INT); CREATE VIEW v AS SELECT id FROM a;");
    let good = Catalogs::new().mysql("live", &my.name);
    let out = fedsql(&["check"], &good);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("live\tok\t1 schemas\t3 tables"), "{stdout}");

    let bad = Catalogs::new().mysql("live", &my.name).mysql_port("gone", "x", free_port());
    let out = fedsql(&["check"], &bad);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("gone\tunavailable"), "{stdout}");

    let typo = Catalogs::new().add("x", "connector = \"mysql\"\nurl = \"mysql://root@127.0.0.1/db\"\nsslmod = \"disable\"\n");
    let out = fedsql(&["check"], &typo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("x.toml") && stderr.contains("unknown key `sslmod` (did you mean `sslmode`?)"), "{stderr}");
}

#[tokio::test]
async fn query_writes_csv_and_json() {
    let my = MysqlDb::create("CREATE TABLE t (id INT, name VARCHAR(10), fee DECIMAL(8,2)) CHARACTER SET utf8mb4;
        INSERT INTO t VALUES (1, '한글', 1.50), (2, NULL, 0.05);");
    let cats = Catalogs::new().mysql("live", &my.name);
    let sql = format!("SELECT id, name, fee FROM live.{}.t ORDER BY id", my.name);
    let out = fedsql(&["query", &sql, "--format", "csv"], &cats);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "id,name,fee\n1,한글,1.50\n2,,0.05\n");
    let out = fedsql(&["query", &sql, "--format", "json"], &cats);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"id\":1,\"name\":\"한글\",\"fee\":1.50}\n{\"id\":2,\"fee\":0.05}\n");
    let out = fedsql(&["query", &format!("SELECT * FROM live.{}.nope", my.name)], &cats);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 42P01"));
}

#[tokio::test]
async fn psql_lists_tables_and_runs_a_cross_source_query() {
    let my = MysqlDb::create("CREATE TABLE calls (org_code VARCHAR(8), fee DECIMAL(8,2)); INSERT INTO calls VALUES ('A', 1.25), ('A', 2.00), ('B', 0.75);");
    let pg = PgDb::create("CREATE TABLE orgs (org_code text, org_name text); INSERT INTO orgs VALUES ('A','가나'),('B','다라');").await;
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let psql = |cmd: &str| {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "analyst", "-d", "fedsql", "-X", "-A", "-t", "-c", cmd])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let dt = psql("\\dt");
    assert!(dt.contains("|calls|table|") && dt.contains("public|orgs|table|"), "{dt}");
    let joined = psql(&format!(
        "SELECT o.org_name, sum(c.fee) FROM live.{}.calls c JOIN crm.public.orgs o ON o.org_code = c.org_code GROUP BY 1 ORDER BY 1", my.name));
    assert_eq!(joined, "가나|3.25\n다라|0.75\n");
}
