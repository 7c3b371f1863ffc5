//! Priority levels, degraded backends and per-level panic, against the model of Envoy's
//! arithmetic in [`crate::envoy_model`].
//!
//! * **Loads, exactly**: on random pools (up to 4 levels, every health, some ejected, random
//!   weights, overprovisioning 100..=300, threshold 0..=100, by count and by weight),
//!   [`Pool::priority_load`] is the model's split, level by level, healthy and degraded, and
//!   its panic flags.
//! * **Shares**: over 40,000 picks with a caller RNG, each (level, list) bucket (a level in
//!   panic is one bucket, failed picks another) gets the model's share to within five
//!   standard deviations (at most 1.25 percentage points, at a 50 % share; a share of 0
//!   gets no pick at all), for `random` and `round_robin` (half the cases each).
//! * **Every strategy** by name picks only backends some draw may reach (the drawn level's
//!   list, its panic set, or tinylb's fallback), and `None` only when the model has a failing
//!   draw; the hash strategies give a key the same backend twice; round robin cycles over a
//!   level's backends exactly and least connections picks a least-loaded one of the level,
//!   when every draw reaches that level.
//! * Focused: Envoy's panic denominator (9 of 10 Down is panic) and `fail_traffic_on_panic`,
//!   the WAN-uplink failover (fibre, DSL, LTE) step by step, `Backend::backup` as level 1,
//!   and bad levels refused with nothing changed.

#![allow(clippy::indexing_slicing)]

use crate::envoy_model::build::{self, PICK_AT_US, every_strategy, is_hash, pick};
use crate::envoy_model::{self as model, Avail, Bucket, Host, Locality, Policy, State};
use crate::support::SplitMix;
use proptest::prelude::*;
use tinylb::{
    Backend, BackendError, Config, Health, Lease, NoBackend, Pool, Request, RoundRobin, Select,
    SelectExt, Strategy,
};

const N: usize = 32;

/// The pool's loads are the model's (levels past the last: 0 and not in panic).
fn assert_loads(pool: &Pool<N>, hosts: &[Host], policy: &Policy, what: &str) {
    let got = pool.priority_load();
    let l = model::loads(hosts, policy);
    let mut healthy = [0u8; tinylb::MAX_LEVELS];
    let mut degraded = [0u8; tinylb::MAX_LEVELS];
    let mut panic = [false; tinylb::MAX_LEVELS];
    for i in 0..l.levels() {
        healthy[i] = l.healthy[i] as u8;
        degraded[i] = l.degraded[i] as u8;
        panic[i] = l.panic[i];
    }
    let ctx = || format!("{what}: {hosts:?} under {policy:?}");
    assert_eq!(got.levels as usize, l.levels(), "levels, {}", ctx());
    assert_eq!(got.healthy, healthy, "healthy loads, {}", ctx());
    assert_eq!(got.degraded, degraded, "degraded loads, {}", ctx());
    assert_eq!(got.panic, panic, "panic, {}", ctx());
}

fn pools(min_weight: u32) -> impl proptest::strategy::Strategy<Value = Vec<Host>> {
    prop::collection::vec(build::host(4, 1, min_weight), 0..=24)
}

/// Counts picks per bucket over `picks` picks of `s` with one RNG; panics on a pick outside
/// every bucket.
fn observed<S: Select<N>>(
    s: &S,
    pool: &Pool<N>,
    hosts: &[Host],
    policy: &Policy,
    picks: u32,
    seed: u64,
) -> Vec<(Bucket, u32)> {
    let loads = model::loads(hosts, policy);
    let mut rng = SplitMix(seed);
    let mut out: Vec<(Bucket, u32)> = Vec::new();
    for _ in 0..picks {
        let b = match pick(s, pool, None, &mut rng) {
            None => Bucket::Fail,
            Some(i) => model::bucket_of(&hosts[i], &loads)
                .unwrap_or_else(|| panic!("picked {i}: {:?}, in no bucket", hosts[i])),
        };
        match out.iter_mut().find(|(x, _)| *x == b) {
            Some((_, n)) => *n += 1,
            None => out.push((b, 1)),
        }
    }
    out.sort();
    out
}

/// Every bucket's observed share is within [`model::tolerance`] of the model's.
fn assert_shares(name: &str, want: &[(Bucket, u32)], got: &[(Bucket, u32)], picks: u32) {
    let share = |v: &[(Bucket, u32)], b: Bucket, scale: f64| {
        v.iter()
            .find(|(x, _)| *x == b)
            .map_or(0.0, |&(_, n)| n as f64 * scale)
    };
    for &(b, _) in want.iter().chain(got) {
        let w = share(want, b, 1.0);
        let g = share(got, b, 100.0 / picks as f64);
        assert!(
            (w - g).abs() <= model::tolerance(w, picks),
            "{name}: {b:?} got {g:.2} %, model {w} %\nmodel {want:?}\ngot {got:?}"
        );
    }
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// `priority_load` is the model's split on random pools.
    #[test]
    fn priority_load_is_envoys(hosts in pools(0), policy in build::policy()) {
        let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);
        assert_loads(&pool, &hosts, &policy, "random pool");
    }
}

proptest! {
    #![proptest_config(crate::support::config(32))]

    /// Picks split over (level, list) buckets as the model's loads say, within five
    /// standard deviations ([`model::tolerance`]), for `random` or `round_robin` (half the
    /// cases each).
    #[test]
    fn pick_shares_follow_the_loads(
        hosts in pools(1),
        policy in build::policy(),
        seed in any::<u64>(),
        rr in any::<bool>(),
    ) {
        let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);
        let want = model::bucket_shares(&hosts, &policy);
        let name = if rr { "round_robin" } else { "random" };
        let s = Strategy::<N>::from_name(name, seed).unwrap();
        let got = observed(&s, &pool, &hosts, &policy, model::SHARE_PICKS, seed);
        assert_shares(name, &want, &got, model::SHARE_PICKS);
    }

    /// Every strategy picks only backends a draw may reach, fails only when a draw may
    /// fail, and (hash strategies) gives a key the same backend twice.
    #[test]
    fn every_strategy_stays_in_the_drawn_levels(
        hosts in pools(0),
        policy in build::policy(),
        keys in prop::collection::vec(any::<u64>(), 24),
    ) {
        let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);
        let allowed = model::allowed(&hosts, &policy);
        let may_fail = model::bucket_shares(&hosts, &policy)
            .iter()
            .any(|(b, _)| *b == Bucket::Fail);
        for s in every_strategy::<N>(7) {
            for &k in &keys {
                let mut rng = SplitMix(k);
                let got = pick(&s, &pool, Some(k), &mut rng);
                match got {
                    Some(i) => prop_assert!(
                        allowed.contains(&i),
                        "{}: picked {i} {:?}, allowed {allowed:?}, loads {:?}",
                        s.name(), hosts[i], model::loads(&hosts, &policy)
                    ),
                    None => prop_assert!(
                        may_fail || allowed.is_empty(),
                        "{}: None, allowed {allowed:?}", s.name()
                    ),
                }
                if is_hash(s.name()) {
                    let again = pick(&s, &pool, Some(k), &mut SplitMix(k ^ 1));
                    prop_assert_eq!(got, again, "{}: key {} moved", s.name(), k);
                }
            }
        }
    }

    /// When every draw reaches one level's list (the levels above it down, the level
    /// itself all healthy, or all degraded with no healthy backend below it), round robin
    /// gives each of its backends exactly k of k·n picks, and least connections picks a
    /// least-loaded one of them.
    #[test]
    fn strategies_keep_their_guarantee_inside_a_level(
        level in 0..4u8,
        above in prop::collection::vec((0..4u8, prop::bool::ANY), 0..=6),
        weights in prop::collection::vec(1..=5u32, 1..=6),
        below in prop::collection::vec(build::host(4, 1, 1), 0..=8),
        degraded in any::<bool>(),
        held in prop::collection::vec(0..6usize, 0..=12),
        policy in build::policy(),
    ) {
        let list = if degraded { State::Degraded } else { State::Up };
        // levels above `level`: Down or Draining backends only (or none)
        let mut hosts: Vec<Host> = above
            .iter()
            .filter(|_| level > 0)
            .map(|&(l, down)| {
                let state = if down { State::Down } else { State::Draining };
                Host::new(l % level.max(1), state, 1)
            })
            .collect();
        let first = hosts.len();
        hosts.extend(weights.iter().map(|&w| Host::new(level, list, w)));
        let mine: Vec<usize> = (first..hosts.len()).collect();
        // levels below it: anything, but no healthy backend when the level is degraded
        hosts.extend(below.iter().filter(|_| level < 3).map(|&h| {
            let mut h = h;
            h.level = level + 1 + h.level % (3 - level);
            if degraded && h.state == State::Up {
                h.state = State::Down;
                h.ejected = false;
            }
            h
        }));
        let avail = if degraded { Avail::Degraded } else { Avail::Healthy };
        let loads = model::loads(&hosts, &policy);
        prop_assert_eq!(loads.of(level as usize, avail), 100, "construction: {:?}", loads);
        prop_assert!(!loads.panic[level as usize]);
        let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);

        // round robin: k rounds of n picks, each backend of the level exactly k times
        let rr = RoundRobin::with_seed(3);
        let n = mine.len();
        let mut counts = vec![0u32; hosts.len()];
        let mut rng = SplitMix(11);
        for _ in 0..3 * n {
            counts[pick(&rr, &pool, None, &mut rng).expect("a pick")] += 1;
        }
        for &i in &mine {
            prop_assert_eq!(counts[i], 3, "round robin over {:?}: {:?}", mine, counts);
        }

        // least connections with some leases held on the level's backends
        let _leases: Vec<_> = held
            .iter()
            .filter_map(|&j| mine.get(j % n))
            .map(|&i| Lease::acquire(&pool, pool.id_at(i).unwrap()).unwrap())
            .collect();
        let lc = Strategy::<N>::from_name("least_conn", 5).unwrap();
        for _ in 0..16 {
            let i = pick(&lc, &pool, None, &mut rng).expect("a pick");
            prop_assert!(mine.contains(&i));
            let load = |j: usize| (pool.in_flight_at(j) as u64, hosts[j].weight as u64);
            let (fi, wi) = load(i);
            for &j in &mine {
                let (fj, wj) = load(j);
                prop_assert!(fi * wj <= fj * wi, "least_conn took {} ({}/{}) over {} ({}/{})", i, fi, wi, j, fj, wj);
            }
        }
    }
}

/// Envoy's denominator: 9 of 10 Down is 10 % available, below the 50 % threshold (tinylb's
/// old rule counted only the backends that are up); the one Up backend takes every pick
/// (Down ones stay out of panic by default), Down ones join with `panic_picks_down`, and
/// with `fail_traffic_on_panic` nothing is picked and `try_select` says why.
#[test]
fn nine_of_ten_down_is_panic() {
    let mut hosts = vec![Host::new(0, State::Down, 1); 10];
    hosts[3].state = State::Up;
    for (policy, want) in [
        (Policy::ENVOY, Some(vec![3])),
        (
            Policy {
                panic_picks_down: true,
                ..Policy::ENVOY
            },
            Some((0..10).collect()),
        ),
        (
            Policy {
                fail_traffic_on_panic: true,
                ..Policy::ENVOY
            },
            None,
        ),
    ] {
        let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);
        let load = pool.priority_load();
        assert!(load.panic[0], "{policy:?}: {load:?}");
        assert_eq!(load.healthy[0], 100);
        assert_loads(&pool, &hosts, &policy, "9 of 10 down");
        let s = Strategy::<N>::from_name("random", 1).unwrap();
        let mut rng = SplitMix(5);
        let mut seen = [false; 10];
        for _ in 0..2_000 {
            let mut req = Request::new().with_now_us(PICK_AT_US).with_rng(&mut rng);
            match (&want, s.try_select(&pool, &mut req)) {
                (Some(w), Ok(id)) => {
                    assert!(w.contains(&id.index()), "{policy:?}: {id:?}");
                    seen[id.index()] = true;
                }
                (None, Err(why)) => assert_eq!(why, NoBackend::Panic, "{policy:?}"),
                (w, got) => panic!("{policy:?}: want {w:?}, got {got:?}"),
            }
        }
        if let Some(w) = want {
            assert!(
                w.iter().all(|&i| seen[i]),
                "{policy:?}: every candidate picked"
            );
        }
    }
    // one more Up backend (2 of 10 is still below 50 %); 5 of 10 is not panic
    hosts[4].state = State::Up;
    let pool: Pool<N> = build::build(&hosts, &Policy::ENVOY, &Locality::Off);
    assert!(pool.priority_load().panic[0]);
    for h in hosts.iter_mut().take(5) {
        h.state = State::Up;
    }
    let pool: Pool<N> = build::build(&hosts, &Policy::ENVOY, &Locality::Off);
    assert!(!pool.priority_load().panic[0]);
    assert_loads(&pool, &hosts, &Policy::ENVOY, "5 of 10 down");
}

/// A home router with three uplinks: fibre (level 0), DSL (level 1), LTE (level 2), ten
/// backends each. Fibre backends fail one by one, then DSL ones: the traffic spills to the
/// next uplink gradually (not all at once), and each step's loads are the model's.
#[test]
fn wan_uplinks_spill_gradually() {
    let mut hosts: Vec<Host> = (0..3u8)
        .flat_map(|l| (0..10).map(move |_| Host::new(l, State::Up, 1)))
        .collect();
    let pool: Pool<N> = build::build(&hosts, &Policy::ENVOY, &Locality::Off);
    let id = |i: usize| pool.id_at(i).unwrap();
    // fibre at k of 10 down: healthy 140 × (10 − k) / 10 capped at 100
    let fibre = [100, 100, 100, 98, 84, 70, 56, 42, 28, 14, 0];
    let mut last = 101;
    for k in 0..=10 {
        if k > 0 {
            pool.set_health(id(k - 1), Health::Down).unwrap();
            hosts[k - 1].state = State::Down;
        }
        assert_loads(&pool, &hosts, &Policy::ENVOY, &format!("fibre {k} down"));
        let load = pool.priority_load();
        assert_eq!(load.healthy[0], fibre[k], "fibre {k} down");
        assert_eq!(load.healthy[1], 100 - fibre[k], "DSL takes the rest");
        assert_eq!(load.healthy[2], 0, "LTE idle while DSL is whole");
        assert!(load.healthy[0] <= last, "never more fibre as it fails");
        last = load.healthy[0];
    }
    // DSL fails too, with fibre gone: LTE takes what DSL cannot
    for j in 1..=10 {
        pool.set_health(id(9 + j), Health::Down).unwrap();
        hosts[9 + j].state = State::Down;
        assert_loads(
            &pool,
            &hosts,
            &Policy::ENVOY,
            &format!("fibre down, DSL {j} down"),
        );
        let load = pool.priority_load();
        assert_eq!(load.healthy[1], fibre[j], "DSL {j} down");
        assert_eq!(load.healthy[2], 100 - fibre[j], "DSL {j} down");
    }
    // fibre back: all of it again
    for (i, h) in hosts.iter_mut().enumerate().take(10) {
        pool.set_health(id(i), Health::Up).unwrap();
        h.state = State::Up;
    }
    assert_loads(&pool, &hosts, &Policy::ENVOY, "fibre back");
    assert_eq!(pool.priority_load().healthy[0], 100);
}

/// `Backend::backup` is level 1, `set_backup` moves between levels 0 and 1, and the info's
/// `backup` is "level above 0".
#[test]
fn backup_is_level_one() {
    let pool: Pool<N> = Pool::new();
    let b = pool.add_backend(Backend::new(1).backup()).unwrap();
    let p = pool.add(1).unwrap();
    let info = pool.info(b).unwrap();
    assert_eq!((info.level, info.backup), (1, true));
    assert_eq!(pool.info(p).unwrap().level, 0);
    pool.set_backup(b, false).unwrap();
    assert_eq!(pool.info(b).unwrap().level, 0);
    pool.set_backup(p, true).unwrap();
    assert_eq!(pool.info(p).unwrap().level, 1);
    pool.set_level(p, 3).unwrap();
    let info = pool.info(p).unwrap();
    assert_eq!((info.level, info.backup), (3, true));
    assert_eq!(pool.priority_load().levels, 4);
}

/// A level or zone out of range is refused with its error, and nothing changes.
#[test]
fn bad_level_or_zone_changes_nothing() {
    let pool: Pool<N> = Pool::new();
    let id = pool
        .add_backend(Backend::new(2).level(2).locality(1))
        .unwrap();
    let before = pool.info(id).unwrap();
    let load = pool.priority_load();
    let bad_level = tinylb::MAX_LEVELS as u8;
    let bad_zone = tinylb::MAX_LOCALITIES as u8;
    assert_eq!(
        pool.add_backend(Backend::new(1).level(bad_level)),
        Err(BackendError::InvalidLevel)
    );
    assert_eq!(
        pool.add_backend(Backend::new(1).locality(bad_zone)),
        Err(BackendError::InvalidLocality)
    );
    assert_eq!(
        pool.set_level(id, bad_level),
        Err(BackendError::InvalidLevel)
    );
    assert_eq!(
        pool.set_locality(id, bad_zone),
        Err(BackendError::InvalidLocality)
    );
    assert!(pool.set_locality_weight(bad_zone, 1).is_err());
    assert!(pool.set_fleet(bad_zone, 1).is_err());
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.info(id).unwrap(), before);
    assert_eq!(pool.priority_load(), load);
    assert!(Pool::<N>::with_config(Config::new().overprovisioning_percent(0)).is_err());
    assert!(
        Config::new()
            .overprovisioning_percent(0)
            .validate()
            .is_err()
    );
}

/// With `weighted_priority_health`, availability is weighed but panic still counts hosts
/// (`isHostSetInPanic` reads `healthyHosts().size()` over `hosts().size()`, whatever the
/// weights): one Up backend of weight 1 beside a Down one of weight 5 is 1 host of 2, 50 %,
/// not below the 50 % threshold, so the level is not in panic.
#[test]
fn weighted_priority_health_panics_by_count() {
    let policy = Policy {
        weighted_priority_health: true,
        ..Policy::ENVOY
    };
    let hosts = [Host::new(0, State::Down, 5), Host::new(0, State::Up, 1)];
    let want = model::loads(&hosts, &policy);
    assert_eq!((want.healthy[0], want.panic[0]), (100, false), "the model");
    let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);
    assert_loads(
        &pool,
        &hosts,
        &policy,
        "weighed availability, counted panic",
    );
}

/// Weighed availability is Envoy's integer arithmetic on the whole sums, however large the
/// weights: 140 × 70000 / 100001 is 97 (a sum scaled to 16 bits first gives 98).
#[test]
fn weighted_priority_health_with_large_weights() {
    let policy = Policy {
        weighted_priority_health: true,
        panic_threshold: 0,
        ..Policy::ENVOY
    };
    let hosts = [
        Host::new(0, State::Up, 70_000),
        Host::new(0, State::Down, 30_001),
        Host::new(1, State::Up, 1),
    ];
    let want = model::loads(&hosts, &policy);
    assert_eq!(want.healthy, vec![97, 3], "the model");
    let pool: Pool<N> = build::build(&hosts, &policy, &Locality::Off);
    assert_loads(&pool, &hosts, &policy, "large weights");
}

/// Round robin keeps a rotation per level, and a second rotation for the picks a narrowed
/// view's tickets miss: every backend of a level (or of a zone) gets an equal share, where
/// one shared rotation gave the first backend after a gap the skipped turns (29 % / 15 % /
/// 7.8 % of level 0 below, against 17.3 % each).
#[test]
fn round_robin_is_even_within_levels_and_zones() {
    use tinylb::{Backend, Config, Health, LocalityPolicy, Pool, Request, RoundRobin, Select};
    const N: usize = 18;
    let share = |pool: &Pool<N>, picks: u64| {
        let rr = RoundRobin::new();
        let mut counts = [0u64; N];
        for k in 0..picks {
            let key = (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let id = rr.select(pool, &mut Request::new().with_key(key)).unwrap();
            counts[id.index()] += 1;
        }
        counts.map(|c| c as f64 / picks as f64)
    };
    // 8 + 8 backends, b0–b4 down: level 0 gets 1.4 · 3/8 = 52 %, level 1 the other 48 %
    let pool: Pool<N> = Pool::new();
    for i in 0..16 {
        let b = Backend::new(1).level((i >= 8) as u8);
        let id = pool.add_backend(b).unwrap();
        if i < 5 {
            pool.set_health(id, Health::Down).unwrap();
        }
    }
    let got = share(&pool, 48_000);
    for i in 5..8 {
        assert!((got[i] - 0.52 / 3.0).abs() < 0.01, "level 0, b{i}: {got:?}");
    }
    for i in 8..16 {
        assert!((got[i] - 0.48 / 8.0).abs() < 0.01, "level 1, b{i}: {got:?}");
    }
    // three zones of six, locality-weighted (equal weights): each backend 1/18
    let pool: Pool<N> =
        Pool::with_config(Config::new().locality(LocalityPolicy::Weighted)).unwrap();
    for i in 0..N {
        pool.add_backend(Backend::new(1).locality((i / 6) as u8))
            .unwrap();
    }
    let got = share(&pool, 54_000);
    for (i, g) in got.iter().enumerate() {
        assert!((g - 1.0 / 18.0).abs() < 0.01, "b{i}: {got:?}");
    }
}
