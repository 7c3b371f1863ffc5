//! The re-hash probe sequence that [`Maglev`](crate::Maglev) and [`Jump`](crate::Jump) walk
//! when a key's home backend is not a candidate: up to [`FALLBACK_PROBES`] fresh positions
//! derived from the mixed key and the probe number, each tried in turn, before the O(n)
//! rendezvous pass. Deterministic in the key alone, so a key's fallback never moves while
//! its home stays out, and it returns home when the home is back.

use crate::pool::Candidate;
use crate::rng::mix64;

/// Re-hashes tried before the rendezvous pass.
pub(crate) const FALLBACK_PROBES: u64 = 8;

/// The first candidate `probe` finds at the re-hashes `mix64(h ⊕ a·φ)`, `a = 1..=8` (`h` is
/// the mixed key, `φ` the golden-ratio constant).
#[inline]
pub(crate) fn rehashed(
    h: u64,
    mut probe: impl FnMut(u64) -> Option<Candidate>,
) -> Option<Candidate> {
    for a in 1..=FALLBACK_PROBES {
        if let Some(c) = probe(mix64(h ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15))) {
            return Some(c);
        }
    }
    None
}
