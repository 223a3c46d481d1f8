//! Window functions get their computed arguments, keys and filters from a projection
//! below them, as columns.
//!
//! A window node evaluates its expressions itself, out of reach of the physical rules
//! that give other nodes PostgreSQL's arithmetic (`checked_arithmetic`): DataFusion 55
//! can rebuild only some window expressions, and not an aggregate over a frame from
//! UNBOUNDED PRECEDING (the default). The differential tester found
//! `count(*) OVER (PARTITION BY f * 0.0)` splitting -0.0 from 0.0 (one partition in
//! PostgreSQL) and `PARTITION BY i * 10` wrapping where PostgreSQL raises 22003. Computed
//! in a projection, they are checked like any other. Runs after federation: windows a
//! source computes are untouched.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Alias, WindowFunction};
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator, Projection, Window};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct WindowInputsProjected;

/// Whether `e` computes arithmetic (what the projection's checks apply to).
fn computes(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(e, Expr::Negative(_))
            || matches!(e, Expr::BinaryExpr(BinaryExpr { op, .. })
                if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo)))
    })
    .unwrap_or(false)
}

/// The computed inputs of a window node, each under one column name.
#[derive(Default)]
struct Inputs {
    named: HashMap<Expr, String>,
    order: Vec<Expr>,
}

impl Inputs {
    fn column(&mut self, e: &Expr) -> Expr {
        if !computes(e) {
            return e.clone();
        }
        let n = self.named.len();
        let name = self.named.entry(e.clone()).or_insert_with(|| {
            self.order.push(e.clone());
            format!("__fedsql_window_input_{n}")
        });
        Expr::Column(Column::from_name(name.clone()))
    }
}

fn rewrite(w: &Window) -> Result<Option<LogicalPlan>> {
    let mut inputs = Inputs::default();
    let first_window = w.input.schema().fields().len();
    let mut exprs = Vec::with_capacity(w.window_expr.len());
    for (i, e) in w.window_expr.iter().enumerate() {
        let inner = match e {
            Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
            e => e,
        };
        let Expr::WindowFunction(f) = inner else {
            exprs.push(e.clone());
            continue;
        };
        let mut params = f.params.clone();
        params.args = params.args.iter().map(|a| inputs.column(a)).collect();
        params.partition_by = params.partition_by.iter().map(|a| inputs.column(a)).collect();
        for s in &mut params.order_by {
            s.expr = inputs.column(&s.expr);
        }
        params.filter = params.filter.as_deref().map(|f| Box::new(inputs.column(f)));
        let rewritten = Expr::WindowFunction(Box::new(WindowFunction { fun: f.fun.clone(), params }));
        // Under the name the plan above reads.
        exprs.push(rewritten.alias(w.schema.field(first_window + i).name()));
    }
    if inputs.order.is_empty() {
        return Ok(None);
    }
    let mut below: Vec<Expr> = w.input.schema().columns().into_iter().map(Expr::Column).collect();
    below.extend(inputs.order.iter().map(|e| e.clone().alias(inputs.named[e].clone())));
    let projected = LogicalPlan::Projection(Projection::try_new(below, w.input.clone())?);
    let window = LogicalPlan::Window(Window::try_new(exprs, Arc::new(projected))?);
    // The columns the window had, without the projected inputs.
    let above = w.schema.columns().into_iter().map(Expr::Column).collect();
    Ok(Some(LogicalPlan::Projection(Projection::try_new(above, Arc::new(window))?)))
}

impl OptimizerRule for WindowInputsProjected {
    fn name(&self) -> &str {
        "fedsql_window_inputs_projected"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let mut any = false;
        plan.apply_with_subqueries(|node| {
            any |= matches!(node, LogicalPlan::Window(_));
            Ok(if any { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })?;
        if !any {
            return Ok(Transformed::no(plan));
        }
        plan.transform_up_with_subqueries(|node| match &node {
            LogicalPlan::Window(w) => match rewrite(w)? {
                Some(p) => Ok(Transformed::yes(p)),
                None => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })
    }
}
