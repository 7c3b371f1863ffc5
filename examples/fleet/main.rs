//! A seeded simulation of a fleet of proxies in front of a fleet of backends, with the
//! crate's real subsetting and picks: per backend, the proxies connected and the request
//! load, for a full mesh and for random (gRPC A68), deterministic (SRE book) and aperture
//! (Finagle) subsetting, each with several strategies inside the subset; then the
//! connections each membership change moves, beside the minimum possible.
//!
//! ```text
//! cargo run --release --example fleet [-- OPTIONS]
//!
//!   --proxies N    fleet size                                  (default 100)
//!   --backends N   backends, 2..=500                           (default 300)
//!   --subset N     subset size                                 (default 15)
//!   --requests N   requests per proxy and strategy             (default 1500)
//!   --seed N       seed of every random draw                   (default 1)
//!   --svg PATH     chart of connections and load per backend   (default target/fleet.svg)
//! ```
//!
//! # The model
//!
//! * **Subsets** come from `tinylb::subset`: proxy `i` of `P` computes its own from its
//!   index, the fleet size, the backend ids `0..B` and the subset size; random subsetting
//!   gives each proxy its own seed (A68 draws one at startup), the other two share the
//!   fleet's.
//! * **Picks**: each proxy has its own `Pool` holding every backend (slot = backend id,
//!   weight 100) with its subset applied by `Subset::apply` (members get their share of the
//!   weight, others 0), and its own strategy from `Strategy::from_name`; requests go through
//!   `SelectExt::lease`. Each step every proxy sends one request, which holds its lease for
//!   1 to 15 steps, so P2C and least connections see real (per-proxy) in-flight counts.
//! * **Churn** recomputes every proxy's subset after one membership change and counts the
//!   (proxy, backend) connections opened and closed. The minimum: a removed backend's
//!   proxies each open one replacement; an added backend takes its fair share
//!   `⌊P·k/(B+1)⌋`; an added proxy opens its `k`; a restarted proxy could reconnect to the
//!   same backends (0). A restarted proxy draws a new random-subsetting seed, as in A68.
//!
//! Everything is seeded: the same options print the same tables on every machine.

#![allow(
    clippy::indexing_slicing,
    reason = "a simulation indexes its own tables by backend and proxy; an out-of-range index is a bug to panic on"
)]

mod fleet;
mod load;
#[path = "../../tests/support/splitmix.rs"]
mod splitmix;
mod svg;

use std::time::Instant;

use fleet::{Fleet, Members, Mode, connections, moved};
use splitmix::SplitMix;

/// The strategies run inside each subset.
const STRATEGIES: [&str; 4] = ["p2c", "round_robin", "weighted_round_robin", "least_conn"];

/// Options.
#[derive(Debug, Clone)]
struct Opts {
    proxies: u32,
    backends: u32,
    subset: u32,
    requests: u32,
    seed: u64,
    svg: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: fleet [--proxies N] [--backends 2..=500] [--subset N] [--requests N] [--seed N] [--svg PATH]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        proxies: 100,
        backends: 300,
        subset: 15,
        requests: 1500,
        seed: 1,
        svg: "target/fleet.svg".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args.next().unwrap_or_else(|| usage());
        let num = || val.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--proxies" => o.proxies = num().clamp(1, 100_000) as u32,
            "--backends" => o.backends = num().clamp(2, 500) as u32,
            "--subset" => o.subset = num().clamp(1, 40) as u32,
            "--requests" => o.requests = num().max(1) as u32,
            "--seed" => o.seed = num(),
            "--svg" => o.svg = val,
            _ => usage(),
        }
    }
    o
}

/// min, mean, max of the values.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    (min, mean, max)
}

/// Coefficient of variation (standard deviation over mean).
fn cv(v: &[f64]) -> f64 {
    let (_, mean, _) = spread(v);
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64;
    var.sqrt() / mean
}

/// A fleet of `proxies` proxies over backends `0..backends`.
fn fleet(proxies: u32, backends: u32, k: u32, seed: u64) -> Fleet {
    let mut rng = SplitMix(seed ^ 0x5eed);
    Fleet {
        proxy_seeds: (0..proxies).map(|_| rng.next()).collect(),
        backends: (0..backends).collect(),
        k,
        // the fleet's shared seed: a hash, as Finagle's peer offset is (aperture reads its
        // top 32 bits as the rotation of the proxy ring)
        seed: rng.next(),
    }
}

/// The per-backend values of the live backends.
fn live(per_id: &[u32], backends: &[u32]) -> Vec<f64> {
    backends
        .iter()
        .map(|&b| per_id[b as usize] as f64)
        .collect()
}

fn connections_table(f: &Fleet, all: &[(Mode, Vec<Members>)]) {
    println!(
        "## Connections per backend ({} proxies x {} backends, subset {})\n",
        f.proxies(),
        f.backends.len(),
        f.k
    );
    println!("| mode | connections | per proxy | min | mean | max | max/mean | min/mean |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (mode, subsets) in all {
        let c = live(&connections(subsets, f.backends.len()), &f.backends);
        let (min, mean, max) = spread(&c);
        let total: f64 = c.iter().sum();
        println!(
            "| {} | {total:.0} | {:.2} | {min:.0} | {mean:.2} | {max:.0} | {:.3} | {:.3} |",
            mode.name(),
            total / f.proxies() as f64,
            max / mean,
            min / mean
        );
    }
    println!();
}

/// The SRE book's example of random subsetting beside the other two: 300 clients, 300
/// backends, a subset of 30 % (90 backends).
fn sre_table(seed: u64) {
    let f = fleet(300, 300, 90, seed);
    println!(
        "## The SRE book's case: 300 proxies x 300 backends, subset 90 (book: random gives 63 %..121 % of the mean)\n"
    );
    println!("| mode | min/mean | max/mean |");
    println!("|---|---:|---:|");
    for mode in Mode::ALL.into_iter().skip(1) {
        let c = live(&connections(&f.all(mode), 300), &f.backends);
        let (min, mean, max) = spread(&c);
        println!(
            "| {} | {:.0} % | {:.0} % |",
            mode.name(),
            100.0 * min / mean,
            100.0 * max / mean
        );
    }
    println!();
}

fn load_table(f: &Fleet, all: &[(Mode, Vec<Members>)], requests: u32) -> Vec<(Mode, Vec<f64>)> {
    println!(
        "## Requests per backend ({} requests per proxy; max/mean, min/mean, coefficient of variation)\n",
        requests
    );
    let mut head = String::from("| mode |");
    let mut rule = String::from("|---|");
    for s in STRATEGIES {
        head.push_str(&format!(" {s} |"));
        rule.push_str("---:|");
    }
    println!("{head}\n{rule}");
    let mut p2c = Vec::new();
    for (mode, subsets) in all {
        let mut row = format!("| {} |", mode.name());
        for s in STRATEGIES {
            let counts = load::run(subsets, &f.backends, s, requests, f.seed);
            let v: Vec<f64> = f
                .backends
                .iter()
                .map(|&b| counts[b as usize] as f64)
                .collect();
            let (min, mean, max) = spread(&v);
            row.push_str(&format!(
                " {:.2} / {:.2} / {:.3} |",
                max / mean,
                min / mean,
                cv(&v)
            ));
            if s == "p2c" {
                p2c.push((*mode, v.iter().map(|x| x / mean).collect()));
            }
        }
        println!("{row}");
    }
    println!();
    p2c
}

fn churn_table(f: &Fleet) {
    let (p, b, k) = (f.proxies(), f.backends.len() as u32, f.k);
    println!(
        "## Churn: connections opened / closed by one membership change (minimum opened in parentheses)\n"
    );
    println!("| mode | backend removed | backend added | proxy added | 10 proxies restarted |");
    println!("|---|---:|---:|---:|---:|");
    let gone = b / 2;
    let mut removed = f.clone();
    removed.backends.retain(|&x| x != gone);
    let mut added = f.clone();
    added.backends.push(b);
    let mut grown = f.clone();
    grown.proxy_seeds.push(SplitMix(f.seed ^ 0xadd).next());
    let mut restarted = f.clone();
    let mut rng = SplitMix(f.seed ^ 0x57a7);
    for i in 0..10.min(p) {
        let at = (i * p / 10.min(p)) as usize;
        restarted.proxy_seeds[at] = rng.next();
    }
    for mode in Mode::ALL {
        let before = f.all(mode);
        let had = connections(&before, b as usize)[gone as usize];
        let (min_rm, min_add, min_grow) = match mode {
            Mode::FullMesh => (0, p, b),
            Mode::Subset(_) => (had, p * k / (b + 1), k),
        };
        let cell = |after: &Fleet, min: u32| {
            let (o, c) = moved(&before, &after.all(mode));
            format!("{o} / {c} (min {min})")
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            mode.name(),
            cell(&removed, min_rm),
            cell(&added, min_add),
            cell(&grown, min_grow),
            cell(&restarted, 0)
        );
    }
    println!();
}

fn main() {
    let opts = parse_opts();
    let t0 = Instant::now();
    let f = fleet(opts.proxies, opts.backends, opts.subset, opts.seed);
    let all: Vec<(Mode, Vec<Members>)> = Mode::ALL.into_iter().map(|m| (m, f.all(m))).collect();
    connections_table(&f, &all);
    sre_table(opts.seed);
    let p2c = load_table(&f, &all, opts.requests);
    churn_table(&f);
    let conns: Vec<(Mode, Vec<f64>)> = all
        .iter()
        .map(|(m, s)| (*m, live(&connections(s, f.backends.len()), &f.backends)))
        .collect();
    let chart = svg::chart(&conns, &p2c, &opts_line(&opts));
    if let Some(dir) = std::path::Path::new(&opts.svg).parent()
        && !dir.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&opts.svg, chart) {
        Ok(()) => println!("chart: {}", opts.svg),
        Err(e) => eprintln!("fleet: cannot write {}: {e}", opts.svg),
    }
    println!("({:.1} s)", t0.elapsed().as_secs_f64());
}

/// The options, for the chart's title.
fn opts_line(o: &Opts) -> String {
    format!(
        "{} proxies x {} backends, subset {}, {} requests per proxy, seed {}",
        o.proxies, o.backends, o.subset, o.requests, o.seed
    )
}
