//! `'{"a","b c",NULL}'::text[]`: PostgreSQL's array literal, read as PostgreSQL reads it.
//!
//! datafusion-pg-catalog's `FixArrayLiteral` splits the text on commas and keeps double
//! quotes and backslashes inside the elements, so `x = any('{"BANK01"}'::text[])` compared
//! with `"BANK01"` and silently matched nothing. This rule parses the literal (quotes,
//! backslash escapes, NULL, whitespace) into `ARRAY[...]` elements under the same cast.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Array, CastKind, DataType, Expr, Statement, Value,
};

/// The elements of a one-dimensional array literal; None when it is not one (nested
/// arrays, bounds, unbalanced quotes), which is then left to the engine.
pub fn elements(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(vec![]);
    }
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '"' {
                    return None;
                }
                chars.next();
                if c == '\\' {
                    item.push(chars.next()?);
                } else {
                    item.push(c);
                }
            }
            item = item.trim_end().to_string();
            if item.is_empty() {
                return None;
            }
        }
        out.push(if !quoted && item.eq_ignore_ascii_case("NULL") { None } else { Some(item) });
        match chars.next() {
            None => return Some(out),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

fn array_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Cast { kind: CastKind::DoubleColon | CastKind::Cast, expr, data_type: DataType::Array(_), .. } => {
            match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `stmt` holds an array literal that quotes or escapes an element, which the
/// compatibility parser's rule would read wrongly.
pub fn has_quoted(stmt: &Statement) -> bool {
    let mut found = false;
    let _ = visit_expressions(stmt, |e| {
        if array_literal(e).is_some_and(|s| s.contains('"') || s.contains('\\')) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Rewrites every array literal cast into `CAST(ARRAY[...] AS type[])`.
pub fn apply(mut stmt: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut stmt, |e| {
        if let Some(items) = array_literal(e).and_then(elements) {
            if let Expr::Cast { expr, .. } = e {
                let elem = items
                    .into_iter()
                    .map(|item| {
                        Expr::value(match item {
                            Some(s) => Value::SingleQuotedString(s),
                            None => Value::Null,
                        })
                    })
                    .collect();
                **expr = Expr::Array(Array { elem, named: true });
            }
        }
        ControlFlow::<()>::Continue(())
    });
    stmt
}

#[cfg(test)]
mod tests {
    use super::elements;

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn literals_read_as_postgresql_reads_them() {
        assert_eq!(elements(r#"{"a","b c"}"#), Some(some(&["a", "b c"])));
        assert_eq!(elements("{a, b ,c}"), Some(some(&["a", "b", "c"])));
        assert_eq!(elements(r#"{"x\"y","a,b","NULL",NULL}"#), Some(vec![Some("x\"y".into()), Some("a,b".into()), Some("NULL".into()), None]));
        assert_eq!(elements("{}"), Some(vec![]));
        assert_eq!(elements("{{1,2},{3,4}}"), None);
        assert_eq!(elements(r#"{"open}"#), None);
    }
}
