//! Reporting more than once per lease: `Lease::record_latency`, `Lease::report`, then
//! `finish` or drop.
//!
//! * every in-flight unit comes back exactly once, whatever the sequence of reports,
//!   finishes and drops (a property against a tiny model);
//! * each lease counts exactly one outcome, when it ends: `finish`'s, else the last
//!   `report`'s, else abandoned; a latency sample alone counts nothing and leaves the failure
//!   streak alone;
//! * a report's latency reaches the estimate at once, while the lease is still out;
//! * a lease whose backend was removed reports into nothing.

#![allow(clippy::indexing_slicing)]

use core::time::Duration;

use proptest::prelude::*;

use crate::support;
use tinylb::{BackendId, Lease, Outcome, Pool};

fn ok(us: u64, now_us: u64) -> Outcome {
    Outcome::success_after(Duration::from_micros(us)).at_us(now_us)
}

fn bad(us: u64, now_us: u64) -> Outcome {
    Outcome::failure_after(Duration::from_micros(us)).at_us(now_us)
}

/// (successes, failures, abandoned, failure streak) of `id`.
fn counts<const N: usize>(pool: &Pool<N>, id: BackendId) -> (u32, u32, u32, u32) {
    let i = pool.info(id).unwrap();
    assert_eq!(
        i.requests,
        i.successes
            .wrapping_add(i.failures)
            .wrapping_add(i.abandoned)
    );
    (i.successes, i.failures, i.abandoned, i.failure_streak)
}

#[test]
fn a_latency_sample_feeds_the_estimate_and_counts_nothing() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    let l = Lease::acquire(&pool, a).unwrap();
    l.record_latency(Duration::from_micros(700), 1_000);
    l.record_latency(Duration::from_micros(700), 2_000);
    assert_eq!(pool.info(a).unwrap().latency_us, Some(700));
    assert_eq!(counts(&pool, a), (0, 0, 0, 0));
    assert_eq!(pool.in_flight_at(0), 1);
    // a failure streak is not ended by a latency sample
    Lease::acquire(&pool, a).unwrap().finish(bad(10, 3_000));
    l.record_latency(Duration::from_micros(5), 4_000);
    assert_eq!(counts(&pool, a), (0, 1, 0, 1));
    l.finish(ok(900, 5_000));
    assert_eq!(counts(&pool, a), (1, 1, 0, 0));
    assert_eq!(pool.in_flight_at(0), 0);
}

#[test]
fn a_report_counts_once_when_the_lease_is_dropped() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    let mut l = Lease::acquire(&pool, a).unwrap();
    l.report(bad(2_000, 1_000));
    // the latency is in at once; the outcome waits for the end of the lease
    assert_eq!(pool.info(a).unwrap().latency_us, Some(2_000));
    assert_eq!(counts(&pool, a), (0, 0, 0, 0));
    assert_eq!(pool.in_flight_at(0), 1);
    drop(l);
    assert_eq!(counts(&pool, a), (0, 1, 0, 1));
    assert_eq!(pool.in_flight_at(0), 0);
}

#[test]
fn the_last_report_or_the_finish_is_the_one_outcome() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    // success at the headers, failure in the body: the finish's failure counts, alone
    let mut l = Lease::acquire(&pool, a).unwrap();
    l.report(ok(1_000, 0));
    l.finish(bad(1_000, 10_000));
    assert_eq!(counts(&pool, a), (0, 1, 0, 1));
    // failure, then a report that replaces it: one success
    let mut l = Lease::acquire(&pool, a).unwrap();
    l.report(bad(1_000, 20_000));
    l.report(ok(1_000, 30_000));
    drop(l);
    assert_eq!(counts(&pool, a), (1, 1, 0, 0));
    assert_eq!(pool.in_flight_at(0), 0);
}

#[test]
fn a_reported_failure_dropped_ejects_on_the_reports_clock() {
    let pool: Pool<2> = Pool::with_config(support::eject_on_first_failure()).unwrap();
    let a = pool.add(1).unwrap();
    let _b = pool.add(1).unwrap();
    let mut l = Lease::acquire(&pool, a).unwrap();
    l.report(bad(100, 5_000_000));
    assert!(!pool.info(a).unwrap().ejected, "counted only at the end");
    drop(l);
    let i = pool.info(a).unwrap();
    assert!(i.ejected);
    assert_eq!((i.failures, i.ejections), (1, 1));
    // ejected for 10 s from the report (5 s): still out at 14.9 s, back at 15 s
    assert!(!pool.is_eligible(0, 14_999_000));
    assert!(pool.is_eligible(0, 15_000_000));
}

#[test]
fn a_removed_backend_takes_no_report() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    let mut l = Lease::acquire(&pool, a).unwrap();
    pool.remove(a).unwrap();
    l.record_latency(Duration::from_micros(10), 0);
    l.report(bad(10, 0));
    assert_eq!(pool.in_flight_at(0), 1);
    drop(l);
    assert_eq!(pool.in_flight_at(0), 0);
    let b = pool.add(1).unwrap();
    assert_eq!(b.index(), 0);
    let i = pool.info(b).unwrap();
    assert_eq!((i.latency_us, i.requests, i.failure_streak), (None, 0, 0));
}

/// One step of the property: `k` names a lease slot of the model (0..4).
#[derive(Debug, Clone)]
enum Op {
    Acquire(usize, usize),
    Latency(usize),
    Report(usize, bool),
    Finish(usize, bool),
    Drop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 0..2usize).prop_map(|(k, b)| Op::Acquire(k, b)),
        (0..4usize).prop_map(Op::Latency),
        (0..4usize, any::<bool>()).prop_map(|(k, s)| Op::Report(k, s)),
        (0..4usize, any::<bool>()).prop_map(|(k, s)| Op::Finish(k, s)),
        (0..4usize).prop_map(Op::Drop),
    ]
}

/// A lease the property holds: the lease, its backend, the outcome its last report left.
type Held<'p> = (Lease<&'p Pool<2>, 2>, usize, Option<bool>);

/// The model of one backend: units out, and what ended how.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Model {
    out: u32,
    ok: u32,
    failed: u32,
    abandoned: u32,
    streak: u32,
}

impl Model {
    fn end(&mut self, outcome: Option<bool>) {
        self.out -= 1;
        match outcome {
            Some(true) => (self.ok += 1, self.streak = 0),
            Some(false) => (self.failed += 1, self.streak += 1),
            None => (self.abandoned += 1, ()),
        };
    }
}

proptest! {
    #![proptest_config(support::config(256))]

    /// Any sequence of acquire, latency sample, report, finish and drop: the in-flight
    /// count is the model's after every step (each unit back exactly once), and each ended
    /// lease counted exactly the outcome the model says (finish's, else the last report's,
    /// else abandoned), into the totals and the failure streak.
    #[test]
    fn every_unit_comes_back_once_and_each_lease_counts_one_outcome(
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let pool: Pool<2> = Pool::new();
        let ids = [pool.add(1).unwrap(), pool.add(2).unwrap()];
        let mut leases: [Option<Held>; 4] = [None, None, None, None];
        let mut model = [Model::default(); 2];
        let mut now = 0u64;
        for op in ops {
            now += 1_000;
            match op {
                Op::Acquire(k, b) => {
                    if leases[k].is_none() {
                        leases[k] = Some((Lease::acquire(&pool, ids[b]).unwrap(), b, None));
                        model[b].out += 1;
                    }
                }
                Op::Latency(k) => {
                    if let Some((l, _, _)) = &leases[k] {
                        l.record_latency(Duration::from_micros(300), now);
                    }
                }
                Op::Report(k, s) => {
                    if let Some((l, _, pending)) = &mut leases[k] {
                        l.report(if s { ok(300, now) } else { bad(300, now) });
                        *pending = Some(s);
                    }
                }
                Op::Finish(k, s) => {
                    if let Some((l, b, _)) = leases[k].take() {
                        l.finish(if s { ok(300, now) } else { bad(300, now) });
                        model[b].end(Some(s));
                    }
                }
                Op::Drop(k) => {
                    if let Some((l, b, pending)) = leases[k].take() {
                        drop(l);
                        model[b].end(pending);
                    }
                }
            }
            for b in 0..2 {
                let m = model[b];
                prop_assert_eq!(pool.in_flight_at(b), m.out);
                prop_assert_eq!(counts(&pool, ids[b]), (m.ok, m.failed, m.abandoned, m.streak));
            }
        }
        for (l, b, pending) in leases.iter_mut().filter_map(Option::take) {
            drop(l);
            model[b].end(pending);
        }
        for b in 0..2 {
            prop_assert_eq!(pool.in_flight_at(b), 0);
            let m = model[b];
            prop_assert_eq!(counts(&pool, ids[b]), (m.ok, m.failed, m.abandoned, m.streak));
        }
    }
}

#[test]
fn a_lease_is_its_pool_handle_and_twelve_bytes() {
    use core::mem::{align_of, size_of};
    // the README's footprint lines: 24 B on 64-bit targets, 16 B on 32-bit ones
    let handle = size_of::<&Pool<8>>();
    let want = (handle + 12).next_multiple_of(align_of::<&Pool<8>>());
    assert_eq!(size_of::<Lease<&Pool<8>, 8>>(), want);
    assert_eq!(
        size_of::<Lease<std::sync::Arc<Pool<8>>, 8>>(),
        want,
        "an Arc is one pointer too"
    );
    // a backend slot is eighteen words: packed (72 B) on 32-bit targets; on the 64-bit ones
    // the words leases write have a 64-byte line of their own and the rest another (128 B)
    let slot = if cfg!(target_pointer_width = "64") {
        128
    } else {
        72
    };
    assert_eq!(size_of::<Pool<2>>() - size_of::<Pool<1>>(), slot);
}
