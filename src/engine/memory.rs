//! Memory limits: one pool for the whole server and, inside it, a share for each query.
//!
//! DataFusion has one pool per runtime; a query's operators reserve from it before they
//! grow (sorts and aggregates spill when refused, a hash join's build side fails). Each
//! query runs against a `QueryPool` that counts its own reservations against the
//! per-query limit and passes them on to the server's fair pool.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytesize::ByteSize;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};

#[derive(Debug)]
pub struct QueryPool {
    server: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl QueryPool {
    pub fn new(server: Arc<dyn MemoryPool>, limit: usize) -> Self {
        QueryPool { server, limit, used: AtomicUsize::new(0) }
    }

    fn exhausted(&self, what: String) -> DataFusionError {
        DataFusionError::ResourcesExhausted(what)
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query pool of {} within {}", ByteSize::b(self.limit as u64), self.server)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "fedsql query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.server.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.server.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.server.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.server.shrink(reservation, shrink)
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(self.exhausted(format!(
                "out of memory: the query needs more than its limit of {} (limits.query_memory) for {}",
                ByteSize::b(self.limit as u64),
                reservation.consumer().name()
            )));
        }
        if let Err(e) = self.server.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            let limit = match self.server.memory_limit() {
                MemoryLimit::Finite(n) => ByteSize::b(n as u64).to_string(),
                _ => "unbounded".into(),
            };
            return Err(self.exhausted(format!(
                "out of memory: all running queries together reached the server's limit of {limit} (limits.memory) for {}: {e}",
                reservation.consumer().name()
            )));
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::FairSpillPool;

    #[test]
    fn a_query_is_held_to_its_share_and_the_server_to_its_total() {
        let server: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(1000));
        let a: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(server.clone(), 600));
        let b: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(server.clone(), 600));
        let ra = MemoryConsumer::new("sort a").register(&a);
        ra.try_grow(500).unwrap();
        let e = ra.try_grow(200).unwrap_err().to_string();
        assert!(e.contains("limits.query_memory") && e.contains("sort a"), "{e}");
        let rb = MemoryConsumer::new("join b").register(&b);
        let e = rb.try_grow(550).unwrap_err().to_string();
        assert!(e.contains("limits.memory"), "{e}");
        rb.try_grow(400).unwrap();
        drop(ra);
        assert_eq!((a.reserved(), server.reserved()), (0, 400));
    }
}
