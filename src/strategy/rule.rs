//! The selection rules that strategies share: the scan for the lowest cost with fair random
//! tie-breaking (least connections, least time), and two (or `k`) weighted choices (P2C, P2C
//! peak-EWMA). What they compare is a metric from [`cost`](super::cost).
//!
//! # Ties: count them, draw once, take that one
//!
//! A scan that finds `k` backends tied for the lowest cost returns the `r`-th of them in slot
//! order, `r` one unbiased draw in `0..k` ([`rng::below_from`], Lemire's multiply-and-reject).
//! For a single thread every tied backend is exactly equally likely, and a pick with no tie
//! draws nothing. The scan records ties as bits of a tie mask on the stack, [`TIE_WORDS`]
//! 64-bit words (32 bytes: the ties among slots `0..256`); a strictly lower cost clears it.
//! A pick without a tie tells so by comparing the mask with the first backend's bit alone.
//! With ties, `r` is found by population counts, word by word, then inside the word by byte
//! counts (one multiplication) and at most seven steps in the byte. Ties at slots past the
//! mask are only counted; when `r` falls among them, a second scan of those slots takes the
//! `r`-th again.
//!
//! The options weighed:
//!
//! * a bounded buffer of tied indices: one store per tie like the mask, but sixteen times
//!   the stack for the same count of slots (a `u16` a tie against a bit), and the pool size
//!   cannot size it (no `generic_const_exprs` on stable), so a large pool would either
//!   overflow it often or pay for its size on every pick;
//! * two passes (count, draw, walk to the `r`-th tie, as nginx's `least_conn` walks its tied
//!   peers again in `ngx_http_upstream_least_conn_module.c`): no state at all, but every pick
//!   with a tie judges the slots up to the winner twice (by callgrind, the judgement and the
//!   comparison are about 27 of the 44 instructions a slot: about half as much again on an
//!   idle pool);
//! * the mask (chosen): one `or` a tie and 36 bytes of stack (the mask and a count); the second pass kept only for
//!   pools past 256 slots, where it reads only the slots past the mask. By callgrind
//!   (`bash benches/callgrind/run.sh`, an idle pool where every backend ties), least
//!   connections went from 4731 to 2838 instructions a pick at n = 64 and from 687 to 705
//!   at n = 8 (the mask's fixed cost); the criterion figures are in the README.
//!
//! The scan itself runs block by block: see [`scan`].
//!
//! Under concurrency the counts may change between the scan and the take: the chosen slot is
//! judged again through the [`View`], so only a backend eligible at that moment is returned;
//! if it no longer is (or the second scan finds fewer ties than it counted), the pick falls
//! back to the first backend found at the lowest cost, as the scan judged it (the snapshot
//! every pick returns; taking the lease checks the cap again).

use core::cmp::Ordering as Cmp;

use crate::pool::{Candidate, Slot, View};
use crate::rng::{self, Stream};
use crate::select::Request;

use super::sample::{DrawnSet, weighted_slot};

mod scan;

/// 64-bit words of the tie mask a scan keeps on the stack: ties at slots
/// `0..64 * TIE_WORDS` are bits, ties past them are counted and found by a second scan.
pub(crate) const TIE_WORDS: usize = 4;

/// Slots the tie mask covers.
pub(crate) const TIE_SLOTS: usize = 64 * TIE_WORDS;

/// Most 64-bit words one draw in `0..n` takes before falling back to a 64-bit rejection
/// (each word gives two 32-bit tries, each rejected with probability below `n / 2^32`).
const DRAW_WORDS: usize = 4;

/// An unbiased index in `0..n` (`n >= 1`) from the request's RNG or `stream`: Lemire's
/// method on the low, then the high 32 bits of each word; after [`DRAW_WORDS`] words (a
/// chance below 2^-100 for any `u32` count), the exact 64-bit rejection of
/// [`rng::below_u64`]. Each try is exact, so the mixture is.
#[inline]
fn draw_below(req: &mut Request<'_>, stream: &Stream, n: u32) -> u32 {
    for _ in 0..DRAW_WORDS {
        let x = req.draw(stream);
        if let Some(r) = rng::below_from(x as u32, n) {
            return r;
        }
        if let Some(r) = rng::below_from((x >> 32) as u32, n) {
            return r;
        }
    }
    draw_below_slow(req, stream, n)
}

#[cold]
#[inline(never)]
fn draw_below_slow(req: &mut Request<'_>, stream: &Stream, n: u32) -> u32 {
    rng::below_u64(|| req.draw(stream), n as u64) as u32
}

/// The position of the `r`-th set bit of `m` (from 0, lowest first), `r` below `m`'s
/// population count. Byte counts by the usual SWAR population count, their running sums by
/// one multiplication, the byte holding the bit by one broadcast comparison of those sums
/// with `r`, then at most seven steps inside that byte.
#[inline]
pub(crate) fn nth_set_bit(m: u64, r: u32) -> u32 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut c = m - ((m >> 1) & 0x5555_5555_5555_5555);
    c = (c & 0x3333_3333_3333_3333) + ((c >> 2) & 0x3333_3333_3333_3333);
    c = (c + (c >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // byte k of `sums`: set bits in bytes 0..=k (at most 64: no carry between bytes)
    let sums = c.wrapping_mul(ONES);
    // high bit of byte k set iff sums_k > r (each byte stays within 63..=192: no borrow)
    let above = (sums | HIGH).wrapping_sub((r as u64 + 1).wrapping_mul(ONES)) & HIGH;
    // bytes whose running sum is at most r: the `r`-th bit is in the next one
    let byte = 8 - ((above >> 7).wrapping_mul(ONES) >> 56) as u32;
    let before = match byte {
        0 => 0,
        b => ((sums >> (8 * (b - 1))) & 0xff) as u32,
    };
    let mut bits = (m >> (8 * (byte & 7))) & 0xff;
    for _ in before..r {
        bits &= bits.wrapping_sub(1);
    }
    8 * byte + bits.trailing_zeros()
}

/// The scanning rule: the lowest-cost candidate offered, ties broken by one draw.
pub(crate) struct Lowest<T> {
    /// The first candidate offered at the lowest cost.
    first: Option<Candidate>,
    /// The lowest cost, or the `worst` sentinel while `first` is `None`.
    cost: T,
    /// Tied slots below [`TIE_SLOTS`], one bit each.
    mask: [u64; TIE_WORDS],
    /// Tied slots from [`TIE_SLOTS`] on, counted.
    beyond: u32,
}

impl<T: Copy> Lowest<T> {
    /// A scan with nothing offered yet; `worst` compares above every real cost (so the scan
    /// needs no test for its first candidate).
    #[inline(always)]
    pub(crate) const fn new(worst: T) -> Self {
        Lowest {
            first: None,
            cost: worst,
            mask: [0; TIE_WORDS],
            beyond: 0,
        }
    }

    /// Offers `c` with cost `cost`, compared to the best so far by `cmp`.
    #[inline(always)]
    pub(crate) fn offer(&mut self, c: Candidate, cost: T, cmp: impl Fn(&T, &T) -> Cmp) {
        match cmp(&cost, &self.cost) {
            Cmp::Greater => {}
            Cmp::Less => {
                let i = c.index();
                self.first = Some(c);
                self.cost = cost;
                self.mask = [0; TIE_WORDS];
                self.beyond = 0;
                self.mark(i);
            }
            Cmp::Equal => self.mark(c.index()),
        }
    }

    #[inline(always)]
    fn mark(&mut self, i: usize) {
        match self.mask.get_mut(i / 64) {
            Some(w) => *w |= 1 << (i % 64),
            None => self.beyond += 1,
        }
    }

    /// The lowest cost offered, if any.
    #[inline]
    pub(crate) fn cost(&self) -> Option<&T> {
        self.first.map(|_| &self.cost)
    }

    /// The winner: the only candidate at the lowest cost, or the `r`-th of the `k` tied
    /// ones, `r` one draw in `0..k`, judged again through `view` (see the module docs).
    /// `beyond(r, cost)` is the second scan: the `r`-th candidate at `cost` among slots
    /// from [`TIE_SLOTS`] on (see [`nth_tie_beyond`]).
    #[inline(always)]
    pub(crate) fn pick<const N: usize>(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        stream: &Stream,
        beyond: impl FnOnce(u32, &T) -> Option<Candidate>,
    ) -> Option<Candidate> {
        let first = self.first?;
        if self.alone(first.index()) {
            return Some(first);
        }
        Some(self.draw_tie(view, req, stream, beyond).unwrap_or(first))
    }

    /// `true` if the first candidate at the lowest cost, at slot `i`, is the only one: the
    /// mask holds its bit alone (no population count on the path without a tie).
    #[inline(always)]
    fn alone(&self, i: usize) -> bool {
        let mut only = [0u64; TIE_WORDS];
        match only.get_mut(i / 64) {
            Some(w) => *w = 1 << (i % 64),
            None => return self.mask == only && self.beyond == 1,
        }
        self.mask == only && self.beyond == 0
    }

    /// [`Lowest::pick`] with a tie: count, draw, take. The count and the draw are
    /// [`nth_tie`], one copy in the binary whatever the scan (it matters on a
    /// microcontroller's flash); only the take is per scan.
    #[inline(always)]
    fn draw_tie<const N: usize>(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        stream: &Stream,
        beyond: impl FnOnce(u32, &T) -> Option<Candidate>,
    ) -> Option<Candidate> {
        match nth_tie(&self.mask, self.beyond, view.len(), req, stream) {
            Ok(i) => view.get(i),
            // past every masked tie: `r` is among the ties at slots past the mask
            Err(r) => beyond(r, &self.cost),
        }
    }
}

/// The count and the draw of [`Lowest::draw_tie`]: `Ok(slot)` of the `r`-th tie in the
/// mask, `r` one draw among all `ties` (masked plus `beyond`), or `Err(r - masked)` when `r`
/// falls among the ties counted past the mask. `len` is the view's slot count (mask words
/// past it are 0 and left out of the count).
#[inline(never)]
fn nth_tie(
    mask: &[u64; TIE_WORDS],
    beyond: u32,
    len: usize,
    req: &mut Request<'_>,
    stream: &Stream,
) -> Result<usize, u32> {
    let used = len.div_ceil(64).min(TIE_WORDS);
    let words = mask.get(..used).unwrap_or(mask);
    let ties = words.iter().map(|w| w.count_ones()).sum::<u32>() + beyond;
    let mut r = draw_below(req, stream, ties);
    for (k, &w) in words.iter().enumerate() {
        let ones = w.count_ones();
        if r < ones {
            return Ok(k * 64 + nth_set_bit(w, r) as usize);
        }
        r -= ones;
    }
    Err(r)
}

/// The second scan of [`Lowest::pick`]: the `r`-th candidate (from 0, in slot order) among
/// slots from [`TIE_SLOTS`] on for which `is_tie` holds, or `None` if there are fewer (the
/// loads changed since the first scan). Only pools of more than [`TIE_SLOTS`] slots get here.
#[inline(never)]
pub(crate) fn nth_tie_beyond<const N: usize>(
    view: &View<'_, N>,
    mut r: u32,
    is_tie: impl Fn(&Candidate, &Slot) -> bool,
) -> Option<Candidate> {
    for i in TIE_SLOTS..view.len() {
        let Some((c, slot)) = view.judge(i) else {
            continue;
        };
        if is_tie(&c, slot) {
            if r == 0 {
                return Some(c);
            }
            r -= 1;
        }
    }
    None
}

/// The two-choices rule's draw: two distinct candidates, each with probability
/// proportional to its weight (the second among the others); `(a, None)` when only one is
/// eligible.
#[inline]
pub(crate) fn two_choices<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
) -> Option<(Candidate, Option<Candidate>)> {
    let a = weighted_slot(view, req, stream, &None)?;
    let b = weighted_slot(view, req, stream, &Some(a.index()));
    Some((a, b))
}

/// The two-choices rule: of two distinct weighted draws, the second if `b_wins(a, b)`, else
/// the first (the draws are already random, so a tie goes to the first); the only
/// candidate when there is one.
#[inline(always)]
pub(crate) fn better_of_two<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    b_wins: impl Fn(&Candidate, &Candidate) -> bool,
) -> Option<Candidate> {
    let (a, b) = two_choices(view, req, stream)?;
    let Some(b) = b else { return Some(a) };
    Some(if b_wins(&a, &b) { b } else { a })
}

/// The `k`-choices rule (Envoy's `choice_count`, HAProxy's `random(<draws>)`): `k` distinct
/// weighted draws, each challenging the best so far by the two-choices rule (the newcomer
/// wins if `b_wins(best, newcomer)`; a tie stays with the earlier draw). Fewer draws when
/// fewer than `k` backends are eligible. With `k = 2` this is [`better_of_two`], draw for
/// draw; with `k = 1`, one weighted draw (what [`Random`](crate::Random) picks).
#[inline]
pub(crate) fn best_of<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    k: u8,
    b_wins: impl Fn(&Candidate, &Candidate) -> bool,
) -> Option<Candidate> {
    let mut best = weighted_slot(view, req, stream, &None)?;
    let mut drawn = DrawnSet::of(best.index());
    for _ in 1..k {
        let Some(c) = weighted_slot(view, req, stream, &drawn) else {
            break;
        };
        drawn.push(c.index());
        if b_wins(&best, &c) {
            best = c;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::mix64;

    /// The `r`-th set bit found by walking the bits one by one.
    fn walk(m: u64, r: u32) -> u32 {
        let mut seen = 0;
        for b in 0..64 {
            if m >> b & 1 == 1 {
                if seen == r {
                    return b;
                }
                seen += 1;
            }
        }
        unreachable!("r = {r} is not below the population count of {m:#x}")
    }

    /// Every rank of every word, against the walk: edge words (one bit, all bits, a bit in
    /// each byte, every byte full but one) and pseudo-random words of high, middle and low
    /// density.
    #[test]
    #[cfg_attr(miri, ignore = "about 10^6 words and ranks: nothing for miri to find")]
    fn nth_set_bit_is_the_walk() {
        let check = |m: u64| {
            for r in 0..m.count_ones() {
                assert_eq!(nth_set_bit(m, r), walk(m, r), "word {m:#x}, rank {r}");
            }
        };
        for b in 0..64 {
            check(1 << b);
            check(!(1 << b));
            check(u64::MAX >> b);
            check(u64::MAX << b);
        }
        for byte in 0..8 {
            check(!(0xff << (8 * byte)));
            check(0x0101_0101_0101_0101 << byte);
        }
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..4000 {
            x = mix64(x);
            let (y, z) = (mix64(x ^ 1), mix64(x ^ 2));
            check(x | y);
            check(x);
            check(x & y);
            check(x & y & z);
        }
    }
}
