//! Weighted random's properties (DESIGN.md, strategy table): never an ineligible backend and
//! `None` exactly when nothing is eligible; shares proportional to the eligible weights within
//! a chi-square bound, both with a caller RNG and with the strategy's seeded stream, for even,
//! uneven and very uneven weights (the last force the exact O(n) fallback) and with ineligible
//! slots in between; the same seed gives the same sequence.

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

use crate::support::{Spec, SplitMix, build_pool, chi_square, chi_square_critical, spec_strategy};
use proptest::prelude::*;
use tinylb::{Health, MAX_WEIGHT, Pool, Random, Request, Select};

const N: usize = 16;

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Every pick is eligible; `None` exactly when nothing is (with every kind of ineligible
    /// backend), with a caller RNG and with the seeded stream.
    #[test]
    fn never_ineligible(
        specs in prop::collection::vec(spec_strategy(1000), 1..=N),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let _held = build_pool(&pool, &specs);
        let any_eligible = specs.iter().any(|s| s.eligible());
        let random = Random::with_seed(seed);
        let mut rng = SplitMix(seed);
        for k in 0..100 {
            let got = if k % 2 == 0 {
                random.select(&pool, &mut Request::new())
            } else {
                random.select(&pool, &mut Request::new().with_rng(&mut rng))
            };
            match got {
                Some(id) => prop_assert!(specs[id.index()].eligible(), "picked {:?}", specs[id.index()]),
                None => prop_assert!(!any_eligible, "None with an eligible backend: {:?}", specs),
            }
        }
    }
}

/// Draws `picks` times and checks the shares against the eligible weights with a chi-square
/// test at significance 10^-4 (seeded, so the outcome is fixed), for a caller RNG and the
/// strategy's own stream, each with three seeds.
fn check_shares(specs: &[Spec], picks: usize) {
    let weights: Vec<u32> = specs.iter().map(|s| s.eligible_weight()).collect();
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let probs: Vec<f64> = weights.iter().map(|&w| w as f64 / total).collect();
    let df = weights.iter().filter(|&&w| w > 0).count() - 1;
    for seed in [3u64, 4, 0x1234_5678_9abc] {
        for use_rng in [false, true] {
            let pool: Pool<N> = Pool::new();
            let _held = build_pool(&pool, specs);
            let random = Random::with_seed(seed);
            let mut rng = SplitMix(seed);
            let mut counts = vec![0u64; specs.len()];
            for _ in 0..picks {
                let id = if use_rng {
                    random.select(&pool, &mut Request::new().with_rng(&mut rng))
                } else {
                    random.select(&pool, &mut Request::new())
                };
                counts[id.expect("eligible").index()] += 1;
            }
            if df == 0 {
                assert_eq!(chi_square(&counts, &probs), 0.0);
                continue;
            }
            let x = chi_square(&counts, &probs);
            let crit = chi_square_critical(df);
            assert!(
                x < crit,
                "{specs:?} seed {seed} rng {use_rng}: counts {counts:?}, chi² {x:.1} ≥ {crit:.1}"
            );
        }
    }
}

/// Equal and moderately uneven weights (the O(1) rejection path).
#[test]
fn shares_even_and_uneven() {
    check_shares(&[Spec::Up(1); 8], 20_000);
    check_shares(&[1, 2, 3, 4, 5, 6, 7, 8].map(Spec::Up), 30_000);
    check_shares(&[Spec::Up(7), Spec::Up(3)], 20_000);
}

/// Very uneven weights: most rejection rounds fail, so many picks go through the exact
/// fallback; the mixture of the two paths must still be exact.
#[test]
fn shares_very_uneven() {
    check_shares(&[1000, 1, 1, 1].map(Spec::Up), 40_000);
    check_shares(&[MAX_WEIGHT, 1, 1000, 1].map(Spec::Up), 40_000);
    check_shares(
        &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 500].map(Spec::Up),
        40_000,
    );
}

/// Ineligible slots (down, draining, weight 0, at cap) between the eligible ones.
#[test]
fn shares_with_ineligible_slots() {
    check_shares(
        &[
            Spec::Down(5),
            Spec::Up(2),
            Spec::Zero,
            Spec::Up(1),
            Spec::AtCap(9, 2),
            Spec::Draining(3),
            Spec::Up(4),
            Spec::Down(1),
        ],
        30_000,
    );
    // twelve of thirteen slots out: the rejection path almost never hits, the fallback decides
    let mut specs = vec![Spec::Down(10); 12];
    specs.insert(7, Spec::Up(3));
    check_shares(&specs, 5_000);
    specs.insert(2, Spec::Up(1));
    check_shares(&specs, 20_000);
}

/// The heaviest weight ever set stays the pool's bound after it is lowered or marked down, so
/// the fast path accepts light backends with tiny probability: the fallback keeps the shares
/// exact.
#[test]
fn shares_after_the_heaviest_leaves() {
    let pool: Pool<N> = Pool::new();
    let heavy = pool.add(MAX_WEIGHT).unwrap();
    for w in [1, 2, 3] {
        pool.add(w).unwrap();
    }
    pool.set_health(heavy, Health::Down).unwrap();
    let random = Random::with_seed(11);
    let mut counts = vec![0u64; 4];
    for _ in 0..30_000 {
        counts[random.select(&pool, &mut Request::new()).unwrap().index()] += 1;
    }
    let x = chi_square(&counts, &[0.0, 1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]);
    assert!(x < chi_square_critical(2), "{counts:?} chi² {x:.1}");
}

/// The same seed gives the same sequence (stream and caller RNG), different seeds differ.
#[test]
fn same_seed_same_sequence() {
    let seq = |seed: u64, use_rng: bool| -> Vec<usize> {
        let pool: Pool<N> = Pool::new();
        let _held = build_pool(
            &pool,
            &[
                Spec::Up(3),
                Spec::Down(2),
                Spec::Up(1),
                Spec::Up(500),
                Spec::Up(4),
            ],
        );
        let random = Random::with_seed(seed);
        let mut rng = SplitMix(seed);
        (0..500)
            .map(|_| {
                let mut req = if use_rng {
                    Request::new().with_rng(&mut rng)
                } else {
                    Request::new()
                };
                random.select(&pool, &mut req).unwrap().index()
            })
            .collect()
    };
    for use_rng in [false, true] {
        assert_eq!(seq(42, use_rng), seq(42, use_rng));
        assert_ne!(seq(42, use_rng), seq(43, use_rng));
    }
}

/// Nothing eligible: `None`, also with a caller RNG.
#[test]
fn none_when_nothing_eligible() {
    let random = Random::new();
    let pool: Pool<N> = Pool::new();
    assert_eq!(random.select(&pool, &mut Request::new()), None);
    let _held = build_pool(&pool, &[Spec::Down(4), Spec::Zero, Spec::AtCap(1, 1)]);
    let mut rng = SplitMix(1);
    for _ in 0..10 {
        assert_eq!(random.select(&pool, &mut Request::new()), None);
        assert_eq!(
            random.select(&pool, &mut Request::new().with_rng(&mut rng)),
            None
        );
    }
}
