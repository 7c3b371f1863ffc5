//! Scale: tinylb beside the references it is judged against, at n = 8 and 64, and from two
//! threads, in one run, so every row reads as a ratio to a reference measured minutes apart
//! at most (`python3 benches/ratios.py target/criterion --group scale`).
//!
//! | group | reference (`baseline_*`) | tinylb rows |
//! |---|---|---|
//! | `scale/wrr/n8`, `n64` | weighted-rs 0.1.3 `SmoothWeight` (nginx's smooth WRR, `&mut`, one thread; `src/smooth_weight.rs` there, after nginx `src/http/ngx_http_upstream_round_robin.c`, `ngx_http_upstream_get_peer`) | `WeightedRoundRobin::select`, no lease |
//! | `scale/random/n{8,64}_{linear,skewed}` | a weight-expanded table (each backend's index repeated weight times, a `Vec<u16>`) indexed by an unbiased draw from [`SplitMix`], called directly | `Random::select` and `AliasRandom::select`, each with its own stream and with a caller RNG ([`SplitMix`] through `&mut dyn Rng`) |
//! | `scale/least_conn/n64` | `baseline_scan`: 64 packed `AtomicU32` loads summed (and `baseline_scan_pool`: one in-flight load per pool slot; `baseline_layout_scan_{idle,loaded}`: a hand-written least-connections scan over a copy of the slot layout, the layout's own floor) | `LeastConn::select` idle, and loaded as `benches/pick.rs` loads it |
//! | `scale/threads{1,2}/n8`, `n64` | `baseline_floor_padded`: increment then decrement the counter of a random backend, each counter on its own 128-byte line | `floor_packed` (n = 64: the same on a packed `[AtomicU32; 64]`), P2C and round robin lease + drop, one shared strategy or one per worker |
//!
//! Weights are `linear` (backend `i` has weight `i + 1`) or `skewed` (backend 0 has 1000, the
//! others 1); the thread rows use equal weights so that they measure contention, not the
//! weighted draw. `threads2` rows time the measured thread while a rival thread runs the same
//! operation on the same shared data (its own worker state); the time is per operation per
//! thread, and `threads1` rows run the same closures alone. Every per-thread state (RNG,
//! per-worker strategy, the rival's stop flag) is in a [`Padded`] of its own, so the bench
//! does not measure its own false sharing.
//!
//! Run: `cargo bench --bench scale` (1 s warm-up, 2 s measurement per function, 10 000
//! bootstrap resamples, 42 functions: 3 min 34 s on the shared 2-core machine), then
//! `python3 benches/ratios.py target/criterion --group scale`, which adds a table of each
//! `threads2` row over its `threads1` twin. Two-thread rows need two idle cores: on a busy
//! machine the rival is often descheduled and the row drifts towards its one-thread figure;
//! each such row prints (stderr) how many operations its rival completed per timed one.

use core::hint::black_box;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use core::time::Duration;
use std::thread;
use std::time::Instant;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tinylb::{
    AliasRandom, Lease, LeastConn, Pool, PowerOfTwo, Random, Request, RoundRobin, Select,
    SelectExt, WeightedRoundRobin,
};
use weighted_rs::{SmoothWeight, Weight};

#[path = "../tests/support/splitmix.rs"]
mod splitmix;
use splitmix::SplitMix;

/// A value on cache lines of its own: 128 bytes, since x86's adjacent-line prefetcher moves
/// 64-byte lines in pairs (crossbeam-utils `src/cache_padded.rs` pads to 128 on x86-64 too).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Clone, Copy)]
enum Weights {
    Equal,
    Linear,
    Skewed,
}

impl Weights {
    fn name(self) -> &'static str {
        match self {
            Weights::Equal => "equal",
            Weights::Linear => "linear",
            Weights::Skewed => "skewed",
        }
    }
    fn of(self, i: usize) -> u32 {
        match self {
            Weights::Equal => 1,
            Weights::Linear => i as u32 + 1,
            Weights::Skewed if i == 0 => 1000,
            Weights::Skewed => 1,
        }
    }
}

/// A full pool of `N` backends with these weights.
fn pool<const N: usize>(weights: Weights) -> Pool<N> {
    let pool = Pool::new();
    for i in 0..N {
        pool.add(weights.of(i)).expect("the pool has N slots");
    }
    pool
}

/// Leases held as `benches/pick.rs` holds them when loaded: backend `k` gets `(5k + 3) mod 7`.
fn hold<const N: usize>(pool: &Pool<N>) -> Vec<Lease<&Pool<N>, N>> {
    let mut leases = Vec::new();
    for (k, id) in pool.ids().iter().enumerate() {
        for _ in 0..(5 * k + 3) % 7 {
            leases.extend(Lease::acquire(pool, *id));
        }
    }
    leases
}

/// A draw in `0..n` (`n > 0`), unbiased: Lemire's multiply-and-reject over 32-bit draws.
fn below(rng: &mut SplitMix, n: u32) -> u32 {
    let mut m = u64::from((rng.next() >> 32) as u32) * u64::from(n);
    if (m as u32) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u32) < threshold {
            m = u64::from((rng.next() >> 32) as u32) * u64::from(n);
        }
    }
    (m >> 32) as u32
}

fn wrr<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("scale/wrr/n{N}"));
    let mut smooth = SmoothWeight::<usize>::new();
    for i in 0..N {
        smooth.add(i, Weights::Linear.of(i) as isize);
    }
    g.bench_function("baseline_weighted_rs", |b| {
        b.iter(|| black_box(black_box(&mut smooth).next()));
    });
    let pool = pool::<N>(Weights::Linear);
    let wrr = WeightedRoundRobin::<N>::new();
    g.bench_function("select", |b| {
        let mut req = Request::new();
        b.iter(|| black_box(wrr.select(black_box(&pool), &mut req)));
    });
    g.finish();
}

fn random<const N: usize>(c: &mut Criterion, weights: Weights) {
    let mut g = c.benchmark_group(format!("scale/random/n{N}_{}", weights.name()));
    let table: Vec<u16> = (0..N)
        .flat_map(|i| core::iter::repeat_n(i as u16, weights.of(i) as usize))
        .collect();
    let len = table.len() as u32;
    g.bench_function("baseline_table", |b| {
        let mut rng = SplitMix(7);
        b.iter(|| {
            black_box(
                black_box(&table)
                    .get(below(&mut rng, len) as usize)
                    .copied(),
            )
        });
    });
    let pool = pool::<N>(weights);
    let random = Random::new();
    g.bench_function("select_own_stream", |b| {
        let mut req = Request::new();
        b.iter(|| black_box(random.select(black_box(&pool), &mut req)));
    });
    g.bench_function("select_rng", |b| {
        let mut rng = SplitMix(7);
        let mut req = Request::new().with_rng(&mut rng);
        b.iter(|| black_box(random.select(black_box(&pool), &mut req)));
    });
    let alias = AliasRandom::<N>::new();
    g.bench_function("alias_own_stream", |b| {
        let mut req = Request::new();
        b.iter(|| black_box(alias.select(black_box(&pool), &mut req)));
    });
    g.bench_function("alias_rng", |b| {
        let mut rng = SplitMix(7);
        let mut req = Request::new().with_rng(&mut rng);
        b.iter(|| black_box(alias.select(black_box(&pool), &mut req)));
    });
    g.finish();
}

fn least_conn(c: &mut Criterion) {
    const N: usize = 64;
    let mut g = c.benchmark_group("scale/least_conn/n64");
    let slots: [AtomicU32; N] = [const { AtomicU32::new(1) }; N];
    g.bench_function("baseline_scan", |b| {
        b.iter(|| {
            black_box(&slots)
                .iter()
                .fold(0u32, |s, a| s.wrapping_add(a.load(Relaxed)))
        });
    });
    // the slot layout's own floor: a hand-written least-connections scan over a copy of
    // the 64-bit targets' layout (two 64-byte lines a backend), with nothing of tinylb's
    // but the words it reads
    for loaded in [false, true] {
        let model = layout_model(N, loaded);
        let name = if loaded {
            "baseline_layout_scan_loaded"
        } else {
            "baseline_layout_scan_idle"
        };
        g.bench_function(name, |b| b.iter(|| layout_scan(black_box(&model))));
    }
    let idle = pool::<N>(Weights::Linear);
    g.bench_function("baseline_scan_pool", |b| {
        b.iter(|| {
            let p = black_box(&idle);
            (0..N).fold(0u32, |s, i| s.wrapping_add(p.in_flight_at(i)))
        });
    });
    let lc = LeastConn::new();
    g.bench_function("select_idle", |b| {
        let mut req = Request::new();
        b.iter(|| black_box(lc.select(black_box(&idle), &mut req)));
    });
    let loaded = pool::<N>(Weights::Linear);
    let _held = hold(&loaded);
    let lc = LeastConn::new();
    g.bench_function("select_loaded", |b| {
        let mut req = Request::new();
        b.iter(|| black_box(lc.select(black_box(&loaded), &mut req)));
    });
    g.finish();
}

/// The words of one backend that least connections reads, laid out as a slot is on the
/// 64-bit targets (`src/pool/slot.rs`): the in-flight word on one 64-byte line, the config
/// word (state bits 21.., weight below) and the cap on the next.
#[repr(C, align(64))]
struct ModelSlot {
    in_flight: AtomicU64,
    _hot: [u64; 7],
    config: AtomicU32,
    cap: AtomicU32,
    _cold: [u32; 14],
}

const MODEL_UP: u32 = 1 << 21;
const MODEL_STATE: u32 = 0xfe0_0000;
const MODEL_WEIGHT: u32 = (1 << 21) - 1;

/// `n` model slots, weights `1..=n`, idle or loaded as [`hold`] loads a pool.
fn layout_model(n: usize, loaded: bool) -> Vec<ModelSlot> {
    (0..n)
        .map(|k| ModelSlot {
            in_flight: AtomicU64::new(if loaded { ((5 * k + 3) % 7) as u64 } else { 0 }),
            _hot: [0; 7],
            config: AtomicU32::new(MODEL_UP | (k as u32 + 1)),
            cap: AtomicU32::new(u32::MAX),
            _cold: [0; 14],
        })
        .collect()
}

/// The least a least-connections scan over that layout does: per backend the state and
/// weight test, the in-flight load, the cap, the cross-multiplication and the tie bit
/// (lowest cost and first minimiser kept; no ids, no draw).
#[inline(never)]
fn layout_scan(slots: &[ModelSlot]) -> (u64, u64, u64) {
    let (mut load, mut weight, mut ties) = (1u64, 0u64, 0u64);
    for (j, s) in slots.iter().take(64).enumerate() {
        let c = s.config.load(core::sync::atomic::Ordering::Acquire);
        let w = u64::from(c & MODEL_WEIGHT);
        if c & MODEL_STATE != MODEL_UP || w == 0 {
            continue;
        }
        let f = s.in_flight.load(Relaxed) & u64::from(MODEL_WEIGHT);
        if f > u64::from(s.cap.load(Relaxed)) {
            continue;
        }
        let (a, b) = (f * weight, load * w);
        if a > b {
            continue;
        }
        if a < b {
            (load, weight, ties) = (f, w, 0);
        }
        ties |= 1 << j;
    }
    (load, weight, ties)
}

/// Runs `measured` while a second thread calls `rival` in a loop: the rival is running before
/// `measured` starts and is stopped after it returns. Unlike `benches/pick.rs`'s helper the
/// rival owns its state (`FnMut`, moved to its thread), and the flags it polls sit on lines
/// of their own, away from the measured thread's stack. Also returns how many operations the
/// rival completed while `measured` ran (to within 64): it publishes its count every 64 on a
/// line of its own, read once before and once after.
fn with_rival(
    mut rival: impl FnMut() + Send,
    measured: impl FnOnce() -> Duration,
) -> (Duration, u64) {
    let started = Padded(AtomicBool::new(false));
    let stop = Padded(AtomicBool::new(false));
    let done = Padded(AtomicU64::new(0));
    let (started, stop, done) = (&started, &stop, &done);
    thread::scope(|s| {
        s.spawn(move || {
            started.store(true, Relaxed);
            let mut count = 0;
            while !stop.load(Relaxed) {
                for _ in 0..64 {
                    rival();
                }
                count += 64;
                done.store(count, Relaxed);
            }
        });
        while !started.load(Relaxed) {
            thread::yield_now();
        }
        let before = done.load(Relaxed);
        let elapsed = measured();
        let rival_ops = done.load(Relaxed) - before;
        stop.store(true, Relaxed);
        (elapsed, rival_ops)
    })
}

/// The rows of one threads group.
struct Rows<'g, 'c> {
    g: BenchmarkGroup<'c, WallTime>,
    name: &'g str,
    threads: usize,
}

impl Rows<'_, '_> {
    /// One row: `make(worker)` builds worker `worker`'s operation (its own state inside, the
    /// shared data borrowed); worker 0 is timed, worker 1 is the rival. With two threads it
    /// prints (stderr) how many operations the rival completed per timed one, over every
    /// sample: near 1 when both ran side by side, well below 1 when the rival was often
    /// descheduled and the row is closer to a one-thread figure than it claims.
    fn row<O: FnMut() + Send>(&mut self, name: &str, make: impl Fn(u32) -> O) {
        let threads = self.threads;
        let (mut timed_ops, mut rival_ops) = (0u64, 0u64);
        self.g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut op = make(0);
                let mut timed = move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        op();
                    }
                    start.elapsed()
                };
                if threads == 1 {
                    return timed();
                }
                let (elapsed, rival) = with_rival(make(1), timed);
                timed_ops += iters;
                rival_ops += rival;
                elapsed
            });
        });
        if timed_ops > 0 {
            let per = rival_ops as f64 / timed_ops as f64;
            eprintln!(
                "{}/{name}: the rival ran {per:.2} ops per timed op",
                self.name
            );
        }
    }
}

/// `fetch_add` then `fetch_sub` on one counter, as a lease and its drop do.
fn bump(counter: Option<&AtomicU32>) {
    if let Some(c) = black_box(counter) {
        black_box(c.fetch_add(1, Relaxed));
        black_box(c.fetch_sub(1, Relaxed));
    }
}

fn threads<const N: usize>(c: &mut Criterion, threads: usize) {
    let name = format!("scale/threads{threads}/n{N}");
    let g = c.benchmark_group(&name);
    let mut rows = Rows {
        g,
        name: &name,
        threads,
    };
    let padded: [Padded<AtomicU32>; N] = [const { Padded(AtomicU32::new(0)) }; N];
    rows.row("baseline_floor_padded", |w| {
        let mut rng = Padded(SplitMix(u64::from(w) + 1));
        let padded = &padded;
        move || {
            bump(
                padded
                    .get(below(&mut rng.0, N as u32) as usize)
                    .map(|p| &p.0),
            )
        }
    });
    if N == 64 {
        let packed: Padded<[AtomicU32; N]> = Padded([const { AtomicU32::new(0) }; N]);
        rows.row("floor_packed", |w| {
            let mut rng = Padded(SplitMix(u64::from(w) + 1));
            let packed = &packed;
            move || bump(packed.get(below(&mut rng.0, N as u32) as usize))
        });
    }
    let pool = pool::<N>(Weights::Equal);
    let pool = &pool;
    let p2c = PowerOfTwo::new();
    let p2c = &p2c;
    rows.row("p2c_lease_drop_shared", |_| {
        move || drop(black_box(p2c.lease(black_box(pool), &mut Request::new())))
    });
    rows.row("p2c_lease_drop_per_worker", |w| {
        let mine = Padded(PowerOfTwo::with_seed(u64::from(w)));
        move || drop(black_box(mine.lease(black_box(pool), &mut Request::new())))
    });
    let rr = RoundRobin::new();
    let rr = &rr;
    rows.row("rr_lease_drop_shared", |_| {
        move || drop(black_box(rr.lease(black_box(pool), &mut Request::new())))
    });
    rows.row("rr_lease_drop_per_worker", |w| {
        let mine = Padded(RoundRobin::starting_at(w));
        move || drop(black_box(mine.lease(black_box(pool), &mut Request::new())))
    });
    rows.g.finish();
}

fn all(c: &mut Criterion) {
    wrr::<8>(c);
    wrr::<64>(c);
    for weights in [Weights::Linear, Weights::Skewed] {
        random::<8>(c, weights);
        random::<64>(c, weights);
    }
    least_conn(c);
    for t in [1, 2] {
        threads::<8>(c, t);
        threads::<64>(c, t);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        // criterion's bootstrap (100 000 resamples by default) took about 0.7 s a function
        // here, a sixth of the run; 10 000 leave the medians as they are
        .nresamples(10_000);
    targets = all
}
criterion_main!(benches);
