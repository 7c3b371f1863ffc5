//! Least response time (nginx Plus `least_time`, Finagle/tower peak-EWMA as a full scan).

use crate::pool::{BackendId, Candidate, Penalty, Pool, View};
use crate::select::{Request, Select};
use crate::strategy::cost::Latency;
use crate::strategy::rule::Lowest;

seeded_strategy! {
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
    LeastTime,
    /// Least time with tie-breaks from a stream seeded with 0.
    new;
    /// Least time whose tie-break stream is seeded with `seed`.
    with_seed
}

/// The scan, once per way of reading an estimate: `$charge` turns the decayed estimate
/// `$est` of the backend in `$slot` into the one compared. A macro rather than a function
/// taking a closure: the plain scan then compiles exactly as it did before the failure
/// penalty (the closure version cost about 3 instructions a candidate more, by callgrind).
macro_rules! scan {
    ($self:expr, $view:expr, $req:expr, $half_life:expr, |$slot:ident, $est:ident| $charge:expr) => {{
        // the best sampled and the best unsampled backend, each by its own class's cost
        let mut sampled = Lowest::new();
        let mut unsampled = Lowest::new();
        let mut min_est = u64::MAX;
        let now = $view.now_ms();
        for (c, $slot) in $view.judged() {
            let est = $slot.latency_at(now, $half_life).map(|$est| $charge);
            let cost = Latency::with_estimate(est, &c);
            match est {
                Some(e) => {
                    min_est = min_est.min(e as u64);
                    sampled.offer(c, cost, Latency::cmp, $req, &$self.stream);
                }
                None => unsampled.offer(c, cost, Latency::cmp, $req, &$self.stream),
            }
        }
        match (sampled.best(), unsampled.best()) {
            (Some((c, _)), None) | (None, Some((c, _))) => Some(c),
            (None, None) => None,
            // an unsampled backend costs the lowest estimate times its load
            (Some((s, sc)), Some((u, uc))) => Some(if uc.unsampled_wins(&sc, min_est) {
                u
            } else {
                s
            }),
        }
    }};
}

impl<const N: usize> Select<N> for LeastTime {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let half_life = pool.half_life_ms();
        pool.pick(req, |view, req| match Penalty::of_view(view) {
            // the plain scan when the failure penalty is off or nothing failed: as before
            None => scan!(self, view, req, half_life, |_slot, est| est),
            Some(p) => self.scan_charged(view, req, half_life, p),
        })
    }
}

impl LeastTime {
    /// The scan with failures charged (some backend of the pool has a recent failure): out
    /// of line, so that the plain scan is compiled as it was without the penalty.
    #[inline(never)]
    fn scan_charged<const N: usize>(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        half_life: u32,
        p: Penalty,
    ) -> Option<Candidate> {
        scan!(self, view, req, half_life, |slot, est| p.latency(slot, est))
    }
}
