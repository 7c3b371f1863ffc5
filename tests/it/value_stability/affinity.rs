//! Value stability of affinity: fixed inputs in, exact outputs out.
//!
//! The stable byte hash of fixed strings, jump hash of fixed keys, and the backend every
//! hashing strategy picks for 16 fixed keys over a fixed pool of 8 weighted backends (also
//! with one backend down, and with leases held for bounded-load). These are promises: a
//! change to any of them changes which backend a user's key lands on, is a breaking change
//! and goes in the CHANGELOG. Nothing here depends on the target's word size, so the same
//! vectors must hold on x86-64, WASM and Cortex-M.
//!
//! `cargo test --test it value_stability::affinity::print_vectors -- --ignored --nocapture`
//! prints the current values in the same layout.
#![allow(clippy::indexing_slicing)]

use tinylb::hash::{hash_bytes, jump};
use tinylb::{
    BoundedLoad, Health, Jump, Lease, Maglev, Pool, Rendezvous, Request, Select, Strategy,
};

// the vectors, shared with the firmware: `tests/golden/hashing.rs`
use super::hashing::*;

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
