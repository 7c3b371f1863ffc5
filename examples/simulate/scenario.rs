//! The scenarios: which backends a cluster has, how long they take, what happens to them
//! during a run, and which pool policies every strategy is run with.

use tinylb::{Config, Ejection, SlowStart};

use crate::engine::Draw as _;
use crate::splitmix::SplitMix;

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
pub(crate) const FAIL_US: u64 = 1_000;
/// How long the backend of the `returning` scenario stays cold, and how slow it starts.
pub(crate) const COLD_US: u64 = 3_000_000;
pub(crate) const COLD_FACTOR: u64 = 5;

/// One scenario of the simulation, named on the command line by [`Scenario::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Equal backends, nothing happens.
    Equal,
    /// tower PR #76: ten latency distributions from 1 ms to 1 s, no queueing.
    Heterogeneous,
    /// b0 turns 10x slower after half the requests.
    Slowdown,
    /// b0 fails half its requests, fast; also run with outlier ejection.
    Failing,
    /// b0 goes down, then comes back cold; also run with slow start.
    Returning,
}

impl Scenario {
    /// Every scenario, in the order `all` runs and prints them.
    pub(crate) const ALL: [Scenario; 5] = [
        Scenario::Equal,
        Scenario::Heterogeneous,
        Scenario::Slowdown,
        Scenario::Failing,
        Scenario::Returning,
    ];

    /// The name `--scenario` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Equal => "equal",
            Scenario::Heterogeneous => "heterogeneous",
            Scenario::Slowdown => "slowdown",
            Scenario::Failing => "failing",
            Scenario::Returning => "returning",
        }
    }

    /// The scenario named `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The cluster this scenario runs with `n` backends and `requests` requests a run.
    pub(crate) fn cluster(self, n: usize, requests: u64) -> Cluster {
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
        let mut c = Cluster {
            scenario: self,
            title: String::new(),
            backends: vec![normal; n],
            clients: n * CLIENTS_PER_BACKEND,
            events: Vec::new(),
            policies: vec![("", Config::new())],
        };
        match self {
            Scenario::Equal => c.title = format!("equal: {base}"),
            Scenario::Heterogeneous => {
                c.backends = (0..n)
                    .map(|i| BackendSpec {
                        dist: Dist::Uniform {
                            max_us: TOWER_MAX_MS[i % TOWER_MAX_MS.len()] * 1000,
                        },
                        workers: u32::MAX,
                        fail_per_mille: 0,
                    })
                    .collect();
                c.clients = n * TOWER_CLIENTS_PER_BACKEND;
                let maxes: Vec<String> = (0..n)
                    .map(|i| TOWER_MAX_MS[i % TOWER_MAX_MS.len()].to_string())
                    .collect();
                c.title = format!(
                    "heterogeneous (tower PR #76): {n} backends, latency uniform in [0, max) with max = [{}] ms, no queueing, {} clients",
                    maxes.join(", "),
                    c.clients
                );
            }
            Scenario::Slowdown => {
                c.events.push(Event {
                    after: requests / 2,
                    backend: 0,
                    change: Change::SlowDown(10),
                });
                c.title = format!("slowdown: {base}; b0 turns 10x slower after half the requests");
            }
            Scenario::Failing => {
                if let Some(b) = c.backends.first_mut() {
                    b.fail_per_mille = 500;
                }
                c.policies
                    .push((" +ejection", Config::new().ejection(Ejection::ENVOY)));
                c.title = format!(
                    "failing: {base}; b0 fails half its requests, fast (1 ms); +ejection: Envoy's outlier ejection defaults"
                );
            }
            Scenario::Returning => {
                c.events.push(Event {
                    after: requests / 4,
                    backend: 0,
                    change: Change::Down,
                });
                c.events.push(Event {
                    after: requests / 2,
                    backend: 0,
                    change: Change::UpCold,
                });
                c.policies.push((
                    " +slow_start",
                    Config::new().slow_start(SlowStart::linear((COLD_US / 1000) as u32)),
                ));
                c.title = format!(
                    "returning: {base}; b0 down from 1/4 to 1/2 of the requests, then back cold (5x slower, warming up over 3 s); +slow_start: a linear 3 s ramp"
                );
            }
        }
        c
    }
}

/// What a scenario runs on: the backends, the clients, the events, the policies.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    /// The scenario this is.
    pub(crate) scenario: Scenario,
    /// The heading of its table.
    pub(crate) title: String,
    /// One spec per backend, in slot order.
    pub(crate) backends: Vec<BackendSpec>,
    /// Clients in the closed loop.
    pub(crate) clients: usize,
    /// What happens during a run, in the order it happens.
    pub(crate) events: Vec<Event>,
    /// Pool policies to run every strategy with: a label suffix and the pool's config. The
    /// first is always the default pool.
    pub(crate) policies: Vec<(&'static str, Config)>,
}

/// A backend's service time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dist {
    /// Uniform in `[0, max_us)`: tower's `DelayService`.
    Uniform { max_us: u64 },
    /// `min_us` plus an exponential with mean `mean_us`.
    ShiftedExp { min_us: u64, mean_us: u64 },
}

impl Dist {
    /// One service time, in microseconds.
    pub(crate) fn sample(self, rng: &mut SplitMix) -> u64 {
        match self {
            Dist::Uniform { max_us } => rng.below(max_us),
            Dist::ShiftedExp { min_us, mean_us } => {
                let u = 1.0 - rng.unit(); // (0, 1]
                min_us + (-u.ln() * mean_us as f64) as u64
            }
        }
    }
}

/// How one backend serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BackendSpec {
    /// Its service times.
    pub(crate) dist: Dist,
    /// Requests served at once; the rest wait in a FIFO queue. `u32::MAX`: no queueing.
    pub(crate) workers: u32,
    /// Chance that a request fails (in 1/1000); a failure answers after [`FAIL_US`].
    pub(crate) fail_per_mille: u64,
}

/// Something that happens to backend `backend` once `after` requests have been sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) after: u64,
    pub(crate) backend: usize,
    pub(crate) change: Change,
}

/// What an [`Event`] does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change {
    /// Service times are multiplied by this from now on.
    SlowDown(u64),
    /// Marked down by the health checker: no new picks, requests in flight finish.
    Down,
    /// Marked up again; it is cold for [`COLD_US`]: its service times start
    /// [`COLD_FACTOR`] times longer and fall linearly back to normal.
    UpCold,
}
