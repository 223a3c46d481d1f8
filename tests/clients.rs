//! Real client drivers against fedsql: psycopg2, psycopg 3, SQLAlchemy, asyncpg
//! (tests/clients/python_clients.py), pgcli's completion refresher (pgcli_completion.py), psqlODBC
//! (odbc_catalog.py), dbt-postgres (dbt_check.py), node-postgres (node_clients.js) and pgjdbc
//! (JdbcClient.java, and DBeaver's own catalog queries in DbeaverBrowse.java). Each program checks answers, types and catalogs itself; this file
//! builds the sources, serves them, and runs it. `scripts/client-drivers` installs the
//! drivers (scripts/test runs it first).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn drivers() -> PathBuf {
    let dir = std::env::var_os("FEDSQL_CLIENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fedsql-clients"));
    assert!(dir.join("venv/bin/python").exists() && dir.join("node/node_modules/pg").exists(),
        "client drivers missing in {}: run scripts/client-drivers", dir.display());
    dir
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The three sources the client programs expect: `crm` (PostgreSQL), `shop` (MySQL) and
/// `history` (the demo Parquet).
struct Fixture {
    _pg: PgDb,
    my: MysqlDb,
    _cats: Catalogs,
    server: Server,
}

async fn fixture() -> Fixture {
    let dir = fixture_dir();
    let pg = PgDb::create(&std::fs::read_to_string(dir.join("postgres.sql")).unwrap()).await;
    let my = MysqlDb::create(&std::fs::read_to_string(dir.join("mysql.sql")).unwrap());
    let history = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/history");
    let cats = Catalogs::new().postgres("crm", &pg.name).mysql("shop", &my.name).parquet("history", &history);
    let server = Server::start(&cats);
    Fixture { _pg: pg, my, _cats: cats, server }
}

fn run(what: &str, cmd: &mut Command, f: &Fixture) {
    let out = cmd
        .env("FEDSQL_PORT", f.server.port.to_string())
        .env("SHOP_SCHEMA", &f.my.name)
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
}

#[tokio::test]
async fn python_drivers() {
    let d = drivers();
    let f = fixture().await;
    let script = fixture_dir().join("python_clients.py");
    run("python clients", Command::new(d.join("venv/bin/python")).arg(script), &f);
}

#[tokio::test]
async fn pgcli_completion() {
    let d = drivers();
    let f = fixture().await;
    let script = fixture_dir().join("pgcli_completion.py");
    run("pgcli", Command::new(d.join("venv/bin/python")).arg(script), &f);
}

/// psqlODBC, the driver Excel, Power BI and Tableau use, through unixODBC and pyodbc:
/// SQLTables, SQLColumns with and without a schema (`SET search_path` makes a source
/// schema current), SQLPrimaryKeys, SQLForeignKeys, SQLStatistics and cursor mode
/// (`UseDeclareFetch=1`). The expected answers (odbc_expect.json) are PostgreSQL's for
/// the same tables in a schema named `crm.public`.
#[tokio::test]
async fn psqlodbc() {
    let d = drivers();
    let f = fixture().await;
    let expect = format!("@{}", fixture_dir().join("odbc_expect.json").display());
    run("odbc_catalog.py", Command::new(d.join("venv/bin/python")).arg(fixture_dir().join("odbc_catalog.py")).args(["--expect", &expect]), &f);
}

/// dbt-postgres (the stats jobs' tool): `dbt debug`, `dbt test` over source tables,
/// `dbt source freshness` and `dbt docs generate`, checked in dbt's own artifacts
/// (dbt_check.py, project in tests/clients/dbt).
#[tokio::test]
async fn dbt() {
    let d = drivers();
    let f = fixture().await;
    run("dbt_check.py", Command::new(d.join("venv/bin/python")).arg(fixture_dir().join("dbt_check.py")).arg(d.join("dbt/bin/dbt")), &f);
}

#[tokio::test]
async fn node_postgres() {
    let d = drivers();
    let f = fixture().await;
    let script = fixture_dir().join("node_clients.js");
    run("node-postgres", Command::new("node").arg(script).env("NODE_PATH", d.join("node/node_modules")), &f);
}

#[tokio::test]
async fn pgjdbc() {
    let f = fixture().await;
    let classes = std::env::temp_dir().join(unique("fedsql_jdbc"));
    let jar = "/usr/share/java/postgresql.jar";
    let javac = Command::new("javac")
        .args(["-d", classes.to_str().unwrap(), "-cp", jar])
        .arg(fixture_dir().join("JdbcClient.java"))
        .arg(fixture_dir().join("DbeaverBrowse.java"))
        .output()
        .expect("javac (scripts/client-drivers installs a JDK)");
    assert!(javac.status.success(), "javac: {}", String::from_utf8_lossy(&javac.stderr));
    let cp = format!("{}:{jar}", classes.display());
    run("pgjdbc", Command::new("java").args(["-cp", &cp, "JdbcClient"]), &f);
    run("DBeaver", Command::new("java").args(["-cp", &cp, "DbeaverBrowse"]), &f);
    let _ = std::fs::remove_dir_all(classes);
}
