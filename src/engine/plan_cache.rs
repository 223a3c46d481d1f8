//! Prepared statements planned once. The optimized plan of a statement a session runs
//! again is kept with its `$n` placeholders and bound at each Execute, so an Execute costs
//! physical planning only: the analyzer and optimizer were a quarter of a prepared
//! `SELECT 1` (BENCHMARKS.md "B3 profiled").
//!
//! A kept plan serves while what it was made from holds: the same session state (new
//! settings make a new one) and no catalog re-listed nor snapshot replaced since
//! ([`catalog::generation`]). Plans whose optimized form depends on more than the
//! parameters' types are planned whole at each Execute, as every statement was before:
//! - those reading fedsql's own tables (their rows belong to the moment and the session)
//!   or a table not named by its source catalog;
//! - those calling a function that is not immutable (the optimizer folds `now()`);
//! - an Execute with a NULL, nested or untyped value, one its parameter's type does not hold
//!   exactly, or a value a source can't be sent
//!   (`calendar_literal_pushable`): the analyzer rewrites NULL literals, and which parts go
//!   to a source was decided for any value of the parameter's type.

use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::ParamValues;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, Volatility};
use datafusion::prelude::SessionContext;
use datafusion_federation::FederatedPlanNode;

use super::catalog;
use super::DEFAULT_CATALOG;
use crate::connectors::calendar_literal_pushable;

/// The kept plan of one prepared statement.
#[derive(Default)]
pub struct PlanCache(Mutex<Option<Kept>>);

struct Kept {
    /// The session it was optimized in, held so that no other session takes its address.
    session: SessionContext,
    generation: u64,
    /// None: the statement is planned whole each time.
    optimized: Option<LogicalPlan>,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanCache")
    }
}

impl PlanCache {
    /// `plan` (as planned at Parse) optimized once and bound to `params`, ready for
    /// physical planning in `ctx`; None when this Execute plans it whole.
    pub fn bound(
        &self,
        ctx: &SessionContext,
        plan: &LogicalPlan,
        types: &[Option<DataType>],
        params: &ParamValues,
    ) -> Result<Option<LogicalPlan>> {
        let Some(params) = typed_values(types, params) else {
            return Ok(None);
        };
        let generation = catalog::generation();
        let kept = {
            let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
            kept.as_ref()
                .filter(|k| Arc::ptr_eq(&k.session.state_ref(), &ctx.state_ref()) && k.generation == generation)
                .map(|k| k.optimized.clone())
        };
        let optimized = match kept {
            Some(optimized) => optimized,
            None => {
                let optimized = match cacheable(plan) {
                    true => Some(ctx.state().optimize(plan)?),
                    false => None,
                };
                let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
                *kept = Some(Kept { session: ctx.clone(), generation, optimized: optimized.clone() });
                optimized
            }
        };
        let Some(optimized) = optimized else { return Ok(None) };
        let bound = bind(optimized, &params)?;
        Ok((!has_placeholders(&bound)).then_some(bound))
    }
}

/// The values in their parameters' types, when each converts there exactly (a numeric
/// comes at its own scale, which must be the parameter's: 100.50 for a numeric(12,2)
/// parameter, not 100.5) and means the same at every source; None when the statement must
/// be planned with these values.
fn typed_values(types: &[Option<DataType>], params: &ParamValues) -> Option<ParamValues> {
    let ParamValues::List(values) = params else { return None };
    if values.len() != types.len() {
        return None;
    }
    let typed = values.iter().zip(types).map(|(v, t)| {
        let (v, t) = (v.value(), t.as_ref()?);
        if v.is_null() || v.data_type().is_nested() || !calendar_literal_pushable(v) {
            return None;
        }
        if &v.data_type() == t {
            return Some(v.clone().into());
        }
        // A numeric's scale shows in results (`$1 * m`): only its precision may widen.
        let scale = |t: &DataType| match t {
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Some(*s),
            _ => None,
        };
        if scale(&v.data_type()) != scale(t) {
            return None;
        }
        let converted = v.cast_to(t).ok()?;
        (converted.cast_to(&v.data_type()).ok()? == *v).then(|| converted.into())
    });
    typed.collect::<Option<Vec<_>>>().map(ParamValues::List)
}

/// Whether the optimized form of `plan` holds for every value of its parameters, in this
/// session, until the catalogs change.
fn cacheable(plan: &LogicalPlan) -> bool {
    let mut ok = super::is_query(plan);
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            ok &= scan.table_name.catalog().is_some_and(|c| c != DEFAULT_CATALOG);
        }
        ok &= !matches!(node, LogicalPlan::Extension(_));
        let _ = node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    ok &= f.func.signature().volatility == Volatility::Immutable;
                }
                Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
            })
        });
        Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    ok
}

/// `plan` with its placeholders replaced by `params`, in the subtrees sent to sources too
/// (DataFusion's binding does not look inside a federated node).
fn bind(plan: LogicalPlan, params: &ParamValues) -> Result<LogicalPlan> {
    if matches!(params, ParamValues::List(v) if v.is_empty()) {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|node| match federated(&node) {
        Some(f) => {
            let inner = bind(f.plan.clone(), params)?;
            let node = FederatedPlanNode::new(inner, f.planner.clone());
            Ok(Transformed::yes(LogicalPlan::Extension(Extension { node: Arc::new(node) })))
        }
        None => Ok(Transformed::no(node)),
    })?
    .data
    .replace_params_with_values(params)
}

fn federated(node: &LogicalPlan) -> Option<&FederatedPlanNode> {
    match node {
        LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<FederatedPlanNode>(),
        _ => None,
    }
}

fn has_placeholders(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let Some(f) = federated(node) {
            found |= has_placeholders(&f.plan);
        }
        let _ = node.apply_expressions(|e| {
            found |= e.exists(|e| Ok(matches!(e, Expr::Placeholder(_))))?;
            Ok(TreeNodeRecursion::Continue)
        });
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}
