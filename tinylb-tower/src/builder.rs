//! [`Builder`]: how a [`Balance`] is configured.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use tinylb::{Config, ConfigError, ParseStrategyError, Pool};
use tower::Service;
use tower::discover::Discover;

use crate::attempts::Attempts;
use crate::balance::{AttemptsFn, Balance, Fail, KeyFn, PoolRef, Resp};
use crate::clock::{Clock, DefaultClock};
use crate::error::BoxError;
use crate::future::{ClassifyFn, Finish};
use crate::local::Endpoints;
use crate::shared::{ChangeFn, Shared, WeightFn};
use crate::weighted::Weighted;

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
            attempts: None,
            classify: Arc::new(|r| r.is_ok()),
            clock: Box::new(DefaultClock::default()),
            on_change: None,
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
    attempts: Option<Arc<AttemptsFn<Req, N>>>,
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

    /// Where a request carries its [`Attempts`] (for HTTP, its extensions:
    /// `|r: &http::Request<B>| r.extensions().get::<Attempts<N>>().cloned()`): its tried
    /// backends are excluded from its pick, and the backend it gets is added. This is what
    /// lets a retry layer above the balancer send a failed request elsewhere
    /// (`RetryUntried`, with the `retry` feature).
    pub fn attempts(
        mut self,
        f: impl Fn(&Req) -> Option<Attempts<N>> + Send + Sync + 'static,
    ) -> Self {
        self.attempts = Some(Arc::new(f));
        self
    }

    /// Whether a response (or error) is the backend's success: failures extend its
    /// failure streak (and eject it, with [`Config::ejection`]). For HTTP, count 5xx as
    /// failures: `|r| matches!(r, Ok(resp) if !resp.status().is_server_error())`.
    pub fn classify(
        mut self,
        f: impl Fn(Result<&Resp<D, Req>, &Fail<D, Req>>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.classify = Arc::new(f);
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
        let shared = Arc::new(Shared::new(
            self.discover,
            self.pool,
            self.strategy,
            self.weight,
            self.on_change,
        ));
        Balance {
            pool_ref: PoolRef::new(shared.pool.clone()),
            shared,
            local: Endpoints::new(),
            key: self.key,
            attempts: self.attempts,
            finish: Arc::new(Finish {
                clock: Arc::from(self.clock),
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
