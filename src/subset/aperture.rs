//! Deterministic aperture (Finagle), with overlap weights, in exact integer arithmetic.

use super::{FULL_SHARE, Subset, SubsetError, check};

/// Finagle's minimum deterministic aperture (`MinDeterministicAperture`, 12): a good
/// `subset_size` for [`aperture`], large enough for P2C to respect partial weights and for
/// an aperture to keep some healthy backend.
pub const MIN_APERTURE: u32 = 12;

/// This proxy's subset by deterministic aperture: the backends its window of the ring
/// overlaps, each with its overlap as a Q16 share.
///
/// # Algorithm
///
/// After Finagle's `DeterministicAperture.scala`, `Ring.scala` and `ProcessCoordinate.scala`
/// (`finagle-core/src/main/scala/com/twitter/finagle/loadbalancer/aperture/`, and Twitter's
/// write-up "Deterministic Aperture: a distributed, load balancing algorithm"). Proxies and
/// backends sit on two rings over `[0, 1)`: proxy `i` at `i/P`, backend at list position `j`
/// on `[j/B, (j+1)/B)`. With `k = min(subset_size, B)`, each proxy's window starts at its
/// coordinate and is `N/P` wide, `N = ⌈k·P/B⌉` (at most `P`): the smallest whole number of
/// proxy widths that covers `k` backend widths, so the windows of all proxies cover every
/// point of the backend ring exactly `N` times. A backend's share is the length of its
/// overlap with the window over its own width, in Q16 (rounded; never 0 for an overlap).
///
/// Where this differs from Finagle:
///
/// * Exact integers: the ring has `P·B` units (a backend `P` units, the window `N·B`), so
///   overlaps are exact and there is no epsilon; only the final Q16 share rounds.
/// * The subset size is the caller's (Finagle fixes its logical aperture at
///   `min(12, B)`, [`MIN_APERTURE`] here).
/// * Finagle's P2C draws a point of the window at random and takes the backend there; here
///   the shares become weights in the pool ([`Subset::share_of`]), so every strategy picks
///   within the window in proportion to the overlap, not only P2C.
/// * Finagle's `peerOffset` rotation of the proxy ring is `seed`'s top 32 bits as a
///   fraction of the ring (Finagle divides a 31-bit value by `Int.MaxValue`).
///
/// # Guarantees (the published bound, made exact)
///
/// * **Load**: summed over proxies `0..P`, every backend's overlap is exactly `N` full
///   shares (the windows tile the ring `N` times); with Q16 rounding each proxy's share is
///   off by at most one part in 65 536. With equal per-proxy load spread by the shares,
///   every backend gets the same load.
/// * **Connections**: every backend is in the window of `⌈N + P/B⌉ − 1` or `⌈N + P/B⌉`
///   proxies (at most `P`): within one of each other.
/// * **Size**: at most `k + ⌈B/P⌉ + 1` members, and at most `B`.
/// * Adding a proxy or a backend changes the unit widths, so every window shifts a little;
///   each proxy's subset changes by a few members at its window's ends.
///
/// # Errors
///
/// [`SubsetError::ZeroSubsetSize`], [`SubsetError::EmptyFleet`],
/// [`SubsetError::ProxyOutOfRange`], [`SubsetError::Unsorted`],
/// [`SubsetError::TooManyBackends`]; [`SubsetError::CapacityTooSmall`] if the window has
/// more members than `K`. No backends give an empty subset.
///
/// ```
/// use tinylb::subset::{FULL_SHARE, Subset, aperture};
/// let backends: [u32; 6] = [10, 11, 12, 13, 14, 15];
/// // 4 proxies, aperture 3: N = ⌈3·4/6⌉ = 2, a window of 2/4 of the ring = 3 backends
/// let s: Subset<5> = aperture(1, 4, &backends, 3, 0).unwrap();
/// // proxy 1's window is [1/4, 3/4): half of backend 11, all of 12 and 13, half of 14
/// let shares: Vec<(u32, u32)> = s.members().iter().map(|m| (m.backend, m.share_q16)).collect();
/// assert_eq!(shares, [(11, FULL_SHARE / 2), (12, FULL_SHARE), (13, FULL_SHARE), (14, FULL_SHARE / 2)]);
/// ```
pub fn aperture<const K: usize>(
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
    let (p, b) = (proxies as u128, n as u128);
    let k = subset_size.min(n) as u128;
    let turns = (k * p).div_ceil(b).clamp(1, p);
    if turns == p {
        // the window is the whole ring
        for &id in backends {
            out.push(id, FULL_SHARE)?;
        }
        return Ok(out);
    }
    let ring = p * b;
    let offset = (((seed >> 32) as u128) * ring) >> 32;
    let start = (proxy as u128 * b + offset) % ring;
    let end = start + turns * b; // < 2·ring; the window is shorter than the ring
    let first = start / p;
    let last = (end - 1) / p;
    let overlap = |t: u128| {
        let lo = start.max(t * p);
        let hi = end.min((t + 1) * p);
        hi.saturating_sub(lo)
    };
    let mut t = first;
    while t <= last && t < first + b {
        let mut ov = overlap(t);
        if t == first && first + b <= last {
            // the window wraps onto its first backend again
            ov += overlap(first + b);
        }
        let share = ((ov * FULL_SHARE as u128 + p / 2) / p).clamp(1, FULL_SHARE as u128) as u32;
        let idx = (t % b) as usize;
        if let Some(&id) = backends.get(idx) {
            out.push(id, share)?;
        }
        t += 1;
    }
    Ok(out)
}
