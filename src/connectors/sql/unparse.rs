//! Plan shapes DataFusion's unparser spells wrongly, rewritten into ones it spells right.
//!
//! Decorrelated subqueries group by a constant (`true AS __always_true`); PostgreSQL
//! rejects `GROUP BY true` ("non-integer constant in GROUP BY") and both read a number
//! there, or in ORDER BY, as a column position: `ORDER BY 1 + 1, id`, folded to
//! `ORDER BY 2, id`, sorted by the second column and a LIMIT returned other rows (the
//! differential tester), and a kept plan's `ORDER BY $1` is bound to a number after
//! this rewrite. `CASE WHEN true THEN true END` is the same constant as an expression,
//! which both group and sort by as DataFusion does, and which the engine can still run
//! where the aggregate stays local (DataFusion's `coalesce` cannot: it expects to be
//! simplified first, and failed XX000 there).
//!
//! `push_down_filter` moves a filter below a `SubqueryAlias`, renaming its columns to the
//! inner relation's (`t.id` becomes `sales.id`). Over a derived table (a LIMIT, an
//! aggregate, ...) the unparser then writes `FROM (SELECT ... LIMIT 2) AS t WHERE
//! sales.id > 1`, which no database accepts. Lifting such a filter back above the alias,
//! named by the alias again, gives the statement the user wrote.
//!
//! A projection over a LIMIT over a table is written `SELECT t.c AS x FROM (SELECT ...
//! LIMIT 1) AS derived_limit`, and so is a table read with a row limit of its own (the
//! optimizer copies a LIMIT into the scan): the qualifier names a relation the FROM no
//! longer exposes (`SELECT name AS n FROM crm.public.members LIMIT 1` failed on
//! PostgreSQL). Computing the projection below the limit, and leaving the row limit to
//! the LIMIT alone, is the same result, written plainly. Where a derived table cannot be
//! avoided (a LIMIT over a sort over a projection), `derived_names` repoints the
//! references in the SQL.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::error::Result;
use datafusion::logical_expr::{lit, Aggregate, Case, Expr, FetchType, Filter, LogicalPlan, Projection, SkipType, SubqueryAlias};

/// Whether the unparser writes `plan` as a derived table rather than a plain `FROM table`.
fn derived(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => false,
        LogicalPlan::Filter(f) => derived(&f.input),
        _ => true,
    }
}

/// `predicate`, written over `alias`'s input, in the alias's own column names.
fn renamed(predicate: Expr, alias: &SubqueryAlias) -> Result<Expr> {
    let inner = alias.input.schema();
    predicate
        .transform(|e| match e {
            Expr::Column(c) => match inner.maybe_index_of_column(&c) {
                Some(i) => {
                    let (q, f) = alias.schema.qualified_field(i);
                    Ok(Transformed::yes(Expr::Column(Column::new(q.cloned(), f.name()))))
                }
                None => Ok(Transformed::no(Expr::Column(c))),
            },
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}

/// The federated plan in shapes the unparser writes as valid SQL.
pub fn for_unparser(plan: LogicalPlan) -> Result<LogicalPlan> {
    // One walk, children first: each rule sees its inputs already rewritten.
    plan.transform_up(|node| {
        shadowed_scan_alias(node)?
            .transform_data(aggregate_over_picked_columns)?
            .transform_data(lift_filter_over_alias)?
            .transform_data(constant_group_keys_as_expressions)?
            .transform_data(constant_sort_keys_as_expressions)?
            .transform_data(merged_column_projection)?
            .transform_data(named_aggregates)?
            .transform_data(named_projection)
    })
    .map(|t| t.data)
}

/// An aggregate whose expression was rewritten keeps its old name with an alias
/// (`sum(CAST(x AS numeric)) AS "sum(crm.public.t.x)"`: the exact sum, type coercion).
/// datafusion-federation then renames the table inside the columns that read it by name
/// (`sum(public.t.x)`, the source's own table name) but not inside the alias, so the
/// statement's own plan failed (`SELECT sum(member_id) FROM crm.public.members`: 42703 "No
/// field named sum(public.members.member_id)"). Such aggregates take a name with no table
/// in it, the columns that read them follow, and the top gives every column its name back.
/// Done on each subtree as it is sent (`pushdown::federated`); what stays in the engine
/// keeps its names.
pub fn neutral_aggregate_names(plan: LogicalPlan) -> Result<LogicalPlan> {
    let original = plan.schema().clone();
    let mut renamed: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let plan = plan
        .transform_up(|node| {
            let node = if renamed.is_empty() {
                Transformed::no(node)
            } else {
                node.map_expressions(|e| {
                    e.transform(|e| match e {
                        Expr::Column(c) if renamed.contains_key(&c.name) => {
                            let name = renamed[&c.name].clone();
                            Ok(Transformed::yes(Expr::Column(Column::new(c.relation, name))))
                        }
                        e => Ok(Transformed::no(e)),
                    })
                })?
            };
            let node = node.transform_data(|node| {
                let LogicalPlan::Aggregate(agg) = &node else { return Ok(Transformed::no(node)) };
                // The SQL planner puts a query's own aliases above the aggregate: one in it
                // keeps a rewritten expression's name. Only a name with a qualified column in
                // it (a `.`) holds a table name federation would rename.
                let kept = |e: &Expr| matches!(e, Expr::Alias(a) if a.relation.is_none() && a.name.contains('.'));
                if !agg.aggr_expr.iter().chain(&agg.group_expr).any(kept) {
                    return Ok(Transformed::no(node));
                }
                let mut neutral = |exprs: &[Expr]| -> Vec<Expr> {
                    exprs
                        .iter()
                        .map(|e| match e {
                            Expr::Alias(a) if kept(e) => {
                                // One old name, one new name: columns are renamed by name.
                                let next = format!("fedsql_aggregate_{}", renamed.len());
                                let name = renamed.entry(a.name.clone()).or_insert(next).clone();
                                a.expr.as_ref().clone().alias(name)
                            }
                            other => other.clone(),
                        })
                        .collect()
                };
                let (keys, aggregates) = (neutral(&agg.group_expr), neutral(&agg.aggr_expr));
                let rebuilt = Aggregate::try_new(agg.input.clone(), keys, aggregates)?;
                Ok(Transformed::yes(LogicalPlan::Aggregate(rebuilt)))
            })?;
            // Nodes above a renamed aggregate (a SubqueryAlias too) see its new names.
            if node.transformed || !renamed.is_empty() {
                node.data.recompute_schema().map(Transformed::yes)
            } else {
                Ok(node)
            }
        })?
        .data;
    if renamed.is_empty() || plan.schema().fields().iter().zip(original.fields()).all(|(a, b)| a.name() == b.name()) {
        return Ok(plan);
    }
    let exprs = plan
        .schema()
        .iter()
        .zip(original.iter())
        .map(|((q, f), (oq, of))| Expr::Column(Column::from((q, f))).alias_qualified(oq.cloned(), of.name()))
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?))
}

/// Whether the unparser writes `plan` as one plain SELECT's FROM (tables, joined or
/// not), WHERE and ORDER BY.
fn plain_select(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Sort(s) => s.fetch.is_none() && plain_select(&s.input),
        LogicalPlan::Join(j) => plain_relation(&j.left) && plain_relation(&j.right),
        other => plain_relation(other),
    }
}

/// A table read, maybe aliased or filtered. A row limit of its own (a LIMIT in a
/// subquery) makes it a derived table.
fn plain_relation(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => scan.fetch.is_none(),
        LogicalPlan::Filter(f) => plain_select(&f.input),
        LogicalPlan::SubqueryAlias(a) => matches!(a.input.as_ref(), LogicalPlan::TableScan(_)),
        _ => false,
    }
}

/// `Projection(Limit(t))` as `Limit(Projection(t))` when `t` is a plain table read.
fn projection_below_limit(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(p) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Limit(limit) = p.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    if !plain_select(&limit.input) {
        return Ok(Transformed::no(node));
    }
    let projected = Projection::try_new_with_schema(p.expr.clone(), limit.input.clone(), p.schema.clone())?;
    let mut limited = limit.clone();
    limited.input = Arc::new(LogicalPlan::Projection(projected));
    Ok(Transformed::yes(LogicalPlan::Limit(limited)))
}

/// Under a LIMIT, the row limits the optimizer copied into the sort and the table read
/// go: the LIMIT keeps them. A scan with its own limit is written as a derived table, and
/// a sort's limit (offset plus count) overwrote the LIMIT's count: `LIMIT 1 OFFSET 1`
/// went out as `LIMIT 2 OFFSET 1`.
/// Only a copy goes: a row limit equal to the LIMIT's offset plus count, reached through
/// projections alone (a user's own inner LIMIT differs, or sits below a filter).
fn scan_limit_left_to_limit(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    fn unlimited(plan: LogicalPlan, copied: usize) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::TableScan(mut scan) if scan.fetch == Some(copied) => {
                scan.fetch = None;
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            LogicalPlan::Sort(mut sort) if sort.fetch == Some(copied) => {
                sort.fetch = None;
                Ok(Transformed::yes(LogicalPlan::Sort(sort)))
            }
            LogicalPlan::Projection(_) => plan.map_children(|c| unlimited(c, copied)),
            other => Ok(Transformed::no(other)),
        }
    }
    let LogicalPlan::Limit(limit) = &node else {
        return Ok(Transformed::no(node));
    };
    let (Ok(SkipType::Literal(skip)), Ok(FetchType::Literal(Some(fetch)))) = (limit.get_skip_type(), limit.get_fetch_type())
    else {
        return Ok(Transformed::no(node));
    };
    let copied = skip + fetch;
    node.map_children(|c| unlimited(c, copied))
}

/// A subtree that goes to the source whole, LIMITs included, in shapes the unparser
/// writes right. Only for such subtrees: a LIMIT kept in the engine must leave the row
/// limits it copied below in place, or the source would be read whole.
pub fn pushed_limits(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| scan_limit_left_to_limit(node)?.transform_data(projection_below_limit))
        .map(|t| t.data)
}

/// A projection over a projection is folded into one, the lower expressions written into
/// the upper ones: the unparser writes the lower one as a derived table, yet keeps the
/// upper one's column qualifiers (`SELECT q3.nv - 5 FROM (SELECT ..., CAST(NULL AS
/// DECIMAL) AS nv ...) AS derived_projection`, after the optimizer replaced an empty
/// LEFT JOIN side `q3` by NULLs). A volatile lower expression (`random()`) is not copied.
fn merged_column_projection(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(upper) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Projection(lower) = upper.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    if lower.expr.iter().any(Expr::is_volatile) {
        return Ok(Transformed::no(node));
    }
    let Some(exprs) = inlined(upper, lower)? else {
        return Ok(Transformed::no(node));
    };
    let merged = Projection::try_new(exprs, lower.input.clone())?;
    Ok(Transformed::yes(LogicalPlan::Projection(merged)))
}

/// `upper`'s expressions written over `lower`'s input, named as `upper` names them.
fn inlined(upper: &Projection, lower: &Projection) -> Result<Option<Vec<Expr>>> {
    let mut complete = true;
    let exprs = upper
        .expr
        .iter()
        .zip(upper.schema.iter())
        .map(|(e, (q, f))| {
            let value = e
                .clone()
                .unalias()
                .transform(|x| match x {
                    Expr::Column(c) => match lower.schema.maybe_index_of_column(&c) {
                        Some(i) => Ok(Transformed::yes(lower.expr[i].clone().unalias())),
                        None => {
                            complete = false;
                            Ok(Transformed::no(Expr::Column(c)))
                        }
                    },
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            Ok(value.alias_qualified(q.cloned(), f.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(complete.then_some(exprs))
}

/// Every computed column of a projection named by an alias of its own, outermost.
///
/// Type coercion wraps an aliased expression in a cast (`CAST(c.w AS v AS Int64)`, from
/// `x IN (SELECT c.w AS v ...)` over a wider `x`): the column keeps the name `v`, but the
/// unparser drops aliases inside expressions and wrote `SELECT CAST(c.w AS BIGINT)` under a
/// derived table read as `__correlated_sq_1.v`, which no source accepts.
fn named_projection(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(p) = &node else {
        return Ok(Transformed::no(node));
    };
    let nested = |e: &Expr| {
        let mut found = false;
        let _ = e.apply(|x| {
            found = matches!(x, Expr::Alias(_));
            Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        });
        found
    };
    let inner_alias = |e: &Expr| match e {
        Expr::Alias(a) => nested(&a.expr),
        Expr::Column(_) => false,
        other => nested(other),
    };
    if !p.expr.iter().any(inner_alias) {
        return Ok(Transformed::no(node));
    }
    let exprs = p
        .expr
        .iter()
        .zip(p.schema.iter())
        .map(|(e, (q, f))| {
            if inner_alias(e) {
                e.clone().unalias_nested().data.alias_qualified(q.cloned(), f.name())
            } else {
                e.clone()
            }
        })
        .collect();
    let projection = Projection::try_new_with_schema(exprs, p.input.clone(), p.schema.clone())?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

/// A projection over an aggregate that passes an aggregate on as a bare column
/// (`sum(x.amt)`) is written `SELECT sum(x.amt)`, which a source names `sum`, not
/// `sum(x.amt)` as the query above it reads: such columns get their name as an alias.
fn named_aggregates(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(p) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Aggregate(agg) = p.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    let keys = agg.group_expr.len();
    let is_aggregate = |c: &Column| agg.schema.maybe_index_of_column(c).is_some_and(|i| i >= keys);
    if !p.expr.iter().any(|e| matches!(e, Expr::Column(c) if is_aggregate(c))) {
        return Ok(Transformed::no(node));
    }
    let exprs = p
        .expr
        .iter()
        .map(|e| match e {
            Expr::Column(c) if is_aggregate(c) => e.clone().alias_qualified(c.relation.clone(), c.name.clone()),
            other => other.clone(),
        })
        .collect();
    let projection = Projection::try_new(exprs, p.input.clone())?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

/// A literal, or a parameter (bound to one later).
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Literal(..) | Expr::Placeholder(_) => true,
        Expr::Alias(a) => is_constant(&a.expr),
        _ => false,
    }
}

/// `e` as an expression no source reads as a column position.
fn constant_as_expression(e: Expr) -> Expr {
    Expr::Case(Case::new(None, vec![(Box::new(lit(true)), Box::new(e))], None))
}

fn constant_sort_keys_as_expressions(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Sort(sort) = &node else {
        return Ok(Transformed::no(node));
    };
    if !sort.expr.iter().any(|s| is_constant(&s.expr)) {
        return Ok(Transformed::no(node));
    }
    let LogicalPlan::Sort(mut sort) = node else { unreachable!() };
    for s in &mut sort.expr {
        if is_constant(&s.expr) {
            s.expr = constant_as_expression(s.expr.clone().unalias());
        }
    }
    Ok(Transformed::yes(LogicalPlan::Sort(sort)))
}

fn constant_group_keys_as_expressions(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Aggregate(agg) = &node else {
        return Ok(Transformed::no(node));
    };
    if !agg.group_expr.iter().any(is_constant) || agg.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(Transformed::no(node));
    }
    let keys = agg
        .group_expr
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !is_constant(e) {
                return e.clone();
            }
            let (q, f) = agg.schema.qualified_field(i);
            constant_as_expression(e.clone().unalias()).alias_qualified(q.cloned(), f.name())
        })
        .collect();
    let keyed = Aggregate::try_new(agg.input.clone(), keys, agg.aggr_expr.clone())?;
    Ok(Transformed::yes(LogicalPlan::Aggregate(keyed)))
}

/// `(SELECT c.x ... FROM t AS c WHERE ...) AS q`: the alias `c` is seen only by the
/// projection over the table read. When the unparser makes that projection a derived
/// table, it writes the table as `t AS q` but keeps `c` in the read's own filters
/// (`FROM t AS q WHERE c.label = ...`, which no source accepts). Without the inner alias,
/// the projection names the table itself, and the statement reads `FROM t AS q WHERE
/// q.label = ...`. Done where nothing above can tell: under an alias of its own, or when
/// every column the projection gives is named by an alias.
fn shadowed_scan_alias(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    match &node {
        LogicalPlan::SubqueryAlias(outer) => {
            let LogicalPlan::Projection(p) = outer.input.as_ref() else {
                return Ok(Transformed::no(node));
            };
            let Some(projection) = over_unaliased_scan(p)? else {
                return Ok(Transformed::no(node));
            };
            let alias = SubqueryAlias::try_new(Arc::new(LogicalPlan::Projection(projection)), outer.alias.clone())?;
            if !same_columns(&alias.schema, &outer.schema) {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(LogicalPlan::SubqueryAlias(alias)))
        }
        LogicalPlan::Projection(p) => match over_unaliased_scan(p)? {
            Some(projection) if same_columns(&projection.schema, &p.schema) => {
                Ok(Transformed::yes(LogicalPlan::Projection(projection)))
            }
            _ => Ok(Transformed::no(node)),
        },
        _ => Ok(Transformed::no(node)),
    }
}

/// The same qualified names and types (nullability aside: what this module makes is only
/// ever unparsed).
fn same_columns(a: &DFSchema, b: &DFSchema) -> bool {
    a.fields().len() == b.fields().len()
        && a.iter().zip(b.iter()).all(|((qa, fa), (qb, fb))| qa == qb && fa.name() == fb.name() && fa.data_type() == fb.data_type())
}

/// `p` over `SubqueryAlias(c, TableScan)`, written over the table read itself.
fn over_unaliased_scan(p: &Projection) -> Result<Option<Projection>> {
    let LogicalPlan::SubqueryAlias(inner) = p.input.as_ref() else {
        return Ok(None);
    };
    let LogicalPlan::TableScan(scan) = inner.input.as_ref() else {
        return Ok(None);
    };
    let table = scan.table_name.clone();
    let exprs = p
        .expr
        .iter()
        .zip(p.schema.iter())
        .map(|(e, (_, f))| {
            let requalified = e
                .clone()
                .transform(|x| match x {
                    Expr::Column(c) if c.relation.as_ref() == Some(&inner.alias) => {
                        Ok(Transformed::yes(Expr::Column(Column::new(Some(table.clone()), c.name))))
                    }
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            // The column keeps the name the plan above reads.
            Ok(match requalified {
                Expr::Column(ref c) if c.name == *f.name() => requalified,
                Expr::Alias(_) => requalified,
                other => other.alias(f.name()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Projection::try_new(exprs, inner.input.clone())?))
}

/// An aggregate reads its input's columns by name, so a projection under it that only
/// picks columns is not needed. The unparser writes one as a derived table that lists every
/// picked column, `(SELECT b.id, ..., a.id, ...) AS derived_projection`, which MySQL and
/// PostgreSQL reject when two joined tables share a column name.
fn aggregate_over_picked_columns(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Aggregate(agg) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Projection(p) = agg.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    if !p.expr.iter().all(|e| matches!(e, Expr::Column(_))) {
        return Ok(Transformed::no(node));
    }
    let Ok(flat) = Aggregate::try_new(p.input.clone(), agg.group_expr.clone(), agg.aggr_expr.clone()) else {
        return Ok(Transformed::no(node));
    };
    if flat.schema != agg.schema {
        return Ok(Transformed::no(node));
    }
    Ok(Transformed::yes(LogicalPlan::Aggregate(flat)))
}

/// Lifts a filter that sits between an alias and a derived table above the alias.
fn lift_filter_over_alias(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::SubqueryAlias(alias) = &node else {
        return Ok(Transformed::no(node));
    };
    let LogicalPlan::Filter(filter) = alias.input.as_ref() else {
        return Ok(Transformed::no(node));
    };
    if !derived(&filter.input) {
        return Ok(Transformed::no(node));
    }
    let below = SubqueryAlias::try_new(filter.input.clone(), alias.alias.clone())?;
    let predicate = renamed(filter.predicate.clone(), &below)?;
    let lifted = Filter::try_new(predicate, Arc::new(LogicalPlan::SubqueryAlias(below)))?;
    Ok(Transformed::yes(LogicalPlan::Filter(lifted)))
}
