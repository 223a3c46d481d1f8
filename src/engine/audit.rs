//! The record of every statement: who ran it (user, client address, application), what
//! it touched (catalogs), what came of it (rows, duration, SQLSTATE), in the log
//! (target `fedsql::audit`) and in the table `fedsql.queries`: the recent history, all of
//! it for admins, each user's own for the others. Statements are kept as the client sent
//! them (literals included); passwords and catalog secrets never enter a statement.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;

use super::access::Access;
use super::computed_table::ComputedTable;

/// Statements kept for `fedsql.queries`.
const KEPT: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Entry {
    pub at: SystemTime,
    pub user: String,
    pub client: String,
    pub application: String,
    pub statement: String,
    pub catalogs: BTreeSet<String>,
    pub rows: u64,
    pub duration: Duration,
    /// None when it succeeded.
    pub sqlstate: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Default)]
pub struct Audit {
    entries: Mutex<VecDeque<Entry>>,
}

impl Audit {
    pub fn record(&self, entry: Entry) {
        tracing::info!(
            target: "fedsql::audit",
            user = entry.user,
            client = entry.client,
            application = entry.application,
            catalogs = ?entry.catalogs,
            rows = entry.rows,
            duration_ms = entry.duration.as_millis() as u64,
            sqlstate = entry.sqlstate.as_deref().unwrap_or("00000"),
            statement = entry.statement,
            "statement"
        );
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() == KEPT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    fn snapshot(&self, access: &Access) -> Vec<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.iter().filter(|e| access.user().is_none_or(|u| u == e.user)).cloned().collect()
    }
}

/// `fedsql.queries`, read at scan time with the reading session's access.
pub fn queries_table(audit: Arc<Audit>) -> ComputedTable {
    let schema = queries_schema();
    let rows_schema = schema.clone();
    ComputedTable::new(schema, move |access| queries_batch(&rows_schema, &audit.snapshot(access)))
}

fn queries_schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("started_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        text("user_name", false),
        text("client_addr", false),
        text("application_name", false),
        text("catalogs", false),
        Field::new("rows", DataType::Int64, false),
        Field::new("duration_ms", DataType::Int64, false),
        text("sqlstate", false),
        text("error", true),
        text("statement", false),
    ]))
}

fn queries_batch(schema: &SchemaRef, entries: &[Entry]) -> Result<RecordBatch> {
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut texts: Vec<StringBuilder> = (0..6).map(|_| StringBuilder::new()).collect();
    let (mut rows, mut ms) = (Int64Builder::new(), Int64Builder::new());
    for e in entries {
        let micros = e.at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros() as i64;
        at.append_value(micros);
        texts[0].append_value(&e.user);
        texts[1].append_value(&e.client);
        texts[2].append_value(&e.application);
        texts[3].append_value(e.catalogs.iter().cloned().collect::<Vec<_>>().join(","));
        rows.append_value(e.rows as i64);
        ms.append_value(e.duration.as_millis() as i64);
        texts[4].append_value(e.sqlstate.as_deref().unwrap_or("00000"));
        texts[5].append_option(e.message.as_deref());
    }
    let mut t = texts.into_iter();
    let mut next = || Arc::new(t.next().expect("six").finish()) as ArrayRef;
    let (user, client, application, catalogs, sqlstate, error) = (next(), next(), next(), next(), next(), next());
    let statements: ArrayRef = Arc::new(entries.iter().map(|e| Some(e.statement.as_str())).collect::<datafusion::arrow::array::StringArray>());
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(at.finish()), user, client, application, catalogs, Arc::new(rows.finish()), Arc::new(ms.finish()), sqlstate, error, statements],
    )?)
}

/// The source catalogs `plan` reads.
pub fn catalogs_read(plan: &datafusion::logical_expr::LogicalPlan) -> BTreeSet<String> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut out = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.clone().resolve(super::DEFAULT_CATALOG, "public");
            let catalog = match (&*name.catalog, name.schema.split_once('.')) {
                (super::DEFAULT_CATALOG, Some((source, _))) => source.to_string(),
                (super::DEFAULT_CATALOG, None) => return Ok(TreeNodeRecursion::Continue),
                (c, _) => c.to_string(),
            };
            out.insert(catalog);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}
