//! The scenarios: which backends a cluster has, how long they take, what happens to them
//! during a run, and which pool policies every strategy is run with.

use tinylb::{Config, Ejection, SlowStart, WeightPolicy};

use crate::draw::{Draw as _, stream};
use crate::engine::N;
use crate::levels;
use crate::splitmix::SplitMix;

/// tower's `MAX_ENDPOINT_LATENCIES` in PR #76, in milliseconds.
const TOWER_MAX_MS: [u64; 10] = [1, 10, 10, 10, 10, 100, 100, 100, 100, 1000];
/// tower's `CONCURRENCY` (50) for its 10 endpoints: 5 clients per backend.
const TOWER_CLIENTS_PER_BACKEND: usize = 5;
/// Workers per backend in the other scenarios.
pub(crate) const WORKERS: u32 = 8;
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
/// `multi_proxy`: workers per unit of capacity (a backend of capacity 1–4 has 2–8).
const WORKERS_PER_CAPACITY: u32 = 2;
/// `multi_proxy`: how often a backend closes its load report (and the interval its
/// utilization, qps and eps are measured over).
pub(crate) const REPORT_US: u64 = 1_000_000;
/// `multi_proxy`: the strategies also run with weights from load reports: every one whose
/// picks follow the pool's weights (round robin and jump ignore them), gRPC's own (weighted
/// round robin) and GCP's `WEIGHTED_MAGLEV` first.
const REPORT_STRATEGIES: [&str; 9] = [
    "weighted_round_robin",
    "random",
    "p2c",
    "maglev",
    "least_conn",
    "peak_ewma",
    "least_time",
    "bounded_load",
    "rendezvous",
];

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
    /// Several independent proxies, each with its own pool and strategy, onto backends of
    /// capacity 1–4x; the weighted strategies also run with weights from load reports.
    MultiProxy,
    /// Two priority levels; level 0's backends go down one by one and the traffic spills to
    /// level 1 as Envoy's priority load says.
    PrioritySpill,
    /// Three zones, proxies in each, zone-aware routing; half of zone 1 goes down halfway.
    ZoneOutage,
}

impl Scenario {
    /// Every scenario, in the order `all` runs and prints them.
    pub(crate) const ALL: [Scenario; 8] = [
        Scenario::Equal,
        Scenario::Heterogeneous,
        Scenario::Slowdown,
        Scenario::Failing,
        Scenario::Returning,
        Scenario::MultiProxy,
        Scenario::PrioritySpill,
        Scenario::ZoneOutage,
    ];

    /// The name `--scenario` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Equal => "equal",
            Scenario::Heterogeneous => "heterogeneous",
            Scenario::Slowdown => "slowdown",
            Scenario::Failing => "failing",
            Scenario::Returning => "returning",
            Scenario::MultiProxy => "multi_proxy",
            Scenario::PrioritySpill => "priority_spill",
            Scenario::ZoneOutage => "zone_outage",
        }
    }

    /// The scenario named `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The cluster this scenario runs with `n` backends (`multi_proxy`: `n` proxies and
    /// `2n` backends, at most [`N`]; `priority_spill` and `zone_outage` have a fixed size)
    /// and `requests` requests a run (`zone_outage`: half as many); `seed` draws
    /// `multi_proxy`'s capacities.
    pub(crate) fn cluster(self, n: usize, requests: u64, seed: u64) -> Cluster {
        let normal = BackendSpec {
            dist: Dist::ShiftedExp {
                min_us: SERVICE_MIN_US,
                mean_us: SERVICE_EXP_MEAN_US,
            },
            workers: WORKERS,
            fail_per_mille: 0,
            capacity: 1,
            level: 0,
            zone: 0,
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
            policies: vec![("", Config::new(), None)],
            proxies: 1,
            report_strategies: &[],
            skip: &[],
            requests,
            phases: Vec::new(),
            groups: Groups::None,
            proxy_zones: Vec::new(),
            cross_zone_us: 0,
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
                        ..normal
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
                    .push((" +ejection", Config::new().ejection(Ejection::ENVOY), None));
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
                    None,
                ));
                c.title = format!(
                    "returning: {base}; b0 down from 1/4 to 1/2 of the requests, then back cold (5x slower, warming up over 3 s); +slow_start: a linear 3 s ramp"
                );
            }
            Scenario::MultiProxy => {
                let b = (2 * n).min(N);
                // capacities 1, 2, 3, 4 in turn (as many of each as the count allows), in an
                // order shuffled by the seed
                let mut caps: Vec<u32> = (0..b).map(|i| 1 + (i % 4) as u32).collect();
                let mut rng = stream(seed, 3);
                for i in (1..b).rev() {
                    caps.swap(i, rng.below(i as u64 + 1) as usize);
                }
                c.backends = caps
                    .iter()
                    .map(|&k| BackendSpec {
                        workers: WORKERS_PER_CAPACITY * k,
                        capacity: k,
                        ..normal
                    })
                    .collect();
                let workers: u32 = c.backends.iter().map(|b| b.workers).sum();
                // 75 % of the workers when every backend gets a share of its capacity
                c.clients = workers as usize * 3 / 4;
                c.proxies = n;
                c.report_strategies = &REPORT_STRATEGIES;
                let caps: Vec<String> = caps.iter().map(u32::to_string).collect();
                let p = WeightPolicy::A58;
                c.title = format!(
                    "multi_proxy: {n} proxies, each with its own pool and strategy, onto {b} backends of capacity [{}] x {WORKERS_PER_CAPACITY} workers, service 1 ms + exp(9 ms), {} clients spread over the proxies; +load_reports: per-request (ORCA) reports of each backend's last {} s, LoadWeights with A58's defaults ({} s blackout, {} s update period); utilization and latency over the steady part (from the {}th request sent to the last)",
                    caps.join(", "),
                    c.clients,
                    REPORT_US / 1_000_000,
                    p.blackout_ms / 1000,
                    p.update_period_ms / 1000,
                    requests / 2,
                );
            }
            Scenario::PrioritySpill => levels::priority_spill(&mut c, normal, requests),
            Scenario::ZoneOutage => levels::zone_outage(&mut c, normal, requests),
        }
        c
    }
}

/// What a scenario's per-phase figures split the picks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Groups {
    /// No per-phase figures.
    None,
    /// By the backend's priority level (this many levels).
    Levels(usize),
    /// By the backend's zone (this many zones), and by the proxy's zone.
    Zones(usize),
}

impl Groups {
    /// How many groups the picks split into.
    pub(crate) fn count(self) -> usize {
        match self {
            Groups::None => 1,
            Groups::Levels(n) | Groups::Zones(n) => n,
        }
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
    /// Pool policies to run the strategies with: a label suffix, the pool's config and the
    /// strategies it runs (`None`: every one). The first is the default pool, except in
    /// `zone_outage` (zone-aware routing there).
    pub(crate) policies: Vec<(&'static str, Config, Option<&'static [&'static str]>)>,
    /// Strategies this cluster does not run at all.
    pub(crate) skip: &'static [&'static str],
    /// Independent proxies: client `c` sends through proxy `c % proxies`, each with its own
    /// pool (of every backend) and its own strategy.
    pub(crate) proxies: usize,
    /// Strategies also run (on the default pool) with weights from the backends' load
    /// reports.
    pub(crate) report_strategies: &'static [&'static str],
    /// Requests a run sends.
    pub(crate) requests: u64,
    /// Where each phase after the first begins (requests sent); a request belongs to the
    /// phase it was sent in.
    pub(crate) phases: Vec<u64>,
    /// What the per-phase figures split the picks by.
    pub(crate) groups: Groups,
    /// The zone each proxy runs in (empty: every proxy in zone 0, no locality).
    pub(crate) proxy_zones: Vec<u8>,
    /// Network latency a pick in another zone than its proxy's adds, in microseconds.
    pub(crate) cross_zone_us: u64,
}

impl Cluster {
    /// The zone proxy `proxy` runs in.
    pub(crate) fn zone_of(&self, proxy: usize) -> u8 {
        self.proxy_zones.get(proxy).copied().unwrap_or(0)
    }
}

/// One run of a cluster: a strategy, a pool policy, with or without load reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    /// A name of `Strategy::NAMES`.
    pub(crate) name: &'static str,
    /// The label's suffix (the policy's, or ` +load_reports`).
    pub(crate) suffix: &'static str,
    /// The pools' config.
    pub(crate) config: Config,
    /// Whether the proxies set their weights from the backends' load reports.
    pub(crate) reports: bool,
}

impl Cluster {
    /// Every run of this cluster in the order its table prints them: each policy with its
    /// strategies of `names`, then the load-report runs.
    pub(crate) fn runs(&self, names: &[&'static str]) -> Vec<Run> {
        let mut runs: Vec<Run> = self
            .policies
            .iter()
            .flat_map(|&(suffix, config, only)| {
                names
                    .iter()
                    .filter(move |n| !self.skip.contains(n) && only.is_none_or(|o| o.contains(n)))
                    .map(move |&name| Run {
                        name,
                        suffix,
                        config,
                        reports: false,
                    })
            })
            .collect();
        runs.extend(self.report_strategies.iter().map(|&name| Run {
            name,
            suffix: " +load_reports",
            config: Config::new(),
            reports: true,
        }));
        runs
    }
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
    /// Its capacity in units (`multi_proxy`), 1 elsewhere.
    pub(crate) capacity: u32,
    /// Its priority level (`priority_spill`), 0 elsewhere.
    pub(crate) level: u8,
    /// Its zone (`zone_outage`), 0 elsewhere.
    pub(crate) zone: u8,
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
