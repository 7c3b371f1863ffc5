//! The spread path of a pick: counting the levels and zones, drawing the level (Envoy's
//! priority load), the locality, and the order of views a pick walks (see
//! [`levels`](crate::levels) for the arithmetic and its anchors).
//!
//! A pool takes this path only while some backend is at a level above 0 or degraded, or
//! its config routes by locality; otherwise [`Pool::pick`] never reads any of it. The counts
//! come from one scan of the slots (O(n), two loads a slot), and the figures computed from
//! them are kept in the pool until its epoch moves on (`cache.rs`); a pick that draws a
//! level and availability whose locality split is not kept counts that level's zones again.

use crate::clock::{reached, tick_ms};
use crate::levels::{
    Availability, BUILD_LEVELS, Census, LocalityPolicy, MAX_LEVELS, MAX_LOCALITIES, PriorityLoad,
    Zones, availability, choose_zone, weighed_availability, weighted_split, zone_aware_split,
};
use crate::rng::mix64;
use crate::select::Request;
use crate::sync::Ordering;

use super::Pool;
#[cfg(feature = "levels")]
use super::cache::Figures;
use super::view::{Class, Route};
use super::word::{EJECTED, S_UP};

/// The views one pick may walk, in order: the drawn one (narrowed to a locality, then not),
/// then every level's healthy and degraded backends, then the levels in panic.
pub(crate) type Routes = heapless::Vec<Route, { 2 + 3 * BUILD_LEVELS }>;

/// Salts of the key-derived draws: the level, then the locality (so that neither repeats
/// what a hash strategy does with the key itself).
const LEVEL_SALT: u64 = 0x6c65_7665_6c5f_6b65;
const ZONE_SALT: u64 = 0x7a6f_6e65_5f6b_6579;

impl<const N: usize> Pool<N> {
    /// Every level's backends (at `now_ms`, if given), counted (or weighed, with
    /// [`Config::weighted_priority_health`](crate::Config::weighted_priority_health)). Given a
    /// clock, like a view, it ends an ejection whose time is up.
    #[inline(never)]
    pub(crate) fn census(&self, now_ms: Option<u32>) -> Census {
        let weighted = self.config.weighted_priority_health;
        let mut c = Census::default();
        let mut present = 1u32;
        for slot in self.live_slots() {
            let mut w = slot.word();
            if !w.occupied() {
                continue;
            }
            if w.has(EJECTED)
                && let Some(now) = now_ms
            {
                let until = slot.ejected_until_ms.load(Ordering::Acquire);
                if reached(now, until) {
                    self.uneject(slot, w, now);
                    w = slot.word();
                } else {
                    // the ejection that ends first: when the figures must be counted again
                    let left = |t: u32| t.wrapping_sub(now);
                    if c.recheck_ms.is_none_or(|r| left(until) < left(r)) {
                        c.recheck_ms = Some(until);
                    }
                }
            }
            // levels are below MAX_LEVELS (a power of two): the mask only keeps the
            // compiler's bounds checks out
            let l = slot.level_of(w) as usize & (MAX_LEVELS - 1);
            present |= 1 << l;
            let part = match (w.available(), w.state() == S_UP) {
                (false, _) => None,
                (true, true) => Some(&mut c.healthy),
                (true, false) => Some(&mut c.degraded),
            };
            if let Some(v) = part.and_then(|p| p.get_mut(l)) {
                *v += 1;
            }
            if let Some(t) = c.hosts.get_mut(l) {
                *t += 1;
            }
        }
        c.levels = (32 - present.leading_zeros()) as u8;
        if weighted {
            self.weigh(&mut c);
        } else {
            let op = self.config.overprovisioning_percent;
            let rows = c.hosts.iter().zip(c.healthy.iter().zip(&c.degraded));
            for ((h, d), (&t, (&hc, &dc))) in c.health.iter_mut().zip(&mut c.deg).zip(rows) {
                (*h, *d) = (availability(op, hc, t), availability(op, dc, t));
            }
        }
        c
    }

    /// [`Pool::census`]'s availabilities by configured weight instead of by count (a second
    /// pass, in 64 bits).
    #[cold]
    fn weigh(&self, c: &mut Census) {
        let mut sums = [[0u64; 3]; MAX_LEVELS];
        for slot in self.live_slots() {
            let w = slot.word();
            if !w.occupied() {
                continue;
            }
            let l = slot.level_of(w) as usize & (MAX_LEVELS - 1);
            if let Some([t, h, d]) = sums.get_mut(l) {
                let n = w.weight() as u64;
                *t += n;
                match (w.available(), w.state() == S_UP) {
                    (true, true) => *h += n,
                    (true, false) => *d += n,
                    (false, _) => {}
                }
            }
        }
        let op = self.config.overprovisioning_percent;
        for ((health, deg), [t, h, d]) in c.health.iter_mut().zip(&mut c.deg).zip(sums) {
            (*health, *deg) = (
                weighed_availability(op, h, t),
                weighed_availability(op, d, t),
            );
        }
    }

    /// How traffic splits over the priority levels now, as Envoy computes it (O(n): one
    /// scan of the slots). For status pages and tests; a pick computes the same.
    ///
    /// ```
    /// use tinylb::{Backend, Health, Pool};
    /// let pool: Pool<8> = Pool::new();
    /// let primaries: Vec<_> = (0..4).map(|_| pool.add(1).unwrap()).collect();
    /// for _ in 0..4 {
    ///     pool.add_backend(Backend::new(1).level(1)).unwrap();
    /// }
    /// assert_eq!(pool.priority_load().healthy[..2], [100, 0]);
    /// // half of level 0 down: 1.4 · 50 % = 70 % stays, 30 % spills to level 1
    /// pool.set_health(primaries[0], Health::Down).unwrap();
    /// pool.set_health(primaries[1], Health::Down).unwrap();
    /// assert_eq!(pool.priority_load().healthy[..2], [70, 30]);
    /// ```
    pub fn priority_load(&self) -> PriorityLoad {
        self.census(None).load(&self.config)
    }

    /// [`Pool::priority_load`] on the caller's clock `now_us`: an ejection whose time is up
    /// by then ends first, as a pick at that clock would end it.
    pub fn priority_load_at(&self, now_us: u64) -> PriorityLoad {
        self.census(Some(tick_ms(now_us))).load(&self.config)
    }

    /// Level `level`'s backends per zone, for `avail`.
    #[inline(never)]
    fn zones(&self, level: u8, avail: Availability) -> Zones {
        let mut z = Zones::default();
        let want_up = avail == Availability::Healthy;
        for slot in self.live_slots() {
            let w = slot.word();
            if !w.occupied() || slot.level_of(w) != level {
                continue;
            }
            let zone = slot.place().zone() as usize & (MAX_LOCALITIES - 1);
            if let Some(t) = z.total.get_mut(zone) {
                *t += 1;
            }
            if !w.available() {
                continue;
            }
            let up = w.state() == S_UP;
            if up && let Some(h) = z.healthy.get_mut(zone) {
                *h += 1;
            }
            if up == want_up
                && let Some(a) = z.avail.get_mut(zone)
            {
                *a += 1;
            }
        }
        z
    }

    /// The locality split of a pick in `level` for `avail` (the level not in panic).
    fn split_in(&self, level: u8, avail: Availability) -> Option<[u64; MAX_LOCALITIES]> {
        match self.config.locality {
            LocalityPolicy::Off => None,
            LocalityPolicy::Weighted => weighted_split(
                &self.zones(level, avail),
                &self.zone_weights(),
                self.config.overprovisioning_percent,
            ),
            LocalityPolicy::ZoneAware(za) if level == 0 => {
                zone_aware_split(&self.zones(level, avail), &self.fleet_counts(), &za)
            }
            LocalityPolicy::ZoneAware(_) => None,
        }
    }

    /// How a pick in `level` (for `avail`) splits over zones, as integer weights (zone `z`
    /// gets `split[z] / sum`), or `None` when no locality routing applies there (policy off,
    /// the level in panic, zone-aware routing not applicable): the pick then spans the
    /// level's zones. O(n). For status pages and tests; a pick computes the same.
    pub fn locality_split(&self, level: u8, avail: Availability) -> Option<[u64; MAX_LOCALITIES]> {
        if matches!(self.config.locality, LocalityPolicy::Off)
            || self
                .census(None)
                .load(&self.config)
                .panic
                .get(level as usize)
                != Some(&false)
        {
            return None;
        }
        self.split_in(level, avail)
    }

    /// 64 bits for draw `k` of a spread pick: from the request's key (mixed, so a key keeps
    /// its level and zone while the pool does not change), else its RNG, else the pool's
    /// own stream.
    fn spread_draw(&self, req: &mut Request<'_>, salt: u64) -> u64 {
        match req.key() {
            Some(k) => mix64(k ^ salt),
            None => req.draw(&self.stream),
        }
    }

    /// The views a spread pick walks, in order, into `routes`; `false` if the drawn level
    /// is in panic and the config fails such picks.
    #[inline(never)]
    pub(super) fn plan(&self, req: Option<&mut Request<'_>>, routes: &mut Routes) -> bool {
        let f = self.figures(req.as_ref().map(|r| tick_ms(r.now_us())));
        let load = f.load;
        let fail = self.config.fail_traffic_on_panic;
        if let Some(req) = req {
            let (level, avail) = load.choose(self.spread_draw(req, LEVEL_SALT));
            if load.panic.get(level as usize) == Some(&true) {
                if fail {
                    return false;
                }
                push(routes, level, Class::Panic, None);
            } else {
                let split = match (level, avail) {
                    (0, Availability::Healthy) => f.split0.map(|s| s.map(u64::from)),
                    _ => self.split_in(level, avail),
                };
                let zone = match split {
                    Some(split) => choose_zone(&split, self.spread_draw(req, ZONE_SALT)),
                    None => None,
                };
                push(routes, level, avail.into(), zone);
                push(routes, level, avail.into(), None);
            }
        }
        for l in 0..load.levels {
            if f.present & 1 << l != 0 {
                push(routes, l, Class::Healthy, None);
            }
            if f.degraded & 1 << l != 0 {
                push(routes, l, Class::Degraded, None);
            }
        }
        if !fail {
            for l in 0..load.levels {
                if load.panic.get(l as usize) == Some(&true) {
                    push(routes, l, Class::Panic, None);
                }
            }
        }
        true
    }
}

/// What a spread pick needs besides its draws (see `cache.rs`, where they are kept; a build
/// without the `levels` feature never takes the spread path and keeps nothing).
#[cfg(not(feature = "levels"))]
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
pub(crate) struct Figures {
    load: PriorityLoad,
    present: u8,
    degraded: u8,
    recheck_ms: Option<u32>,
    split0: Option<[u32; MAX_LOCALITIES]>,
}

impl<const N: usize> Pool<N> {
    /// The spread path's figures at tick `now` (kept between picks: see `cache.rs`), or, with
    /// no clock, counted as the flags stand.
    fn figures(&self, now: Option<u32>) -> Figures {
        #[cfg(feature = "levels")]
        let epoch = self.epoch();
        #[cfg(feature = "levels")]
        if let Some(now) = now
            && let Some(f) = self.cache.get(epoch, now)
        {
            return f;
        }
        let census = self.census(now);
        let load = census.load(&self.config);
        let mask = |a: &[u32; MAX_LEVELS]| {
            a.iter()
                .enumerate()
                .fold(0u8, |m, (l, &v)| m | ((v > 0) as u8) << l)
        };
        let level0_ok = load.panic.first() == Some(&false);
        let split0 = match self.config.locality {
            LocalityPolicy::Off => None,
            _ if !level0_ok => None,
            // every figure fits 32 bits (see `levels`)
            _ => self
                .split_in(0, Availability::Healthy)
                .map(|s| s.map(|v| v as u32)),
        };
        let f = Figures {
            load,
            present: mask(&census.hosts),
            degraded: mask(&census.degraded),
            recheck_ms: census.recheck_ms,
            split0,
        };
        #[cfg(feature = "levels")]
        if now.is_some() {
            self.cache.put(epoch, &f);
        }
        f
    }
}

/// Appends a route unless it is one of the first two (the drawn ones: the fallback list
/// has no repeat of its own).
fn push(routes: &mut Routes, level: u8, class: Class, zone: Option<u8>) {
    let r = Route {
        level,
        class,
        zone,
        wide: true,
    };
    if !routes.iter().take(2).any(|x| *x == r) {
        let _ = routes.push(r);
    }
}
