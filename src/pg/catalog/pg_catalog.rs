//! The pg_catalog schema tools read: datafusion-pg-catalog's, with the tables fedsql
//! builds itself in place of its fixed ones.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::Result as DfResult;

use super::keys::{KeyTable, SourceKeys};
use super::{comments, constraints, indexes, sql_views, ToolView};

/// datafusion-pg-catalog's pg_catalog with our `pg_constraint` and `pg_index`, the
/// primary keys' indexes in `pg_class`, and Redshift's `svv_` views.
#[derive(Debug)]
pub struct PgCatalogWithKeys {
    pub inner: Arc<dyn SchemaProvider>,
    pub view: ToolView,
}

#[async_trait]
impl SchemaProvider for PgCatalogWithKeys {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }
    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let keys = SourceKeys { view: self.view.clone(), catalog: self.inner.clone() };
        match name.to_ascii_lowercase().as_str() {
            "pg_constraint" => Ok(Some(Arc::new(KeyTable { keys, schema: constraints::table_schema, build: constraints::constraint_batch }))),
            "pg_index" => Ok(Some(Arc::new(KeyTable {
                keys,
                schema: indexes::index_schema,
                build: indexes::index_batch,
            }))),
            "pg_description" => Ok(Some(Arc::new(KeyTable {
                keys,
                schema: comments::description_schema,
                build: comments::description_batch,
            }))),
            "pg_tables" => Ok(Some(Arc::new(sql_views::pg_tables()))),
            "pg_views" => Ok(Some(Arc::new(sql_views::pg_views()))),
            "pg_class" => {
                let Some(inner) = self.inner.table(name).await? else { return Ok(None) };
                Ok(Some(Arc::new(indexes::PgClassWithIndexes { inner, keys })))
            }
            "pg_attribute" => {
                let Some(inner) = self.inner.table(name).await? else { return Ok(None) };
                Ok(Some(Arc::new(indexes::PgAttributeWithTypmods { inner, keys })))
            }
            "svv_columns" => Ok(Some(Arc::new(sql_views::svv_columns()))),
            "svv_external_schemas" => Ok(Some(Arc::new(sql_views::svv_external_schemas()))),
            _ => self.inner.table(name).await,
        }
    }
    fn table_exist(&self, name: &str) -> bool {
        matches!(name.to_ascii_lowercase().as_str(), "svv_columns" | "svv_external_schemas") || self.inner.table_exist(name)
    }
}

