//! [`AliasRandom`], weighted random from an alias table: random's row of DESIGN.md's strategy
//! table, and the argument its docs make for exact shares when the table's weights and the
//! effective ones differ. Never an ineligible backend, `None` exactly when nothing is
//! eligible; shares within a chi-square bound for even, uneven and very uneven weights, with
//! ineligible slots, with slow start (effective weights below the table's: the thinned
//! draws), with a share set, in the backup tier, and excluding backends; the same seed gives
//! the same sequence, pinned by a short vector. The table's own law is checked exactly, by
//! enumerating its columns, in the unit tests of `src/strategy/alias.rs`.

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

use crate::support::{Spec, SplitMix, build_pool, chi_square, chi_square_critical, spec_strategy};
use proptest::prelude::*;
use tinylb::{
    AliasRandom, Config, FULL_SHARE, Health, MAX_WEIGHT, Pool, Request, Select, SlowStart, Tried,
};

const N: usize = 16;
/// The clock of every pick: slow start's windows then start, and stay, at this instant.
const NOW_US: u64 = 5_000_000;

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Every pick is eligible; `None` exactly when nothing is, with a caller RNG and with the
    /// seeded stream, also after a weight change (a rebuild) between picks.
    #[test]
    fn never_ineligible(
        specs in prop::collection::vec(spec_strategy(1000), 1..=N),
        seed in any::<u64>(),
        reweigh in any::<prop::sample::Index>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let _held = build_pool(&pool, &specs);
        let any_eligible = specs.iter().any(|s| s.eligible());
        let s = AliasRandom::<N>::with_seed(seed);
        let mut rng = SplitMix(seed);
        for k in 0..100 {
            if k == 50 {
                let id = pool.ids().nth(reweigh.index(specs.len())).unwrap();
                pool.set_weight(id, specs[id.index()].weight()).unwrap();
            }
            let got = if k % 2 == 0 {
                s.select(&pool, &mut Request::new())
            } else {
                s.select(&pool, &mut Request::new().with_rng(&mut rng))
            };
            match got {
                Some(id) => prop_assert!(specs[id.index()].eligible(), "picked {:?}", specs[id.index()]),
                None => prop_assert!(!any_eligible, "None with an eligible backend: {:?}", specs),
            }
        }
    }
}

/// Counts `picks` picks of a fresh `AliasRandom` seeded `seed` on `pool`, through `req`.
fn count(
    pool: &Pool<N>,
    seed: u64,
    use_rng: bool,
    picks: usize,
    tried: Option<&Tried<N>>,
) -> Vec<u64> {
    let s = AliasRandom::<N>::with_seed(seed);
    let mut rng = SplitMix(seed);
    let mut counts = vec![0u64; pool.capacity()];
    for _ in 0..picks {
        let mut req = Request::new().with_now_us(NOW_US);
        if use_rng {
            req = req.with_rng(&mut rng);
        }
        if let Some(t) = tried {
            req = req.excluding(t);
        }
        counts[s.select(pool, &mut req).expect("eligible").index()] += 1;
    }
    counts
}

/// Chi-square at significance 10^-4 (seeded: the outcome is fixed) of `counts` against
/// `weights` (0 for slots that must never be picked).
fn assert_shares(counts: &[u64], weights: &[u32], what: &str) {
    let mut probs = vec![0.0; counts.len()];
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    for (p, &w) in probs.iter_mut().zip(weights) {
        *p = w as f64 / total;
    }
    let df = weights.iter().filter(|&&w| w > 0).count() - 1;
    let x = chi_square(counts, &probs);
    if df == 0 {
        assert_eq!(x, 0.0, "{what}");
        return;
    }
    let crit = chi_square_critical(df);
    assert!(
        x < crit,
        "{what}: counts {counts:?}, chi² {x:.1} ≥ {crit:.1}"
    );
}

/// Shares of a pool built from `specs`, for three seeds, with a caller RNG and without.
fn check_shares(specs: &[Spec], picks: usize) {
    let weights: Vec<u32> = specs.iter().map(|s| s.eligible_weight()).collect();
    for seed in [3u64, 4, 0x1234_5678_9abc] {
        for use_rng in [false, true] {
            let pool: Pool<N> = Pool::new();
            let _held = build_pool(&pool, specs);
            let counts = count(&pool, seed, use_rng, picks, None);
            assert_shares(
                &counts[..specs.len()],
                &weights,
                &format!("{specs:?} seed {seed} rng {use_rng}"),
            );
        }
    }
}

#[test]
fn shares_even_uneven_and_very_uneven() {
    check_shares(&[Spec::Up(1); 8], 20_000);
    check_shares(&[1, 2, 3, 4, 5, 6, 7, 8].map(Spec::Up), 30_000);
    check_shares(&[1000, 1, 1, 1, 1, 1, 1, 1].map(Spec::Up), 40_000);
    check_shares(&[MAX_WEIGHT, 1, 1000, 1].map(Spec::Up), 40_000);
    check_shares(&[Spec::Up(5)], 1_000);
}

/// Ineligible slots: their draws from the table fall back to the exact sampler.
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
    // the heavy backend at its cap: most table draws fall back
    check_shares(&[Spec::AtCap(1000, 1), Spec::Up(1), Spec::Up(3)], 20_000);
}

/// Slow start: every backend is at the floor of its ramp (25 %), so its effective weight is
/// below the table's for the heavy ones (thinned) and equal for the light ones (weight 1
/// stays 1). Falling back instead of thinning would give the light ones about 25 % more than
/// their share here, far past the bound.
#[test]
fn shares_during_slow_start() {
    let ss = SlowStart {
        window_ms: 60_000,
        aggression: 1,
        min_weight_percent: 25,
    };
    for seed in [1u64, 2] {
        for use_rng in [false, true] {
            let pool: Pool<N> = Pool::with_config(Config::new().slow_start(ss)).unwrap();
            for w in [1000, 1, 1, 100] {
                pool.add(w).unwrap();
            }
            let counts = count(&pool, seed, use_rng, 200_000, None);
            // 1000 · 25 % = 250, 100 · 25 % = 25, and 1 stays 1
            assert_shares(&counts[..4], &[250, 1, 1, 25], "slow start");
        }
    }
}

/// A share lowers the table's weight with the effective one (both are `w · share`).
#[test]
fn shares_with_a_share_set() {
    let pool: Pool<N> = Pool::new();
    let ids: Vec<_> = [1000, 1, 3].iter().map(|&w| pool.add(w).unwrap()).collect();
    pool.set_share(ids[0], FULL_SHARE / 100).unwrap(); // 1000 · 655 / 65536 = 9
    let counts = count(&pool, 5, true, 20_000, None);
    assert_shares(&counts[..3], &[9, 1, 3], "share");
}

/// The backup tier: the table holds both tiers, the view only the backups.
#[test]
fn shares_in_the_backup_tier() {
    let pool: Pool<N> = Pool::new();
    let ids: Vec<_> = [1000, 500, 1, 2, 5]
        .iter()
        .map(|&w| pool.add(w).unwrap())
        .collect();
    for &b in &ids[2..] {
        pool.set_backup(b, true).unwrap();
    }
    for &p in &ids[..2] {
        pool.set_health(p, Health::Down).unwrap();
    }
    let counts = count(&pool, 6, false, 20_000, None);
    assert_shares(&counts[..5], &[0, 0, 1, 2, 5], "backup tier");
}

/// Excluding backends (a retry): the rest keep exact shares.
#[test]
fn shares_excluding_backends() {
    let pool: Pool<N> = Pool::new();
    let ids: Vec<_> = [1000, 1, 2, 4]
        .iter()
        .map(|&w| pool.add(w).unwrap())
        .collect();
    let mut tried = Tried::<N>::new();
    tried.insert(ids[0]);
    tried.insert(ids[2]);
    let counts = count(&pool, 7, true, 20_000, Some(&tried));
    assert_shares(&counts[..4], &[0, 1, 0, 4], "excluding");
}

/// After a weight change the next pick rebuilds: shares follow the new weights.
#[test]
fn shares_follow_a_weight_change() {
    let pool: Pool<N> = Pool::new();
    let ids: Vec<_> = [1000, 1, 1].iter().map(|&w| pool.add(w).unwrap()).collect();
    let s = AliasRandom::<N>::with_seed(8);
    s.select(&pool, &mut Request::new()).unwrap();
    pool.set_weight(ids[0], 1).unwrap();
    pool.set_weight(ids[2], 6).unwrap();
    let mut counts = vec![0u64; 3];
    for _ in 0..20_000 {
        counts[s.select(&pool, &mut Request::new()).unwrap().index()] += 1;
    }
    assert_shares(&counts, &[1, 1, 6], "after set_weight");
}

/// The same seed gives the same sequence; a short vector pins it (the picks are part of the
/// contract: a change here is a breaking change for the CHANGELOG).
#[test]
fn same_seed_same_sequence() {
    let seq = |seed: u64| -> Vec<usize> {
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
        let s = AliasRandom::<N>::with_seed(seed);
        (0..500)
            .map(|_| s.select(&pool, &mut Request::new()).unwrap().index())
            .collect()
    };
    assert_eq!(seq(42), seq(42));
    assert_ne!(seq(42), seq(43));
    // the pinned vector, on a pool where every backend gets picks
    let pool: Pool<N> = Pool::new();
    let _held = build_pool(
        &pool,
        &[3, 1, 4, 1, 5, 9]
            .map(Spec::Up)
            .into_iter()
            .chain([Spec::Down(2)])
            .collect::<Vec<_>>(),
    );
    let s = AliasRandom::<N>::with_seed(42);
    let head: Vec<usize> = (0..24)
        .map(|_| s.select(&pool, &mut Request::new()).unwrap().index())
        .collect();
    assert_eq!(head, GOLDEN_42, "AliasRandom's picks for seed 42 changed");
}

const GOLDEN_42: [usize; 24] = [
    5, 2, 4, 0, 0, 0, 2, 1, 4, 0, 2, 3, 2, 5, 2, 0, 2, 5, 5, 1, 2, 4, 1, 0,
];

/// Nothing eligible: `None`, also with a caller RNG.
#[test]
fn none_when_nothing_eligible() {
    let s = AliasRandom::<N>::new();
    let pool: Pool<N> = Pool::new();
    assert_eq!(s.select(&pool, &mut Request::new()), None);
    let _held = build_pool(&pool, &[Spec::Down(4), Spec::Zero, Spec::AtCap(1, 1)]);
    let mut rng = SplitMix(1);
    for _ in 0..10 {
        assert_eq!(s.select(&pool, &mut Request::new()), None);
        assert_eq!(
            s.select(&pool, &mut Request::new().with_rng(&mut rng)),
            None
        );
    }
}
