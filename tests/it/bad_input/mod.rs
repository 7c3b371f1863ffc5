//! Bad input, one test each: every refused configuration call returns the exact
//! [`Error`] variant and leaves the pool exactly as it was ([`snapshot`]: every backend's
//! `info`, the in-flight count and eligibility of every slot, `ids`, `len`,
//! `total_weight`); picks with nothing eligible return `None` for every strategy;
//! latencies and clocks at their integer limits, or going backwards, panic nowhere and keep
//! the latency estimate between the samples it came from; unknown strategy names are
//! refused.
//!
//! [`table`] holds the rows of the README's bad-input table that no test here covers, and
//! [`affinity`] the hashing strategies' constructors and empty picks.

#![allow(clippy::indexing_slicing)]

mod affinity;
mod table;

use crate::support::SplitMix;
use core::num::NonZeroU32;
use core::time::Duration;
use proptest::prelude::*;
use tinylb::{
    Backend, BackendError, BackendId, BackendInfo, Health, Lease, MAX_TOTAL_WEIGHT, MAX_WEIGHT,
    Outcome, ParseReason, Pool, Request, Select, SelectExt, Strategy,
};

/// Everything observable about a pool, plus `info` of some extra (stale or foreign) ids:
/// what a refused call must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    len: usize,
    total_weight: u32,
    ids: Vec<BackendId>,
    infos: Vec<Result<BackendInfo, BackendError>>,
    in_flight: Vec<u32>,
    eligible: Vec<bool>,
}

fn snapshot<const N: usize>(pool: &Pool<N>, extra: &[BackendId]) -> Snapshot {
    let ids: Vec<BackendId> = pool.ids().iter().copied().collect();
    Snapshot {
        len: pool.len(),
        total_weight: pool.total_weight(),
        infos: ids.iter().chain(extra).map(|&id| pool.info(id)).collect(),
        ids,
        in_flight: (0..N).map(|i| pool.in_flight_at(i)).collect(),
        eligible: (0..N).map(|i| pool.is_eligible(i, 0)).collect(),
    }
}

/// Each built-in strategy, by its canonical name.
fn every_strategy<const N: usize>() -> Vec<Strategy<N>> {
    Strategy::<N>::NAMES
        .iter()
        .map(|name| Strategy::from_name(name, 99).unwrap())
        .collect()
}

/// A small pool with one backend of each kind: up, capped with a lease out, down.
fn busy_pool(pool: &Pool<4>) -> (BackendId, BackendId, BackendId, Lease<&Pool<4>, 4>) {
    let a = pool.add(5).unwrap();
    let b = pool.add(2).unwrap();
    let c = pool
        .add_backend(Backend::new(1).health(Health::Down))
        .unwrap();
    pool.set_cap(b, NonZeroU32::new(3)).unwrap();
    let l = Lease::acquire(pool, b).unwrap();
    Lease::acquire(pool, a)
        .unwrap()
        .finish(Outcome::failure_after(Duration::from_micros(800)).at_us(1_000));
    (a, b, c, l)
}

#[test]
fn weight_above_max_weight() {
    let pool: Pool<4> = Pool::new();
    let (a, b, c, _l) = busy_pool(&pool);
    let before = snapshot(&pool, &[]);
    for w in [MAX_WEIGHT + 1, MAX_WEIGHT * 2, u32::MAX] {
        assert_eq!(pool.add(w), Err(BackendError::WeightTooLarge));
        assert_eq!(
            pool.add_backend(Backend::new(w).health(Health::Down)),
            Err(BackendError::WeightTooLarge)
        );
        for id in [a, b, c] {
            assert_eq!(pool.set_weight(id, w), Err(BackendError::WeightTooLarge));
        }
        assert_eq!(snapshot(&pool, &[]), before);
    }
    // the limit itself is accepted
    pool.set_weight(a, MAX_WEIGHT).unwrap();
    assert_eq!(pool.info(a).unwrap().weight, MAX_WEIGHT);
    assert!(pool.add(MAX_WEIGHT).is_ok());
}

#[test]
fn total_weight_above_max_total_weight() {
    const BIG: usize = 1100;
    let pool: Box<Pool<BIG>> = Box::new(Pool::new());
    // 1024 * MAX_WEIGHT = MAX_TOTAL_WEIGHT - 1023
    let n = (MAX_TOTAL_WEIGHT / MAX_WEIGHT) as usize;
    assert_eq!(n, 1024);
    let ids: Vec<_> = (0..n).map(|_| pool.add(MAX_WEIGHT).unwrap()).collect();
    let room = MAX_TOTAL_WEIGHT - pool.total_weight();
    assert_eq!(room, 1023);
    let before = snapshot(&*pool, &[]);
    assert_eq!(pool.add(MAX_WEIGHT), Err(BackendError::WeightOverflow));
    assert_eq!(pool.add(room + 1), Err(BackendError::WeightOverflow));
    assert_eq!(
        pool.add_backend(Backend::new(room + 1).health(Health::Down)),
        Err(BackendError::WeightOverflow),
        "down backends count in the total"
    );
    assert_eq!(snapshot(&*pool, &[]), before);

    // fill to exactly the limit
    let last = pool.add(room).unwrap();
    assert_eq!(pool.total_weight(), MAX_TOTAL_WEIGHT);
    let before = snapshot(&*pool, &[]);
    assert_eq!(pool.add(1), Err(BackendError::WeightOverflow));
    assert_eq!(
        pool.set_weight(last, room + 1),
        Err(BackendError::WeightOverflow)
    );
    pool.set_weight(ids[0], MAX_WEIGHT - 1).unwrap();
    assert_eq!(
        pool.set_weight(last, room + 2),
        Err(BackendError::WeightOverflow)
    );
    pool.set_weight(ids[0], MAX_WEIGHT).unwrap();
    assert_eq!(snapshot(&*pool, &[]), before);

    // every strategy picks without overflowing at the largest total (debug build: overflow
    // checks on), and its pick is eligible
    for s in every_strategy::<BIG>() {
        for k in 0..50u64 {
            let mut req = Request::new().with_key(k).with_now_us(k * 1_000);
            let l = s.lease(&*pool, &mut req).expect("everyone is up");
            assert_eq!(l.pool().info(l.id()).unwrap().in_flight, 1);
        }
    }
    assert!((0..BIG).all(|i| pool.in_flight_at(i) == 0));
}

#[test]
fn capacity_full() {
    let pool: Pool<4> = Pool::new();
    let (a, _b, _c, _l) = busy_pool(&pool);
    let d = pool.add(1).unwrap();
    assert_eq!(d.index(), 3);
    let before = snapshot(&pool, &[]);
    for (w, h) in [
        (0, Health::Up),
        (1, Health::Down),
        (MAX_WEIGHT, Health::Draining),
    ] {
        assert_eq!(
            pool.add_backend(Backend::new(w).health(h)),
            Err(BackendError::Full)
        );
        assert_eq!(snapshot(&pool, &[]), before);
    }
    // a removed slot with a lease out is not free either
    let held = Lease::acquire(&pool, d).unwrap();
    pool.remove(d).unwrap();
    pool.remove(a).unwrap();
    let f = pool.add(6).unwrap();
    assert_eq!(f.index(), 0, "a's slot had nothing in flight");
    let before = snapshot(&pool, &[a, d]);
    for (w, h) in [
        (0, Health::Up),
        (1, Health::Down),
        (MAX_WEIGHT, Health::Draining),
    ] {
        assert_eq!(
            pool.add_backend(Backend::new(w).health(h)),
            Err(BackendError::Full)
        );
        assert_eq!(snapshot(&pool, &[a, d]), before);
    }
    assert_eq!(pool.total_weight(), 6 + 2 + 1);
    assert_eq!(pool.in_flight_at(3), 1);
    drop(held);
    assert_eq!(pool.add(1).map(|id| id.index()), Ok(3), "drained, so free");
}

#[test]
fn id_of_no_backend() {
    // ids cannot be made up: take them from a bigger pool
    let big: Pool<8> = Pool::new();
    let far: Vec<_> = (0..8).map(|_| big.add(1).unwrap()).collect();
    let pool: Pool<4> = Pool::new();
    let (_a, _b, _c, _l) = busy_pool(&pool);
    let before = snapshot(&pool, &[]);
    // out of range (index 4..8) and in range but empty (index 3)
    for &id in &far[3..] {
        assert_eq!(pool.remove(id), Err(BackendError::NoSuchBackend), "{id:?}");
        assert_eq!(pool.set_weight(id, 1), Err(BackendError::NoSuchBackend));
        assert_eq!(
            pool.set_health(id, Health::Up),
            Err(BackendError::NoSuchBackend)
        );
        assert_eq!(
            pool.set_cap(id, NonZeroU32::new(2)),
            Err(BackendError::NoSuchBackend)
        );
        assert_eq!(pool.set_cap(id, None), Err(BackendError::NoSuchBackend));
        assert_eq!(pool.info(id), Err(BackendError::NoSuchBackend));
        assert!(Lease::acquire(&pool, id).is_none());
        assert_eq!(snapshot(&pool, &[]), before);
    }
    assert_eq!(pool.id_at(4), None);
    assert_eq!(pool.id_at(usize::MAX), None);
    assert_eq!(pool.in_flight_at(usize::MAX), 0);
    assert!(!pool.is_eligible(usize::MAX, 0));
}

#[test]
fn stale_id() {
    let pool: Pool<4> = Pool::new();
    let (a, b, c, lease_b) = busy_pool(&pool);
    // b is removed with a lease out (its slot drains), c is removed and its slot reused
    pool.remove(b).unwrap();
    pool.remove(c).unwrap();
    let d = pool.add(7).unwrap();
    assert_eq!(d.index(), c.index());
    let e = pool.add(1).unwrap();
    assert_eq!(e.index(), 3, "b's slot is still draining");
    let _ = (a, e);
    let before = snapshot(&pool, &[b, c]);
    for id in [b, c] {
        assert_eq!(pool.remove(id), Err(BackendError::Stale), "{id:?}");
        assert_eq!(pool.set_weight(id, 3), Err(BackendError::Stale));
        assert_eq!(
            pool.set_health(id, Health::Draining),
            Err(BackendError::Stale)
        );
        assert_eq!(
            pool.set_cap(id, NonZeroU32::new(9)),
            Err(BackendError::Stale)
        );
        assert_eq!(pool.set_cap(id, None), Err(BackendError::Stale));
        assert_eq!(pool.info(id), Err(BackendError::Stale));
        assert!(Lease::acquire(&pool, id).is_none());
        assert_eq!(snapshot(&pool, &[b, c]), before);
    }
    drop(lease_b);
    // once b's slot is reused too, b stays stale
    let f = pool.add(1).unwrap();
    assert_eq!(f.index(), b.index());
    assert_eq!(pool.info(b), Err(BackendError::Stale));
    assert_eq!(pool.set_weight(b, 1), Err(BackendError::Stale));
    assert_eq!(pool.info(f).unwrap().weight, 1);
}

#[test]
fn share_above_full() {
    let pool: Pool<4> = Pool::new();
    let (a, b, c, _l) = busy_pool(&pool);
    let before = snapshot(&pool, &[]);
    for id in [a, b, c] {
        for share in [tinylb::FULL_SHARE + 1, u32::MAX] {
            assert_eq!(pool.set_share(id, share), Err(BackendError::ShareTooLarge));
            assert_eq!(snapshot(&pool, &[]), before);
        }
    }
    assert_eq!(pool.info(b).unwrap().cap, NonZeroU32::new(3));
    assert_eq!(pool.info(a).unwrap().cap, None);
    assert_eq!(pool.share(a), Ok(tinylb::FULL_SHARE));
}

/// Every strategy, with and without a caller RNG, at a few clocks, finds nothing.
fn assert_nothing_pickable<const N: usize>(pool: &Pool<N>, why: &str) {
    let before = snapshot(pool, &[]);
    for s in every_strategy::<N>() {
        let mut rng = SplitMix(1);
        for k in 0..20u64 {
            let mut plain = Request::new().with_key(k).with_now_us(k * 7);
            assert_eq!(s.select(pool, &mut plain), None, "{} ({why})", s.name());
            assert!(s.lease(pool, &mut plain).is_none(), "{} ({why})", s.name());
            let mut seeded = Request::new().with_rng(&mut rng).with_now_us(u64::MAX - k);
            assert_eq!(s.select(pool, &mut seeded), None, "{} ({why})", s.name());
            assert!(s.lease(pool, &mut seeded).is_none(), "{} ({why})", s.name());
        }
    }
    assert_eq!(snapshot(pool, &[]), before, "{why}");
}

#[test]
fn empty_pool_picks_nothing() {
    let pool: Pool<4> = Pool::new();
    // A pool that never had a backend is checked with the strategies as `FromStr` builds
    // them (seed 0): a weighted_round_robin with a non-zero seed divides by zero there
    // (reported as a bug).
    for name in Strategy::<4>::NAMES {
        let s: Strategy<4> = name.parse().unwrap();
        assert_eq!(s.select(&pool, &mut Request::new()), None, "{name}");
        assert!(s.lease(&pool, &mut Request::new().with_key(3)).is_none());
        let mut rng = SplitMix(2);
        let mut req = Request::new().with_rng(&mut rng).with_now_us(u64::MAX);
        assert!(s.lease(&pool, &mut req).is_none(), "{name}");
    }
    assert!(pool.is_empty());
    let a = pool.add(1).unwrap();
    pool.remove(a).unwrap();
    assert_nothing_pickable(&pool, "only a removed backend");
}

#[test]
fn zero_total_weight_picks_nothing() {
    let pool: Pool<8> = Pool::new();
    let ids: Vec<_> = (0..8).map(|_| pool.add(0).unwrap()).collect();
    assert_eq!(pool.total_weight(), 0);
    assert_nothing_pickable(&pool, "all weights 0");
    // one weight up: that backend and only it is picked by every strategy
    pool.set_weight(ids[5], 1).unwrap();
    for s in every_strategy::<8>() {
        for _ in 0..10 {
            assert_eq!(
                s.select(&pool, &mut Request::new()),
                Some(ids[5]),
                "{}",
                s.name()
            );
        }
    }
    // and back to zero (a weight once set high must not linger in a bound)
    pool.set_weight(ids[5], 0).unwrap();
    assert_nothing_pickable(&pool, "weights back to 0");
}

#[test]
fn all_backends_down_picks_nothing() {
    let pool: Pool<6> = Pool::new();
    let ids: Vec<_> = (1..=6).map(|w| pool.add(w).unwrap()).collect();
    for (k, &id) in ids.iter().enumerate() {
        let h = if k % 2 == 0 {
            Health::Down
        } else {
            Health::Draining
        };
        pool.set_health(id, h).unwrap();
    }
    assert_nothing_pickable(&pool, "all down or draining");
}

#[test]
fn nothing_eligible_for_mixed_reasons_picks_nothing() {
    let pool: Pool<6> = Pool::new();
    let a = pool.add(3).unwrap();
    let b = pool.add(0).unwrap();
    pool.add_backend(Backend::new(2).health(Health::Down))
        .unwrap();
    pool.add_backend(Backend::new(2).health(Health::Draining))
        .unwrap();
    let e = pool.add(1).unwrap();
    pool.remove(e).unwrap();
    pool.set_cap(a, NonZeroU32::new(2)).unwrap();
    let _full = (
        Lease::acquire(&pool, a).unwrap(),
        Lease::acquire(&pool, a).unwrap(),
    );
    pool.set_cap(b, NonZeroU32::new(1)).unwrap();
    assert_nothing_pickable(&pool, "capped, zero weight, down, draining, removed");
}

#[test]
fn latency_and_clock_at_their_limits() {
    let pool: Pool<3> = Pool::new();
    let a = pool.add(1).unwrap();
    let b = pool.add(MAX_WEIGHT).unwrap();
    let c = pool.add(1).unwrap();
    let strategies = every_strategy::<3>();
    let pick_all = |now: u64| {
        for s in &strategies {
            let l = s
                .lease(&pool, &mut Request::new().with_now_us(now))
                .unwrap_or_else(|| panic!("{} at {now}", s.name()));
            assert!(pool.info(l.id()).is_ok());
        }
    };
    for (lat, now) in [
        (u64::MAX, u64::MAX),
        (u64::MAX, 0),
        (0, u64::MAX),
        (u64::from(u32::MAX), 1),
        (u64::from(u32::MAX) + 1, u64::MAX / 2),
    ] {
        for id in [a, b, c] {
            Lease::acquire(&pool, id)
                .unwrap()
                .finish(Outcome::failure_after(Duration::from_micros(lat)).at_us(now));
            Lease::acquire(&pool, id)
                .unwrap()
                .finish(Outcome::success_after(Duration::from_micros(lat)).at_us(now));
        }
        pick_all(now);
        pick_all(0);
        pick_all(u64::MAX);
    }
    // latencies above u32::MAX µs saturate (about 71 minutes)
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(u64::MAX)).at_us(5));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(u32::MAX));
    // a failure streak does not wrap
    for _ in 0..1000 {
        Lease::acquire(&pool, c)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(1)).at_us(u64::MAX));
    }
    assert_eq!(pool.info(c).unwrap().failure_streak, 1000);
    for id in [a, b, c] {
        assert_eq!(pool.info(id).unwrap().in_flight, 0);
    }
}

#[test]
fn time_going_backwards_is_no_time_passing() {
    let pool: Pool<2> = Pool::with_half_life_ms(1_000);
    let a = pool.add(1).unwrap();
    let t = 100_000_000;
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(1_000)).at_us(t));
    // a fast sample from the past does not pull the estimate down
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(100)).at_us(t - 50_000_000));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(1_000));
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(100)).at_us(0));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(1_000));
    // a slow one still raises it at once
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(4_000)).at_us(0));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(4_000));
    // picks at earlier clocks than the last sample still work
    let b = pool.add(1).unwrap();
    let s: Strategy<2> = "least_time".parse().unwrap();
    for now in [0, 1, t, t - 1, u64::MAX, 0] {
        let id = s
            .select(&pool, &mut Request::new().with_now_us(now))
            .unwrap();
        assert!(id == a || id == b);
    }
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Whatever the clock does (backwards, jumps, integer limits), the estimate lies between
    /// the last sample and the largest sample (0 µs counts as 1 µs), and picks never panic.
    #[test]
    fn estimates_stay_between_the_samples(
        samples in prop::collection::vec(
            (
                prop_oneof![0..10_000u64, Just(u64::from(u32::MAX)), Just(u64::MAX)],
                prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0..10_000_000u64],
                any::<bool>(),
            ),
            1..40,
        ),
        half_life in prop_oneof![Just(0u32), 1..10_000u32, Just(u32::MAX)],
    ) {
        let pool: Pool<2> = Pool::with_half_life_ms(half_life);
        let a = pool.add(1).unwrap();
        let b = pool.add(1).unwrap();
        let s: Strategy<2> = "least_time".parse().unwrap();
        let mut max = 0u32;
        for (lat, now, ok) in samples {
            let l = Lease::acquire(&pool, a).unwrap();
            l.finish(if ok { Outcome::success_after(Duration::from_micros(lat)).at_us(now) } else { Outcome::failure_after(Duration::from_micros(lat)).at_us(now) });
            let sample = u32::try_from(lat).unwrap_or(u32::MAX).max(1);
            max = max.max(sample);
            let est = pool.info(a).unwrap().latency_us.unwrap();
            prop_assert!(sample <= est && est <= max, "{sample} <= {est} <= {max}");
            let id = s.select(&pool, &mut Request::new().with_now_us(now)).unwrap();
            prop_assert!(id == a || id == b);
        }
    }
}

#[test]
fn unknown_strategy_names() {
    let long = "round_robin".repeat(4);
    for name in [
        "",
        " ",
        "fastest",
        "round",
        "round_robin_",
        "round__robin",
        "roundrobin2",
        "least",
        "p2c_unknown",
        "rаndom", // Cyrillic 'а'
        "random\0",
        "ROUND_ROBIN; DROP TABLE",
        long.as_str(),
        "r\u{301}andom",
    ] {
        let got = name.parse::<Strategy<4>>();
        let err = got.expect_err(name);
        assert_eq!(err.reason(), ParseReason::Unknown, "{name:?}");
        // the error names what was refused (its first 32 bytes) and lists the known names
        assert!(name.starts_with(err.name()), "{name:?} -> {:?}", err.name());
        let text = err.to_string();
        assert!(
            text.contains("round_robin") && text.contains("peak_ewma"),
            "{text}"
        );
        assert!(Strategy::<4>::from_name(name, 7).is_err(), "{name:?}");
    }
    // the same names that users know are accepted, however they are spelled
    for (name, canonical) in [
        ("Round-Robin", "round_robin"),
        ("  least_conn ", "least_conn"),
        ("WRR", "weighted_round_robin"),
        ("least-time", "least_time"),
        ("RANDOM", "random"),
    ] {
        assert_eq!(name.parse::<Strategy<4>>().unwrap().name(), canonical);
    }
    for name in Strategy::<4>::NAMES {
        assert_eq!(name.parse::<Strategy<4>>().unwrap().name(), *name);
    }
    let refused = "fastest".parse::<Strategy<4>>().expect_err("unknown");
    assert_eq!(refused.name(), "fastest");
    assert!(refused.to_string().contains("`fastest`"));
    let e: &dyn core::error::Error = &refused;
    assert!(e.source().is_none());
    assert!(!e.to_string().is_empty());
}

#[test]
fn error_is_a_core_error_with_distinct_messages() {
    let all = [
        BackendError::Full,
        BackendError::WeightTooLarge,
        BackendError::WeightOverflow,
        BackendError::NoSuchBackend,
        BackendError::Stale,
        BackendError::Busy,
        BackendError::ShareTooLarge,
    ];
    let mut messages: Vec<String> = all
        .iter()
        .map(|e| {
            let dyn_err: &dyn core::error::Error = e;
            assert!(dyn_err.source().is_none());
            let msg = dyn_err.to_string();
            assert!(!msg.is_empty(), "{e:?}");
            assert_eq!(msg, format!("{e}"));
            msg
        })
        .collect();
    messages.sort();
    messages.dedup();
    assert_eq!(
        messages.len(),
        all.len(),
        "each variant says something different"
    );
    // usable with `?` into a boxed error
    fn fails() -> Result<(), Box<dyn core::error::Error + Send + Sync>> {
        let pool: Pool<1> = Pool::new();
        pool.add(1)?;
        pool.add(1)?;
        Ok(())
    }
    assert_eq!(
        fails().unwrap_err().to_string(),
        BackendError::Full.to_string()
    );
}
