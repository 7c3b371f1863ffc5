//! Running one pick over its views: the hot path for a plain request in a single-level
//! pool, and the cold path for a request that excludes backends or prefers one, or a pool
//! with levels, degraded backends or locality routing.

use crate::clock::tick_ms;
use crate::select::Request;

use super::spread::Routes;
use super::view::{Class, Route};
use super::{BackendId, Candidate, Pool, View};

impl<const N: usize> Pool<N> {
    /// Runs one pick: `choose` is called with a view (of one priority level's healthy or
    /// degraded backends, maybe of one locality, at the request's clock) and the request
    /// back, for its key and randomness, and returns the candidate it chooses (or `None`);
    /// if it finds nothing, it is called again with the next view a pick falls back to. The
    /// result is the chosen candidate's id, with the generation the view judged.
    ///
    /// **Levels.** In a pool with one level, no degraded backend and no locality routing
    /// (the common case, and the fast path), the view is level 0's. Otherwise the level is
    /// drawn by Envoy's priority load ([`Pool::priority_load`], from the request's key if
    /// it has one, so a key keeps its level, else its RNG, else the pool's own stream),
    /// then the locality ([`Pool::locality_split`]); if that view has no candidate the
    /// pick tries the level without the locality, then every level's healthy and degraded
    /// backends in order, then the levels in panic. A level in panic gives its ejected
    /// backends back (and down ones with
    /// [`Config::panic_picks_down`](crate::Config::panic_picks_down)), or, with
    /// [`Config::fail_traffic_on_panic`](crate::Config::fail_traffic_on_panic), fails the
    /// pick. See [`levels`](crate::levels).
    ///
    /// This is how every built-in strategy picks, and how a strategy written in another
    /// crate honours tiers, panic mode, ejection, slow start, caps, the request's exclusion
    /// and its preference without knowing them:
    ///
    /// ```
    /// use tinylb::{BackendId, Pool, Request, Select};
    ///
    /// /// The last backend a pick may take.
    /// struct Last;
    /// impl<const N: usize> Select<N> for Last {
    ///     fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
    ///         pool.pick(req, |view, _req| view.candidates().last())
    ///     }
    /// }
    ///
    /// let pool: Pool<4> = Pool::new();
    /// let a = pool.add(1).unwrap();
    /// let b = pool.add(1).unwrap();
    /// assert_eq!(Last.select(&pool, &mut Request::new()), Some(b));
    /// pool.set_health(b, tinylb::Health::Down).unwrap();
    /// assert_eq!(Last.select(&pool, &mut Request::new()), Some(a));
    /// ```
    ///
    /// **Exclusion and preference.** A request that excludes backends gets views that leave
    /// them out; each strategy then does what its own rule does when a backend is not a
    /// candidate (the next ticket, the best of the rest, the key's next choice). A request
    /// that prefers a backend gets it in the first view that holds it, before `choose`
    /// is asked; otherwise `choose` decides as usual. Both run out of the hot path: a plain
    /// request pays one flag test for them.
    #[inline(always)]
    pub fn pick<'r>(
        &self,
        req: &mut Request<'r>,
        mut choose: impl FnMut(&View<'_, N>, &mut Request<'r>) -> Option<Candidate>,
    ) -> Option<BackendId> {
        if req.constrained() || self.spread_on() {
            return self.pick_routed(req, &mut choose);
        }
        if self.panic_now() {
            return self.pick_routed(req, &mut choose);
        }
        let now = tick_ms(req.now_us());
        // the common case: one level, not in panic, one call site for `choose` so that it
        // inlines, and a view whose every field but the clock is a constant
        let route = Route::plain(false);
        if let Some(c) = choose(&View::new(self, now, route, None), req)
            && let Some(id) = self.judged_id(&c)
        {
            return Some(id);
        }
        self.pick_rest(now, &[route], req, &mut choose)
    }

    /// The rest of [`Pool::pick`], out of the hot path: each route's view in turn (twice,
    /// if the slot the choice named was removed and reused meanwhile), with the request's
    /// preference taken first where the view holds it.
    #[cold]
    #[inline(never)]
    fn pick_rest<'r>(
        &self,
        now: u32,
        routes: &[Route],
        req: &mut Request<'r>,
        choose: &mut impl FnMut(&View<'_, N>, &mut Request<'r>) -> Option<Candidate>,
    ) -> Option<BackendId> {
        let excluded = req.excluded();
        let prefer = req.preferred();
        for &route in routes {
            for _ in 0..2 {
                let view = View::new(self, now, route, excluded);
                let preferred = match prefer {
                    Some(id) => Self::preferred(&view, id),
                    None => None,
                };
                let Some(c) = preferred.or_else(|| choose(&view, req)) else {
                    break;
                };
                if let Some(id) = self.judged_id(&c) {
                    return Some(id);
                }
                // the slot was removed and reused since the view judged it: choose again
            }
        }
        None
    }

    /// The preferred backend `id` if `view` holds it (out of line: one copy for every
    /// strategy's `pick_rest`).
    #[inline(never)]
    fn preferred(view: &View<'_, N>, id: BackendId) -> Option<Candidate> {
        view.get(id.index())
            .filter(|c| c.word.of_generation(id.generation()))
    }

    /// [`Pool::pick`] for a request with an exclusion or a preference, or in a pool with
    /// more than one level, degraded backends or locality routing, or in panic.
    #[cold]
    #[inline(never)]
    fn pick_routed<'r>(
        &self,
        req: &mut Request<'r>,
        choose: &mut impl FnMut(&View<'_, N>, &mut Request<'r>) -> Option<Candidate>,
    ) -> Option<BackendId> {
        let mut routes = Routes::new();
        let now = self.route(req, &mut routes)?;
        self.pick_rest(now, &routes, req, choose)
    }

    /// The routes of [`Pool::pick_routed`] and the request's clock, or `None` when the
    /// pick fails (a level in panic with [`Config::fail_traffic_on_panic`]). Not generic:
    /// one copy for every strategy.
    ///
    /// [`Config::fail_traffic_on_panic`]: crate::Config::fail_traffic_on_panic
    #[inline(never)]
    fn route(&self, req: &mut Request<'_>, routes: &mut Routes) -> Option<u32> {
        let now = tick_ms(req.now_us());
        if !self.spread_on() {
            let panic = self.panic_now();
            if panic && self.config.fail_traffic_on_panic {
                return None;
            }
            let _ = routes.push(Route::plain(panic));
            return Some(now);
        }
        self.plan(Some(req), routes).then_some(now)
    }

    /// The routes a pick could walk, for diagnostics (no draw: every level in order).
    pub(crate) fn every_route(&self) -> Routes {
        let mut r = Routes::new();
        if self.spread_on() {
            self.plan(None, &mut r);
            return r;
        }
        let _ = r.push(Route::plain(self.panic_now()));
        r
    }

    /// The id of the backend `c` judged, if its slot still holds it.
    #[inline(always)]
    fn judged_id(&self, c: &Candidate) -> Option<BackendId> {
        let generation = self.generation_of(c.index());
        c.word
            .of_generation(generation)
            .then(|| BackendId::new(c.index, generation))
    }

    /// `true` if a pick at `now_us` may return the backend at `index`: it is a candidate in
    /// a level (healthy, degraded or in panic) that the priority load gives traffic to, or,
    /// when none of those has a candidate, in the first view a pick falls back to that has
    /// one. O(n) per level; for diagnostics and tests, not for routing. Like a pick, it ends
    /// an ejection whose time is up.
    pub fn is_eligible(&self, index: usize, now_us: u64) -> bool {
        let now = tick_ms(now_us);
        let routes = self.every_route();
        let load = self.spread_on().then(|| self.priority_load_at(now_us));
        let loaded = |r: &Route| {
            let Some(l) = &load else { return true };
            let i = r.level as usize;
            let panic = l.panic.get(i) == Some(&true);
            let share = match r.class {
                Class::Panic => return panic,
                Class::Healthy => l.healthy.get(i),
                Class::Degraded => l.degraded.get(i),
            };
            !panic && share.is_some_and(|&p| p > 0)
        };
        let mut any = false;
        for r in routes.iter().filter(|r| loaded(r)) {
            let v = View::new(self, now, *r, None);
            if v.get(index).is_some() {
                return true;
            }
            any |= v.candidates().next().is_some();
        }
        if any {
            return false;
        }
        routes.iter().find_map(|r| {
            let v = View::new(self, now, *r, None);
            v.candidates().next().map(|_| v.get(index).is_some())
        }) == Some(true)
    }
}
