//! Stopping a source's statement when the engine stops reading it: a client's
//! CancelRequest, statement_timeout, or a LIMIT met before the source finished.
//!
//! Dropping the table providers' stream does not stop the remote work: tokio-postgres
//! discards the rest of the rows while PostgreSQL runs on, and mysql_async drains the
//! result when the pool takes the connection back. So each statement starts with a
//! marker comment, and when its stream is dropped unfinished, another connection finds
//! the session running that marker and cancels it (`pg_cancel_backend`, `KILL QUERY`).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::{RecordBatchStream, SendableRecordBatchStream};
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::postgres::DynPostgresConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::postgrespool::PostgresConnectionPool;
use datafusion_table_providers::util::secrets::to_secret_map;
use futures::{Stream, StreamExt};
use tokio::sync::OnceCell;
use tokio_util::task::TaskTracker;

use super::{literal, query_strings};

/// Finds and cancels the statements that start with a marker.
#[async_trait]
pub(crate) trait RemoteCancel: Send + Sync {
    /// How many running statements were asked to stop.
    async fn cancel(&self, marker: &str) -> Result<usize, String>;
}

/// A marker no other statement carries: this process and a counter.
pub(crate) fn marker() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("/* fedsql-q {}.{} */", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `LIKE` pattern for statements starting with `marker` (it holds no `%` or `_`).
fn starts_with(marker: &str) -> String {
    literal(&format!("{marker}%"))
}

/// PostgreSQL: `pg_cancel_backend` on the sessions of the same user running the marker.
/// Its own one-connection pool, made at the first cancel: the catalog's pool may hand back
/// the very connection whose statement is to be canceled, and queue the cancel behind it.
pub(crate) struct PostgresCancel {
    params: HashMap<String, String>,
    pool: OnceCell<Arc<DynPostgresConnectionPool>>,
}

impl PostgresCancel {
    pub(crate) fn new(mut params: HashMap<String, String>) -> Self {
        params.insert("connection_pool_size".into(), "1".into());
        Self { params, pool: OnceCell::new() }
    }
}

#[async_trait]
impl RemoteCancel for PostgresCancel {
    async fn cancel(&self, marker: &str) -> Result<usize, String> {
        let pool = self
            .pool
            .get_or_try_init(|| async {
                let pool = PostgresConnectionPool::new(to_secret_map(self.params.clone()))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(Arc::new(pool) as Arc<DynPostgresConnectionPool>)
            })
            .await?;
        let sql = format!(
            "SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity \
             WHERE pid <> pg_catalog.pg_backend_pid() AND query LIKE {}",
            starts_with(marker)
        );
        Ok(query_strings(pool.as_ref(), &sql).await?.len())
    }
}

/// MySQL and MariaDB: `KILL QUERY` on the threads running the marker (a user may kill
/// its own threads).
pub(crate) struct MySqlCancel<T, P>(pub Arc<dyn DbConnectionPool<T, P> + Send + Sync>);

#[async_trait]
impl<T: 'static, P: 'static> RemoteCancel for MySqlCancel<T, P> {
    async fn cancel(&self, marker: &str) -> Result<usize, String> {
        let sql = format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE {}",
            starts_with(marker)
        );
        let ids = query_strings(self.0.as_ref(), &sql).await?;
        let conn = self.0.connect().await.map_err(|e| e.to_string())?;
        let conn = conn.as_async().ok_or("connection is not async")?;
        for id in &ids {
            let id: u64 = id[0].parse().map_err(|_| format!("thread id {:?}", id[0]))?;
            // The statement may have ended meanwhile: "Unknown thread id" is fine.
            if let Err(e) = conn.execute(&format!("KILL QUERY {id}"), &[]).await {
                tracing::debug!(id, error = %e, "KILL QUERY");
            }
        }
        Ok(ids.len())
    }
}

const CANCEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The cancels under way, which a shutdown lets finish before the process exits (a
/// PostgreSQL backend whose client vanished runs its statement on to the end).
static CANCELS: std::sync::LazyLock<TaskTracker> = std::sync::LazyLock::new(TaskTracker::new);

/// Waits up to `limit` for the cancels under way.
pub async fn cancels_sent(limit: std::time::Duration) {
    CANCELS.close();
    let _ = tokio::time::timeout(limit, CANCELS.wait()).await;
}

/// A source's stream that cancels its statement if dropped before it ended.
pub(crate) struct CancelOnDrop {
    inner: SendableRecordBatchStream,
    pending: Option<(String, Arc<dyn RemoteCancel>)>,
}

impl CancelOnDrop {
    pub(crate) fn new(inner: SendableRecordBatchStream, marker: String, cancel: Arc<dyn RemoteCancel>) -> Self {
        Self { inner, pending: Some((marker, cancel)) }
    }
}

impl Stream for CancelOnDrop {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        // Finished or failed: the source is no longer running it.
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.pending = None;
        }
        polled
    }
}

impl RecordBatchStream for CancelOnDrop {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some((marker, cancel)) = self.pending.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        CANCELS.spawn_on(async move {
            // A source that stopped answering would hold the cancel forever.
            match tokio::time::timeout(CANCEL_TIMEOUT, cancel.cancel(&marker)).await {
                Ok(Ok(n)) => tracing::debug!(marker, n, "remote statements canceled"),
                Ok(Err(e)) => tracing::warn!(marker, error = %e, "could not cancel the remote statement"),
                Err(_) => tracing::warn!(marker, "could not cancel the remote statement: the source did not answer"),
            }
        }, &runtime);
    }
}
