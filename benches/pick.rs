//! How fast is one pick, as a ratio to the cheapest thing that could do the job?
//!
//! Every strategy is measured beside a baseline in the same criterion group, so that the
//! ratio (not the absolute time, which moves with the machine and its load) is the result:
//!
//! | group | baseline | what is compared |
//! |---|---|---|
//! | `rr/n8`, `rr/n64` | `baseline_fetch_add`: one relaxed `fetch_add` | round robin `select` |
//! | `wrr/n8`, `wrr/n64` | `baseline_scan`: `n` relaxed loads, summed | weighted round robin |
//! | (`wrr` too) | `reference_nginx_<weights>`: nginx's smooth WRR, one thread, `&mut` | the schedule WRR reproduces, without atomics |
//! | `least_conn/n8`, `least_conn/n64` | `baseline_scan` | least connections |
//! | `least_time/n8`, `least_time/n64` | `baseline_scan` | least response time |
//! | (the three above) | `baseline_scan_pool`: one in-flight load per pool slot | a second, struct-strided reference |
//! | `random/n8`, `random/n64` | `baseline_rng`: one `next_u64` through `&mut dyn Rng` | weighted random (`select_*`), the alias table (`alias_*`), and a weight-expanded table written here (`table_*`, the O(1) reference) |
//! | `rr_lease/n8` | `baseline_fetch_add_sub`: `fetch_add` then `fetch_sub` | lease + drop, lease + finish |
//! | `rr_contended/n8` | `baseline_fetch_add_2t`: `fetch_add` while a 2nd thread hammers it | round robin while a 2nd thread picks |
//!
//! Function names say the case: `select_<weights>_<load>[_rng|_no_rng]`, where weights are
//! `equal` (all 1) or `skewed` (1, 2, 4, 8 repeating) (the random groups also have `ramp`,
//! 1 to n, and `heavy`, one backend of weight 1000 and the others 1), load is `idle` (no lease out) or
//! `loaded` (0 to 6 leases held per backend, so in-flight counts differ), and `rng` means the
//! request carries a `&mut dyn Rng` (else the strategy's own seeded stream is used).
//!
//! Every pool has one latency sample per backend (different values), so least time
//! compares real estimates, decayed to a clock one second after the samples.
//!
//! Run: `cargo bench --bench pick` (defaults: 1 s warm-up, 2 s measurement per function;
//! criterion's `--warm-up-time` / `--measurement-time` override them), then
//! `python3 benches/ratios.py` for the table of ratios.

use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use core::time::Duration;
use std::thread;
use std::time::Instant;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tinylb::rand_core::Rng;
use tinylb::{
    AliasRandom, BackendId, Lease, LeastConn, LeastTime, Outcome, Pool, Random, Request,
    RoundRobin, Select, SelectExt, WeightedRoundRobin,
};

#[path = "../tests/support/splitmix.rs"]
mod splitmix;
use splitmix::SplitMix;

/// The caller's clock when the latency samples were taken, in microseconds.
const SAMPLED_AT_US: u64 = 10_000_000;
/// The clock the picks run at: one second later, so estimates are decayed.
const NOW_US: u64 = SAMPLED_AT_US + 1_000_000;

#[derive(Clone, Copy)]
enum Weights {
    Equal,
    Skewed,
    /// 1 to n (random groups only).
    Ramp,
    /// One backend of weight 1000, the others 1 (random groups only).
    Heavy,
}

impl Weights {
    fn name(self) -> &'static str {
        match self {
            Weights::Equal => "equal",
            Weights::Skewed => "skewed",
            Weights::Ramp => "ramp",
            Weights::Heavy => "heavy",
        }
    }
    fn of(self, i: usize) -> u32 {
        match self {
            Weights::Equal => 1,
            Weights::Skewed => 1 << (i % 4),
            Weights::Ramp => i as u32 + 1,
            Weights::Heavy => {
                if i == 0 {
                    1000
                } else {
                    1
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Load {
    Idle,
    Loaded,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Idle => "idle",
            Load::Loaded => "loaded",
        }
    }
}

/// A full pool of `N` backends, each with one latency sample (200 to 1190 µs).
fn pool<const N: usize>(weights: Weights) -> Pool<N> {
    let pool = Pool::new();
    for i in 0..N {
        let id = pool.add(weights.of(i)).expect("the pool has N slots");
        let lease = Lease::acquire(&pool, id).expect("a new backend is eligible");
        lease.finish(
            Outcome::success_after(Duration::from_micros(200 + (i as u64 * 37) % 1000))
                .at_us(SAMPLED_AT_US),
        );
    }
    pool
}

/// Leases held on `pool` for [`Load::Loaded`]: backend `k` gets `(5k + 3) mod 7` of them.
fn hold<const N: usize>(pool: &Pool<N>, load: Load) -> Vec<Lease<&Pool<N>, N>> {
    let mut leases = Vec::new();
    if let Load::Loaded = load {
        for (k, id) in pool.ids().iter().enumerate() {
            for _ in 0..(5 * k + 3) % 7 {
                leases.extend(Lease::acquire(pool, *id));
            }
        }
    }
    leases
}

/// The case matrix for one strategy: every weights × load (× with/without an RNG).
fn cases<const N: usize, S: Select<N>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    make: impl Fn() -> S,
    weightings: &[Weights],
    rng_variants: bool,
) {
    for &weights in weightings {
        for load in [Load::Idle, Load::Loaded] {
            let pool = pool::<N>(weights);
            let _held = hold(&pool, load);
            // a fresh strategy per pool (weighted round robin builds its schedule from the
            // pool it first sees; that first pick happens in criterion's warm-up)
            let strategy = &make();
            let base = format!("select_{}_{}", weights.name(), load.name());
            if rng_variants {
                g.bench_function(format!("{base}_no_rng"), |b| {
                    let mut req = Request::new().with_now_us(NOW_US);
                    b.iter(|| black_box(strategy.select(black_box(&pool), &mut req)));
                });
                g.bench_function(format!("{base}_rng"), |b| {
                    let mut rng = SplitMix(7);
                    let mut req = Request::new().with_now_us(NOW_US).with_rng(&mut rng);
                    b.iter(|| black_box(strategy.select(black_box(&pool), &mut req)));
                });
            } else {
                g.bench_function(base, |b| {
                    let mut req = Request::new().with_now_us(NOW_US);
                    b.iter(|| black_box(strategy.select(black_box(&pool), &mut req)));
                });
            }
        }
    }
}

/// Baseline (a): one relaxed `fetch_add` on a counter.
fn baseline_fetch_add(g: &mut BenchmarkGroup<'_, WallTime>) {
    let counter = AtomicU32::new(0);
    g.bench_function("baseline_fetch_add", |b| {
        b.iter(|| black_box(black_box(&counter).fetch_add(1, Relaxed)));
    });
}

/// Baseline (b): a bare scan, `N` relaxed loads summed.
fn baseline_scan<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let slots: [AtomicU32; N] = [const { AtomicU32::new(1) }; N];
    g.bench_function("baseline_scan", |b| {
        b.iter(|| {
            black_box(&slots)
                .iter()
                .fold(0u32, |s, a| s.wrapping_add(a.load(Relaxed)))
        });
    });
}

/// Baseline (b'): the same bare scan over the pool a strategy reads: one relaxed load of
/// each backend's in-flight counter through [`Pool::in_flight_at`], summed. Slots are
/// structs of counters, so unlike the packed array above the compiler cannot vectorize it:
/// this is the cost of touching one counter per backend, which every scanning strategy pays.
fn baseline_scan_pool<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let pool: Pool<N> = Pool::new();
    for _ in 0..N {
        pool.add(1).expect("room");
    }
    g.bench_function("baseline_scan_pool", |b| {
        b.iter(|| {
            let p = black_box(&pool);
            (0..N).fold(0u32, |s, i| s.wrapping_add(p.in_flight_at(i)))
        });
    });
}

/// Baseline (c): one `next_u64` of the benches' RNG through `&mut dyn Rng`, as
/// [`Request::with_rng`] passes it.
fn baseline_rng(g: &mut BenchmarkGroup<'_, WallTime>) {
    let mut rng = SplitMix(7);
    let rng: &mut dyn Rng = &mut rng;
    g.bench_function("baseline_rng", |b| {
        b.iter(|| black_box(black_box(&mut *rng).next_u64()));
    });
}

fn round_robin<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("rr/n{N}"));
    baseline_fetch_add(&mut g);
    cases::<N, _>(&mut g, RoundRobin::new, &[Weights::Equal], false);
    g.finish();
}

/// nginx's smooth weighted round robin (`ngx_http_upstream_get_peer` in
/// `ngx_http_upstream_round_robin.c`) as one thread runs it with `&mut`: every pick adds each
/// weight to its backend's current weight, takes the largest (lowest index on ties) and
/// subtracts the total from it. No atomics, no health or cap test: the floor a lock-free
/// version of the same schedule is compared with.
struct NginxWrr {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl NginxWrr {
    fn new(weights: impl Iterator<Item = u32>) -> Self {
        let weights: Vec<i64> = weights.map(i64::from).collect();
        NginxWrr {
            current: vec![0; weights.len()],
            total: weights.iter().sum(),
            weights,
        }
    }

    fn next(&mut self) -> usize {
        let (mut best, mut most) = (0, i64::MIN);
        for (i, (c, &w)) in self.current.iter_mut().zip(&self.weights).enumerate() {
            *c += w;
            if *c > most {
                (best, most) = (i, *c);
            }
        }
        if let Some(c) = self.current.get_mut(best) {
            *c -= self.total;
        }
        best
    }
}

/// The same-run reference of the `wrr` groups: [`NginxWrr`] over the same weights.
fn reference_nginx<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, weights: &[Weights]) {
    for &w in weights {
        let mut wrr = NginxWrr::new((0..N).map(|i| w.of(i)));
        g.bench_function(format!("reference_nginx_{}", w.name()), |b| {
            b.iter(|| black_box(black_box(&mut wrr).next()));
        });
    }
}

fn weighted_round_robin<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("wrr/n{N}"));
    baseline_scan::<N>(&mut g);
    baseline_scan_pool::<N>(&mut g);
    let weightings = [Weights::Equal, Weights::Skewed];
    reference_nginx::<N>(&mut g, &weightings);
    cases::<N, _>(&mut g, WeightedRoundRobin::<N>::new, &weightings, false);
    g.finish();
}

fn least_conn<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("least_conn/n{N}"));
    baseline_scan::<N>(&mut g);
    baseline_scan_pool::<N>(&mut g);
    cases::<N, _>(
        &mut g,
        LeastConn::new,
        &[Weights::Equal, Weights::Skewed],
        true,
    );
    g.finish();
}

fn least_time<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("least_time/n{N}"));
    baseline_scan::<N>(&mut g);
    baseline_scan_pool::<N>(&mut g);
    cases::<N, _>(
        &mut g,
        LeastTime::new,
        &[Weights::Equal, Weights::Skewed],
        false,
    );
    g.finish();
}

fn random<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("random/n{N}"));
    baseline_rng(&mut g);
    cases::<N, _>(
        &mut g,
        Random::new,
        &[Weights::Equal, Weights::Skewed],
        true,
    );
    // idle pools, the request's RNG: Random, the alias table and the expanded table side by
    // side on every weighting
    for weights in [
        Weights::Equal,
        Weights::Skewed,
        Weights::Ramp,
        Weights::Heavy,
    ] {
        let pool = pool::<N>(weights);
        let w = weights.name();
        if matches!(weights, Weights::Ramp | Weights::Heavy) {
            one_row(
                &mut g,
                format!("select_{w}_idle_rng"),
                &pool,
                &Random::new(),
            );
        }
        one_row(
            &mut g,
            format!("alias_{w}_idle_rng"),
            &pool,
            &AliasRandom::<N>::new(),
        );
        one_row(
            &mut g,
            format!("table_{w}_idle_rng"),
            &pool,
            &Expanded::of(&pool),
        );
    }
    g.finish();
}

/// One `select` row with the request's RNG, on an idle pool.
fn one_row<const N: usize>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: String,
    pool: &Pool<N>,
    strategy: &impl Select<N>,
) {
    g.bench_function(name, |b| {
        let mut rng = SplitMix(7);
        let mut req = Request::new().with_now_us(NOW_US).with_rng(&mut rng);
        b.iter(|| black_box(strategy.select(black_box(pool), &mut req)));
    });
}

/// The O(1) reference for weighted random: every slot index repeated as often as its
/// weight (pingora's table, memory proportional to the weights: a yardstick, not a design),
/// one draw by multiply-shift, judged through the pool's view like any strategy.
struct Expanded {
    table: Vec<u16>,
}

impl Expanded {
    fn of<const N: usize>(pool: &Pool<N>) -> Self {
        let table = pool
            .ids()
            .iter()
            .flat_map(|id: &BackendId| {
                let w = pool.info(*id).expect("live").weight;
                core::iter::repeat_n(id.index() as u16, w as usize)
            })
            .collect();
        Expanded { table }
    }
}

impl<const N: usize> Select<N> for Expanded {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            let r = req.rng().map_or(0, |r| r.next_u64()) as u32;
            let k = (r as u64 * self.table.len() as u64) >> 32;
            let i = *self.table.get(k as usize)? as usize;
            view.get(i).or_else(|| view.candidates().next())
        })
    }
}

/// Lease + drop and lease + finish with round robin, beside a `fetch_add` + `fetch_sub` pair.
fn rr_lease(c: &mut Criterion) {
    let mut g = c.benchmark_group("rr_lease/n8");
    let counter = AtomicU32::new(0);
    g.bench_function("baseline_fetch_add_sub", |b| {
        b.iter(|| {
            let c = black_box(&counter);
            black_box(c.fetch_add(1, Relaxed));
            black_box(c.fetch_sub(1, Relaxed));
        });
    });
    let pool = pool::<8>(Weights::Equal);
    let rr = RoundRobin::new();
    g.bench_function("lease_drop", |b| {
        let mut req = Request::new().with_now_us(NOW_US);
        b.iter(|| drop(black_box(rr.lease(black_box(&pool), &mut req))));
    });
    g.bench_function("lease_finish", |b| {
        let mut req = Request::new().with_now_us(NOW_US);
        b.iter(|| {
            if let Some(lease) = black_box(rr.lease(black_box(&pool), &mut req)) {
                lease.finish(
                    Outcome::success_after(Duration::from_micros(black_box(500))).at_us(NOW_US),
                );
            }
        });
    });
    g.finish();
}

/// Runs `measured` while a second thread calls `rival` in a loop; the rival is running
/// before `measured` starts and is stopped after it returns.
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

/// Round robin contended by a second thread picking from the same strategy and pool, beside
/// a `fetch_add` contended by a second thread on the same counter.
fn rr_contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("rr_contended/n8");
    let counter = AtomicU32::new(0);
    g.bench_function("baseline_fetch_add_2t", |b| {
        b.iter_custom(|iters| {
            with_rival(
                || {
                    black_box(counter.fetch_add(1, Relaxed));
                },
                || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(black_box(&counter).fetch_add(1, Relaxed));
                    }
                    start.elapsed()
                },
            )
        });
    });
    let pool = pool::<8>(Weights::Equal);
    let rr = RoundRobin::new();
    g.bench_function("select_2t", |b| {
        b.iter_custom(|iters| {
            with_rival(
                || {
                    black_box(rr.select(&pool, &mut Request::new()));
                },
                || {
                    let mut req = Request::new();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(rr.select(black_box(&pool), &mut req));
                    }
                    start.elapsed()
                },
            )
        });
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    round_robin::<8>(c);
    round_robin::<64>(c);
    weighted_round_robin::<8>(c);
    weighted_round_robin::<64>(c);
    least_conn::<8>(c);
    least_conn::<64>(c);
    least_time::<8>(c);
    least_time::<64>(c);
    random::<8>(c);
    random::<64>(c);
    rr_lease(c);
    rr_contended(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
