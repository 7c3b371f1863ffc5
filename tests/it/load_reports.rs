//! Weights from load reports (`LoadWeights`, gRPC A58's rule) against a floating-point
//! reference model written from the proposal, and one test per parameter on the caller's
//! clock: blackout, expiry, mean fill, update period, a clock going backwards, integer
//! limits.

#![allow(clippy::indexing_slicing)]

use proptest::prelude::*;

use crate::support;
use tinylb::{LoadReport, LoadWeights, Pool, Request, Select, WeightPolicy, WeightedRoundRobin};

const S: u64 = 1_000_000; // one second in µs

/// A58's endpoint weight, as the proposal states it (floats; times in ms).
#[derive(Debug, Clone, Default)]
struct Model {
    weight: f64,
    /// Relative rounding of the pool's fixed point for the last report: the error rate's
    /// term is kept in whole parts per million of the denominator.
    tol: f64,
    since: Option<u64>,
    last: Option<u64>,
}

impl Model {
    fn report(&mut self, r: LoadReport, penalty: f64, now_ms: u64) -> bool {
        if r.qps == 0 || r.utilization_ppm == 0 {
            return false;
        }
        let qps = r.qps as f64;
        let util = r.utilization_ppm as f64 / 1e6;
        let error_rate = r.eps as f64 / qps;
        self.weight = qps / (util + error_rate * penalty);
        self.tol = 1.0 / r.utilization_ppm as f64 + 1e-6;
        // a clock behind the last report is no time
        self.last = Some(self.last.map_or(now_ms, |l| l.max(now_ms)));
        if self.since.is_none() {
            self.since = Some(now_ms);
        }
        true
    }

    fn get(&mut self, p: &WeightPolicy, now_ms: u64) -> Option<(f64, f64)> {
        let last = self.last?;
        if now_ms.saturating_sub(last) >= p.expiry_ms as u64 {
            self.since = None;
            return None;
        }
        let since = self.since;
        if p.blackout_ms > 0
            && since.is_none_or(|s| now_ms.saturating_sub(s) < p.blackout_ms as u64)
        {
            return None;
        }
        Some((self.weight, self.tol))
    }
}

#[derive(Debug, Clone)]
enum Step {
    Report(usize, u32, u32, u32),
    Advance(u64),
    Rewind(u64),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..4, 0u32..2_000, 0u32..500, 0u32..2_000_000)
            .prop_map(|(b, q, e, u)| Step::Report(b, q, e, u)),
        3 => (1u64..20_000).prop_map(Step::Advance),
        1 => (1u64..5_000).prop_map(Step::Rewind),
    ]
}

proptest! {
    #![proptest_config(support::config(128))]

    /// On random report sequences and clocks (backwards too), `weight_at` is usable exactly
    /// when the model's weight is, and equal to it within the fixed point's rounding.
    #[test]
    fn weight_at_follows_the_model(
        steps in prop::collection::vec(step(), 1..80),
        blackout_s in 0u32..15,
        expiry_s in 1u32..60,
    ) {
        let policy = WeightPolicy {
            blackout_ms: blackout_s * 1_000,
            expiry_ms: expiry_s * 1_000,
            ..WeightPolicy::A58
        };
        let pool: Pool<4> = Pool::new();
        let ids: Vec<_> = (0..4).map(|_| pool.add(1).unwrap()).collect();
        let lw = LoadWeights::<4>::new(policy).unwrap();
        let mut model = vec![Model::default(); 4];
        let mut now_us = 5 * S;
        for s in steps {
            match s {
                Step::Report(b, q, e, u) => {
                    let r = LoadReport::new(q, u).errors(e);
                    let used = lw.report(ids[b], r, now_us).unwrap();
                    prop_assert_eq!(used, model[b].report(r, 1.0, now_us / 1_000));
                }
                Step::Advance(ms) => now_us += ms * 1_000,
                Step::Rewind(ms) => now_us = now_us.saturating_sub(ms * 1_000),
            }
            for b in 0..4 {
                let got = lw.weight_at(ids[b], now_us);
                let want = model[b].get(&policy, now_us / 1_000);
                match (got, want) {
                    (None, None) => {}
                    (Some(g), Some((w, tol))) => {
                        let g = g as f64 / 256.0;
                        prop_assert!((g - w).abs() <= w * tol + 1.0, "{} vs {}", g, w);
                    }
                    _ => prop_assert!(false, "backend {}: got {:?}, model {:?}", b, got, want),
                }
            }
        }
    }
}

fn pool_of(n: usize) -> (Pool<8>, Vec<tinylb::BackendId>) {
    let pool = Pool::new();
    let ids = (0..n).map(|_| pool.add(1).unwrap()).collect();
    (pool, ids)
}

#[test]
fn blackout() {
    let (_pool, ids) = pool_of(1);
    let lw = LoadWeights::<8>::new(WeightPolicy::A58).unwrap();
    lw.report(ids[0], LoadReport::new(100, 500_000), S).unwrap();
    assert_eq!(lw.weight_at(ids[0], S), None);
    assert_eq!(
        lw.weight_at(ids[0], 11 * S - 1_000),
        None,
        "1 ms before the end"
    );
    lw.report(ids[0], LoadReport::new(100, 500_000), 11 * S)
        .unwrap();
    assert_eq!(lw.weight_at(ids[0], 11 * S), Some(100 * 256 * 2));
    // no blackout configured: usable at once
    let lw0 = LoadWeights::<8>::new(WeightPolicy {
        blackout_ms: 0,
        ..WeightPolicy::A58
    })
    .unwrap();
    lw0.report(ids[0], LoadReport::new(1, 1_000_000), S)
        .unwrap();
    assert_eq!(lw0.weight_at(ids[0], S), Some(256));
}

#[test]
fn expiry_restarts_the_blackout() {
    let (_pool, ids) = pool_of(1);
    let lw = LoadWeights::<8>::new(WeightPolicy::A58).unwrap();
    let r = LoadReport::new(100, 1_000_000);
    lw.report(ids[0], r, S).unwrap();
    lw.report(ids[0], r, 20 * S).unwrap();
    assert!(lw.weight_at(ids[0], 20 * S).is_some());
    assert!(
        lw.weight_at(ids[0], 20 * S + 179 * S).is_some(),
        "just inside 3 min"
    );
    assert_eq!(lw.weight_at(ids[0], 20 * S + 180 * S), None, "expired");
    // the next report starts a new blackout
    lw.report(ids[0], r, 300 * S).unwrap();
    assert_eq!(lw.weight_at(ids[0], 305 * S), None);
    assert!(lw.weight_at(ids[0], 310 * S).is_some());
}

#[test]
fn mean_fill_and_the_round_robin_fallback() {
    let (pool, ids) = pool_of(3);
    let policy = WeightPolicy {
        blackout_ms: 0,
        ..WeightPolicy::A58
    };
    let lw = LoadWeights::<8>::new(policy).unwrap();
    // one usable weight: every backend the same (A58 falls back to round robin)
    lw.report(ids[0], LoadReport::new(300, 1_000_000), S)
        .unwrap();
    assert!(lw.apply(&pool, S));
    let w: Vec<u32> = ids
        .iter()
        .map(|&id| pool.info(id).unwrap().weight)
        .collect();
    assert!(w.iter().all(|&x| x == w[0]), "{w:?}");
    // two usable (300 and 100 qps per unit of utilization), the third gets their mean (200)
    lw.report(ids[1], LoadReport::new(100, 1_000_000), 2 * S)
        .unwrap();
    assert!(lw.apply(&pool, 2 * S));
    let w: Vec<u64> = ids
        .iter()
        .map(|&id| pool.info(id).unwrap().weight as u64)
        .collect();
    assert_eq!(
        w[0],
        tinylb::MAX_WEIGHT as u64,
        "the largest is scaled to the limit"
    );
    assert!(
        w[1].abs_diff(w[0] / 3) <= 1 && w[2].abs_diff(2 * w[0] / 3) <= 1,
        "{w:?}"
    );
}

#[test]
fn update_period_and_a_clock_going_backwards() {
    let (pool, ids) = pool_of(2);
    let lw = LoadWeights::<8>::new(WeightPolicy::A58).unwrap();
    lw.report(ids[0], LoadReport::new(1, 1), 10 * S).unwrap();
    assert!(lw.apply(&pool, 10 * S), "the first call runs");
    assert!(!lw.apply(&pool, 10 * S + 999_000), "inside the period");
    assert!(!lw.apply(&pool, 5 * S), "backwards is no time");
    assert!(lw.apply(&pool, 11 * S), "a period later");
}

#[test]
fn integer_limits() {
    let (pool, ids) = pool_of(2);
    let policy = WeightPolicy {
        blackout_ms: 0,
        error_penalty_ppm: u32::MAX,
        ..WeightPolicy::A58
    };
    let lw = LoadWeights::<8>::new(policy).unwrap();
    let huge = LoadReport::new(u32::MAX, 1);
    assert_eq!(huge.weight(u32::MAX), Some(u32::MAX), "saturates");
    let tiny = LoadReport::new(1, u32::MAX).errors(u32::MAX);
    assert_eq!(tiny.weight(u32::MAX), Some(1), "never below 1");
    assert_eq!(LoadReport::new(0, 5).weight(1), None, "empty: ignored");
    assert_eq!(LoadReport::new(5, 0).weight(1), None, "empty: ignored");
    assert!(lw.report(ids[0], huge, u64::MAX).unwrap());
    assert!(lw.report(ids[1], tiny, u64::MAX).unwrap());
    assert!(!lw.report(ids[1], LoadReport::new(0, 0), u64::MAX).unwrap());
    assert!(lw.apply(&pool, u64::MAX));
    let w: Vec<u32> = ids
        .iter()
        .map(|&id| pool.info(id).unwrap().weight)
        .collect();
    assert_eq!(w, [tinylb::MAX_WEIGHT, 1]);
    assert!(pool.total_weight() <= tinylb::MAX_TOTAL_WEIGHT);
    assert!(
        WeightPolicy {
            expiry_ms: 0,
            ..WeightPolicy::A58
        }
        .validate()
        .is_err()
            && WeightPolicy {
                update_period_ms: 0,
                ..WeightPolicy::A58
            }
            .validate()
            .is_err()
            && WeightPolicy {
                blackout_ms: u32::MAX,
                ..WeightPolicy::A58
            }
            .validate()
            .is_err()
    );
}

#[test]
fn a_reused_slot_starts_over() {
    let (pool, ids) = pool_of(1);
    let lw = LoadWeights::<8>::new(WeightPolicy {
        blackout_ms: 0,
        ..WeightPolicy::A58
    })
    .unwrap();
    lw.report(ids[0], LoadReport::new(10, 1_000_000), S)
        .unwrap();
    assert!(lw.weight_at(ids[0], S).is_some());
    pool.remove(ids[0]).unwrap();
    let b = pool.add(1).unwrap();
    assert_eq!(b.index(), ids[0].index());
    assert_eq!(
        lw.weight_at(b, S),
        None,
        "the new backend has no report yet"
    );
    assert_eq!(
        lw.weight_at(ids[0], S),
        Some(2_560),
        "the old id still reads its own"
    );
}

/// Smooth WRR follows the weights `apply` set: picks in proportion to the capacity the
/// backends reported.
#[test]
fn wrr_follows_reported_capacity() {
    let (pool, ids) = pool_of(3);
    let lw = LoadWeights::<8>::new(WeightPolicy {
        blackout_ms: 0,
        ..WeightPolicy::A58
    })
    .unwrap();
    for (id, qps) in ids.iter().zip([100, 200, 300]) {
        lw.report(*id, LoadReport::new(qps, 1_000_000), S).unwrap();
    }
    assert!(lw.apply(&pool, S));
    let wrr = WeightedRoundRobin::<8>::new();
    let mut counts = [0u32; 3];
    for _ in 0..6_000 {
        counts[wrr.select(&pool, &mut Request::new()).unwrap().index()] += 1;
    }
    for (c, want) in counts.iter().zip([1_000u32, 2_000, 3_000]) {
        assert!(c.abs_diff(want) <= 1, "{counts:?}");
    }
}
