//! Every connector's type mapping, read over the wire in text and binary format.

mod common;

use common::*;
use tokio_postgres::types::{FromSql, Type};

/// A `numeric` in PostgreSQL's binary form, decoded to its exact text.
struct Numeric(String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let r = |i: usize| i16::from_be_bytes([raw[i], raw[i + 1]]);
        let (n, weight, sign, dscale) = (r(0) as usize, r(2) as i32, r(4) as u16, r(6) as usize);
        let groups: Vec<i16> = (0..n).map(|k| r(8 + 2 * k)).collect();
        let mut int = String::new();
        let mut frac = String::new();
        for (k, g) in groups.iter().enumerate() {
            let pos = weight - k as i32;
            if pos >= 0 { int.push_str(&format!("{g:04}")) } else { frac.push_str(&format!("{g:04}")) }
        }
        for _ in 0..(weight - (n as i32 - 1)).max(0) { int.push_str("0000") }
        let leading_frac_zero_groups = (-(weight + 1)).max(0) as usize;
        frac = "0000".repeat(leading_frac_zero_groups.min(if n == 0 { 0 } else { leading_frac_zero_groups })) + &frac;
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        frac.truncate(dscale);
        while frac.len() < dscale { frac.push('0') }
        let sign = if sign == 0x4000 { "-" } else { "" };
        Ok(Numeric(if dscale > 0 { format!("{sign}{int}.{frac}") } else { format!("{sign}{int}") }))
    }
    fn accepts(ty: &Type) -> bool { *ty == Type::NUMERIC }
}

#[tokio::test]
async fn mysql_types_arrive_exact() {
    let my = MysqlDb::create("CREATE TABLE t (id INT PRIMARY KEY, big DECIMAL(65,30), fee DECIMAL(12,2), ub BIGINT UNSIGNED,
          dt DATETIME(6), ts TIMESTAMP(6) NULL, d DATE, name VARCHAR(20), j JSON, n INT NULL, f DOUBLE, `Select` INT) CHARACTER SET utf8mb4;
        SET time_zone = '+09:00';
        INSERT INTO t VALUES (1, 12345678901234567890123456789012345.123456789012345678901234567891, 1234567890.12,
          18446744073709551615, '2026-03-01 23:30:00.123456', '2026-03-01 23:30:00.123456', '2026-03-01', '가나다 utf8mb4 😀',
          '{\"k\": [1, \"둘\"]}', NULL, 0.1, 7),
          (2, -0.000000000000000000000000000001, -0.01, 0, '1999-12-31 00:00:00', NULL, NULL, NULL, NULL, 5, NULL, NULL);");
    mysql(Some(&my.name), r"CREATE TABLE s (id INT, v VARCHAR(20)); INSERT INTO s VALUES (1, 'a\b'), (2, 'it''s'), (3, 'a_b'), (4, 'axb');");
    mysql(Some(&my.name), "CREATE TABLE w (nv DECIMAL(38,20)); INSERT INTO w VALUES (-123456789012345678.12345678901234567890), (1.5);");
    let cats = Catalogs::new().mysql("live", &my.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    let t = format!("live.{}.t", my.name);
    // Literals mean the same at the source: a backslash is itself, '' is a quote,
    // and LIKE's escape works.
    let s = format!("live.{}.s", my.name);
    assert_eq!(rows(&c, &format!(r"SELECT id FROM {s} WHERE v = 'a' OR v = 'it''s' ORDER BY id")).await, [["1"], ["2"]]);
    assert_eq!(rows(&c, &format!(r"SELECT id FROM {s} WHERE v LIKE 'a\_b' ORDER BY id")).await, [["3"]]);
    assert_eq!(rows(&c, &format!(r"SELECT id FROM {s} WHERE v LIKE 'a_b' ORDER BY id")).await, [["3"], ["4"]]);
    let got = rows(&c, &format!("SELECT id, big, fee, ub, dt, d, name, j, n, f, \"Select\" FROM {t} ORDER BY id")).await;
    assert_eq!(got[0], ["1", "12345678901234567890123456789012345.123456789012345678901234567891", "1234567890.12",
        "18446744073709551615", "2026-03-01 23:30:00.123456", "2026-03-01", "가나다 utf8mb4 😀", "{\"k\": [1, \"둘\"]}", "NULL", "0.1", "7"]);
    assert_eq!(got[1], ["2", "-0.000000000000000000000000000001", "-0.01", "0", "1999-12-31 00:00:00", "NULL", "NULL", "NULL", "5", "NULL", "NULL"]);
    // TIMESTAMP is an instant: 23:30 at +09:00 is 14:30 UTC.
    let ts = rows(&c, &format!("SELECT CAST(ts AS VARCHAR) FROM {t} WHERE id = 1")).await;
    assert!(ts[0][0].replace('T', " ").starts_with("2026-03-01 14:30:00.123456"), "{ts:?}");
    let types = rows(&c, &format!("SELECT arrow_typeof(ts), arrow_typeof(dt) FROM {t} WHERE id = 1")).await;
    assert_eq!(types[0], ["Timestamp(µs, \"UTC\")", "Timestamp(µs)"]);
    // In Seoul, that instant is 23:30 on March 1st; DATETIME is a wall clock and stays put.
    c.batch_execute("SET TIME ZONE 'Asia/Seoul'").await.unwrap();
    let local = rows(&c, &format!("SELECT CAST(date_trunc('hour', ts) AS VARCHAR), CAST(date_trunc('hour', dt) AS VARCHAR) FROM {t} WHERE id = 1")).await;
    assert!(local[0][0].replace('T', " ").starts_with("2026-03-01 23:00:00"), "{local:?}");
    assert!(local[0][1].replace('T', " ").starts_with("2026-03-01 23:00:00"), "{local:?}");
    c.batch_execute("SET TIME ZONE 'UTC'").await.unwrap();
    // Decimal aggregates stay decimal and exact, pushed down or not.
    let sums = rows(&c, &format!("SELECT sum(big), sum(fee), min(big) FROM {t}")).await;
    let want = mysql(Some(&my.name), "SELECT sum(big), sum(fee), min(big) FROM t");
    assert_eq!(sums, want);
    // A product past the 38 digits the engine's decimal type holds is computed here and
    // fails cleanly; sent to MySQL, its exact 40-digit answer failed the provider's
    // conversion (XX000). One within 38 digits is still sent and exact.
    let w = format!("live.{}.w", my.name);
    let err = c.simple_query(&format!("SELECT nv * -1.25 FROM {w}")).await.unwrap_err();
    assert_eq!(sqlstate(&err).0, "22003", "{err:?}");
    assert_eq!(rows(&c, &format!("SELECT fee * -1.25 FROM {t} ORDER BY id")).await, [["-1543209862.6500"], ["0.0125"]]);
    // The binary protocol carries the same exact numerics.
    let row = c.query_one(&format!("SELECT big, fee FROM {t} WHERE id = 1"), &[]).await.unwrap();
    assert_eq!(row.get::<_, Numeric>(0).0, "12345678901234567890123456789012345.123456789012345678901234567891");
    assert_eq!(row.get::<_, Numeric>(1).0, "1234567890.12");
    let row = c.query_one(&format!("SELECT fee, ub FROM {t} WHERE id = 2"), &[]).await.unwrap();
    assert_eq!(row.get::<_, Numeric>(0).0, "-0.01");
}

#[tokio::test]
async fn postgres_types_arrive_exact() {
    let pg = PgDb::create("CREATE TABLE t (id int, n numeric, n2 numeric(30,10), tz timestamptz, ts timestamp, d date,
          j jsonb, js json, txt text, u uuid, b bool, \"MixedCase\" int, \"select\" text);
        SET TIME ZONE 'Asia/Seoul';
        INSERT INTO t VALUES (1, 123456789012.123456789, 12345678901234567890.0123456789, '2026-03-01 23:30:00+09',
          '2026-03-01 23:30:00', '2026-03-01', '{\"k\": \"값\"}', '[1,2]', '한글', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, 7, 'it''s'),
          (2, NULL, -0.0000000001, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    let got = rows(&c, "SELECT id, n2, d, j, js, txt, u, b, \"MixedCase\", \"select\" FROM crm.public.t ORDER BY id").await;
    assert_eq!(got[0], ["1", "12345678901234567890.0123456789", "2026-03-01", "{\"k\": \"값\"}", "[1,2]", "한글",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "t", "7", "it's"]);
    assert_eq!(got[1][1], "-0.0000000001");
    assert_eq!(got[1][2], "NULL");
    // Text-like source types keep their PostgreSQL type on the wire (Arrow has only Utf8).
    let stmt = c.prepare("SELECT j, js, u, txt, CAST(u AS VARCHAR) AS u_text FROM crm.public.t").await.unwrap();
    let types: Vec<_> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    use tokio_postgres::types::Type;
    assert_eq!(types, [Type::JSONB, Type::JSON, Type::UUID, Type::TEXT, Type::TEXT]);
    // Not through a cast to text (DataFusion keeps the metadata there), here under a UNION
    // whose other side is no uuid: binary uuid encoding would fail on it.
    let stmt = c.prepare("SELECT CAST(j AS TEXT) AS j, CAST(u AS TEXT) AS u FROM crm.public.t UNION ALL SELECT 'x', 'n/a'").await.unwrap();
    let types: Vec<_> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(types, [Type::TEXT, Type::TEXT]);
    assert_eq!(c.query(&stmt, &[]).await.unwrap().len(), 3);
    // In binary: jsonb's version byte, uuid's 16 bytes (read by tokio-postgres itself).
    let row = c.query_one("SELECT j, u FROM crm.public.t WHERE id = 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, Raw>(0).0, b"\x01{\"k\": \"\xea\xb0\x92\"}".to_vec());
    assert_eq!(hex(&row.get::<_, Raw>(1).0), "a0eebc999c0b4ef8bb6d6bb9bd380a11");
    // numeric without precision keeps every digit it has.
    let n = rows(&c, "SELECT n FROM crm.public.t WHERE id = 1").await;
    assert_eq!(n[0][0].trim_end_matches('0'), "123456789012.123456789");
    // ... also past the 18 integer digits a 128-bit decimal with scale 20 can hold.
    let src = pg_connect(5432, &pg.name).await;
    src.batch_execute("INSERT INTO t (id, n) VALUES (3, 123456789012345678901234567890.5)").await.unwrap();
    let n = rows(&c, "SELECT n, n * 2 FROM crm.public.t WHERE id = 3").await;
    assert_eq!(n[0][0].trim_end_matches('0'), "123456789012345678901234567890.5");
    assert_eq!(n[0][1].trim_end_matches('0'), "246913578024691357802469135781.");
    // timestamptz is the same instant; timestamp is the same wall clock.
    let tz = rows(&c, "SELECT CAST(tz AS VARCHAR), CAST(ts AS VARCHAR) FROM crm.public.t WHERE id = 1").await;
    let tz: Vec<String> = tz[0].iter().map(|v| v.replace('T', " ")).collect();
    assert!(tz[0].starts_with("2026-03-01 14:30:00"), "{tz:?}");
    assert!(tz[1].starts_with("2026-03-01 23:30:00"), "{tz:?}");
    // Filters with quoted identifiers and literals survive pushdown.
    let q = rows(&c, "SELECT \"MixedCase\" FROM crm.public.t WHERE \"select\" = 'it''s'").await;
    assert_eq!(q, vec![vec!["7".to_string()]]);
    let row = c.query_one("SELECT n2 FROM crm.public.t WHERE id = 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, Numeric>(0).0, "12345678901234567890.0123456789");
}

/// A column's raw binary wire value, whatever its type.
struct Raw(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw {
    fn from_sql(_: &tokio_postgres::types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A PostgreSQL `numeric` without a precision arrives exact (read as numeric(38,20)), or
/// fails with 22003 naming the column when it holds more than 20 decimals: never a
/// rounded number (issue 12: `0.000000000000000000000001` arrived as `0E-20`). A plain
/// table read (a scan, not a pushed-down statement) is exact too.
#[tokio::test]
async fn unconstrained_numeric_is_exact_or_a_clean_error() {
    let pg = PgDb::create(
        "CREATE TABLE n (id int, v numeric);
         INSERT INTO n VALUES (1, 0.00000000000000000001), (2, 123456789012345678.12345678901234567890), (3, -1.5),
                              (4, 0.000000000000000000000001);",
    )
    .await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    assert_eq!(
        rows(&c, "SELECT id, v FROM crm.public.n WHERE id < 4 ORDER BY id").await,
        [["1", "0.00000000000000000001"], ["2", "123456789012345678.12345678901234567890"], ["3", "-1.50000000000000000000"]]
    );
    let e = c.simple_query("SELECT v FROM crm.public.n WHERE id = 4").await.unwrap_err();
    let (code, message) = sqlstate(&e);
    assert_eq!(code, "22003", "{message}");
    assert!(message.contains("crm") && message.contains("`v`") && message.contains("0.000000000000000000000001"), "{message}");
    // The connection goes on.
    assert_eq!(rows(&c, "SELECT count(*) FROM crm.public.n").await, [["4"]]);
}

#[tokio::test]
async fn array_literals_are_read_as_postgresql_reads_them() {
    let pg = PgDb::create("CREATE TABLE t (code text); INSERT INTO t VALUES ('BANK01'), ('x,y'), ('say \"hi\"'), ('other');").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    // The quotes delimit the elements; they are not part of them.
    let got = rows(&c, r#"SELECT code FROM crm.public.t WHERE code = any('{"BANK01","x,y","say \"hi\""}'::text[]) ORDER BY code"#).await;
    assert_eq!(got, vec![vec!["BANK01".to_string()], vec!["say \"hi\"".to_string()], vec!["x,y".to_string()]]);
    assert_eq!(rows(&c, r#"SELECT cardinality('{"a","b c",NULL}'::text[]), ('{"a","b c",NULL}'::text[])[2]"#).await, vec![vec!["3".to_string(), "b c".to_string()]]);
    assert_eq!(rows(&c, "SELECT pg_is_other_temp_schema(1)").await[0][0], "f");
}

#[tokio::test]
async fn a_quoted_literal_compared_with_a_boolean_is_a_boolean() {
    let pg = PgDb::create("CREATE TABLE f (id int PRIMARY KEY, active boolean); INSERT INTO f VALUES (1, true), (2, false), (3, NULL);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    assert_eq!(rows(&c, "SELECT id FROM crm.public.f WHERE active = 't'").await, vec![vec!["1".to_string()]]);
    assert_eq!(rows(&c, "SELECT id FROM crm.public.f WHERE 'no' = active").await, vec![vec!["2".to_string()]]);
    assert_eq!(rows(&c, "SELECT count(*) FROM crm.public.f WHERE active <> 'true'").await[0][0], "1");
    // psqlODBC's SQLPrimaryKeys filter.
    let keys = rows(&c, "SELECT count(*) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
                         WHERE c.relname = 'f' AND i.indisprimary = 't'").await;
    assert_eq!(keys[0][0], "1");
    let err = c.simple_query("SELECT id FROM crm.public.f WHERE active = 'maybe'").await.unwrap_err();
    assert_eq!(sqlstate(&err), ("22P02".to_string(), "invalid input syntax for type boolean: \"maybe\"".to_string()));
}

#[tokio::test]
async fn integer_overflow_is_22003_not_a_wrapped_number() {
    // The differential tester found `-i` of a MySQL INT holding -2147483648 answered
    // -2147483648 by the engine; PostgreSQL raises 22003.
    let pg = PgDb::create("CREATE TABLE n (i int, b bigint); INSERT INTO n VALUES (-2147483648, 9223372036854775807), (-5, 7);").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    for pushdown in ["on", "off"] {
        c.batch_execute(&format!("SET fedsql.pushdown = {pushdown}")).await.unwrap();
        for sql in ["SELECT -i FROM crm.public.n", "SELECT b + 1 FROM crm.public.n", "SELECT count(*) FROM crm.public.n WHERE b * 2 > 0"] {
            let err = c.simple_query(sql).await.err().unwrap_or_else(|| panic!("{sql} (pushdown {pushdown}): answered"));
            assert_eq!(sqlstate(&err).0, "22003", "{sql} (pushdown {pushdown})");
        }
        assert_eq!(rows(&c, "SELECT -i, b * 2, b - 1 FROM crm.public.n WHERE i = -5").await, vec![vec!["5".to_string(), "14".to_string(), "6".to_string()]]);
    }
    let err = c.simple_query("SELECT -x FROM (VALUES (CAST(-2147483648 AS INT))) t(x)").await.unwrap_err();
    assert_eq!(sqlstate(&err).0, "22003");
}

#[tokio::test]
async fn arithmetic_computed_by_a_parquet_scan_is_checked_too() {
    // Projection pushdown moves `v * x` into the Parquet scan itself: `bi * 2` came back
    // as -2 for 9223372036854775807 (the differential tester's regression corpus), and a
    // -0.0 product sorted before 0.0.
    let dir = std::env::temp_dir().join(unique("fedsql_scan_arith"));
    parquet_table(&dir, "s", "t", 4);
    let server = Server::start(&Catalogs::new().parquet("history", &dir));
    let c = server.client().await;
    let err = c
        .simple_query("SELECT v * 9223372036854775807 AS x, id FROM history.s.t ORDER BY id LIMIT 3")
        .await
        .expect_err("a wrapped product");
    assert_eq!(sqlstate(&err).0, "22003", "{err:?}");
    // Group keys and aggregate arguments are computed by the aggregate itself.
    for sql in [
        "SELECT v * 9223372036854775807 AS g, count(*) FROM history.s.t GROUP BY 1",
        "SELECT sum(v * 9223372036854775807) FROM history.s.t",
        "SELECT DISTINCT -(v - 9223372036854775807 - 2) FROM history.s.t",
        // Nodes that compute expressions themselves: a nested-loop join's filter (the
        // tester's cross-source `b.a_id < a.bi - b.a_id` counted wrapped rows), a hash
        // join's filter, a sort key, an aggregate's FILTER, window functions.
        "SELECT count(*) FROM history.s.t a CROSS JOIN history.s.t b WHERE a.v < b.v * 9223372036854775807",
        "SELECT count(*) FROM history.s.t a JOIN history.s.t b ON a.id = b.id AND a.v * 9223372036854775807 > 0",
        "SELECT id FROM history.s.t ORDER BY v * 9223372036854775807 LIMIT 2",
        "SELECT count(*) FILTER (WHERE v * 9223372036854775807 > 0) FROM history.s.t",
        "SELECT id, rank() OVER (PARTITION BY v * 9223372036854775807 ORDER BY id) FROM history.s.t",
        "SELECT id, sum(v * 9223372036854775807) OVER (ORDER BY id ROWS 1 PRECEDING) FROM history.s.t",
    ] {
        let err = c.simple_query(sql).await.err().unwrap_or_else(|| panic!("{sql}: answered"));
        assert_eq!(sqlstate(&err).0, "22003", "{sql}: {err:?}");
    }
    let ordered = rows(&c, "SELECT (CAST(id AS DOUBLE PRECISION) - 1.5) * 0.0 AS z, id FROM history.s.t ORDER BY z, id DESC").await;
    let ids: Vec<&str> = ordered.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(ids, ["3", "2", "1", "0"], "-0.0 and 0.0 are one value in ORDER BY");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn variance_of_numerics_and_unsigned_integers_is_exact() {
    // Amounts sharing a 20-digit offset: in double precision every digit of their spread
    // cancels (DataFusion answered 0); PostgreSQL's numeric answers 0.0001.
    let setup = "CREATE TABLE a (d DECIMAL(30,2), u INT UNSIGNED); \
                 INSERT INTO a VALUES (12345678901234567890.01, 4294967295), (12345678901234567890.02, 4294967295), (12345678901234567890.03, 1);";
    let my = MysqlDb::create(setup);
    let pg = PgDb::create("CREATE TABLE a (d numeric(30,2), u bigint); INSERT INTO a VALUES (12345678901234567890.01, 4294967295), (12345678901234567890.02, 4294967295), (12345678901234567890.03, 1);").await;
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    let stats = "var_samp(d), stddev(d), var_pop(d), stddev_pop(d)";
    for table in [format!("live.{}.a", my.name), "crm.public.a".to_string()] {
        for pushdown in ["on", "off"] {
            c.batch_execute(&format!("SET fedsql.pushdown = {pushdown}")).await.unwrap();
            let got = rows(&c, &format!("SELECT {stats} FROM {table}")).await;
            let want = [0.0001, 0.01, 0.0002 / 3.0, (0.0002f64 / 3.0).sqrt()];
            for (g, w) in got[0].iter().zip(want) {
                let g: f64 = g.parse().unwrap();
                assert!((g - w).abs() <= w * 1e-12, "{table} (pushdown {pushdown}): {got:?}");
            }
            // An unsigned column is computed as PostgreSQL's bigint: no wrap at 2^32.
            let sum = rows(&c, &format!("SELECT u + u, -u FROM {table} ORDER BY u DESC LIMIT 1")).await;
            assert_eq!(sum, vec![vec!["8589934590".to_string(), "-4294967295".to_string()]], "{table} (pushdown {pushdown})");
        }
    }
}

#[tokio::test]
async fn a_rounding_cast_is_not_looked_through_in_comparisons() {
    // The differential tester found round(amt, 1) NOT BETWEEN 0 AND 10.50 true for 10.54:
    // DataFusion's simplifier compared amt itself with 10.50.
    let my = MysqlDb::create("CREATE TABLE b (id INT, amt DECIMAL(12,2)); INSERT INTO b VALUES (1, 10.54), (2, 10.56), (3, -0.04);");
    let pg = PgDb::create("CREATE TABLE b (id int, amt numeric(12,2)); INSERT INTO b VALUES (1, 10.54), (2, 10.56), (3, -0.04);").await;
    let cats = Catalogs::new().mysql("live", &my.name).postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let c = server.client().await;
    for table in [format!("live.{}.b", my.name), "crm.public.b".to_string()] {
        for pushdown in ["on", "off"] {
            c.batch_execute(&format!("SET fedsql.pushdown = {pushdown}")).await.unwrap();
            let got = rows(&c, &format!("SELECT id FROM {table} WHERE round(amt, 1) NOT BETWEEN 0 AND 10.50 ORDER BY id")).await;
            assert_eq!(got, vec![vec!["2".to_string()]], "{table} (pushdown {pushdown})");
            let got = rows(&c, &format!("SELECT id FROM {table} WHERE CAST(amt AS NUMERIC(12,1)) = 10.5 OR CAST(amt AS NUMERIC(12,1)) = 0 ORDER BY id")).await;
            assert_eq!(got, vec![vec!["1".to_string()], vec!["3".to_string()]], "{table} (pushdown {pushdown})");
        }
    }
}

#[tokio::test]
async fn pg_typeof_names_types_as_postgresql_does() {
    let pg = PgDb::create("CREATE TABLE t (i int, b bigint, n numeric(12,2), f float8, s varchar(8), x text, d date, ts timestamp, tz timestamptz, ok boolean, tags text[]);
        INSERT INTO t VALUES (1, 2, 3.25, 1.5, 'a', 'b', '2026-12-02', '2026-12-02 09:00', '2026-12-02 09:00+09', true, '{a}')").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let client = server.client().await;
    let select = |from: &str| format!(
        "SELECT pg_typeof(i), pg_typeof(b), pg_typeof(n), pg_typeof(f), pg_typeof(s), pg_typeof(x), pg_typeof(d), pg_typeof(ts), \
         pg_typeof(tz), pg_typeof(ok), pg_typeof(tags), pg_typeof(n * 2), pg_typeof(now()), pg_typeof(NULL) FROM {from}");
    let ours = rows(&client, &select("crm.public.t")).await;
    let source = pg_connect(5432, &pg.name).await;
    let theirs = rows(&source, &select("t")).await;
    assert_eq!(ours, theirs);
    // `name`, the identifier type (psqlODBC's SQLForeignKeys casts to it).
    let names = "SELECT 'fedsql'::name = 'fedsql', CAST('crm.public' AS name) || '.orgs'";
    assert_eq!(rows(&client, names).await, vec![vec!["t".to_string(), "crm.public.orgs".to_string()]]);
    assert_eq!(theirs[0][8], "timestamp with time zone");
    // Ranking window functions are bigint (DataFusion's UInt64 travelled as numeric).
    let ranks = |from: &str| format!(
        "SELECT row_number() OVER (ORDER BY i), rank() OVER (ORDER BY i), dense_rank() OVER (ORDER BY i), ntile(2) OVER (ORDER BY i) FROM {from}");
    let ours = client.prepare(&ranks("crm.public.t")).await.unwrap();
    let theirs = source.prepare(&ranks("t")).await.unwrap();
    let types = |s: &tokio_postgres::Statement| s.columns().iter().map(|c| c.type_().name().to_string()).collect::<Vec<_>>();
    assert_eq!(types(&ours), types(&theirs));
    assert_eq!(types(&theirs), ["int8", "int8", "int8", "int4"]);
}

/// Type names and literals answered as PostgreSQL answers them: `to_regtype` by any
/// spelling (from pg_type, not a list of ours), integer literals' types, and an
/// unconstrained numeric column in information_schema and pg_attribute.
#[tokio::test]
async fn type_names_and_literals_as_postgresql_answers_them() {
    let pg = PgDb::create("CREATE TABLE t (id int PRIMARY KEY, n numeric, m numeric(12,2)); INSERT INTO t VALUES (1, 12345678901234567890.5, 1.25)").await;
    let cats = Catalogs::new().postgres("crm", &pg.name);
    let server = Server::start(&cats);
    let client = server.client().await;
    let source = pg_connect(5432, &pg.name).await;
    let same = |sql: &'static str| {
        let (client, source) = (&client, &source);
        async move { assert_eq!(rows(client, sql).await, rows(source, sql).await, "{sql}") }
    };
    same("SELECT to_regtype('hstore')::oid, to_regtype('bigint')::oid, to_regtype('text[]')::oid, \
          to_regtype('pg_catalog.timestamptz')::oid, to_regtype('double precision')::oid, to_regtype('int')::oid").await;
    same("SELECT pg_typeof(1), pg_typeof(2147483648), pg_typeof(1.5), pg_typeof(-1), 7 / 2, pg_typeof(ARRAY[1, 2])").await;
    let mut ours = rows(&client, "SELECT column_name, data_type, numeric_precision, numeric_precision_radix, numeric_scale \
        FROM information_schema.columns WHERE table_schema = 'crm.public' AND table_name = 't' ORDER BY ordinal_position").await;
    let theirs = rows(&source, "SELECT column_name, data_type, numeric_precision, numeric_precision_radix, numeric_scale \
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 't' ORDER BY ordinal_position").await;
    assert_eq!(ours, theirs);
    ours = rows(&client, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
        JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = 'crm.public' AND c.relname = 't' AND attnum > 0 ORDER BY attnum").await;
    assert_eq!(ours, [["id", "integer"], ["n", "numeric"], ["m", "numeric(12,2)"]].map(|r| r.map(String::from).to_vec()).to_vec());
    // Literal arithmetic past int4 fails as in PostgreSQL, not wrapped.
    let e = client.simple_query("SELECT 2147483647 + 1").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("22003"), "{e}");
    assert_eq!(rows(&client, "SELECT n = 12345678901234567890.5 FROM crm.public.t").await, vec![vec!["t".to_string()]]);
}
