//! A reference model of Envoy's load distribution over priority levels and localities, written
//! from Envoy's own documentation and source (read, not ported), against which the pool's
//! [`tinylb::Pool::priority_load`], [`tinylb::Pool::locality_split`] and its picks are
//! checked by [`crate::levels`] and [`crate::localities`].
//!
//! Sources (envoyproxy/envoy):
//!
//! * `source/extensions/load_balancing_policies/common/load_balancer_impl.cc` (commit
//!   e01a970ac688b05de9f57591a17d23f493e3969b): `recalculatePerPriorityState` (a level's
//!   health and degraded availability, `min(100, overprovisioning × available / total)`, by
//!   count or, with `weighted_priority_health`, by weight), `distributeLoad` (load level by
//!   level from 100, healthy first, then degraded from what is left, the rounding remainder
//!   to the first level with healthy availability, else the first with degraded),
//!   `recalculatePerPriorityPanic` (no panic while the normalised total availability is
//!   100; threshold 0 with nothing available gives level 0 all the load), `isHostSetInPanic`
//!   (healthy + degraded hosts, **counted, never weighted**, below the threshold's share of
//!   all the level's hosts; an empty level is in panic), `recalculateLoadInTotalPanic` (every
//!   level in panic: the load follows the host counts, remainder to the first non-empty
//!   level), `choosePriority` (`h = hash % 100 + 1`, walk healthy loads then degraded loads
//!   cumulatively), `hostSourceToUse` (a level in panic takes all its hosts, or fails with
//!   `fail_traffic_on_panic`; locality routing only outside panic),
//!   `regenerateLocalityRoutingStructures`, `earlyExitNonLocalityRouting`,
//!   `calculateLocalityPercentages` and `tryChooseLocalLocalityHosts` (zone-aware routing,
//!   level 0 only, in units of 1/10000);
//! * `source/common/upstream/upstream_impl.cc`, `HostSetImpl::effectiveLocalityWeight`: a
//!   locality's weight × `min(1, overprovisioning/100 × available / hosts)`, 0 for a locality
//!   with no host;
//! * the docs under `docs/root/intro/arch_overview/upstream/load_balancing/`:
//!   `priority.rst`, `overprovisioning.rst`, `panic_threshold.rst`, `degraded.rst`,
//!   `zone_aware.rst`, `locality_weight.rst` (their worked tables are the unit tests in
//!   [`examples`]), and Envoy's own `test/extensions/load_balancing_policies/common/
//!   load_balancer_impl_base_test.cc` (more worked cases, also in [`examples`]).
//!
//! Where tinylb states that it differs from Envoy (its `levels_api` design note), the model
//! follows tinylb and says so at the function:
//!
//! * in panic a level's candidates are its Up and Degraded backends (ejected ones back in),
//!   and Down ones only with `panic_picks_down` (Envoy: every host) ([`candidates`]);
//! * when the drawn list has no candidate the pick falls back: in the drawn locality's
//!   level without the locality, then every level's healthy and degraded lists in level
//!   order, then the panic sets of the levels in panic (Envoy returns no host) ([`resolve`]);
//! * zone-aware routing with no healthy backend at level 0 routes by no locality (Envoy
//!   computes a split over empty lists; there is nothing to route either way);
//! * locality weights are integer basis points, floored (Envoy: a `double`)
//!   ([`effective_locality_weight`]);
//! * with every residual capacity 0, the cross-zone share is spread evenly over the zones that
//!   have backends (Envoy: `random() % localities`, the same thing over its locality list).
//!
//! Draining and weight-0 backends are never candidates (tinylb's eligibility); Envoy has no
//! weight 0 and no draining state inside a host set, so nothing there contradicts it.

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

pub mod build;
mod examples;

/// Priority levels tinylb has (0..=7).
pub const LEVELS: usize = 8;
/// Locality (zone) tags tinylb has (0..=7).
pub const ZONES: usize = 8;

/// A backend's administrative health, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Envoy HEALTHY.
    Up,
    /// Envoy DEGRADED: takes traffic only when the healthy hosts cannot.
    Degraded,
    /// Envoy UNHEALTHY.
    Down,
    /// Being drained: counted in its level, never picked.
    Draining,
}

/// One backend of a modelled pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub level: u8,
    pub zone: u8,
    pub state: State,
    /// Ejected by outlier detection (Envoy: FAILED_OUTLIER_CHECK, not healthy).
    pub ejected: bool,
    pub weight: u32,
}

impl Host {
    pub fn new(level: u8, state: State, weight: u32) -> Self {
        Host {
            level,
            zone: 0,
            state,
            ejected: false,
            weight,
        }
    }
    pub fn zone(mut self, zone: u8) -> Self {
        self.zone = zone;
        self
    }
    pub fn ejected(mut self) -> Self {
        self.ejected = true;
        self
    }
    /// In Envoy's healthy host list.
    pub fn healthy(&self) -> bool {
        self.state == State::Up && !self.ejected
    }
    /// In Envoy's degraded host list.
    pub fn degraded(&self) -> bool {
        self.state == State::Degraded && !self.ejected
    }
    /// In the list for `avail`.
    pub fn available(&self, avail: Avail) -> bool {
        match avail {
            Avail::Healthy => self.healthy(),
            Avail::Degraded => self.degraded(),
        }
    }
}

/// Which of a level's lists a pick draws from (Envoy `HostAvailability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Avail {
    Healthy,
    Degraded,
}

/// The pool-wide policy the model needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Envoy's overprovisioning factor in percent (140 = 1.4).
    pub overprovisioning: u32,
    /// Envoy's `healthy_panic_threshold` in percent; 0 turns panic off.
    pub panic_threshold: u32,
    /// Envoy's `weighted_priority_health`: availability by weight instead of by count.
    pub weighted_priority_health: bool,
    /// Envoy's `fail_traffic_on_panic`: a pick drawn to a level in panic fails.
    pub fail_traffic_on_panic: bool,
    /// tinylb: in panic, Down backends are candidates too (Envoy's "all hosts").
    pub panic_picks_down: bool,
}

impl Policy {
    /// Envoy's defaults: 1.4, 50 %, by count, panic routes to the level's backends.
    pub const ENVOY: Policy = Policy {
        overprovisioning: 140,
        panic_threshold: 50,
        weighted_priority_health: false,
        fail_traffic_on_panic: false,
        panic_picks_down: false,
    };
}

// ----- priority load -----

/// One level's numbers, as `recalculatePerPriorityState` (weights or counts) and
/// `isHostSetInPanic` (always counts) read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Level {
    /// Hosts of the level, any health.
    pub hosts: u64,
    pub healthy_hosts: u64,
    pub degraded_hosts: u64,
    /// The availability denominators: the counts, or with `weighted_priority_health` the
    /// sums of the configured weights.
    pub total: u64,
    pub healthy: u64,
    pub degraded: u64,
}

impl Level {
    /// A level described by counts only: `hosts` hosts, `healthy` of them healthy and
    /// `degraded` degraded.
    pub fn counts(hosts: u64, healthy: u64, degraded: u64) -> Self {
        assert!(healthy + degraded <= hosts);
        Level {
            hosts,
            healthy_hosts: healthy,
            degraded_hosts: degraded,
            total: hosts,
            healthy,
            degraded,
        }
    }
}

/// How many levels a pool of `hosts` has: the highest level in use + 1, at least 1.
pub fn level_count(hosts: &[Host]) -> usize {
    hosts
        .iter()
        .map(|h| h.level as usize + 1)
        .max()
        .unwrap_or(1)
}

/// The per-level numbers of `hosts`.
pub fn levels_of(hosts: &[Host], weighted: bool) -> Vec<Level> {
    let mut out = vec![Level::default(); level_count(hosts)];
    for h in hosts {
        let l = &mut out[h.level as usize];
        let w = if weighted { h.weight as u64 } else { 1 };
        l.hosts += 1;
        l.total += w;
        if h.healthy() {
            l.healthy_hosts += 1;
            l.healthy += w;
        }
        if h.degraded() {
            l.degraded_hosts += 1;
            l.degraded += w;
        }
    }
    out
}

/// The split over levels: percent of the traffic to each level's healthy and degraded
/// backends, and which levels are in panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loads {
    pub healthy: Vec<u32>,
    pub degraded: Vec<u32>,
    pub panic: Vec<bool>,
}

impl Loads {
    pub fn levels(&self) -> usize {
        self.healthy.len()
    }
    /// The load of `(level, avail)`.
    pub fn of(&self, level: usize, avail: Avail) -> u32 {
        match avail {
            Avail::Healthy => self.healthy[level],
            Avail::Degraded => self.degraded[level],
        }
    }
}

/// A level's (health, degraded availability) in percent, capped at 100
/// (`recalculatePerPriorityState`).
pub fn availability(level: &Level, overprovisioning: u32) -> (u32, u32) {
    if level.hosts == 0 || level.total == 0 {
        return (0, 0);
    }
    let op = overprovisioning as u64;
    let h = (op * level.healthy / level.total).min(100) as u32;
    let d = (op * level.degraded / level.total).min(100) as u32;
    (h, d)
}

/// `distributeLoad`: as much of `total` as each level's availability allows, in level order;
/// returns the first level with availability and what is left.
fn distribute(out: &mut [u32], avail: &[u32], mut total: u32, norm: u32) -> (Option<usize>, u32) {
    let mut first = None;
    for (i, &a) in avail.iter().enumerate() {
        if first.is_none() && a > 0 {
            first = Some(i);
        }
        out[i] = total.min(a * 100 / norm);
        total -= out[i];
    }
    (first, total)
}

/// `isHostSetInPanic`: healthy + degraded hosts (counted) below `threshold` percent of the
/// level's hosts; a level with no host counts as 0 % available.
pub fn level_in_panic(level: &Level, threshold: u32) -> bool {
    if level.hosts == 0 {
        return threshold > 0;
    }
    (level.healthy_hosts + level.degraded_hosts) * 100 < threshold as u64 * level.hosts
}

/// The priority load of `levels` (at least one), as Envoy computes it.
pub fn priority_loads(levels: &[Level], overprovisioning: u32, threshold: u32) -> Loads {
    let n = levels.len();
    assert!(n >= 1);
    let (health, degraded): (Vec<u32>, Vec<u32>) = levels
        .iter()
        .map(|l| availability(l, overprovisioning))
        .unzip();
    let norm = health.iter().chain(&degraded).sum::<u32>().min(100);
    let mut loads = Loads {
        healthy: vec![0; n],
        degraded: vec![0; n],
        panic: vec![false; n],
    };
    if norm > 0 {
        let (first_h, left) = distribute(&mut loads.healthy, &health, 100, norm);
        let (first_d, left) = distribute(&mut loads.degraded, &degraded, left, norm);
        if left > 0 {
            match (first_h, first_d) {
                (Some(l), _) => loads.healthy[l] += left,
                (None, Some(l)) => loads.degraded[l] += left,
                (None, None) => unreachable!("norm > 0 means some availability"),
            }
        }
    }
    if threshold == 0 && norm == 0 {
        // nothing available and panic off: level 0 "gets" everything (and has nothing)
        loads.healthy[0] = 100;
        return loads;
    }
    for (l, level) in levels.iter().enumerate() {
        loads.panic[l] = norm != 100 && level_in_panic(level, threshold);
    }
    if loads.panic.iter().all(|&p| p) {
        total_panic(&mut loads, levels);
    } else if norm == 0 {
        // Nothing available yet not every level in panic: only weight-0 backends counted
        // by weight can do this (Envoy has no weight 0, and leaves the previous loads in
        // place). As with threshold 0, level 0 names the load.
        loads.healthy[0] = 100;
    }
    loads
}

/// `recalculateLoadInTotalPanic`: the load follows the host counts (any health), the
/// remainder to the first non-empty level; no degraded load.
fn total_panic(loads: &mut Loads, levels: &[Level]) {
    let total: u64 = levels.iter().map(|l| l.hosts).sum();
    loads.degraded.iter_mut().for_each(|d| *d = 0);
    if total == 0 {
        loads.healthy.iter_mut().for_each(|h| *h = 0);
        loads.healthy[0] = 100;
        return;
    }
    let mut left = 100u32;
    let mut first = None;
    for (l, level) in levels.iter().enumerate() {
        if first.is_none() && level.hosts > 0 {
            first = Some(l);
        }
        loads.healthy[l] = (100 * level.hosts / total) as u32;
        left -= loads.healthy[l];
    }
    loads.healthy[first.expect("total > 0")] += left;
}

/// The priority load of a pool of `hosts` under `policy`.
pub fn loads(hosts: &[Host], policy: &Policy) -> Loads {
    priority_loads(
        &levels_of(hosts, policy.weighted_priority_health),
        policy.overprovisioning,
        policy.panic_threshold,
    )
}

/// `choosePriority`: the level and list a draw of `h` in `1..=100` lands on.
pub fn choose_priority(h: u32, loads: &Loads) -> (usize, Avail) {
    assert!((1..=100).contains(&h));
    let mut sum = 0;
    for (avail, list) in [
        (Avail::Healthy, &loads.healthy),
        (Avail::Degraded, &loads.degraded),
    ] {
        for (l, &load) in list.iter().enumerate() {
            sum += load;
            if h <= sum {
                return (l, avail);
            }
        }
    }
    unreachable!("loads sum to 100: {loads:?}")
}

// ----- what a drawn level picks from (tinylb's rules on top of Envoy's) -----

/// Where a pick ends up: a level's list outside panic, a level in panic (its candidates do
/// not depend on the list drawn), or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    List(usize, Avail),
    Panic(usize),
    Fail,
}

/// The bucket a picked host belongs to, given the loads' panic flags.
pub fn bucket_of(h: &Host, loads: &Loads) -> Option<Bucket> {
    let l = h.level as usize;
    if l < loads.levels() && loads.panic[l] {
        return Some(Bucket::Panic(l));
    }
    if h.healthy() {
        Some(Bucket::List(l, Avail::Healthy))
    } else if h.degraded() {
        Some(Bucket::List(l, Avail::Degraded))
    } else {
        None
    }
}

/// The hosts (indices into `hosts`) of `level`'s list for `avail`: Up (or Degraded) and
/// not ejected, weight above 0.
pub fn list(hosts: &[Host], level: usize, avail: Avail) -> Vec<usize> {
    (0..hosts.len())
        .filter(|&i| {
            let h = &hosts[i];
            h.level as usize == level && h.weight > 0 && h.available(avail)
        })
        .collect()
}

/// The hosts a level in panic picks from (tinylb, see the module docs): every Up or
/// Degraded host of the level, ejected or not, and Down ones with `panic_picks_down`; never
/// a Draining or weight-0 host.
pub fn panic_set(hosts: &[Host], policy: &Policy, level: usize) -> Vec<usize> {
    (0..hosts.len())
        .filter(|&i| {
            let h = &hosts[i];
            h.level as usize == level
                && h.weight > 0
                && match h.state {
                    State::Up | State::Degraded => true,
                    State::Down => policy.panic_picks_down,
                    State::Draining => false,
                }
        })
        .collect()
}

/// Where one draw is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub bucket: Bucket,
    /// The hosts the pick chooses among.
    pub candidates: Vec<usize>,
    /// `true` if served by the list the draw landed on (where a locality split applies),
    /// `false` if by a fallback.
    pub drawn: bool,
}

/// Serves a draw that landed on `(level, avail)`, as tinylb does (Envoy has no fallback):
/// a level in panic fails with `fail_traffic_on_panic`, else picks from its panic set; a
/// level not in panic picks from the list drawn. If that has no candidate, the pick falls
/// back to every level's healthy, then degraded list, level by level (a level in panic
/// included: its list, not its panic set), then, unless panic fails traffic, to the panic
/// sets of the levels in panic, in level order; nowhere if none has a candidate.
pub fn resolve(
    hosts: &[Host],
    loads: &Loads,
    policy: &Policy,
    level: usize,
    avail: Avail,
) -> Served {
    let fail = policy.fail_traffic_on_panic;
    let served = |bucket, candidates, drawn| Served {
        bucket,
        candidates,
        drawn,
    };
    if loads.panic[level] {
        if fail {
            return served(Bucket::Fail, Vec::new(), true);
        }
        let c = panic_set(hosts, policy, level);
        if !c.is_empty() {
            return served(Bucket::Panic(level), c, true);
        }
    } else {
        let c = list(hosts, level, avail);
        if !c.is_empty() {
            return served(Bucket::List(level, avail), c, true);
        }
    }
    for l in 0..loads.levels() {
        for a in [Avail::Healthy, Avail::Degraded] {
            let c = list(hosts, l, a);
            if !c.is_empty() {
                let b = if loads.panic[l] {
                    Bucket::Panic(l)
                } else {
                    Bucket::List(l, a)
                };
                return served(b, c, false);
            }
        }
    }
    if !fail {
        for l in (0..loads.levels()).filter(|&l| loads.panic[l]) {
            let c = panic_set(hosts, policy, l);
            if !c.is_empty() {
                return served(Bucket::Panic(l), c, false);
            }
        }
    }
    served(Bucket::Fail, Vec::new(), false)
}

/// Every draw `h` in `1..=100` (one percent of the picks each): the list it lands on and
/// where it is served.
pub fn draws(hosts: &[Host], policy: &Policy) -> Vec<(usize, Avail, Served)> {
    let loads = loads(hosts, policy);
    (1..=100)
        .map(|h| {
            let (l, a) = choose_priority(h, &loads);
            (l, a, resolve(hosts, &loads, policy, l, a))
        })
        .collect()
}

/// The share of picks (in percent, summing to 100) each bucket gets.
pub fn bucket_shares(hosts: &[Host], policy: &Policy) -> Vec<(Bucket, u32)> {
    let mut out: Vec<(Bucket, u32)> = Vec::new();
    for (_, _, s) in draws(hosts, policy) {
        match out.iter_mut().find(|(x, _)| *x == s.bucket) {
            Some((_, n)) => *n += 1,
            None => out.push((s.bucket, 1)),
        }
    }
    out.sort();
    out
}

/// Every host some pick may return: the candidates of every draw.
pub fn allowed(hosts: &[Host], policy: &Policy) -> Vec<usize> {
    let mut out: Vec<usize> = draws(hosts, policy)
        .into_iter()
        .flat_map(|(_, _, s)| s.candidates)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

// ----- localities -----

/// The locality policy, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    Off,
    /// Locality-weighted picking, with each zone's `load_balancing_weight`.
    Weighted([u32; ZONES]),
    /// Zone-aware routing from `local` with the caller's fleet per zone.
    ZoneAware {
        local: usize,
        min_cluster_size: u32,
        fleet: [u32; ZONES],
    },
}

/// `effectiveLocalityWeight` in tinylb's integer form: the locality weight times the
/// zone's availability in basis points, `min(10000, op × available × 100 / hosts)`, floored
/// (Envoy: a `double` ratio capped at 1.0); 0 for a zone with no host.
pub fn effective_locality_weight(weight: u32, available: u64, hosts: u64, op: u32) -> u64 {
    if hosts == 0 {
        return 0;
    }
    weight as u64 * (op as u64 * available * 100 / hosts).min(10_000)
}

/// Locality-weighted split of `(level, avail)`: each zone's effective weight; `None` when
/// every one is 0 (Envoy builds no locality scheduler then).
pub fn weighted_split(
    hosts: &[Host],
    level: usize,
    avail: Avail,
    op: u32,
    weights: &[u32; ZONES],
) -> Option<[u64; ZONES]> {
    let mut total = [0u64; ZONES];
    let mut avail_z = [0u64; ZONES];
    for h in hosts.iter().filter(|h| h.level as usize == level) {
        total[h.zone as usize] += 1;
        if h.available(avail) {
            avail_z[h.zone as usize] += 1;
        }
    }
    let mut out = [0u64; ZONES];
    for z in 0..ZONES {
        out[z] = effective_locality_weight(weights[z], avail_z[z], total[z], op);
    }
    out.iter().any(|&w| w > 0).then_some(out)
}

/// Zone-aware routing's split from counts: `backends[z]` hosts of level 0 in zone `z` (any
/// health), `healthy[z]` of them healthy, `fleet[z]` proxies of the caller's fleet there.
/// `None` when Envoy's `earlyExitNonLocalityRouting` says no: fewer than two zones with
/// backends, fewer than two fleet zones, no proxy in the local zone, or fewer healthy
/// backends than `min_cluster_size`.
pub fn zone_aware_split(
    backends: &[u64; ZONES],
    healthy: &[u64; ZONES],
    fleet: &[u32; ZONES],
    local: usize,
    min_cluster_size: u32,
) -> Option<[u64; ZONES]> {
    let zones = backends.iter().filter(|&&b| b > 0).count();
    let fleet_zones = fleet.iter().filter(|&&f| f > 0).count();
    let healthy_total: u64 = healthy.iter().sum();
    // (tinylb: no healthy backend, no split; see the module docs)
    if zones < 2
        || fleet_zones < 2
        || fleet[local] == 0
        || healthy_total == 0
        || healthy_total < min_cluster_size as u64
    {
        return None;
    }
    let fleet_total: u64 = fleet.iter().map(|&f| f as u64).sum();
    // calculateLocalityPercentages, in 1/10000
    let up: Vec<u64> = healthy
        .iter()
        .map(|&h| (10_000 * h).checked_div(healthy_total).unwrap_or(0))
        .collect();
    let loc: Vec<u64> = fleet
        .iter()
        .map(|&f| 10_000 * f as u64 / fleet_total)
        .collect();
    let mut out = [0u64; ZONES];
    // LocalityDirect: the local zone can take all the local traffic
    if up[local] > 0 && up[local] >= loc[local] {
        out[local] = 1;
        return Some(out);
    }
    // LocalityResidual: the local share, then the rest by residual capacity
    let p = (up[local] * 10_000).checked_div(loc[local]).unwrap_or(0);
    let mut residual = [0u64; ZONES];
    for z in 0..ZONES {
        if z != local && up[z] > loc[z] {
            residual[z] = up[z] - loc[z];
        }
    }
    let r: u64 = residual.iter().sum();
    if r == 0 {
        // no residual capacity anywhere (rounding): the cross-zone share evenly over the
        // zones with backends
        let k = zones as u64;
        for z in 0..ZONES {
            if backends[z] > 0 {
                out[z] = 10_000 - p;
            }
        }
        out[local] += p * k;
        return Some(out);
    }
    for z in 0..ZONES {
        out[z] = (10_000 - p) * residual[z];
    }
    out[local] += p * r;
    Some(out)
}

/// How a pick in `(level, avail)` splits over zones, as weights (`None`: the pick spans the
/// level's zones): nothing in panic; locality-weighted from the level's lists; zone-aware
/// on level 0 only, from its healthy backends.
pub fn locality_split(
    hosts: &[Host],
    policy: &Policy,
    locality: &Locality,
    level: usize,
    avail: Avail,
) -> Option<[u64; ZONES]> {
    let loads = loads(hosts, policy);
    if level >= loads.levels() || loads.panic[level] {
        return None;
    }
    match locality {
        Locality::Off => None,
        Locality::Weighted(w) => weighted_split(hosts, level, avail, policy.overprovisioning, w),
        Locality::ZoneAware {
            local,
            min_cluster_size,
            fleet,
        } => {
            if level != 0 {
                return None;
            }
            let mut backends = [0u64; ZONES];
            let mut healthy = [0u64; ZONES];
            for h in hosts.iter().filter(|h| h.level == 0) {
                backends[h.zone as usize] += 1;
                if h.healthy() {
                    healthy[h.zone as usize] += 1;
                }
            }
            zone_aware_split(&backends, &healthy, fleet, *local, *min_cluster_size)
        }
    }
}

/// `a` and `b` describe the same split: proportional weights, compared exactly.
pub fn same_split(a: &[u64; ZONES], b: &[u64; ZONES]) -> bool {
    let (sa, sb): (u128, u128) = (
        a.iter().map(|&x| x as u128).sum(),
        b.iter().map(|&x| x as u128).sum(),
    );
    sa > 0 && sb > 0 && (0..ZONES).all(|z| a[z] as u128 * sb == b[z] as u128 * sa)
}

/// The split as fractions of 1.
pub fn fractions(w: &[u64; ZONES]) -> [f64; ZONES] {
    let s: u64 = w.iter().sum();
    let mut out = [0.0; ZONES];
    for z in 0..ZONES {
        out[z] = w[z] as f64 / s as f64;
    }
    out
}

/// Picks per case of the share properties: 40,000 keeps 32 cases of the spread path (an
/// O(n) scan a pick, unoptimised in tests) to some seconds on a 2-core box. Under WASI (an
/// interpreter's pace, 16 cases) 10,000: the tolerance below widens with it; what WASM
/// computes pick by pick is pinned by the golden vectors.
pub const SHARE_PICKS: u32 = if cfg!(target_family = "wasm") {
    10_000
} else {
    40_000
};

/// How far (in percentage points) an observed share may be from the model's `pct` percent
/// over `picks` picks: five standard deviations of the binomial share (1.25 points at a
/// 50 % share over 40,000 picks, 0.34 at 2 %), and exactly 0 for a share of 0 (such a pick
/// is a bug, not noise). Five sigma: no seeded run should fail by chance.
pub fn tolerance(pct: f64, picks: u32) -> f64 {
    let p = (pct / 100.0).clamp(0.0, 1.0);
    // (plus what floating point may lose summing a share)
    5.0 * 100.0 * (p * (1.0 - p) / picks as f64).sqrt() + 1e-9
}
