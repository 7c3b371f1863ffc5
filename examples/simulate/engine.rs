//! The event loop of one run (one cluster, one strategy, one policy): clients send, their
//! proxy's strategy leases a backend, the backend queues or serves, the lease is finished
//! with the latency or the failure, and the client sends again. With load reports, every
//! backend closes a report each [`REPORT_US`] (its busy fraction, completions and failures
//! per second over that interval) and attaches its latest to every response, ORCA's
//! per-request way (gRPC A58's default, `enable_oob_load_report: false`); the proxy hands it
//! to its `LoadWeights::report` and calls `LoadWeights::apply` before every pick (it runs at
//! most once per update period).
//!
//! Backends carry a priority level and a zone (`Backend::level`, `Backend::locality`); each
//! proxy's pool knows the fleet (`Pool::set_fleet`) and, under zone-aware routing, its own
//! zone as the local one. A pick in another zone than its proxy's reaches the backend after
//! the cluster's cross-zone latency. Per phase (between two of the cluster's phase
//! boundaries) the run counts the picks from each proxy zone to each level or zone, keeps
//! the latencies of the requests sent in it, and records what the pool says the split
//! should be (`Pool::priority_load`, `Pool::locality_split`) when the phase begins.

use core::cmp::Reverse;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::{BinaryHeap, VecDeque};

use tinylb::{
    Backend, BackendId, Health, Lease, LoadReport, LoadWeights, Outcome, Pool, Request, SelectExt,
    Strategy, WeightPolicy,
};

use crate::draw::{Draw as _, stream};
use crate::levels;
use crate::report::RunResult;
use crate::scenario::{
    COLD_FACTOR, COLD_US, Change, Cluster, FAIL_US, Groups, REPORT_US, Run, Scenario,
};
use crate::splitmix::SplitMix;

/// Pool capacity: `--backends` may be anything up to this.
pub(crate) const N: usize = 64;
/// Every backend's weight: equal, and large enough for slow start to ramp it (an effective
/// weight never drops below 1, so a backend of weight 1 cannot ramp).
const WEIGHT: u32 = 100;
/// Distinct users whose ids are the requests' keys.
const USERS: u64 = 10_000;

// ----- one run -----

/// One request in flight: its lease, who sent it (through which proxy) and when.
struct Flight<'p> {
    lease: Lease<&'p Pool<N>, N>,
    client: usize,
    proxy: usize,
    sent_us: u64,
    failed: bool,
    /// Sent in the steady part (from the `requests / 2`th request on).
    steady: bool,
    /// The phase it was sent in.
    phase: usize,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    /// The request in this flight slot completes.
    Done(usize),
    /// This client sends its next request (after waiting for an eligible backend).
    Send(usize),
    /// Every backend closes its load report.
    Tick,
    /// The request in this flight slot reaches its backend (after the cross-zone latency).
    Arrive(usize),
}

struct BackendState {
    busy: u32,
    queue: VecDeque<usize>,
    rng: SplitMix,
    slow: u64,
    cold_since: Option<u64>,
    /// Busy worker-microseconds since the start, up to `at`.
    area: u64,
    at: u64,
    /// `area` when the last report closed, and what completed since.
    tick_area: u64,
    tick_done: u64,
    tick_failed: u64,
    /// The latest closed report, attached to every response.
    report: Option<LoadReport>,
    /// `area` when the steady part began.
    steady_area: u64,
}

impl BackendState {
    /// Brings the busy area up to `now` (before every change of `busy`).
    fn account(&mut self, now: u64) {
        self.area += self.busy as u64 * (now - self.at);
        self.at = now;
    }
}

/// One proxy: its own pool, strategy, load-report state and random streams.
struct Proxy<'p> {
    pool: &'p Pool<N>,
    ids: Vec<BackendId>,
    strategy: Strategy<N>,
    weights: Option<LoadWeights<N>>,
    pick_rng: SplitMix,
    key_rng: SplitMix,
    /// The zone it runs in.
    zone: usize,
}

struct Sim<'p> {
    proxies: Vec<Proxy<'p>>,
    sc: &'p Cluster,
    requests: u64,
    now: u64,
    seq: u64,
    sent: u64,
    next_event: usize,
    heap: BinaryHeap<Reverse<(u64, u64, What)>>,
    flights: Vec<Option<Flight<'p>>>,
    free: Vec<usize>,
    backends: Vec<BackendState>,
    /// When the steady part began (the `requests / 2`th request was sent) and ended (the
    /// last was sent).
    steady_from: Option<u64>,
    steady_to: Option<u64>,
    /// Whether the steady part is measured at all (only `multi_proxy`'s table reads it).
    steady_part: bool,
    /// The phase requests are sent in now, and whether its model is recorded yet.
    phase: usize,
    phase_recorded: bool,
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
            // every proxy's health checker sees it
            let set = |h: Health| {
                for px in &self.proxies {
                    px.pool
                        .set_health(px.ids[ev.backend], h)
                        .expect("backend exists");
                }
            };
            match ev.change {
                Change::SlowDown(f) => self.backends[ev.backend].slow = f,
                Change::Down => set(Health::Down),
                Change::UpCold => {
                    set(Health::Up);
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
        while self
            .sc
            .phases
            .get(self.phase)
            .is_some_and(|&b| b <= self.sent)
        {
            self.phase += 1;
            self.phase_recorded = false;
        }
        if !self.phase_recorded {
            self.phase_recorded = true;
            self.result.phases[self.phase].model = self.model();
        }
        let phase = self.phase;
        let steady = self.steady_part && self.sent >= self.requests / 2;
        if steady && self.steady_from.is_none() {
            self.steady_from = Some(self.now);
            for st in &mut self.backends {
                st.account(self.now);
                st.steady_area = st.area;
            }
        }
        let p = client % self.proxies.len();
        let px = &mut self.proxies[p];
        let key = px.key_rng.below(USERS);
        self.sent += 1;
        if self.sent == self.requests {
            self.steady_to = Some(self.now);
            let from = self.steady_from.unwrap_or(0);
            for (st, spec) in self.backends.iter_mut().zip(&self.sc.backends) {
                st.account(self.now);
                let span = spec.workers as f64 * (self.now - from) as f64;
                self.result.busy.push(if span > 0.0 {
                    (st.area - st.steady_area) as f64 / span
                } else {
                    0.0
                });
            }
        }
        if let Some(lw) = &px.weights {
            lw.apply(px.pool, self.now);
        }
        let lease = {
            let mut req = Request::new()
                .with_key(key)
                .with_now_us(self.now)
                .with_rng(&mut px.pick_rng);
            px.strategy.lease(px.pool, &mut req)
        };
        let Some(lease) = lease else {
            // nothing eligible: the request fails at once, the client tries again in 1 ms
            self.result.failures += 1;
            self.result.unroutable += 1;
            self.result.phases[phase].unroutable += 1;
            self.schedule(self.now + 1_000, What::Send(client));
            return;
        };
        let b = lease.index();
        self.result.picks[b] += 1;
        if self.sc.groups != Groups::None {
            self.count(p, b, phase);
        }
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
            proxy: p,
            sent_us: self.now,
            failed: false,
            steady,
            phase,
        });
        if self.sc.cross_zone_us > 0 && self.sc.backends[b].zone as usize != self.proxies[p].zone {
            self.schedule(self.now + self.sc.cross_zone_us, What::Arrive(slot));
        } else {
            self.arrive(b, slot);
        }
    }

    /// Counts a pick of backend `b` by proxy `p` in `phase`: from the proxy's zone to the
    /// backend's level or zone (out of line: most scenarios do not count).
    #[inline(never)]
    fn count(&mut self, p: usize, b: usize, phase: usize) {
        let spec = self.sc.backends[b];
        let to = match self.sc.groups {
            Groups::Levels(_) => spec.level as usize,
            Groups::None | Groups::Zones(_) => spec.zone as usize,
        };
        self.result.phases[phase].flows[self.proxies[p].zone][to] += 1;
    }

    /// The request in `slot` reaches backend `b`: a worker takes it, or it queues.
    #[inline]
    fn arrive(&mut self, b: usize, slot: usize) {
        if self.backends[b].busy < self.sc.backends[b].workers {
            self.start(b, slot);
        } else {
            self.backends[b].queue.push_back(slot);
        }
    }

    /// What the pools say the picks should do now (see [`levels::model`]).
    fn model(&self) -> (Vec<Vec<f64>>, bool) {
        let proxies: Vec<_> = self
            .proxies
            .iter()
            .map(|px| (px.pool, px.zone, &px.ids[..]))
            .collect();
        levels::model(self.sc, &proxies)
    }

    /// A worker of backend `b` starts serving the request in `slot`.
    fn start(&mut self, b: usize, slot: usize) {
        let spec = self.sc.backends[b];
        let st = &mut self.backends[b];
        st.account(self.now);
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
        let st = &mut self.backends[b];
        if f.failed {
            self.result.failures += 1;
            st.tick_failed += 1;
            f.lease
                .finish(Outcome::failure_after(Duration::from_micros(latency)).at_us(self.now));
        } else {
            self.result.latencies.push(latency);
            if f.steady {
                self.result.steady.push(latency);
            }
            if self.sc.groups != Groups::None {
                self.result.phases[f.phase].latencies.push(latency);
            }
            f.lease
                .finish(Outcome::success_after(Duration::from_micros(latency)).at_us(self.now));
        }
        st.tick_done += 1;
        // the response carries the backend's latest report (ORCA per request)
        let px = &self.proxies[f.proxy];
        if let (Some(lw), Some(r)) = (&px.weights, st.report) {
            lw.report(px.ids[b], r, self.now).expect("backend exists");
        }
        st.account(self.now);
        st.busy -= 1;
        if let Some(next) = self.backends[b].queue.pop_front() {
            self.start(b, next);
        }
        self.send(f.client);
    }

    /// Every backend closes its report over the last [`REPORT_US`]: utilization is its busy
    /// fraction, qps and eps its completions and failures per second.
    fn tick(&mut self) {
        for (st, spec) in self.backends.iter_mut().zip(&self.sc.backends) {
            st.account(self.now);
            let area = st.area - st.tick_area;
            st.tick_area = st.area;
            let per_s = |n: u64| (n * 1_000_000 / REPORT_US) as u32;
            let util = area * 1_000_000 / (spec.workers as u64 * REPORT_US);
            st.report = Some(
                LoadReport::new(per_s(st.tick_done), util as u32).errors(per_s(st.tick_failed)),
            );
            st.tick_done = 0;
            st.tick_failed = 0;
        }
        if self.sent < self.requests {
            self.schedule(self.now + REPORT_US, What::Tick);
        }
    }
}

/// Runs `requests` requests of cluster `sc` through `run`'s strategy and pool policy (one
/// pool and strategy per proxy), adding the requests sent to `done` as it goes (for the
/// progress line).
pub(crate) fn run(sc: &Cluster, run: Run, seed: u64, done: &AtomicU64) -> RunResult {
    let requests = sc.requests;
    let pools: Vec<Pool<N>> = (0..sc.proxies)
        .map(|p| levels::pool(sc, run.config, p))
        .collect();
    let n = sc.backends.len();
    // proxy 0 has the streams and the seed a single proxy always had
    let proxies = pools
        .iter()
        .enumerate()
        .map(|(p, pool)| {
            let q = p as u64;
            Proxy {
                pool,
                ids: sc
                    .backends
                    .iter()
                    .map(|b| {
                        pool.add_backend(Backend::new(WEIGHT).level(b.level).locality(b.zone))
                            .expect("the pool has room")
                    })
                    .collect(),
                strategy: Strategy::<N>::from_name(run.name, seed.wrapping_add(q))
                    .expect("a built-in name"),
                weights: run
                    .reports
                    .then(|| LoadWeights::new(WeightPolicy::A58).expect("a valid policy")),
                pick_rng: stream(seed, if p == 0 { 1 } else { 10_000 + 2 * q }),
                key_rng: stream(seed, if p == 0 { 2 } else { 10_001 + 2 * q }),
                zone: sc.zone_of(p) as usize,
            }
        })
        .collect();
    let mut sim = Sim {
        proxies,
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
                rng: stream(seed, 1_000 + i as u64),
                slow: 1,
                cold_since: None,
                area: 0,
                at: 0,
                tick_area: 0,
                tick_done: 0,
                tick_failed: 0,
                report: None,
                steady_area: 0,
            })
            .collect(),
        steady_from: None,
        steady_to: None,
        steady_part: sc.scenario == Scenario::MultiProxy,
        phase: 0,
        phase_recorded: false,
        result: RunResult::new(format!("{}{}", run.name, run.suffix), sc),
    };
    for c in 0..sc.clients {
        sim.schedule(0, What::Send(c));
    }
    if run.reports {
        sim.schedule(REPORT_US, What::Tick);
    }
    let mut reported = 0;
    // the last request's completion (a report closing after it is not serving time)
    let mut end = 0;
    while let Some(Reverse((at, _, what))) = sim.heap.pop() {
        sim.now = at;
        match what {
            What::Done(slot) => {
                end = at;
                sim.done(slot);
            }
            What::Send(client) => {
                end = at;
                sim.send(client);
            }
            What::Tick => sim.tick(),
            What::Arrive(slot) => {
                let f = sim.flights[slot].as_ref().expect("a flight in this slot");
                sim.arrive(f.lease.index(), slot);
            }
        }
        if sim.sent - reported >= 10_000 {
            done.fetch_add(sim.sent - reported, Ordering::Relaxed);
            reported = sim.sent;
        }
    }
    done.fetch_add(sim.sent - reported, Ordering::Relaxed);
    for pool in &pools {
        for i in 0..n {
            assert_eq!(pool.in_flight_at(i), 0, "every lease given back");
        }
    }
    let mut result = sim.result;
    result.sim_us = end;
    result.steady_us = sim.steady_to.unwrap_or(0) - sim.steady_from.unwrap_or(0);
    result.latencies.sort_unstable();
    result.steady.sort_unstable();
    for ph in &mut result.phases {
        ph.latencies.sort_unstable();
    }
    result
}
