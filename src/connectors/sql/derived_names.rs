//! Outer column references into a derived table, as a database can bind them.
//!
//! DataFusion's unparser writes some plans as `SELECT m.a, o.a FROM (SELECT m.a, o.a,
//! m.id FROM m JOIN o ... ORDER BY m.id LIMIT 2) AS derived_limit`: the outer SELECT
//! still names `m` and `o`, which only the inner one can see, so PostgreSQL and MySQL
//! answer "missing FROM-clause entry". Each such reference is pointed at the derived
//! table's own column; where the inner SELECT gives two columns one name (`a`, `a`), the
//! inner column gets a name of its own first.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Ident, Query, Select, SelectItem, SetExpr, Statement, TableFactor, VisitMut,
    VisitorMut,
};

struct DerivedNames;

impl VisitorMut for DerivedNames {
    type Break = ();
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            let renames = repoint(select);
            unique_derived_columns(select);
            // The query's own ORDER BY names columns as its SELECT sees them.
            if let Some(order_by) = query.order_by.as_mut() {
                let _ = visit_expressions_mut(order_by, |e| {
                    if let Some((q, c)) = qualified(e) {
                        if let Some(to) = renames.iter().find(|(from, _)| from.0 == q && from.1 == c).map(|(_, to)| to) {
                            *e = to.clone();
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        ControlFlow::Continue(())
    }
}

pub fn point_into_derived_tables(mut stmt: Statement) -> Statement {
    let _ = stmt.visit(&mut DerivedNames);
    stmt
}

/// `(qualifier, column)` of a qualified column reference.
fn qualified(e: &Expr) -> Option<(&str, &str)> {
    match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            Some((parts[parts.len() - 2].value.as_str(), parts[parts.len() - 1].value.as_str()))
        }
        _ => None,
    }
}

/// The name an inner select item is known by outside.
fn output_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
        SelectItem::UnnamedExpr(e) => qualified(e).map(|(_, c)| c.to_string()),
        _ => None,
    }
}

/// Repoints `select`'s references into its derived table; returns what became what.
fn repoint(select: &mut Select) -> Vec<((String, String), Expr)> {
    let mut renames = Vec::new();
    let [from] = select.from.as_mut_slice() else { return renames };
    if !from.joins.is_empty() {
        return renames;
    }
    let TableFactor::Derived { subquery, alias: Some(alias), .. } = &mut from.relation else { return renames };
    let SetExpr::Select(inner) = subquery.body.as_mut() else { return renames };
    let derived = alias.name.clone();
    let quote = derived.quote_style;
    // Inner items that are plain qualified columns, by the reference they answer.
    let sources: Vec<Option<(String, String)>> = inner
        .projection
        .iter()
        .map(|item| {
            let e = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => return None,
            };
            qualified(e).map(|(q, c)| (q.to_string(), c.to_string()))
        })
        .collect();
    let mut names: Vec<Option<String>> = inner.projection.iter().map(output_name).collect();
    // `SELECT * FROM <one relation> AS s`: every `s.c` outside is the derived table's `c`.
    let all_of: Option<String> = match (inner.projection.as_slice(), inner.from.as_slice()) {
        ([SelectItem::Wildcard(_)], [only]) if only.joins.is_empty() => match &only.relation {
            TableFactor::Derived { alias: Some(a), .. } => Some(a.name.value.clone()),
            TableFactor::Table { alias: Some(a), .. } => Some(a.name.value.clone()),
            TableFactor::Table { name, alias: None, .. } => name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()),
            _ => None,
        },
        _ => None,
    };
    let mut repoint_expr = |e: &mut Expr| {
        let Some((q, c)) = qualified(e) else { return ControlFlow::<()>::Continue(()) };
        if q == derived.value {
            return ControlFlow::Continue(());
        }
        if all_of.as_deref() == Some(q) {
            let to = Expr::CompoundIdentifier(vec![derived.clone(), ident(c, quote)]);
            renames.push(((q.to_string(), c.to_string()), to.clone()));
            *e = to;
            return ControlFlow::Continue(());
        }
        let Some(i) = sources.iter().position(|s| s.as_ref().is_some_and(|(sq, sc)| sq == q && sc == c)) else {
            return ControlFlow::Continue(());
        };
        let unique = names[i].as_ref().is_some_and(|n| names.iter().filter(|m| m.as_ref() == Some(n)).count() == 1);
        if !unique {
            let own = format!("fedsql_d{}", i + 1);
            let expr = match std::mem::replace(&mut inner.projection[i], SelectItem::Wildcard(Default::default())) {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                other => {
                    inner.projection[i] = other;
                    return ControlFlow::Continue(());
                }
            };
            inner.projection[i] = SelectItem::ExprWithAlias { expr, alias: ident(&own, quote) };
            names[i] = Some(own);
        }
        let name = names[i].clone().expect("named above");
        let to = Expr::CompoundIdentifier(vec![derived.clone(), ident(&name, quote)]);
        renames.push(((q.to_string(), c.to_string()), to.clone()));
        *e = to;
        ControlFlow::Continue(())
    };
    let _ = visit_expressions_mut(&mut select.projection, &mut repoint_expr);
    let _ = visit_expressions_mut(&mut select.selection, &mut repoint_expr);
    renames
}

/// A derived table may not give two columns one name (`(SELECT q.id, CAST(NULL AS
/// SIGNED) AS id ...) AS derived_projection` failed on MySQL and PostgreSQL). What is
/// still repeated after `repoint` is read by nobody by that name: later ones get their own.
fn unique_derived_columns(select: &mut Select) {
    for table in &mut select.from {
        let factors = std::iter::once(&mut table.relation).chain(table.joins.iter_mut().map(|j| &mut j.relation));
        for factor in factors {
            let TableFactor::Derived { subquery, alias, .. } = factor else { continue };
            let quote = alias.as_ref().and_then(|a| a.name.quote_style);
            let SetExpr::Select(inner) = subquery.body.as_mut() else { continue };
            let names: Vec<Option<String>> = inner.projection.iter().map(output_name).collect();
            for i in 0..names.len() {
                let repeated = names[i].as_ref().is_some_and(|n| names[..i].contains(&Some(n.clone())));
                if !repeated {
                    continue;
                }
                if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = &inner.projection[i] {
                    let expr = e.clone();
                    inner.projection[i] = SelectItem::ExprWithAlias { expr, alias: ident(&format!("fedsql_d{}", i + 1), quote) };
                }
            }
        }
    }
}

fn ident(name: &str, quote: Option<char>) -> Ident {
    match quote {
        Some(q) => Ident::with_quote(q, name),
        None => Ident::new(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn pointed(sql: &str) -> String {
        let stmt = Parser::parse_sql(&GenericDialect {}, sql).unwrap().remove(0);
        point_into_derived_tables(stmt).to_string()
    }

    #[test]
    fn outer_references_name_the_derived_table() {
        assert_eq!(
            pointed("SELECT \"m\".\"a\", \"o\".\"a\", \"m\".\"x\" FROM (SELECT \"m\".\"a\", \"o\".\"a\", \"m\".\"x\", \"m\".\"id\" \
                     FROM \"m\" JOIN \"o\" ON true ORDER BY \"m\".\"id\" LIMIT 2) AS \"derived_limit\""),
            // The first `a` gets a name of its own; the second is then the only `a`.
            "SELECT \"derived_limit\".\"fedsql_d1\", \"derived_limit\".\"a\", \"derived_limit\".\"x\" FROM \
             (SELECT \"m\".\"a\" AS \"fedsql_d1\", \"o\".\"a\", \"m\".\"x\", \"m\".\"id\" FROM \"m\" JOIN \"o\" \
             ON true ORDER BY \"m\".\"id\" LIMIT 2) AS \"derived_limit\""
        );
        // References the FROM can bind are left alone.
        let fine = "SELECT \"t\".\"a\" FROM (SELECT \"m\".\"a\" FROM \"m\") AS \"t\"";
        assert_eq!(pointed(fine), fine);
        assert_eq!(
            pointed("SELECT \"s\".\"a\" FROM (SELECT * FROM (SELECT \"m\".\"a\" FROM \"m\" LIMIT 2) AS \"s\" WHERE \"s\".\"a\" > 0 \
                     LIMIT 9) AS \"derived_limit\""),
            "SELECT \"derived_limit\".\"a\" FROM (SELECT * FROM (SELECT \"m\".\"a\" FROM \"m\" LIMIT 2) AS \"s\" WHERE \"s\".\"a\" > 0 \
             LIMIT 9) AS \"derived_limit\""
        );
        let plain = "SELECT \"m\".\"a\" FROM \"m\" LIMIT 1";
        assert_eq!(pointed(plain), plain);
    }

    #[test]
    fn derived_tables_give_each_column_its_own_name() {
        assert_eq!(
            pointed("SELECT count(1) FROM (SELECT `q`.`id`, CAST(NULL AS SIGNED) AS `id` FROM `t` AS `q`) AS `d`"),
            "SELECT count(1) FROM (SELECT `q`.`id`, CAST(NULL AS SIGNED) AS `fedsql_d2` FROM `t` AS `q`) AS `d`"
        );
    }
}
