//! Per-backend totals for a status page: `BackendInfo::{requests, successes, failures,
//! abandoned, ejections}` and the decayed latency of `Pool::info_at`.
//!
//! * after any sequence of leases and outcomes, the totals are a model's counts, and
//!   `requests = successes + failures + abandoned`;
//! * under two threads, no count is lost, and a reader never sees a total go backwards;
//! * a slot reused for a new backend starts at zero; a removed backend's late leases count
//!   nothing;
//! * `info_at` decays the estimate, `info` does not.
//!
//! Wrapping at `u32::MAX` is a unit test beside the counting (`src/lease/report.rs`): four
//! billion leases are too many for a test run.

#![allow(clippy::indexing_slicing)]

use core::time::Duration;

use proptest::prelude::*;

use crate::support;
use tinylb::{Config, Ejection, Lease, Outcome, Pool};

fn outcome(success: bool, now_us: u64) -> Outcome {
    let lat = Duration::from_micros(500);
    if success {
        Outcome::success_after(lat).at_us(now_us)
    } else {
        Outcome::failure_after(lat).at_us(now_us)
    }
}

/// Ejection after 2 failures in a row, for 1 s, any share.
fn two_strikes() -> Config {
    Config::new().ejection(Ejection {
        consecutive_failures: 2,
        base_ms: 1_000,
        max_ms: 1_000,
        max_ejection_percent: 100,
        ..Ejection::ENVOY
    })
}

/// How one lease ends in the property.
#[derive(Debug, Clone, Copy)]
enum End {
    Finish(bool),
    ReportThenDrop(bool),
    Drop,
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        any::<bool>().prop_map(End::Finish),
        any::<bool>().prop_map(End::ReportThenDrop),
        Just(End::Drop),
    ]
}

proptest! {
    #![proptest_config(support::config(256))]

    /// Leases on three backends, each ended one way, the clock moving 100 ms a lease (so
    /// ejections end and start again): each backend's totals are the model's counts, and
    /// an ejection is counted each time the model's streak reaches 2 while not ejected.
    #[test]
    fn totals_follow_the_model(
        leases in prop::collection::vec((0..3usize, end()), 1..120),
    ) {
        let pool: Pool<4> = Pool::with_config(two_strikes()).unwrap();
        let ids = [pool.add(1).unwrap(), pool.add(1).unwrap(), pool.add(1).unwrap()];
        // per backend: successes, failures, abandoned, streak, ejections, ejected until (ms)
        let mut m = [(0u32, 0u32, 0u32, 0u32, 0u32, None::<u64>); 3];
        for (k, (b, e)) in leases.into_iter().enumerate() {
            let now_ms = 100 * k as u64;
            let now = now_ms * 1_000;
            // a pick's look ends an expired ejection (lazily), as `is_eligible` does
            let _ = pool.is_eligible(b, now);
            if m[b].5.is_some_and(|until| now_ms >= until) {
                m[b].5 = None;
                m[b].3 = 0; // a return from ejection starts a new streak
            }
            let mut l = Lease::acquire(&pool, ids[b]).unwrap();
            let counted = match e {
                End::Finish(s) => {
                    l.finish(outcome(s, now));
                    Some(s)
                }
                End::ReportThenDrop(s) => {
                    l.report(outcome(s, now));
                    drop(l);
                    Some(s)
                }
                End::Drop => {
                    drop(l);
                    None
                }
            };
            match counted {
                Some(true) => (m[b].0 += 1, m[b].3 = 0),
                Some(false) => (m[b].1 += 1, m[b].3 += 1),
                None => (m[b].2 += 1, ()),
            };
            if counted == Some(false) && m[b].3 >= 2 && m[b].5.is_none() {
                m[b].4 += 1;
                m[b].5 = Some(now_ms + 1_000);
            }
            for j in 0..3 {
                let i = pool.info(ids[j]).unwrap();
                prop_assert_eq!(
                    (i.successes, i.failures, i.abandoned, i.ejections),
                    (m[j].0, m[j].1, m[j].2, m[j].4),
                    "backend {}", j
                );
                prop_assert_eq!(i.requests, m[j].0 + m[j].1 + m[j].2);
                prop_assert_eq!(i.ejected, m[j].5.is_some());
            }
        }
    }
}

#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn totals_balance_under_two_threads() {
    const PER_THREAD: u32 = 20_000;
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    let done = core::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let pool = &pool;
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        let mut l = Lease::acquire(pool, a).unwrap();
                        let now = u64::from(i) * 1_000;
                        match (i + t) % 4 {
                            0 => l.finish(outcome(true, now)),
                            1 => l.finish(outcome(false, now)),
                            2 => {
                                l.report(outcome(i % 8 < 4, now));
                                l.record_latency(Duration::from_micros(100), now);
                            }
                            _ => drop(l),
                        }
                    }
                })
            })
            .collect();
        // a status page reading meanwhile: no total ever goes backwards
        let reader = s.spawn(|| {
            let mut last = pool.info(a).unwrap();
            let mut reads = 0u32;
            while !done.load(core::sync::atomic::Ordering::Acquire) || reads == 0 {
                let now = pool.info(a).unwrap();
                for (new, old) in [
                    (now.successes, last.successes),
                    (now.failures, last.failures),
                    (now.abandoned, last.abandoned),
                ] {
                    assert!(new >= old, "a total went backwards: {old} -> {new}");
                }
                last = now;
                reads += 1;
            }
        });
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, core::sync::atomic::Ordering::Release);
        reader.join().unwrap();
    });
    let i = pool.info(a).unwrap();
    // per thread and residue r = (i + t) % 4: r = 0 success, 1 failure, 2 a report (half
    // successes, half failures: i % 8 < 4 splits each residue class evenly), 3 abandoned
    let quarter = 2 * PER_THREAD / 4;
    assert_eq!(i.in_flight, 0);
    assert_eq!(i.successes, quarter + quarter / 2);
    assert_eq!(i.failures, quarter + quarter / 2);
    assert_eq!(i.abandoned, quarter);
    assert_eq!(i.requests, 2 * PER_THREAD);
    assert_eq!(i.requests, i.successes + i.failures + i.abandoned);
}

#[test]
fn a_reused_slot_starts_at_zero() {
    let pool: Pool<1> = Pool::with_config(two_strikes()).unwrap();
    let a = pool.add(1).unwrap();
    for k in 0..3u64 {
        Lease::acquire(&pool, a)
            .unwrap()
            .finish(outcome(false, k * 1_000));
    }
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(outcome(true, 10_000));
    drop(Lease::acquire(&pool, a).unwrap());
    let late = Lease::acquire(&pool, a).unwrap();
    let i = pool.info(a).unwrap();
    assert_eq!(
        (
            i.requests,
            i.successes,
            i.failures,
            i.abandoned,
            i.ejections
        ),
        (5, 1, 3, 1, 1)
    );
    pool.remove(a).unwrap();
    // the removed backend's last lease ends after the removal: it counts nowhere
    late.finish(outcome(false, 20_000));
    let b = pool.add(1).unwrap();
    assert_eq!(b.index(), a.index());
    let i = pool.info(b).unwrap();
    assert_eq!(
        (
            i.requests,
            i.successes,
            i.failures,
            i.abandoned,
            i.ejections
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(
        (i.latency_us, i.failure_streak, i.ejected),
        (None, 0, false)
    );
}

#[test]
fn info_at_decays_the_estimate_and_info_does_not() {
    let pool: Pool<1> = Pool::with_half_life_ms(1_000);
    let a = pool.add(1).unwrap();
    assert_eq!(pool.info_at(a, 0).unwrap().latency_us, None);
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(64_000)).at_us(10_000_000));
    let at = |now_us| pool.info_at(a, now_us).unwrap().latency_us;
    assert_eq!(at(10_000_000), Some(64_000), "no time passed");
    assert_eq!(
        at(5_000_000),
        Some(64_000),
        "a clock going backwards is no time"
    );
    assert_eq!(at(11_000_000), Some(32_000), "one half-life");
    assert_eq!(at(13_000_000), Some(8_000), "three");
    assert_eq!(pool.info(a).unwrap().latency_us, Some(64_000));
    // everything but the estimate is what `info` reads
    let later = pool.info_at(a, 13_000_000).unwrap();
    assert_eq!(
        tinylb::BackendInfo {
            latency_us: Some(64_000),
            ..later
        },
        pool.info(a).unwrap()
    );
}
