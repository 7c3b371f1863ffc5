//! Randomness: the caller's `rand_core::Rng` when the request carries one, else a stream that
//! each strategy seeds once at construction.
//!
//! Everything here is 64-bit integer arithmetic on fixed-width types, so the same seed gives
//! the same draws on 16-, 32- and 64-bit targets.

use crate::sync::{AtomicU32, Ordering};

/// SplitMix64's output function (Steele, Lea & Flood, 2014): a bijective 64-bit mixer.
#[inline]
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded counter stream for strategies whose caller passes no RNG: draw `k` is
/// `mix64(seed + k * golden)`. Shared by all threads through one atomic counter, so it is
/// deterministic for a single thread and merely well-spread under contention. The counter
/// is 32 bits wide (DESIGN.md: no 64-bit atomics), so the stream repeats after 2^32 draws.
///
/// **Many cores.** The counter lives in the strategy, so one strategy instance per worker
/// thread (the README's "Many cores" pattern, seeds `seed + w`) gives every worker a stream
/// no other thread writes; that is how a pick without a caller RNG avoids a shared written
/// word. Two other ways were weighed and rejected: stripes chosen by the address of a stack
/// variable (the only per-thread identity `no_std` safe code has) make a single thread's
/// draws depend on its stack depth and the loader's layout, which breaks the golden vectors'
/// determinism; and randomness derived from the state a pick reads (in-flight counts) is the
/// same for every thread at the same moment, so concurrent picks would herd onto the same
/// candidates, and an idle pool would draw the same value every time. The streams of seeds
/// `s` and `s + d` never share an input to the mixer within 2^32 draws for any `d` up to
/// 65536 workers: that needs `(j - k)·golden = d (mod 2^64)` with `|j - k| < 2^32` (the
/// unit test `worker_streams_do_not_overlap` checks every `d`).
#[derive(Debug)]
pub(crate) struct Stream {
    seed: u64,
    counter: AtomicU32,
}

impl Stream {
    pub(crate) const fn new(seed: u64) -> Self {
        Stream {
            seed,
            counter: AtomicU32::new(0),
        }
    }

    /// loom builds only: creates the counter's atomic now.
    #[cfg(loom)]
    pub(crate) fn touch(&self) {
        self.counter.touch();
    }

    #[inline]
    pub(crate) fn next_u64(&self) -> u64 {
        let k = self.counter.fetch_add(1, Ordering::Relaxed);
        mix64(
            self.seed
                .wrapping_add((k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        )
    }
}

/// Unbiased integer in `0..n` from 32 random bits, by Lemire's multiply-and-reject
/// (no `x % n` bias): `Some(x)` or `None` when the bits fall in the rejected sliver
/// (probability below `n / 2^32`); the caller draws again.
#[inline]
pub(crate) fn below_from(bits: u32, n: u32) -> Option<u32> {
    if n == 0 {
        return None;
    }
    let m = bits as u64 * n as u64;
    let low = m as u32;
    if low < n {
        // the exact threshold is 2^32 mod n; computed only in this rare branch
        let t = n.wrapping_neg() % n;
        if low < t {
            return None;
        }
    }
    Some((m >> 32) as u32)
}

/// Unbiased integer in `0..n` for 64-bit `n`, with rejection; `draw` supplies random words.
/// Used off the fast path (exact weighted sampling over a scanned total).
pub(crate) fn below_u64(mut draw: impl FnMut() -> u64, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    // reject the top 2^64 mod n values so that every residue is equally likely
    let zone = u64::MAX - (u64::MAX - n + 1) % n;
    for _ in 0..64 {
        let x = draw();
        if x <= zone {
            return x % n;
        }
    }
    // unreachable in practice: each try is rejected with probability < 1/2
    draw() % n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeds `s` and `s + d` (workers `d` apart) give inputs `s + j·g` and `s + d + k·g`:
    /// equal only when `(j - k)·g = d`, that is `j - k = d·g⁻¹ (mod 2^64)`, which for every
    /// `d` in `1..=65536` is at least 2^32 away from 0: more draws than the counter makes.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "arithmetic over 65536 seed gaps: nothing for miri to find (runs natively and on 32-bit wasm)"
    )]
    fn worker_streams_do_not_overlap() {
        const G: u64 = 0x9e37_79b9_7f4a_7c15;
        // g⁻¹ mod 2^64 by Newton's iteration (each step doubles the correct low bits)
        let mut inv: u64 = G;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(G.wrapping_mul(inv)));
        }
        assert_eq!(G.wrapping_mul(inv), 1);
        for d in 1..=65_536u64 {
            let gap = d.wrapping_mul(inv);
            assert!(gap.min(gap.wrapping_neg()) >= 1 << 32, "d = {d}");
        }
    }

    #[test]
    fn mix64_golden() {
        // SplitMix64 reference outputs for seed 0 (first three): state advances by golden
        let g = 0x9e37_79b9_7f4a_7c15u64;
        assert_eq!(mix64(g), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(g.wrapping_mul(2)), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(mix64(g.wrapping_mul(3)), 0x06c4_5d18_8009_454f);
    }

    /// The words (32 random bits) that `below_from` maps to `x` without rejection would be
    /// the run `[ceil(x·2^32/n), ceil((x+1)·2^32/n))`, of `floor(2^32/n)` or one more words.
    /// Lemire's rule is exact: every value of `0..n` comes from exactly `floor(2^32/n)`
    /// words, and the `2^32 mod n` words left over are rejected, one at the start of each
    /// longer run. Checked run by run for every value of small `n` and for sampled values of
    /// large `n` (the 2^32 words cannot all be tried in a debug test): both ends of the run,
    /// its first two words and words sampled inside it give `x`, except a rejected first
    /// word; the word before the run gives `x - 1` or is rejected.
    #[test]
    #[cfg_attr(miri, ignore = "arithmetic over 10^6 words: nothing for miri to find")]
    fn lemire_is_exactly_uniform() {
        const WORDS: u64 = 1 << 32;
        let start = |x: u64, n: u64| (x * WORDS).div_ceil(n);
        let mut sample = 0u64;
        for n in (1..=13u64).chain([
            1000,
            65_537,
            (1 << 31) - 1,
            1 << 31,
            (1 << 31) + 1,
            3_000_000_000,
            u32::MAX as u64,
        ]) {
            let per_value = WORDS / n;
            // every value up to n = 1000, else the first and last 500
            let head = n.min(500);
            let values = (0..head).chain(n.saturating_sub(500).max(head)..n);
            let mut rejected_total = 0u64;
            for x in values {
                let (lo, hi) = (start(x, n), start(x + 1, n));
                let at = |w: u64| below_from(w as u32, n as u32).map(u64::from);
                let rejected = at(lo).is_none();
                if !rejected {
                    assert_eq!(at(lo), Some(x), "n={n} x={x} first word");
                }
                assert_eq!(at(hi - 1), Some(x), "n={n} x={x} last word");
                if hi - lo > 1 {
                    assert_eq!(at(lo + 1), Some(x), "n={n} x={x} second word");
                }
                for _ in 0..if hi - lo > 2 { 64 } else { 0 } {
                    sample += 1;
                    let w = lo + 1 + mix64(sample) % (hi - lo - 1);
                    assert_eq!(at(w), Some(x), "n={n} x={x} word {w}");
                }
                if x > 0 {
                    let before = at(lo - 1);
                    assert!(before.is_none_or(|v| v == x - 1), "n={n} x={x}: {before:?}");
                }
                let accepted = hi - lo - u64::from(rejected);
                assert_eq!(
                    accepted, per_value,
                    "n={n}: value {x} is not exactly uniform"
                );
                rejected_total += u64::from(rejected);
            }
            if n <= 1000 {
                assert_eq!(rejected_total, WORDS % n, "n={n}: words rejected");
            }
        }
        assert_eq!(below_from(u32::MAX, 1), Some(0));
        assert_eq!(below_from(0, 0), None);
        assert_eq!(below_from(u32::MAX, u32::MAX), Some(u32::MAX - 1));
    }

    #[test]
    fn below_u64_bounds() {
        let mut x = 0u64;
        for n in [1u64, 2, 3, 1 << 40, u64::MAX] {
            for _ in 0..100 {
                let v = below_u64(
                    || {
                        x = x.wrapping_add(1);
                        mix64(x)
                    },
                    n,
                );
                assert!(v < n.max(1));
            }
        }
    }

    #[test]
    fn stream_is_deterministic() {
        let a = Stream::new(7);
        let b = Stream::new(7);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Stream::new(8).next_u64(), Stream::new(7).next_u64());
    }
}
