//! Time and latency at their edges, for the latency estimate, slow start and ejection.
//!
//! * **The clock going backwards** counts as no time passing: a later-reported fast sample
//!   does not decay the estimate, a pick at an earlier clock sees it undecayed, an ejected
//!   backend stays out, a warming backend stays at the start of its ramp, and no time back
//!   in the pool is earned.
//! * **`now` at `u64::MAX`** (and just below it): picks by every strategy and `finish`
//!   work; an ejection made 30 s before `u64::MAX` ends exactly at `u64::MAX`; a ramp started
//!   a window before it is complete there.
//! * **The 32-bit millisecond tick wrapping** (every 2^32 ms, about 49.7 days of the
//!   caller's clock): ejection deadlines, ramps and decay measured across the wrap are exact.
//! * **A lease finished after its backend was removed** records nothing (no latency, no
//!   failure, no ejection, on no backend), gives its in-flight unit back, and the slot is then
//!   reused clean.
//! * **Latency 0** is stored as 1 µs (0 means "no sample"); **`u64::MAX`** (or any latency
//!   from `u32::MAX` µs up, and `Duration::MAX`) saturates at `u32::MAX` µs; such estimates
//!   compare without overflow, and a failure with either latency still counts as a failure.
//!
//! Clocks here are chosen so that the ticks the pool stamps (slow-start starts, returns from
//! ejection) are odd milliseconds: the pool marks a stamped tick by setting its lowest bit,
//! so an even millisecond is stamped as the next one (see the `slow_start` tests).

#![allow(clippy::indexing_slicing)]

use core::time::Duration;

use crate::support::SplitMix;
use tinylb::{
    BackendId, Config, Ejection, Lease, LeastConn, Outcome, PeakEwma, Pool, Request, Select,
    SelectExt, SlowStart, Strategy,
};

const N: usize = 8;

fn lat(pool: &Pool<N>, id: BackendId) -> Option<u32> {
    pool.info(id).unwrap().latency_us
}

fn finish(pool: &Pool<N>, id: BackendId, ok: bool, latency_us: u64, now_us: u64) {
    let lease = Lease::acquire(pool, id).expect("up");
    lease.finish(if ok {
        Outcome::success_after(Duration::from_micros(latency_us)).at_us(now_us)
    } else {
        Outcome::failure_after(Duration::from_micros(latency_us)).at_us(now_us)
    });
}

fn ejecting(k: u32, base_ms: u32) -> Pool<N> {
    Pool::with_config(
        Config::new()
            .ejection(Ejection {
                consecutive_failures: k,
                base_ms,
                max_ms: 10 * base_ms,
                max_ejection_percent: 100,
                interval_ms: base_ms,
            })
            .panic_threshold_percent(0),
    )
    .unwrap()
}

/// The effective weight of warming `a` (configured 1000) against settled `b` (4000) at
/// `now_us`, read off 3·(1000 + 4000) least-connections leases (see the `slow_start` tests).
fn effective(pool: &Pool<N>, a: BackendId, b: BackendId, now_us: u64) -> u64 {
    let lc = LeastConn::new();
    let held: Vec<_> = (0..15_000)
        .map(|_| {
            lc.lease(pool, &mut Request::new().with_now_us(now_us))
                .unwrap()
        })
        .collect();
    let (fa, fb) = (
        pool.in_flight_at(a.index()) as u64,
        pool.in_flight_at(b.index()) as u64,
    );
    drop(held);
    let (lo, hi) = ((4000 * (fa - 1)).div_ceil(fb), (4000 * fa) / (fb - 1));
    assert_eq!(lo, hi, "not a single integer: [{lo}, {hi}]");
    lo
}

/// A pool with slow start (linear, 10 s, floor 10 %), `b` settled by `settle_us`, `a`
/// (weight 1000) added but not yet seen by a pick.
fn warming(settle_from_us: u64) -> (Pool<N>, BackendId, BackendId) {
    let pool = Pool::with_config(Config::new().slow_start(SlowStart::linear(10_000))).unwrap();
    let b = pool.add(4000).unwrap();
    let lc = LeastConn::new();
    lc.select(&pool, &mut Request::new().with_now_us(settle_from_us))
        .unwrap();
    lc.select(
        &pool,
        &mut Request::new().with_now_us(settle_from_us + 10_001_000),
    )
    .unwrap();
    let a = pool.add(1000).unwrap();
    (pool, a, b)
}

// ----- the clock going backwards -----

#[test]
fn backwards_clock_counts_as_no_time() {
    // estimate: a fast sample reported with an earlier clock does not decay the slow one
    let pool: Pool<N> = Pool::with_half_life_ms(1_000);
    let slow = pool.add(1).unwrap();
    let fast = pool.add(1).unwrap();
    finish(&pool, slow, true, 80_000, 100_000_000);
    finish(&pool, slow, true, 1_000, 40_000_000);
    assert_eq!(lat(&pool, slow), Some(80_000), "60 s backwards: no decay");
    // ... and a pick at an earlier clock sees the estimate undecayed
    finish(&pool, fast, true, 70_000, 10_000_000);
    let pe = PeakEwma::new();
    let mut rng = SplitMix(1);
    for _ in 0..16 {
        let mut req = Request::new().with_now_us(5_000_000).with_rng(&mut rng);
        assert_eq!(pe.select(&pool, &mut req), Some(fast));
    }

    // ejection: out at t, still out for any earlier clock, back at t + base
    let pool = ejecting(1, 30_000);
    let a = pool.add(1).unwrap();
    finish(&pool, a, false, 10, 500_001_000);
    let lc = LeastConn::new();
    for back_us in [1, 1_000_000, 499_000_000, 500_000_999, 0] {
        let now = 500_001_000 - back_us.min(500_001_000);
        assert_eq!(lc.select(&pool, &mut Request::new().with_now_us(now)), None);
    }
    assert_eq!(
        lc.select(&pool, &mut Request::new().with_now_us(530_001_000)),
        Some(a)
    );
    // earn-back: failing again with a clock 100 s behind its return earns nothing (the
    // time back reads as none): the second ejection lasts 2 × base from that failure's clock
    finish(&pool, a, false, 10, 430_001_000);
    assert_eq!(
        lc.select(&pool, &mut Request::new().with_now_us(490_000_999)),
        None,
        "second ejection in a row shorter than 2 × base"
    );
    assert_eq!(
        lc.select(&pool, &mut Request::new().with_now_us(490_001_000)),
        Some(a)
    );

    // slow start: a pick before the window's start sees the floor, not a later weight
    let (pool, a, b) = warming(1_000);
    lc.select(&pool, &mut Request::new().with_now_us(50_001_000))
        .unwrap();
    assert_eq!(effective(&pool, a, b, 55_001_000), 500);
    assert_eq!(
        effective(&pool, a, b, 40_001_000),
        100,
        "before the start: floor"
    );
    assert_eq!(effective(&pool, a, b, 60_001_000), 1000);
}

// ----- now at u64::MAX -----

#[test]
fn now_at_u64_max() {
    let pool = ejecting(2, 30_000);
    let a = pool.add(2).unwrap();
    let b = pool.add(3).unwrap();
    for now in [u64::MAX, u64::MAX - 1, u64::MAX - 999] {
        for name in Strategy::<N>::NAMES {
            let s: Strategy<N> = Strategy::from_name(name, 4).unwrap();
            let mut req = Request::new().with_key(now).with_now_us(now);
            let lease = s.lease(&pool, &mut req).expect(name);
            lease.finish(Outcome::success_after(Duration::from_micros(1_000)).at_us(now));
        }
    }
    assert_eq!(lat(&pool, a).or(lat(&pool, b)), Some(1_000));

    // an ejection 30 s before u64::MAX ends exactly at u64::MAX
    let t = u64::MAX - 30_000_000;
    finish(&pool, a, false, 10, t);
    finish(&pool, a, false, 10, t);
    assert!(pool.info(a).unwrap().ejected);
    let lc = LeastConn::new();
    lc.select(&pool, &mut Request::new().with_now_us(u64::MAX - 1_000));
    assert!(pool.info(a).unwrap().ejected, "back 1 ms early");
    lc.select(&pool, &mut Request::new().with_now_us(u64::MAX));
    assert!(!pool.info(a).unwrap().ejected, "not back at u64::MAX");

    // a ramp started one window before u64::MAX is complete there
    let (pool, a, b) = warming(u64::MAX - 40_000_000);
    lc.select(
        &pool,
        &mut Request::new().with_now_us(u64::MAX - 10_000_000),
    )
    .unwrap();
    assert_eq!(effective(&pool, a, b, u64::MAX - 5_000_000), 500);
    assert_eq!(effective(&pool, a, b, u64::MAX), 1000);
}

// ----- the 32-bit tick wrapping -----

#[test]
fn the_millisecond_tick_wraps_cleanly() {
    // tick = now_us / 1000 mod 2^32: these clocks sit 9 ms before a wrap
    let wrap_us = (1u64 << 32) * 1000 * 3;
    let before = wrap_us - 9_000;

    let pool = ejecting(1, 30_000);
    let a = pool.add(1).unwrap();
    finish(&pool, a, false, 10, before);
    let lc = LeastConn::new();
    assert_eq!(
        lc.select(&pool, &mut Request::new().with_now_us(before + 29_999_000)),
        None
    );
    assert_eq!(
        lc.select(&pool, &mut Request::new().with_now_us(before + 30_000_000)),
        Some(a)
    );

    // decay across the wrap: one half-life later, a fast sample pulls the estimate halfway
    let pool: Pool<N> = Pool::with_half_life_ms(1_000);
    let x = pool.add(1).unwrap();
    finish(&pool, x, true, 10_001, before);
    finish(&pool, x, true, 1, before + 1_000_000);
    assert_eq!(lat(&pool, x), Some(1 + 5_000));

    // a ramp across the wrap (start at an odd tick before it)
    let start = before + 2_000; // 7 ms before the wrap: an odd tick
    assert_eq!((start / 1000) % 2, 1);
    let (pool, a, b) = warming(start - 20_000_000);
    lc.select(&pool, &mut Request::new().with_now_us(start))
        .unwrap();
    assert_eq!(effective(&pool, a, b, start + 2_500_000), 250);
    assert_eq!(effective(&pool, a, b, start + 10_000_000), 1000);
}

// ----- a lease finished after its backend was removed -----

#[test]
fn lease_finished_after_removal_records_nothing() {
    let pool = ejecting(1, 30_000);
    let a = pool.add(1).unwrap();
    let keep = pool.add(1).unwrap();
    let stale = Lease::acquire(&pool, a).unwrap();
    let stale2 = Lease::acquire(&pool, a).unwrap();
    pool.remove(a).unwrap();
    // the slot is not reused while a lease is out: a new backend goes elsewhere
    let c = pool.add(1).unwrap();
    assert_ne!(c.index(), a.index());
    stale.finish(Outcome::failure_after(Duration::from_micros(u64::MAX)).at_us(1_000_000));
    assert_eq!(
        pool.ejected_count(),
        0,
        "a removed backend's failure ejected something"
    );
    for id in [keep, c] {
        let info = pool.info(id).unwrap();
        assert_eq!(
            (info.latency_us, info.failure_streak, info.ejected),
            (None, 0, false)
        );
    }
    assert_eq!(pool.in_flight_at(a.index()), 1);
    stale2.finish(Outcome::success_after(Duration::from_micros(5)).at_us(1_000_000));
    assert_eq!(pool.in_flight_at(a.index()), 0);
    // now the slot is reused, and its new backend starts clean
    let d = pool.add(1).unwrap();
    assert_eq!(d.index(), a.index());
    let info = pool.info(d).unwrap();
    assert_eq!(
        (
            info.latency_us,
            info.failure_streak,
            info.ejected,
            info.in_flight
        ),
        (None, 0, false, 0)
    );
    assert!(pool.info(a).is_err(), "the old id is stale");
}

// ----- latency 0 and at the integer limit -----

#[test]
fn latency_zero_and_at_the_limit() {
    let pool: Pool<N> = Pool::new();
    let zero = pool.add(1).unwrap();
    let max = pool.add(1).unwrap();
    finish(&pool, zero, true, 0, 1_000_000);
    assert_eq!(lat(&pool, zero), Some(1), "0 µs is stored as 1 µs");
    for (l, want) in [
        (u32::MAX as u64 - 1, u32::MAX - 1),
        (u32::MAX as u64, u32::MAX),
        (u32::MAX as u64 + 1, u32::MAX),
        (u64::MAX, u32::MAX),
    ] {
        let p: Pool<N> = Pool::new();
        let id = p.add(1).unwrap();
        let lease = Lease::acquire(&p, id).unwrap();
        lease.finish(Outcome::success_after(Duration::from_micros(l)).at_us(1_000_000));
        assert_eq!(p.info(id).unwrap().latency_us, Some(want), "latency {l}");
    }
    let lease = Lease::acquire(&pool, max).unwrap();
    lease.finish(Outcome::success_after(Duration::MAX).at_us(1_000_000));
    assert_eq!(lat(&pool, max), Some(u32::MAX));
    assert_eq!(
        Outcome::failure_after(Duration::MAX).at_us(0).latency_us(),
        u64::MAX
    );

    // estimates at both ends compare without overflow, under load
    let _held: Vec<_> = (0..5)
        .map(|_| Lease::acquire(&pool, zero).unwrap())
        .collect();
    let pe = PeakEwma::new();
    let mut rng = SplitMix(2);
    for _ in 0..16 {
        let mut req = Request::new().with_now_us(1_000_000).with_rng(&mut rng);
        assert_eq!(pe.select(&pool, &mut req), Some(zero));
    }
    for name in ["least_time", "peak_ewma"] {
        let s: Strategy<N> = Strategy::from_name(name, 1).unwrap();
        let mut req = Request::new().with_now_us(1_000_000);
        assert_eq!(s.select(&pool, &mut req), Some(zero), "{name}");
    }

    // failures with either latency still count
    let pool = ejecting(2, 1_000);
    let a = pool.add(1).unwrap();
    finish(&pool, a, false, 0, 1_000_000);
    finish(&pool, a, false, u64::MAX, 1_000_000);
    assert!(pool.info(a).unwrap().ejected);
}
