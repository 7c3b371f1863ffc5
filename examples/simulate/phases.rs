//! What a run measured in each phase of a scenario that has phases (`priority_spill`,
//! `zone_outage`), and their tables.

use core::fmt::Write as _;

use crate::report::{RunResult, ms, pct};
use crate::scenario::Cluster;

/// What one run measured in one phase (the requests sent between two phase boundaries).
#[derive(Debug, Clone)]
pub(crate) struct PhaseResult {
    /// Sorted latencies of the successful requests sent in it, in microseconds.
    pub(crate) latencies: Vec<u64>,
    /// Picks from each proxy zone (one row when the proxies have no zones) to each level or
    /// zone.
    pub(crate) flows: Vec<Vec<u64>>,
    /// Requests for which no backend was eligible.
    pub(crate) unroutable: u64,
    /// What the pools said when it began: the share of the picks from each proxy zone to
    /// each level or zone (the same shape as `flows`), and whether a level was in panic or a
    /// proxy had no locality split.
    pub(crate) model: (Vec<Vec<f64>>, bool),
}

impl PhaseResult {
    /// An empty phase: `from` proxy zones, `to` levels or zones.
    pub(crate) fn new(from: usize, to: usize) -> Self {
        PhaseResult {
            latencies: Vec::new(),
            flows: vec![vec![0; to]; from],
            unroutable: 0,
            model: (Vec::new(), false),
        }
    }

    /// Picks in this phase.
    fn picks(&self) -> u64 {
        self.flows.iter().flatten().sum()
    }

    /// The share of this phase's picks that went to level or zone `to`, in percent.
    fn share_to(&self, to: usize) -> f64 {
        let n = self.flows.iter().map(|r| r[to]).sum::<u64>();
        100.0 * n as f64 / self.picks().max(1) as f64
    }

    /// The share of the picks from proxy zone `from` that stayed in that zone, in percent.
    fn local(&self, from: usize) -> f64 {
        let row = &self.flows[from];
        100.0 * row[from] as f64 / row.iter().sum::<u64>().max(1) as f64
    }

    /// The share of all picks that crossed into zone `to` from another, in percent.
    fn cross_to(&self, to: usize) -> f64 {
        let n: u64 = (0..self.flows.len())
            .filter(|&f| f != to)
            .map(|f| self.flows[f][to])
            .sum();
        100.0 * n as f64 / self.picks().max(1) as f64
    }

    /// p50 / p99 / p999 of the requests sent in it, in milliseconds.
    fn pcts(&self) -> String {
        format!(
            "{} / {} / {}",
            ms(pct(&self.latencies, 0.50)),
            ms(pct(&self.latencies, 0.99)),
            ms(pct(&self.latencies, 0.999))
        )
    }
}

/// The tables of `priority_spill`: per phase (k of level 0's backends down), what Envoy's
/// priority load gives level 1 and the share each strategy sent there, then each strategy's
/// latency percentiles in that phase.
pub(crate) fn spill_tables(sc: &Cluster, results: &[RunResult]) -> String {
    let per = sc.backends.iter().filter(|b| b.level == 0).count();
    let mut out = String::new();
    let _ = writeln!(out, "## {}", sc.title);
    let _ = writeln!(out);
    let mut head = String::from("| level 0 down | level 0 healthy | priority load L0 / L1 % |");
    let mut rule = String::from("|---:|---:|---:|");
    for r in results {
        let _ = write!(head, " {} |", r.strategy);
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "Share of the picks at level 1, in % (by phase):");
    let _ = writeln!(out);
    let _ = writeln!(out, "{head}\n{rule}");
    let Some(first) = results.first() else {
        return out;
    };
    let mut spilled = false;
    for (k, ph) in first.phases.iter().enumerate() {
        let (model, panic) = &ph.model;
        let m = model.first().cloned().unwrap_or_default();
        let l = |i: usize| m.get(i).map_or(0.0, |x| 100.0 * x);
        let note = if !spilled && l(1) > 0.0 {
            spilled = true;
            " (spill starts)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "| {k} | {} / {per} | {:.0} / {:.0}{}{note} |",
            per - k.min(per),
            l(0),
            l(1),
            if *panic { " (panic)" } else { "" }
        );
        for r in results {
            let _ = write!(out, " {:.1} |", r.phases[k].share_to(1));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "p50 / p99 / p999 ms of the requests sent in each phase:"
    );
    let _ = writeln!(out);
    let mut head = String::from("| level 0 down |");
    let mut rule = String::from("|---:|");
    for r in results {
        let _ = write!(head, " {} |", r.strategy);
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for k in 0..first.phases.len() {
        let _ = write!(out, "| {k} |");
        for r in results {
            let _ = write!(out, " {} |", r.phases[k].pcts());
        }
        let _ = writeln!(out);
    }
    let unroutable: u64 = results.iter().map(|r| r.unroutable).sum();
    if unroutable > 0 {
        let _ = writeln!(out, "\n{unroutable} requests found no backend.");
    }
    out
}

/// The table of `zone_outage`: per run, before and after the outage, the share of each proxy
/// zone's picks that stayed local, the share of all picks that crossed into each zone, and
/// the latency percentiles; a model row per policy gives what the pools' locality splits
/// say.
pub(crate) fn zone_table(sc: &Cluster, results: &[RunResult]) -> String {
    let zones = sc.groups.count();
    let mut out = String::new();
    let _ = writeln!(out, "## {}", sc.title);
    let _ = writeln!(out);
    let list = |f: &dyn Fn(usize) -> f64| {
        (0..zones)
            .map(|z| format!("{:.1}", f(z)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let zs = (0..zones)
        .map(|z| z.to_string())
        .collect::<Vec<_>>()
        .join(" / ");
    let mut head = String::from("| strategy |");
    let mut rule = String::from("|---|");
    for when in ["before", "after"] {
        let _ = write!(
            head,
            " {when}: local % (proxies in zone {zs}) | cross-zone % into zone {zs} | p50 / p99 / p999 ms |"
        );
        rule.push_str("---:|---:|---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    let mut model_done: Vec<String> = Vec::new();
    for r in results {
        // a model row before the first run of each policy (it does not depend on the strategy)
        let policy = r
            .strategy
            .split_once(' ')
            .map_or("", |(_, p)| p)
            .to_string();
        if !model_done.contains(&policy) {
            model_done.push(policy.clone());
            let _ = write!(out, "| *locality split* {policy} |");
            for ph in &r.phases {
                let (m, spans) = &ph.model;
                let total: f64 = m.iter().flatten().sum();
                let local = |z: usize| {
                    let row: f64 = m[z].iter().sum();
                    if row > 0.0 {
                        100.0 * m[z][z] / row
                    } else {
                        0.0
                    }
                };
                let cross = |z: usize| {
                    let n: f64 = (0..zones).filter(|&f| f != z).map(|f| m[f][z]).sum();
                    100.0 * n / total.max(f64::MIN_POSITIVE)
                };
                let _ = write!(
                    out,
                    " {}{} | {} | |",
                    list(&local),
                    if *spans { " (spans zones)" } else { "" },
                    list(&cross)
                );
            }
            let _ = writeln!(out);
        }
        let _ = write!(out, "| {} |", r.strategy);
        for ph in &r.phases {
            let _ = write!(
                out,
                " {} | {} | {} |",
                list(&|z| ph.local(z)),
                list(&|z| ph.cross_to(z)),
                ph.pcts()
            );
        }
        let _ = writeln!(out);
    }
    out
}
