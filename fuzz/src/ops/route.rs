//! The reference model's routing: which views a pick walks, restated from the documented
//! rules (the module docs of `src/levels.rs`, `Pool::pick`, `Pool::is_eligible`,
//! `Pool::in_panic` and `Config::panic_threshold_percent`) with plain arithmetic, nothing
//! of the crate's own.
//!
//! * **Counts.** Per priority level, every backend in the pool (any health) is `total`; up
//!   and not ejected is `healthy`; degraded and not ejected is `degraded` (with
//!   `weighted_priority_health`, their weights instead of 1 each). Levels in use: the
//!   highest level of any backend, plus one.
//! * **Loads (Envoy's).** A level's health is `min(100, factor · healthy / total)` (0 for
//!   an empty level), its degraded availability the same over `degraded`; `norm` is the
//!   sum of both over the levels, capped at 100. Level by level, healthy loads take
//!   `health · 100 / norm` of what is left, then degraded loads the same; the remainder
//!   goes to the first level with health (else degraded availability). Nothing available
//!   and a threshold of 0: all to level 0's healthy backends.
//! * **Panic.** A level is in panic when `norm < 100` and `(healthy + degraded) · 100 <
//!   threshold · total` (an empty level counts as 0 % healthy). Every level in panic: the
//!   load follows the levels' totals (the remainder to the first level that has any).
//! * **Single-level pools** (no backend above level 0, none degraded, no
//!   `weighted_priority_health`): one view, level 0's; in panic (the same rule, on level 0,
//!   `Pool::in_panic` always, but the pick only when ejection is configured or the config
//!   fails panic picks or picks down backends) it holds the ejected backends too (and the
//!   down ones with `panic_picks_down`); `fail_traffic_on_panic` fails every pick.
//! * **Spread pools.** A pick ends every expired ejection first (its census), then draws a
//!   (level, availability) by the loads: that view, or the level's panic view if the level
//!   is in panic (a failed pick with `fail_traffic_on_panic`); then the fallbacks in order:
//!   every level's healthy and degraded views, then every level in panic (not with
//!   `fail_traffic_on_panic`). The draw is random to the model, so a pick may return the
//!   first candidates of any start it can draw.

use core::num::NonZeroU64;
use std::vec;
use std::vec::Vec;

use tinylb::Health;

use super::model::{Model, State, reached};

/// Which backends of a level a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Up ones.
    Healthy,
    /// Degraded ones.
    Degraded,
    /// The level is in panic: up, degraded and ejected ones (and down ones with
    /// `panic_picks_down`).
    Panic,
}

/// One view: a level and a class of its backends.
pub(super) type Route = (u8, Class);

/// Envoy's priority load, one entry per level in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Loads {
    pub(super) healthy: Vec<u64>,
    pub(super) degraded: Vec<u64>,
    pub(super) panic: Vec<bool>,
}

/// What a call may return, and which ejections it may (or must) end.
#[derive(Debug, Clone, Default)]
pub(super) struct Allowed {
    /// The slots it may return.
    pub(super) slots: Vec<usize>,
    /// `None` is allowed.
    pub(super) none: bool,
    /// Slots whose (expired) ejection the call may end.
    pub(super) may_end: Vec<usize>,
    /// The call counts the pool first: every ejection in `may_end` must end.
    pub(super) census: bool,
}

impl Allowed {
    /// The ejections that must have ended, the call having judged slot `judged`.
    pub(super) fn must_end(&self, judged: Option<usize>) -> Vec<usize> {
        if self.census {
            return self.may_end.clone();
        }
        judged
            .filter(|i| self.may_end.contains(i))
            .into_iter()
            .collect()
    }
}

impl Model {
    /// A pick takes the spread path: some backend above level 0 or degraded, or the config
    /// counts by weight.
    pub(super) fn spread(&self) -> bool {
        self.config.weighted_priority_health
            || self
                .slots
                .iter()
                .any(|s| s.live() && (s.level > 0 || s.state == State::Live(Health::Degraded)))
    }

    /// Levels in use.
    pub(super) fn levels(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.live())
            .map(|s| s.level as usize + 1)
            .max()
            .unwrap_or(1)
    }

    /// `(total, healthy, degraded)` of every level in use.
    fn counts(&self) -> Vec<(u64, u64, u64)> {
        self.rows(self.config.weighted_priority_health)
    }

    /// Per level `(total, healthy, degraded)`, by weight if `weighed`, else by count (panic
    /// is by count either way, as Envoy's `isHostSetInPanic` is).
    fn rows(&self, weighed: bool) -> Vec<(u64, u64, u64)> {
        let mut rows = vec![(0, 0, 0); self.levels()];
        for s in self.slots.iter().filter(|s| s.live()) {
            let n = if weighed { s.weight as u64 } else { 1 };
            let row = &mut rows[s.level as usize];
            row.0 += n;
            match s.state {
                State::Live(Health::Up) if !s.ejected => row.1 += n,
                State::Live(Health::Degraded) if !s.ejected => row.2 += n,
                _ => {}
            }
        }
        rows
    }

    /// The priority load and the levels in panic.
    pub(super) fn loads(&self) -> Loads {
        let rows = self.counts();
        let n = rows.len();
        let factor = self.config.overprovisioning_percent as u128;
        let threshold = self.config.panic_threshold_percent.min(100) as u64;
        let avail = |part: u64, total: u64| match total {
            0 => 0,
            _ => (factor * part as u128 / total as u128).min(100) as u64,
        };
        let health: Vec<u64> = rows.iter().map(|&(t, h, _)| avail(h, t)).collect();
        let deg: Vec<u64> = rows.iter().map(|&(t, _, d)| avail(d, t)).collect();
        let norm = (health.iter().sum::<u64>() + deg.iter().sum::<u64>()).min(100);
        let mut loads = Loads {
            healthy: vec![0; n],
            degraded: vec![0; n],
            panic: vec![false; n],
        };
        if norm == 0 && threshold == 0 {
            loads.healthy[0] = 100;
            return loads;
        }
        if let Some(nonzero) = NonZeroU64::new(norm) {
            let mut left = 100;
            for (avail, load) in [(&health, &mut loads.healthy), (&deg, &mut loads.degraded)] {
                for (a, l) in avail.iter().zip(load.iter_mut()) {
                    *l = (a * 100 / nonzero).min(left);
                    left -= *l;
                }
            }
            if let Some(l) = health.iter().position(|&a| a > 0) {
                loads.healthy[l] += left;
            } else if let Some(l) = deg.iter().position(|&a| a > 0) {
                loads.degraded[l] += left;
            }
        }
        let by_count = self.rows(false);
        for (p, &(t, h, d)) in loads.panic.iter_mut().zip(&by_count) {
            *p = norm < 100
                && (if t == 0 {
                    threshold > 0
                } else {
                    (h + d) * 100 < threshold * t
                });
        }
        if norm == 0 && !loads.panic.iter().all(|&p| p) {
            // nothing available by weight, yet no level in panic by count: level 0 is
            // named, as with no threshold (the documented rule)
            loads.healthy[0] = 100;
            return loads;
        }
        if loads.panic.iter().all(|&p| p) {
            // by host count, as Envoy's `recalculateLoadInTotalPanic`
            let all: u64 = by_count.iter().map(|r| r.0).sum();
            loads.degraded = vec![0; n];
            loads.healthy = by_count
                .iter()
                .map(|r| (100 * r.0).checked_div(all).unwrap_or(0))
                .collect();
            let left = 100 - loads.healthy.iter().sum::<u64>();
            let first = by_count.iter().position(|r| r.0 > 0).unwrap_or(0);
            loads.healthy[first] += left;
        }
        loads
    }

    /// Envoy's panic for a single-level pool: `factor · healthy < 100 · total` and fewer
    /// than the threshold of all its backends healthy.
    fn single_panic(&self) -> bool {
        let (t, h, _) = self.counts()[0];
        let factor = self.config.overprovisioning_percent as u128;
        let threshold = self.config.panic_threshold_percent.min(100) as u64;
        factor * (h as u128) < 100 * t as u128 && h * 100 < threshold * t
    }

    /// `Pool::in_panic`: some level is in panic (an empty pool is not).
    pub(super) fn panic(&self) -> bool {
        if self.members() == 0 {
            return false;
        }
        if self.spread() {
            self.loads().panic.iter().any(|&p| p)
        } else {
            self.single_panic()
        }
    }

    /// In a single-level pool, panic changes a pick: the threshold is not 0, and ejection is
    /// configured, or the config fails panic picks or picks down backends.
    fn panic_matters(&self) -> bool {
        let c = &self.config;
        c.panic_threshold_percent != 0
            && (c.ejection.is_some() || c.fail_traffic_on_panic || c.panic_picks_down)
    }

    /// The candidates of view `(level, class)` at tick `now`: in the level, of the class's
    /// health, weighted, a share above zero, below its cap, and not ejected unless the view
    /// is a panic view or the ejection's time is up.
    pub(super) fn candidates(&self, (level, class): Route, now: u32) -> Vec<usize> {
        let down_too = self.config.panic_picks_down;
        (0..self.slots.len())
            .filter(|&i| {
                let s = &self.slots[i];
                let health_ok = match (class, s.health()) {
                    (Class::Healthy, Some(h)) => h == Health::Up,
                    (Class::Degraded, Some(h)) => h == Health::Degraded,
                    (Class::Panic, Some(h)) => s.serving() || down_too && h == Health::Down,
                    (_, None) => false,
                };
                health_ok
                    && s.level == level
                    && s.weight > 0
                    && s.share > 0
                    && s.has_room()
                    && (!s.ejected || class == Class::Panic || reached(now, s.until))
            })
            .collect()
    }

    /// The model as a pick at tick `now` sees it once it has counted the pool: in a spread
    /// pool every expired ejection has ended.
    fn settled(&self, now: u32) -> Model {
        let mut m = self.clone();
        if m.spread() {
            for i in m.expired_anywhere(now) {
                m.uneject(i, now);
            }
        }
        m
    }

    /// Ejected slots whose time is up at tick `now`.
    fn expired_anywhere(&self, now: u32) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].ejected && reached(now, self.slots[i].until))
            .collect()
    }

    /// The ejections a call at tick `now` may end, and whether it must end them all: a
    /// spread pool's census ends every expired one; a single-level view ends the weighted
    /// ones it judges (in such a pool every ejected backend is up, at level 0), unless
    /// `looks` is false.
    fn ends(&self, now: u32, looks: bool) -> (Vec<usize>, bool) {
        let expired = self.expired_anywhere(now);
        if self.spread() {
            return (expired, true);
        }
        let judged = |&i: &usize| self.slots[i].up() && self.slots[i].weight > 0;
        let may = if looks {
            expired.into_iter().filter(judged).collect()
        } else {
            Vec::new()
        };
        (may, false)
    }

    /// How a pick may start (each view a draw can land in; `None`: a start whose level is
    /// in panic, the config failing such picks) and the views it falls back to, in order.
    fn plan(&self) -> (Vec<Option<Route>>, Vec<Route>) {
        let fail = self.config.fail_traffic_on_panic;
        if !self.spread() {
            let panic = self.panic_matters() && self.single_panic();
            return match (panic, fail) {
                (true, true) => (vec![None], Vec::new()),
                (true, false) => (vec![Some((0, Class::Panic))], Vec::new()),
                (false, _) => (vec![Some((0, Class::Healthy))], Vec::new()),
            };
        }
        let loads = self.loads();
        let mut starts = Vec::new();
        let mut fallback = Vec::new();
        for l in 0..loads.panic.len() {
            let level = l as u8;
            for (class, load) in [
                (Class::Healthy, loads.healthy[l]),
                (Class::Degraded, loads.degraded[l]),
            ] {
                fallback.push((level, class));
                if load > 0 {
                    starts.push(match (loads.panic[l], fail) {
                        (false, _) => Some((level, class)),
                        (true, false) => Some((level, Class::Panic)),
                        (true, true) => None,
                    });
                }
            }
        }
        if !fail {
            let panics = loads.panic.iter().enumerate().filter(|p| *p.1);
            fallback.extend(panics.map(|(l, _)| (l as u8, Class::Panic)));
        }
        (starts, fallback)
    }

    /// What a pick at tick `now` for a request that excludes the slots marked in `excluded`
    /// and prefers slot `prefer` may return: for every start it can draw, the candidates
    /// not excluded of the first view (the start, then the fallbacks) that has any, or
    /// exactly the preferred slot if it is one of them; `None` if some start finds nothing
    /// or fails.
    pub(super) fn allowed_with(
        &self,
        now: u32,
        excluded: &[bool],
        prefer: Option<usize>,
    ) -> Allowed {
        let m = self.settled(now);
        let (starts, fallback) = m.plan();
        let (may_end, census) = self.ends(now, starts.iter().any(Option::is_some));
        let mut out = Allowed {
            may_end,
            census,
            ..Allowed::default()
        };
        for start in starts {
            let Some(start) = start else {
                out.none = true;
                continue;
            };
            let found = core::iter::once(start)
                .chain(fallback.iter().copied())
                .find_map(|r| {
                    let c: Vec<usize> = m
                        .candidates(r, now)
                        .into_iter()
                        .filter(|&i| !excluded.get(i).copied().unwrap_or(false))
                        .collect();
                    match prefer.filter(|p| c.contains(p)) {
                        Some(p) => Some(vec![p]),
                        None => (!c.is_empty()).then_some(c),
                    }
                });
            match found {
                Some(c) => out.slots.extend(c),
                None => out.none = true,
            }
        }
        out.slots.sort_unstable();
        out.slots.dedup();
        out
    }

    /// [`Model::allowed_with`] for a plain request.
    pub(super) fn allowed(&self, now: u32) -> Allowed {
        self.allowed_with(now, &[], None)
    }

    /// `Pool::is_eligible(index, now)` as documented: `index` is a candidate of a view the
    /// priority load gives traffic to (a start), or, where such a start has no candidate,
    /// of the first view a pick falls back to that has one (none if every start fails). With
    /// the ejections it may end (`slots` left empty) and the slot it must have judged (as a
    /// pick would; none when a pick fails without looking).
    pub(super) fn eligible(&self, index: usize, now: u32) -> (bool, Allowed, Option<usize>) {
        let m = self.settled(now);
        let (starts, fallback) = m.plan();
        let views: Vec<Route> = starts.into_iter().flatten().collect();
        // a single-level pool's view may look even where a pick fails: it may end them
        let (may_end, census) = self.ends(now, true);
        let ends = Allowed {
            may_end,
            census,
            ..Allowed::default()
        };
        if views.is_empty() {
            return (false, ends, None);
        }
        // a start's candidates, and, for a start with none, what the pick falls back to
        let firsts: Vec<usize> = views.iter().flat_map(|&r| m.candidates(r, now)).collect();
        let falls_back = views.iter().any(|&r| m.candidates(r, now).is_empty());
        let first = fallback
            .iter()
            .map(|&r| m.candidates(r, now))
            .find(|c| !c.is_empty());
        let yes =
            firsts.contains(&index) || falls_back && first.is_some_and(|c| c.contains(&index));
        (yes, ends, Some(index))
    }
}
