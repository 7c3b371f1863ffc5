//! Least response time (nginx Plus `least_time`, Finagle/tower peak-EWMA as a full scan).

use core::cmp::Ordering as Cmp;

use crate::pool::{BackendId, Candidate, Penalty, Pool, Slot, View};
use crate::select::{Request, Select};
use crate::strategy::cost::Latency;
use crate::strategy::rule::{Lowest, nth_tie_beyond};

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
    /// `latency × (in_flight + 1)` alone may take 64). Ties within the winning class (sampled
    /// or not) are broken at random, as in [`LeastConn`](crate::LeastConn): counted, one draw,
    /// the `r`-th tie taken; a pick without a tie draws nothing.
    ///
    /// Cost: O(n) relaxed loads, no writes: per slot, its judgement, the decayed estimate and
    /// one 128-bit cross-multiplication and, for a tie, one bit set; per pick with ties, one
    /// random draw, a population count per 64 slots up to the winner's and one more judgement
    /// of the winner (a second scan of the slots past 256 when the draw lands there).
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
        let mut sampled = Lowest::new(Latency::WORST);
        let mut unsampled = Lowest::new(Latency::WORST);
        let mut min_est = u64::MAX;
        let now = $view.now_ms();
        for (c, $slot) in $view.judged() {
            let est = $slot.latency_at(now, $half_life).map(|$est| $charge);
            let cost = Latency::with_estimate(est, &c);
            match est {
                Some(e) => {
                    min_est = min_est.min(e as u64);
                    sampled.offer(c, cost, Latency::cmp);
                }
                None => unsampled.offer(c, cost, Latency::cmp),
            }
        }
        // the winning class: an unsampled backend costs the lowest estimate times its load
        let unsampled_wins = match (sampled.cost(), unsampled.cost()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(sc), Some(uc)) => uc.unsampled_wins(sc, min_est),
        };
        // the second scan (pools past the tie mask only): the `r`-th tie of that class
        let beyond = |r: u32, best: &Latency| {
            nth_tie_beyond($view, r, |c: &Candidate, $slot: &Slot| {
                let est = $slot.latency_at(now, $half_life).map(|$est| $charge);
                est.is_none() == unsampled_wins
                    && Latency::with_estimate(est, c).cmp(best) == Cmp::Equal
            })
        };
        if unsampled_wins {
            unsampled.pick($view, $req, &$self.stream, beyond)
        } else {
            sampled.pick($view, $req, &$self.stream, beyond)
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
