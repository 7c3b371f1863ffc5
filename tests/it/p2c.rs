//! Power of two choices ([`PowerOfTwo`], `p2c`): the DESIGN.md row, black-box.
//!
//! The two candidates are not visible from outside, so each property is one the picks can
//! only have if the rule holds:
//!
//! * **the less loaded of two wins**: with exactly two eligible backends (any number of
//!   ineligible ones around them: down, draining, weight 0, at their cap) both are always
//!   the candidates, so every pick is the one with the lower `in_flight / weight`
//!   (cross-multiplied), whatever the weights (a heavy backend is drawn first almost every
//!   time, and still loses when it is more loaded);
//! * **the candidates are distinct**: with two or more eligible backends, a backend strictly
//!   more loaded than every other is never picked (were the two draws allowed to coincide,
//!   it would win every time it was drawn twice);
//! * **weighted**: on an idle pool every comparison ties and the first draw wins, so the
//!   shares are the weights (chi-square);
//! * **one eligible** backend is picked, **none** gives `None`, never an ineligible one;
//! * **balls into bins**: `n` leases taken one after the other and held, on `n` backends
//!   (`n` ∈ {16, 256, 4096}, seeded): P2C's largest load is below weighted random's
//!   (Mitzenmacher: `ln ln n / ln 2 + O(1)` against `ln n / ln ln n`), and within
//!   `ln ln n / ln 2 + 2` on every trial;
//! * with unequal weights, leases held pile up in proportion to the weights (the per-unit
//!   loads stay within a few units of each other), which random does not do.

#![allow(clippy::indexing_slicing)]

use crate::support::SplitMix;
use core::num::NonZeroU32;
use proptest::prelude::*;
use tinylb::{Health, Lease, Pool, PowerOfTwo, Random, Request, Select, SelectExt};

const N: usize = 24;

/// One way of not being eligible.
#[derive(Debug, Clone, Copy)]
enum Ineligible {
    Down,
    Draining,
    ZeroWeight,
    AtCap,
}

fn ineligible() -> impl Strategy<Value = Ineligible> {
    prop_oneof![
        Just(Ineligible::Down),
        Just(Ineligible::Draining),
        Just(Ineligible::ZeroWeight),
        Just(Ineligible::AtCap),
    ]
}

/// What a slot of a test pool holds.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Eligible: this weight, this many leases held.
    Up { weight: u32, load: u32 },
    /// Not eligible.
    Off(Ineligible),
}

/// Builds the pool; returns the leases that hold the loads and the caps.
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
            Slot::Off(kind) => {
                let id = pool.add(3).unwrap();
                match kind {
                    Ineligible::Down => pool.set_health(id, Health::Down).unwrap(),
                    Ineligible::Draining => pool.set_health(id, Health::Draining).unwrap(),
                    Ineligible::ZeroWeight => pool.set_weight(id, 0).unwrap(),
                    Ineligible::AtCap => {
                        pool.set_cap(id, NonZeroU32::new(2)).unwrap();
                        held.push(Lease::acquire(pool, id).unwrap());
                        held.push(Lease::acquire(pool, id).unwrap());
                    }
                }
            }
        }
    }
    held
}

/// `slots` with `extra` inserted at `at` (clamped).
fn insert_at(mut slots: Vec<Slot>, at: usize, extra: Slot) -> Vec<Slot> {
    let at = at.min(slots.len());
    slots.insert(at, extra);
    slots
}

fn pick(p2c: &PowerOfTwo, pool: &Pool<N>, rng: &mut SplitMix) -> Option<usize> {
    p2c.select(pool, &mut Request::new().with_rng(rng))
        .map(|id| id.index())
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Exactly two eligible backends among ineligible ones: every pick is the one with the
    /// lower `in_flight / weight` (either on an exact tie), with the request's RNG and with
    /// the strategy's own stream alike.
    #[test]
    fn of_two_eligible_the_less_loaded_wins(
        off in prop::collection::vec(ineligible(), 0..=12),
        (pos_a, pos_b) in (0usize..=12, 0usize..=13),
        (wa, wb) in (1u32..=1000, 1u32..=1000),
        (fa, fb) in (0u32..=8, 0u32..=8),
        seed in any::<u64>(),
    ) {
        let slots: Vec<Slot> = off.into_iter().map(Slot::Off).collect();
        let slots = insert_at(slots, pos_a, Slot::Up { weight: wa, load: fa });
        let a = pos_a.min(slots.len() - 1);
        let slots = insert_at(slots, pos_b, Slot::Up { weight: wb, load: fb });
        let b = pos_b.min(slots.len() - 1);
        let a = if b <= a { a + 1 } else { a };
        let pool: Pool<N> = Pool::new();
        let _held = build(&pool, &slots);
        // a's load against b's: fa/wa vs fb/wb
        let (la, lb) = (fa as u64 * wb as u64, fb as u64 * wa as u64);
        let mut rng = SplitMix(seed);
        let p2c = PowerOfTwo::with_seed(seed);
        for k in 0..40 {
            let got = if k % 2 == 0 {
                pick(&p2c, &pool, &mut rng)
            } else {
                p2c.select(&pool, &mut Request::new()).map(|id| id.index())
            };
            let got = got.expect("two backends are eligible");
            if la < lb {
                prop_assert_eq!(got, a, "a is less loaded: {}/{} < {}/{}", fa, wa, fb, wb);
            } else if lb < la {
                prop_assert_eq!(got, b, "b is less loaded: {}/{} < {}/{}", fb, wb, fa, wa);
            } else {
                prop_assert!(got == a || got == b);
            }
        }
    }

    /// With two or more eligible backends, one strictly more loaded (per unit of weight)
    /// than every other eligible backend is never picked, however heavy it is: the two
    /// candidates are always distinct. Every pick is eligible.
    #[test]
    fn the_strictly_most_loaded_is_never_picked(
        up in prop::collection::vec((1u32..=50, 0u32..=6), 2..=12),
        off in prop::collection::vec(ineligible(), 0..=8),
        seed in any::<u64>(),
    ) {
        // interleave: eligible first, then the ineligible ones, shuffled by the seed
        let mut slots: Vec<Slot> = up
            .iter()
            .map(|&(weight, load)| Slot::Up { weight, load })
            .chain(off.into_iter().map(Slot::Off))
            .collect();
        let mut r = SplitMix(seed ^ 0xabcd);
        for i in (1..slots.len()).rev() {
            let j = (r.next_u64() % (i as u64 + 1)) as usize;
            slots.swap(i, j);
        }
        let pool: Pool<N> = Pool::new();
        let _held = build(&pool, &slots);
        let loads: Vec<Option<(u64, u64)>> = slots
            .iter()
            .map(|s| match *s {
                Slot::Up { weight, load } => Some((load as u64, weight as u64)),
                Slot::Off(_) => None,
            })
            .collect();
        // the unique strict maximiser of load/weight, if there is one
        let mut worst: Option<usize> = None;
        let mut unique = false;
        for (i, l) in loads.iter().enumerate() {
            let Some((f, w)) = *l else { continue };
            match worst {
                None => { worst = Some(i); unique = true; }
                Some(j) => {
                    let (g, v) = loads[j].unwrap();
                    match (f * v).cmp(&(g * w)) {
                        core::cmp::Ordering::Greater => { worst = Some(i); unique = true; }
                        core::cmp::Ordering::Equal => unique = false,
                        core::cmp::Ordering::Less => {}
                    }
                }
            }
        }
        let mut rng = SplitMix(seed);
        let p2c = PowerOfTwo::new();
        for _ in 0..200 {
            let got = pick(&p2c, &pool, &mut rng).expect("eligible backends exist");
            prop_assert!(loads[got].is_some(), "picked ineligible slot {}", got);
            if unique {
                prop_assert_ne!(Some(got), worst, "picked the most loaded backend");
            }
        }
    }

    /// One eligible backend among ineligible ones is always picked; none eligible gives
    /// `None`.
    #[test]
    fn one_eligible_is_picked_none_gives_none(
        off in prop::collection::vec(ineligible(), 0..=12),
        pos in 0usize..=12,
        one in any::<bool>(),
        (w, f) in (1u32..=100, 0u32..=5),
        seed in any::<u64>(),
    ) {
        let slots: Vec<Slot> = off.into_iter().map(Slot::Off).collect();
        let (slots, want) = if one {
            let s = insert_at(slots, pos, Slot::Up { weight: w, load: f });
            (s, Some(pos.min(12)))
        } else {
            (slots, None)
        };
        let want = want.map(|p| p.min(slots.len() - 1));
        let pool: Pool<N> = Pool::new();
        let _held = build(&pool, &slots);
        let mut rng = SplitMix(seed);
        let p2c = PowerOfTwo::with_seed(seed);
        for _ in 0..20 {
            prop_assert_eq!(pick(&p2c, &pool, &mut rng), want);
        }
    }
}

/// Idle pool, unequal weights: every comparison ties and the first (weighted) draw wins, so
/// the shares are the weights, within a chi-square bound at significance 10^-4.
#[test]
fn idle_shares_follow_the_weights() {
    let weights = [1u32, 2, 3, 5, 8, 13, 21, 1];
    let pool: Pool<N> = Pool::new();
    for &w in &weights {
        pool.add(w).unwrap();
    }
    let p2c = PowerOfTwo::new();
    let mut rng = SplitMix(7);
    let picks = 54_000u64;
    let mut counts = vec![0u64; weights.len()];
    for _ in 0..picks {
        counts[pick(&p2c, &pool, &mut rng).unwrap()] += 1;
    }
    let total: u32 = weights.iter().sum();
    let chi2: f64 = counts
        .iter()
        .zip(&weights)
        .map(|(&c, &w)| {
            let e = picks as f64 * w as f64 / total as f64;
            (c as f64 - e).powi(2) / e
        })
        .sum();
    // chi-square critical value at 10^-4 for 7 degrees of freedom
    assert!(chi2 < 29.88, "chi2 = {chi2}, counts {counts:?}");
}

/// Largest load after `n` leases taken in a row (and held) on `n` backends of weight 1.
fn max_load<S: Select<4096>>(s: &S, n: usize, seed: u64) -> u32 {
    let pool: Box<Pool<4096>> = Box::new(Pool::new());
    for _ in 0..n {
        pool.add(1).unwrap();
    }
    let mut rng = SplitMix(seed);
    let held: Vec<_> = (0..n)
        .map(|_| {
            s.lease(&*pool, &mut Request::new().with_rng(&mut rng))
                .expect("uncapped backends")
        })
        .collect();
    assert_eq!(held.len(), n);
    (0..n).map(|i| pool.in_flight_at(i)).max().unwrap()
}

/// n balls into n bins: P2C's largest load (max/mean, the mean being 1) is below random's
/// on average over seeded trials for n = 16, 256 and 4096, never above it by more than
/// chance allows, and within `ln ln n / ln 2 + 2` on every trial.
#[test]
fn balls_into_bins_p2c_below_random() {
    for (n, trials) in [(16usize, 64u64), (256, 16), (4096, 4)] {
        let (mut sum_p2c, mut sum_rand) = (0u32, 0u32);
        let bound = ((n as f64).ln().ln() / 2f64.ln() + 2.0).floor() as u32;
        for t in 0..trials {
            let seed = 1000 * n as u64 + t;
            let p = max_load(&PowerOfTwo::new(), n, seed);
            let r = max_load(&Random::new(), n, seed);
            assert!(p <= bound, "n={n} trial {t}: p2c max {p} above {bound}");
            sum_p2c += p;
            sum_rand += r;
        }
        let (mp, mr) = (
            sum_p2c as f64 / trials as f64,
            sum_rand as f64 / trials as f64,
        );
        println!("n={n}: mean max load p2c {mp:.2}, random {mr:.2} ({trials} trials)");
        assert!(mp < mr, "n={n}: p2c {mp} not below random {mr}");
        // the gap grows with n (ln ln n against ln n / ln ln n)
        if n >= 256 {
            assert!(mr - mp >= 1.0, "n={n}: gap {} below one lease", mr - mp);
        }
    }
}

/// Unequal weights (1, 2, 3, 4 repeating over 16 backends), 40 leases per unit of weight
/// taken and held: under P2C every backend's `in_flight / weight` stays within 2 of the
/// mean 40, and the spread is smaller than weighted random's.
#[test]
fn held_leases_follow_the_weights() {
    fn spread<S: Select<N>>(s: &S, seed: u64) -> (f64, Vec<u32>) {
        let pool: Pool<N> = Pool::new();
        let weights: Vec<u32> = (0..16).map(|i| 1 + i % 4).collect();
        for &w in &weights {
            pool.add(w).unwrap();
        }
        let total: u32 = weights.iter().sum();
        let mut rng = SplitMix(seed);
        let _held: Vec<_> = (0..40 * total)
            .map(|_| {
                s.lease(&pool, &mut Request::new().with_rng(&mut rng))
                    .unwrap()
            })
            .collect();
        let loads: Vec<u32> = (0..16).map(|i| pool.in_flight_at(i)).collect();
        let worst = loads
            .iter()
            .zip(&weights)
            .map(|(&f, &w)| (f as f64 / w as f64 - 40.0).abs())
            .fold(0.0, f64::max);
        (worst, loads)
    }
    for seed in 0..8 {
        let (p, loads) = spread(&PowerOfTwo::new(), seed);
        let (r, _) = spread(&Random::new(), seed);
        assert!(
            p <= 2.0,
            "seed {seed}: p2c per-unit load off by {p}: {loads:?}"
        );
        assert!(p < r, "seed {seed}: p2c spread {p} not below random's {r}");
    }
}
