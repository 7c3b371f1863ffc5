//! The spread path's figures, kept between picks: the priority load, which levels hold
//! backends, and level 0's healthy locality split, computed by one pick's scan and reused
//! by the picks after it until the pool changes.
//!
//! Every change the figures depend on (membership, health, weight, level, locality, an
//! ejection or its end, the locality weights and the fleet) moves the pool's epoch on; the
//! figures carry the epoch they were computed at, and a pick uses them only while the epoch
//! is still that one and no ejection they count has reached its end on the pick's clock
//! (ejections end lazily: the first pick whose clock reaches the end recomputes, and its
//! scan ends them).
//!
//! The protocol is a seqlock with one writer at a time: a writer takes the tag from any
//! settled value to `BUSY` with a compare-and-swap (a pick that loses it just uses its own
//! figures), stores the words with `Release`, then the tag of its epoch with `Release`. A
//! reader loads the tag, the words (`Acquire`, so the re-check below cannot move before
//! them, and a word from a newer write makes that write's `BUSY` visible), then the tag
//! again: the figures are used only if both tags are the epoch's. Figures computed while
//! the pool changed carry the epoch from before the change, which has moved on: the next
//! pick recomputes. `tests/loom.rs` explores it.

use crate::clock::reached;
use crate::levels::{MAX_LEVELS, MAX_LOCALITIES, PriorityLoad};
use crate::sync::{AtomicU32, Ordering};

/// A writer holds the figures.
const BUSY: u32 = 1;
/// Marks a settled tag (so that no epoch's tag is 0 or [`BUSY`]).
const SETTLED: u32 = 1 << 31;

/// What a spread pick needs besides its draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures {
    pub(crate) load: PriorityLoad,
    /// Levels that hold a backend (bit `l`).
    pub(crate) present: u8,
    /// Levels that hold an available degraded backend (bit `l`).
    pub(crate) degraded: u8,
    /// The earliest end of an ejection the figures count, if any (tick).
    pub(crate) recheck_ms: Option<u32>,
    /// Level 0's healthy locality split, if locality routing applies there.
    pub(crate) split0: Option<[u32; MAX_LOCALITIES]>,
}

const WORDS: usize = 6 + MAX_LOCALITIES;

/// The kept figures (see the module docs).
#[derive(Debug)]
pub(crate) struct Cache {
    tag: AtomicU32,
    words: [AtomicU32; WORDS],
}

fn tag_of(epoch: u32) -> u32 {
    epoch | SETTLED
}

fn bytes(b: &[u8; MAX_LEVELS], half: usize) -> u32 {
    let mut w = 0u32;
    for (i, &v) in b.iter().skip(4 * half).take(4).enumerate() {
        w |= (v as u32) << (8 * i);
    }
    w
}

impl Cache {
    pub(crate) const fn new() -> Self {
        Cache {
            tag: AtomicU32::new(0),
            words: [const { AtomicU32::new(0) }; WORDS],
        }
    }

    /// loom builds only: creates every atomic now.
    #[cfg(loom)]
    pub(crate) fn touch(&self) {
        self.tag.touch();
        for w in &self.words {
            w.touch();
        }
    }

    /// The figures of `epoch`, if kept and still good at tick `now`.
    pub(crate) fn get(&self, epoch: u32, now: u32) -> Option<Figures> {
        let tag = tag_of(epoch);
        if self.tag.load(Ordering::Acquire) != tag {
            return None;
        }
        let w: [u32; WORDS] =
            core::array::from_fn(|i| self.words.get(i).map_or(0, |a| a.load(Ordering::Acquire)));
        if self.tag.load(Ordering::Acquire) != tag {
            return None;
        }
        let [h0, h1, d0, d1, meta, recheck, ..] = w;
        let mut load = PriorityLoad {
            healthy: [0; MAX_LEVELS],
            degraded: [0; MAX_LEVELS],
            panic: [false; MAX_LEVELS],
            levels: (meta >> 24 & 0xf) as u8,
        };
        for (i, ((h, d), p)) in load
            .healthy
            .iter_mut()
            .zip(&mut load.degraded)
            .zip(&mut load.panic)
            .enumerate()
        {
            let (hw, dw) = if i < 4 { (h0, d0) } else { (h1, d1) };
            *h = (hw >> (8 * (i % 4))) as u8;
            *d = (dw >> (8 * (i % 4))) as u8;
            *p = meta & (1 << i) != 0;
        }
        let recheck_ms = (meta & 1 << 28 != 0).then_some(recheck);
        if recheck_ms.is_some_and(|r| reached(now, r)) {
            return None;
        }
        let mut split = [0u32; MAX_LOCALITIES];
        for (s, v) in split.iter_mut().zip(w.iter().skip(6)) {
            *s = *v;
        }
        Some(Figures {
            load,
            present: (meta >> 8) as u8,
            degraded: (meta >> 16) as u8,
            recheck_ms,
            split0: (meta & 1 << 29 != 0).then_some(split),
        })
    }

    /// Keeps `f` as the figures of `epoch`, unless another pick is writing them.
    pub(crate) fn put(&self, epoch: u32, f: &Figures) {
        let cur = self.tag.load(Ordering::Relaxed);
        if cur == BUSY
            || self
                .tag
                .compare_exchange(cur, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let panic = f
            .load
            .panic
            .iter()
            .enumerate()
            .fold(0u32, |m, (i, &p)| m | (p as u32) << i);
        let meta = panic
            | (f.present as u32) << 8
            | (f.degraded as u32) << 16
            | (f.load.levels as u32 & 0xf) << 24
            | (f.recheck_ms.is_some() as u32) << 28
            | (f.split0.is_some() as u32) << 29;
        let head = [
            bytes(&f.load.healthy, 0),
            bytes(&f.load.healthy, 1),
            bytes(&f.load.degraded, 0),
            bytes(&f.load.degraded, 1),
            meta,
            f.recheck_ms.unwrap_or(0),
        ];
        let split = f.split0.unwrap_or([0; MAX_LOCALITIES]);
        for (a, v) in self.words.iter().zip(head.iter().chain(&split)) {
            a.store(*v, Ordering::Release);
        }
        self.tag.store(tag_of(epoch), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_round_trip() {
        let c = Cache::new();
        let mut load = PriorityLoad {
            healthy: [10, 20, 0, 0, 0, 0, 0, 5],
            degraded: [30, 0, 35, 0, 0, 0, 0, 0],
            panic: [false; MAX_LEVELS],
            levels: 8,
        };
        load.panic[2] = true;
        let f = Figures {
            load,
            present: 0b1000_0111,
            degraded: 0b101,
            recheck_ms: Some(5_000),
            split0: Some([1, 2, 3, 0, 0, 0, 0, 9]),
        };
        assert_eq!(c.get(7, 0), None, "nothing kept yet");
        c.put(7, &f);
        assert_eq!(c.get(7, 4_999), Some(f));
        assert_eq!(c.get(8, 4_999), None, "another epoch");
        assert_eq!(c.get(7, 5_000), None, "an ejection it counts has ended");
        let g = Figures {
            recheck_ms: None,
            split0: None,
            ..f
        };
        c.put(u32::MAX, &g);
        assert_eq!(c.get(u32::MAX, 1 << 30), Some(g));
    }
}
