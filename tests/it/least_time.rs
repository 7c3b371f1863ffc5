//! Least response time's properties (DESIGN.md, strategy table): it picks a minimiser of
//! `latency estimate × (in_flight + 1) / weight`; the estimate is peak-sensitive (a slow
//! sample raises it at once, fast ones lower it gradually); a backend with no sample is tried,
//! not starved; a penalised backend is retried once its estimate has decayed; a clock that
//! goes backwards counts as no time passing; ties are broken exactly as the reference model
//! of counting them and drawing once ([`model_tie`]) breaks them; `None` exactly when nothing
//! is eligible and never an ineligible backend.

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

use crate::support::{SplitMix, build_pool, model_tie, spec_strategy};
use core::time::Duration;
use proptest::prelude::*;
use tinylb::{Lease, LeastTime, Outcome, Pool, Request, Select, SelectExt};

const N: usize = 12;
/// A clock far from zero, so that going backwards is possible.
const T0: u64 = 10_000_000;

fn latency(pool: &Pool<N>, i: usize) -> Option<u32> {
    pool.info(pool.id_at(i).unwrap()).unwrap().latency_us
}

/// Records one successful request of `latency_us` on backend `i`, finished at `now_us`.
fn sample(pool: &Pool<N>, i: usize, latency_us: u64, now_us: u64) {
    let lease = Lease::acquire(pool, pool.id_at(i).unwrap()).expect("eligible");
    lease.finish(Outcome::success_after(Duration::from_micros(latency_us)).at_us(now_us));
}

fn pick(lt: &LeastTime, pool: &Pool<N>, now_us: u64) -> usize {
    lt.select(pool, &mut Request::new().with_now_us(now_us))
        .expect("eligible")
        .index()
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// With known samples (all taken at the request's time, so nothing has decayed) and random
    /// loads, every pick minimises `estimate × (in_flight + 1) / weight`, compared exactly by
    /// cross-multiplication; a backend without samples counts with the lowest estimate of the
    /// sampled eligible ones (or 1 if none is sampled: least connections). Never an ineligible
    /// backend; `None` exactly when nothing is eligible.
    #[test]
    fn picks_a_minimiser(
        specs in prop::collection::vec(spec_strategy(5), 1..=N),
        latencies in prop::collection::vec(prop::option::weighted(0.8, 1u64..=100_000), N),
        loads in prop::collection::vec(0u32..4, N),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::with_half_life_ms(1000);
        let _capped = build_pool(&pool, &specs);
        for (i, lat) in latencies.iter().enumerate().take(specs.len()) {
            if let (Some(lat), true) = (lat, pool.is_eligible(i, 0)) {
                sample(&pool, i, *lat, T0);
            }
        }
        let mut held = Vec::new();
        for (i, &l) in loads.iter().enumerate().take(specs.len()) {
            for _ in 0..l {
                if let Some(lease) = Lease::acquire(&pool, pool.id_at(i).unwrap()) {
                    held.push(lease);
                }
            }
        }
        let eligible: Vec<usize> = (0..specs.len()).filter(|&i| pool.is_eligible(i, 0)).collect();
        let min_est = eligible
            .iter()
            .filter_map(|&i| latency(&pool, i))
            .min()
            .unwrap_or(1) as u128;
        // cost as a fraction (numerator, weight)
        let cost = |i: usize| {
            let info = pool.info(pool.id_at(i).unwrap()).unwrap();
            let est = info.latency_us.map_or(min_est, u128::from);
            (est * (info.in_flight as u128 + 1), info.weight as u128)
        };
        let lt = LeastTime::with_seed(seed);
        let mut rng = SplitMix(seed);
        for k in 0..10 {
            let mut req = Request::new().with_now_us(T0);
            let mut with_rng = Request::new().with_now_us(T0).with_rng(&mut rng);
            let got = lt.select(&pool, if k % 2 == 0 { &mut req } else { &mut with_rng });
            match got {
                None => prop_assert!(eligible.is_empty()),
                Some(id) => {
                    let i = id.index();
                    prop_assert!(specs[i].eligible() && pool.is_eligible(i, 0), "picked {:?}", specs[i]);
                    let (ni, wi) = cost(i);
                    for &j in &eligible {
                        let (nj, wj) = cost(j);
                        prop_assert!(ni * wj <= nj * wi, "picked {} (cost {}/{}) over {} ({}/{})", i, ni, wi, j, nj, wj);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Many ties: two latency values (or none), loads 0 to 2, weights 1 to 4, ineligible
    /// backends. With every sample taken at the request's time (nothing decays), the model:
    /// the cheaper class wins (an unsampled backend costs the lowest sampled estimate times
    /// its load, and wins a tie with the sampled ones), then its tied backends in slot order
    /// go to [`model_tie`]. Every pick with a caller RNG is the model's, and the RNG is left
    /// where the model leaves it (one draw per pick with ties, none without).
    #[test]
    fn ties_follow_the_model(
        specs in prop::collection::vec(spec_strategy(4), 1..=N),
        latencies in prop::collection::vec(prop::option::of(prop::sample::select(vec![100u64, 200])), N),
        loads in prop::collection::vec(0u32..3, N),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::with_half_life_ms(1000);
        let _capped = build_pool(&pool, &specs);
        for (i, lat) in latencies.iter().enumerate().take(specs.len()) {
            if let (Some(lat), true) = (lat, pool.is_eligible(i, 0)) {
                sample(&pool, i, *lat, T0);
            }
        }
        let mut held = Vec::new();
        for (i, &l) in loads.iter().enumerate().take(specs.len()) {
            for _ in 0..l {
                held.extend(Lease::acquire(&pool, pool.id_at(i).unwrap()));
            }
        }
        let eligible: Vec<usize> = (0..specs.len()).filter(|&i| pool.is_eligible(i, 0)).collect();
        let min_est = eligible.iter().filter_map(|&i| latency(&pool, i)).min().unwrap_or(1);
        // (sampled, numerator, weight): the cost as the test's fraction
        let cost = |i: usize| {
            let info = pool.info(pool.id_at(i).unwrap()).unwrap();
            let est = info.latency_us.unwrap_or(min_est) as u128;
            (info.latency_us.is_some(), est * (info.in_flight as u128 + 1), info.weight as u128)
        };
        let below = |a: (bool, u128, u128), b: (bool, u128, u128)| a.1 * b.2 < b.1 * a.2;
        let same = |a: (bool, u128, u128), b: (bool, u128, u128)| a.1 * b.2 == b.1 * a.2;
        let best_of = |sampled: bool| {
            let class: Vec<usize> = eligible.iter().copied().filter(|&i| cost(i).0 == sampled).collect();
            let best = class.iter().copied().find(|&i| class.iter().all(|&j| !below(cost(j), cost(i))));
            best.map(|b| (cost(b), class.into_iter().filter(|&j| same(cost(j), cost(b))).collect::<Vec<_>>()))
        };
        let tied = match (best_of(true), best_of(false)) {
            (None, None) => vec![],
            (Some((_, t)), None) | (None, Some((_, t))) => t,
            (Some((cs, ts)), Some((cu, tu))) => if below(cs, cu) { ts } else { tu },
        };
        let lt = LeastTime::with_seed(seed);
        let mut rng = SplitMix(seed);
        let mut model = rng.clone();
        for _ in 0..16 {
            let got = lt.select(&pool, &mut Request::new().with_now_us(T0).with_rng(&mut rng));
            prop_assert_eq!(got.map(|id| id.index()), model_tie(&tied, &mut model), "tied {:?}", tied);
            prop_assert_eq!(rng.0, model.0, "the pick drew other than one word per tie-break");
        }
    }
}

/// One slow sample raises the estimate at once (visible in `info().latency_us` and in the next
/// pick); fast samples then lower it step by step, not at once.
#[test]
fn peak_sensitive() {
    let pool: Pool<N> = Pool::with_half_life_ms(1000);
    pool.add(1).unwrap();
    pool.add(1).unwrap();
    sample(&pool, 0, 1_000, T0);
    sample(&pool, 1, 1_000, T0);
    let lt = LeastTime::new();
    sample(&pool, 0, 50_000, T0 + 100_000);
    assert_eq!(
        latency(&pool, 0),
        Some(50_000),
        "a slow sample is taken at once"
    );
    for k in 0..20 {
        assert_eq!(
            pick(&lt, &pool, T0 + 100_000 + k),
            1,
            "the slow backend is avoided"
        );
    }
    // fast samples every quarter half-life: each lowers the estimate, none at once
    let mut prev = 50_000;
    let mut history = Vec::new();
    for k in 1..=60u64 {
        sample(&pool, 0, 1_000, T0 + 100_000 + k * 250_000);
        let est = latency(&pool, 0).unwrap();
        history.push(est);
        assert!(est < prev || est == 1_000, "step {k}: {history:?}");
        assert!(est >= 1_000);
        prev = est;
    }
    assert!(
        history[0] > 40_000,
        "one fast sample must not undo a slow one: {history:?}"
    );
    assert!(
        history[3] > 20_000,
        "after one half-life about half way: {history:?}"
    );
    assert!(
        history[59] < 1_050,
        "after 15 half-lives back near 1 ms: {history:?}"
    );
}

/// A backend without samples is tried at once (it competes with the best estimate and wins
/// the tie), and is not starved while others have samples and loads; with no samples at all
/// least time is least connections.
#[test]
fn unsampled_backend_is_tried() {
    let pool: Pool<N> = Pool::with_half_life_ms(1000);
    for lat in [1_000u64, 2_000, 3_000] {
        let id = pool.add(1).unwrap();
        sample(&pool, id.index(), lat, T0);
    }
    let fresh = pool.add(1).unwrap();
    let lt = LeastTime::new();
    assert_eq!(
        pick(&lt, &pool, T0),
        fresh.index(),
        "the new backend goes first"
    );

    // a simulated run: leases held for a while, each finishing with the backend's true
    // latency; the new backend, slow in truth, is tried, then mostly avoided
    let truth = [1_000u64, 2_000, 3_000, 8_000];
    let mut held: Vec<(usize, Lease<&Pool<N>, N>)> = Vec::new();
    let mut counts = [0usize; 4];
    let mut first_fresh = None;
    for step in 0..400u64 {
        let now = T0 + step * 1_000;
        if held.len() >= 3 {
            let (i, lease) = held.remove(0);
            lease.finish(Outcome::success_after(Duration::from_micros(truth[i])).at_us(now));
        }
        let lease = lt
            .lease(&pool, &mut Request::new().with_now_us(now))
            .unwrap();
        let i = lease.index();
        counts[i] += 1;
        if i == 3 && first_fresh.is_none() {
            first_fresh = Some(step);
        }
        held.push((i, lease));
    }
    assert_eq!(first_fresh, Some(0), "{counts:?}");
    assert!(latency(&pool, 3).is_some(), "the new backend got a sample");
    assert!(
        counts[0] > counts[3],
        "the fast backend wins in the end: {counts:?}"
    );

    // no samples anywhere: least connections
    let pool: Pool<N> = Pool::new();
    for _ in 0..3 {
        pool.add(1).unwrap();
    }
    let _a = Lease::acquire(&pool, pool.id_at(0).unwrap()).unwrap();
    let _b = Lease::acquire(&pool, pool.id_at(0).unwrap()).unwrap();
    let _c = Lease::acquire(&pool, pool.id_at(2).unwrap()).unwrap();
    for _ in 0..50 {
        assert_eq!(pick(&lt, &pool, 0), 1);
    }
}

/// A backend penalised by one very slow response is retried once its estimate has decayed
/// below the others' (about log2(100) ≈ 6.6 half-lives for 100 ms against 1 ms), not before,
/// and then shares the traffic again.
#[test]
fn penalised_backend_retried_after_decay() {
    let half_life_ms = 100u64;
    let pool: Pool<N> = Pool::with_half_life_ms(half_life_ms as u32);
    pool.add(1).unwrap();
    pool.add(1).unwrap();
    sample(&pool, 0, 100_000, T0);
    sample(&pool, 1, 1_000, T0);
    let lt = LeastTime::new();
    let mut first_retry = None;
    let mut after = [0usize; 2];
    for step in 1..=200u64 {
        let now = T0 + step * 10_000; // 10 ms a step
        let i = pick(&lt, &pool, now);
        sample(&pool, i, 1_000, now);
        if i == 0 && first_retry.is_none() {
            first_retry = Some(now - T0);
        }
        if first_retry.is_some() {
            after[i] += 1;
        }
    }
    let retry_ms = first_retry.expect("the penalised backend is retried") / 1000;
    assert!(
        (6 * half_life_ms..=15 * half_life_ms / 2).contains(&retry_ms),
        "retried after {retry_ms} ms"
    );
    assert!(
        after[0] > 10 && after[1] > 10,
        "shares after the retry: {after:?}"
    );
}

/// A clock that goes backwards counts as no time passing: a pick "before" the samples sees
/// the estimates as they are (the slow backend stays avoided, where a wrapped clock would have
/// decayed it to nothing), and a fast sample finished "before" the last one does not lower the
/// estimate, while a slow one still raises it.
#[test]
fn time_going_backwards_is_no_time() {
    let pool: Pool<N> = Pool::with_half_life_ms(100);
    pool.add(1).unwrap();
    pool.add(1).unwrap();
    sample(&pool, 0, 100_000, T0);
    sample(&pool, 1, 1_000, T0);
    let lt = LeastTime::new();
    for back_ms in [1u64, 50, 1_000, 5_000, 9_000] {
        assert_eq!(
            pick(&lt, &pool, T0 - back_ms * 1_000),
            1,
            "{back_ms} ms back"
        );
    }
    // forward 8 half-lives, with a fresh sample on the fast one: the slow one has decayed
    // (100 ms / 2^8 < 1 ms) and is tried again
    sample(&pool, 1, 1_000, T0 + 800_000);
    assert_eq!(pick(&lt, &pool, T0 + 800_000), 0);

    sample(&pool, 0, 1_000, T0 - 3_000_000);
    assert_eq!(
        latency(&pool, 0),
        Some(100_000),
        "a fast sample in the past changes nothing"
    );
    sample(&pool, 1, 7_000, T0 - 3_000_000);
    assert_eq!(
        latency(&pool, 1),
        Some(7_000),
        "a slow one still counts at once"
    );
}

/// Weight divides the cost: at equal estimates and loads, the heavier backend wins; with
/// twice the weight it may carry twice the load before losing.
#[test]
fn weight_divides_the_cost() {
    let pool: Pool<N> = Pool::with_half_life_ms(1000);
    pool.add(2).unwrap();
    pool.add(1).unwrap();
    sample(&pool, 0, 1_000, T0);
    sample(&pool, 1, 1_000, T0);
    let lt = LeastTime::new();
    let mut held = Vec::new();
    let mut counts = [0usize; 2];
    for _ in 0..30 {
        let lease = lt
            .lease(&pool, &mut Request::new().with_now_us(T0))
            .unwrap();
        counts[lease.index()] += 1;
        held.push(lease);
    }
    // costs (f0+1)/2 vs (f1+1)/1 stay within one pick of each other: f0 + 1 ≈ 2 (f1 + 1)
    assert!(counts[0].abs_diff(2 * counts[1] + 1) <= 2, "{counts:?}");
}
