//! Leases: the in-flight count of one request on one backend, and what a lease does to the
//! pool (take a unit, record the outcome, give the unit back).

use core::fmt;
use core::ops::Deref;
use core::time::Duration;

use crate::clock::{elapsed_ms, tick_ms};
use crate::ewma;
use crate::pool::{BackendId, CAS_TRIES, Flight, Pool};
use crate::sync::Ordering;

/// How a request went, reported through [`Lease::finish`].
///
/// Built in two steps so that the latency (a [`Duration`]) and the caller's clock (an
/// integer) cannot be swapped silently:
///
/// ```
/// use core::time::Duration;
/// use tinylb::Outcome;
/// let o = Outcome::success_after(Duration::from_micros(1_500)).at_us(2_000_000);
/// assert!(o.is_success());
/// assert_eq!((o.latency_us(), o.now_us()), (1_500, 2_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outcome {
    success: bool,
    latency_us: u64,
    now_us: u64,
}

/// An [`Outcome`] still without the caller's clock: finish it with [`Unstamped::at_us`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "an outcome needs the caller's clock: call .at_us(now_us)"]
pub struct Unstamped {
    success: bool,
    latency_us: u64,
}

impl Unstamped {
    /// The outcome, at the caller's clock `now_us` (microseconds) when the request finished.
    pub const fn at_us(self, now_us: u64) -> Outcome {
        Outcome {
            success: self.success,
            latency_us: self.latency_us,
            now_us,
        }
    }
}

impl Outcome {
    /// The backend answered after `latency` (saturating at `u64::MAX` µs).
    pub const fn success_after(latency: Duration) -> Unstamped {
        Unstamped {
            success: true,
            latency_us: duration_us(latency),
        }
    }

    /// The backend failed (refused, reset, timed out, answered with an error you count as
    /// its fault) after `latency`.
    pub const fn failure_after(latency: Duration) -> Unstamped {
        Unstamped {
            success: false,
            latency_us: duration_us(latency),
        }
    }

    /// The integer form of [`Outcome::success_after`]: `latency_us`, then `now_us`.
    #[deprecated(
        note = "two integers swap silently: use `Outcome::success_after(latency).at_us(now_us)`"
    )]
    pub const fn success(latency_us: u64, now_us: u64) -> Self {
        Outcome {
            success: true,
            latency_us,
            now_us,
        }
    }

    /// The integer form of [`Outcome::failure_after`]: `latency_us`, then `now_us`.
    #[deprecated(
        note = "two integers swap silently: use `Outcome::failure_after(latency).at_us(now_us)`"
    )]
    pub const fn failure(latency_us: u64, now_us: u64) -> Self {
        Outcome {
            success: false,
            latency_us,
            now_us,
        }
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
    /// Holds a unit of the pool-wide cap ([`Pool::set_max_in_flight`]).
    pooled: bool,
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
    /// Wraps an in-flight unit already taken on `id` (and a unit of the pool-wide cap if
    /// `pooled`).
    pub(crate) fn new(pool: P, id: BackendId, pooled: bool) -> Self {
        Lease { pool, id, pooled }
    }

    /// Takes a lease on exactly the backend `id`. Fails, changing nothing, if the backend is
    /// gone, not up, has weight 0, is at its cap, or the pool is at its pool-wide cap.
    /// Ejection and the backup tier are not looked at: to stick to a session's backend only
    /// while a pick may take it, use [`Request::prefer`](crate::Request::prefer) with a
    /// strategy instead.
    pub fn acquire(pool: P, id: BackendId) -> Option<Self> {
        let pooled = pool.reserve().ok()?;
        if pool.try_acquire(id) {
            Some(Lease { pool, id, pooled })
        } else {
            if pooled {
                pool.unreserve();
            }
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
        if self.pooled {
            self.pool.unreserve();
        }
    }
}

impl<const N: usize> Pool<N> {
    /// Takes one in-flight unit on `id` if it is still the same backend, up and below its
    /// cap. `false` means "lost a race, pick again". (Ejection, tier and slow start were
    /// the view's business when the strategy picked.)
    pub(crate) fn try_acquire(&self, id: BackendId) -> bool {
        let Some(slot) = self.slot(id.index()) else {
            return false;
        };
        if !slot.admin_up() {
            return false;
        }
        let room = slot.cap.load(Ordering::Acquire);
        let mut cur = Flight(slot.in_flight.load(Ordering::SeqCst));
        let mut taken = false;
        for _ in 0..CAS_TRIES {
            let count = cur.count();
            // another occupant's word, at the cap, or at the counter's limit
            if !cur.tagged(id.generation()) || count > room || count == crate::MAX_IN_FLIGHT {
                return false;
            }
            match slot.in_flight.compare_exchange(
                cur.0,
                cur.0 + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    taken = true;
                    break;
                }
                Err(now) => cur = Flight(now),
            }
        }
        if !taken {
            return false;
        }
        // validate after taking: the backend may have been removed (or marked down) between
        // the strategy's look and our increment; it cannot have been replaced, since the
        // tag matched and `add` only retags a word with no unit out
        if slot.generation() != id.generation() || !slot.admin_up() {
            slot.in_flight.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Gives back the in-flight unit taken by [`Pool::try_acquire`].
    pub(crate) fn release(&self, id: BackendId) {
        if let Some(slot) = self.slot(id.index()) {
            slot.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Records a finished request on `id`, unless the backend has been removed since: the
    /// latency into its estimate, the outcome into its failure streak (and ejection).
    pub(crate) fn record(&self, id: BackendId, success: bool, latency_us: u64, now_us: u64) {
        let Some(slot) = self.slot(id.index()) else {
            return;
        };
        if slot.generation() != id.generation() {
            return;
        }
        let now = tick_ms(now_us);
        let sample = u32::try_from(latency_us).unwrap_or(u32::MAX);
        let mut est = slot.latency_us.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            let at = slot.latency_at_ms.load(Ordering::Relaxed);
            let next = ewma::update(est, sample, elapsed_ms(now, at), self.config().half_life_ms);
            match slot
                .latency_us
                .compare_exchange(est, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    slot.latency_at_ms.store(now, Ordering::Relaxed);
                    break;
                }
                Err(v) => est = v,
            }
        }
        self.count_outcome(slot, id, success, now);
    }
}
