//! Leases: the in-flight count of one request on one backend.

use core::fmt;
use core::ops::Deref;
use core::time::Duration;

use crate::pool::{BackendId, Pool};

/// How a request went, reported through [`Lease::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outcome {
    success: bool,
    latency_us: u64,
    now_us: u64,
}

impl Outcome {
    /// The backend answered; `latency_us` is how long it took, `now_us` the caller's clock
    /// when it finished.
    pub const fn success(latency_us: u64, now_us: u64) -> Self {
        Outcome {
            success: true,
            latency_us,
            now_us,
        }
    }

    /// The backend failed (refused, reset, timed out, answered with an error you count as
    /// its fault); `latency_us` is how long it took to fail.
    pub const fn failure(latency_us: u64, now_us: u64) -> Self {
        Outcome {
            success: false,
            latency_us,
            now_us,
        }
    }

    /// [`Outcome::success`] with the latency as a [`Duration`] (saturating at `u64::MAX` µs).
    pub const fn success_after(latency: Duration, now_us: u64) -> Self {
        Self::success(duration_us(latency), now_us)
    }

    /// [`Outcome::failure`] with the latency as a [`Duration`].
    pub const fn failure_after(latency: Duration, now_us: u64) -> Self {
        Self::failure(duration_us(latency), now_us)
    }

    /// `true` for a success.
    pub const fn is_success(&self) -> bool {
        self.success
    }

    /// The latency in microseconds.
    pub const fn latency_us(&self) -> u64 {
        self.latency_us
    }

    /// The caller's clock at completion, in microseconds.
    pub const fn now_us(&self) -> u64 {
        self.now_us
    }
}

const fn duration_us(d: Duration) -> u64 {
    let us = d.as_micros();
    if us > u64::MAX as u128 {
        u64::MAX
    } else {
        us as u64
    }
}

/// One request's claim on one backend: the backend's in-flight count is one higher for as
/// long as the lease lives, and drops by exactly one when it is dropped (or finished).
///
/// `P` is how the lease holds the pool: `&Pool<N>`, `&'static Pool<N>` or `Arc<Pool<N>>`;
/// with the latter two the lease is `Send + 'static` and can cross `.await` points and move
/// into spawned tasks.
///
/// If the backend is removed while the lease is out, finishing records nothing (the slot's
/// generation has moved on); dropping still gives back the in-flight unit, which is what
/// lets the removed slot become reusable.
pub struct Lease<P, const N: usize>
where
    P: Deref<Target = Pool<N>>,
{
    pool: P,
    id: BackendId,
}

impl<P, const N: usize> fmt::Debug for Lease<P, N>
where
    P: Deref<Target = Pool<N>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease").field("id", &self.id).finish()
    }
}

impl<P, const N: usize> Lease<P, N>
where
    P: Deref<Target = Pool<N>>,
{
    /// Wraps an in-flight unit already taken on `id`.
    pub(crate) fn new(pool: P, id: BackendId) -> Self {
        Lease { pool, id }
    }

    /// Takes a lease on a backend you chose yourself (for example the one a previous request
    /// of the same session used). Fails, changing nothing, if the backend is gone, not up,
    /// has weight 0, or is at its cap. Ejection and the backup tier are the strategies'
    /// business: this call does not look at them.
    pub fn acquire(pool: P, id: BackendId) -> Option<Self> {
        if pool.try_acquire(id) {
            Some(Lease { pool, id })
        } else {
            None
        }
    }

    /// The backend this lease is on.
    pub const fn id(&self) -> BackendId {
        self.id
    }

    /// The backend's slot index: use it to find its address.
    pub const fn index(&self) -> usize {
        self.id.index()
    }

    /// The pool the lease is in.
    pub fn pool(&self) -> &Pool<N> {
        &self.pool
    }

    /// Reports how the request went (latency into the backend's estimate; success resets its
    /// failure streak, failure extends it), then gives back the in-flight unit.
    pub fn finish(self, outcome: Outcome) {
        self.pool
            .record(self.id, outcome.success, outcome.latency_us, outcome.now_us);
        // Drop gives back the unit.
    }
}

impl<P, const N: usize> Drop for Lease<P, N>
where
    P: Deref<Target = Pool<N>>,
{
    fn drop(&mut self) {
        self.pool.release(self.id);
    }
}
