//! `generate_series(a, b)` in a select list returns a row per value in PostgreSQL;
//! DataFusion's is a scalar function returning one array. psqlODBC's SQLForeignKeys
//! numbers key columns with `generate_series(array_lower(conkey, 1),
//! array_upper(conkey, 1)) AS i` and then reads `conkey[i]` (42601: List(Int64) as an
//! index). Such a call becomes `unnest(generate_series(...))`, rows as in PostgreSQL.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

struct SetReturning;

fn is_series(f: &Function) -> bool {
    let name: Vec<String> = f.name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect();
    matches!(name.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), [.., "generate_series"]) && f.over.is_none()
}

fn unnested(series: Function) -> Expr {
    super::function("unnest", vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(series)))])
}

impl VisitorMut for SetReturning {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in select.projection.iter_mut() {
                let (SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) = item else { continue };
                if let Expr::Function(f) = e {
                    if is_series(f) {
                        *e = unnested(f.clone());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Makes each select list's `generate_series(...)` return rows.
pub fn apply(stmt: &mut Statement) {
    let _ = stmt.visit(&mut SetReturning);
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn select_list_series_return_rows() {
        let sql = "SELECT x FROM (SELECT conkey, generate_series(array_lower(conkey, 1), array_upper(conkey, 1)) AS i FROM t) AS r \
                   WHERE x IN (SELECT generate_series(1, 3))";
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        super::apply(&mut stmt);
        assert_eq!(
            stmt.to_string(),
            "SELECT x FROM (SELECT conkey, unnest(generate_series(array_lower(conkey, 1), array_upper(conkey, 1))) AS i FROM t) AS r \
             WHERE x IN (SELECT unnest(generate_series(1, 3)))"
        );
    }
}
