//! Locality-weighted picking and zone-aware routing, against the model of Envoy's
//! arithmetic in [`crate::envoy_model`].
//!
//! * **Splits, exactly**: on random pools (up to 3 levels, zones 0..=3, every health, some
//!   ejected), with random locality weights or a random zone-aware setup (local zone, fleet
//!   counts, minimum cluster size), [`Pool::locality_split`] of every level and list is the
//!   model's (the same proportions, compared by cross-multiplication), or `None` exactly when
//!   the model routes by no locality.
//! * **Shares**: over 40,000 picks with a caller RNG, each (level, list, zone) gets the
//!   model's share to within five standard deviations (at most 1.25 percentage points; a
//!   share of 0 gets no pick), for `random` and `round_robin` (half the cases each).
//! * **Every strategy** by name stays inside the zones the split allows for the list it
//!   picked from.
//! * Focused: zone-aware routing is off below the minimum cluster size and in panic (and
//!   locality weights are off in panic), and picks then span the level's zones.

#![allow(clippy::indexing_slicing)]

use crate::envoy_model::build::{self, every_strategy, pick};
use crate::envoy_model::{self as model, Avail, Bucket, Host, Locality, Policy, State, ZONES};
use crate::support::SplitMix;
use proptest::prelude::*;
use std::collections::HashMap;
use tinylb::{Availability, Pool, Strategy};

const N: usize = 32;

fn availability(a: Avail) -> Availability {
    match a {
        Avail::Healthy => Availability::Healthy,
        Avail::Degraded => Availability::Degraded,
    }
}

fn pools(min_weight: u32) -> impl proptest::strategy::Strategy<Value = Vec<Host>> {
    prop::collection::vec(build::host(3, 4, min_weight), 0..=24)
}

/// The zone split that applies to every pick served from each list: a list reached only by
/// draws that land on it (no fallback into it), with a split, every zone of which has a
/// candidate in the list (a drawn zone without one falls back to the whole list).
fn zoned(hosts: &[Host], policy: &Policy, locality: &Locality) -> HashMap<Bucket, [u64; ZONES]> {
    let draws = model::draws(hosts, policy);
    let mut out = HashMap::new();
    let fallback: Vec<Bucket> = draws
        .iter()
        .filter(|d| !d.2.drawn)
        .map(|d| d.2.bucket)
        .collect();
    for (_, _, s) in &draws {
        let Bucket::List(l, a) = s.bucket else {
            continue;
        };
        if fallback.contains(&s.bucket) || out.contains_key(&s.bucket) {
            continue;
        }
        let Some(w) = model::locality_split(hosts, policy, locality, l, a) else {
            continue;
        };
        let covered = (0..ZONES)
            .all(|z| w[z] == 0 || s.candidates.iter().any(|&i| hosts[i].zone as usize == z));
        if covered {
            out.insert(s.bucket, w);
        }
    }
    out
}

type Key = (Bucket, Option<u8>);

/// The model's share (percent) of each (bucket, zone); the zone is `None` where no zone
/// split applies to the bucket.
fn expected(
    hosts: &[Host],
    policy: &Policy,
    zoned: &HashMap<Bucket, [u64; ZONES]>,
) -> Vec<(Key, f64)> {
    let mut out: Vec<(Key, f64)> = Vec::new();
    let mut add = |k: Key, p: f64| match out.iter_mut().find(|(x, _)| *x == k) {
        Some((_, v)) => *v += p,
        None => out.push((k, p)),
    };
    for (b, pct) in model::bucket_shares(hosts, policy) {
        match zoned.get(&b) {
            None => add((b, None), pct as f64),
            Some(w) => {
                let f = model::fractions(w);
                for z in (0..ZONES).filter(|&z| w[z] > 0) {
                    add((b, Some(z as u8)), pct as f64 * f[z]);
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// `locality_split` is the model's for every level and list.
    #[test]
    fn locality_split_is_envoys(
        hosts in pools(0),
        policy in build::policy(),
        locality in build::locality(4),
    ) {
        let pool: Pool<N> = build::build(&hosts, &policy, &locality);
        for level in 0..tinylb::MAX_LEVELS {
            for a in [Avail::Healthy, Avail::Degraded] {
                let got = pool.locality_split(level as u8, availability(a));
                let want = model::locality_split(&hosts, &policy, &locality, level, a);
                match (got, want) {
                    (None, None) => {}
                    (Some(g), Some(w)) => prop_assert!(
                        model::same_split(&g, &w),
                        "level {} {:?}: got {:?}, model {:?}", level, a, g, w
                    ),
                    (g, w) => prop_assert!(
                        false,
                        "level {} {:?}: got {:?}, model {:?}, loads {:?}",
                        level, a, g, w, model::loads(&hosts, &policy)
                    ),
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(crate::support::config(32))]

    /// Picks split over (level, list, zone) as the model says, within five standard
    /// deviations ([`model::tolerance`]), for `random` or `round_robin`.
    #[test]
    fn pick_shares_follow_the_zones(
        hosts in pools(1),
        policy in build::policy(),
        locality in build::locality(4),
        seed in any::<u64>(),
        rr in any::<bool>(),
    ) {
        const PICKS: u32 = model::SHARE_PICKS;
        let pool: Pool<N> = build::build(&hosts, &policy, &locality);
        let loads = model::loads(&hosts, &policy);
        let zoned = zoned(&hosts, &policy, &locality);
        let want = expected(&hosts, &policy, &zoned);
        {
            let name = if rr { "round_robin" } else { "random" };
            let s = Strategy::<N>::from_name(name, seed).unwrap();
            let mut rng = SplitMix(seed);
            let mut got: Vec<(Key, u32)> = Vec::new();
            for _ in 0..PICKS {
                let key = match pick(&s, &pool, None, &mut rng) {
                    None => (Bucket::Fail, None),
                    Some(i) => {
                        let b = model::bucket_of(&hosts[i], &loads).expect("a bucket");
                        let zone = zoned.get(&b).map(|_| hosts[i].zone);
                        (b, zone)
                    }
                };
                match got.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, n)) => *n += 1,
                    None => got.push((key, 1)),
                }
            }
            for k in want.iter().map(|(k, _)| *k).chain(got.iter().map(|(k, _)| *k)) {
                let w = want.iter().find(|(x, _)| *x == k).map_or(0.0, |&(_, p)| p);
                let g = got
                    .iter()
                    .find(|(x, _)| *x == k)
                    .map_or(0.0, |&(_, n)| 100.0 * n as f64 / PICKS as f64);
                prop_assert!(
                    (w - g).abs() <= model::tolerance(w, PICKS),
                    "{}: {:?} got {:.2} %, model {:.2} %\nmodel {:?}\ngot {:?}",
                    name, k, g, w, want, got
                );
            }
        }
    }

    /// Every strategy picks inside a zone the split allows for the list it picked from.
    #[test]
    fn every_strategy_stays_in_the_drawn_zone(
        hosts in pools(0),
        policy in build::policy(),
        locality in build::locality(4),
        keys in prop::collection::vec(any::<u64>(), 16),
    ) {
        let pool: Pool<N> = build::build(&hosts, &policy, &locality);
        let loads = model::loads(&hosts, &policy);
        let allowed = model::allowed(&hosts, &policy);
        let zoned = zoned(&hosts, &policy, &locality);
        for s in every_strategy::<N>(9) {
            for &k in &keys {
                let Some(i) = pick(&s, &pool, Some(k), &mut SplitMix(k)) else { continue };
                prop_assert!(allowed.contains(&i), "{}: picked {} {:?}", s.name(), i, hosts[i]);
                let b = model::bucket_of(&hosts[i], &loads).expect("a bucket");
                if let Some(w) = zoned.get(&b) {
                    prop_assert!(
                        w[hosts[i].zone as usize] > 0,
                        "{}: picked {} {:?} from {:?}, split {:?}", s.name(), i, hosts[i], b, w
                    );
                }
            }
        }
    }
}

/// Zone-aware routing needs `min_cluster_size` healthy backends in level 0 and no panic;
/// off, the pick spans the level's zones. Locality weights are off in panic too.
#[test]
fn zone_aware_off_when_small_or_in_panic() {
    // zones 0 / 1 / 2 hold 1 / 3 / 2 backends; the fleet is 2 / 1 / 1: a residual split
    let mut hosts = Vec::new();
    for (z, n) in [(0u8, 1), (1, 3), (2, 2)] {
        hosts.extend((0..n).map(|_| Host::new(0, State::Up, 1).zone(z)));
    }
    hosts.push(Host::new(1, State::Up, 1).zone(0));
    let aware = |min_cluster_size| Locality::ZoneAware {
        local: 0,
        min_cluster_size,
        fleet: [2, 1, 1, 0, 0, 0, 0, 0],
    };
    let p = Policy::ENVOY;
    let pool: Pool<N> = build::build(&hosts, &p, &aware(6));
    let split = pool
        .locality_split(0, Availability::Healthy)
        .expect("6 healthy: on");
    let want = model::locality_split(&hosts, &p, &aware(6), 0, Avail::Healthy).unwrap();
    assert!(model::same_split(&split, &want), "{split:?} vs {want:?}");
    assert_eq!(
        pool.locality_split(1, Availability::Healthy),
        None,
        "level 0 only"
    );

    // one healthy backend too few
    let pool: Pool<N> = build::build(&hosts, &p, &aware(7));
    assert_eq!(
        pool.locality_split(0, Availability::Healthy),
        None,
        "6 < 7: off"
    );
    assert_spans_zones(&pool, &hosts, "below the minimum cluster size");

    // 4 of the 6 down and no level 1: level 0 in panic (33 % < 50 %)
    let mut sick = hosts.clone();
    sick.pop();
    for h in sick.iter_mut().take(4) {
        h.state = State::Down;
    }
    let pool: Pool<N> = build::build(&sick, &p, &aware(0));
    assert!(pool.priority_load().panic[0], "{:?}", pool.priority_load());
    assert_eq!(
        pool.locality_split(0, Availability::Healthy),
        None,
        "panic: off"
    );
    let weighted = Locality::Weighted([1, 5, 1, 1, 1, 1, 1, 1]);
    let pool: Pool<N> = build::build(&sick, &p, &weighted);
    assert_eq!(
        pool.locality_split(0, Availability::Healthy),
        None,
        "panic: weights off"
    );
}

/// Picks of level 0 reach every zone that has a level-0 backend up.
fn assert_spans_zones(pool: &Pool<N>, hosts: &[Host], what: &str) {
    let s = Strategy::<N>::from_name("random", 3).unwrap();
    let mut rng = SplitMix(8);
    let mut seen = [false; ZONES];
    for _ in 0..2_000 {
        if let Some(i) = pick(&s, pool, None, &mut rng)
            && hosts[i].level == 0
        {
            seen[hosts[i].zone as usize] = true;
        }
    }
    for h in hosts.iter().filter(|h| h.level == 0 && h.healthy()) {
        assert!(
            seen[h.zone as usize],
            "{what}: zone {} never picked",
            h.zone
        );
    }
}

/// No residual capacity anywhere (rounding: each zone holds a third of the healthy
/// backends, 3333 basis points, while the fleet is 3334 / 3333 / 3333): 9997 of 10000 stay
/// local and the other 3 go to a zone drawn uniformly from *all* the zones with backends,
/// the local one included (Envoy's `tryChooseLocalLocalityHosts`: `random() %
/// number_of_localities`), so the local zone gets 9997 + 1 of 10000.
#[test]
fn zone_aware_without_residual_spreads_over_every_zone() {
    let hosts: Vec<Host> = (0..3u8)
        .map(|z| Host::new(0, State::Up, 1).zone(z))
        .collect();
    let mut fleet = [0u32; ZONES];
    fleet[..3].copy_from_slice(&[3334, 3333, 3333]);
    let za = Locality::ZoneAware {
        local: 0,
        min_cluster_size: 3,
        fleet,
    };
    let p = Policy::ENVOY;
    let want = model::locality_split(&hosts, &p, &za, 0, Avail::Healthy).unwrap();
    let f = model::fractions(&want);
    assert!(
        (f[0] - 0.9998).abs() < 1e-9 && (f[1] - 0.0001).abs() < 1e-9,
        "the model: {f:?}"
    );
    let pool: Pool<N> = build::build(&hosts, &p, &za);
    let got = pool
        .locality_split(0, Availability::Healthy)
        .expect("zone-aware applies");
    assert!(
        model::same_split(&got, &want),
        "got {got:?} ({:?}), model {want:?}",
        model::fractions(&got)
    );
}
