//! One strategy per worker over one shared pool (Envoy runs one load balancer per worker
//! thread): strategy state lives in the strategy, pool state in the pool, so instances that
//! share a pool do not share a written word but the chosen backend's own line. What each
//! instance promises is what it promises alone; these tests hold them to it.

use core::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use proptest::prelude::*;
use tinylb::{
    BackendId, Pool, PowerOfTwo, Request, RoundRobin, Select, SelectExt, WeightedRoundRobin,
};

use crate::support::{self, nginx_swrr};

const N: usize = 16;

fn pool_of(weights: &[u32]) -> (Pool<N>, Vec<BackendId>) {
    let pool = Pool::<N>::new();
    let ids = weights.iter().map(|&w| pool.add(w).unwrap()).collect();
    (pool, ids)
}

fn solo<S: Select<N>>(s: &S, pool: &Pool<N>, picks: usize) -> Vec<usize> {
    (0..picks)
        .map(|_| s.select(pool, &mut Request::new()).unwrap().index())
        .collect()
}

proptest! {
    #![proptest_config(support::config(64))]

    /// Workers' picks interleaved in any order: each worker's own sequence is the one it
    /// makes alone (nothing one instance does moves another's schedule), and a worker seeded
    /// 0 makes nginx's sequence.
    #[test]
    fn interleaved_workers_each_keep_their_own_wrr_sequence(
        weights in prop::collection::vec(1u32..=6, 1..=8),
        workers in 1usize..=4,
        order in prop::collection::vec(0usize..4, 0..160),
    ) {
        let (pool, _) = pool_of(&weights);
        let order: Vec<usize> = order.into_iter().map(|w| w % workers).collect();
        let mut want = Vec::new();
        for w in 0..workers {
            let alone = WeightedRoundRobin::<N>::with_seed(w as u64);
            let k = order.iter().filter(|&&x| x == w).count();
            want.push(solo(&alone, &pool, k));
        }
        let shared: Vec<_> = (0..workers)
            .map(|w| WeightedRoundRobin::<N>::with_seed(w as u64))
            .collect();
        let mut got = vec![Vec::new(); workers];
        for &w in &order {
            let id = shared[w].select(&pool, &mut Request::new()).unwrap();
            got[w].push(id.index());
        }
        prop_assert_eq!(&got, &want);
        let zero = &got[0];
        prop_assert_eq!(zero, &nginx_swrr(&weights, zero.len()));
    }

    /// Round robin workers started one apart never pick the same backend at the same step
    /// while there are at least as many backends as workers: they do not move in lockstep.
    #[test]
    fn round_robin_workers_started_apart_are_never_in_lockstep(
        backends in 1usize..=N,
        workers in 1usize..=4,
        steps in 1usize..64,
    ) {
        prop_assume!(workers <= backends);
        let (pool, _) = pool_of(&vec![1; backends]);
        let rr: Vec<_> = (0..workers).map(|w| RoundRobin::with_seed(w as u64)).collect();
        for _ in 0..steps {
            let mut at_step: Vec<usize> = rr
                .iter()
                .map(|r| r.select(&pool, &mut Request::new()).unwrap().index())
                .collect();
            at_step.sort_unstable();
            at_step.dedup();
            prop_assert_eq!(at_step.len(), workers);
        }
    }
}

/// Threads, each with its own WRR: each thread's picks are its solo sequence exactly, so
/// every backend gets exactly its weight per period of every worker (a shared instance only
/// promises that within a pick or two).
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn threads_with_their_own_wrr_split_whole_periods_exactly() {
    let weights = [5, 3, 1, 1, 2];
    let total: u32 = weights.iter().sum();
    let periods = 40;
    let picks = (periods * total) as usize;
    let (pool, _) = pool_of(&weights);
    let workers = 4u64;
    let runs: Vec<Vec<usize>> = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let pool = &pool;
                s.spawn(move || solo(&WeightedRoundRobin::<N>::with_seed(w), pool, picks))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (w, run) in runs.iter().enumerate() {
        let alone = solo(&WeightedRoundRobin::<N>::with_seed(w as u64), &pool, picks);
        assert_eq!(run, &alone, "worker {w}");
        for (i, &wt) in weights.iter().enumerate() {
            let got = run.iter().filter(|&&x| x == i).count() as u32;
            assert_eq!(got, periods * wt, "worker {w}, backend {i}");
        }
    }
}

/// Threads, each with its own P2C and no caller RNG, leasing, holding a few and dropping:
/// every in-flight count comes back to 0 and every lease is counted once.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn threads_with_their_own_p2c_balance_their_leases() {
    let (pool, ids) = pool_of(&[1, 2, 3, 4, 1, 2, 3, 4]);
    let leased = AtomicU64::new(0);
    let workers = 4u64;
    let rounds = 2_000;
    thread::scope(|s| {
        for w in 0..workers {
            let (pool, leased) = (&pool, &leased);
            s.spawn(move || {
                let p2c = PowerOfTwo::with_seed(w);
                let mut held = Vec::new();
                for k in 0..rounds {
                    let lease = p2c.lease(pool, &mut Request::new()).unwrap();
                    leased.fetch_add(1, Ordering::Relaxed);
                    if k % 3 == 0 {
                        held.push(lease);
                    }
                    if held.len() > 4 {
                        held.clear();
                    }
                }
            });
        }
    });
    let mut abandoned = 0;
    for id in ids {
        let info = pool.info(id).unwrap();
        assert_eq!(info.in_flight, 0);
        abandoned += u64::from(info.abandoned);
    }
    assert_eq!(abandoned, leased.load(Ordering::Relaxed));
    assert_eq!(abandoned, workers * rounds);
}
