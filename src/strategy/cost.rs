//! The load metrics, apart from the rules that compare them (tower's `load/` apart from
//! `balance/p2c`): the scanning rule ([`Lowest`](super::rule::Lowest)) and the two-choices
//! rule ([`two_choices`](super::rule::two_choices)) compare whichever metric a strategy
//! names.
//!
//! * [`Conns`]: in-flight requests per unit of weight (least connections, P2C).
//! * [`Latency`]: peak-EWMA latency × (in-flight + 1) per unit of weight (least time,
//!   P2C peak-EWMA). A backend with no latency sample yet borrows the best estimate among
//!   the sampled ones it competes with (so it is tried, not starved), and wins ties.
//!
//! Both charge recent failures (the failure penalty `pen = p · f / (1 − f)` of
//! `pool/penalty.rs`, `f` the backend's recent failure fraction, `p` the pool's
//! `failure_penalty_percent` / 100), so that a backend that fails fast does not look idle
//! and fast:
//!
//! * `Conns`: `(in_flight + (in_flight + 1) · pen) / weight`, that is
//!   `((in_flight + 1) · (1 + pen) − 1) / weight`: the in-flight load of one successful
//!   request; the `+ 1` charges a failing backend even while it holds nothing in flight;
//! * `Latency`: the estimate is read as `estimate · (1 + pen)` (saturating at `u32::MAX` µs).
//!
//! With `pen = 0` (no recent failure, or the penalty off) both are exactly what they were,
//! compared the same way.
//!
//! Costs are fractions compared exactly by cross-multiplication, never divided.

use core::cmp::Ordering as Cmp;

use crate::pool::{Candidate, View, penalised};

/// `a_num / a_den` against `b_num / b_den` (dens > 0), exactly.
#[inline]
pub(crate) fn cmp_ratio(a_num: u64, a_den: u64, b_num: u64, b_den: u64) -> Cmp {
    (a_num as u128 * b_den as u128).cmp(&(b_num as u128 * a_den as u128))
}

/// In-flight per weight, with the failure penalty.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conns {
    in_flight: u64,
    weight: u64,
    /// Failure penalty, Q16 (0: none).
    pen: u64,
}

impl Conns {
    /// The terms of `c` with failure penalty `pen` (Q16).
    #[inline]
    pub(crate) fn with_penalty(c: &Candidate, pen: u64) -> Self {
        Conns {
            in_flight: c.in_flight() as u64,
            weight: c.weight() as u64,
            pen,
        }
    }

    /// The terms of `c`, its failure penalty read through `view`.
    #[inline]
    pub(crate) fn of<const N: usize>(view: &View<'_, N>, c: &Candidate) -> Self {
        Self::with_penalty(c, view.failure_penalty_of(c))
    }

    /// The load in Q16: `in_flight + (in_flight + 1) · pen`.
    #[inline]
    fn load_q16(&self) -> u64 {
        (self.in_flight << 16).saturating_add((self.in_flight + 1).saturating_mul(self.pen))
    }

    /// Compared as nginx compares (`f_a · w_b` against `f_b · w_a`; both below 2^45); with
    /// a penalty on either side, the Q16 loads in 128 bits.
    #[inline]
    pub(crate) fn cmp(&self, other: &Self) -> Cmp {
        if self.pen | other.pen == 0 {
            return (self.in_flight * other.weight).cmp(&(other.in_flight * self.weight));
        }
        cmp_ratio(self.load_q16(), self.weight, other.load_q16(), other.weight)
    }
}

/// Peak-EWMA cost terms: `estimate × load` (or the load alone while unsampled), the load
/// `in_flight + 1`, and the weight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Latency {
    /// `est × load` for a sampled backend (below 2^53), `load` for an unsampled one.
    num: u64,
    load: u64,
    weight: u64,
    sampled: bool,
}

impl Latency {
    /// The terms of `c` with its (decayed) estimate `est`.
    #[inline]
    pub(crate) fn with_estimate(est: Option<u32>, c: &Candidate) -> Self {
        let load = c.in_flight() as u64 + 1;
        Latency {
            num: est.map_or(load, |e| e as u64 * load),
            load,
            weight: c.weight() as u64,
            sampled: est.is_some(),
        }
    }

    /// The terms of `c`, its estimate read through `view` and charged its failure penalty.
    #[inline]
    pub(crate) fn of<const N: usize>(view: &View<'_, N>, c: &Candidate) -> Self {
        let est = view
            .latency_us(c)
            .map(|e| penalised(e, view.failure_penalty_of(c)));
        Self::with_estimate(est, c)
    }

    /// Within one class (both sampled, or both not): exact.
    #[inline]
    pub(crate) fn cmp(&self, other: &Self) -> Cmp {
        cmp_ratio(self.num, self.weight, other.num, other.weight)
    }

    /// Numerator with `fill` standing in for a missing estimate.
    #[inline]
    fn num_filled(&self, fill: u64) -> u64 {
        if self.sampled {
            self.num
        } else {
            fill.saturating_mul(self.load)
        }
    }

    /// `self` (unsampled) against `best` (sampled) once the lowest sampled estimate `fill` is
    /// known: `true` if `self` wins (ties go to the unsampled backend: it must be tried).
    #[inline]
    pub(crate) fn unsampled_wins(&self, best: &Self, fill: u64) -> bool {
        cmp_ratio(self.num_filled(fill), self.weight, best.num, best.weight) != Cmp::Greater
    }

    /// The two-choices comparison: `b` against `a`, an unsampled one borrowing the other's
    /// estimate (neither sampled: load alone); on a tie an unsampled `b` wins, else `a`.
    #[inline]
    pub(crate) fn b_wins(a: &Self, b: &Self) -> bool {
        let (na, nb) = match (a.sampled, b.sampled) {
            (true, true) | (false, false) => (a.num, b.num),
            (true, false) => (a.num, (a.num / a.load).saturating_mul(b.load)),
            (false, true) => ((b.num / b.load).saturating_mul(a.load), b.num),
        };
        match cmp_ratio(nb, b.weight, na, a.weight) {
            Cmp::Less => true,
            Cmp::Greater => false,
            Cmp::Equal => !b.sampled,
        }
    }
}
