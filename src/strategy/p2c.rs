//! Power of two choices: weighted least loaded (tower `p2c`, Envoy `LEAST_REQUEST`, HAProxy
//! `random(2)`) and its peak-EWMA variant (Finagle, Linkerd, tower `PeakEwma`).

use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};
use crate::strategy::cost::{Conns, Latency};
use crate::strategy::rule::better_of_two;

seeded_strategy! {
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
    /// A retry ([`Request::excluding`](crate::Request::excluding)) draws its two among the
    /// backends that are not excluded, by the same weights.
    ///
    /// Cost: two weighted draws (usually two RNG calls) and four relaxed loads.
    PowerOfTwo,
    /// P2C with a stream seeded with 0 for requests that carry no RNG.
    new;
    /// P2C with a stream seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for PowerOfTwo {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            better_of_two(view, req, &self.stream, |a, b| Conns::b_wins(view, a, b))
        })
    }
}

seeded_strategy! {
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
    PeakEwma,
    /// P2C peak-EWMA with a stream seeded with 0 for requests that carry no RNG.
    new;
    /// P2C peak-EWMA with a stream seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for PeakEwma {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            better_of_two(view, req, &self.stream, |a, b| {
                Latency::b_wins(&Latency::of(view, a), &Latency::of(view, b))
            })
        })
    }
}
