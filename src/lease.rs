//! Leases: the in-flight count of one request on one backend, and what a lease does to the
//! pool (take a unit, record latencies and the outcome, give the unit back); the recording
//! is in `lease/report.rs`.

use core::fmt;
use core::ops::Deref;
use core::time::Duration;

use crate::clock::tick_ms;
use crate::pool::{BackendId, CAS_TRIES, Flight, Pool};
use crate::sync::Ordering;

mod report;

/// How a request went, reported through [`Lease::finish`] or [`Lease::report`].
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
/// into spawned tasks. A lease is the pool handle plus 12 bytes: 24 B with a reference or
/// an `Arc` on x86-64, 16 B on 32-bit targets.
///
/// If the backend is removed while the lease is out, finishing records nothing (the slot's
/// generation has moved on); dropping still gives back the in-flight unit, which is what
/// lets the removed slot become reusable.
///
/// # Reporting, and what counts
///
/// A proxy that streams a body learns two things at two times: the time to first byte when
/// the response headers arrive, and whether the whole exchange worked when the body ends (or
/// the task is cancelled). Three calls, one rule:
///
/// * [`Lease::record_latency`] (`&self`, any number of times): one latency sample into the
///   backend's estimate, nothing else. No count, no failure streak.
/// * [`Lease::report`] (`&mut self`, any number of times): one latency sample now, and the
///   outcome *the lease will count when it ends*; a later `report` or `finish` replaces it.
/// * [`Lease::finish`] (consumes the lease): one latency sample and the final outcome.
///
/// Each lease counts **exactly one** of success, failure or abandoned, once, when it ends:
/// the outcome of `finish`, else the last `report`'s (counted at drop, on the clock of that
/// report), else *abandoned* (dropped with no outcome: cancelled, or the caller did not
/// say). Only that one outcome moves the backend's totals ([`BackendInfo`](crate::BackendInfo))
/// and its failure streak (so ejection, which Envoy too decides on one outcome per
/// request); abandoned moves neither the streak nor the estimate. Every call feeds its own
/// latency sample: to keep a streamed body's duration out of the estimate, give `finish`
/// the time to first byte, or `report` at the headers and just drop the lease when the body
/// ends well.
///
/// ```
/// use core::time::Duration;
/// use tinylb::{Lease, Outcome, Pool};
/// let pool: Pool<2> = Pool::new();
/// let a = pool.add(1).unwrap();
/// let mut lease = Lease::acquire(&pool, a).unwrap();
/// // headers after 2 ms: the estimate sees it now, the unit stays out while the body streams
/// lease.report(Outcome::success_after(Duration::from_millis(2)).at_us(1_000));
/// assert_eq!(pool.info(a).unwrap().latency_us, Some(2_000));
/// assert_eq!((pool.in_flight_at(0), pool.info(a).unwrap().requests), (1, 0));
/// drop(lease); // the body ended: the reported success counts, once
/// let info = pool.info(a).unwrap();
/// assert_eq!((info.in_flight, info.requests, info.successes), (0, 1, 1));
/// ```
pub struct Lease<P, const N: usize>
where
    P: Deref<Target = Pool<N>>,
{
    pool: P,
    generation: u32,
    /// The slot index (`N` fits 16 bits).
    index: u16,
    pending: Pending,
    /// Holds a unit of the pool-wide cap ([`Pool::set_max_in_flight`]).
    pooled: bool,
    /// The clock tick of the reported outcome, while `pending` is a success or a failure.
    at_ms: u32,
}

/// What a lease counts when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Nothing reported: counts as abandoned.
    Nothing,
    Success,
    Failure,
    /// `finish` counted its outcome already: the drop only gives back the unit.
    Counted,
}

impl<P, const N: usize> fmt::Debug for Lease<P, N>
where
    P: Deref<Target = Pool<N>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id())
            .field("pending", &self.pending)
            .finish()
    }
}

impl<P, const N: usize> Lease<P, N>
where
    P: Deref<Target = Pool<N>>,
{
    /// Wraps an in-flight unit already taken on `id` (and a unit of the pool-wide cap if
    /// `pooled`).
    pub(crate) fn new(pool: P, id: BackendId, pooled: bool) -> Self {
        Lease {
            pool,
            generation: id.generation(),
            // a pool has at most 65535 slots; an index past them names no slot (inert)
            index: u16::try_from(id.index()).unwrap_or(u16::MAX),
            pending: Pending::Nothing,
            pooled,
            at_ms: 0,
        }
    }

    /// Takes a lease on exactly the backend `id`. Fails, changing nothing, if the backend is
    /// gone, neither up nor degraded (down is allowed too with
    /// [`Config::panic_picks_down`](crate::Config::panic_picks_down), since a pick in panic
    /// may return a down backend), has weight 0, is at its cap, or the pool is at its
    /// pool-wide cap. Ejection and the priority level are not looked at: to stick to a
    /// session's backend only while a pick may take it, use
    /// [`Request::prefer`](crate::Request::prefer) with a strategy instead.
    pub fn acquire(pool: P, id: BackendId) -> Option<Self> {
        let pooled = pool.reserve().ok()?;
        if pool.try_acquire(id) {
            Some(Lease::new(pool, id, pooled))
        } else {
            if pooled {
                pool.unreserve();
            }
            None
        }
    }

    /// The backend this lease is on.
    pub const fn id(&self) -> BackendId {
        BackendId::new(self.index as u32, self.generation)
    }

    /// The backend's slot index: use it to find its address.
    pub const fn index(&self) -> usize {
        self.index as usize
    }

    /// The pool the lease is in.
    pub fn pool(&self) -> &Pool<N> {
        &self.pool
    }

    /// One latency sample into the backend's estimate (for example the time to first byte),
    /// at the caller's clock `now_us`; the lease, its unit and its outcome stay as they were.
    /// Counts nothing and leaves the failure streak alone (see [the rule](Lease#reporting-and-what-counts)).
    pub fn record_latency(&self, latency: Duration, now_us: u64) {
        self.pool
            .sample(self.id(), duration_us(latency), tick_ms(now_us));
    }

    /// Reports how the request went so far and keeps the lease: the latency goes into the
    /// estimate now; the outcome is what the lease counts when it ends, unless a later
    /// `report` or [`Lease::finish`] replaces it (see [the rule](Lease#reporting-and-what-counts)).
    pub fn report(&mut self, outcome: Outcome) {
        let now = tick_ms(outcome.now_us);
        self.pool.sample(self.id(), outcome.latency_us, now);
        self.pending = if outcome.success {
            Pending::Success
        } else {
            Pending::Failure
        };
        self.at_ms = now;
    }

    /// Reports how the request went (latency into the backend's estimate; the outcome
    /// counted, replacing any earlier [`Lease::report`]: success resets the failure streak,
    /// failure extends it), then gives back the in-flight unit.
    pub fn finish(self, outcome: Outcome) {
        let mut this = self;
        this.pool.record(
            this.id(),
            outcome.success,
            outcome.latency_us,
            outcome.now_us,
        );
        this.pending = Pending::Counted;
        // Drop gives back the unit.
    }
}

impl<P, const N: usize> Drop for Lease<P, N>
where
    P: Deref<Target = Pool<N>>,
{
    fn drop(&mut self) {
        let id = self.id();
        // count before the unit goes back (or with it): while it is out the slot cannot be
        // reused, so a count never lands on the next backend's totals
        match self.pending {
            Pending::Counted => self.pool.release(id),
            Pending::Nothing => self.pool.release_abandoned(self.index()),
            Pending::Success | Pending::Failure => {
                let success = matches!(self.pending, Pending::Success);
                self.pool.count_end(id, success, self.at_ms);
                self.pool.release(id);
            }
        }
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
        if !slot.admin_up(self.config().panic_picks_down) {
            return false;
        }
        let room = slot.cap.load(Ordering::Acquire);
        let mut cur = slot.hot.flight.load(Ordering::SeqCst);
        let mut taken = false;
        for _ in 0..CAS_TRIES {
            let f = cur.flight();
            let count = f.count();
            // another occupant's word, at the cap, or at the counter's limit
            if !f.tagged(id.generation()) || count > room || count == crate::MAX_IN_FLIGHT {
                return false;
            }
            match slot.hot.flight.compare_exchange(cur, Flight(f.0 + 1)) {
                Ok(()) => {
                    taken = true;
                    break;
                }
                Err(now) => cur = now,
            }
        }
        if !taken {
            return false;
        }
        // validate after taking: the backend may have been removed (or marked down) between
        // the strategy's look and our increment; it cannot have been replaced, since the
        // tag matched and `add` only retags a word with no unit out
        if slot.generation() != id.generation() || !slot.admin_up(self.config().panic_picks_down) {
            slot.hot.flight.release();
            return false;
        }
        true
    }

    /// Gives back the in-flight unit taken by [`Pool::try_acquire`].
    pub(crate) fn release(&self, id: BackendId) {
        if let Some(slot) = self.slot(id.index()) {
            slot.hot.flight.release();
        }
    }
}
