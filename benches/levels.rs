//! What priority levels and localities cost: a pick in a pool of two levels and three zones
//! beside the same strategy's pick in a single-level pool (the baseline), in the same
//! criterion group, at n = 8 and 64.
//!
//! | group | baseline | what is compared |
//! |---|---|---|
//! | `levels/<strategy>/n8`, `.../n64` | `baseline_one_level`: n backends, one level, one zone | `two_levels_three_zones`: the upper half at level 1, zone `i mod 3`, zone-aware routing from zone 0 (a fleet of 2, 1 and 1 proxies), one level-0 backend down; `spilling`: the same with half of level 0 down, so 30 % of the picks go to level 1 |
//!
//! A spread pick counts the levels (one scan of the slots), draws the level, counts the
//! drawn level's zones (a second scan, with locality routing on), then picks: its cost
//! grows with n on top of the strategy's own.
//!
//! Run: `cargo bench --bench levels`, then `python3 benches/ratios.py --group levels/`.

use core::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tinylb::{Config, Health, LocalityPolicy, Pool, Request, Select, Strategy, ZoneAware};

/// Keys per case.
const KEYS: u64 = 256;

fn key(i: u64) -> u64 {
    (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn backends<const N: usize>(pool: Pool<N>) -> Pool<N> {
    for i in 0..N {
        pool.add(1 + (i as u32 % 4)).expect("N backends fit");
    }
    pool
}

/// Two levels, three zones; `down` level-0 backends marked down.
fn spread<const N: usize>(down: usize) -> Pool<N> {
    let config = Config::new().locality(LocalityPolicy::ZoneAware(ZoneAware::new(0)));
    let pool = backends(Pool::with_config(config).expect("a valid config"));
    for (i, id) in pool.ids().enumerate() {
        pool.set_locality(id, (i % 3) as u8)
            .expect("a live backend");
        if i >= N / 2 {
            pool.set_level(id, 1).expect("a live backend");
        } else if i < down {
            pool.set_health(id, Health::Down).expect("a live backend");
        }
    }
    for (z, proxies) in [2, 1, 1].into_iter().enumerate() {
        pool.set_fleet(z as u8, proxies).expect("zones 0..3 exist");
    }
    pool
}

fn case<const N: usize>(c: &mut Criterion, name: &str) {
    let s: Strategy<N> = Strategy::from_name(name, 1).expect("a built-in name");
    let pools: [(&str, Pool<N>); 3] = [
        ("baseline_one_level", backends(Pool::new())),
        ("two_levels_three_zones", spread(1)),
        ("spilling", spread(N / 4)),
    ];
    let mut g = c.benchmark_group(format!("levels/{name}/n{N}"));
    for (what, pool) in &pools {
        g.bench_function(*what, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(s.select(pool, &mut Request::new().with_key(key(i))))
            });
        });
    }
    g.finish();
}

fn levels(c: &mut Criterion) {
    for name in [
        "round_robin",
        "weighted_round_robin",
        "least_conn",
        "random",
        "maglev",
    ] {
        case::<8>(c, name);
        case::<64>(c, name);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(core::time::Duration::from_millis(500))
        .measurement_time(core::time::Duration::from_secs(2));
    targets = levels
}
criterion_main!(benches);
