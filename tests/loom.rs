//! loom models of the crate's atomic protocols: every interleaving (up to loom's preemption
//! bound) of two threads is run, and each model asserts the invariant it names.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom`
//! (`.ci/run` does). Under `--cfg loom`, `src/sync.rs` swaps portable-atomic for loom's
//! atomics; pools and strategies are built inside each `loom::model` run.
#![cfg(loom)]
#![allow(clippy::indexing_slicing)]

use core::num::NonZeroU32;
use core::time::Duration;
use loom::thread;
use std::sync::Arc;

use tinylb::{
    AliasRandom, Backend, Config, Ejection, Health, Lease, LeastConn, Outcome, Pool, Request,
    RoundRobin, Select, SelectExt, WeightedRoundRobin,
};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Lease acquire/release against the cap: with a cap of one, two racing leases never both
/// succeed, and every unit taken is given back exactly once.
#[test]
fn lease_never_exceeds_the_cap() {
    model(|| {
        let pool = Arc::new(Pool::<1>::new());
        pool.loom_init();
        let a = pool.add(1).unwrap();
        pool.set_cap(a, NonZeroU32::new(1)).unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || Lease::acquire(&*p2, a).is_some());
        let mine = Lease::acquire(&*pool, a);
        let in_flight_while_held = pool.in_flight_at(0);
        let other = t.join().unwrap();
        assert!(in_flight_while_held <= 1, "cap exceeded");
        if mine.is_some() {
            // the other lease may have come and gone before ours
            assert_eq!(pool.in_flight_at(0), 1);
        }
        let _ = other;
        drop(mine);
        assert_eq!(
            pool.in_flight_at(0),
            0,
            "a unit was lost or given back twice"
        );
    });
}

/// The pool-wide cap against racing leases on two backends: with a pool cap of one, two
/// threads never both hold a lease, a refused lease gives back what it reserved, and the
/// pool-wide count returns to zero.
#[test]
fn pool_wide_cap_is_never_exceeded() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        let a = pool.add(1).unwrap();
        let b = pool.add(1).unwrap();
        pool.set_max_in_flight(NonZeroU32::new(1));
        let p2 = pool.clone();
        let t = thread::spawn(move || {
            let l = Lease::acquire(&*p2, b);
            let held = l.is_some();
            assert!(
                p2.pooled_in_flight() <= 2,
                "at most one transient over-count"
            );
            drop(l);
            held
        });
        let mine = Lease::acquire(&*pool, a);
        let both_now = mine.is_some() && pool.in_flight_at(1) == 1;
        let other = t.join().unwrap();
        assert!(!both_now, "the pool-wide cap was exceeded");
        drop(mine);
        let _ = other;
        assert_eq!(
            pool.pooled_in_flight(),
            0,
            "a pool unit was lost or given back twice"
        );
        assert_eq!(pool.in_flight_at(0) + pool.in_flight_at(1), 0);
    });
}

/// The rate detector's interval counts against a lease finishing at the same time: the
/// outcome is counted in exactly one interval (snapshots of monotonic totals, no reset).
#[test]
fn rate_intervals_count_each_outcome_once() {
    use tinylb::{OutlierDetector, RateDetection};
    model(|| {
        let pool = Arc::new(Pool::<1>::with_config(ejection_cfg(100)).unwrap());
        pool.loom_init();
        let a = pool.add(1).unwrap();
        let det = Arc::new(OutlierDetector::<1>::new(RateDetection::DEFAULT, 1).unwrap());
        det.loom_init();
        let p2 = pool.clone();
        let t = thread::spawn(move || {
            let lease = Lease::acquire(&*p2, a).unwrap();
            lease.finish(
                tinylb::Outcome::success_after(core::time::Duration::from_micros(5)).at_us(1_000),
            );
        });
        let first = det.evaluate(&pool, 1_000).map_or(0, |e| e.requests);
        t.join().unwrap();
        let second = det.evaluate(&pool, 20_000_000).map_or(0, |e| e.requests);
        assert_eq!(first + second, 1, "counted in neither or both intervals");
    });
}

/// Slot removal and reuse against a racing lease (the generation check): a lease taken on
/// the old backend keeps its slot from being reused while it lives, and a lease that lost
/// the race gives its unit back; a removed id can never lease the slot's next occupant.
#[test]
fn removal_and_reuse_against_a_racing_lease() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        let old = pool.add(1).unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || Lease::acquire(&*p2, old).map(|l| l.id()));
        pool.remove(old).unwrap();
        let new = pool.add(1).unwrap();
        let leased = t.join().unwrap();
        if let Some(id) = leased {
            // the lease is dropped already (it lived only inside the closure); while it was
            // out, the reused slot (if any) must have been another one, or reused after it
            assert_eq!(id, old);
        }
        // the new backend's counters start clean and nothing leaked
        assert_eq!(pool.info(new).unwrap().in_flight, 0);
        assert_eq!(pool.in_flight_at(0) + pool.in_flight_at(1), 0);
        assert!(
            Lease::acquire(&*pool, old).is_none(),
            "stale id leased the new occupant"
        );
    });
}

/// The same race with the lease still held when the slot is re-added: the new backend must
/// land in the other slot.
#[test]
fn a_held_lease_blocks_reuse_of_its_slot() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        let old = pool.add(1).unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || pool_remove_then_add(&p2, old));
        let lease = Lease::acquire(&*pool, old);
        let new = t.join().unwrap();
        if lease.is_some() && new.index() == old.index() {
            panic!("slot reused while a lease on its old backend was out");
        }
        drop(lease);
        assert_eq!(pool.in_flight_at(0) + pool.in_flight_at(1), 0);
    });
}

/// A lease that reports mid-request and then ends (by drop or `finish`) while its backend
/// is removed and a new one added: the late count lands on the old backend or nowhere, never
/// on the new backend, whose totals start at zero, and the unit comes back once.
#[test]
fn a_late_report_never_counts_on_the_slots_next_backend() {
    for finish in [false, true] {
        model(move || {
            let pool = Arc::new(Pool::<2>::new());
            pool.loom_init();
            let old = pool.add(1).unwrap();
            let mut lease = Lease::acquire(&*pool, old).unwrap();
            let p2 = pool.clone();
            let t = thread::spawn(move || pool_remove_then_add(&p2, old));
            lease.report(Outcome::failure_after(Duration::from_micros(5)).at_us(1_000));
            if finish {
                lease.finish(Outcome::success_after(Duration::from_micros(5)).at_us(2_000));
            } else {
                drop(lease);
            }
            let new = t.join().unwrap();
            let i = pool.info(new).unwrap();
            assert_eq!(
                (
                    i.requests,
                    i.successes,
                    i.failures,
                    i.abandoned,
                    i.failure_streak
                ),
                (0, 0, 0, 0, 0),
                "a late count landed on the new backend"
            );
            assert_eq!(
                i.latency_us, None,
                "a late sample landed on the new backend"
            );
            assert_eq!(pool.in_flight_at(0) + pool.in_flight_at(1), 0);
        });
    }
}

/// Two leases on one backend ending at once, one by a reported outcome dropped, one
/// abandoned or finished: no count is lost and each lease counts exactly one outcome.
#[test]
fn racing_lease_ends_each_count_once() {
    model(|| {
        let pool = Arc::new(Pool::<1>::new());
        pool.loom_init();
        let a = pool.add(1).unwrap();
        let mut mine = Lease::acquire(&*pool, a).unwrap();
        let theirs = Lease::acquire(pool.clone(), a).unwrap();
        let t = thread::spawn(move || drop(theirs));
        mine.report(Outcome::failure_after(Duration::from_micros(5)).at_us(1_000));
        drop(mine);
        t.join().unwrap();
        let i = pool.info(a).unwrap();
        assert_eq!(
            (i.requests, i.successes, i.failures, i.abandoned),
            (2, 0, 1, 1)
        );
        assert_eq!((i.failure_streak, i.in_flight), (1, 0));
    });
}

/// A lease dropped with no outcome (its unit given back and the abandoned count taken in one
/// operation on 64-bit targets) racing a removal of its backend and an `add` that wants the
/// same slot (a one-slot pool), which then leases and abandons its new backend: the new
/// backend's totals start at zero and count only its own lease, its in-flight word is the
/// new occupant's (a lease on it works, a stale id's does not), and every unit comes back.
#[test]
fn an_abandoned_lease_racing_reuse_of_its_slot() {
    model(|| {
        let pool = Arc::new(Pool::<1>::new());
        pool.loom_init();
        let old = pool.add(1).unwrap();
        let lease = Lease::acquire(pool.clone(), old).unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || {
            p2.remove(old).unwrap();
            // refused while the old lease is out (its unit keeps the slot)
            let new = p2.add(1).ok()?;
            drop(Lease::acquire(&*p2, new).unwrap());
            Some(new)
        });
        drop(lease);
        let (new, leased) = match t.join().unwrap() {
            Some(new) => (new, 1),
            None => (pool.add(1).unwrap(), 0),
        };
        assert_eq!(new.index(), old.index());
        let i = pool.info(new).unwrap();
        assert_eq!(
            (
                i.requests,
                i.abandoned,
                i.successes,
                i.failures,
                i.in_flight
            ),
            (leased, leased, 0, 0, 0),
            "the old lease's count landed on the new backend, or one was lost"
        );
        assert!(Lease::acquire(&*pool, old).is_none(), "stale id leased");
        drop(Lease::acquire(&*pool, new).unwrap());
        let i = pool.info(new).unwrap();
        assert_eq!((i.abandoned, i.in_flight), (leased + 1, 0));
        assert_eq!(pool.in_flight_at(0), 0);
    });
}

fn pool_remove_then_add(pool: &Pool<2>, old: tinylb::BackendId) -> tinylb::BackendId {
    pool.remove(old).unwrap();
    pool.add(1).unwrap()
}

/// Round robin's shared cursor, across the fold at 2^31: two concurrent picks and two more
/// afterwards give each of two backends exactly two turns (every ticket is drawn once).
#[test]
fn round_robin_tickets_are_unique_across_the_fold() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        pool.add(1).unwrap();
        pool.add(1).unwrap();
        let rr = Arc::new(RoundRobin::starting_at((1 << 31) - 1));
        rr.loom_init();
        let (p2, r2) = (pool.clone(), rr.clone());
        let t = thread::spawn(move || r2.select(&*p2, &mut Request::new()).unwrap().index());
        let a = rr.select(&*pool, &mut Request::new()).unwrap().index();
        let b = t.join().unwrap();
        assert_ne!(a, b, "two picks drew the same turn");
        let c = rr.select(&*pool, &mut Request::new()).unwrap().index();
        let d = rr.select(&*pool, &mut Request::new()).unwrap().index();
        assert_ne!(c, d);
    });
}

/// Weighted round robin's ticket and per-backend counters: two racing picks may take the same
/// turn, but the schedule gives it back, so after two full periods each backend has its
/// exact share.
#[test]
fn wrr_counts_are_exact_after_racing_picks() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        pool.add(2).unwrap();
        pool.add(1).unwrap();
        let wrr = Arc::new(WeightedRoundRobin::<2>::new());
        wrr.loom_init();
        // build the schedule before the race (the rebuild has its own model below)
        let mut counts = [0u32; 2];
        counts[wrr.select(&*pool, &mut Request::new()).unwrap().index()] += 1;
        let (p2, w2) = (pool.clone(), wrr.clone());
        let t = thread::spawn(move || w2.select(&*p2, &mut Request::new()).unwrap().index());
        counts[wrr.select(&*pool, &mut Request::new()).unwrap().index()] += 1;
        counts[t.join().unwrap()] += 1;
        for _ in 0..3 {
            counts[wrr.select(&*pool, &mut Request::new()).unwrap().index()] += 1;
        }
        assert_eq!(counts, [4, 2], "two periods of [2, 1]");
    });
}

/// A live weight change during a weighted round robin pick: the pick still returns an
/// eligible backend, and the schedule that follows uses the new weights exactly.
#[test]
fn wrr_live_weight_change() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        let a = pool.add(1).unwrap();
        pool.add(1).unwrap();
        let wrr = Arc::new(WeightedRoundRobin::<2>::new());
        wrr.loom_init();
        let p2 = pool.clone();
        let t = thread::spawn(move || p2.set_weight(a, 3).unwrap());
        assert!(wrr.select(&*pool, &mut Request::new()).is_some());
        t.join().unwrap();
        let mut counts = [0u32; 2];
        for _ in 0..4 {
            counts[wrr.select(&*pool, &mut Request::new()).unwrap().index()] += 1;
        }
        assert_eq!(counts, [3, 1], "one period of the new weights [3, 1]");
    });
}

/// The alias table's rebuild against a reader: a read that the sequence counter accepts is
/// one whole table (the one before the weight change or the one after), never a mix; and
/// a pick racing the rebuild returns an eligible backend.
#[test]
fn alias_reads_never_mix_two_tables() {
    // weights [1, 3]: column 0 keeps 2 of 4 and gives the rest to 1; column 1 is whole
    const BEFORE: (u32, [(u32, u16, u32); 2]) = (4, [(2, 1, 1), (4, 1, 3)]);
    // weights [1, 1]: both columns whole
    const AFTER: (u32, [(u32, u16, u32); 2]) = (2, [(2, 0, 1), (2, 1, 1)]);
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        pool.add(1).unwrap();
        let b = pool.add(3).unwrap();
        let s = Arc::new(AliasRandom::<2>::new());
        s.loom_init();
        s.select(&*pool, &mut Request::new()).unwrap();
        assert_eq!(s.loom_snapshot(), Some(BEFORE));
        let (p2, s2) = (pool.clone(), s.clone());
        let t = thread::spawn(move || {
            p2.set_weight(b, 1).unwrap();
            // rebuilds the table
            s2.select(&*p2, &mut Request::new()).is_some()
        });
        let seen = s.loom_snapshot();
        assert!(
            seen.is_none() || seen == Some(BEFORE) || seen == Some(AFTER),
            "a read mixed two tables: {seen:?}"
        );
        assert!(t.join().unwrap());
        assert_eq!(s.loom_snapshot(), Some(AFTER));
    });
}

/// The latency estimate's compare-and-swap: two samples finishing at the same instant are
/// both applied, so the peak-sensitive estimate ends at the larger one, whatever the order.
/// (The estimate's timestamp is a separate atomic, so a racing update may blend over an
/// interval one sample stale: here that can cost 1 µs of the 200, never the sample.)
#[test]
fn latency_update_loses_no_sample() {
    model(|| {
        let pool = Arc::new(Pool::<1>::new());
        pool.loom_init();
        let a = pool.add(1).unwrap();
        let l1 = Lease::acquire(pool.clone(), a).unwrap();
        let l2 = Lease::acquire(&*pool, a).unwrap();
        let t = thread::spawn(move || {
            l1.finish(Outcome::success_after(Duration::from_micros(200)).at_us(1_000))
        });
        l2.finish(Outcome::success_after(Duration::from_micros(100)).at_us(1_000));
        t.join().unwrap();
        let est = pool.info(a).unwrap().latency_us.unwrap();
        assert!(
            (199..=200).contains(&est),
            "estimate {est}: a sample was lost"
        );
        assert_eq!(pool.in_flight_at(0), 0);
    });
}

fn ejecting_pool(max_percent: u32) -> Pool<2> {
    match Pool::with_config(Config::new().ejection(Ejection {
        consecutive_failures: 1,
        base_ms: 1_000,
        max_ms: 10_000,
        max_ejection_percent: max_percent,
        interval_ms: 1_000,
    })) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Ejection, one streak: two failures racing on the same backend eject it once.
#[test]
fn ejection_happens_once_per_streak() {
    model(|| {
        let pool = Arc::new(ejecting_pool(100));
        pool.loom_init();
        let a = pool.add(1).unwrap();
        pool.add(1).unwrap();
        let l1 = Lease::acquire(pool.clone(), a).unwrap();
        let l2 = Lease::acquire(&*pool, a).unwrap();
        let t = thread::spawn(move || {
            l1.finish(Outcome::failure_after(Duration::from_micros(10)).at_us(1_000))
        });
        l2.finish(Outcome::failure_after(Duration::from_micros(10)).at_us(1_000));
        t.join().unwrap();
        assert!(pool.info(a).unwrap().ejected, "the ejection was lost");
        assert_eq!(pool.ejected_count(), 1, "ejected twice for one streak");
    });
}

/// Ejection against the max-ejection share: with 50 % of two backends, failures racing on
/// both eject exactly one, and the count matches the flags.
#[test]
fn ejection_respects_the_max_share() {
    model(|| {
        let pool = Arc::new(ejecting_pool(50));
        pool.loom_init();
        let a = pool.add(1).unwrap();
        let b = pool.add(1).unwrap();
        let la = Lease::acquire(pool.clone(), a).unwrap();
        let lb = Lease::acquire(&*pool, b).unwrap();
        let t = thread::spawn(move || {
            la.finish(Outcome::failure_after(Duration::from_micros(10)).at_us(1_000))
        });
        lb.finish(Outcome::failure_after(Duration::from_micros(10)).at_us(1_000));
        t.join().unwrap();
        let flags = [a, b]
            .iter()
            .filter(|&&id| pool.info(id).unwrap().ejected)
            .count();
        assert_eq!(pool.ejected_count(), 1, "share exceeded or ejection lost");
        assert_eq!(flags, 1);
    });
}

/// The end of an ejection racing a health change: the ejected count is given back exactly
/// once, whoever wins.
#[test]
fn unejection_races_a_health_change() {
    model(|| {
        let pool = Arc::new(ejecting_pool(100));
        pool.loom_init();
        let a = pool.add(1).unwrap();
        pool.add(1).unwrap();
        Lease::acquire(&*pool, a)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(10)).at_us(1_000_000));
        assert_eq!(pool.ejected_count(), 1);
        let p2 = pool.clone();
        // a pick after the ejection's end notices it and ends it
        let rr = RoundRobin::new();
        rr.loom_init();
        let t = thread::spawn(move || {
            let _ = rr.lease(&*p2, &mut Request::new().with_now_us(60_000_000));
        });
        pool.set_health(a, Health::Down).unwrap();
        t.join().unwrap();
        assert_eq!(
            pool.ejected_count(),
            0,
            "ejected count leaked or went negative"
        );
        assert!(!pool.info(a).unwrap().ejected);
    });
}

fn ejection_cfg(max_percent: u32) -> Config {
    Config::new()
        .ejection(Ejection {
            consecutive_failures: 1,
            base_ms: 10_000,
            max_ms: 100_000,
            max_ejection_percent: max_percent,
            interval_ms: 10_000,
        })
        .panic_threshold_percent(0)
}

/// Racing failures on one backend: the first ejection lasts exactly `base`, whoever loses
/// (a loser once overwrote the winner's deadline with a doubled one).
#[test]
fn racing_failures_keep_the_first_deadline() {
    model(|| {
        let pool = Arc::new(Pool::<4>::with_config(ejection_cfg(100)).unwrap());
        pool.loom_init();
        let z = pool.add(1).unwrap();
        pool.add(1).unwrap();
        let l1 = Lease::acquire(pool.clone(), z).unwrap();
        let l2 = Lease::acquire(pool.clone(), z).unwrap();
        let t = thread::spawn(move || {
            l1.finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_001_000))
        });
        l2.finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_001_000));
        t.join().unwrap();
        assert!(pool.info(z).unwrap().ejected);
        LeastConn::new().select(&*pool, &mut Request::new().with_now_us(1_010_001_000));
        assert!(
            !pool.info(z).unwrap().ejected,
            "first ejection lasted longer than base"
        );
    });
}

/// A failure that loses the race to eject its backend holds no place in the max-ejection
/// share, so another backend's ejection is not refused for it.
#[test]
fn a_racing_reservation_does_not_deny_another_ejection() {
    model(|| {
        // room for 3 of 4
        let pool = Arc::new(Pool::<4>::with_config(ejection_cfg(75)).unwrap());
        pool.loom_init();
        let y = pool.add(1).unwrap();
        let z = pool.add(1).unwrap();
        let x = pool.add(1).unwrap();
        pool.add(1).unwrap();
        Lease::acquire(pool.clone(), y)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_001_000));
        let lz1 = Lease::acquire(pool.clone(), z).unwrap();
        let lz2 = Lease::acquire(pool.clone(), z).unwrap();
        let lx = Lease::acquire(pool.clone(), x).unwrap();
        let t1 = thread::spawn(move || {
            lz1.finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_001_000))
        });
        let t2 = thread::spawn(move || {
            lz2.finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_001_000))
        });
        lx.finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_001_000));
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(pool.info(x).unwrap().ejected, "x's ejection was refused");
        assert_eq!(pool.ejected_count(), 3);
    });
}

/// `set_cap` on an id whose backend is being removed, its slot reused at the same moment:
/// the cap goes to the backend the id names or to nothing, never to the slot's next
/// occupant (the call pins the slot while it writes, so `add` cannot reuse it meanwhile).
#[test]
fn set_cap_applies_to_its_backend_or_to_nothing() {
    model(|| {
        let pool = Arc::new(Pool::<1>::new());
        pool.loom_init();
        let old = pool.add(1).unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || p2.set_cap(old, NonZeroU32::new(5)));
        pool.remove(old).unwrap();
        // while the pin is out the only slot is not free yet
        let new = pool.add(1);
        let _ = t.join().unwrap();
        if let Ok(new) = new {
            assert_eq!(
                pool.info(new).unwrap().cap,
                None,
                "the removed id's cap reached the slot's next occupant"
            );
        }
        assert_eq!(pool.in_flight_at(0), 0, "a pin was not given back");
    });
}

/// `set_health(Up)` on an id whose backend is being removed and its slot reused: the
/// failure streak the new occupant earned is not reset by the old id's call.
#[test]
fn set_health_applies_to_its_backend_or_to_nothing() {
    model(|| {
        let pool = Arc::new(Pool::<1>::new());
        pool.loom_init();
        let old = pool
            .add_backend(Backend::new(1).health(Health::Down))
            .unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || p2.set_health(old, Health::Up));
        pool.remove(old).unwrap();
        let new = pool.add(1);
        if let Ok(new) = new
            && let Some(l) = Lease::acquire(&*pool, new)
        {
            l.finish(Outcome::failure_after(Duration::from_micros(10)).at_us(1_000));
        }
        let _ = t.join().unwrap();
        if let Ok(new) = new {
            let info = pool.info(new).unwrap();
            assert_eq!(
                info.failure_streak, 1,
                "the old id's call reset the new streak"
            );
        }
    });
}

/// The spread path's kept figures against a racing health change: a pick racing the change
/// may route by either the old or the new figures, but once the change is done (joined),
/// every pick routes by the new ones. Level 0 holds `a` (down), level 1 `b`: the figures
/// send every pick to level 1 until `a` is up again, then every pick to level 0.
#[test]
fn kept_figures_never_outlive_a_change() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        let a = pool
            .add_backend(Backend::new(1).health(Health::Down))
            .unwrap();
        let b = pool.add_backend(Backend::new(1).level(1)).unwrap();
        // a first pick keeps the figures of "level 0 is down"
        assert_eq!(
            RoundRobin::new().select(&*pool, &mut Request::new()),
            Some(b)
        );
        let p2 = pool.clone();
        let t = thread::spawn(move || {
            let got = RoundRobin::new().select(&*p2, &mut Request::new());
            assert!(got == Some(a) || got == Some(b), "{got:?}");
        });
        pool.set_health(a, Health::Up).unwrap();
        t.join().unwrap();
        for _ in 0..2 {
            let got = RoundRobin::new().select(&*pool, &mut Request::new());
            assert_eq!(got, Some(a), "stale figures after the change");
        }
    });
}

/// Racing `set_level` calls on one backend: whichever finishes last wins, and the level the
/// pool reports, the level-above-0 flag picks test and the count that turns the spread path
/// on agree (the backend is picked at the level it reports).
#[test]
fn racing_level_changes_leave_flag_and_place_agreeing() {
    model(|| {
        let pool = Arc::new(Pool::<2>::new());
        pool.loom_init();
        let x = pool.add(1).unwrap();
        let p2 = pool.clone();
        let t = thread::spawn(move || p2.set_level(x, 2));
        let mine = pool.set_level(x, 0);
        let theirs = t.join().unwrap();
        assert!(mine.is_ok() || theirs.is_ok());
        let level = pool.info(x).unwrap().level;
        assert!(level == 0 || level == 2, "level {level}");
        let load = pool.priority_load();
        assert_eq!(
            load.healthy[level as usize], 100,
            "{load:?} at level {level}"
        );
        assert_eq!(
            RoundRobin::new().select(&*pool, &mut Request::new()),
            Some(x)
        );
    });
}
