//! The turns of a pick: the first one is [`WeightedRoundRobin::pick_in`]'s, inlined into the
//! plain pick; what follows a forfeited turn, a request that excludes backends and a
//! schedule not built yet are here, out of line.

use crate::pool::{Candidate, View};
use crate::rng::below_from;
use crate::select::Request;
use crate::sync::Ordering;

use super::{FOLD_AT, LEVEL_MASK, WEIGHT_BITS, WeightedRoundRobin, any_eligible};

impl<const N: usize> WeightedRoundRobin<N> {
    /// [`Self::pick_in`] for a schedule not built yet or a view that leaves backends out.
    #[cold]
    #[inline(never)]
    pub(super) fn pick_rest(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        k: usize,
        tier: u32,
        total: u32,
    ) -> Option<Candidate> {
        if total == 0 {
            let ticket = self.tickets.get(k)?;
            // not built yet (another thread is building it right now) or built before the
            // tier had a backend: the candidates in turn (the rebuild resets the ticket), so
            // picks made meanwhile do not all land on the first one
            let start = ticket.fetch_add(1, Ordering::Relaxed) as usize;
            return any_eligible(view, start);
        }
        let total = match self.rest_total(view, k, tier, total) {
            Ok(rest) => rest,
            Err(fallback) => return fallback,
        };
        let n = view.len().min(N);
        match self.turn(view, req, k, tier, total, n, true)? {
            Ok(c) => Some(c),
            Err(()) => self.turns(view, req, k, tier, total, n),
        }
    }

    /// For a request that excludes backends: nginx's rule over the backends that are not
    /// excluded (the credit `t·w_i − W'·c_i` with `W'` their total weight, returned here), so
    /// a run of picks that all exclude the same set is exactly nginx's schedule over the
    /// rest. An excluded backend's counter does not move: it keeps its credit, and the next
    /// pick that may take it finds its turn still owed. `Err` carries the pick when every
    /// scheduled backend is excluded.
    #[cold]
    #[inline(never)]
    pub(super) fn rest_total(
        &self,
        view: &View<'_, N>,
        k: usize,
        tier: u32,
        total: u32,
    ) -> Result<i64, Option<Candidate>> {
        let n = view.len().min(N);
        let excluded: u64 = (0..n)
            .filter(|&i| view.leaves_out(i))
            .filter_map(|i| self.weights.get(i))
            .map(|w| w.load(Ordering::Relaxed))
            .filter(|w| *w != 0 && w & LEVEL_MASK == tier)
            .map(|w| (w & WEIGHT_BITS) as u64)
            .sum();
        let rest = (total as u64).saturating_sub(excluded);
        if rest == 0 {
            // every scheduled backend is excluded: whatever the schedule does not know yet
            let start = self.tickets.get(k).map_or(0, |t| t.load(Ordering::Relaxed)) as usize;
            return Err(any_eligible(view, start));
        }
        Ok(rest as i64)
    }

    /// One turn of the schedule among the slots the request does not exclude (`narrowed`:
    /// the view leaves some out), with `total` the weight they share: the next ticket's
    /// leader, charged. `Ok` if it takes the request, `Err` if its turn is forfeited (at its
    /// cap, ejected, thinned by slow start, or changed since the last rebuild: the next
    /// ticket decides); without a scheduled leader, the first candidate from the ticket on,
    /// and `None` only if the view has no candidate.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn turn(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        k: usize,
        tier: u32,
        total: i64,
        n: usize,
        narrowed: bool,
    ) -> Option<Result<Candidate, ()>> {
        let ticket = self.tickets.get(k)?;
        let t = ticket.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if t >= FOLD_AT {
            self.fold(k, tier);
        }
        // two call sites, so that the plain pick's scan has no test of its own
        let leader = if narrowed {
            self.leader_where(t, total, n, tier, |i| !view.leaves_out(i))
        } else {
            self.leader(t, total, n, tier)
        };
        let Some(i) = leader else {
            // a total but no scheduled backend: another thread is rebuilding the schedule
            // and its weights are not all visible here yet (the loads are relaxed), or the
            // schedule is older than the pool. The candidates in turn, as before a build:
            // a pick never fails while one is eligible.
            return any_eligible(view, t as usize).map(Ok);
        };
        if let Some(c) = self.picks.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let Some(c) = view.get(i) else {
            return Some(Err(()));
        };
        // slow start: keep a warming backend's turn with probability eff / weight
        let w = self
            .weights
            .get(i)
            .map_or(0, |w| w.load(Ordering::Relaxed) & WEIGHT_BITS);
        if c.weight() >= w || self.thinned_keeps(req, c.weight(), w) {
            Some(Ok(c))
        } else {
            Some(Err(()))
        }
    }

    /// Slow start's draw: `true` with probability `eff / w` (`eff < w`).
    #[cold]
    #[inline(never)]
    pub(super) fn thinned_keeps(&self, req: &mut Request<'_>, eff: u32, w: u32) -> bool {
        let r = req.draw(&self.stream) as u32;
        below_from(r, w).is_some_and(|u| u < eff)
    }

    /// The turns after a forfeited first one: `n` more tickets, then the candidate the
    /// schedule favours most.
    #[cold]
    #[inline(never)]
    pub(super) fn turns(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        k: usize,
        tier: u32,
        total: i64,
        n: usize,
    ) -> Option<Candidate> {
        let narrowed = view.is_narrowed();
        for _ in 0..n {
            if let Ok(c) = self.turn(view, req, k, tier, total, n, narrowed)? {
                return Some(c);
            }
        }
        // Every ticket named a backend that could not take the request (for example a
        // heavy backend at its cap holding several turns in a row): take the candidate the
        // schedule favours most now, so a pick never fails while one is eligible.
        let ticket = self.tickets.get(k)?;
        let t = ticket.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let keep = |i: usize| (!narrowed || !view.leaves_out(i)) && view.get(i).is_some();
        let Some(i) = self.leader_where(t, total, n, tier, keep) else {
            // the schedule is older than the pool (a rebuild is under way elsewhere)
            return any_eligible(view, t as usize);
        };
        if let Some(c) = self.picks.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        view.get(i).or_else(|| any_eligible(view, t as usize))
    }
}
