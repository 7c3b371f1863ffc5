//! Several independent proxies onto backends of unequal capacity: each proxy has its own
//! `Pool`, its own strategy and its own `LoadWeights`; the backends measure their own load
//! and attach their latest report to every response (ORCA's per-request way), and each proxy
//! hands the report to `LoadWeights::report` and calls `LoadWeights::apply` before every
//! pick. A small, seeded, closed-loop version of the `multi_proxy` scenario of
//! `examples/simulate`, through the public API only.
//!
//! The cluster: 3 proxies, 4 backends of capacity 1x, 3x, 3x, 3x (2 workers per unit, the
//! same service times), 15 clients (75 % of the 20 workers). Utilization is each backend's
//! busy fraction (busy worker-time over workers × time) over the second half of the requests.
//!
//! Why the bounds:
//! * Any capacity-blind equal split gives each backend the same arrival rate, so a 3x
//!   backend is a third as busy as the 1x one: with one 1x and three 3x, max/mean of the
//!   utilizations is `u / ((u + 3·u/3) / 4)` = **2.0** at any load (the 1x saturating does
//!   not change it, the ratio stays 3 : 1). `≥ 1.5` leaves 25 % for noise.
//! * With the reports, a backend's weight is `qps / utilization` = its workers over the mean
//!   service time: 3 : 1, so each backend gets a share of its capacity and every utilization
//!   is the same, max/mean **1.0** plus noise (a 0.5 s report of the 1x backend counts about
//!   75 completions, so one report's weight is off by a few percent). `≤ 1.2` fails if the
//!   weights are off by a fifth; the weights themselves are checked to be 3 : 1 within 20 %.
//! * Weighted round robin without reports is run too: it splits equally like round robin
//!   (every weight is the same), so the difference comes from the reports, not the strategy.

#![allow(clippy::indexing_slicing)]

use core::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::support::SplitMix;
use tinylb::{
    BackendId, LoadReport, LoadWeights, Pool, Request, RoundRobin, Select, WeightPolicy,
    WeightedRoundRobin,
};

const PROXIES: usize = 3;
const CAPACITY: [u32; 4] = [1, 3, 3, 3];
const WORKERS_PER_UNIT: u32 = 2;
const CLIENTS: usize = 15;
const REQUESTS: u64 = 6_000;
/// Service time: uniform in `[5, 15)` ms.
const SERVICE_MIN_US: u64 = 5_000;
const SERVICE_SPAN_US: u64 = 10_000;
/// A backend closes its report every half second.
const REPORT_US: u64 = 500_000;
/// A58's rule with a 1 s blackout and a 0.5 s update period instead of 10 s and 1 s, so a
/// run of a few simulated seconds has weights for most of it (the blackout and the period
/// have their own tests in `load_reports`).
const POLICY: WeightPolicy = WeightPolicy {
    blackout_ms: 1_000,
    expiry_ms: 180_000,
    update_period_ms: 500,
    error_penalty_ppm: 1_000_000,
};

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A client sends its next request.
    Send(usize),
    /// Backend `.0` finishes client `.1`'s request.
    Done(usize, usize),
    /// Every backend closes its report.
    Tick,
}

#[derive(Default)]
struct Backend {
    busy: u64,
    queue: VecDeque<usize>,
    /// Busy worker-µs up to `at`.
    area: u64,
    at: u64,
    tick_area: u64,
    tick_done: u64,
    report: Option<LoadReport>,
    half_area: u64,
}

impl Backend {
    fn account(&mut self, now: u64) {
        self.area += self.busy * (now - self.at);
        self.at = now;
    }
}

/// The event queue: time, then order of scheduling.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }
}

/// A worker of backend `st` (number `b`) starts client `c`'s request at `now`.
fn start(q: &mut Queue, st: &mut Backend, rng: &mut SplitMix, now: u64, b: usize, c: usize) {
    st.account(now);
    st.busy += 1;
    let t = SERVICE_MIN_US + rng.next_below(SERVICE_SPAN_US);
    q.push(now + t, Ev::Done(b, c));
}

/// What one run measured: each backend's utilization over the second half, and the pools'
/// weights at the end.
struct Outcome {
    util: Vec<f64>,
    weights: Vec<Vec<u32>>,
}

/// Runs the cluster with one strategy per proxy from `make(proxy)`, with or without load
/// reports.
fn run<S: Select<8>>(make: impl Fn(u64) -> S, reports: bool) -> Outcome {
    let pools: Vec<Pool<8>> = (0..PROXIES).map(|_| Pool::new()).collect();
    let ids: Vec<Vec<BackendId>> = pools
        .iter()
        .map(|p| CAPACITY.iter().map(|_| p.add(100).unwrap()).collect())
        .collect();
    let strategies: Vec<S> = (0..PROXIES as u64).map(&make).collect();
    let lw: Vec<LoadWeights<8>> = (0..PROXIES)
        .map(|_| LoadWeights::new(POLICY).unwrap())
        .collect();
    let mut pick_rng: Vec<SplitMix> = (0..PROXIES as u64).map(|p| SplitMix(100 + p)).collect();
    let mut service_rng = SplitMix(7);
    let mut backends: Vec<Backend> = CAPACITY.iter().map(|_| Backend::default()).collect();
    let mut q = Queue::default();
    for c in 0..CLIENTS {
        q.push(0, Ev::Send(c));
    }
    if reports {
        q.push(REPORT_US, Ev::Tick);
    }
    let (mut sent, mut half_at, mut util) = (0u64, 0u64, Vec::new());
    while let Some(Reverse((now, _, ev))) = q.heap.pop() {
        match ev {
            Ev::Send(c) => {
                if sent >= REQUESTS {
                    continue;
                }
                if sent == REQUESTS / 2 {
                    half_at = now;
                    for st in &mut backends {
                        st.account(now);
                        st.half_area = st.area;
                    }
                }
                let p = c % PROXIES;
                if reports {
                    lw[p].apply(&pools[p], now);
                }
                let mut req = Request::new().with_now_us(now).with_rng(&mut pick_rng[p]);
                let b = strategies[p].select(&pools[p], &mut req).unwrap().index();
                sent += 1;
                if backends[b].busy < (WORKERS_PER_UNIT * CAPACITY[b]) as u64 {
                    start(&mut q, &mut backends[b], &mut service_rng, now, b, c);
                } else {
                    backends[b].queue.push_back(c);
                }
                if sent == REQUESTS {
                    for (st, cap) in backends.iter_mut().zip(CAPACITY) {
                        st.account(now);
                        let span = (WORKERS_PER_UNIT * cap) as f64 * (now - half_at) as f64;
                        util.push((st.area - st.half_area) as f64 / span);
                    }
                }
            }
            Ev::Done(b, c) => {
                let p = c % PROXIES;
                backends[b].tick_done += 1;
                if let (true, Some(r)) = (reports, backends[b].report) {
                    lw[p].report(ids[p][b], r, now).unwrap();
                }
                backends[b].account(now);
                backends[b].busy -= 1;
                if let Some(next) = backends[b].queue.pop_front() {
                    start(&mut q, &mut backends[b], &mut service_rng, now, b, next);
                }
                q.push(now, Ev::Send(c));
            }
            Ev::Tick => {
                for (st, cap) in backends.iter_mut().zip(CAPACITY) {
                    st.account(now);
                    let area = st.area - st.tick_area;
                    st.tick_area = st.area;
                    let workers = (WORKERS_PER_UNIT * cap) as u64;
                    let qps = st.tick_done * 1_000_000 / REPORT_US;
                    let util_ppm = area * 1_000_000 / (workers * REPORT_US);
                    st.report = Some(LoadReport::new(qps as u32, util_ppm as u32));
                    st.tick_done = 0;
                }
                if sent < REQUESTS {
                    q.push(now + REPORT_US, Ev::Tick);
                }
            }
        }
    }
    let weights = pools
        .iter()
        .zip(&ids)
        .map(|(pool, ids)| {
            ids.iter()
                .map(|&id| pool.info(id).unwrap().weight)
                .collect()
        })
        .collect();
    Outcome { util, weights }
}

/// Max over mean of the utilizations.
fn spread(util: &[f64]) -> f64 {
    let mean = util.iter().sum::<f64>() / util.len() as f64;
    util.iter().copied().fold(0.0, f64::max) / mean
}

#[test]
fn load_report_weights_track_capacity_where_round_robin_does_not() {
    let rr = run(RoundRobin::with_seed, false);
    let wrr = run(WeightedRoundRobin::with_seed, false);
    let reported = run(WeightedRoundRobin::with_seed, true);
    let (s_rr, s_wrr, s_rep) = (spread(&rr.util), spread(&wrr.util), spread(&reported.util));
    assert!(s_rr >= 1.5, "round robin: {s_rr:.3} {:?}", rr.util);
    assert!(s_wrr >= 1.5, "wrr, no reports: {s_wrr:.3} {:?}", wrr.util);
    assert!(
        s_rep <= 1.2,
        "wrr + reports: {s_rep:.3} {:?}",
        reported.util
    );
    // the 1x backend the busiest under an equal split, about three times the 3x ones
    for u in [&rr.util, &wrr.util] {
        for &big in &u[1..] {
            assert!(u[0] > 2.4 * big, "{u:?}");
        }
    }
    // every proxy's weights follow capacity, 3 : 1 within 20 %
    for w in &reported.weights {
        for &big in &w[1..] {
            let ratio = big as f64 / w[0] as f64;
            assert!((2.4..=3.6).contains(&ratio), "weights {w:?}");
        }
    }
    // without reports the weights stay as added
    assert!(wrr.weights.iter().flatten().all(|&w| w == 100));
}
