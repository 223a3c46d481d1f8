//! `COPY (query) TO STDOUT` and `COPY table [(columns)] TO STDOUT`: what psql's `\copy`,
//! psycopg's `copy()` and pgjdbc's CopyManager send for bulk exports. Rows stream one
//! CopyData message each (as PostgreSQL sends them, so the `COPY n` tag counts rows), in
//! PostgreSQL's text or CSV format. Values are the same text a SELECT sends.

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident, ObjectName, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::StreamExt;
use pgwire::api::results::{CopyResponse, QueryResponse};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use crate::engine::error::{sqlstate, QueryError};

/// How rows are written: PostgreSQL's defaults for `text` and `csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFormat {
    csv: bool,
    delimiter: u8,
    null: String,
    header: bool,
    quote: u8,
    escape: u8,
}

impl CopyFormat {
    fn text() -> Self {
        Self { csv: false, delimiter: b'\t', null: "\\N".into(), header: false, quote: b'"', escape: b'"' }
    }

    fn csv(mut self) -> Self {
        self.csv = true;
        self.delimiter = if self.delimiter == b'\t' { b',' } else { self.delimiter };
        if self.null == "\\N" {
            self.null.clear();
        }
        self
    }
}

fn unsupported(what: &str) -> QueryError {
    QueryError::new(sqlstate::FEATURE_NOT_SUPPORTED, what)
}

fn single_byte(c: char, option: &str) -> Result<u8, QueryError> {
    if c.is_ascii() {
        Ok(c as u8)
    } else {
        Err(QueryError::new(sqlstate::INVALID_PARAMETER_VALUE, format!("COPY {option} must be a single one-byte character")))
    }
}

/// The query a `COPY ... TO STDOUT` runs and how its rows are written; `None` for any other
/// statement. COPY FROM is left to the read-only guard.
pub fn request(stmt: &Statement) -> Option<Result<(Statement, CopyFormat), QueryError>> {
    let Statement::Copy { source, to: true, target, options, legacy_options, .. } = stmt else {
        return None;
    };
    Some(build(source, target, options, legacy_options))
}

fn build(
    source: &CopySource,
    target: &CopyTarget,
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
) -> Result<(Statement, CopyFormat), QueryError> {
    if !matches!(target, CopyTarget::Stdout) {
        return Err(unsupported(
            "COPY to a file or program is not supported: use COPY ... TO STDOUT (psql: \\copy ... TO 'file')",
        ));
    }
    let mut f = CopyFormat::text();
    let mut csv = false;
    for o in options {
        match o {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "text" => csv = false,
                "csv" => csv = true,
                "binary" => return Err(unsupported("COPY ... (FORMAT binary) is not supported: use text or csv")),
                other => {
                    return Err(QueryError::new(sqlstate::INVALID_PARAMETER_VALUE, format!("COPY format \"{other}\" not recognized")))
                }
            },
            CopyOption::Delimiter(c) => f.delimiter = single_byte(*c, "delimiter")?,
            CopyOption::Null(s) => f.null = s.clone(),
            CopyOption::Header(h) => f.header = *h,
            CopyOption::Quote(c) => f.quote = single_byte(*c, "quote")?,
            CopyOption::Escape(c) => f.escape = single_byte(*c, "escape")?,
            CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
            other => return Err(unsupported(&format!("COPY option {other} is not supported"))),
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Binary => return Err(unsupported("COPY ... BINARY is not supported: use text or csv")),
            CopyLegacyOption::Delimiter(c) => f.delimiter = single_byte(*c, "delimiter")?,
            CopyLegacyOption::Null(s) => f.null = s.clone(),
            CopyLegacyOption::Header => f.header = true,
            CopyLegacyOption::Csv(csv_options) => {
                csv = true;
                for c in csv_options {
                    match c {
                        CopyLegacyCsvOption::Header => f.header = true,
                        CopyLegacyCsvOption::Quote(q) => f.quote = single_byte(*q, "quote")?,
                        CopyLegacyCsvOption::Escape(e) => f.escape = single_byte(*e, "escape")?,
                        other => return Err(unsupported(&format!("COPY option {other:?} is not supported"))),
                    }
                }
            }
            other => return Err(unsupported(&format!("COPY option {other} is not supported"))),
        }
    }
    if csv {
        let escape_set = options.iter().any(|o| matches!(o, CopyOption::Escape(_)))
            || legacy.iter().any(|o| matches!(o, CopyLegacyOption::Csv(c) if c.iter().any(|c| matches!(c, CopyLegacyCsvOption::Escape(_)))));
        let quote = f.quote;
        f = f.csv();
        if !escape_set {
            f.escape = quote;
        }
    } else if f.header {
        return Err(unsupported("COPY HEADER is available only in CSV mode"));
    }
    let query = match source {
        CopySource::Query(q) => Statement::Query(q.clone()),
        CopySource::Table { table_name, columns } => select_from(table_name, columns)?,
    };
    Ok((query, f))
}

/// `SELECT columns FROM table` (all columns when none are named), names as written.
fn select_from(table: &ObjectName, columns: &[Ident]) -> Result<Statement, QueryError> {
    let columns = if columns.is_empty() {
        "*".to_string()
    } else {
        columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
    };
    let sql = format!("SELECT {columns} FROM {table}");
    Parser::parse_sql(&PostgreSqlDialect {}, &sql)
        .ok()
        .and_then(|mut s| s.pop())
        .ok_or_else(|| QueryError::new(sqlstate::SYNTAX_ERROR, format!("cannot copy from {table}")))
}

impl CopyFormat {
    fn write_value(&self, out: &mut BytesMut, value: &[u8]) {
        if self.csv {
            let needs_quotes = value.is_empty() && self.null.is_empty()
                || value == self.null.as_bytes()
                || value == b"\\."
                || value.iter().any(|&b| b == self.delimiter || b == self.quote || b == b'\n' || b == b'\r');
            if !needs_quotes {
                out.put_slice(value);
                return;
            }
            out.put_u8(self.quote);
            for &b in value {
                if b == self.quote || b == self.escape {
                    out.put_u8(self.escape);
                }
                out.put_u8(b);
            }
            out.put_u8(self.quote);
        } else {
            for &b in value {
                match b {
                    b'\\' => out.put_slice(b"\\\\"),
                    b'\n' => out.put_slice(b"\\n"),
                    b'\r' => out.put_slice(b"\\r"),
                    b'\t' => out.put_slice(b"\\t"),
                    0x08 => out.put_slice(b"\\b"),
                    0x0c => out.put_slice(b"\\f"),
                    0x0b => out.put_slice(b"\\v"),
                    b if b == self.delimiter => {
                        out.put_u8(b'\\');
                        out.put_u8(b);
                    }
                    b => out.put_u8(b),
                }
            }
        }
    }

    /// One line from a DataRow's text fields (each an i32 length, -1 for NULL, then bytes).
    fn line(&self, row: &[u8], fields: usize) -> Bytes {
        let mut out = BytesMut::with_capacity(row.len() + fields + 1);
        let mut at = 0;
        for i in 0..fields {
            if i > 0 {
                out.put_u8(self.delimiter);
            }
            let len = i32::from_be_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]);
            at += 4;
            if len < 0 {
                out.put_slice(self.null.as_bytes());
            } else {
                self.write_value(&mut out, &row[at..at + len as usize]);
                at += len as usize;
            }
        }
        out.put_u8(b'\n');
        out.freeze()
    }

    fn header_line(&self, names: &[String]) -> Bytes {
        let mut out = BytesMut::new();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.put_u8(self.delimiter);
            }
            self.write_value(&mut out, name.as_bytes());
        }
        out.put_u8(b'\n');
        out.freeze()
    }
}

/// The rows of a text-format result as COPY data.
pub fn response(mut rows: QueryResponse, format: CopyFormat) -> CopyResponse {
    let schema = rows.row_schema();
    let columns = schema.len();
    let header = format
        .header
        .then(|| format.header_line(&schema.iter().map(|f| f.name().to_string()).collect::<Vec<_>>()));
    let data = std::mem::replace(rows.data_rows(), Box::pin(futures::stream::empty()));
    let lines = data.map(move |row: PgWireResult<_>| {
        row.map(|r: pgwire::messages::data::DataRow| CopyData::new(format.line(&r.data, r.field_count as usize)))
    });
    let stream = futures::stream::iter(header.map(|h| Ok(CopyData::new(h)))).chain(lines);
    CopyResponse::new(0, columns, stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Result<(Statement, CopyFormat), QueryError> {
        let stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        request(&stmt).expect("a COPY TO")
    }

    fn row(values: &[Option<&str>]) -> Vec<u8> {
        let mut out = vec![];
        for v in values {
            match v {
                Some(s) => {
                    out.extend((s.len() as i32).to_be_bytes());
                    out.extend(s.as_bytes());
                }
                None => out.extend((-1i32).to_be_bytes()),
            }
        }
        out
    }

    fn line(sql: &str, values: &[Option<&str>]) -> String {
        let (_, f) = parse(sql).unwrap();
        String::from_utf8(f.line(&row(values), values.len()).to_vec()).unwrap()
    }

    #[test]
    fn text_format_escapes_like_postgres() {
        let sql = "COPY (SELECT 1) TO STDOUT";
        assert_eq!(line(sql, &[Some("a\tb"), None, Some("c\\d\ne")]), "a\\tb\t\\N\tc\\\\d\\ne\n");
        assert_eq!(line("COPY t TO STDOUT (DELIMITER '|', NULL '')", &[Some("a|b"), None]), "a\\|b|\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let sql = "COPY (SELECT 1) TO STDOUT (FORMAT csv)";
        assert_eq!(line(sql, &[Some("plain"), None, Some(""), Some("a,b"), Some("say \"hi\"")]),
                   "plain,,\"\",\"a,b\",\"say \"\"hi\"\"\"\n");
        // psql's \copy ... csv header sends the pre-9.0 form.
        let (_, f) = parse("COPY (SELECT 1) TO STDOUT csv header").unwrap();
        assert!(f.csv && f.header && f.delimiter == b',');
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let err = |sql| parse(sql).unwrap_err().sqlstate;
        assert_eq!(err("COPY t TO '/tmp/x'"), sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(err("COPY t TO STDOUT (FORMAT binary)"), sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(err("COPY t TO STDOUT (HEADER)"), sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(err("COPY t TO STDOUT (FORMAT xml)"), sqlstate::INVALID_PARAMETER_VALUE);
    }

    #[test]
    fn table_form_selects_the_named_columns() {
        let (q, _) = parse("COPY crm.public.orgs (org_code, org_name) TO STDOUT").unwrap();
        assert_eq!(q.to_string(), "SELECT org_code, org_name FROM crm.public.orgs");
    }
}
