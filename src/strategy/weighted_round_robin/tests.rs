//! Unit tests of `weighted_round_robin.rs`.

extern crate std;
use super::*;
use std::vec::Vec;

fn nginx(weights: &[u32], picks: usize) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut cur = std::vec![0i64; weights.len()];
    let mut out = Vec::new();
    for _ in 0..picks {
        let mut best = 0;
        for i in 0..weights.len() {
            cur[i] += weights[i] as i64;
            if cur[i] > cur[best] {
                best = i;
            }
        }
        cur[best] -= total;
        out.push(best);
    }
    out
}

#[test]
fn fold_keeps_the_sequence() {
    let weights = [5u32, 1, 3, 2];
    let pool: Pool<4> = Pool::new();
    for &w in &weights {
        pool.add(w).unwrap();
    }
    let wrr = WeightedRoundRobin::<4>::new();
    let mut req = Request::new();
    let total: u32 = weights.iter().sum();
    let expect = nginx(&weights, 3 * total as usize);
    // first pick builds the schedule
    assert_eq!(wrr.select(&pool, &mut req).unwrap().index(), expect[0]);
    // jump ahead by whole periods so that the ticket sits just below the fold
    let periods = (FOLD_AT - 3) / total;
    wrr.tickets[0].fetch_add(periods * total, Ordering::Relaxed);
    for (c, &w) in wrr.picks.iter().zip(&weights) {
        c.fetch_add(periods * w, Ordering::Relaxed);
    }
    let got: Vec<usize> = (1..expect.len())
        .map(|_| wrr.select(&pool, &mut req).unwrap().index())
        .collect();
    assert_eq!(got, expect[1..]);
    assert!(wrr.tickets[0].load(Ordering::Relaxed) < FOLD_AT, "folded");
}

/// `picks` picks of `wrr` from `pool`, as slot indices.
fn run(wrr: &WeightedRoundRobin<4>, pool: &Pool<4>, picks: usize) -> Vec<usize> {
    let mut req = Request::new();
    (0..picks)
        .map(|_| wrr.select(pool, &mut req).unwrap().index())
        .collect()
}

#[test]
fn the_unmasked_scan_runs_only_while_every_slot_is_scheduled() {
    let weights = [5u32, 1, 3, 2];
    let pool: Pool<4> = Pool::new();
    let ids: Vec<_> = weights.iter().map(|&w| pool.add(w).unwrap()).collect();
    let wrr = WeightedRoundRobin::<4>::new();
    assert_eq!(run(&wrr, &pool, 22), nginx(&weights, 22));
    assert_eq!(wrr.dense.load(Ordering::Relaxed), 4, "every slot scheduled");
    // a hole: the masked scan, nginx's schedule over the other three (slot 2 is 0 there)
    pool.set_health(ids[1], crate::Health::Down).unwrap();
    let rest: Vec<usize> = nginx(&[5, 3, 2], 20)
        .into_iter()
        .map(|i| [0, 2, 3][i])
        .collect();
    assert_eq!(run(&wrr, &pool, 20), rest);
    assert_eq!(wrr.dense.load(Ordering::Relaxed), u32::MAX, "a hole");
    // back: unmasked again, from nginx's first step
    pool.set_health(ids[1], crate::Health::Up).unwrap();
    assert_eq!(run(&wrr, &pool, 22), nginx(&weights, 22));
    assert_eq!(wrr.dense.load(Ordering::Relaxed), 4);
}

/// A pick that sees the schedule's total but none of its weights (another thread is
/// rebuilding it, and its relaxed stores are not all visible yet: miri's weak memory found
/// this with two threads making their first picks) still takes an eligible backend.
#[test]
fn a_total_without_visible_weights_still_picks() {
    let pool = Pool::<4>::new();
    pool.add(3).unwrap();
    pool.add(1).unwrap();
    let wrr = WeightedRoundRobin::<4>::new();
    assert_eq!(run(&wrr, &pool, 1), [0]);
    // what a rebuild under way looks like: the dense flag cleared first, then the weights
    wrr.dense.store(u32::MAX, Ordering::Relaxed);
    for w in &wrr.weights {
        w.store(0, Ordering::Relaxed);
    }
    let got = run(&wrr, &pool, 4);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|&i| i < 2), "{got:?}");
}
