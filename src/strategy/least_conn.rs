//! Weighted least connections (nginx `least_conn`, Envoy full scan, HAProxy `leastconn`).

use core::cmp::Ordering as Cmp;

use crate::pool::{BackendId, Pool, pick_tiers};
use crate::rng::Stream;
use crate::select::{Request, Select};
use crate::strategy::TieBreak;

/// The eligible backend with the fewest in-flight requests per unit of weight.
///
/// Scans every slot in use and keeps the minimiser of `in_flight / weight`, compared by
/// cross-multiplication in 64 bits (`a.in_flight * b.weight < b.in_flight * a.weight`, as
/// nginx does), so there is no division and no rounding. Ties are broken at random, each
/// tied backend equally likely (not always the lowest index, which would pile every idle
/// moment onto slot 0): the first tie of a pick draws one random word (from the request's
/// RNG, or the strategy's seeded stream), and each tied backend gets a priority from a
/// 64-bit LCG seeded by it; the highest priority wins.
///
/// Cost: O(n) relaxed loads and no writes (the lease does the one write).
#[derive(Debug)]
pub struct LeastConn {
    stream: Stream,
}

impl Default for LeastConn {
    fn default() -> Self {
        Self::new()
    }
}

impl LeastConn {
    /// Least connections with tie-breaks drawn from a stream seeded with 0 when the request
    /// carries no RNG.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// Least connections whose tie-break stream is seeded with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        LeastConn {
            stream: Stream::new(seed),
        }
    }
}

impl<const N: usize> Select<N> for LeastConn {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let now = req.now_us();
        pick_tiers(pool, now, |view| {
            // (index, in_flight, weight) of the best so far
            let mut best: Option<(usize, u64, u64)> = None;
            let mut ties = TieBreak::new();
            for (i, slot) in view.slots().iter().enumerate() {
                let Some(w) = view.weight(slot) else { continue };
                let f = slot.in_flight();
                let (f64_, w64) = (f as u64, w as u64);
                let ord = match best {
                    None => Cmp::Less,
                    Some((_, bf, bw)) => (f64_ * bw).cmp(&(bf * w64)),
                };
                // the cap is read only for a would-be winner: one load fewer per slot
                match ord {
                    Cmp::Greater => {}
                    Cmp::Less => {
                        if slot.has_room(f) {
                            best = Some((i, f64_, w64));
                            ties.new_leader();
                        }
                    }
                    Cmp::Equal => {
                        if slot.has_room(f) && ties.challenge(req, &self.stream) {
                            best = Some((i, f64_, w64));
                        }
                    }
                }
            }
            best.map(|(i, _, _)| i)
        })
    }
}
