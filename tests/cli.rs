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
    let pg = PgDb::create("CREATE TABLE orgs (org_code text PRIMARY KEY, org_name text); INSERT INTO orgs VALUES ('A','가나'),('B','다라');").await;
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

    // `\d table`: the primary key's index footer, as PostgreSQL prints it for its own table.
    let footer = |port: u16, user: &str, db: &str, table: &str| {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user, "-d", db, "-X", "-c", &format!("\\d {table}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql \\d {table}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_once("Indexes:").map(|(_, f)| f.trim_end().to_string()).unwrap_or_else(|| panic!("no Indexes footer:\n{text}"))
    };
    let theirs = footer(5432, "postgres", &pg.name, "orgs");
    assert_eq!(theirs, "\n    \"orgs_pkey\" PRIMARY KEY, btree (org_code)");
    assert_eq!(footer(server.port, "analyst", "fedsql", "\"crm.public\".orgs"), theirs);
}

/// psql's `\copy (query) TO STDOUT` in text and CSV, and timestamps as text: fedsql's
/// bytes must equal PostgreSQL's own for the same rows.
#[tokio::test]
async fn psql_copy_out_matches_postgres_byte_for_byte() {
    let setup = "CREATE TABLE events (id int8, at timestamp(3), zoned timestamptz, note text, amount numeric(12,3)); \
                 INSERT INTO events VALUES \
                 (1, '2026-09-01 00:00:00', '2026-09-01 00:00:00+00', 'plain', 1.500), \
                 (2, '2026-09-01 00:00:26.352', '2026-09-01 12:30:00.25+00', E'tab\\there, \"quoted\"\\nline', -0.001), \
                 (3, NULL, NULL, NULL, NULL), \
                 (4, '1969-12-31 23:59:58.5', '2026-03-01 00:00:00+00', '', 0);";
    let pg = PgDb::create(setup).await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let psql = |port: u16, user: &str, db: &str, cmd: &str| {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user, "-d", db, "-X", "-q", "-c", cmd])
            .env("PGTZ", "Asia/Seoul")
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    for options in ["", "csv header", "(FORMAT csv, DELIMITER ';', NULL 'NULL')"] {
        let query = "SELECT id, at, zoned, note, amount FROM {t} ORDER BY id";
        let ours = psql(server.port, "analyst", "fedsql",
            &format!("\\copy ({}) TO STDOUT {options}", query.replace("{t}", "crm.public.events")));
        let theirs = psql(5432, "postgres", &pg.name,
            &format!("\\copy ({}) TO STDOUT {options}", query.replace("{t}", "events")));
        assert_eq!(ours, theirs, "COPY {options}");
        assert!(ours.contains("2026-09-01 00:00:26.352") && ours.contains("2026-09-01 21:30:00.25+09"), "{ours}");
    }
    // A CSV header names computed columns as PostgreSQL does.
    let header = |port, user, db: &str, t: &str| {
        psql(port, user, db, &format!("\\copy (SELECT count(*), max(id) FROM {t}) TO STDOUT csv header"))
    };
    assert_eq!(header(server.port, "analyst", "fedsql", "crm.public.events"), "count,max\n4,4\n");
    assert_eq!(header(5432, "postgres", &pg.name, "events"), "count,max\n4,4\n");
    // The same text through a plain SELECT.
    let select = "SELECT id, at, zoned FROM {t} ORDER BY id";
    assert_eq!(
        psql(server.port, "analyst", "fedsql", &select.replace("{t}", "crm.public.events")),
        psql(5432, "postgres", &pg.name, &select.replace("{t}", "events")),
    );
    // A file on the server and binary format are refused with 0A000, the session goes on.
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "analyst", "-d", "fedsql", "-X",
               "-v", "VERBOSITY=verbose", "-c", "COPY crm.public.events TO '/tmp/x'", "-c", "SELECT 41 + 1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0A000") && stderr.contains("TO STDOUT"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
}

/// psql's `\d+`, `\dv` and `\d` on source tables print what PostgreSQL prints for the
/// same tables in a schema named like fedsql's (`crm.public`): types (varchar(n), jsonb
/// and uuid too), NOT NULL, the primary key's index, foreign keys both ways, comments on
/// tables and columns, views; and `\df` as for any PostgreSQL database.
#[tokio::test]
async fn psql_describes_source_tables_as_postgres_does() {
    let ddl = "CREATE TABLE orgs (org_code text PRIMARY KEY, org_name text NOT NULL, tier smallint NOT NULL);
        COMMENT ON TABLE orgs IS 'Partner organisations';
        COMMENT ON COLUMN orgs.tier IS '등급 (1 = top)';
        CREATE TABLE members (member_id bigint PRIMARY KEY, org_code text NOT NULL REFERENCES orgs,
          name varchar(40) NOT NULL, grade char(2), balance numeric(30,10), joined_at timestamptz, tags integer[],
          profile jsonb, settings json, ext_id uuid);
        COMMENT ON COLUMN members.balance IS 'KRW, exact';
        CREATE VIEW member_orgs AS SELECT m.member_id, o.org_name FROM members m JOIN orgs o USING (org_code);";
    let source = PgDb::create(ddl).await;
    let twin = PgDb::create(&format!("CREATE SCHEMA \"crm.public\"; SET search_path = \"crm.public\"; {ddl}")).await;
    let cats = Catalogs::new().postgres("crm", &source.name);
    let server = Server::start(&cats);
    let psql = |port: u16, db: &str, cmd: &str| {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", db, "-X", "-c", cmd])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // `\df`: no functions outside pg_catalog; a built-in's result and argument types.
    let same = ["\\d+ \"crm.public\".orgs", "\\d+ \"crm.public\".members", "\\dv \"crm.public\".*", "\\d \"crm.public\".member_orgs",
        "\\df", "\\df substr"];
    for cmd in same {
        // The data lives in the source: fedsql names no table access method.
        let theirs = psql(5432, &twin.name, cmd).replace("Access method: heap\n", "");
        assert_eq!(psql(server.port, "fedsql", cmd), theirs, "{cmd}");
    }
    let orgs = psql(server.port, "fedsql", "\\d+ \"crm.public\".orgs");
    assert!(orgs.contains("Referenced by:") && orgs.contains("등급 (1 = top)"), "{orgs}");
    // `\dt+`: the table's size at the source and its comment as its description.
    let size = psql(5432, &source.name, "SELECT pg_size_pretty(pg_table_size('orgs'))");
    let size = size.lines().nth(2).unwrap().trim().to_string();
    let dt = psql(server.port, "fedsql", "\\dt+ \"crm.public\".orgs");
    assert!(dt.contains(&format!("| {size} | Partner organisations")), "{size}: {dt}");
    // A view's definition is its source's own text.
    let view = psql(server.port, "fedsql", "\\d+ \"crm.public\".member_orgs");
    assert!(view.contains("View definition:") && view.contains("JOIN orgs o USING (org_code)"), "{view}");
    let dn = psql(server.port, "fedsql", "\\dn");
    assert!(dn.contains(" crm.public | postgres"), "{dn}");
    let l = psql(server.port, "fedsql", "\\l");
    assert!(l.contains(" fedsql   | postgres | UTF8 "), "{l}");
}
