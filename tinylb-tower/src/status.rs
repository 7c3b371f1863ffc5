//! A status snapshot readable from any task: [`Monitor`].

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tinylb::{BackendInfo, Pool};
use tower::discover::Discover;

use crate::error::BoxError;
use crate::shared::{Shared, lock};

/// One endpoint's state: its discovery key and its backend's state in the pool.
#[derive(Debug, Clone)]
pub struct Status<K> {
    /// The key discovery gave it.
    pub key: K,
    /// Its backend's state ([`Pool::info`]): weight, health, in-flight count, latency
    /// estimate, failure streak, ejection.
    pub info: BackendInfo,
}

/// The registry's side of a snapshot, with the stream's type erased.
pub(crate) trait Names<K>: Send + Sync {
    fn names(&self) -> Vec<(K, tinylb::BackendId)>;
    fn refused(&self) -> u64;
}

impl<D, Sel, const N: usize> Names<D::Key> for Shared<D, Sel, N>
where
    D: Discover + Unpin + Send,
    D::Key: Hash + Clone + Send,
    D::Service: Send,
    D::Error: Into<BoxError>,
    Sel: Send + Sync,
{
    fn names(&self) -> Vec<(D::Key, tinylb::BackendId)> {
        let reg = lock(&self.registry);
        reg.slots
            .iter()
            .flatten()
            .map(|e| (e.key.clone(), e.id))
            .collect()
    }

    fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Reads the state of every endpoint of a balancer (all its clones share one pool), from
/// any task or thread: a dashboard, an admin endpoint, a test's assertions. Cheap to clone.
///
/// [`Monitor::pool`] reads the pool's atomics directly, without a lock. [`Monitor::snapshot`]
/// also names each backend by its discovery key, which takes the registry's lock for as long
/// as it takes to copy the keys (never while a request is picked).
pub struct Monitor<K, const N: usize> {
    pool: Arc<Pool<N>>,
    names: Arc<dyn Names<K>>,
}

impl<K, const N: usize> Clone for Monitor<K, N> {
    fn clone(&self) -> Self {
        Monitor {
            pool: self.pool.clone(),
            names: self.names.clone(),
        }
    }
}

impl<K, const N: usize> fmt::Debug for Monitor<K, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("backends", &self.pool.len())
            .finish()
    }
}

impl<K, const N: usize> Monitor<K, N> {
    pub(crate) fn new(pool: Arc<Pool<N>>, names: Arc<dyn Names<K>>) -> Self {
        Monitor { pool, names }
    }

    /// The shared pool: read any backend's state, or change one (weight, health, cap)
    /// as an operator or a health checker would.
    pub fn pool(&self) -> &Arc<Pool<N>> {
        &self.pool
    }

    /// Every endpoint discovery has given and not removed, with its backend's state, in
    /// slot order.
    pub fn snapshot(&self) -> Vec<Status<K>> {
        self.names
            .names()
            .into_iter()
            .filter_map(|(key, id)| self.pool.info(id).ok().map(|info| Status { key, info }))
            .collect()
    }

    /// The sum of the in-flight counts of every slot, removed backends still draining
    /// included: 0 once every request (finished, failed or cancelled) has let go.
    pub fn in_flight(&self) -> u64 {
        (0..N).map(|i| u64::from(self.pool.in_flight_at(i))).sum()
    }

    /// Endpoints discovery offered that the pool refused (full: `N` backends, or removed ones
    /// still draining; or a weight above [`tinylb::MAX_WEIGHT`] or one that would take the
    /// total above [`tinylb::MAX_TOTAL_WEIGHT`]). A refused new endpoint is not balanced to;
    /// a known one whose new weight is refused keeps its old weight (and its new service).
    pub fn refused(&self) -> u64 {
        self.names.refused()
    }
}
