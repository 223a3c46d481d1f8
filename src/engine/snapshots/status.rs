//! `fedsql.snapshots`: one row per snapshotted table the user may read, computed when
//! scanned.

use std::sync::Arc;
use std::time::SystemTime;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;

use super::store::now_micros;
use super::Report;
use crate::config::snapshot::RefreshMode;
use crate::engine::computed_table::ComputedTable;
use crate::engine::SourceCatalog;

fn micros(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or_default()
}

pub fn snapshots_table(catalogs: Vec<Arc<SourceCatalog>>) -> ComputedTable {
    let schema = schema();
    let rows_schema = schema.clone();
    ComputedTable::new(schema, move |access| {
        let reports: Vec<Report> = catalogs
            .iter()
            .flat_map(|c| c.snapshots())
            .filter(|s| access.table(&s.catalog, &s.schema, &s.table))
            .map(|s| s.report())
            .collect();
        batch(&rows_schema, &reports)
    })
}

fn schema() -> SchemaRef {
    let at = |name: &str| Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true);
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("name", false),
        text("mode", false),
        text("state", false),
        int("version"),
        int("rows"),
        int("bytes"),
        at("last_refresh"),
        int("age_seconds"),
        at("next_refresh"),
        int("last_rows_read"),
        int("last_statements"),
        int("last_duration_ms"),
        text("last_error", true),
        int("refreshing_rows"),
        int("refreshing_bytes"),
    ]))
}

fn batch(schema: &SchemaRef, reports: &[Report]) -> Result<RecordBatch> {
    let now = now_micros();
    let text = |f: &dyn Fn(&Report) -> Option<String>| -> ArrayRef { Arc::new(reports.iter().map(f).collect::<StringArray>()) };
    let int = |f: &dyn Fn(&Report) -> Option<i64>| -> ArrayRef { Arc::new(reports.iter().map(f).collect::<Int64Array>()) };
    let at = |f: &dyn Fn(&Report) -> Option<i64>| -> ArrayRef {
        Arc::new(reports.iter().map(f).collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
    };
    let columns = vec![
        text(&|r| Some(r.name.clone())),
        text(&|r| Some(match r.mode { RefreshMode::Full => "full", RefreshMode::Append => "append" }.into())),
        text(&|r| Some(r.state.into())),
        int(&|r| r.version.map(|v| v as i64)),
        int(&|r| r.rows.map(|v| v as i64)),
        int(&|r| r.bytes.map(|v| v as i64)),
        at(&|r| r.refreshed_at),
        int(&|r| r.refreshed_at.map(|t| (now - t).max(0) / 1_000_000)),
        at(&|r| r.next.map(micros)),
        int(&|r| r.last.at.map(|_| r.last.rows_read as i64)),
        int(&|r| r.last.at.map(|_| r.last.statements as i64)),
        int(&|r| r.last.at.map(|_| r.last.took.as_millis() as i64)),
        text(&|r| r.last.error.clone()),
        int(&|r| r.reading.map(|(rows, _)| rows as i64)),
        int(&|r| r.reading.map(|(_, bytes)| bytes as i64)),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
