//! gRPC's `pick_first` with a weighted shuffle ([`PickFirst`], `pick_first`): a seeded,
//! weighted order of the backends, and every pick the first eligible one in it.
//!
//! * **the order is a permutation**: read off the strategy itself, each backend excluded in
//!   turn once picked ([`Request::excluding`]), it holds every backend once;
//! * **the model**: with that order, random health, caps held full, and exclusion sets, every
//!   pick is the first backend of the order that is up, has room and is not excluded (`None`
//!   when there is none); so the pick stays on one backend while it is eligible, moves to
//!   the next when it is not, and comes back when it is again;
//! * **weighted**: over seeds, the first backend of the order is backend `i` with
//!   probability `w_i / Σw` (chi-square), and the second, given the first, is drawn by
//!   weight among the rest;
//! * the order depends on the configured weight only: shares (and so slow start, which
//!   scales the same effective weight) do not reorder it;
//! * the order of a seed is pinned (the same on every target: no `usize` in the hash).

#![allow(clippy::indexing_slicing)]

use crate::support::{chi_square, chi_square_critical};
use core::num::NonZeroU32;
use proptest::prelude::*;
use tinylb::{BackendId, FULL_SHARE, Health, Lease, PickFirst, Pool, Request, Select, Tried};

const N: usize = 12;

/// The order of `lb` over `pool` as its picks show it: pick, exclude, pick again.
fn order_of(lb: &PickFirst, pool: &Pool<N>) -> Vec<BackendId> {
    let mut tried = Tried::<N>::new();
    let mut order = Vec::new();
    while let Some(id) = lb.select(pool, &mut Request::new().excluding(&tried)) {
        assert!(tried.insert(id), "{id:?} picked twice");
        order.push(id);
    }
    order
}

fn pool_of(weights: &[u32]) -> (Pool<N>, Vec<BackendId>) {
    let pool = Pool::new();
    let ids = weights.iter().map(|&w| pool.add(w).unwrap()).collect();
    (pool, ids)
}

/// How a backend is out in a test state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Up,
    Down,
    Draining,
    Full,
    Excluded,
}

fn state() -> impl Strategy<Value = State> {
    prop_oneof![
        4 => Just(State::Up),
        1 => Just(State::Down),
        1 => Just(State::Draining),
        1 => Just(State::Full),
        1 => Just(State::Excluded),
    ]
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Read off the picks, the order holds every backend once; under random states the pick
    /// is the first eligible, not excluded backend of that order, and the same at every
    /// pick while nothing changes.
    #[test]
    fn the_first_eligible_in_the_order(
        weights in prop::collection::vec(1u32..=50, 1..=N),
        seed in any::<u64>(),
        states in prop::collection::vec(prop::collection::vec(state(), N), 1..6),
    ) {
        let (pool, ids) = pool_of(&weights);
        let lb = PickFirst::with_seed(seed);
        let order = order_of(&lb, &pool);
        let mut sorted = order.clone();
        sorted.sort_by_key(|id| id.index());
        prop_assert_eq!(&sorted, &ids, "not a permutation");
        for round in states {
            let mut tried = Tried::<N>::new();
            let mut held = Vec::new();
            for (i, &id) in ids.iter().enumerate() {
                let s = round[i];
                let health = match s {
                    State::Down => Health::Down,
                    State::Draining => Health::Draining,
                    _ => Health::Up,
                };
                pool.set_health(id, health).unwrap();
                pool.set_cap(id, NonZeroU32::new(if s == State::Full { 1 } else { 0 })).unwrap();
                if s == State::Full {
                    held.push(Lease::acquire(&pool, id).unwrap());
                }
                if s == State::Excluded {
                    tried.insert(id);
                }
            }
            let eligible = |id: &BackendId| matches!(round[id.index()], State::Up);
            let want = order.iter().copied().find(eligible);
            for _ in 0..3 {
                prop_assert_eq!(lb.select(&pool, &mut Request::new().excluding(&tried)), want);
            }
            // without the exclusion the excluded ones are back in their places
            let want = order
                .iter()
                .copied()
                .find(|id| matches!(round[id.index()], State::Up | State::Excluded));
            prop_assert_eq!(lb.select(&pool, &mut Request::new()), want);
        }
    }

    /// Shares scale the effective weight (as slow start does); the order keeps to the
    /// configured weights, so it does not move.
    #[test]
    fn shares_do_not_reorder(
        weights in prop::collection::vec(1u32..=50, 2..=N),
        shares in prop::collection::vec(1u32..=FULL_SHARE, N),
        seed in any::<u64>(),
    ) {
        let (pool, ids) = pool_of(&weights);
        let lb = PickFirst::with_seed(seed);
        let before = order_of(&lb, &pool);
        for (i, &id) in ids.iter().enumerate() {
            pool.set_share(id, shares[i]).unwrap();
        }
        prop_assert_eq!(order_of(&lb, &pool), before);
    }
}

/// Sticky while eligible, the next in the order when not, back when eligible again.
#[test]
fn sticks_moves_on_and_comes_back() {
    let (pool, _) = pool_of(&[3, 1, 4, 1, 5]);
    let lb = PickFirst::with_seed(99);
    let order = order_of(&lb, &pool);
    let pick = || lb.select(&pool, &mut Request::new()).unwrap();
    assert!((0..100).all(|_| pick() == order[0]));
    pool.set_health(order[0], Health::Down).unwrap();
    assert!((0..100).all(|_| pick() == order[1]));
    pool.set_health(order[1], Health::Down).unwrap();
    assert_eq!(pick(), order[2]);
    pool.set_health(order[0], Health::Up).unwrap();
    assert_eq!(pick(), order[0]);
}

/// Over 30,000 seeds the first backend of the order is backend `i` with probability
/// `w_i / Σw`; given that backend 4 (the heaviest) is first, the second is drawn by weight
/// among the others. Both within a chi-square bound.
#[test]
fn the_order_is_weighted() {
    let weights = [1u32, 2, 3, 5, 8, 13];
    let (pool, ids) = pool_of(&weights);
    let heaviest = ids[5];
    let mut first = [0u64; 6];
    let mut second = [0u64; 6];
    for seed in 0..30_000u64 {
        let lb = PickFirst::with_seed(seed);
        let a = lb.select(&pool, &mut Request::new()).unwrap();
        first[a.index()] += 1;
        if a == heaviest {
            let mut tried = Tried::<N>::new();
            tried.insert(a);
            let b = lb
                .select(&pool, &mut Request::new().excluding(&tried))
                .unwrap();
            second[b.index()] += 1;
        }
    }
    let total: u32 = weights.iter().sum();
    let probs: Vec<f64> = weights.iter().map(|&w| w as f64 / total as f64).collect();
    let x = chi_square(&first, &probs);
    assert!(
        x < chi_square_critical(5),
        "first: chi-square {x}, {first:?}"
    );
    let rest = (total - 13) as f64;
    let probs: Vec<f64> = weights[..5]
        .iter()
        .map(|&w| w as f64 / rest)
        .chain([0.0])
        .collect();
    let x = chi_square(&second, &probs);
    assert!(
        x < chi_square_critical(4),
        "second: chi-square {x}, {second:?}"
    );
}

/// The order of seed 42 over the golden pool's weights, pinned: `PickFirst` hashes `u64`
/// seeds and `u32` slot indices only, so this is the order on every target.
#[test]
fn the_order_of_a_seed_is_pinned() {
    let (pool, _) = pool_of(&[3, 1, 4, 1, 5, 9, 2, 6]);
    let got: Vec<usize> = order_of(&PickFirst::with_seed(42), &pool)
        .iter()
        .map(|id| id.index())
        .collect();
    assert_eq!(got, [1, 7, 6, 5, 0, 4, 2, 3]);
    let got: Vec<usize> = order_of(&PickFirst::new(), &pool)
        .iter()
        .map(|id| id.index())
        .collect();
    assert_eq!(got, [5, 7, 2, 0, 4, 3, 6, 1]);
    assert_eq!(PickFirst::new(), PickFirst::with_seed(0));
    assert_eq!(PickFirst::default(), PickFirst::new());
}
