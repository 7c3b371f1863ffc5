//! Golden vectors of retry sequences: the fixed pool of `vectors.rs` (`vectors::pool`:
//! weights `[3, 1, 4, 1, 5]`, slot 3 down), one strategy per row, and for each of a few keys a
//! retry loop (`SelectExt::lease_untried`, each attempt excluding the ones before, every
//! lease held) until the pick says `NoBackend::Excluded`. One file, three runs:
//! `tests/it/value_stability` includes it on x86-64 and under WASI, and
//! `firmware/src/bin/golden.rs` on Cortex-M under QEMU. A change to any vector changes
//! where deployed proxies retry the same requests: a breaking change that goes in the
//! CHANGELOG, never a silent update of the constants.
//!
//! Only `core` and tinylb are used (no `std`, no allocation, no floats). A row is, for each
//! key in [`KEYS`], the slot indices of the attempts in order, then [`END`].

use tinylb::rand_core::Rng;
use tinylb::{Lease, NoBackend, Pool, Request, SelectExt, Strategy, Tried};

// the fixed pool, the seed, Maglev's table size and the caller RNG are the other golden
// file's (a sibling module wherever the two are included)
use super::vectors::{EVERY_NAME, N, SEED, SplitMix, TABLE, pool};

/// Ends one key's retry sequence: the next attempt said `NoBackend::Excluded`.
pub const END: u8 = 0xee;
/// Marks a sequence that ended with another reason (never expected).
pub const OTHER: u8 = 0xff;
/// The request keys, one retry sequence each.
pub const KEYS: [u64; 3] = [1, 0x9e37_79b9_7f4a_7c15, u64::MAX];
/// Bytes of one row: per key, up to four attempts and the end marker.
pub const ROW: usize = KEYS.len() * 5;

/// The strategies, one row each: `vectors::EVERY_NAME`, in its order.
pub const NAMES: [&str; 13] = EVERY_NAME;

/// The retry sequences of [`NAMES`], in order.
pub const RETRY: [[u8; ROW]; 13] = [
    [2, 4, 0, 1, END, 2, 4, 0, 1, END, 2, 4, 0, 1, END],
    [2, 4, 0, 1, END, 2, 4, 0, 1, END, 4, 2, 0, 1, END],
    [0, 4, 1, 2, END, 0, 1, 2, 4, END, 1, 2, 0, 4, END],
    [4, 2, 0, 1, END, 4, 2, 0, 1, END, 4, 2, 0, 1, END],
    [0, 2, 4, 1, END, 2, 4, 0, 1, END, 0, 4, 2, 1, END],
    [4, 1, 2, 0, END, 4, 0, 2, 1, END, 4, 1, 2, 0, END],
    [4, 0, 2, 1, END, 0, 2, 4, 1, END, 2, 4, 1, 0, END],
    [0, 2, 4, 1, END, 1, 4, 2, 0, END, 2, 1, 4, 0, END],
    [4, 0, 2, 1, END, 0, 2, 4, 1, END, 2, 4, 1, 0, END],
    [0, 2, 4, 1, END, 4, 2, 0, 1, END, 2, 0, 4, 1, END],
    [2, 4, 0, 1, END, 4, 2, 0, 1, END, 2, 4, 0, 1, END],
    [0, 1, 2, 4, END, 0, 1, 2, 4, END, 0, 1, 2, 4, END],
    [1, 0, 4, 2, END, 1, 0, 4, 2, END, 1, 0, 4, 2, END],
];

/// The retry sequences of the strategy `name` (one pool and one strategy for all keys, so
/// schedules move on from key to key), or `None` if the name does not parse.
pub fn compute(name: &str, out: &mut [u8; ROW]) -> Option<()> {
    let s = Strategy::<N, TABLE>::from_name(name, SEED).ok()?;
    let pool = pool(1000);
    let mut rng = SplitMix(SEED);
    let mut slots = out.iter_mut();
    for key in KEYS {
        let mut tried = Tried::<N>::new();
        let mut held: [Option<Lease<&Pool<N>, N>>; 4] = [const { None }; 4];
        let mut attempt = 0;
        let end = loop {
            let rng: &mut dyn Rng = &mut rng;
            let mut req = Request::new().with_key(key).with_rng(rng);
            match s.lease_untried(&pool, &mut req, &mut tried) {
                Ok(lease) => {
                    *slots.next()? = lease.index() as u8;
                    *held.get_mut(attempt)? = Some(lease);
                    attempt += 1;
                }
                Err(NoBackend::Excluded) => break END,
                Err(_) => break OTHER,
            }
        };
        *slots.next()? = end;
    }
    Some(())
}

/// What [`check_all`] tells its caller about each vector: `(vector, row, want, got)`.
pub type Report<'a> = dyn FnMut(&'static str, &'static str, &[u8], &[u8]) + 'a;

/// Runs every row, compares it with its vector, calls `report` for each and returns how
/// many differed.
pub fn check_all(report: &mut Report<'_>) -> usize {
    let mut failed = 0;
    for (name, want) in NAMES.iter().zip(&RETRY) {
        let mut got = [OTHER; ROW];
        if compute(name, &mut got).is_none() || &got != want {
            failed += 1;
        }
        report("RETRY", name, want, &got);
    }
    failed
}
