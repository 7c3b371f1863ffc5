//! [`Backend`]: what a backend starts with when it is added.

use core::num::NonZeroU32;

use super::Health;
use super::word::{S_DEGRADED, S_DOWN, S_DRAINING, S_UP};

/// A backend to add, with everything it starts with, so that it appears in the pool in one
/// atomic step (no window in which it is up but not yet capped, or primary but meant as a
/// backup).
///
/// ```
/// use core::num::NonZeroU32;
/// use tinylb::{Backend, Health, Pool};
/// let pool: Pool<4> = Pool::new();
/// let id = pool
///     .add_backend(Backend::new(2).backup().cap(NonZeroU32::new(8)).health(Health::Down))
///     .unwrap();
/// let info = pool.info(id).unwrap();
/// assert!(info.backup && info.health == Health::Down && info.cap == NonZeroU32::new(8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backend {
    pub(super) weight: u32,
    pub(super) health: Health,
    pub(super) level: u8,
    pub(super) zone: u8,
    pub(super) cap: Option<NonZeroU32>,
}

impl Backend {
    /// An up, primary backend of `weight` with no in-flight cap.
    pub const fn new(weight: u32) -> Self {
        Backend {
            weight,
            health: Health::Up,
            level: 0,
            zone: 0,
            cap: None,
        }
    }
    /// Starts with `health` (for example [`Health::Down`] until a first health check passes).
    pub const fn health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }
    /// In the backup tier (nginx and HAProxy `backup`): shorthand for
    /// [`Backend::level`]`(1)`. Level 1 takes the traffic level 0 cannot carry, by Envoy's
    /// priority arithmetic (see [`levels`](crate::levels)); with a very large
    /// [`Config::overprovisioning_percent`](crate::Config::overprovisioning_percent) only once
    /// no primary is healthy, as in nginx and HAProxy.
    pub const fn backup(self) -> Self {
        self.level(1)
    }
    /// At priority level `level` (0, the default, is tried first; below
    /// [`MAX_LEVELS`](crate::MAX_LEVELS), else [`Pool::add_backend`](crate::Pool::add_backend)
    /// refuses it with [`BackendError::InvalidLevel`](crate::BackendError::InvalidLevel)).
    pub const fn level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }
    /// In locality (zone) `zone` (default 0; below [`MAX_LOCALITIES`](crate::MAX_LOCALITIES),
    /// else [`BackendError::InvalidLocality`](crate::BackendError::InvalidLocality)).
    pub const fn locality(mut self, zone: u8) -> Self {
        self.zone = zone;
        self
    }
    /// With an in-flight cap (`None`: none).
    pub const fn cap(mut self, cap: Option<NonZeroU32>) -> Self {
        self.cap = cap;
        self
    }
}

pub(super) const fn state_code(health: Health) -> u32 {
    match health {
        Health::Up => S_UP,
        Health::Down => S_DOWN,
        Health::Draining => S_DRAINING,
        Health::Degraded => S_DEGRADED,
    }
}
