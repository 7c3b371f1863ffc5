//! Where a backend sits: its priority level and locality, the pool's locality weights and
//! the caller's proxy fleet per zone, and the counters that tell a pick whether it has more
//! than one level to think about.

use crate::error::{BackendError, ConfigError};
use crate::levels::{MAX_LEVELS, MAX_LOCALITIES};
use crate::sync::{AtomicU32, Ordering};

use super::word::{BACKUP, Place, S_UP};
use super::{BackendId, CAS_TRIES, Pool, Word};

/// Moves `a` by one when a backend starts (`after`) or stops (`before`) counting: one
/// wrapping add of +1 or −1, or nothing.
fn shift(a: &AtomicU32, before: bool, after: bool) {
    let delta = (after as u32).wrapping_sub(before as u32);
    if delta != 0 {
        a.fetch_add(delta, Ordering::AcqRel);
    }
}

/// The `u16` of zone `z` in a packed pair of words.
fn half(words: &[AtomicU32], z: usize) -> u16 {
    words
        .get(z / 2)
        .map_or(0, |w| (w.load(Ordering::Acquire) >> (16 * (z % 2))) as u16)
}

/// Every zone's `u16`, one load a word.
fn unpack(words: &[AtomicU32; MAX_LOCALITIES / 2]) -> [u16; MAX_LOCALITIES] {
    let mut out = [0u16; MAX_LOCALITIES];
    for (pair, w) in out.chunks_exact_mut(2).zip(words) {
        let v = w.load(Ordering::Acquire);
        if let [lo, hi] = pair {
            (*lo, *hi) = (v as u16, (v >> 16) as u16);
        }
    }
    out
}

/// Sets the `u16` of zone `z` in a packed pair of words.
fn set_half(words: &[AtomicU32], z: usize, v: u16) -> Result<(), ConfigError> {
    let w = words.get(z / 2).ok_or(ConfigError::InvalidLocality)?;
    let shift = 16 * (z % 2);
    let mask = 0xffffu32 << shift;
    let _ = w.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
        Some((old & !mask) | ((v as u32) << shift))
    });
    Ok(())
}

impl<const N: usize> Pool<N> {
    /// Moves the pool's counters from one backend's config word `old` to `new`.
    pub(super) fn recount(&self, old: Word, new: Word) {
        shift(&self.members, old.occupied(), new.occupied());
        let up = |c: Word| c.occupied() && c.state() == S_UP;
        shift(&self.up, up(old), up(new));
        shift(&self.spread, old.spreads(), new.spreads());
    }

    /// Moves a backend to priority level `level` (below [`MAX_LEVELS`]; 0 is tried first).
    /// Errors, with nothing changed: [`BackendError::InvalidLevel`], and the id errors of
    /// every `set_*` call. Concurrent calls on the same backend: the last to finish wins.
    ///
    /// ```
    /// use tinylb::{Pool, RoundRobin, Request, Select};
    /// let pool: Pool<4> = Pool::new();
    /// let fibre = pool.add(1).unwrap();
    /// let lte = pool.add(1).unwrap();
    /// pool.set_level(lte, 2).unwrap();
    /// assert_eq!(pool.info(lte).unwrap().level, 2);
    /// // level 0 is healthy: every pick goes there
    /// assert_eq!(RoundRobin::new().select(&pool, &mut Request::new()), Some(fibre));
    /// assert!(pool.set_level(lte, 8).is_err());
    /// ```
    pub fn set_level(&self, id: BackendId, level: u8) -> Result<(), BackendError> {
        if level as usize >= MAX_LEVELS {
            return Err(BackendError::InvalidLevel);
        }
        if !cfg!(feature = "levels") && level > 0 {
            return Err(BackendError::LevelsDisabled);
        }
        self.pinned(id, |slot| {
            self.check(slot, slot.word(), id)?;
            let _ = slot
                .place
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                    Some(Place::new(level, Place(p).zone()).0)
                });
            for _ in 0..CAS_TRIES {
                let c = slot.word();
                self.check(slot, c, id)?;
                // the flag follows the place word as it is now (a racing call may have
                // written it since): the last writer's level wins, flag and word alike
                let next = c.with(BACKUP, slot.place().level() > 0);
                if next == c
                    || slot
                        .config
                        .compare_exchange(c.0, next.0, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    self.recount(c, next);
                    if (slot.place().level() > 0) == next.has(BACKUP) {
                        self.bump_epoch();
                        return Ok(());
                    }
                }
            }
            Err(BackendError::Busy)
        })
    }

    /// Moves a backend to locality (zone) `zone` (below [`MAX_LOCALITIES`]). Errors, with
    /// nothing changed: [`BackendError::InvalidLocality`], and the id errors.
    pub fn set_locality(&self, id: BackendId, zone: u8) -> Result<(), BackendError> {
        if zone as usize >= MAX_LOCALITIES {
            return Err(BackendError::InvalidLocality);
        }
        self.pinned(id, |slot| {
            self.check(slot, slot.word(), id)?;
            let _ = slot
                .place
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                    Some(Place::new(Place(p).level(), zone).0)
                });
            self.bump_epoch();
            Ok(())
        })
    }

    /// Sets zone `zone`'s locality weight (Envoy's locality `load_balancing_weight`, used by
    /// [`LocalityPolicy::Weighted`](crate::LocalityPolicy::Weighted)). Every zone starts at
    /// 1; 0 keeps the zone out of locality-weighted picks. Out of range:
    /// [`ConfigError::InvalidLocality`].
    pub fn set_locality_weight(&self, zone: u8, weight: u16) -> Result<(), ConfigError> {
        set_half(&self.zone_weights, zone as usize, weight)?;
        // the spread path keeps level 0's split: let it count again
        self.bump_epoch();
        Ok(())
    }

    /// Zone `zone`'s locality weight (0 out of range).
    pub fn locality_weight(&self, zone: u8) -> u16 {
        half(&self.zone_weights, zone as usize)
    }

    /// Sets how many proxies of the caller's own fleet (the peers that balance over this
    /// same set of backends, this one included) run in zone `zone`: zone-aware routing's
    /// "local cluster" ([`ZoneAware`](crate::ZoneAware)). Out of range:
    /// [`ConfigError::InvalidLocality`].
    pub fn set_fleet(&self, zone: u8, proxies: u16) -> Result<(), ConfigError> {
        set_half(&self.fleet, zone as usize, proxies)?;
        self.bump_epoch();
        Ok(())
    }

    /// The caller's proxies in zone `zone`, as [`Pool::set_fleet`] set them (0 out of range).
    pub fn fleet(&self, zone: u8) -> u16 {
        half(&self.fleet, zone as usize)
    }

    /// Every zone's locality weight.
    pub(super) fn zone_weights(&self) -> [u16; MAX_LOCALITIES] {
        unpack(&self.zone_weights)
    }

    /// Every zone's proxy count.
    pub(super) fn fleet_counts(&self) -> [u16; MAX_LOCALITIES] {
        unpack(&self.fleet)
    }
}
