//! (a) Operation sequences against a plain reference model.
//!
//! A [`Scenario`] is a pool size, a pool [`Config`], a start time and a list of [`Op`]s: add
//! (any priority level, health and cap), remove, re-weight, mark up/down/draining/degraded,
//! cap, share, move between levels, pick with a strategy chosen by name, lease through a
//! strategy, lease a backend by id, finish, drop, ask `is_eligible`, and move the caller's
//! clock forwards or backwards. Scenarios are built from
//! the fuzzer's bytes by `arbitrary` (derived; the few `with` functions below only steer
//! numbers towards the edges that matter). [`run`] applies each op to a real [`Pool`] and to
//! [`model::Model`], a plain (non-atomic, single-threaded) restatement of the documented
//! behaviour, and after every op checks that they agree on everything the pool shows
//! (`check.rs`): each slot's in-flight count, eligibility and id; each backend's info
//! (weight, health, cap, in-flight, failure streak, ejected, backup, level, and the latency
//! estimate lying between the samples it came from) and share; `len`, `total_weight`, `ids`
//! (as a slice and as an iterator), `ejected_count`, `in_panic`, `priority_load` (Envoy's
//! arithmetic, exactly); `Err(Stale)` for every id of a removed backend.
//!
//! Eligibility is what a pick means: a backend is a *candidate* of a view (one priority
//! level's up backends, or its degraded ones, or all of them when the level is in panic) if
//! it is in the pool, at that level, of that health, weighted, with a share above zero,
//! below its cap, and not ejected (unless the view is in panic, or the ejection's time is
//! up). `Pool::pick` draws the view it starts at by Envoy's priority load and falls back
//! through the others in a documented order (`route.rs` states the rules); the draw is
//! random to the model, so a pick must return a candidate that the first view with one
//! holds for *some* start it can draw, and `None` only when some start finds nothing (or
//! fails, with `fail_traffic_on_panic`). `is_eligible(i, now)` must say exactly what its
//! documentation says. Configuration calls must return exactly the documented error.
//!
//! The model knows nothing of how the pool stores state. Two things it cannot know in
//! advance, and reads back instead: an ejection whose time is up ends lazily, when a view
//! first looks at the backend or, in a pool with more than one level or degraded backends,
//! when a pick counts the pool (the model checks that it ended only when it was allowed to,
//! and that it did end where it must: a backend picked, the one `is_eligible` was asked
//! about, every one a count saw); and which candidate a strategy chose. Because
//! `is_eligible` ends ejections too, the check after every step asks it only where it
//! cannot (so that lazy ends stay the picks' business); `Op::IsEligible` asks it anywhere.
//!
//! Layout: this file holds the input types and the driver; `harness.rs` one method per
//! operation; `model.rs` the reference model's slots; `route.rs` its levels, loads and
//! views; `check.rs` the comparisons.

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

mod check;
mod harness;
mod model;
mod route;

use core::num::NonZeroU32;
use std::vec::Vec;

use arbitrary::{Arbitrary, Result, Unstructured};
use tinylb::{
    Config, Ejection, FULL_SHARE, Health, MAX_IN_FLIGHT, MAX_LEVELS, MAX_WEIGHT, Pool, SlowStart,
};

use harness::Harness;

/// Maglev table size for the fuzzed `Strategy` (a prime at least `N`, small so that the
/// frequent rebuilds stay cheap).
pub const TABLE: usize = 251;

/// Most ops built from one input.
pub const MAX_OPS: usize = 400;

/// One step of a scenario. Backends and leases are named by a number taken modulo the
/// ids (or leases) known so far, so every number means something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Op {
    /// `add(weight)` when up, at level 0 and uncapped, else
    /// `add_backend(Backend::new(weight).health(..).cap(..))`, with `.backup()` for level 1
    /// and `.level(l)` above.
    Add {
        /// Weight, often out of range.
        #[arbitrary(with = weight)]
        weight: u32,
        /// Initial health.
        #[arbitrary(with = health)]
        health: Health,
        /// Priority level, 0 to 3.
        #[arbitrary(with = level)]
        level: u8,
        /// Initial in-flight cap.
        #[arbitrary(with = cap)]
        cap: Option<NonZeroU32>,
    },
    /// `remove` of a known id (perhaps a stale one).
    Remove(u8),
    /// `set_weight`.
    SetWeight(u8, #[arbitrary(with = weight)] u32),
    /// `set_health`.
    SetHealth(u8, #[arbitrary(with = health)] Health),
    /// `set_cap`.
    SetCap(u8, #[arbitrary(with = cap)] Option<NonZeroU32>),
    /// `set_share` (Q16), often out of range.
    SetShare(u8, #[arbitrary(with = share)] u32),
    /// `set_backup` (level 1, or 0).
    SetBackup(u8, bool),
    /// `set_level`: 0 to 3, sometimes out of range.
    SetLevel(u8, #[arbitrary(with = set_level)] u8),
    /// `select` with the strategy of row `strategy % len` of `STRATEGY_NAMES`.
    Pick(PickReq),
    /// `SelectExt::lease` with that strategy; the lease is kept.
    Lease(PickReq),
    /// `Lease::acquire` on a known id; the lease is kept.
    Acquire(u8),
    /// `Lease::finish` on a held lease.
    Finish {
        /// Which lease.
        lease: u8,
        /// `Outcome::success` or `Outcome::failure`.
        success: bool,
        /// The latency reported, in µs.
        #[arbitrary(with = latency)]
        latency_us: u64,
    },
    /// Drops a held lease.
    Drop(u8),
    /// `is_eligible` at the scenario's clock, of slot `index % (N + 1)` (so `N`, out of
    /// range, too), in any state: the result exactly, and the ejections it ends.
    IsEligible(u8),
    /// Moves the clock forwards by this many µs.
    Advance(#[arbitrary(with = advance)] u64),
    /// Moves the clock backwards by this many µs (saturating at 0).
    Rewind(#[arbitrary(with = rewind)] u64),
    /// `select` with a request that excludes the backends now in the slots whose bit is
    /// set (`Request::excluding`) and, if given, prefers a known id (`Request::prefer`).
    Retry {
        /// How the pick is made.
        pick: PickReq,
        /// Slot bits of the backends to exclude.
        exclude: u16,
        /// A known id to prefer (modulo the ids so far).
        prefer: Option<u8>,
    },
}

/// How a pick is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct PickReq {
    /// Row of `tinylb::strategy::STRATEGY_NAMES`, modulo its length.
    pub strategy: u8,
    /// `Request::with_key`.
    #[arbitrary(with = key)]
    pub key: Option<u64>,
    /// `Request::with_rng` with a SplitMix seeded so.
    pub rng: Option<u64>,
}

/// A whole fuzz input.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Scenario {
    /// `false`: `Pool<4>`; `true`: `Pool<8>`.
    pub large: bool,
    /// The pool's policy (always valid here: the config target fuzzes invalid ones).
    #[arbitrary(with = config)]
    pub config: Config,
    /// Seed for every strategy.
    pub seed: u64,
    /// The caller's clock at the start, in µs.
    #[arbitrary(with = start_us)]
    pub start_us: u64,
    /// The steps, read to the end of the input (at most [`MAX_OPS`]).
    #[arbitrary(with = to_the_end::<Op, MAX_OPS>)]
    pub ops: Vec<Op>,
}

// ----- steering numbers towards the edges -----

/// Elements until the input runs out (at most `MAX`). `Vec`'s own `arbitrary_take_rest`
/// asks a yes/no before every element, so random bytes give about one element: this way
/// every byte of a long input is part of some element.
pub fn to_the_end<'a, T: Arbitrary<'a>, const MAX: usize>(
    u: &mut Unstructured<'a>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while !u.is_empty() && out.len() < MAX {
        out.push(u.arbitrary()?);
    }
    Ok(out)
}

fn health(u: &mut Unstructured<'_>) -> Result<Health> {
    Ok(*u.choose(&[Health::Up, Health::Down, Health::Draining, Health::Degraded])?)
}

/// Mostly level 0, then 1 (the backup tier), sometimes 2 or 3.
fn level(u: &mut Unstructured<'_>) -> Result<u8> {
    Ok(match u.int_in_range(0..=7u8)? {
        0..=3 => 0,
        4 | 5 => 1,
        6 => 2,
        _ => 3,
    })
}

/// 0 to 3, or (rarely) out of range.
fn set_level(u: &mut Unstructured<'_>) -> Result<u8> {
    Ok(match u.int_in_range(0..=15u8)? {
        0 => MAX_LEVELS as u8 + u.int_in_range(0..=1)? * 100,
        n => n % 4,
    })
}

/// 0, the limit, one past it, anything, or (most often) a small valid weight.
fn weight(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => 0,
        1 => MAX_WEIGHT,
        2 => MAX_WEIGHT + 1,
        3 => u.arbitrary()?,
        _ => u.int_in_range(1..=8)?,
    })
}

/// No cap, the edges of `MAX_IN_FLIGHT` (a cap at or above it reads back as none), anything,
/// or (most often) a cap of 1 to 4.
fn cap(u: &mut Unstructured<'_>) -> Result<Option<NonZeroU32>> {
    let c = match u.int_in_range(0..=7u8)? {
        0 => return Ok(None),
        1 => MAX_IN_FLIGHT - 1 + u.int_in_range(0..=2)?,
        2 => u32::MAX,
        3 => u.arbitrary()?,
        _ => u.int_in_range(1..=4)?,
    };
    Ok(NonZeroU32::new(c))
}

/// 0 (out of every pick), a share small enough to round a weight down to 1, half, the
/// full share and one past it, anything, or (most often) the full share.
fn share(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 | 1 => 0,
        2 => u.int_in_range(1..=4)?,
        3 => FULL_SHARE / 2,
        4 => FULL_SHARE + 1,
        5 => u.arbitrary()?,
        6 => u.int_in_range(0..=FULL_SHARE)?,
        _ => FULL_SHARE,
    })
}

/// Few distinct keys (so picks by key collide), some far apart.
fn key(u: &mut Unstructured<'_>) -> Result<Option<u64>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    let (lo, hi): (u8, u8) = (u.arbitrary()?, u.arbitrary()?);
    Ok(Some(lo as u64 | ((hi as u64) << 40)))
}

fn latency(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(if u.ratio(1, 4)? {
        u.arbitrary()?
    } else {
        u.arbitrary::<u16>()? as u64 * 10
    })
}

/// Mostly up to 6.5 s; sometimes far, or exactly 2^31 ms (the wrapping tick's horizon).
fn advance(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => u.arbitrary::<u64>()? >> 16,
        1 => (1u64 << 31) * 1000,
        _ => u.arbitrary::<u16>()? as u64 * 100,
    })
}

fn rewind(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(u.arbitrary::<u16>()? as u64 * 100)
}

/// Sometimes just before the 32-bit millisecond tick wraps (2^32 ms).
fn start_us(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => ((1u64 << 32) - 1 - u.arbitrary::<u16>()? as u64) * 1000,
        1 => u.arbitrary::<u64>()? >> 8,
        _ => u.arbitrary::<u32>()? as u64,
    })
}

/// A valid config: sometimes slow start, sometimes ejection with small times so that
/// ejections end within a scenario; the overprovisioning factor mostly Envoy's 140 %,
/// sometimes all-or-nothing (`u32::MAX`) or 100 % to 300 %; sometimes panic fails picks,
/// picks down backends, or levels count by weight.
fn config(u: &mut Unstructured<'_>) -> Result<Config> {
    let (slow_start, ejection): (bool, bool) = (u.arbitrary()?, u.arbitrary()?);
    let mut c = Config::new().half_life_ms(match u.int_in_range(0..=3u8)? {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        _ => 100 + u.arbitrary::<u16>()? as u32,
    });
    if slow_start {
        c = c.slow_start(SlowStart {
            window_ms: 1 + u.arbitrary::<u16>()? as u32,
            aggression: u.int_in_range(1..=8)?,
            min_weight_percent: u.int_in_range(0..=100)?,
        });
    }
    if ejection {
        let base_ms = u.int_in_range(1..=2000)?;
        c = c.ejection(Ejection {
            consecutive_failures: u.int_in_range(1..=4)?,
            base_ms,
            max_ms: base_ms * u.int_in_range(1..=5)?,
            max_ejection_percent: u.int_in_range(0..=100)?,
            // from the base, so that seeded inputs decode as before
            interval_ms: base_ms / 3 + 1,
        });
    }
    c = c.panic_threshold_percent(u.int_in_range(0..=100)?);
    c = c.overprovisioning_percent(match u.int_in_range(0..=7u8)? {
        0 => u32::MAX,
        1 | 2 => u.int_in_range(100..=300)?,
        _ => 140,
    });
    let flags: u8 = u.arbitrary()?;
    Ok(c.fail_traffic_on_panic(flags & 0b11 == 1)
        .panic_picks_down(flags & 0b1100 == 0b0100)
        .weighted_priority_health(flags & 0b111_0000 == 0b001_0000))
}

// ----- running -----

/// Builds a scenario from `data` (as the fuzz target does) and runs it.
pub fn run_bytes(data: &[u8]) {
    if let Ok(s) = Scenario::arbitrary_take_rest(Unstructured::new(data)) {
        run(&s);
    }
}

/// Runs a scenario; panics (with the op and both sides' view) on any disagreement.
pub fn run(s: &Scenario) {
    if s.large {
        run_n::<8>(s);
    } else {
        run_n::<4>(s);
    }
}

fn run_n<const N: usize>(s: &Scenario) {
    let pool: Pool<N> = Pool::with_config(s.config).expect("scenario configs are valid");
    let mut h = Harness::new(&pool, s);
    for (step, op) in s.ops.iter().enumerate() {
        h.step(step, op);
    }
    h.finish_all();
}
