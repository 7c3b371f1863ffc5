//! Rendezvous scoring (highest random weight, in integers), the ranking that
//! [`Rendezvous`](crate::Rendezvous) picks by and that [`Maglev`](crate::Maglev),
//! [`Jump`](crate::Jump) and [`BoundedLoad`](crate::BoundedLoad) fall back on or walk: a
//! per-(key, slot) hash, `-log2` of it in fixed point, and the weighted comparison.
//!
//! **Why a comparison the hashes do not decide computes the logarithm.** Exact cheaper
//! tests exist: the hash's leading zeros `lz` bound `L = -log2 u` to
//! `(lz·2^32, (lz + 1)·2^32]` (Q32), and the table entry above the mantissa alone bounds it
//! to within 1/256. Against a best whose `L` is known, either bound settles most of the
//! comparisons that reach the logarithm (in a model of 64 backends with weights `1..=64`,
//! 63 logarithms a pick fall to 35 and to 11). Both were measured, and both cost more than
//! they save: by callgrind at n = 64 (weights 1, 2, 3, 4, 1, ...), 3914 instructions a
//! pick became 4840 with the leading-zeros bound and 4908 with the table bound. The
//! logarithm is itself a leading-zeros count, two table loads and one multiplication; the
//! bound adds a branch that goes either way.

use crate::pool::{Candidate, View};
use crate::rng::{Stream, mix64};
use crate::select::Request;

/// The key for this pick: the request's, or a random one when it has none (a request
/// without affinity still goes somewhere, spread like [`Random`](crate::Random)).
#[inline]
pub(crate) fn key_of(req: &mut Request<'_>, stream: &Stream) -> u64 {
    match req.key() {
        Some(k) => k,
        None => req.draw(stream),
    }
}

/// Salt of slot `i`'s per-key hash (an odd constant times `i + 1`, so slot 0 is salted too).
#[inline]
const fn salt(i: u32) -> u64 {
    (i as u64 + 1).wrapping_mul(0xd6e8_feb8_6659_fd93)
}

/// The uniform 64-bit value of (key, slot): `mixed_key` is `mix64(key)`.
#[inline]
pub(crate) const fn slot_hash(mixed_key: u64, i: u32) -> u64 {
    mix64(mixed_key ^ salt(i))
}

// -log2(u) in fixed point

/// Fractional bits of [`neg_log2`]'s result.
const FRAC: u32 = 32;
/// Table index bits: `LOG2_TABLE[t] = log2(1 + t/256)` in Q32.
const TABLE_BITS: u32 = 8;

/// `log2(1 + t/256)` for `t` in `0..256`, in Q32, rounded to nearest. Computed at compile
/// time by the digit-by-digit squaring method (no floating point anywhere).
static LOG2_TABLE: [u32; 1 << TABLE_BITS] = log2_table();

const fn log2_table() -> [u32; 1 << TABLE_BITS] {
    let mut t = [0u32; 1 << TABLE_BITS];
    let mut rest: &mut [u32] = &mut t;
    let mut i = 0;
    while let [first, tail @ ..] = rest {
        *first = log2_frac_q32(i);
        rest = tail;
        i += 1;
    }
    t
}

/// `log2(1 + i/256)` in Q32 (`i < 256`), by repeated squaring: with `y` in `[1, 2)`,
/// squaring doubles `log2 y`; each time `y ≥ 2`, the next binary digit is 1 and `y` is
/// halved. 40 digits are computed in Q62 with `u128` products, then rounded to 32.
const fn log2_frac_q32(i: u64) -> u32 {
    const ONE: u128 = 1 << 62;
    let mut y: u128 = ((256 + i) as u128) << (62 - 8);
    let mut r: u64 = 0;
    let mut bit = 0;
    while bit < 40 {
        y = (y * y) >> 62;
        r <<= 1;
        if y >= 2 * ONE {
            y >>= 1;
            r |= 1;
        }
        bit += 1;
    }
    let rounded = (r + (1 << 7)) >> 8;
    // log2(1 + 255/256) < 1, so the rounded value fits in 32 bits
    if rounded > u32::MAX as u64 {
        u32::MAX
    } else {
        rounded as u32
    }
}

/// `-log2(u)` in Q32 fixed point, where `u = (h | 1) / 2^64` is in `(0, 1)`: a value in
/// `(0, 64 · 2^32]`, never zero.
///
/// `h | 1 = 2^e · m` with `m` in `[1, 2)`; `-log2 u = 64 - e - log2 m`. `log2 m` comes from
/// [`LOG2_TABLE`] at the top 8 bits of `m`'s fraction, linearly interpolated with the next
/// 24. Precision: linear interpolation of the concave `log2(1 + x)` on steps of 1/256
/// underestimates it by at most `(1/256)² / (8 ln 2) < 2.8 · 10⁻⁶`; the table's own rounding
/// and the dropped low bits add below `10⁻⁹`. So the result is within `+2.8 · 10⁻⁶` (in
/// units of `log2`, that is `2^-18.4`) of the exact value, always on the high side.
#[inline]
pub(crate) fn neg_log2(h: u64) -> u64 {
    let x = h | 1;
    let lz = x.leading_zeros(); // 0..=63
    let m = x << lz; // top bit set
    let t = ((m >> (63 - TABLE_BITS)) & ((1 << TABLE_BITS) - 1)) as usize;
    let r = (m >> (63 - TABLE_BITS - 24)) & 0xff_ffff;
    let lo = LOG2_TABLE.get(t).map_or(0, |&v| v as u64);
    let hi = LOG2_TABLE.get(t + 1).map_or(1 << FRAC, |&v| v as u64);
    // hi - lo < 2^24.6 and r < 2^24: the product fits easily
    let frac = lo + (((hi - lo) * r) >> 24);
    // 64 - e = 1 + lz, with e = 63 - lz
    (((1 + lz) as u64) << FRAC) - frac
}

/// Score of slot `i` with weight `w` for a key. Scores are totally ordered: smaller
/// `-log2(u)/w` first, then larger hash, then lower slot index; [`Score::beats`] compares
/// two, computing the logarithms only when the weights and hashes alone do not decide.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Score {
    /// The (key, slot) hash; `u = (hash | 1) / 2^64`.
    hash: u64,
    /// `-log2(u)` in Q32 (below 2^38), or 0 while not yet computed (it is never 0).
    neg_log: u64,
    /// Weight: below 2^21.
    weight: u64,
    index: u32,
}

impl Score {
    #[inline]
    pub(crate) fn new(mixed_key: u64, i: u32, weight: u32) -> Self {
        Score {
            hash: slot_hash(mixed_key, i),
            neg_log: 0,
            weight: weight as u64,
            index: i,
        }
    }

    #[inline]
    fn neg_log(&mut self) -> u64 {
        if self.neg_log == 0 {
            self.neg_log = neg_log2(self.hash);
        }
        self.neg_log
    }

    /// `true` if `self` wins against `other`: smaller `-ln(u)/w` (the weighted exponential
    /// race), compared by cross-multiplication (both products are below 2^59); on an exact
    /// tie the larger hash, then the lower slot index.
    ///
    /// `-log2(u)` does not increase as the hash grows, so when the weights are equal, or
    /// when one candidate has both the larger weight and the larger (or equal) hash, the
    /// hashes decide without a logarithm, with the same result as the full comparison.
    #[inline]
    pub(crate) fn beats(&mut self, other: &mut Score) -> bool {
        if self.weight == other.weight {
            return self.hash > other.hash || (self.hash == other.hash && self.index < other.index);
        }
        if self.weight < other.weight && self.hash <= other.hash {
            return false;
        }
        if self.weight > other.weight && self.hash >= other.hash {
            return true;
        }
        let a = self.neg_log() * other.weight;
        let b = other.neg_log() * self.weight;
        a < b
            || (a == b
                && (self.hash > other.hash
                    || (self.hash == other.hash && self.index < other.index)))
    }
}

/// The candidate of `view` whose score wins for `mixed_key`, weighted by each candidate's
/// effective weight when `weighted`, else all weights taken as 1.
pub(crate) fn winner<const N: usize>(
    view: &View<'_, N>,
    mixed_key: u64,
    weighted: bool,
) -> Option<Candidate> {
    best_where(view, mixed_key, weighted, |_| true)
}

/// [`winner`] among the candidates `keep` accepts.
#[inline]
pub(crate) fn best_where<const N: usize>(
    view: &View<'_, N>,
    mixed_key: u64,
    weighted: bool,
    keep: impl Fn(&Candidate) -> bool,
) -> Option<Candidate> {
    let mut best: Option<(Score, Candidate)> = None;
    for c in view.candidates() {
        if !keep(&c) {
            continue;
        }
        let w = if weighted { c.weight() } else { 1 };
        let mut s = Score::new(mixed_key, c.index() as u32, w);
        if best.as_mut().is_none_or(|(b, _)| s.beats(b)) {
            best = Some((s, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The candidate of `view` whose score for `mixed_key` wins with each candidate's
/// *configured* weight: the first eligible backend of the weighted order `mixed_key` fixes,
/// which slow start and shares do not reorder ([`PickFirst`](crate::PickFirst)).
#[inline]
pub(crate) fn first_in_order<const N: usize>(
    view: &View<'_, N>,
    mixed_key: u64,
) -> Option<Candidate> {
    let mut best: Option<(Score, Candidate)> = None;
    for c in view.candidates() {
        let mut s = Score::new(mixed_key, c.index() as u32, c.configured_weight());
        if best.as_mut().is_none_or(|(b, _)| s.beats(b)) {
            best = Some((s, c));
        }
    }
    best.map(|(_, c)| c)
}

/// For table- and bucket-based strategies under slow start: `true` if (key, slot) stays on a
/// warming slot whose effective weight is `w_eff` of its configured `w_conf`. Each pair gets
/// a fixed uniform `u` in `[0, 1)`, and stays while `u < w_eff / w_conf`: as the weight
/// ramps up, the slot's keys return to it, none leaves again.
#[inline]
pub(crate) fn warm_accept(mixed_key: u64, i: u32, w_eff: u32, w_conf: u32) -> bool {
    if w_eff >= w_conf {
        return true;
    }
    let u = slot_hash(mixed_key ^ 0x5851_f42d_4c95_7f2d, i) >> 32;
    u * (w_conf as u64) < (w_eff as u64) << 32
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn table_matches_f64() {
        for (i, &v) in LOG2_TABLE.iter().enumerate() {
            let exact = (1.0 + i as f64 / 256.0).log2() * 4_294_967_296.0;
            assert!(
                (v as f64 - exact).abs() <= 0.5 + 1e-6,
                "t[{i}] = {v}, exact {exact}"
            );
        }
    }

    #[test]
    fn neg_log2_precision() {
        let mut worst = 0.0f64;
        let mut x = 1u64;
        for _ in 0..200_000 {
            x = mix64(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
            for h in [x, x >> (x % 64), u64::MAX - (x >> 40), x >> 60] {
                let got = neg_log2(h) as f64 / 4_294_967_296.0;
                let u = (h | 1) as f64 / 18_446_744_073_709_551_616.0;
                let exact = -u.log2();
                let err = got - exact;
                // the f64 reference itself is only good to ~1e-13 relative near u = 1
                assert!(err > -1e-9, "h={h:#x}: {got} < {exact}");
                worst = worst.max(err);
            }
        }
        assert!(worst < 2.8e-6, "worst error {worst}");
        assert!(neg_log2(u64::MAX) > 0);
        assert_eq!(neg_log2(0), 64 << 32);
    }
}
