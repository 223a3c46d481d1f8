//! A cast that rounds a decimal to fewer fractional digits, kept opaque to the optimizer.
//!
//! DataFusion's simplifier unwraps casts in comparisons as if every cast were one to one:
//! `CAST(amt AS numeric(12,1)) > 10.50` became `amt > 10.50`, and `round(amt, 1)` (a
//! cast to scale 1 here, see `exact_arithmetic`) NOT BETWEEN 0 AND 10.50 kept 10.54. A
//! rounding cast is monotonic but not one to one, so no comparison may look through it.
//! This analyzer rule, after type coercion, turns every decimal cast that drops
//! fractional digits into `fedsql_rounding_cast(x, NULL::target)`, which casts the same way.

use std::sync::Arc;

use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TryCast, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundingCast {
    signature: Signature,
}

impl ScalarUDFImpl for RoundingCast {
    fn name(&self) -> &str {
        "fedsql_rounding_cast"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The second argument is a NULL of the target type.
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[1].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        let options = CastOptions { safe: false, ..Default::default() };
        match &args.args[0] {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(cast_with_options(a, &target, &options)?)),
            ColumnarValue::Scalar(s) => {
                let a = cast_with_options(&s.to_array()?, &target, &options)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
        }
    }
}

fn udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(RoundingCast { signature: Signature::any(2, Volatility::Immutable) }))
}

fn scale(t: &DataType) -> Option<i8> {
    match t {
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Some(*s),
        _ => None,
    }
}

fn opaque(e: Expr, schema: &DFSchema, rounding: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
    let (inner, target, try_cast) = match &e {
        Expr::Cast(Cast { expr, field }) => (expr, field.data_type().clone(), false),
        Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type().clone(), true),
        _ => return Ok(Transformed::no(e)),
    };
    let (Some(to), Ok(Some(from))) = (scale(&target), inner.get_type(schema).map(|t| scale(&t))) else {
        return Ok(Transformed::no(e));
    };
    if to >= from || try_cast {
        return Ok(Transformed::no(e));
    }
    let null = Expr::Literal(ScalarValue::try_from(&target)?, None);
    let (Expr::Cast(Cast { expr, .. }) | Expr::TryCast(TryCast { expr, .. })) = e else { unreachable!() };
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(rounding.clone(), vec![*expr, null]))))
}

#[derive(Debug, Default)]
pub struct OpaqueRoundingCasts;

impl AnalyzerRule for OpaqueRoundingCasts {
    fn name(&self) -> &str {
        "fedsql_opaque_rounding_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let rounding = udf();
        super::exact_arithmetic::rewrite_expressions(plan, &|e, schema| opaque(e, schema, &rounding))
    }
}

/// A lossy cast in a filter, evaluated as it is but telling the physical optimizer
/// nothing of its ordering. DataFusion took `CAST(ts AS DATE) = d` for a filter that
/// leaves `ts` constant and dropped the sort of `ORDER BY ts` above it (rows of one day
/// came back in file order).
#[derive(Debug, Hash, Eq)]
struct OpaqueCast(Arc<dyn datafusion::physical_expr::PhysicalExpr>);

impl PartialEq for OpaqueCast {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref() == other.0.as_ref()
    }
}

impl std::fmt::Display for OpaqueCast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl datafusion::physical_expr::PhysicalExpr for OpaqueCast {
    fn data_type(&self, schema: &datafusion::arrow::datatypes::Schema) -> Result<DataType> {
        self.0.data_type(schema)
    }
    fn nullable(&self, schema: &datafusion::arrow::datatypes::Schema) -> Result<bool> {
        self.0.nullable(schema)
    }
    fn evaluate(&self, batch: &datafusion::arrow::record_batch::RecordBatch) -> Result<ColumnarValue> {
        self.0.evaluate(batch)
    }
    fn children(&self) -> Vec<&Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
        vec![&self.0]
    }
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn datafusion::physical_expr::PhysicalExpr>>,
    ) -> Result<Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
        Ok(Arc::new(OpaqueCast(children[0].clone())))
    }
    fn fmt_sql(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt_sql(f)
    }
}

/// Whether a cast from `from` to `to` is monotonic but may map distinct values to one.
fn lossy_monotonic(from: &DataType, to: &DataType) -> bool {
    let family = (from.is_numeric() && to.is_numeric()) || (from.is_temporal() && to.is_temporal());
    family && !datafusion::physical_expr::expressions::CastExpr::check_bigger_cast(to, from)
}

/// Filters whose lossy casts are wrapped in `OpaqueCast`; runs before the rules that
/// reason about orderings.
#[derive(Debug)]
pub struct OpaqueFilterCasts;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for OpaqueFilterCasts {
    fn name(&self) -> &str {
        "fedsql_opaque_filter_casts"
    }

    fn optimize(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::common::tree_node::TreeNode;
        use datafusion::physical_expr::expressions::CastExpr;
        use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
        plan.transform_up(|node| {
            let Some(f) = node.downcast_ref::<FilterExec>() else {
                return Ok(Transformed::no(node));
            };
            let schema = f.input().schema();
            let predicate = f.predicate().clone().transform_up(|e| {
                if let Some(c) = e.downcast_ref::<CastExpr>() {
                    if lossy_monotonic(&c.expr().data_type(&schema)?, c.cast_type()) {
                        return Ok(Transformed::yes(Arc::new(OpaqueCast(e.clone())) as _));
                    }
                }
                Ok(Transformed::no(e))
            })?;
            if !predicate.transformed {
                return Ok(Transformed::no(node));
            }
            let rebuilt = FilterExecBuilder::from(f).with_predicate(predicate.data).build()?;
            Ok(Transformed::yes(Arc::new(rebuilt) as _))
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
