//! Round robin (nginx `round-robin` with equal weights; HAProxy's `static-rr` is weighted:
//! [`WeightedRoundRobin`](crate::WeightedRoundRobin)).

use crate::levels::BUILD_LEVELS;
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
/// level's healthy backends. A view narrowed further (a level's degraded backends, or one
/// locality) shares its level's rotation with the level's other views; a ticket that names
/// none of its candidates goes to the next turn of a second rotation over the candidates
/// alone (counted by a scan), so each candidate still gets an equal share over time
/// (within one turn per rotation, not exactly `k` per `k·m` picks).
#[derive(Debug)]
pub struct RoundRobin {
    cursor: AtomicU32,
    /// Levels above 0 have rotations of their own (see [`RoundRobin`]'s docs on levels).
    upper: [AtomicU32; UPPER],
    /// Per level, the rotation of the picks whose ticket names no candidate in a narrowed
    /// view.
    misses: [AtomicU32; BUILD_LEVELS_IF_ANY],
}

/// Levels above 0 (none without the `levels` feature).
const UPPER: usize = BUILD_LEVELS - 1;
/// One miss rotation per level with the `levels` feature, none without.
const BUILD_LEVELS_IF_ANY: usize = if BUILD_LEVELS > 1 { BUILD_LEVELS } else { 0 };

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
            misses: [const { AtomicU32::new(0) }; BUILD_LEVELS_IF_ANY],
        }
    }

    /// loom builds only: creates the cursor's atomic in the calling thread.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_init(&self) {
        self.cursor.touch();
        for a in self.upper.iter().chain(&self.misses) {
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
            let cursor = self.cursor_of(view.level());
            let n = view.len() as u32;
            if BUILD_LEVELS > 1 && view.is_within_level() {
                return self.narrowed(view, cursor);
            }
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
    /// A pick in a narrowed view (a level's degraded backends, or one locality): one ticket
    /// of the level's rotation; if it names no candidate, the next turn of the level's miss
    /// rotation over the view's candidates (counted by a scan), so that picks of other
    /// views sharing the level's rotation do not hand their skipped turns to whichever
    /// candidate follows a gap.
    #[cold]
    #[inline(never)]
    fn narrowed<const N: usize>(
        &self,
        view: &crate::pool::View<'_, N>,
        cursor: &AtomicU32,
    ) -> Option<crate::pool::Candidate> {
        let n = view.len() as u32;
        let t = cursor.fetch_add(1, Ordering::Relaxed);
        if t == FOLD_AT && n > 0 {
            cursor.fetch_sub((FOLD_AT / n) * n, Ordering::Relaxed);
        }
        if let Some(c) = t.checked_rem(n).and_then(|i| view.get(i as usize)) {
            return Some(c);
        }
        let count = view.candidates().count();
        let misses = self.misses.get(view.level() as usize)?;
        let k = misses.fetch_add(1, Ordering::Relaxed) as usize;
        view.candidates().nth(k.checked_rem(count)?)
    }
}
