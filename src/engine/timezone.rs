//! `SET TIME ZONE` moves day boundaries: calendar functions of a timestamptz see the
//! instant in the session's zone, as in PostgreSQL. The cast added here also keeps such
//! expressions in the engine (see `connectors/pushdown.rs`), because a source would use
//! its own session's zone.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::DFSchema;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

/// Calendar functions whose answer depends on the time zone.
const CALENDAR_FUNCTIONS: &[&str] = &["date_trunc", "date_part", "date_bin", "to_char"];

#[derive(Debug, Default)]
pub struct SessionTimeZone;

fn in_zone(arg: Expr, schema: &DFSchema, tz: &Arc<str>) -> Expr {
    match arg.get_type(schema) {
        Ok(DataType::Timestamp(unit, Some(_))) => Expr::Cast(Cast::new_from_field(
            Box::new(arg),
            Arc::new(Field::new("", DataType::Timestamp(unit, Some(tz.clone())), true)),
        )),
        _ => arg,
    }
}

fn rewrite(e: Expr, schema: &DFSchema, tz: &Arc<str>) -> Result<Transformed<Expr>> {
    match e {
        Expr::ScalarFunction(ScalarFunction { func, args })
            if CALENDAR_FUNCTIONS.contains(&func.name()) =>
        {
            let args = args.into_iter().map(|a| in_zone(a, schema, tz)).collect();
            Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction { func, args })))
        }
        // A timestamptz cast to a date is the date in the session's zone.
        Expr::Cast(Cast { expr, field }) if field.data_type() == &DataType::Date32 => {
            let inner = in_zone(*expr, schema, tz);
            Ok(Transformed::yes(Expr::Cast(Cast::new_from_field(Box::new(inner), field))))
        }
        other => Ok(Transformed::no(other)),
    }
}

impl AnalyzerRule for SessionTimeZone {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let tz: Arc<str> = config
            .execution
            .time_zone
            .clone()
            .unwrap_or_else(|| "UTC".to_string())
            .into();
        plan.transform_up_with_subqueries(|node| {
            let inputs = node.inputs();
            let schema = match inputs.as_slice() {
                [] => return Ok(Transformed::no(node)),
                [one] => one.schema().clone(),
                _ => node.schema().clone(),
            };
            let t = node.map_expressions(|e| e.transform_up(|e| rewrite(e, &schema, &tz)))?;
            if t.transformed {
                Ok(Transformed::yes(t.data.recompute_schema()?))
            } else {
                Ok(t)
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "session_time_zone"
    }
}
