//! The event loop of one run (one cluster, one strategy, one policy): clients send, the
//! strategy leases a backend, the backend queues or serves, the lease is finished with the
//! latency or the failure, and the client sends again.

use core::cmp::Reverse;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::{BinaryHeap, VecDeque};

use tinylb::{BackendId, Config, Health, Lease, Outcome, Pool, Request, SelectExt, Strategy};

use crate::report::RunResult;
use crate::scenario::{COLD_FACTOR, COLD_US, Change, Cluster, FAIL_US};
use crate::splitmix::SplitMix;

/// Pool capacity: `--backends` may be anything up to this.
pub(crate) const N: usize = 64;
/// Every backend's weight: equal, and large enough for slow start to ramp it (an effective
/// weight never drops below 1, so a backend of weight 1 cannot ramp).
const WEIGHT: u32 = 100;
/// Distinct users whose ids are the requests' keys.
const USERS: u64 = 10_000;

// ----- randomness -----

/// SplitMix64's output function alone (one step from the state before `z`).
fn mix64(z: u64) -> u64 {
    SplitMix(z.wrapping_sub(0x9e37_79b9_7f4a_7c15)).next()
}

/// The random stream `stream` of the run seeded `seed`: streams of one seed are unrelated.
fn stream(seed: u64, stream: u64) -> SplitMix {
    SplitMix(mix64(
        seed ^ mix64(stream.wrapping_add(0x5851_f42d_4c95_7f2d)),
    ))
}

/// The draws the simulation makes (floats are fine outside the library).
pub(crate) trait Draw {
    /// Uniform in `[0, 1)` with 53 bits.
    fn unit(&mut self) -> f64;
    /// Uniform in `0..n` (float scaling: bias below 2^-53, irrelevant here).
    fn below(&mut self, n: u64) -> u64;
}

impl Draw for SplitMix {
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        (self.unit() * n as f64) as u64
    }
}

// ----- one run -----

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
                .with_now_us(self.now)
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
            f.lease
                .finish(Outcome::failure_after(Duration::from_micros(latency)).at_us(self.now));
        } else {
            self.result.latencies.push(latency);
            f.lease
                .finish(Outcome::success_after(Duration::from_micros(latency)).at_us(self.now));
        }
        self.backends[b].busy -= 1;
        if let Some(next) = self.backends[b].queue.pop_front() {
            self.start(b, next);
        }
        self.send(f.client);
    }
}

/// Runs `requests` requests of cluster `sc` through the strategy `name` on a pool with
/// `config`, adding the requests sent to `done` as it goes (for the progress line).
pub(crate) fn run(
    sc: &Cluster,
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
                rng: stream(seed, 1_000 + i as u64),
                slow: 1,
                cold_since: None,
            })
            .collect(),
        pick_rng: stream(seed, 1),
        key_rng: stream(seed, 2),
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
