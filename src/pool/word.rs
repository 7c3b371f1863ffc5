//! The bit layout of a slot's two packed words, as newtypes.
//!
//! **Config word** (what a pick reads first, one load):
//!
//! ```text
//!  31      28  27     26     25      24      23   21 20                  0
//! [generation|shared|levelled|warming|ejected| state |        weight        ]
//!  low 4 bits
//! ```
//!
//! `levelled` is set while the backend's priority level is above 0 (the level and the
//! locality are in the slot's `place` word, read only when this flag is set or a pick is
//! narrowed to one locality), so a pool with one level and one locality reads one word.
//!
//! **In-flight word** (what a lease writes):
//!
//! ```text
//!  31        24 23    21 20                0
//! [ occupant tag | pins |   leases out      ]
//!  low 8 bits of the generation
//! ```
//!
//! The tag lets a lease take a unit only on the occupant it picked, and lets `add` claim a
//! removed slot only while no unit and no pin is out, each with one compare-and-swap on one
//! word. A *pin* is held by a configuration call (`set_*`) for as long as it writes the
//! slot, so that the slot cannot be reused under it: the call then applies to the backend
//! whose id it was given, or to nothing.

/// Largest weight a backend can have: `2^21 - 1`.
///
/// Weights are relative, so this is room to spare: HAProxy allows 256, Envoy 128 by default.
pub const MAX_WEIGHT: u32 = (1 << 21) - 1;

/// Largest total weight of all backends in a pool: `2^31 - 1`.
///
/// Keeping the sum below 2^31 lets every strategy compare weighted ratios in 64-bit integers
/// without overflow.
pub const MAX_TOTAL_WEIGHT: u32 = (1 << 31) - 1;

/// Most leases one backend can have out at once: `2^21 - 1`. A cap at or above this is the
/// same as no cap.
pub const MAX_IN_FLIGHT: u32 = (1 << 21) - 1;

const WEIGHT_MASK: u32 = MAX_WEIGHT;
const STATE_SHIFT: u32 = 21;
pub(crate) const STATE_MASK: u32 = 0b111 << STATE_SHIFT;
pub(crate) const EJECTED: u32 = 1 << 24;
pub(crate) const WARMING: u32 = 1 << 25;
/// The backend's priority level is above 0 (the backup tier is level 1).
pub(crate) const BACKUP: u32 = 1 << 26;
/// The backend has a share below full ([`Pool::set_share`](crate::Pool::set_share)).
pub(crate) const SHARED: u32 = 1 << 27;
const GEN_SHIFT: u32 = 28;
const GEN_BITS: u32 = 0xf;

/// Slot states (the config word's `state` field).
pub(crate) const S_EMPTY: u32 = 0;
pub(crate) const S_UP: u32 = 1;
pub(crate) const S_DRAINING: u32 = 2;
pub(crate) const S_DOWN: u32 = 3;
pub(crate) const S_REMOVED: u32 = 4;
pub(crate) const S_RESERVED: u32 = 5;
pub(crate) const S_DEGRADED: u32 = 6;

/// A slot's config word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Word(pub(crate) u32);

impl Word {
    /// A word with no flags.
    #[inline]
    pub(crate) const fn new(generation: u32, state: u32, weight: u32) -> Self {
        Word(
            ((generation & GEN_BITS) << GEN_SHIFT)
                | (state << STATE_SHIFT)
                | (weight & WEIGHT_MASK),
        )
    }
    #[inline]
    pub(crate) const fn state(self) -> u32 {
        (self.0 & STATE_MASK) >> STATE_SHIFT
    }
    #[inline]
    pub(crate) const fn weight(self) -> u32 {
        self.0 & WEIGHT_MASK
    }
    #[inline]
    pub(crate) const fn with_weight(self, weight: u32) -> Self {
        Word((self.0 & !WEIGHT_MASK) | (weight & WEIGHT_MASK))
    }
    #[inline]
    pub(crate) const fn with_state(self, state: u32) -> Self {
        Word((self.0 & !STATE_MASK) | (state << STATE_SHIFT))
    }
    /// The same word with `flag` (one of [`EJECTED`], [`WARMING`], [`BACKUP`]) set or cleared.
    #[inline]
    pub(crate) const fn with(self, flag: u32, on: bool) -> Self {
        Word(if on { self.0 | flag } else { self.0 & !flag })
    }
    #[inline]
    pub(crate) const fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
    /// Holds a backend (up, degraded, down or draining), not empty, removed or being
    /// claimed.
    #[inline]
    pub(crate) const fn occupied(self) -> bool {
        matches!(self.state(), S_UP | S_DOWN | S_DRAINING | S_DEGRADED)
    }
    /// Up or degraded and not ejected: what a level's health counts (Envoy's healthy and
    /// degraded hosts).
    #[inline]
    pub(crate) const fn available(self) -> bool {
        matches!(self.state(), S_UP | S_DEGRADED) && !self.has(EJECTED)
    }
    /// Counts toward the pool's `spread` word: at a level above 0, or degraded. While no
    /// backend does, every pick takes the single-level path.
    #[inline]
    pub(crate) const fn spreads(self) -> bool {
        self.occupied() && (self.has(BACKUP) || self.state() == S_DEGRADED)
    }
    /// Written by the occupant of `generation` (its low bits match).
    #[inline]
    pub(crate) const fn of_generation(self, generation: u32) -> bool {
        (self.0 >> GEN_SHIFT) == (generation & GEN_BITS)
    }
    /// The low four bits of the occupant's generation.
    #[inline]
    pub(crate) const fn generation_bits(self) -> u32 {
        self.0 >> GEN_SHIFT
    }
    /// The same generation bits in a word of another state and weight, no flags.
    #[inline]
    pub(crate) const fn same_generation(self, state: u32, weight: u32) -> Self {
        Word((self.0 & (GEN_BITS << GEN_SHIFT)) | (state << STATE_SHIFT) | (weight & WEIGHT_MASK))
    }
    /// The bits a pick's fast path compares: state, tier and the slow-path flags.
    #[inline]
    pub(crate) const fn pick_bits(self) -> u32 {
        self.0 & (STATE_MASK | BACKUP | EJECTED | WARMING | SHARED)
    }
    /// What [`Word::pick_bits`] is for a backend in `state` of the tier, no flags.
    #[inline]
    pub(crate) const fn want(state: u32, backup: bool) -> u32 {
        (state << STATE_SHIFT) | if backup { BACKUP } else { 0 }
    }
    /// State and tier only.
    #[inline]
    pub(crate) const fn tier_bits(self) -> u32 {
        self.0 & (STATE_MASK | BACKUP)
    }
}

const COUNT_BITS: u32 = 21;
pub(crate) const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;
const PIN_ONE: u32 = 1 << COUNT_BITS;
const PIN_MASK: u32 = 0b111 << COUNT_BITS;
const TAG_SHIFT: u32 = 24;
const TAG_MASK: u32 = 0xff << TAG_SHIFT;

/// A slot's in-flight word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flight(pub(crate) u32);

impl Flight {
    /// An idle word of the occupant of `generation`.
    #[inline]
    pub(crate) const fn idle(generation: u32) -> Self {
        Flight((generation & 0xff) << TAG_SHIFT)
    }
    /// Leases out.
    #[inline]
    pub(crate) const fn count(self) -> u32 {
        self.0 & COUNT_MASK
    }
    /// The word belongs to the occupant of `generation`.
    #[inline]
    pub(crate) const fn tagged(self, generation: u32) -> bool {
        self.0 & TAG_MASK == Flight::idle(generation).0
    }
    /// No lease and no pin out: the slot may be claimed by `add`.
    #[inline]
    pub(crate) const fn free(self) -> bool {
        self.0 & (COUNT_MASK | PIN_MASK) == 0
    }
    /// One more pin, or `None` when every pin is taken.
    #[inline]
    pub(crate) const fn pinned(self) -> Option<Self> {
        if self.0 & PIN_MASK == PIN_MASK {
            None
        } else {
            Some(Flight(self.0 + PIN_ONE))
        }
    }
    /// What [`Flight::pinned`] adds.
    pub(crate) const PIN: u32 = PIN_ONE;
}

/// The cap as stored: `cap - 1`, so that "room" is `in_flight <= stored` and no cap is
/// `u32::MAX`.
#[inline]
pub(crate) const fn cap_word(cap: Option<core::num::NonZeroU32>) -> u32 {
    match cap {
        Some(c) if c.get() < MAX_IN_FLIGHT => c.get() - 1,
        _ => NO_CAP,
    }
}

/// A full share: the backend's whole weight counts.
pub const FULL_SHARE: u32 = 1 << 16;

/// `weight` scaled by `share` (Q16, at most [`FULL_SHARE`]): `None` at share 0, else at
/// least 1.
#[inline]
pub(crate) const fn shared_weight(weight: u32, share: u32) -> Option<u32> {
    if share == 0 || weight == 0 {
        return None;
    }
    let w = ((weight as u64 * share as u64) >> 16) as u32;
    Some(if w == 0 { 1 } else { w })
}

/// A slot's `place` word: its priority level (bits 0..8) and locality (bits 8..16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Place(pub(crate) u32);

impl Place {
    #[inline]
    pub(crate) const fn new(level: u8, zone: u8) -> Self {
        Place(level as u32 | (zone as u32) << 8)
    }
    #[inline]
    pub(crate) const fn level(self) -> u8 {
        self.0 as u8
    }
    #[inline]
    pub(crate) const fn zone(self) -> u8 {
        (self.0 >> 8) as u8
    }
}

/// The stored value for "no cap".
pub(crate) const NO_CAP: u32 = u32::MAX;

/// The cap a stored value means.
#[inline]
pub(crate) const fn cap_of(word: u32) -> Option<core::num::NonZeroU32> {
    if word == NO_CAP {
        None
    } else {
        core::num::NonZeroU32::new(word + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::num::NonZeroU32;

    #[test]
    fn config_word_fields() {
        let w = Word::new(33, S_UP, MAX_WEIGHT)
            .with(BACKUP, true)
            .with(EJECTED, true);
        assert_eq!(w.state(), S_UP);
        assert_eq!(w.weight(), MAX_WEIGHT);
        assert!(w.has(BACKUP) && w.has(EJECTED) && !w.has(WARMING));
        assert!(w.of_generation(1) && w.of_generation(33) && !w.of_generation(2));
        assert_eq!(w.with_weight(5).weight(), 5);
        assert_eq!(w.with_state(S_DOWN).state(), S_DOWN);
        assert!(w.occupied() && !w.with_state(S_REMOVED).occupied());
        assert_eq!(w.same_generation(S_REMOVED, 0), Word::new(1, S_REMOVED, 0));
        assert_eq!(w.tier_bits(), Word::want(S_UP, true));
        assert!(w.spreads() && !w.available() && w.with(EJECTED, false).available());
        assert!(Word::new(1, S_DEGRADED, 1).occupied() && Word::new(1, S_DEGRADED, 1).spreads());
    }

    #[test]
    fn flight_word_fields() {
        let f = Flight::idle(0x1ff);
        assert!(f.tagged(0xff) && !f.tagged(0xfe) && f.free());
        let p = f.pinned().unwrap();
        assert!(!p.free() && p.tagged(0xff) && p.count() == 0);
        let mut q = p;
        for _ in 0..6 {
            q = q.pinned().unwrap();
        }
        assert_eq!(q.pinned(), None, "seven pins at most");
        assert_eq!(Flight(f.0 + 3).count(), 3);
    }

    #[test]
    fn caps_round_trip() {
        for c in [1, 2, 1000, MAX_IN_FLIGHT - 1] {
            let c = NonZeroU32::new(c);
            assert_eq!(cap_of(cap_word(c)), c);
        }
        assert_eq!(cap_of(cap_word(None)), None);
        assert_eq!(cap_of(cap_word(NonZeroU32::new(MAX_IN_FLIGHT))), None);
        assert_eq!(cap_of(cap_word(Some(NonZeroU32::MAX))), None);
    }
}
