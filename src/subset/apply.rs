//! A subset applied to a [`Pool`]: each backend's share of its weight.

use super::Subset;
use crate::{BackendError, Pool};

/// The slot indices of the backends now in `pool`, ascending: the `backends` argument of
/// the subsetting functions when the fleet's proxies fill their pools alike (the same
/// configuration in the same order gives every backend the same slot everywhere).
pub fn slots<const N: usize>(pool: &Pool<N>) -> Slots<N> {
    let mut out = heapless::Vec::new();
    for id in pool.ids() {
        // at most N ids: the push never fails
        let _ = out.push(id.index() as u32);
    }
    Slots(out)
}

/// The slot indices [`slots`] found, ascending; read it as a slice (`&slots(&pool)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots<const N: usize>(heapless::Vec<u32, N>);

impl<const N: usize> core::ops::Deref for Slots<N> {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.0
    }
}

impl<const K: usize> Subset<K> {
    /// Applies the subset to `pool`, whose slot indices are the subset's backend ids: every
    /// member gets its share ([`Pool::set_share`]), every other backend 0, so each strategy
    /// picks only within the subset, in proportion to the shares; ejection, slow start,
    /// caps and the backup tier work inside it as in a pool of the members alone. Call it
    /// again with the new subset when membership changes ([`Subset::diff`] says what
    /// changed). A backend removed meanwhile is skipped. Returns how many members were found
    /// in the pool.
    ///
    /// # Errors
    ///
    /// [`BackendError::Busy`] if other calls kept changing a backend; the shares set so far
    /// stay set, and calling `apply` again finishes the job.
    ///
    /// ```
    /// use tinylb::subset::{Subset, deterministic, slots};
    /// use tinylb::{Pool, Request, RoundRobin, Select};
    /// let pool: Pool<8> = Pool::new();
    /// for _ in 0..8 {
    ///     pool.add(1).unwrap();
    /// }
    /// let s: Subset<3> = deterministic(0, 10, &slots(&pool), 3, 1).unwrap();
    /// s.apply(&pool).unwrap();
    /// let rr = RoundRobin::new();
    /// for _ in 0..12 {
    ///     let id = rr.select(&pool, &mut Request::new()).unwrap();
    ///     assert!(s.contains(id.index() as u32));
    /// }
    /// ```
    pub fn apply<const N: usize>(&self, pool: &Pool<N>) -> Result<u32, BackendError> {
        let mut found = 0;
        for id in pool.ids() {
            let share = self.share_of(id.index() as u32);
            match pool.set_share(id, share) {
                Ok(()) => found += u32::from(share > 0),
                Err(BackendError::Stale | BackendError::NoSuchBackend) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }
}
