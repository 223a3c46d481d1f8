//! `EXECUTE name(args)` of a statement made by SQL `PREPARE`: the statement with each
//! `$n` replaced by its argument, cast to the parameter's declared type, as PostgreSQL
//! coerces an argument to its parameter's type.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_expressions, visit_expressions_mut, CastKind, DataType, Expr, Statement, Value};

use crate::engine::error::{sqlstate, QueryError};

/// The number `n` of a `$n` placeholder.
fn placeholder(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok().filter(|n| *n > 0),
            _ => None,
        },
        _ => None,
    }
}

/// How many parameters a statement prepared with `types` takes: the declared ones, or
/// more where the statement names a higher `$n` (PostgreSQL infers their types).
pub fn count(statement: &Statement, types: &[DataType]) -> usize {
    let mut highest = 0;
    let _ = visit_expressions(statement, |e| {
        highest = highest.max(placeholder(e).unwrap_or(0));
        ControlFlow::<()>::Continue(())
    });
    highest.max(types.len())
}

/// `statement` with its parameters bound to `args`.
pub fn bind(name: &str, statement: &Statement, types: &[DataType], args: &[Expr]) -> Result<Statement, QueryError> {
    let expected = count(statement, types);
    if args.len() != expected {
        return Err(QueryError::new(
            sqlstate::SYNTAX_ERROR,
            format!(
                "wrong number of parameters for prepared statement \"{name}\": expected {expected} parameters but got {}",
                args.len()
            ),
        ));
    }
    let mut bound = statement.clone();
    let _ = visit_expressions_mut(&mut bound, |e| {
        if let Some(n) = placeholder(e) {
            let arg = args[n - 1].clone();
            *e = match types.get(n - 1) {
                Some(data_type) => Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(arg),
                    data_type: data_type.clone(),
                    array: false,
                    format: None,
                },
                None => Expr::Nested(Box::new(arg)),
            };
        }
        ControlFlow::<()>::Continue(())
    });
    // The PREPARE's own statement was not named as a result (`count`, not `count(*)`).
    let mut bound = super::array_literal::apply(bound);
    super::column_names::apply(&mut bound);
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn prepared(sql: &str) -> (Statement, Vec<DataType>) {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0) {
            Statement::Prepare { data_types, statement, .. } => (*statement, data_types),
            other => panic!("not a PREPARE: {other}"),
        }
    }

    fn args(sql: &str) -> Vec<Expr> {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0) {
            Statement::Execute { parameters, .. } => parameters,
            other => panic!("not an EXECUTE: {other}"),
        }
    }

    #[test]
    fn arguments_take_the_declared_types() {
        let (stmt, types) = prepared("PREPARE p(int, text[]) AS SELECT $1 + 1 WHERE 'a' = ANY($2) AND $3 IS NULL");
        assert_eq!(count(&stmt, &types), 3);
        let bound = bind("p", &stmt, &types, &args("EXECUTE p(41, '{a,\"b c\"}', 1 + 2)")).unwrap();
        assert_eq!(
            bound.to_string(),
            "SELECT CAST(41 AS INT) + 1 AS \"?column?\" WHERE 'a' = ANY(CAST(ARRAY['a', 'b c'] AS TEXT[])) AND (1 + 2) IS NULL"
        );
    }

    #[test]
    fn a_wrong_count_is_an_error() {
        let (stmt, types) = prepared("PREPARE p(int) AS SELECT $1");
        let e = bind("p", &stmt, &types, &args("EXECUTE p(1, 2)")).unwrap_err();
        assert_eq!(e.sqlstate, sqlstate::SYNTAX_ERROR);
        assert!(e.message.contains("expected 1 parameters but got 2"), "{}", e.message);
    }
}
