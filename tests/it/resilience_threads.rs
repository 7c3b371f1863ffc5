//! Threads against the ejection state machine and the latency estimate: `Lease::finish`
//! from 2 to 4 threads at once.
//!
//! **Why threads and not loom here.** The loom models (`tests/loom.rs`, `--cfg loom`)
//! explore every interleaving of *two* threads and a handful of operations. The races that
//! matter for ejection need more: several threads finishing failures on the same backend
//! while others finish failures on its neighbours, long enough streaks to cross `k`, and
//! pools large enough for a max-ejection share below 100 %. That state space is far beyond
//! loom's, so this file runs it for real: bounded (fixed rounds and operations, a few
//! seconds in debug on 2 cores), deterministic in *what* each thread does (seeded), with the
//! scheduler choosing the interleavings, in every plain `cargo test`, debug and `--release`.
//!
//! What it checks, over tens of thousands of rounds, each on a fresh pool:
//!
//! * **the ejection is never lost**: 2 to 4 threads finish failures on one backend of a pool
//!   of 2 to 8 (max-ejection share 100 %): at quiescence it is ejected exactly when it
//!   received at least `k` failures, and its streak counts every failure;
//! * **never ejected twice for one streak**: a watcher thread sampling `ejected_count` all
//!   along never sees more than the share allows (so never more than the number of
//!   backends), and at quiescence `ejected_count` equals the number of backends whose
//!   `info` says ejected;
//! * **the share holds and is used**: failures spread over every backend of pools of 4 to
//!   20, shares of 10 to 50 %: the watcher never sees more than `max(1, share × members)`
//!   ejected, at quiescence no backend with fewer than `k` failures is ejected, and exactly
//!   `min(due, share)` are, `due` being the backends with at least `k` failures (a losing
//!   racer holds no place in the share that would refuse another backend's ejection);
//! * **a first ejection lasts exactly `base`**: every backend ejected in a round is still
//!   out one millisecond before `NOW + base` and back at `NOW + base` (a losing racer does
//!   not overwrite the winner's deadline with a longer one);
//! * **the estimate stays within the samples**: 4 threads finishing successes with random
//!   latencies at disagreeing clocks (some behind others), while a watcher reads the stored
//!   estimate: it is always within `[smallest sample, largest sample]`.
//!
#![cfg(not(any(target_arch = "wasm32", loom, miri)))]
#![allow(clippy::indexing_slicing)]

use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;
use std::panic;
use std::sync::Barrier;
use std::thread;

use crate::support::SplitMix;
use tinylb::rand_core::Rng;
use tinylb::{BackendId, Config, Ejection, Lease, LeastConn, Outcome, Pool, Request, Select};

const N: usize = 20;
const THREADS: usize = 4;
/// The clock every failure is reported at (ms; odd).
const NOW_MS: u64 = 1_000_001;
const BASE_MS: u32 = 10_000;

/// One round: a pool, and what each thread does to it (backend indices to fail, in order).
struct Round {
    pool: Pool<N>,
    ids: Vec<BackendId>,
    k: u32,
    cap: u32,
    work: Vec<Vec<usize>>,
    failures: Vec<u32>,
}

/// `spread`: failures on every backend; else on one backend only (chosen at random).
fn round(
    rng: &mut SplitMix,
    threads: usize,
    members: usize,
    k: u32,
    share: u32,
    spread: bool,
) -> Round {
    let config = Config::new()
        .ejection(Ejection {
            consecutive_failures: k,
            base_ms: BASE_MS,
            max_ms: 10 * BASE_MS,
            max_ejection_percent: share,
            interval_ms: BASE_MS,
        })
        .panic_threshold_percent(0);
    let pool = Pool::with_config(config).unwrap();
    let ids: Vec<BackendId> = (0..members).map(|_| pool.add(1).unwrap()).collect();
    // failures per backend: around k, so that the k-th is often reached by racing threads
    let target = (rng.next_u64() % members as u64) as usize;
    let failures: Vec<u32> = (0..members)
        .map(|i| match rng.next_u64() % 4 {
            _ if !spread && i != target => 0,
            0 => k - 1,
            1 => k,
            2 => k + 1,
            _ => 2 * k,
        })
        .collect();
    let mut all: Vec<usize> = failures
        .iter()
        .enumerate()
        .flat_map(|(i, &f)| core::iter::repeat_n(i, f as usize))
        .collect();
    for i in (1..all.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    let mut work = vec![Vec::new(); THREADS];
    for (n, i) in all.into_iter().enumerate() {
        work[n % threads].push(i);
    }
    let cap = (share as usize * members / 100).max(1) as u32;
    Round {
        pool,
        ids,
        k,
        cap,
        work,
        failures,
    }
}

/// Runs every round with `THREADS` persistent workers and a watcher, and `check`s each round
/// once its workers are done.
fn run(rounds: &[Round], mut check: impl FnMut(&Round)) {
    let start = Barrier::new(THREADS + 1);
    let end = Barrier::new(THREADS + 1);
    let current = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let worst = AtomicU32::new(0);
    let over = AtomicU32::new(0);
    let mut failure = None;
    thread::scope(|s| {
        for t in 0..THREADS {
            let (start, end) = (&start, &end);
            s.spawn(move || {
                for r in rounds {
                    start.wait();
                    for &i in &r.work[t] {
                        let lease = Lease::acquire(&r.pool, r.ids[i]).expect("up");
                        lease.finish(
                            Outcome::failure_after(Duration::from_micros(50)).at_us(NOW_MS * 1000),
                        );
                    }
                    end.wait();
                }
            });
        }
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let r = &rounds[current.load(Ordering::Acquire)];
                let e = r.pool.ejected_count();
                worst.fetch_max(e, Ordering::Relaxed);
                if e > r.cap {
                    over.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for (n, r) in rounds.iter().enumerate() {
            current.store(n, Ordering::Release);
            start.wait();
            end.wait();
            // a failed check must not leave the workers waiting at the barrier
            if failure.is_none()
                && let Err(e) = panic::catch_unwind(AssertUnwindSafe(|| check(r)))
            {
                failure = Some((n, e));
            }
        }
        done.store(true, Ordering::Release);
    });
    if let Some((n, e)) = failure {
        eprintln!("round {n} failed");
        panic::resume_unwind(e);
    }
    assert_eq!(
        over.load(Ordering::Relaxed),
        0,
        "the watcher saw more ejected backends than the share allows"
    );
    assert!(worst.load(Ordering::Relaxed) > 0, "the watcher saw nothing");
}

/// Quiescent checks shared by both tests: the count matches the flags, never above the
/// share, every streak counts every failure, and every ejection is a first one (all back
/// exactly one base interval later). Returns who was ejected (before the check ended it).
fn settled(r: &Round) -> Vec<bool> {
    let ejected: Vec<bool> = r
        .ids
        .iter()
        .map(|&id| r.pool.info(id).unwrap().ejected)
        .collect();
    let count = ejected.iter().filter(|&&e| e).count() as u32;
    assert_eq!(r.pool.ejected_count(), count, "count and flags disagree");
    assert!(count <= r.cap, "{count} ejected, share allows {}", r.cap);
    for (i, &id) in r.ids.iter().enumerate() {
        assert_eq!(
            r.pool.info(id).unwrap().failure_streak,
            r.failures[i],
            "backend {i}: a failure was not counted"
        );
        assert!(
            !ejected[i] || r.failures[i] >= r.k,
            "backend {i} ejected early"
        );
    }
    // a full scan (least connections) ends every ejection whose time is up: none one
    // millisecond early, all of them at the first ejection's deadline
    let scan_at = |ms: u64| {
        LeastConn::new().select(&r.pool, &mut Request::new().with_now_us(ms * 1000));
        r.ids
            .iter()
            .map(|&id| r.pool.info(id).unwrap().ejected)
            .collect::<Vec<bool>>()
    };
    let deadline = NOW_MS + u64::from(BASE_MS);
    assert_eq!(
        scan_at(deadline - 1),
        ejected,
        "an ejection ended before its base interval"
    );
    assert_eq!(
        scan_at(deadline),
        vec![false; ejected.len()],
        "a first ejection lasted longer than its base interval"
    );
    assert_eq!(r.pool.ejected_count(), 0);
    ejected
}

#[test]
fn concurrent_failures_never_lose_or_double_an_ejection() {
    let mut rng = SplitMix(0x5eed);
    let rounds: Vec<Round> = (0..20_000usize)
        .map(|n| {
            let threads = 2 + n % 3;
            let members = 2 + n % 7;
            let k = 1 + (n / 3) as u32 % 6;
            round(&mut rng, threads, members, k, 100, false)
        })
        .collect();
    run(&rounds, |r| {
        let ejected = settled(r);
        for (i, &e) in ejected.iter().enumerate() {
            assert_eq!(
                e,
                r.failures[i] >= r.k,
                "backend {i}: {} failures, k = {}: ejection lost",
                r.failures[i],
                r.k
            );
        }
    });
}

#[test]
fn concurrent_failures_never_exceed_the_share() {
    let mut rng = SplitMix(0xfeed);
    let rounds: Vec<Round> = (0..20_000usize)
        .map(|n| {
            let threads = 2 + n % 3;
            let members = 4 + n % 17;
            let k = 1 + (n / 3) as u32 % 4;
            let share = [10, 25, 34, 50][n / 5 % 4];
            round(&mut rng, threads, members, k, share, true)
        })
        .collect();
    run(&rounds, |r| {
        let ejected = settled(r);
        // everyone who could have been ejected was, up to the share
        let due = r.failures.iter().filter(|&&f| f >= r.k).count() as u32;
        let count = ejected.iter().filter(|&&e| e).count() as u32;
        assert_eq!(
            count,
            due.min(r.cap),
            "{due} backends due, share allows {}: an ejection was refused with room",
            r.cap
        );
    });
}

#[test]
fn concurrent_latency_updates_stay_within_the_samples() {
    const SAMPLES: u64 = 20_000;
    for (lo, hi) in [(1u64, 1_000_000u64), (5_000, 5_100), (0, 3)] {
        let pool: Pool<N> = Pool::with_half_life_ms(50);
        let id = pool.add(1).unwrap();
        let done = AtomicBool::new(false);
        let bad = AtomicU32::new(0);
        let seen = AtomicU32::new(0);
        let go = Barrier::new(THREADS + 1);
        // a sample of 0 µs is stored as 1
        let (min, max) = (lo.max(1) as u32, hi.max(1) as u32);
        thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (pool, go) = (&pool, &go);
                    s.spawn(move || {
                        go.wait();
                        let mut rng = SplitMix(t as u64);
                        // each thread's own clock, starting apart and moving at its own pace,
                        // so updates arrive with clocks behind the last one stored
                        let mut now_ms = 1_000_000 + 997 * t as u64;
                        for _ in 0..SAMPLES {
                            now_ms += rng.next_u64() % (3 + t as u64);
                            let lat = lo + rng.next_u64() % (hi - lo + 1);
                            Lease::acquire(pool, id).unwrap().finish(
                                Outcome::success_after(Duration::from_micros(lat))
                                    .at_us(now_ms * 1000),
                            );
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                go.wait();
                loop {
                    let finished = done.load(Ordering::Acquire);
                    if let Some(e) = pool.info(id).unwrap().latency_us {
                        seen.fetch_add(1, Ordering::Relaxed);
                        if !(min..=max).contains(&e) {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if finished {
                        break;
                    }
                }
            });
            for w in workers {
                w.join().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        let e = pool.info(id).unwrap().latency_us.unwrap();
        assert!(
            (min..=max).contains(&e),
            "final estimate {e} outside [{min}, {max}]"
        );
        assert_eq!(
            bad.load(Ordering::Relaxed),
            0,
            "estimate left [{min}, {max}]"
        );
        assert!(seen.load(Ordering::Relaxed) > 0);
        assert_eq!(pool.in_flight_at(id.index()), 0);
    }
}
