//! What a retry costs: one pick that excludes the backend the request got first, beside the
//! same strategy's plain pick in the same criterion group (the baseline), at n = 8 and 64.
//!
//! | group | baseline | what is compared |
//! |---|---|---|
//! | `retry/<strategy>/n8`, `.../n64` | `baseline_plain`: the strategy's pick, no exclusion | `excluding_first`: the same request excluding its first pick |
//!
//! For each of 256 keys the first pick is made once, outside the measurement, and kept in a
//! `Tried` set; the measured retry excludes it (so for Maglev, rendezvous and jump it is the
//! key's own first choice that is skipped). Round robin, P2C, random and Maglev are O(1)
//! expected per retry: their ratio does not grow from n = 8 to n = 64.
//!
//! Run: `cargo bench --bench retry`, then `python3 benches/ratios.py --group retry/`.

use core::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tinylb::{Pool, Request, Select, Strategy, Tried};

/// Keys per case.
const KEYS: usize = 256;

fn key(i: usize) -> u64 {
    (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn case<const N: usize>(c: &mut Criterion, name: &str) {
    let pool: Pool<N> = Pool::new();
    for i in 0..N {
        pool.add(1 + (i as u32 % 4)).expect("N backends fit");
    }
    let s: Strategy<N> = Strategy::from_name(name, 1).expect("a built-in name");
    let tried: Vec<Tried<N>> = (0..KEYS)
        .map(|i| {
            let mut t = Tried::new();
            let first = s
                .select(&pool, &mut Request::new().with_key(key(i)))
                .expect("a backend is up");
            t.insert(first);
            t
        })
        .collect();
    let mut g = c.benchmark_group(format!("retry/{name}/n{N}"));
    g.bench_function("baseline_plain", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(s.select(&pool, &mut Request::new().with_key(key(i))))
        });
    });
    g.bench_function("excluding_first", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            let set = tried.get(i).expect("one set per key");
            let mut req = Request::new().with_key(key(i)).excluding(set);
            black_box(s.select(&pool, &mut req))
        });
    });
    g.finish();
}

fn retry(c: &mut Criterion) {
    for name in [
        "round_robin",
        "p2c",
        "random",
        "maglev",
        "weighted_round_robin",
        "least_conn",
    ] {
        case::<8>(c, name);
        case::<64>(c, name);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(core::time::Duration::from_millis(500))
        .measurement_time(core::time::Duration::from_secs(1));
    targets = retry
}
criterion_main!(benches);
