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
//! A backend with `f = 0` costs exactly what it cost before (same comparison, same picks);
//! the pick reads one more word per candidate of the load-aware strategies.

use crate::clock::elapsed_ms;
use crate::ewma;
use crate::sync::Ordering;

use super::view::Candidate;
use super::{CAS_TRIES, Slot, View};

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

impl Slot {
    /// Moves the recent failure fraction by one outcome (a success on a backend that has
    /// none costs one load).
    #[inline]
    pub(crate) fn count_failure_fraction(&self, success: bool) {
        let mut f = self.failure_score.load(Ordering::Relaxed);
        if success && f == 0 {
            return;
        }
        for _ in 0..CAS_TRIES {
            let next = next_fraction(f, success);
            match self.failure_score.compare_exchange_weak(
                f,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(v) => f = v,
            }
        }
    }

    /// The failure fraction as a pick at `now_ms` sees it: decayed by `half_life_ms` since
    /// the backend's last outcome.
    #[inline]
    pub(crate) fn failure_fraction_at(&self, now_ms: u32, half_life_ms: u32) -> u32 {
        let f = self.failure_score.load(Ordering::Relaxed);
        if f == 0 {
            return 0;
        }
        let at = self.latency_at_ms.load(Ordering::Relaxed);
        ewma::decayed(f, elapsed_ms(now_ms, at), half_life_ms)
    }
}

impl<const N: usize> View<'_, N> {
    /// The failure penalty (Q16) of the backend in `slot`, 0 when it has no recent failure
    /// or the penalty is off.
    #[inline]
    pub(crate) fn failure_penalty(&self, slot: &Slot) -> u64 {
        let config = self.pool().config();
        if config.failure_penalty_percent == 0 {
            return 0;
        }
        let f = slot.failure_fraction_at(self.now_ms(), config.half_life_ms);
        penalty_q16(f, config.failure_penalty_percent)
    }

    /// [`View::failure_penalty`] of candidate `c`.
    #[inline]
    pub(crate) fn failure_penalty_of(&self, c: &Candidate) -> u64 {
        match self.pool().slot(c.index()) {
            Some(slot) => self.failure_penalty(slot),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn scaling_saturates() {
        assert_eq!(penalised(1000, 0), 1000);
        assert_eq!(penalised(1000, 1 << 16), 2000);
        assert_eq!(penalised(u32::MAX, 1 << 16), u32::MAX);
        assert_eq!(penalised(u32::MAX, u64::MAX), u32::MAX);
        assert_eq!(penalised(1, u64::MAX), u32::MAX);
    }
}
