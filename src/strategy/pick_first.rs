//! The first eligible backend in a seeded, weighted random order (gRPC `pick_first` with
//! `shuffle_address_list`, and its weighted shuffle).

use crate::pool::{BackendId, Pool};
use crate::rng::mix64;
use crate::select::{Request, Select};
use crate::strategy::score::first_in_order;

/// Keeps [`PickFirst`]'s order apart from [`Rendezvous`](crate::Rendezvous)'s ranking of a
/// key equal to the seed.
const DOMAIN: u64 = 0x7069_636b_5f66_6972; // "pick_fir"

/// The first eligible backend in an order of the backends that the seed fixes, weighted so
/// that a heavier backend is more likely to come early: gRPC's `pick_first` with
/// `shuffle_address_list` (gRFC A62, "`pick_first`: sticky TRANSIENT_FAILURE and address
/// order randomization"), in the weighted form gRPC gives it for weighted endpoints (the
/// weighted shuffle of its pick-first proposal, written with Efraimidis–Spirakis keys).
///
/// Each proxy instance, built with its own seed, sends all its traffic to one backend (the
/// same one at every pick while it is eligible: a connection reused, a cache kept warm),
/// while the instances of a fleet, with different seeds, spread over the backends in
/// proportion to their weights. When that backend is out (down, ejected, at its cap, excluded
/// by the request), the pick is the next eligible one in the order; when it is back, picks
/// return to it. Preference and the backup tier apply as for every strategy.
///
/// # The order
///
/// Backend at slot `i` with configured weight `w_i` gets the key
/// `u_i = (mix64(mix64(seed ⊕ D) ⊕ salt_i) | 1) / 2^64` (a constant `D` keeps it apart from
/// [`Rendezvous`](crate::Rendezvous)), and the order is ascending `−ln(u_i) / w_i`: the
/// exponential race, the same as Efraimidis and Spirakis's descending `u_i^(1/w_i)`. So the
/// first backend is backend `i` with probability `w_i / Σw` over seeds, the second is drawn
/// by weight among the rest, and so on: a weighted random permutation. The comparison is the
/// integer one of [`Rendezvous`](crate::Rendezvous) (`−log2 u` in Q32, cross-multiplied),
/// in 64-bit arithmetic on `u32` slot indices, so the order for a seed is the same on every
/// target.
///
/// The order uses the *configured* weight ([`Candidate::configured_weight`]), not the
/// effective one, so slow start and shares do not reorder it: a backend that recovers and
/// ramps up gets its place back at once. Changing a backend's weight may move it in the
/// order (gRPC reshuffles on every address update); a backend re-added into the slot it had
/// with the same weight gets its place back.
///
/// # Not gRPC's connection state machine
///
/// gRPC's `pick_first` stays on the address it connected to until that connection fails,
/// even when an earlier address comes back; here each pick is the first *eligible* backend
/// of the order, stateless, like HAProxy's `first` ([`First`](crate::First)) over a
/// shuffled list. gRPC's `pick_first` without the shuffle is [`First`](crate::First).
///
/// Cost: O(n), one hash per candidate and a logarithm only where weights differ and the
/// hashes do not decide (as [`Rendezvous`](crate::Rendezvous)). No writes.
///
/// ```
/// use tinylb::{Health, PickFirst, Pool, Request, Select};
/// let pool: Pool<8> = Pool::new();
/// for w in [1, 2, 3, 4] {
///     pool.add(w).unwrap();
/// }
/// let lb = PickFirst::with_seed(7);
/// let first = lb.select(&pool, &mut Request::new()).unwrap();
/// assert_eq!(lb.select(&pool, &mut Request::new()), Some(first)); // sticky
/// pool.set_health(first, Health::Down).unwrap();
/// let second = lb.select(&pool, &mut Request::new()).unwrap();
/// assert_ne!(second, first); // the next in the order
/// pool.set_health(first, Health::Up).unwrap();
/// assert_eq!(lb.select(&pool, &mut Request::new()), Some(first)); // back
/// ```
///
/// [`Candidate::configured_weight`]: crate::Candidate::configured_weight
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickFirst {
    /// `mix64(seed ⊕ DOMAIN)`: the key every backend's place is hashed with.
    key: u64,
}

impl Default for PickFirst {
    fn default() -> Self {
        Self::new()
    }
}

impl PickFirst {
    /// Pick-first over the order of seed 0.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// Pick-first over the order `seed` fixes (give each proxy instance its own).
    pub const fn with_seed(seed: u64) -> Self {
        PickFirst {
            key: mix64(seed ^ DOMAIN),
        }
    }
}

impl<const N: usize> Select<N> for PickFirst {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let key = self.key;
        pool.pick(req, move |view, _| first_in_order(view, key))
    }
}
