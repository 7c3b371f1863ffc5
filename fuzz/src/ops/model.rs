//! The reference model: what the documentation says a pool does, restated plainly (no
//! atomics, no packing, one thread), for the harness to compare the pool against. This file
//! holds each slot's state and the calls that change it; `route.rs` which views a pick
//! walks (priority levels, degraded backends, panic).

use std::vec::Vec;

use core::num::NonZeroU32;

use tinylb::{
    BackendError, BackendId, Config, FULL_SHARE, Health, MAX_IN_FLIGHT, MAX_TOTAL_WEIGHT,
    MAX_WEIGHT,
};

/// The wrapping millisecond tick the crate documents (`now_us / 1000`, 32 bits).
pub(super) fn tick(now_us: u64) -> u32 {
    (now_us / 1000) as u32
}

/// Milliseconds from `then` to `now` on the wrapping tick; backwards (or over 2^31) is 0.
pub(super) fn elapsed(now: u32, then: u32) -> u32 {
    let d = now.wrapping_sub(then);
    if d > i32::MAX as u32 { 0 } else { d }
}

/// `now` is at or past `deadline` on the wrapping tick.
pub(super) fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) <= i32::MAX as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Empty,
    Live(Health),
    /// Removed; the slot is reused once its in-flight count is zero.
    Removed,
}

#[derive(Debug, Clone)]
pub(super) struct SlotModel {
    pub(super) state: State,
    pub(super) generation: u32,
    pub(super) weight: u32,
    /// Priority level (0 is tried first; the backup tier is level 1).
    pub(super) level: u8,
    /// The cap as it reads back (one at or above `MAX_IN_FLIGHT` is none).
    pub(super) cap: Option<NonZeroU32>,
    /// Share of the weight, Q16.
    pub(super) share: u32,
    pub(super) in_flight: u32,
    pub(super) streak: u32,
    pub(super) ejected: bool,
    /// Tick at which the current ejection ends.
    pub(super) until: u32,
    /// Ejections in a row (the multiplier).
    pub(super) ejections: u32,
    /// Tick of the last return from ejection, if any.
    pub(super) returned: Option<u32>,
    /// Smallest and largest latency sample (as stored: clamped to `1..=u32::MAX`).
    pub(super) samples: Option<(u32, u32)>,
}

impl SlotModel {
    pub(super) fn new() -> Self {
        SlotModel {
            state: State::Empty,
            generation: 0,
            weight: 0,
            level: 0,
            cap: None,
            share: FULL_SHARE,
            in_flight: 0,
            streak: 0,
            ejected: false,
            until: 0,
            ejections: 0,
            returned: None,
            samples: None,
        }
    }

    pub(super) fn live(&self) -> bool {
        matches!(self.state, State::Live(_))
    }

    pub(super) fn up(&self) -> bool {
        self.state == State::Live(Health::Up)
    }

    /// One more lease fits: below the cap, and below `MAX_IN_FLIGHT` (the most leases a
    /// backend can have out).
    pub(super) fn has_room(&self) -> bool {
        self.in_flight < MAX_IN_FLIGHT && self.cap.is_none_or(|c| self.in_flight < c.get())
    }

    /// Up or degraded: what takes picks, can be ejected and counts towards a level's
    /// availability (when not ejected).
    pub(super) fn serving(&self) -> bool {
        matches!(
            self.state,
            State::Live(Health::Up) | State::Live(Health::Degraded)
        )
    }

    /// The health of a backend in the slot.
    pub(super) fn health(&self) -> Option<Health> {
        match self.state {
            State::Live(h) => Some(h),
            _ => None,
        }
    }
}

/// The reference model of one pool.
#[derive(Debug, Clone)]
pub(super) struct Model {
    pub(super) slots: Vec<SlotModel>,
    pub(super) config: Config,
}

impl Model {
    pub(super) fn new(n: usize, config: Config) -> Self {
        Model {
            slots: (0..n).map(|_| SlotModel::new()).collect(),
            config,
        }
    }

    pub(super) fn total_weight(&self) -> u64 {
        self.slots
            .iter()
            .filter(|s| s.live())
            .map(|s| s.weight as u64)
            .sum()
    }

    pub(super) fn members(&self) -> u64 {
        self.slots.iter().filter(|s| s.live()).count() as u64
    }

    pub(super) fn ejected(&self) -> u64 {
        self.slots.iter().filter(|s| s.ejected).count() as u64
    }

    /// Is `id` the backend now in its slot? `Ok(slot)` or the documented error.
    pub(super) fn resolve(&self, id: BackendId) -> Result<usize, BackendError> {
        let s = self
            .slots
            .get(id.index())
            .ok_or(BackendError::NoSuchBackend)?;
        match s.state {
            State::Empty => Err(BackendError::NoSuchBackend),
            State::Live(_) if s.generation == id.generation() => Ok(id.index()),
            _ => Err(BackendError::Stale),
        }
    }

    pub(super) fn add(
        &mut self,
        weight: u32,
        health: Health,
        level: u8,
        cap: Option<NonZeroU32>,
    ) -> Result<(usize, u32), BackendError> {
        if weight > MAX_WEIGHT {
            return Err(BackendError::WeightTooLarge);
        }
        if self.total_weight() + weight as u64 > MAX_TOTAL_WEIGHT as u64 {
            return Err(BackendError::WeightOverflow);
        }
        let i = self
            .slots
            .iter()
            .position(|s| {
                s.state == State::Empty || (s.state == State::Removed && s.in_flight == 0)
            })
            .ok_or(BackendError::Full)?;
        let s = &mut self.slots[i];
        let generation = s.generation.wrapping_add(1);
        *s = SlotModel {
            state: State::Live(health),
            generation,
            weight,
            level,
            cap: read_back(cap),
            ..SlotModel::new()
        };
        Ok((i, generation))
    }

    pub(super) fn remove(&mut self, i: usize) {
        let s = &mut self.slots[i];
        s.state = State::Removed;
        s.generation = s.generation.wrapping_add(1);
        s.ejected = false;
        s.weight = 0;
        s.level = 0;
    }

    pub(super) fn set_weight(&mut self, i: usize, weight: u32) -> Result<(), BackendError> {
        let old = self.slots[i].weight as u64;
        if self.total_weight() - old + weight as u64 > MAX_TOTAL_WEIGHT as u64 {
            return Err(BackendError::WeightOverflow);
        }
        self.slots[i].weight = weight;
        Ok(())
    }

    pub(super) fn set_health(&mut self, i: usize, h: Health) {
        let s = &mut self.slots[i];
        let was_serving = s.serving();
        s.state = State::Live(h);
        if s.serving() && !was_serving {
            // failures reported while it was not up (or degraded) belong to the old streak
            s.streak = 0;
        }
        if !s.serving() {
            // the caller's health check has the last word: ejection ends
            s.ejected = false;
        }
    }

    pub(super) fn set_cap(&mut self, i: usize, cap: Option<NonZeroU32>) {
        self.slots[i].cap = read_back(cap);
    }

    pub(super) fn set_share(&mut self, i: usize, share: u32) {
        self.slots[i].share = share;
    }

    /// `Lease::acquire`: the backend is current, up or degraded (or down, when panic may
    /// pick down backends: a lease must be able to take what a panic view gives), weighted
    /// and below its cap (ejection, level and share are the strategy's business).
    pub(super) fn can_acquire(&self, id: BackendId) -> bool {
        self.resolve(id).is_ok_and(|i| {
            let s = &self.slots[i];
            let down_too = self.config.panic_picks_down && s.health() == Some(Health::Down);
            (s.serving() || down_too) && s.weight > 0 && s.has_room()
        })
    }

    /// A finished request on slot `i` with generation `generation` at tick `now`.
    pub(super) fn record(
        &mut self,
        i: usize,
        generation: u32,
        success: bool,
        latency_us: u64,
        now: u32,
    ) {
        if !self.slots[i].live() || self.slots[i].generation != generation {
            return; // removed since: records nothing
        }
        let config = self.config;
        let s = &mut self.slots[i];
        let sample = u32::try_from(latency_us).unwrap_or(u32::MAX).max(1);
        s.samples = Some(match s.samples {
            None => (sample, sample),
            Some((lo, hi)) => (lo.min(sample), hi.max(sample)),
        });
        if success {
            s.streak = 0;
            return;
        }
        s.streak = s.streak.saturating_add(1);
        let Some(ej) = config.ejection else { return };
        if s.streak < ej.consecutive_failures || !s.serving() || s.ejected {
            return;
        }
        // never more than the max-ejection share, but one backend may always be ejected;
        // when the share is full, ejections whose time is up (they end lazily) end first
        let members = self.members();
        let allowed = |ejected: u64| {
            ejected == 0 || (ejected + 1) * 100 <= ej.max_ejection_percent as u64 * members
        };
        if !allowed(self.ejected()) {
            for j in 0..self.slots.len() {
                if self.slots[j].ejected && reached(now, self.slots[j].until) {
                    self.uneject(j, now);
                }
            }
            if !allowed(self.ejected()) {
                return;
            }
        }
        let s = &mut self.slots[i];
        // Envoy's multiplier: a step back for every interval spent back in the pool, then one
        // up unless base × times already reaches max + base
        let mut times = s.ejections;
        if let Some(r) = s.returned {
            times = times.saturating_sub(elapsed(now, r) / ej.interval_ms);
        }
        if (ej.base_ms as u64 * times as u64) < ej.max_ms as u64 + ej.base_ms as u64 {
            times += 1;
        }
        // the multiplier lives below the claim bit (2^31)
        let times = times.min(i32::MAX as u32);
        let duration = (ej.base_ms as u64 * times as u64).min(ej.max_ms as u64) as u32;
        s.ejected = true;
        s.ejections = times;
        s.until = now.wrapping_add(duration);
    }

    /// An ejection seen to end during a pick at tick `now`.
    pub(super) fn uneject(&mut self, i: usize, now: u32) {
        let s = &mut self.slots[i];
        s.ejected = false;
        s.streak = 0;
        // the crate stamps return times as odd ticks (0 means "never")
        s.returned = Some(now | 1);
    }
}

/// A cap as the pool reads it back: one at or above `MAX_IN_FLIGHT` is the same as none.
pub(super) fn read_back(cap: Option<NonZeroU32>) -> Option<NonZeroU32> {
    cap.filter(|c| c.get() < MAX_IN_FLIGHT)
}
