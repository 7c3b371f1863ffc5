//! Reading a backend back: its id at an index, its state, its share.

use crate::error::BackendError;
use crate::sync::Ordering;

use super::word::{BACKUP, EJECTED, FULL_SHARE, S_DRAINING, S_UP, SHARED, cap_of};
use super::{BackendId, BackendInfo, Flight, Health, Pool, Slot, Word};

impl<const N: usize> Pool<N> {
    /// The backend's share ([`Pool::set_share`]), in Q16.
    pub fn share(&self, id: BackendId) -> Result<u32, BackendError> {
        let slot = self.slot_of(id)?;
        let c = slot.word();
        self.check(slot, c, id)?;
        Ok(if c.has(SHARED) {
            slot.share.load(Ordering::Acquire)
        } else {
            FULL_SHARE
        })
    }

    /// A copy of the backend's state, or why there is none.
    pub fn info(&self, id: BackendId) -> Result<BackendInfo, BackendError> {
        let slot = self.slot_of(id)?;
        let c = slot.word();
        self.check(slot, c, id)?;
        let lat = slot.latency_us.load(Ordering::Relaxed);
        Ok(BackendInfo {
            id,
            weight: c.weight(),
            health: match c.state() {
                S_UP => Health::Up,
                S_DRAINING => Health::Draining,
                _ => Health::Down,
            },
            in_flight: Flight(slot.in_flight.load(Ordering::Acquire)).count(),
            cap: cap_of(slot.cap.load(Ordering::Relaxed)),
            latency_us: if lat == 0 { None } else { Some(lat) },
            failure_streak: slot.failure_streak.load(Ordering::Relaxed),
            ejected: c.has(EJECTED),
            backup: c.has(BACKUP),
        })
    }

    /// The id of the backend now at `index`, if the slot holds one.
    pub fn id_at(&self, index: usize) -> Option<BackendId> {
        let slot = self.slots.get(index)?;
        let generation = slot.generation();
        let c = Word(slot.config.load(Ordering::SeqCst));
        // occupied, and the same occupant as the generation we read: a removal (and reuse)
        // moves the generation on, a weight or health change does not
        if !c.occupied() || !c.of_generation(generation) || slot.generation() != generation {
            return None;
        }
        Some(BackendId::new(index as u32, generation))
    }

    /// Ids of all backends in the pool, in slot order (each read as [`Pool::id_at`] reads
    /// it): an iterator that is also a slice, kept on the stack (`8·N` bytes).
    pub fn ids(&self) -> Ids<N> {
        let mut out = Ids {
            ids: [BackendId::new(0, 0); N],
            front: 0,
            len: 0,
        };
        for i in 0..N {
            if let Some(id) = self.id_at(i)
                && let Some(dst) = out.ids.get_mut(out.len)
            {
                *dst = id;
                out.len += 1;
            }
        }
        out
    }

    /// In-flight count at `index` (0 for an empty slot or an index out of range).
    pub fn in_flight_at(&self, index: usize) -> u32 {
        self.slots.get(index).map_or(0, Slot::in_flight)
    }
}

/// The ids [`Pool::ids`] found, in slot order: iterate them, or read them as a slice.
#[derive(Debug, Clone)]
pub struct Ids<const N: usize> {
    ids: [BackendId; N],
    front: usize,
    len: usize,
}

impl<const N: usize> Ids<N> {
    /// The ids not yet iterated, as a slice.
    pub fn as_slice(&self) -> &[BackendId] {
        self.ids.get(self.front..self.len).unwrap_or(&[])
    }
}

impl<const N: usize> core::ops::Deref for Ids<N> {
    type Target = [BackendId];
    fn deref(&self) -> &[BackendId] {
        self.as_slice()
    }
}

impl<const N: usize> Iterator for Ids<N> {
    type Item = BackendId;
    fn next(&mut self) -> Option<BackendId> {
        let id = *self.ids.get(self.front..self.len)?.first()?;
        self.front += 1;
        Some(id)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len - self.front;
        (n, Some(n))
    }
}

impl<const N: usize> ExactSizeIterator for Ids<N> {}
