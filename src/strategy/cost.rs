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

use crate::pool::{Candidate, Penalty, View};

/// `a_num / a_den` against `b_num / b_den` (dens > 0), exactly.
#[inline]
pub(crate) fn cmp_ratio(a_num: u64, a_den: u64, b_num: u64, b_den: u64) -> Cmp {
    (a_num as u128 * b_den as u128).cmp(&(b_num as u128 * a_den as u128))
}

/// In-flight per weight: the in-flight count as it is ([`Conns::of`]) or, in a pick that
/// charges failures, the in-flight load in Q16 ([`Conns::with_load`]); every candidate of
/// one pick is built the same way, so they compare on one scale.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conns {
    /// `in_flight`, or `in_flight · 2^16` plus the failure charge (at most 2^42).
    load: u64,
    weight: u64,
}

impl Conns {
    /// Above every real cost (`1 / 0`: [`Conns::cmp`] puts any cost of weight ≥ 1 below
    /// it): where a scan starts.
    pub(crate) const WORST: Conns = Conns { load: 1, weight: 0 };

    /// The terms of `c` with in-flight load `load_q16` (Q16, charged its failures).
    #[inline]
    pub(crate) fn with_load(c: &Candidate, load_q16: u64) -> Self {
        Conns {
            load: load_q16,
            weight: c.weight() as u64,
        }
    }

    /// The terms of `c` without a failure charge, in plain in-flight units.
    #[inline]
    pub(crate) fn of(c: &Candidate) -> Self {
        Conns {
            load: c.in_flight() as u64,
            weight: c.weight() as u64,
        }
    }

    /// Compared as nginx compares (`f_a · w_b` against `f_b · w_a`; loads below 2^42,
    /// weights below 2^21: no overflow). An uncharged Q16 load is the in-flight count times
    /// 2^16, so a pick that charges failures orders backends without any exactly as one
    /// that does not.
    #[inline]
    pub(crate) fn cmp(&self, other: &Self) -> Cmp {
        (self.load * other.weight).cmp(&(other.load * self.weight))
    }

    /// The two-choices comparison: `true` if `b` is strictly less loaded than `a`, each
    /// charged its failures (the penalty read once per pick; nothing when it is off).
    #[inline]
    pub(crate) fn b_wins<const N: usize>(view: &View<'_, N>, a: &Candidate, b: &Candidate) -> bool {
        let (ca, cb) = match Penalty::of_view(view) {
            None => (Self::of(a), Self::of(b)),
            Some(p) => (
                Self::with_load(a, p.load_of(view, a)),
                Self::with_load(b, p.load_of(view, b)),
            ),
        };
        cb.cmp(&ca) == Cmp::Less
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
    /// Above every real cost (`1 / 0`: [`Latency::cmp`] puts any cost of weight ≥ 1 below
    /// it): where a scan starts.
    pub(crate) const WORST: Latency = Latency {
        num: 1,
        load: 1,
        weight: 0,
        sampled: false,
    };

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
        let est = view.latency_us(c);
        let est = match Penalty::of_view(view) {
            None => est,
            Some(p) => est.map(|e| p.latency_of(view, c, e)),
        };
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
            // `load` is `in_flight + 1`, never 0; `checked_div` keeps a division-by-zero
            // panic path out of the pick where the compiler cannot see that (thumbv6m)
            (true, false) => (
                a.num,
                a.num
                    .checked_div(a.load)
                    .unwrap_or(0)
                    .saturating_mul(b.load),
            ),
            (false, true) => (
                b.num
                    .checked_div(b.load)
                    .unwrap_or(0)
                    .saturating_mul(a.load),
                b.num,
            ),
        };
        match cmp_ratio(nb, b.weight, na, a.weight) {
            Cmp::Less => true,
            Cmp::Greater => false,
            Cmp::Equal => !b.sampled,
        }
    }
}
