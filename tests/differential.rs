//! The differential tester's fixed-seed sample and regression corpus, over every
//! connector (tests/differential/difftest.py): generated queries answered by fedsql
//! (pushdown on and off) and by PostgreSQL on the same data must agree.

use std::path::Path;
use std::process::Command;

#[test]
fn generated_queries_answer_as_postgresql_does() {
    let python = std::env::var("FEDSQL_CLIENTS_DIR")
        .map(|d| format!("{d}/venv/bin/python"))
        .unwrap_or_else(|_| format!("{}/.cache/fedsql-clients/venv/bin/python", std::env::var("HOME").unwrap()));
    assert!(Path::new(&python).exists(), "{python} is missing: run scripts/client-drivers");
    let queries = std::env::var("FEDSQL_DIFFTEST_QUERIES").unwrap_or_else(|_| "2000".into());
    let status = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/differential/difftest.py"))
        .args(["--fedsql", env!("CARGO_BIN_EXE_fedsql"), "--seed", "1", "--queries", &queries])
        .status()
        .expect("run the differential tester");
    assert!(status.success(), "the differential tester found wrong answers or internal errors (see its output above)");
}
