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

mod config;
mod locality;

pub use locality::{LocalityPolicy, ZoneAware};
pub(crate) use locality::{Zones, choose_zone, weighted_split, zone_aware_split};

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

/// What each level holds, from a pool's scan: counts (a pool has at most 65535 slots, so
/// the count arithmetic is 32-bit: no 64-bit division on a microcontroller) and each
/// level's availabilities (by count, or by weight with
/// [`Config::weighted_priority_health`], computed exactly in 64 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Backends of each level, counted (panic is decided, and total panic splits, by count,
    /// as Envoy's `isHostSetInPanic` and `recalculateLoadInTotalPanic` do).
    pub(crate) hosts: [u32; MAX_LEVELS],
    /// Up and not ejected, counted.
    pub(crate) healthy: [u32; MAX_LEVELS],
    /// Degraded and not ejected, counted.
    pub(crate) degraded: [u32; MAX_LEVELS],
    /// `min(100, factor · healthy / total)` of each level.
    pub(crate) health: [u32; MAX_LEVELS],
    /// The same over degraded backends.
    pub(crate) deg: [u32; MAX_LEVELS],
    pub(crate) levels: u8,
    /// The earliest end of an ejection still counted (tick), when counted at a clock.
    pub(crate) recheck_ms: Option<u32>,
}

/// `min(100, factor · part / total)` (0 for an empty level), for `part <= total < 2^16`:
/// a product that overflows 32 bits is at least `2^32`, so its quotient is above 100.
pub(crate) const fn availability(factor: u32, part: u32, total: u32) -> u32 {
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

/// [`availability`] of weights (exact, 64-bit: the pool keeps every sum below 2^31).
pub(crate) const fn weighed_availability(factor: u32, part: u64, total: u64) -> u32 {
    match (factor as u64 * part).checked_div(total) {
        Some(a) if a < 100 => a as u32,
        Some(_) => 100,
        None => 0,
    }
}

impl Census {
    /// Envoy's priority load for these counts.
    #[inline(never)]
    pub(crate) fn load(&self, config: &Config) -> PriorityLoad {
        let levels = (self.levels as usize).clamp(1, MAX_LEVELS);
        let mut health = [0u32; MAX_LEVELS];
        let mut deg = [0u32; MAX_LEVELS];
        for ((h, d), (&hc, &dc)) in health
            .iter_mut()
            .zip(&mut deg)
            .zip(self.health.iter().zip(&self.deg))
            .take(levels)
        {
            (*h, *d) = (hc, dc);
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
        let rows = self
            .hosts
            .iter()
            .zip(self.healthy.iter().zip(&self.degraded));
        for (p, (&t, (&h, &d))) in out.panic.iter_mut().zip(rows).take(levels) {
            // by count, weighed or not; an empty level counts as 0 % healthy, as Envoy's
            // `isHostSetInPanic` has it
            *p = norm != 100 && ((h + d) * 100 < threshold * t || threshold > 0 && t == 0);
            total_panic &= *p;
        }
        if norm == 0 && !total_panic {
            // nothing available (weight-0 backends, by weight) and yet no panic: as with
            // no threshold, level 0 is named (nothing is picked there)
            out.healthy[0] = 100;
            return out;
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn census_at(levels: &[(u32, u32, u32)], factor: u32) -> Census {
        let mut c = Census {
            levels: levels.len() as u8,
            ..Census::default()
        };
        for (l, &(t, h, d)) in levels.iter().enumerate() {
            c.hosts[l] = t;
            c.healthy[l] = h;
            c.degraded[l] = d;
            c.health[l] = availability(factor, h, t);
            c.deg[l] = availability(factor, d, t);
        }
        c
    }

    fn census(levels: &[(u32, u32, u32)]) -> Census {
        census_at(levels, 140)
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
        let l = census_at(&[(100, 10, 20), (100, 20, 10), (100, 10, 0)], 100).load(&cfg);
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
}
