//! The figures the README and the module docs state, each asserted for the configuration it
//! was measured on.
//!
//! * Maglev's disruption: the share of the *other* backends' table entries that change owner
//!   when one backend of `n` leaves (the first, a middle and the last; equal weights; `n` in
//!   2..=64), for three table sizes: the smallest prime at or above `100·n`, 6421 (the
//!   smallest prime above `100 × 64`, so `M ≥ 100·n` for every `n`), and 65537. The table
//!   build is deterministic, so these are exact figures, asserted at the precision stated.
//! * Smooth weighted round robin picked from two threads at once: how far a backend's count
//!   can be from `k·w_i` at the end of a whole number of periods (exact: every pick is
//!   counted), and how far the recorded order of picks strays from its ideal share over
//!   every prefix (measured on a merged record, so it includes recording noise).
//!
//! The measurements behind the README's figures are the `#[ignore]`d tests: run them with
//! `cargo test --release --test it stated_bounds:: -- --ignored --nocapture`.

#![allow(clippy::indexing_slicing)]

use crate::support as common;

use common::{max_prefix_deviation_fast, nginx_swrr};
use tinylb::{BackendId, Maglev, Pool, Request, Select, WeightedRoundRobin};

// ---------------------------------------------------------------------------------------
// Maglev: disruption when one backend leaves
// ---------------------------------------------------------------------------------------

/// Share of the entries of the backends that stayed which changed owner when backend
/// `gone` of `n` (equal weights) leaves a `Maglev<64, M>`.
fn disruption<const M: usize>(n: usize, gone: usize) -> f64 {
    let pool: Pool<64> = Pool::new();
    let ids: Vec<BackendId> = (0..n).map(|_| pool.add(1).unwrap()).collect();
    let m: Maglev<64, M> = Maglev::new();
    assert!(m.refresh(&pool));
    let before: Vec<usize> = (0..M).map(|p| m.table_entry(p).unwrap()).collect();
    pool.remove(ids[gone]).unwrap();
    assert!(m.refresh(&pool));
    let (mut stayed, mut moved) = (0u64, 0u64);
    for (p, &b) in before.iter().enumerate() {
        let a = m.table_entry(p).unwrap();
        assert_ne!(a, gone, "an entry still names the removed backend");
        if b != gone {
            stayed += 1;
            moved += u64::from(a != b);
        }
    }
    moved as f64 / stayed as f64
}

/// The first, a middle and the last backend of `n`.
fn removals(n: usize) -> [usize; 3] {
    [0, n / 2, n - 1]
}

/// Disruption of each of [`removals`]`(n)` at table size `M`.
fn three<const M: usize>(n: usize) -> Vec<f64> {
    removals(n).iter().map(|&g| disruption::<M>(n, g)).collect()
}

/// Disruption of every possible removal at table size `M`.
fn every<const M: usize>(n: usize) -> Vec<f64> {
    (0..n).map(|g| disruption::<M>(n, g)).collect()
}

type Measure = fn(usize) -> Vec<f64>;

/// `(n, M, three::<M>, every::<M>)` for `n` in 2..=64, with `M` the smallest prime at or
/// above `100·n` (`M` is a const generic: one instance per size).
macro_rules! at_100n {
    ($(($n:literal, $m:literal)),* $(,)?) => {
        vec![$(($n, $m, three::<$m> as Measure, every::<$m> as Measure)),*]
    };
}

fn grid_100n() -> Vec<(usize, usize, Measure, Measure)> {
    let g = at_100n!(
        (2, 211),
        (3, 307),
        (4, 401),
        (5, 503),
        (6, 601),
        (7, 701),
        (8, 809),
        (9, 907),
        (10, 1009),
        (11, 1103),
        (12, 1201),
        (13, 1301),
        (14, 1409),
        (15, 1511),
        (16, 1601),
        (17, 1709),
        (18, 1801),
        (19, 1901),
        (20, 2003),
        (21, 2111),
        (22, 2203),
        (23, 2309),
        (24, 2411),
        (25, 2503),
        (26, 2609),
        (27, 2707),
        (28, 2801),
        (29, 2903),
        (30, 3001),
        (31, 3109),
        (32, 3203),
        (33, 3301),
        (34, 3407),
        (35, 3511),
        (36, 3607),
        (37, 3701),
        (38, 3803),
        (39, 3907),
        (40, 4001),
        (41, 4111),
        (42, 4201),
        (43, 4327),
        (44, 4409),
        (45, 4507),
        (46, 4603),
        (47, 4703),
        (48, 4801),
        (49, 4903),
        (50, 5003),
        (51, 5101),
        (52, 5209),
        (53, 5303),
        (54, 5407),
        (55, 5501),
        (56, 5623),
        (57, 5701),
        (58, 5801),
        (59, 5903),
        (60, 6007),
        (61, 6101),
        (62, 6203),
        (63, 6301),
        (64, 6421),
    );
    let prime = |k: usize| {
        k > 1
            && (2..k)
                .take_while(|d| d * d <= k)
                .all(|d| !k.is_multiple_of(d))
    };
    for (i, &(n, m, _, _)) in g.iter().enumerate() {
        assert_eq!(n, i + 2);
        assert!(prime(m) && (100 * n..m).all(|k| !prime(k)), "n={n}: {m}");
    }
    g
}

/// Mean and worst over every `n` in 2..=64 of `f(n)`'s removals.
fn mean_and_worst(f: impl Fn(usize) -> Vec<f64>) -> (f64, f64) {
    let all: Vec<f64> = (2..=64).flat_map(f).collect();
    let worst = all.iter().copied().fold(0.0, f64::max);
    (all.iter().sum::<f64>() / all.len() as f64, worst)
}

/// The Maglev disruption figures the README and `Maglev`'s docs state, in percent at one
/// decimal: (configuration, mean, worst). The build is deterministic: the measurement must
/// round to exactly these (a change either way makes the docs wrong).
const MAGLEV_STATED: [(&str, f64, f64); 3] = [
    ("M = smallest prime >= 100*n", 2.2, 4.2),
    ("M = 6421", 1.4, 2.5),
    ("M = 65537", 0.4, 2.2),
];

#[test]
#[cfg_attr(miri, ignore = "slow under miri")]
#[cfg_attr(
    target_family = "wasm",
    ignore = "tables of 65537 entries: minutes under WASI, checked natively"
)]
fn maglev_disruption_is_as_stated() {
    let grid = grid_100n();
    let measured = [
        mean_and_worst(|n| grid[n - 2].2(n)),
        mean_and_worst(three::<6421>),
        mean_and_worst(three::<65537>),
    ];
    let mut wrong = Vec::new();
    for ((label, mean, worst), (m, w)) in MAGLEV_STATED.iter().zip(measured) {
        let (m, w) = (100.0 * m, 100.0 * w);
        println!("maglev {label}: {m:.3} % mean, {w:.3} % worst");
        if (m - mean).abs() > 0.05 || (w - worst).abs() > 0.05 {
            wrong.push(format!(
                "{label}: {m:.3} % / {w:.3} %, stated {mean} % / {worst} %"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Per `n` at `M` = the smallest prime at or above `100·n`: the three removals, and every
/// possible removal.
#[test]
#[ignore = "prints Maglev disruption per n; run with --release --ignored --nocapture"]
fn maglev_disruption_per_n() {
    let (mut all_sum, mut all_len, mut all_worst) = (0.0, 0usize, 0.0f64);
    for (n, m, f, g) in &grid_100n() {
        let t = f(*n);
        let e = g(*n);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!(
            "n={n:2} M={m:4}: first/middle/last mean {:.3} % worst {:.3} %; every removal mean {:.3} % worst {:.3} %",
            100.0 * mean(&t),
            100.0 * max(&t),
            100.0 * mean(&e),
            100.0 * max(&e)
        );
        all_sum += e.iter().sum::<f64>();
        all_len += e.len();
        all_worst = all_worst.max(max(&e));
    }
    println!(
        "every removal, n in 2..=64, M >= 100*n smallest prime: mean {:.3} %, worst {:.3} %",
        100.0 * all_sum / all_len as f64,
        100.0 * all_worst
    );
    for (label, f) in [
        ("M=6421", every::<6421> as Measure),
        ("M=65537", every::<65537>),
    ] {
        let (m, w) = mean_and_worst(f);
        println!(
            "every removal, n in 2..=64, {label}: mean {:.3} %, worst {:.3} %",
            100.0 * m,
            100.0 * w
        );
    }
}

// ---------------------------------------------------------------------------------------
// Smooth weighted round robin from two threads
// ---------------------------------------------------------------------------------------

/// The weight sets of the README's smoothness table.
fn wrr_sets() -> Vec<(String, Vec<u32>)> {
    common::wrr_weight_sets(2)
}

/// What one two-thread run shows.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    /// Max prefix deviation of the merged record (includes recording noise).
    prefix: f64,
    /// Largest `|count_i − P·w_i|` over all `P·W` picks: exact, every pick is counted.
    end: u32,
    /// Largest `|count_i(k·W) − k·w_i|` at the period boundaries of the merged record.
    boundary: u32,
    /// Largest `|count_i − w_i|` in one aligned period of the merged record.
    period: u32,
    /// Largest `|count_i − 2·w_i|` over two consecutive aligned periods of the record.
    two_periods: u32,
}

impl Run {
    fn of(weights: &[u32], merged: &[usize]) -> Run {
        let n = weights.len();
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        assert_eq!(merged.len() % total, 0);
        let diff = |c: &[i64], k: i64| -> u32 {
            c.iter()
                .zip(weights)
                .map(|(&c, &w)| (c - k * i64::from(w)).unsigned_abs() as u32)
                .max()
                .unwrap()
        };
        let per: Vec<Vec<i64>> = merged
            .chunks(total)
            .map(|p| {
                let mut c = vec![0i64; n];
                for &i in p {
                    c[i] += 1;
                }
                c
            })
            .collect();
        let mut run = Run {
            prefix: max_prefix_deviation_fast(weights, merged),
            ..Run::default()
        };
        let mut cum = vec![0i64; n];
        for (k, p) in per.iter().enumerate() {
            run.period = run.period.max(diff(p, 1));
            for (c, x) in cum.iter_mut().zip(p) {
                *c += x;
            }
            run.boundary = run.boundary.max(diff(&cum, k as i64 + 1));
            if let Some(q) = per.get(k + 1) {
                let two: Vec<i64> = p.iter().zip(q).map(|(a, b)| a + b).collect();
                run.two_periods = run.two_periods.max(diff(&two, 2));
            }
        }
        run.end = diff(&cum, per.len() as i64);
        run
    }

    fn worst(self, o: Run) -> Run {
        Run {
            prefix: self.prefix.max(o.prefix),
            end: self.end.max(o.end),
            boundary: self.boundary.max(o.boundary),
            period: self.period.max(o.period),
            two_periods: self.two_periods.max(o.two_periods),
        }
    }
}

/// Two-thread picks of `WeightedRoundRobin::new()` (a fresh pool and strategy), the first
/// pick made alone so that the schedule is built before the threads start (while it is
/// being built, the other thread's picks take the first eligible backend and are not
/// counted in the schedule: that is the rebuild window, not the steady state measured here).
fn ours_merged(weights: &[u32], picks: usize) -> Vec<usize> {
    let pool: Pool<64> = Pool::new();
    for &w in weights {
        pool.add(w).unwrap();
    }
    let wrr = WeightedRoundRobin::<64>::new();
    let pick = || {
        wrr.select(&pool, &mut Request::new())
            .expect("eligible")
            .index()
    };
    let mut merged = vec![pick()];
    merged.extend(common::merged_two_threads(picks - 1, &pick));
    merged
}

/// One two-thread run of [`ours_merged`].
fn ours(weights: &[u32], picks: usize) -> Run {
    Run::of(weights, &ours_merged(weights, picks))
}

/// The control: nginx's sequence served behind a mutex, recorded the same way (whatever it
/// adds to nginx's deviation is recording noise).
fn locked_nginx(weights: &[u32], picks: usize) -> Run {
    let reference = nginx_swrr(weights, picks);
    let next = std::sync::Mutex::new(0usize);
    let merged = common::merged_two_threads(picks, &|| {
        let mut k = next.lock().unwrap();
        *k += 1;
        reference[*k - 1]
    });
    Run::of(weights, &merged)
}

/// Picks per run: whole periods, at least two and at least 10,000 picks (as the README's
/// smoothness table).
fn picks_for(weights: &[u32]) -> usize {
    let total: usize = weights.iter().map(|&w| w as usize).sum();
    total * 2.max(10_000usize.div_ceil(total))
}

/// Runs behind the two-thread columns of the README's smoothness table.
const WRR_RUNS: usize = 200;
/// Runs per set and length in [`wrr_two_threads_long_run`].
const LONG_RUNS: usize = 50;

#[test]
#[ignore = "two-thread WRR, worst of 200 runs per set; run with --release --ignored --nocapture"]
fn wrr_two_threads_worst() {
    println!();
    println!(
        "| weights | W | nginx | ours 2 threads: prefix | end | boundary | period | two periods | locked nginx: prefix | end | boundary | period | two periods |"
    );
    for (name, weights) in wrr_sets() {
        let picks = picks_for(&weights);
        let nginx = max_prefix_deviation_fast(&weights, &nginx_swrr(&weights, picks));
        let (mut a, mut b) = (Run::default(), Run::default());
        for _ in 0..WRR_RUNS {
            a = a.worst(ours(&weights, picks));
            b = b.worst(locked_nginx(&weights, picks));
        }
        let total: u32 = weights.iter().sum();
        println!(
            "| {name} | {total} | {nginx:.3} | {:.3} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {} |",
            a.prefix,
            a.end,
            a.boundary,
            a.period,
            a.two_periods,
            b.prefix,
            b.end,
            b.boundary,
            b.period,
            b.two_periods
        );
    }
}

/// End error (exact) after 2, 20 and 200 whole periods, worst of [`LONG_RUNS`] runs per set:
/// whether out-of-turn picks pile up or are paid back.
#[test]
#[ignore = "two-thread WRR, end error by run length; run with --release --ignored --nocapture"]
fn wrr_two_threads_long_run() {
    for (name, weights) in wrr_sets() {
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let ends: Vec<u32> = [2usize, 20, 200]
            .iter()
            .map(|&p| {
                (0..LONG_RUNS)
                    .map(|_| ours(&weights, p * total).end)
                    .max()
                    .unwrap()
            })
            .collect();
        println!("{name}: worst |count_i - P*w_i| after P = 2, 20, 200 periods: {ends:?}");
    }
}

/// What `WeightedRoundRobin`'s docs state for two racing threads: after any whole number of
/// periods every backend's count is within a few picks of `P·w_i`, and that error does not
/// grow with the number of periods (out-of-turn picks are paid back). Worst seen: 5 picks
/// (README). The bound asserted, 8, leaves 3 picks of margin for a busier machine; a
/// schedule that stopped paying turns back (a lost counter increment, a credit computed from
/// the wrong ticket) drifts by one pick per out-of-turn pick, and in these runs the record
/// departs from nginx's sequence at hundreds of positions or more (printed), so it would fail.
#[test]
#[cfg_attr(miri, ignore = "threads and many picks")]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn wrr_two_threads_whole_periods_within_a_few_picks() {
    const BOUND: u32 = 8;
    let runs = if cfg!(debug_assertions) { 4 } else { 20 };
    for (weights, periods) in [
        (vec![1000u32, 1, 1, 1], 100usize),
        (vec![100, 1], 300),
        ((1..=64).collect::<Vec<u32>>(), 20),
    ] {
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let picks = periods * total;
        let reference = nginx_swrr(&weights, picks);
        let (mut worst, mut races) = (Run::default(), 0usize);
        for _ in 0..runs {
            let merged = ours_merged(&weights, picks);
            races += merged
                .iter()
                .zip(&reference)
                .filter(|(a, b)| a != b)
                .count();
            worst = worst.worst(Run::of(&weights, &merged));
        }
        println!(
            "{} backends, W = {total}, {periods} periods, {runs} runs: end error {}, merged prefix deviation {:.3}, positions differing from nginx's sequence {races}",
            weights.len(),
            worst.end,
            worst.prefix
        );
        assert!(worst.end <= BOUND, "{weights:?}: {worst:?}");
    }
}
