//! Rate-based outlier detection (`OutlierDetector`, gRPC A50's two detectors) against a
//! floating-point reference model written from the proposal: the pool ejects exactly the
//! backends the model ejects, on random interval statistics.

#![allow(clippy::indexing_slicing)]

use core::time::Duration;

use proptest::prelude::*;

use crate::support;
use tinylb::{
    Config, Ejection, FailurePercentage, Lease, Outcome, OutlierDetector, Pool, RateDetection,
    SuccessRate,
};

const S: u64 = 1_000_000;

/// Rate detectors only: the failure streak never ejects, every backend may be ejected.
fn config(max_percent: u32) -> Config {
    Config::new()
        .ejection(Ejection {
            consecutive_failures: u32::MAX,
            interval_ms: 10_000,
            max_ejection_percent: max_percent,
            ..Ejection::ENVOY
        })
        .panic_threshold_percent(0)
}

/// A pool whose backend `i` finished `stats[i] = (successes, failures)` leases at `at_us`.
fn pool_with(
    stats: &[(u32, u32)],
    max_percent: u32,
    at_us: u64,
) -> (Pool<16>, Vec<tinylb::BackendId>) {
    let pool = Pool::with_config(config(max_percent)).unwrap();
    let ids: Vec<_> = stats.iter().map(|_| pool.add(1).unwrap()).collect();
    for (&id, &(ok, failed)) in ids.iter().zip(stats) {
        for k in 0..ok + failed {
            let lease = Lease::acquire(&pool, id).unwrap();
            let d = Duration::from_micros(100);
            lease.finish(if k < ok {
                Outcome::success_after(d).at_us(at_us)
            } else {
                Outcome::failure_after(d).at_us(at_us)
            });
        }
    }
    (pool, ids)
}

/// A50's two algorithms, as the proposal states them, over one interval's statistics:
/// `(surely ejected, maybe ejected)`: a backend whose success rate is within the fixed
/// point's rounding (5 ppm) of the threshold may go either way.
fn model(stats: &[(u32, u32)], sr: SuccessRate, fp: FailurePercentage) -> (Vec<bool>, Vec<bool>) {
    let n = stats.len();
    let (mut sure, mut maybe) = (vec![false; n], vec![false; n]);
    let volume = |i: usize| (stats[i].0 + stats[i].1) as f64;
    let judged: Vec<usize> = (0..n)
        .filter(|&i| volume(i) >= sr.request_volume as f64 && volume(i) > 0.0)
        .collect();
    if judged.len() >= sr.minimum_hosts as usize && !judged.is_empty() {
        let rate = |i: usize| stats[i].0 as f64 / volume(i);
        let mean = judged.iter().map(|&i| rate(i)).sum::<f64>() / judged.len() as f64;
        let var = judged
            .iter()
            .map(|&i| (rate(i) - mean).powi(2))
            .sum::<f64>()
            / judged.len() as f64;
        let threshold = mean - var.sqrt() * sr.stdev_factor as f64 / 1000.0;
        for &i in &judged {
            let r = rate(i);
            if (r - threshold).abs() < 5e-6 {
                maybe[i] = true;
            } else if r < threshold {
                sure[i] = true;
            }
        }
    }
    if n >= fp.minimum_hosts as usize {
        for i in 0..n {
            let v = volume(i);
            if v >= fp.request_volume as f64
                && stats[i].1 as f64 * 100.0 > fp.threshold_percent as f64 * v
            {
                sure[i] = true;
            }
        }
    }
    (sure, maybe)
}

fn host() -> impl proptest::strategy::Strategy<Value = (u32, u32)> {
    prop_oneof![
        3 => (80u32..200, 0u32..10),   // healthy
        1 => (0u32..120, 0u32..120),   // anything
        1 => (0u32..20, 40u32..150),   // failing
    ]
}

proptest! {
    #![proptest_config(support::config(48))]

    /// The pool ejects exactly the backends the model ejects.
    #[test]
    fn ejects_what_the_model_ejects(
        stats in prop::collection::vec(host(), 1..12),
        min_hosts in 1u32..7,
        volume in 1u32..120,
    ) {
        let sr = SuccessRate { minimum_hosts: min_hosts, request_volume: volume, ..SuccessRate::DEFAULT };
        let fp = FailurePercentage { minimum_hosts: min_hosts, request_volume: volume, ..FailurePercentage::DEFAULT };
        let cfg = RateDetection { success_rate: Some(sr), failure_percentage: Some(fp) };
        let (pool, ids) = pool_with(&stats, 100, S);
        let det = OutlierDetector::<16>::new(cfg, 1).unwrap();
        let ev = det.evaluate(&pool, 2 * S).unwrap();
        let (sure, maybe) = model(&stats, sr, fp);
        let mut ejected = 0;
        for (i, &id) in ids.iter().enumerate() {
            let got = pool.info(id).unwrap().ejected;
            ejected += got as u32;
            if !maybe[i] {
                prop_assert_eq!(got, sure[i], "backend {} of {:?}: {:?}", i, stats, ev);
            }
        }
        prop_assert_eq!(ejected, ev.by_success_rate + ev.by_failure_percentage);
        let total: u64 = stats.iter().map(|&(a, b)| (a + b) as u64).sum();
        prop_assert_eq!(ev.requests, total);
    }
}

#[test]
fn one_interval_at_a_time_and_counts_per_interval() {
    let stats = [(100, 0); 5];
    let (pool, ids) = pool_with(&stats, 100, S);
    let det = OutlierDetector::<16>::new(RateDetection::DEFAULT, 1).unwrap();
    assert_eq!(det.evaluate(&pool, 20 * S).unwrap().requests, 500);
    assert!(det.evaluate(&pool, 25 * S).is_none(), "inside the interval");
    assert!(
        det.evaluate(&pool, 10 * S).is_none(),
        "backwards is no time"
    );
    // the next interval: backend 0 fails everything, the others succeed
    for (i, &id) in ids.iter().enumerate() {
        for _ in 0..100 {
            let lease = Lease::acquire(&pool, id).unwrap();
            let d = Duration::from_micros(100);
            lease.finish(if i == 0 {
                Outcome::failure_after(d).at_us(21 * S)
            } else {
                Outcome::success_after(d).at_us(21 * S)
            });
        }
    }
    let ev = det.evaluate(&pool, 30 * S).unwrap();
    assert_eq!(ev.requests, 500, "only this interval's outcomes");
    assert!(pool.info(ids[0]).unwrap().ejected);
    assert_eq!(ev.by_success_rate, 1, "{ev:?}");
    assert!((1..5).all(|i| !pool.info(ids[i]).unwrap().ejected));
}

#[test]
fn enforcement_and_the_max_share() {
    let stats = [(100, 0), (100, 0), (100, 0), (100, 0), (0, 100), (0, 100)];
    let cfg = RateDetection {
        success_rate: None,
        ..RateDetection::DEFAULT
    };
    // no ejection policy in the pool: nothing to eject with, so nothing runs
    let plain: Pool<16> = Pool::new();
    assert!(
        OutlierDetector::<16>::new(cfg, 1)
            .unwrap()
            .evaluate(&plain, S)
            .is_none()
    );
    // 20 % of six backends: one
    let (pool, ids) = pool_with(&stats, 20, S);
    let det = OutlierDetector::<16>::new(cfg, 1).unwrap();
    let ev = det.evaluate(&pool, 2 * S).unwrap();
    assert_eq!(ev.by_failure_percentage, 1);
    assert!(
        pool.info(ids[4]).unwrap().ejected,
        "slot order: the first outlier"
    );
    // enforcement 0: detected, never ejected
    let off = RateDetection {
        success_rate: None,
        failure_percentage: Some(FailurePercentage {
            enforcement_percent: 0,
            ..FailurePercentage::DEFAULT
        }),
    };
    let (pool, _) = pool_with(&stats, 100, S);
    let det = OutlierDetector::<16>::new(off, 1).unwrap();
    assert_eq!(det.evaluate(&pool, 2 * S).unwrap().by_failure_percentage, 0);
    // too few hosts: nothing runs
    let (pool, _) = pool_with(&stats[3..], 100, S);
    let det = OutlierDetector::<16>::new(RateDetection::DEFAULT, 1).unwrap();
    let ev = det.evaluate(&pool, 2 * S).unwrap();
    assert_eq!(
        (ev.by_failure_percentage, ev.success_threshold_ppm),
        (0, None)
    );
}

#[test]
fn bad_configuration_is_refused() {
    let pct = RateDetection {
        failure_percentage: Some(FailurePercentage {
            threshold_percent: 101,
            ..FailurePercentage::DEFAULT
        }),
        ..RateDetection::DEFAULT
    };
    assert!(OutlierDetector::<4>::new(pct, 0).is_err());
}
