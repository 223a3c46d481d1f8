//! PostgreSQL's `format(formatstr, args...)`: `%s`, `%I`, `%L`, `%%`, and positions
//! (`%2$s`). Metabase builds `regclass` names with `format('%I.%I', schema, table)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `name` as PostgreSQL's `quote_ident` writes it: bare when it is a plain lower-case
/// identifier, double-quoted (quotes doubled) otherwise.
pub fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// Formats one row; `args[i]` is the i-th argument as text (None for NULL).
fn format_row(pattern: &str, args: &[Option<&str>]) -> DfResult<String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            spec.push(d);
            chars.next();
        }
        let index = if !spec.is_empty() && chars.peek() == Some(&'$') {
            chars.next();
            match spec.parse::<usize>() {
                Ok(n) if n >= 1 => n - 1,
                _ => return exec_err!("format(): argument positions start at 1"),
            }
        } else if spec.is_empty() {
            next
        } else {
            return exec_err!("format(): field widths are not supported");
        };
        let kind = chars.next();
        if kind == Some('%') && spec.is_empty() {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(index) else {
            return exec_err!("format(): too few arguments for \"{pattern}\"");
        };
        next = index + 1;
        match (kind, arg) {
            (Some('s'), Some(v)) => out.push_str(v),
            (Some('s'), None) => {}
            (Some('I'), Some(v)) => out.push_str(&quote_ident(v)),
            (Some('I'), None) => return exec_err!("format(): null values cannot be formatted as an SQL identifier"),
            (Some('L'), Some(v)) => out.push_str(&quote_literal(v)),
            (Some('L'), None) => out.push_str("NULL"),
            (Some(other), _) => return exec_err!("format(): unrecognized format() type specifier \"{other}\""),
            (None, _) => return exec_err!("format(): unterminated format() type specifier"),
        }
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let texts = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(rows)?;
                Ok(cast(&array, &DataType::Utf8)?)
            })
            .collect::<DfResult<Vec<_>>>()?;
        let Some((pattern, rest)) = texts.split_first() else {
            return exec_err!("format() takes a format string");
        };
        let pattern = pattern.as_string::<i32>();
        let rest: Vec<_> = rest.iter().map(|a| a.as_string::<i32>()).collect();
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        for row in 0..rows {
            if pattern.is_null(row) {
                out.append_null();
                continue;
            }
            let values: Vec<Option<&str>> =
                rest.iter().map(|a| (!a.is_null(row)).then(|| a.value(row))).collect();
            out.append_value(format_row(pattern.value(row), &values)?);
        }
        let array = Arc::new(out.finish());
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(array.as_ref(), 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Format { signature: Signature::variadic_any(Volatility::Immutable) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_postgres() {
        let f = |p: &str, a: &[Option<&str>]| format_row(p, a).unwrap();
        assert_eq!(f("%I.%I", &[Some("crm.public"), Some("orgs")]), "\"crm.public\".orgs");
        assert_eq!(f("%s-%s", &[Some("a"), None]), "a-");
        assert_eq!(f("%L, %L", &[Some("it's"), None]), "'it''s', NULL");
        assert_eq!(f("%2$s %1$s %s", &[Some("a"), Some("b")]), "b a b");
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("\"%s\".\"%s\"", &[Some("s"), Some("t")]), "\"s\".\"t\"");
        assert!(format_row("%I", &[None]).is_err());
        assert!(format_row("%s %s", &[Some("a")]).is_err());
        assert!(format_row("%x", &[Some("a")]).is_err());
    }
}
