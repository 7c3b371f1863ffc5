//! The two scenarios of priority levels and zones (`priority_spill`, `zone_outage`): their
//! clusters, how each proxy's pool is set up for them, and what the pools say the split of
//! the picks should be (Envoy's priority load and locality split, as `Pool::priority_load`
//! and `Pool::locality_split` compute them after Envoy's
//! `source/extensions/load_balancing_policies/common/load_balancer_impl.cc`:
//! `recalculatePerPriorityState` for the levels, `regenerateLocalityRoutingStructures` for
//! zone-aware routing).

use tinylb::{Availability, BackendId, Config, Health, LocalityPolicy, Pool, ZoneAware};

use crate::engine::N;
use crate::scenario::{BackendSpec, Change, Cluster, Event, Groups, WORKERS};

/// `priority_spill`: backends at each of its two levels, and clients (7 per level-0
/// backend, as in the other scenarios: 87.5 % of level 0's workers busy, above the
/// 1 / 1.4 = 71 % that Envoy's overprovisioning factor assumes).
const SPILL_PER_LEVEL: usize = 8;
const SPILL_CLIENTS: usize = 7 * SPILL_PER_LEVEL;
/// `zone_outage`: zones, backends per zone, which zone each proxy runs in (two in zone 0,
/// so that zone sends half the traffic and has a third of the backends: zone-aware routing
/// has to send some of it across), and clients (22 a proxy, 61 % of the workers).
const ZONES: usize = 3;
const PER_ZONE: usize = 6;
const PROXY_ZONES: [u8; 4] = [0, 0, 1, 2];
const ZONE_CLIENTS: usize = 22 * PROXY_ZONES.len();
/// Strategies the two scenarios leave out: they send every pick of a level or zone to one
/// backend (a failover order), so their rows would measure that backend's queue.
const SKIP: [&str; 2] = ["first", "pick_first"];
/// `zone_outage`: the strategies also run with locality weights instead of zone-aware
/// routing (Envoy's default `ROUND_ROBIN` is weighted, its `LEAST_REQUEST` is P2C).
const WEIGHTED_STRATEGIES: [&str; 3] = ["weighted_round_robin", "random", "p2c"];
/// Each scenario's requests a run, as a fraction of `--requests` (numerator, denominator),
/// so that the two add less than a fifth to the default run's time: their picks cost more
/// (the pool routes each one over the levels or zones).
const SPILL_RUN: (u64, u64) = (2, 5);
const ZONE_RUN: (u64, u64) = (1, 5);
/// `zone_outage`: the network latency a cross-zone pick adds (the round trip, charged on
/// the way out).
const CROSS_ZONE_US: u64 = 1_000;

/// `priority_spill`'s cluster: two levels of [`SPILL_PER_LEVEL`] backends; level 0's go down
/// one by one at even intervals, so phase k has k of them down.
pub(crate) fn priority_spill(c: &mut Cluster, normal: BackendSpec, requests: u64) {
    let per = SPILL_PER_LEVEL;
    c.requests = (requests * SPILL_RUN.0 / SPILL_RUN.1).max(1);
    c.skip = &SKIP;
    c.backends = (0..2 * per)
        .map(|i| BackendSpec {
            level: (i / per) as u8,
            ..normal
        })
        .collect();
    c.clients = SPILL_CLIENTS;
    // level 0's backends go down one by one, at even intervals: phase k has k down
    let step = c.requests / (per as u64 + 1);
    c.events = (0..per)
        .map(|b| Event {
            after: step * (b as u64 + 1),
            backend: b,
            change: Change::Down,
        })
        .collect();
    c.phases = c.events.iter().map(|e| e.after).collect();
    c.groups = Groups::Levels(2);
    c.title = format!(
        "priority_spill: {} backends (b0–b{} at level 0, b{}–b{} at level 1), {WORKERS} workers each, service 1 ms + exp(9 ms), {} clients (87.5 % of level 0's workers); {} requests a run, b0, b1, … b{} go down one by one, one every {step} requests sent; Envoy's priority load with overprovisioning 1.4 (`Config::new()`); {} left out (every pick of a level to one backend)",
        2 * per,
        per - 1,
        per,
        2 * per - 1,
        c.clients,
        c.requests,
        per - 1,
        SKIP.join(" and "),
    );
}

/// `zone_outage`'s cluster: [`ZONES`] zones of [`PER_ZONE`] backends, a proxy in each zone
/// (two in zone 0), half of zone 1 down halfway through the run.
pub(crate) fn zone_outage(c: &mut Cluster, normal: BackendSpec, requests: u64) {
    c.requests = (requests * ZONE_RUN.0 / ZONE_RUN.1).max(1);
    c.skip = &SKIP;
    c.backends = (0..ZONES * PER_ZONE)
        .map(|i| BackendSpec {
            zone: (i / PER_ZONE) as u8,
            ..normal
        })
        .collect();
    c.clients = ZONE_CLIENTS;
    c.proxies = PROXY_ZONES.len();
    c.proxy_zones = PROXY_ZONES.to_vec();
    c.cross_zone_us = CROSS_ZONE_US;
    // half of zone 1 goes down halfway
    c.events = (PER_ZONE..PER_ZONE + PER_ZONE / 2)
        .map(|b| Event {
            after: c.requests / 2,
            backend: b,
            change: Change::Down,
        })
        .collect();
    c.phases = vec![c.requests / 2];
    c.groups = Groups::Zones(ZONES);
    // the local zone is each proxy's own (`pool` sets it)
    c.policies = vec![
        (
            "",
            Config::new().locality(LocalityPolicy::ZoneAware(ZoneAware::new(0))),
            None,
        ),
        (
            " +weighted",
            Config::new().locality(LocalityPolicy::Weighted),
            Some(&WEIGHTED_STRATEGIES),
        ),
    ];
    c.title = format!(
        "zone_outage: {} backends in {ZONES} zones (b0–b{} in zone 0, b{}–b{} in zone 1, b{}–b{} in zone 2), {WORKERS} workers each, service 1 ms + exp(9 ms); {} proxies, each with its own pool and strategy, in zones [{}] (`Pool::set_fleet`), {} clients spread over them; a cross-zone pick adds {} ms; b{}–b{} (half of zone 1) go down after {} of the {} requests a run; zone-aware routing (`LocalityPolicy::ZoneAware`, the proxy's zone local); +weighted: `LocalityPolicy::Weighted` (equal locality weights), for {}; {} left out (every pick of a zone to one backend)",
        ZONES * PER_ZONE,
        PER_ZONE - 1,
        PER_ZONE,
        2 * PER_ZONE - 1,
        2 * PER_ZONE,
        3 * PER_ZONE - 1,
        c.proxies,
        PROXY_ZONES.map(|z| z.to_string()).join(", "),
        c.clients,
        CROSS_ZONE_US / 1000,
        PER_ZONE,
        PER_ZONE + PER_ZONE / 2 - 1,
        c.requests / 2,
        c.requests,
        WEIGHTED_STRATEGIES.join(", "),
        SKIP.join(" and "),
    );
}

/// Proxy `proxy`'s pool for a run of `config`: under zone-aware routing its own zone is the
/// local one, and it knows how many proxies run in each zone.
pub(crate) fn pool(sc: &Cluster, mut config: Config, proxy: usize) -> Pool<N> {
    if let LocalityPolicy::ZoneAware(z) = &mut config.locality {
        z.local_zone = sc.zone_of(proxy);
    }
    let pool = Pool::with_config(config).expect("a valid pool config");
    for z in 0..=sc.proxy_zones.iter().copied().max().unwrap_or(0) {
        let k = sc.proxy_zones.iter().filter(|&&x| x == z).count();
        if k > 0 {
            pool.set_fleet(z, k as u16).expect("a zone in range");
        }
    }
    pool
}

/// What the pools say the picks should do now, from each proxy (its pool, its zone, its
/// backends' ids): the share of all picks from each proxy zone to each level (proxy 0's
/// priority load) or zone (each proxy's locality split of level 0, weighted by its share of
/// the clients, which is equal), and whether a level is in panic or a proxy has no locality
/// split (its picks then span the level: the model counts its up backends per zone).
pub(crate) fn model(
    sc: &Cluster,
    proxies: &[(&Pool<N>, usize, &[BackendId])],
) -> (Vec<Vec<f64>>, bool) {
    match sc.groups {
        Groups::None => (Vec::new(), false),
        Groups::Levels(levels) => {
            let pl = proxies[0].0.priority_load();
            let row = (0..levels)
                .map(|l| f64::from(pl.healthy[l]) / 100.0 + f64::from(pl.degraded[l]) / 100.0)
                .collect();
            (vec![row], pl.panic.iter().any(|&p| p))
        }
        Groups::Zones(zones) => {
            let mut m = vec![vec![0.0; zones]; zones];
            let mut spans = false;
            let share = 1.0 / proxies.len() as f64;
            for &(pool, zone, ids) in proxies {
                let w: Vec<f64> = match pool.locality_split(0, Availability::Healthy) {
                    Some(w) => w[..zones].iter().map(|&x| x as f64).collect(),
                    None => {
                        spans = true;
                        let mut w = vec![0.0; zones];
                        for (i, &id) in ids.iter().enumerate() {
                            if pool.info(id).is_ok_and(|b| b.health == Health::Up) {
                                w[sc.backends[i].zone as usize] += 1.0;
                            }
                        }
                        w
                    }
                };
                let sum: f64 = w.iter().sum();
                if sum > 0.0 {
                    for (z, x) in w.iter().enumerate() {
                        m[zone][z] += share * x / sum;
                    }
                }
            }
            (m, spans)
        }
    }
}
