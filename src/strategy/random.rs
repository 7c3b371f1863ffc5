//! Weighted random (nginx `random`, HAProxy `random(1)`).

use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};
use crate::strategy::sample::weighted_slot;

seeded_strategy! {
    /// An eligible backend drawn with probability proportional to its weight, exactly.
    ///
    /// **Fast path, O(1) expected** (rejection sampling): one 64-bit draw gives a slot chosen
    /// uniformly among the slots in use (low 32 bits, Lemire's unbiased multiply-and-reject,
    /// never `x % n`) and an acceptance test `u < weight` with `u` uniform in
    /// `0..max_weight` (high 32 bits, same method; skipped when the weight is the maximum). An
    /// ineligible slot is rejected. Each accepted draw is exactly weight-proportional among
    /// eligible backends. With equal weights and all backends eligible the first draw is
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
    Random,
    /// Random with a stream seeded with 0 for requests without an RNG.
    new;
    /// Random with a stream seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for Random {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            weighted_slot(view, req, &self.stream, &None)
        })
    }
}
