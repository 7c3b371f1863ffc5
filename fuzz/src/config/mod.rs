//! (b) Every constructor and configuration call that takes numbers (or a name) from the user.
//!
//! Each call gets values (types deriving `Arbitrary`, steered by `with` functions) biased
//! towards the edges (0, 1, the documented limits and one past them, `i32::MAX`,
//! `u32::MAX`, anything) and must return exactly what its documentation
//! promises: the documented error for a bad value, and for a good one a value that then
//! works: pools built from a fuzzed [`Config`] are driven through picks, leases and finishes
//! with fuzzed latencies and clocks, and must neither panic nor return an ineligible backend.
//!
//! | call | checked |
//! |---|---|
//! | `Pool::with_config(Config { .. })`, `Config::validate`, `SlowStart::linear` | the documented `Invalid*` error exactly when a field is out of range; a valid config then runs |
//! | `Pool::with_half_life_ms` | any value runs |
//! | `Pool::add`, `add_backend`, `set_weight` | `WeightTooLarge` above `MAX_WEIGHT`, `WeightOverflow` past `MAX_TOTAL_WEIGHT` (a pool of 1100 slots), `Full` |
//! | `Pool::set_cap` | any cap holds; one at or above `MAX_IN_FLIGHT` reads back as none |
//! | `Pool::in_flight_at`, `is_eligible`, `id_at` | any index, out of range included, any clock |
//! | `Strategy::from_name` | accepted exactly for the documented names and aliases, any seed; a refusal names the name and says why |
//! | `Strategy` names with `M = 0` and `M = 250` | every Maglev name refused with `NoMaglevTable`, the others parse |
//! | `BoundedLoad::new`, `with_seed`, `default` | `BalanceFactorTooLow` below 100; any factor above runs |
//! | `Maglev::try_with_seed`, `table_entry`, `lookup` | errors for bad sizes; any position, any key |
//! | `RoundRobin::starting_at` | any start: n picks visit each of n eligible backends once |
//! | `hash::jump`, `hash_bytes`, `hash_bytes_keyed` | `None` only for 0 buckets, in range, deterministic |
//! | `Outcome::success_after`, `failure_after`, `Request::with_now_us` | any duration and clock |
//!
//! Layout: this file holds the input types ([`Check`], one variant per row above) and the
//! dispatch; `edges.rs` the functions that steer numbers towards the edges; `checks.rs`
//! and `names.rs` the checks.

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

mod checks;
mod edges;
mod names;

use core::num::NonZeroU32;
use std::string::String;
use std::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use tinylb::{Config, MAX_WEIGHT};

use edges::{config, drive_cap, heavy, in_range, near, repeat, small, weight_cap};

use crate::ops::to_the_end;

/// One check and its input.
#[derive(Debug, Clone, Arbitrary)]
#[allow(clippy::large_enum_variant, reason = "one value per fuzz input")]
pub enum Check {
    /// `Pool::with_config` and `Config::validate` on a fuzzed config; a valid one is driven.
    Config {
        /// Any config, valid or not.
        #[arbitrary(with = config)]
        config: Config,
        /// What a valid one is then driven through.
        drive: Drive,
    },
    /// Weights and caps through every call that takes one (up to 64 rounds).
    Weights(#[arbitrary(with = to_the_end::<WeightRound, 64>)] Vec<WeightRound>),
    /// `Strategy::from_name` on a name.
    StrategyName {
        /// Seed of the parsed strategy.
        seed: u64,
        /// The name.
        name: Name,
    },
    /// `BoundedLoad::new` and `with_seed`.
    BoundedLoad {
        /// The balance factor in percent.
        #[arbitrary(with = near::<100>)]
        factor: u32,
        /// The seed.
        seed: u64,
        /// The four backends' weights.
        #[arbitrary(with = small::<4, 4>)]
        weights: [u32; 4],
        /// Keys of 16 leases held at once.
        keys: [u8; 16],
    },
    /// `RoundRobin::starting_at`.
    RoundRobin {
        /// The start.
        #[arbitrary(with = near::<{ u32::MAX }>)]
        start: u32,
        /// Backends, 1 to 8.
        #[arbitrary(with = in_range::<1, 8>)]
        n: u32,
        /// Rounds of `n` picks, 1 to 4.
        #[arbitrary(with = in_range::<1, 4>)]
        rounds: u32,
    },
    /// `hash::jump`, `hash_bytes`, `hash_bytes_keyed`.
    Hashes {
        /// Key for `jump`.
        key: u64,
        /// Buckets for `jump`.
        #[arbitrary(with = near::<{ u32::MAX }>)]
        buckets: u32,
        /// Key for `hash_bytes_keyed`.
        hash_key: [u8; 8],
        /// Bytes to hash: the rest of the input.
        #[arbitrary(with = to_the_end::<u8, { 1 << 16 }>)]
        bytes: Vec<u8>,
    },
    /// `Maglev::try_with_seed`, `select`, `lookup`, `table_entry`.
    Maglev {
        /// The seed.
        seed: u64,
        /// Backends added, 0 to 4.
        #[arbitrary(with = in_range::<0, 4>)]
        backends: u32,
        /// Their weights.
        #[arbitrary(with = small::<3, 4>)]
        weights: [u32; 4],
        /// The key picked with.
        key: u64,
        /// The key looked up.
        lookup: u64,
        /// The table position read.
        pos: u64,
    },
    /// `in_flight_at`, `is_eligible`, `id_at` at any index; leases at any clock.
    IndicesAndTimes {
        /// `Pool::with_half_life_ms`.
        #[arbitrary(with = near::<5000>)]
        half_life_ms: u32,
        /// Indices read.
        indices: [Index; 8],
        /// Per strategy (in table order): the clock of the pick, the latency and the clock
        /// of the finish.
        times: [(u64, u64, u64); 16],
    },
}

/// How [`Check::Config`] drives a pool built from a valid config.
#[derive(Debug, Clone, Arbitrary)]
pub struct Drive {
    /// The pool's four backends.
    pub backends: [DriveBackend; 4],
    /// The clock at the start, in µs.
    pub start_us: u64,
    /// The steps (up to 64).
    #[arbitrary(with = to_the_end::<DriveStep, 64>)]
    pub steps: Vec<DriveStep>,
}

/// One backend of a driven pool.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct DriveBackend {
    /// 1 to 8.
    #[arbitrary(with = in_range::<1, 8>)]
    pub weight: u32,
    /// `None` three times in four, else 1 to 3.
    #[arbitrary(with = drive_cap)]
    pub cap: Option<NonZeroU32>,
}

/// One lease (and perhaps one finish) of a driven pool.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct DriveStep {
    /// Row of `STRATEGY_NAMES`, modulo its length.
    pub strategy: u8,
    /// How the clock moves before the lease.
    pub clock: Clock,
    /// `Request::with_key`.
    pub key: u64,
    /// Finish the oldest lease held (always done when more than 4 are held).
    pub release: bool,
    /// The latency it reports.
    pub latency: Latency,
    /// `Outcome::success_after` or `failure_after`.
    pub success: bool,
}

/// A move of the caller's clock.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Clock {
    /// To any value.
    Set(u64),
    /// Back by up to 2^32 µs (wrapping).
    Back(u32),
    /// Forwards by up to 2^32 µs (wrapping).
    Forward(u32),
}

/// A latency as a [`core::time::Duration`].
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Latency {
    /// `Duration::new(secs, nanos)`, nanos below 10^9.
    Duration(u64, #[arbitrary(with = in_range::<0, 999_999_999>)] u32),
    /// `Duration::from_micros`.
    Micros(u64),
    /// `Duration::from_micros` of a small number.
    SmallMicros(u16),
}

/// One round of [`Check::Weights`]: `repeat` adds of `weight`, then one `set_weight` and
/// one `set_cap` on a known backend.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct WeightRound {
    /// The weight added, near `MAX_WEIGHT`.
    #[arbitrary(with = heavy)]
    pub weight: u32,
    /// Adds this round: 1, 21, 41, ..., 1261.
    #[arbitrary(with = repeat)]
    pub repeat: u32,
    /// Which add call, in turn.
    pub via: [AddVia; 4],
    /// The backend re-weighted and capped (modulo the ids so far).
    pub target: u16,
    /// Its new weight.
    #[arbitrary(with = near::<MAX_WEIGHT>)]
    pub new_weight: u32,
    /// Its new cap.
    #[arbitrary(with = weight_cap)]
    pub cap: Option<NonZeroU32>,
}

/// The call that adds a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum AddVia {
    /// `Pool::add`.
    Add,
    /// `Pool::add_backend(Backend::new(w).health(Health::Down))`.
    AddDown,
    /// `Pool::add_backend(Backend::new(w).backup())`.
    AddBackup,
}

/// A strategy name for [`Check::StrategyName`].
#[derive(Debug, Clone, Arbitrary)]
pub enum Name {
    /// A documented name or alias, mangled.
    Known {
        /// Which one, modulo the names and aliases of `STRATEGY_NAMES`.
        which: u8,
        /// What happens to each character (characters past the end are kept).
        mangle: Vec<Mangle>,
        /// [`Mangle::Bump`] bumps (else it keeps).
        bump: bool,
        /// Surrounded by whitespace.
        pad: bool,
        /// An `x` appended.
        suffix: bool,
    },
    /// Any string.
    Raw(String),
}

/// What happens to one character of a known name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Mangle {
    /// Kept.
    Keep,
    /// `_` read as `-` (allowed).
    Dash,
    /// `_` read as ` ` (allowed).
    Space,
    /// Upper case (allowed).
    Upper,
    /// The next code point (not allowed), when the name's `bump` is set.
    Bump,
}

/// An index into a pool, often out of range.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Index {
    /// Any.
    Any(u64),
    /// `usize::MAX` minus this.
    NearMax(u8),
    /// Small.
    Small(u8),
}

impl Index {
    fn get(self) -> usize {
        match self {
            Index::Any(i) => i as usize,
            Index::NearMax(d) => usize::MAX - d as usize,
            Index::Small(i) => i as usize,
        }
    }
}

// ----- running -----

/// Builds a check from `data` (as the fuzz target does) and runs it.
pub fn run_bytes(data: &[u8]) {
    if let Ok(c) = Check::arbitrary_take_rest(Unstructured::new(data)) {
        run(&c);
    }
}

/// Runs one check; panics on anything the documentation does not promise.
pub fn run(c: &Check) {
    match c {
        Check::Config { config, drive } => checks::config(*config, drive),
        Check::Weights(rounds) => checks::weights(rounds),
        Check::StrategyName { seed, name } => names::strategy_name(*seed, name),
        Check::BoundedLoad {
            factor,
            seed,
            weights,
            keys,
        } => checks::bounded_load(*factor, *seed, weights, keys),
        Check::RoundRobin { start, n, rounds } => checks::round_robin(*start, *n, *rounds),
        Check::Hashes {
            key,
            buckets,
            hash_key,
            bytes,
        } => checks::hashes(*key, *buckets, hash_key, bytes),
        Check::Maglev {
            seed,
            backends,
            weights,
            key,
            lookup,
            pos,
        } => checks::maglev(*seed, &weights[..*backends as usize], *key, *lookup, *pos),
        Check::IndicesAndTimes {
            half_life_ms,
            indices,
            times,
        } => checks::indices_and_times(*half_life_ms, indices, times),
    }
}
