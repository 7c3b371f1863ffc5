//! Round robin (nginx `round-robin` with equal weights; HAProxy's `static-rr` is weighted:
//! [`WeightedRoundRobin`](crate::WeightedRoundRobin)).

use crate::levels::{BUILD_LEVELS, MAX_LOCALITIES};
use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};
use crate::sync::{AtomicU32, Ordering};

/// Where the cursor folds back: a multiple of the slot count is subtracted when a pick draws
/// exactly this ticket, so the 32-bit counter never wraps and the rotation never jumps.
const FOLD_AT: u32 = 1 << 31;

/// Every eligible backend in turn, ignoring weights.
///
/// One shared ticket counter (`fetch_add`) gives each pick the next slot in a fixed rotation
/// over the slots in use. A slot that is not eligible gives its turn to the *next ticket*,
/// not to its neighbour: over any `k·m` consecutive picks with `m` eligible backends, each
/// is picked exactly `k` times (unless eligibility changes in between), also when many
/// threads pick at once, because every ticket is drawn once.
///
/// **Retries** ([`Request::excluding`](crate::Request::excluding)): an excluded backend is
/// skipped like any ineligible one, so the retry takes the next ticket and the excluded
/// backend's ticket is spent (as Envoy's round robin does when its `previous_hosts` retry
/// predicate rejects a host and it picks again). The backends that are not excluded keep
/// the exact rotation. A preferred backend ([`Request::prefer`](crate::Request::prefer))
/// that is taken draws no ticket.
///
/// Cost: one `fetch_add` and one eligibility check per pick; one more of each for every
/// ineligible slot skipped (at most one rotation).
///
/// The counter is folded back by a multiple of the slot count when it reaches 2^31, so it
/// never wraps and the rotation never skips or repeats at the integer limit.
///
/// **Levels and localities.** Each priority level has a rotation of its own, so picks that
/// spill to level 1 do not spend level 0's turns, and the guarantee above holds within each
/// level's healthy backends. A view narrowed further has a rotation over its candidates
/// alone (counted by a scan, O(n)): one per level for its degraded backends, one per
/// locality; the guarantee holds within each while candidates do not change (a locality's
/// rotation is shared by the levels that route by locality).
#[derive(Debug)]
pub struct RoundRobin {
    cursor: AtomicU32,
    /// Levels above 0 have rotations of their own (see [`RoundRobin`]'s docs on levels).
    upper: [AtomicU32; UPPER],
    /// Rotations over the candidates of narrowed views: one per level for its degraded
    /// backends, then one per locality.
    within: [AtomicU32; WITHIN],
}

/// Levels above 0 (none without the `levels` feature).
const UPPER: usize = BUILD_LEVELS - 1;
/// Rotations of narrowed views (none without the `levels` feature).
const WITHIN: usize = if BUILD_LEVELS > 1 {
    BUILD_LEVELS + MAX_LOCALITIES
} else {
    0
};

impl Default for RoundRobin {
    fn default() -> Self {
        Self::new()
    }
}

impl RoundRobin {
    /// A rotation starting at slot 0.
    pub const fn new() -> Self {
        Self::starting_at(0)
    }

    /// A rotation whose first ticket is the low 32 bits of `seed` (as every seeded
    /// strategy is built: [`Strategy::from_name`](crate::Strategy::from_name) does this).
    pub const fn with_seed(seed: u64) -> Self {
        Self::starting_at(seed as u32)
    }

    /// A rotation whose first ticket is `cursor` (taken modulo 2^31): give each proxy
    /// instance a different start so they do not all begin on the same backend.
    pub const fn starting_at(cursor: u32) -> Self {
        RoundRobin {
            cursor: AtomicU32::new(cursor % FOLD_AT),
            upper: [const { AtomicU32::new(0) }; UPPER],
            within: [const { AtomicU32::new(0) }; WITHIN],
        }
    }

    /// loom builds only: creates the cursor's atomic in the calling thread.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_init(&self) {
        self.cursor.touch();
        for a in self.upper.iter().chain(&self.within) {
            a.touch();
        }
    }

    /// The next ticket to be drawn (level 0's rotation).
    pub fn cursor(&self) -> u32 {
        self.cursor.load(Ordering::Relaxed)
    }

    /// The rotation of `level`.
    fn cursor_of(&self, level: u8) -> &AtomicU32 {
        if BUILD_LEVELS == 1 {
            return &self.cursor;
        }
        match level.checked_sub(1) {
            None => &self.cursor,
            Some(l) => self.upper.get(l as usize).unwrap_or(&self.cursor),
        }
    }
}

impl<const N: usize> Select<N> for RoundRobin {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, _| {
            if BUILD_LEVELS > 1 && view.is_within_level() {
                return self.narrowed(view);
            }
            let cursor = self.cursor_of(view.level());
            let n = view.len() as u32;
            let mut last = 0;
            for _ in 0..n {
                let t = cursor.fetch_add(1, Ordering::Relaxed);
                if t == FOLD_AT {
                    // exactly one thread draws this ticket; subtracting a multiple of n
                    // keeps every later ticket's residue, so no turn is skipped or repeated
                    cursor.fetch_sub((FOLD_AT / n) * n, Ordering::Relaxed);
                }
                // a power-of-two slot count (common) needs no division
                let i = if n.is_power_of_two() {
                    t & (n - 1)
                } else {
                    t % n
                } as usize;
                if let Some(c) = view.get(i) {
                    return Some(c);
                }
                last = i;
            }
            // Other threads took the tickets of every eligible slot while ours all landed
            // on ineligible ones (or nothing is eligible): the next eligible slot after our
            // last ticket, without drawing more tickets.
            let n = n as usize;
            (1..=n).find_map(|k| view.get((last + k) % n))
        })
    }
}

impl RoundRobin {
    /// A pick in a narrowed view (a level's degraded backends, or one locality): the next
    /// turn of the view's own rotation over its candidates (counted by a scan), so that it
    /// neither spends its level's tickets nor hands its skipped turns to whichever
    /// candidate follows a gap.
    #[cold]
    #[inline(never)]
    fn narrowed<const N: usize>(
        &self,
        view: &crate::pool::View<'_, N>,
    ) -> Option<crate::pool::Candidate> {
        let slot = match view.locality() {
            Some(z) => BUILD_LEVELS + z as usize,
            None => view.level() as usize,
        };
        let count = view.candidates().count();
        let k = self.within.get(slot)?.fetch_add(1, Ordering::Relaxed) as usize;
        view.candidates().nth(k.checked_rem(count)?)
    }
}
