//! `x NOT IN (100, NULL)` is never true (NULL or false), and `x IN (1, NULL)` is true or
//! NULL. DataFusion's in-list simplifier merges lists as sets and drops the NULL:
//! `x NOT IN (100, NULL) AND x IN (1, 2)` became `x IN (1, 2)` and answered rows where
//! PostgreSQL answers none (with and without pushdown). Written before it runs as the
//! same truth value with the NULL outside the list, `x NOT IN (100) AND NULL`, `x IN (1)
//! OR NULL`, which the simplifier leaves as they mean.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{lit, Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct NullInList;

fn is_null(e: &Expr) -> bool {
    matches!(e, Expr::Literal(v, _) if v.is_null())
}

fn rewritten(e: Expr) -> Result<Transformed<Expr>> {
    let Expr::InList(InList { expr, list, negated }) = e else { return Ok(Transformed::no(e)) };
    if !list.iter().any(is_null) {
        return Ok(Transformed::no(Expr::InList(InList { expr, list, negated })));
    }
    let unknown = lit(ScalarValue::Boolean(None));
    let values: Vec<Expr> = list.into_iter().filter(|e| !is_null(e)).collect();
    if values.is_empty() {
        return Ok(Transformed::yes(unknown));
    }
    let rest = Expr::InList(InList { expr, list: values, negated });
    Ok(Transformed::yes(if negated { rest.and(unknown) } else { rest.or(unknown) }))
}

impl AnalyzerRule for NullInList {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Columns keep their names: nodes above read them by name.
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let saved = names.save(&e);
                Ok(e.transform_up(rewritten)?.update_data(|e| saved.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fedsql_null_in_list"
    }
}
