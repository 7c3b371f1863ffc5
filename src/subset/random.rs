//! Random subsetting (gRPC proposal A68, `random_subsetting`), on the crate's rendezvous
//! hash.

use super::select::with_ranks;
use super::{FULL_SHARE, Subset, SubsetError, check_backends};
use crate::rng::mix64;
use crate::strategy::score::slot_hash;

/// A68's default `subset_size`.
pub const DEFAULT_SUBSET_SIZE: u32 = 20;

/// The rendezvous score of backend `id` for this proxy: the unweighted score
/// [`Rendezvous`](crate::Rendezvous) gives slot `id` for the key `seed`
/// (the same per-(key, slot) hash), so the subset's best member is where `Rendezvous`
/// sends the key `seed` over equal weights.
#[inline]
fn score(mixed_seed: u64, id: u32) -> u64 {
    slot_hash(mixed_seed, id)
}

/// This proxy's subset by random subsetting: the `min(subset_size, B)` backends with the
/// highest rendezvous scores for this proxy's `seed`, each with [`FULL_SHARE`].
///
/// # Algorithm
///
/// gRPC A68 hashes each endpoint's address with the client's random seed (XXH64), sorts the
/// endpoints by hash and keeps the first `subset_size`. Here the hash is the crate's
/// rendezvous score of (seed, backend id) (SplitMix64's mixer over a salted id, a bijection
/// of the id for a given seed, so no two backends tie), and a buffer-free order-statistics
/// search finds the top `k` (about `64 · B` hashes per call). A68 draws the seed at random
/// when the client starts; a proxy that keeps its seed across restarts (for example one
/// derived from a stable proxy name) keeps its subset.
///
/// # Guarantees
///
/// * Each backend's fate depends only on its own score: **removing** a backend that is not
///   a member changes nothing; removing a member replaces it by exactly one backend (the
///   next score). **Adding** a backend changes the subset only if the new one scores into
///   the top `k`, and then it replaces exactly one member. Other proxies are never involved.
/// * Balance is statistical: each backend's connection count is binomial with mean
///   `P·k/B`; the SRE book reports 63 %–121 % of the mean in its example.
///
/// # Errors
///
/// [`SubsetError::ZeroSubsetSize`], [`SubsetError::Unsorted`],
/// [`SubsetError::TooManyBackends`]; [`SubsetError::CapacityTooSmall`] if `K` is below
/// `min(subset_size, B)`. No backends give an empty subset.
///
/// ```
/// use tinylb::subset::{Subset, random};
/// let backends: [u32; 50] = core::array::from_fn(|i| i as u32);
/// let a: Subset<5> = random(&backends, 5, 0xfeed).unwrap();
/// // removing a backend outside the subset changes nothing
/// let outside = (0..50).find(|b| !a.contains(*b)).unwrap();
/// let fewer: [u32; 49] = core::array::from_fn(|i| i as u32 + u32::from(i as u32 >= outside));
/// assert_eq!(random::<5>(&fewer, 5, 0xfeed).unwrap(), a);
/// ```
pub fn random<const K: usize>(
    backends: &[u32],
    subset_size: u32,
    seed: u64,
) -> Result<Subset<K>, SubsetError> {
    if subset_size == 0 {
        return Err(SubsetError::ZeroSubsetSize);
    }
    let n = check_backends(backends)?;
    let k = subset_size.min(n);
    if k as u64 > K as u64 {
        return Err(SubsetError::CapacityTooSmall);
    }
    let mut out = Subset::new();
    let mixed = mix64(seed);
    // highest score first: rank by the complement
    let key = move |id: u32| !score(mixed, id);
    with_ranks(backends, &key, 0, k, |b| out.push(b, FULL_SHARE))?;
    Ok(out)
}
