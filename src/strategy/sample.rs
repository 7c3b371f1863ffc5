//! Exact weighted sampling of one eligible slot, shared by [`Random`](crate::Random) and the
//! power-of-two-choices strategies.

use crate::pool::View;
use crate::rng::{self, Stream};
use crate::select::Request;

/// Rejection tries before falling back to the exact scan.
const TRIES: u32 = 8;

/// An eligible slot index drawn with probability proportional to its weight, never
/// `exclude`; `None` if no other slot is eligible.
///
/// Fast path: one 64-bit draw per try gives a uniform slot (low 32 bits) and a uniform
/// `u` in `0..max_weight` (high 32 bits), both by Lemire's unbiased method; the slot is
/// accepted if it is eligible, not excluded, and `u < weight` (the test is skipped when its
/// weight is the maximum). After [`TRIES`] rejections: exact two-pass scan (sum of eligible
/// weights, one unbiased point in it, find its slot). Both paths are exact, so the mixture is.
#[inline]
pub(crate) fn weighted_slot<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    exclude: Option<usize>,
) -> Option<usize> {
    let live = view.slots();
    let n = live.len() as u32;
    let w_max = view.pool().weight_bound();
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
        let Some(slot) = live.get(i) else { continue };
        let Some(w) = view.weight(slot) else { continue };
        if w < w_max {
            match rng::below_from((r >> 32) as u32, w_max) {
                Some(u) if u < w => {}
                _ => continue,
            }
        }
        if slot.has_room(slot.in_flight()) {
            return Some(i);
        }
    }
    // exact fallback: sum the eligible weights, draw a point, find its slot
    let eligible = |i: usize| -> Option<u64> {
        if Some(i) == exclude {
            return None;
        }
        let s = live.get(i)?;
        let w = view.weight(s)?;
        s.has_room(s.in_flight()).then_some(w as u64)
    };
    let total: u64 = (0..live.len()).filter_map(eligible).sum();
    if total == 0 {
        return None;
    }
    let mut point = rng::below_u64(|| req.draw(stream), total);
    let mut last = None;
    for i in 0..live.len() {
        let Some(w) = eligible(i) else { continue };
        last = Some(i);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    // eligibility changed between the passes: the last eligible slot seen
    last
}
