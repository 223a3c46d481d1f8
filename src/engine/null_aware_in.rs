//! `x [NOT] IN (subquery)` anywhere but as a WHERE conjunct of its own (under OR, NOT,
//! CASE, in a select list) is planned by DataFusion as a mark join, whose mark is only
//! true or false: `a = 1 OR x NOT IN (SELECT w ...)` kept every row when `w` held a NULL,
//! where SQL's answer is NULL (the row is dropped). Such a test is rewritten into counts
//! over the subquery, which spell SQL's three-valued answer exactly:
//!
//! `x NOT IN (S)`: TRUE if S is empty; else NULL if x is NULL; else FALSE if S holds x;
//! else NULL if S holds a NULL; else TRUE. `x IN (S)` is its negation.
//!
//! A conjunct of its own stays as it is: DataFusion plans it as a null-aware anti join
//! (or a semi join), which is exact.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::functions_aggregate::count::count_all;
use datafusion::logical_expr::expr::InSubquery;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    when, Expr, Filter, LogicalPlan, LogicalPlanBuilder, Subquery,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::lit;

#[derive(Debug, Default)]
pub struct NullAwareInSubquery;

/// `count(*)` of `plan` (filtered by `filter`), as a scalar subquery.
fn count(plan: &Arc<LogicalPlan>, filter: Option<Expr>, outer_refs: Vec<Expr>) -> Result<Expr> {
    let mut builder = LogicalPlanBuilder::from(plan.as_ref().clone());
    if let Some(f) = filter {
        builder = builder.filter(f)?;
    }
    let counted = builder.aggregate(Vec::<Expr>::new(), vec![count_all()])?.build()?;
    Ok(Expr::ScalarSubquery(Subquery { subquery: Arc::new(counted), outer_ref_columns: outer_refs, spans: Default::default() }))
}

/// `x` as seen from inside a subquery: every column an outer reference.
fn outer(x: &Expr, schema: &DFSchema) -> Result<(Expr, Vec<Expr>)> {
    let mut refs = Vec::new();
    let e = x
        .clone()
        .transform(|e| match e {
            Expr::Column(c) => {
                let (_, field) = schema.qualified_field_from_column(&c)?;
                let r = Expr::OuterReferenceColumn(field.clone(), c);
                refs.push(r.clone());
                Ok(Transformed::yes(r))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok((e, refs))
}

fn three_valued(test: InSubquery, schema: &DFSchema) -> Result<Expr> {
    let InSubquery { expr, subquery, negated } = test;
    let plan = subquery.subquery.clone();
    let (qualifier, field) = plan.schema().qualified_field(0);
    let y = Expr::Column(Column::new(qualifier.cloned(), field.name()));
    let (x_inside, x_refs) = outer(&expr, schema)?;
    let mut eq_refs = subquery.outer_ref_columns.clone();
    eq_refs.extend(x_refs);
    let all = count(&plan, None, subquery.outer_ref_columns.clone())?;
    let equal = count(&plan, Some(y.clone().eq(x_inside)), eq_refs)?;
    let nulls = count(&plan, Some(y.is_null()), subquery.outer_ref_columns.clone())?;
    let unknown = Expr::Literal(ScalarValue::Boolean(None), None);
    let zero = || lit(0i64);
    // x NOT IN (S)
    let not_in = when(all.eq(zero()), lit(true))
        .when(expr.as_ref().clone().is_null(), unknown.clone())
        .when(equal.gt(zero()), lit(false))
        .when(nulls.gt(zero()), unknown)
        .otherwise(lit(true))?;
    Ok(if negated { not_in } else { Expr::Not(Box::new(not_in)) })
}

fn rewrite_all(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    e.transform_up(|e| match e {
        Expr::InSubquery(test) => Ok(Transformed::yes(three_valued(test, schema)?)),
        other => Ok(Transformed::no(other)),
    })
}

fn contains_in_subquery(e: &Expr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        found |= matches!(x, Expr::InSubquery(_));
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

fn rewrite_node(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    match node {
        LogicalPlan::Filter(f) => {
            let conjuncts = split_conjunction(&f.predicate);
            // A conjunct of its own is exact already.
            if !conjuncts.iter().any(|c| !matches!(c, Expr::InSubquery(_)) && contains_in_subquery(c)) {
                return Ok(Transformed::no(LogicalPlan::Filter(f)));
            }
            let schema = f.input.schema().clone();
            let rewritten = conjuncts
                .into_iter()
                .map(|c| match c {
                    Expr::InSubquery(_) => Ok(c.clone()),
                    other => rewrite_all(other.clone(), &schema).map(|t| t.data),
                })
                .collect::<Result<Vec<_>>>()?;
            let predicate = conjunction(rewritten).expect("a filter has a predicate");
            Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(predicate, f.input)?)))
        }
        LogicalPlan::Projection(p) if p.expr.iter().any(contains_in_subquery) => {
            let schema = p.input.schema().clone();
            let exprs = p
                .expr
                .iter()
                .zip(p.schema.iter())
                .map(|(e, (q, f))| {
                    if contains_in_subquery(e) {
                        Ok(rewrite_all(e.clone().unalias(), &schema)?.data.alias_qualified(q.cloned(), f.name()))
                    } else {
                        Ok(e.clone())
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let projection = datafusion::logical_expr::Projection::try_new(exprs, p.input.clone())?;
            Ok(Transformed::yes(LogicalPlan::Projection(projection)))
        }
        other => Ok(Transformed::no(other)),
    }
}

impl AnalyzerRule for NullAwareInSubquery {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite_node).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fedsql_null_aware_in_subquery"
    }
}
