//! Power of two choices: weighted least loaded (tower `p2c`, Envoy `LEAST_REQUEST`, HAProxy
//! `random(2)`) and its peak-EWMA variant (Finagle, Linkerd, tower `PeakEwma`), each also
//! with `k` choices.
//!
//! **`k` choices.** Envoy's least-request balancer draws `choice_count` hosts (default 2) and
//! keeps the one with the fewest active requests (`LeastRequestLoadBalancer` in
//! `source/common/upstream/load_balancer_impl.cc`, today
//! `source/extensions/load_balancing_policies/least_request/`); HAProxy's
//! `balance random(<draws>)` draws `<draws>` servers on its consistent-hash ring (default 2)
//! and keeps the least loaded (`get_server_rnd` in `src/backend.c`, over `src/lb_chash.c`).
//! Both draw with replacement, so a draw can repeat one already made and be lost (HAProxy's
//! list has discussed exactly that with 4 servers and 2 draws); here the `k` draws are
//! distinct (each among the backends not drawn yet, by weight), so `k` draws compare `k`
//! backends whenever `k` are eligible. `with_choices(k, seed)` builds either strategy;
//! `k = 2` (the default) is the code path it always was, pick for pick.

use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};
use crate::strategy::DEFAULT_CHOICES;
use crate::strategy::cost::{Conns, Latency};
use crate::strategy::rule::{best_of, better_of_two};

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
    ///
    /// **`k` choices** ([`PowerOfTwo::with_choices`]): `k` distinct weighted draws, the
    /// least loaded of them (a tie stays with the earlier draw); `k` draws and `k - 1`
    /// comparisons a pick.
    PowerOfTwo with choices,
    /// P2C with a stream seeded with 0 for requests that carry no RNG.
    new;
    /// P2C with a stream seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for PowerOfTwo {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        if self.choices != DEFAULT_CHOICES {
            return self.select_k(pool, req);
        }
        pool.pick(req, |view, req| {
            better_of_two(view, req, &self.stream, |a, b| Conns::b_wins(view, a, b))
        })
    }
}

impl PowerOfTwo {
    /// [`Select::select`] with `k != 2` choices, out of the two-choices path.
    #[cold]
    #[inline(never)]
    fn select_k<const N: usize>(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            best_of(view, req, &self.stream, self.choices, |a, b| {
                Conns::b_wins(view, a, b)
            })
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
    ///
    /// **`k` choices** ([`PeakEwma::with_choices`]): `k` distinct weighted draws, each
    /// challenging the best so far by the rule above (a tie stays with the earlier draw).
    PeakEwma with choices,
    /// P2C peak-EWMA with a stream seeded with 0 for requests that carry no RNG.
    new;
    /// P2C peak-EWMA with a stream seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for PeakEwma {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        if self.choices != DEFAULT_CHOICES {
            return self.select_k(pool, req);
        }
        pool.pick(req, |view, req| {
            better_of_two(view, req, &self.stream, |a, b| {
                Latency::b_wins(&Latency::of(view, a), &Latency::of(view, b))
            })
        })
    }
}

impl PeakEwma {
    /// [`Select::select`] with `k != 2` choices, out of the two-choices path.
    #[cold]
    #[inline(never)]
    fn select_k<const N: usize>(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            best_of(view, req, &self.stream, self.choices, |a, b| {
                Latency::b_wins(&Latency::of(view, a), &Latency::of(view, b))
            })
        })
    }
}
