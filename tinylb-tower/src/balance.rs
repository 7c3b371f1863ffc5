//! [`Balance`]: a tower [`Service`] that sends each request to one endpoint chosen by a
//! tinylb strategy, and its [`Builder`].

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tinylb::{Lease, Pool, Request, Select, SelectExt, Tried};
use tower::Service;
use tower::discover::Discover;

use crate::attempts::Attempts;
use crate::error::BoxError;
use crate::future::{Finish, ResponseFuture};
use crate::local::Endpoints;
use crate::shared::Shared;
use crate::status::Monitor;

/// The affinity key of a request, for hash strategies (Maglev, rendezvous, jump, bounded
/// load); `None` for a request without one.
pub(crate) type KeyFn<Req> = dyn Fn(&Req) -> Option<u64> + Send + Sync;

/// The request's [`Attempts`] handle, if it carries one.
pub(crate) type AttemptsFn<Req, const N: usize> = dyn Fn(&Req) -> Option<Attempts<N>> + Send + Sync;

pub(crate) type Resp<D, Req> = <<D as Discover>::Service as Service<Req>>::Response;
pub(crate) type Fail<D, Req> = <<D as Discover>::Service as Service<Req>>::Error;

/// Balances requests over the endpoints of a [`Discover`] stream with a tinylb strategy.
///
/// * **Endpoints** come from `D`: `Change::Insert(key, service)` adds a backend to a
///   [`tinylb::Pool<N>`] with the weight [`Builder::weight`](crate::Builder::weight) gives it (a new service for a
///   known key keeps the backend and its counters); `Change::Remove(key)` removes it (never
///   picked again; the requests it has out finish normally, and its slot is reused only
///   once the last of them lets go).
/// * **Picks** are made by any [`Select<N>`] (`S`), among the endpoints that are ready,
///   with the affinity key [`Builder::key`](crate::Builder::key) reads from the request. The pick takes a
///   [`Lease`], which the [`ResponseFuture`] finishes with the outcome.
/// * **Readiness** as tower's balancer has it: endpoints that are not ready are not picked,
///   and are polled by `poll_ready` (only those; see the crate docs); an endpoint whose
///   `poll_ready` fails is removed. `poll_ready` is pending while no endpoint is ready.
/// * **Clones share** the pool and the strategy (atomics: no lock when a request is
///   picked) and the discovery registry; each clone has its own copy of each endpoint
///   service (`D::Service: Clone`). Give each connection task its own clone.
///
/// When `call` finds no ready endpoint eligible in the pool (all ejected, down, at their
/// cap), its future fails at once with [`NoBackend`](crate::NoBackend).
pub struct Balance<D, Req, S, const N: usize = 64>
where
    D: Discover,
    D::Service: Service<Req>,
{
    pub(crate) shared: Arc<Shared<D, S, N>>,
    pub(crate) local: Endpoints<D::Service>,
    pub(crate) key: Option<Arc<KeyFn<Req>>>,
    pub(crate) attempts: Option<Arc<AttemptsFn<Req, N>>>,
    pub(crate) finish: Arc<Finish<Resp<D, Req>, Fail<D, Req>>>,
    pub(crate) pool_ref: PoolRef<N>,
    pub(crate) _req: PhantomData<fn(Req)>,
}

impl<D, Req, S, const N: usize> fmt::Debug for Balance<D, Req, S, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balance")
            .field("backends", &self.shared.pool.len())
            .field("ready", &self.local.ready_len())
            .finish()
    }
}

impl<D, Req, S, const N: usize> Clone for Balance<D, Req, S, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    /// Another handle on the same pool, strategy and endpoints, with its own copies of the
    /// endpoint services (taken at its first `poll_ready`).
    fn clone(&self) -> Self {
        Balance {
            shared: self.shared.clone(),
            local: Endpoints::new(),
            key: self.key.clone(),
            attempts: self.attempts.clone(),
            finish: Arc::new((*self.finish).clone()),
            pool_ref: PoolRef::new(self.shared.pool.clone()),
            _req: PhantomData,
        }
    }
}

impl<D, Req, S, const N: usize> Balance<D, Req, S, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    /// A [`Monitor`] of this balancer's endpoints, for another task.
    pub fn monitor(&self) -> Monitor<D::Key, N>
    where
        D: Unpin + Send + 'static,
        D::Key: Hash + Clone + Send + 'static,
        D::Service: Send + 'static,
        D::Error: Into<BoxError>,
        S: Send + Sync + 'static,
    {
        Monitor::new(self.shared.pool.clone(), self.shared.clone())
    }

    /// The pool every clone shares.
    pub fn pool(&self) -> &Arc<Pool<N>> {
        &self.shared.pool
    }

    /// Number of endpoints this clone has ready.
    pub fn ready_len(&self) -> usize {
        self.local.ready_len()
    }
}

impl<D, Req, S, const N: usize> Balance<D, Req, S, N>
where
    D: Discover + Unpin,
    D::Key: Hash + Clone,
    D::Error: Into<BoxError>,
    D::Service: Service<Req> + Clone,
    S: Select<N>,
{
    /// Copies the registry's endpoints if it changed since this clone last did.
    fn sync(&mut self) {
        if self.local.seen == Some(self.shared.version.load(Ordering::Acquire)) {
            return;
        }
        let reg = crate::shared::lock(&self.shared.registry);
        let entries = reg
            .slots
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.as_ref().map(|e| (e.id, e.rev, &e.svc))));
        self.local.sync(entries, reg.rev);
    }

    /// A lease on an endpoint ready here, not yet tried by this request: the strategy's
    /// pick, with the copies that are not ready (and the request's attempts) excluded.
    fn pick(
        &self,
        key: Option<u64>,
        now_us: u64,
        attempts: Option<&Attempts<N>>,
    ) -> Option<Lease<PoolRef<N>, N>> {
        let strategy = &self.shared.strategy;
        let tried = attempts.map(Attempts::tried).filter(|t| !t.is_empty());
        // the common case: every copy ready, a first attempt: a plain pick
        let mut excluded = match tried {
            None if self.local.all_ready() => {
                let lease = strategy.lease(
                    self.pool_ref.clone(),
                    &mut request_for::<N>(key, now_us, None),
                )?;
                if self.local.is_ready(lease.index(), lease.id()) {
                    return Some(lease);
                }
                // a backend discovery added that this clone has no copy of yet
                let mut t = Tried::new();
                t.insert(lease.id());
                t
            }
            Some(ref t) => t.clone(),
            None => Tried::new(),
        };
        for id in self.local.pending_ids() {
            excluded.insert(id);
        }
        let mut reuse_tried = false;
        for _ in 0..=N {
            let got = strategy.try_lease(
                self.pool_ref.clone(),
                &mut request_for(key, now_us, Some(&excluded)),
            );
            match got {
                Ok(lease) if self.local.is_ready(lease.index(), lease.id()) => return Some(lease),
                Ok(lease) => {
                    excluded.insert(lease.id());
                }
                Err(tinylb::NoBackend::Excluded) if !reuse_tried && tried.is_some() => {
                    // every untried backend is out: a tried one rather than none
                    reuse_tried = true;
                    excluded = Tried::new();
                    for id in self.local.pending_ids() {
                        excluded.insert(id);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }
}

/// The pool as a request's lease holds it: the shared pool through a pointer of this clone's
/// own, so that the reference count each request takes and drops is not a cache line that
/// every clone (every connection task) writes.
#[derive(Debug)]
pub struct PoolRef<const N: usize>(Arc<ClonesPool<N>>);

/// One clone's pointer to the shared pool (allocated once per clone).
#[derive(Debug)]
struct ClonesPool<const N: usize>(Arc<Pool<N>>);

impl<const N: usize> Clone for PoolRef<N> {
    fn clone(&self) -> Self {
        PoolRef(self.0.clone())
    }
}

impl<const N: usize> PoolRef<N> {
    pub(crate) fn new(pool: Arc<Pool<N>>) -> Self {
        PoolRef(Arc::new(ClonesPool(pool)))
    }
}

impl<const N: usize> std::ops::Deref for PoolRef<N> {
    type Target = Pool<N>;
    fn deref(&self) -> &Pool<N> {
        &self.0.0
    }
}

/// The pick's request: the key, the clock, and what it must not get.
fn request_for<const N: usize>(
    key: Option<u64>,
    now_us: u64,
    excluding: Option<&Tried<N>>,
) -> Request<'_> {
    let mut r = Request::new().with_now_us(now_us);
    if let Some(k) = key {
        r = r.with_key(k);
    }
    match excluding {
        Some(t) => r.excluding(t),
        None => r,
    }
}

impl<D, Req, S, const N: usize> Service<Req> for Balance<D, Req, S, N>
where
    D: Discover + Unpin,
    D::Key: Hash + Clone,
    D::Error: Into<BoxError>,
    D::Service: Service<Req> + Clone,
    Fail<D, Req>: Into<BoxError>,
    S: Select<N>,
{
    type Response = Resp<D, Req>;
    type Error = BoxError;
    type Future = ResponseFuture<
        <D::Service as Service<Req>>::Future,
        Resp<D, Req>,
        Fail<D, Req>,
        Lease<PoolRef<N>, N>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Err(e) = self.shared.poll_discover() {
            return Poll::Ready(Err(e.into()));
        }
        self.sync();
        let polled = self.local.poll_pending::<Req>(cx);
        if !polled.failed.is_empty() {
            for (id, rev) in polled.failed {
                self.shared.fail(id, rev);
            }
            self.sync();
        }
        if self.local.ready_len() > 0 {
            return Poll::Ready(Ok(()));
        }
        // nothing ready: pending endpoints have our waker; discovery gets it too
        self.shared.wake.wait(cx.waker());
        if self.shared.wake.woken.load(Ordering::Acquire)
            || self.local.seen != Some(self.shared.version.load(Ordering::Acquire))
        {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let now = self.finish.clock.now_us();
        let key = self.key.as_ref().and_then(|f| f(&req));
        let attempts = self.attempts.as_ref().and_then(|f| f(&req));
        let Some(lease) = self.pick(key, now, attempts.as_ref()) else {
            return ResponseFuture::no_backend(self.finish.clone());
        };
        if let Some(a) = &attempts {
            a.insert(lease.id());
        }
        match self.local.call(lease.index(), req) {
            Some(fut) => ResponseFuture::called(fut, lease, now, self.finish.clone()),
            None => ResponseFuture::no_backend(self.finish.clone()),
        }
    }
}
