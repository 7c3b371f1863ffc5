//! Load-aware picking and its bookkeeping, each beside the cheapest thing that could do the
//! job, measured in the same run (ratios, not absolute times, are the result):
//!
//! | group | baseline | compared |
//! |---|---|---|
//! | `p2c/n8`, `p2c/n64` | `baseline_rng2`: two `next_u64` through `&mut dyn Rng` (the draws a P2C pick needs) | `p2c` and `peak_ewma` `select` |
//! | `finish` | `baseline_fetch_sub`: one relaxed `fetch_sub` | `Lease::finish` (success, failure), a lease's drop |
//! | `lease_finish` | `baseline_fetch_add_sub`: `fetch_add` then `fetch_sub` | `Lease::acquire` + `finish`, `Lease::acquire` + drop |
//!
//! Targets, read off the ratios to the baselines: a P2C pick at most 3× `baseline_rng2`; `finish` at most 2× a bare
//! `fetch_sub`.
//!
//! Pick functions are named `<strategy>_<weights>_<load>`: weights `equal` (all 1: every
//! weighted draw is accepted at once, so a pick takes exactly two RNG calls) or `skewed`
//! (1, 2, 4, 8 repeating: a draw is accepted with probability `w / w_max`, so about 2.1
//! calls per candidate); load `idle` (no lease out) or `loaded` (0 to 6 leases held per
//! backend). Every request carries the benches' RNG through [`Request::with_rng`]; every
//! backend has one latency sample, so peak-EWMA compares real estimates, decayed to a clock
//! one second later.
//!
//! `finish` is timed without the lease's creation: chunks of 1024 leases are taken untimed,
//! then finished (or dropped) under the clock; the `fetch_sub` baseline is timed the same
//! way (1024 untimed `fetch_add`s, then 1024 timed `fetch_sub`s). Latencies alternate
//! between 600 and 400 µs, so half the updates take the peak path and half the decay path.
//!
//! Run: `cargo bench --bench load_aware` (defaults: 1 s warm-up, 2 s measurement per
//! function), then `python3 benches/ratios.py --group p2c --group finish --group lease_finish` for the
//! ratios.

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use core::time::Duration;
use std::time::Instant;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tinylb::rand_core::Rng;
use tinylb::{Config, Ejection, Lease, Outcome, PeakEwma, Pool, PowerOfTwo, Request, Select};

#[path = "../tests/support/splitmix.rs"]
mod splitmix;
use splitmix::SplitMix;

/// The caller's clock when the latency samples were taken, in microseconds.
const SAMPLED_AT_US: u64 = 10_000_000;
/// The clock the picks run at: one second later, so estimates are decayed.
const NOW_US: u64 = SAMPLED_AT_US + 1_000_000;
/// Leases finished per timed chunk.
const CHUNK: usize = 1024;

/// A full pool of `N` backends, each with one latency sample (200 to 1190 µs).
fn pool<const N: usize>(skewed: bool) -> Pool<N> {
    let pool = Pool::new();
    for i in 0..N {
        let w = if skewed { 1 << (i % 4) } else { 1 };
        let id = pool.add(w).expect("the pool has N slots");
        Lease::acquire(&pool, id)
            .expect("a new backend is eligible")
            .finish(
                Outcome::success_after(Duration::from_micros(200 + (i as u64 * 37) % 1000))
                    .at_us(SAMPLED_AT_US),
            );
    }
    pool
}

/// Leases held for the loaded cases: backend `k` gets `(5k + 3) mod 7` of them.
fn hold<const N: usize>(pool: &Pool<N>) -> Vec<Lease<&Pool<N>, N>> {
    let mut leases = Vec::new();
    for (k, id) in pool.ids().iter().enumerate() {
        for _ in 0..(5 * k + 3) % 7 {
            leases.extend(Lease::acquire(pool, *id));
        }
    }
    leases
}

fn picks<const N: usize, S: Select<N>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    strategy: &S,
) {
    for (skewed, loaded) in [(false, false), (false, true), (true, true)] {
        let pool = pool::<N>(skewed);
        let _held = if loaded { hold(&pool) } else { Vec::new() };
        let label = format!(
            "{name}_{}_{}",
            if skewed { "skewed" } else { "equal" },
            if loaded { "loaded" } else { "idle" }
        );
        g.bench_function(label, |b| {
            let mut rng = SplitMix(7);
            let mut req = Request::new().with_now_us(NOW_US).with_rng(&mut rng);
            b.iter(|| black_box(strategy.select(black_box(&pool), &mut req)));
        });
    }
}

fn p2c<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("p2c/n{N}"));
    let mut rng = SplitMix(7);
    let rng: &mut dyn Rng = &mut rng;
    g.bench_function("baseline_rng2", |b| {
        b.iter(|| {
            let r = black_box(&mut *rng);
            black_box(r.next_u64());
            black_box(r.next_u64());
        });
    });
    picks::<N, _>(&mut g, "p2c", &PowerOfTwo::new());
    picks::<N, _>(&mut g, "peak_ewma", &PeakEwma::new());
    g.finish();
}

/// Times `CHUNK` calls of `timed` per round, after `CHUNK` untimed calls of `setup`.
fn chunked<T>(
    iters: u64,
    mut setup: impl FnMut(&mut Vec<T>),
    mut timed: impl FnMut(T, usize),
) -> Duration {
    let mut items: Vec<T> = Vec::with_capacity(CHUNK);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = (left as usize).min(CHUNK);
        for _ in 0..n {
            setup(&mut items);
        }
        let start = Instant::now();
        for (i, item) in items.drain(..).enumerate() {
            timed(item, i);
        }
        total += start.elapsed();
        left -= n as u64;
    }
    total
}

fn finish(c: &mut Criterion) {
    let mut g = c.benchmark_group("finish");
    let counter = AtomicU32::new(0);
    g.bench_function("baseline_fetch_sub", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |v| {
                    counter.fetch_add(1, Relaxed);
                    v.push(());
                },
                |(), _| {
                    black_box(black_box(&counter).fetch_sub(1, Relaxed));
                },
            )
        });
    });
    // a pool with ejection on, whose failures never reach k: the failure path does all its
    // bookkeeping every time without ejecting
    let config = Config::new().ejection(Ejection {
        consecutive_failures: u32::MAX,
        ..Ejection::ENVOY
    });
    let pool: Pool<8> = Pool::with_config(config).expect("valid");
    let id = pool.add(1).expect("room");
    let latency = |i: usize| if i.is_multiple_of(2) { 600 } else { 400 };
    for (name, ok) in [("finish_success", true), ("finish_failure", false)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                chunked(
                    iters,
                    |v| v.push(Lease::acquire(&pool, id).expect("uncapped")),
                    |lease, i| {
                        let l = black_box(latency(i));
                        lease.finish(if ok {
                            Outcome::success_after(Duration::from_micros(l)).at_us(NOW_US)
                        } else {
                            Outcome::failure_after(Duration::from_micros(l)).at_us(NOW_US)
                        });
                    },
                )
            });
        });
    }
    g.bench_function("drop", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                |v| v.push(Lease::acquire(&pool, id).expect("uncapped")),
                |lease, _| drop(black_box(lease)),
            )
        });
    });
    g.finish();

    let mut g = c.benchmark_group("lease_finish");
    g.bench_function("baseline_fetch_add_sub", |b| {
        b.iter(|| {
            let c = black_box(&counter);
            black_box(c.fetch_add(1, Relaxed));
            black_box(c.fetch_sub(1, Relaxed));
        });
    });
    g.bench_function("acquire_finish", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            if let Some(lease) = black_box(Lease::acquire(black_box(&pool), id)) {
                lease.finish(
                    Outcome::success_after(Duration::from_micros(black_box(latency(i))))
                        .at_us(NOW_US),
                );
            }
        });
    });
    g.bench_function("acquire_drop", |b| {
        b.iter(|| drop(black_box(Lease::acquire(black_box(&pool), id))));
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    p2c::<8>(c);
    p2c::<64>(c);
    finish(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
