//! Security over the wire: SCRAM-SHA-256 logins from real drivers against stored
//! verifiers (PostgreSQL's format), TLS that fails closed, grants enforced on every path
//! and in every catalog, and connection limits.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use tokio_postgres::NoTls;

const ANA_PW: &str = "ana-Pa55 wörd";
const ROOT_PW: &str = "root-secret-7";

/// `fedsql passwd NAME` with `password` on stdin.
fn verifier(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["passwd", "someone"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(v.starts_with("SCRAM-SHA-256$4096:") && !v.contains(password), "{v}");
    v
}

fn users(extra: &str) -> String {
    format!(
        "[users.ana]\npassword = \"{}\"\ngroups = [\"analysts\"]\n\n[users.root]\npassword = \"{}\"\nadmin = true\n\n\
         [grants]\nanalysts = [\"crm.public.orgs\"]\n{extra}",
        verifier(ANA_PW),
        verifier(ROOT_PW)
    )
}

struct Secured {
    _pg: PgDb,
    _cats: Catalogs,
    server: Server,
}

async fn secured(config: &str) -> Secured {
    let pg = PgDb::create(
        "CREATE TABLE orgs (org_code text PRIMARY KEY, name text); INSERT INTO orgs VALUES ('B1', 'Bank');\
         CREATE TABLE members (id int PRIMARY KEY, org_code text REFERENCES orgs, secret text); INSERT INTO members VALUES (1, 'B1', 'ssn-123');",
    )
    .await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start_with(&cats, config);
    Secured { _pg: pg, _cats: cats, server }
}

async fn login(port: u16, user: &str, password: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (c, conn) = tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user={user} password='{password}' dbname=fedsql"), NoTls).await?;
    tokio::spawn(conn);
    Ok(c)
}

fn login_code(r: Result<tokio_postgres::Client, tokio_postgres::Error>) -> String {
    match r {
        Ok(_) => panic!("the login should have failed"),
        Err(e) => sqlstate(&e).0,
    }
}

fn clients_dir() -> PathBuf {
    std::env::var_os("FEDSQL_CLIENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fedsql-clients"))
}

/// Runs a driver program; its stdout's last line is the outcome.
fn driver(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "{what}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().last().unwrap_or_default().to_string()
}

#[tokio::test]
async fn every_driver_logs_in_with_scram_and_a_wrong_password_gets_28p01() {
    let s = secured(&users("")).await;
    let port = s.server.port;
    // tokio-postgres
    let c = login(port, "ana", ANA_PW).await.unwrap();
    assert_eq!(rows(&c, "SELECT name FROM crm.public.orgs").await[0][0], "Bank");
    assert_eq!(login_code(login(port, "ana", "wrong").await), "28P01");
    // Unknown users fail alike.
    let unknown = login(port, "mallory", "x").await.err().unwrap();
    let known = login(port, "ana", "x").await.err().unwrap();
    assert_eq!(sqlstate(&unknown).0, "28P01");
    assert_eq!(sqlstate(&unknown).1.replace("mallory", "?"), sqlstate(&known).1.replace("ana", "?"));

    // psql
    // psql prints no SQLSTATE for a failed connection: its message is PostgreSQL's.
    for (password, want) in [(ANA_PW, "Bank"), ("wrong", "password authentication failed for user \"ana\"")] {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "ana", "-d", "fedsql", "-AtX", "-v", "VERBOSITY=verbose", "-c", "SELECT name FROM crm.public.orgs"])
            .env("PGPASSWORD", password)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(want), "psql with {password:?}: {text}");
    }

    // psycopg2, psycopg 3, asyncpg
    let py = clients_dir().join("venv/bin/python");
    let script = r#"
import asyncio, sys, psycopg2, psycopg, asyncpg
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = []
for name, connect in [("psycopg2", lambda p: psycopg2.connect(host="127.0.0.1", port=port, user=user, password=p, dbname="fedsql")),
                      ("psycopg", lambda p: psycopg.connect(host="127.0.0.1", port=port, user=user, password=p, dbname="fedsql"))]:
    c = connect(pw); cur = c.cursor(); cur.execute("SELECT name FROM crm.public.orgs"); assert cur.fetchone()[0] == "Bank"; c.close()
    try:
        connect(pw + "x"); out.append(name + ":accepted")
    except Exception as e:
        # libpq reports no SQLSTATE for a failed connection, only PostgreSQL's message.
        out.append(name + ":" + ("refused" if 'password authentication failed for user "ana"' in str(e) else str(e)))
async def a():
    c = await asyncpg.connect(host="127.0.0.1", port=port, user=user, password=pw, database="fedsql")
    assert (await c.fetchval("SELECT name FROM crm.public.orgs")) == "Bank"
    await c.close()
    try:
        await asyncpg.connect(host="127.0.0.1", port=port, user=user, password=pw + "x", database="fedsql"); out.append("asyncpg:accepted")
    except asyncpg.PostgresError as e:
        out.append("asyncpg:" + e.sqlstate)
asyncio.run(a())
print(" ".join(out))
"#;
    let got = driver("python drivers", Command::new(&py).args(["-c", script, &port.to_string(), "ana", ANA_PW]));
    assert_eq!(got, "psycopg2:refused psycopg:refused asyncpg:28P01");

    // node-postgres
    let js = r#"
const { Client } = require("pg");
const [port, user, pw] = process.argv.slice(1); // `node -e` has no script path
(async () => {
  const c = new Client({ host: "127.0.0.1", port: Number(port), user, password: pw, database: "fedsql" });
  await c.connect();
  const r = await c.query("SELECT name FROM crm.public.orgs");
  if (r.rows[0].name !== "Bank") throw new Error("wrong answer");
  await c.end();
  const bad = new Client({ host: "127.0.0.1", port: Number(port), user, password: pw + "x", database: "fedsql" });
  try { await bad.connect(); console.log("node:accepted"); } catch (e) { console.log("node:" + e.code); }
})().catch((e) => { console.error(e); process.exit(1); });
"#;
    let got = driver("node-postgres", Command::new("node").args(["-e", js, &port.to_string(), "ana", ANA_PW]).env("NODE_PATH", clients_dir().join("node/node_modules")));
    assert_eq!(got, "node:28P01");

    // pgjdbc
    let dir = std::env::temp_dir().join(unique("fedsql_jdbc_login"));
    std::fs::create_dir_all(&dir).unwrap();
    let java = dir.join("Login.java");
    std::fs::write(&java, r#"
import java.sql.*;
public class Login {
    public static void main(String[] a) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + a[0] + "/fedsql";
        try (Connection c = DriverManager.getConnection(url, a[1], a[2]); ResultSet r = c.createStatement().executeQuery("SELECT name FROM crm.public.orgs")) {
            r.next(); if (!r.getString(1).equals("Bank")) throw new RuntimeException("wrong answer");
        }
        try (Connection c = DriverManager.getConnection(url, a[1], a[2] + "x")) { System.out.println("jdbc:accepted"); }
        catch (SQLException e) { System.out.println("jdbc:" + e.getSQLState()); }
    }
}"#).unwrap();
    let got = driver("pgjdbc", Command::new("java").args(["-cp", "/usr/share/java/postgresql.jar"]).arg(&java).args([&port.to_string(), "ana", ANA_PW]));
    assert_eq!(got, "jdbc:28P01");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_verifier_copied_from_postgresql_logs_in_with_the_same_password() {
    let role = unique("fedsql_role");
    let admin = pg_connect(5432, "postgres").await;
    admin.batch_execute(&format!("SET password_encryption = 'scram-sha-256'; CREATE ROLE {role} LOGIN PASSWORD 'from-postgres-1'")).await.unwrap();
    let stored = rows(&admin, &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")).await[0][0].clone();
    admin.batch_execute(&format!("DROP ROLE {role}")).await.unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");
    let s = secured(&format!("[users.copied]\npassword = \"{stored}\"\nadmin = true\n")).await;
    let c = login(s.server.port, "copied", "from-postgres-1").await.unwrap();
    assert_eq!(rows(&c, "SELECT count(*) FROM crm.public.members").await[0][0], "1");
    assert_eq!(login_code(login(s.server.port, "copied", "from-postgres-2").await), "28P01");
    // The verifier itself is not a password.
    assert_eq!(login_code(login(s.server.port, "copied", &stored).await), "28P01");
}

/// A CA and a server certificate for localhost and 127.0.0.1, by openssl.
fn certificates(dir: &Path) {
    let sh = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fedsql-test-ca -keyout ca.key -out ca.crt 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext; \
         openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile ext -out server.crt 2>/dev/null",
        d = dir.display()
    );
    let out = Command::new("sh").args(["-c", &sh]).output().unwrap();
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn tls_is_required_when_configured_and_verify_full_binds_scram_to_the_channel() {
    let dir = std::env::temp_dir().join(unique("fedsql_tls"));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let config = format!(
        "{}\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nrequire = true\n",
        users(""),
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    let s = secured(&config).await;
    let port = s.server.port;
    // Plaintext is refused.
    assert_eq!(login_code(login(port, "ana", ANA_PW).await), "28000");
    let out = Command::new("psql")
        .args(["-AtX", "-c", "SELECT 1"])
        .arg(format!("host=127.0.0.1 port={port} user=ana dbname=fedsql sslmode=disable"))
        .env("PGPASSWORD", ANA_PW)
        .output()
        .unwrap();
    assert!(!out.status.success(), "psql without TLS got in: {}", String::from_utf8_lossy(&out.stdout));
    // verify-full against the CA, with SCRAM-SHA-256-PLUS required.
    let py = clients_dir().join("venv/bin/python");
    let script = format!(
        r#"
import psycopg2
c = psycopg2.connect(host="localhost", port={port}, user="ana", password={pw:?}, dbname="fedsql", sslmode="verify-full", sslrootcert={ca:?}, channel_binding="require")
cur = c.cursor(); cur.execute("SELECT name FROM crm.public.orgs"); print(cur.fetchone()[0], c.info.ssl_in_use)
"#,
        pw = ANA_PW,
        ca = dir.join("ca.crt").display().to_string()
    );
    let got = driver("psycopg2 verify-full", Command::new(&py).args(["-c", &script]));
    assert_eq!(got, "Bank True");
    let out = Command::new("psql")
        .args(["-AtX", "-c", "SELECT name FROM crm.public.orgs"])
        .arg(format!("host=localhost port={port} user=ana dbname=fedsql sslmode=verify-full sslrootcert={}", dir.join("ca.crt").display()))
        .env("PGPASSWORD", ANA_PW)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Bank", "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `fedsql serve` expecting it to refuse to start; returns what it said.
fn refused(args: &[&str], config: &str) -> String {
    let dir = std::env::temp_dir().join(unique("fedsql_refuse"));
    std::fs::create_dir_all(dir.join("catalogs")).unwrap();
    std::fs::write(dir.join("fedsql.toml"), config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedsql"));
    cmd.args(["serve", "--catalogs"]).arg(dir.join("catalogs")).arg("--config").arg(dir.join("fedsql.toml")).args(args);
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("fedsql serve {args:?} kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    assert!(!status.success(), "fedsql serve {args:?} exited 0");
    err
}

#[test]
fn a_broken_certificate_or_an_open_address_without_users_stops_startup() {
    let err = refused(&["--listen", "127.0.0.1:0"], "[tls]\ncert = \"/nonexistent/server.crt\"\nkey = \"/nonexistent/server.key\"\n");
    assert!(err.contains("tls.cert") && err.contains("/nonexistent/server.crt"), "{err}");
    let dir = std::env::temp_dir().join(unique("fedsql_badcert"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.crt"), "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").unwrap();
    std::fs::write(dir.join("bad.key"), "nothing").unwrap();
    let err = refused(&["--listen", "127.0.0.1:0"], &format!("[tls]\ncert = \"{0}/bad.crt\"\nkey = \"{0}/bad.key\"\n", dir.display()));
    assert!(err.contains("tls."), "{err}");
    let _ = std::fs::remove_dir_all(dir);
    let err = refused(&["--listen", "0.0.0.0:0"], "");
    assert!(err.contains("without authentication") && err.contains("fedsql passwd") && err.contains("--insecure"), "{err}");
}

#[tokio::test]
async fn a_restricted_user_cannot_read_list_or_describe_an_ungranted_table() {
    let s = secured(&users("")).await;
    let port = s.server.port;
    let ana = login(port, "ana", ANA_PW).await.unwrap();
    let root = login(port, "root", ROOT_PW).await.unwrap();
    assert_eq!(rows(&root, "SELECT secret FROM crm.public.members").await[0][0], "ssn-123");
    assert_eq!(rows(&ana, "SELECT name FROM crm.public.orgs").await[0][0], "Bank");
    let paths = [
        "SELECT secret FROM crm.public.members",
        "SELECT o.name, m.secret FROM crm.public.orgs o JOIN crm.public.members m ON m.org_code = o.org_code",
        "SELECT name FROM crm.public.orgs WHERE org_code IN (SELECT org_code FROM crm.public.members)",
        "WITH m AS (SELECT * FROM crm.public.members) SELECT count(*) FROM m",
        "SELECT count(*) FROM \"crm.public\".members",
        "EXPLAIN SELECT * FROM crm.public.members",
        "COPY (SELECT secret FROM crm.public.members) TO STDOUT",
        "COPY crm.public.members TO STDOUT",
        "SELECT * FROM crm.public.nonexistent",
        "SELECT * FROM crm.other.members",
        "DECLARE c CURSOR FOR SELECT secret FROM crm.public.members",
    ];
    for sql in paths {
        let err = ana.simple_query(sql).await.err().unwrap_or_else(|| panic!("{sql}: answered"));
        let (code, msg) = sqlstate(&err);
        assert_eq!(code, "42501", "{sql}: {msg}");
        assert!(msg.contains("crm."), "{sql}: {msg}");
    }
    // A session keeps its user: no role or session authorization switches to another.
    for sql in ["SET ROLE root", "SET SESSION AUTHORIZATION root"] {
        let err = ana.simple_query(sql).await.err().unwrap_or_else(|| panic!("{sql}: accepted"));
        assert_eq!(sqlstate(&err).0, "42501", "{sql}");
    }
    ana.batch_execute("SET ROLE NONE; SET SESSION AUTHORIZATION DEFAULT; SET ROLE ana").await.unwrap();
    // Prepared statements, too.
    let err = ana.query("SELECT secret FROM crm.public.members WHERE id = $1", &[&1i32]).await.unwrap_err();
    assert_eq!(sqlstate(&err).0, "42501");
    // Nothing ungranted is listed anywhere.
    let listings = [
        ("information_schema.tables", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm.public' ORDER BY 1"),
        ("information_schema.columns", "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = 'crm.public' ORDER BY 1"),
        ("pg_class", "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'crm.public' AND c.relkind IN ('r', 'v') ORDER BY 1"),
        ("pg_attribute", "SELECT DISTINCT c.relname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'crm.public' AND c.relkind = 'r' ORDER BY 1"),
        ("pg_constraint", "SELECT DISTINCT c.relname FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid ORDER BY 1"),
        ("information_schema.table_constraints", "SELECT DISTINCT table_name FROM information_schema.table_constraints WHERE table_schema = 'crm.public' ORDER BY 1"),
    ];
    for (what, sql) in listings {
        let got: Vec<String> = rows(&ana, sql).await.into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(got, vec!["orgs".to_string()], "{what}");
        let all: Vec<String> = rows(&root, sql).await.into_iter().map(|r| r[0].clone()).collect();
        assert!(all.contains(&"members".to_string()), "{what} for an admin: {all:?}");
    }
    for (who, want) in [(&ana, "f"), (&root, "t")] {
        let got = rows(who, "SELECT has_table_privilege('crm.public.members', 'SELECT'), has_table_privilege('\"crm.public\".orgs', 'SELECT')").await;
        assert_eq!(got[0], vec![want.to_string(), "t".to_string()]);
    }
    // `fedsql query` applies the same grants.
    let config = std::env::temp_dir().join(unique("fedsql_query_cfg")).with_extension("toml");
    std::fs::write(&config, users("")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["query", "--catalogs"])
        .arg(&s._cats.dir)
        .arg("--config")
        .arg(&config)
        .args(["--user", "ana", "SELECT secret FROM crm.public.members"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("42501"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["query", "--catalogs"])
        .arg(&s._cats.dir)
        .arg("--config")
        .arg(&config)
        .arg("SELECT 1")
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--user"));
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn connection_limits_answer_53300() {
    let s = secured(&format!("{}\n[limits]\nmax_connections = 3\n", users("").replace("groups = [\"analysts\"]\n", "groups = [\"analysts\"]\nmax_connections = 1\n"))).await;
    let port = s.server.port;
    let _ana = login(port, "ana", ANA_PW).await.unwrap();
    assert_eq!(login_code(login(port, "ana", ANA_PW).await), "53300");
    let _r1 = login(port, "root", ROOT_PW).await.unwrap();
    let _r2 = login(port, "root", ROOT_PW).await.unwrap();
    assert_eq!(login_code(login(port, "root", ROOT_PW).await), "53300");
    drop(_r2);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = login(port, "root", ROOT_PW).await.unwrap();
    assert_eq!(rows(&again, "SELECT 1").await[0][0], "1");
}

#[tokio::test]
async fn the_audit_table_and_the_log_hold_every_statement_and_no_secret() {
    let pg = PgDb::create("CREATE TABLE orgs (org_code text PRIMARY KEY, name text); INSERT INTO orgs VALUES ('B1', 'Bank'), ('B2', 'Card');").await;
    let catalog_secret = "Catalog-Secret-91x";
    let cats = Catalogs::new().add(
        "crm",
        &format!("connector = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5432\nuser = \"postgres\"\npassword = \"{catalog_secret}\"\ndatabase = \"{}\"\nsslmode = \"disable\"\n", pg.name),
    );
    let config = users("");
    let server = Server::start_with(&cats, &config);
    let port = server.port;
    let (ana, conn) = tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user=ana password='{ANA_PW}' dbname=fedsql application_name=dash"), NoTls).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(rows(&ana, "SELECT name FROM crm.public.orgs ORDER BY 1").await.len(), 2);
    assert_eq!(ana.query("SELECT name FROM crm.public.orgs WHERE org_code = $1", &[&"B2"]).await.unwrap().len(), 1);
    assert!(ana.simple_query("SELECT * FROM crm.public.members").await.is_err());
    let _ = login(port, "ana", "a-wrong-password").await;
    let root = login(port, "root", ROOT_PW).await.unwrap();
    rows(&root, "SELECT 42").await;

    let mine = rows(&ana, "SELECT user_name, application_name, catalogs, rows, sqlstate, statement FROM fedsql.queries ORDER BY started_at").await;
    let find = |needle: &str| mine.iter().find(|r| r[5].contains(needle)).unwrap_or_else(|| panic!("no entry for {needle}: {mine:?}")).clone();
    assert_eq!(find("ORDER BY 1")[..5], ["ana", "dash", "crm", "2", "00000"]);
    assert_eq!(find("org_code = $1")[..5], ["ana", "dash", "crm", "1", "00000"]);
    assert_eq!(find("crm.public.members")[4], "42501");
    assert!(mine.iter().all(|r| r[0] == "ana"), "ana sees others' statements: {mine:?}");
    let all = rows(&root, "SELECT DISTINCT user_name FROM fedsql.queries ORDER BY 1").await;
    assert_eq!(all, vec![vec!["ana".to_string()], vec!["root".to_string()]]);

    let log = server.log();
    assert!(log.contains("fedsql::audit") && log.contains("SELECT name FROM crm.public.orgs ORDER BY 1"), "{log}");
    for secret in [ANA_PW, ROOT_PW, "a-wrong-password", catalog_secret] {
        assert!(!log.contains(secret), "the log holds a secret: {secret}");
    }
    for line in config.lines().filter(|l| l.starts_with("password")) {
        let verifier = line.split('"').nth(1).unwrap();
        assert!(!log.contains(verifier), "the log holds a verifier");
    }
}

#[tokio::test]
async fn idle_sessions_are_closed_and_busy_ones_are_not() {
    let pg = PgDb::create("CREATE VIEW slow AS SELECT 1 AS x FROM pg_sleep(2);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start_with(&cats, "[limits]\nidle_session_timeout = \"1s\"\n");
    let idle = server.client().await;
    let busy = server.client().await;
    assert_eq!(rows(&idle, "SELECT 1").await[0][0], "1");
    // A statement longer than the timeout keeps its session.
    assert_eq!(rows(&busy, "SELECT x FROM crm.public.slow").await[0][0], "1");
    assert_eq!(rows(&busy, "SELECT 2").await[0][0], "2");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(idle.simple_query("SELECT 3").await.is_err(), "an idle session outlived the timeout");
    assert!(server.log().contains("idle past limits.idle_session_timeout"));
}

#[tokio::test]
async fn a_burst_of_failed_logins_is_slowed_down() {
    let s = secured(&users("")).await;
    let port = s.server.port;
    let mut took = Vec::new();
    for _ in 0..9 {
        let start = std::time::Instant::now();
        assert_eq!(login_code(login(port, "ana", "guess").await), "28P01");
        took.push(start.elapsed());
    }
    // Six failures answer at once; then each waits 100 ms × 2^k more: the ninth 800 ms.
    assert!(took[8] >= std::time::Duration::from_millis(800), "{took:?}");
    assert!(took[8] > took[0] + std::time::Duration::from_millis(700), "{took:?}");
    // The right password still gets in.
    assert!(login(port, "ana", ANA_PW).await.is_ok());
}
