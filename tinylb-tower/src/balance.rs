//! [`Balance`]: a tower [`Service`] that sends each request to one endpoint chosen by a
//! tinylb strategy, and its [`Builder`].

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tinylb::{Config, ConfigError, Lease, ParseStrategyError, Pool, Request, Select, SelectExt};
use tower::Service;
use tower::discover::Discover;

use crate::clock::{Clock, DefaultClock, SharedClock};
use crate::error::BoxError;
use crate::future::{ClassifyFn, Finish, ResponseFuture};
use crate::local::Endpoints;
use crate::shared::{ChangeFn, Shared, WeightFn};
use crate::status::Monitor;
use crate::weighted::Weighted;

/// The affinity key of a request, for hash strategies (Maglev, rendezvous, jump, bounded
/// load); `None` for a request without one.
pub(crate) type KeyFn<Req> = dyn Fn(&Req) -> Option<u64> + Send + Sync;

type Resp<D, Req> = <<D as Discover>::Service as Service<Req>>::Response;
type Fail<D, Req> = <<D as Discover>::Service as Service<Req>>::Error;

/// Balances requests over the endpoints of a [`Discover`] stream with a tinylb strategy.
///
/// * **Endpoints** come from `D`: `Change::Insert(key, service)` adds a backend to a
///   [`tinylb::Pool<N>`] with the weight [`Builder::weight`] gives it (a new service for a
///   known key keeps the backend and its counters); `Change::Remove(key)` removes it (never
///   picked again; the requests it has out finish normally, and its slot is reused only
///   once the last of them lets go).
/// * **Picks** are made by any [`Select<N>`] (`S`), among the endpoints that are ready,
///   with the affinity key [`Builder::key`] reads from the request. The pick takes a
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
    shared: Arc<Shared<D, S, N>>,
    local: Endpoints<D::Service>,
    key: Option<Arc<KeyFn<Req>>>,
    finish: Arc<Finish<Resp<D, Req>, Fail<D, Req>>>,
    _req: PhantomData<fn(Req)>,
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
            local: Endpoints::new(N),
            key: self.key.clone(),
            finish: self.finish.clone(),
            _req: PhantomData,
        }
    }
}

/// Configures a [`Balance`]: made by [`Balance::builder`] or [`Balance::by_name`].
pub struct Builder<D, Req, S, const N: usize>
where
    D: Discover,
    D::Service: Service<Req>,
{
    discover: D,
    strategy: S,
    pool: Pool<N>,
    weight: WeightFn<D::Key, D::Service>,
    key: Option<Arc<KeyFn<Req>>>,
    classify: ClassifyFn<Resp<D, Req>, Fail<D, Req>>,
    clock: Box<dyn Clock>,
    on_change: Option<ChangeFn<S, N>>,
}

impl<D, Req, S, const N: usize> fmt::Debug for Builder<D, Req, S, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", self.pool.config())
            .finish()
    }
}

impl<D, Req, S, const N: usize> Balance<D, Req, S, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    /// Starts a balancer over `discover`'s endpoints that picks with `strategy`. Name the
    /// pool size when nothing else does: `Balance::<_, _, _, 16>::builder(..)`.
    ///
    /// Defaults: every endpoint has weight 1, requests have no key, `Ok` is a success and
    /// `Err` a failure, the pool has [`Config::new`] (no ejection), and the clock is
    /// [`DefaultClock`].
    pub fn builder(discover: D, strategy: S) -> Builder<D, Req, S, N> {
        Builder {
            discover,
            strategy,
            pool: Pool::new(),
            weight: Box::new(|_, _| 1),
            key: None,
            classify: Box::new(|r| r.is_ok()),
            clock: Box::new(DefaultClock::default()),
            on_change: None,
        }
    }

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

impl<D, Req, const N: usize> Balance<D, Req, tinylb::Strategy<N>, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    /// Starts a balancer whose strategy is named as in a configuration file (`p2c`,
    /// `least_conn`, `maglev`, `round_robin`, ...: [`tinylb::strategy::STRATEGY_NAMES`]).
    ///
    /// For `maglev`, the table is rebuilt when discovery changes the endpoints, before any
    /// request sees the change ([`Builder::on_change`]).
    pub fn by_name(
        discover: D,
        name: &str,
    ) -> Result<Builder<D, Req, tinylb::Strategy<N>, N>, ParseStrategyError> {
        Ok(Self::builder(discover, name.parse()?).on_change(|pool, s| {
            if let tinylb::Strategy::Maglev(m) = s {
                m.refresh(pool);
            }
        }))
    }
}

impl<D, Req, S, const N: usize> Builder<D, Req, S, N>
where
    D: Discover,
    D::Service: Service<Req>,
{
    /// The pool's policy: latency half-life, slow start, outlier ejection (which the
    /// classifier's failures feed), panic threshold.
    pub fn config(mut self, config: Config) -> Result<Self, ConfigError> {
        self.pool = Pool::with_config(config)?;
        Ok(self)
    }

    /// Each new endpoint's weight, from its key and service.
    pub fn weight(
        mut self,
        f: impl Fn(&D::Key, &D::Service) -> u32 + Send + Sync + 'static,
    ) -> Self {
        self.weight = Box::new(f);
        self
    }

    /// The request's affinity key, for hash strategies: for example a header's bytes
    /// through [`tinylb::hash::hash_bytes`].
    pub fn key(mut self, f: impl Fn(&Req) -> Option<u64> + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(f));
        self
    }

    /// Whether a response (or error) is the backend's success: failures extend its
    /// failure streak (and eject it, with [`Config::ejection`]). For HTTP, count 5xx as
    /// failures: `|r| matches!(r, Ok(resp) if !resp.status().is_server_error())`.
    pub fn classify(
        mut self,
        f: impl Fn(Result<&Resp<D, Req>, &Fail<D, Req>>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.classify = Box::new(f);
        self
    }

    /// Runs `f` after each batch of discovery changes (and each endpoint removed for a
    /// failed `poll_ready`), on the discovery path, before any clone picks among the new
    /// endpoints: the place to rebuild what a strategy derives from membership, such as a
    /// Maglev table (`|pool, m| { m.refresh(pool); }`), so that no request pays for it and
    /// no key is routed by the fallback while the first table is built.
    pub fn on_change(mut self, f: impl Fn(&Pool<N>, &S) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Box::new(f));
        self
    }

    /// The clock picks are judged at and latencies measured with.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The balancer.
    pub fn build(self) -> Balance<D, Req, S, N>
    where
        D: Unpin,
        D::Key: Hash + Clone,
        D::Error: Into<BoxError>,
    {
        Balance {
            shared: Arc::new(Shared::new(
                self.discover,
                self.pool,
                self.strategy,
                self.weight,
                self.on_change,
            )),
            local: Endpoints::new(N),
            key: self.key,
            finish: Arc::new(Finish {
                clock: SharedClock(self.clock),
                classify: self.classify,
            }),
            _req: PhantomData,
        }
    }
}

impl<D, Req, S, Inner, const N: usize> Builder<D, Req, S, N>
where
    D: Discover<Service = Weighted<Inner>>,
    Inner: Service<Req>,
{
    /// Each endpoint's weight is the one its [`Weighted`] wrapper carries.
    pub fn weight_from_service(self) -> Self {
        self.weight(|_, s| s.weight)
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

    /// A lease on a ready endpoint: the strategy's pick when that endpoint is ready here.
    fn pick(&self, req: &mut Request<'_>) -> Option<Lease<Arc<Pool<N>>, N>> {
        let pool = &self.shared.pool;
        let strategy = &self.shared.strategy;
        let tries = pool.len() + 1;
        for _ in 0..tries {
            let lease = strategy.lease(pool.clone(), req)?;
            if self.local.is_ready(lease.index(), lease.id()) {
                return Some(lease);
            }
        }
        // the strategy keeps choosing endpoints that are not ready here: the first ready
        // eligible one
        let now = req.now_us();
        self.local
            .ready_ids()
            .filter(|id| pool.is_eligible(id.index(), now))
            .find_map(|id| Lease::acquire(pool.clone(), id))
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
        Lease<Arc<Pool<N>>, N>,
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
        let now = self.finish.clock.0.now_us();
        let mut r = Request::new().with_now_us(now);
        if let Some(key) = self.key.as_ref().and_then(|f| f(&req)) {
            r = r.with_key(key);
        }
        let Some(lease) = self.pick(&mut r) else {
            return ResponseFuture::no_backend(self.finish.clone());
        };
        match self.local.call(lease.index(), req) {
            Some(fut) => ResponseFuture::called(fut, lease, now, self.finish.clone()),
            None => ResponseFuture::no_backend(self.finish.clone()),
        }
    }
}
