//! Who may execute now: a server-wide and a per-user limit on executing queries (the
//! rest wait in a queue, up to a timeout), and the count of statements in flight that a
//! shutdown drains.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::error::{sqlstate, QueryError};
use crate::config::Limits;

pub struct Admission {
    limits: Limits,
    server: Arc<Semaphore>,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: Arc<InFlight>,
    terminate: watch::Sender<bool>,
}

/// The right to execute, held until the query's stream ends or is dropped.
pub struct Permit {
    _user: OwnedSemaphorePermit,
    _server: OwnedSemaphorePermit,
}

#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    changed: Notify,
}

/// One statement in flight, from its first message to its last row.
pub struct Statement {
    in_flight: Arc<InFlight>,
}

impl Drop for Statement {
    fn drop(&mut self) {
        self.in_flight.count.fetch_sub(1, Ordering::SeqCst);
        self.in_flight.changed.notify_waiters();
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Self {
        Admission {
            server: Arc::new(Semaphore::new(limits.max_running_queries)),
            users: Mutex::new(HashMap::new()),
            in_flight: Arc::default(),
            terminate: watch::channel(false).0,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Waits for a turn to execute, up to the queue timeout (53000 after it).
    pub async fn admit(&self, user: &str) -> Result<Permit, QueryError> {
        let per_user = {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            // Users with nothing running are forgotten, so the map stays small.
            users.retain(|_, s| s.available_permits() < self.limits.max_running_queries_per_user);
            users
                .entry(user.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.limits.max_running_queries_per_user)))
                .clone()
        };
        let wait = async {
            // The user's own turn first, so one user's queue does not hold server places.
            let user_permit = per_user.acquire_owned().await.expect("never closed");
            let server_permit = self.server.clone().acquire_owned().await.expect("never closed");
            Permit { _user: user_permit, _server: server_permit }
        };
        tokio::time::timeout(self.limits.queue_timeout, wait).await.map_err(|_| {
            QueryError::new(
                sqlstate::INSUFFICIENT_RESOURCES,
                format!(
                    "too many queries running: waited {} in the queue (limits: {} at once on the server, {} per user; limits.queue_timeout)",
                    humantime::format_duration(self.limits.queue_timeout),
                    self.limits.max_running_queries,
                    self.limits.max_running_queries_per_user
                ),
            )
        })
    }

    /// Counts a statement as in flight until the guard drops.
    pub fn statement(&self) -> Statement {
        self.in_flight.count.fetch_add(1, Ordering::SeqCst);
        Statement { in_flight: self.in_flight.clone() }
    }

    /// Resolves once a shutdown's grace period has ended.
    pub fn terminated(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.terminate.subscribe();
        async move {
            let _ = rx.wait_for(|t| *t).await;
        }
    }

    /// Lets statements in flight finish for up to `grace`, then ends the rest (57P01).
    /// Returns how many were still running when the grace ended.
    pub async fn drain(&self, grace: Duration) -> usize {
        let idle = || async {
            loop {
                let changed = self.in_flight.changed.notified();
                if self.in_flight.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(grace, idle()).await.is_ok() {
            return 0;
        }
        let left = self.in_flight.count.load(Ordering::SeqCst);
        self.terminate.send_replace(true);
        // The ended statements send their errors before the process exits.
        let _ = tokio::time::timeout(Duration::from_secs(5), idle()).await;
        left
    }
}
