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
//! Costs are fractions compared exactly by cross-multiplication, never divided.

use core::cmp::Ordering as Cmp;

use crate::pool::{Candidate, View};

/// `a_num / a_den` against `b_num / b_den` (dens > 0), exactly.
#[inline]
pub(crate) fn cmp_ratio(a_num: u64, a_den: u64, b_num: u64, b_den: u64) -> Cmp {
    (a_num as u128 * b_den as u128).cmp(&(b_num as u128 * a_den as u128))
}

/// In-flight per weight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conns {
    in_flight: u64,
    weight: u64,
}

impl Conns {
    #[inline]
    pub(crate) fn of(c: &Candidate) -> Self {
        Conns {
            in_flight: c.in_flight() as u64,
            weight: c.weight() as u64,
        }
    }

    /// Compared as nginx compares (`f_a · w_b` against `f_b · w_a`; both below 2^45).
    #[inline]
    pub(crate) fn cmp(&self, other: &Self) -> Cmp {
        (self.in_flight * other.weight).cmp(&(other.in_flight * self.weight))
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

    /// The terms of `c`, its estimate read through `view`.
    #[inline]
    pub(crate) fn of<const N: usize>(view: &View<'_, N>, c: &Candidate) -> Self {
        Self::with_estimate(view.latency_us(c), c)
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
