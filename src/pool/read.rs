//! Reading a backend back: its id at an index, its state and totals, its share.

use crate::clock::tick_ms;
use crate::error::BackendError;
use crate::sync::Ordering;

use super::word::{BACKUP, EJECTED, FULL_SHARE, S_DEGRADED, S_DRAINING, S_UP, SHARED, cap_of};
use super::{BackendId, BackendInfo, Health, Pool, Slot, Word};

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

    /// A copy of the backend's state, or why there is none, with the latency estimate as
    /// last stored (before time decay): [`Pool::info_at`] decays it to your clock.
    pub fn info(&self, id: BackendId) -> Result<BackendInfo, BackendError> {
        let slot = self.slot_of(id)?;
        let c = slot.word();
        self.check(slot, c, id)?;
        let lat = slot.hot.latency_us.load(Ordering::Relaxed);
        Ok(Self::info_of(
            slot,
            c,
            id,
            if lat == 0 { None } else { Some(lat) },
        ))
    }

    /// As [`Pool::info`], with the latency estimate decayed to the caller's clock `now_us`:
    /// the value a pick with that clock reads ([`View::latency_us`](super::View::latency_us)).
    ///
    /// ```
    /// use core::time::Duration;
    /// use tinylb::{Lease, Outcome, Pool};
    /// let pool: Pool<2> = Pool::with_half_life_ms(1_000);
    /// let a = pool.add(1).unwrap();
    /// let l = Lease::acquire(&pool, a).unwrap();
    /// l.finish(Outcome::success_after(Duration::from_micros(8_000)).at_us(0));
    /// assert_eq!(pool.info(a).unwrap().latency_us, Some(8_000));
    /// // one half-life later, the estimate has halved
    /// assert_eq!(pool.info_at(a, 1_000_000).unwrap().latency_us, Some(4_000));
    /// assert_eq!((pool.info(a).unwrap().requests, pool.info(a).unwrap().successes), (1, 1));
    /// ```
    pub fn info_at(&self, id: BackendId, now_us: u64) -> Result<BackendInfo, BackendError> {
        let slot = self.slot_of(id)?;
        let c = slot.word();
        self.check(slot, c, id)?;
        let lat = slot.latency_at(tick_ms(now_us), self.config.half_life_ms);
        Ok(Self::info_of(slot, c, id, lat))
    }

    fn info_of(slot: &Slot, c: Word, id: BackendId, latency_us: Option<u32>) -> BackendInfo {
        let successes = slot.hot.successes.load(Ordering::Relaxed);
        let failures = slot.hot.failures.load(Ordering::Relaxed);
        let abandoned = slot.hot.flight.abandoned();
        BackendInfo {
            id,
            weight: c.weight(),
            health: match c.state() {
                S_UP => Health::Up,
                S_DRAINING => Health::Draining,
                S_DEGRADED => Health::Degraded,
                _ => Health::Down,
            },
            in_flight: slot.hot.flight.count(Ordering::Acquire),
            cap: cap_of(slot.cap.load(Ordering::Relaxed)),
            latency_us,
            failure_streak: slot.hot.failure_streak.load(Ordering::Relaxed),
            ejected: c.has(EJECTED),
            backup: c.has(BACKUP),
            level: slot.level_of(c),
            locality: slot.place().zone(),
            requests: successes.wrapping_add(failures).wrapping_add(abandoned),
            successes,
            failures,
            abandoned,
            ejections: slot.hot.ejected_total.load(Ordering::Relaxed),
        }
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

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use crate::clock::tick_ms;
    use crate::{Lease, Outcome, Pool};

    #[test]
    fn info_at_reads_what_latency_at_computes() {
        let pool: Pool<2> = Pool::with_half_life_ms(700);
        let a = pool.add(1).unwrap();
        let b = pool.add(1).unwrap();
        for (k, us) in [(0u64, 9_000u64), (350, 2_000), (1_900, 40_000)] {
            Lease::acquire(&pool, a)
                .unwrap()
                .finish(Outcome::success_after(Duration::from_micros(us)).at_us(k * 1_000));
        }
        let slot = pool.slot(0).unwrap();
        let mut last = u32::MAX;
        for now_us in (0..40u64).map(|i| 1_900_000 + i * 123_457) {
            let want = slot.latency_at(tick_ms(now_us), 700);
            assert_eq!(pool.info_at(a, now_us).unwrap().latency_us, want);
            let got = want.unwrap();
            assert!(
                got <= last,
                "decay only lowers an estimate with no new sample"
            );
            last = got;
        }
        assert!(last < 40_000 / 8, "decayed for over 3 half-lives: {last}");
        assert_eq!(pool.info_at(b, 5_000_000).unwrap().latency_us, None);
    }
}
