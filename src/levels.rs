//! Priority levels, degraded backends and localities: the load arithmetic.
//!
//! This module is the integer arithmetic alone, on counts a pool's scan hands it
//! (`pool/spread.rs` does the scan and the pick); it follows Envoy:
//!
//! * **Priority load**: `source/extensions/load_balancing_policies/common/load_balancer_impl.cc`
//!   (`recalculatePerPriorityState`, `distributeLoad`, `recalculatePerPriorityPanic`,
//!   `recalculateLoadInTotalPanic`, `choosePriority`, `isHostSetInPanic`) and the
//!   architecture docs' "Priority levels", "Degraded endpoints", "Overprovisioning factor" and
//!   "Panic threshold" pages. A level's health is `min(100, factor · healthy / total)` (the
//!   factor in percent, 140 by default), its degraded availability the same over degraded
//!   backends; the normalised total is their sum capped at 100; level by level, healthy loads
//!   take `health · 100 / total` of what is left, then degraded loads the same; the rounding
//!   remainder goes to the first level with healthy availability (else degraded). A level is
//!   in panic when the normalised total is below 100 and `(healthy + degraded) / total` is
//!   below the panic threshold — `total` counting *every* backend of the level, down and
//!   draining ones included, as Envoy counts hosts failing health checks. When every level
//!   is in panic the load follows the levels' sizes.
//! * **Locality weights**: `source/common/upstream/upstream_impl.cc`
//!   (`HostSetImpl::effectiveLocalityWeight`): a locality's effective weight is its weight
//!   times `min(1, factor · available / total)`; here in basis points, rounded down.
//! * **Zone-aware routing**: the same `load_balancer_impl.cc`
//!   (`regenerateLocalityRoutingStructures`, `earlyExitNonLocalityRouting`,
//!   `tryChooseLocalLocalityHosts`): if the local zone's share of the level's healthy
//!   backends is at least the local proxy fleet's share, everything stays local; otherwise
//!   `upstream% / local%` stays local and the rest goes to the other zones by their residual
//!   capacity `upstream% − local%`. Off below a minimum cluster size and in panic.
//!
//! Where tinylb differs from Envoy, and why: a level in panic picks from its up, degraded
//! and ejected backends but not from down ones unless [`Config::panic_picks_down`] says so
//! (tinylb's `Down` is the caller's word, not a health checker's guess); a draining backend
//! is never picked; and when the drawn level has no candidate at all (every backend at its
//! in-flight cap, or excluded by a retry) the pick tries the other levels in order rather
//! than fail, so a pick still returns a backend whenever any is eligible.

use crate::config::Config;

/// Most priority levels a pool can use: levels `0..MAX_LEVELS`, 0 tried first.
pub const MAX_LEVELS: usize = 8;

/// Levels this build can use: [`MAX_LEVELS`] with the `levels` feature, else 1 (what
/// per-level state, such as a weighted round robin's schedules, is sized by).
pub(crate) const BUILD_LEVELS: usize = if cfg!(feature = "levels") {
    MAX_LEVELS
} else {
    1
};

/// Most localities (zones) a pool can tell apart: tags `0..MAX_LOCALITIES`.
pub const MAX_LOCALITIES: usize = 8;

/// Default overprovisioning factor in percent (Envoy's 1.4).
pub const DEFAULT_OVERPROVISIONING_PERCENT: u32 = 140;

/// Default minimum cluster size for zone-aware routing (Envoy's `min_cluster_size`).
pub const DEFAULT_MIN_CLUSTER_SIZE: u32 = 6;

/// Which hosts of a level a pick goes to: the healthy ones, or the degraded ones that take
/// the load the healthy ones cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Availability {
    /// Up backends (Envoy's healthy hosts).
    Healthy,
    /// [`Health::Degraded`](crate::Health::Degraded) backends.
    Degraded,
}

/// How picks split over localities within a level ([`Config::locality`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LocalityPolicy {
    /// No locality routing: a pick spans every locality of its level.
    Off,
    /// Envoy's locality-weighted load balancing: a locality is drawn by its weight
    /// ([`Pool::set_locality_weight`](crate::Pool::set_locality_weight)) times its
    /// availability, then the strategy picks within it.
    Weighted,
    /// Envoy's zone-aware routing at level 0, from the caller's proxy fleet per zone
    /// ([`Pool::set_fleet`](crate::Pool::set_fleet)).
    ZoneAware(ZoneAware),
}

/// Zone-aware routing's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ZoneAware {
    /// The zone this proxy runs in.
    pub local_zone: u8,
    /// Below this many healthy backends at level 0, no zone-aware routing (Envoy's
    /// `min_cluster_size`, default 6).
    pub min_cluster_size: u32,
}

impl ZoneAware {
    /// Zone-aware routing for a proxy in `local_zone`, with the default minimum cluster size.
    pub const fn new(local_zone: u8) -> Self {
        ZoneAware {
            local_zone,
            min_cluster_size: DEFAULT_MIN_CLUSTER_SIZE,
        }
    }
    /// With another minimum cluster size.
    pub const fn min_cluster_size(mut self, n: u32) -> Self {
        self.min_cluster_size = n;
        self
    }
}

/// The split of traffic over priority levels, as Envoy computes it
/// ([`Pool::priority_load`](crate::Pool::priority_load)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PriorityLoad {
    /// Percent of picks for each level's healthy backends.
    pub healthy: [u8; MAX_LEVELS],
    /// Percent of picks for each level's degraded backends.
    pub degraded: [u8; MAX_LEVELS],
    /// Levels in panic (their picks go to all their backends, or fail with
    /// [`Config::fail_traffic_on_panic`]).
    pub panic: [bool; MAX_LEVELS],
    /// Levels in use: the highest level any backend has, plus one (at least 1).
    pub levels: u8,
}

/// What a level holds, counted (or weighed) by a pool's scan. Every figure fits 16 bits
/// (a pool has at most 65535 slots; weighed levels are scaled down to 16 bits), so the
/// arithmetic below is 32-bit: no 64-bit division on a microcontroller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Backends of each level (counted, or weighed).
    pub(crate) total: [u32; MAX_LEVELS],
    pub(crate) healthy: [u32; MAX_LEVELS],
    pub(crate) degraded: [u32; MAX_LEVELS],
    /// Backends of each level, always counted (total panic splits by count, as Envoy's
    /// `recalculateLoadInTotalPanic` does).
    pub(crate) hosts: [u32; MAX_LEVELS],
    pub(crate) levels: u8,
    /// The earliest end of an ejection still counted (tick), when counted at a clock.
    pub(crate) recheck_ms: Option<u32>,
}

/// `min(100, factor · part / total)` (0 for an empty level), for `part <= total < 2^16`:
/// a product that overflows 32 bits is at least `2^32`, so its quotient is above 100.
const fn availability(factor: u32, part: u32, total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    match factor.checked_mul(part) {
        Some(p) => match p.checked_div(total) {
            Some(a) if a < 100 => a,
            _ => 100,
        },
        None => 100,
    }
}

/// Scales a weighed level's figures down so that its total fits 16 bits.
pub(crate) fn scale_to_16_bits(total: u64, parts: [u64; 2]) -> (u32, [u32; 2]) {
    let shift = (64 - total.leading_zeros()).saturating_sub(16);
    let [a, b] = parts;
    (
        (total >> shift) as u32,
        [(a >> shift) as u32, (b >> shift) as u32],
    )
}

impl Census {
    /// Envoy's priority load for these counts.
    #[inline(never)]
    pub(crate) fn load(&self, config: &Config) -> PriorityLoad {
        let levels = (self.levels as usize).clamp(1, MAX_LEVELS);
        let op = config.overprovisioning_percent;
        let mut health = [0u32; MAX_LEVELS];
        let mut deg = [0u32; MAX_LEVELS];
        let rows = self.total.iter().zip(&self.healthy).zip(&self.degraded);
        for ((h, d), ((&t, &hc), &dc)) in health.iter_mut().zip(&mut deg).zip(rows).take(levels) {
            *h = availability(op, hc, t);
            *d = availability(op, dc, t);
        }
        let norm = health.iter().chain(&deg).sum::<u32>().min(100);
        let mut out = PriorityLoad {
            healthy: [0; MAX_LEVELS],
            degraded: [0; MAX_LEVELS],
            panic: [false; MAX_LEVELS],
            levels: levels as u8,
        };
        let threshold = config.panic_threshold_percent.min(100);
        if norm > 0 {
            let mut left = 100u32;
            for (load, avail) in [(&mut out.healthy, &health), (&mut out.degraded, &deg)] {
                for (slot, &a) in load.iter_mut().zip(avail).take(levels) {
                    let share = (a * 100).checked_div(norm).unwrap_or(0).min(left);
                    *slot = share as u8;
                    left -= share;
                }
            }
            // the rounding remainder: the first level with healthy availability, else the
            // first with degraded availability
            if left > 0 {
                let first = |a: &[u32; MAX_LEVELS]| a.iter().take(levels).position(|&v| v > 0);
                let target = match (first(&health), first(&deg)) {
                    (Some(l), _) => out.healthy.get_mut(l),
                    (None, Some(l)) => out.degraded.get_mut(l),
                    (None, None) => None,
                };
                if let Some(t) = target {
                    *t += left as u8;
                }
            }
        } else if threshold == 0 {
            // nothing available and no panic: Envoy names level 0 (nothing is picked there)
            out.healthy[0] = 100;
            return out;
        }
        let mut total_panic = true;
        let rows = self.total.iter().zip(&self.healthy).zip(&self.degraded);
        for (p, ((&t, &h), &d)) in out.panic.iter_mut().zip(rows).take(levels) {
            // an empty level counts as 0 % healthy, as Envoy's `isHostSetInPanic` has it
            *p = norm != 100 && ((h + d) * 100 < threshold * t || threshold > 0 && t == 0);
            total_panic &= *p;
        }
        if total_panic {
            out.degraded = [0; MAX_LEVELS];
            out.healthy = [0; MAX_LEVELS];
            let all: u32 = self.hosts.iter().take(levels).sum();
            let mut left = 100u32;
            for (slot, &t) in out.healthy.iter_mut().zip(&self.hosts).take(levels) {
                let share = (100 * t).checked_div(all).unwrap_or(0);
                *slot = share as u8;
                left -= share;
            }
            // the remainder (everything, for an empty pool) to the first level with backends
            let first = self.hosts.iter().take(levels).position(|&t| t > 0);
            if let Some(t) = out.healthy.get_mut(first.unwrap_or(0)) {
                *t += left as u8;
            }
        }
        out
    }
}

impl PriorityLoad {
    /// Envoy's `choosePriority`: the level and availability a draw in `1..=100` lands in,
    /// healthy loads first, then degraded ones.
    pub fn choose(&self, draw: u64) -> (u8, Availability) {
        let h = (draw % 100 + 1) as u32;
        let mut sum = 0u32;
        for (avail, loads) in [
            (Availability::Healthy, &self.healthy),
            (Availability::Degraded, &self.degraded),
        ] {
            for (l, &load) in loads.iter().enumerate().take(self.levels as usize) {
                sum += load as u32;
                if h <= sum {
                    return (l as u8, avail);
                }
            }
        }
        (0, Availability::Healthy)
    }

    /// `true` if any level is in panic.
    pub fn any_panic(&self) -> bool {
        self.panic.iter().any(|&p| p)
    }
}

/// What one level holds in each zone, for one availability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Zones {
    /// Every backend of the level in the zone.
    pub(crate) total: [u32; MAX_LOCALITIES],
    /// Those of the availability asked for (healthy or degraded, not ejected).
    pub(crate) avail: [u32; MAX_LOCALITIES],
    /// Healthy ones (zone-aware routing reads these whatever the availability).
    pub(crate) healthy: [u32; MAX_LOCALITIES],
}

/// Every zone's effective weight under [`LocalityPolicy::Weighted`], in weight × basis
/// points; `None` if all are 0.
pub(crate) fn weighted_split(
    zones: &Zones,
    weights: &[u16; MAX_LOCALITIES],
    factor: u32,
) -> Option<[u64; MAX_LOCALITIES]> {
    let mut out = [0u64; MAX_LOCALITIES];
    let rows = zones.total.iter().zip(&zones.avail).zip(weights);
    for (o, ((&t, &a), &w)) in out.iter_mut().zip(rows) {
        // basis points; an overflowing product means far above 10 000 (t < 2^16)
        let bp = match factor.checked_mul(a * 100) {
            Some(p) => p.checked_div(t).map_or(0, |v| v.min(10_000)),
            None if t > 0 => 10_000,
            None => 0,
        };
        *o = w as u64 * bp as u64;
    }
    out.iter().any(|&w| w > 0).then_some(out)
}

/// Zone-aware routing's split (the caller's proxies per zone `fleet`), or `None` when it
/// does not apply.
pub(crate) fn zone_aware_split(
    zones: &Zones,
    fleet: &[u16; MAX_LOCALITIES],
    za: &ZoneAware,
) -> Option<[u64; MAX_LOCALITIES]> {
    let local = za.local_zone as usize;
    let healthy: u32 = zones.healthy.iter().sum();
    let fleet_total: u32 = fleet.iter().map(|&f| f as u32).sum();
    let local_fleet = *fleet.get(local)? as u32;
    if zones.total.iter().filter(|&&t| t > 0).count() < 2
        || fleet.iter().filter(|&&f| f > 0).count() < 2
        || local_fleet == 0
        || healthy == 0
        || healthy < za.min_cluster_size
    {
        return None;
    }
    // each zone's share of the level's healthy backends and of the fleet, in basis points
    // (checked divisions: both sums are above 0 here, which the compiler cannot see)
    let up: [u32; MAX_LOCALITIES] = core::array::from_fn(|z| {
        zones
            .healthy
            .get(z)
            .map_or(0, |&h| (10_000 * h).checked_div(healthy).unwrap_or(0))
    });
    let lo: [u32; MAX_LOCALITIES] = core::array::from_fn(|z| {
        fleet.get(z).map_or(0, |&f| {
            (10_000 * f as u32).checked_div(fleet_total).unwrap_or(0)
        })
    });
    let (up_local, lo_local) = (*up.get(local)?, *lo.get(local)?);
    let mut out = [0u64; MAX_LOCALITIES];
    if up_local > 0 && up_local >= lo_local {
        *out.get_mut(local)? = 1;
        return Some(out);
    }
    let p = (up_local * 10_000)
        .checked_div(lo_local)
        .unwrap_or(0)
        .min(10_000);
    let mut res = [0u32; MAX_LOCALITIES];
    for (z, (r, (&u, &l))) in res.iter_mut().zip(up.iter().zip(&lo)).enumerate() {
        *r = if z == local { 0 } else { u.saturating_sub(l) };
    }
    if res.iter().all(|&r| r == 0) {
        // rounding left no residual anywhere (Envoy: a zone at random): the zones that
        // have backends, alike, beside the local share
        for (z, (r, &t)) in res.iter_mut().zip(&zones.total).enumerate() {
            *r = (z != local && t > 0) as u32;
        }
    }
    // at most 10 000 · 80 000 in all: 32 bits
    let r: u32 = res.iter().sum();
    for (z, (o, &rz)) in out.iter_mut().zip(&res).enumerate() {
        *o = if z == local { p * r } else { (10_000 - p) * rz } as u64;
    }
    Some(out)
}

/// The zone a draw lands in under `split` (`None` if every weight is 0).
pub(crate) fn choose_zone(split: &[u64; MAX_LOCALITIES], draw: u64) -> Option<u8> {
    let sum: u64 = split.iter().sum();
    if sum == 0 {
        return None;
    }
    // the draw's top 31 bits scaled to the sum (sums stay below 2^33: no overflow, and no
    // division)
    let x = ((draw >> 33) * sum) >> 31;
    let mut acc = 0u64;
    for (z, &w) in split.iter().enumerate() {
        acc += w;
        if x < acc {
            return Some(z as u8);
        }
    }
    None
}

impl Config {
    /// Sets the overprovisioning factor in percent (default
    /// [`DEFAULT_OVERPROVISIONING_PERCENT`], Envoy's 1.4): a level, or a locality, counts as
    /// fully available until fewer than `100 / factor` of its backends are. A very large
    /// factor (`u32::MAX`) gives nginx's and HAProxy's all-or-nothing backup: the next
    /// level takes traffic only once no backend of this one is healthy. 0 is refused.
    pub const fn overprovisioning_percent(mut self, p: u32) -> Self {
        self.overprovisioning_percent = p;
        self
    }
    /// Counts a level's health by configured weight instead of by backend (Envoy's
    /// `weighted_priority_health`).
    pub const fn weighted_priority_health(mut self, on: bool) -> Self {
        self.weighted_priority_health = on;
        self
    }
    /// A pick in a level in panic fails instead of spreading over all its backends
    /// (Envoy's `fail_traffic_on_panic`).
    pub const fn fail_traffic_on_panic(mut self, on: bool) -> Self {
        self.fail_traffic_on_panic = on;
        self
    }
    /// In panic, down backends are candidates too (Envoy's "all hosts"); by default they
    /// stay out.
    pub const fn panic_picks_down(mut self, on: bool) -> Self {
        self.panic_picks_down = on;
        self
    }
    /// Sets the locality policy.
    pub const fn locality(mut self, policy: LocalityPolicy) -> Self {
        self.locality = policy;
        self
    }
    /// Checks the level and locality fields.
    pub(crate) const fn validate_levels(&self) -> Result<(), crate::ConfigError> {
        if self.overprovisioning_percent == 0 {
            return Err(crate::ConfigError::InvalidOverprovisioning);
        }
        if let LocalityPolicy::ZoneAware(z) = self.locality
            && z.local_zone as usize >= MAX_LOCALITIES
        {
            return Err(crate::ConfigError::InvalidLocality);
        }
        if !cfg!(feature = "levels") && self.always_spread() {
            return Err(crate::ConfigError::LevelsDisabled);
        }
        Ok(())
    }
    /// `true` if picks must take the spread path whatever the backends are.
    pub(crate) const fn always_spread(&self) -> bool {
        self.weighted_priority_health || !matches!(self.locality, LocalityPolicy::Off)
    }
    /// `true` if a single level's panic changes what a pick may return.
    pub(crate) const fn panic_matters(&self) -> bool {
        self.panic_threshold_percent != 0
            && (self.ejection.is_some() || self.fail_traffic_on_panic || self.panic_picks_down)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn census(levels: &[(u32, u32, u32)]) -> Census {
        let mut c = Census {
            levels: levels.len() as u8,
            ..Census::default()
        };
        for (l, &(t, h, d)) in levels.iter().enumerate() {
            c.total[l] = t;
            c.hosts[l] = t;
            c.healthy[l] = h;
            c.degraded[l] = d;
        }
        c
    }

    #[test]
    fn envoy_docs_two_levels() {
        // priority.rst: P0 at 72 % healthy keeps 100 %; at 71 % it gives 1 % away
        let cfg = Config::new();
        let l = census(&[(100, 72, 0), (100, 100, 0)]).load(&cfg);
        assert_eq!((l.healthy[0], l.healthy[1]), (100, 0));
        let l = census(&[(100, 71, 0), (100, 100, 0)]).load(&cfg);
        assert_eq!((l.healthy[0], l.healthy[1]), (99, 1));
        let l = census(&[(100, 50, 0), (100, 100, 0)]).load(&cfg);
        assert_eq!((l.healthy[0], l.healthy[1]), (70, 30));
        let l = census(&[(100, 0, 0), (100, 100, 0)]).load(&cfg);
        assert_eq!((l.healthy[0], l.healthy[1]), (0, 100));
    }

    #[test]
    fn scaled_up_below_full_total_and_degraded() {
        // the source's comment: 10/20/10 % healthy and 20/10/0 % degraded (as availability)
        // give 16/28/14 % to healthy and 28/14/0 % to degraded (rounding to the first)
        let cfg = Config::new()
            .overprovisioning_percent(100)
            .panic_threshold_percent(0);
        let l = census(&[(100, 10, 20), (100, 20, 10), (100, 10, 0)]).load(&cfg);
        assert_eq!(&l.healthy[..3], &[16, 28, 14]);
        assert_eq!(&l.degraded[..3], &[28, 14, 0]);
    }

    #[test]
    fn panic_counts_every_backend() {
        let cfg = Config::new();
        let l = census(&[(10, 1, 0)]).load(&cfg);
        assert!(l.panic[0]);
        assert_eq!(l.healthy[0], 100);
        let l = census(&[(10, 5, 0)]).load(&cfg);
        assert!(!l.panic[0], "50 % is not below the threshold");
        let l = census(&[(10, 0, 0)]).load(&cfg.panic_threshold_percent(0));
        assert_eq!((l.healthy[0], l.panic[0]), (100, false));
    }

    #[test]
    fn total_panic_follows_sizes() {
        let cfg = Config::new();
        let l = census(&[(3, 0, 0), (1, 0, 0)]).load(&cfg);
        assert!(l.panic[0] && l.panic[1]);
        assert_eq!((l.healthy[0], l.healthy[1]), (75, 25));
    }

    #[test]
    fn choose_walks_healthy_then_degraded() {
        let mut l = PriorityLoad {
            healthy: [0; MAX_LEVELS],
            degraded: [0; MAX_LEVELS],
            panic: [false; MAX_LEVELS],
            levels: 2,
        };
        l.healthy[0] = 60;
        l.degraded[0] = 30;
        l.healthy[1] = 10;
        assert_eq!(l.choose(59), (0, Availability::Healthy));
        assert_eq!(l.choose(60), (1, Availability::Healthy));
        assert_eq!(l.choose(70), (0, Availability::Degraded));
        assert_eq!(l.choose(99), (0, Availability::Degraded));
    }

    #[test]
    fn zone_aware_residuals() {
        // the source's example: local 40/40/20 %, upstream 25/50/25 %
        let mut z = Zones::default();
        for (i, n) in [25u32, 50, 25].into_iter().enumerate() {
            z.total[i] = n;
            z.healthy[i] = n;
            z.avail[i] = n;
        }
        let fleet = [40, 40, 20, 0, 0, 0, 0, 0];
        let s = zone_aware_split(&z, &fleet, &ZoneAware::new(0)).unwrap();
        // local share 25/40 = 62.5 %, the rest 2:1 over zones 1 and 2
        let sum: u64 = s.iter().sum();
        assert_eq!(s[0] * 1000 / sum, 625);
        assert_eq!(s[1], 2 * s[2]);
        let all_local = zone_aware_split(&z, &[20, 40, 40, 0, 0, 0, 0, 0], &ZoneAware::new(0));
        assert_eq!(
            all_local.map(|s| s[0] > 0 && s[1] == 0 && s[2] == 0),
            Some(true)
        );
        let small = ZoneAware::new(0).min_cluster_size(101);
        assert_eq!(zone_aware_split(&z, &fleet, &small), None);
    }

    #[test]
    fn choose_zone_spans_the_weights() {
        let split = [1, 0, 3, 0, 0, 0, 0, 0];
        assert_eq!(choose_zone(&split, 0), Some(0));
        assert_eq!(choose_zone(&split, u64::MAX), Some(2));
        assert_eq!(choose_zone(&[0; MAX_LOCALITIES], 7), None);
    }
}
