//! Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, SODA 2018;
//! Envoy and HAProxy `hash_balance_factor`).

use crate::error::ConfigError;
use crate::pool::{BackendId, Candidate, Penalty, Pool, View};
use crate::rng::{Stream, mix64};
use crate::select::{Request, Select};
use crate::strategy::score::{best_where, key_of, winner};

/// Balance factor of [`BoundedLoad`] when none is given (and of the `bounded_load` name):
/// 125 %, so no backend carries more than 1.25 × its share of the requests in flight.
pub const DEFAULT_BALANCE_FACTOR: u32 = 125;

/// Consistent hashing with bounded loads: a key goes to its consistent-hash choice unless
/// that backend already carries more than `c` × its fair share of the requests in flight;
/// then it goes to the next choice in the key's own order that does not.
///
/// # Bound
///
/// With balance factor `c` (a percentage, at least 100), total in-flight `T` and total
/// weight `W` of the eligible backends, backend `i` of weight `w_i` may take the request
/// only while
///
/// ```text
/// in_flight_i < ⌈ c/100 · (T + 1) · w_i / W ⌉
/// ```
///
/// (with equal weights, `⌈c·(T+1)/n⌉`, as in the paper and in Envoy and HAProxy), tested as
/// `in_flight_i · 100 · W < c · (T + 1) · w_i` in `u128`, exactly. After the pick takes its
/// lease, the backend holds at most its bound. Because `c ≥ 100`, the bounds of the eligible
/// backends add up to more than `T`, so some eligible backend is always under its bound: the
/// strategy returns `None` only when no backend is eligible. "Eligible" excludes backends
/// at their in-flight cap: they take no new requests, so they are out of the share.
///
/// # Order of choices
///
/// Every key ranks the eligible backends by weighted rendezvous hashing (see
/// [`Rendezvous`](crate::Rendezvous)): the first is the key's consistent-hash choice, the
/// rest its probe sequence, deterministic and seeded by the key alone. The pick is the
/// best-ranked backend under its bound (walking the sequence until a backend has room is
/// the same as taking the best-ranked one that has room), found in one more O(n) pass when
/// the first choice is full. So:
///
/// * a key whose first choice is under its bound **never moves**;
/// * an overflowing key's next choice is spread over the other backends in proportion to
///   their weights (it is their rendezvous winner for that key), instead of all going to a
///   ring neighbour;
/// * membership changes move keys exactly as rendezvous hashing does.
///
/// Cost: O(n): one pass to sum in-flight counts and weights (loads only), one to find the
/// first choice (exactly [`Rendezvous`](crate::Rendezvous)'s pick), and, only when that
/// backend is over its bound, one more to find the best-ranked backend under its bound
/// (a 128-bit comparison per backend).
/// Under concurrency the counts are read while other threads change them, so the bound holds
/// against the counts as read; if no backend reads as under its bound, the key's first
/// choice is returned.
///
/// A backend with recent failures counts `in_flight + (in_flight + 1) · pen` against its
/// bound, `pen` the failure penalty of
/// [`Config::failure_penalty_percent`](crate::Config::failure_penalty_percent): it fills sooner, so it keeps fewer of its keys
/// and takes less of the others' overflow (this only tightens the bound above).
///
/// Weights are the effective ones of the pick's view (slow start ramps a returning backend's
/// share, and its bound with it); ejected backends are out, backups are used only when no
/// primary is eligible.
///
/// A request without a key gets a random one (from the request's RNG, else the strategy's
/// seeded stream).
///
/// ```
/// use tinylb::{BoundedLoad, ConfigError, Pool, Request, SelectExt};
/// let pool: Pool<4> = Pool::new();
/// for _ in 0..4 {
///     pool.add(1).unwrap();
/// }
/// let chbl = BoundedLoad::new(125).unwrap();
/// // the same hot key, eight requests at once: no backend gets more than ⌈1.25·(T+1)/4⌉
/// let leases: Vec<_> = (0..8)
///     .map(|_| chbl.lease(&pool, &mut Request::new().with_key(7)).unwrap())
///     .collect();
/// assert!((0..4).all(|i| pool.in_flight_at(i) <= 3));
/// assert_eq!(BoundedLoad::new(99).err(), Some(ConfigError::BalanceFactorTooLow));
/// # drop(leases);
/// ```
#[derive(Debug)]
pub struct BoundedLoad {
    factor: u32,
    stream: Stream,
}

impl Default for BoundedLoad {
    /// [`DEFAULT_BALANCE_FACTOR`] (125 %), keyless requests drawing from a stream seeded
    /// with 0.
    fn default() -> Self {
        Self::build(DEFAULT_BALANCE_FACTOR, 0)
    }
}

impl BoundedLoad {
    /// Bounded-load hashing with balance factor `factor_percent` (125 means each backend may
    /// carry up to 1.25 × its share). Below 100: [`ConfigError::BalanceFactorTooLow`]. Keyless
    /// requests draw from a stream seeded with 0.
    pub const fn new(factor_percent: u32) -> Result<Self, ConfigError> {
        Self::with_seed(factor_percent, 0)
    }

    /// As [`BoundedLoad::new`], with keyless requests drawing from a stream seeded with
    /// `seed`.
    pub const fn with_seed(factor_percent: u32, seed: u64) -> Result<Self, ConfigError> {
        if factor_percent < 100 {
            return Err(ConfigError::BalanceFactorTooLow);
        }
        Ok(Self::build(factor_percent, seed))
    }

    /// A factor already known to be at least 100.
    pub(crate) const fn build(factor_percent: u32, seed: u64) -> Self {
        BoundedLoad {
            factor: factor_percent,
            stream: Stream::new(seed),
        }
    }

    /// The balance factor, in percent.
    pub const fn factor_percent(&self) -> u32 {
        self.factor
    }
}

impl<const N: usize> Select<N> for BoundedLoad {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let key = mix64(key_of(req, &self.stream));
        pool.pick(req, move |view, _| self.pick(view, key))
    }
}

impl BoundedLoad {
    fn pick<const N: usize>(&self, view: &View<'_, N>, key: u64) -> Option<Candidate> {
        // pass 1: total in-flight and weight of the candidates
        let (mut total, mut weight) = (0u64, 0u64);
        for c in view.candidates() {
            total += c.in_flight() as u64;
            weight += c.weight() as u64;
        }
        if weight == 0 {
            return None;
        }
        // room for a backend of weight w with f in flight: f·100·W < c·(T+1)·w; a backend
        // with recent failures counts f + (f + 1)·pen in flight (Q16), so it fills sooner
        let scale = self.factor as u128 * (total as u128 + 1);
        let lhs_scale = 100 * weight as u128;
        let penalty = Penalty::of_view(view);
        let room = |c: &Candidate| {
            let rhs = scale * c.weight() as u128;
            match penalty {
                None => (c.in_flight() as u128) * lhs_scale < rhs,
                Some(p) => (p.load_of(view, c) as u128) * lhs_scale < rhs << 16,
            }
        };
        // pass 2: the first choice, as rendezvous hashing picks it; usually it has room
        let first = winner(view, key, true)?;
        if room(&first) {
            return Some(first);
        }
        // pass 3 (overflow only): the best-ranked backend that has room
        let next = best_where(view, key, true, |c| c.index() != first.index() && room(c));
        Some(next.unwrap_or(first))
    }
}
