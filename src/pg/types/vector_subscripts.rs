//! Subscripts of an `int2vector` (pg_index.indkey, indoption) start at 0, as in
//! PostgreSQL; an array's start at 1. psqlODBC's SQLPrimaryKeys joins
//! `ta.attnum = i.indkey[ia.attnum - 1]`: read 1-based, it found no key columns.

use datafusion::common::{DFSchema, ExprSchema, Result};
use datafusion::functions_nested::expr_fn::array_element;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::{lit, Expr, GetFieldAccess};

use crate::connectors::DeclaredType;

/// Plans `v[i]` of an int2vector column as the array's element `i + 1`. It must come
/// before DataFusion's own field access planner.
#[derive(Debug, Default)]
pub struct VectorSubscripts;

impl ExprPlanner for VectorSubscripts {
    fn plan_field_access(&self, access: RawFieldAccessExpr, schema: &DFSchema) -> Result<PlannerResult<RawFieldAccessExpr>> {
        if let (GetFieldAccess::ListIndex { key }, Expr::Column(c)) = (&access.field_access, &access.expr) {
            let vector = schema.field_from_column(c).is_ok_and(|f| DeclaredType::of(f) == Some(DeclaredType::Int2Vector));
            if vector {
                return Ok(PlannerResult::Planned(array_element(access.expr.clone(), *key.clone() + lit(1i64))));
            }
        }
        Ok(PlannerResult::Original(access))
    }
}
