//! One backend's state: a slot of 32-bit atomics.

use crate::clock::elapsed_ms;
use crate::ewma;
use crate::sync::{AtomicU32, Ordering};

use super::flight::InFlight;
use super::word::{
    BACKUP, FULL_SHARE, NO_CAP, Place, S_DEGRADED, S_DOWN, S_EMPTY, S_UP, SHARED, Word,
    shared_weight,
};

/// One backend's state. Private: strategies read it through [`View`](super::View).
///
/// Eighteen 32-bit words in two halves. The first half is what picks read and only
/// configuration calls write (plus the rare ejection and slow-start stamps): the config word,
/// generation, cap, ejection and slow-start times, share and `place` (priority level and
/// locality). The second, [`Hot`], is what a lease and its end write: the in-flight count,
/// the latency estimate, the failure streak and fraction, and the four totals
/// ([`Pool::info`](super::Pool::info)); the in-flight word and the abandoned total share one
/// 64-bit atomic where the hot half has a line of its own ([`InFlight`]).
///
/// **Layout per target.** On the 64-bit targets that run proxies with one worker per core
/// ([`Line`]), each half starts a 64-byte cache line, so a slot is 128 bytes: a lease
/// writes only its backend's own line, two backends' written words are never within 128
/// bytes of each other (so x86's adjacent-line prefetcher does not pair them either), and a
/// pick reading one backend's config word is not slowed by leases on others. Elsewhere
/// (32-bit microcontrollers, wasm32) the halves are packed, 72 bytes a slot as before: a
/// microcontroller has one core or no data cache to share, and its RAM is the budget.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) config: AtomicU32,
    pub(crate) generation: AtomicU32,
    /// `cap - 1`, or [`NO_CAP`].
    pub(crate) cap: AtomicU32,
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
    /// What leases write.
    pub(crate) hot: Line<Hot>,
}

/// `T` starting a 64-byte cache line of its own on the 64-bit targets that run proxies with
/// a worker per core (x86-64, AArch64, POWER, RISC-V and LoongArch 64, s390x); `T` as it is
/// elsewhere. Read through `Deref`.
#[derive(Debug)]
#[cfg_attr(
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x"
    ),
    repr(align(64))
)]
pub(crate) struct Line<T>(pub(crate) T);

impl<T> core::ops::Deref for Line<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// `true` where a [`Line`] is padded, so a slot's two halves each start a cache line.
#[cfg(test)]
const PADDED: bool = core::mem::align_of::<Line<u8>>() == 64;

/// The half of a slot that a lease and its end write: a [`Line`] of its own (see [`Slot`]);
/// its alignment makes the slot's, so the other half fills the slot's other 64 bytes. The
/// totals come last: no pick reads them.
#[derive(Debug)]
pub(crate) struct Hot {
    /// The in-flight word ([`Flight`](super::Flight)) and the total of leases dropped with
    /// no outcome reported (wrapping), one read-modify-write apart or none ([`InFlight`]).
    pub(crate) flight: InFlight,
    pub(crate) latency_us: AtomicU32,
    pub(crate) latency_at_ms: AtomicU32,
    pub(crate) failure_streak: AtomicU32,
    /// Recent failure fraction, Q16 (the failure penalty: see `penalty.rs`); 0 = none.
    pub(crate) failure_score: AtomicU32,
    /// Leases that ended with a success counted (wrapping; never reset while the backend
    /// lives).
    pub(crate) successes: AtomicU32,
    /// Leases that ended with a failure counted (wrapping).
    pub(crate) failures: AtomicU32,
    /// Ejections by outlier detection (wrapping; unlike `ejections`, never earned back).
    pub(crate) ejected_total: AtomicU32,
}

impl Slot {
    pub(crate) const fn new() -> Self {
        Slot {
            config: AtomicU32::new(Word::new(0, S_EMPTY, 0).0),
            generation: AtomicU32::new(0),
            cap: AtomicU32::new(NO_CAP),
            warm_from_ms: AtomicU32::new(0),
            ejected_until_ms: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            returned_at_ms: AtomicU32::new(0),
            share: AtomicU32::new(FULL_SHARE),
            place: AtomicU32::new(0),
            hot: Line(Hot {
                flight: InFlight::new(),
                latency_us: AtomicU32::new(0),
                latency_at_ms: AtomicU32::new(0),
                failure_streak: AtomicU32::new(0),
                failure_score: AtomicU32::new(0),
                successes: AtomicU32::new(0),
                failures: AtomicU32::new(0),
                ejected_total: AtomicU32::new(0),
            }),
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
        self.hot.flight.count(Ordering::Relaxed)
    }

    /// Whether one more lease fits under the cap, given the in-flight count just read.
    #[inline]
    pub(crate) fn has_room(&self, in_flight: u32) -> bool {
        in_flight <= self.cap.load(Ordering::Relaxed)
    }

    /// Latency estimate decayed to `now`, or `None` if never sampled.
    #[inline]
    pub(crate) fn latency_at(&self, now_ms: u32, half_life_ms: u32) -> Option<u32> {
        let est = self.hot.latency_us.load(Ordering::Relaxed);
        if est == 0 {
            return None;
        }
        let at = self.hot.latency_at_ms.load(Ordering::Relaxed);
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
        let mut cur = self.hot.flight.load(Ordering::SeqCst);
        for _ in 0..super::CAS_TRIES {
            let f = cur.flight();
            if !f.tagged(generation) {
                return false;
            }
            let Some(next) = f.pinned() else {
                return false;
            };
            match self.hot.flight.compare_exchange(cur, next) {
                Ok(()) => return true,
                Err(v) => cur = v,
            }
        }
        false
    }

    /// Gives back a pin taken by [`Slot::pin`].
    pub(crate) fn unpin(&self) {
        self.hot.flight.unpin();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    #[test]
    fn a_slot_is_two_lines_on_64_bit_targets_and_packed_elsewhere() {
        let hot = offset_of!(Slot, hot);
        let cold = [
            offset_of!(Slot, config),
            offset_of!(Slot, generation),
            offset_of!(Slot, cap),
            offset_of!(Slot, warm_from_ms),
            offset_of!(Slot, ejected_until_ms),
            offset_of!(Slot, ejections),
            offset_of!(Slot, returned_at_ms),
            offset_of!(Slot, share),
            offset_of!(Slot, place),
        ];
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        const {
            assert!(PADDED)
        };
        #[cfg(target_pointer_width = "32")]
        const {
            assert!(!PADDED)
        };
        // the in-flight word and the abandoned total share a u64 exactly where the hot half
        // has a line of its own (`flight.rs` repeats `Line`'s target list)
        assert_eq!(size_of::<InFlight>(), 8);
        assert_eq!(align_of::<InFlight>(), if PADDED { 8 } else { 4 });
        if PADDED {
            assert_eq!(size_of::<Slot>(), 128);
            assert_eq!(size_of::<Line<Hot>>(), 64);
            assert_eq!(hot % 64, 0);
            // every word a pick reads is in the other 64 bytes
            for c in cold {
                assert_eq!(c / 64, 1 - hot / 64, "cold word at {c}, hot half at {hot}");
            }
        } else {
            assert_eq!(size_of::<Slot>(), 72);
        }
    }
}
