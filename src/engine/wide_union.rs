//! One type for decimals from several branches (CASE, coalesce, greatest, least, the
//! inputs of a UNION) where it needs more than 38 digits, or mixes Decimal128 with
//! Decimal256.
//!
//! DataFusion finds no common type for Decimal256(76,1) and Decimal128(4,2) (it asks for
//! 77 digits, past the cap, where two Decimal256 would be capped at 76): `coalesce(round(nv,
//! 1), 10.50)` over an unconstrained PostgreSQL numeric failed 42883. Between two
//! Decimal128 it caps at 38 digits, so a CASE of numeric(30,10) and numeric(38,20) kept 18
//! integer digits and overflowed. PostgreSQL's numeric holds both. The branches get the
//! Decimal256 of `wide_common_type` instead.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, ExprSchema};
use datafusion::error::Result;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Documentation, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Union,
};

use super::wide_comparison::wide_common_type;

/// The common type of branches of `types` (NULLs aside), where DataFusion's would not do.
fn union_type(types: &[DataType]) -> Option<DataType> {
    let typed: Vec<DataType> = types.iter().filter(|t| !t.is_null()).cloned().collect();
    wide_common_type(&typed)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WideUnion {
    inner: ScalarUDF,
}

/// `coalesce`, `greatest` and `least`, to register in place of DataFusion's.
pub fn udfs() -> Vec<ScalarUDF> {
    use datafusion::functions::core;
    [core::coalesce(), core::greatest(), core::least()]
        .into_iter()
        .map(|f| ScalarUDF::new_from_impl(WideUnion { inner: f.as_ref().clone() }))
        .collect()
}

impl ScalarUDFImpl for WideUnion {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match union_type(arg_types) {
            Some(t) => Ok(vec![t; arg_types.len()]),
            None => self.inner.coerce_types(arg_types),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[allow(deprecated)]
        self.inner.inner().is_nullable(args, schema)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.inner.name() == "coalesce" {
            return first_non_null(args);
        }
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, inputs: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// `coalesce` evaluated. DataFusion's is meant to be simplified into a CASE first and
/// fails ("coalesce should have been simplified to case", XX000) in a plan the simplifier
/// did not see again: a constant GROUP BY key written for a source's unparser
/// (`connectors/unparse.rs`) whose aggregate then stayed in the engine.
fn first_non_null(args: ScalarFunctionArgs) -> Result<ColumnarValue> {
    use datafusion::arrow::compute::{is_not_null, kernels::zip::zip};
    let rows = args.number_rows;
    let mut values = args.args.into_iter();
    let Some(first) = values.next() else {
        return datafusion::common::exec_err!("coalesce takes at least one argument");
    };
    let mut out = first.into_array(rows)?;
    for next in values {
        let next = next.into_array(rows)?;
        out = zip(&is_not_null(&out)?, &out, &next)?;
    }
    Ok(ColumnarValue::Array(out))
}

fn cast(e: Expr, t: &DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), t.clone()))
}

/// A CASE whose THEN and ELSE decimals need the wide type, with each branch cast to it.
pub(super) fn widened_case(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Case(mut case) = e else {
        return Ok(Transformed::no(e));
    };
    let types: Option<Vec<DataType>> = case
        .when_then_expr
        .iter()
        .map(|(_, then)| then.as_ref())
        .chain(case.else_expr.as_deref())
        .map(|e| e.get_type(schema).ok())
        .collect();
    let Some(t) = types.as_deref().and_then(union_type) else {
        return Ok(Transformed::no(Expr::Case(case)));
    };
    case.when_then_expr = case.when_then_expr.into_iter().map(|(w, then)| (w, Box::new(cast(*then, &t)))).collect();
    case.else_expr = case.else_expr.map(|e| Box::new(cast(*e, &t)));
    Ok(Transformed::yes(Expr::Case(case)))
}

/// A UNION whose inputs' decimals in one column need the wide type, with each input
/// projected to it. DataFusion coerces a UNION's inputs only in the analyzer, where
/// Decimal256(76, 1) and Decimal128(12, 2) had no common type (42601).
fn widened_union(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Union(union) = plan else {
        return Ok(Transformed::no(plan));
    };
    let wide: Vec<Option<DataType>> = (0..union.schema.fields().len())
        .map(|i| {
            let types: Vec<DataType> = union.inputs.iter().map(|p| p.schema().field(i).data_type().clone()).collect();
            union_type(&types)
        })
        .collect();
    if wide.iter().all(Option::is_none) {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    let inputs = union
        .inputs
        .into_iter()
        .map(|input| {
            let exprs: Vec<Expr> = input
                .schema()
                .iter()
                .zip(&wide)
                .map(|((q, f), t)| {
                    let col = Expr::Column(Column::from((q, f)));
                    match t {
                        Some(t) if f.data_type() != t => cast(col, t).alias_qualified(q.cloned(), f.name()),
                        _ => col,
                    }
                })
                .collect();
            Ok(Arc::new(LogicalPlanBuilder::from(Arc::unwrap_or_clone(input)).project(exprs)?.build()?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::yes(LogicalPlan::Union(Union::try_new_with_loose_types(inputs)?)))
}

/// `plan` with every such CASE and UNION made in the wide type; column names unchanged.
pub fn widen(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = super::exact_arithmetic::rewrite_expressions(plan, &widened_case)?;
    let mut changed = false;
    plan.transform_up_with_subqueries(|node| {
        let node = widened_union(node)?;
        changed |= node.transformed;
        if changed && !node.transformed {
            return Ok(Transformed::yes(node.data.recompute_schema()?));
        }
        Ok(node)
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_widths_meet_in_256_bits() {
        let d = DataType::Decimal128;
        let w = DataType::Decimal256;
        // DataFusion has none for these.
        assert_eq!(union_type(&[w(76, 1), d(4, 2)]), Some(w(76, 2)));
        assert_eq!(union_type(&[DataType::Null, d(30, 10), d(38, 20)]), Some(w(40, 20)));
        assert_eq!(union_type(&[d(12, 2), DataType::Null, d(4, 2)]), None);
        let f = udfs().remove(0);
        assert_eq!(f.coerce_types(&[w(76, 1), d(4, 2)]).unwrap(), vec![w(76, 2), w(76, 2)]);
        assert_eq!(f.coerce_types(&[d(12, 2), DataType::Int64]).unwrap(), vec![d(22, 2), d(22, 2)]);
    }

    #[test]
    fn coalesce_runs_unsimplified() {
        use datafusion::arrow::array::{Array, Int64Array};
        use datafusion::arrow::datatypes::Field;
        use datafusion::common::ScalarValue;
        let values = |v: Vec<Option<i64>>| ColumnarValue::Array(std::sync::Arc::new(Int64Array::from(v)));
        let field = std::sync::Arc::new(Field::new("x", DataType::Int64, true));
        let args = ScalarFunctionArgs {
            args: vec![values(vec![None, Some(2), None]), values(vec![Some(10), Some(20), None]), ColumnarValue::Scalar(ScalarValue::Int64(Some(7)))],
            arg_fields: vec![field.clone(); 3],
            number_rows: 3,
            return_field: field,
            config_options: Default::default(),
        };
        let ColumnarValue::Array(out) = udfs().remove(0).invoke_with_args(args).unwrap() else { panic!() };
        let out = out.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(out.iter().collect::<Vec<_>>(), vec![Some(10), Some(2), Some(7)]);
    }
}
