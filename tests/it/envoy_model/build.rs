//! Builds the tinylb pool a modelled pool describes, and reads picks back into the model's
//! terms. The only part of the model that knows tinylb's API.

use core::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tinylb::{
    Backend, BackendId, Config, Ejection, Health, Lease, LocalityPolicy, Outcome, Pool, Request,
    Select, Strategy, ZoneAware,
};

use super::{Host, Locality, Policy, State, ZONES};
use crate::support::SplitMix;

/// When ejected backends were ejected; picks at [`PICK_AT_US`] are well inside the 60 s.
pub const EJECTED_AT_US: u64 = 1_001_000;
/// When the tests pick.
pub const PICK_AT_US: u64 = 2_000_000;

/// The pool configuration for `policy` and `locality`: ejection after one failure (so that
/// ejected backends can be made), nothing else beyond the defaults.
pub fn config(policy: &Policy, locality: &Locality) -> Config {
    Config::new()
        .ejection(Ejection {
            consecutive_failures: 1,
            base_ms: 60_000,
            max_ms: 60_000,
            max_ejection_percent: 100,
            interval_ms: 60_000,
        })
        .panic_threshold_percent(policy.panic_threshold)
        .overprovisioning_percent(policy.overprovisioning)
        .weighted_priority_health(policy.weighted_priority_health)
        .fail_traffic_on_panic(policy.fail_traffic_on_panic)
        .panic_picks_down(policy.panic_picks_down)
        .locality(match *locality {
            Locality::Off => LocalityPolicy::Off,
            Locality::Weighted(_) => LocalityPolicy::Weighted,
            Locality::ZoneAware {
                local,
                min_cluster_size,
                ..
            } => LocalityPolicy::ZoneAware(ZoneAware {
                local_zone: local as u8,
                min_cluster_size,
            }),
        })
}

fn health(s: State) -> Health {
    match s {
        State::Up => Health::Up,
        State::Degraded => Health::Degraded,
        State::Down => Health::Down,
        State::Draining => Health::Draining,
    }
}

/// A pool of `N` slots holding `hosts` in slot order (host `i` in slot `i`), ejected ones
/// ejected at [`EJECTED_AT_US`], with the locality weights or the fleet of `locality`.
pub fn build<const N: usize>(hosts: &[Host], policy: &Policy, locality: &Locality) -> Pool<N> {
    let pool = Pool::with_config(config(policy, locality)).expect("valid config");
    for (i, h) in hosts.iter().enumerate() {
        let b = Backend::new(h.weight)
            .level(h.level)
            .locality(h.zone)
            .health(health(h.state));
        let id = pool.add_backend(b).expect("room");
        assert_eq!(id.index(), i, "slot order");
        if h.ejected {
            eject(&pool, id);
        }
    }
    match locality {
        Locality::Off => {}
        Locality::Weighted(w) => {
            for (z, &w) in w.iter().enumerate() {
                pool.set_locality_weight(z as u8, w as u16).unwrap();
            }
        }
        Locality::ZoneAware { fleet, .. } => {
            for (z, &n) in fleet.iter().enumerate() {
                pool.set_fleet(z as u8, n as u16).unwrap();
            }
        }
    }
    pool
}

/// Ejects `id` by one failure at [`EJECTED_AT_US`].
pub fn eject<const N: usize>(pool: &Pool<N>, id: BackendId) {
    Lease::acquire(pool, id)
        .expect("a lease to fail")
        .finish(Outcome::failure_after(Duration::from_micros(10)).at_us(EJECTED_AT_US));
    assert!(pool.info(id).unwrap().ejected, "{id:?} ejected");
}

/// Every built-in strategy, by name.
pub fn every_strategy<const N: usize>(seed: u64) -> Vec<Strategy<N>> {
    Strategy::<N>::NAMES
        .iter()
        .map(|name| Strategy::from_name(name, seed).unwrap())
        .collect()
}

/// The hash strategies: same key, same backend while nothing changes.
pub fn is_hash(name: &str) -> bool {
    matches!(name, "maglev" | "rendezvous" | "jump" | "bounded_load")
}

/// One pick by `s` at [`PICK_AT_US`], with `key` (if any) and an RNG seeded by `seed`: the
/// slot index picked.
pub fn pick<const N: usize>(
    s: &impl Select<N>,
    pool: &Pool<N>,
    key: Option<u64>,
    rng: &mut SplitMix,
) -> Option<usize> {
    let mut req = Request::new().with_now_us(PICK_AT_US).with_rng(rng);
    if let Some(k) = key {
        req = req.with_key(k);
    }
    s.select(pool, &mut req).map(|id| id.index())
}

// ----- proptest strategies for modelled pools -----

/// One host: a level below `levels`, a zone below `zones`, any state, ejected sometimes
/// (only an Up or Degraded host can be), a weight in `min_weight..=5`.
pub fn host(
    levels: u8,
    zones: u8,
    min_weight: u32,
) -> impl proptest::strategy::Strategy<Value = Host> {
    let state = prop_oneof![
        4 => Just(State::Up),
        2 => Just(State::Degraded),
        2 => Just(State::Down),
        1 => Just(State::Draining),
    ];
    (
        0..levels,
        0..zones,
        state,
        prop::bool::weighted(0.2),
        min_weight..=5u32,
    )
        .prop_map(|(level, zone, state, ejected, weight)| Host {
            level,
            zone,
            state,
            ejected: ejected && weight > 0 && matches!(state, State::Up | State::Degraded),
            weight,
        })
}

/// Any policy: overprovisioning 100..=300, threshold 0..=100 (0, 50 and 100 often), the
/// three switches either way.
pub fn policy() -> impl proptest::strategy::Strategy<Value = Policy> {
    let threshold = prop_oneof![1 => Just(0u32), 1 => Just(50), 1 => Just(100), 3 => 0..=100u32];
    let op = prop_oneof![1 => Just(140u32), 3 => 100..=300u32];
    (op, threshold, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(overprovisioning, panic_threshold, w, f, d)| Policy {
            overprovisioning,
            panic_threshold,
            weighted_priority_health: w,
            fail_traffic_on_panic: f,
            panic_picks_down: d,
        },
    )
}

/// Locality weights 0..=5 per zone, or a zone-aware setup with fleet counts 0..=5 per zone,
/// the local zone below `zones` and a minimum cluster size 0..=8.
pub fn locality(zones: u8) -> impl proptest::strategy::Strategy<Value = Locality> {
    let z = zones as usize;
    let weights = prop::collection::vec(0..=5u32, z).prop_map(move |v| {
        let mut w = [1u32; ZONES];
        w[..v.len()].copy_from_slice(&v);
        Locality::Weighted(w)
    });
    let aware = (0..zones, 0..=8u32, prop::collection::vec(0..=5u32, z)).prop_map(
        |(local, min_cluster_size, v)| {
            let mut fleet = [0u32; ZONES];
            fleet[..v.len()].copy_from_slice(&v);
            Locality::ZoneAware {
                local: local as usize,
                min_cluster_size,
                fleet,
            }
        },
    );
    prop_oneof![weights, aware]
}
