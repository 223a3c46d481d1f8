//! The pushdown conformance table (tests/conformance/cases.toml), run for each SQL
//! connector by the same code: every answer is PostgreSQL's own over the same rows,
//! each case is pushed whole to exactly the connectors the table says, and the
//! statements sent match the snapshot in tests/conformance/sent.txt
//! (`FEDSQL_BLESS=1` rewrites it after a deliberate change).

mod common;

use std::fmt::Write;
use std::path::Path;

use common::*;

/// Operators the engine runs itself: a plan with none of them was computed by its source.
const ENGINE_WORK: &[&str] = &["AggregateExec", "SortExec", "FilterExec", "HashJoinExec", "NestedLoopJoinExec", "WindowAggExec", "SortMergeJoin"];

/// A value as compared: decimals without trailing zeros, doubles to 12 significant digits.
fn number(v: &str) -> String {
    let plain = v.contains('.') && v.trim_start_matches('-').chars().all(|c| c.is_ascii_digit() || c == '.');
    let v = if plain { v.trim_end_matches('0').trim_end_matches('.') } else { v };
    let long = v.split_once('.').is_some_and(|(_, f)| f.len() > 12);
    if plain && long || v.contains(['e', 'E']) && v.parse::<f64>().is_ok() {
        return format!("{:.11e}", v.parse::<f64>().unwrap_or(f64::NAN));
    }
    v.to_string()
}

fn normalized(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter().map(|r| r.iter().map(|v| number(v)).collect()).collect()
}

fn table(value: &toml::Value, key: &str) -> String {
    value.get(key).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("cases.toml: `{key}` missing")).to_string()
}

#[tokio::test]
async fn each_connector_answers_and_pushes_as_the_table_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let cases: toml::Value = std::fs::read_to_string(dir.join("cases.toml")).unwrap().parse().unwrap();
    let fixture = cases.get("fixture").expect("cases.toml: [fixture]");
    let pg = PgDb::create(&table(fixture, "postgres")).await;
    let my = MysqlDb::create(&table(fixture, "mysql"));
    let cats = Catalogs::new()
        .postgres("pgc", &pg.name)
        .postgres_port("rsc", &pg.name, 5432, "redshift")
        .mysql("myc", &my.name);
    let server = Server::start(&cats);
    let client = server.client().await;
    let oracle = pg_connect(5432, &pg.name).await;
    let connectors = [("postgres", "pgc.public.t".to_string()), ("redshift", "rsc.public.t".to_string()), ("mysql", format!("myc.{}.t", my.name))];

    let mut sent = String::new();
    let mut failures = Vec::new();
    for case in cases.get("case").and_then(|c| c.as_array()).expect("cases.toml: [[case]]") {
        let name = table(case, "name");
        let sql = table(case, "sql");
        let pushed: Vec<&str> = case.get("pushed").and_then(|p| p.as_array()).expect("pushed").iter().filter_map(|v| v.as_str()).collect();
        let want = normalized(rows(&oracle, &sql.replace("{t}", "t")).await);
        for (connector, t) in &connectors {
            let query = sql.replace("{t}", t);
            let got = normalized(rows(&client, &query).await);
            if got != want {
                failures.push(format!("{name} on {connector}: answered {got:?}, PostgreSQL {want:?}"));
            }
            let plan = rows(&client, &format!("EXPLAIN {query}")).await.into_iter().flatten().collect::<Vec<_>>().join("\n");
            let physical = plan.split_once("physical_plan").map_or(plan.as_str(), |(_, p)| p);
            let engine: Vec<&str> = ENGINE_WORK.iter().copied().filter(|op| physical.contains(op)).collect();
            if engine.is_empty() != pushed.contains(connector) {
                failures.push(format!("{name} on {connector}: pushed whole {}, the table says {}; engine runs {engine:?}\n{plan}",
                    engine.is_empty(), pushed.contains(connector)));
            }
            for line in plan.lines().filter(|l| l.contains("SentStatementExec: sql=")) {
                let statement = line.split_once("sql=").unwrap().1.trim();
                let statement = statement.split_once("*/ ").map_or(statement, |(_, s)| s).replace(&my.name, "{db}");
                writeln!(sent, "{name} {connector}: {statement}").unwrap();
            }
        }
    }
    let snapshot = dir.join("sent.txt");
    if std::env::var_os("FEDSQL_BLESS").is_some() {
        std::fs::write(&snapshot, &sent).unwrap();
    } else {
        let kept = std::fs::read_to_string(&snapshot).unwrap_or_default();
        for (line, (want, got)) in kept.lines().zip(sent.lines()).enumerate() {
            if want != got {
                failures.push(format!("sent.txt line {}: the statement sent changed\n  was: {want}\n  now: {got}", line + 1));
            }
        }
        if kept.lines().count() != sent.lines().count() {
            failures.push(format!("sent.txt holds {} statements, the run sent {}", kept.lines().count(), sent.lines().count()));
        }
    }
    assert!(failures.is_empty(), "{} conformance failures:\n{}", failures.len(), failures.join("\n"));
}
