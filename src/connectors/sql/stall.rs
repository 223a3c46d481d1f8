//! A source that stops answering: a statement whose source sends nothing for the
//! catalog's `read_timeout` fails with 08006 naming the catalog, and its stream is dropped
//! (which cancels it on the source, see `remote_cancel`). Only time spent waiting on the
//! source counts, not time the client takes to read.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::{RecordBatchStream, SendableRecordBatchStream};
use futures::{Future, Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::connectors::ConnectorError;

pub(crate) struct StallGuard {
    inner: Option<SendableRecordBatchStream>,
    schema: SchemaRef,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Whether `deadline` counts this wait; a row disarms it until the next poll.
    armed: bool,
    catalog: String,
}

impl StallGuard {
    pub(crate) fn new(inner: SendableRecordBatchStream, timeout: Duration, catalog: &str) -> Self {
        StallGuard {
            schema: inner.schema(),
            inner: Some(inner),
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            armed: true,
            catalog: catalog.to_string(),
        }
    }
}

impl Stream for StallGuard {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        if let Poll::Ready(item) = inner.poll_next_unpin(cx) {
            self.armed = false;
            return Poll::Ready(item);
        }
        if !self.armed {
            let next = Instant::now() + self.timeout;
            self.deadline.as_mut().reset(next);
            self.armed = true;
        }
        if self.deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.inner = None;
        let after = humantime::format_duration(self.timeout).to_string();
        let e = ConnectorError::Stalled { catalog: self.catalog.clone(), after };
        Poll::Ready(Some(Err(DataFusionError::External(Box::new(e)))))
    }
}

impl RecordBatchStream for StallGuard {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
