//! Exclusion (`Request::excluding`, `Tried`), against reference models: no strategy returns
//! an excluded backend; each keeps its own guarantee over the rest; a retry loop visits
//! every eligible backend once and then says `Excluded`.
#![allow(clippy::indexing_slicing)]

use proptest::prelude::*;

use crate::support::{self, Spec, SplitMix, build_pool, chi_square, chi_square_critical};
use tinylb::{NoBackend, Pool, Request, Select, SelectExt, Strategy, Tried, WeightedRoundRobin};

const NAMES: &[&str] = Strategy::<16>::NAMES;

proptest! {
    #![proptest_config(support::config(64))]

    /// Every strategy, on pools with every kind of ineligible backend and a random
    /// excluded set: the pick is eligible and not excluded, and it is `None` exactly when
    /// every eligible backend is excluded.
    #[test]
    fn never_an_excluded_backend(
        specs in prop::collection::vec(support::spec_strategy(5), 1..12),
        mask in any::<u16>(),
        seed in any::<u64>(),
    ) {
        for &name in NAMES {
            let pool: Pool<16> = Pool::new();
            let _held = build_pool(&pool, &specs);
            let ids: Vec<_> = pool.ids().collect();
            let mut tried = Tried::<16>::new();
            for (i, id) in ids.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    tried.insert(*id);
                }
            }
            let left = specs
                .iter()
                .enumerate()
                .filter(|(i, s)| s.eligible() && mask & (1 << i) == 0)
                .count();
            let s: Strategy<16> = Strategy::from_name(name, seed).unwrap();
            let mut rng = SplitMix(seed);
            for k in 0..20u64 {
                let mut req = Request::new()
                    .with_key(rng.next())
                    .with_now_us(k)
                    .excluding(&tried);
                match s.select(&pool, &mut req) {
                    Some(id) => {
                        prop_assert!(left > 0, "{name}: picked {id:?} with nothing left");
                        prop_assert!(!tried.contains(id), "{name}: excluded {id:?}");
                        prop_assert!(specs[id.index()].eligible(), "{name}: {id:?}");
                    }
                    None => {
                        prop_assert_eq!(left, 0, "{}: nothing picked", name);
                        let why = s.try_select(&pool, &mut req).unwrap_err();
                        // up backends, whether or not at their caps
                        let up = |i: usize| matches!(specs[i], Spec::Up(_) | Spec::AtCap(..));
                        let expect = if (0..specs.len()).any(|i| up(i) && mask & (1 << i) == 0) {
                            NoBackend::Saturated
                        } else if (0..specs.len()).any(up) {
                            NoBackend::Excluded
                        } else {
                            NoBackend::Unavailable
                        };
                        prop_assert_eq!(why, expect, "{}", name);
                    }
                }
            }
        }
    }

    /// A retry loop (`lease_untried`) gets every eligible backend exactly once, then
    /// `Excluded`, for every strategy.
    #[test]
    fn a_retry_loop_visits_every_backend_once(
        specs in prop::collection::vec(support::spec_strategy(5), 1..10),
        seed in any::<u64>(),
    ) {
        let eligible = specs.iter().filter(|s| s.eligible()).count();
        for &name in NAMES {
            let pool: Pool<16> = Pool::new();
            let _held = build_pool(&pool, &specs);
            let s: Strategy<16> = Strategy::from_name(name, seed).unwrap();
            let mut tried = Tried::new();
            let mut req = Request::new().with_key(seed);
            let mut leases = Vec::new();
            let end = loop {
                match s.lease_untried(&pool, &mut req, &mut tried) {
                    Ok(l) => leases.push(l),
                    Err(e) => break e,
                }
                prop_assert!(leases.len() <= eligible, "{}", name);
            };
            prop_assert_eq!(leases.len(), eligible, "{}", name);
            prop_assert_eq!(tried.len(), eligible);
            // what is left: at-cap backends (saturated), or nothing but what was tried
            let capped = specs.iter().any(|s| matches!(s, Spec::AtCap(..)));
            let expect = match (capped, eligible > 0) {
                (true, _) => NoBackend::Saturated,
                (false, true) => NoBackend::Excluded,
                (false, false) => NoBackend::Unavailable,
            };
            prop_assert_eq!(end, expect, "{}", name);
            let mut seen: Vec<usize> = leases.iter().map(|l| l.index()).collect();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), eligible, "{}", name);
        }
    }

    /// Smooth WRR with the same set excluded on every pick is nginx's schedule over the
    /// backends that are left: exact periods over the non-excluded.
    #[test]
    fn wrr_schedules_over_the_rest(
        weights in prop::collection::vec(1u32..=6, 2..8),
        mask in any::<u8>(),
    ) {
        let n = weights.len();
        let mask = mask & ((1u16 << n) - 1) as u8;
        prop_assume!(mask.count_ones() < n as u32);
        let pool: Pool<8> = Pool::new();
        let ids: Vec<_> = weights.iter().map(|&w| pool.add(w).unwrap()).collect();
        let mut tried = Tried::<8>::new();
        for (i, id) in ids.iter().enumerate() {
            if mask & (1 << i) != 0 {
                tried.insert(*id);
            }
        }
        let rest: Vec<usize> = (0..n).filter(|i| mask & (1 << i) == 0).collect();
        let rest_w: Vec<u32> = rest.iter().map(|&i| weights[i]).collect();
        let total: u32 = rest_w.iter().sum();
        let expect: Vec<usize> = support::nginx_swrr(&rest_w, 3 * total as usize)
            .into_iter()
            .map(|k| rest[k])
            .collect();
        let wrr = WeightedRoundRobin::<8>::new();
        let got: Vec<usize> = (0..expect.len())
            .map(|_| {
                let mut req = Request::new().excluding(&tried);
                wrr.select(&pool, &mut req).unwrap().index()
            })
            .collect();
        prop_assert_eq!(got, expect);
    }
}

/// An excluded backend keeps its WRR credit: after a retry skipped it, it is the next
/// plain pick, and every whole period still gives each backend its weight.
#[test]
fn wrr_exclusion_costs_the_excluded_backend_nothing() {
    let weights = [5u32, 1, 3, 2];
    let pool: Pool<4> = Pool::new();
    let ids: Vec<_> = weights.iter().map(|&w| pool.add(w).unwrap()).collect();
    let wrr = WeightedRoundRobin::<4>::new();
    let mut counts = [0u32; 4];
    let total: u32 = weights.iter().sum();
    for _ in 0..10 * total {
        let id = wrr.select(&pool, &mut Request::new()).unwrap();
        counts[id.index()] += 1;
        if id == ids[0] {
            // the request to the heavy one failed: one retry elsewhere, not counted here
            let mut tried = Tried::<4>::new();
            tried.insert(id);
            let retry = wrr
                .select(&pool, &mut Request::new().excluding(&tried))
                .unwrap();
            assert_ne!(retry, id);
        }
    }
    // the heavy backend still got its share of the first attempts
    assert!(counts[0] >= 10 * weights[0] - 2, "{counts:?}");
}

/// Hash strategies retry a key onto its *next* choice: deterministic for the key and the
/// excluded set, and spread over the remaining backends (not onto one neighbour).
#[test]
fn hash_retries_are_deterministic_and_spread() {
    const N: usize = 8;
    for name in ["maglev", "rendezvous", "jump", "bounded_load"] {
        let pool: Pool<N> = Pool::new();
        let ids: Vec<_> = (0..N).map(|_| pool.add(1).unwrap()).collect();
        let s: Strategy<N> = Strategy::from_name(name, 3).unwrap();
        let mut counts = [0u64; N];
        let mut rng = SplitMix(11);
        let mut keys = 0;
        while keys < 8_000 {
            let key = rng.next();
            let first = s.select(&pool, &mut Request::new().with_key(key)).unwrap();
            if first != ids[0] {
                continue;
            }
            keys += 1;
            let mut tried = Tried::<N>::new();
            tried.insert(first);
            let retry = |_| {
                s.select(&pool, &mut Request::new().with_key(key).excluding(&tried))
                    .unwrap()
            };
            let a = retry(());
            assert_eq!(
                a,
                retry(()),
                "{name}: a retry of the same key is deterministic"
            );
            assert_ne!(a, first);
            counts[a.index()] += 1;
        }
        let probs: Vec<f64> = (0..N)
            .map(|i| if i == 0 { 0.0 } else { 1.0 / 7.0 })
            .collect();
        let x = chi_square(&counts, &probs);
        assert!(
            x < chi_square_critical(N - 2),
            "{name}: {counts:?} chi2 {x}"
        );
    }
}

/// Random and P2C draw among the non-excluded in proportion to their weights.
#[test]
fn sampled_strategies_keep_their_weights_over_the_rest() {
    let weights = [4u32, 1, 2, 3, 2];
    for name in ["random", "p2c", "peak_ewma", "least_conn", "round_robin"] {
        let pool: Pool<8> = Pool::new();
        let ids: Vec<_> = weights.iter().map(|&w| pool.add(w).unwrap()).collect();
        let s: Strategy<8> = Strategy::from_name(name, 5).unwrap();
        let mut tried = Tried::<8>::new();
        tried.insert(ids[0]);
        let mut counts = [0u64; 5];
        for _ in 0..20_000 {
            let id = s
                .select(&pool, &mut Request::new().excluding(&tried))
                .unwrap();
            counts[id.index()] += 1;
        }
        assert_eq!(counts[0], 0, "{name}");
        if name == "random" {
            let probs = [0.0, 1.0 / 8.0, 2.0 / 8.0, 3.0 / 8.0, 2.0 / 8.0];
            let x = chi_square(&counts, &probs);
            assert!(x < chi_square_critical(3), "{name}: {counts:?} chi2 {x}");
        } else if name == "round_robin" {
            // every ticket is drawn once: the four left share equally within one
            let (lo, hi) = (counts[1..].iter().min(), counts[1..].iter().max());
            assert!(hi.unwrap() - lo.unwrap() <= 2_000 / 4, "{name}: {counts:?}");
        } else if name == "peak_ewma" {
            // idle and unsampled: the lowest (in_flight + 1) / weight of the two draws wins,
            // so the heaviest backend left wins most and the lightest never
            assert!(
                counts[3] > counts[2] && counts[1] == 0,
                "{name}: {counts:?}"
            );
        } else {
            assert!(counts[1..].iter().all(|&c| c > 0), "{name}: {counts:?}");
        }
    }
}

/// A backend removed and its slot reused by a new one is not excluded by the old id.
#[test]
fn a_reused_slot_is_not_excluded() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    let mut tried = Tried::<2>::new();
    tried.insert(a);
    pool.remove(a).unwrap();
    let b = pool.add(1).unwrap();
    assert_eq!(b.index(), a.index());
    let got = tinylb::RoundRobin::new().select(&pool, &mut Request::new().excluding(&tried));
    assert_eq!(got, Some(b));
}
