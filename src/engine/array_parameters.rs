//! `x = ANY($1)` with an untyped parameter: DataFusion plans it as `array_has($1, x)`
//! (`<`, `>`, `<>` as comparisons with `array_min($1)`/`array_max($1)`) and infers no
//! type for `$1`. Clients were told `unknown` where PostgreSQL says `x`'s array type
//! (`text[]`), and the text they sent was read as one string: `array_has(Utf8, Utf8)`
//! failed with 42883. Each such parameter becomes a list of `x`'s type, everywhere it is
//! named.
//!
//! A parameter the client declared a type for (in its Parse) has that type in the plan,
//! whatever the statement would infer, as in PostgreSQL (`engine::plan_typed_statement`
//! plans those before the first undeclared one with their types; `declared` gives the
//! others theirs).
//!
//! A `LIMIT $1` or `OFFSET $1` parameter, also left untyped, is a bigint, as PostgreSQL
//! types it (drivers that check types refused to send an integer for `unknown`).
//!
//! A parameter nothing gives a type to (`SELECT $1 AS s`) is text, as PostgreSQL resolves
//! `unknown`: it was described as `unknown` (705), which psycopg reads as bytes in binary
//! results. Its value was read as text already.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan};

/// The untyped parameter an array function reads, if `e` is one.
fn untyped_array(e: &Expr, functions: &[&str]) -> Option<String> {
    let Expr::ScalarFunction(f) = e else { return None };
    if !functions.contains(&f.func.name()) {
        return None;
    }
    match f.args.first() {
        Some(Expr::Placeholder(Placeholder { id, field: None })) => Some(id.clone()),
        _ => None,
    }
}

/// `(parameter, element type)` where `e` compares an untyped array parameter with a value.
fn element_of(e: &Expr, schema: &DFSchema) -> Option<(String, DataType)> {
    let known = |v: &Expr| v.get_type(schema).ok().filter(|t| !t.is_null());
    if let Some(id) = untyped_array(e, &["array_has"]) {
        let Expr::ScalarFunction(f) = e else { return None };
        return Some((id, known(f.args.get(1)?)?));
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else { return None };
    use datafusion::logical_expr::Operator::*;
    if !matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq) {
        return None;
    }
    let bounds = ["array_min", "array_max"];
    match (untyped_array(left, &bounds), untyped_array(right, &bounds)) {
        (Some(id), None) => Some((id, known(right)?)),
        (None, Some(id)) => Some((id, known(left)?)),
        _ => None,
    }
}

/// The schema expressions of `plan` are typed against: its inputs' together.
fn input_schema(plan: &LogicalPlan) -> Option<DFSchema> {
    let mut inputs = plan.inputs().into_iter();
    let mut schema = inputs.next()?.schema().as_ref().clone();
    for other in inputs {
        schema.merge(other.schema());
    }
    Some(schema)
}

/// `plan` with its placeholders of the types the client declared (`declared[n - 1]` for
/// `$n`).
pub fn declared(plan: LogicalPlan, declared: &[Option<DataType>]) -> Result<LogicalPlan> {
    if declared.iter().all(Option::is_none) {
        return Ok(plan);
    }
    retype(plan, |id, field| {
        let n = id.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)?;
        let t = declared.get(n).cloned().flatten()?;
        let same = field.as_ref().is_some_and(|f| f.data_type() == &t);
        (!same).then(|| Arc::new(Field::new("", t, true)))
    })
}

/// Types the array parameters of `plan` as lists of what they are compared with, a
/// `LIMIT`/`OFFSET` one as bigint, and the others nothing types as text.
pub fn infer(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut found: HashMap<String, FieldRef> = HashMap::new();
    let mut untyped_found = false;
    let untyped = |e: &Expr| e.exists(|e| Ok(matches!(e, Expr::Placeholder(Placeholder { field: None, .. })))).unwrap_or(false);
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Limit(limit) = node {
            for e in limit.skip.iter().chain(limit.fetch.iter()) {
                if let Expr::Placeholder(Placeholder { id, field: None }) = e.as_ref() {
                    found.entry(id.clone()).or_insert_with(|| Arc::new(Field::new("", DataType::Int64, true)));
                }
            }
        }
        // Most statements have no parameter: no schema is built for them.
        let mut any = false;
        node.apply_expressions(|e| {
            any |= untyped(e);
            Ok(if any { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })?;
        if !any {
            return Ok(TreeNodeRecursion::Continue);
        }
        untyped_found = true;
        if let Some(schema) = input_schema(node) {
            node.apply_expressions(|e| {
                e.apply(|e| {
                    if let Some((id, element)) = element_of(e, &schema) {
                        let list = DataType::List(Arc::new(Field::new_list_field(element, true)));
                        found.entry(id).or_insert_with(|| Arc::new(Field::new("", list, true)));
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })?;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if !untyped_found && found.is_empty() {
        return Ok(plan);
    }
    let text = Arc::new(Field::new("", DataType::Utf8, true));
    retype(plan, |id, field| field.is_none().then(|| found.get(id).cloned().unwrap_or_else(|| text.clone())))
}

/// `plan` with each placeholder `type_of` gives a field (from its id and its field) of
/// that field, and the schemas above it made again.
fn retype(plan: LogicalPlan, type_of: impl Fn(&str, &Option<FieldRef>) -> Option<FieldRef>) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let typed = node.map_expressions(|e| {
            e.transform(|e| match e {
                Expr::Placeholder(Placeholder { id, field }) => match type_of(&id, &field) {
                    Some(typed) => Ok(Transformed::yes(Expr::Placeholder(Placeholder { id, field: Some(typed) }))),
                    None => Ok(Transformed::no(Expr::Placeholder(Placeholder { id, field }))),
                },
                e => Ok(Transformed::no(e)),
            })
        })?;
        if typed.transformed {
            typed.data.recompute_schema().map(Transformed::yes)
        } else {
            Ok(typed)
        }
    })
    .map(|t| t.data)
}
