//! Outlier detection: failure streaks, ejection and its return, the max-ejection share and
//! the panic threshold.
//!
//! The ejection multiplier follows Envoy's `source/common/upstream/outlier_detection_impl.cc`
//! (`ejectHost` raises `ejectTimeBackoff` under its cap; `onIntervalTimer` lowers it by one
//! per detection interval for a host that is back) and gRPC's A50
//! (`grpc/proposal` `A50-xds-outlier-detection.md`, the timer's step 5), counted lazily on
//! the caller's clock: see [`Ejection`].

use crate::clock::{elapsed_ms, reached, stamp};
use crate::config::Ejection;
use crate::sync::Ordering;

use super::word::{EJECTED, S_DEGRADED, S_UP, WARMING};
use super::{BackendId, CAS_TRIES, Pool, Slot, Word};

/// Claim bit in a slot's `ejections` word: one failing request decides an ejection.
const CLAIM: u32 = 1 << 31;

impl<const N: usize> Pool<N> {
    /// Panic mode of a single-level pool, when it can change a pick (ejection configured,
    /// or panic picks down backends or fails): see [`Pool::single_level_panic`].
    #[inline]
    pub(crate) fn panic_now(&self) -> bool {
        // nothing panic would change: nothing to count (and no load on the pick path)
        if !self.panic_matters {
            return false;
        }
        self.single_level_panic()
    }

    /// Envoy's panic for one level (`isHostSetInPanic` under
    /// `recalculatePerPriorityPanic`): fewer than the threshold of *all* backends are up
    /// and not ejected, and the level is not fully available (`factor · healthy < total`).
    /// From the pool's counters, O(1); out of line (one copy for every pick path).
    #[inline(never)]
    pub(crate) fn single_level_panic(&self) -> bool {
        let ejected = self.ejected.load(Ordering::Acquire);
        let up = self.up.load(Ordering::Acquire);
        let members = self.members.load(Ordering::Acquire);
        if ejected == 0 && up >= members {
            return false;
        }
        // 32-bit: at most 65535 members; a factor product that overflows is far above
        // `100 · members`
        let healthy = up.saturating_sub(ejected);
        let short = self
            .config
            .overprovisioning_percent
            .checked_mul(healthy)
            .is_some_and(|a| a < 100 * members);
        short && healthy * 100 < self.config.panic_threshold_percent.min(100) * members
    }

    /// A success ends the failure streak; a failure extends it and, at the configured
    /// count, tries to eject the backend.
    pub(crate) fn count_outcome(&self, slot: &Slot, id: BackendId, success: bool, now: u32) {
        if self.config.failure_penalty_percent != 0 {
            self.count_failure_fraction(slot, success);
        }
        if success {
            slot.hot.failure_streak.store(0, Ordering::Relaxed);
            return;
        }
        let mut f = slot.hot.failure_streak.load(Ordering::Relaxed);
        let mut streak = f;
        for _ in 0..CAS_TRIES {
            let Some(next) = f.checked_add(1) else { break };
            match slot.hot.failure_streak.compare_exchange(
                f,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    streak = next;
                    break;
                }
                Err(v) => f = v,
            }
        }
        if let Some(ej) = self.config.ejection
            && streak >= ej.consecutive_failures
        {
            self.try_eject(slot, id, now);
        }
    }

    /// `true` while `slot` holds the up backend `id` names, not ejected.
    fn ejectable(slot: &Slot, c: Word, id: BackendId) -> bool {
        (c.state() == S_UP || c.state() == S_DEGRADED)
            && !c.has(EJECTED)
            && slot.generation() == id.generation()
    }

    /// Ejects `slot` if it is up and not ejected, and the max-ejection share allows it.
    ///
    /// One failing request at a time decides: the first to set the claim bit in the slot's
    /// `ejections` word is the only one that reserves a place in the share, writes the
    /// deadline and sets the flag; racing failures return at once. (Without the claim, a
    /// loser could overwrite the winner's deadline, or hold a phantom place in the share
    /// that refused another backend's ejection: both found by loom.)
    pub(super) fn try_eject(&self, slot: &Slot, id: BackendId, now: u32) {
        let Some(ej) = self.config.ejection else {
            return;
        };
        if !Self::ejectable(slot, slot.word(), id) {
            return;
        }
        let prior = slot.ejections.load(Ordering::Acquire);
        if prior & CLAIM != 0
            || slot
                .ejections
                .compare_exchange(prior, prior | CLAIM, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        // from here on we own the decision; every path below clears the claim. A winner
        // sets the flag before it lets go of the claim, so a failure that claims after it
        // sees the flag here and leaves the ejection (and its deadline) alone.
        if !Self::ejectable(slot, slot.word(), id) || !self.reserve_ejection(ej, now) {
            slot.ejections.store(prior, Ordering::Release);
            return;
        }
        // Envoy's multiplier: one step back per interval spent back in the pool, then one up
        // (see `Ejection`)
        let returned = slot.returned_at_ms.load(Ordering::Acquire);
        let back = if returned != 0 {
            Some(elapsed_ms(now, returned))
        } else {
            None
        };
        let times = ej.next_times(prior, back).min(CLAIM - 1);
        slot.ejected_until_ms
            .store(now.wrapping_add(ej.duration_ms(times)), Ordering::Release);
        // the flag goes on unless the backend stopped being an up member meanwhile
        let mut c = slot.word();
        let mut done = false;
        for _ in 0..CAS_TRIES {
            if !Self::ejectable(slot, c, id) {
                break;
            }
            let next = c.with(EJECTED, true).with(WARMING, false);
            match slot
                .config
                .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) => {
                    done = true;
                    break;
                }
                Err(v) => c = Word(v),
            }
        }
        if done {
            slot.ejections.store(times, Ordering::Release);
            slot.hot.ejected_total.fetch_add(1, Ordering::Relaxed);
            self.bump_epoch();
        } else {
            self.ejected.fetch_sub(1, Ordering::AcqRel);
            slot.ejections.store(prior, Ordering::Release);
        }
    }

    /// Reserves one place in the max-ejection share. When the share is full, first ends
    /// the ejections whose time is up but that no pick has looked at yet (ejections end
    /// lazily), so an expired one never blocks a new one.
    fn reserve_ejection(&self, ej: Ejection, now: u32) -> bool {
        let members = self.members.load(Ordering::Acquire) as u64;
        let allowed = |cur: u32| {
            cur == 0 || (cur as u64 + 1) * 100 <= ej.max_ejection_percent as u64 * members
        };
        let mut swept = false;
        let mut cur = self.ejected.load(Ordering::Acquire);
        for _ in 0..CAS_TRIES {
            if !allowed(cur) {
                if swept {
                    return false;
                }
                swept = true;
                self.sweep_expired(now);
                cur = self.ejected.load(Ordering::Acquire);
                continue;
            }
            match self
                .ejected
                .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(v) => cur = v,
            }
        }
        false
    }

    /// Ends every ejection whose deadline `now` has reached (O(n); only when the share is
    /// full).
    #[cold]
    fn sweep_expired(&self, now: u32) {
        for slot in self.live_slots() {
            let c = slot.word();
            if c.has(EJECTED) && reached(now, slot.ejected_until_ms.load(Ordering::Acquire)) {
                self.uneject(slot, c, now);
            }
        }
    }

    /// Ends an ejection whose time is up (the winner of the compare-and-swap does it once).
    pub(super) fn uneject(&self, slot: &Slot, c: Word, now: u32) {
        let mut next = c.with(EJECTED, false);
        if self.config.slow_start.is_some() {
            slot.warm_from_ms.store(stamp(now), Ordering::Release);
            next = next.with(WARMING, true);
        }
        if slot
            .config
            .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            self.ejected.fetch_sub(1, Ordering::AcqRel);
            slot.hot.failure_streak.store(0, Ordering::Release);
            slot.returned_at_ms.store(stamp(now), Ordering::Release);
            self.bump_epoch();
        }
    }
}
