//! A read-only table whose rows are computed when it is scanned, for the user scanning it
//! (`fedsql.queries`, `fedsql.snapshots`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::Access;

type Rows = dyn Fn(&Access) -> Result<RecordBatch> + Send + Sync;

pub struct ComputedTable {
    schema: SchemaRef,
    rows: Box<Rows>,
}

impl ComputedTable {
    pub fn new(schema: SchemaRef, rows: impl Fn(&Access) -> Result<RecordBatch> + Send + Sync + 'static) -> Self {
        ComputedTable { schema, rows: Box::new(rows) }
    }
}

impl std::fmt::Debug for ComputedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ComputedTable({} columns)", self.schema.fields().len())
    }
}

#[async_trait]
impl TableProvider for ComputedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let access = state.config().get_extension::<Access>().unwrap_or_else(|| Arc::new(Access::nothing("")));
        let batch = (self.rows)(&access)?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?.scan(state, projection, filters, limit).await
    }
}
