//! Scalar subqueries in tools' catalog queries, made plannable.
//!
//! PostgreSQL runs `(SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid =
//! a.attrelid ...)` and fails only if it finds two rows. DataFusion decorrelates only
//! aggregated subqueries ("Correlated scalar subquery must be aggregated"). SQLAlchemy's
//! column reflection has such subqueries inside CASE. Each becomes
//! `fedsql_single_row(count(*), first_value(expr))`, which keeps PostgreSQL's meaning,
//! error included; `ORDER BY ... LIMIT 1` becomes `first_value(expr ORDER BY ...)`.
//! Conditions on the outer row alone move out to a CASE around the subquery. A subquery
//! joining a catalog table fedsql never fills (pg_sequence, pg_trigger) is NULL.

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, BinaryOperator, CaseWhen, Expr, GroupByExpr, JoinOperator, LimitClause,
    OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TableFactor, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::pg::functions::SINGLE_ROW;

/// Functions that make a SELECT list an aggregate already.
const AGGREGATES: &[&str] = &[
    "count", "sum", "min", "max", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every", "json_agg",
    "jsonb_agg", "json_object_agg", "jsonb_object_agg", "stddev", "stddev_pop", "stddev_samp", "variance",
    "var_pop", "var_samp", "first_value", "last_value", "median", "bit_and", "bit_or",
];

pub fn aggregate_scalar_subqueries(mut stmt: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut stmt, |e| {
        if let Expr::Subquery(q) = e {
            if reads_never_filled_table(q) {
                *e = Expr::Value(Value::Null.into());
            } else if let Some(rewritten) = aggregated(q) {
                *e = rewritten;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    stmt
}

/// Catalog tables that stay empty: fedsql has no sequences and no triggers.
const NEVER_FILLED: &[&str] = &["pg_sequence", "pg_trigger"];

/// Whether a subquery inner-joins a table in [`NEVER_FILLED`], so finds no row. SQLAlchemy
/// reads identity options from pg_sequence and psql a trigger's parent from pg_trigger,
/// with outer references DataFusion cannot decorrelate.
fn reads_never_filled_table(q: &Query) -> bool {
    let SetExpr::Select(select) = q.body.as_ref() else { return false };
    // An aggregate over no rows is a row (`count(*)` is 0), not NULL.
    let aggregates = select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
        _ => false,
    });
    if aggregates {
        return false;
    }
    let never_filled = |t: &TableFactor| {
        let TableFactor::Table { name, .. } = t else { return false };
        let last = name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase());
        last.is_some_and(|l| NEVER_FILLED.contains(&l.as_str()))
    };
    select.from.iter().any(|from| {
        never_filled(&from.relation)
            || from.joins.iter().any(|j| {
                matches!(j.join_operator, JoinOperator::Inner(_) | JoinOperator::Join(_) | JoinOperator::CrossJoin(_))
                    && never_filled(&j.relation)
            })
    })
}

/// The aggregated form of a one-column, non-aggregated `SELECT ... FROM ...`, if `q` is one.
fn aggregated(q: &Query) -> Option<Expr> {
    let SetExpr::Select(select) = q.body.as_ref() else { return None };
    let plain_group = matches!(&select.group_by, GroupByExpr::Expressions(g, m) if g.is_empty() && m.is_empty());
    if select.from.is_empty() || select.distinct.is_some() || select.having.is_some() || !plain_group {
        return None;
    }
    let [item] = select.projection.as_slice() else { return None };
    let value = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    if has_aggregate(value) || q.fetch.is_some() {
        return None;
    }
    let limit_one = match &q.limit_clause {
        None => false,
        Some(LimitClause::LimitOffset { limit: Some(Expr::Value(v)), offset: None, limit_by })
            if limit_by.is_empty() && matches!(&v.value, Value::Number(n, _) if n == "1") =>
        {
            true
        }
        Some(_) => return None,
    };
    let order = match q.order_by.as_ref().map(|o| &o.kind) {
        None => String::new(),
        Some(OrderByKind::Expressions(exprs)) if limit_one => {
            format!(" ORDER BY {}", exprs.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", "))
        }
        Some(_) => return None,
    };
    let first = format!("first_value({value}{order})");
    let aggregate = if limit_one { first } else { format!("{SINGLE_ROW}(count(*), {first})") };
    let mut inner = q.clone();
    inner.order_by = None;
    inner.limit_clause = None;
    let SetExpr::Select(select) = inner.body.as_mut() else { return None };
    let expr = Parser::new(&PostgreSqlDialect {}).try_with_sql(&aggregate).ok()?.parse_expr().ok()?;
    select.projection = vec![match item {
        SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias { expr, alias: alias.clone() },
        _ => SelectItem::UnnamedExpr(expr),
    }];
    let outer = take_outer_conditions(select);
    let subquery = Expr::Subquery(Box::new(inner));
    if outer.is_empty() {
        return Some(subquery);
    }
    // No row qualifies when an outer-only condition fails: the value is NULL then.
    let condition = outer.into_iter().reduce(|a, b| Expr::BinaryOp { left: Box::new(a), op: BinaryOperator::And, right: Box::new(b) })?;
    Some(Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen { condition, result: subquery }],
        else_result: None,
    })
}

/// Removes from the WHERE clause the conditions that name only the outer query's
/// columns (SQLAlchemy's `WHERE pg_attribute.atthasdef AND ...`): DataFusion cannot
/// decorrelate a subquery holding one.
fn take_outer_conditions(select: &mut Select) -> Vec<Expr> {
    let mut relations: Vec<Vec<String>> = Vec::new();
    for from in &select.from {
        for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
            let TableFactor::Table { name, alias, .. } = factor else { return Vec::new() };
            relations.push(match alias {
                Some(a) => vec![a.name.value.to_ascii_lowercase()],
                None => name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect(),
            });
        }
    }
    let Some(selection) = select.selection.take() else { return Vec::new() };
    let (outer, local): (Vec<Expr>, Vec<Expr>) =
        conjuncts(selection).into_iter().partition(|c| names_only_outer(c, &relations));
    select.selection = local.into_iter().reduce(|a, b| Expr::BinaryOp { left: Box::new(a), op: BinaryOperator::And, right: Box::new(b) });
    outer
}

fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut out = conjuncts(*left);
            out.extend(conjuncts(*right));
            out
        }
        Expr::Nested(inner) if matches!(*inner, Expr::BinaryOp { op: BinaryOperator::And, .. }) => conjuncts(*inner),
        e => vec![e],
    }
}

/// True when every column `e` names is qualified by a relation outside `relations`.
fn names_only_outer(e: &Expr, relations: &[Vec<String>]) -> bool {
    let mut outer = 0;
    let local = visit_expressions(e, |e| match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let qualifier: Vec<String> = parts[..parts.len() - 1].iter().map(|i| i.value.to_ascii_lowercase()).collect();
            if relations.iter().any(|r| r.ends_with(&qualifier)) {
                std::ops::ControlFlow::Break(())
            } else {
                outer += 1;
                std::ops::ControlFlow::Continue(())
            }
        }
        Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            std::ops::ControlFlow::Break(())
        }
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break();
    !local && outer > 0
}

fn has_aggregate(e: &Expr) -> bool {
    visit_expressions(e, |e| match e {
        Expr::Function(f) => {
            let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase());
            if name.is_some_and(|n| AGGREGATES.contains(&n.as_str())) {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        }
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> String {
        let stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        aggregate_scalar_subqueries(stmt).to_string()
    }

    #[test]
    fn one_row_subqueries_are_aggregated() {
        let out = rewrite("SELECT CASE WHEN a.x THEN (SELECT d.v FROM d WHERE d.id = a.id) END FROM a");
        assert!(out.contains("fedsql_single_row(count(*), first_value(d.v))"), "{out}");
        let out = rewrite("SELECT (SELECT t.oid FROM t WHERE t.a = o.a ORDER BY t.depth DESC LIMIT 1) FROM o");
        assert!(out.contains("(SELECT first_value(t.oid ORDER BY t.depth DESC) FROM t WHERE t.a = o.a)"), "{out}");
        // A condition on the outer row alone guards the subquery instead.
        let out = rewrite("SELECT (SELECT d.v FROM pg_catalog.d WHERE a.flag AND pg_catalog.d.id = a.id) FROM a");
        assert!(out.contains("CASE WHEN a.flag THEN (SELECT fedsql_single_row(count(*), first_value(d.v)) FROM pg_catalog.d WHERE pg_catalog.d.id = a.id) END"), "{out}");
        // Already aggregated, grouped or limited otherwise: left alone.
        for kept in [
            "SELECT (SELECT max(v) FROM d WHERE d.id = a.id) FROM a",
            "SELECT (SELECT v FROM d WHERE d.id = a.id GROUP BY v) FROM a",
            "SELECT (SELECT v FROM d LIMIT 2) FROM a",
        ] {
            assert_eq!(rewrite(kept), Parser::parse_sql(&PostgreSqlDialect {}, kept).unwrap()[0].to_string());
        }
    }
}
