//! Client queries DataFusion cannot plan, each answered by a statement of ours with the
//! same rows and parameters: the one registry of recognised client SQL. A query is
//! recognised by the shape of its parsed statement (its clauses and expressions, compared
//! as syntax trees), never by fragments of its text, so spacing, case and comments do not
//! matter and a client that asks something else is not caught by accident.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_expressions, Expr, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// One known client query.
struct KnownQuery {
    /// Whose query it is, for readers of this list.
    #[allow(dead_code)]
    client: &'static str,
    recognise: fn(&Statement) -> bool,
    /// What runs instead.
    answer: &'static str,
}

const KNOWN: &[KnownQuery] = &[KnownQuery {
    client: "asyncpg: type introspection (introspection.INTRO_LOOKUP_TYPES and _13)",
    recognise: asyncpg_type_lookup,
    answer: ASYNCPG_TYPE_LOOKUP,
}];

/// Our statement for a known client query; None for any other.
pub fn answer(stmt: &Statement) -> Option<Statement> {
    let known = KNOWN.iter().find(|k| (k.recognise)(stmt))?;
    Parser::parse_sql(&PostgreSqlDialect {}, known.answer).ok()?.pop()
}

fn expr(sql: &str) -> Expr {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).and_then(|mut p| p.parse_expr()).expect("a valid expression")
}

/// Whether `stmt` holds an expression equal to `wanted` (syntax trees; positions ignored).
fn holds(stmt: &Statement, wanted: &Expr) -> bool {
    visit_expressions(stmt, |e| if e == wanted { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }).is_break()
}

/// asyncpg's type introspection, sent for every result type it has no codec for, arrays
/// included: `WITH RECURSIVE typeinfo_tree(...)` over the types `ti.oid = any($1::oid[])`.
/// Its recursive CTE walks domains, ranges and composite types, with correlated
/// subqueries DataFusion cannot plan. fedsql's types are base types and arrays of them,
/// so the walk ends at the element types: the same rows come from ours.
fn asyncpg_type_lookup(stmt: &Statement) -> bool {
    let Statement::Query(q) = stmt else { return false };
    let Some(with) = &q.with else { return false };
    with.recursive
        && with.cte_tables.first().is_some_and(|c| c.alias.name.value == "typeinfo_tree")
        && holds(stmt, &expr("ti.oid = any($1::oid[])"))
}

/// Whether `stmt` is our answer to asyncpg's type lookup: its one parameter is an
/// `oid[]`, which arrow-pg's parameter decoding does not read.
pub fn is_type_lookup(stmt: &Statement) -> bool {
    let Statement::Query(q) = stmt else { return false };
    q.with.as_ref().and_then(|w| w.cte_tables.first()).is_some_and(|c| c.alias.name.value == "fedsql_asyncpg_types")
}

const ASYNCPG_TYPE_LOOKUP: &str = "
    WITH fedsql_asyncpg_types AS (
        SELECT t.oid, t.typelem FROM pg_catalog.pg_type t WHERE array_has(CAST($1 AS INT[]), t.oid)
    ), tree AS (
        SELECT oid, 0 AS depth FROM fedsql_asyncpg_types
        UNION ALL
        SELECT typelem AS oid, 1 AS depth FROM fedsql_asyncpg_types WHERE typelem <> 0
    )
    SELECT DISTINCT t.oid AS oid, ns.nspname AS ns, t.typname AS name, t.typtype AS kind,
        CAST(NULL AS INT) AS basetype, CASE WHEN t.typelem <> 0 THEN t.typelem END AS elemtype,
        e.typdelim AS elemdelim, CAST(NULL AS INT) AS range_subtype, CAST(NULL AS TEXT[]) AS attrtypoids,
        CAST(NULL AS TEXT[]) AS attrnames, tree.depth AS depth, CAST(NULL AS TEXT) AS basetype_name,
        e.typname AS elemtype_name, CAST(NULL AS TEXT) AS range_subtype_name
    FROM tree JOIN pg_catalog.pg_type t ON t.oid = tree.oid
    JOIN pg_catalog.pg_namespace ns ON ns.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typelem <> 0
    ORDER BY depth DESC";

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0)
    }

    #[test]
    fn asyncpg_lookup_is_recognised_by_shape() {
        let asyncpg = "WITH RECURSIVE typeinfo_tree(oid, depth) AS (
                SELECT ti.oid, 0 FROM pg_catalog.pg_type ti WHERE ti.oid = any($1::oid[])
                UNION ALL SELECT ti.oid, tt.depth + 1 FROM pg_catalog.pg_type ti, typeinfo_tree tt WHERE ti.oid = tt.oid)
            SELECT DISTINCT * FROM typeinfo_tree ORDER BY depth DESC";
        let ours = answer(&parsed(asyncpg)).expect("recognised");
        assert!(is_type_lookup(&ours));
        // Spelled differently, the same shape.
        let respelled = asyncpg.replace("any($1::oid[])", "ANY ( $1 :: oid [] )").replace('\n', " ");
        assert!(answer(&parsed(&respelled)).is_some());
        // Another predicate is another query.
        assert!(answer(&parsed(&asyncpg.replace("ti.oid = any($1::oid[])", "ti.oid = any($2::oid[])"))).is_none());
        assert!(answer(&parsed("SELECT 1")).is_none());
    }
}
