//! Exact weighted sampling of one candidate, shared by [`Random`](crate::Random) and the
//! two-choices rule.

use crate::pool::{Candidate, View};
use crate::rng::{self, Stream};
use crate::select::Request;

/// Rejection tries before falling back to the exact scan.
const TRIES: u32 = 8;

/// A candidate drawn with probability proportional to its effective weight, never the one
/// at `exclude`; `None` if no other is eligible.
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
    exclude: Option<usize>,
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
        if Some(i) == exclude {
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
    exclude: Option<usize>,
) -> Option<usize> {
    let eligible = |i: usize| -> Option<Candidate> {
        if Some(i) == exclude {
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
