//! How fast is a hash-based pick, beside a bare table lookup in the same run?
//!
//! | group | baseline | what is compared |
//! |---|---|---|
//! | `maglev/n8`, `maglev/n64` | `baseline_array_index`: `table[key % M]` on a black-boxed `[u16; 65537]` | Maglev `lookup` (the table alone) and `select` (`M` = 65537), also with one backend down |
//! | `rendezvous/n8`, `rendezvous/n64` | `baseline_array_index` | weighted rendezvous `select` |
//! | `jump/n8`, `jump/n64` | `baseline_array_index` | jump hash `select` |
//! | `bounded_load/n8`, `bounded_load/n64` | `baseline_array_index` | bounded-load `select` (125 %), idle and loaded |
//! | `maglev_rebuild/m65537` | none | one full rebuild of a 65537-entry table |
//! | `hash_bytes` | none | HalfSipHash-2-4 of 4, 16 and 64 bytes |
//!
//! Each pick takes the next of 4096 pre-drawn random keys (the same sequence for the
//! baseline), so the measured time includes spreading over the table, not one hot entry.
//! Pools are weighted 1, 2, 3, 4 repeating (`select_equal_weights`: all 1); `loaded` holds
//! 0 to 6 leases per backend.
//! Maglev's tables are built before measuring (a pick never pays for a build here).
//!
//! Run: `cargo bench --bench hashing` (add `-- --warm-up-time 1 --measurement-time 2` for
//! a short run), then `python3 benches/ratios.py --group maglev/ --group rendezvous/
//! --group jump/ --group bounded_load/` for the ratios to the baseline.
// bench code: the baseline is an array index, and the key array is indexed modulo its size
#![allow(clippy::indexing_slicing)]

use core::hint::black_box;
use core::time::Duration;
use std::time::Instant;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tinylb::hash::hash_bytes;
use tinylb::rand_core::Rng;
use tinylb::{BoundedLoad, Jump, Lease, Maglev, Pool, Rendezvous, Request, Select};

#[path = "../tests/support/splitmix.rs"]
mod splitmix;
use splitmix::SplitMix;

/// Maglev table size of the benches (Envoy's default) and of the baseline's array.
const M: usize = 65537;
/// Number of pre-drawn keys (a power of two).
const KEYS: usize = 4096;

fn keys() -> Vec<u64> {
    let mut rng = SplitMix(0x7ab1e);
    (0..KEYS).map(|_| rng.next_u64()).collect()
}

/// A pool of `n` backends weighted 1, 2, 3, 4 repeating.
fn pool(n: usize) -> Box<Pool<64>> {
    let pool = Box::new(Pool::new());
    for i in 0..n {
        pool.add(1 + (i % 4) as u32).expect("room");
    }
    pool
}

/// 0 to 6 leases per backend, so in-flight counts differ.
fn load(pool: &Pool<64>) -> Vec<Lease<&Pool<64>, 64>> {
    let mut held = Vec::new();
    for id in pool.ids() {
        for _ in 0..(id.index() * 5 % 7) {
            held.push(Lease::acquire(pool, id).expect("no cap"));
        }
    }
    held
}

/// `table[key % M]` over the same key sequence: the cheapest lookup a table could have.
fn baseline(g: &mut BenchmarkGroup<'_, WallTime>, keys: &[u64], table: &[u16; M]) {
    let mut i = 0usize;
    g.bench_function("baseline_array_index", |b| {
        b.iter(|| {
            let k = keys[i & (KEYS - 1)];
            i = i.wrapping_add(1);
            let t = black_box(table);
            t[(k % M as u64) as usize]
        })
    });
}

fn select<S: Select<64>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    s: &S,
    pool: &Pool<64>,
    keys: &[u64],
) {
    let mut i = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            let k = keys[i & (KEYS - 1)];
            i = i.wrapping_add(1);
            black_box(s).select(black_box(pool), &mut Request::new().with_key(k))
        })
    });
}

fn lookups(c: &mut Criterion) {
    let keys = keys();
    let mut table = Box::new([0u16; M]);
    for (i, e) in table.iter_mut().enumerate() {
        *e = (i % 64) as u16;
    }
    for n in [8usize, 64] {
        let p = pool(n);

        let maglev: Box<Maglev<64, M>> = Box::new(Maglev::new());
        maglev.refresh(&p);
        let mut g = c.benchmark_group(format!("maglev/n{n}"));
        baseline(&mut g, &keys, &table);
        select(&mut g, "select_idle", &*maglev, &p, &keys);
        {
            // the table lookup alone: no eligibility, no epoch check, no BackendId
            let mut i = 0usize;
            let m = &*maglev;
            g.bench_function("lookup", |b| {
                b.iter(|| {
                    let k = keys[i & (KEYS - 1)];
                    i = i.wrapping_add(1);
                    black_box(m).lookup(k)
                })
            });
        }
        {
            // one backend down: its keys take the fallback (re-hash probes)
            let id = p.ids()[0];
            p.set_health(id, tinylb::Health::Down).unwrap();
            maglev.refresh(&p);
            select(&mut g, "select_one_down", &*maglev, &p, &keys);
            p.set_health(id, tinylb::Health::Up).unwrap();
            maglev.refresh(&p);
        }
        g.finish();

        // equal weights: most comparisons are decided by the hashes alone
        let equal = Box::new(Pool::<64>::new());
        for _ in 0..n {
            equal.add(1).expect("room");
        }

        let mut g = c.benchmark_group(format!("rendezvous/n{n}"));
        baseline(&mut g, &keys, &table);
        select(&mut g, "select_idle", &Rendezvous::new(), &p, &keys);
        select(
            &mut g,
            "select_equal_weights",
            &Rendezvous::new(),
            &equal,
            &keys,
        );
        g.finish();

        let mut g = c.benchmark_group(format!("jump/n{n}"));
        baseline(&mut g, &keys, &table);
        select(&mut g, "select_idle", &Jump::new(), &p, &keys);
        g.finish();

        let mut g = c.benchmark_group(format!("bounded_load/n{n}"));
        baseline(&mut g, &keys, &table);
        let chbl = BoundedLoad::new(125).unwrap();
        select(&mut g, "select_idle", &chbl, &p, &keys);
        select(&mut g, "select_equal_weights", &chbl, &equal, &keys);
        let held = load(&p);
        select(&mut g, "select_loaded", &chbl, &p, &keys);
        drop(held);
        g.finish();
    }
}

/// One full rebuild of a 65537-entry table: each iteration removes or re-adds backend 0
/// (alternately) and refreshes.
fn rebuild(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_rebuild/m65537");
    for (name, n, weights) in [
        ("n8_weights_1_to_4", 8usize, None),
        ("n64_weights_1_to_4", 64, None),
        // w_max / w_mean ≈ 60: the weight credits' share of the work shows
        ("n64_one_weight_1000", 64, Some(1000u32)),
    ] {
        let p = pool(n);
        if let Some(w) = weights {
            p.set_weight(p.ids()[n - 1], w).unwrap();
        }
        let maglev: Box<Maglev<64, M>> = Box::new(Maglev::new());
        maglev.refresh(&p);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let id = p.ids()[0];
                    let w = p.info(id).unwrap().weight;
                    p.remove(id).unwrap();
                    let t = Instant::now();
                    assert!(maglev.refresh(&p));
                    total += t.elapsed();
                    p.add(w).unwrap();
                    let t = Instant::now();
                    assert!(maglev.refresh(&p));
                    total += t.elapsed();
                }
                // two rebuilds per iteration
                total / 2
            })
        });
    }
    g.finish();
}

fn byte_hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash_bytes");
    let data: Vec<u8> = (0..64u8).collect();
    for len in [4usize, 16, 64] {
        g.bench_function(format!("len{len}"), |b| {
            b.iter(|| hash_bytes(black_box(&data[..len])))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = lookups, rebuild, byte_hash
}
criterion_main!(benches);
