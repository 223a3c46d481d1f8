//! Which parts of a single-source subtree may run at the source.
//!
//! Federation hands a source the largest subtree that touches only it. Some expressions
//! mean something else there (MySQL's `/` on integers is exact division, `CONCAT` with a
//! NULL is NULL in SQL but not in DataFusion, day boundaries of a timestamptz follow the
//! remote session's time zone, ...). Such nodes stay in the engine; only the parts below
//! them are sent. An allow-list keeps this conservative: a function goes to a source only
//! when it means the same thing there.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, Extension, LogicalPlan, LogicalPlanBuilder, Operator,
    TryCast,
};
use datafusion_federation::{FederatedPlanNode, FederationPlanner};

use super::dialect::SourceDialect;

/// Aggregates with one meaning in DataFusion and in every source (after the renames in
/// `dialect.rs`).
const AGGREGATES: &[&str] = &[
    "count", "sum", "min", "max", "avg", "stddev", "stddev_pop", "var", "var_pop",
];

/// Scalar functions with one meaning everywhere.
const SCALARS: &[&str] = &["abs", "ceil", "floor", "lower", "upper", "coalesce", "nullif"];

/// Extra scalar functions PostgreSQL and Redshift share with DataFusion.
const PG_SCALARS: &[&str] = &["date_part", "date_trunc", "substr", "btrim", "ltrim", "rtrim"];

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn expr_pushable(expr: &Expr, schema: &DFSchema, dialect: SourceDialect) -> bool {
    let mut ok = true;
    let _ = expr.apply(|e| {
        ok = match e {
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                AGGREGATES.contains(&func.name())
                    && params.filter.is_none()
                    && params.order_by.is_empty()
            }
            Expr::ScalarFunction(ScalarFunction { func, .. }) => {
                let name = func.name();
                SCALARS.contains(&name)
                    || (dialect != SourceDialect::MySql && PG_SCALARS.contains(&name))
            }
            // Casts that a source does differently stay here: instants into a zone or
            // out of one (the remote session's zone would show), and fractions into
            // integers (sources round, DataFusion truncates).
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
                let from = expr.get_type(schema).ok();
                let to = field.data_type();
                !matches!(to, DataType::Timestamp(_, Some(_)))
                    && !matches!(from, Some(DataType::Timestamp(_, Some(_))) | None)
                    && !(to.is_integer()
                        && from.as_ref().is_some_and(|f| f.is_floating() || f.is_decimal()))
            }
            // MySQL reads `||` as OR; the unparser writes XOR as `^`, a power in PostgreSQL.
            Expr::BinaryExpr(BinaryExpr { op: Operator::StringConcat, .. }) => {
                dialect != SourceDialect::MySql
            }
            Expr::BinaryExpr(BinaryExpr {
                op:
                    Operator::BitwiseXor
                    | Operator::BitwiseAnd
                    | Operator::BitwiseOr
                    | Operator::BitwiseShiftLeft
                    | Operator::BitwiseShiftRight,
                ..
            }) => false,
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Divide | Operator::Modulo, right })
                if dialect == SourceDialect::MySql =>
            {
                // MySQL's `/` on integers yields a decimal; DataFusion's truncates.
                !matches!(
                    (left.get_type(schema), right.get_type(schema)),
                    (Ok(l), Ok(r)) if is_integer(&l) && is_integer(&r)
                )
            }
            Expr::WindowFunction(_) | Expr::ScalarSubquery(_) | Expr::Exists(_)
            | Expr::InSubquery(_) | Expr::Placeholder(_) => false,
            _ => true,
        };
        Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    ok
}

fn node_pushable(plan: &LogicalPlan, dialect: SourceDialect) -> bool {
    let inputs = plan.inputs();
    let schema = match inputs.as_slice() {
        [one] => one.schema().clone(),
        _ => plan.schema().clone(),
    };
    if let LogicalPlan::TableScan(_) = plan {
        // Scan filters are column predicates already vetted by the provider.
        return plan.expressions().iter().all(|e| {
            expr_pushable(e, &schema, dialect) || e.get_type(&schema).is_err()
        });
    }
    if let (LogicalPlan::Sort(sort), SourceDialect::MySql) = (plan, dialect) {
        // MySQL sorts NULLs first when ascending and last when descending, and has no
        // NULLS FIRST/LAST: any other order on a nullable key stays here.
        let same_nulls = sort.expr.iter().all(|s| {
            s.nulls_first == s.asc || !s.expr.nullable(&schema).unwrap_or(true)
        });
        if !same_nulls {
            return false;
        }
    }
    plan.expressions()
        .iter()
        .all(|e| expr_pushable(e, &schema, dialect))
}

fn tree_pushable(plan: &LogicalPlan, dialect: SourceDialect) -> bool {
    // An already federated part (from an earlier optimizer pass) is never re-wrapped.
    !matches!(plan, LogicalPlan::Extension(_))
        && node_pushable(plan, dialect) && plan.inputs().iter().all(|i| tree_pushable(i, dialect))
}

fn split(
    plan: LogicalPlan,
    planner: &Arc<dyn FederationPlanner>,
    dialect: SourceDialect,
) -> Result<LogicalPlan> {
    if tree_pushable(&plan, dialect) {
        // The unparser wants a projection on top, as federation itself gives it.
        let plan = match plan {
            LogicalPlan::Projection(_) => plan,
            other => {
                let columns: Vec<Expr> =
                    other.schema().columns().into_iter().map(Expr::Column).collect();
                LogicalPlanBuilder::from(other).project(columns)?.build()?
            }
        };
        return Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(FederatedPlanNode::new(plan, planner.clone())),
        }));
    }
    if matches!(plan, LogicalPlan::TableScan(_) | LogicalPlan::Extension(_)) {
        // The provider's own scan still pushes projection, filters and limit.
        return Ok(plan);
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .cloned()
        .map(|i| split(i, planner, dialect))
        .collect::<Result<Vec<_>>>()?;
    plan.with_new_exprs(plan.expressions(), inputs)
}

/// Keeps in the engine every node of a federated subtree that can't run at the source.
pub fn keep_unpushable_local(plan: LogicalPlan, dialect: SourceDialect) -> Result<LogicalPlan> {
    let LogicalPlan::Extension(Extension { node }) = &plan else {
        return Ok(plan);
    };
    let Some(fed) = node.as_any().downcast_ref::<FederatedPlanNode>() else {
        return Ok(plan);
    };
    if tree_pushable(&fed.plan, dialect) {
        return Ok(plan);
    }
    split(fed.plan.clone(), &fed.planner, dialect)
}
