//! Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted, rebuilt in place
//! without a lock on the lookup path.

use core::fmt;

use crate::error::TableError;

mod table;
use crate::pool::{BackendId, Candidate, Pool, View};
use crate::rng::{Stream, mix64};
use crate::select::{Request, Select};
use crate::strategy::probe::rehashed;
use crate::strategy::score::{key_of, warm_accept, winner};
use crate::sync::{AtomicU16, AtomicU32, Ordering};
use table::{INDEX_MASK, check, is_prime_table_size, reduce};

/// Table size of [`Maglev`] when none is named, and of the [`Strategy`](crate::Strategy)
/// enum's Maglev variant: 8191 (a prime, 2^13 − 1), 16 KiB of `u16` entries, enough for the
/// 1 % balance guarantee (`M > 100 · n`) up to 81 backends. Envoy's default is 65537
/// (128 KiB), good for 655 backends.
pub const DEFAULT_TABLE_SIZE: usize = 8191;

/// Most pool slots a [`Maglev`] table can name: entries are 15-bit slot numbers.
pub const MAX_MAGLEV_SLOTS: usize = 32767;

/// Maglev hashing: a lookup table of `M` entries (a prime), each naming a backend, filled so
/// that every backend owns a share of entries proportional to its weight. A key goes to the
/// backend at entry `key → 0..M`: **O(1) per lookup**, one table read.
///
/// # Table
///
/// Each backend (identified by its slot index `i`) has a permutation of the table positions,
/// `(offset_i + j · skip_i) mod M` for `j = 0, 1, ..`, with `offset_i` in `0..M` and
/// `skip_i` in `1..M` hashed from `i`; because `M` is prime, every permutation visits every
/// position. Backends take turns, each claiming the next position of its permutation that is
/// still free, until the table is full (Maglev paper, §3.4, pseudocode 1).
///
/// **Weights** (Envoy's extension, written here in integers): in each round, backend `i`
/// adds its weight to a credit and takes a turn when the credit reaches the largest weight
/// `w_max`, which it then pays back. A backend of the largest weight takes a turn every
/// round, one of half that weight every second round. With equal weights every backend
/// ends with `⌊M/n⌋` or `⌈M/n⌉` entries, so max/mean ≤ `1 + n/M`: **≤ 1.01 whenever
/// `M > 100·n`** (tested for every `n` in 2..=64). With unequal weights each backend's count
/// is within `1 + n · w_i/Σw` of `M · w_i/Σw`; a backend lighter than `w_max / M` can get
/// no entry at all.
///
/// **Members** are the primary backends in the pool (up, down or draining) with a weight
/// above zero. The table is rebuilt only when membership or a weight changes (a backend
/// added, removed, re-weighted or moved between tiers), not when one goes down, drains, is
/// ejected or fills its cap: those are handled at lookup time (below), so they move only
/// that backend's keys. Backups are not in the table: when no primary is eligible, keys go
/// to the backups by weighted rendezvous hashing (the fallback's last step).
///
/// # Disruption
///
/// Removing one of `n` backends moves all of its keys (no entry names it any more) and a
/// few of the others': Maglev trades a little disruption for its near-perfect balance. The
/// share of the *other* backends' entries that move depends on how much larger than `100·n`
/// the table is. Measured for every `n` in 2..=64, removing the first, a middle and the
/// last backend (equal weights; the build is deterministic, so these are exact):
///
/// | table size | mean | worst |
/// |---|---:|---:|
/// | `M` = the smallest prime ≥ `100·n` (1009 for `n` = 10) | 2.2 % | 4.2 % (`n` = 6, `M` = 601) |
/// | `M` = 6421 for every `n` (`100·n` at `n` = 64, far more for small `n`) | 1.4 % | 2.5 % |
/// | `M` = 65537 | 0.4 % | 2.2 % |
///
/// At `M` ≈ `100·n`, over every possible removal rather than three, the mean is 2.2 % and
/// the worst 5.0 % (`n` = 6). `tests/stated_bounds.rs` asserts the table and prints the
/// rest. (Rendezvous hashing moves none; it costs O(n) per pick instead of O(1).)
///
/// # Lookup and fallback
///
/// The key (`u64`, from [`Request::with_key`]; hash byte keys with
/// [`hash::hash_bytes`](crate::hash::hash_bytes)) goes to entry
/// `((key ⊕ key >> 32) mod 2^32) mod M` (see [`Maglev::lookup`]): a 32-bit remainder by a
/// constant, which compiles to a multiply on every target, so on x86-64 the table lookup
/// itself costs what `table[key % M]` costs. No mixing is needed: the table is already a
/// pseudo-random arrangement, and distinct small keys land on distinct entries. If the
/// backend there is eligible, that is the pick. If not (down, draining, ejected, at its
/// cap, or excluded by the request: a retry), the mixed key is re-hashed with the probe number up to 8 times, each time trying
/// the entry it lands on, and finally the eligible backend that wins weighted rendezvous
/// hashing for the key (O(n)). The fallback is deterministic and depends only on the key and
/// the table, so keys of eligible backends never move, and the keys of a backend that comes
/// back return to it. Each probe lands on a backend with probability proportional to its
/// weight, so the orphaned keys spread by weight.
///
/// **Retries** ([`Request::excluding`](crate::Request::excluding)): a retry of a key goes to
/// the key's next choice in this order, so it is deterministic for the key and the set
/// excluded, and the retries of one backend's keys spread over all the others by weight (not
/// onto one neighbour). The paper's "next preference" would be the next backend in the
/// permutation that filled the entry; the table keeps only the winner of each entry, so the
/// next choice here is the re-hash, which spreads the same way at no memory cost.
///
/// **Slow start**: a backend whose effective weight is still ramping up keeps each of its
/// keys with probability `effective / configured weight`, fixed per key (the others take the
/// fallback), so its keys return to it gradually and none leaves it again during the ramp.
///
/// # Rebuild without a lock on lookups
///
/// The pool's epoch moves on at every change; the first pick that sees a new epoch takes the
/// strategy's build flag (others carry on) and, if membership or weights changed, refills the
/// table **in place**: no second table, no allocation. Each entry carries the parity of the
/// build that wrote it; the build treats entries of the other parity as free and overwrites
/// them one by one, so every entry a reader loads, at any moment, names a backend of either
/// the old or the new table, never garbage: during a rebuild a key sees its old or its new
/// backend. Lookups check eligibility at read time anyway, so they never return a backend
/// that is not eligible. Before the first build completes, lookups use the rendezvous
/// fallback.
///
/// Call [`Maglev::refresh`] from your control path after changing the pool, so that no
/// request pays for a build. A build takes O(M log M) steps (expected) plus
/// O(M · w_max / w_mean) for the weight credits; see the README for measured times.
///
/// # Memory
///
/// `2·M` bytes of table plus `12·N` bytes of build state: 16 KiB for the default `M` = 8191,
/// 128 KiB for `M` = 65537 (the memory is in the struct: a `static` Maglev with `M` = 65537
/// needs 128 KiB of RAM, placed in `.bss`).
///
/// # Sizes
///
/// `M` must be a prime below 2^32 and at least `N`, and `N` at most
/// [`MAX_MAGLEV_SLOTS`]: [`Maglev::new`] checks this at compile time, [`Maglev::try_new`]
/// returns a [`TableError`] instead.
///
/// ```
/// use tinylb::{Maglev, Pool, Request, Select};
/// static POOL: Pool<8> = Pool::new();
/// static MAGLEV: Maglev<8, 1031> = Maglev::new();
/// for w in [1, 1, 2] {
///     POOL.add(w).unwrap();
/// }
/// MAGLEV.refresh(&POOL); // build now, not on the first request
/// let key = tinylb::hash::hash_bytes(b"session-1234");
/// let a = MAGLEV.select(&POOL, &mut Request::new().with_key(key)).unwrap();
/// let b = MAGLEV.select(&POOL, &mut Request::new().with_key(key)).unwrap();
/// assert_eq!(a, b);
/// ```
///
/// A table size that is not prime does not compile:
///
/// ```compile_fail,E0080
/// let m: tinylb::Maglev<8, 1000> = tinylb::Maglev::new();
/// assert_eq!(m.table_size(), 1000);
/// ```
pub struct Maglev<const N: usize, const M: usize = DEFAULT_TABLE_SIZE> {
    table: [AtomicU16; M],
    /// Weight of each slot in the last build (0: not in the table).
    members: [AtomicU32; N],
    /// Build scratch: each slot's next position in its permutation.
    cursor: [AtomicU32; N],
    /// Build scratch: each slot's weight credit.
    credit: [AtomicU32; N],
    /// Pool epoch + 1 that membership was last checked against (0: never).
    built_for: AtomicU32,
    /// Parity bit of the last complete build (0 before the first).
    parity: AtomicU32,
    building: AtomicU32,
    stream: Stream,
}

impl<const N: usize, const M: usize> fmt::Debug for Maglev<N, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members = self
            .members
            .iter()
            .filter(|w| w.load(Ordering::Relaxed) > 0)
            .count();
        f.debug_struct("Maglev")
            .field("table_size", &M)
            .field("members", &members)
            .field("built_for_epoch", &self.built_for.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<const N: usize, const M: usize> Default for Maglev<N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const M: usize> Maglev<N, M> {
    const SIZES_OK: () = {
        assert!(
            N <= MAX_MAGLEV_SLOTS,
            "Maglev names at most 32767 pool slots"
        );
        assert!(
            is_prime_table_size(M),
            "the Maglev table size M must be a prime below 2^32"
        );
        assert!(M >= N, "the Maglev table must have at least N entries");
    };

    /// An empty table (built by the first pick or by [`Maglev::refresh`]); keyless requests
    /// draw from a stream seeded with 0. Sizes are checked at compile time.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// As [`Maglev::new`], with keyless requests drawing from a stream seeded with `seed`.
    /// The seed has no effect on keyed requests.
    pub const fn with_seed(seed: u64) -> Self {
        let () = Self::SIZES_OK;
        Self::unchecked(seed)
    }

    /// As [`Maglev::new`], but bad sizes are an error instead of a compile failure:
    /// [`TableError::PoolTooLarge`] if `N > 32767`, [`TableError::TableSizeNotPrime`] if `M` is not a
    /// prime below 2^32, [`TableError::TableTooSmall`] if `M < N`.
    ///
    /// ```
    /// use tinylb::{Maglev, TableError};
    /// assert_eq!(Maglev::<8, 1000>::try_new().err(), Some(TableError::TableSizeNotPrime));
    /// assert_eq!(Maglev::<8, 7>::try_new().err(), Some(TableError::TableTooSmall));
    /// assert!(Maglev::<8, 1009>::try_new().is_ok());
    /// ```
    pub const fn try_new() -> Result<Self, TableError> {
        Self::try_with_seed(0)
    }

    /// [`Maglev::try_new`] with a seed for keyless requests.
    pub const fn try_with_seed(seed: u64) -> Result<Self, TableError> {
        match check(N, M) {
            Some(e) => Err(e),
            None => Ok(Self::unchecked(seed)),
        }
    }

    const fn unchecked(seed: u64) -> Self {
        Maglev {
            table: [const { AtomicU16::new(0) }; M],
            members: [const { AtomicU32::new(0) }; N],
            cursor: [const { AtomicU32::new(0) }; N],
            credit: [const { AtomicU32::new(0) }; N],
            built_for: AtomicU32::new(0),
            parity: AtomicU32::new(0),
            building: AtomicU32::new(0),
            stream: Stream::new(seed),
        }
    }

    /// The table size, `M`.
    pub const fn table_size(&self) -> usize {
        M
    }

    /// The slot index named by table entry `pos`, or `None` if `pos >= M` or the table has
    /// not been built yet. For diagnostics and tests (count entries per backend to see the
    /// balance); during a rebuild an entry may still hold its old value.
    pub fn table_entry(&self, pos: usize) -> Option<usize> {
        let e = self.table.get(pos)?.load(Ordering::Relaxed) & INDEX_MASK;
        (e as usize).checked_sub(1)
    }

    /// The slot index the table names for `key`: where [`Select::select`] looks first,
    /// without checking that the backend is eligible or that the table is current. `None`
    /// before the first build. One fold, one 32-bit remainder by the constant `M`, one load:
    /// use it to see where a key lives (to warm a cache, or to shard), not to route.
    ///
    /// ```
    /// use tinylb::{Maglev, Pool, Request, Select};
    /// let pool: Pool<4> = Pool::new();
    /// pool.add(1).unwrap();
    /// pool.add(1).unwrap();
    /// let m: Maglev<4, 1031> = Maglev::new();
    /// assert_eq!(m.lookup(7), None);
    /// m.refresh(&pool);
    /// let home = m.lookup(7).unwrap();
    /// assert_eq!(m.select(&pool, &mut Request::new().with_key(7)).unwrap().index(), home);
    /// ```
    #[inline]
    pub fn lookup(&self, key: u64) -> Option<usize> {
        let e = self.table.get(position(key, M))?.load(Ordering::Relaxed);
        ((e & INDEX_MASK) as usize).checked_sub(1)
    }

    /// Brings the table up to date with the pool: rebuilds it if a backend was added,
    /// removed or re-weighted since the last build. Returns `true` if it rebuilt.
    ///
    /// Picks do this themselves when they see the pool change, so calling it is optional;
    /// call it from your control path after configuration changes so that no request pays
    /// for a build. If another thread is building at that moment, this returns `false` at
    /// once (the other build will be followed by a check of the then-current pool).
    pub fn refresh(&self, pool: &Pool<N>) -> bool {
        let epoch = pool.epoch();
        if self
            .building
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        let rebuilt = if self.update_members(pool) {
            self.build(pool.live_slots().len().min(N));
            true
        } else {
            false
        };
        self.built_for
            .store(epoch.wrapping_add(1), Ordering::Release);
        self.building.store(0, Ordering::Release);
        rebuilt
    }

    /// The candidate named by table entry `pos` if it takes `key`: in the view and, in slow
    /// start, kept by [`warm_accept`].
    #[inline(always)]
    fn probe(&self, view: &View<'_, N>, key: u64, pos: usize) -> Option<Candidate> {
        let e = self.table.get(pos)?.load(Ordering::Relaxed);
        let i = ((e & INDEX_MASK) as usize).checked_sub(1)?;
        let c = view.get(i)?;
        // the table was built with the configured weight; a lower effective weight is
        // slow start (or a weight change not yet rebuilt): keep that share of the keys
        let conf = self.members.get(i).map_or(0, |m| m.load(Ordering::Relaxed));
        if c.weight() < conf && !warm(key, i, c.weight(), conf) {
            return None;
        }
        Some(c)
    }

    /// The pick in `view` for `key`: its entry, else the fallback.
    #[inline(always)]
    fn pick(&self, view: &View<'_, N>, key: u64) -> Option<Candidate> {
        match self.probe(view, key, position(key, M)) {
            Some(c) => Some(c),
            // the fallback names a slot (in registers), judged again here
            None => self.fallback(view, key).and_then(|i| view.get(i)),
        }
    }

    #[cold]
    #[inline(never)]
    fn fallback(&self, view: &View<'_, N>, key: u64) -> Option<usize> {
        let h = mix64(key);
        rehashed(h, |h2| self.probe(view, key, reduce(h2, M as u64) as usize))
            .or_else(|| winner(view, h, true))
            .map(|c| c.index())
    }
}

/// Slow start's thinning, out of the lookup's way: `true` if slot `i` (effective weight
/// `w` of `conf`) keeps `key`.
#[cold]
#[inline(never)]
fn warm(key: u64, i: usize, w: u32, conf: u32) -> bool {
    warm_accept(mix64(key), i as u32, w, conf)
}

/// The table position of `key`: the key folded to 32 bits (high half XOR low half), modulo
/// `m`. A 32-bit remainder by a constant compiles to a multiply on every target (no 64-bit
/// division, which 32-bit targets do in a library call), and needs no mixing: distinct
/// small keys land on distinct entries, and the table itself is a pseudo-random
/// arrangement of the backends.
#[inline(always)]
const fn position(key: u64, m: usize) -> usize {
    let folded = (key ^ (key >> 32)) as u32;
    // m <= u32::MAX for every table that can be built; 0 (and any m that truncates to 0)
    // only for one that cannot, whose lookups find no entry anyway
    let m32 = m as u32;
    if m32 == 0 { 0 } else { (folded % m32) as usize }
}

impl<const N: usize, const M: usize> Select<N> for Maglev<N, M> {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let epoch = pool.epoch();
        if self.built_for.load(Ordering::Acquire) != epoch.wrapping_add(1) {
            self.refresh(pool);
        }
        let key = key_of(req, &self.stream);
        pool.pick(req, move |view, _| self.pick(view, key))
    }
}
