//! Least response time (nginx Plus `least_time`, Finagle/tower peak-EWMA as a full scan).

use crate::pool::{BackendId, Pool};
use crate::rng::Stream;
use crate::select::{Request, Select};
use crate::strategy::cost::Latency;
use crate::strategy::rule::Lowest;

/// The eligible backend with the lowest `latency × (in_flight + 1) / weight`.
///
/// The latency is the pool's per-backend peak-sensitive moving average (see [`crate::Pool`]
/// and [`Pool::with_half_life_ms`]): a slow response raises it at once, fast ones lower it
/// gradually, and without samples it decays towards zero with the pool's half-life, so a
/// penalised backend is retried once its estimate has decayed below the others' costs. The
/// estimate is read as of the request's clock ([`Request::with_now_us`]).
///
/// A backend with no sample yet is *tried, not starved*: its latency counts as the lowest
/// estimate among the sampled eligible backends, so it competes as their equal on load, and
/// wins ties against them. With no samples anywhere this is weighted least connections.
///
/// Costs are compared exactly by cross-multiplication (in 128 bits, since
/// `latency × (in_flight + 1)` alone may take 64). Ties are broken at random, as in
/// [`LeastConn`](crate::LeastConn).
///
/// Cost: O(n) relaxed loads, no writes.
#[derive(Debug)]
pub struct LeastTime {
    stream: Stream,
}

impl Default for LeastTime {
    fn default() -> Self {
        Self::new()
    }
}

impl LeastTime {
    /// Least time with tie-breaks from a stream seeded with 0.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// Least time whose tie-break stream is seeded with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        LeastTime {
            stream: Stream::new(seed),
        }
    }
}

impl<const N: usize> Select<N> for LeastTime {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req.now_us(), |view| {
            // the best sampled and the best unsampled backend, each by its own class's cost
            let mut sampled = Lowest::new();
            let mut unsampled = Lowest::new();
            let mut min_est = u64::MAX;
            let by_cost = |a: &Latency, b: &Latency| a.cmp_filled(b, 1);
            for c in view.candidates() {
                let cost = Latency::of(view, &c);
                match cost.estimate() {
                    Some(est) => {
                        min_est = min_est.min(est);
                        sampled.offer(c, cost, by_cost, req, &self.stream);
                    }
                    None => unsampled.offer(c, cost, by_cost, req, &self.stream),
                }
            }
            match (sampled.best(), unsampled.best()) {
                (Some((c, _)), None) | (None, Some((c, _))) => Some(c),
                (None, None) => None,
                // an unsampled backend costs the best estimate times its load
                (Some((s, sc)), Some((u, uc))) => Some(if uc.unsampled_wins(&sc, min_est) {
                    u
                } else {
                    s
                }),
            }
        })
    }
}
