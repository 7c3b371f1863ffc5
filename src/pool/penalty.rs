//! Failures in the load metrics: a backend that fails fast must not look fast and idle.
//!
//! A backend that answers errors in 1 ms finishes its requests sooner than its healthy
//! peers, so it holds fewer in-flight requests and its latency estimate is lower: every
//! load-aware rule sends it more traffic, the "sinkhole" of the Google SRE book (chapter 20,
//! "Load Balancing in the Datacenter": count recent errors as load). gRPC charges failures
//! in the same place: A58's `error_utilization_penalty` raises a backend's utilization by
//! `error_rate / qps × penalty` (`grpc/proposal` `A58-client-side-weighted-round-robin-lb-policy.md`).
//! Finagle and Linkerd feed a failure's latency into peak-EWMA like any other sample
//! (Finagle `PeakEwma`, tower `load/peak_ewma.rs`), which is the sinkhole, and leave the rest
//! to failure accrual (ejection); tinylb charges the failure in the cost itself, so that a
//! failing backend is not attractive even with ejection off.
//!
//! The rule (integers only, on the caller's clock):
//!
//! * every outcome moves the backend's **recent failure fraction** `f` (Q16, in the slot)
//!   by 1/16 of the way to 1 (a failure) or to 0 (a success): an average over about the
//!   last 16 outcomes. Each step is rounded away from the old value, so `f` reaches exactly
//!   0 after enough successes, and 1 after enough failures;
//! * a pick reads `f` decayed by the pool's latency half-life since the backend's last
//!   outcome (so a backend that stopped getting traffic is tried again);
//! * the backend's cost is multiplied by `1 + p · f / (1 − f)`, where `p` is
//!   [`Config::failure_penalty_percent`](crate::Config::failure_penalty_percent) / 100 and
//!   the odds `f / (1 − f)` (failures per success) are capped at 255. With `p = 1` the cost
//!   is the cost of one *successful* request (a request fails with probability `f`, so it
//!   takes `1 / (1 − f)` attempts).
//!
//! A backend with `f = 0` costs exactly what it cost before (same comparison, same picks).
//! The pool counts the slots whose `f` is not 0: while there is none (or the penalty is
//! off), a load-aware pick reads that one pool word and nothing more; otherwise it reads one
//! more word per candidate.

use crate::clock::elapsed_ms;
use crate::ewma;
use crate::sync::Ordering;

use super::view::Candidate;
use super::{CAS_TRIES, Pool, Slot, View};

/// 1.0 in Q16.
const ONE: u32 = 1 << 16;
/// Largest odds `f / (1 − f)` charged, in Q16.
const MAX_ODDS_Q16: u64 = 255 << 16;

/// The failure fraction after one more outcome.
pub(crate) const fn next_fraction(f: u32, success: bool) -> u32 {
    let f = if f > ONE { ONE } else { f };
    if success {
        f - f.div_ceil(16)
    } else {
        f + (ONE - f).div_ceil(16)
    }
}

/// `f / (1 − f)` in Q16, capped at 255.
pub(crate) const fn odds_q16(f: u32) -> u64 {
    if f >= ONE {
        return MAX_ODDS_Q16;
    }
    let odds = ((f as u64) << 16) / (ONE - f) as u64;
    if odds > MAX_ODDS_Q16 {
        MAX_ODDS_Q16
    } else {
        odds
    }
}

/// The extra cost factor `p · f / (1 − f)` in Q16 for fraction `f` and `percent`.
pub(crate) const fn penalty_q16(f: u32, percent: u32) -> u64 {
    if f == 0 || percent == 0 {
        return 0;
    }
    odds_q16(f) * percent as u64 / 100
}

/// Largest charged in-flight load, Q16 (2^26 leases' worth): times a weight below 2^21 it
/// stays below 2^63, so loads compare in 64 bits.
pub(crate) const MAX_LOAD_Q16: u64 = 1 << 42;

/// `in_flight + (in_flight + 1) · pen` in Q16, at most [`MAX_LOAD_Q16`].
pub(crate) const fn charged_load_q16(in_flight: u32, pen: u64) -> u64 {
    let base = (in_flight as u64) << 16;
    let extra = (in_flight as u64 + 1).saturating_mul(pen);
    let load = base.saturating_add(extra);
    if load > MAX_LOAD_Q16 {
        MAX_LOAD_Q16
    } else {
        load
    }
}

/// `value × (1 + pen)`, `pen` in Q16, saturating at `u32::MAX`.
#[inline]
pub(crate) const fn penalised(value: u32, pen: u64) -> u32 {
    if pen == 0 {
        return value;
    }
    let v = value as u64 + ((value as u64).saturating_mul(pen) >> 16);
    if v > u32::MAX as u64 {
        u32::MAX
    } else {
        v as u32
    }
}

impl<const N: usize> Pool<N> {
    /// Moves the recent failure fraction of `slot` by one outcome (a success on a backend
    /// that has none costs one load), and counts the slots whose fraction is not 0.
    #[inline]
    pub(crate) fn count_failure_fraction(&self, slot: &Slot, success: bool) {
        let mut f = slot.hot.failure_score.load(Ordering::Relaxed);
        if success && f == 0 {
            return;
        }
        for _ in 0..CAS_TRIES {
            let next = next_fraction(f, success);
            match slot.hot.failure_score.compare_exchange_weak(
                f,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // exactly one compare-and-swap makes each change to or from 0
                    if f == 0 && next != 0 {
                        self.failing.fetch_add(1, Ordering::Relaxed);
                    } else if f != 0 && next == 0 {
                        self.failing.fetch_sub(1, Ordering::Relaxed);
                    }
                    return;
                }
                Err(v) => f = v,
            }
        }
    }

    /// Clears the failure fraction of a slot being reused.
    pub(crate) fn clear_failure_fraction(&self, slot: &Slot) {
        if slot.hot.failure_score.swap(0, Ordering::Relaxed) != 0 {
            self.failing.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Slot {
    /// The failure fraction as a pick at `now_ms` sees it: decayed by `half_life_ms` since
    /// the backend's last outcome.
    #[inline]
    pub(crate) fn failure_fraction_at(&self, now_ms: u32, half_life_ms: u32) -> u32 {
        let f = self.hot.failure_score.load(Ordering::Relaxed);
        if f == 0 {
            return 0;
        }
        let at = self.hot.latency_at_ms.load(Ordering::Relaxed);
        ewma::decayed(f, elapsed_ms(now_ms, at), half_life_ms)
    }
}

/// What a pick needs to charge failures, read once per pick: `None` from [`Penalty::of_view`]
/// when the penalty is off or no backend of the pool has a recent failure (the pool counts
/// them), so a strategy runs its plain loop and pays one load for the penalty.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Penalty {
    percent: u32,
    now_ms: u32,
    half_life_ms: u32,
}

impl Penalty {
    /// The penalty of `view`'s pool at the view's clock, `None` when it is off.
    #[inline]
    pub(crate) fn of_view<const N: usize>(view: &View<'_, N>) -> Option<Self> {
        let pool = view.pool();
        let config = pool.config();
        // off, or no backend has a recent failure: the plain costs, exactly
        if config.failure_penalty_percent == 0 || pool.failing.load(Ordering::Relaxed) == 0 {
            return None;
        }
        Some(Penalty {
            percent: config.failure_penalty_percent,
            now_ms: view.now_ms(),
            half_life_ms: config.half_life_ms,
        })
    }

    /// The in-flight load (Q16) of a backend with `in_flight` leases in `slot`, charged
    /// its failures: `in_flight + (in_flight + 1) · pen`, at most [`MAX_LOAD_Q16`]. One load
    /// when it has no recent failure.
    #[inline(always)]
    pub(crate) fn load_q16(&self, slot: &Slot, in_flight: u32) -> u64 {
        if slot.hot.failure_score.load(Ordering::Relaxed) == 0 {
            return (in_flight as u64) << 16;
        }
        self.charged_load(slot, in_flight)
    }

    /// The latency estimate `est` of the backend in `slot`, charged its failures:
    /// `est · (1 + pen)`, saturating. One load when it has no recent failure.
    #[inline(always)]
    pub(crate) fn latency(&self, slot: &Slot, est: u32) -> u32 {
        if slot.hot.failure_score.load(Ordering::Relaxed) == 0 {
            return est;
        }
        self.charged_latency(slot, est)
    }

    /// The penalty (Q16) of the backend in `slot`.
    fn pen(&self, slot: &Slot) -> u64 {
        let f = slot.failure_fraction_at(self.now_ms, self.half_life_ms);
        penalty_q16(f, self.percent)
    }

    #[cold]
    #[inline(never)]
    fn charged_load(&self, slot: &Slot, in_flight: u32) -> u64 {
        charged_load_q16(in_flight, self.pen(slot))
    }

    #[cold]
    #[inline(never)]
    fn charged_latency(&self, slot: &Slot, est: u32) -> u32 {
        penalised(est, self.pen(slot))
    }

    /// [`Penalty::load_q16`] of candidate `c` of `view`.
    #[inline]
    pub(crate) fn load_of<const N: usize>(&self, view: &View<'_, N>, c: &Candidate) -> u64 {
        match view.pool().slot(c.index()) {
            Some(slot) => self.load_q16(slot, c.in_flight()),
            None => (c.in_flight() as u64) << 16,
        }
    }

    /// [`Penalty::latency`] of candidate `c` of `view`.
    #[inline]
    pub(crate) fn latency_of<const N: usize>(
        &self,
        view: &View<'_, N>,
        c: &Candidate,
        est: u32,
    ) -> u32 {
        match view.pool().slot(c.index()) {
            Some(slot) => self.latency(slot, est),
            None => est,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_IN_FLIGHT, MAX_WEIGHT};

    #[test]
    fn fraction_reaches_both_ends() {
        let mut f = 0;
        for _ in 0..400 {
            f = next_fraction(f, false);
        }
        assert_eq!(f, ONE, "enough failures reach 1 exactly");
        for _ in 0..400 {
            f = next_fraction(f, true);
        }
        assert_eq!(f, 0, "enough successes reach 0 exactly");
        assert_eq!(next_fraction(0, false), 4096, "one failure: 1/16");
        assert_eq!(next_fraction(4096, true), 3840);
        assert_eq!(next_fraction(1, true), 0);
        assert_eq!(next_fraction(u32::MAX, true), ONE - ONE / 16);
    }

    #[test]
    fn alternating_outcomes_settle_near_one_half() {
        let mut f = 0;
        for i in 0..1000 {
            f = next_fraction(f, i % 2 == 0);
        }
        assert!(
            (ONE / 2 - ONE / 16..=ONE / 2 + ONE / 16).contains(&f),
            "{f}"
        );
    }

    #[test]
    fn odds_and_penalty() {
        assert_eq!(odds_q16(0), 0);
        assert_eq!(
            odds_q16(ONE / 2),
            1 << 16,
            "half fail: one failure per success"
        );
        assert_eq!(odds_q16(ONE / 4 * 3), 3 << 16);
        assert_eq!(odds_q16(ONE - 1), MAX_ODDS_Q16);
        assert_eq!(odds_q16(ONE), MAX_ODDS_Q16);
        assert_eq!(penalty_q16(ONE / 2, 100), 1 << 16);
        assert_eq!(penalty_q16(ONE / 2, 50), 1 << 15);
        assert_eq!(penalty_q16(ONE / 2, 0), 0);
        assert_eq!(penalty_q16(0, 1000), 0);
        assert_eq!(
            penalty_q16(ONE, u32::MAX),
            MAX_ODDS_Q16 * u32::MAX as u64 / 100
        );
    }

    #[test]
    fn charged_loads() {
        assert_eq!(charged_load_q16(3, 0), 3 << 16);
        assert_eq!(charged_load_q16(3, 1 << 16), 7 << 16, "(3 + 1) · 2 − 1");
        assert_eq!(charged_load_q16(0, 1 << 15), 1 << 15);
        assert_eq!(charged_load_q16(MAX_IN_FLIGHT, u64::MAX), MAX_LOAD_Q16);
        // the largest uncharged load is far below the cap
        assert!(((MAX_IN_FLIGHT as u64) << 16) < MAX_LOAD_Q16);
        assert!(MAX_LOAD_Q16 * MAX_WEIGHT as u64 <= 1 << 63);
    }

    #[test]
    fn the_pool_counts_failing_slots() {
        use crate::{Config, Lease, Outcome};
        use core::time::Duration;
        let pool: Pool<4> = Pool::with_config(Config::new().failure_penalty_percent(100)).unwrap();
        let a = pool.add(1).unwrap();
        let b = pool.add(1).unwrap();
        let finish = |id, ok: bool| {
            let d = Duration::from_micros(10);
            let o = if ok {
                Outcome::success_after(d)
            } else {
                Outcome::failure_after(d)
            };
            Lease::acquire(&pool, id).unwrap().finish(o.at_us(1_000));
        };
        let failing = || pool.failing.load(Ordering::Relaxed);
        finish(a, true);
        assert_eq!(failing(), 0);
        finish(a, false);
        finish(a, false);
        finish(b, false);
        assert_eq!(failing(), 2);
        // successes bring a back to 0 (about 16 · ln(2^16) of them)
        for _ in 0..200 {
            finish(a, true);
        }
        assert_eq!(failing(), 1);
        // removing b and reusing its slot clears it
        pool.remove(b).unwrap();
        let c = pool.add(1).unwrap();
        assert_eq!(c.index(), b.index());
        assert_eq!(failing(), 0);
    }

    #[test]
    fn scaling_saturates() {
        assert_eq!(penalised(1000, 0), 1000);
        assert_eq!(penalised(1000, 1 << 16), 2000);
        assert_eq!(penalised(u32::MAX, 1 << 16), u32::MAX);
        assert_eq!(penalised(u32::MAX, u64::MAX), u32::MAX);
        assert_eq!(penalised(1, u64::MAX), u32::MAX);
    }
}
