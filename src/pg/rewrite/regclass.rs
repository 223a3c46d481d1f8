//! `regclass` casts the compatibility rules leave alone.
//!
//! - `CAST(format('%I.%I', schema, table) AS regclass)` over columns (Metabase's field
//!   sync) becomes a lookup in pg_class: the compatibility rules only resolve literals.
//! - A relation OID shown as regclass (`conrelid::regclass` as a result column, or
//!   `::regclass::text`) is the relation's name in PostgreSQL; upstream plans the cast
//!   as the bare number. It becomes `fedsql_regclass(oid)`, the name as PostgreSQL
//!   prints it (psql's "Referenced by:" footer shows it).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, ArrayElemTypeDef, BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, SelectItem, SetExpr, Statement, TableFactor, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::pg::catalog::REGCLASS_NAME;
use crate::pg::functions::{REGTYPES_NAME, REGTYPE_NAME};

/// `schema` and `table` when `e` is `format('%I.%I', schema, table)`.
fn qualified_name_parts(e: &Expr) -> Option<(&Expr, &Expr)> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    let FunctionArguments::List(list) = &f.args else { return None };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match (name.as_str(), args.as_slice()) {
        ("format", [pattern, schema, table]) => match pattern {
            Expr::Value(v) if matches!(&v.value, Value::SingleQuotedString(p) if p == "%I.%I") => Some((schema, table)),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn with_regclass_lookups(mut stmt: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut stmt, |e| {
        if let Expr::Cast { expr, data_type: DataType::Regclass, .. } = e {
            if let Some((schema, table)) = qualified_name_parts(expr) {
                // Aliases of our own: the operands may name the query's `c` or `n`.
                let lookup = format!(
                    "(SELECT max(fedsql_rc.oid) FROM pg_catalog.pg_class fedsql_rc \
                     JOIN pg_catalog.pg_namespace fedsql_rn ON fedsql_rc.relnamespace = fedsql_rn.oid \
                     WHERE fedsql_rn.nspname = {schema} AND fedsql_rc.relname = {table})"
                );
                if let Ok(parsed) = Parser::new(&PostgreSqlDialect {}).try_with_sql(&lookup).and_then(|mut p| p.parse_expr()) {
                    *e = parsed;
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    stmt
}
/// Whether `query` calls the function `name` (its last name part, any case).
fn calls(query: &datafusion::sql::sqlparser::ast::Query, name: &str) -> bool {
    datafusion::sql::sqlparser::ast::visit_expressions(query, |e| match e {
        Expr::Function(f) if f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case(name)) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The compatibility rules resolve an unqualified `'name'::regclass` in the current
/// schema only; PostgreSQL searches pg_catalog first (`'pg_class'::regclass`, which
/// pgjdbc and Metabase compare `pg_description.classoid` with). Within the lookup they
/// substitute (recognised by its `parse_ident` of the name), pg_catalog is searched too.
pub(super) fn with_catalog_search(mut stmt: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut stmt, |e| {
        if let Expr::Subquery(q) = e {
            if calls(q.as_ref(), "parse_ident") {
                let _ = visit_expressions_mut(q.as_mut(), |inner| {
                    if let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = inner {
                        let current = matches!(right.as_ref(), Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("current_schema"));
                        let namespace = matches!(left.as_ref(), Expr::CompoundIdentifier(p) if p.last().is_some_and(|i| i.value == "nspname"));
                        if current && namespace {
                            let catalog = Expr::Value(Value::SingleQuotedString("pg_catalog".into()).into());
                            *inner = Expr::InList { expr: left.clone(), list: vec![catalog, *right.clone()], negated: false };
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        ControlFlow::<()>::Continue(())
    });
    stmt
}

/// pg_type's function columns (`typinput`, ...) hold function names as text here, and
/// the compatibility rules resolve `'array_in'::regproc` to a pg_proc OID: comparing
/// the two fails ("Cannot cast string 'jsonb_in' to value of Int32", from pgjdbc's type
/// lookup `typinput = 'pg_catalog.array_in'::regproc`). Such a comparison compares names.
pub(super) fn with_regproc_names(mut stmt: Statement) -> Statement {
    const FUNCTION_COLUMNS: &[&str] =
        &["typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout", "typanalyze"];
    let _ = visit_expressions_mut(&mut stmt, |e| {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = e {
            let column = |x: &Expr| {
                let name = match x {
                    Expr::Identifier(i) => Some(&i.value),
                    Expr::CompoundIdentifier(parts) => parts.last().map(|i| &i.value),
                    _ => None,
                };
                name.is_some_and(|n| FUNCTION_COLUMNS.contains(&n.to_ascii_lowercase().as_str()))
            };
            let bare = |name: String| Expr::Value(Value::SingleQuotedString(name.rsplit('.').next().unwrap_or(&name).into()).into());
            if let (true, Some(name)) = (column(left), proc_lookup_name(right)) {
                **right = bare(name);
            } else if let (true, Some(name)) = (column(right), proc_lookup_name(left)) {
                **left = bare(name);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    stmt
}

/// The function name in the compatibility rules' regproc lookup,
/// `(SELECT oid FROM pg_catalog.pg_proc WHERE proname = 'name')`.
fn proc_lookup_name(e: &Expr) -> Option<String> {
    let Expr::Subquery(q) = e else { return None };
    let SetExpr::Select(select) = q.body.as_ref() else { return None };
    let [from] = select.from.as_slice() else { return None };
    let TableFactor::Table { name, .. } = &from.relation else { return None };
    if !name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("pg_proc")) {
        return None;
    }
    let Some(Expr::BinaryOp { left, op: BinaryOperator::Eq, right }) = &select.selection else { return None };
    let is_proname = matches!(left.as_ref(), Expr::Identifier(i) if i.value == "proname");
    let mut value = right.as_ref();
    while let Expr::Cast { expr, .. } = value {
        value = expr;
    }
    match (is_proname, value) {
        (true, Expr::Value(v)) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The function that prints an OID of type `t` by name, for `regclass` and `regtype`
/// (qualified or not).
fn name_function(t: &DataType) -> Option<&'static str> {
    let name = t.to_string().to_ascii_lowercase();
    match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
        "regclass" => Some(REGCLASS_NAME),
        "regtype" => Some(REGTYPE_NAME),
        _ => None,
    }
}

/// Whether `t` is `regtype[]`.
fn is_regtype_array(t: &DataType) -> bool {
    match t {
        DataType::Array(ArrayElemTypeDef::SquareBracket(inner, _) | ArrayElemTypeDef::AngleBracket(inner)) => {
            name_function(inner) == Some(REGTYPE_NAME)
        }
        _ => false,
    }
}

fn is_text(t: &DataType) -> bool {
    let name = t.to_string().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    matches!(t, DataType::Text | DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::String(_))
        || name == "text"
}

/// The operand of `CAST(e AS regclass)` (or `regtype`) when `e` is an OID, not a name
/// to resolve, and the function that prints it.
fn shown_oid(e: &Expr) -> Option<(&Expr, &'static str)> {
    let Expr::Cast { expr, data_type, .. } = e else { return None };
    let literal_name = matches!(expr.as_ref(), Expr::Value(v)
        if matches!(v.value, Value::SingleQuotedString(_) | Value::Placeholder(_)));
    if literal_name {
        return None;
    }
    name_function(data_type).map(|f| (expr.as_ref(), f))
}

fn call(function: &str, arg: &Expr) -> Expr {
    super::function(function, vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg.clone()))])
}

/// Result columns that are bare regclass casts show names.
fn name_result_columns(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                match item {
                    SelectItem::UnnamedExpr(e) => {
                        let Some((oid, function)) = shown_oid(e) else { continue };
                        // PostgreSQL names the column after the cast's operand, or its type.
                        let type_name = if function == REGTYPE_NAME { "regtype" } else { "regclass" };
                        let alias = match oid {
                            Expr::Identifier(i) => i.clone(),
                            Expr::CompoundIdentifier(parts) => parts.last().cloned().unwrap_or_else(|| Ident::new(type_name)),
                            _ => Ident::new(type_name),
                        };
                        *item = SelectItem::ExprWithAlias { expr: call(function, oid), alias };
                    }
                    SelectItem::ExprWithAlias { expr, .. } => {
                        if let Some((oid, function)) = shown_oid(expr) {
                            *expr = call(function, oid);
                        }
                    }
                    _ => {}
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_result_columns(left);
            name_result_columns(right);
        }
        SetExpr::Query(q) => name_result_columns(q.body.as_mut()),
        _ => {}
    }
}

pub(super) fn with_regclass_names(mut stmt: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut stmt, |e| {
        // `CAST(CAST(oid AS regclass) AS text)`, anywhere.
        if let Expr::Cast { expr, data_type, .. } = e {
            if let (Some((oid, function)), true) = (shown_oid(expr), is_text(data_type)) {
                *e = call(function, oid);
            }
        }
        // `proallargtypes::regtype[]` (pgcli's function list): pg_proc keeps type OID
        // arrays as text here, which no cast reads as OIDs.
        if let Expr::Cast { expr, data_type, .. } = e {
            if is_regtype_array(data_type) && !matches!(expr.as_ref(), Expr::Value(_)) {
                *e = call(REGTYPES_NAME, expr);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    // Only the statement's own result: inside, an OID stays an OID to compare and join.
    if let Statement::Query(q) = &mut stmt {
        name_result_columns(q.body.as_mut());
    }
    stmt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        with_regclass_names(stmt).to_string()
    }

    #[test]
    fn shown_oids_become_names_and_compared_ones_stay() {
        assert_eq!(
            rewritten("SELECT conrelid::pg_catalog.regclass AS ontable, c.oid::regclass FROM t c"),
            format!("SELECT {REGCLASS_NAME}(conrelid) AS ontable, {REGCLASS_NAME}(c.oid) AS oid FROM t c")
        );
        assert_eq!(
            rewritten("SELECT x FROM t WHERE CAST(CAST(attrelid AS REGCLASS) AS TEXT) = 'a'"),
            format!("SELECT x FROM t WHERE {REGCLASS_NAME}(attrelid) = 'a'")
        );
        assert_eq!(
            rewritten("SELECT COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[], prorettype::regtype::text AS r, atttypid::regtype FROM p"),
            format!("SELECT COALESCE({REGTYPES_NAME}(proallargtypes), {REGTYPES_NAME}(proargtypes))::TEXT[], {REGTYPE_NAME}(prorettype) AS r, {REGTYPE_NAME}(atttypid) AS atttypid FROM p")
        );
        let kept = "SELECT conrelid = '16390'::regclass AS same FROM t WHERE c = 'x'::regclass AND p.prorettype::regtype <> 'trigger'::regtype";
        assert_eq!(rewritten(kept), Parser::parse_sql(&PostgreSqlDialect {}, kept).unwrap()[0].to_string());
    }
}
