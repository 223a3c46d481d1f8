//! `SET TIME ZONE` moves day boundaries: calendar functions of a timestamptz see the
//! instant in the session's zone, as in PostgreSQL. The cast added here also keeps such
//! expressions in the engine (see `connectors/pushdown.rs`), because a source would use
//! its own session's zone.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, Projection};
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
            let original = Expr::ScalarFunction(ScalarFunction {
                func: func.clone(),
                args: args.clone(),
            });
            let before = original.get_type(schema)?;
            let args = args.into_iter().map(|a| in_zone(a, schema, tz)).collect();
            let zoned = Expr::ScalarFunction(ScalarFunction { func, args });
            // The same instant in the type the rest of the plan was coerced to (a
            // comparison with a UTC literal must still type-check).
            let result = if zoned.get_type(schema)? == before {
                zoned
            } else {
                Expr::Cast(Cast::new_from_field(
                    Box::new(zoned),
                    Arc::new(Field::new("", before, true)),
                ))
            };
            Ok(Transformed::yes(result))
        }
        // A timestamptz cast to a date or to text is the date or text in the session's zone.
        Expr::Cast(Cast { expr, field })
            if matches!(
                field.data_type(),
                DataType::Date32 | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            let inner = in_zone(*expr, schema, tz);
            Ok(Transformed::yes(Expr::Cast(Cast::new_from_field(Box::new(inner), field))))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// Results show instants in the session's zone, as PostgreSQL prints timestamptz.
fn show_in_zone(plan: LogicalPlan, tz: &Arc<str>) -> Result<LogicalPlan> {
    let is_query = !matches!(
        plan,
        LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Extension(_)
    );
    let zoned = |t: &DataType| matches!(t, DataType::Timestamp(_, Some(z)) if z != tz);
    if !is_query || !plan.schema().fields().iter().any(|f| zoned(f.data_type())) {
        return Ok(plan);
    }
    let exprs = plan
        .schema()
        .iter()
        .map(|(q, f)| {
            let col = Expr::Column(Column::from((q, f)));
            match f.data_type() {
                DataType::Timestamp(unit, Some(z)) if z != tz => Expr::Cast(Cast::new_from_field(
                    Box::new(col),
                    Arc::new(Field::new("", DataType::Timestamp(*unit, Some(tz.clone())), true)),
                ))
                .alias_qualified(q.cloned(), f.name()),
                _ => col,
            }
        })
        .collect::<Vec<_>>();
    Ok(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?))
}

impl AnalyzerRule for SessionTimeZone {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let tz: Arc<str> = config
            .execution
            .time_zone
            .clone()
            .unwrap_or_else(|| "UTC".to_string())
            .into();
        let plan = plan.transform_up_with_subqueries(|node| {
            let inputs = node.inputs();
            let schema = match inputs.as_slice() {
                [] => return Ok(Transformed::no(node)),
                [one] => one.schema().clone(),
                _ => node.schema().clone(),
            };
            // Columns keep their names: nodes above read them by name (a window
            // function's `ORDER BY date_part(..)` was renamed and not found, 42703).
            let names = NamePreserver::new(&node);
            let t = node.map_expressions(|e| {
                let saved = names.save(&e);
                Ok(e.transform_up(|e| rewrite(e, &schema, &tz))?.update_data(|e| saved.restore(e)))
            })?;
            if t.transformed {
                Ok(Transformed::yes(t.data.recompute_schema()?))
            } else {
                Ok(t)
            }
        })?
        .data;
        show_in_zone(plan, &tz)
    }

    fn name(&self) -> &str {
        "session_time_zone"
    }
}
