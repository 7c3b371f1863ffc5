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

/// Peak-EWMA cost terms: estimate (if sampled), load `in_flight + 1`, weight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Latency {
    est: Option<u64>,
    load: u64,
    weight: u64,
}

impl Latency {
    #[inline]
    pub(crate) fn of<const N: usize>(view: &View<'_, N>, c: &Candidate) -> Self {
        Latency {
            est: view.latency_us(c).map(u64::from),
            load: c.in_flight() as u64 + 1,
            weight: c.weight() as u64,
        }
    }

    /// The estimate, if sampled.
    #[inline]
    pub(crate) fn estimate(&self) -> Option<u64> {
        self.est
    }

    /// Cost numerator with `fill` standing in for a missing estimate.
    #[inline]
    fn num(&self, fill: u64) -> u64 {
        self.est.unwrap_or(fill).saturating_mul(self.load)
    }

    /// `self` against `other`, a missing estimate on either side read as `fill` (within one
    /// class of backends, sampled or not, `fill` never matters for the sampled ones).
    #[inline]
    pub(crate) fn cmp_filled(&self, other: &Self, fill: u64) -> Cmp {
        cmp_ratio(self.num(fill), self.weight, other.num(fill), other.weight)
    }

    /// `self` (unsampled) against `best` (sampled) once the lowest sampled estimate `fill` is
    /// known: `true` if `self` wins (ties go to the unsampled backend: it must be tried).
    #[inline]
    pub(crate) fn unsampled_wins(&self, best: &Self, fill: u64) -> bool {
        self.cmp_filled(best, fill) != Cmp::Greater
    }

    /// The two-choices comparison: `b` against `a`, an unsampled one borrowing the other's
    /// estimate (neither sampled: load alone); on a tie an unsampled `b` wins, else `a`.
    #[inline]
    pub(crate) fn b_wins(a: &Self, b: &Self) -> bool {
        let fill = match (a.est, b.est) {
            (Some(x), _) | (None, Some(x)) => x,
            (None, None) => 1,
        };
        match b.cmp_filled(a, fill) {
            Cmp::Less => true,
            Cmp::Greater => false,
            Cmp::Equal => b.est.is_none(),
        }
    }
}
