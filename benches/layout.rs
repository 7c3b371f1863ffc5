//! Does a lease slow down a lease on another backend? The slot layout's bench.
//!
//! Two threads each lease and drop a backend of their own, over and over, in one pool: the
//! measured thread takes slot 0, its rival slot `k`. Nothing is shared between the two
//! backends but the pool, so any slowdown against the one-thread row is false sharing of
//! cache lines: the slot layout decides it. The floors beside them are two threads
//! incrementing and decrementing counters of their own, first in one packed array (adjacent
//! words: the false-sharing worst case), then each on its own 128-byte line.
//!
//! | group | rows |
//! |---|---|
//! | `layout/lease` | `own_1t`; `neighbour_2t` (rival on slot 1), `far_2t` (rival on slot 7) |
//! | `layout/floor` | `packed_1t`, `packed_2t`, `padded_2t` |
//!
//! Run: `cargo bench --bench layout`, then `python3 benches/ratios.py target/criterion
//! --group layout`. Times are per lease + drop (or per increment + decrement) of the
//! measured thread.

use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use core::time::Duration;
use std::thread;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use tinylb::{BackendId, Lease, Pool};

/// Runs `measured` while a second thread calls `rival` in a loop, started before and
/// stopped after.
fn with_rival(rival: impl Fn() + Sync, measured: impl FnOnce() -> Duration) -> Duration {
    let started = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            started.store(true, Relaxed);
            while !stop.load(Relaxed) {
                for _ in 0..64 {
                    rival();
                }
            }
        });
        while !started.load(Relaxed) {
            thread::yield_now();
        }
        let elapsed = measured();
        stop.store(true, Relaxed);
        elapsed
    })
}

fn lease_drop(pool: &Pool<8>, id: BackendId) {
    black_box(Lease::acquire(black_box(pool), id));
}

fn timed(iters: u64, op: impl Fn()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

fn lease(c: &mut Criterion) {
    let pool = Pool::<8>::new();
    let ids: [BackendId; 8] = core::array::from_fn(|_| pool.add(1).unwrap());
    let [first, neighbour, .., far] = ids;
    let mut g = c.benchmark_group("layout/lease");
    g.bench_function("own_1t", |b| {
        b.iter_custom(|iters| timed(iters, || lease_drop(&pool, first)))
    });
    for (name, rival) in [("neighbour_2t", neighbour), ("far_2t", far)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                with_rival(
                    || lease_drop(&pool, rival),
                    || timed(iters, || lease_drop(&pool, first)),
                )
            })
        });
    }
    g.finish();
}

/// A counter on a 128-byte line of its own.
#[repr(align(128))]
struct Padded(AtomicU32);

fn bump(c: &AtomicU32) {
    black_box(c.fetch_add(1, Relaxed));
    black_box(c.fetch_sub(1, Relaxed));
}

fn floor(c: &mut Criterion) {
    let packed: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
    let padded: [Padded; 2] = [Padded(AtomicU32::new(0)), Padded(AtomicU32::new(0))];
    let mut g = c.benchmark_group("layout/floor");
    g.bench_function("packed_1t", |b| {
        b.iter_custom(|iters| timed(iters, || bump(black_box(&packed[0]))))
    });
    g.bench_function("packed_2t", |b| {
        b.iter_custom(|iters| {
            with_rival(
                || bump(&packed[1]),
                || timed(iters, || bump(black_box(&packed[0]))),
            )
        })
    });
    g.bench_function("padded_2t", |b| {
        b.iter_custom(|iters| {
            with_rival(
                || bump(&padded[1].0),
                || timed(iters, || bump(black_box(&padded[0].0))),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = lease, floor
}
criterion_main!(benches);
