//! Golden vectors of fleet subsetting: fixed fleet inputs in, the exact subset (backend ids
//! and Q16 shares) of every proxy out, for each scheme. One file, three runs:
//! `tests/subset.rs` includes it on x86-64 (`cargo test`) and under WASI, and
//! `firmware/src/bin/golden.rs` on Cortex-M under QEMU. A change to any vector changes which
//! backends deployed proxies connect to for the same inputs: a breaking change that goes in
//! the CHANGELOG, never a silent update of the constants.
//!
//! Only `core` and tinylb are used (no `std`, no allocation, no floats). A row is one
//! proxy's subset as `(backend, share_q16)` pairs, ascending by backend.

use tinylb::subset::{Scheme, Subset, SubsetError};

/// The backend ids the fleet shares: ascending, with gaps (removed backends).
pub const BACKENDS: [u32; 20] = [
    0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 18, 19, 21, 22, 23, 30,
];
/// The fleet size.
pub const PROXIES: u32 = 7;
/// The subset size.
pub const SUBSET: u32 = 6;
/// The fleet's seed (random subsetting: proxy `i`'s seed is `SEED + i`).
pub const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
/// The capacity of the computed subsets.
pub const CAP: usize = 12;

/// The row names, one per proxy.
pub const ROWS: [&str; PROXIES as usize] = [
    "proxy 0", "proxy 1", "proxy 2", "proxy 3", "proxy 4", "proxy 5", "proxy 6",
];

/// Full share, as the vectors write it.
const F: u32 = 65_536;

/// Deterministic subsetting of [`BACKENDS`] for proxies `0..PROXIES`.
pub const DETERMINISTIC: [&[u32]; PROXIES as usize] = [
    &[1, F, 2, F, 7, F, 15, F, 21, F, 23, F],
    &[6, F, 12, F, 14, F, 18, F, 19, F, 30, F],
    &[3, F, 5, F, 9, F, 10, F, 16, F, 22, F],
    &[0, F, 1, F, 7, F, 11, F, 15, F, 21, F],
    &[2, F, 6, F, 12, F, 14, F, 18, F, 23, F],
    &[3, F, 5, F, 10, F, 16, F, 19, F, 30, F],
    &[0, F, 1, F, 9, F, 11, F, 21, F, 22, F],
];
/// Deterministic aperture of [`BACKENDS`] for proxies `0..PROXIES`.
pub const APERTURE: [&[u32]; PROXIES as usize] = [
    &[
        0, 56174, 15, 46811, 16, F, 18, F, 19, F, 21, F, 22, F, 23, F, 30, F,
    ],
    &[
        0, F, 1, F, 2, F, 3, 46811, 19, 56174, 21, F, 22, F, 23, F, 30, F,
    ],
    &[0, F, 1, F, 2, F, 3, F, 5, F, 6, F, 7, 37449, 23, F, 30, F],
    &[
        0, 9362, 1, F, 2, F, 3, F, 5, F, 6, F, 7, F, 9, F, 10, F, 11, 28087,
    ],
    &[
        3, 18725, 5, F, 6, F, 7, F, 9, F, 10, F, 11, F, 12, F, 14, F, 15, 18725,
    ],
    &[
        7, 28087, 9, F, 10, F, 11, F, 12, F, 14, F, 15, F, 16, F, 18, F, 19, 9362,
    ],
    &[
        11, 37449, 12, F, 14, F, 15, F, 16, F, 18, F, 19, F, 21, F, 22, F,
    ],
];
/// Random subsetting of [`BACKENDS`], proxy `i` with seed `SEED + i`.
pub const RANDOM: [&[u32]; PROXIES as usize] = [
    &[0, F, 6, F, 7, F, 11, F, 16, F, 21, F],
    &[0, F, 11, F, 12, F, 16, F, 19, F, 21, F],
    &[3, F, 6, F, 11, F, 16, F, 23, F, 30, F],
    &[6, F, 7, F, 9, F, 10, F, 18, F, 21, F],
    &[5, F, 14, F, 15, F, 16, F, 21, F, 23, F],
    &[6, F, 7, F, 9, F, 14, F, 15, F, 23, F],
    &[2, F, 3, F, 5, F, 9, F, 19, F, 21, F],
];

/// What [`check_all`] tells its caller about each vector: `(vector, row, want, got)`, as
/// bytes (each `u32` little-endian).
pub type Report<'a> = dyn FnMut(&'static str, &'static str, &[u8], &[u8]) + 'a;

/// Writes `words` little-endian into `buf`; returns the bytes written (stops when full).
fn encode(words: impl Iterator<Item = u32>, buf: &mut [u8]) -> usize {
    let mut n = 0;
    for (w, chunk) in words.zip(buf.chunks_exact_mut(4)) {
        chunk.copy_from_slice(&w.to_le_bytes());
        n += 4;
    }
    n
}

/// Proxy `proxy`'s subset under `scheme`, as `(backend, share)` words; an error is the
/// single word `u32::MAX`.
pub fn compute(scheme: Scheme, proxy: u32, buf: &mut [u8]) -> usize {
    let seed = match scheme {
        Scheme::Random => SEED.wrapping_add(proxy as u64),
        _ => SEED,
    };
    let got: Result<Subset<CAP>, SubsetError> =
        scheme.subset(proxy, PROXIES, &BACKENDS, SUBSET, seed);
    match got {
        Ok(s) => encode(
            s.members().iter().flat_map(|m| [m.backend, m.share_q16]),
            buf,
        ),
        Err(_) => encode([u32::MAX].into_iter(), buf),
    }
}

/// Runs every scheme for every proxy, compares it with its vector, calls `report` for each
/// and returns how many differed.
pub fn check_all(report: &mut Report<'_>) -> usize {
    let mut failed = 0;
    let vectors: [(&'static str, Scheme, &[&[u32]; PROXIES as usize]); 3] = [
        (
            "SUBSET_DETERMINISTIC",
            Scheme::Deterministic,
            &DETERMINISTIC,
        ),
        ("SUBSET_APERTURE", Scheme::Aperture, &APERTURE),
        ("SUBSET_RANDOM", Scheme::Random, &RANDOM),
    ];
    for (name, scheme, rows) in vectors {
        for (proxy, (row, want_words)) in ROWS.iter().zip(rows.iter()).enumerate() {
            let mut want = [0u8; 8 * CAP];
            let mut got = [0u8; 8 * CAP];
            let wn = encode(want_words.iter().copied(), &mut want);
            let gn = compute(scheme, proxy as u32, &mut got);
            let (want, got) = (&want[..wn], &got[..gn]);
            if want != got {
                failed += 1;
            }
            report(name, row, want, got);
        }
    }
    failed
}
