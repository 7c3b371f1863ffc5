//! Least connections' properties (DESIGN.md, strategy table): it picks a minimiser of
//! `in_flight / weight` (checked by cross-multiplication), breaks ties fairly (each tied
//! backend equally often by a chi-square bound, also when the ties are not at the lowest
//! indices; and pick for pick the reference model of counting the ties and drawing once,
//! [`model_tie`], in pools smaller and larger than the tie mask), is deterministic for a
//! seed, returns `None` exactly when nothing is eligible and never an ineligible backend.

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

use crate::support::{
    Spec, SplitMix, build_pool, chi_square, chi_square_critical, model_tie, spec_strategy,
};
use proptest::prelude::*;
use tinylb::{Lease, LeastConn, Pool, Request, Select, SelectExt};

const N: usize = 16;

/// `true` if backend `i` has the lowest `in_flight / weight` among the eligible ones.
fn is_minimiser(pool: &Pool<N>, i: usize) -> bool {
    let load = |j: usize| {
        let info = pool.info(pool.id_at(j).unwrap()).unwrap();
        (info.in_flight as u64, info.weight as u64)
    };
    let (fi, wi) = load(i);
    (0..N).filter(|&j| pool.is_eligible(j, 0)).all(|j| {
        let (fj, wj) = load(j);
        fi * wj <= fj * wi
    })
}

/// Holds `loads[i]` leases on each eligible backend `i` (as many as its cap allows).
fn hold<'p>(pool: &'p Pool<N>, loads: &[u32]) -> Vec<Lease<&'p Pool<N>, N>> {
    let mut held = Vec::new();
    for (i, &l) in loads.iter().enumerate() {
        let Some(id) = pool.id_at(i) else { continue };
        for _ in 0..l {
            if let Some(lease) = Lease::acquire(pool, id) {
                held.push(lease);
            }
        }
    }
    held
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// With random loads (held leases), weights and every kind of ineligible backend, every
    /// pick is eligible and minimises `in_flight / weight`; `None` exactly when nothing is
    /// eligible. Then picks that take and keep leases (and some that are dropped again)
    /// still pick a minimiser at every step, with the strategy's stream and with a caller RNG.
    #[test]
    fn picks_a_minimiser(
        specs in prop::collection::vec(spec_strategy(6), 1..=N),
        loads in prop::collection::vec(0u32..6, N),
        seed in any::<u64>(),
        ops in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let pool: Pool<N> = Pool::new();
        let _capped = build_pool(&pool, &specs);
        let mut held = hold(&pool, &loads);
        let lc = LeastConn::with_seed(seed);
        let any_eligible = (0..N).any(|i| pool.is_eligible(i, 0));
        let mut rng = SplitMix(seed);
        for k in 0..20 {
            let mut plain = Request::new();
            let mut with_rng = Request::new().with_rng(&mut rng);
            let req = if k % 2 == 0 { &mut plain } else { &mut with_rng };
            match lc.select(&pool, req) {
                Some(id) => {
                    prop_assert!(pool.is_eligible(id.index(), 0));
                    prop_assert!(specs[id.index()].eligible());
                    prop_assert!(is_minimiser(&pool, id.index()), "picked {} not a minimiser", id.index());
                }
                None => prop_assert!(!any_eligible),
            }
        }
        for op in ops {
            if op % 4 == 0 && !held.is_empty() {
                held.swap_remove(op as usize % held.len());
                continue;
            }
            let mut req = Request::new().with_rng(&mut rng);
            let Some(id) = lc.select(&pool, &mut req) else {
                prop_assert!((0..N).all(|i| !pool.is_eligible(i, 0)));
                continue;
            };
            prop_assert!(is_minimiser(&pool, id.index()));
            held.push(Lease::acquire(&pool, id).expect("eligible"));
        }
    }
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// With random weights, loads (many ties: loads 0 to 2, weights 1 to 4) and ineligible
    /// backends, every pick with a caller RNG is exactly the reference model's: the tied
    /// minimisers in slot order, none drawn for a single one, else one Lemire draw among them
    /// ([`model_tie`]); the RNG is left exactly where the model leaves it (one draw per pick
    /// with ties, none without).
    #[test]
    fn ties_follow_the_model(
        specs in prop::collection::vec(spec_strategy(4), 1..=N),
        loads in prop::collection::vec(0u32..3, N),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let _capped = build_pool(&pool, &specs);
        let _held = hold(&pool, &loads);
        let tied: Vec<usize> = (0..N)
            .filter(|&i| pool.is_eligible(i, 0) && is_minimiser(&pool, i))
            .collect();
        let lc = LeastConn::with_seed(seed);
        let mut rng = SplitMix(seed);
        let mut model = rng.clone();
        for _ in 0..16 {
            let got = lc.select(&pool, &mut Request::new().with_rng(&mut rng));
            prop_assert_eq!(got.map(|id| id.index()), model_tie(&tied, &mut model));
            prop_assert_eq!(rng.0, model.0, "the pick drew other than one word per tie-break");
        }
    }
}

/// A pool larger than the tie mask (256 slots): ties below it, past it, and only past it
/// are each taken exactly as the reference model takes them (the ties past the mask are
/// found again by a second scan), and every tied backend is picked.
#[test]
fn ties_past_the_mask_follow_the_model() {
    const BIG: usize = 300;
    let pool: Pool<BIG> = Pool::new();
    for _ in 0..BIG {
        pool.add(1).unwrap();
    }
    // busy: every slot but a few below the mask; then every slot below the mask
    for busy in [
        (0..256).filter(|i| i % 50 != 7).collect::<Vec<_>>(),
        (0..256).collect(),
        vec![],
    ] {
        let _held: Vec<_> = busy
            .iter()
            .map(|&i| Lease::acquire(&pool, pool.id_at(i).unwrap()).unwrap())
            .collect();
        let tied: Vec<usize> = (0..BIG).filter(|i| !busy.contains(i)).collect();
        let lc = LeastConn::with_seed(3);
        let mut rng = SplitMix(11);
        let mut model = rng.clone();
        let mut seen = vec![false; BIG];
        for _ in 0..4000 {
            let got = lc.select(&pool, &mut Request::new().with_rng(&mut rng));
            let got = got.map(|id| id.index());
            assert_eq!(got, model_tie(&tied, &mut model), "{} busy", busy.len());
            seen[got.unwrap()] = true;
        }
        assert!(
            tied.iter().all(|&i| seen[i]),
            "a tied backend was never picked"
        );
    }
}

/// Picks `picks` times without changing the loads and checks that the backends in `tied`
/// (and no other) share the picks evenly: chi-square against the uniform split, at
/// significance 10^-4. Both with the strategy's seeded stream and with a caller RNG.
fn check_fair(weights: &[u32], loads: &[u32], tied: &[usize], picks: usize) {
    for seed in [1u64, 2, 0xdead_beef] {
        for use_rng in [false, true] {
            let pool: Pool<N> = Pool::new();
            for &w in weights {
                pool.add(w).unwrap();
            }
            let _held = hold(&pool, loads);
            let lc = LeastConn::with_seed(seed);
            let mut rng = SplitMix(seed);
            let mut counts = vec![0u64; weights.len()];
            for _ in 0..picks {
                let id = if use_rng {
                    lc.select(&pool, &mut Request::new().with_rng(&mut rng))
                } else {
                    lc.select(&pool, &mut Request::new())
                };
                counts[id.unwrap().index()] += 1;
            }
            let probs: Vec<f64> = (0..weights.len())
                .map(|i| {
                    if tied.contains(&i) {
                        1.0 / tied.len() as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let x = chi_square(&counts, &probs);
            let crit = chi_square_critical(tied.len() - 1);
            assert!(
                x < crit,
                "weights {weights:?} loads {loads:?} seed {seed} rng {use_rng}: counts {counts:?}, chi² {x:.1} ≥ {crit:.1}"
            );
        }
    }
}

/// Idle equal backends: each of them equally often, not always slot 0.
#[test]
fn ties_fair_when_idle() {
    check_fair(&[1, 1], &[0, 0], &[0, 1], 20_000);
    check_fair(&[1, 1, 1, 1], &[0; 4], &[0, 1, 2, 3], 20_000);
    check_fair(&[5; 7], &[0; 7], &[0, 1, 2, 3, 4, 5, 6], 30_000);
}

/// Ties away from the lowest index, with busier backends in between.
#[test]
fn ties_fair_not_at_lowest_index() {
    check_fair(&[1; 8], &[3, 0, 2, 0, 5, 0, 1, 0], &[1, 3, 5, 7], 20_000);
    check_fair(&[1; 6], &[1, 1, 1, 1, 0, 0], &[4, 5], 20_000);
    check_fair(&[2, 1, 1, 1, 1], &[3, 2, 1, 2, 1], &[2, 4], 20_000);
}

/// Ties of the ratio, not of the count: `2/2 = 1/1 = 4/4` tie, `6/3` does not.
#[test]
fn ties_fair_by_ratio() {
    check_fair(&[2, 1, 4, 3], &[2, 1, 4, 6], &[0, 1, 2], 20_000);
}

/// A lighter backend wins outright, whatever the tie-break stream says.
#[test]
fn strict_minimiser_always_wins() {
    let pool: Pool<N> = Pool::new();
    for w in [1, 1, 3, 1] {
        pool.add(w).unwrap();
    }
    // ratios 1, 2, 2/3, 1: backend 2
    let _held = hold(&pool, &[1, 2, 2, 1]);
    let lc = LeastConn::with_seed(9);
    for _ in 0..1000 {
        assert_eq!(lc.select(&pool, &mut Request::new()).unwrap().index(), 2);
    }
}

/// The same seed gives the same picks (with the strategy's stream and with a caller RNG),
/// and different seeds break ties differently.
#[test]
fn deterministic_for_a_seed() {
    let seq = |seed: u64, use_rng: bool| -> Vec<usize> {
        let pool: Pool<N> = Pool::new();
        for _ in 0..6 {
            pool.add(1).unwrap();
        }
        let lc = LeastConn::with_seed(seed);
        let mut rng = SplitMix(seed);
        let mut held = Vec::new();
        (0..200)
            .map(|k| {
                if k % 3 == 2 {
                    held.remove(0);
                }
                let mut req = if use_rng {
                    Request::new().with_rng(&mut rng)
                } else {
                    Request::new()
                };
                let lease = lc.lease(&pool, &mut req).unwrap();
                let i = lease.index();
                held.push(lease);
                i
            })
            .collect()
    };
    for use_rng in [false, true] {
        assert_eq!(seq(5, use_rng), seq(5, use_rng));
        assert_ne!(seq(5, use_rng), seq(6, use_rng));
    }
}

/// Nothing eligible (empty, all down, all at cap, all weight 0): `None`.
#[test]
fn none_when_nothing_eligible() {
    let lc = LeastConn::new();
    let pool: Pool<N> = Pool::new();
    assert_eq!(lc.select(&pool, &mut Request::new()), None);
    let _held = build_pool(
        &pool,
        &[
            Spec::Down(1),
            Spec::AtCap(2, 2),
            Spec::Zero,
            Spec::Draining(3),
        ],
    );
    assert_eq!(lc.select(&pool, &mut Request::new()), None);
    assert!(lc.lease(&pool, &mut Request::new()).is_none());
}
