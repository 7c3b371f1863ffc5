//! What one view holds, past the eligibility rules every view applies (`view.rs`): a
//! priority level, a class of its backends (healthy, degraded, or all of them in panic) and
//! maybe one locality, and the tests a view makes of them.

use crate::levels::Availability;

use super::view::CONSTRAINED;
use super::word::{BACKUP, S_DEGRADED, S_DOWN, S_UP};
use super::{Slot, View, Word};

/// Which backends of a level a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Up backends.
    Healthy,
    /// Degraded backends.
    Degraded,
    /// The level is in panic: up, degraded and ejected backends (and down ones, if the
    /// config says so).
    Panic,
}

impl From<Availability> for Class {
    fn from(a: Availability) -> Self {
        match a {
            Availability::Healthy => Class::Healthy,
            Availability::Degraded => Class::Degraded,
        }
    }
}

/// What one view holds: a level, a class of its backends, and maybe one locality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) level: u8,
    pub(crate) class: Class,
    pub(crate) zone: Option<u8>,
    /// Test every slot's state, level and locality (a spread pick's views: more than one
    /// level, degraded backends or localities may be about).
    pub(crate) wide: bool,
}

impl Route {
    /// Level 0's healthy backends, or all of them in panic: the single-level pick.
    pub(crate) const fn plain(panic: bool) -> Self {
        Route {
            level: 0,
            class: if panic { Class::Panic } else { Class::Healthy },
            zone: None,
            wide: false,
        }
    }
}

impl<const N: usize> View<'_, N> {
    /// `true` for a view of a level above 0 (level 1 is the backup tier).
    #[inline]
    pub fn is_backup_tier(&self) -> bool {
        self.route.level > 0
    }

    /// The priority level this view holds.
    #[inline]
    pub fn level(&self) -> u8 {
        self.route.level
    }

    /// `true` for a view of a level's degraded backends.
    #[inline]
    pub fn is_degraded(&self) -> bool {
        self.route.class == Class::Degraded
    }

    /// The locality this view is narrowed to, if locality routing chose one.
    #[inline]
    pub fn locality(&self) -> Option<u8> {
        self.route.zone
    }

    /// `true` for a view narrowed within its level: a level's degraded backends, or one
    /// locality (what a rotation shared by the level's views must not skip through).
    #[inline]
    pub(crate) fn is_within_level(&self) -> bool {
        self.route.class == Class::Degraded || self.route.zone.is_some()
    }

    /// `true` if the view leaves out some backends of its level that are otherwise
    /// scheduled (excluded by the request, of the other class, or in another locality):
    /// what a schedule over the level treats as not there rather than as a forfeited turn.
    /// Such a view has [`CONSTRAINED`] set, which no config word matches, so none of its
    /// slots takes [`View::judge_fast`](super::View::judge_fast)'s path.
    #[inline]
    pub(crate) fn is_narrowed(&self) -> bool {
        self.want & CONSTRAINED != 0
    }

    /// `true` if the view leaves out the backend at `index` for a reason
    /// [`View::is_narrowed`] names (its level aside).
    pub(crate) fn leaves_out(&self, index: usize) -> bool {
        let Some(slot) = self.slots.get(index) else {
            return false;
        };
        let c = slot.word();
        if self.excludes(index, c) {
            return true;
        }
        if !cfg!(feature = "levels") {
            return false;
        }
        if let Some(z) = self.route.zone
            && slot.place().zone() != z
        {
            return true;
        }
        match self.route.class {
            Class::Healthy => c.state() == S_DEGRADED,
            Class::Degraded => c.state() != S_DEGRADED,
            Class::Panic => false,
        }
    }

    /// A wide view's test of state, level and locality.
    #[inline(never)]
    pub(super) fn admits(&self, slot: &Slot, c: Word) -> bool {
        let st = c.state();
        let state_ok = match self.route.class {
            Class::Healthy => st == S_UP,
            Class::Degraded => st == S_DEGRADED,
            Class::Panic => {
                st == S_UP || st == S_DEGRADED || st == S_DOWN && self.pool.config.panic_picks_down
            }
        };
        if !state_ok {
            return false;
        }
        if !cfg!(feature = "levels") {
            return !c.has(BACKUP);
        }
        if !c.has(BACKUP) && self.route.level == 0 && self.route.zone.is_none() {
            return true;
        }
        let place = slot.place();
        let level = if c.has(BACKUP) { place.level() } else { 0 };
        level == self.route.level && self.route.zone.is_none_or(|z| place.zone() == z)
    }
}
