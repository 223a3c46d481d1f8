//! One refresh of one snapshot: bounded, key-ordered reads from the source, streamed to
//! Parquet, then published as a new version.
//!
//! - Full: `SELECT cols FROM t [WHERE (k) > (last k)] ORDER BY k LIMIT chunk_rows`, until a
//!   chunk comes back short. Rows deleted at the source are gone from the new version.
//! - Append: the same chunks over `cursor >= last max - overlap`, ordered by (cursor, k).
//!   `>=` keeps rows that share the last maximum; the overlap catches late rows. The rows
//!   read replace the snapshot's rows of the same key (an update in place), and a key read
//!   twice keeps its last reading: nothing is duplicated. Files with none of the keys read
//!   are kept as they are; the others are rewritten without those keys.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
// Deprecated in parquet 59 in favour of a hand-written AsyncFileReader; still the
// reader DataFusion itself is built on.
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::ParquetObjectReader;
use datafusion::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use futures::StreamExt;

use super::store::{now_micros, FileEntry, Manifest, PartWriter, TableStore};
use crate::config::snapshot::{Overlap, RefreshMode, SnapshotConfig};
use crate::connectors::{SourceDialect, SourceReader};

/// Rows and bytes written so far by the running refresh.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
}

pub struct Outcome {
    pub manifest: Manifest,
    pub rows_read: u64,
    pub statements: u64,
    pub full: bool,
}

pub struct Refresh<'a> {
    pub reader: SourceReader,
    pub key: Vec<String>,
    pub config: &'a SnapshotConfig,
    pub store: &'a TableStore,
    pub previous: Option<&'a Manifest>,
    pub progress: &'a Progress,
}

/// A value as an SQL literal of `dialect`.
fn literal(v: &ScalarValue, dialect: SourceDialect) -> Result<String, String> {
    use chrono::{DateTime, NaiveDate};
    let timestamp = |micros: i64, zoned: bool| {
        let t = DateTime::from_timestamp_micros(micros).ok_or("timestamp out of range")?;
        let text = t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        // MySQL sessions run at +00:00; PostgreSQL reads the offset.
        Ok::<_, String>(match (zoned, dialect) {
            (true, SourceDialect::Postgres | SourceDialect::Redshift) => format!("'{text}+00'"),
            _ => format!("'{text}'"),
        })
    };
    if v.is_null() {
        return Err("a key or cursor column holds NULL".into());
    }
    Ok(match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            dialect.string_literal(s)
        }
        ScalarValue::Date32(Some(d)) => {
            let day = NaiveDate::from_num_days_from_ce_opt(719_163 + d).ok_or("date out of range")?;
            format!("'{}'", day.format("%Y-%m-%d"))
        }
        ScalarValue::TimestampSecond(Some(t), z) => timestamp(t.saturating_mul(1_000_000), z.is_some())?,
        ScalarValue::TimestampMillisecond(Some(t), z) => timestamp(t.saturating_mul(1_000), z.is_some())?,
        ScalarValue::TimestampMicrosecond(Some(t), z) => timestamp(*t, z.is_some())?,
        ScalarValue::TimestampNanosecond(Some(t), z) => timestamp(t.div_euclid(1_000), z.is_some())?,
        v if v.data_type().is_integer() || v.data_type().is_decimal() => v.to_string(),
        v => return Err(format!("a key or cursor of type {} is not supported (integers, decimals, text, dates and timestamps are)", v.data_type())),
    })
}

/// A cursor column's value as one number in its own units (days, a timestamp's unit, the
/// integer itself): the manifest keeps the maximum read so far.
fn cursor_units(t: &DataType) -> Option<()> {
    (t.is_integer() || matches!(t, DataType::Date32 | DataType::Timestamp(..))).then_some(())
}

fn cursor_max(column: &ArrayRef) -> Result<Option<i64>, String> {
    let ints = cast(column, &DataType::Int64).map_err(|e| e.to_string())?;
    Ok(datafusion::arrow::compute::max(ints.as_primitive::<Int64Type>()))
}

/// The cursor value `since`, as a literal of the cursor's type.
fn cursor_literal(t: &DataType, value: i64, dialect: SourceDialect) -> Result<String, String> {
    let scalar = match t {
        DataType::Date32 => ScalarValue::Date32(Some(value as i32)),
        DataType::Timestamp(TimeUnit::Second, z) => ScalarValue::TimestampSecond(Some(value), z.clone()),
        DataType::Timestamp(TimeUnit::Millisecond, z) => ScalarValue::TimestampMillisecond(Some(value), z.clone()),
        DataType::Timestamp(TimeUnit::Microsecond, z) => ScalarValue::TimestampMicrosecond(Some(value), z.clone()),
        DataType::Timestamp(TimeUnit::Nanosecond, z) => ScalarValue::TimestampNanosecond(Some(value), z.clone()),
        _ => ScalarValue::Int64(Some(value)),
    };
    literal(&scalar, dialect)
}

/// `max` moved back by the overlap, in the cursor's units.
fn minus_overlap(t: &DataType, max: i64, overlap: Overlap) -> Result<i64, String> {
    let micros = |d: std::time::Duration| d.as_micros() as i64;
    Ok(match (t, overlap) {
        (DataType::Date32, Overlap::Time(d)) => max - (micros(d) + 86_399_999_999) / 86_400_000_000,
        (DataType::Timestamp(unit, _), Overlap::Time(d)) => {
            let back = match unit {
                TimeUnit::Second => (micros(d) + 999_999) / 1_000_000,
                TimeUnit::Millisecond => (micros(d) + 999) / 1_000,
                TimeUnit::Microsecond => micros(d),
                TimeUnit::Nanosecond => micros(d).saturating_mul(1_000),
            };
            max.saturating_sub(back)
        }
        (t, Overlap::Count(n)) if t.is_integer() => max.saturating_sub(n),
        (t, Overlap::Time(_)) if t.is_integer() => {
            return Err("an integer cursor takes `overlap` as a count of values (overlap = 1000)".into())
        }
        (t, Overlap::Count(_)) => return Err(format!("a {t} cursor takes `overlap` as a duration (overlap = \"10m\")")),
        (t, _) => return Err(format!("a cursor of type {t} is not supported")),
    })
}

impl Refresh<'_> {
    fn column_index(&self, name: &str) -> Result<usize, String> {
        self.reader
            .schema
            .index_of(name)
            .map_err(|_| format!("column `{name}` is not in {}", self.reader.table))
    }

    fn select(&self) -> String {
        let d = self.reader.dialect;
        let columns: Vec<String> = self.reader.schema.fields().iter().map(|f| d.quote(f.name())).collect();
        let table = match self.reader.table.schema() {
            Some(s) => format!("{}.{}", d.quote(s), d.quote(self.reader.table.table())),
            None => d.quote(self.reader.table.table()),
        };
        format!("SELECT {} FROM {table}", columns.join(", "))
    }

    /// Reads `order` chunk by chunk past the last row of the previous chunk, writing every
    /// batch; returns the rows and statements.
    async fn read_chunks(
        &self,
        condition: Option<String>,
        order: &[String],
        sink: &mut PartWriter,
        mut seen: impl FnMut(&RecordBatch) -> Result<(), String>,
    ) -> Result<(u64, u64), String> {
        let d = self.reader.dialect;
        let order_idx: Vec<usize> = order.iter().map(|c| self.column_index(c)).collect::<Result<_, _>>()?;
        let ordered: Vec<String> = order.iter().map(|c| d.quote(c)).collect();
        let mut after: Option<Vec<String>> = None;
        let (mut rows, mut statements) = (0u64, 0u64);
        loop {
            let mut conditions: Vec<String> = condition.iter().cloned().collect();
            if let Some(last) = &after {
                conditions.push(format!("({}) > ({})", ordered.join(", "), last.join(", ")));
            }
            let mut sql = self.select();
            if !conditions.is_empty() {
                sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
            }
            sql.push_str(&format!(" ORDER BY {} LIMIT {}", ordered.join(", "), self.config.chunk_rows));
            let mut stream = self
                .reader
                .executor
                .execute(&sql, self.reader.schema.clone(), &[])
                .map_err(|e| e.to_string())?;
            statements += 1;
            let mut in_chunk = 0usize;
            let mut last_row: Option<RecordBatch> = None;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| crate::engine::error::classify(&e).message)?;
                if batch.num_rows() == 0 {
                    continue;
                }
                in_chunk += batch.num_rows();
                seen(&batch)?;
                sink.write(&batch).await?;
                self.progress.rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                self.progress.bytes.store(sink.bytes(), Ordering::Relaxed);
                last_row = Some(batch.slice(batch.num_rows() - 1, 1));
            }
            rows += in_chunk as u64;
            match last_row {
                Some(last) if in_chunk >= self.config.chunk_rows => {
                    after = Some(
                        order_idx
                            .iter()
                            .map(|&i| ScalarValue::try_from_array(last.column(i), 0).map_err(|e| e.to_string()).and_then(|v| literal(&v, d)))
                            .collect::<Result<_, _>>()?,
                    );
                }
                _ => return Ok((rows, statements)),
            }
        }
    }

    fn cursor(&self) -> Result<Option<(usize, DataType)>, String> {
        let Some(name) = &self.config.cursor else { return Ok(None) };
        let i = self.column_index(name)?;
        let t = self.reader.schema.field(i).data_type().clone();
        cursor_units(&t).ok_or_else(|| format!("cursor `{name}` is {t}: a timestamp, date or integer column is needed"))?;
        Ok(Some((i, t)))
    }

    pub async fn run(&self) -> Result<Outcome, String> {
        let version = self.previous.map_or(1, |m| m.version + 1);
        let cursor = self.cursor()?;
        let full_due = match (self.previous, self.config.full_every) {
            (None, _) => true,
            (Some(m), Some(every)) => now_micros() - m.full_at >= every.as_micros() as i64,
            (Some(_), None) => false,
        };
        let append = self.config.refresh == RefreshMode::Append && !full_due;
        match (append, self.previous, &cursor) {
            (true, Some(previous), Some((i, t))) if previous.cursor_max.is_some() => {
                self.append(version, previous, *i, t).await
            }
            _ => self.full(version, cursor.map(|c| c.0)).await,
        }
    }

    async fn full(&self, version: u64, cursor: Option<usize>) -> Result<Outcome, String> {
        let mut sink = PartWriter::new(self.store, version, "part", self.reader.schema.clone(), &self.key);
        let mut max: Option<i64> = None;
        let (rows, statements) = self
            .read_chunks(None, &self.key, &mut sink, |batch| {
                if let Some(i) = cursor {
                    max = max.max(cursor_max(batch.column(i))?);
                }
                Ok(())
            })
            .await?;
        let files = sink.finish().await?;
        let now = now_micros();
        Ok(Outcome {
            manifest: Manifest { version, files, refreshed_at: now, full_at: now, cursor_max: max },
            rows_read: rows,
            statements,
            full: true,
        })
    }

    fn key_converter(&self) -> Result<(RowConverter, Vec<usize>), String> {
        let idx: Vec<usize> = self.key.iter().map(|c| self.column_index(c)).collect::<Result<_, _>>()?;
        let fields = idx.iter().map(|&i| SortField::new(self.reader.schema.field(i).data_type().clone())).collect();
        Ok((RowConverter::new(fields).map_err(|e| e.to_string())?, idx))
    }

    async fn append(&self, version: u64, previous: &Manifest, cursor: usize, t: &DataType) -> Result<Outcome, String> {
        let d = self.reader.dialect;
        let last = previous.cursor_max.expect("checked by the caller");
        let since = cursor_literal(t, minus_overlap(t, last, self.config.overlap)?, d)?;
        let cursor_name = self.reader.schema.field(cursor).name().clone();
        let condition = format!("{} >= {since}", d.quote(&cursor_name));
        let mut order = vec![cursor_name.clone()];
        order.extend(self.key.iter().filter(|k| **k != cursor_name).cloned());
        let (converter, key_idx) = self.key_converter()?;
        // Each key read, with the position of its latest reading.
        let mut keys: HashMap<Box<[u8]>, u64> = HashMap::new();
        let mut position = 0u64;
        let mut duplicated = false;
        let mut max = Some(last);
        let mut sink = PartWriter::new(self.store, version, "delta", self.reader.schema.clone(), &self.key);
        let (rows_read, statements) = self
            .read_chunks(Some(condition), &order, &mut sink, |batch| {
                max = max.max(cursor_max(batch.column(cursor))?);
                let columns: Vec<ArrayRef> = key_idx.iter().map(|&i| batch.column(i).clone()).collect();
                let rows = converter.convert_columns(&columns).map_err(|e| e.to_string())?;
                for row in rows.iter() {
                    duplicated |= keys.insert(row.as_ref().into(), position).is_some();
                    position += 1;
                }
                Ok(())
            })
            .await?;
        let mut delta = sink.finish().await?;
        if duplicated {
            // A row updated while it was being read came twice: keep its last reading.
            let winners: HashSet<u64> = keys.values().copied().collect();
            let mut position = 0u64;
            delta = self
                .rewrite(version, "dedup", &delta, |_, batch| {
                    let keep: BooleanArray = (0..batch.num_rows()).map(|i| Some(winners.contains(&(position + i as u64)))).collect();
                    position += batch.num_rows() as u64;
                    Ok(keep)
                })
                .await?;
        }
        // Earlier files: kept when they hold none of the keys read, else rewritten without them.
        let mut files: Vec<FileEntry> = Vec::new();
        for file in &previous.files {
            if !self.holds_any(file, &converter, &key_idx, &keys).await? {
                files.push(file.clone());
                continue;
            }
            let kept = self
                .rewrite(version, "kept", std::slice::from_ref(file), |_, batch| {
                    let columns: Vec<ArrayRef> = key_idx.iter().map(|&i| batch.column(i).clone()).collect();
                    let rows = converter.convert_columns(&columns).map_err(|e| e.to_string())?;
                    Ok(rows.iter().map(|r| Some(!keys.contains_key(r.as_ref()))).collect())
                })
                .await?;
            files.extend(kept);
        }
        files.extend(delta);
        Ok(Outcome {
            manifest: Manifest { version, files, refreshed_at: now_micros(), full_at: previous.full_at, cursor_max: max },
            rows_read,
            statements,
            full: false,
        })
    }

    #[allow(deprecated)]
    async fn open(&self, file: &FileEntry, projection: Option<&[usize]>) -> Result<datafusion::parquet::arrow::async_reader::ParquetRecordBatchStream<ParquetObjectReader>, String> {
        let reader = ParquetObjectReader::new(self.store.store.clone(), self.store.file_path(&file.path));
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(|e| e.to_string())?;
        let builder = match projection {
            Some(p) => {
                let mask = ProjectionMask::roots(builder.parquet_schema(), p.iter().copied());
                builder.with_projection(mask)
            }
            None => builder,
        };
        builder.build().map_err(|e| e.to_string())
    }

    /// Whether `file` holds one of `keys`, reading its key columns only.
    async fn holds_any(&self, file: &FileEntry, converter: &RowConverter, key_idx: &[usize], keys: &HashMap<Box<[u8]>, u64>) -> Result<bool, String> {
        if keys.is_empty() {
            return Ok(false);
        }
        // The projection keeps the file's column order; key_idx may not be sorted.
        let mut sorted: Vec<usize> = key_idx.to_vec();
        sorted.sort_unstable();
        let mut stream = self.open(file, Some(key_idx)).await?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| e.to_string())?;
            let columns: Vec<ArrayRef> = key_idx
                .iter()
                .map(|i| batch.column(sorted.iter().position(|s| s == i).expect("projected")).clone())
                .collect();
            let rows = converter.convert_columns(&columns).map_err(|e| e.to_string())?;
            if rows.iter().any(|r| keys.contains_key(r.as_ref())) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Copies `files` into this version, keeping the rows `keep` says.
    async fn rewrite(
        &self,
        version: u64,
        stem: &'static str,
        files: &[FileEntry],
        mut keep: impl FnMut(usize, &RecordBatch) -> Result<BooleanArray, String>,
    ) -> Result<Vec<FileEntry>, String> {
        let mut sink = PartWriter::new(self.store, version, stem, self.reader.schema.clone(), &self.key);
        for (n, file) in files.iter().enumerate() {
            let mut stream = self.open(file, None).await?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| e.to_string())?;
                let mask = keep(n, &batch)?;
                let kept = filter_record_batch(&batch, &mask).map_err(|e| e.to_string())?;
                if kept.num_rows() > 0 {
                    sink.write(&kept).await?;
                }
            }
        }
        sink.finish().await
    }
}

/// The key a snapshot uses: the configured one, else the source's primary key.
pub fn key_of(configured: Option<&Vec<String>>, primary: Option<Vec<String>>, name: &str) -> Result<Vec<String>, String> {
    configured.cloned().or(primary).ok_or_else(|| {
        format!("{name} has no primary key: give the snapshot a `key` (columns that identify a row)")
    })
}
