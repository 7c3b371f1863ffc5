//! Slow start ([`SlowStart`]): a backend that joins, comes back up, or returns from ejection
//! ramps its effective weight along the stated curve
//! `w_eff = max(1, w · max(min %, (t / window)^(1 / aggression)))` from the first pick that
//! sees it, and has its full weight at the end of the window.
//!
//! **How the effective weight is measured, exactly.** A warming backend `A` (weight `a`) and
//! a settled backend `B` (weight `b` = 2048) take leases, held, one pick after the other, at
//! one instant (so `A`'s effective weight `e` is fixed). Least connections, and P2C with two
//! eligible backends (both are always the candidates), pick a minimiser of `in_flight / weight`;
//! least time and P2C peak-EWMA with no samples, of `(in_flight + 1) / weight`. Such greedy
//! filling keeps `(f_A − 1)/e ≤ f_B/b` and `(f_B − 1)/b ≤ f_A/e` (for the `+ 1` rule,
//! `f_A/(f_B + 1) ≤ e/b ≤ (f_A + 1)/f_B`), so after `3·(a + b)` leases the integer `e` is the
//! only one in an interval narrower than one: the test reads it off and compares it with a
//! reference model of the curve (integer, written from the formula: the ratio `t/window` in
//! Q16 rounded down, its exact root rounded down to Q16, the floor `min %` rounded up to Q16)
//! and with the formula in floating point (within 1). This is done at random times, weights,
//! windows, aggressions and floors, for all four strategies.
//!
//! Weighted random and weighted round robin (which thins a warming backend's turns at
//! random) give `A` the share `e / (e + b)` within a 5-sigma bound.
//!
//! Also: the window starts at the first pick that sees the backend (not when it was added);
//! it is full weight at the end and stays so (even if the clock then goes backwards);
//! `set_health(Up)` after down or draining restarts the ramp, `set_health(Up)` on a backend
//! already up does not; a backend returning from ejection starts from the floor at the pick
//! that returns it; the effective weight is never 0; and every invalid [`SlowStart`] is
//! refused by [`Pool::with_config`] with [`ConfigError::InvalidSlowStart`].

#![allow(clippy::indexing_slicing)]

use crate::support::SplitMix;
use core::time::Duration;
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tinylb::{
    Backend, BackendId, Config, ConfigError, Ejection, Health, Lease, Outcome, Pool, Request,
    Select, SelectExt, SlowStart, Strategy,
};

const N: usize = 4;
/// The settled backend's weight.
const B: u32 = 2048;

// ----- reference model -----

/// Largest `y` (Q16) with `(y / 2^16)^k <= x / 2^16`, by bisection on exact integers.
fn root_q16(x: u64, k: u32) -> u64 {
    let (mut lo, mut hi) = (0u64, 1u64 << 16);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let le = (mid as u128)
            .checked_pow(k)
            .is_some_and(|p| p <= (x as u128) << (16 * (k - 1)));
        if le {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Effective weight of a backend of weight `w`, `t` ms into its ramp.
fn model(ss: SlowStart, w: u32, t: u64) -> u32 {
    if t >= ss.window_ms as u64 {
        return w;
    }
    let x = (t << 16) / ss.window_ms as u64;
    let root = root_q16(x, ss.aggression);
    let floor = ((ss.min_weight_percent as u64) << 16).div_ceil(100);
    let e = ((w as u64 * root.max(floor)) >> 16) as u32;
    e.max(1)
}

/// The curve in floating point, at the fraction of the window the crate works with: `t /
/// window` in Q16, truncated (the documented time resolution of the ramp).
fn formula(ss: SlowStart, w: u32, t: u64) -> f64 {
    let x = ((t << 16) / ss.window_ms as u64).min(1 << 16);
    let frac = x as f64 / 65536.0;
    let f = (ss.min_weight_percent as f64 / 100.0).max(frac.powf(1.0 / ss.aggression as f64));
    (w as f64 * f).max(1.0)
}

/// How far the integer weight may sit from [`formula`]: below it by the final rounding down
/// (under 1) plus the root's rounding down to a multiple of 2^-16 (under `w / 2^16`); above
/// it by the floor's rounding up to a multiple of 2^-16 (under `w / 2^16`).
fn within_rounding(want: u32, exact: f64, w: u32) -> bool {
    let q = w as f64 / 65536.0;
    let want = want as f64;
    want <= exact + q + 1e-9 && exact - want < 1.0 + q + 1e-9
}

// ----- measurement -----

/// A pool with `B` settled (its own window over) and `A` (weight `a`) added but not yet seen
/// by any pick. Clock of the settling: before `settle_ms`.
fn two_backends(config: Config, a: u32, settle_ms: u64) -> (Pool<N>, BackendId, BackendId) {
    let pool = Pool::with_config(config).unwrap();
    let b = pool.add(B).unwrap();
    let window = config.slow_start.map_or(0, |s| s.window_ms as u64);
    let lc = tinylb::LeastConn::new();
    // the first pick starts b's window, one at its end finishes it
    lc.select(&pool, &mut Request::new().with_now_us(1000))
        .unwrap();
    lc.select(&pool, &mut Request::new().with_now_us((1 + window) * 1000))
        .unwrap();
    assert!(window < settle_ms);
    let a = pool.add(a).unwrap();
    (pool, a, b)
}

/// Which greedy rule a strategy follows with two eligible, idle-to-loaded backends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// minimiser of `in_flight / weight`
    Load,
    /// minimiser of `(in_flight + 1) / weight`
    LoadPlusOne,
}

fn rule(name: &str) -> Rule {
    match name {
        "least_conn" | "p2c" => Rule::Load,
        "least_time" | "peak_ewma" => Rule::LoadPlusOne,
        _ => unreachable!(),
    }
}

/// `A`'s effective weight at `now_us`, read off greedy filling by strategy `name`, or the
/// interval if it is not a single integer.
fn measure(
    pool: &Pool<N>,
    a: BackendId,
    b: BackendId,
    name: &str,
    upto: u32,
    now_us: u64,
) -> Result<u32, (u64, u64)> {
    let s: Strategy<N> = Strategy::from_name(name, 5).unwrap();
    let mut rng = SplitMix(now_us);
    let total = 3 * (upto + B);
    let held: Vec<_> = (0..total)
        .map(|_| {
            s.lease(
                pool,
                &mut Request::new().with_now_us(now_us).with_rng(&mut rng),
            )
            .unwrap()
        })
        .collect();
    let fa = pool.in_flight_at(a.index()) as u64;
    let fb = pool.in_flight_at(b.index()) as u64;
    assert_eq!(fa + fb, total as u64);
    drop(held);
    let b = B as u64;
    // e in [lo_n/lo_d, hi_n/hi_d]
    let (lo, hi) = match rule(name) {
        Rule::Load => ((b * fa.saturating_sub(1)).div_ceil(fb), (b * fa) / (fb - 1)),
        Rule::LoadPlusOne => ((b * fa).div_ceil(fb + 1), (b * (fa + 1)) / fb),
    };
    if lo == hi {
        Ok(lo as u32)
    } else {
        Err((lo, hi))
    }
}

const GREEDY: [&str; 4] = ["least_conn", "p2c", "least_time", "peak_ewma"];

fn slow_start() -> impl proptest::strategy::Strategy<Value = SlowStart> {
    (
        prop_oneof![1u32..=100, 100u32..=100_000, Just(1000u32)],
        1u32..=8,
        prop_oneof![0u32..=100, Just(10u32), Just(0u32)],
    )
        .prop_map(|(window_ms, aggression, min_weight_percent)| SlowStart {
            window_ms,
            aggression,
            min_weight_percent,
        })
}

proptest! {
    #![proptest_config(crate::support::config(40))]

    /// At a random time into (or past) the window, the effective weight read off greedy
    /// filling is exactly the model's, within 1 of the formula, for every strategy that
    /// compares loads; past the window it is the full weight.
    #[test]
    fn effective_weight_follows_the_curve(
        ss in slow_start(),
        a in 1u32..=1000,
        // elapsed time as a fraction of the window, in 1/1000, up to 1.2 windows
        frac in prop_oneof![0u64..=1200, Just(0u64), Just(1000u64), Just(999u64)],
        start_odd in 0u64..1_000_000,
        which in 0usize..4,
    ) {
        let config = Config::new().slow_start(ss);
        let settle = 2 + ss.window_ms as u64;
        // the window starts at the pick's millisecond (an odd one: see `window_tick_parity`)
        let start_ms = (settle | 1) + 2 * start_odd;
        let (pool, ida, idb) = two_backends(config, a, settle);
        let t = frac * ss.window_ms as u64 / 1000;
        let lc = tinylb::LeastConn::new();
        lc.select(&pool, &mut Request::new().with_now_us(start_ms * 1000 + 999)).unwrap();
        let want = model(ss, a, t);
        let name = GREEDY[which];
        // µs within the millisecond do not matter
        let got = measure(&pool, ida, idb, name, a, (start_ms + t) * 1000 + 123);
        prop_assert_eq!(got, Ok(want), "{} at t={} of {}", name, t, ss.window_ms);
        let exact = formula(ss, a, t);
        prop_assert!(within_rounding(want, exact, a), "{} against {}", want, exact);
        if t >= ss.window_ms as u64 {
            prop_assert_eq!(want, a, "full weight at the end");
        }
    }

    /// Invalid slow-start settings: the exact error; the limits themselves are accepted.
    #[test]
    fn invalid_slow_start_is_refused(
        window_ms in 0u32..=3,
        aggression in 0u32..=10,
        min_weight_percent in prop_oneof![0u32..=102, Just(u32::MAX)],
    ) {
        let ss = SlowStart { window_ms, aggression, min_weight_percent };
        let valid = window_ms > 0 && (1..=8).contains(&aggression) && min_weight_percent <= 100;
        let got = Pool::<N>::with_config(Config::new().slow_start(ss)).map(|p| *p.config());
        if valid {
            prop_assert_eq!(got, Ok(Config::new().slow_start(ss)));
        } else {
            prop_assert_eq!(got, Err(ConfigError::InvalidSlowStart));
        }
    }
}

/// Each invalid field alone, then with other invalid sections (slow start is checked first).
#[test]
fn invalid_slow_start_fields() {
    let ok = SlowStart::linear(1000);
    for bad in [
        SlowStart { window_ms: 0, ..ok },
        SlowStart {
            aggression: 0,
            ..ok
        },
        SlowStart {
            aggression: 9,
            ..ok
        },
        SlowStart {
            aggression: u32::MAX,
            ..ok
        },
        SlowStart {
            min_weight_percent: 101,
            ..ok
        },
    ] {
        assert_eq!(
            Pool::<N>::with_config(Config::new().slow_start(bad)).err(),
            Some(ConfigError::InvalidSlowStart),
            "{bad:?}"
        );
        let worse = Config::new()
            .slow_start(bad)
            .ejection(Ejection {
                consecutive_failures: 0,
                ..Ejection::ENVOY
            })
            .panic_threshold_percent(101);
        assert_eq!(
            Pool::<N>::with_config(worse).err(),
            Some(ConfigError::InvalidSlowStart)
        );
    }
    for good in [
        SlowStart { window_ms: 1, ..ok },
        SlowStart {
            window_ms: u32::MAX,
            ..ok
        },
        SlowStart {
            aggression: 8,
            ..ok
        },
        SlowStart {
            min_weight_percent: 0,
            ..ok
        },
        SlowStart {
            min_weight_percent: 100,
            ..ok
        },
    ] {
        assert!(
            Pool::<N>::with_config(Config::new().slow_start(good)).is_ok(),
            "{good:?}"
        );
    }
}

/// `A`'s share of `picks` picks by `s` at `now_us` (leases dropped at once).
fn share(s: &Strategy<N>, pool: &Pool<N>, a: BackendId, now_us: u64, picks: u32) -> f64 {
    let mut rng = SplitMix(99);
    let hits = (0..picks)
        .filter(|_| {
            s.select(
                pool,
                &mut Request::new().with_now_us(now_us).with_rng(&mut rng),
            )
            .unwrap()
                == a
        })
        .count();
    hits as f64 / picks as f64
}

/// Weighted random and weighted round robin give a warming backend the share
/// `e / (e + b)` at sampled times of a linear and a square-root ramp, and `a / (a + b)` at
/// the end.
#[test]
fn random_and_wrr_shares_follow_the_curve() {
    for ss in [
        SlowStart::linear(10_000),
        SlowStart {
            window_ms: 8_000,
            aggression: 2,
            min_weight_percent: 5,
        },
    ] {
        for name in ["random", "weighted_round_robin"] {
            for t in [0u64, 1_000, 2_500, 5_000, 7_999, 10_000] {
                let config = Config::new().slow_start(ss);
                let (pool, a, _b) = two_backends(config, B, 20_001);
                // the pick that starts a's window: one that looks at every backend (a round
                // robin or random pick may look at `b` only, and not start it)
                let start = 30_001u64;
                tinylb::LeastConn::new()
                    .select(&pool, &mut Request::new().with_now_us(start * 1000))
                    .unwrap();
                let s: Strategy<N> = Strategy::from_name(name, 3).unwrap();
                let e = model(ss, B, t) as f64;
                let p = e / (e + B as f64);
                let picks = 20_000u32;
                let got = share(&s, &pool, a, (start + t) * 1000, picks);
                let sigma = (p * (1.0 - p) / picks as f64).sqrt();
                assert!(
                    (got - p).abs() <= 5.0 * sigma + 1e-3,
                    "{name} {ss:?} t={t}: share {got}, want {p} (e = {e})"
                );
            }
        }
    }
}

/// The ramp's clock: it starts at the first pick that sees the backend, not at `add`; at the
/// end of the window the weight is full and the backend stays settled even if the clock
/// then reads earlier.
#[test]
fn window_starts_at_first_pick_and_ends_settled() {
    let ss = SlowStart::linear(10_000);
    let (pool, a, b) = two_backends(Config::new().slow_start(ss), 1000, 20_001);
    // nothing looks at a for a long time after it was added
    let start = 1_000_001u64;
    tinylb::LeastConn::new()
        .select(&pool, &mut Request::new().with_now_us(start * 1000))
        .unwrap();
    let at = |t: u64| measure(&pool, a, b, "least_conn", 1000, (start + t) * 1000);
    assert_eq!(at(0), Ok(100), "floor: 10 %");
    assert_eq!(at(5_000), Ok(500));
    assert_eq!(at(9_999), Ok(999));
    assert_eq!(at(10_000), Ok(1000));
    // settled: an earlier clock no longer matters
    assert_eq!(at(5_000), Ok(1000));
    assert_eq!(
        measure(&pool, a, b, "least_conn", 1000, 0),
        Ok(1000),
        "clock far back"
    );
}

/// `set_health(Up)` after down or draining restarts the ramp (from the first pick after it);
/// `set_health(Up)` on a backend already up does not; a backend added down ramps from the
/// first pick after it is set up.
#[test]
fn coming_back_up_restarts_the_ramp() {
    let ss = SlowStart::linear(10_000);
    for gone in [Health::Down, Health::Draining] {
        let (pool, a, b) = two_backends(Config::new().slow_start(ss), 1000, 20_001);
        let lc = tinylb::LeastConn::new();
        lc.select(&pool, &mut Request::new().with_now_us(30_001_000))
            .unwrap();
        lc.select(&pool, &mut Request::new().with_now_us(40_001_000))
            .unwrap();
        assert_eq!(
            measure(&pool, a, b, "least_conn", 1000, 40_001_000),
            Ok(1000)
        );
        // up again while up: nothing changes
        pool.set_health(a, Health::Up).unwrap();
        assert_eq!(
            measure(&pool, a, b, "least_conn", 1000, 40_002_000),
            Ok(1000)
        );
        pool.set_health(a, gone).unwrap();
        pool.set_health(a, Health::Up).unwrap();
        lc.select(&pool, &mut Request::new().with_now_us(50_001_000))
            .unwrap();
        assert_eq!(
            measure(&pool, a, b, "least_conn", 1000, 50_001_000),
            Ok(100)
        );
        assert_eq!(
            measure(&pool, a, b, "least_conn", 1000, 52_501_000),
            Ok(250)
        );
        assert_eq!(
            measure(&pool, a, b, "least_conn", 1000, 60_001_000),
            Ok(1000)
        );
    }
    // added down: no ramp until it is up, then from the first pick after that
    let pool: Pool<N> = Pool::with_config(Config::new().slow_start(ss)).unwrap();
    let b = pool.add(B).unwrap();
    let a = pool
        .add_backend(Backend::new(1000).health(Health::Down))
        .unwrap();
    let lc = tinylb::LeastConn::new();
    lc.select(&pool, &mut Request::new().with_now_us(1_000))
        .unwrap();
    lc.select(&pool, &mut Request::new().with_now_us(20_001_000))
        .unwrap();
    pool.set_health(a, Health::Up).unwrap();
    lc.select(&pool, &mut Request::new().with_now_us(30_001_000))
        .unwrap();
    assert_eq!(
        measure(&pool, a, b, "least_conn", 1000, 37_501_000),
        Ok(750)
    );
}

/// A backend returning from ejection gets the floor at the pick that returns it, and ramps
/// from that pick's clock.
#[test]
fn return_from_ejection_ramps_from_the_floor() {
    let ss = SlowStart {
        window_ms: 10_000,
        aggression: 1,
        min_weight_percent: 20,
    };
    let ej = Ejection {
        consecutive_failures: 1,
        base_ms: 5_000,
        max_ms: 5_000,
        max_ejection_percent: 100,
        interval_ms: 5_000,
    };
    // the weight is read off least-connections shares: the failure that ejects `a` would
    // also charge it the failure penalty, which is not what this test measures
    let config = Config::new()
        .slow_start(ss)
        .ejection(ej)
        .panic_threshold_percent(0)
        .failure_penalty_percent(0);
    let (pool, a, b) = two_backends(config, 1000, 20_001);
    let lc = tinylb::LeastConn::new();
    lc.select(&pool, &mut Request::new().with_now_us(30_001_000))
        .unwrap();
    lc.select(&pool, &mut Request::new().with_now_us(40_001_000))
        .unwrap();
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::failure_after(Duration::from_micros(10)).at_us(41_001_000));
    assert!(pool.info(a).unwrap().ejected);
    // still out just before the deadline
    let before = measure_or_absent(&pool, a, 46_000_999);
    assert_eq!(before, 0, "ejected: not picked");
    // the pick at the deadline returns it at the floor (20 %), and its ramp starts there
    let d = 46_001_000u64;
    assert_eq!(measure(&pool, a, b, "least_conn", 1000, d), Ok(200));
    assert!(!pool.info(a).unwrap().ejected);
    assert_eq!(
        measure(&pool, a, b, "least_conn", 1000, d + 5_000_000),
        Ok(500)
    );
    assert_eq!(
        measure(&pool, a, b, "least_conn", 1000, d + 10_000_000),
        Ok(1000)
    );
}

/// How many of 100 least-connections picks at `now_us` land on `a`.
fn measure_or_absent(pool: &Pool<N>, a: BackendId, now_us: u64) -> usize {
    let lc = tinylb::LeastConn::new();
    (0..100)
        .filter(|_| lc.select(pool, &mut Request::new().with_now_us(now_us)) == Some(a))
        .count()
}

/// The effective weight never reaches 0: a weight-1 backend at a 0 % floor, at the very
/// start of its window, is still picked when it is the only backend, and takes its share of
/// one when another backend is busier.
#[test]
fn effective_weight_is_never_zero() {
    let ss = SlowStart {
        window_ms: 60_000,
        aggression: 8,
        min_weight_percent: 0,
    };
    let pool: Pool<N> = Pool::with_config(Config::new().slow_start(ss)).unwrap();
    let a = pool.add(1).unwrap();
    for name in Strategy::<N>::NAMES {
        let s: Strategy<N> = Strategy::from_name(name, 1).unwrap();
        let mut req = Request::new().with_key(7).with_now_us(1_000);
        assert_eq!(s.select(&pool, &mut req), Some(a), "{name}");
    }
    assert_eq!(model(ss, 1, 0), 1);
    assert_eq!(model(ss, 1000, 0), 1);
}

/// The window starts at the millisecond of the first pick that sees the backend. (With an
/// even millisecond it starts one millisecond later, at the next odd one: the pool marks the
/// start with an odd tick so that 0 can mean "not yet seen". This test pins how much that
/// can be: at most 1 ms.)
#[test]
fn window_tick_parity() {
    let ss = SlowStart::linear(1_000);
    for start in [30_000u64, 30_001] {
        let (pool, a, b) = two_backends(Config::new().slow_start(ss), 1000, 20_001);
        tinylb::LeastConn::new()
            .select(&pool, &mut Request::new().with_now_us(start * 1000))
            .unwrap();
        let got = measure(&pool, a, b, "least_conn", 1000, (start + 500) * 1000).unwrap();
        let late = model(ss, 1000, 500 - (1 - start % 2));
        assert!(
            got == model(ss, 1000, 500) || got == late,
            "start {start}: {got}"
        );
        assert_eq!(
            got, late,
            "start {start}: the window starts at the odd tick"
        );
        let end = measure(&pool, a, b, "least_conn", 1000, (start + 1_001) * 1000);
        assert_eq!(
            end,
            Ok(1000),
            "start {start}: full weight 1 ms after the window"
        );
    }
}
