//! Result columns named as PostgreSQL names them: `count`, `version`, `int4`,
//! `?column?`, instead of DataFusion's `count(*)`, `version()`, `CAST(...)`,
//! `Int64(1)`. PostgreSQL also allows two columns of one name (`SELECT NULL, NULL`);
//! DataFusion does not, so a repeated name carries an invisible suffix that the wire
//! encoder removes.

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, Query, SelectItem, SetExpr, Statement, Value,
};

/// Marks a repeated column name; everything from it on is cut before the name is sent.
pub const REPEAT_MARK: char = '\u{2063}';

/// The prefix datafusion-pg-catalog gives a column a wildcard repeats.
const UPSTREAM_REPEAT: &str = "__alias_";

/// The name PostgreSQL gives an unaliased select-list expression, if it is not simply
/// the column DataFusion would name the same way.
fn pg_name(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => return None,
        Expr::Function(f) => f.name.0.last()?.as_ident()?.value.to_ascii_lowercase(),
        Expr::Cast { expr, data_type, .. } => match (pg_name(expr), expr.as_ref()) {
            (Some(n), _) if n != "?column?" => n,
            // Named after the column, as DataFusion does too; aliased so that a repeat
            // (`SELECT u, u::text`) can be told apart.
            (_, Expr::Identifier(i)) => i.value.clone(),
            (_, Expr::CompoundIdentifier(parts)) => parts.last()?.value.clone(),
            _ => type_name(data_type),
        },
        Expr::Nested(inner) => return pg_name(inner).or(Some("?column?".into())),
        Expr::Case { .. } => "case".into(),
        Expr::Array(_) => "array".into(),
        Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => "bool".into(),
        Expr::TypedString(t) => type_name(&t.data_type),
        Expr::Exists { .. } => "exists".into(),
        // Functions sqlparser reads as syntax of their own.
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Trim { .. } => "btrim".into(),
        _ => "?column?".into(),
    })
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Int2(_) | DataType::SmallInt(_) => "int2".into(),
        DataType::Int4(_) | DataType::Int(_) | DataType::Integer(_) => "int4".into(),
        DataType::Int8(_) | DataType::BigInt(_) => "int8".into(),
        DataType::Real | DataType::Float4 => "float4".into(),
        DataType::Float8 | DataType::DoublePrecision | DataType::Double(_) => "float8".into(),
        DataType::Numeric(_) | DataType::Decimal(_) => "numeric".into(),
        DataType::Boolean | DataType::Bool => "bool".into(),
        DataType::Varchar(_) | DataType::CharacterVarying(_) => "varchar".into(),
        DataType::Char(_) | DataType::Character(_) => "bpchar".into(),
        DataType::Timestamp(_, tz) => {
            if matches!(tz, datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz) {
                "timestamptz".into()
            } else {
                "timestamp".into()
            }
        }
        other => other.to_string().to_ascii_lowercase(),
    }
}

fn first_select(query: &mut Query) -> Option<&mut datafusion::sql::sqlparser::ast::Select> {
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(s) => return Some(s),
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => return None,
        }
    }
}

/// Aliases the unnamed expressions of a query's select list with PostgreSQL's names.
pub fn apply(stmt: &mut Statement) {
    let query = match stmt {
        Statement::Query(query) => query,
        // `COPY (query) TO STDOUT ... HEADER` names its columns the same way.
        Statement::Copy { source: datafusion::sql::sqlparser::ast::CopySource::Query(query), .. } => query,
        _ => return,
    };
    let Some(select) = first_select(query) else { return };
    // datafusion-pg-catalog's compatibility rules alias a column that a wildcard repeats
    // (`n.oid, n.*`) as `__alias_oid`; PostgreSQL shows both as `oid`.
    for item in select.projection.iter_mut() {
        if let SelectItem::ExprWithAlias { alias, .. } = item {
            if let Some(name) = alias.value.strip_prefix(UPSTREAM_REPEAT) {
                *alias = Ident::with_quote('"', format!("{name}{REPEAT_MARK}0"));
            }
        }
    }
    let mut used: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => p.last().map(|i| i.value.clone()),
            _ => None,
        })
        .collect();
    for item in select.projection.iter_mut() {
        let SelectItem::UnnamedExpr(expr) = item else { continue };
        let Some(name) = pg_name(expr) else { continue };
        let repeats = used.iter().filter(|u| u.split(REPEAT_MARK).next() == Some(name.as_str())).count();
        let alias = if repeats == 0 { name.clone() } else { format!("{name}{REPEAT_MARK}{repeats}") };
        used.push(alias.clone());
        *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', alias) };
    }
}

/// The name sent to the client for a result column.
pub fn wire_name(name: &str) -> &str {
    name.split(REPEAT_MARK).next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn names(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        apply(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn postgres_names() {
        assert_eq!(names("SELECT count(*), 1, a, t.b, x::int4 FROM t"),
            "SELECT count(*) AS \"count\", 1 AS \"?column?\", a, t.b, x::INT4 AS \"x\" FROM t");
        assert_eq!(names("SELECT NULL::int4, NULL::numeric, true"),
            "SELECT NULL::INT4 AS \"int4\", NULL::NUMERIC AS \"numeric\", true AS \"bool\"");
        let dup = names("SELECT now(), now()");
        assert!(dup.contains(&format!("AS \"now{REPEAT_MARK}1\"")), "{dup}");
        let cast = names("SELECT u, CAST(u AS TEXT) FROM t");
        assert!(cast.contains(&format!("AS \"u{REPEAT_MARK}1\"")), "{cast}");
        let wildcard = names("SELECT n.oid AS __alias_oid, n.* FROM n");
        assert_eq!(wildcard, format!("SELECT n.oid AS \"oid{REPEAT_MARK}0\", n.* FROM n"));
    }
}
