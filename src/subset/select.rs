//! Order statistics over hashed backend ids without a buffer: the `m`-th smallest key by a
//! binary search over the 64-bit key space, `64 · B` key computations.

/// The `m`-th smallest (from 0) of `key(id)` over `backends`, or `None` when `m` is not below
/// the number of backends. The keys must be distinct (each scheme's key is a bijection of
/// the id), so the ranks are a permutation.
pub(super) fn nth_key(backends: &[u32], key: &impl Fn(u32) -> u64, m: u32) -> Option<u64> {
    if m as u64 >= backends.len() as u64 {
        return None;
    }
    // smallest v with #{k <= v} > m: that v is the m-th key itself
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at_most = backends.iter().filter(|&&b| key(b) <= mid).count() as u64;
        if at_most > m as u64 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// The ids whose key's rank is in `from..to` (`to` at most the number of backends), in
/// ascending order of id, passed to `f`.
pub(super) fn with_ranks<E>(
    backends: &[u32],
    key: &impl Fn(u32) -> u64,
    from: u32,
    to: u32,
    mut f: impl FnMut(u32) -> Result<(), E>,
) -> Result<(), E> {
    if from >= to {
        return Ok(());
    }
    let Some(lo) = nth_key(backends, key, from) else {
        return Ok(());
    };
    let hi = nth_key(backends, key, to);
    for &b in backends {
        let k = key(b);
        if k >= lo && hi.is_none_or(|h| k < h) {
            f(b)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::mix64;
    use std::vec::Vec;

    #[test]
    #[cfg_attr(miri, ignore = "arithmetic: nothing for miri to find")]
    fn nth_matches_sorting() {
        let ids: Vec<u32> = (0..50).map(|i| i * 3 + 1).collect();
        let key = |b: u32| mix64(b as u64 ^ 77);
        let mut keys: Vec<u64> = ids.iter().map(|&b| key(b)).collect();
        keys.sort_unstable();
        for (m, &k) in keys.iter().enumerate() {
            assert_eq!(nth_key(&ids, &key, m as u32), Some(k));
        }
        assert_eq!(nth_key(&ids, &key, 50), None);
        let mut got = Vec::new();
        with_ranks(&ids, &key, 10, 20, |b| {
            got.push(b);
            Ok::<(), ()>(())
        })
        .unwrap();
        let want: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&b| key(b) >= keys[10] && key(b) < keys[20])
            .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 10);
    }
}
