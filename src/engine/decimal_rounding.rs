//! `ceil`/`floor` of a decimal keep its type in DataFusion, so rounding the largest value
//! of a numeric(12,2) up (9999999999.99 to 10000000000) overflowed ("Decimal overflow
//! while applying ceil"), here and in what a source sent back. PostgreSQL's numeric grows
//! a digit. The argument gets that digit first (precision + 1, up to 38).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan};

fn widened(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, mut args }) = e else {
        return Ok(Transformed::no(e));
    };
    if matches!(func.name(), "ceil" | "floor") && args.len() == 1 {
        if let Ok(DataType::Decimal128(p, s)) = args[0].get_type(schema) {
            if p < 38 {
                let arg = args.remove(0);
                args.push(Expr::Cast(Cast::new(Box::new(arg), DataType::Decimal128(p + 1, s))));
                return Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction { func, args })));
            }
        }
    }
    Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args })))
}

/// `plan` with every decimal `ceil`/`floor` one digit wider; column names unchanged.
pub fn widen(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut changed = false;
    plan.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        let schema = match node.inputs().as_slice() {
            [one] => one.schema().clone(),
            _ => node.schema().clone(),
        };
        let node = node.map_expressions(|e| {
            let saved = names.save(&e);
            Ok(e.transform_up(|x| widened(x, &schema))?.update_data(|e| saved.restore(e)))
        })?;
        changed |= node.transformed;
        if changed {
            return Ok(Transformed::yes(node.data.recompute_schema()?));
        }
        Ok(node)
    })
    .map(|t| t.data)
}
