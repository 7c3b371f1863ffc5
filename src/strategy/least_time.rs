//! Least response time (nginx Plus `least_time`, Finagle/tower peak-EWMA as a full scan).

use core::cmp::Ordering as Cmp;

use crate::pool::{BackendId, Pool, pick_tiers};
use crate::rng::Stream;
use crate::select::{Request, Select};
use crate::strategy::TieBreak;

/// The eligible backend with the lowest `latency × (in_flight + 1) / weight`.
///
/// The latency is the pool's per-backend peak-sensitive moving average (see [`crate::Pool`]
/// and [`Pool::with_half_life_ms`]): a slow response raises it at once, fast ones lower it
/// gradually, and without samples it decays towards zero with the pool's half-life, so a
/// penalised backend is retried once its estimate has decayed below the others' costs. The
/// estimate is read as of the request's clock ([`Request::at_us`]).
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

/// `a_num / a_den` compared with `b_num / b_den` (dens > 0), exactly.
#[inline]
fn cmp_ratio(a_num: u64, a_den: u64, b_num: u64, b_den: u64) -> Cmp {
    (a_num as u128 * b_den as u128).cmp(&(b_num as u128 * a_den as u128))
}

impl<const N: usize> Select<N> for LeastTime {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let half_life = pool.half_life_ms();
        let now_us = req.now_us();
        pick_tiers(pool, now_us, |view| {
            let now = view.now_ms();
            // (index, cost numerator, weight)
            let mut sampled: Option<(usize, u64, u64)> = None;
            let mut unsampled: Option<(usize, u64, u64)> = None;
            let mut min_est = u64::MAX;
            let mut ties_s = TieBreak::new();
            let mut ties_u = TieBreak::new();
            for (i, slot) in view.slots().iter().enumerate() {
                let Some(w) = view.weight(slot) else { continue };
                let f = slot.in_flight();
                if !slot.has_room(f) {
                    continue;
                }
                let load = f as u64 + 1;
                let w = w as u64;
                let (best, ties, num) = match slot.latency_at(now, half_life) {
                    Some(est) => {
                        min_est = min_est.min(est as u64);
                        (&mut sampled, &mut ties_s, est as u64 * load)
                    }
                    None => (&mut unsampled, &mut ties_u, load),
                };
                let ord = match *best {
                    None => Cmp::Less,
                    Some((_, bn, bw)) => cmp_ratio(num, w, bn, bw),
                };
                match ord {
                    Cmp::Greater => {}
                    Cmp::Less => {
                        *best = Some((i, num, w));
                        ties.new_leader();
                    }
                    Cmp::Equal => {
                        if ties.challenge(req, &self.stream) {
                            *best = Some((i, num, w));
                        }
                    }
                }
            }
            match (sampled, unsampled) {
                (Some((i, _, _)), None) | (None, Some((i, _, _))) => Some(i),
                (None, None) => None,
                (Some((si, sn, sw)), Some((ui, un, uw))) => {
                    // an unsampled backend costs the best estimate times its load
                    let ucost = min_est.saturating_mul(un);
                    if cmp_ratio(ucost, uw, sn, sw) == Cmp::Greater {
                        Some(si)
                    } else {
                        Some(ui)
                    }
                }
            }
        })
    }
}
