//! Running one pick over the tiers: the hot path for a plain request, and the cold path for
//! a request that excludes backends or prefers one.

use crate::clock::tick_ms;
use crate::select::Request;

use super::{BackendId, Candidate, Pool, View};

impl<const N: usize> Pool<N> {
    /// Runs one pick: `choose` is called with the view of the primary tier at the request's
    /// clock (and the request back, for its key and randomness) and returns the candidate it
    /// chooses (or `None`); if it finds nothing and the pool has backups, it is called again
    /// with the backup tier's view. The result is the chosen candidate's id, with the
    /// generation the view judged.
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
    /// In panic with a backup tier, the order is: backups that are not ejected first (as
    /// Envoy spills to the next priority before it panics), then the primaries with ejected
    /// ones back in, then every backup.
    ///
    /// **Exclusion and preference.** A request that excludes backends gets views that leave
    /// them out; each strategy then does what its own rule does when a backend is not a
    /// candidate (the next ticket, the best of the rest, the key's next choice). A request
    /// that prefers a backend gets it in the first tier whose view holds it, before `choose`
    /// is asked; otherwise `choose` decides as usual. Both run out of the hot path: a plain
    /// request pays one flag test for them.
    #[inline(always)]
    pub fn pick<'r>(
        &self,
        req: &mut Request<'r>,
        mut choose: impl FnMut(&View<'_, N>, &mut Request<'r>) -> Option<Candidate>,
    ) -> Option<BackendId> {
        if req.constrained() {
            return self.pick_constrained(req, &mut choose);
        }
        let now = tick_ms(req.now_us());
        let panic = self.panic_now();
        if !(panic && self.has_backups()) {
            // the common case: the primaries, one call site for `choose` so that it inlines
            if let Some(c) = choose(&View::new(self, now, panic, false, None), req)
                && let Some(id) = self.judged_id(&c)
            {
                return Some(id);
            }
        }
        self.pick_rest(now, panic, req, &mut choose)
    }

    /// The rest of [`Pool::pick`], out of the hot path: the primaries again if the slot the
    /// first choice named was removed and reused meanwhile, then the backups; or, in panic
    /// with a backup tier, Envoy's order (backups that are not ejected, as the next priority
    /// before panic; then the primaries with ejected ones back in; then every backup).
    #[cold]
    #[inline(never)]
    fn pick_rest<'r>(
        &self,
        now: u32,
        panic: bool,
        req: &mut Request<'r>,
        choose: &mut impl FnMut(&View<'_, N>, &mut Request<'r>) -> Option<Candidate>,
    ) -> Option<BackendId> {
        let excluded = req.excluded();
        let prefer = req.preferred();
        for &(backup, in_panic) in self.tier_order(panic) {
            for _ in 0..2 {
                let view = View::new(self, now, in_panic, backup, excluded);
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

    /// [`Pool::pick`] for a request with an exclusion or a preference.
    #[cold]
    #[inline(never)]
    fn pick_constrained<'r>(
        &self,
        req: &mut Request<'r>,
        choose: &mut impl FnMut(&View<'_, N>, &mut Request<'r>) -> Option<Candidate>,
    ) -> Option<BackendId> {
        let now = tick_ms(req.now_us());
        self.pick_rest(now, self.panic_now(), req, choose)
    }

    /// The tiers a pick looks at, in order, as `(backup tier, in panic)`.
    pub(crate) fn tier_order(&self, panic: bool) -> &'static [(bool, bool)] {
        let backups = self.has_backups();
        match (panic && backups, backups, panic) {
            (true, _, _) => &[(true, false), (false, true), (true, true)],
            (false, true, false) => &[(false, false), (true, false)],
            (false, true, true) => &[(false, true), (true, true)],
            (false, false, false) => &[(false, false)],
            (false, false, true) => &[(false, true)],
        }
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
    /// the first tier (in [`Pool::pick`]'s order) that has any candidate. O(n); for
    /// diagnostics and tests, not for routing. Like a pick, it ends an ejection whose time
    /// is up.
    pub fn is_eligible(&self, index: usize, now_us: u64) -> bool {
        let mut req = Request::new().with_now_us(now_us);
        let first = self.pick(&mut req, |v, _| {
            v.get(index).or_else(|| v.candidates().next())
        });
        first.is_some_and(|id| id.index() == index)
    }
}
