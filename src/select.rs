//! The one trait every strategy implements, and what a pick may need.

use core::fmt;
use core::ops::Deref;

use rand_core::Rng;

use crate::lease::Lease;
use crate::pool::{BackendId, NoBackend, Pool};
use crate::rng::Stream;
use crate::tried::Tried;

/// Everything a pick may need besides the pool: a hash key (for affinity), the caller's
/// clock, randomness, and what the request must not get or would rather get.
///
/// All parts are optional; a strategy uses what it needs and ignores the rest:
///
/// * `key`: hash-based strategies route equal keys to the same backend;
/// * `now_us`: the caller's monotonic clock in microseconds (any epoch; tinylb never reads a
///   clock of its own). Latency-aware strategies use it to age estimates. Defaults to 0.
/// * `rng`: a [`rand_core::Rng`] for strategies that draw random numbers. Without one they
///   draw from a stream seeded once when the strategy was built, which is deterministic for a
///   single thread.
/// * exclusion ([`Request::excluding`]): a [`Tried`] set of backends this request must not
///   get (a retry's previous attempts); the pool's view leaves them out for every strategy;
/// * preference ([`Request::prefer`]): a backend to take if a pick may take it (a session's
///   previous backend), else the strategy picks as usual.
///
/// Neither of the last two costs anything when absent: a pick checks one flag.
///
/// ```
/// # use tinylb::Request;
/// let req = Request::new().with_key(42).with_now_us(1_000_000);
/// assert_eq!(req.key(), Some(42));
/// ```
pub struct Request<'a> {
    key: Option<u64>,
    now_us: u64,
    rng: Option<&'a mut dyn Rng>,
    /// Exclusion and preference, `None` for a plain request: one word to write when a
    /// request is made and one to test when it is picked for.
    extra: Option<Extra<'a>>,
}

/// What a request excludes or prefers.
#[derive(Debug, Clone, Copy, Default)]
struct Extra<'a> {
    /// A [`Tried`] set's per-slot tags.
    excluded: Option<&'a [u8]>,
    prefer: Option<BackendId>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("key", &self.key)
            .field("now_us", &self.now_us)
            .field("rng", &self.rng.as_ref().map(|_| "dyn Rng"))
            .field("excluding", &self.is_excluding())
            .field("prefer", &self.preferred())
            .finish()
    }
}

impl Default for Request<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Request<'a> {
    /// A request with no key, time 0, no RNG, no exclusion and no preference.
    pub const fn new() -> Self {
        Request {
            key: None,
            now_us: 0,
            rng: None,
            extra: None,
        }
    }

    /// Sets the affinity key.
    pub const fn with_key(mut self, key: u64) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the caller's clock, in microseconds.
    pub const fn with_now_us(mut self, now_us: u64) -> Self {
        self.now_us = now_us;
        self
    }

    /// The old name of [`Request::with_now_us`].
    #[deprecated(note = "renamed to `with_now_us`, beside `with_key` and `with_rng`")]
    pub const fn at_us(self, now_us: u64) -> Self {
        self.with_now_us(now_us)
    }

    /// Supplies the randomness for this pick.
    pub fn with_rng(mut self, rng: &'a mut dyn Rng) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Excludes the backends in `tried`: no strategy returns one of them for this request
    /// (each skips them in its own way: see [`Pool::pick`]). When every backend a pick could
    /// take is excluded, the pick finds nothing and [`SelectExt::try_select`] says
    /// [`NoBackend::Excluded`], so the caller can decide, as Envoy does, to reuse one anyway.
    pub const fn excluding<const N: usize>(mut self, tried: &'a Tried<N>) -> Self {
        let prefer = self.preferred();
        self.extra = Some(Extra {
            excluded: Some(tried.tags()),
            prefer,
        });
        self
    }

    /// Prefers backend `id` (a session's previous backend, a cookie's value): a pick returns
    /// it if the pool's view would let a pick take it (the first tier with any candidate,
    /// health, ejection and panic, share, cap, and this request's exclusion), and otherwise
    /// picks as the strategy does. A preferred backend that is taken costs the strategy
    /// nothing: no schedule moves, no random draw is made.
    pub const fn prefer(mut self, id: BackendId) -> Self {
        let excluded = self.excluded();
        self.extra = Some(Extra {
            excluded,
            prefer: Some(id),
        });
        self
    }

    /// The preferred backend, if any.
    pub const fn preferred(&self) -> Option<BackendId> {
        match &self.extra {
            Some(e) => e.prefer,
            None => None,
        }
    }

    /// `true` if the request excludes some backends ([`Request::excluding`]).
    pub const fn is_excluding(&self) -> bool {
        self.excluded().is_some()
    }

    /// Sets the clock in place, for a request value reused across picks.
    pub fn set_now_us(&mut self, now_us: u64) {
        self.now_us = now_us;
    }

    /// The affinity key, if any.
    pub const fn key(&self) -> Option<u64> {
        self.key
    }

    /// The caller's clock in microseconds.
    pub const fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The request's RNG, if it carries one: a strategy written outside the crate draws its
    /// randomness here (and from a stream of its own when there is none).
    pub fn rng(&mut self) -> Option<&mut dyn Rng> {
        match &mut self.rng {
            Some(r) => Some(&mut **r),
            None => None,
        }
    }

    /// `true` if the request carries an exclusion or a preference.
    #[inline(always)]
    pub(crate) const fn constrained(&self) -> bool {
        self.extra.is_some()
    }

    /// The exclusion's per-slot tags.
    #[inline]
    pub(crate) const fn excluded(&self) -> Option<&'a [u8]> {
        match &self.extra {
            Some(e) => e.excluded,
            None => None,
        }
    }

    /// The same request for one attempt that also excludes `tried`, borrowing this one's RNG.
    pub(crate) fn excluding_too<'s, const N: usize>(
        &'s mut self,
        tried: &'s Tried<N>,
    ) -> Request<'s> {
        let prefer = self.preferred();
        let rng: Option<&'s mut dyn Rng> = match &mut self.rng {
            Some(r) => Some(&mut **r),
            None => None,
        };
        Request {
            key: self.key,
            now_us: self.now_us,
            rng,
            extra: Some(Extra {
                excluded: Some(tried.tags()),
                prefer,
            }),
        }
    }

    /// 64 random bits: from the request's RNG if it has one, else from `fallback`.
    #[inline]
    pub(crate) fn draw(&mut self, fallback: &Stream) -> u64 {
        match self.rng.as_deref_mut() {
            Some(r) => r.next_u64(),
            None => fallback.next_u64(),
        }
    }
}

/// Picks the backend for the next request.
///
/// One required method on `&self`: strategies keep their own state in atomics, so one
/// instance can be shared by every worker thread (and can be a `static`). The strategy
/// returns an eligible backend (up, weight above zero, below its in-flight cap), or `None`
/// when there is none. It does not take a lease: use [`SelectExt::lease`] for that, which
/// also moves on when another thread takes the last unit of a backend's cap first.
///
/// # Implementing `Select`
///
/// Pick through [`Pool::pick`]: it hands your closure a [`View`](crate::View) of each tier
/// in turn, and you return one of the view's [`Candidate`](crate::Candidate)s
/// ([`View::get`](crate::View::get) by index, [`View::candidates`](crate::View::candidates)
/// to scan). The view has already applied every eligibility rule (health, the backup tier,
/// ejection and panic mode, slow start's effective weight, the in-flight cap, the request's
/// exclusion), and the pick applies the request's preference, so a strategy that only
/// returns candidates honours them all, and the id it returns carries the generation the
/// view judged. Return `None` rather than panic. Randomness comes from
/// [`Request::rng`] (or a stream of your own), the clock from [`Request::now_us`]. `N` ties
/// a strategy that keeps per-backend state to the pool size at compile time.
pub trait Select<const N: usize> {
    /// Chooses a backend for `req`, or `None` if no backend is eligible.
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId>;
}

impl<const N: usize, S: Select<N> + ?Sized> Select<N> for &S {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        (**self).select(pool, req)
    }
}

/// Helpers on top of [`Select`], for every strategy.
pub trait SelectExt<const N: usize>: Select<N> {
    /// Picks a backend and takes a [`Lease`] on it: its in-flight count goes up by one now
    /// and down by one, exactly once, when the lease is dropped. `None` when no backend can
    /// take the request: [`SelectExt::try_lease`] says why.
    ///
    /// The in-flight cap is never exceeded, even when threads race for the last unit: the
    /// loser picks again, at most once per slot in use, and then reports `None`.
    ///
    /// `pool` is anything that derefs to the pool: `&Pool<N>`, `&'static Pool<N>`, or an
    /// `Arc<Pool<N>>` (so the lease can move into a spawned task).
    #[inline]
    fn lease<P>(&self, pool: P, req: &mut Request<'_>) -> Option<Lease<P, N>>
    where
        P: Deref<Target = Pool<N>>,
    {
        let (id, pooled) = take(self, &pool, req).ok()?;
        Some(Lease::new(pool, id, pooled))
    }

    /// [`SelectExt::lease`], saying why there is no lease ([`NoBackend`]): nothing in the
    /// pool, nothing up, everything at its cap (or the pool at its pool-wide cap), or
    /// everything left excluded by the request.
    fn try_lease<P>(&self, pool: P, req: &mut Request<'_>) -> Result<Lease<P, N>, NoBackend>
    where
        P: Deref<Target = Pool<N>>,
    {
        match take(self, &pool, req) {
            Ok((id, pooled)) => Ok(Lease::new(pool, id, pooled)),
            Err(Some(why)) => Err(why),
            Err(None) => Err(pool.why_none(req)),
        }
    }

    /// [`Select::select`], saying why there is no backend ([`NoBackend`]; computed only when
    /// there is none).
    #[inline]
    fn try_select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Result<BackendId, NoBackend> {
        match self.select(pool, req) {
            Some(id) => Ok(id),
            None => Err(pool.why_none(req)),
        }
    }

    /// One attempt of a retry loop: a lease on a backend not in `tried`, which is then added
    /// to `tried` (so the next attempt goes elsewhere). `req`'s own exclusion, if any, is
    /// replaced by `tried` for this attempt; its key, clock, RNG and preference are kept.
    ///
    /// ```
    /// use tinylb::{NoBackend, Pool, Random, Request, SelectExt, Tried};
    /// let pool: Pool<8> = Pool::new();
    /// for _ in 0..3 {
    ///     pool.add(1).unwrap();
    /// }
    /// let lb = Random::with_seed(7);
    /// let mut tried = Tried::new();
    /// let mut req = Request::new();
    /// let first = lb.lease_untried(&pool, &mut req, &mut tried).unwrap();
    /// let second = lb.lease_untried(&pool, &mut req, &mut tried).unwrap();
    /// assert_ne!(first.id(), second.id());
    /// let _third = lb.lease_untried(&pool, &mut req, &mut tried).unwrap();
    /// let fourth = lb.lease_untried(&pool, &mut req, &mut tried);
    /// assert_eq!(fourth.unwrap_err(), NoBackend::Excluded);
    /// ```
    fn lease_untried<P>(
        &self,
        pool: P,
        req: &mut Request<'_>,
        tried: &mut Tried<N>,
    ) -> Result<Lease<P, N>, NoBackend>
    where
        P: Deref<Target = Pool<N>>,
    {
        let lease = {
            let mut attempt = req.excluding_too(tried);
            self.try_lease(pool, &mut attempt)?
        };
        tried.insert(lease.id());
        Ok(lease)
    }
}

impl<const N: usize, S: Select<N> + ?Sized> SelectExt<N> for S {}

/// Picks and takes one in-flight unit (and one of the pool-wide cap, if set): the backend
/// and whether a pool-wide unit was taken, or `Err(Some(reason))` when the pool-wide cap is
/// reached, `Err(None)` when no backend could be leased (the caller decides whether to
/// look up why: [`SelectExt::lease`] does not, so it does not carry that code).
#[inline]
fn take<S: Select<N> + ?Sized, const N: usize>(
    s: &S,
    p: &Pool<N>,
    req: &mut Request<'_>,
) -> Result<(BackendId, bool), Option<NoBackend>> {
    let pooled = p.reserve().map_err(Some)?;
    let tries = p.live_slots().len() + 1;
    for _ in 0..tries {
        let Some(id) = s.select(p, req) else { break };
        if p.try_acquire(id) {
            return Ok((id, pooled));
        }
    }
    if pooled {
        p.unreserve();
    }
    Err(None)
}
