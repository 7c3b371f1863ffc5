//! What every clone of one balancer shares: the tinylb pool and strategy (atomics, read
//! without a lock by every pick), and the registry of discovered endpoints (behind a mutex,
//! touched only when discovery has news, when a clone copies endpoints after a change, and
//! when an endpoint fails).
//!
//! tower's `p2c::Balance` owns its `Discover` stream and its `ReadyCache`, so it cannot be
//! cloned and is put behind a `Buffer` (tonic does this). Here the stream and one master
//! copy of each endpoint service live in the registry; each clone keeps its own copy of the
//! services (`S: Clone`, as tonic's `Channel` and hyper-util's `Client` are: cheap handles
//! onto shared connections), drives their readiness itself, and shares the pool's counters
//! with every other clone.

use std::collections::HashMap;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use tinylb::{BackendId, Pool};
use tower::discover::{Change, Discover};

use crate::error::{BoxError, DiscoverError};

/// The weight of a newly discovered endpoint, from its key and service.
pub(crate) type WeightFn<K, S> = Box<dyn Fn(&K, &S) -> u32 + Send + Sync>;

/// Called after discovery changed the pool, before any clone sees the change.
pub(crate) type ChangeFn<Sel, const N: usize> = Box<dyn Fn(&Pool<N>, &Sel) + Send + Sync>;

/// One discovered endpoint: its key, its backend in the pool, the master copy of its
/// service, and the registry revision it was inserted at (a replacement gets a new one).
pub(crate) struct Entry<K, S> {
    pub(crate) key: K,
    pub(crate) id: BackendId,
    pub(crate) svc: S,
    pub(crate) rev: u64,
}

/// The discovery side: the stream, the endpoints by slot index and by key.
pub(crate) struct Registry<D: Discover> {
    discover: D,
    pub(crate) slots: Vec<Option<Entry<D::Key, D::Service>>>,
    by_key: HashMap<D::Key, usize>,
    pub(crate) rev: u64,
}

/// Shared by every clone of one balancer.
pub(crate) struct Shared<D: Discover, Sel, const N: usize> {
    pub(crate) pool: Arc<Pool<N>>,
    pub(crate) strategy: Sel,
    /// The registry's revision, readable without the lock: a clone whose copy is older
    /// takes the lock and copies again.
    pub(crate) version: AtomicU64,
    /// Endpoints (or new weights of known ones) discovery offered that the pool refused.
    pub(crate) refused: AtomicU64,
    pub(crate) wake: Arc<DiscoverWake>,
    pub(crate) registry: Mutex<Registry<D>>,
    weight: WeightFn<D::Key, D::Service>,
    on_change: Option<ChangeFn<Sel, N>>,
}

/// The waker the `Discover` stream is polled with: it raises a flag (so that no clone
/// locks the registry to poll an idle stream) and wakes every clone waiting for an endpoint.
#[derive(Debug, Default)]
pub(crate) struct DiscoverWake {
    pub(crate) woken: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Wake for DiscoverWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.wake_waiters();
    }
}

impl DiscoverWake {
    /// Wakes every clone that found no ready endpoint.
    pub(crate) fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *lock(&self.waiters));
        for w in waiters {
            w.wake();
        }
    }

    /// Registers a clone that found no ready endpoint, to be woken by the next change.
    pub(crate) fn wait(&self, waker: &Waker) {
        let mut waiters = lock(&self.waiters);
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }
}

/// Locks a mutex, ignoring poisoning: the guarded state is kept consistent between calls,
/// so a panic elsewhere (in a user's closure) leaves nothing half-done here.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<D, Sel, const N: usize> Shared<D, Sel, N>
where
    D: Discover + Unpin,
    D::Key: Hash + Clone,
    D::Error: Into<BoxError>,
{
    pub(crate) fn new(
        discover: D,
        pool: Pool<N>,
        strategy: Sel,
        weight: WeightFn<D::Key, D::Service>,
        on_change: Option<ChangeFn<Sel, N>>,
    ) -> Self {
        let wake = Arc::new(DiscoverWake::default());
        wake.woken.store(true, Ordering::Release);
        Shared {
            pool: Arc::new(pool),
            strategy,
            version: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            wake,
            registry: Mutex::new(Registry {
                discover,
                slots: (0..N).map(|_| None).collect(),
                by_key: HashMap::new(),
                rev: 0,
            }),
            weight,
            on_change,
        }
    }

    /// Polls the stream if its waker fired since the last poll, and applies every change
    /// it has ready. A stream that has ended keeps the endpoints it gave (as tower does).
    pub(crate) fn poll_discover(&self) -> Result<(), DiscoverError> {
        // a load first: the common case (nothing new) writes nothing to the shared line
        if !self.wake.woken.load(Ordering::Acquire)
            || !self.wake.woken.swap(false, Ordering::AcqRel)
        {
            return Ok(());
        }
        let waker = Waker::from(self.wake.clone());
        let mut cx = Context::from_waker(&waker);
        let mut reg = lock(&self.registry);
        let before = reg.rev;
        let mut result = Ok(());
        loop {
            match Pin::new(&mut reg.discover).poll_discover(&mut cx) {
                Poll::Pending | Poll::Ready(None) => break,
                Poll::Ready(Some(Err(e))) => {
                    // poll again next time: the stream decides whether it has more
                    self.wake.woken.store(true, Ordering::Release);
                    result = Err(DiscoverError(e.into()));
                    break;
                }
                Poll::Ready(Some(Ok(Change::Insert(key, svc)))) => self.insert(&mut reg, key, svc),
                Poll::Ready(Some(Ok(Change::Remove(key)))) => self.remove(&mut reg, &key),
            }
        }
        self.publish(&reg, before);
        result
    }

    /// After changes under the lock: the new revision for the clones, and a wake-up for
    /// those waiting for an endpoint.
    fn publish(&self, reg: &Registry<D>, before: u64) {
        if reg.rev != before {
            if let Some(f) = &self.on_change {
                f(&self.pool, &self.strategy);
            }
            self.version.store(reg.rev, Ordering::Release);
            self.wake.wake_waiters();
        }
    }

    /// A new endpoint, or a new service for a key already known. A known key keeps its
    /// backend (and so its counters, latency estimate and ejection state); only its weight
    /// and service change, and every clone copies the new service.
    fn insert(&self, reg: &mut Registry<D>, key: D::Key, svc: D::Service) {
        let weight = (self.weight)(&key, &svc);
        reg.rev += 1;
        let rev = reg.rev;
        if let Some(&index) = reg.by_key.get(&key)
            && let Some(Some(entry)) = reg.slots.get_mut(index)
        {
            if self.pool.set_weight(entry.id, weight).is_err() {
                // the pool cannot take the new weight (total above MAX_TOTAL_WEIGHT, or
                // above MAX_WEIGHT): the backend keeps its old one, and gets the new service
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            entry.svc = svc;
            entry.rev = rev;
            return;
        }
        match self.pool.add(weight) {
            Ok(id) => {
                if let Some(slot) = reg.slots.get_mut(id.index()) {
                    *slot = Some(Entry {
                        key: key.clone(),
                        id,
                        svc,
                        rev,
                    });
                    reg.by_key.insert(key, id.index());
                } else {
                    // a pool of N slots gives indices below N; nothing else to undo
                    let _ = self.pool.remove(id);
                }
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Forgets an endpoint: its backend is removed from the pool (never picked again;
    /// leases out finish and give their unit back, and only then is the slot reused).
    fn remove(&self, reg: &mut Registry<D>, key: &D::Key) {
        if let Some(index) = reg.by_key.remove(key)
            && let Some(entry) = reg.slots.get_mut(index).and_then(Option::take)
        {
            let _ = self.pool.remove(entry.id);
            reg.rev += 1;
        }
    }

    /// An endpoint whose `poll_ready` failed in some clone: removed for every clone, as
    /// tower's balancer drops a failed endpoint (discovery may insert it again). Only the
    /// copy that failed is removed: a newer service for the same key is kept.
    pub(crate) fn fail(&self, id: BackendId, rev: u64) {
        let mut reg = lock(&self.registry);
        let before = reg.rev;
        let key = match reg.slots.get(id.index()) {
            Some(Some(e)) if e.id == id && e.rev == rev => e.key.clone(),
            _ => return,
        };
        self.remove(&mut reg, &key);
        self.publish(&reg, before);
    }
}
