//! The fuzz harness (`fuzz/src/`) on stable: inputs the fuzzers once failed on (or that pin
//! a fixed bug), replayed exactly, and a few hundred seeded random inputs through both
//! targets so that `cargo test` exercises the reference model without cargo-fuzz or a
//! nightly toolchain.
//!
//! A crash found by `cargo +nightly fuzz run T` leaves `fuzz/artifacts/T/crash-*`;
//! `cargo +nightly fuzz fmt T <file>` prints it as the `Scenario` (or `Check`) it decodes
//! to: paste that value into a test here before fixing the bug. Saved values, not bytes:
//! the bytes mean something else once the input types change.

#![allow(clippy::indexing_slicing)]

#[path = "../fuzz/src/config/mod.rs"]
mod config;
#[path = "../fuzz/src/ops/mod.rs"]
mod ops;
#[path = "support/splitmix.rs"]
#[allow(dead_code)]
mod splitmix;

use core::mem::discriminant;
use core::num::NonZeroU32;

use config::{Check, Clock, Drive, DriveBackend, DriveStep, Latency, Mangle, Name};
use ops::{Op, PickReq, Scenario};
use splitmix::SplitMix;
use tinylb::strategy::STRATEGY_NAMES;
use tinylb::{Config, Ejection, FULL_SHARE, Health, MAX_IN_FLIGHT};

/// Deterministic pseudo-random fuzz inputs: the low byte of each SplitMix64 output.
fn random_input(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// Fewer inputs under miri, where each costs seconds.
const RANDOM_INPUTS: u64 = if cfg!(miri) { 2 } else { 300 };
/// Seeded inputs for the constructor checks: one per chosen kind at least, under miri.
const CONSTRUCTOR_INPUTS: u64 = if cfg!(miri) { 4 } else { 300 };

#[test]
fn empty_and_tiny_inputs() {
    for data in [&[][..], &[0], &[1], &[0xff; 3], &[7; 64]] {
        ops::run_bytes(data);
        config::run_bytes(data);
    }
}

/// Found by `config` in its first minute: a fuzzed `Duration::new(secs, nanos)` whose nanos
/// carried into an overflowing `secs` panicked inside the harness (the harness now keeps
/// nanos below 10^9; the library was not at fault). The largest duration the harness can
/// build, through `success_after`, must saturate the latency instead.
#[test]
fn config_duration_with_carrying_nanos() {
    let step = DriveStep {
        strategy: 0,
        clock: Clock::Set(u64::MAX),
        key: 0,
        release: true,
        latency: Latency::Duration(u64::MAX, 999_999_999),
        success: true,
    };
    config::run(&Check::Config {
        config: Config::new(),
        drive: Drive {
            backends: [DriveBackend {
                weight: 1,
                cap: None,
            }; 4],
            start_us: 0,
            steps: vec![
                step,
                DriveStep {
                    success: false,
                    ..step
                },
            ],
        },
    });
}

/// In panic with a backup tier, when no healthy backup and no primary can take a pick, an
/// ejected backup is picked ("below the panic threshold every backend is eligible again").
/// Picks returned `None` here before the fix; the model demands `Some` of every strategy.
/// (With priority levels: both levels are in panic, the load follows their sizes, and
/// whichever a pick draws, the level-0 view is empty and the fallbacks end at level 1's
/// panic view.)
#[test]
#[cfg_attr(
    miri,
    ignore = "every strategy, each with a Maglev table: minutes under miri; the seeded sequences below cover the same calls"
)]
fn panic_picks_an_ejected_backup_when_nothing_else_can() {
    let add = |backup: bool| Op::Add {
        weight: 1,
        health: Health::Up,
        level: backup as u8,
        cap: None,
    };
    let fail = Op::Finish {
        lease: 0,
        success: false,
        latency_us: 100,
    };
    let mut ops = vec![
        add(false),
        add(true),
        // one failure ejects each (100 % may be ejected): both ejected is panic
        Op::Acquire(0),
        fail,
        Op::Acquire(1),
        fail,
        // the ejected primary cannot take a pick even in panic
        Op::SetWeight(0, 0),
    ];
    for strategy in 0..STRATEGY_NAMES.len() as u8 {
        for lease in [false, true] {
            let p = PickReq {
                strategy,
                key: Some(7),
                rng: Some(strategy as u64),
            };
            ops.push(if lease { Op::Lease(p) } else { Op::Pick(p) });
            ops.push(Op::Drop(0));
        }
    }
    let ejection = Ejection {
        consecutive_failures: 1,
        base_ms: 10_000,
        max_ms: 10_000,
        max_ejection_percent: 100,
        interval_ms: 10_000,
    };
    for large in [false, true] {
        ops::run(&Scenario {
            large,
            config: Config::new().ejection(ejection).panic_threshold_percent(50),
            seed: 1,
            start_us: 0,
            ops: ops.clone(),
        });
    }
}

fn every_pick() -> Vec<Op> {
    let mut ops = Vec::new();
    for strategy in 0..STRATEGY_NAMES.len() as u8 {
        let p = PickReq {
            strategy,
            key: Some(3),
            rng: Some(strategy as u64),
        };
        ops.extend([Op::Pick(p), Op::Lease(p), Op::Drop(0)]);
    }
    ops
}

/// `is_eligible` means what a pick means: a backup is not eligible while a primary is (the
/// old `is_eligible(index)` said it was); a share of 0 takes a primary out, so the backup
/// is; a share rounding the weight below 1 still counts 1; a cap of `MAX_IN_FLIGHT` reads
/// back as none. After every op the harness compares the eligibility of every slot and
/// every share with the model; every strategy must pick the backup while the primary's
/// share is 0.
#[test]
#[cfg_attr(
    miri,
    ignore = "every strategy, each with a Maglev table: minutes under miri; the seeded sequences below cover the same calls"
)]
fn eligibility_follows_tiers_and_shares() {
    let add = |backup: bool, cap| Op::Add {
        weight: 3,
        health: Health::Up,
        level: backup as u8,
        cap,
    };
    let mut ops = vec![
        add(false, None),
        add(true, NonZeroU32::new(2)),
        Op::IsEligible(0),
        Op::IsEligible(1),
        Op::SetShare(0, 0),
        Op::IsEligible(0),
        Op::IsEligible(1),
    ];
    ops.extend(every_pick());
    ops.extend([
        Op::SetShare(0, FULL_SHARE + 1),
        Op::SetShare(0, 1),
        Op::SetCap(0, NonZeroU32::new(MAX_IN_FLIGHT)),
        Op::IsEligible(0),
        Op::IsEligible(1),
    ]);
    ops.extend(every_pick());
    for large in [false, true] {
        ops::run(&Scenario {
            large,
            config: Config::new(),
            seed: 5,
            start_us: 1_000_000,
            ops: ops.clone(),
        });
    }
}

/// `is_eligible` ends an expired ejection like a pick does, but only of a backend it
/// judges: asked about the other (healthy) backend, it stops there and the ejection stays;
/// asked about the ejected one, it ends it and says `true`.
#[test]
fn is_eligible_ends_an_expired_ejection_it_judges() {
    let add = Op::Add {
        weight: 1,
        health: Health::Up,
        level: 0,
        cap: None,
    };
    let ops = vec![
        add,
        add,
        Op::Acquire(0),
        Op::Finish {
            lease: 0,
            success: false,
            latency_us: 100,
        },
        Op::IsEligible(0),
        Op::Advance(20_000),
        Op::IsEligible(1),
        Op::IsEligible(0),
        Op::IsEligible(0),
    ];
    let ejection = Ejection {
        consecutive_failures: 1,
        base_ms: 10,
        max_ms: 10,
        max_ejection_percent: 100,
        interval_ms: 10,
    };
    for large in [false, true] {
        ops::run(&Scenario {
            large,
            config: Config::new().ejection(ejection),
            seed: 2,
            start_us: 0,
            ops: ops.clone(),
        });
    }
}

fn add(health: Health, level: u8) -> Op {
    Op::Add {
        weight: 1,
        health,
        level,
        cap: None,
    }
}

fn both_sizes(config: Config, ops: &[Op]) {
    for large in [false, true] {
        ops::run(&Scenario {
            large,
            config,
            seed: 9,
            start_us: 0,
            ops: ops.to_vec(),
        });
    }
}

/// Priority levels spill gradually (140 %: half of level 0 down keeps 70 % there) or all at
/// once (`u32::MAX`, nginx's backup), degraded backends take what the healthy ones cannot,
/// and `set_level` / `set_backup` move backends between them: every strategy's pick, every
/// slot's eligibility and the priority load against the model after each step.
#[test]
#[cfg_attr(
    miri,
    ignore = "every strategy, each with a Maglev table: minutes under miri; the seeded sequences below cover the same calls"
)]
fn levels_spill_and_degraded_backends_take_the_rest() {
    let mut ops = vec![
        add(Health::Up, 0),
        add(Health::Up, 0),
        add(Health::Up, 1),
        add(Health::Degraded, 2),
    ];
    ops.extend(every_pick());
    ops.extend([
        Op::SetHealth(0, Health::Down),
        Op::SetHealth(1, Health::Degraded),
    ]);
    ops.extend(every_pick());
    ops.extend([
        Op::SetLevel(2, 3),
        Op::SetBackup(3, true),
        Op::SetLevel(3, 8),
    ]);
    ops.extend(every_pick());
    ops.extend([
        Op::SetHealth(1, Health::Down),
        Op::SetHealth(2, Health::Down),
    ]);
    ops.extend(every_pick());
    for factor in [140, 100, u32::MAX] {
        both_sizes(Config::new().overprovisioning_percent(factor), &ops);
    }
}

/// Pool bug: with `fail_traffic_on_panic`, every pick fails while the level is in panic,
/// yet `is_eligible` says `true` ("`true` if a pick at `now_us` may return the backend").
/// Single level: one up of three backends (33 % < 50 %), every pick `None`, `is_eligible(0)`
/// `true` (expected `false`). Two levels (total panic): the same, through the fallback.
#[test]
fn is_eligible_is_false_where_panic_fails_every_pick() {
    let config = Config::new().fail_traffic_on_panic(true);
    let mut ops = vec![
        add(Health::Up, 0),
        add(Health::Down, 0),
        add(Health::Down, 0),
    ];
    ops.extend(every_pick());
    both_sizes(config, &ops);
    ops.insert(3, add(Health::Down, 1));
    both_sizes(config, &ops);
}

/// Pool bug: a level in panic that the priority load gives nothing counts as loaded in
/// `is_eligible`. Level 0: one up, one down (70 %, not in panic, all the load); level 1:
/// one down backend (in panic, no load). With `panic_picks_down`, `is_eligible(2)` is `true`
/// (expected `false`: every pick goes to slot 0).
#[test]
fn is_eligible_is_false_for_a_level_in_panic_without_load() {
    let mut ops = vec![
        add(Health::Up, 0),
        add(Health::Down, 0),
        add(Health::Down, 1),
    ];
    ops.extend(every_pick());
    both_sizes(Config::new().panic_picks_down(true), &ops);
}

/// Pool bug: `is_eligible` takes its views from the counts before its census ends the
/// expired ejections. Level 0: one up, one degraded and ejected; once the ejection's time
/// is up, a pick's census ends it and 30 % of picks go to the degraded backend, but the
/// first `is_eligible(1)` says `false` (expected `true`; asked again, `true`).
#[test]
fn is_eligible_sees_the_views_after_its_census() {
    let ops = vec![
        add(Health::Up, 0),
        add(Health::Degraded, 0),
        Op::Acquire(1),
        Op::Finish {
            lease: 0,
            success: false,
            latency_us: 100,
        },
        Op::Advance(20_000),
        Op::IsEligible(1),
    ];
    let ejection = Ejection {
        consecutive_failures: 1,
        base_ms: 10,
        max_ms: 10,
        max_ejection_percent: 100,
        interval_ms: 10,
    };
    both_sizes(Config::new().ejection(ejection), &ops);
}

/// Every name and alias of the one table, plain, padded, shouted and with a suffix, through
/// the `config` target's name check (which derives what must parse from the same table).
#[test]
#[cfg_attr(
    miri,
    ignore = "every strategy, each with a Maglev table: minutes under miri; the seeded sequences below cover the same calls"
)]
fn every_documented_name_and_alias() {
    let count: usize = STRATEGY_NAMES.iter().map(|r| 1 + r.aliases.len()).sum();
    assert!(count < 256, "every name reachable by a u8");
    for which in 0..count as u8 {
        for (mangle, pad, suffix) in [
            (vec![], false, false),
            (vec![Mangle::Upper; 32], true, false),
            (vec![Mangle::Dash; 32], false, false),
            (vec![], false, true),
        ] {
            let name = Name::Known {
                which,
                mangle,
                bump: false,
                pad,
                suffix,
            };
            config::run(&Check::StrategyName { seed: 1, name });
        }
    }
}

#[test]
fn seeded_random_operation_sequences() {
    for seed in 0..RANDOM_INPUTS {
        let data = random_input(seed, 64 + (seed as usize * 37) % 1500);
        ops::run_bytes(&data);
    }
}

#[test]
fn seeded_random_constructor_calls() {
    // the variant of `Check` comes from the top bits of the first four bytes (a `u32`, little
    // endian, scaled to the eight variants); the set of variants seen is checked below
    let kinds: &[u8] = if cfg!(miri) {
        // not the 1100-slot pool's, nor the long hashing and Maglev ones
        &[0, 2, 3, 7]
    } else {
        &[0, 1, 2, 3, 4, 5, 6, 7]
    };
    let mut seen = Vec::new();
    for seed in 0..CONSTRUCTOR_INPUTS {
        let mut data = random_input(seed ^ 0x00c0_ffee, 16 + (seed as usize * 13) % 400);
        data[..4].copy_from_slice(&[0, 0, 0, kinds[seed as usize % kinds.len()] << 5]);
        let check = arbitrary::Unstructured::new(&data);
        let Ok(check) = <Check as arbitrary::Arbitrary>::arbitrary_take_rest(check) else {
            continue;
        };
        let d = discriminant(&check);
        if !seen.contains(&d) {
            seen.push(d);
        }
        config::run(&check);
    }
    assert_eq!(seen.len(), kinds.len(), "every chosen check ran");
}
