//! One place that turns any failure into a Postgres SQLSTATE and a message.

use datafusion::error::DataFusionError;

use crate::connectors::ConnectorError;

pub mod sqlstate {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    pub const CONNECTION_FAILURE: &str = "08006";
    pub const CONNECTION_UNABLE: &str = "08001";
    pub const QUERY_CANCELED: &str = "57014";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const INSUFFICIENT_RESOURCES: &str = "53000";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const UNDEFINED_PARAMETER: &str = "42P02";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const DUPLICATE_CURSOR: &str = "42P03";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
}

/// An error ready for the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub sqlstate: &'static str,
    pub message: String,
}

impl QueryError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self {
            sqlstate,
            message: message.into(),
        }
    }
}

fn connector_error(e: &ConnectorError) -> QueryError {
    match e {
        ConnectorError::Unreachable { .. } => {
            QueryError::new(sqlstate::CONNECTION_UNABLE, e.to_string())
        }
        ConnectorError::Source { .. } => QueryError::new(sqlstate::INTERNAL_ERROR, e.to_string()),
        ConnectorError::Lost { .. } => QueryError::new(sqlstate::CONNECTION_FAILURE, e.to_string()),
        ConnectorError::Rejected { sqlstate, .. } => {
            QueryError::new(data_exception(sqlstate).unwrap_or(sqlstate::INTERNAL_ERROR), e.to_string())
        }
        ConnectorError::Stalled { .. } => QueryError::new(sqlstate::CONNECTION_FAILURE, e.to_string()),
        ConnectorError::OutOfRange { .. } => QueryError::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, e.to_string()),
    }
}

/// A source's SQLSTATE for a problem with the data (class 22) or a cancel: the user's
/// query met it at the source, as it would have here. Anything else a source rejects is
/// SQL we wrote: a bug.
fn data_exception(state: &str) -> Option<&'static str> {
    Some(match state {
        "22003" => sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "22012" => sqlstate::DIVISION_BY_ZERO,
        "22P02" => sqlstate::INVALID_TEXT_REPRESENTATION,
        "22023" => sqlstate::INVALID_PARAMETER_VALUE,
        "57014" => sqlstate::QUERY_CANCELED,
        s if s.starts_with("22") => sqlstate::DATA_EXCEPTION,
        _ => return None,
    })
}

/// DataFusion and Arrow errors that have no variant of their own, only a message: the
/// one place their text is read. Each row: words the message holds (all of them), and
/// the SQLSTATE. Upstream gap (DataFusion 55): plan errors for a missing table or
/// function and for types without a common one are `Plan(String)`; an AVG overflow and a
/// field access on a non-composite are `Execution(String)`.
type Untyped = &'static [(&'static [&'static str], &'static str)];

const UNTYPED_PLAN: Untyped = &[
    (&["table", "not found"], sqlstate::UNDEFINED_TABLE),
    (&["Invalid function"], sqlstate::UNDEFINED_FUNCTION),
    (&["No function matches"], sqlstate::UNDEFINED_FUNCTION),
    (&["Cannot infer common"], sqlstate::DATATYPE_MISMATCH),
    (&["does not support"], sqlstate::DATATYPE_MISMATCH),
];

const UNTYPED_EXECUTION: Untyped = &[
    // An ArrowError::DivideByZero some operators pass on as text.
    (&["Divide by zero"], sqlstate::DIVISION_BY_ZERO),
    // A decimal AVG whose sum passes its type's digits (past 76).
    (&["Arithmetic Overflow"], sqlstate::NUMERIC_VALUE_OUT_OF_RANGE),
    // `x.v` over a column that is not a composite (DataFusion reads it as a field access).
    (&["Cannot access field"], sqlstate::DATATYPE_MISMATCH),
];

const UNTYPED_ARROW: Untyped = &[(&["overflow"], sqlstate::NUMERIC_VALUE_OUT_OF_RANGE)];

fn untyped(message: &str, table: Untyped) -> Option<&'static str> {
    table.iter().find(|(words, _)| words.iter().all(|w| message.contains(w))).map(|(_, code)| *code)
}

/// Classifies a DataFusion error, looking through its wrappers.
pub fn classify(e: &DataFusionError) -> QueryError {
    match e {
        DataFusionError::Context(_, inner) => classify(inner),
        DataFusionError::Shared(inner) => classify(inner),
        DataFusionError::Diagnostic(_, inner) => classify(inner),
        DataFusionError::Collection(list) if !list.is_empty() => classify(&list[0]),
        DataFusionError::External(inner) => {
            if let Some(q) = inner.downcast_ref::<QueryError>() {
                q.clone()
            } else if let Some(c) = inner.downcast_ref::<ConnectorError>() {
                connector_error(c)
            } else if let Some(d) = inner.downcast_ref::<DataFusionError>() {
                classify(d)
            } else {
                QueryError::new(sqlstate::INTERNAL_ERROR, inner.to_string())
            }
        }
        DataFusionError::SQL(err, _) => QueryError::new(sqlstate::SYNTAX_ERROR, err.to_string()),
        DataFusionError::ArrowError(err, _) => {
            use datafusion::arrow::error::ArrowError;
            match err.as_ref() {
                ArrowError::ArithmeticOverflow(_) => {
                    QueryError::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, format!("value out of range: {err}"))
                }
                ArrowError::DivideByZero => QueryError::new(sqlstate::DIVISION_BY_ZERO, "division by zero"),
                // abs(int4's minimum) is a ComputeError "Int32Array overflow on abs(..)".
                ArrowError::ComputeError(m) => match untyped(m, UNTYPED_ARROW) {
                    Some(code) => QueryError::new(code, format!("value out of range: {err}")),
                    None => QueryError::new(sqlstate::DATA_EXCEPTION, err.to_string()),
                },
                _ => QueryError::new(sqlstate::DATA_EXCEPTION, err.to_string()),
            }
        }
        DataFusionError::NotImplemented(m) => {
            QueryError::new(sqlstate::FEATURE_NOT_SUPPORTED, format!("not supported: {m}"))
        }
        DataFusionError::ResourcesExhausted(m) => QueryError::new(sqlstate::OUT_OF_MEMORY, m.clone()),
        DataFusionError::SchemaError(err, _) => {
            use datafusion::common::SchemaError;
            match err.as_ref() {
                SchemaError::AmbiguousReference { .. } => QueryError::new(sqlstate::AMBIGUOUS_COLUMN, err.to_string()),
                SchemaError::FieldNotFound { .. } => QueryError::new(sqlstate::UNDEFINED_COLUMN, err.to_string()),
                // PostgreSQL allows two result columns of one name; DataFusion does not.
                SchemaError::DuplicateQualifiedField { .. } | SchemaError::DuplicateUnqualifiedField { .. } => {
                    QueryError::new(sqlstate::FEATURE_NOT_SUPPORTED, format!("not supported: two columns of one name ({err}); give them different aliases"))
                }
            }
        }
        DataFusionError::Plan(m) => QueryError::new(untyped(m, UNTYPED_PLAN).unwrap_or(sqlstate::SYNTAX_ERROR), m.clone()),
        DataFusionError::Execution(m) => match untyped(m, UNTYPED_EXECUTION) {
            Some(sqlstate::DIVISION_BY_ZERO) => QueryError::new(sqlstate::DIVISION_BY_ZERO, "division by zero"),
            Some(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE) => {
                QueryError::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, format!("numeric field overflow: {m}"))
            }
            Some(code) => QueryError::new(code, m.clone()),
            None => QueryError::new(sqlstate::INTERNAL_ERROR, m.clone()),
        },
        other => QueryError::new(sqlstate::INTERNAL_ERROR, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_errors_keep_their_catalog() {
        let e = DataFusionError::Context(
            "planning".into(),
            Box::new(DataFusionError::External(Box::new(ConnectorError::Unreachable {
                catalog: "live".into(),
                message: "connection refused".into(),
            }))),
        );
        let q = classify(&e);
        assert_eq!(q.sqlstate, "08001");
        assert!(q.message.contains("catalog `live`"), "{}", q.message);
    }
}
