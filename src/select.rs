//! The one trait every strategy implements, and what a pick may need.

use core::fmt;
use core::ops::Deref;

use rand_core::Rng;

use crate::lease::Lease;
use crate::pool::{BackendId, Pool};
use crate::rng::Stream;

/// Everything a pick may need besides the pool: a hash key (for affinity), the caller's
/// clock, and randomness.
///
/// All parts are optional; a strategy uses what it needs and ignores the rest:
///
/// * `key`: hash-based strategies route equal keys to the same backend;
/// * `now_us`: the caller's monotonic clock in microseconds (any epoch; tinylb never reads a
///   clock of its own). Latency-aware strategies use it to age estimates. Defaults to 0.
/// * `rng`: a [`rand_core::Rng`] for strategies that draw random numbers. Without one they
///   draw from a stream seeded once when the strategy was built, which is deterministic for a
///   single thread.
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
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("key", &self.key)
            .field("now_us", &self.now_us)
            .field("rng", &self.rng.as_ref().map(|_| "dyn Rng"))
            .finish()
    }
}

impl Default for Request<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Request<'a> {
    /// A request with no key, time 0 and no RNG.
    pub const fn new() -> Self {
        Request {
            key: None,
            now_us: 0,
            rng: None,
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
/// ejection and panic mode, slow start's effective weight, the in-flight cap), so a
/// strategy that only returns candidates honours them all, and the id it returns carries the
/// generation the view judged. Return `None` rather than panic. Randomness comes from
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
    /// and down by one, exactly once, when the lease is dropped.
    ///
    /// The in-flight cap is never exceeded, even when threads race for the last unit: the
    /// loser picks again, at most once per slot in use, and then reports `None`.
    ///
    /// `pool` is anything that derefs to the pool: `&Pool<N>`, `&'static Pool<N>`, or an
    /// `Arc<Pool<N>>` (so the lease can move into a spawned task).
    fn lease<P>(&self, pool: P, req: &mut Request<'_>) -> Option<Lease<P, N>>
    where
        P: Deref<Target = Pool<N>>,
    {
        let acquired = {
            let p: &Pool<N> = &pool;
            let tries = p.live_slots().len() + 1;
            let mut got = None;
            for _ in 0..tries {
                let id = self.select(p, req)?;
                if p.try_acquire(id) {
                    got = Some(id);
                    break;
                }
            }
            got
        }?;
        Some(Lease::new(pool, acquired))
    }
}

impl<const N: usize, S: Select<N> + ?Sized> SelectExt<N> for S {}
