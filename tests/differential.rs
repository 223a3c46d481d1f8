//! The differential tester's fixed-seed sample and regression corpus, over every
//! connector (tests/differential/difftest.py): generated queries answered by fedsql
//! (pushdown on and off) and by PostgreSQL on the same data must agree.

use std::path::Path;
use std::process::Command;

fn difftest(args: &[&str]) -> std::process::ExitStatus {
    let python = std::env::var("FEDSQL_CLIENTS_DIR")
        .map(|d| format!("{d}/venv/bin/python"))
        .unwrap_or_else(|_| format!("{}/.cache/fedsql-clients/venv/bin/python", std::env::var("HOME").unwrap()));
    assert!(Path::new(&python).exists(), "{python} is missing: run scripts/client-drivers");
    Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/differential/difftest.py"))
        .args(["--fedsql", env!("CARGO_BIN_EXE_fedsql")])
        .args(args)
        .status()
        .expect("run the differential tester")
}

#[test]
fn generated_queries_answer_as_postgresql_does() {
    let queries = std::env::var("FEDSQL_DIFFTEST_QUERIES").unwrap_or_else(|_| "2000".into());
    let status = difftest(&["--seed", "1", "--queries", &queries]);
    assert!(status.success(), "the differential tester found wrong answers or internal errors (see its output above)");
}

/// A failure's reproduction names the fewest rows that still fail: the row reducer must
/// rewrite every source's copy of a table (and restore it).
#[test]
fn the_row_reducer_shrinks_every_source_to_the_rows_that_matter() {
    let status = difftest(&["--check-reducer"]);
    assert!(status.success(), "the row reducer did not find the one row (see its output above)");
}
