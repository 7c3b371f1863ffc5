//! Power of two choices: weighted least loaded (tower `p2c`, Envoy `LEAST_REQUEST`, HAProxy
//! `random(2)`) and its peak-EWMA variant (Finagle, Linkerd, tower `PeakEwma`).

use core::cmp::Ordering as Cmp;

use crate::pool::{BackendId, Pool, View, pick_tiers};
use crate::rng::Stream;
use crate::select::{Request, Select};
use crate::strategy::sample::weighted_slot;

/// Draws two distinct eligible slots, each with probability proportional to its weight
/// (the second among the others); `(a, None)` when only one is eligible.
#[inline]
fn two_choices<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
) -> Option<(usize, Option<usize>)> {
    let a = weighted_slot(view, req, stream, None)?;
    let b = weighted_slot(view, req, stream, Some(a));
    Some((a, b))
}

/// `a_num / a_den` against `b_num / b_den` (dens > 0), exactly.
#[inline]
fn cmp_ratio(a_num: u64, a_den: u64, b_num: u64, b_den: u64) -> Cmp {
    (a_num as u128 * b_den as u128).cmp(&(b_num as u128 * a_den as u128))
}

/// Power of two choices over in-flight load: of two distinct backends drawn at random in
/// proportion to their weights, the one with fewer in-flight requests per unit of weight.
///
/// Mitzenmacher's result: with `n` requests over `n` backends the most loaded one carries
/// `ln ln n / ln 2 + O(1)` requests instead of random's `ln n / ln ln n`, for two draws
/// instead of a scan. Loads are compared by cross-multiplication, exactly; on a tie the
/// first draw wins (it is already random). Candidates are drawn with the exact weighted
/// sampler of [`Random`](crate::Random) (the second excluding the first), so with one eligible
/// backend it is picked, and with none the result is `None`.
///
/// Cost: two weighted draws (usually two RNG calls) and four relaxed loads.
#[derive(Debug)]
pub struct PowerOfTwo {
    stream: Stream,
}

impl Default for PowerOfTwo {
    fn default() -> Self {
        Self::new()
    }
}

impl PowerOfTwo {
    /// P2C with a stream seeded with 0 for requests that carry no RNG.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// P2C with a stream seeded with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        PowerOfTwo {
            stream: Stream::new(seed),
        }
    }
}

impl<const N: usize> Select<N> for PowerOfTwo {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let now = req.now_us();
        pick_tiers(pool, now, |view| {
            let (a, b) = two_choices(view, req, &self.stream)?;
            let Some(b) = b else { return Some(a) };
            // (in_flight, effective weight) as of now
            let load = |i: usize| {
                let s = view.slots().get(i)?;
                Some((s.in_flight() as u64, view.weight(s)? as u64))
            };
            Some(match (load(a), load(b)) {
                (Some((fa, wa)), Some((fb, wb))) => {
                    if cmp_ratio(fb, wb, fa, wa) == Cmp::Less {
                        b
                    } else {
                        a
                    }
                }
                (None, Some(_)) => b,
                _ => a,
            })
        })
    }
}

/// Power of two choices over peak-EWMA cost (Finagle's `PeakEwma`, tower's `p2c` over
/// `PeakEwma`): of two distinct weighted draws, the one with the lower
/// `latency × (in_flight + 1) / weight`.
///
/// The latency is the pool's per-backend peak-sensitive moving average (see
/// [`Pool::with_half_life_ms`]): a slow response raises it at once, fast ones lower it over
/// the half-life, and between samples it decays towards zero so a penalised backend is
/// retried. The anchors keep it under a mutex; here it is one 32-bit atomic updated by a
/// bounded compare-and-swap when a lease finishes, and read without writing.
///
/// **Unsampled backends.** A backend with no latency sample yet costs what the other
/// candidate's estimate would cost at its own load (so it is tried, not starved, and wins
/// ties); if neither has a sample, the lower `(in_flight + 1) / weight` wins (which can
/// differ from [`PowerOfTwo`]'s `in_flight / weight` when weights differ).
///
/// Cost: two weighted draws, six relaxed loads, two 128-bit multiplications.
#[derive(Debug)]
pub struct PeakEwma {
    stream: Stream,
}

impl Default for PeakEwma {
    fn default() -> Self {
        Self::new()
    }
}

impl PeakEwma {
    /// P2C peak-EWMA with a stream seeded with 0 for requests that carry no RNG.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// P2C peak-EWMA with a stream seeded with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        PeakEwma {
            stream: Stream::new(seed),
        }
    }
}

impl<const N: usize> Select<N> for PeakEwma {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let half_life = pool.half_life_ms();
        let now_us = req.now_us();
        pick_tiers(pool, now_us, |view| {
            let (a, b) = two_choices(view, req, &self.stream)?;
            let Some(b) = b else { return Some(a) };
            let now = view.now_ms();
            let read = |i: usize| {
                let s = view.slots().get(i)?;
                let est = s.latency_at(now, half_life);
                Some((est, s.in_flight() as u64 + 1, view.weight(s)? as u64))
            };
            let (Some((ea, la, wa)), Some((eb, lb, wb))) = (read(a), read(b)) else {
                return Some(a);
            };
            // an unsampled candidate borrows the other's estimate; neither sampled: load alone
            let unsampled_b = eb.is_none();
            let (ea, eb) = match (ea, eb) {
                (Some(x), Some(y)) => (x as u64, y as u64),
                (Some(x), None) => (x as u64, x as u64),
                (None, Some(y)) => (y as u64, y as u64),
                (None, None) => (1, 1),
            };
            let ca = ea.saturating_mul(la);
            let cb = eb.saturating_mul(lb);
            Some(match cmp_ratio(cb, wb, ca, wa) {
                Cmp::Less => b,
                Cmp::Greater => a,
                // tie: prefer an unsampled candidate (it must be tried), else the first draw
                Cmp::Equal => {
                    if unsampled_b {
                        b
                    } else {
                        a
                    }
                }
            })
        })
    }
}
