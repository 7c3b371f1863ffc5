//! Weighted random (nginx `random`, HAProxy `random(1)`).

use crate::pool::{BackendId, Pool};
use crate::rng::{self, Stream};
use crate::select::{Request, Select};

/// Rejection tries before falling back to the exact scan.
const TRIES: u32 = 8;

/// An eligible backend drawn with probability proportional to its weight, exactly.
///
/// **Fast path, O(1) expected** (rejection sampling): one 64-bit draw gives a slot chosen
/// uniformly among the slots in use (low 32 bits, Lemire's unbiased multiply-and-reject,
/// never `x % n`) and an acceptance test `u < weight` with `u` uniform in
/// `0..max_weight` (high 32 bits, same method; skipped when every weight equals the
/// maximum). An ineligible slot is rejected. Each accepted draw is exactly weight-proportional
/// among eligible backends. With equal weights and all backends eligible the first draw is
/// accepted.
///
/// **Fallback, O(n)**: after 8 rejected draws (many ineligible slots, or very uneven
/// weights), one pass sums the eligible weights, one unbiased draw picks a point in that
/// sum, and a second pass finds its backend. Both paths are exact, so their mixture is too.
///
/// `max_weight` is the largest weight ever set in the pool (it never decreases), so
/// lowering the heaviest weight makes the fast path accept less often, never wrongly.
///
/// Randomness comes from the request's RNG, or else from the strategy's stream seeded at
/// construction; either way the same seed gives the same picks on every target.
#[derive(Debug)]
pub struct Random {
    stream: Stream,
}

impl Default for Random {
    fn default() -> Self {
        Self::new()
    }
}

impl Random {
    /// Random with a stream seeded with 0 for requests without an RNG.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// Random with a stream seeded with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        Random {
            stream: Stream::new(seed),
        }
    }
}

impl<const N: usize> Select<N> for Random {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let live = pool.live_slots();
        let n = live.len() as u32;
        let w_max = pool.weight_bound();
        if n == 0 || w_max == 0 {
            return None;
        }
        for _ in 0..TRIES {
            let r = req.draw(&self.stream);
            let Some(i) = rng::below_from(r as u32, n) else {
                continue;
            };
            let Some(slot) = live.get(i as usize) else {
                continue;
            };
            let Some(w) = slot.up_weight() else { continue };
            if w < w_max {
                match rng::below_from((r >> 32) as u32, w_max) {
                    Some(u) if u < w => {}
                    _ => continue,
                }
            }
            if slot.has_room(slot.in_flight()) {
                return pool.id_for(i as usize);
            }
        }
        // exact fallback: sum the eligible weights, draw a point, find its backend
        let total: u64 = live
            .iter()
            .filter(|s| s.has_room(s.in_flight()))
            .filter_map(|s| s.up_weight())
            .map(u64::from)
            .sum();
        if total == 0 {
            return None;
        }
        let mut point = rng::below_u64(|| req.draw(&self.stream), total);
        let mut last = None;
        for (i, s) in live.iter().enumerate() {
            let Some(w) = s.up_weight() else { continue };
            if !s.has_room(s.in_flight()) {
                continue;
            }
            last = Some(i);
            if point < w as u64 {
                return pool.id_for(i);
            }
            point -= w as u64;
        }
        // eligibility changed between the passes: the last eligible backend seen is still
        // eligible as far as we know
        last.and_then(|i| pool.id_for(i))
    }
}
