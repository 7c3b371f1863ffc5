//! Deterministic subsetting (Google SRE book, chapter 20, "Load Balancing in the
//! Datacenter"), generalised so that every subset size balances.

use super::select::with_ranks;
use super::{FULL_SHARE, Subset, SubsetError, check};
use crate::rng::mix64;

/// Greatest common divisor (both non-zero).
const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// This proxy's subset by deterministic subsetting: `min(subset_size, B)` backends, each
/// with [`FULL_SHARE`].
///
/// # Algorithm
///
/// The SRE book groups clients into rounds of `B / k` clients; each round shuffles the
/// backend list with the round number as seed, and client `i` takes slice `i % (B / k)` of
/// its round's shuffle. When `k` does not divide `B`, the book's rounds leave `B mod k`
/// backends out each, and connection counts drift apart. Here a round is
/// `B / gcd(B, k)` clients, and they take consecutive windows of `k` backends in the round's
/// shuffled list read **cyclically**, `k / gcd(B, k)` times round: client `j` of a round
/// takes positions `j·k mod B .. j·k mod B + k` (mod `B`). When `k` divides `B` this is the
/// book's algorithm exactly; otherwise every round still covers every backend equally often.
/// The shuffle of round `r` orders the backends by `mix64(mix64(seed + (r + 1)·φ) ⊕ id)`
/// (φ = 2^64 / golden ratio; SplitMix64's mixer, a bijection, so no two ids tie), which a
/// buffer-free order-statistics search evaluates (about `128 · B` hashes per call).
///
/// # Guarantees
///
/// * **Balance**: over proxies `0..P`, every backend has `⌊P·k/B⌋` or `⌈P·k/B⌉`
///   connections, exactly `P·k/B` when `B` divides `P·k`.
/// * **The fleet size is not an input**: proxy `i`'s subset does not depend on `P`, so
///   adding proxies (or restarting any) moves no other proxy's connections. `proxies` is
///   checked only (`proxy < proxies`).
/// * A backend added or removed changes the shuffles, so many subsets change: the SRE
///   book's caveat. Random subsetting moves far fewer connections there.
///
/// # Errors
///
/// [`SubsetError::ZeroSubsetSize`], [`SubsetError::EmptyFleet`],
/// [`SubsetError::ProxyOutOfRange`], [`SubsetError::Unsorted`],
/// [`SubsetError::TooManyBackends`]; [`SubsetError::CapacityTooSmall`] if `K` is below
/// `min(subset_size, B)`. No backends give an empty subset.
///
/// ```
/// use tinylb::subset::{Subset, deterministic};
/// let backends: [u32; 6] = [0, 1, 2, 3, 4, 5];
/// // 3 proxies × 2 backends each over 6 backends: every backend exactly once
/// let mut seen = [0; 6];
/// for proxy in 0..3 {
///     let s: Subset<2> = deterministic(proxy, 3, &backends, 2, 7).unwrap();
///     for b in s.backends() {
///         seen[b as usize] += 1;
///     }
/// }
/// assert_eq!(seen, [1; 6]);
/// ```
pub fn deterministic<const K: usize>(
    proxy: u32,
    proxies: u32,
    backends: &[u32],
    subset_size: u32,
    seed: u64,
) -> Result<Subset<K>, SubsetError> {
    let n = check(proxy, proxies, backends, subset_size)?;
    let mut out = Subset::new();
    if n == 0 {
        return Ok(out);
    }
    let k = subset_size.min(n);
    if k as u64 > K as u64 {
        return Err(SubsetError::CapacityTooSmall);
    }
    let round_len = n / gcd(n, k);
    let round = proxy / round_len;
    let j = proxy % round_len;
    let round_seed =
        mix64(seed.wrapping_add((round as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let key = move |id: u32| mix64(round_seed ^ id as u64);
    // window start: j·k mod n, in u64 (j < n, k <= n)
    let start = ((j as u64 * k as u64) % n as u64) as u32;
    let end = start as u64 + k as u64;
    let mut add = |b: u32| out.push(b, FULL_SHARE);
    if end <= n as u64 {
        with_ranks(backends, &key, start, end as u32, &mut add)?;
    } else {
        with_ranks(backends, &key, start, n, &mut add)?;
        with_ranks(backends, &key, 0, (end - n as u64) as u32, &mut add)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcd_small() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(7, 3), 1);
        assert_eq!(gcd(5, 5), 5);
    }

    #[test]
    #[cfg_attr(miri, ignore = "arithmetic: nothing for miri to find")]
    fn takes_exactly_k() {
        let ids: [u32; 7] = [1, 2, 3, 5, 8, 13, 21];
        for proxy in 0..20 {
            let s: Subset<3> = deterministic(proxy, 20, &ids, 3, 1).unwrap();
            assert_eq!(s.len(), 3);
        }
        let s: Subset<7> = deterministic(0, 1, &ids, 10, 1).unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(
            deterministic::<2>(0, 1, &ids, 3, 1),
            Err(SubsetError::CapacityTooSmall)
        );
    }
}
