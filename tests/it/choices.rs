//! `k` choices ([`PowerOfTwo::with_choices`], [`PeakEwma::with_choices`]; Envoy's
//! `choice_count`, HAProxy's `random(<draws>)`), against a reference model.
//!
//! * **the model**: the sampler the docs of [`tinylb::Random`] describe, written again here
//!   (one 64-bit draw per try: a slot by Lemire's method from the low 32 bits, an acceptance
//!   test `u < weight` from the high 32; after 8 rejected tries the exact scan), drawing `k`
//!   distinct slots from the same caller RNG stream, then the least loaded (`in_flight /
//!   weight`, cross-multiplied; a tie stays with the earlier draw). Every pick of
//!   `PowerOfTwo::with_choices(k, _)` is the model's, on pools with every kind of
//!   ineligible backend mixed in;
//! * **`k = 2` is today's P2C** (and peak-EWMA), pick for pick, with the strategy's stream
//!   and with a caller RNG: the golden vectors `P2C*` and `PEAK_EWMA` pin those picks;
//! * **`k = 1` is weighted random**: the same picks as [`Random`] for the same seed, and
//!   shares within a chi-square bound of the weights whatever the loads;
//! * **peak-EWMA with `k` at least the eligible count** compares every eligible backend:
//!   the pick is the lowest `latency × (in_flight + 1) / weight`;
//! * a choice count of 0 or above `MAX_CHOICES` is refused with `InvalidChoiceCount`.

#![allow(clippy::indexing_slicing)]

use crate::support::{SplitMix, chi_square, chi_square_critical};
use core::time::Duration;
use proptest::prelude::*;
use tinylb::rand_core::Rng;
use tinylb::strategy::{DEFAULT_CHOICES, MAX_CHOICES};
use tinylb::{
    ConfigError, Health, Lease, Outcome, PeakEwma, Pool, PowerOfTwo, Random, Request, Select,
};

const N: usize = 24;

/// A slot of a test pool: eligible with a weight and a load (leases held), or out.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Up { weight: u32, load: u32 },
    Down(u32),
    Zero(u32),
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        5 => ((1u32..=20), (0u32..=4)).prop_map(|(weight, load)| Slot::Up { weight, load }),
        1 => (1u32..=20).prop_map(Slot::Down),
        1 => (1u32..=20).prop_map(Slot::Zero),
    ]
}

fn build<'p>(pool: &'p Pool<N>, slots: &[Slot]) -> Vec<Lease<&'p Pool<N>, N>> {
    let mut held = Vec::new();
    for &s in slots {
        match s {
            Slot::Up { weight, load } => {
                let id = pool.add(weight).unwrap();
                for _ in 0..load {
                    held.push(Lease::acquire(pool, id).unwrap());
                }
            }
            Slot::Down(w) => {
                let id = pool.add(w).unwrap();
                pool.set_health(id, Health::Down).unwrap();
            }
            Slot::Zero(w) => {
                let id = pool.add(w).unwrap();
                pool.set_weight(id, 0).unwrap();
            }
        }
    }
    held
}

// ----- the reference model of the sampler -----

/// Lemire's unbiased `0..n` from 32 bits, `None` in the rejected sliver.
fn below_from(bits: u32, n: u32) -> Option<u32> {
    let m = bits as u64 * n as u64;
    if (m as u32) < n && (m as u32) < n.wrapping_neg() % n {
        return None;
    }
    Some((m >> 32) as u32)
}

/// Unbiased `0..n` for 64-bit `n` by rejection (no draw for `n <= 1`).
fn below_u64(rng: &mut SplitMix, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX - n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= zone {
            return x % n;
        }
    }
}

/// One weighted draw among the eligible slots not in `drawn`.
fn model_draw(rng: &mut SplitMix, slots: &[Slot], w_max: u32, drawn: &[usize]) -> Option<usize> {
    let weight = |i: usize| match slots[i] {
        Slot::Up { weight, .. } if !drawn.contains(&i) => Some(weight),
        _ => None,
    };
    let n = slots.len() as u32;
    for _ in 0..8 {
        let r = rng.next_u64();
        let Some(i) = below_from(r as u32, n) else {
            continue;
        };
        let Some(w) = weight(i as usize) else {
            continue;
        };
        if w < w_max && !matches!(below_from((r >> 32) as u32, w_max), Some(u) if u < w) {
            continue;
        }
        return Some(i as usize);
    }
    let total: u64 = (0..slots.len()).filter_map(weight).map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let mut point = below_u64(rng, total);
    (0..slots.len()).find(|&i| match weight(i) {
        Some(w) if point < w as u64 => true,
        Some(w) => {
            point -= w as u64;
            false
        }
        None => false,
    })
}

/// The model's pick: `k` distinct draws, the least loaded (ties to the earlier draw).
fn model_pick(rng: &mut SplitMix, slots: &[Slot], w_max: u32, k: u8) -> Option<usize> {
    let mut drawn = Vec::new();
    for _ in 0..k {
        match model_draw(rng, slots, w_max, &drawn) {
            Some(i) => drawn.push(i),
            None => break,
        }
    }
    let load = |i: usize| match slots[i] {
        Slot::Up { weight, load } => (load as u64, weight as u64),
        _ => unreachable!("only eligible slots are drawn"),
    };
    drawn.into_iter().reduce(|best, c| {
        let ((fb, wb), (fc, wc)) = (load(best), load(c));
        if fc * wb < fb * wc { c } else { best }
    })
}

fn w_max(slots: &[Slot]) -> u32 {
    let w = |s: &Slot| match *s {
        Slot::Up { weight, .. } => weight,
        Slot::Down(w) | Slot::Zero(w) => w,
    };
    slots.iter().map(w).max().unwrap_or(0)
}

fn picks<S: Select<N>>(s: &S, pool: &Pool<N>, rng: Option<u64>, count: usize) -> Vec<usize> {
    let mut rng = rng.map(SplitMix);
    (0..count)
        .map(|_| {
            let mut req = match rng.as_mut() {
                Some(r) => Request::new().with_rng(r),
                None => Request::new(),
            };
            s.select(pool, &mut req).map_or(usize::MAX, |id| id.index())
        })
        .collect()
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Every pick of `with_choices(k, _)` with a caller RNG is the model's: the best of the
    /// same `k` distinct draws from the same stream.
    #[test]
    fn the_best_of_k_distinct_draws(
        slots in prop::collection::vec(slot(), 1..=N),
        k in 1u8..=MAX_CHOICES,
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let _held = build(&pool, &slots);
        let p2c = PowerOfTwo::with_choices(k, 9).unwrap();
        let mut model_rng = SplitMix(seed);
        let bound = w_max(&slots);
        let got = picks(&p2c, &pool, Some(seed), 24);
        for (j, &g) in got.iter().enumerate() {
            let want = model_pick(&mut model_rng, &slots, bound, k).unwrap_or(usize::MAX);
            prop_assert_eq!(g, want, "pick {} of k = {}", j, k);
        }
    }

    /// `with_choices(2, seed)` is `with_seed(seed)`, pick for pick, for P2C and peak-EWMA,
    /// with the strategy's stream and with a caller RNG; `with_choices(1, seed)` is
    /// `Random::with_seed(seed)`.
    #[test]
    fn two_is_today_and_one_is_random(
        slots in prop::collection::vec(slot(), 1..=N),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let _held = build(&pool, &slots);
        for rng in [None, Some(seed ^ 1)] {
            prop_assert_eq!(
                picks(&PowerOfTwo::with_choices(DEFAULT_CHOICES, seed).unwrap(), &pool, rng, 24),
                picks(&PowerOfTwo::with_seed(seed), &pool, rng, 24)
            );
            prop_assert_eq!(
                picks(&PeakEwma::with_choices(2, seed).unwrap(), &pool, rng, 24),
                picks(&PeakEwma::with_seed(seed), &pool, rng, 24)
            );
            prop_assert_eq!(
                picks(&PowerOfTwo::with_choices(1, seed).unwrap(), &pool, rng, 24),
                picks(&Random::with_seed(seed), &pool, rng, 24)
            );
            prop_assert_eq!(
                picks(&PeakEwma::with_choices(1, seed).unwrap(), &pool, rng, 24),
                picks(&Random::with_seed(seed), &pool, rng, 24)
            );
        }
    }

    /// Peak-EWMA with `k` at least the number of eligible backends draws them all: the pick
    /// is the lowest `latency × (in_flight + 1) / weight` (distinct latencies, so no ties).
    #[test]
    fn peak_ewma_with_k_at_least_the_eligible_compares_all(
        backends in prop::collection::vec(((1u32..=10), (0u32..=3)), 1..=MAX_CHOICES as usize),
        seed in any::<u64>(),
    ) {
        let pool: Pool<N> = Pool::new();
        let mut held = Vec::new();
        let mut cost = Vec::new();
        for (i, &(weight, load)) in backends.iter().enumerate() {
            let id = pool.add(weight).unwrap();
            // distinct latencies; recorded at t = 0, read at t = 0 (no decay)
            let sample = 1000 + 37 * i as u64 + ((seed >> (i * 3)) & 0x3ff) * 64;
            Lease::acquire(&pool, id)
                .unwrap()
                .finish(Outcome::success_after(Duration::from_micros(sample)).at_us(0));
            for _ in 0..load {
                held.push(Lease::acquire(&pool, id).unwrap());
            }
            // the estimate as the pool keeps it
            let lat = pool.info(id).unwrap().latency_us.unwrap();
            // latency × (load + 1) / weight, compared as fractions
            cost.push(((lat as u128) * (load as u128 + 1), weight as u128, i));
        }
        let best = cost
            .iter()
            .min_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)))
            .unwrap();
        let ties = cost.iter().filter(|c| c.0 * best.1 == best.0 * c.1).count();
        prop_assume!(ties == 1);
        let lb = PeakEwma::with_choices(MAX_CHOICES, seed).unwrap();
        for _ in 0..16 {
            let got = lb.select(&pool, &mut Request::new().with_now_us(0)).unwrap();
            prop_assert_eq!(got.index(), best.2);
        }
    }
}

/// `k = 1` over a loaded pool: the shares are the weights (the loads play no part), within
/// a chi-square bound, as for [`Random`].
#[test]
fn one_choice_is_weighted_random_whatever_the_loads() {
    let weights = [1u32, 2, 3, 4, 6];
    let pool: Pool<N> = Pool::new();
    let mut held = Vec::new();
    for (i, &w) in weights.iter().enumerate() {
        let id = pool.add(w).unwrap();
        // the heaviest is the most loaded: a load-aware rule would avoid it
        for _ in 0..(i * 3) {
            held.push(Lease::acquire(&pool, id).unwrap());
        }
    }
    let lb = PowerOfTwo::with_choices(1, 5).unwrap();
    let mut counts = [0u64; 5];
    let mut rng = SplitMix(11);
    for _ in 0..64_000 {
        let id = lb.select(&pool, &mut Request::new().with_rng(&mut rng));
        counts[id.unwrap().index()] += 1;
    }
    let total: u32 = weights.iter().sum();
    let probs: Vec<f64> = weights.iter().map(|&w| w as f64 / total as f64).collect();
    let x = chi_square(&counts, &probs);
    assert!(x < chi_square_critical(4), "chi-square {x}: {counts:?}");
}

/// More choices, less load on the most loaded: `n` leases held one after the other on `n`
/// equal backends, the largest load with 4 choices is at most that with 2 (the order of
/// Mitzenmacher's `ln ln n / ln d`), and with 1 (random) it is the largest.
#[test]
fn more_choices_flatten_the_largest_load() {
    const B: usize = 24;
    let max_load = |k: u8| -> u32 {
        let mut worst = 0;
        for trial in 0..8u64 {
            let pool: Pool<B> = Pool::new();
            for _ in 0..B {
                pool.add(1).unwrap();
            }
            let lb = PowerOfTwo::with_choices(k, trial).unwrap();
            let mut held = Vec::new();
            let mut load = [0u32; B];
            for _ in 0..B * 4 {
                let id = lb.select(&pool, &mut Request::new()).unwrap();
                load[id.index()] += 1;
                held.push(Lease::acquire(&pool, id).unwrap());
            }
            worst = worst.max(*load.iter().max().unwrap());
        }
        worst
    };
    let (one, two, four) = (max_load(1), max_load(2), max_load(4));
    assert!(four <= two && two < one, "1: {one}, 2: {two}, 4: {four}");
}

/// Choice counts outside `1..=MAX_CHOICES` are refused; those inside are kept.
#[test]
fn choice_counts_are_checked() {
    for k in [0, MAX_CHOICES + 1, u8::MAX] {
        assert_eq!(
            PowerOfTwo::with_choices(k, 0).err(),
            Some(ConfigError::InvalidChoiceCount)
        );
        assert_eq!(
            PeakEwma::with_choices(k, 0).err(),
            Some(ConfigError::InvalidChoiceCount)
        );
    }
    for k in 1..=MAX_CHOICES {
        assert_eq!(PowerOfTwo::with_choices(k, 0).unwrap().choices(), k);
        assert_eq!(PeakEwma::with_choices(k, 0).unwrap().choices(), k);
    }
    assert_eq!(PowerOfTwo::new().choices(), DEFAULT_CHOICES);
    assert_eq!(PeakEwma::with_seed(3).choices(), 2);
    let msg = ConfigError::InvalidChoiceCount.to_string();
    assert!(msg.contains(&MAX_CHOICES.to_string()), "{msg}");
}
