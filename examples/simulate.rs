//! A deterministic discrete-event simulation of a cluster: clients send requests through each
//! of tinylb's strategies to backends with latency distributions, and the table shows what each
//! strategy does to the latency percentiles, the failures and each backend's share.
//!
//! ```text
//! cargo run --release --example simulate [-- OPTIONS]
//!
//!   --requests N      requests per scenario and strategy        (default 200000)
//!   --backends N      pool size, 2..=64 (heterogeneous cycles tower's 10 latencies)
//!                                                               (default 10)
//!   --seed N          seed of every random draw                 (default 1)
//!   --scenario NAME   equal, heterogeneous, slowdown, failing, returning, or all
//!                                                               (default all)
//!   --svg PATH        chart of the latency percentiles          (default target/simulate.svg)
//! ```
//!
//! # The model
//!
//! * **Clients**: a closed loop, as in tower's balancer demo (PR #76): `C` clients each keep one
//!   request outstanding and send the next one the moment the last completes. Every request
//!   carries a key, the id of the user who sent it (uniform over 10 000 users), so hashing
//!   strategies have something to hash.
//! * **Picks** are the crate's real ones: `Strategy::from_name(name, seed)` for every name in
//!   `Strategy::NAMES`, `SelectExt::lease` with a `Request` whose clock (`at_us`) is the
//!   simulation's time and whose randomness is a seeded `rand_core::Rng`. A request holds its
//!   lease until it completes and then reports its latency (or its failure) through
//!   `Lease::finish`, so in-flight counts and latency estimates are what a real proxy would see.
//! * **Backends** serve a request in a random time from their distribution. A backend with
//!   `workers` serves that many requests at once and queues the rest (first come, first
//!   served); a request's latency is its queueing time plus its service time.
//! * **Time** is an integer count of microseconds, kept in an event queue ordered by completion
//!   time (a `BinaryHeap`). Scenario events (a backend turning slow, going down, coming back)
//!   happen after a fixed number of requests has been sent, so every strategy meets them at the
//!   same point of its run.
//! * **Policies**: `failing` also runs every strategy on a pool with Envoy's outlier-ejection
//!   defaults (`+ejection`), and `returning` on a pool with a 3 s linear slow start
//!   (`+slow_start`; it also ramps every backend at the start of the run, as a proxy that
//!   starts with slow start configured does). Every backend has weight 100 (equal weights;
//!   slow start cannot ramp a weight of 1, since an effective weight never drops below 1).
//!
//! Columns: p50, p99 and p999 latency (nearest rank, over the successful requests), failures
//! (failed requests, and requests for which the strategy found no backend: the client tries
//! again 1 ms later), `time s` (simulated seconds to serve every request: lower means more
//! throughput from the same clients) and each backend's share of the picks.
//! Everything is seeded: the same options print the same tables on every machine. Runs are
//! spread over the machine's cores (each run is single-threaded, so this does not change any
//! result).

#![allow(
    clippy::indexing_slicing,
    reason = "a simulation indexes its own tables by backend, slot and client; an out-of-range index is a bug to panic on"
)]

use core::cmp::Reverse;
use core::convert::Infallible;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use tinylb::rand_core::TryRng;
use tinylb::{
    BackendId, Config, Ejection, Health, Lease, Outcome, Pool, Request, SelectExt, SlowStart,
    Strategy,
};

/// Pool capacity: `--backends` may be anything up to this.
const N: usize = 64;
/// Every backend's weight: equal, and large enough for slow start to ramp it (an effective
/// weight never drops below 1, so a backend of weight 1 cannot ramp).
const WEIGHT: u32 = 100;
/// Distinct users whose ids are the requests' keys.
const USERS: u64 = 10_000;
/// tower's `MAX_ENDPOINT_LATENCIES` in PR #76, in milliseconds.
const TOWER_MAX_MS: [u64; 10] = [1, 10, 10, 10, 10, 100, 100, 100, 100, 1000];
/// tower's `CONCURRENCY` (50) for its 10 endpoints: 5 clients per backend.
const TOWER_CLIENTS_PER_BACKEND: usize = 5;
/// Workers per backend in the other scenarios.
const WORKERS: u32 = 8;
/// Clients per backend in the other scenarios: 75 % of the workers when perfectly balanced.
const CLIENTS_PER_BACKEND: usize = 7;
/// Service time in the other scenarios: 1 ms plus an exponential with a 9 ms mean.
const SERVICE_MIN_US: u64 = 1_000;
const SERVICE_EXP_MEAN_US: u64 = 9_000;
/// How long a failed request of the `failing` scenario takes: it fails fast.
const FAIL_US: u64 = 1_000;
/// How long the backend of the `returning` scenario stays cold, and how slow it starts.
const COLD_US: u64 = 3_000_000;
const COLD_FACTOR: u64 = 5;

// ----- randomness -----

/// SplitMix64: a tiny seedable `rand_core` RNG, identical on every target.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64, stream: u64) -> Self {
        SplitMix(mix64(
            seed ^ mix64(stream.wrapping_add(0x5851_f42d_4c95_7f2d)),
        ))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    /// Uniform in `[0, 1)` with 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n` (float scaling: bias below 2^-53, irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        (self.unit() * n as f64) as u64
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TryRng for SplitMix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

// ----- scenarios -----

/// A backend's service time.
#[derive(Debug, Clone, Copy)]
enum Dist {
    /// Uniform in `[0, max_us)`: tower's `DelayService`.
    Uniform { max_us: u64 },
    /// `min_us` plus an exponential with mean `mean_us`.
    ShiftedExp { min_us: u64, mean_us: u64 },
}

impl Dist {
    fn sample(self, rng: &mut SplitMix) -> u64 {
        match self {
            Dist::Uniform { max_us } => rng.below(max_us),
            Dist::ShiftedExp { min_us, mean_us } => {
                let u = 1.0 - rng.unit(); // (0, 1]
                min_us + (-u.ln() * mean_us as f64) as u64
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct BackendSpec {
    dist: Dist,
    /// Requests served at once; the rest wait in a FIFO queue. `u32::MAX`: no queueing.
    workers: u32,
    /// Chance that a request fails (in 1/1000); a failure answers after [`FAIL_US`].
    fail_per_mille: u64,
}

/// Something that happens to backend `backend` once `after` requests have been sent.
#[derive(Debug, Clone, Copy)]
struct Event {
    after: u64,
    backend: usize,
    change: Change,
}

#[derive(Debug, Clone, Copy)]
enum Change {
    /// Service times are multiplied by this from now on.
    SlowDown(u64),
    /// Marked down by the health checker: no new picks, requests in flight finish.
    Down,
    /// Marked up again; it is cold for [`COLD_US`]: its service times start
    /// [`COLD_FACTOR`] times longer and fall linearly back to normal.
    UpCold,
}

#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    title: String,
    backends: Vec<BackendSpec>,
    clients: usize,
    events: Vec<Event>,
    /// Pool policies to run every strategy with: a label suffix and the pool's config. The
    /// first is always the default pool.
    policies: Vec<(&'static str, Config)>,
}

const SCENARIOS: [&str; 5] = ["equal", "heterogeneous", "slowdown", "failing", "returning"];

fn scenario(name: &str, n: usize, requests: u64) -> Option<Scenario> {
    let normal = BackendSpec {
        dist: Dist::ShiftedExp {
            min_us: SERVICE_MIN_US,
            mean_us: SERVICE_EXP_MEAN_US,
        },
        workers: WORKERS,
        fail_per_mille: 0,
    };
    let base = format!(
        "{n} backends, {WORKERS} workers each, service 1 ms + exp(9 ms), {} clients",
        n * CLIENTS_PER_BACKEND
    );
    let mut sc = Scenario {
        name: "",
        title: String::new(),
        backends: vec![normal; n],
        clients: n * CLIENTS_PER_BACKEND,
        events: Vec::new(),
        policies: vec![("", Config::new())],
    };
    match name {
        "equal" => {
            sc.name = "equal";
            sc.title = format!("equal: {base}");
        }
        "heterogeneous" => {
            sc.name = "heterogeneous";
            sc.backends = (0..n)
                .map(|i| BackendSpec {
                    dist: Dist::Uniform {
                        max_us: TOWER_MAX_MS[i % TOWER_MAX_MS.len()] * 1000,
                    },
                    workers: u32::MAX,
                    fail_per_mille: 0,
                })
                .collect();
            sc.clients = n * TOWER_CLIENTS_PER_BACKEND;
            let maxes: Vec<String> = (0..n)
                .map(|i| TOWER_MAX_MS[i % TOWER_MAX_MS.len()].to_string())
                .collect();
            sc.title = format!(
                "heterogeneous (tower PR #76): {n} backends, latency uniform in [0, max) with max = [{}] ms, no queueing, {} clients",
                maxes.join(", "),
                sc.clients
            );
        }
        "slowdown" => {
            sc.name = "slowdown";
            sc.events.push(Event {
                after: requests / 2,
                backend: 0,
                change: Change::SlowDown(10),
            });
            sc.title = format!("slowdown: {base}; b0 turns 10x slower after half the requests");
        }
        "failing" => {
            sc.name = "failing";
            if let Some(b) = sc.backends.first_mut() {
                b.fail_per_mille = 500;
            }
            sc.policies
                .push((" +ejection", Config::new().ejection(Ejection::ENVOY)));
            sc.title = format!(
                "failing: {base}; b0 fails half its requests, fast (1 ms); +ejection: Envoy's outlier ejection defaults"
            );
        }
        "returning" => {
            sc.name = "returning";
            sc.events.push(Event {
                after: requests / 4,
                backend: 0,
                change: Change::Down,
            });
            sc.events.push(Event {
                after: requests / 2,
                backend: 0,
                change: Change::UpCold,
            });
            sc.policies.push((
                " +slow_start",
                Config::new().slow_start(SlowStart::linear((COLD_US / 1000) as u32)),
            ));
            sc.title = format!(
                "returning: {base}; b0 down from 1/4 to 1/2 of the requests, then back cold (5x slower, warming up over 3 s); +slow_start: a linear 3 s ramp"
            );
        }
        _ => return None,
    }
    Some(sc)
}

// ----- one run: one scenario, one strategy -----

#[derive(Debug, Clone)]
struct RunResult {
    /// The strategy's name and the policy's suffix.
    strategy: String,
    /// Sorted latencies of successful requests, in microseconds.
    latencies: Vec<u64>,
    failures: u64,
    /// Requests for which no backend was eligible (counted in `failures` too).
    unroutable: u64,
    picks: Vec<u64>,
    sim_us: u64,
}

impl RunResult {
    /// Nearest-rank percentile, in microseconds.
    fn pct(&self, q: f64) -> u64 {
        let n = self.latencies.len();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1]
    }
}

/// One request in flight: its lease, who sent it and when.
struct Flight<'p> {
    lease: Lease<&'p Pool<N>, N>,
    client: usize,
    sent_us: u64,
    failed: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    /// The request in this flight slot completes.
    Done(usize),
    /// This client sends its next request (after waiting for an eligible backend).
    Send(usize),
}

struct BackendState {
    busy: u32,
    queue: VecDeque<usize>,
    rng: SplitMix,
    slow: u64,
    cold_since: Option<u64>,
}

struct Sim<'p> {
    pool: &'p Pool<N>,
    ids: Vec<BackendId>,
    strategy: Strategy<N>,
    sc: &'p Scenario,
    requests: u64,
    now: u64,
    seq: u64,
    sent: u64,
    next_event: usize,
    heap: BinaryHeap<Reverse<(u64, u64, What)>>,
    flights: Vec<Option<Flight<'p>>>,
    free: Vec<usize>,
    backends: Vec<BackendState>,
    pick_rng: SplitMix,
    key_rng: SplitMix,
    result: RunResult,
}

impl<'p> Sim<'p> {
    fn schedule(&mut self, at: u64, what: What) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, what)));
    }

    fn apply_events(&mut self) {
        while let Some(ev) = self.sc.events.get(self.next_event) {
            if ev.after > self.sent {
                break;
            }
            let ev = *ev;
            self.next_event += 1;
            let id = self.ids[ev.backend];
            match ev.change {
                Change::SlowDown(f) => self.backends[ev.backend].slow = f,
                Change::Down => self
                    .pool
                    .set_health(id, Health::Down)
                    .expect("backend exists"),
                Change::UpCold => {
                    self.pool
                        .set_health(id, Health::Up)
                        .expect("backend exists");
                    self.backends[ev.backend].cold_since = Some(self.now);
                }
            }
        }
    }

    fn send(&mut self, client: usize) {
        if self.sent >= self.requests {
            return;
        }
        self.apply_events();
        let key = self.key_rng.below(USERS);
        self.sent += 1;
        let lease = {
            let mut req = Request::new()
                .with_key(key)
                .at_us(self.now)
                .with_rng(&mut self.pick_rng);
            self.strategy.lease(self.pool, &mut req)
        };
        let Some(lease) = lease else {
            // nothing eligible: the request fails at once, the client tries again in 1 ms
            self.result.failures += 1;
            self.result.unroutable += 1;
            self.schedule(self.now + 1_000, What::Send(client));
            return;
        };
        let b = lease.index();
        self.result.picks[b] += 1;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.flights.push(None);
                self.flights.len() - 1
            }
        };
        self.flights[slot] = Some(Flight {
            lease,
            client,
            sent_us: self.now,
            failed: false,
        });
        if self.backends[b].busy < self.sc.backends[b].workers {
            self.start(b, slot);
        } else {
            self.backends[b].queue.push_back(slot);
        }
    }

    /// A worker of backend `b` starts serving the request in `slot`.
    fn start(&mut self, b: usize, slot: usize) {
        let spec = self.sc.backends[b];
        let st = &mut self.backends[b];
        st.busy += 1;
        let fails = spec.fail_per_mille > 0 && st.rng.below(1000) < spec.fail_per_mille;
        let service = if fails {
            FAIL_US
        } else {
            let mut t = spec.dist.sample(&mut st.rng) * st.slow;
            if let Some(since) = st.cold_since {
                let age = self.now - since;
                if age < COLD_US {
                    // COLD_FACTOR at return, falling linearly to 1 over COLD_US
                    let extra = (COLD_FACTOR - 1) * (COLD_US - age);
                    t += t * extra / COLD_US;
                }
            }
            t
        };
        if let Some(f) = self.flights[slot].as_mut() {
            f.failed = fails;
        }
        self.schedule(self.now + service, What::Done(slot));
    }

    fn done(&mut self, slot: usize) {
        let f = self.flights[slot].take().expect("a flight in this slot");
        self.free.push(slot);
        let b = f.lease.index();
        let latency = self.now - f.sent_us;
        if f.failed {
            self.result.failures += 1;
            f.lease.finish(Outcome::failure(latency, self.now));
        } else {
            self.result.latencies.push(latency);
            f.lease.finish(Outcome::success(latency, self.now));
        }
        self.backends[b].busy -= 1;
        if let Some(next) = self.backends[b].queue.pop_front() {
            self.start(b, next);
        }
        self.send(f.client);
    }
}

fn run(
    sc: &Scenario,
    name: &str,
    (suffix, config): (&str, Config),
    requests: u64,
    seed: u64,
    done: &AtomicU64,
) -> RunResult {
    let pool: Pool<N> = Pool::with_config(config).expect("a valid pool config");
    let ids: Vec<BackendId> = sc
        .backends
        .iter()
        .map(|_| pool.add(WEIGHT).expect("the pool has room"))
        .collect();
    let n = sc.backends.len();
    let mut sim = Sim {
        pool: &pool,
        ids,
        strategy: Strategy::<N>::from_name(name, seed).expect("a built-in name"),
        sc,
        requests,
        now: 0,
        seq: 0,
        sent: 0,
        next_event: 0,
        heap: BinaryHeap::new(),
        flights: Vec::new(),
        free: Vec::new(),
        backends: (0..n)
            .map(|i| BackendState {
                busy: 0,
                queue: VecDeque::new(),
                rng: SplitMix::new(seed, 1_000 + i as u64),
                slow: 1,
                cold_since: None,
            })
            .collect(),
        pick_rng: SplitMix::new(seed, 1),
        key_rng: SplitMix::new(seed, 2),
        result: RunResult {
            strategy: format!("{name}{suffix}"),
            latencies: Vec::with_capacity(requests as usize),
            failures: 0,
            unroutable: 0,
            picks: vec![0; n],
            sim_us: 0,
        },
    };
    for c in 0..sc.clients {
        sim.schedule(0, What::Send(c));
    }
    let mut reported = 0;
    while let Some(Reverse((at, _, what))) = sim.heap.pop() {
        sim.now = at;
        match what {
            What::Done(slot) => sim.done(slot),
            What::Send(client) => sim.send(client),
        }
        if sim.sent - reported >= 10_000 {
            done.fetch_add(sim.sent - reported, Ordering::Relaxed);
            reported = sim.sent;
        }
    }
    done.fetch_add(sim.sent - reported, Ordering::Relaxed);
    for i in 0..n {
        assert_eq!(pool.in_flight_at(i), 0, "every lease given back");
    }
    let mut result = sim.result;
    result.sim_us = sim.now;
    result.latencies.sort_unstable();
    result
}

// ----- output -----

fn ms(us: u64) -> String {
    let m = us as f64 / 1000.0;
    if m < 10.0 {
        format!("{m:.2}")
    } else if m < 100.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.0}")
    }
}

fn table(sc: &Scenario, results: &[RunResult], requests: u64) -> String {
    let n = sc.backends.len();
    let show_each = n <= 16;
    let mut out = String::new();
    let _ = writeln!(out, "## {}", sc.title);
    let _ = writeln!(out);
    let mut head = String::from("| strategy | p50 ms | p99 ms | p999 ms | failures | time s |");
    let mut rule = String::from("|---|---:|---:|---:|---:|---:|");
    if show_each {
        for i in 0..n {
            let _ = write!(head, " b{i} % |");
            rule.push_str("---:|");
        }
    } else {
        head.push_str(" min share % | max share % |");
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for r in results {
        let failures = if r.unroutable > 0 {
            format!("{} ({} found no backend)", r.failures, r.unroutable)
        } else {
            r.failures.to_string()
        };
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} |",
            r.strategy,
            ms(r.pct(0.50)),
            ms(r.pct(0.99)),
            ms(r.pct(0.999)),
            failures,
            r.sim_us as f64 / 1e6
        );
        let share = |c: u64| 100.0 * c as f64 / requests as f64;
        if show_each {
            for &c in &r.picks {
                let _ = write!(out, " {:.1} |", share(c));
            }
        } else {
            let min = r.picks.iter().copied().min().unwrap_or(0);
            let max = r.picks.iter().copied().max().unwrap_or(0);
            let _ = write!(out, " {:.2} | {:.2} |", share(min), share(max));
        }
        let _ = writeln!(out);
    }
    out
}

/// A hand-written SVG: one panel per scenario, p50 / p99 / p999 bars per strategy on a log
/// scale.
fn svg(panels: &[(&Scenario, &[RunResult])], opts: &Opts) -> String {
    const COLORS: [(&str, &str); 3] = [("p50", "#4c78a8"), ("p99", "#f58518"), ("p999", "#e45756")];
    let groups = panels.iter().map(|(_, r)| r.len()).max().unwrap_or(1);
    let (left, group_w, bar_w) = (90.0, 66.0, 18.0);
    let (panel_h, plot_h, top_pad) = (380.0, 200.0, 40.0);
    let width = (left + group_w * groups as f64 + 30.0).max(720.0);
    let height = 60.0 + panel_h * panels.len() as f64;
    // log scale from 0.1 ms to the next decade above the largest value
    let max_us = panels
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(|r| r.pct(0.999)))
        .max()
        .unwrap_or(1)
        .max(1);
    let lo = 2.0_f64; // log10(100 us)
    let hi = ((max_us as f64).log10().ceil()).max(lo + 1.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">tinylb: latency percentiles per strategy ({} requests, seed {}; log scale)</text>"#,
        opts.requests, opts.seed
    );
    for (k, (i, _)) in COLORS.iter().enumerate() {
        let x = 10.0 + 60.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{}"/><text x="{}" y="43">{i}</text>"#,
            COLORS[k].1,
            x + 16.0
        );
    }
    for (p, (sc, results)) in panels.iter().enumerate() {
        let y0 = 60.0 + panel_h * p as f64;
        let base = y0 + top_pad + plot_h;
        let y_of = |us: u64| {
            let v = (us.max(1) as f64).log10().clamp(lo, hi);
            base - plot_h * (v - lo) / (hi - lo)
        };
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.0}" font-size="13" font-weight="bold">{}</text>"#,
            y0 + 20.0,
            xml(sc.name)
        );
        // decade grid
        let mut d = lo as i32;
        while d as f64 <= hi {
            let us = 10f64.powi(d) as u64;
            let y = y_of(us);
            let label = if us >= 1000 {
                format!("{} ms", us / 1000)
            } else {
                format!("{} ms", us as f64 / 1000.0)
            };
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{y:.1}" x2="{:.0}" y2="{y:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{label}</text>"##,
                width - 20.0,
                left - 6.0,
                y + 4.0
            );
            d += 1;
        }
        for (g, r) in results.iter().enumerate() {
            let gx = left + group_w * g as f64 + 10.0;
            for (k, q) in [0.5, 0.99, 0.999].into_iter().enumerate() {
                let v = r.pct(q);
                let y = y_of(v);
                let x = gx + bar_w * k as f64;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {} ms</title></rect>"#,
                    bar_w - 2.0,
                    (base - y).max(0.5),
                    COLORS[k].1,
                    xml(&r.strategy),
                    COLORS[k].0,
                    ms(v)
                );
            }
            let (lx, ly) = (gx + 1.5 * bar_w, base + 12.0);
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" font-size="10" transform="rotate(-35 {lx:.1} {ly:.1})">{}</text>"#,
                xml(&r.strategy)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

// ----- options and main -----

#[derive(Debug)]
struct Opts {
    requests: u64,
    backends: usize,
    seed: u64,
    scenario: String,
    svg: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: simulate [--requests N] [--backends 2..={N}] [--seed N] [--scenario {}|all] [--svg PATH]",
        SCENARIOS.join("|")
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        requests: 200_000,
        backends: 10,
        seed: 1,
        scenario: "all".into(),
        svg: "target/simulate.svg".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        if key == "--help" || key == "-h" {
            usage();
        }
        let Some(val) = inline.or_else(|| args.next()) else {
            usage()
        };
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| usage());
        match key.as_str() {
            "--requests" => o.requests = num(&val).max(1),
            "--backends" => o.backends = num(&val) as usize,
            "--seed" => o.seed = num(&val),
            "--scenario" => o.scenario = val,
            "--svg" => o.svg = val,
            _ => usage(),
        }
    }
    if !(2..=N).contains(&o.backends) {
        usage();
    }
    if o.scenario != "all" && !SCENARIOS.contains(&o.scenario.as_str()) {
        usage();
    }
    o
}

fn main() {
    let opts = parse_opts();
    let scenarios: Vec<Scenario> = SCENARIOS
        .iter()
        .filter(|&&s| opts.scenario == "all" || opts.scenario == s)
        .filter_map(|s| scenario(s, opts.backends, opts.requests))
        .collect();
    let names: &[&'static str] = Strategy::<N>::NAMES;
    // every (scenario, policy, strategy), in the order the tables print them
    let jobs: Vec<(usize, usize, usize)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(s, sc)| {
            (0..sc.policies.len()).flat_map(move |p| (0..names.len()).map(move |k| (s, p, k)))
        })
        .collect();
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; jobs.len()]);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let sent = AtomicU64::new(0);
    let total = opts.requests * jobs.len() as u64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let t0 = Instant::now();

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(s, p, k)) = jobs.get(j) else { break };
                    let sc = &scenarios[s];
                    let r = run(
                        sc,
                        names[k],
                        sc.policies[p],
                        opts.requests,
                        opts.seed,
                        &sent,
                    );
                    results.lock().expect("no worker panicked")[j] = Some(r);
                    finished.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // progress on stderr, once a second, for runs long enough to need it
        let mut last = Instant::now();
        while finished.load(Ordering::Relaxed) < jobs.len() {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                let done = sent.load(Ordering::Relaxed);
                eprintln!(
                    "simulate: {:5.1} % ({} of {} runs finished, {:.0} s)",
                    100.0 * done as f64 / total.max(1) as f64,
                    finished.load(Ordering::Relaxed),
                    jobs.len(),
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    });

    let results: Vec<RunResult> = results
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every run finished"))
        .collect();
    println!(
        "tinylb simulation: {} requests per run, seed {}, {} strategies ({}), closed loop",
        opts.requests,
        opts.seed,
        names.len(),
        names.join(", ")
    );
    println!();
    let mut panels = Vec::new();
    let mut at = 0;
    for sc in &scenarios {
        let runs = sc.policies.len() * names.len();
        let rs = &results[at..at + runs];
        at += runs;
        println!("{}", table(sc, rs, opts.requests));
        panels.push((sc, rs));
    }
    let chart = svg(&panels, &opts);
    if let Some(dir) = std::path::Path::new(&opts.svg).parent()
        && !dir.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&opts.svg, chart) {
        Ok(()) => println!("chart: {}", opts.svg),
        Err(e) => eprintln!("simulate: cannot write {}: {e}", opts.svg),
    }
    eprintln!("simulate: done in {:.1} s", t0.elapsed().as_secs_f64());
}
