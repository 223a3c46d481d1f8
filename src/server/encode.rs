//! Result encoding for the wire: batches become rows as they arrive (nothing is
//! buffered), decimals of any precision are sent exactly, and a statement timeout stops
//! the work while rows stream.
//!
//! arrow-pg encodes decimals through `rust_decimal` (28 digits) and has no Decimal256, so
//! a MySQL DECIMAL(65,30) or a wide Postgres numeric would fail. Decimal columns are
//! therefore encoded here as `numeric`: text from Arrow's exact formatting, or
//! PostgreSQL's binary base-10000 form.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::execution::SendableRecordBatchStream;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use futures::{stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse};
use pgwire::api::Type;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use crate::pg::types::text;
use crate::connectors::DeclaredType;
use crate::engine::error::{sqlstate, QueryError};

fn is_decimal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..)
    )
}

/// An array of decimals (`numeric[]`), which arrow-pg would also encode through
/// `rust_decimal` (and panic on past 28 digits).
fn is_decimal_list(t: &DataType) -> bool {
    matches!(t, DataType::List(f) | DataType::LargeList(f) if is_decimal(f.data_type()))
}

/// PostgreSQL's binary `numeric` for an exact decimal string such as "-123.4500".
pub fn numeric_binary(text: &str) -> Vec<u8> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let dscale = frac_part.len() as i16;
    let int_part = int_part.trim_start_matches('0');
    let pad_left = (4 - int_part.len() % 4) % 4;
    let pad_right = (4 - frac_part.len() % 4) % 4;
    let int_digits = format!("{}{int_part}", "0".repeat(pad_left));
    let frac_digits = format!("{frac_part}{}", "0".repeat(pad_right));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse::<i16>().unwrap())
            .collect()
    };
    let mut groups = group(&int_digits);
    let mut weight = groups.len() as i16 - 1;
    groups.extend(group(&frac_digits));
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !groups.is_empty() { 0x4000 } else { 0 };
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    out.extend((groups.len() as i16).to_be_bytes());
    out.extend(weight.to_be_bytes());
    out.extend(sign.to_be_bytes());
    out.extend(dscale.to_be_bytes());
    for g in groups {
        out.extend(g.to_be_bytes());
    }
    out
}

/// A decimal column as the wire wants it: exact text, or binary `numeric` bytes.
fn decimal_column(col: &ArrayRef, format: FieldFormat) -> PgWireResult<ArrayRef> {
    let text = cast(col, &DataType::Utf8).map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    if format == FieldFormat::Text {
        return Ok(text);
    }
    let text = text.as_string::<i32>();
    let mut b = BinaryBuilder::new();
    for i in 0..text.len() {
        if text.is_null(i) {
            b.append_null();
        } else {
            b.append_value(numeric_binary(text.value(i)));
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A `numeric[]` column: `{1.5,NULL}` as text, or PostgreSQL's binary array of
/// binary numerics (one dimension, lower bound 1).
fn decimal_list_column(col: &ArrayRef, format: FieldFormat) -> PgWireResult<ArrayRef> {
    let api = |e: datafusion::arrow::error::ArrowError| PgWireError::ApiError(Box::new(e));
    let list = cast(col, &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))).map_err(api)?;
    let list = list.as_list::<i32>();
    let mut text = datafusion::arrow::array::StringBuilder::new();
    let mut binary = BinaryBuilder::new();
    for i in 0..list.len() {
        if list.is_null(i) {
            text.append_null();
            binary.append_null();
            continue;
        }
        let items = list.value(i);
        let items = items.as_string::<i32>();
        if format == FieldFormat::Text {
            let parts: Vec<&str> = (0..items.len()).map(|j| if items.is_null(j) { "NULL" } else { items.value(j) }).collect();
            text.append_value(format!("{{{}}}", parts.join(",")));
            continue;
        }
        let mut out = Vec::new();
        out.extend(1i32.to_be_bytes());
        out.extend(i32::from(items.null_count() > 0).to_be_bytes());
        out.extend(1700u32.to_be_bytes());
        out.extend((items.len() as i32).to_be_bytes());
        out.extend(1i32.to_be_bytes());
        for j in 0..items.len() {
            if items.is_null(j) {
                out.extend((-1i32).to_be_bytes());
            } else {
                let n = numeric_binary(items.value(j));
                out.extend((n.len() as i32).to_be_bytes());
                out.extend(n);
            }
        }
        binary.append_value(out);
    }
    Ok(if format == FieldFormat::Text { Arc::new(text.finish()) } else { Arc::new(binary.finish()) })
}

/// The declared type of a Utf8 result column (see `DeclaredType`), sent as such.
fn declared(field: &Field) -> Option<DeclaredType> {
    (field.data_type() == &DataType::Utf8).then(|| DeclaredType::of(field)).flatten()
}

/// Whether a result column is an int2vector (pg_index.indkey): an int2 list sent as
/// type 22, whose text is its elements separated by spaces.
fn is_int2vector(field: &Field) -> bool {
    matches!(field.data_type(), DataType::List(f) if f.data_type() == &DataType::Int16)
        && DeclaredType::of(field) == Some(DeclaredType::Int2Vector)
}

/// An int2vector column's text: `1 2`.
fn int2vector_text(col: &ArrayRef) -> PgWireResult<ArrayRef> {
    use datafusion::arrow::datatypes::Int16Type;
    let lists = col.as_list::<i32>();
    let texts: datafusion::arrow::array::StringArray = (0..lists.len())
        .map(|i| {
            lists.is_valid(i).then(|| {
                let values = lists.value(i);
                let values = values.as_primitive::<Int16Type>();
                values.iter().map(|v| v.map_or_else(|| "0".to_string(), |v| v.to_string())).collect::<Vec<_>>().join(" ")
            })
        })
        .collect();
    Ok(Arc::new(texts))
}

/// A column of a declared type in binary format: jsonb is a version byte and the text,
/// uuid its 16 bytes, the others their text.
fn declared_binary(col: &ArrayRef, declared: DeclaredType) -> PgWireResult<ArrayRef> {
    let text = col.as_string::<i32>();
    let mut b = BinaryBuilder::new();
    for value in text.iter() {
        match (value, declared) {
            (None, _) => b.append_null(),
            (Some(v), DeclaredType::Jsonb) => b.append_value([&[1u8][..], v.as_bytes()].concat()),
            (Some(v), DeclaredType::Uuid) => {
                let hex: String = v.chars().filter(|c| *c != '-').collect();
                let bytes = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("x"), 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .ok()
                    .filter(|b| b.len() == 16 && hex.len() == 32)
                    .ok_or_else(|| {
                        let q = QueryError::new(sqlstate::INVALID_TEXT_REPRESENTATION, format!("invalid input syntax for type uuid: \"{v}\""));
                        PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new("ERROR".into(), q.sqlstate.into(), q.message)))
                    })?;
                b.append_value(bytes);
            }
            (Some(v), _) => b.append_value(v.as_bytes()),
        }
    }
    Ok(Arc::new(b.finish()))
}

fn timeout_error() -> PgWireError {
    let q = QueryError::new(sqlstate::QUERY_CANCELED, "canceling statement due to statement timeout");
    PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new("ERROR".into(), q.sqlstate.into(), q.message)))
}

/// The result columns of `plan` as the wire describes them. A declared source type
/// (`DeclaredType`) holds only for a column passed through unchanged: DataFusion keeps
/// field metadata through a cast to the same Arrow type and merges it across a UNION,
/// where the values need not be uuids or JSON any more.
pub fn result_schema(plan: &LogicalPlan) -> Schema {
    let schema = plan.schema().as_arrow();
    let mut passed = passed_through(plan);
    if passed.len() != schema.fields().len() {
        passed = vec![true; schema.fields().len()];
    }
    Schema::new(
        schema
            .fields()
            .iter()
            .zip(passed)
            .map(|(f, keep)| if keep { f.clone() } else { Arc::new(DeclaredType::erased(f)) })
            .collect::<Vec<_>>(),
    )
}

/// Per output column of `plan`: whether it is a source column's values unchanged.
fn passed_through(plan: &LogicalPlan) -> Vec<bool> {
    let n = plan.schema().fields().len();
    match plan {
        LogicalPlan::Projection(p) => {
            let below = passed_through(&p.input);
            p.expr
                .iter()
                .map(|e| match e.clone().unalias_nested().data {
                    Expr::Column(c) => p.input.schema().index_of_column(&c).is_ok_and(|i| below[i]),
                    _ => false,
                })
                .collect()
        }
        LogicalPlan::Union(_) => vec![false; n],
        LogicalPlan::Sort(_) | LogicalPlan::Limit(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Distinct(_) => match plan.inputs().first() {
            Some(input) => passed_through(input),
            None => vec![true; n],
        },
        _ => vec![true; n],
    }
}

/// The row description for `schema`: arrow-pg's, with decimal columns as `numeric`.
/// Also returns the schema arrow-pg encodes (decimal columns as text).
pub fn wire_fields(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<(Vec<FieldInfo>, Schema)> {
    let wire_schema = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                let name = crate::pg::rewrite::column_names::wire_name(f.name());
                if is_decimal(f.data_type()) || is_decimal_list(f.data_type()) {
                    Arc::new(Field::new(name, DataType::Utf8, f.is_nullable()))
                } else {
                    Arc::new(f.as_ref().clone().with_name(name))
                }
            })
            .collect::<Vec<_>>(),
    );
    let mut fields = arrow_schema_to_pg_fields(&wire_schema, format, options)?;
    // Timestamps and times keep their type; their text is written here (see `text`).
    let wire_schema = Schema::new(
        wire_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match schema.field(i).data_type() {
                t if format.format_for(i) == FieldFormat::Text && (text::handles(t) || is_int2vector(schema.field(i))) => {
                    Arc::new(Field::new(f.name(), DataType::Utf8, f.is_nullable()))
                }
                _ => f.clone(),
            })
            .collect::<Vec<_>>(),
    );
    for (i, f) in schema.fields().iter().enumerate() {
        let wire_type = match f.data_type() {
            t if is_decimal(t) => Type::NUMERIC,
            t if is_decimal_list(t) => Type::NUMERIC_ARRAY,
            _ if is_int2vector(f) => Type::INT2_VECTOR,
            _ => match declared(f).and_then(|d| Type::from_oid(d.oid())) {
                Some(t) => t,
                None => continue,
            },
        };
        fields[i] = FieldInfo::new(
            crate::pg::rewrite::column_names::wire_name(f.name()).to_string(),
            None,
            None,
            wire_type,
            format.format_for(i),
        );
    }
    Ok((fields, wire_schema))
}

/// Told how many rows each batch brings (the audit's count).
pub type RowCounter = Box<dyn Fn(u64) + Send + Sync>;

/// Streams `batches` (the rows of `plan`) to the client in `format`; `deadline` bounds the whole execution.
pub fn encode(
    plan: &LogicalPlan,
    batches: SendableRecordBatchStream,
    format: &Format,
    options: Arc<FormatOptions>,
    deadline: Option<tokio::time::Instant>,
    counter: Option<RowCounter>,
) -> PgWireResult<QueryResponse> {
    let schema = result_schema(plan);
    // Columns whose wire text or bytes are made here rather than by arrow-pg.
    let own: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| {
            let t = schema.field(i).data_type();
            let binary_declared = format.format_for(i) == FieldFormat::Binary && declared(schema.field(i)).is_some();
            let text_format = format.format_for(i) == FieldFormat::Text;
            is_decimal(t) || is_decimal_list(t) || binary_declared
                || text_format && (text::handles(t) || is_int2vector(schema.field(i)))
        })
        .collect();
    let declared_types: Vec<Option<DeclaredType>> = schema.fields().iter().map(|f| declared(f)).collect();
    let int2vectors: Vec<bool> =
        schema.fields().iter().enumerate().map(|(i, f)| is_int2vector(f) && format.format_for(i) == FieldFormat::Text).collect();
    let (fields, wire_schema) = wire_fields(&schema, format, Some(options))?;
    let fields = Arc::new(fields);
    let row_fields = fields.clone();
    let formats: Vec<FieldFormat> = (0..fields.len()).map(|i| format.format_for(i)).collect();
    let wire_schema = Arc::new(wire_schema);
    let to_rows = move |batch: datafusion::error::Result<RecordBatch>| -> Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return Box::new(std::iter::once(Err(PgWireError::ApiError(Box::new(e))))),
        };
        if let Some(count) = &counter {
            count(batch.num_rows() as u64);
        }
        if own.is_empty() {
            return encode_recordbatch(row_fields.clone(), batch);
        }
        let mut columns = batch.columns().to_vec();
        let mut schema_fields: Vec<_> = wire_schema.fields().iter().cloned().collect();
        for &i in &own {
            let converted = if int2vectors[i] {
                int2vector_text(&columns[i])
            } else if let Some(d) = declared_types[i] {
                declared_binary(&columns[i], d)
            } else if is_decimal(columns[i].data_type()) {
                decimal_column(&columns[i], formats[i])
            } else if is_decimal_list(columns[i].data_type()) {
                decimal_list_column(&columns[i], formats[i])
            } else {
                text::column(&columns[i]).map_err(|e| PgWireError::ApiError(Box::new(e)))
            };
            match converted {
                Ok(c) => {
                    schema_fields[i] = Arc::new(Field::new(schema_fields[i].name(), c.data_type().clone(), true));
                    columns[i] = c;
                }
                Err(e) => return Box::new(std::iter::once(Err(e))),
            }
        }
        match RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), columns) {
            Ok(b) => encode_recordbatch(row_fields.clone(), b),
            Err(e) => Box::new(std::iter::once(Err(PgWireError::ApiError(Box::new(e))))),
        }
    };

    // Each batch is encoded when it arrives; the deadline is checked between batches.
    let rows = stream::unfold((batches, false), move |(mut batches, done)| async move {
        if done {
            return None;
        }
        match deadline {
            Some(d) => match tokio::time::timeout_at(d, batches.next()).await {
                Ok(next) => next.map(|b| (Some(b), (batches, false))),
                Err(_) => Some((None, (batches, true))),
            },
            None => batches.next().await.map(|b| (Some(b), (batches, false))),
        }
    })
    .flat_map(move |item| {
        let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match item {
            Some(batch) => to_rows(batch),
            None => Box::new(std::iter::once(Err(timeout_error()))),
        };
        stream::iter(rows)
    });
    Ok(QueryResponse::new(fields, rows))
}

/// The deadline for a statement that starts now.
pub fn deadline(timeout: Option<Duration>) -> Option<tokio::time::Instant> {
    timeout.map(|d| tokio::time::Instant::now() + d)
}

#[cfg(test)]
mod tests {
    use super::numeric_binary;

    fn parts(s: &str) -> (i16, i16, u16, i16, Vec<i16>) {
        let b = numeric_binary(s);
        let r = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let n = r(0);
        ((n), r(2), u16::from_be_bytes([b[4], b[5]]), r(6), (0..n as usize).map(|k| r(8 + 2 * k)).collect())
    }

    #[test]
    fn binary_numeric_matches_postgres() {
        assert_eq!(parts("12345678.9012"), (3, 1, 0, 4, vec![1234, 5678, 9012]));
        assert_eq!(parts("-0.0001"), (1, -1, 0x4000, 4, vec![1]));
        assert_eq!(parts("0.00"), (0, 0, 0, 2, vec![]));
        assert_eq!(parts("100000000.50"), (4, 2, 0, 2, vec![1, 0, 0, 5000]));
    }
}
