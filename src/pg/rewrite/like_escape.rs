//! `LIKE ... ESCAPE 'c'` with an escape other than backslash (SQLAlchemy's schema
//! listing uses `ESCAPE '/'`). DataFusion supports only backslash, so the pattern is
//! rewritten through `like_escape(pattern, 'c')` into backslash form.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Statement, Value,
};

pub fn apply(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. } = e {
            let custom = match escape_char.as_ref().map(|v| &v.value) {
                Some(Value::SingleQuotedString(c)) if c != "\\" => Some(c.clone()),
                _ => None,
            };
            if let Some(c) = custom {
                let arg = |e: Expr| FunctionArg::Unnamed(FunctionArgExpr::Expr(e));
                let call = Expr::Function(Function {
                    name: ObjectName::from(vec![Ident::new("like_escape")]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![arg((**pattern).clone()), arg(Expr::value(Value::SingleQuotedString(c)))],
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
                **pattern = call;
                *escape_char = None;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `like_escape(pattern, escape)`: the pattern in backslash form.
pub fn udf() -> ScalarUDF {
    create_udf(
        "like_escape",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (patterns, escapes) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
            let mut out = StringBuilder::new();
            for i in 0..patterns.len() {
                if patterns.is_null(i) || escapes.is_null(i) {
                    out.append_null();
                    continue;
                }
                match escapes.value(i).chars().next() {
                    Some(c) => out.append_value(to_backslash(patterns.value(i), c)),
                    None => out.append_value(patterns.value(i)),
                }
            }
            let array = Arc::new(out.finish());
            Ok(if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(array.as_ref(), 0)?)
            } else {
                ColumnarValue::Array(array)
            })
        }),
    )
}

/// A LIKE pattern escaped with `escape` as DataFusion reads it (escaped with `\`).
pub fn to_backslash(pattern: &str, escape: char) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        if ch == escape {
            if let Some(next) = chars.next() {
                out.push('\\');
                out.push(next);
            }
        } else if ch == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::to_backslash("pg/_%", '/'), "pg\\_%");
        assert_eq!(super::to_backslash("a\\b//", '/'), "a\\\\b\\/");
    }
}
