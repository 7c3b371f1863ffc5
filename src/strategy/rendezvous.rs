//! Weighted rendezvous hashing (highest random weight, Thaler & Ravishankar 1998), in
//! integers.

use crate::pool::{BackendId, Pool};
use crate::rng::mix64;
use crate::select::{Request, Select};
use crate::strategy::score::{key_of, winner};

seeded_strategy! {
    /// Weighted rendezvous hashing: every eligible backend draws a score from (key, backend),
    /// the best score wins. No table, O(n) per pick, exact minimal disruption.
    ///
    /// **Retries**: a request that excludes its first backend
    /// ([`Request::excluding`](crate::Request::excluding)) gets the key's second-best score,
    /// and so on down the key's own ranking: deterministic, and spread over the others by
    /// weight.
    ///
    /// # Algorithm
    ///
    /// For key `k` and slot `i`, `u_i = (mix64(mix64(k) ⊕ salt_i) | 1) / 2^64` is uniform in
    /// `(0, 1)`. The winner is the eligible backend with the smallest `−ln(u_i) / w_i`: each
    /// such value is exponentially distributed with rate `w_i`, so backend `i` wins with
    /// probability exactly `w_i / Σw` (the logarithmic method of weighted rendezvous hashing,
    /// usually written `score = −w / ln u`, largest wins).
    ///
    /// **Without floats**: `−ln u = −log2 u · ln 2`, and the common factor `ln 2` cancels in the
    /// comparison, so tinylb computes `L_i = −log2(u_i)` in Q32 fixed point (a 256-entry table
    /// built at compile time, linearly interpolated; see precision below) and compares
    /// `L_a · w_b < L_b · w_a` in `u64` (both below 2^59). An exact tie goes to the larger
    /// hash, then the lower slot index. Because `L` never increases as the hash grows, most
    /// comparisons need no logarithm: with equal weights the larger hash wins outright, and a
    /// backend with both the larger weight and the larger hash wins without one.
    ///
    /// **Precision**: each `L_i` is within `+2.8 · 10⁻⁶` of the exact `−log2 u_i`. A key can be
    /// sent elsewhere than by the exact formula only when two backends' `L/w` are closer than
    /// that; the tests find the integer picks equal to an `f64` evaluation of `−ln(u)/w` on
    /// more than 99.99 % of keys, and the shares within sampling noise of `w_i / Σw`.
    ///
    /// # Minimal disruption, exactly
    ///
    /// A backend's score depends only on the key, its slot index and its weight. Removing a
    /// backend (or marking it down, draining it, or it reaching its cap) moves exactly the keys
    /// it was winning, each to its next-best backend; adding one moves to it exactly the keys it
    /// now wins, about `w_new / Σw`, and nothing else. Changing one backend's weight moves keys
    /// only to or from that backend.
    ///
    /// Identity is the slot index: a backend re-added into the slot it had (the pool reuses the
    /// lowest free slot) gets its keys back.
    ///
    /// Eligibility and weights come from the pool's view of the pick: ejected backends are
    /// skipped (unless in panic mode), backups are scored only when no primary is eligible, and
    /// a backend in slow start competes with its ramping effective weight, so its keys come to
    /// it gradually (raising one weight only ever moves keys *to* that backend).
    ///
    /// # Cost
    ///
    /// O(n): per eligible backend, one 64-bit mix (2 multiplies), a table lookup and 3
    /// multiplies. No writes, no state besides a seed.
    ///
    /// A request without a key gets a random one (from the request's RNG, else the strategy's
    /// seeded stream), so it lands on a weight-proportional random backend.
    ///
    /// ```
    /// use tinylb::{Pool, Rendezvous, Request, Select};
    /// let pool: Pool<4> = Pool::new();
    /// for w in [1, 2, 3] {
    ///     pool.add(w).unwrap();
    /// }
    /// let hrw = Rendezvous::new();
    /// let pick = |k| hrw.select(&pool, &mut Request::new().with_key(k)).unwrap();
    /// assert_eq!(pick(42), pick(42));
    /// ```
    Rendezvous,
    /// Rendezvous hashing; keyless requests draw from a stream seeded with 0.
    new;
    /// Rendezvous hashing; keyless requests draw from a stream seeded with `seed`. The seed
    /// has no effect on keyed requests.
    with_seed
}

impl<const N: usize> Select<N> for Rendezvous {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let key = mix64(key_of(req, &self.stream));
        pool.pick(req, move |view, _| winner(view, key, true))
    }
}
