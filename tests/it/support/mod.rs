//! Shared helpers of the contract tests: the seedable RNG, the proptest configuration,
//! pools with every kind of ineligible backend, reference models and statistics.
#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

/// SplitMix64, the one copy shared with the benches, the other test binaries and the golden
/// vectors' check (`tests/support/splitmix.rs`).
#[path = "../../support/splitmix.rs"]
mod splitmix;

pub use splitmix::SplitMix;

use proptest::test_runner::Config as ProptestConfig;

/// The case count of a property: `PROPTEST_CASES` when set (CI lowers it under miri), else
/// `default`, the count the property was tuned for.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The configuration of every `proptest!` block: [`cases`]`(default)` cases and no failure
/// file (a failing input is printed in the test output).
pub fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// nginx's smooth weighted round robin (ngx_http_upstream_get_peer), the reference model:
/// every step adds each weight to its backend's `current`, picks the largest (first on
/// ties) and subtracts the total from the winner.
pub fn nginx_swrr(weights: &[u32], picks: usize) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut cur = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(picks);
    for _ in 0..picks {
        let mut best: Option<usize> = None;
        for i in 0..weights.len() {
            if weights[i] == 0 {
                continue;
            }
            cur[i] += weights[i] as i64;
            if best.is_none_or(|b| cur[i] > cur[b]) {
                best = Some(i);
            }
        }
        let b = best.expect("some weight > 0");
        cur[b] -= total;
        out.push(b);
    }
    out
}

/// Largest |count_i(k) - k*w_i/W| over every prefix k of `seq` and every backend i.
pub fn max_prefix_deviation(weights: &[u32], seq: &[usize]) -> f64 {
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let mut counts = vec![0u64; weights.len()];
    let mut worst = 0.0f64;
    for (k, &b) in seq.iter().enumerate() {
        counts[b] += 1;
        let k = (k + 1) as f64;
        for (i, &w) in weights.iter().enumerate() {
            let d = (counts[i] as f64 - k * w as f64 / total).abs();
            worst = worst.max(d);
        }
    }
    worst
}

// ----- pools with every kind of ineligible backend -----

/// What one backend of a test pool looks like. Only [`Spec::Up`] is eligible; every other
/// kind is one way of not being eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// Up with this weight (> 0), no cap.
    Up(u32),
    /// Marked [`tinylb::Health::Down`].
    Down(u32),
    /// Marked [`tinylb::Health::Draining`].
    Draining(u32),
    /// Up but weight 0.
    Zero,
    /// Up with this weight and a cap of `cap` leases, all of them held: at its cap.
    AtCap(u32, u32),
}

impl Spec {
    /// `true` if a strategy may pick this backend.
    pub fn eligible(self) -> bool {
        matches!(self, Spec::Up(_))
    }
    /// The configured weight.
    pub fn weight(self) -> u32 {
        match self {
            Spec::Up(w) | Spec::Down(w) | Spec::Draining(w) | Spec::AtCap(w, _) => w,
            Spec::Zero => 0,
        }
    }
    /// The weight a strategy should see: the weight if eligible, else 0.
    pub fn eligible_weight(self) -> u32 {
        if self.eligible() { self.weight() } else { 0 }
    }
}

/// Adds one backend per spec, in slot order, and returns the leases that hold the capped
/// ones at their cap (drop them to free those backends).
pub fn build_pool<'p, const N: usize>(
    pool: &'p tinylb::Pool<N>,
    specs: &[Spec],
) -> Vec<tinylb::Lease<&'p tinylb::Pool<N>, N>> {
    use tinylb::{Health, Lease};
    let mut held = Vec::new();
    for &s in specs {
        let id = pool.add(s.weight()).expect("pool has room");
        match s {
            Spec::Up(_) | Spec::Zero => {}
            Spec::Down(_) => pool.set_health(id, Health::Down).unwrap(),
            Spec::Draining(_) => pool.set_health(id, Health::Draining).unwrap(),
            Spec::AtCap(_, cap) => {
                pool.set_cap(id, core::num::NonZeroU32::new(cap)).unwrap();
                for _ in 0..cap {
                    held.push(Lease::acquire(pool, id).expect("below cap"));
                }
                assert!(Lease::acquire(pool, id).is_none(), "at cap");
            }
        }
    }
    held
}

/// A proptest strategy for one backend: mostly up, with every kind of ineligible mixed in.
pub fn spec_strategy(max_weight: u32) -> impl proptest::strategy::Strategy<Value = Spec> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (1..=max_weight).prop_map(Spec::Up),
        1 => (1..=max_weight).prop_map(Spec::Down),
        1 => (1..=max_weight).prop_map(Spec::Draining),
        1 => Just(Spec::Zero),
        1 => ((1..=max_weight), (1..=3u32)).prop_map(|(w, c)| Spec::AtCap(w, c)),
    ]
}

// ----- statistics -----

/// Pearson's chi-square statistic of `counts` against the expected `probs` (which sum to 1;
/// cells with probability 0 must have count 0 and are skipped).
pub fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
    assert_eq!(counts.len(), probs.len());
    let n: u64 = counts.iter().sum();
    let mut x = 0.0;
    for (&c, &p) in counts.iter().zip(probs) {
        if p == 0.0 {
            assert_eq!(c, 0, "a cell with probability 0 was hit");
            continue;
        }
        let e = n as f64 * p;
        x += (c as f64 - e).powi(2) / e;
    }
    x
}

/// Upper critical value of the chi-square distribution with `df` degrees of freedom at
/// significance 10^-4 (Wilson–Hilferty approximation, accurate to a few percent for df ≥ 1,
/// and conservative enough for seeded tests that should never fail by chance).
pub fn chi_square_critical(df: usize) -> f64 {
    assert!(df >= 1);
    let z = 3.719; // standard normal quantile at 1 - 10^-4
    let k = df as f64;
    let h = 2.0 / (9.0 * k);
    let wh = k * (1.0 - h + z * h.sqrt()).powi(3);
    // Wilson–Hilferty underestimates the far tail at df = 1..2; use the exact values there.
    match df {
        1 => 15.14,
        2 => 18.42,
        _ => wh,
    }
}

// ----- gRPC's static stride scheduler, as a reference model -----

/// The weights gRPC's `StaticStrideScheduler::Make` would schedule with for `weights`:
/// scaled so the largest is 65535 and rounded, after capping every weight at 10× the mean of
/// the non-zero weights and raising every weight to at least 1 % of the (scaled) mean. With
/// `clamp = false` only the scaling and rounding is done (the stride algorithm alone).
///
/// Written from reading `src/core/load_balancing/weighted_round_robin/
/// static_stride_scheduler.cc` in grpc/grpc; a model, not a port. Differences from the real
/// thing: gRPC treats a weight of 0 as "unknown" and gives it the mean, here 0 stays 0 (the
/// measurement uses only positive weights), and gRPC gives up (falls back to plain round robin)
/// for a single backend, here it schedules it.
pub fn grpc_stride_weights(weights: &[u32], clamp: bool) -> Vec<u16> {
    const K_MAX: f64 = 65535.0;
    let nonzero: Vec<f32> = weights
        .iter()
        .filter(|&&w| w > 0)
        .map(|&w| w as f32)
        .collect();
    assert!(!nonzero.is_empty());
    let sum: f64 = nonzero.iter().map(|&w| w as f64).sum();
    let mean = sum / nonzero.len() as f64;
    let mut max = nonzero.iter().copied().fold(0.0f32, f32::max);
    if clamp && max as f64 / mean > 10.0 {
        max = (10.0 * mean) as f32;
    }
    let scale = K_MAX / max as f64;
    let scaled_mean = (scale * mean).round();
    let lower = if clamp {
        ((scaled_mean * 0.01).round()).max(1.0)
    } else {
        1.0
    };
    weights
        .iter()
        .map(|&w| {
            if w == 0 {
                return 0;
            }
            let capped = (w as f32).min(max) as f64;
            let s = (capped * scale).round().max(lower);
            s.min(K_MAX) as u16
        })
        .collect()
}

/// gRPC's stride pick loop over `scaled` weights (from [`grpc_stride_weights`]), driven by a
/// 32-bit sequence counter starting at `start` (gRPC starts it at a random value): sequence
/// `s` offers backend `s % n` in generation `s / n`, which takes it when
/// `(w·generation + index·32767) mod 65535 ≥ 65535 − w`. Returns the first `picks` picks.
#[allow(clippy::indexing_slicing)] // i < scaled.len() by construction
pub fn grpc_stride_picks(scaled: &[u16], start: u32, picks: usize) -> Vec<usize> {
    let n = scaled.len() as u64;
    let mut seq = start;
    let mut out = Vec::with_capacity(picks);
    while out.len() < picks {
        let s = seq as u64;
        seq = seq.wrapping_add(1);
        let i = s % n;
        let generation = s / n;
        let w = scaled[i as usize] as u64;
        let offset = i * 32767;
        let m = (w * generation + offset) % 65535;
        if m >= 65535 - w {
            out.push(i as usize);
        }
    }
    out
}

/// The same number as [`max_prefix_deviation`], in O(len + n) instead of O(len · n): between
/// two picks of backend `i` its count is constant and `|count·W − k·w_i|` is linear in `k`, so
/// its largest value on that stretch is at one of the two ends (just after a pick of `i`, or
/// just before the next one or the end of the sequence). Exact integer arithmetic, one
/// division at the end.
#[allow(clippy::indexing_slicing)] // b < weights.len() is checked
pub fn max_prefix_deviation_fast(weights: &[u32], seq: &[usize]) -> f64 {
    let total: i128 = weights.iter().map(|&w| w as i128).sum();
    let mut counts = vec![0i128; weights.len()];
    let mut worst: i128 = 0;
    for (k, &b) in seq.iter().enumerate() {
        assert!(b < weights.len(), "pick {b} out of range");
        let k = k as i128 + 1;
        let w = weights[b] as i128;
        // just before this pick (prefix k − 1)
        worst = worst.max((counts[b] * total - (k - 1) * w).abs());
        counts[b] += 1;
        // just after it (prefix k)
        worst = worst.max((counts[b] * total - k * w).abs());
    }
    let len = seq.len() as i128;
    for (c, &w) in counts.iter().zip(weights) {
        worst = worst.max((c * total - len * w as i128).abs());
    }
    worst as f64 / total as f64
}

/// The weight sets of the README's WRR smoothness table: five fixed sets, `random` sets of
/// 64 weights in 1..=100 (seeds 1, 2, ..), and 64 × 1..=64.
pub fn wrr_weight_sets(random: u64) -> Vec<(String, Vec<u32>)> {
    let mut sets: Vec<(String, Vec<u32>)> = vec![
        ("[1000,1,1,1]".into(), vec![1000, 1, 1, 1]),
        ("[100,1]".into(), vec![100, 1]),
        ("[50,30,10,5,3,1,1]".into(), vec![50, 30, 10, 5, 3, 1, 1]),
        ("[1;63]+[64]".into(), {
            let mut v = vec![1; 63];
            v.push(64);
            v
        }),
        ("[5,1,1]".into(), vec![5, 1, 1]),
    ];
    for seed in 1..=random {
        let mut rng = SplitMix(seed);
        let v: Vec<u32> = (0..64).map(|_| 1 + (rng.next() % 100) as u32).collect();
        sets.push((format!("64 × random 1..=100 (seed {seed})"), v));
    }
    sets.push(("64 × 1..=64".into(), (1..=64).collect()));
    sets
}

/// A pool policy that ejects a backend on its first failure for 10 s, lets every backend be
/// ejected, and panics below 50 % healthy: the shortest way into ejection and panic.
pub fn eject_on_first_failure() -> tinylb::Config {
    tinylb::Config::new()
        .ejection(tinylb::Ejection {
            consecutive_failures: 1,
            base_ms: 10_000,
            max_ms: 10_000,
            max_ejection_percent: 100,
            interval_ms: 10_000,
        })
        .panic_threshold_percent(50)
}

/// Picks from two threads at once, in the order they came out: each thread calls `pick` and
/// right after it takes a global sequence number (`fetch_add` on a shared counter); the picks
/// are merged in sequence-number order. That order may differ a little from the order in
/// which the picker served them (a thread can be preempted between the two), so the
/// deviation measured on it includes some measurement noise; the locked-nginx control
/// measures that noise alone.
pub fn merged_two_threads(picks: usize, pick: &(dyn Fn() -> usize + Sync)) -> Vec<usize> {
    let seq = core::sync::atomic::AtomicUsize::new(0);
    let barrier = std::sync::Barrier::new(2);
    let parts: Vec<Vec<(usize, usize)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|t| {
                let (seq, barrier) = (&seq, &barrier);
                s.spawn(move || {
                    let mine = picks / 2 + (t * (picks % 2));
                    let mut out = Vec::with_capacity(mine);
                    barrier.wait();
                    for _ in 0..mine {
                        let i = pick();
                        out.push((seq.fetch_add(1, core::sync::atomic::Ordering::Relaxed), i));
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut merged = vec![usize::MAX; picks];
    for (s, i) in parts.into_iter().flatten() {
        merged[s] = i;
    }
    merged
}

/// The strategies that send every pick to one backend while it is eligible (`first`, the
/// lowest index; `pick_first`, the first of its seeded order), by design: tests that expect
/// every strategy to spread picks over the eligible backends check these two for sticking
/// to one instead.
pub fn is_sticky(name: &str) -> bool {
    matches!(name, "first" | "pick_first")
}

/// The reference model of the scanning strategies' tie-break (least connections, least
/// time): of the backends `tied` for the lowest cost, in slot order, the only one without a
/// draw, else `tied[r]` with `r` Lemire's unbiased draw in `0..k` (`k` ties): `r = ⌊b·k /
/// 2^32⌋` for 32 random bits `b`, rejected when `b·k mod 2^32 < 2^32 mod k`, taking the low,
/// then the high half of each 64-bit word of `rng`. (After four words rejected, a chance
/// below 2^-100, the library falls back to a 64-bit rejection the model leaves out.)
pub fn model_tie(tied: &[usize], rng: &mut SplitMix) -> Option<usize> {
    match tied {
        [] => return None,
        [only] => return Some(*only),
        _ => {}
    }
    let k = tied.len() as u64;
    let rejected_below = (1u64 << 32) % k;
    loop {
        let x = rng.next();
        for bits in [x & 0xffff_ffff, x >> 32] {
            let m = bits * k;
            if m & 0xffff_ffff >= rejected_below {
                return Some(tied[(m >> 32) as usize]);
            }
        }
    }
}
