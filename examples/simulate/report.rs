//! What a run measured, and the Markdown table of one scenario's runs.

use core::fmt::Write as _;

use crate::phases::PhaseResult;
use crate::scenario::{Cluster, Groups};

/// What one run (one scenario, one strategy, one policy) measured.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    /// The strategy's name and the policy's suffix.
    pub(crate) strategy: String,
    /// Sorted latencies of successful requests, in microseconds.
    pub(crate) latencies: Vec<u64>,
    /// Failed requests, the unroutable ones included.
    pub(crate) failures: u64,
    /// Requests for which no backend was eligible (counted in `failures` too).
    pub(crate) unroutable: u64,
    /// Picks of each backend.
    pub(crate) picks: Vec<u64>,
    /// Simulated time to serve every request, in microseconds.
    pub(crate) sim_us: u64,
    /// Sorted latencies of the successful requests sent in the steady part (from the
    /// `requests / 2`th request sent to the last).
    pub(crate) steady: Vec<u64>,
    /// Each backend's busy fraction over the steady part (busy worker-time over workers
    /// times its length).
    pub(crate) busy: Vec<f64>,
    /// The steady part's length, in microseconds.
    pub(crate) steady_us: u64,
    /// Per phase of the cluster (one when it has no phase boundaries).
    pub(crate) phases: Vec<PhaseResult>,
}

impl RunResult {
    /// Nothing measured yet for a run labelled `strategy` of cluster `sc`.
    pub(crate) fn new(strategy: String, sc: &Cluster) -> Self {
        // the picks of a phase split by proxy zone only when the cluster has zones
        let from = match sc.groups {
            Groups::Zones(z) => z,
            Groups::None | Groups::Levels(_) => 1,
        };
        RunResult {
            strategy,
            latencies: Vec::with_capacity(sc.requests as usize),
            steady: Vec::new(),
            busy: Vec::new(),
            steady_us: 0,
            failures: 0,
            unroutable: 0,
            picks: vec![0; sc.backends.len()],
            sim_us: 0,
            phases: (0..=sc.phases.len())
                .map(|_| PhaseResult::new(from, sc.groups.count()))
                .collect(),
        }
    }

    /// Nearest-rank percentile, in microseconds.
    pub(crate) fn pct(&self, q: f64) -> u64 {
        pct(&self.latencies, q)
    }

    /// The busy fractions' mean, and their max and min over the mean.
    pub(crate) fn spread(&self) -> (f64, f64, f64) {
        let n = self.busy.len().max(1) as f64;
        let mean = self.busy.iter().sum::<f64>() / n;
        let max = self.busy.iter().copied().fold(0.0, f64::max);
        let min = self.busy.iter().copied().fold(f64::INFINITY, f64::min);
        if mean > 0.0 {
            (mean, max / mean, min / mean)
        } else {
            (0.0, 0.0, 0.0)
        }
    }
}

/// Nearest-rank percentile of sorted `v`, in microseconds.
pub(crate) fn pct(v: &[u64], q: f64) -> u64 {
    let n = v.len();
    if n == 0 {
        return 0;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    v[rank - 1]
}

/// Microseconds as milliseconds with three significant digits (at least).
pub(crate) fn ms(us: u64) -> String {
    let m = us as f64 / 1000.0;
    if m < 10.0 {
        format!("{m:.2}")
    } else if m < 100.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.0}")
    }
}

/// The table of one scenario: a row per run, each backend's share when there are few.
pub(crate) fn table(sc: &Cluster, results: &[RunResult], requests: u64) -> String {
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

/// The table of a scenario with load reports: latency and utilization over the steady part,
/// the utilization spread across backends, and the mean utilization of each capacity.
pub(crate) fn load_table(sc: &Cluster, results: &[RunResult]) -> String {
    let mut caps: Vec<u32> = sc.backends.iter().map(|b| b.capacity).collect();
    caps.sort_unstable();
    caps.dedup();
    let mut out = String::new();
    let _ = writeln!(out, "## {}", sc.title);
    let _ = writeln!(out);
    let mut head = String::from(
        "| strategy | p50 ms | p99 ms | p999 ms | failures | time s | steady s | util mean % | util max/mean | util min/mean |",
    );
    let mut rule = String::from("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for k in &caps {
        let _ = write!(head, " {k}x util % |");
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for r in results {
        let (mean, max, min) = r.spread();
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.3} | {:.3} |",
            r.strategy,
            ms(pct(&r.steady, 0.50)),
            ms(pct(&r.steady, 0.99)),
            ms(pct(&r.steady, 0.999)),
            r.failures,
            r.sim_us as f64 / 1e6,
            r.steady_us as f64 / 1e6,
            100.0 * mean,
            max,
            min
        );
        for &k in &caps {
            let of: Vec<f64> = sc
                .backends
                .iter()
                .zip(&r.busy)
                .filter(|(b, _)| b.capacity == k)
                .map(|(_, &u)| u)
                .collect();
            let m = of.iter().sum::<f64>() / of.len().max(1) as f64;
            let _ = write!(out, " {:.1} |", 100.0 * m);
        }
        let _ = writeln!(out);
    }
    out
}
