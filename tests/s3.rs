//! Parquet on S3 (a local moto server), with partition folders that prune, and files that
//! come and go between queries.

mod common;

use std::process::Command;
use common::*;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};

/// Parquet bytes for `select`, made by fedsql itself.
fn parquet(select: &str) -> Vec<u8> {
    let empty = Catalogs::new();
    let file = empty.dir.join("out.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_fedsql"))
        .args(["query", "--catalogs"]).arg(&empty.dir)
        .args([select, "--format", "parquet", "--output"]).arg(&file)
        .output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(&file).unwrap()
}

#[tokio::test]
async fn parquet_on_s3_with_pruned_partitions() {
    let bucket = Bucket::new("fedsql-t");
    let s3 = bucket.store();
    for (month, fee) in [("2026-09", "1.10"), ("2026-10", "2.25")] {
        let bytes = parquet(&format!(
            "SELECT * FROM (VALUES (1, CAST({fee} AS DECIMAL(12,2)), '가'), (2, CAST({fee} AS DECIMAL(12,2)), NULL)) AS t(id, fee, note)"));
        s3.put(&StorePath::from(format!("hist/api/calls/month={month}/part-0.parquet")), PutPayload::from(bytes)).await.unwrap();
    }
    let cats = Catalogs::new().add("history", &format!(
        "connector = \"parquet\"\nlocation = \"s3://{}/hist/\"\n[s3]\nendpoint = \"{S3_ENDPOINT}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"${{FEDSQL_TEST_S3_SECRET:-test}}\"\nallow_http = true\n", bucket.0));
    let server = Server::start(&cats);
    let c = server.client().await;
    let all = rows(&c, "SELECT month, count(*), sum(fee), count(note) FROM history.api.calls GROUP BY month ORDER BY month").await;
    assert_eq!(all, vec![
        vec!["2026-09".to_string(), "2".into(), "2.20".into(), "1".into()],
        vec!["2026-10".to_string(), "2".into(), "4.50".into(), "1".into()],
    ]);
    // A filter on the partition column reads only that folder.
    let plan = format!("{:?}", rows(&c, "EXPLAIN SELECT sum(fee) FROM history.api.calls WHERE month = '2026-10'").await);
    assert!(plan.contains("month=2026-10") && !plan.contains("month=2026-09"), "{plan}");
    assert_eq!(rows(&c, "SELECT sum(fee) FROM history.api.calls WHERE month = '2026-10'").await[0][0], "4.50");

    // The daily job adds a month and drops the oldest: the next query sees exactly the
    // files there now (DataFusion 55 caches listings forever by default, so it answered
    // with the old files, or failed XX000 reading one that was gone).
    let bytes = parquet("SELECT * FROM (VALUES (3, CAST(7.00 AS DECIMAL(12,2)), 'x')) AS t(id, fee, note)");
    s3.put(&StorePath::from("hist/api/calls/month=2026-11/part-0.parquet"), PutPayload::from(bytes)).await.unwrap();
    s3.delete(&StorePath::from("hist/api/calls/month=2026-09/part-0.parquet")).await.unwrap();
    let all = rows(&c, "SELECT month, count(*), sum(fee), count(note) FROM history.api.calls GROUP BY month ORDER BY month").await;
    assert_eq!(all, vec![
        vec!["2026-10".to_string(), "2".into(), "4.50".into(), "1".into()],
        vec!["2026-11".to_string(), "1".into(), "7.00".into(), "1".into()],
    ]);
    assert_eq!(rows(&c, "SELECT count(*) FROM history.api.calls").await[0][0], "3");

}
