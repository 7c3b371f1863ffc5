//! Exact weighted sampling of one candidate, shared by [`Random`](crate::Random) and the
//! two-choices and `k`-choices rules, each draw distinct from the earlier ones of its pick.

use crate::pool::{Candidate, View};
use crate::rng::{self, Stream};
use crate::select::Request;

/// Rejection tries before falling back to the exact scan.
const TRIES: u32 = 8;

/// The slots a pick already drew, which its next draw must not return: `Option<usize>`
/// (none, or the one of the two-choices rule: its code is what it was before `k` choices),
/// or a [`DrawnSet`] for `k` choices.
pub(crate) trait Drawn {
    /// `true` if slot `i` was drawn already.
    fn has(&self, i: usize) -> bool;
}

impl Drawn for Option<usize> {
    #[inline(always)]
    fn has(&self, i: usize) -> bool {
        *self == Some(i)
    }
}

/// Up to [`MAX_CHOICES`](crate::strategy::MAX_CHOICES) slots drawn, in draw order.
pub(crate) struct DrawnSet {
    slots: [u32; crate::strategy::MAX_CHOICES as usize],
    len: usize,
}

impl DrawnSet {
    /// The set holding `i` alone.
    #[inline]
    pub(crate) fn of(i: usize) -> Self {
        let mut set = DrawnSet {
            slots: [u32::MAX; crate::strategy::MAX_CHOICES as usize],
            len: 0,
        };
        set.push(i);
        set
    }

    /// Adds `i` (ignored once the set is full: the caller draws at most `MAX_CHOICES`).
    #[inline]
    pub(crate) fn push(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(self.len) {
            *s = i as u32;
            self.len += 1;
        }
    }
}

impl Drawn for DrawnSet {
    #[inline]
    fn has(&self, i: usize) -> bool {
        self.slots
            .get(..self.len)
            .is_some_and(|s| s.contains(&(i as u32)))
    }
}

/// A candidate drawn with probability proportional to its effective weight, never one of
/// the slots in `exclude`; `None` if no other is eligible.
///
/// Fast path: one 64-bit draw per try gives a uniform slot (low 32 bits) and a uniform
/// `u` in `0..weight_bound` (high 32 bits), both by Lemire's unbiased method; the slot is
/// accepted if it is a candidate, not excluded, and `u < weight` (the test is skipped when
/// its weight is the bound). After [`TRIES`] rejections: exact two-pass scan (sum of the
/// candidates' weights, one unbiased point in it, find its candidate). Both paths are exact,
/// so the mixture is.
#[inline(always)]
pub(crate) fn weighted_slot<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    exclude: &impl Drawn,
) -> Option<Candidate> {
    let n = view.len() as u32;
    let w_max = view.weight_bound();
    if n == 0 || w_max == 0 {
        return None;
    }
    for _ in 0..TRIES {
        let r = req.draw(stream);
        let Some(i) = rng::below_from(r as u32, n) else {
            continue;
        };
        let i = i as usize;
        if exclude.has(i) {
            continue;
        }
        let Some(c) = view.get(i) else { continue };
        if c.weight() < w_max {
            match rng::below_from((r >> 32) as u32, w_max) {
                Some(u) if u < c.weight() => {}
                _ => continue,
            }
        }
        return Some(c);
    }
    exact(view, req, stream, exclude).and_then(|i| view.get(i))
}

/// The exact fallback: sum the candidates' weights, draw a point, find its candidate. Names
/// a slot (returned in registers; the caller judges it again).
#[cold]
#[inline(never)]
fn exact<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    exclude: &impl Drawn,
) -> Option<usize> {
    let eligible = |i: usize| -> Option<Candidate> {
        if exclude.has(i) {
            return None;
        }
        view.get(i)
    };
    let total: u64 = (0..view.len())
        .filter_map(eligible)
        .map(|c| c.weight() as u64)
        .sum();
    if total == 0 {
        return None;
    }
    let mut point = rng::below_u64(|| req.draw(stream), total);
    let mut last = None;
    for i in 0..view.len() {
        let Some(c) = eligible(i) else { continue };
        let w = c.weight() as u64;
        last = Some(c.index());
        if point < w {
            return Some(c.index());
        }
        point -= w;
    }
    // eligibility changed between the passes: the last candidate seen
    last
}
