//! The one eligibility rule: which backends a pick may consider.
//!
//! Every built-in strategy, and any strategy written in another crate, reads its candidates
//! through a [`View`], so the rules below apply to all of them alike, and a new rule is one
//! change here. In order:
//!
//! 1. **level and locality**: a view holds one priority level's backends, healthy or
//!    degraded ones, and, when locality routing applies, one locality's ([`Pool::pick`]
//!    draws them by Envoy's arithmetic: see [`levels`](crate::levels));
//! 2. **health**: up (or degraded, in a degraded view), with a weight above zero (down,
//!    draining and weight-0 backends are out);
//! 3. **ejection and panic**: an ejected backend is out, unless its level is in panic (a
//!    panic view holds the level's up, degraded and ejected backends, and its down ones
//!    with [`Config::panic_picks_down`](crate::Config::panic_picks_down)); an ejection
//!    whose time is up (on the request's clock) ends here, at the first pick that looks;
//! 4. **slow start**: a backend in its ramp has a lower effective weight;
//! 5. **share**: a backend's weight is scaled by its share in this pool
//!    ([`Pool::set_share`]: this proxy's subset of a large fleet); share 0 is out;
//! 6. **cap**: a backend at its in-flight cap is out;
//! 7. **exclusion**: a backend in the request's [`Tried`](crate::Tried) set is out
//!    ([`Request::excluding`](crate::Request::excluding)).
//!
//! A request's preference ([`Request::prefer`](crate::Request::prefer)) is applied by
//! [`Pool::pick`] on top: the preferred backend is taken in the first tier where the view
//! holds it, before the strategy is asked.
//!
//! What passes is a [`Candidate`]: the slot index, the config word as judged (so the id a
//! pick returns names the backend the pick judged, not whatever took the slot since), the
//! effective and configured weight, and the in-flight count as read.

use core::fmt;
use core::num::NonZeroU32;

use crate::clock::{elapsed_ms, reached, stamp};
use crate::sync::Ordering;

use crate::tried::tag_of;

pub(crate) use super::route::{Class, Route};

use super::word::{EJECTED, S_DEGRADED, S_UP, SHARED, WARMING, shared_weight};
use super::{Pool, Slot, Word};

/// Set in a view's `want` when the request excludes backends: no config word matches it, so
/// every slot takes the flagged path, where the exclusion is checked. A pick without
/// exclusion pays nothing for it.
pub(super) const CONSTRAINED: u32 = 1 << 31;
/// Set in a view's `want` beside [`CONSTRAINED`] when the view needs more than a slot's
/// state and tier bits to tell its backends (a level above 0, a locality, or a panic view
/// that takes more than one state): such a view tests every slot in `admits`.
pub(super) const WIDE: u32 = 1 << 30;

/// One backend a pick may choose, as the [`View`] judged it.
///
/// It remembers the backend's config word as judged, generation bits included, so that
/// [`Pool::pick`] returns the id of the backend that was judged: if the slot was removed and
/// reused in between, the pick chooses again rather than name the new occupant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub(crate) index: u32,
    pub(crate) word: Word,
    weight: NonZeroU32,
    in_flight: u32,
}

impl Candidate {
    /// The slot index.
    #[inline]
    pub const fn index(&self) -> usize {
        self.index as usize
    }
    /// Effective weight: the configured weight, lowered by slow start while it ramps and
    /// scaled by the backend's share. Always above zero.
    #[inline]
    pub const fn weight(&self) -> u32 {
        self.weight.get()
    }
    /// Configured weight (what [`Pool::set_weight`] set).
    #[inline]
    pub const fn configured_weight(&self) -> u32 {
        self.word.weight()
    }
    /// Leases out when the view looked (below the backend's cap).
    #[inline]
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

/// What one pick may choose from: one tier of the pool, at the request's clock, in or out of
/// panic mode, with every eligibility rule applied (tier, health, ejection and panic, slow
/// start, share, cap: see [`Pool::pick`]). [`Pool::pick`] is how to get one.
///
/// Reading a view has one side effect, and it is deliberate: an ejection whose time is up
/// ends when a view first looks at the backend (the crate has no timer), and a slow-start
/// window starts at the first pick that sees the backend.
pub struct View<'p, const N: usize> {
    pub(super) pool: &'p Pool<N>,
    pub(super) slots: &'p [Slot],
    now_ms: u32,
    pub(super) want: u32,
    pub(super) route: Route,
    excluded: Option<&'p [u8]>,
}

impl<const N: usize> fmt::Debug for View<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("len", &self.slots.len())
            .field("now_ms", &self.now_ms)
            .field("panic", &self.in_panic())
            .field("level", &self.route.level)
            .field("degraded", &self.is_degraded())
            .field("locality", &self.route.zone)
            .field("excluding", &self.excluded.is_some())
            .finish()
    }
}

impl<'p, const N: usize> View<'p, N> {
    #[inline]
    pub(crate) fn new(
        pool: &'p Pool<N>,
        now_ms: u32,
        route: Route,
        excluded: Option<&'p [u8]>,
    ) -> Self {
        let wide = route.wide || route.class == Class::Panic && pool.config.panic_picks_down;
        let state = if route.class == Class::Degraded {
            S_DEGRADED
        } else {
            S_UP
        };
        let constrained = match (excluded.is_some(), wide) {
            (_, true) => CONSTRAINED | WIDE,
            (true, false) => CONSTRAINED,
            (false, false) => 0,
        };
        View {
            pool,
            slots: pool.live_slots(),
            now_ms,
            want: Word::want(state, route.level > 0) | constrained,
            route,
            excluded,
        }
    }

    /// Slots a pick scans: candidates have indices in `0..len()`.
    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` if the view has no slot to scan.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The backend at `index` if this pick may choose it, else `None`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<Candidate> {
        self.judge(index).map(|(c, _)| c)
    }

    /// [`View::get`] with the slot, for strategies that read more of it (latency).
    #[inline(always)]
    pub(crate) fn judge(&self, index: usize) -> Option<(Candidate, &'p Slot)> {
        self.judge_slot(index, self.slots.get(index)?)
    }

    /// Every candidate with its slot, in slot order.
    #[inline(always)]
    pub(crate) fn judged(&self) -> impl Iterator<Item = (Candidate, &'p Slot)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.judge_slot(i, s))
    }

    /// The view's slots in blocks of 64, for a scan that keeps one block's bits in a
    /// register: block `b` holds slots `64 b ..`; each is judged by [`View::judge_slot`].
    #[inline(always)]
    pub(crate) fn blocks(&self) -> core::slice::Chunks<'p, Slot> {
        self.slots.chunks(64)
    }

    /// The backend at `index`, whose slot is `slot`, if this pick may choose it.
    #[inline(always)]
    pub(crate) fn judge_slot(&self, index: usize, slot: &'p Slot) -> Option<(Candidate, &'p Slot)> {
        let c = slot.word();
        // fast path: one load, no flags (never taken when the request excludes backends)
        let weight = if c.pick_bits() == self.want {
            NonZeroU32::new(c.weight())?
        } else {
            NonZeroU32::new(self.slow_weight(index, slot, c)?)?
        };
        Self::with_room(index, slot, c, weight)
    }

    /// [`View::judge_slot`] for a slot its config word settles alone (the fast path): the
    /// judgement, or `Err(())` for a slot that needs the rest of the rules (flags, another
    /// state, a wide view, an exclusion), for the caller to judge with
    /// [`View::judge_slot`]. It makes no call, so a scan whose loop uses it keeps its
    /// state in registers (a call in the loop spills whatever must outlive it).
    #[inline(always)]
    pub(crate) fn judge_fast(
        &self,
        index: usize,
        slot: &'p Slot,
    ) -> Result<Option<(Candidate, &'p Slot)>, ()> {
        let c = slot.word();
        if c.pick_bits() != self.want {
            return Err(());
        }
        Ok(NonZeroU32::new(c.weight()).and_then(|w| Self::with_room(index, slot, c, w)))
    }

    /// The end of a judgement: room under the cap.
    #[inline(always)]
    fn with_room(
        index: usize,
        slot: &'p Slot,
        c: Word,
        weight: NonZeroU32,
    ) -> Option<(Candidate, &'p Slot)> {
        let in_flight = slot.in_flight();
        if !slot.has_room(in_flight) {
            return None;
        }
        let cand = Candidate {
            index: index as u32,
            word: c,
            weight,
            in_flight,
        };
        Some((cand, slot))
    }

    /// Every backend this pick may choose, in slot order.
    #[inline]
    pub fn candidates(&self) -> impl Iterator<Item = Candidate> + '_ {
        self.judged().map(|(c, _)| c)
    }

    /// `true` if ejected backends are candidates again (the view's level is in panic).
    #[inline]
    pub fn in_panic(&self) -> bool {
        self.route.class == Class::Panic
    }

    /// The request's clock as the pool keeps it: a wrapping millisecond tick.
    #[inline]
    pub fn now_ms(&self) -> u32 {
        self.now_ms
    }

    /// The candidate's latency estimate in microseconds, decayed to the request's clock, or
    /// `None` if it has no sample yet.
    #[inline]
    pub fn latency_us(&self, c: &Candidate) -> Option<u32> {
        self.slots
            .get(c.index())?
            .latency_at(self.now_ms, self.pool.config.half_life_ms)
    }

    /// An upper bound of every candidate's weight (the largest weight ever set in the pool):
    /// what rejection sampling by weight needs.
    #[inline]
    pub fn weight_bound(&self) -> u32 {
        self.pool.weight_bound()
    }

    /// The pool this view looks into.
    #[inline]
    pub fn pool(&self) -> &'p Pool<N> {
        self.pool
    }

    /// `true` if the request excludes some backends ([`Request::excluding`]): a strategy
    /// whose rule charges a backend for a turn it did not get (a schedule) can tell an
    /// excluded backend from one that is out for other reasons.
    ///
    /// [`Request::excluding`]: crate::Request::excluding
    #[inline]
    pub fn has_exclusion(&self) -> bool {
        self.excluded.is_some()
    }

    /// `true` if the request excludes the backend now at `index` (such a backend is never a
    /// candidate: [`View::get`] returns `None` for it).
    #[inline]
    pub fn is_excluded(&self, index: usize) -> bool {
        if self.excluded.is_none() {
            return false;
        }
        match self.slots.get(index) {
            Some(slot) => self.excludes(index, slot.word()),
            None => false,
        }
    }

    /// `true` if the request excludes the backend at `index` whose config word is `c`.
    #[inline]
    pub(crate) fn excludes(&self, index: usize, c: Word) -> bool {
        match self.excluded {
            Some(tags) => tags.get(index) == Some(&tag_of(c.generation_bits())),
            None => false,
        }
    }

    /// Effective weight of `slot` (config word `c`) in this view, cap aside.
    #[inline]
    pub(crate) fn weight_of(&self, index: usize, slot: &Slot, c: Word) -> Option<u32> {
        let w = c.weight();
        // fast path: one load, no flags (never taken when the request excludes backends)
        if c.pick_bits() == self.want {
            return if w > 0 { Some(w) } else { None };
        }
        self.slow_weight(index, slot, c)
    }

    /// [`View::weight_of`] past the fast path: flags, a wide view, or another state (out
    /// of line: one copy, not one in every strategy's scan).
    #[inline(never)]
    fn slow_weight(&self, index: usize, slot: &Slot, c: Word) -> Option<u32> {
        let w = c.weight();
        if self.want & WIDE != 0 {
            if w == 0 || !self.admits(slot, c) {
                return None;
            }
        } else if c.tier_bits() != self.want & !(CONSTRAINED | WIDE) || w == 0 {
            return None;
        }
        self.flagged_weight(index, slot, c)
    }

    #[cold]
    fn flagged_weight(&self, index: usize, slot: &Slot, c: Word) -> Option<u32> {
        if self.excludes(index, c) {
            return None;
        }
        let w = self.ramped_weight(slot, c)?;
        if c.has(SHARED) {
            return shared_weight(w, slot.share.load(Ordering::Acquire));
        }
        Some(w)
    }

    /// Ejection, panic and slow start applied to the configured weight.
    #[inline]
    fn ramped_weight(&self, slot: &Slot, c: Word) -> Option<u32> {
        if c.has(EJECTED) {
            let until = slot.ejected_until_ms.load(Ordering::Acquire);
            if reached(self.now_ms, until) {
                self.pool.uneject(slot, c, self.now_ms);
                // counted as returned for this pick (with slow start, from its floor)
                return Some(match self.pool.config.slow_start {
                    Some(ss) => ss.weight(c.weight(), 0),
                    None => c.weight(),
                });
            }
            if !self.in_panic() {
                return None;
            }
        }
        if c.has(WARMING) {
            return Some(self.warm_weight(slot, c));
        }
        Some(c.weight())
    }

    /// Effective weight of a warming backend (and the end of its window).
    fn warm_weight(&self, slot: &Slot, c: Word) -> u32 {
        let w = c.weight();
        let Some(ss) = self.pool.config.slow_start else {
            return w;
        };
        let now = self.now_ms;
        let mut from = slot.warm_from_ms.load(Ordering::Acquire);
        if from == 0 {
            // the first pick to see the backend starts its window
            from = match slot.warm_from_ms.compare_exchange(
                0,
                stamp(now),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => stamp(now),
                Err(v) => v,
            };
        }
        let t = elapsed_ms(now, from);
        if t >= ss.window_ms {
            let _ = slot.config.compare_exchange(
                c.0,
                c.with(WARMING, false).0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            return w;
        }
        ss.weight(w, t)
    }
}

impl<const N: usize> Clone for View<'_, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize> Copy for View<'_, N> {}
