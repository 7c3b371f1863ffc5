//! P2C peak-EWMA ([`PeakEwma`], `peak_ewma`) and the pool's latency estimate it reads.
//!
//! * **Peak-sensitive**: a sample at or above the estimate replaces it at once (read back
//!   through [`Pool::info`]'s `latency_us`); a sample below it pulls it down by the
//!   time-weighted average `s + (e − s)·2^(−dt/half_life)`: exactly `s + ((e − s) >> k)` after
//!   `k` whole half-lives, within the fixed-point chord (at most 6.2 % above the exact curve,
//!   and no more than the Q16 factor's 2^-16 below it) in between, and never outside `[s, e]`.
//! * **Decays with the window**: between samples a pick sees the estimate decay towards zero
//!   with the half-life. With two eligible backends (so both are always the candidates),
//!   one sampled slow at `t0` and one sampled fast at every probe, PeakEwma keeps away from
//!   the slow one while `slow·2^(−t/h)` is above the fast estimate and picks it again once
//!   it has decayed below (to within the chord's 6.2 %).
//! * **Unsampled backends are tried**: an unsampled candidate costs the other's estimate at
//!   its own load, so it wins whenever it is no more loaded, and a backend added to a pool of
//!   sampled ones is picked within a few picks.
//! * **Traffic moves away and back**: in a simulation where one of four backends turns slow
//!   for two seconds, its share falls from a quarter to almost nothing while it is slow and
//!   comes back to about a quarter once its estimate has decayed.

#![allow(clippy::indexing_slicing)]

use crate::support::SplitMix;
use core::time::Duration;
use proptest::prelude::*;
use tinylb::{BackendId, Lease, Outcome, PeakEwma, Pool, Request, Select, SelectExt};

const N: usize = 8;
/// A clock far from zero so that samples can be taken "before" it.
const T0_US: u64 = 1_000_000_000;

fn estimate(pool: &Pool<N>, id: BackendId) -> Option<u32> {
    pool.info(id).unwrap().latency_us
}

/// One request on `id` that took `latency_us` and finished at `now_us`.
fn sample(pool: &Pool<N>, id: BackendId, latency_us: u64, now_us: u64) {
    Lease::acquire(pool, id)
        .expect("eligible")
        .finish(Outcome::success_after(Duration::from_micros(latency_us)).at_us(now_us));
}

/// `2^(-dt/h)`, exactly (in f64), for the bounds.
fn curve(dt_ms: u64, h_ms: u32) -> f64 {
    if h_ms == 0 {
        return if dt_ms == 0 { 1.0 } else { 0.0 };
    }
    (-(dt_ms as f64) / h_ms as f64).exp2()
}

proptest! {
    #![proptest_config(crate::support::config(512))]

    /// A sequence of samples at increasing (sometimes repeated or backwards) times: after
    /// each, the stored estimate is the sample if the sample is at or above the previous
    /// estimate (the first sample is taken as it is; 0 µs is stored as 1), and otherwise
    /// lies in `[sample, previous]`, on the chord of the decay curve for the time since the
    /// previous sample, exactly on it at whole half-lives.
    #[test]
    fn estimate_is_peak_sensitive_and_decays_by_the_half_life(
        h in 1u32..=10_000,
        steps in prop::collection::vec(
            (0u64..=200_000, prop_oneof![
                3 => (0u64..=40_000).boxed(),
                1 => (0u64..=16).prop_map(|k| k * 10_000).boxed(),
                1 => Just(0u64).boxed(),
            ]),
            1..=40,
        ),
        backwards in prop::collection::vec(any::<bool>(), 40),
    ) {
        let pool: Pool<N> = Pool::with_half_life_ms(h);
        let id = pool.add(1).unwrap();
        prop_assert_eq!(estimate(&pool, id), None);
        let mut now_ms = T0_US / 1000;
        let mut last_sample_ms: Option<u64> = None;
        for (k, &(lat, dt_hint)) in steps.iter().enumerate() {
            // dt_hint is in 1/10 half-lives when it is a multiple of 10_000, else raw ms
            let dt = if dt_hint % 10_000 == 0 { dt_hint / 10_000 * h as u64 } else { dt_hint };
            let t = if backwards[k] && dt <= now_ms { now_ms - dt } else { now_ms + dt };
            let before = estimate(&pool, id);
            sample(&pool, id, lat, t * 1000);
            let after = estimate(&pool, id).expect("sampled");
            let s = lat.max(1) as u32;
            match before {
                None => prop_assert_eq!(after, s, "first sample taken as it is"),
                Some(e) if s >= e => prop_assert_eq!(after, s, "peak: raised at once"),
                Some(e) => {
                    prop_assert!(s <= after && after <= e, "{} not in [{}, {}]", after, s, e);
                    // time since the previous sample, backwards read as none
                    let elapsed = t.saturating_sub(last_sample_ms.unwrap());
                    let d = (e - s) as f64;
                    // the factor is kept in Q16: it may be 2^-16 below the curve
                    let lo = s as f64 + d * (curve(elapsed, h) - 1.0 / 65536.0) - 1.0;
                    let hi = s as f64 + d * (curve(elapsed, h) * 1.062).min(1.0) + 1.0;
                    prop_assert!(
                        lo <= after as f64 && after as f64 <= hi,
                        "e={} s={} dt={}ms h={}: {} not in [{}, {}]", e, s, elapsed, h, after, lo, hi
                    );
                    if elapsed % h as u64 == 0 && elapsed / (h as u64) < 17 {
                        let k = elapsed / h as u64;
                        prop_assert_eq!(after, s + ((e - s) >> k), "whole half-lives");
                    }
                }
            }
            now_ms = t;
            last_sample_ms = Some(t);
        }
    }

    /// Two eligible backends: `slow` sampled once at `t0`, `fast` sampled again at every probe
    /// time `t0 + dt`. Every pick is `fast` while `slow`'s estimate decayed to the probe
    /// (at least `slow·(2^(−dt/h) − 2^−16)`) is above `fast`'s, and `slow` once even the chord's upper
    /// bound (6.2 % above the curve) is below it.
    #[test]
    fn picks_see_the_estimate_decay_with_the_half_life(
        slow in 2_000u32..=5_000_000,
        fast_div in 2u32..=1000,
        h in 1u32..=10_000,
        probes in prop::collection::vec(0u64..=20_000, 1..=12),
        slow_first in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let fast = (slow / fast_div).max(1);
        let pool: Pool<N> = Pool::with_half_life_ms(h);
        let (a, b) = (pool.add(4).unwrap(), pool.add(4).unwrap());
        let (slow_id, fast_id) = if slow_first { (a, b) } else { (b, a) };
        sample(&pool, slow_id, slow as u64, T0_US);
        let pe = PeakEwma::new();
        let mut rng = SplitMix(seed);
        let mut probes = probes;
        probes.sort_unstable();
        for p in probes {
            // p in 1/1000 of a half-life, up to 20 half-lives
            let dt_ms = p * h as u64 / 1000;
            let now = T0_US + dt_ms * 1000;
            sample(&pool, fast_id, fast as u64, now);
            let lo = slow as f64 * (curve(dt_ms, h) - 1.0 / 65536.0) - 1.0;
            let hi = slow as f64 * curve(dt_ms, h) * 1.062 + 1.0;
            for _ in 0..4 {
                let got = pe
                    .select(&pool, &mut Request::new().with_now_us(now).with_rng(&mut rng))
                    .unwrap();
                if lo > fast as f64 {
                    prop_assert_eq!(got, fast_id, "dt={}ms: slow still costs >= {}", dt_ms, lo);
                } else if hi < fast as f64 {
                    prop_assert_eq!(got, slow_id, "dt={}ms: slow decayed to <= {}", dt_ms, hi);
                }
            }
        }
    }

    /// Two eligible backends, one sampled (any estimate), one not: the unsampled one costs the
    /// sampled one's estimate at its own load and weight, `est·(in_flight + 1) / weight`, and
    /// wins ties, whichever slot it is in.
    #[test]
    fn an_unsampled_candidate_borrows_the_other_estimate_and_wins_ties(
        est in 1u64..=10_000_000,
        (ws, wu) in (1u32..=20, 1u32..=20),
        (fs, fu) in (0u32..=6, 0u32..=6),
        unsampled_first in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let (x, y) = (pool.add(1).unwrap(), pool.add(1).unwrap());
        let (s, u) = if unsampled_first { (y, x) } else { (x, y) };
        pool.set_weight(s, ws).unwrap();
        pool.set_weight(u, wu).unwrap();
        sample(&pool, s, est, T0_US);
        let mut held = Vec::new();
        for _ in 0..fs { held.push(Lease::acquire(&pool, s).unwrap()); }
        for _ in 0..fu { held.push(Lease::acquire(&pool, u).unwrap()); }
        // cost_u <= cost_s  <=>  (fu + 1) / wu <= (fs + 1) / ws  (same estimate)
        let u_wins = (fu as u64 + 1) * ws as u64 <= (fs as u64 + 1) * wu as u64;
        let pe = PeakEwma::with_seed(seed);
        let mut rng = SplitMix(seed);
        for _ in 0..16 {
            let got = pe
                .select(&pool, &mut Request::new().with_now_us(T0_US).with_rng(&mut rng))
                .unwrap();
            prop_assert_eq!(got, if u_wins { u } else { s });
        }
    }

    /// Two eligible backends of equal weight, neither sampled: the less loaded wins, as in
    /// P2C.
    #[test]
    fn neither_sampled_the_less_loaded_wins(
        w in 1u32..=20,
        (fa, fb) in (0u32..=6, 0u32..=6),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let (a, b) = (pool.add(w).unwrap(), pool.add(w).unwrap());
        let mut held = Vec::new();
        for _ in 0..fa { held.push(Lease::acquire(&pool, a).unwrap()); }
        for _ in 0..fb { held.push(Lease::acquire(&pool, b).unwrap()); }
        let pe = PeakEwma::new();
        let mut rng = SplitMix(seed);
        for _ in 0..16 {
            let got = pe.select(&pool, &mut Request::new().with_rng(&mut rng)).unwrap();
            if fa < fb {
                prop_assert_eq!(got, a);
            } else if fb < fa {
                prop_assert_eq!(got, b);
            }
        }
    }
}

/// A backend added to a pool of sampled backends (estimates 0.5 ms to 5 ms) is tried within
/// a few picks: whenever it is a candidate, it borrows its rival's estimate and wins the tie.
#[test]
fn a_new_backend_is_tried_not_starved() {
    for seed in 0..32u64 {
        let pool: Pool<N> = Pool::new();
        let mut rng = SplitMix(seed);
        for i in 0..7u64 {
            let id = pool.add(1).unwrap();
            sample(&pool, id, 500 + 700 * i, T0_US);
        }
        let fresh = pool.add(1).unwrap();
        let pe = PeakEwma::new();
        let mut now = T0_US;
        let tried = (1..=60).find(|_| {
            now += 1000;
            let mut req = Request::new().with_now_us(now).with_rng(&mut rng);
            let lease = pe.lease(&pool, &mut req).unwrap();
            let id = lease.id();
            // the newcomer turns out to be slow: it is tried all the same
            let lat = if id == fresh {
                50_000
            } else {
                500 + 700 * id.index() as u64
            };
            lease.finish(Outcome::success_after(Duration::from_micros(lat)).at_us(now));
            id == fresh
        });
        assert!(
            tried.is_some(),
            "seed {seed}: the new backend was never tried"
        );
    }
}

/// Four backends answering in about 1 ms; backend 0 answers in 50 ms between 2 s and 4 s.
/// One request per millisecond, each finished at once (half-life 1 s). Backend 0's share is
/// about a quarter before, under 1 % while it is slow, and back to about a quarter (within
/// 6 points) from 12 s on, once its estimate has decayed and fresh samples have brought it
/// down.
#[test]
fn traffic_moves_away_from_a_slow_backend_and_back() {
    let pool: Pool<N> = Pool::with_half_life_ms(1000);
    let ids: Vec<BackendId> = (0..4).map(|_| pool.add(1).unwrap()).collect();
    let pe = PeakEwma::new();
    let mut rng = SplitMix(42);
    let mut jitter = SplitMix(43);
    // picks of backend 0 and all picks, per phase
    let mut phase = [(0u32, 0u32); 3];
    for ms in 0..20_000u64 {
        let now = T0_US + ms * 1000;
        let lease = pe
            .lease(
                &pool,
                &mut Request::new().with_now_us(now).with_rng(&mut rng),
            )
            .unwrap();
        let i = lease.index();
        let slow = i == ids[0].index() && (2_000..4_000).contains(&ms);
        let base = if slow { 50_000 } else { 1_000 };
        let lat = base + (tinylb::rand_core::Rng::next_u64(&mut jitter) % 200);
        lease.finish(Outcome::success_after(Duration::from_micros(lat)).at_us(now));
        let p = match ms {
            0..2_000 => Some(0),
            2_000..4_000 => Some(1),
            12_000.. => Some(2),
            _ => None,
        };
        if let Some(p) = p {
            phase[p].1 += 1;
            if i == ids[0].index() {
                phase[p].0 += 1;
            }
        }
    }
    let share = |p: usize| phase[p].0 as f64 / phase[p].1 as f64;
    println!(
        "backend 0 share: before {:.3}, slow {:.4}, after {:.3}",
        share(0),
        share(1),
        share(2)
    );
    assert!((share(0) - 0.25).abs() < 0.06, "before: {}", share(0));
    assert!(share(1) < 0.01, "while slow: {}", share(1));
    assert!((share(2) - 0.25).abs() < 0.06, "after: {}", share(2));
}
