//! Locality routing's arithmetic: Envoy's locality weights and zone-aware routing (see the
//! module docs of [`levels`](super) for the anchors).

use super::{DEFAULT_MIN_CLUSTER_SIZE, MAX_LOCALITIES};

/// How picks split over localities within a level ([`Config::locality`](crate::Config::locality)).
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
        // rounding left no residual anywhere (Envoy: `random() % number_of_localities`, the
        // local zone among them): every zone that has backends, alike
        for (r, &t) in res.iter_mut().zip(&zones.total) {
            *r = (t > 0) as u32;
        }
    }
    // at most 10 000 · 80 000 in all: 32 bits
    let r: u32 = res.iter().sum();
    for (z, (o, &rz)) in out.iter_mut().zip(&res).enumerate() {
        let stay = if z == local { p * r } else { 0 };
        *o = (stay + (10_000 - p) * rz) as u64;
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

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
