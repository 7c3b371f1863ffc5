//! The backends a request must not get: the set a retry loop fills, one lease at a time.
//!
//! The anchors all keep it inside the balancer, because only the picker can skip a backend
//! without re-rolling (and so biasing) its schedule: nginx's per-request `tried` bitmap that
//! its round-robin scan skips (`src/http/ngx_http_upstream_round_robin.c`), Envoy's
//! `previous_hosts` retry predicate, re-run up to `host_selection_retry_max_attempts` times
//! (`source/extensions/retry/host/previous_hosts/`), HAProxy's `option redispatch`, pingora's
//! `select_with(key, max_iterations, accept)`. Here the set rides on the [`Request`]
//! ([`Request::excluding`]) and the pool's [`View`](crate::View) leaves its members out, so
//! every strategy, built in or not, honours it with its own semantics (see each strategy's
//! docs, and [`Pool::pick`](crate::Pool::pick)).
//!
//! [`Request`]: crate::Request
//! [`Request::excluding`]: crate::Request::excluding

use core::fmt;

use crate::pool::BackendId;

/// A set of backends, by id, that a request must not get: `N` bytes on the stack, no heap,
/// `const fn`.
///
/// Each slot keeps the low four bits of the generation of the backend that was inserted, so
/// the set names backends, not slots: if a tried backend is removed and its slot reused by a
/// new backend, the new one is not excluded (unless the slot is reused a multiple of 16
/// times while one request retries).
///
/// ```
/// use tinylb::{Pool, Request, RoundRobin, SelectExt, Tried};
///
/// let pool: Pool<4> = Pool::new();
/// for _ in 0..3 {
///     pool.add(1).unwrap();
/// }
/// let lb = RoundRobin::new();
/// let mut tried = Tried::<4>::new();
/// let mut got = Vec::new();
/// // a retry loop: each attempt goes to a backend not tried yet
/// while let Ok(lease) = lb.try_lease(&pool, &mut Request::new().excluding(&tried)) {
///     tried.insert(lease.id());
///     got.push(lease.index());
/// }
/// got.sort();
/// assert_eq!(got, [0, 1, 2]);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tried<const N: usize> {
    /// Per slot: 0 = not in the set, else `PRESENT | generation & 0xf`.
    tags: [u8; N],
    len: u16,
}

/// Marks a slot's tag as present.
const PRESENT: u8 = 0x10;

/// The tag a backend of generation `generation` has in a [`Tried`] set.
#[inline]
pub(crate) const fn tag_of(generation: u32) -> u8 {
    PRESENT | (generation & 0xf) as u8
}

impl<const N: usize> Default for Tried<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Tried<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members = self
            .tags
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != 0)
            .map(|(i, _)| i);
        f.debug_set().entries(members).finish()
    }
}

impl<const N: usize> Tried<N> {
    /// The empty set.
    pub const fn new() -> Self {
        Tried {
            tags: [0; N],
            len: 0,
        }
    }

    /// Adds `id` (for example a lease's [`id`](crate::Lease::id) after its request failed).
    /// Returns `false` if it was already in the set. An id from a bigger pool (index `N` or
    /// more) is not stored, and no pick of a `Pool<N>` can return it anyway.
    pub fn insert(&mut self, id: BackendId) -> bool {
        let Some(t) = self.tags.get_mut(id.index()) else {
            return false;
        };
        let new = tag_of(id.generation());
        let fresh = *t == 0;
        let changed = *t != new;
        *t = new;
        if fresh {
            self.len += 1;
        }
        changed
    }

    /// Removes `id`; `false` if it was not in the set.
    pub fn remove(&mut self, id: BackendId) -> bool {
        if !self.contains(id) {
            return false;
        }
        if let Some(t) = self.tags.get_mut(id.index()) {
            *t = 0;
            self.len -= 1;
        }
        true
    }

    /// `true` if `id` is in the set.
    pub fn contains(&self, id: BackendId) -> bool {
        self.tags.get(id.index()) == Some(&tag_of(id.generation()))
    }

    /// How many backends are in the set.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// `true` if the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the set, for a request value reused for the next request.
    pub fn clear(&mut self) {
        self.tags = [0; N];
        self.len = 0;
    }

    /// The per-slot tags, as the view reads them.
    #[inline]
    pub(crate) const fn tags(&self) -> &[u8] {
        &self.tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_remove() {
        let mut t = Tried::<4>::new();
        let a = BackendId::new(1, 7);
        assert!(t.is_empty());
        assert!(t.insert(a));
        assert!(!t.insert(a));
        assert!(t.contains(a));
        assert_eq!(t.len(), 1);
        // the slot's next occupant is another backend
        assert!(!t.contains(BackendId::new(1, 8)));
        assert!(!t.remove(BackendId::new(1, 8)));
        assert!(t.remove(a));
        assert!(!t.contains(a));
        assert!(t.is_empty());
        // out of range: not stored
        assert!(!t.insert(BackendId::new(9, 0)));
        assert!(t.is_empty());
    }

    #[test]
    fn a_new_occupant_replaces_the_old_one() {
        let mut t = Tried::<2>::new();
        assert!(t.insert(BackendId::new(0, 1)));
        assert!(t.insert(BackendId::new(0, 2)));
        assert_eq!(t.len(), 1);
        assert!(t.contains(BackendId::new(0, 2)));
        t.clear();
        assert!(t.is_empty() && !t.contains(BackendId::new(0, 2)));
    }
}
