//! Jump consistent hash (Lamping & Veach, 2014) over the pool's slots.

use crate::hash;
use crate::pool::{BackendId, Candidate, Pool, View};
use crate::rng::mix64;
use crate::select::{Request, Select};
use crate::strategy::probe::rehashed;
use crate::strategy::score::{key_of, warm_accept, winner};

seeded_strategy! {
    /// Jump consistent hash: the key's bucket among the slots in use, with zero memory.
    ///
    /// The buckets are the pool's slots `0..n`, `n` being the number of slots that have ever
    /// held a backend (the pool fills the lowest free slot, so `n` grows by one as backends are
    /// added). The key goes to bucket [`hash::jump`]`(key, n)`: Lamping & Veach's algorithm,
    /// computed in integers only (the reference uses `double`; see [`hash::jump`]), O(ln n)
    /// steps, no table. The key is used as given (no extra mixing), so the bucket is exactly the
    /// reference algorithm's for that key and `n`: use the same 64-bit key as another jump-hash
    /// implementation and you get the same shard. Hash byte keys with
    /// [`hash::hash_bytes`](crate::hash::hash_bytes).
    ///
    /// * **Growth**: adding a backend in slot `n` moves exactly the keys it now wins, about
    ///   `1/(n + 1)` of them, and no key between the old backends.
    /// * **Weights are ignored**: every bucket is equally likely (weight 0 still makes a
    ///   backend ineligible). Use [`Rendezvous`](crate::Rendezvous) or
    ///   [`Maglev`](crate::Maglev) for weights.
    /// * **Ineligible bucket** (down, draining, at its cap, excluded by a retry
    ///   ([`Request::excluding`](crate::Request::excluding)), or removed: a slot in the middle
    ///   cannot be dropped from jump's range): the key is re-hashed with the probe number up to
    ///   8 times, each a fresh jump over the same `n`, then goes to the eligible backend that
    ///   wins unweighted rendezvous hashing for the key (O(n)). Deterministic, and only the keys
    ///   of that bucket move; they return when it is eligible again.
    ///
    /// Ejected backends and backups are handled like ineligible buckets (backups win only when
    /// no primary is eligible); a backend in slow start keeps each of its keys with probability
    /// `effective weight / weight`, fixed per key, so its keys return to it as it ramps up.
    ///
    /// A request without a key gets a random one (from the request's RNG, else the strategy's
    /// seeded stream).
    ///
    /// ```
    /// use tinylb::{Jump, Pool, Request, Select};
    /// let pool: Pool<16> = Pool::new();
    /// for _ in 0..10 {
    ///     pool.add(1).unwrap();
    /// }
    /// let jump = Jump::new();
    /// let id = jump.select(&pool, &mut Request::new().with_key(42)).unwrap();
    /// assert_eq!(id.index() as u32, tinylb::hash::jump(42, 10).unwrap());
    /// ```
    Jump,
    /// Jump hash; keyless requests draw from a stream seeded with 0.
    new;
    /// Jump hash; keyless requests draw from a stream seeded with `seed`. The seed has no
    /// effect on keyed requests.
    with_seed
}

/// Bucket `b` if it may take the key: a candidate, and under slow start kept by
/// [`warm_accept`].
#[inline]
fn takes<const N: usize>(view: &View<'_, N>, h: u64, b: u32) -> Option<Candidate> {
    let c = view.get(b as usize)?;
    if c.weight() < c.configured_weight() && !warm_accept(h, b, c.weight(), c.configured_weight()) {
        return None;
    }
    Some(c)
}

/// The bucket for `key` in `view`: jump, then the re-hash probes, then rendezvous.
fn pick<const N: usize>(view: &View<'_, N>, key: u64) -> Option<Candidate> {
    // at most N <= 65535 slots
    let n = view.len() as u32;
    let h = mix64(key);
    let b = hash::jump(key, n)?;
    if let Some(c) = takes(view, h, b) {
        return Some(c);
    }
    rehashed(h, |k| hash::jump(k, n).and_then(|b| takes(view, h, b)))
        .or_else(|| winner(view, h, false))
}

impl<const N: usize> Select<N> for Jump {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let key = key_of(req, &self.stream);
        pool.pick(req, move |view, _| pick(view, key))
    }
}
