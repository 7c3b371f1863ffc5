//! A slot's in-flight word and its abandoned total, kept so that a lease ending with no
//! outcome gives back its unit and counts itself with one atomic read-modify-write where
//! the target allows it.
//!
//! A lease takes its unit with a compare-and-swap on the in-flight word ([`Flight`]: tag,
//! pins, leases out) and, when it ended without an outcome, paid two more locked operations
//! on the same cache line: the abandoned total's increment and the unit's return. Two
//! threads leasing backends of a shared pool pay a cache-line transfer for each. `Joint`
//! holds both in one `u64`, the flight word in the low 32 bits and the abandoned total
//! (wrapping, as before) in the high 32: the end of such a lease is one
//! `fetch_add((1 << 32) - 1)`, that is count − 1 and abandoned + 1, exact because the count
//! is at least 1 while the unit is out, so the addition's carry goes into the high half and
//! nowhere else. Every other write (a lease's take and return, pins, `add`'s claim) works on
//! the whole `u64`: a compare-and-swap compares the abandoned half too and carries it over
//! unchanged, a decrement of the low half never borrows from it (the count or the pins it
//! takes one from are at least 1).
//!
//! `Split` keeps the two as separate `u32`s and pays the two operations. It is the layout
//! where a slot's halves are packed ([`Line`](super::Line) is not padded: 32-bit
//! microcontrollers, wasm32, i686), whose slot stays 72 bytes and whose in-flight word stays
//! a native 32-bit atomic (a Cortex-M has no 64-bit one). [`InFlight`] is the one this
//! target's slots use; both have the same methods, so the lease and admin code has no
//! `cfg`, and both are compiled for the unit tests on any host with 64-bit atomics.

use super::word::Flight;
use crate::sync::Ordering;

/// The layout this target's slots use: `Joint` where a slot's hot half has a 64-byte line
/// of its own (the same targets as [`Line`](super::Line)'s padding; `slot.rs` checks that
/// the two lists agree), `Split` elsewhere.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "powerpc64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x"
))]
pub(crate) type InFlight = joint::Joint;

/// The layout this target's slots use: `Split`, on the targets whose slots are packed.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "powerpc64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x"
)))]
pub(crate) type InFlight = split::Split;

/// A value read from an in-flight word, to hand back to its compare-and-swap: the raw
/// atomic's value (with the abandoned half in `Joint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen<R>(R);

/// The combined layout.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "powerpc64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x",
    all(test, target_has_atomic = "64")
))]
pub(crate) mod joint {
    use super::{Flight, Ordering, Seen};
    use crate::pool::word::COUNT_MASK;
    use crate::sync::AtomicU64;

    /// The in-flight word in the low half of a `u64`, the abandoned total in the high half.
    #[derive(Debug)]
    pub(crate) struct Joint(AtomicU64);

    impl Seen<u64> {
        /// The in-flight word.
        #[inline(always)]
        pub(crate) const fn flight(self) -> Flight {
            Flight(self.0 as u32)
        }
    }

    impl Joint {
        /// An idle word of generation 0, nothing abandoned.
        pub(crate) const fn new() -> Self {
            Joint(AtomicU64::new(0))
        }

        #[inline(always)]
        pub(crate) fn load(&self, order: Ordering) -> Seen<u64> {
            Seen(self.0.load(order))
        }

        /// Leases out: what a pick's scan reads.
        #[inline(always)]
        pub(crate) fn count(&self, order: Ordering) -> u32 {
            (self.0.load(order) & COUNT_MASK as u64) as u32
        }

        /// Replaces the in-flight word seen as `cur` by `next` if neither half has changed
        /// since; the abandoned half is carried over. On failure, what the word holds now.
        #[inline(always)]
        pub(crate) fn compare_exchange(
            &self,
            cur: Seen<u64>,
            next: Flight,
        ) -> Result<(), Seen<u64>> {
            let next = (cur.0 & !(u32::MAX as u64)) | next.0 as u64;
            self.0
                .compare_exchange(cur.0, next, Ordering::SeqCst, Ordering::SeqCst)
                .map(drop)
                .map_err(Seen)
        }

        /// Gives back one lease's unit (one must be out).
        #[inline(always)]
        pub(crate) fn release(&self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }

        /// Gives back one lease's unit (one must be out) and counts it abandoned, in one
        /// read-modify-write: count − 1 and abandoned + 1 (see the module docs).
        #[inline(always)]
        pub(crate) fn release_abandoned(&self) {
            self.0.fetch_add((1 << 32) - 1, Ordering::SeqCst);
        }

        /// Gives back a pin (one must be out).
        #[inline]
        pub(crate) fn unpin(&self) {
            self.0.fetch_sub(Flight::PIN as u64, Ordering::SeqCst);
        }

        /// Takes the word seen as `cur` for the occupant of `generation`, idle and with its
        /// abandoned total zeroed, if the word has not changed since. The caller has checked
        /// that `cur` is free (no unit, no pin out), so nothing can count on the total it
        /// zeroes.
        #[inline]
        pub(crate) fn claim(&self, cur: Seen<u64>, generation: u32) -> bool {
            self.0
                .compare_exchange(
                    cur.0,
                    Flight::idle(generation).0 as u64,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
        }

        /// Leases that ended with no outcome reported (wrapping; zeroed by [`Joint::claim`]).
        #[inline]
        pub(crate) fn abandoned(&self) -> u32 {
            (self.0.load(Ordering::Relaxed) >> 32) as u32
        }

        /// Tests only: sets the abandoned total, leaving the in-flight word as it is.
        #[cfg(test)]
        pub(crate) fn set_abandoned(&self, total: u32) {
            let _ = self
                .0
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                    Some((w & u32::MAX as u64) | (total as u64) << 32)
                });
        }

        /// loom builds only: creates the loom atomic now (see `Pool::loom_init`).
        #[cfg(loom)]
        pub(crate) fn touch(&self) {
            self.0.touch();
        }
    }
}

/// The split layout.
#[cfg(any(
    test,
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x"
    ))
))]
pub(crate) mod split {
    use super::{Flight, Ordering, Seen};
    use crate::sync::AtomicU32;

    /// The in-flight word and the abandoned total as two `u32`s.
    #[derive(Debug)]
    pub(crate) struct Split {
        in_flight: AtomicU32,
        /// Leases dropped with no outcome reported (wrapping).
        abandoned: AtomicU32,
    }

    impl Seen<u32> {
        /// The in-flight word.
        #[inline(always)]
        pub(crate) const fn flight(self) -> Flight {
            Flight(self.0)
        }
    }

    impl Split {
        /// An idle word of generation 0, nothing abandoned.
        pub(crate) const fn new() -> Self {
            Split {
                in_flight: AtomicU32::new(0),
                abandoned: AtomicU32::new(0),
            }
        }

        #[inline(always)]
        pub(crate) fn load(&self, order: Ordering) -> Seen<u32> {
            Seen(self.in_flight.load(order))
        }

        /// Leases out: what a pick's scan reads.
        #[inline(always)]
        pub(crate) fn count(&self, order: Ordering) -> u32 {
            Flight(self.in_flight.load(order)).count()
        }

        /// Replaces the in-flight word seen as `cur` by `next` if it has not changed since. On
        /// failure, what the word holds now.
        #[inline(always)]
        pub(crate) fn compare_exchange(
            &self,
            cur: Seen<u32>,
            next: Flight,
        ) -> Result<(), Seen<u32>> {
            self.in_flight
                .compare_exchange(cur.0, next.0, Ordering::SeqCst, Ordering::SeqCst)
                .map(drop)
                .map_err(Seen)
        }

        /// Gives back one lease's unit (one must be out).
        #[inline(always)]
        pub(crate) fn release(&self) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }

        /// Counts one lease abandoned, then gives back its unit (one must be out): two
        /// operations, in this order, so that the count lands while the unit still keeps the
        /// slot from being reused.
        #[inline(always)]
        pub(crate) fn release_abandoned(&self) {
            // wrapping, relaxed: a total is read alone, and nothing is ordered by it
            self.abandoned.fetch_add(1, Ordering::Relaxed);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }

        /// Gives back a pin (one must be out).
        #[inline]
        pub(crate) fn unpin(&self) {
            self.in_flight.fetch_sub(Flight::PIN, Ordering::SeqCst);
        }

        /// Takes the word seen as `cur` for the occupant of `generation`, idle, if it has not
        /// changed since, and then zeroes the abandoned total. The caller has checked that
        /// `cur` is free (no unit, no pin out), so nothing can count on the total it zeroes.
        #[inline]
        pub(crate) fn claim(&self, cur: Seen<u32>, generation: u32) -> bool {
            let ok = self
                .in_flight
                .compare_exchange(
                    cur.0,
                    Flight::idle(generation).0,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok();
            if ok {
                self.abandoned.store(0, Ordering::Relaxed);
            }
            ok
        }

        /// Leases that ended with no outcome reported (wrapping; zeroed by [`Split::claim`]).
        #[inline]
        pub(crate) fn abandoned(&self) -> u32 {
            self.abandoned.load(Ordering::Relaxed)
        }

        /// Tests only: sets the abandoned total, leaving the in-flight word as it is.
        #[cfg(test)]
        pub(crate) fn set_abandoned(&self, total: u32) {
            self.abandoned.store(total, Ordering::Relaxed);
        }

        /// loom builds only: creates the loom atomics now (see `Pool::loom_init`).
        #[cfg(loom)]
        pub(crate) fn touch(&self) {
            self.in_flight.touch();
            self.abandoned.touch();
        }
    }
}

#[cfg(test)]
#[path = "flight_tests.rs"]
mod tests;
