//! Value stability: fixed pools, seeds and request sequences in, the exact list of picked
//! slot indices out, for every strategy. A change to any of these vectors changes what
//! deployed proxies pick for the same inputs: it is a breaking change and goes in the
//! CHANGELOG, never a silent update of the constants.
//!
//! The vectors and the scenarios that produce them live in `tests/golden/vectors.rs`
//! ([`vectors`]), which uses only `core` and tinylb, so the same file runs here on x86-64,
//! under WASI (`cargo test --target wasm32-wasip1`) and in the firmware on Cortex-M under
//! QEMU (`firmware/src/bin/golden.rs`).

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

/// The scenarios and their expected picks, shared with the firmware (see the file's docs).
// the golden files' items are `pub` for the firmware, which includes them as its modules
// and keep the integer `Outcome` and `at_us` spellings: the golden files must not change
#[allow(unreachable_pub, deprecated)]
#[path = "../../golden/vectors.rs"]
pub mod vectors;

/// The affinity vectors (checked by [`affinity`]), here also for the core-only
/// recomputation the firmware runs.
#[allow(unreachable_pub)]
#[path = "../../golden/hashing.rs"]
pub mod hashing;

/// The priority-level and locality picks, shared with the firmware.
#[allow(unreachable_pub)]
#[path = "../../golden/levels.rs"]
pub mod levels;

/// The retry sequences (exclusion), shared with the firmware.
#[allow(unreachable_pub)]
#[path = "../../golden/retry.rs"]
pub mod retry;

mod affinity;

use crate::support::nginx_swrr;
use tinylb::Strategy;
use vectors::*;

fn check<const L: usize>(name: &str, expect: &[u8; L], run: impl FnOnce(&mut [u8])) {
    let mut got = [0u8; L];
    run(&mut got);
    assert_eq!(&got, expect, "{name} changed: a breaking change");
}

#[test]
fn round_robin() {
    check("ROUND_ROBIN", &ROUND_ROBIN, vectors::round_robin);
    check(
        "ROUND_ROBIN_AT_MAX",
        &ROUND_ROBIN_AT_MAX,
        round_robin_at_max,
    );
}

#[test]
fn weighted_round_robin() {
    check(
        "WEIGHTED_ROUND_ROBIN",
        &WEIGHTED_ROUND_ROBIN,
        vectors::weighted_round_robin,
    );
    check(
        "WEIGHTED_ROUND_ROBIN_SEEDED",
        &WEIGHTED_ROUND_ROBIN_SEEDED,
        weighted_round_robin_seeded,
    );
}

/// The vectors themselves agree with the reference models: round robin visits the eligible
/// slots in order; weighted round robin is nginx's smooth WRR, seeded a rotation of it; the
/// seeded random stream is SplitMix64 (draw `k` is the mixer at `seed + k·golden`), so the
/// caller-RNG run with `SplitMix(SEED)` sees the same draws one step later.
#[test]
fn vectors_agree_with_the_models() {
    let eligible = [0u8, 1, 2, 4];
    for (k, &i) in ROUND_ROBIN.iter().enumerate() {
        assert_eq!(i, eligible[k % 4]);
    }
    let mut weights = WEIGHTS;
    weights[DOWN] = 0;
    let nginx: Vec<u8> = nginx_swrr(&weights, 40).iter().map(|&i| i as u8).collect();
    assert_eq!(WEIGHTED_ROUND_ROBIN[..], nginx[..26]);
    assert!((0..13).any(|p| WEIGHTED_ROUND_ROBIN_SEEDED[..] == nginx[p..p + 26]));
    assert_eq!(RANDOM_SEEDED[1..], RANDOM_CALLER_RNG[..31]);
}

#[test]
fn random() {
    check("RANDOM_SEEDED", &RANDOM_SEEDED, random_seeded);
    check("RANDOM_CALLER_RNG", &RANDOM_CALLER_RNG, |out| {
        random_caller_rng(&mut SplitMix(SEED), out)
    });
}

#[test]
fn least_conn() {
    check("LEAST_CONN", &LEAST_CONN, |out| {
        vectors::least_conn(None, out)
    });
    check("LEAST_CONN_CALLER_RNG", &LEAST_CONN_CALLER_RNG, |out| {
        vectors::least_conn(Some(&mut SplitMix(SEED)), out)
    });
}

#[test]
fn least_time() {
    check("LEAST_TIME", &LEAST_TIME, vectors::least_time);
}

#[test]
fn strategies_by_name() {
    check("BY_NAME", &BY_NAME, |out| by_name(out.try_into().unwrap()));
}

#[test]
fn p2c() {
    check("P2C", &P2C, |out| vectors::p2c(None, out));
    check("P2C_CALLER_RNG", &P2C_CALLER_RNG, |out| {
        vectors::p2c(Some(&mut SplitMix(SEED)), out)
    });
}

#[test]
fn peak_ewma() {
    check("PEAK_EWMA", &PEAK_EWMA, vectors::peak_ewma);
}

#[test]
fn p2c_three_choices() {
    check("P2C_THREE_CHOICES", &P2C_THREE_CHOICES, |out| {
        vectors::p2c_three_choices(None, out)
    });
}

#[test]
fn pick_first_order() {
    check(
        "PICK_FIRST_ORDER",
        &PICK_FIRST_ORDER,
        vectors::pick_first_order,
    );
}

/// Every strategy the crate knows by name has a row, and each row holds.
#[test]
fn every_strategy() {
    assert_eq!(
        Strategy::<N>::NAMES,
        &EVERY_NAME[..],
        "a strategy was added or renamed: add its row to EVERY_STRATEGY"
    );
    for (name, want) in EVERY_NAME.iter().zip(&EVERY_STRATEGY) {
        let mut got = [0u8; 12];
        vectors::every_strategy(name, &mut got).expect("the name parses");
        assert_eq!(
            &got, want,
            "EVERY_STRATEGY[{name}] changed: a breaking change"
        );
    }
}

/// `check_all`, the firmware's entry point, runs every vector and finds them all equal. On
/// a mismatch it prints every vector that changed, as it is now.
#[test]
fn check_all_agrees() {
    let mut ran = 0;
    let mut changed = Vec::new();
    let failed = check_all(&mut |vector, row, want, got| {
        ran += 1;
        if want != got {
            changed.push(format!("{vector} {row}: want {want:?}\n    got {got:?}"));
        }
    });
    assert!(changed.is_empty(), "changed:\n{}", changed.join("\n"));
    assert_eq!(failed, 0);
    assert_eq!(ran, 15 + EVERY_NAME.len());
}

/// The golden file's `SplitMix` is the tests' (`tests/support/splitmix.rs`), draw for draw.
#[test]
fn golden_splitmix_is_the_shared_one() {
    use tinylb::rand_core::Rng;
    let (mut a, mut b) = (SplitMix(SEED), crate::support::SplitMix(SEED));
    for _ in 0..100 {
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(a.next_u32(), b.next_u32());
    }
}

/// `hashing::check_all`, the firmware's check of the affinity vectors, agrees with them.
#[test]
fn hashing_check_all_agrees() {
    let mut ran = 0;
    let mut changed = Vec::new();
    let failed = hashing::check_all(&mut |vector, row, want, got| {
        ran += 1;
        if want != got {
            changed.push(format!("{vector} {row}: want {want:?}\n    got {got:?}"));
        }
    });
    assert!(changed.is_empty(), "changed:\n{}", changed.join("\n"));
    assert_eq!(failed, 0);
    assert_eq!(ran, hashing::HASHES.len() + 10);
}

/// `retry::check_all`, the retry sequences of every strategy, agrees with its vectors (on a
/// mismatch it prints every row as it is now).
#[test]
fn retry_sequences() {
    let mut changed = Vec::new();
    let mut ran = 0;
    let failed = retry::check_all(&mut |_, row, want, got| {
        ran += 1;
        if want != got {
            changed.push(format!("{row}: want {want:?}\n    got {got:?}"));
        }
    });
    assert!(changed.is_empty(), "RETRY changed:\n{}", changed.join("\n"));
    assert_eq!((failed, ran), (0, retry::NAMES.len()));
}

/// `levels::check_all`, every strategy's picks over the priority and locality pools, agrees
/// with its vectors (on a mismatch it prints every row as it is now, ready to paste).
#[test]
fn level_and_locality_picks() {
    let mut changed = Vec::new();
    let mut rows = std::collections::BTreeMap::<&str, Vec<String>>::new();
    let mut ran = 0;
    let failed = levels::check_all(&mut |vector, _, want, got| {
        ran += 1;
        rows.entry(vector)
            .or_default()
            .push(format!("    {got:?},"));
        if want != got {
            changed.push(vector);
        }
    });
    if !changed.is_empty() {
        for (v, r) in &rows {
            eprintln!("pub const {v}: [[u8; PICKS]; 13] = [\n{}\n];", r.join("\n"));
        }
    }
    assert!(changed.is_empty(), "changed: {changed:?}");
    assert_eq!((failed, ran), (0, 3 * levels::NAMES.len()));
}
