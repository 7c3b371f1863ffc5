//! Why a pick found nothing, and the pool-wide in-flight cap (HAProxy's backend `maxconn`).

use core::fmt;
use core::num::NonZeroU32;

use crate::clock::tick_ms;
use crate::select::Request;
use crate::sync::Ordering;

use super::word::NO_CAP;
use super::{Pool, View};

/// Why a pick returned no backend ([`SelectExt::try_select`](crate::SelectExt::try_select),
/// [`SelectExt::try_lease`](crate::SelectExt::try_lease), [`Pool::why_none`]).
///
/// Computed only on the miss path, by one more pass over the slots, after the pick:
/// state can change in between, so it says what the pool looked like a moment after the
/// miss. The variants are checked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NoBackend {
    /// The pool holds no backend.
    Empty,
    /// The pool-wide in-flight cap ([`Pool::set_max_in_flight`]) is reached: queue or shed
    /// (HAProxy's backend `maxconn`).
    PoolSaturated,
    /// Some backend could take the request but every one is at its own in-flight cap (or
    /// other requests took the last units first): queue or shed (HAProxy `maxqueue`).
    Saturated,
    /// Every backend a pick could take is excluded by the request
    /// ([`Request::excluding`](crate::Request::excluding)): every retry target has been
    /// tried. Envoy then reuses the last one; the choice is the caller's.
    Excluded,
    /// No backend is up (down, draining, weight 0, ejected outside panic, share 0).
    Unavailable,
    /// The pick drew a priority level in panic and the pool fails such picks
    /// ([`Config::fail_traffic_on_panic`](crate::Config::fail_traffic_on_panic), Envoy's
    /// option of the same name).
    Panic,
}

impl fmt::Display for NoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoBackend::Empty => "the pool holds no backend",
            NoBackend::PoolSaturated => "the pool is at its in-flight cap",
            NoBackend::Saturated => "every eligible backend is at its in-flight cap",
            NoBackend::Excluded => "every eligible backend is excluded by the request",
            NoBackend::Unavailable => "no backend is up",
            NoBackend::Panic => "the priority level is in panic and fails traffic",
        })
    }
}

impl core::error::Error for NoBackend {}

impl<const N: usize> Pool<N> {
    /// Why a pick for `req` finds nothing, looked up now (O(n)); on a pool where a pick
    /// would find a backend this says [`NoBackend::Saturated`] (it lost the race for the
    /// last units). Every tier is looked at, as a pick would in its order.
    pub fn why_none(&self, req: &Request<'_>) -> NoBackend {
        if self.members.load(Ordering::Acquire) == 0 {
            return NoBackend::Empty;
        }
        if self.pool_full() {
            return NoBackend::PoolSaturated;
        }
        let now = tick_ms(req.now_us());
        let (mut room, mut excluded) = (false, false);
        if self.config.fail_traffic_on_panic && self.in_panic() {
            return NoBackend::Panic;
        }
        for &route in &self.every_route() {
            // the view without the exclusion: which backends the request could otherwise get
            let view = View::new(self, now, route, None);
            let mine = View::new(self, now, route, req.excluded());
            for (i, slot) in self.live_slots().iter().enumerate() {
                let c = slot.word();
                if view.weight_of(i, slot, c).is_none_or(|w| w == 0) {
                    continue;
                }
                if mine.excludes(i, c) {
                    excluded = true;
                } else {
                    room = true;
                }
            }
        }
        match (room, excluded) {
            (true, _) => NoBackend::Saturated,
            (false, true) => NoBackend::Excluded,
            (false, false) => NoBackend::Unavailable,
        }
    }

    /// Caps the leases out across the whole pool (HAProxy's backend `maxconn`), `None` for no
    /// cap (the default). Only leases taken while a cap is set count against it (each gives
    /// its unit back when dropped, cap or not), so set it before traffic starts. Without a
    /// cap, leases do not touch the pool-wide counter at all.
    pub fn set_max_in_flight(&self, cap: Option<NonZeroU32>) {
        self.pool_cap
            .store(cap.map_or(NO_CAP, NonZeroU32::get), Ordering::Release);
    }

    /// The pool-wide in-flight cap, if one is set.
    pub fn max_in_flight(&self) -> Option<NonZeroU32> {
        match self.pool_cap.load(Ordering::Acquire) {
            NO_CAP => None,
            c => NonZeroU32::new(c),
        }
    }

    /// Leases out that count against the pool-wide cap.
    pub fn pooled_in_flight(&self) -> u32 {
        self.pool_in_flight.load(Ordering::Acquire)
    }

    /// `true` if a cap is set and reached.
    fn pool_full(&self) -> bool {
        let cap = self.pool_cap.load(Ordering::Acquire);
        cap != NO_CAP && self.pool_in_flight.load(Ordering::Acquire) >= cap
    }

    /// Takes a unit of the pool-wide cap: `Ok(false)` when no cap is set (nothing taken),
    /// `Ok(true)` when one was taken (give it back with [`Pool::unreserve`]), `Err` when the
    /// cap is reached.
    #[inline]
    pub(crate) fn reserve(&self) -> Result<bool, NoBackend> {
        let cap = self.pool_cap.load(Ordering::Relaxed);
        if cap == NO_CAP {
            return Ok(false);
        }
        self.reserve_below(cap)
    }

    #[cold]
    fn reserve_below(&self, cap: u32) -> Result<bool, NoBackend> {
        let before = self.pool_in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= cap {
            self.pool_in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(NoBackend::PoolSaturated);
        }
        Ok(true)
    }

    /// Gives back a unit taken by [`Pool::reserve`].
    #[inline]
    pub(crate) fn unreserve(&self) {
        self.pool_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
