//! `row_number()`, `rank()` and `dense_rank()` are bigint in PostgreSQL, `ntile(n)` an
//! integer. DataFusion's return UInt64, which travels as numeric(20,0): psycopg read a
//! rank as a Decimal and JavaScript drivers as a string. Each is DataFusion's own
//! function with its results in PostgreSQL's type (a count of rows, or at most n).

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_state::WindowAggState;
use datafusion::logical_expr::{
    LimitEffect, PartitionEvaluator, ReversedUDWF, Signature, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

/// DataFusion's ranking functions and PostgreSQL's types for them.
const RANKINGS: &[(&str, DataType)] =
    &[("row_number", DataType::Int64), ("rank", DataType::Int64), ("dense_rank", DataType::Int64), ("ntile", DataType::Int32)];

/// `inner` with its results as `to`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Ranking {
    inner: WindowUDF,
    to: DataType,
}

impl WindowUDFImpl for Ranking {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn expressions(&self, args: datafusion::logical_expr::function::ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        self.inner.expressions(args)
    }

    fn partition_evaluator(&self, args: PartitionEvaluatorArgs) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(RankingEvaluator { inner: self.inner.partition_evaluator_factory(args)?, to: self.to.clone() }))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let field = self.inner.field(args)?;
        Ok(Arc::new(Field::new(field.name(), self.to.clone(), field.is_nullable())))
    }

    fn sort_options(&self) -> Option<datafusion::arrow::compute::SortOptions> {
        self.inner.sort_options()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        match self.inner.reverse_expr() {
            ReversedUDWF::Reversed(r) => ReversedUDWF::Reversed(Arc::new(ranking(r.as_ref().clone(), self.to.clone()))),
            other => other,
        }
    }

    fn limit_effect(&self, args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        self.inner.inner().limit_effect(args)
    }
}

#[derive(Debug)]
struct RankingEvaluator {
    inner: Box<dyn PartitionEvaluator>,
    to: DataType,
}

impl RankingEvaluator {
    fn typed(&self, a: ArrayRef) -> Result<ArrayRef> {
        Ok(cast(&a, &self.to)?)
    }
}

impl PartitionEvaluator for RankingEvaluator {
    fn memoize(&mut self, state: &mut WindowAggState) -> Result<()> {
        self.inner.memoize(state)
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        self.inner.get_range(idx, n_rows)
    }

    fn is_causal(&self) -> bool {
        self.inner.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let a = self.inner.evaluate_all(values, num_rows)?;
        self.typed(a)
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        self.inner.evaluate(values, range)?.cast_to(&self.to)
    }

    fn evaluate_all_with_rank(&self, num_rows: usize, ranks_in_partition: &[Range<usize>]) -> Result<ArrayRef> {
        self.typed(self.inner.evaluate_all_with_rank(num_rows, ranks_in_partition)?)
    }

    fn supports_bounded_execution(&self) -> bool {
        self.inner.supports_bounded_execution()
    }

    fn uses_window_frame(&self) -> bool {
        self.inner.uses_window_frame()
    }

    fn include_rank(&self) -> bool {
        self.inner.include_rank()
    }
}

fn ranking(inner: WindowUDF, to: DataType) -> WindowUDF {
    WindowUDF::new_from_impl(Ranking { inner, to })
}

/// Replaces the session's ranking functions with their PostgreSQL-typed forms.
pub fn register(ctx: &SessionContext) {
    let state = ctx.state();
    for (name, to) in RANKINGS {
        if let Some(f) = state.window_functions().get(*name) {
            ctx.register_udwf(ranking(f.as_ref().clone(), to.clone()));
        }
    }
}
