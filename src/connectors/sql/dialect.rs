//! What DataFusion's unparser writes and what each source understands differ.
//! These rewrites run on the SQL text's AST just before it is sent, so a pushed-down
//! query means exactly what the same query means when computed by the engine.

use std::ops::ControlFlow;

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::ast::{self, Expr, Ident, ObjectName, ObjectNamePart};
use datafusion_federation::sql::AstAnalyzer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceDialect {
    MySql,
    Postgres,
    Redshift,
}

impl SourceDialect {
    /// An identifier as this source reads it, whatever its case or characters.
    pub fn quote(self, ident: &str) -> String {
        match self {
            SourceDialect::MySql => format!("`{}`", ident.replace('`', "``")),
            SourceDialect::Postgres | SourceDialect::Redshift => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// A string literal as this source reads it: MySQL also reads backslash escapes.
    pub fn string_literal(self, s: &str) -> String {
        match self {
            SourceDialect::MySql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
            SourceDialect::Postgres | SourceDialect::Redshift => format!("'{}'", s.replace('\'', "''")),
        }
    }
}

/// DataFusion's aggregate names mapped to names with one meaning everywhere.
///
/// DataFusion: `stddev`/`var` are the *sample* statistics. MySQL/MariaDB: `STDDEV` and
/// `VARIANCE` are *population*. PostgreSQL/Redshift have no `var`. The `_samp`/`_pop`
/// spellings mean the same thing in all three sources.
fn portable_aggregate(name: &str) -> Option<&'static str> {
    Some(match name {
        "stddev" | "stddev_samp" => "stddev_samp",
        "var" | "var_samp" | "var_sample" | "variance" | "variance_samp" => "var_samp",
        "stddev_pop" => "stddev_pop",
        "var_pop" | "var_population" | "variance_pop" => "var_pop",
        _ => return None,
    })
}

/// A MySQL string literal that reaches the server as written. The MySQL provider deletes
/// every `"` from the statement text before sending it (its way of dropping identifier
/// quotes), and MySQL reads a backslash as an escape: a literal holding either is written
/// as its UTF-8 bytes in hex (`_utf8mb4 X'...'`), which is the same string, compared under
/// the column's collation as a quoted literal would be.
fn mysql_string(s: &str) -> Option<Expr> {
    if !s.contains(['"', '\\']) {
        return None;
    }
    let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
    Some(Expr::Prefixed {
        prefix: Ident::new("_utf8mb4"),
        value: Box::new(Expr::value(ast::Value::HexStringLiteral(hex))),
    })
}

fn rewrite_expr(expr: &mut Expr, dialect: SourceDialect) {
    // MySQL's DATETIME and TIME without a precision drop the fraction of a second
    // (`CAST('2024-02-29 23:59:59.999999' AS DATETIME)` is 23:59:59); the engine keeps
    // microseconds.
    if dialect == SourceDialect::MySql {
        if let Expr::Cast { data_type, .. } = expr {
            match data_type {
                ast::DataType::Datetime(None) => *data_type = ast::DataType::Datetime(Some(6)),
                ast::DataType::Time(None, tz) => *data_type = ast::DataType::Time(Some(6), tz.clone()),
                _ => {}
            }
        }
    }
    if let Expr::Value(v) = expr {
        if let ast::Value::SingleQuotedString(s) = &mut v.value {
            match dialect {
                SourceDialect::MySql => {
                    if let Some(hex) = mysql_string(s) {
                        *expr = hex;
                        return;
                    }
                }
                // Redshift reads a backslash in a string literal as an escape; DataFusion
                // and PostgreSQL (standard_conforming_strings) read it as itself.
                SourceDialect::Redshift if s.contains('\\') => *s = s.replace('\\', "\\\\"),
                _ => {}
            }
        }
    }
    if let Expr::Function(f) = expr {
        if let [ObjectNamePart::Identifier(id)] = f.name.0.as_slice() {
            if let Some(new) = portable_aggregate(&id.value.to_ascii_lowercase()) {
                f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(new))]);
            }
        }
    }
}

/// MySQL has no OFFSET without LIMIT; its manual's idiom is the largest LIMIT there is.
struct MySqlOffsets;

impl ast::VisitorMut for MySqlOffsets {
    type Break = ();
    fn post_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
        if let Some(ast::LimitClause::LimitOffset { limit: limit @ None, offset: Some(_), .. }) = query.limit_clause.as_mut() {
            *limit = Some(Expr::value(ast::Value::Number("18446744073709551615".into(), false)));
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites one statement for `dialect`.
pub fn rewrite_statement(
    dialect: SourceDialect,
    stmt: ast::Statement,
) -> Result<ast::Statement, DataFusionError> {
    let mut stmt = super::derived_names::point_into_derived_tables(stmt);
    if dialect == SourceDialect::MySql {
        let _ = ast::VisitMut::visit(&mut stmt, &mut MySqlOffsets);
    }
    let _ = ast::visit_expressions_mut(&mut stmt, |e| {
        rewrite_expr(e, dialect);
        ControlFlow::<()>::Continue(())
    });
    Ok(stmt)
}

/// Names the outermost SELECT's columns after `names`, position by position.
///
/// The table providers match result columns by name, and a source names an unaliased
/// `count(t.x)` its own way (MySQL keeps the text as written), so every column gets the
/// name the engine expects.
///
/// Columns with a `transport` type are cast to it outside the query (`CAST(.. AS TEXT)`):
/// the Postgres provider decodes `numeric` through a 28-digit decimal and would round wider
/// values, and fails on a `timestamp` before 1970 (not on a `timestamptz`).
pub fn alias_columns(
    sql: &str,
    names: &[&str],
    transport: &[Option<&str>],
    dialect: SourceDialect,
) -> Result<String, DataFusionError> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    // The generic dialect keeps backslashes in literals as they are, so the text
    // round-trips byte for byte (MySQL's own would unescape them).
    let parsed = Parser::parse_sql(&GenericDialect {}, sql)
    .map_err(|e| DataFusionError::Plan(format!("cannot re-read pushed-down SQL: {e}")))?;
    let [ast::Statement::Query(mut query)] = <[_; 1]>::try_from(parsed)
        .map_err(|_| DataFusionError::Plan("pushed-down SQL is not one statement".into()))?
    else {
        return Ok(sql.to_string());
    };
    let mut body = query.body.as_mut();
    while let ast::SetExpr::SetOperation { left, .. } = body {
        body = left.as_mut();
    }
    let quote = |name: &str| match dialect {
        SourceDialect::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    };
    if let ast::SetExpr::Select(select) = body {
        // `SELECT FROM t` (rows without columns) is PostgreSQL's alone; elsewhere the
        // statement selects the one constant the caller named.
        if select.projection.is_empty() && names.len() == 1 {
            select.projection.push(ast::SelectItem::UnnamedExpr(ast::Expr::value(ast::Value::Number("1".into(), false))));
        }
        if select.projection.len() == names.len() {
            for (item, name) in select.projection.iter_mut().zip(names) {
                let alias = Ident::with_quote(if dialect == SourceDialect::MySql { '`' } else { '"' }, *name);
                *item = match std::mem::replace(item, ast::SelectItem::Wildcard(Default::default())) {
                    ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => {
                        ast::SelectItem::ExprWithAlias { expr, alias }
                    }
                    other => other,
                };
            }
        }
    }
    let sql = ast::Statement::Query(query).to_string();
    if transport.iter().all(Option::is_none) {
        return Ok(sql);
    }
    // Conversion happens outside the query, so sorting, DISTINCT and set operations
    // inside it still work on the original values.
    let columns = names
        .iter()
        .zip(transport)
        .map(|(name, to)| {
            let col = format!("fedsql_q.{}", quote(name));
            match to {
                Some(t) => format!("CAST({col} AS {t}) AS {}", quote(name)),
                None => format!("{col} AS {}", quote(name)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!("SELECT {columns} FROM ({sql}) AS fedsql_q"))
}

/// The names a pushed statement's result columns travel under.
///
/// The table providers match result columns to fields by name. Where two share one (`m.id`
/// and `o.id` of a join, or the NULL columns of an outer join over an empty side beside
/// the columns they shadow), or where the MySQL provider would delete a `"` from a name
/// (see `mysql_string`), every column travels under its position instead.
pub fn travel_names(names: &[&str], dialect: SourceDialect) -> Vec<String> {
    let repeated = names.iter().enumerate().any(|(i, n)| names[..i].contains(n));
    let unsendable = dialect == SourceDialect::MySql && names.iter().any(|n| n.contains('"'));
    if repeated || unsendable {
        (1..=names.len()).map(|i| format!("fedsql_c{i}")).collect()
    } else {
        names.iter().map(|n| n.to_string()).collect()
    }
}

/// The rewrite as a federation AST analyzer.
pub fn rewrite_for(dialect: SourceDialect) -> AstAnalyzer {
    Box::new(move |stmt| rewrite_statement(dialect, stmt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rw(sql: &str) -> String {
        let stmt = Parser::parse_sql(&GenericDialect {}, sql).unwrap().remove(0);
        rewrite_statement(SourceDialect::MySql, stmt).unwrap().to_string()
    }

    #[test]
    fn sample_and_population_names_are_explicit() {
        assert_eq!(
            rw("SELECT stddev(a), var(b), variance(c), var_pop(d), stddev_pop(e) FROM t"),
            "SELECT stddev_samp(a), var_samp(b), var_samp(c), var_pop(d), stddev_pop(e) FROM t"
        );
    }

    #[test]
    fn columns_of_one_name_travel_by_position() {
        assert_eq!(travel_names(&["id", "id", "amt"], SourceDialect::Postgres), ["fedsql_c1", "fedsql_c2", "fedsql_c3"]);
        assert_eq!(travel_names(&["say \"hi\"", "n"], SourceDialect::MySql), ["fedsql_c1", "fedsql_c2"]);
        assert_eq!(travel_names(&["say \"hi\"", "n"], SourceDialect::Postgres), ["say \"hi\"", "n"]);
        let sql = alias_columns("SELECT \"m\".\"id\", \"o\".\"id\", \"m\".\"amt\" FROM \"m\" JOIN \"o\" ON true",
            &["fedsql_c1", "fedsql_c2", "fedsql_c3"], &[None, None, Some("TEXT")], SourceDialect::Postgres).unwrap();
        assert_eq!(sql, "SELECT fedsql_q.\"fedsql_c1\" AS \"fedsql_c1\", fedsql_q.\"fedsql_c2\" AS \"fedsql_c2\", \
            CAST(fedsql_q.\"fedsql_c3\" AS TEXT) AS \"fedsql_c3\" FROM (SELECT \"m\".\"id\" AS \"fedsql_c1\", \
            \"o\".\"id\" AS \"fedsql_c2\", \"m\".\"amt\" AS \"fedsql_c3\" FROM \"m\" JOIN \"o\" ON true) AS fedsql_q");
    }

    #[test]
    fn columns_are_named_as_the_engine_expects() {
        let sql = alias_columns("SELECT `t`.`g`, count(`t`.`x`) AS c FROM `d`.`t` GROUP BY `t`.`g`",
            &["g", "count(live.d.t.x)"], &[None, None], SourceDialect::MySql).unwrap();
        assert_eq!(sql, "SELECT `t`.`g` AS `g`, count(`t`.`x`) AS `count(live.d.t.x)` FROM `d`.`t` GROUP BY `t`.`g`");
    }

    #[test]
    fn wide_numerics_travel_as_text() {
        let sql = alias_columns("SELECT \"t\".\"n\" FROM \"t\"", &["n"], &[Some("TEXT")], SourceDialect::Postgres).unwrap();
        assert_eq!(sql, "SELECT CAST(fedsql_q.\"n\" AS TEXT) AS \"n\" FROM (SELECT \"t\".\"n\" AS \"n\" FROM \"t\") AS fedsql_q");
        // Rows without columns select the one constant named (MySQL has no `SELECT FROM`).
        let sql = alias_columns("SELECT FROM `d`.`t`", &["fedsql_row"], &[None], SourceDialect::MySql).unwrap();
        assert_eq!(sql, "SELECT 1 AS `fedsql_row` FROM `d`.`t`");
    }

    #[test]
    fn mysql_literals_with_quotes_or_backslashes_go_as_hex() {
        assert_eq!(rw("SELECT 1 FROM t WHERE v = 'a\\b' AND w LIKE 'x\\_y' AND z = 'say \"hi\"' AND y = 'ok'"),
            "SELECT 1 FROM t WHERE v = _utf8mb4 X'615C62' AND w LIKE _utf8mb4 X'785C5F79' \
             AND z = _utf8mb4 X'7361792022686922' AND y = 'ok'");
        // The text the executor re-reads keeps them.
        let sql = alias_columns("SELECT 1 FROM t WHERE v = _utf8mb4 X'615C62'", &["one"], &[None], SourceDialect::MySql).unwrap();
        assert_eq!(sql, "SELECT 1 AS `one` FROM t WHERE v = _utf8mb4 X'615C62'");
    }

    #[test]
    fn quoted_identifiers_and_literals_are_untouched() {
        assert_eq!(
            rw("SELECT \"stddev\", 'var(x)' FROM \"Var\" WHERE `select` = 'it''s'"),
            "SELECT \"stddev\", 'var(x)' FROM \"Var\" WHERE `select` = 'it''s'"
        );
    }
}
