//! Golden vectors of affinity, shared: the stable byte hash of fixed strings, jump hash of
//! fixed keys, and the backend every hashing strategy picks for 16 fixed keys over a fixed
//! pool of 8 weighted backends (also with one backend down, and with leases held for
//! bounded-load). `tests/hash_value_stability.rs` checks them on x86-64 and under WASI;
//! [`check_all`] recomputes them with `core` and tinylb only, for the firmware on
//! Cortex-M under QEMU (`firmware/src/bin/golden.rs`) and for `tests/value_stability.rs`.
//! A change to any of them is a breaking change and goes in the CHANGELOG.

use tinylb::hash::{hash_bytes, jump};
use tinylb::{BoundedLoad, Health, Jump, Lease, Maglev, Pool, Rendezvous, Request, Select};

/// The keys: edge values, small integers, and a few bit patterns.
pub const KEYS: [u64; 16] = [
    0,
    1,
    2,
    3,
    42,
    1000,
    65_535,
    0xdead_beef,
    0x0123_4567_89ab_cdef,
    0x8000_0000_0000_0000,
    0xffff_ffff_0000_0000,
    0x0000_0000_ffff_ffff,
    0x9e37_79b9_7f4a_7c15,
    0x5555_5555_5555_5555,
    u64::MAX - 1,
    u64::MAX,
];

/// The pool: slot `i` has weight `WEIGHTS[i]`.
pub const WEIGHTS: [u32; 8] = [1, 2, 3, 4, 5, 1, 2, 3];

/// `hash_bytes` of fixed strings (the first is also the reference vector for 0 bytes).
pub const HASHES: [(&[u8], u64); 7] = [
    (b"", 0xc83c_b8b9_591f_8d21),
    (b"a", 0x4ccf_68bc_de9d_f19a),
    (b"abc", 0x7f99_81ac_d9b6_a96e),
    (b"tinylb", 0x71d2_7c04_9240_3e82),
    (b"203.0.113.7", 0x8955_1559_1701_c066),
    (b"session-1234", 0x9608_ebb1_5b05_0ebd),
    (
        b"The quick brown fox jumps over the lazy dog",
        0x7883_d316_97cd_d7f8,
    ),
];

/// `jump(KEYS[i], 10)`.
pub const JUMP_10: [u32; 16] = [0, 6, 6, 8, 2, 9, 0, 5, 0, 5, 9, 5, 3, 1, 3, 9];

/// Picks over the pool, all backends up: `Maglev<8, 1031>`.
pub const MAGLEV_1031: [u8; 16] = [1, 6, 4, 2, 4, 2, 1, 6, 7, 7, 2, 2, 2, 1, 6, 1];
/// ... the `maglev` of `Strategy<8>` (its default table, M = 8191).
pub const MAGLEV_8191: [u8; 16] = [4, 5, 3, 0, 3, 3, 3, 1, 4, 0, 7, 7, 5, 4, 5, 4];
/// ... `Rendezvous::new()`.
pub const RENDEZVOUS: [u8; 16] = [3, 7, 3, 1, 7, 7, 4, 3, 6, 4, 4, 7, 7, 6, 2, 6];
/// ... `Jump::new()`.
pub const JUMP: [u8; 16] = [0, 6, 6, 3, 2, 5, 0, 5, 0, 5, 6, 5, 3, 1, 3, 7];
/// ... `BoundedLoad::new(125)` (with nothing in flight: rendezvous's picks).
pub const BOUNDED_LOAD: [u8; 16] = [3, 7, 3, 1, 7, 7, 4, 3, 6, 4, 4, 7, 7, 6, 2, 6];

/// Picks with backend 4 down (the fallback paths): `Maglev<8, 1031>`.
pub const DOWN4_MAGLEV_1031: [u8; 16] = [1, 6, 6, 2, 7, 2, 1, 6, 7, 7, 2, 2, 2, 1, 6, 1];
/// ... `Strategy<8>`'s `maglev`.
pub const DOWN4_MAGLEV_8191: [u8; 16] = [3, 5, 3, 0, 3, 3, 3, 1, 7, 0, 7, 7, 5, 3, 5, 3];
/// ... `Rendezvous::new()`.
pub const DOWN4_RENDEZVOUS: [u8; 16] = [3, 7, 3, 1, 7, 7, 7, 3, 6, 3, 3, 7, 7, 6, 2, 6];
/// ... `Jump::new()`.
pub const DOWN4_JUMP: [u8; 16] = [0, 6, 6, 3, 2, 5, 0, 5, 0, 5, 6, 5, 3, 1, 3, 7];

/// Bounded-load (125 %) picks with 6 leases held on backend 4 (over its bound of 3).
pub const HELD6_BOUNDED_LOAD: [u8; 16] = [3, 7, 3, 1, 7, 7, 7, 3, 6, 3, 3, 7, 7, 6, 2, 6];

/// The first 40 entries of the `M` = 1031 Maglev table over the pool.
pub const TABLE_1031_HEAD: [u8; 40] = [
    1, 6, 4, 2, 4, 3, 0, 1, 3, 4, 4, 7, 3, 7, 4, 7, 2, 4, 6, 3, 1, 5, 5, 5, 3, 4, 3, 6, 7, 3, 0, 2,
    7, 4, 4, 6, 7, 4, 7, 1,
];

/// What [`check_all`] tells its caller about each vector: `(vector, row, want, got)`.
pub type Report<'a> = dyn FnMut(&'static str, &'static str, &[u8], &[u8]) + 'a;

fn pool() -> Pool<8> {
    let pool = Pool::new();
    for w in WEIGHTS {
        pool.add(w).unwrap();
    }
    pool
}

fn picks<S: Select<8>>(s: &S, pool: &Pool<8>) -> [u8; 16] {
    KEYS.map(|k| {
        s.select(pool, &mut Request::new().with_key(k))
            .map_or(u8::MAX, |id| id.index() as u8)
    })
}

/// Recomputes every vector above except the two of `Strategy`'s default Maglev table
/// (`MAGLEV_8191`, `DOWN4_MAGLEV_8191`: 16 KiB, more than a Cortex-M0 has), calls `report`
/// for each (hashes and jump buckets as little-endian bytes) and returns how many differed.
pub fn check_all(report: &mut Report<'_>) -> usize {
    let mut failed = 0;
    let mut one = |vector: &'static str, row: &'static str, want: &[u8], got: &[u8]| {
        if want != got {
            failed += 1;
        }
        report(vector, row, want, got);
    };
    for (bytes, want) in HASHES {
        let row = core::str::from_utf8(bytes).unwrap_or("?");
        let row: &'static str = row;
        one(
            "HASHES",
            row,
            &want.to_le_bytes(),
            &hash_bytes(bytes).to_le_bytes(),
        );
    }
    let mut want = [0u8; 64];
    let mut got = [0u8; 64];
    for (i, &k) in KEYS.iter().enumerate() {
        want[4 * i..4 * i + 4].copy_from_slice(&JUMP_10[i].to_le_bytes());
        got[4 * i..4 * i + 4].copy_from_slice(&jump(k, 10).unwrap_or(u32::MAX).to_le_bytes());
    }
    one("JUMP_10", "", &want, &got);

    let p = pool();
    let m1031: Maglev<8, 1031> = Maglev::new();
    let hrw = Rendezvous::new();
    let j = Jump::new();
    let chbl = BoundedLoad::new(125).unwrap();
    one("MAGLEV_1031", "", &MAGLEV_1031, &picks(&m1031, &p));
    one("RENDEZVOUS", "", &RENDEZVOUS, &picks(&hrw, &p));
    one("JUMP", "", &JUMP, &picks(&j, &p));
    one("BOUNDED_LOAD", "", &BOUNDED_LOAD, &picks(&chbl, &p));
    let head: [u8; 40] =
        core::array::from_fn(|pos| m1031.table_entry(pos).map_or(u8::MAX, |i| i as u8));
    one("TABLE_1031_HEAD", "", &TABLE_1031_HEAD, &head);

    let four = p.id_at(4).unwrap();
    p.set_health(four, Health::Down).unwrap();
    one(
        "DOWN4_MAGLEV_1031",
        "",
        &DOWN4_MAGLEV_1031,
        &picks(&m1031, &p),
    );
    one("DOWN4_RENDEZVOUS", "", &DOWN4_RENDEZVOUS, &picks(&hrw, &p));
    one("DOWN4_JUMP", "", &DOWN4_JUMP, &picks(&j, &p));
    p.set_health(four, Health::Up).unwrap();

    let held: [Option<Lease<&Pool<8>, 8>>; 6] = core::array::from_fn(|_| Lease::acquire(&p, four));
    one(
        "HELD6_BOUNDED_LOAD",
        "",
        &HELD6_BOUNDED_LOAD,
        &picks(&chbl, &p),
    );
    drop(held);
    failed
}
