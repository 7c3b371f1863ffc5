//! One backend's state: a slot of 32-bit atomics.

use crate::clock::elapsed_ms;
use crate::ewma;
use crate::sync::{AtomicU32, Ordering};

use super::word::{
    BACKUP, FULL_SHARE, Flight, NO_CAP, Place, S_DEGRADED, S_DOWN, S_EMPTY, S_UP, SHARED, Word,
    shared_weight,
};

/// One backend's state. Private: strategies read it through [`View`](super::View).
///
/// Eighteen 32-bit words, 72 bytes: what a pick reads first (`config`), what a lease writes
/// (`in_flight`), then what `finish` writes (latency, streak), what ejection and slow start
/// keep, the backend's share, its priority level and locality (`place`, read by picks only
/// when the level is above 0 or the pick is narrowed to a locality), its recent failure
/// fraction (read by picks only while some backend has failed), and last the four totals ([`Pool::info`](super::Pool::info)),
/// which no pick reads or writes: only a lease's end, an ejection and the read-back calls
/// touch them.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) config: AtomicU32,
    pub(crate) generation: AtomicU32,
    pub(crate) in_flight: AtomicU32,
    /// `cap - 1`, or [`NO_CAP`].
    pub(crate) cap: AtomicU32,
    pub(crate) latency_us: AtomicU32,
    pub(crate) latency_at_ms: AtomicU32,
    pub(crate) failure_streak: AtomicU32,
    /// Slow-start window start (odd tick), or 0 while waiting for the first pick to stamp it.
    pub(crate) warm_from_ms: AtomicU32,
    /// End of the current ejection (tick).
    pub(crate) ejected_until_ms: AtomicU32,
    /// Ejections in a row (the duration multiplier), with the claim bit.
    pub(crate) ejections: AtomicU32,
    /// When the backend last returned from ejection (odd tick), 0 if never.
    pub(crate) returned_at_ms: AtomicU32,
    /// The backend's share of its weight in this pool, Q16 ([`FULL_SHARE`] = all of it; 0 =
    /// outside this proxy's subset). Read only when the config word's `SHARED` flag is set.
    pub(crate) share: AtomicU32,
    /// Priority level and locality ([`Place`]).
    pub(crate) place: AtomicU32,
    /// Recent failure fraction, Q16 (the failure penalty: see `penalty.rs`); 0 = none.
    pub(crate) failure_score: AtomicU32,
    /// Leases that ended with a success counted (wrapping; never reset while the backend
    /// lives).
    pub(crate) successes: AtomicU32,
    /// Leases that ended with a failure counted (wrapping).
    pub(crate) failures: AtomicU32,
    /// Leases dropped with no outcome reported (wrapping).
    pub(crate) abandoned: AtomicU32,
    /// Ejections by outlier detection (wrapping; unlike `ejections`, never earned back).
    pub(crate) ejected_total: AtomicU32,
}

impl Slot {
    pub(crate) const fn new() -> Self {
        Slot {
            config: AtomicU32::new(Word::new(0, S_EMPTY, 0).0),
            generation: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            cap: AtomicU32::new(NO_CAP),
            latency_us: AtomicU32::new(0),
            latency_at_ms: AtomicU32::new(0),
            failure_streak: AtomicU32::new(0),
            warm_from_ms: AtomicU32::new(0),
            ejected_until_ms: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            returned_at_ms: AtomicU32::new(0),
            share: AtomicU32::new(FULL_SHARE),
            place: AtomicU32::new(0),
            failure_score: AtomicU32::new(0),
            successes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            abandoned: AtomicU32::new(0),
            ejected_total: AtomicU32::new(0),
        }
    }

    /// The weight that counts for building schedules and tables from config word `c`: the
    /// configured weight, scaled by the share when one is set (0 when it is 0).
    #[inline]
    pub(crate) fn member_weight(&self, c: Word) -> u32 {
        if c.has(SHARED) {
            shared_weight(c.weight(), self.share.load(Ordering::Acquire)).unwrap_or(0)
        } else {
            c.weight()
        }
    }

    #[inline]
    pub(crate) fn word(&self) -> Word {
        Word(self.config.load(Ordering::Acquire))
    }

    /// Member weight ([`Slot::member_weight`]) and priority level of a backend that is up
    /// or degraded with a weight above zero, whatever its ejection and slow-start flags:
    /// what a schedule is built from.
    #[inline]
    pub(crate) fn schedule_weight(&self) -> Option<(u32, u8)> {
        let c = self.word();
        let w = self.member_weight(c);
        if (c.state() == S_UP || c.state() == S_DEGRADED) && w > 0 {
            Some((w, self.level_of(c)))
        } else {
            None
        }
    }

    /// The priority level of the backend whose config word is `c` (0 without reading the
    /// `place` word when the word says level 0).
    #[inline]
    pub(crate) fn level_of(&self, c: Word) -> u8 {
        if c.has(BACKUP) {
            self.place().level()
        } else {
            0
        }
    }

    #[inline]
    pub(crate) fn place(&self) -> Place {
        Place(self.place.load(Ordering::Acquire))
    }

    /// Up or degraded (or down, when panic may pick down backends) with a weight above
    /// zero, whatever the flags: what a lease re-checks.
    #[inline]
    pub(crate) fn admin_up(&self, down_too: bool) -> bool {
        let c = Word(self.config.load(Ordering::SeqCst));
        let st = c.state();
        (st == S_UP || st == S_DEGRADED || (down_too && st == S_DOWN)) && c.weight() > 0
    }

    #[inline]
    pub(crate) fn in_flight(&self) -> u32 {
        Flight(self.in_flight.load(Ordering::Relaxed)).count()
    }

    /// Whether one more lease fits under the cap, given the in-flight count just read.
    #[inline]
    pub(crate) fn has_room(&self, in_flight: u32) -> bool {
        in_flight <= self.cap.load(Ordering::Relaxed)
    }

    /// Latency estimate decayed to `now`, or `None` if never sampled.
    #[inline]
    pub(crate) fn latency_at(&self, now_ms: u32, half_life_ms: u32) -> Option<u32> {
        let est = self.latency_us.load(Ordering::Relaxed);
        if est == 0 {
            return None;
        }
        let at = self.latency_at_ms.load(Ordering::Relaxed);
        // decay never reaches 0 for a sampled backend: 0 means "no sample"
        Some(ewma::decayed(est, elapsed_ms(now_ms, at), half_life_ms).max(1))
    }

    #[inline]
    pub(crate) fn generation(&self) -> u32 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Pins the slot for a configuration call on the occupant of `generation`: while a pin
    /// is out, `add` cannot reuse the slot. `false` if the slot already belongs to another
    /// occupant (or every pin is taken).
    pub(crate) fn pin(&self, generation: u32) -> bool {
        let mut cur = Flight(self.in_flight.load(Ordering::SeqCst));
        for _ in 0..super::CAS_TRIES {
            if !cur.tagged(generation) {
                return false;
            }
            let Some(next) = cur.pinned() else {
                return false;
            };
            match self
                .in_flight
                .compare_exchange(cur.0, next.0, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(v) => cur = Flight(v),
            }
        }
        false
    }

    /// Gives back a pin taken by [`Slot::pin`].
    pub(crate) fn unpin(&self) {
        self.in_flight.fetch_sub(Flight::PIN, Ordering::SeqCst);
    }
}
