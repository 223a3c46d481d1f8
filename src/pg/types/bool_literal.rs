//! `indisprimary = 't'`: in PostgreSQL a quoted literal compared with a boolean is read as
//! a boolean (`'t'`, `'true'`, `'yes'`, `'on'`, `'1'` and their negations). DataFusion
//! finds no common type for Boolean and Utf8 and refuses the comparison; psqlODBC's
//! SQLPrimaryKeys and hand-written BI filters fail on it. The literal becomes the boolean
//! PostgreSQL reads, and text it cannot read is 22P02, as there.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::engine::error::{sqlstate, QueryError};

/// Plans `boolean <op> 'text'` while the SQL is planned: DataFusion checks the types of a
/// filter as it builds it, before any analyzer rule could step in.
#[derive(Debug, Default)]
pub struct BooleanLiterals;

/// PostgreSQL's reading of a boolean literal's text (`boolin`).
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim().to_ascii_lowercase();
    if t.is_empty() {
        return None;
    }
    let prefix_of = |word: &str| word.starts_with(t.as_str());
    match t.as_str() {
        "1" | "on" => Some(true),
        "0" | "of" | "off" => Some(false),
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

fn text_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => Some(s),
        _ => None,
    }
}

fn comparison(op: &BinaryOperator) -> Option<Operator> {
    Some(match op {
        BinaryOperator::Eq => Operator::Eq,
        BinaryOperator::NotEq => Operator::NotEq,
        BinaryOperator::Lt => Operator::Lt,
        BinaryOperator::LtEq => Operator::LtEq,
        BinaryOperator::Gt => Operator::Gt,
        BinaryOperator::GtEq => Operator::GtEq,
        _ => return None,
    })
}

impl ExprPlanner for BooleanLiterals {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> Result<PlannerResult<RawBinaryExpr>> {
        let Some(op) = comparison(&expr.op) else {
            return Ok(PlannerResult::Original(expr));
        };
        let boolean = |x: &Expr| x.get_type(schema).is_ok_and(|t| t == DataType::Boolean);
        // The text beside a boolean, read as one; PostgreSQL refuses text it cannot read.
        let read = |text: &str| match parse_bool(text) {
            Some(b) => Ok(Expr::Literal(ScalarValue::Boolean(Some(b)), None)),
            None => Err(DataFusionError::External(Box::new(QueryError::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                format!("invalid input syntax for type boolean: \"{text}\""),
            )))),
        };
        let (left, right) = match (text_literal(&expr.left), text_literal(&expr.right)) {
            (None, Some(r)) if boolean(&expr.left) => (expr.left.clone(), read(r)?),
            (Some(l), None) if boolean(&expr.right) => (read(l)?, expr.right.clone()),
            _ => return Ok(PlannerResult::Original(expr)),
        };
        Ok(PlannerResult::Planned(Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn literals_read_as_boolin_reads_them() {
        for t in ["t", "TRUE", "yes", "y", "on", "1", " true "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["f", "False", "no", "n", "off", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "o", "maybe", "2"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
