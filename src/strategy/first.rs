//! The first backend with room (HAProxy `balance first`).

use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};

/// The eligible backend with the lowest slot index: HAProxy's `balance first`
/// (`src/lb_fas.c`, "first available server"), which fills the server with the lowest id up
/// to its `maxconn` before the next one gets a connection, so that the last servers stay
/// idle and can be powered down, and come back when the first ones fill up.
///
/// Here "room" is the pool's per-backend in-flight cap ([`Pool::set_cap`]): a backend at its
/// cap is not a candidate, so the next one gets the request, and a lease dropped makes room
/// again. Without caps every request goes to the first eligible backend. Everything else a
/// pick applies is applied too (the backup tier, health, ejection and panic, share, the
/// request's exclusion and preference): the pick is the first candidate of the pool's view.
/// Weights play no part beyond eligibility (weight 0 is out), as in HAProxy.
///
/// Cost: a scan from slot 0 to the first candidate: one slot in the common case (the first
/// backend has room), O(n) when the first ones are full or out. No state, no writes.
///
/// ```
/// use core::num::NonZeroU32;
/// use tinylb::{First, Pool, Request, SelectExt};
/// let pool: Pool<4> = Pool::new();
/// let a = pool.add(1).unwrap();
/// let b = pool.add(1).unwrap();
/// pool.set_cap(a, NonZeroU32::new(2)).unwrap();
/// let first = First::new();
/// let l1 = first.lease(&pool, &mut Request::new()).unwrap();
/// let l2 = first.lease(&pool, &mut Request::new()).unwrap();
/// let l3 = first.lease(&pool, &mut Request::new()).unwrap();
/// assert_eq!([l1.id(), l2.id(), l3.id()], [a, a, b]); // a is full: b
/// drop(l1);
/// assert_eq!(first.lease(&pool, &mut Request::new()).unwrap().id(), a);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct First;

impl First {
    /// The strategy (it has no parameters and no state).
    pub const fn new() -> Self {
        First
    }
}

impl<const N: usize> Select<N> for First {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, _| view.candidates().next())
    }
}
