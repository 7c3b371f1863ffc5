//! Membership and per-backend settings: add, remove, `set_*` (the read-back calls are in
//! `read`, the [`Backend`](super::Backend) builder in `backend`).
//!
//! Every call here names its backend by [`BackendId`] and applies to that backend or to
//! nothing: a call that writes more than the config word (`set_cap`, `set_health`) first
//! pins the slot (see `word`), so the slot cannot be removed *and reused* while it writes,
//! and every config change is one compare-and-swap on a word that carries the occupant's
//! generation.

use core::num::NonZeroU32;

use crate::error::BackendError;
use crate::sync::Ordering;

use super::backend::state_code;
use crate::levels::{MAX_LEVELS, MAX_LOCALITIES};

use super::word::{
    BACKUP, EJECTED, FULL_SHARE, Place, S_DEGRADED, S_DOWN, S_DRAINING, S_EMPTY, S_REMOVED,
    S_RESERVED, S_UP, SHARED, WARMING, cap_word,
};
use super::{Backend, BackendId, CAS_TRIES, Health, MAX_TOTAL_WEIGHT, MAX_WEIGHT};
use super::{Pool, Slot, Word};

impl<const N: usize> Pool<N> {
    /// Adds an [`Health::Up`] primary backend with the given weight and no in-flight cap:
    /// shorthand for [`Pool::add_backend`]`(`[`Backend::new`]`(weight))`.
    ///
    /// Takes the lowest free slot. Errors, with nothing changed:
    /// [`BackendError::WeightTooLarge`], [`BackendError::WeightOverflow`],
    /// [`BackendError::Full`] (a removed slot counts as free only once its in-flight count is
    /// zero). With slow start configured, the backend ramps up from the first pick that sees
    /// it.
    pub fn add(&self, weight: u32) -> Result<BackendId, BackendError> {
        self.add_backend(Backend::new(weight))
    }

    /// Adds a backend with its weight, health, tier and cap, all visible at once.
    pub fn add_backend(&self, b: Backend) -> Result<BackendId, BackendError> {
        if b.weight > MAX_WEIGHT {
            return Err(BackendError::WeightTooLarge);
        }
        if b.level as usize >= MAX_LEVELS {
            return Err(BackendError::InvalidLevel);
        }
        if b.zone as usize >= MAX_LOCALITIES {
            return Err(BackendError::InvalidLocality);
        }
        if !cfg!(feature = "levels") && (b.level > 0 || b.health == Health::Degraded) {
            return Err(BackendError::LevelsDisabled);
        }
        self.reserve_weight(b.weight)?;
        for (i, slot) in self.slots.iter().enumerate() {
            let c = slot.word();
            let st = c.state();
            if st != S_EMPTY && st != S_REMOVED {
                continue;
            }
            if !slot.hot.flight.load(Ordering::SeqCst).flight().free() {
                continue;
            }
            let reserved = c.same_generation(S_RESERVED, 0);
            if slot
                .config
                .compare_exchange(c.0, reserved.0, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Take the slot only while no lease or pin is out, and retag the in-flight word
            // in the same compare-and-swap: from then on a lease still aiming at the old
            // occupant fails its tag check, and one that got in first keeps the slot from us.
            // The claim zeroes the abandoned total too (no unit is out to count on it).
            let w = slot.hot.flight.load(Ordering::SeqCst);
            let generation = slot.generation.load(Ordering::SeqCst).wrapping_add(1);
            if !w.flight().free() || !slot.hot.flight.claim(w, generation) {
                slot.config.store(c.0, Ordering::SeqCst);
                continue;
            }
            slot.generation.store(generation, Ordering::SeqCst);
            slot.cap.store(cap_word(b.cap), Ordering::Relaxed);
            slot.share.store(FULL_SHARE, Ordering::Relaxed);
            slot.place
                .store(Place::new(b.level, b.zone).0, Ordering::Relaxed);
            for a in [
                &slot.hot.latency_us,
                &slot.hot.latency_at_ms,
                &slot.hot.failure_streak,
                &slot.warm_from_ms,
                &slot.ejected_until_ms,
                &slot.ejections,
                &slot.returned_at_ms,
                // the totals start at zero for each backend (and only here: while the backend
                // lives they only move on, so that differences of snapshots are counts)
                &slot.hot.successes,
                &slot.hot.failures,
                &slot.hot.ejected_total,
            ] {
                a.store(0, Ordering::Relaxed);
            }
            self.clear_failure_fraction(slot);
            let state = state_code(b.health);
            let mut config = Word::new(generation, state, b.weight).with(BACKUP, b.level > 0);
            if state == S_UP || state == S_DEGRADED {
                config = config.with(WARMING, self.config.slow_start.is_some());
            }
            self.recount(reserved, config);
            slot.config.store(config.0, Ordering::SeqCst);
            self.max_weight.fetch_max(b.weight, Ordering::AcqRel);
            self.high_water.fetch_max(i as u32 + 1, Ordering::AcqRel);
            self.bump_epoch();
            return Ok(BackendId::new(i as u32, generation));
        }
        self.release_weight(b.weight);
        Err(BackendError::Full)
    }

    /// Removes a backend: it is never picked again, leases already out finish normally, and
    /// its slot becomes reusable once the last of them is dropped.
    pub fn remove(&self, id: BackendId) -> Result<(), BackendError> {
        let slot = self.slot_of(id)?;
        for _ in 0..CAS_TRIES {
            let c = slot.word();
            self.check(slot, c, id)?;
            // RESERVED first: `add` cannot take the slot until the generation has moved on
            // (a slot reused in between would get a generation that this removal then bumps,
            // leaving the new backend stale and its slot lost: found by the stress test)
            let next = c.same_generation(S_RESERVED, 0);
            if slot
                .config
                .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                // leases out from now on record nothing: the generation has moved on
                slot.generation.fetch_add(1, Ordering::SeqCst);
                let removed = c.same_generation(S_REMOVED, 0);
                slot.config.store(removed.0, Ordering::SeqCst);
                self.release_weight(c.weight());
                self.recount(c, removed);
                if c.has(EJECTED) {
                    self.ejected.fetch_sub(1, Ordering::AcqRel);
                }
                self.bump_epoch();
                return Ok(());
            }
        }
        // Only other configuration calls on the same backend race here.
        Err(BackendError::Busy)
    }

    /// Changes a backend's weight. `0` is allowed: the backend stays in the pool but is not
    /// picked (HAProxy's weight 0).
    pub fn set_weight(&self, id: BackendId, weight: u32) -> Result<(), BackendError> {
        if weight > MAX_WEIGHT {
            return Err(BackendError::WeightTooLarge);
        }
        let slot = self.slot_of(id)?;
        for _ in 0..CAS_TRIES {
            let c = slot.word();
            self.check(slot, c, id)?;
            let old = c.weight();
            if weight > old {
                self.reserve_weight(weight - old)?;
            }
            let next = c.with_weight(weight);
            if slot
                .config
                .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                if weight < old {
                    self.release_weight(old - weight);
                }
                self.max_weight.fetch_max(weight, Ordering::AcqRel);
                self.bump_epoch();
                return Ok(());
            }
            if weight > old {
                self.release_weight(weight - old);
            }
        }
        Err(BackendError::Busy)
    }

    /// Sets a backend's administrative health.
    ///
    /// Marking a backend down or draining also ends an ejection (your health check has the
    /// last word); marking it up again starts its slow start, if configured, and a new
    /// failure streak.
    pub fn set_health(&self, id: BackendId, health: Health) -> Result<(), BackendError> {
        if !cfg!(feature = "levels") && health == Health::Degraded {
            return Err(BackendError::LevelsDisabled);
        }
        let st = state_code(health);
        self.pinned(id, |slot| {
            for _ in 0..CAS_TRIES {
                let c = slot.word();
                self.check(slot, c, id)?;
                let was = c.state();
                let mut next = c.with_state(st);
                let serving = |s: u32| s == S_UP || s == S_DEGRADED;
                if !serving(st) {
                    next = next.with(EJECTED | WARMING, false);
                } else if !serving(was) {
                    // Written while the backend is not up, where no pick reads them, and
                    // to this backend only: the pin keeps the slot from being reused. A
                    // lost compare-and-swap below leaves them as a later `Up` writes them.
                    if self.config.slow_start.is_some() {
                        slot.warm_from_ms.store(0, Ordering::Release);
                        next = next.with(WARMING, true);
                    }
                    // failures reported while it was down belong to the old streak
                    slot.hot.failure_streak.store(0, Ordering::Release);
                }
                if slot
                    .config
                    .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    self.recount(c, next);
                    if c.has(EJECTED) && !next.has(EJECTED) {
                        self.ejected.fetch_sub(1, Ordering::AcqRel);
                    }
                    self.bump_epoch();
                    return Ok(());
                }
            }
            Err(BackendError::Busy)
        })
    }

    /// Moves a backend into (`true`) or out of (`false`) the backup tier: shorthand for
    /// [`Pool::set_level`] with level 1 or 0.
    pub fn set_backup(&self, id: BackendId, backup: bool) -> Result<(), BackendError> {
        self.set_level(id, backup as u8)
    }

    /// Sets (or with `None` clears) a backend's in-flight cap: the most leases it may have
    /// out at once (HAProxy `maxconn`, nginx `max_conns`). A cap of
    /// [`MAX_IN_FLIGHT`](crate::MAX_IN_FLIGHT) or more is the same as none (no backend ever has
    /// more leases out) and reads back as `None`. Lowering the cap below the current in-flight
    /// count refuses new leases until enough finish; it does not cancel any.
    pub fn set_cap(&self, id: BackendId, cap: Option<NonZeroU32>) -> Result<(), BackendError> {
        self.pinned(id, |slot| {
            self.check(slot, slot.word(), id)?;
            slot.cap.store(cap_word(cap), Ordering::Release);
            Ok(())
        })
    }

    /// Sets the backend's share of its weight in this pool, in Q16: [`FULL_SHARE`]
    /// (65536) counts all of it (the default), 0 keeps it out of every pick, and values in
    /// between scale its effective weight (at least 1) for every strategy, and the weight
    /// schedules and tables are built from. This is how a proxy applies its subset of a large
    /// fleet (see [`subset`](crate::subset)): backends outside the subset get 0, subset
    /// members their overlap weight. A backend that is never given a share costs nothing
    /// extra on the pick path. Above [`FULL_SHARE`]: [`BackendError::ShareTooLarge`].
    ///
    /// ```
    /// use tinylb::{FULL_SHARE, Pool, Request, RoundRobin, Select};
    /// let pool: Pool<4> = Pool::new();
    /// let ids: Vec<_> = (0..3).map(|_| pool.add(1).unwrap()).collect();
    /// pool.set_share(ids[1], 0).unwrap(); // not in this proxy's subset
    /// let rr = RoundRobin::new();
    /// for _ in 0..6 {
    ///     assert_ne!(rr.select(&pool, &mut Request::new()), Some(ids[1]));
    /// }
    /// pool.set_share(ids[1], FULL_SHARE).unwrap();
    /// assert_eq!(pool.share(ids[1]), Ok(FULL_SHARE));
    /// assert!(pool.set_share(ids[1], FULL_SHARE + 1).is_err());
    /// ```
    pub fn set_share(&self, id: BackendId, share_q16: u32) -> Result<(), BackendError> {
        if share_q16 > FULL_SHARE {
            return Err(BackendError::ShareTooLarge);
        }
        self.pinned(id, |slot| {
            for _ in 0..CAS_TRIES {
                let c = slot.word();
                self.check(slot, c, id)?;
                // the value first, then the flag that makes picks read it
                slot.share.store(share_q16, Ordering::Release);
                let next = c.with(SHARED, share_q16 != FULL_SHARE);
                if next == c
                    || slot
                        .config
                        .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    self.bump_epoch();
                    return Ok(());
                }
            }
            Err(BackendError::Busy)
        })
    }

    // ----- helpers -----

    /// Runs `f` with the slot of `id` pinned (see the module docs), or says why it cannot.
    pub(super) fn pinned<T>(
        &self,
        id: BackendId,
        f: impl FnOnce(&Slot) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let slot = self.slot_of(id)?;
        if !slot.pin(id.generation()) {
            // another occupant's word (stale or empty), or pins contended
            self.check(slot, slot.word(), id)?;
            return Err(BackendError::Busy);
        }
        let r = f(slot);
        slot.unpin();
        r
    }

    pub(super) fn slot_of(&self, id: BackendId) -> Result<&Slot, BackendError> {
        self.slots
            .get(id.index())
            .ok_or(BackendError::NoSuchBackend)
    }

    /// Is `config` (just loaded from `slot`) still the backend `id` names?
    pub(super) fn check(
        &self,
        slot: &Slot,
        config: Word,
        id: BackendId,
    ) -> Result<(), BackendError> {
        match config.state() {
            S_UP | S_DOWN | S_DRAINING | S_DEGRADED => {}
            S_EMPTY => return Err(BackendError::NoSuchBackend),
            _ => return Err(BackendError::Stale),
        }
        if slot.generation() != id.generation() || !config.of_generation(id.generation()) {
            return Err(BackendError::Stale);
        }
        Ok(())
    }

    fn reserve_weight(&self, add: u32) -> Result<(), BackendError> {
        self.total_weight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(add).filter(|&s| s <= MAX_TOTAL_WEIGHT)
            })
            .map(|_| ())
            .map_err(|_| BackendError::WeightOverflow)
    }

    fn release_weight(&self, sub: u32) {
        self.total_weight.fetch_sub(sub, Ordering::AcqRel);
    }
}
