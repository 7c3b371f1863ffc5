//! Value stability of affinity: fixed inputs in, exact outputs out.
//!
//! The stable byte hash of fixed strings, jump hash of fixed keys, and the backend every
//! hashing strategy picks for 16 fixed keys over a fixed pool of 8 weighted backends (also
//! with one backend down, and with leases held for bounded-load). These are promises: a
//! change to any of them changes which backend a user's key lands on, is a breaking change
//! and goes in the CHANGELOG. Nothing here depends on the target's word size, so the same
//! vectors must hold on x86-64, WASM and Cortex-M.
//!
//! `cargo test --test hash_value_stability -- --ignored --nocapture` prints the current
//! values in the same layout.
#![allow(clippy::indexing_slicing)]

use tinylb::hash::{hash_bytes, jump};
use tinylb::{
    BoundedLoad, Health, Jump, Lease, Maglev, Pool, Rendezvous, Request, Select, Strategy,
};

/// The keys: edge values, small integers, and a few bit patterns.
const KEYS: [u64; 16] = [
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
const WEIGHTS: [u32; 8] = [1, 2, 3, 4, 5, 1, 2, 3];

/// `hash_bytes` of fixed strings (the first is also the reference vector for 0 bytes).
const HASHES: [(&[u8], u64); 7] = [
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
const JUMP_10: [u32; 16] = [0, 6, 6, 8, 2, 9, 0, 5, 0, 5, 9, 5, 3, 1, 3, 9];

/// Picks over the pool, all backends up.
const MAGLEV_1031: [u8; 16] = [1, 6, 4, 2, 4, 2, 1, 6, 7, 7, 2, 2, 2, 1, 6, 1];
const MAGLEV_8191: [u8; 16] = [4, 5, 3, 0, 3, 3, 3, 1, 4, 0, 7, 7, 5, 4, 5, 4];
const RENDEZVOUS: [u8; 16] = [3, 7, 3, 1, 7, 7, 4, 3, 6, 4, 4, 7, 7, 6, 2, 6];
const JUMP: [u8; 16] = [0, 6, 6, 3, 2, 5, 0, 5, 0, 5, 6, 5, 3, 1, 3, 7];
const BOUNDED_LOAD: [u8; 16] = [3, 7, 3, 1, 7, 7, 4, 3, 6, 4, 4, 7, 7, 6, 2, 6];

/// Picks with backend 4 down (the fallback paths).
const DOWN4_MAGLEV_1031: [u8; 16] = [1, 6, 6, 2, 7, 2, 1, 6, 7, 7, 2, 2, 2, 1, 6, 1];
const DOWN4_MAGLEV_8191: [u8; 16] = [3, 5, 3, 0, 3, 3, 3, 1, 7, 0, 7, 7, 5, 3, 5, 3];
const DOWN4_RENDEZVOUS: [u8; 16] = [3, 7, 3, 1, 7, 7, 7, 3, 6, 3, 3, 7, 7, 6, 2, 6];
const DOWN4_JUMP: [u8; 16] = [0, 6, 6, 3, 2, 5, 0, 5, 0, 5, 6, 5, 3, 1, 3, 7];

/// Bounded-load (125 %) picks with 6 leases held on backend 4 (over its bound of 3).
const HELD6_BOUNDED_LOAD: [u8; 16] = [3, 7, 3, 1, 7, 7, 7, 3, 6, 3, 3, 7, 7, 6, 2, 6];

/// The first 40 entries of the `M` = 1031 Maglev table over the pool.
const TABLE_1031_HEAD: [u8; 40] = [
    1, 6, 4, 2, 4, 3, 0, 1, 3, 4, 4, 7, 3, 7, 4, 7, 2, 4, 6, 3, 1, 5, 5, 5, 3, 4, 3, 6, 7, 3, 0, 2,
    7, 4, 4, 6, 7, 4, 7, 1,
];

fn pool() -> Pool<8> {
    let pool = Pool::new();
    for w in WEIGHTS {
        pool.add(w).unwrap();
    }
    pool
}

fn picks<S: Select<8>>(s: &S, pool: &Pool<8>) -> [u8; 16] {
    KEYS.map(|k| {
        let id = s.select(pool, &mut Request::new().with_key(k)).unwrap();
        id.index() as u8
    })
}

/// Every vector, computed now, in the order of the constants above.
struct Now {
    hashes: Vec<u64>,
    jump_10: [u32; 16],
    up: [[u8; 16]; 5],
    down4: [[u8; 16]; 4],
    held6: [u8; 16],
    table_head: Vec<u8>,
}

fn now() -> Now {
    let p = pool();
    let m1031: Maglev<8, 1031> = Maglev::new();
    // the enum's Maglev, with the default table size
    let m8191: Strategy<8> = "maglev".parse().unwrap();
    let hrw = Rendezvous::new();
    let j = Jump::new();
    let chbl = BoundedLoad::new(125).unwrap();
    let up = [
        picks(&m1031, &p),
        picks(&m8191, &p),
        picks(&hrw, &p),
        picks(&j, &p),
        picks(&chbl, &p),
    ];
    let ids = p.ids();
    p.set_health(ids[4], Health::Down).unwrap();
    let down4 = [
        picks(&m1031, &p),
        picks(&m8191, &p),
        picks(&hrw, &p),
        picks(&j, &p),
    ];
    p.set_health(ids[4], Health::Up).unwrap();
    let held: Vec<_> = (0..6)
        .map(|_| Lease::acquire(&p, ids[4]).unwrap())
        .collect();
    let held6 = picks(&chbl, &p);
    drop(held);
    Now {
        hashes: HASHES.iter().map(|(b, _)| hash_bytes(b)).collect(),
        jump_10: KEYS.map(|k| jump(k, 10).unwrap()),
        up,
        down4,
        held6,
        table_head: (0..40)
            .map(|pos| m1031.table_entry(pos).unwrap() as u8)
            .collect(),
    }
}

#[test]
fn byte_hash_vectors() {
    let got = now().hashes;
    for ((bytes, want), got) in HASHES.iter().zip(got) {
        assert_eq!(
            got,
            *want,
            "hash_bytes({:?})",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn jump_vectors() {
    assert_eq!(now().jump_10, JUMP_10);
}

#[test]
fn picks_with_every_backend_up() {
    let up = now().up;
    assert_eq!(up[0], MAGLEV_1031, "maglev M=1031");
    assert_eq!(up[1], MAGLEV_8191, "maglev M=8191 (Strategy default)");
    assert_eq!(up[2], RENDEZVOUS, "rendezvous");
    assert_eq!(up[3], JUMP, "jump");
    assert_eq!(up[4], BOUNDED_LOAD, "bounded_load");
    // with nothing in flight, bounded-load is rendezvous
    assert_eq!(BOUNDED_LOAD, RENDEZVOUS);
}

#[test]
fn picks_with_a_backend_down() {
    let down = now().down4;
    assert_eq!(down[0], DOWN4_MAGLEV_1031, "maglev M=1031");
    assert_eq!(down[1], DOWN4_MAGLEV_8191, "maglev M=8191");
    assert_eq!(down[2], DOWN4_RENDEZVOUS, "rendezvous");
    assert_eq!(down[3], DOWN4_JUMP, "jump");
    // only backend 4's keys moved
    for (up, down) in [
        (MAGLEV_1031, DOWN4_MAGLEV_1031),
        (MAGLEV_8191, DOWN4_MAGLEV_8191),
        (RENDEZVOUS, DOWN4_RENDEZVOUS),
        (JUMP, DOWN4_JUMP),
    ] {
        for (u, d) in up.iter().zip(down) {
            assert!(*u == 4 && d != 4 || *u == d);
        }
    }
}

#[test]
fn bounded_load_with_leases_held() {
    assert_eq!(now().held6, HELD6_BOUNDED_LOAD);
}

#[test]
fn maglev_table_head() {
    assert_eq!(now().table_head, TABLE_1031_HEAD);
}

#[test]
#[ignore = "prints the vectors; run with --ignored --nocapture"]
fn print_vectors() {
    let n = now();
    for ((bytes, _), h) in HASHES.iter().zip(&n.hashes) {
        println!("{:?} {h:#018x}", String::from_utf8_lossy(bytes));
    }
    println!("JUMP_10 {:?}", n.jump_10);
    for (name, v) in [
        "MAGLEV_1031",
        "MAGLEV_8191",
        "RENDEZVOUS",
        "JUMP",
        "BOUNDED_LOAD",
    ]
    .iter()
    .zip(n.up)
    {
        println!("{name} {v:?}");
    }
    for (name, v) in ["MAGLEV_1031", "MAGLEV_8191", "RENDEZVOUS", "JUMP"]
        .iter()
        .zip(n.down4)
    {
        println!("DOWN4_{name} {v:?}");
    }
    println!("HELD6_BOUNDED_LOAD {:?}", n.held6);
    println!("TABLE_1031_HEAD {:?}", n.table_head);
}
