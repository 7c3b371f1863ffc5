//! Building the Maglev table: sizes, permutations, and the in-place parity refill.

use crate::error::TableError;
use crate::pool::Pool;
use crate::rng::mix64;
use crate::sync::Ordering;

use super::{MAX_MAGLEV_SLOTS, Maglev};

/// Entry layout: `[15]` parity of the build that wrote it, `[14:0]` slot index + 1 (0: none).
pub(super) const PARITY: u16 = 0x8000;
pub(super) const INDEX_MASK: u16 = 0x7fff;

/// `true` if `m` is prime and below 2^32 (trial division; evaluated at compile time by
/// [`Maglev::new`]).
pub(super) const fn is_prime_table_size(m: usize) -> bool {
    let m = m as u64;
    if m < 2 || m > u32::MAX as u64 {
        return false;
    }
    if m < 4 {
        return true;
    }
    if m.is_multiple_of(2) {
        return false;
    }
    let mut d = 3u64;
    while d * d <= m {
        if m.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// Why `Maglev<N, M>` cannot be built, if it cannot.
pub(super) const fn check(n: usize, m: usize) -> Option<TableError> {
    if n > MAX_MAGLEV_SLOTS {
        Some(TableError::PoolTooLarge)
    } else if !is_prime_table_size(m) {
        Some(TableError::TableSizeNotPrime)
    } else if m < n {
        Some(TableError::TableTooSmall)
    } else {
        None
    }
}

/// Position in `0..m` from the high 32 bits of a mixed 64-bit value (multiply-shift: one
/// 32×32→64 multiply, no division; bias below `m / 2^32`).
#[inline]
pub(super) const fn reduce(h: u64, m: u64) -> u64 {
    ((h >> 32) * m) >> 32
}

/// Slot `i`'s permutation of the table: `(offset, skip)` with `offset` in `0..m` and `skip`
/// in `1..m`; position `j` of the permutation is `(offset + j·skip) mod m`, which visits
/// every entry because `m` is prime.
#[inline]
pub(super) const fn permutation(i: usize, m: u64) -> (u64, u64) {
    let h = mix64((i as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f));
    let offset = reduce(h, m);
    let skip = (((h & 0xffff_ffff) * (m - 1)) >> 32) + 1;
    (offset, skip)
}

impl<const N: usize, const M: usize> Maglev<N, M> {
    /// Reads every slot's membership weight into `members`; `true` if any changed.
    pub(super) fn update_members(&self, pool: &Pool<N>) -> bool {
        let live = pool.live_slots().len().min(N);
        let mut changed = false;
        for (i, member) in self.members.iter().enumerate() {
            let w = if i < live {
                // members: primaries in the pool whatever their health, by the weight their
                // share leaves them
                pool.slot(i).map_or(0, |s| {
                    let c = s.word();
                    if c.occupied() && !c.has(crate::pool::BACKUP) {
                        s.member_weight(c)
                    } else {
                        0
                    }
                })
            } else {
                0
            };
            if member.swap(w, Ordering::Relaxed) != w {
                changed = true;
            }
        }
        changed
    }

    /// Refills the table from `members` (slots `0..n`). Called with the build flag held.
    pub(super) fn build(&self, n: usize) {
        let m = M as u64;
        let w_max = self
            .members
            .iter()
            .take(n)
            .map(|w| w.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        if w_max == 0 || m == 0 {
            // nothing to put in the table: lookups fall through to the (empty) fallback
            return;
        }
        let last = self.parity.load(Ordering::Relaxed) as u16;
        let p = if last == 0 { PARITY } else { 0 };
        for (i, (cur, credit)) in self.cursor.iter().zip(&self.credit).take(n).enumerate() {
            cur.store(permutation(i, m).0 as u32, Ordering::Relaxed);
            credit.store(0, Ordering::Relaxed);
        }
        let mut filled = 0u64;
        // every round, each backend of weight w_max takes a turn and fills one entry, so M
        // rounds are always enough
        'rounds: for _ in 0..M {
            for (i, ((w, cur), credit)) in self
                .members
                .iter()
                .zip(&self.cursor)
                .zip(&self.credit)
                .take(n)
                .enumerate()
            {
                let w = w.load(Ordering::Relaxed);
                if w == 0 {
                    continue;
                }
                let c = credit.load(Ordering::Relaxed) + w;
                if c < w_max {
                    credit.store(c, Ordering::Relaxed);
                    continue;
                }
                credit.store(c - w_max, Ordering::Relaxed);
                let skip = permutation(i, m).1;
                let mut pos = cur.load(Ordering::Relaxed) as u64;
                // a permutation visits every entry within M steps, so a free one is found
                for _ in 0..M {
                    let mut next = pos + skip;
                    if next >= m {
                        next -= m;
                    }
                    if let Some(e) = self.table.get(pos as usize)
                        && e.load(Ordering::Relaxed) & PARITY != p
                    {
                        // i < n <= N <= 32767: fits in 15 bits
                        e.store(p | (i as u16).wrapping_add(1), Ordering::Relaxed);
                        cur.store(next as u32, Ordering::Relaxed);
                        filled += 1;
                        break;
                    }
                    pos = next;
                }
                if filled >= m {
                    break 'rounds;
                }
            }
        }
        self.parity.store(p as u32, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let primes: [usize; 7] = [2, 3, 5, 7, 8191, 65537, 6421];
        for p in primes {
            assert!(is_prime_table_size(p), "{p}");
        }
        for c in [0usize, 1, 4, 9, 1000, 65535, 6417] {
            assert!(!is_prime_table_size(c), "{c}");
        }
    }

    #[test]
    fn permutations_are_in_range() {
        for m in [2u64, 3, 7, 8191] {
            for i in 0..100 {
                let (o, s) = permutation(i, m);
                assert!(o < m && (1..m).contains(&s), "m={m} i={i}: {o} {s}");
            }
        }
    }
}
