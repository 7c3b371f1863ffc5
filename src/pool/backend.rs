//! [`Backend`]: what a backend starts with when it is added.

use core::num::NonZeroU32;

use super::Health;
use super::word::{S_DOWN, S_DRAINING, S_UP};

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
    pub(super) backup: bool,
    pub(super) cap: Option<NonZeroU32>,
}

impl Backend {
    /// An up, primary backend of `weight` with no in-flight cap.
    pub const fn new(weight: u32) -> Self {
        Backend {
            weight,
            health: Health::Up,
            backup: false,
            cap: None,
        }
    }
    /// Starts with `health` (for example [`Health::Down`] until a first health check passes).
    pub const fn health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }
    /// In the backup tier (nginx and HAProxy `backup`): picked only when no primary backend
    /// is eligible, by every strategy.
    pub const fn backup(mut self) -> Self {
        self.backup = true;
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
    }
}
