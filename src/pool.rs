//! The backend pool: fixed slots of atomic backend state.
//!
//! A [`Pool<N>`] owns `N` slots. Each slot holds one backend's state in 32-bit atomics
//! (weight, health, in-flight count and cap, latency estimate, failure streak, generation),
//! so every operation takes `&self` and is safe to call from any thread while others pick.
//! Strategies read the pool; only configuration calls and leases write it.
//!
//! # Slot life cycle
//!
//! ```text
//!  empty ──add──► up ◄──set_health──► down / draining
//!                 │
//!               remove ──► removed (not pickable; leases still out drain) ──in-flight = 0──► reusable
//! ```
//!
//! A slot is identified by its index (stable for as long as the backend lives; use it to find
//! the backend's address in your own `[Addr; N]`) and a generation number that moves on at
//! every removal. A [`BackendId`] carries both, so an id kept across a removal is refused with
//! [`Error::Stale`] instead of acting on whatever backend reuses the slot. A removed slot is
//! reused only once every lease on it has been dropped, so a lease can never outlive its
//! backend's slot: it only stops recording statistics.
//!
//! # Time
//!
//! Times kept in atomics are wrapping 32-bit millisecond ticks (`now_us / 1000`), compared
//! with wrapping arithmetic: intervals up to 2^31 ms (about 24.8 days) are measured exactly;
//! a longer gap between two samples of the same backend is read as a short one (the estimate
//! then decays less than it should until the next sample). A clock that goes backwards is
//! read as no time passing.

use crate::config::Config;
use crate::error::Error;
use crate::ewma;
use crate::sync::{AtomicU32, Ordering};

/// Largest weight a backend can have: `2^21 - 1`.
///
/// Weights are relative, so this is room to spare: HAProxy allows 256, Envoy 128 by default.
pub const MAX_WEIGHT: u32 = (1 << 21) - 1;

/// Largest total weight of all backends in a pool: `2^31 - 1`.
///
/// Keeping the sum below 2^31 lets every strategy compare weighted ratios in 64-bit integers
/// without overflow.
pub const MAX_TOTAL_WEIGHT: u32 = (1 << 31) - 1;

// config word: [31:27] low 5 bits of generation | [26] backup | [25] warming (slow start)
// | [24] ejected | [23:21] state | [20:0] weight
const WEIGHT_MASK: u32 = MAX_WEIGHT;
const STATE_SHIFT: u32 = 21;
const STATE_MASK: u32 = 0b111 << STATE_SHIFT;
const EJECTED: u32 = 1 << 24;
const WARMING: u32 = 1 << 25;
const BACKUP: u32 = 1 << 26;
const GEN_SHIFT: u32 = 27;
const GEN_BITS: u32 = 0x1f;

const S_EMPTY: u32 = 0;
const S_UP: u32 = 1;
const S_DRAINING: u32 = 2;
const S_DOWN: u32 = 3;
const S_REMOVED: u32 = 4;
const S_RESERVED: u32 = 5;

const NO_CAP: u32 = u32::MAX;
/// Claim bit in a slot's `ejections` word: one failing request decides an ejection.
const CLAIM: u32 = 1 << 31;

// in-flight word: [31:24] low 8 bits of the occupant's generation | [23:0] leases out. The
// tag lets a lease take a unit only on the occupant it picked, and lets `add` claim a
// removed slot only while no unit is out, each with one compare-and-swap on one word.
const COUNT_BITS: u32 = 24;
const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;
const fn flight_tag(generation: u32) -> u32 {
    (generation & 0xff) << COUNT_BITS
}
/// Bounded retries for compare-and-swap loops: no loop in the crate spins without a bound.
pub(crate) const CAS_TRIES: u32 = 16;

const fn pack(generation: u32, state: u32, weight: u32) -> u32 {
    ((generation & GEN_BITS) << GEN_SHIFT) | (state << STATE_SHIFT) | (weight & WEIGHT_MASK)
}
const fn state_of(config: u32) -> u32 {
    (config & STATE_MASK) >> STATE_SHIFT
}
const fn weight_of(config: u32) -> u32 {
    config & WEIGHT_MASK
}
const fn state_code(health: Health) -> u32 {
    match health {
        Health::Up => S_UP,
        Health::Down => S_DOWN,
        Health::Draining => S_DRAINING,
    }
}

/// Tags a tick as "set" (odd) so that 0 can mean "not yet stamped".
const fn stamp(tick: u32) -> u32 {
    tick | 1
}

/// `true` once `now` has reached `deadline` on the wrapping tick.
const fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) <= i32::MAX as u32
}

/// Converts the caller's microsecond clock to the wrapping millisecond tick kept in atomics.
pub(crate) const fn tick_ms(now_us: u64) -> u32 {
    (now_us / 1000) as u32
}

/// Milliseconds from `then` to `now` on the wrapping tick; backwards or over 2^31 reads as 0.
pub(crate) const fn elapsed_ms(now: u32, then: u32) -> u32 {
    let d = now.wrapping_sub(then);
    if d > i32::MAX as u32 { 0 } else { d }
}

/// Administrative health of a backend, set by the caller (tinylb never probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Health {
    /// Pickable (if its weight is above zero and it is below its in-flight cap).
    Up,
    /// Not pickable; leases already out run to completion.
    Down,
    /// Not pickable for new requests while the ones in flight finish (HAProxy `drain`,
    /// Envoy `DRAINING`); behaves like [`Health::Down`] for picking, and says why.
    Draining,
}

/// A backend's identity: its slot index and the slot's generation when it was added.
///
/// Ids are handed out by [`Pool::add`] and by strategies; you cannot make one up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackendId {
    index: u32,
    generation: u32,
}

impl BackendId {
    /// The slot index, in `0..N`: stable for the backend's lifetime, so use it to index your
    /// own table of addresses.
    pub const fn index(&self) -> usize {
        self.index as usize
    }
    /// The slot's generation when this backend was added.
    pub const fn generation(&self) -> u32 {
        self.generation
    }
}

/// A consistent-enough copy of one backend's state, for logging and tests.
///
/// Each field is read atomically, but not all at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackendInfo {
    /// Who this is.
    pub id: BackendId,
    /// Configured weight (slow start may make the effective weight lower for a while).
    pub weight: u32,
    /// Administrative health.
    pub health: Health,
    /// Leases currently out.
    pub in_flight: u32,
    /// In-flight cap, if any.
    pub cap: Option<u32>,
    /// Latency estimate in microseconds as last stored (before time decay), if sampled.
    pub latency_us: Option<u32>,
    /// Consecutive failures reported since the last success.
    pub failure_streak: u32,
    /// Ejected by outlier detection (until its time is up; see [`Ejection`](crate::Ejection)).
    pub ejected: bool,
    /// In the backup tier: picked only when no primary backend is eligible.
    pub backup: bool,
}

/// One backend's state. Private: strategies read it through [`View`].
#[derive(Debug)]
pub(crate) struct Slot {
    config: AtomicU32,
    generation: AtomicU32,
    in_flight: AtomicU32,
    cap: AtomicU32,
    latency_us: AtomicU32,
    latency_at_ms: AtomicU32,
    failure_streak: AtomicU32,
    /// Slow-start window start (odd tick), or 0 while waiting for the first pick to stamp it.
    warm_from_ms: AtomicU32,
    /// End of the current ejection (tick).
    ejected_until_ms: AtomicU32,
    /// Ejections in a row (the duration multiplier).
    ejections: AtomicU32,
    /// When the backend last returned from ejection (odd tick), 0 if never.
    returned_at_ms: AtomicU32,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            config: AtomicU32::new(pack(0, S_EMPTY, 0)),
            generation: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            cap: AtomicU32::new(NO_CAP),
            latency_us: AtomicU32::new(0),
            latency_at_ms: AtomicU32::new(0),
            failure_streak: AtomicU32::new(0),
            warm_from_ms: AtomicU32::new(0),
            ejected_until_ms: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            returned_at_ms: AtomicU32::new(0),
        }
    }

    /// Configured weight if the backend is up, not ejected, with a weight above zero; tier,
    /// slow start and panic mode are not considered (see [`View::weight`]). Does not look at
    /// the cap: see [`Slot::has_room`].
    #[inline]
    pub(crate) fn up_weight(&self) -> Option<u32> {
        let c = self.config.load(Ordering::Acquire);
        let w = weight_of(c);
        if state_of(c) == S_UP && c & EJECTED == 0 && w > 0 {
            Some(w)
        } else {
            None
        }
    }

    /// Configured weight and tier of a backend that is up with a weight above zero,
    /// whatever its ejection and slow-start flags: what a schedule is built from.
    #[inline]
    pub(crate) fn schedule_weight(&self) -> Option<(u32, bool)> {
        let c = self.config.load(Ordering::Acquire);
        let w = weight_of(c);
        if state_of(c) == S_UP && w > 0 {
            Some((w, c & BACKUP != 0))
        } else {
            None
        }
    }

    /// Up with a weight above zero, whatever the flags: what a lease re-checks.
    #[inline]
    fn admin_up(&self) -> bool {
        let c = self.config.load(Ordering::SeqCst);
        state_of(c) == S_UP && weight_of(c) > 0
    }

    #[inline]
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed) & COUNT_MASK
    }

    /// Whether one more lease fits under the cap, given the in-flight count just read.
    #[inline]
    pub(crate) fn has_room(&self, in_flight: u32) -> bool {
        in_flight < self.cap.load(Ordering::Relaxed)
    }

    /// Up, not ejected, weight > 0 and below the cap (tier and panic mode aside).
    #[inline]
    pub(crate) fn eligible(&self) -> bool {
        self.up_weight().is_some() && self.has_room(self.in_flight())
    }

    /// Latency estimate decayed to `now`, or `None` if never sampled.
    #[inline]
    pub(crate) fn latency_at(&self, now_ms: u32, half_life_ms: u32) -> Option<u32> {
        let est = self.latency_us.load(Ordering::Relaxed);
        if est == 0 {
            return None;
        }
        let at = self.latency_at_ms.load(Ordering::Relaxed);
        // decay never reaches 0 for a sampled backend: 0 means "no sample"
        Some(ewma::decayed(est, elapsed_ms(now_ms, at), half_life_ms).max(1))
    }

    #[inline]
    fn generation(&self) -> u32 {
        self.generation.load(Ordering::SeqCst)
    }
}

/// A fixed-capacity pool of `N` backend slots whose state lives in atomics.
///
/// Every method takes `&self`: add, remove, re-weight, cap, drain or mark backends down from
/// any thread while others pick. [`Pool::new`] is a `const fn`, so a pool can be a `static`:
///
/// ```
/// use tinylb::{Pool, Health};
/// static POOL: Pool<4> = Pool::new();
///
/// let a = POOL.add(3).unwrap();
/// let b = POOL.add(1).unwrap();
/// POOL.set_health(b, Health::Draining).unwrap();
/// assert_eq!(POOL.info(a).unwrap().weight, 3);
/// assert_eq!(POOL.len(), 2);
/// ```
///
/// Pool-wide policy (latency half-life, slow start, outlier ejection, panic threshold) comes
/// from a [`Config`] given to [`Pool::with_config`].
#[derive(Debug)]
pub struct Pool<const N: usize> {
    slots: [Slot; N],
    total_weight: AtomicU32,
    max_weight: AtomicU32,
    high_water: AtomicU32,
    epoch: AtomicU32,
    /// Backends in the pool (any health).
    members: AtomicU32,
    /// Backends whose health is up (ejected or not).
    up: AtomicU32,
    /// Backends currently ejected.
    ejected: AtomicU32,
    /// Backends in the backup tier.
    backups: AtomicU32,
    config: Config,
}

impl<const N: usize> Default for Pool<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Pool<N> {
    const CAPACITY_OK: () = assert!(
        N > 0 && N <= u16::MAX as usize,
        "a pool holds 1 to 65535 slots"
    );

    /// An empty pool with the default [`Config`] (5 s latency half-life, no slow start, no
    /// ejection).
    ///
    /// `N` must be in `1..=65535`; anything else fails to compile.
    pub const fn new() -> Self {
        Self::build(Config::new())
    }

    /// An empty pool whose latency estimates have the given half-life in milliseconds:
    /// how long a fast sample takes to pull a slow estimate halfway down, and how long an
    /// unsampled estimate takes to halve. `0` means the estimate is always the last sample.
    pub const fn with_half_life_ms(half_life_ms: u32) -> Self {
        Self::build(Config::new().half_life_ms(half_life_ms))
    }

    /// An empty pool with the given policy, or the reason it is invalid
    /// ([`Config::validate`]). In a `static`, match on the result and `panic!` on `Err`: the
    /// error then stops the build.
    pub const fn with_config(config: Config) -> Result<Self, Error> {
        match config.validate() {
            Ok(()) => Ok(Self::build(config)),
            Err(e) => Err(e),
        }
    }

    const fn build(config: Config) -> Self {
        let () = Self::CAPACITY_OK;
        Pool {
            slots: [const { Slot::new() }; N],
            total_weight: AtomicU32::new(0),
            max_weight: AtomicU32::new(0),
            high_water: AtomicU32::new(0),
            epoch: AtomicU32::new(0),
            members: AtomicU32::new(0),
            up: AtomicU32::new(0),
            ejected: AtomicU32::new(0),
            backups: AtomicU32::new(0),
            config,
        }
    }

    /// Number of slots, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The pool's policy.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The latency half-life this pool was built with.
    pub const fn half_life_ms(&self) -> u32 {
        self.config.half_life_ms
    }

    /// Number of backends currently in the pool (any health), not counting removed ones that
    /// are still draining.
    pub fn len(&self) -> usize {
        self.live_slots()
            .iter()
            .filter(|s| {
                matches!(
                    state_of(s.config.load(Ordering::Acquire)),
                    S_UP | S_DOWN | S_DRAINING
                )
            })
            .count()
    }

    /// `true` when the pool holds no backend.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the weights of all backends in the pool, whatever their health.
    pub fn total_weight(&self) -> u32 {
        self.total_weight.load(Ordering::Acquire)
    }

    /// Number of backends currently ejected by outlier detection.
    pub fn ejected_count(&self) -> u32 {
        self.ejected.load(Ordering::Acquire)
    }

    /// `true` if so few of the backends that are up are not ejected that the panic
    /// threshold applies, and ejected backends are picked from again.
    pub fn in_panic(&self) -> bool {
        self.panic_now()
    }

    /// Adds an [`Health::Up`] backend with the given weight and no in-flight cap.
    ///
    /// Takes the lowest free slot. Errors, with nothing changed: [`Error::WeightTooLarge`],
    /// [`Error::WeightOverflow`], [`Error::Full`] (a removed slot counts as free only once
    /// its in-flight count is zero). With slow start configured, the backend ramps up from
    /// the first pick that sees it.
    pub fn add(&self, weight: u32) -> Result<BackendId, Error> {
        self.add_with(weight, Health::Up)
    }

    /// Adds a backend with the given weight and initial health (for example
    /// [`Health::Down`] until your first health check passes).
    pub fn add_with(&self, weight: u32, health: Health) -> Result<BackendId, Error> {
        self.add_in_tier(weight, health, false)
    }

    /// Adds a backup backend (nginx and HAProxy `backup`): it is picked only when no
    /// primary backend is eligible, by every strategy.
    pub fn add_backup(&self, weight: u32) -> Result<BackendId, Error> {
        self.add_in_tier(weight, Health::Up, true)
    }

    fn add_in_tier(&self, weight: u32, health: Health, backup: bool) -> Result<BackendId, Error> {
        if weight > MAX_WEIGHT {
            return Err(Error::WeightTooLarge);
        }
        self.reserve_weight(weight)?;
        for (i, slot) in self.slots.iter().enumerate() {
            let c = slot.config.load(Ordering::Acquire);
            let st = state_of(c);
            if st != S_EMPTY && st != S_REMOVED {
                continue;
            }
            if st == S_REMOVED && slot.in_flight.load(Ordering::SeqCst) & COUNT_MASK != 0 {
                continue;
            }
            let reserved = pack(c >> GEN_SHIFT, S_RESERVED, 0);
            if slot
                .config
                .compare_exchange(c, reserved, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Take the slot only while no lease is out, and retag the in-flight word in the
            // same compare-and-swap: from then on a lease still aiming at the old occupant
            // fails its tag check, and one that got in first keeps the slot from us.
            let w = slot.in_flight.load(Ordering::SeqCst);
            let generation = slot.generation.load(Ordering::SeqCst).wrapping_add(1);
            if w & COUNT_MASK != 0
                || slot
                    .in_flight
                    .compare_exchange(
                        w,
                        flight_tag(generation),
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_err()
            {
                slot.config.store(c, Ordering::SeqCst);
                continue;
            }
            slot.generation.store(generation, Ordering::SeqCst);
            slot.cap.store(NO_CAP, Ordering::Relaxed);
            slot.latency_us.store(0, Ordering::Relaxed);
            slot.latency_at_ms.store(0, Ordering::Relaxed);
            slot.failure_streak.store(0, Ordering::Relaxed);
            slot.warm_from_ms.store(0, Ordering::Relaxed);
            slot.ejected_until_ms.store(0, Ordering::Relaxed);
            slot.ejections.store(0, Ordering::Relaxed);
            slot.returned_at_ms.store(0, Ordering::Relaxed);
            let state = state_code(health);
            let mut config = pack(generation, state, weight);
            if backup {
                config |= BACKUP;
                self.backups.fetch_add(1, Ordering::AcqRel);
            }
            if state == S_UP {
                if self.config.slow_start.is_some() {
                    config |= WARMING;
                }
                self.up.fetch_add(1, Ordering::AcqRel);
            }
            self.members.fetch_add(1, Ordering::AcqRel);
            slot.config.store(config, Ordering::SeqCst);
            self.max_weight.fetch_max(weight, Ordering::AcqRel);
            self.high_water.fetch_max(i as u32 + 1, Ordering::AcqRel);
            self.bump_epoch();
            return Ok(BackendId {
                index: i as u32,
                generation,
            });
        }
        self.release_weight(weight);
        Err(Error::Full)
    }

    /// Removes a backend: it is never picked again, leases already out finish normally, and
    /// its slot becomes reusable once the last of them is dropped.
    pub fn remove(&self, id: BackendId) -> Result<(), Error> {
        let slot = self.slot_of(id)?;
        for _ in 0..CAS_TRIES {
            let c = slot.config.load(Ordering::Acquire);
            self.check(slot, c, id)?;
            // RESERVED first: `add` cannot take the slot until the generation has moved on
            // (a slot reused in between would get a generation that this removal then bumps,
            // leaving the new backend stale and its slot lost: found by the stress test)
            let next = pack(c >> GEN_SHIFT, S_RESERVED, 0);
            if slot
                .config
                .compare_exchange(c, next, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                // leases out from now on record nothing: the generation has moved on
                slot.generation.fetch_add(1, Ordering::SeqCst);
                slot.config
                    .store(pack(c >> GEN_SHIFT, S_REMOVED, 0), Ordering::SeqCst);
                self.release_weight(weight_of(c));
                self.members.fetch_sub(1, Ordering::AcqRel);
                self.leave_counts(c);
                self.bump_epoch();
                return Ok(());
            }
        }
        // Only other configuration calls on the same backend race here; losing 16 times in a
        // row means the backend is being changed under us, and the caller may retry.
        Err(Error::Stale)
    }

    /// Changes a backend's weight. `0` is allowed: the backend stays in the pool but is not
    /// picked (HAProxy's weight 0).
    pub fn set_weight(&self, id: BackendId, weight: u32) -> Result<(), Error> {
        if weight > MAX_WEIGHT {
            return Err(Error::WeightTooLarge);
        }
        let slot = self.slot_of(id)?;
        for _ in 0..CAS_TRIES {
            let c = slot.config.load(Ordering::Acquire);
            self.check(slot, c, id)?;
            let old = weight_of(c);
            if weight > old {
                self.reserve_weight(weight - old)?;
            }
            let next = (c & !WEIGHT_MASK) | weight;
            if slot
                .config
                .compare_exchange(c, next, Ordering::SeqCst, Ordering::Relaxed)
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
        Err(Error::Stale)
    }

    /// Sets a backend's administrative health.
    ///
    /// Marking a backend down or draining also ends an ejection (your health check has the
    /// last word); marking it up again starts its slow start, if configured.
    pub fn set_health(&self, id: BackendId, health: Health) -> Result<(), Error> {
        let slot = self.slot_of(id)?;
        let st = state_code(health);
        for _ in 0..CAS_TRIES {
            let c = slot.config.load(Ordering::Acquire);
            self.check(slot, c, id)?;
            let was = state_of(c);
            let mut next = (c & !STATE_MASK) | (st << STATE_SHIFT);
            if st != S_UP {
                next &= !(EJECTED | WARMING);
            } else if was != S_UP && self.config.slow_start.is_some() {
                slot.warm_from_ms.store(0, Ordering::Release);
                next |= WARMING;
            }
            if was != S_UP && st == S_UP {
                // failures reported while it was down belong to the old streak
                slot.failure_streak.store(0, Ordering::Release);
            }
            if slot
                .config
                .compare_exchange(c, next, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                if was != S_UP && st == S_UP {
                    self.up.fetch_add(1, Ordering::AcqRel);
                } else if was == S_UP && st != S_UP {
                    self.up.fetch_sub(1, Ordering::AcqRel);
                }
                if c & EJECTED != 0 && next & EJECTED == 0 {
                    self.ejected.fetch_sub(1, Ordering::AcqRel);
                }
                self.bump_epoch();
                return Ok(());
            }
        }
        Err(Error::Stale)
    }

    /// Moves a backend into (`true`) or out of (`false`) the backup tier.
    pub fn set_backup(&self, id: BackendId, backup: bool) -> Result<(), Error> {
        let slot = self.slot_of(id)?;
        for _ in 0..CAS_TRIES {
            let c = slot.config.load(Ordering::Acquire);
            self.check(slot, c, id)?;
            let next = if backup { c | BACKUP } else { c & !BACKUP };
            if next == c {
                return Ok(());
            }
            if slot
                .config
                .compare_exchange(c, next, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                if backup {
                    self.backups.fetch_add(1, Ordering::AcqRel);
                } else {
                    self.backups.fetch_sub(1, Ordering::AcqRel);
                }
                self.bump_epoch();
                return Ok(());
            }
        }
        Err(Error::Stale)
    }

    /// Sets (or with `None` clears) a backend's in-flight cap: the most leases it may have
    /// out at once (HAProxy `maxconn`, nginx `max_conns`). `Some(u32::MAX)` is the same as
    /// `None` (and reads back as `None`); a backend never has more than 16,777,215 leases out. Lowering the cap below the current
    /// in-flight count refuses new leases until enough finish; it does not cancel any.
    pub fn set_cap(&self, id: BackendId, cap: Option<u32>) -> Result<(), Error> {
        let cap = match cap {
            Some(0) => return Err(Error::ZeroCap),
            Some(c) => c,
            None => NO_CAP,
        };
        let slot = self.slot_of(id)?;
        let c = slot.config.load(Ordering::Acquire);
        self.check(slot, c, id)?;
        slot.cap.store(cap, Ordering::Release);
        Ok(())
    }

    /// A copy of the backend's state, or why there is none.
    pub fn info(&self, id: BackendId) -> Result<BackendInfo, Error> {
        let slot = self.slot_of(id)?;
        let c = slot.config.load(Ordering::Acquire);
        self.check(slot, c, id)?;
        let cap = slot.cap.load(Ordering::Relaxed);
        let lat = slot.latency_us.load(Ordering::Relaxed);
        Ok(BackendInfo {
            id,
            weight: weight_of(c),
            health: match state_of(c) {
                S_UP => Health::Up,
                S_DRAINING => Health::Draining,
                _ => Health::Down,
            },
            in_flight: slot.in_flight.load(Ordering::Acquire) & COUNT_MASK,
            cap: if cap == NO_CAP { None } else { Some(cap) },
            latency_us: if lat == 0 { None } else { Some(lat) },
            failure_streak: slot.failure_streak.load(Ordering::Relaxed),
            ejected: c & EJECTED != 0,
            backup: c & BACKUP != 0,
        })
    }

    /// The id of the backend now at `index`, if the slot holds one.
    pub fn id_at(&self, index: usize) -> Option<BackendId> {
        let slot = self.slots.get(index)?;
        let generation = slot.generation();
        let c = slot.config.load(Ordering::SeqCst);
        // occupied, and the same occupant as the generation we read: a removal (and reuse)
        // moves the generation on, a weight or health change does not
        if !matches!(state_of(c), S_UP | S_DOWN | S_DRAINING)
            || (c >> GEN_SHIFT) != (generation & GEN_BITS)
            || slot.generation() != generation
        {
            return None;
        }
        Some(BackendId {
            index: index as u32,
            generation,
        })
    }

    /// Ids of all backends in the pool, in slot order. The vector lives on the stack and
    /// takes `8·N` bytes.
    pub fn ids(&self) -> heapless::Vec<BackendId, N> {
        let mut out = heapless::Vec::new();
        for i in 0..N {
            if let Some(id) = self.id_at(i) {
                // cannot fail: at most N ids for N slots
                let _ = out.push(id);
            }
        }
        out
    }

    /// In-flight count at `index` (0 for an empty slot or an index out of range).
    pub fn in_flight_at(&self, index: usize) -> u32 {
        self.slots.get(index).map_or(0, Slot::in_flight)
    }

    /// `true` if the backend at `index` may be picked now: up, weight above zero, below its
    /// cap, and not ejected. (Tiers, panic mode and the end of an ejection are judged at
    /// pick time, against the request's clock.)
    pub fn is_eligible(&self, index: usize) -> bool {
        self.slots.get(index).is_some_and(Slot::eligible)
    }

    // ----- crate-internal -----

    /// Slots that have ever held a backend: strategies scan only these.
    #[inline]
    pub(crate) fn live_slots(&self) -> &[Slot] {
        let hw = self.high_water.load(Ordering::Acquire) as usize;
        self.slots.get(..hw).unwrap_or(&self.slots)
    }

    /// Largest weight ever set in this pool: an upper bound of every current weight.
    #[inline]
    pub(crate) fn weight_bound(&self) -> u32 {
        self.max_weight.load(Ordering::Acquire)
    }

    /// Moves on at every change of membership, weight, health or tier.
    #[inline]
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Acquire)
    }

    /// `true` if the pool has a backup tier.
    #[inline]
    pub(crate) fn has_backups(&self) -> bool {
        self.backups.load(Ordering::Relaxed) != 0
    }

    /// Panic mode: fewer than the threshold share of the backends that are up are not
    /// ejected.
    #[inline]
    fn panic_now(&self) -> bool {
        // no ejection configured: nothing to count (and no load on the pick path)
        if self.config.ejection.is_none() || self.config.panic_threshold_percent == 0 {
            return false;
        }
        let ejected = self.ejected.load(Ordering::Acquire);
        if ejected == 0 {
            return false;
        }
        let up = self.up.load(Ordering::Acquire) as u64;
        let healthy = up.saturating_sub(ejected as u64);
        healthy * 100 < self.config.panic_threshold_percent as u64 * up
    }

    /// The id of a pickable slot as the strategy saw it.
    #[inline]
    pub(crate) fn id_for(&self, index: usize) -> Option<BackendId> {
        let slot = self.slots.get(index)?;
        Some(BackendId {
            index: index as u32,
            generation: slot.generation(),
        })
    }

    /// Takes one in-flight unit on `id` if it is still the same backend, up and below its
    /// cap. `false` means "lost a race, pick again". (Ejection, tier and slow start were
    /// the strategy's business when it picked.)
    pub(crate) fn try_acquire(&self, id: BackendId) -> bool {
        let Some(slot) = self.slots.get(id.index()) else {
            return false;
        };
        if !slot.admin_up() {
            return false;
        }
        let cap = slot.cap.load(Ordering::Acquire);
        let tag = flight_tag(id.generation);
        let mut taken = false;
        let mut cur = slot.in_flight.load(Ordering::SeqCst);
        for _ in 0..CAS_TRIES {
            let count = cur & COUNT_MASK;
            // another occupant's word, at the cap, or at the counter's limit
            if cur & !COUNT_MASK != tag || count >= cap || count == COUNT_MASK {
                return false;
            }
            match slot
                .in_flight
                .compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    taken = true;
                    break;
                }
                Err(now) => cur = now,
            }
        }
        if !taken {
            return false;
        }
        // validate after taking: the backend may have been removed (or marked down) between
        // the strategy's look and our increment; it cannot have been replaced, since the
        // tag matched and `add` only retags a word with no unit out
        if slot.generation() != id.generation || !slot.admin_up() {
            slot.in_flight.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Gives back the in-flight unit taken by [`Pool::try_acquire`].
    pub(crate) fn release(&self, id: BackendId) {
        if let Some(slot) = self.slots.get(id.index()) {
            slot.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Records a finished request on `id`, unless the backend has been removed since.
    pub(crate) fn record(&self, id: BackendId, success: bool, latency_us: u64, now_us: u64) {
        let Some(slot) = self.slots.get(id.index()) else {
            return;
        };
        if slot.generation() != id.generation {
            return;
        }
        let now = tick_ms(now_us);
        let sample = u32::try_from(latency_us).unwrap_or(u32::MAX);
        let mut est = slot.latency_us.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            let at = slot.latency_at_ms.load(Ordering::Relaxed);
            let next = ewma::update(est, sample, elapsed_ms(now, at), self.config.half_life_ms);
            match slot
                .latency_us
                .compare_exchange(est, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    slot.latency_at_ms.store(now, Ordering::Relaxed);
                    break;
                }
                Err(v) => est = v,
            }
        }
        if success {
            slot.failure_streak.store(0, Ordering::Relaxed);
            return;
        }
        let mut f = slot.failure_streak.load(Ordering::Relaxed);
        let mut streak = f;
        for _ in 0..CAS_TRIES {
            let Some(next) = f.checked_add(1) else { break };
            match slot
                .failure_streak
                .compare_exchange(f, next, Ordering::AcqRel, Ordering::Relaxed)
            {
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

    /// Ejects `slot` if it is up and not ejected, and the max-ejection share allows it.
    ///
    /// One failing request at a time decides: the first to set the claim bit in the slot's
    /// `ejections` word is the only one that reserves a place in the share, writes the
    /// deadline and sets the flag; racing failures return at once. (Without the claim, a
    /// loser could overwrite the winner's deadline, or hold a phantom place in the share
    /// that refused another backend's ejection: both found by loom.)
    fn try_eject(&self, slot: &Slot, id: BackendId, now: u32) {
        let Some(ej) = self.config.ejection else {
            return;
        };
        let c = slot.config.load(Ordering::Acquire);
        if state_of(c) != S_UP || c & EJECTED != 0 || slot.generation() != id.generation {
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
        let c = slot.config.load(Ordering::Acquire);
        if state_of(c) != S_UP || c & EJECTED != 0 || slot.generation() != id.generation {
            slot.ejections.store(prior, Ordering::Release);
            return;
        }
        if !self.reserve_ejection(ej, now) {
            slot.ejections.store(prior, Ordering::Release);
            return;
        }
        // the multiplier earns one step back for every base interval spent back in the pool
        let returned = slot.returned_at_ms.load(Ordering::Acquire);
        let mut times = prior;
        if returned != 0 {
            // base_ms > 0 by Config::validate; checked_div keeps the panic path out anyway
            let earned = elapsed_ms(now, returned)
                .checked_div(ej.base_ms)
                .unwrap_or(0);
            times = times.saturating_sub(earned);
        }
        let times = times.saturating_add(1).min(CLAIM - 1);
        slot.ejected_until_ms
            .store(now.wrapping_add(ej.duration_ms(times)), Ordering::Release);
        // the flag goes on unless the backend stopped being an up member meanwhile
        let mut c = slot.config.load(Ordering::Acquire);
        let mut done = false;
        for _ in 0..CAS_TRIES {
            if state_of(c) != S_UP || c & EJECTED != 0 || slot.generation() != id.generation {
                break;
            }
            match slot.config.compare_exchange(
                c,
                (c | EJECTED) & !WARMING,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    done = true;
                    break;
                }
                Err(v) => c = v,
            }
        }
        if done {
            slot.ejections.store(times, Ordering::Release);
            self.bump_epoch();
        } else {
            self.ejected.fetch_sub(1, Ordering::AcqRel);
            slot.ejections.store(prior, Ordering::Release);
        }
    }

    /// Reserves one place in the max-ejection share. When the share is full, first ends
    /// the ejections whose time is up but that no pick has looked at yet (ejections end
    /// lazily), so an expired one never blocks a new one.
    fn reserve_ejection(&self, ej: crate::config::Ejection, now: u32) -> bool {
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
            let c = slot.config.load(Ordering::Acquire);
            if c & EJECTED != 0 && reached(now, slot.ejected_until_ms.load(Ordering::Acquire)) {
                self.uneject(slot, c, now);
            }
        }
    }

    /// Ends an ejection whose time is up (the winner of the compare-and-swap does it once).
    fn uneject(&self, slot: &Slot, c: u32, now: u32) {
        let mut next = c & !EJECTED;
        if self.config.slow_start.is_some() {
            slot.warm_from_ms.store(stamp(now), Ordering::Release);
            next |= WARMING;
        }
        if slot
            .config
            .compare_exchange(c, next, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            self.ejected.fetch_sub(1, Ordering::AcqRel);
            slot.failure_streak.store(0, Ordering::Release);
            slot.returned_at_ms.store(stamp(now), Ordering::Release);
            self.bump_epoch();
        }
    }

    /// Effective weight of a warming backend (and the end of its window).
    fn warm_weight(&self, slot: &Slot, c: u32, now: u32) -> u32 {
        let w = weight_of(c);
        let Some(ss) = self.config.slow_start else {
            return w;
        };
        let mut from = slot.warm_from_ms.load(Ordering::Acquire);
        if from == 0 {
            // the first pick to see the backend starts its window
            from = match slot.warm_from_ms.compare_exchange(
                0,
                stamp(now),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => stamp(now),
                Err(v) => v,
            };
        }
        let t = elapsed_ms(now, from);
        if t >= ss.window_ms {
            let _ =
                slot.config
                    .compare_exchange(c, c & !WARMING, Ordering::AcqRel, Ordering::Relaxed);
            return w;
        }
        ss.weight(w, t)
    }

    fn slot_of(&self, id: BackendId) -> Result<&Slot, Error> {
        self.slots.get(id.index()).ok_or(Error::NoSuchBackend)
    }

    /// Is `config` (just loaded from `slot`) still the backend `id` names?
    fn check(&self, slot: &Slot, config: u32, id: BackendId) -> Result<(), Error> {
        match state_of(config) {
            S_UP | S_DOWN | S_DRAINING => {}
            S_EMPTY => return Err(Error::NoSuchBackend),
            _ => return Err(Error::Stale),
        }
        if slot.generation() != id.generation || (config >> GEN_SHIFT) != (id.generation & GEN_BITS)
        {
            return Err(Error::Stale);
        }
        Ok(())
    }

    /// Counters to take back when a backend with config `c` leaves the pool.
    fn leave_counts(&self, c: u32) {
        if state_of(c) == S_UP {
            self.up.fetch_sub(1, Ordering::AcqRel);
        }
        if c & EJECTED != 0 {
            self.ejected.fetch_sub(1, Ordering::AcqRel);
        }
        if c & BACKUP != 0 {
            self.backups.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn reserve_weight(&self, add: u32) -> Result<(), Error> {
        self.total_weight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(add).filter(|&s| s <= MAX_TOTAL_WEIGHT)
            })
            .map(|_| ())
            .map_err(|_| Error::WeightOverflow)
    }

    fn release_weight(&self, sub: u32) {
        self.total_weight.fetch_sub(sub, Ordering::AcqRel);
    }

    fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(loom)]
impl<const N: usize> Pool<N> {
    /// loom builds only: creates every atomic of the pool in the calling thread, so that a
    /// model's threads, spawned afterwards, see them created before they run (the atomics
    /// are otherwise created lazily on first use; see `src/sync.rs`).
    #[doc(hidden)]
    pub fn loom_init(&self) {
        for s in &self.slots {
            for a in [
                &s.config,
                &s.generation,
                &s.in_flight,
                &s.cap,
                &s.latency_us,
                &s.latency_at_ms,
                &s.failure_streak,
                &s.warm_from_ms,
                &s.ejected_until_ms,
                &s.ejections,
                &s.returned_at_ms,
            ] {
                a.touch();
            }
        }
        for a in [
            &self.total_weight,
            &self.max_weight,
            &self.high_water,
            &self.epoch,
            &self.members,
            &self.up,
            &self.ejected,
            &self.backups,
        ] {
            a.touch();
        }
    }
}

/// What one pick may choose from: one tier of the pool, at the request's time, in or out of
/// panic mode. Every built-in strategy reads eligibility through a view, so slow start,
/// ejection, the panic threshold and the backup tier apply to all of them alike.
pub(crate) struct View<'p, const N: usize> {
    pool: &'p Pool<N>,
    slots: &'p [Slot],
    now_ms: u32,
    panic: bool,
    want: u32,
}

impl<'p, const N: usize> View<'p, N> {
    /// The primary tier (`backup == false`) or the backup tier at `now_us`.
    #[inline]
    pub(crate) fn new(pool: &'p Pool<N>, now_us: u64, backup: bool) -> Self {
        View {
            pool,
            slots: pool.live_slots(),
            now_ms: tick_ms(now_us),
            panic: pool.panic_now(),
            want: (S_UP << STATE_SHIFT) | if backup { BACKUP } else { 0 },
        }
    }

    /// The same view without panic mode: ejected backends stay out.
    #[inline]
    fn clone_calm(&self) -> Self {
        View {
            pool: self.pool,
            slots: self.slots,
            now_ms: self.now_ms,
            panic: false,
            want: self.want,
        }
    }

    /// The slots a strategy scans.
    #[inline]
    pub(crate) fn slots(&self) -> &'p [Slot] {
        self.slots
    }

    /// The pool.
    #[inline]
    pub(crate) fn pool(&self) -> &'p Pool<N> {
        self.pool
    }

    /// `true` for the backup tier's view.
    #[inline]
    pub(crate) fn backup_tier(&self) -> bool {
        self.want & BACKUP != 0
    }

    /// The request's clock as a wrapping millisecond tick.
    #[inline]
    pub(crate) fn now_ms(&self) -> u32 {
        self.now_ms
    }

    /// Effective weight of `slot` if it is pickable in this view (cap aside): up, in this
    /// tier, weight above zero, not ejected (unless in panic), slow start applied.
    #[inline]
    pub(crate) fn weight(&self, slot: &Slot) -> Option<u32> {
        let c = slot.config.load(Ordering::Acquire);
        let w = weight_of(c);
        // fast path: one load, no flags
        if c & (STATE_MASK | BACKUP | EJECTED | WARMING) == self.want {
            return if w > 0 { Some(w) } else { None };
        }
        if c & (STATE_MASK | BACKUP) != self.want || w == 0 {
            return None;
        }
        self.flagged_weight(slot, c)
    }

    #[cold]
    fn flagged_weight(&self, slot: &Slot, c: u32) -> Option<u32> {
        if c & EJECTED != 0 {
            let until = slot.ejected_until_ms.load(Ordering::Acquire);
            if reached(self.now_ms, until) {
                self.pool.uneject(slot, c, self.now_ms);
                // counted as returned for this pick (with slow start, from its floor)
                return Some(match self.pool.config.slow_start {
                    Some(ss) => ss.weight(weight_of(c), 0),
                    None => weight_of(c),
                });
            }
            if !self.panic {
                return None;
            }
        }
        if c & WARMING != 0 {
            return Some(self.pool.warm_weight(slot, c, self.now_ms));
        }
        Some(weight_of(c))
    }

    /// Pickable in this view and below its cap.
    #[inline]
    pub(crate) fn eligible(&self, slot: &Slot) -> bool {
        self.weight(slot).is_some() && slot.has_room(slot.in_flight())
    }

    /// [`View::eligible`] by index.
    #[inline]
    pub(crate) fn eligible_at(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| self.eligible(s))
    }
}

/// Runs a strategy's pick on the primary tier, then, if it finds nothing and the pool has
/// backups, on the backup tier.
#[inline]
pub(crate) fn pick_tiers<const N: usize>(
    pool: &Pool<N>,
    now_us: u64,
    mut pick: impl FnMut(&View<'_, N>) -> Option<usize>,
) -> Option<BackendId> {
    let primary = View::new(pool, now_us, false);
    if primary.panic && pool.has_backups() {
        // Too few primaries are healthy: as Envoy spills to the next priority before it
        // panics, healthy backups come first, and only without them are ejected primaries
        // picked from again.
        let backup = View::new(pool, now_us, true);
        if let Some(i) = pick(&backup.clone_calm()) {
            return pool.id_for(i);
        }
        if let Some(i) = pick(&primary) {
            return pool.id_for(i);
        }
        // nothing else can take it: every backend that is up, ejected backups included
        return pick(&backup).and_then(|i| pool.id_for(i));
    }
    if let Some(i) = pick(&primary) {
        return pool.id_for(i);
    }
    if pool.has_backups() {
        let backup = View::new(pool, now_us, true);
        return pick(&backup).and_then(|i| pool.id_for(i));
    }
    None
}
