//! The leader scan of smooth weighted round robin: the loop every pick runs once per slot.
//!
//! A pick's cost at n = 64 is this loop, so it is written for the machine rather than for
//! the reader of the rule (the rule is in the parent module's docs; the unit tests below
//! check this loop against a plain transcription of it):
//!
//! * **No branch per slot.** Whether a slot is in the schedule's level is one compare on the
//!   snapshot word `w ^ tier` (it is `1..=WEIGHT_BITS` exactly when the level bits are the
//!   tier's and the weight is above zero, and then it *is* the weight); a slot that is not
//!   in the level gets the credit `i64::MIN`, which no scheduled slot's credit equals, so
//!   the running maximum (compare and two conditional moves) skips it. Before, each slot
//!   paid a `w == 0` test, a level test and the caller's filter as branches, and the
//!   `take(n)` chain of iterators kept its state on the stack (about 41 instructions a
//!   slot, counted by callgrind).
//! * **No mask where nothing is masked.** A rebuild that finds every slot of the pool
//!   scheduled in level 0 (no levels in use, no backend down, drained or weightless: the
//!   common case) records the pool's length; a pick in level 0 over that many slots runs
//!   [`leader_dense`], which is the same loop without the level test and the mask (about 12
//!   instructions a slot instead of 17). A rebuild clears the record before it rewrites
//!   the weights.
//! * **The lowest index wins ties**, as in nginx (`ngx_http_upstream_get_peer` in
//!   `src/http/ngx_http_upstream_round_robin.c` keeps the first peer whose `current_weight`
//!   is strictly larger than the best so far): the maximum moves only on a strictly larger
//!   credit.
//! * **64-bit credits.** `t·w − W·c` needs them: `t` runs to the fold at 2^30 and `w` to
//!   2^24, and under concurrency (a picker with a ticket from before a rebuild or a fold)
//!   the true credit can be far outside the few `W` a one-thread schedule stays within, so
//!   a 32-bit credit would order some picks differently from the 64-bit rule. Every operand
//!   is bounded (`t < 2^32`, `w ^ tier < 2^28`, `W < 2^31`, `|c| < 2^31`), so the credit
//!   stays within ±2^62 and never overflows, on 32-bit targets too (where it costs a few
//!   more instructions).
//! * **Not vectorized, on purpose.** The loads are atomic (relaxed); LLVM never vectorizes
//!   an atomic load, and baseline x86-64 (SSE2) has no 64-bit vector compare, so the
//!   scalar loop with its multiplies in flight in parallel is the fast form here.

use crate::sync::{AtomicU32, Ordering};

use super::WEIGHT_BITS;

/// The index in `weights` (snapshot words: weight, level bits) and `picks` (pick counters)
/// of the slot with the largest credit `t·w − total·c` among those whose level bits are
/// `tier` and that `keep` accepts, lowest index on ties; `None` if there is none.
#[inline(always)]
pub(super) fn leader(
    weights: &[AtomicU32],
    picks: &[AtomicU32],
    t: u32,
    total: i64,
    tier: u32,
    keep: impl Fn(usize) -> bool,
) -> Option<usize> {
    let t = i64::from(t);
    let mut best = i64::MIN;
    let mut at = 0;
    for (i, (w, c)) in weights.iter().zip(picks).enumerate() {
        // the weight when the level bits are the tier's (and the weight is above zero)
        let x = w.load(Ordering::Relaxed) ^ tier;
        // counters are kept below 2^31 by folding; as i32 a counter a fold pushed a little
        // below zero reads as the small negative it is
        let c = c.load(Ordering::Relaxed) as i32;
        let credit = t * i64::from(x) - total * i64::from(c);
        let credit = if x.wrapping_sub(1) < WEIGHT_BITS && keep(i) {
            credit
        } else {
            i64::MIN
        };
        if credit > best {
            best = credit;
            at = i;
        }
    }
    (best > i64::MIN).then_some(at)
}

/// [`leader`] for a schedule whose every slot is in level 0 with a weight above zero (a
/// pool without levels in use and without a hole among its slots, the common case): no
/// slot to mask, so the level test and the mask leave the loop.
#[inline(always)]
pub(super) fn leader_dense(
    weights: &[AtomicU32],
    picks: &[AtomicU32],
    t: u32,
    total: i64,
) -> Option<usize> {
    let t = i64::from(t);
    let mut best = i64::MIN;
    let mut at = 0;
    for (i, (w, c)) in weights.iter().zip(picks).enumerate() {
        let credit = t * i64::from(w.load(Ordering::Relaxed))
            - total * i64::from(c.load(Ordering::Relaxed) as i32);
        if credit > best {
            best = credit;
            at = i;
        }
    }
    // every credit is above i64::MIN, so the first slot is taken if there is one
    (!weights.is_empty() && !picks.is_empty()).then_some(at)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const LEVEL: u32 = 1 << 24;

    /// The rule as the parent module first wrote it: skip what is not in the tier or not
    /// kept, keep the first strictly larger credit.
    fn plain(
        w: &[u32],
        c: &[u32],
        t: u32,
        total: i64,
        tier: u32,
        keep: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut best = None;
        let mut best_credit = i64::MIN;
        for (i, (&w, &c)) in w.iter().zip(c).enumerate() {
            if w == 0 || w & (0xf << 24) != tier || !keep(i) {
                continue;
            }
            let credit = t as i64 * (w & WEIGHT_BITS) as i64 - total * c as i32 as i64;
            if credit > best_credit {
                best_credit = credit;
                best = Some(i);
            }
        }
        best
    }

    fn atomics(v: &[u32]) -> Vec<AtomicU32> {
        v.iter().map(|&x| AtomicU32::new(x)).collect()
    }

    fn check(w: &[u32], c: &[u32], t: u32, total: i64, tier: u32) {
        let (aw, ac) = (atomics(w), atomics(c));
        for keep in [|_: usize| true, |i: usize| i % 3 != 1] {
            assert_eq!(
                leader(&aw, &ac, t, total, tier, keep),
                plain(w, c, t, total, tier, keep),
                "w {w:?} c {c:?} t {t} total {total} tier {tier:#x}"
            );
        }
    }

    #[test]
    fn dense_is_the_same_rule_where_every_slot_is_in_level_0() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u32| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as u32) % m
        };
        // fewer under miri: the rule is plain arithmetic, nothing for the interpreter to find
        let rounds = if cfg!(miri) { 40 } else { 2000 };
        for _ in 0..rounds {
            let n = next(20) as usize;
            let w: Vec<u32> = (0..n)
                .map(|_| match next(3) {
                    0 => WEIGHT_BITS - next(3),
                    _ => 1 + next(16),
                })
                .collect();
            let c: Vec<u32> = (0..n)
                .map(|_| {
                    if next(2) == 0 {
                        next(4)
                    } else {
                        next(u32::MAX)
                    }
                })
                .collect();
            let t = if next(2) == 0 {
                next(64)
            } else {
                next(u32::MAX)
            };
            let total = 1 + next(i32::MAX as u32) as i64;
            let (aw, ac) = (atomics(&w), atomics(&c));
            assert_eq!(
                leader_dense(&aw, &ac, t, total),
                plain(&w, &c, t, total, 0, |_| true),
                "w {w:?} c {c:?} t {t} total {total}"
            );
        }
        let (w, c) = (atomics(&[2, 2, 1]), atomics(&[0, 0, 0]));
        assert_eq!(leader_dense(&w, &c, 1, 5), Some(0));
        assert_eq!(leader_dense(&[], &[], 1, 5), None);
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        // equal weights, equal counters: every credit ties
        let (w, c) = (atomics(&[3, 3, 3]), atomics(&[1, 1, 1]));
        assert_eq!(leader(&w, &c, 5, 9, 0, |_| true), Some(0));
        // a tie between the last two, the first one below them
        let (w, c) = (atomics(&[1, 2, 2]), atomics(&[0, 0, 0]));
        assert_eq!(leader(&w, &c, 1, 5, 0, |_| true), Some(1));
    }

    #[test]
    fn slots_of_other_levels_empty_or_not_kept_are_never_leaders() {
        let w = [0, LEVEL | 9, 2, 0, LEVEL | 1, 5];
        let c = [0, 0, 3, 0, 0, 1];
        let (aw, ac) = (atomics(&w), atomics(&c));
        assert_eq!(leader(&aw, &ac, 10, 7, 0, |_| true), Some(5));
        assert_eq!(leader(&aw, &ac, 10, 7, 0, |i| i != 5), Some(2));
        assert_eq!(leader(&aw, &ac, 10, 10, LEVEL, |_| true), Some(1));
        assert_eq!(leader(&aw, &ac, 10, 7, 2 * LEVEL, |_| true), None);
        assert_eq!(leader(&aw, &ac, 10, 7, 0, |i| i % 2 == 1), Some(5));
        assert_eq!(leader(&aw, &ac, 10, 7, 0, |_| false), None);
        assert_eq!(leader(&[], &[], 10, 7, 0, |_| true), None);
    }

    #[test]
    fn extreme_operands_order_as_the_plain_rule() {
        // the largest ticket, weight, total and counters of either sign
        let big = WEIGHT_BITS;
        check(&[big, big - 1, 1], &[0, 0, 0], u32::MAX, i32::MAX as i64, 0);
        check(
            &[1, big, 7],
            &[u32::MAX, 1 << 30, 3],
            1 << 30,
            i32::MAX as i64,
            0,
        );
        check(
            &[LEVEL | big, big, LEVEL | 1],
            &[5, 0, u32::MAX - 4],
            1 << 30,
            1 << 30,
            LEVEL,
        );
    }

    #[test]
    fn matches_the_plain_rule_on_seeded_cases() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u32| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as u32) % m
        };
        // fewer under miri: the rule is plain arithmetic, nothing for the interpreter to find
        let rounds = if cfg!(miri) { 40 } else { 2000 };
        for _ in 0..rounds {
            let n = next(20) as usize;
            let w: Vec<u32> = (0..n)
                .map(|_| match next(4) {
                    0 => 0,
                    1 => (next(3) << 24) | (1 + next(8)),
                    _ => {
                        let bits = next(24);
                        1 + next(1 << bits)
                    }
                })
                .collect();
            // counters near one another (as one thread's schedule keeps them) or anywhere
            let c: Vec<u32> = (0..n)
                .map(|_| {
                    if next(2) == 0 {
                        next(4)
                    } else {
                        next(u32::MAX)
                    }
                })
                .collect();
            let t = if next(2) == 0 {
                next(64)
            } else {
                next(u32::MAX)
            };
            let total = 1 + next(i32::MAX as u32) as i64;
            check(&w, &c, t, total, next(2) << 24);
        }
    }
}
