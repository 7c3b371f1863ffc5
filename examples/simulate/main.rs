//! A deterministic discrete-event simulation of a cluster: clients send requests through each
//! of tinylb's strategies to backends with latency distributions, and the table shows what each
//! strategy does to the latency percentiles, the failures and each backend's share (and, with
//! several proxies, how evenly the backends are busy; with priority levels and zones, where
//! the traffic goes as backends fail).
//!
//! ```text
//! cargo run --release --example simulate [-- OPTIONS]
//!
//!   --requests N      requests per scenario and strategy        (default 200000;
//!                     priority_spill runs 2/5 of them, zone_outage 1/5)
//!   --backends N      pool size, 2..=64 (heterogeneous cycles tower's 10 latencies;
//!                     multi_proxy: N proxies, 2N backends; priority_spill and
//!                     zone_outage have a fixed size)            (default 10)
//!   --seed N          seed of every random draw                 (default 1)
//!   --scenario NAME   equal, heterogeneous, slowdown, failing, returning, multi_proxy,
//!                     priority_spill, zone_outage, or all       (default all)
//!   --svg PATH        chart of the latency percentiles          (default target/simulate.svg)
//! ```
//!
//! # Layout
//!
//! `scenario.rs` describes the clusters (a [`scenario::Scenario`] per `--scenario` name),
//! `levels.rs` the two with priority levels and zones, `engine.rs` runs one of them through
//! one strategy (the event loop), `draw.rs` holds its random streams, `report.rs` prints the
//! tables (`phases.rs` those of the scenarios with phases) and `svg.rs` draws the chart. The RNG is the tests' SplitMix
//! (`tests/support/splitmix.rs`), one stream per backend, picks and keys.
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
//! * **Several proxies** (`multi_proxy`): client `c` sends through proxy `c % proxies`; each
//!   proxy has its own `Pool` of every backend, its own strategy (`from_name` with seed
//!   `seed + proxy`, so round robins do not start in lockstep; the hash strategies' keyed
//!   picks do not depend on it) and its own streams, so the load-aware strategies see only
//!   their own proxy's in-flight and latencies. The backends have capacity 1–4 (2 workers a
//!   unit, shuffled by the seed). In the `+load_reports` runs every backend closes a load
//!   report each second (utilization = its busy fraction over that second, qps and eps =
//!   completions and failures per second) and attaches its latest to every response (ORCA
//!   per request, gRPC A58's default); the proxy passes it to its own
//!   `LoadWeights::report` and calls `LoadWeights::apply` before every pick (A58's
//!   defaults: weights from 10 s after a backend's first report, updated at most once a
//!   second). Its table measures the **steady part**, from the `requests / 2`th request
//!   sent to the last (the drain after it is left out): latency percentiles of the requests
//!   sent in it, each backend's busy fraction over it, their mean, max/mean and min/mean,
//!   and the mean busy fraction of each capacity. Runs shorter than the blackout (under
//!   about 75 000 requests) never get weights, and their `+load_reports` rows equal the
//!   plain ones.
//! * **Priority levels** (`priority_spill`): 8 backends at level 0 and 8 at level 1
//!   (`Backend::level`), 56 clients; level 0's backends go down one by one at even
//!   intervals, so phase k has k of them down. Its tables give, per phase, the priority load
//!   the pool computes when the phase begins (`Pool::priority_load`, Envoy's arithmetic with
//!   overprovisioning 1.4), the share of each strategy's picks at level 1, and the latency
//!   percentiles of the requests sent in the phase. The pick draws the level from the
//!   request's key, so a user's requests stay at one level while the split holds. Its runs
//!   are shorter (their routed picks cost more), and `first` and `pick_first` are left out
//!   of both scenarios (they send every pick of a level or zone to one backend).
//! * **Zones** (`zone_outage`): 18 backends, 6 in each of three zones
//!   (`Backend::locality`), and 4 proxies, two in zone 0 and one in each other zone; every
//!   proxy's pool knows the fleet (`Pool::set_fleet`) and routes zone-aware with its own zone
//!   as the local one (`LocalityPolicy::ZoneAware`), or by locality weights (`+weighted`,
//!   `LocalityPolicy::Weighted`, for three strategies). A pick in another zone reaches its
//!   backend 1 ms later (the network round trip, so the request's latency includes it and
//!   its lease is held over it). Half of zone 1 goes down halfway. Its table gives, before
//!   and after, the share of each proxy zone's picks that stayed local, the share of all
//!   picks that crossed into each zone, the latency percentiles, and a row per policy with
//!   what the pools' `Pool::locality_split` says (weighted by each proxy's share of the
//!   clients, which is equal).
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

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;
use std::sync::Mutex;
use std::time::Instant;

use tinylb::Strategy;

mod draw;
mod engine;
mod levels;
mod phases;
mod report;
mod scenario;
#[path = "../../tests/support/splitmix.rs"]
mod splitmix;
mod svg;

use engine::N;
use report::RunResult;
use scenario::{Cluster, Run, Scenario};

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
        Scenario::ALL.map(Scenario::name).join("|")
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
    if o.scenario != "all" && Scenario::from_name(&o.scenario).is_none() {
        usage();
    }
    o
}

fn main() {
    let opts = parse_opts();
    let scenarios: Vec<Cluster> = Scenario::ALL
        .into_iter()
        .filter(|s| opts.scenario == "all" || opts.scenario == s.name())
        .map(|s| s.cluster(opts.backends, opts.requests, opts.seed))
        .collect();
    let names: &[&'static str] = Strategy::<N>::NAMES;
    // every (scenario, run), in the order the tables print them
    let runs: Vec<Vec<Run>> = scenarios.iter().map(|sc| sc.runs(names)).collect();
    let jobs: Vec<(usize, Run)> = runs
        .iter()
        .enumerate()
        .flat_map(|(s, rs)| rs.iter().map(move |&r| (s, r)))
        .collect();
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; jobs.len()]);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let sent = AtomicU64::new(0);
    let total: u64 = jobs.iter().map(|&(s, _)| scenarios[s].requests).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let t0 = Instant::now();

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(s, run)) = jobs.get(j) else { break };
                    let r = engine::run(&scenarios[s], run, opts.seed, &sent);
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
    for (sc, runs) in scenarios.iter().zip(&runs) {
        let rs = &results[at..at + runs.len()];
        at += runs.len();
        match sc.scenario {
            // its own table, and not in the chart (its figures are the steady part's)
            Scenario::MultiProxy => println!("{}", report::load_table(sc, rs)),
            // their own tables, and the whole run's percentiles in the chart
            Scenario::PrioritySpill => {
                println!("{}", phases::spill_tables(sc, rs));
                panels.push((sc, rs));
            }
            Scenario::ZoneOutage => {
                println!("{}", phases::zone_table(sc, rs));
                panels.push((sc, rs));
            }
            _ => {
                println!("{}", report::table(sc, rs, opts.requests));
                panels.push((sc, rs));
            }
        }
    }
    let chart = svg::svg(&panels, opts.requests, opts.seed);
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
