//! The backend pool: fixed slots of atomic backend state.
//!
//! A [`Pool<N>`] owns `N` slots. Each slot holds one backend's state in 32-bit atomics
//! (weight, health, in-flight count and cap, latency estimate, failure streak, generation),
//! so every operation takes `&self` and is safe to call from any thread while others pick.
//! Strategies read the pool through a [`View`]; only configuration calls and leases write it.
//!
//! The code follows one request's flow: `word` (the bit layout of the packed words),
//! `slot` (one backend's atomics), `backend`, `admin` and `place` (add, remove, `set_*`,
//! levels and localities), `read` (`info`, `id_at`, `ids`), `view` and `route` (what a pick
//! may consider: the one eligibility rule, and a view's level, class and locality), `pick`
//! (the fast path and the walk of views, exclusion and preference), `spread` and `cache`
//! (counting the levels, Envoy's loads and the locality split, kept between picks), `miss`
//! (why a pick found nothing; the pool-wide cap), then the lease's `try_acquire` /
//! `release` / `record` in [`lease`](crate::lease), and `outlier` (failure streaks,
//! ejection, panic).
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
//! [`BackendError::Stale`](crate::BackendError::Stale) instead of acting on whatever backend
//! reuses the slot. A removed slot is reused only once every lease on it has been dropped and
//! no configuration call is writing it, so a lease can never outlive its backend's slot (it
//! only stops recording statistics), and a `set_*` call applies to the backend whose id it was
//! given, or to nothing.
//!
//! # Time
//!
//! Times kept in atomics are wrapping 32-bit millisecond ticks (`now_us / 1000`), compared
//! with wrapping arithmetic: intervals up to 2^31 ms (about 24.8 days) are measured exactly;
//! a longer gap between two samples of the same backend is read as a short one (the estimate
//! then decays less than it should until the next sample). A clock that goes backwards is
//! read as no time passing.

use core::num::NonZeroU32;

use crate::config::Config;
use crate::error::ConfigError;
use crate::levels::MAX_LOCALITIES;
use crate::rng::Stream;
use crate::sync::{AtomicU32, Ordering};

mod admin;
mod backend;
#[cfg(feature = "levels")]
mod cache;
mod flight;
mod miss;
mod outlier;
mod penalty;
mod pick;
mod place;
mod rate;
mod read;
mod route;
mod slot;
mod spread;
mod view;
mod word;

pub use backend::Backend;
pub use miss::NoBackend;
pub(crate) use penalty::Penalty;
pub use rate::{Evaluation, FailurePercentage, OutlierDetector, RateDetection, SuccessRate};
pub use read::Ids;
pub(crate) use slot::{Line, Slot};
pub use view::{Candidate, View};
pub(crate) use word::{BACKUP, Flight, Word};
pub use word::{FULL_SHARE, MAX_IN_FLIGHT, MAX_TOTAL_WEIGHT, MAX_WEIGHT};

/// Bounded retries for compare-and-swap loops: no loop in the crate spins without a bound.
pub(crate) const CAS_TRIES: u32 = 16;

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
    /// Works, but should be avoided (Envoy `DEGRADED`): a level's degraded backends take
    /// the load its healthy ones cannot carry, by the same arithmetic as the levels (see
    /// [`levels`](crate::levels)).
    Degraded,
}

/// A backend's identity: its slot index and the slot's generation when it was added.
///
/// Ids are handed out by [`Pool::add`] and by strategies ([`Pool::pick`]); you cannot
/// make one up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackendId {
    index: u32,
    generation: u32,
}

impl BackendId {
    pub(crate) const fn new(index: u32, generation: u32) -> Self {
        BackendId { index, generation }
    }
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

/// A consistent-enough copy of one backend's state, for logging, tests and status pages.
///
/// Each field is read atomically, but not all at the same instant.
///
/// The five totals (`requests` to `ejections`) are the backend's since it was added, for a
/// status page (HAProxy's stats, Envoy's `upstream_rq_*`): 32-bit counters that wrap at
/// `u32::MAX` back to 0 without panic, are never reset while the backend lives, and start
/// at zero for each new backend (a reused slot included). Take the difference of two
/// snapshots with `wrapping_sub` for the counts of an interval (exact while fewer than 2^32
/// requests end in it).
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
    /// In-flight cap, if any (a cap of [`MAX_IN_FLIGHT`] or more reads back as `None`).
    pub cap: Option<NonZeroU32>,
    /// Latency estimate in microseconds, if sampled: from [`Pool::info`], as last stored
    /// (before time decay); from [`Pool::info_at`], decayed to that call's clock (what a
    /// pick at that clock reads).
    pub latency_us: Option<u32>,
    /// Consecutive failures reported since the last success.
    pub failure_streak: u32,
    /// Ejected by outlier detection (until its time is up; see [`Ejection`](crate::Ejection)).
    pub ejected: bool,
    /// At a priority level above 0 (the backup tier is level 1).
    pub backup: bool,
    /// Priority level (0 is tried first).
    pub level: u8,
    /// Locality (zone) tag.
    pub locality: u8,
    /// Requests that have ended on this backend: `successes + failures + abandoned`
    /// (wrapping). Leases still out are not counted yet.
    pub requests: u32,
    /// Leases that ended with a success counted ([`Lease`](crate::Lease) says which report
    /// counts).
    pub successes: u32,
    /// Leases that ended with a failure counted.
    pub failures: u32,
    /// Leases dropped with no outcome reported (cancelled, or the caller did not say).
    pub abandoned: u32,
    /// Times outlier detection ejected this backend.
    pub ejections: u32,
}

/// A fixed-capacity pool of `N` backend slots whose state lives in atomics.
///
/// Every method takes `&self`: add, remove, re-weight, cap, drain or mark backends down from
/// any thread while others pick. [`Pool::new`] is a `const fn`, so a pool can be a `static`:
///
/// ```
/// use tinylb::{Backend, Health, Pool};
/// static POOL: Pool<4> = Pool::new();
///
/// let a = POOL.add(3).unwrap();
/// let b = POOL.add_backend(Backend::new(1).health(Health::Draining)).unwrap();
/// assert_eq!(POOL.info(a).unwrap().weight, 3);
/// assert_eq!(POOL.info(b).unwrap().health, Health::Draining);
/// assert_eq!(POOL.len(), 2);
/// ```
///
/// Pool-wide policy (latency half-life, slow start, outlier ejection, panic threshold) comes
/// from a [`Config`] given to [`Pool::with_config`]. Which backends a pick may consider is
/// decided in one place, the pool's [`View`] (see [`Pool::pick`]).
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
    /// Backends at a level above 0 or degraded, plus 1 when the config always spreads: while
    /// 0, every pick takes the single-level path.
    spread: AtomicU32,
    /// Locality weights, two `u16`s a word (zone `2k` low, `2k + 1` high).
    zone_weights: [AtomicU32; MAX_LOCALITIES / 2],
    /// The caller's proxies per zone (zone-aware routing), packed the same way.
    fleet: [AtomicU32; MAX_LOCALITIES / 2],
    /// The level and zone draws of picks whose request has no key and no RNG.
    stream: Stream,
    /// The spread path's figures, kept between picks.
    #[cfg(feature = "levels")]
    cache: cache::Cache,
    /// The pool-wide in-flight cap, [`word::NO_CAP`] for none.
    pool_cap: AtomicU32,
    /// Leases out that count against `pool_cap`: the one pool-wide word a lease writes (only
    /// while a cap is set), on a line of its own so it does not slow the header words every
    /// pick reads.
    pool_in_flight: Line<AtomicU32>,
    /// Slots whose recent failure fraction is not 0: while none is, a pick charges no
    /// failure penalty and reads no slot for it (`penalty.rs`).
    failing: AtomicU32,
    /// [`Config::panic_matters`], computed once: one test on the pick path.
    panic_matters: bool,
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
    pub const fn with_config(config: Config) -> Result<Self, ConfigError> {
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
            spread: AtomicU32::new(config.always_spread() as u32),
            zone_weights: [const { AtomicU32::new(0x0001_0001) }; MAX_LOCALITIES / 2],
            fleet: [const { AtomicU32::new(0) }; MAX_LOCALITIES / 2],
            stream: Stream::new(0x7370_7265_6164_5f21),
            #[cfg(feature = "levels")]
            cache: cache::Cache::new(),
            pool_cap: AtomicU32::new(word::NO_CAP),
            pool_in_flight: Line(AtomicU32::new(0)),
            failing: AtomicU32::new(0),
            panic_matters: config.panic_matters(),
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
            .filter(|s| s.word().occupied())
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

    /// `true` if some priority level is in panic: fewer than the panic threshold of all
    /// its backends (down ones included, as Envoy counts) are up or degraded and not
    /// ejected, while the levels together are not fully available (see
    /// [`levels`](crate::levels)). An empty pool is not in panic.
    pub fn in_panic(&self) -> bool {
        if self.members.load(Ordering::Acquire) == 0 {
            return false;
        }
        if self.spread_on() {
            self.priority_load().any_panic()
        } else {
            self.single_level_panic()
        }
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

    /// `true` if picks take the spread path: some backend is at a level above 0 or
    /// degraded, or the config routes by locality.
    #[inline(always)]
    pub(crate) fn spread_on(&self) -> bool {
        // without the feature no backend can spread: the spread path is dead code
        cfg!(feature = "levels") && self.spread.load(Ordering::Relaxed) != 0
    }

    /// The generation of slot `index` (0 out of range), read as a lease reads it.
    #[inline]
    pub(crate) fn generation_of(&self, index: usize) -> u32 {
        self.slots.get(index).map_or(0, Slot::generation)
    }

    #[inline]
    pub(crate) fn slot(&self, index: usize) -> Option<&Slot> {
        self.slots.get(index)
    }

    pub(crate) fn bump_epoch(&self) {
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
                &s.cap,
                &s.hot.latency_us,
                &s.hot.latency_at_ms,
                &s.hot.failure_streak,
                &s.warm_from_ms,
                &s.ejected_until_ms,
                &s.ejections,
                &s.returned_at_ms,
                &s.share,
                &s.place,
                &s.hot.failure_score,
                &s.hot.successes,
                &s.hot.failures,
                &s.hot.ejected_total,
            ] {
                a.touch();
            }
            s.hot.flight.touch();
        }
        for a in [
            &self.total_weight,
            &self.max_weight,
            &self.high_water,
            &self.epoch,
            &self.members,
            &self.up,
            &self.ejected,
            &self.spread,
            &self.pool_cap,
            &self.pool_in_flight,
            &self.failing,
        ] {
            a.touch();
        }
        for a in self.zone_weights.iter().chain(&self.fleet) {
            a.touch();
        }
        self.stream.touch();
        #[cfg(feature = "levels")]
        self.cache.touch();
    }
}
