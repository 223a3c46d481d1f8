//! Idle sessions: with `limits.idle_session_timeout`, a connection that runs no statement
//! for that long is closed (PostgreSQL's idle_session_timeout). A statement under way
//! keeps its session, however long it runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One connection's last activity.
pub struct Activity {
    epoch: Instant,
    /// Milliseconds from `epoch` to the end of the last statement (or the connect).
    last_ms: AtomicU64,
    busy: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity { epoch: Instant::now(), last_ms: AtomicU64::new(0), busy: AtomicBool::new(false) }
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        Some(self.epoch.elapsed().saturating_sub(last))
    }
}

/// Marks a statement under way until dropped.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.epoch.elapsed().as_millis() as u64;
        self.0.last_ms.store(now, Ordering::SeqCst);
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

/// Every open connection's activity, by client address.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<SocketAddr, Arc<Activity>>>);

impl Sessions {
    pub fn open(&self, addr: SocketAddr) -> Arc<Activity> {
        let a = Arc::new(Activity::new());
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(addr, a.clone());
        a
    }

    pub fn close(&self, addr: &SocketAddr) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(addr);
    }

    /// Marks `addr`'s session busy until the guard drops.
    pub fn busy(&self, addr: &SocketAddr) -> Option<Busy> {
        let a = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(addr).cloned()?;
        a.busy.store(true, Ordering::SeqCst);
        Some(Busy(a))
    }
}

/// Resolves once the session has been idle for `timeout`.
pub async fn expired(activity: Arc<Activity>, timeout: Duration) {
    let step = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::time::sleep(step).await;
        if activity.idle_for().is_some_and(|idle| idle >= timeout) {
            return;
        }
    }
}
