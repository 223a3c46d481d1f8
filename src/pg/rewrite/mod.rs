//! Client SQL made to mean what it means on PostgreSQL, before DataFusion plans it: the
//! compatibility parser (`parse`), then PostgreSQL's result column names, LIKE escapes and
//! set-returning `generate_series`.

pub mod array_literal;
pub mod column_names;
mod known_queries;
pub mod like_escape;
pub mod parameters;
mod parse;
mod regclass;
mod scalar_subquery;
mod set_returning;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Statement,
};

pub use known_queries::is_type_lookup;
pub use parse::{SqlParser, REFRESH_SNAPSHOT};

use crate::engine::error::{sqlstate, QueryError};

/// Parses client SQL as every front does (the wire and `fedsql query`).
pub fn parse_sql(parser: &SqlParser, sql: &str) -> Result<Vec<Statement>, QueryError> {
    let mut statements = parser
        .parse(sql)
        .map_err(|e| QueryError::new(sqlstate::SYNTAX_ERROR, e.to_string()))?;
    for stmt in statements.iter_mut() {
        column_names::apply(stmt);
        like_escape::apply(stmt);
        set_returning::apply(stmt);
    }
    Ok(statements)
}

/// A call of the function `name` with `args`, built as a syntax tree.
fn function(name: &str, args: Vec<FunctionArg>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: vec![] }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}
