//! Smooth weighted round robin's properties (DESIGN.md, strategy table): with static weights
//! one thread's picks are exactly nginx's smooth WRR sequence (so its smoothness is nginx's);
//! a seeded start is a rotation of the same periodic sequence; every period of `W = Σw` picks
//! gives backend `i` exactly `w_i`; weights change live through `&Pool` and shares follow
//! them per period at once; seeds spread the first pick; a capped backend forfeits its turn
//! without a later burst; weights up to `MAX_WEIGHT` work; never an ineligible backend.
//!
//! `wrr_smoothness_table` measures the max prefix deviation of nginx, ours and a model of
//! gRPC's static stride scheduler (run it with `--nocapture` to see the table).

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

use crate::support::{
    Spec, SplitMix, build_pool, grpc_stride_picks, grpc_stride_weights, max_prefix_deviation,
    max_prefix_deviation_fast, nginx_swrr, spec_strategy,
};
use core::num::NonZeroU32;
use proptest::prelude::*;
use tinylb::rand_core::Rng;
use tinylb::{Health, Lease, MAX_WEIGHT, Pool, Request, Select, WeightedRoundRobin};

const N: usize = 64;

/// Weight vectors: small, many backends, and skewed (one heavy backend among light ones).
fn weights_strategy() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        prop::collection::vec(1..=10u32, 1..=8),
        prop::collection::vec(1..=100u32, 1..=N),
        (
            1..=2000u32,
            prop::collection::vec(1..=5u32, 1..=8),
            any::<prop::sample::Index>()
        )
            .prop_map(|(big, mut rest, at)| {
                rest.insert(at.index(rest.len() + 1), big);
                rest
            }),
    ]
}

/// Weight vectors with down backends and weight-0 backends mixed in.
fn specs_strategy() -> impl Strategy<Value = Vec<Spec>> {
    weights_strategy()
        .prop_flat_map(|ws| {
            let len = ws.len();
            (Just(ws), prop::collection::vec(0..8u8, len))
        })
        .prop_map(|(ws, kinds)| {
            ws.into_iter()
                .zip(kinds)
                .map(|(w, k)| match k {
                    0 => Spec::Down(w),
                    1 => Spec::Zero,
                    _ => Spec::Up(w),
                })
                .collect()
        })
}

fn pool_of(weights: &[u32]) -> Pool<N> {
    let pool = Pool::new();
    for &w in weights {
        pool.add(w).unwrap();
    }
    pool
}

fn run(wrr: &WeightedRoundRobin<N>, pool: &Pool<N>, picks: usize) -> Vec<usize> {
    let mut req = Request::new();
    (0..picks)
        .map(|_| {
            wrr.select(pool, &mut req)
                .expect("eligible backend")
                .index()
        })
        .collect()
}

/// Per-backend counts of `seq[from..from + len]`.
fn counts(seq: &[usize], n: usize) -> Vec<u32> {
    let mut c = vec![0u32; n];
    for &i in seq {
        c[i] += 1;
    }
    c
}

proptest! {
    #![proptest_config(crate::support::config(128))]

    /// One thread, static weights: `WeightedRoundRobin::new()` picks exactly what nginx's smooth
    /// WRR picks (down and weight-0 backends count as weight 0), over two full periods, so its
    /// max prefix deviation is nginx's. Every aligned period gives each backend exactly `w_i`.
    #[test]
    fn new_reproduces_nginx(specs in specs_strategy()) {
        let pool: Pool<N> = Pool::new();
        let _held = build_pool(&pool, &specs);
        let weights: Vec<u32> = specs.iter().map(|s| s.eligible_weight()).collect();
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let wrr = WeightedRoundRobin::<N>::new();
        if total == 0 {
            prop_assert_eq!(wrr.select(&pool, &mut Request::new()), None);
            return Ok(());
        }
        let got = run(&wrr, &pool, 2 * total);
        let expect = nginx_swrr(&weights, 2 * total);
        prop_assert_eq!(&got, &expect);
        prop_assert_eq!(
            max_prefix_deviation(&weights, &got),
            max_prefix_deviation(&weights, &expect)
        );
        for period in got.chunks(total) {
            prop_assert_eq!(counts(period, weights.len()), weights.clone());
        }
    }

    /// `with_seed(s)` picks a rotation of nginx's periodic sequence: its picks are nginx's
    /// from some step `p` on. Hence every window of `W` consecutive picks, aligned or not,
    /// gives each backend exactly `w_i`.
    #[test]
    fn seeded_is_a_rotation(weights in weights_strategy(), seed in any::<u64>()) {
        let pool = pool_of(&weights);
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let len = (2 * total).min(6000);
        let got = run(&WeightedRoundRobin::<N>::with_seed(seed), &pool, len);
        let reference = nginx_swrr(&weights, len + total);
        let p = (0..total).find(|&p| reference[p..p + len] == got[..]);
        prop_assert!(p.is_some(), "not a rotation of nginx's sequence: {:?}", &got[..got.len().min(40)]);
        let mut window = counts(&got[..total.min(len)], weights.len());
        if len >= total {
            prop_assert_eq!(&window, &weights);
            for k in total..len {
                window[got[k]] += 1;
                window[got[k - total]] -= 1;
                prop_assert_eq!(&window, &weights, "window ending at {}", k);
            }
        }
    }

    /// Weights changed live, through `&Pool` from another thread while the strategy is only
    /// ever borrowed shared: from the next pick on, every aligned period of the new total
    /// gives each backend exactly its new weight (and the picks are nginx's for the new
    /// weights).
    #[test]
    #[cfg_attr(target_family = "wasm", ignore = "no threads")]
    fn live_weight_change(
        before in prop::collection::vec(1..=10u32, 2..=8),
        after_seed in any::<u64>(),
        picks_before in 0usize..60,
    ) {
        let pool = pool_of(&before);
        let wrr = WeightedRoundRobin::<N>::new();
        let shared: &WeightedRoundRobin<N> = &wrr;
        run(shared, &pool, picks_before);
        let mut rng = SplitMix(after_seed);
        let mut after: Vec<u32> = before.iter().map(|_| rng.next_u32() % 12).collect();
        if after.iter().all(|&w| w == 0) {
            after[0] = 1;
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                for (i, &w) in after.iter().enumerate() {
                    pool.set_weight(pool.id_at(i).unwrap(), w).unwrap();
                }
            });
        });
        let total: usize = after.iter().map(|&w| w as usize).sum();
        let got = run(shared, &pool, 3 * total);
        for period in got.chunks(total) {
            prop_assert_eq!(counts(period, after.len()), after.clone());
        }
        prop_assert_eq!(got, nginx_swrr(&after, 3 * total));
    }

    /// Never an ineligible backend, `Some` whenever something is eligible and `None` when
    /// nothing is, with every kind of ineligible backend (down, draining, weight 0, at its
    /// in-flight cap).
    #[test]
    fn never_ineligible(specs in prop::collection::vec(spec_strategy(20), 1..=16), seed in any::<u64>()) {
        let pool: Pool<N> = Pool::new();
        let _held = build_pool(&pool, &specs);
        let wrr = WeightedRoundRobin::<N>::with_seed(seed);
        let any_eligible = specs.iter().any(|s| s.eligible());
        let mut req = Request::new();
        for _ in 0..200 {
            match wrr.select(&pool, &mut req) {
                Some(id) => prop_assert!(specs[id.index()].eligible(), "picked {:?}", specs[id.index()]),
                None => prop_assert!(!any_eligible, "None with an eligible backend"),
            }
        }
        if !any_eligible {
            prop_assert_eq!(wrr.select(&pool, &mut req), None);
        }
    }
}

proptest! {
    #![proptest_config(crate::support::config(64))]

    /// The fast deviation used by the smoothness table equals the plain definition.
    #[test]
    fn fast_deviation_is_the_definition(
        weights in prop::collection::vec(0..=20u32, 1..=10),
        raw in prop::collection::vec(any::<prop::sample::Index>(), 0..300),
    ) {
        let live: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
        prop_assume!(!live.is_empty());
        let seq: Vec<usize> = raw.iter().map(|ix| live[ix.index(live.len())]).collect();
        let fast = max_prefix_deviation_fast(&weights, &seq);
        let plain = max_prefix_deviation(&weights, &seq);
        prop_assert!((fast - plain).abs() < 1e-9, "fast {} plain {}", fast, plain);
    }
}

/// Changing health (not only weight) also rebuilds the schedule at once: with one of three
/// backends down, every period of the remaining total splits by the remaining weights, and
/// back up, by all three.
#[test]
fn health_change_rebuilds() {
    let pool = pool_of(&[4, 2, 1]);
    let wrr = WeightedRoundRobin::<N>::new();
    run(&wrr, &pool, 5);
    let b = pool.id_at(1).unwrap();
    pool.set_health(b, Health::Down).unwrap();
    let got = run(&wrr, &pool, 15);
    for period in got.chunks(5) {
        assert_eq!(counts(period, 3), [4, 0, 1]);
    }
    pool.set_health(b, Health::Up).unwrap();
    let got = run(&wrr, &pool, 21);
    for period in got.chunks(7) {
        assert_eq!(counts(period, 3), [4, 2, 1]);
    }
}

/// Envoy's first-pick herd: instances built with different seeds do not all start on the
/// heaviest backend of `[5, 1, 1]`; both light backends are somebody's first pick.
#[test]
fn seeds_spread_the_first_pick() {
    let pool = pool_of(&[5, 1, 1]);
    let mut first = [0usize; 3];
    for seed in 1..=64u64 {
        let wrr = WeightedRoundRobin::<N>::with_seed(seed);
        first[wrr.select(&pool, &mut Request::new()).unwrap().index()] += 1;
    }
    assert!(first[1] > 0 && first[2] > 0, "first picks {first:?}");
    assert!(first[0] < 64 * 7 / 8, "first picks {first:?}");
}

/// A backend at its in-flight cap forfeits its turn: the pick goes to the backend the
/// schedule names next (nginx's sequence with the capped backend's turns left out), and once
/// its lease is dropped it takes its normal turns again, with no burst of saved-up credit:
/// the picks are exactly nginx's sequence continued at the ticket reached.
#[test]
fn capped_backend_forfeits_without_burst() {
    for (weights, capped) in [
        (&[3u32, 2, 1, 1][..], 0usize),
        (&[3, 2, 1, 1][..], 1),
        (&[2, 2, 2][..], 2),
        (&[4, 3, 2, 1][..], 0),
        (&[1, 1, 1, 1, 1][..], 3),
    ] {
        let pool = pool_of(weights);
        let id = pool.id_at(capped).unwrap();
        pool.set_cap(id, NonZeroU32::new(1)).unwrap();
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let reference = nginx_swrr(weights, 20 * total);
        let wrr = WeightedRoundRobin::<N>::new();
        let mut req = Request::new();
        let mut at = 0;
        // free for a while
        for _ in 0..total + 3 {
            assert_eq!(wrr.select(&pool, &mut req).unwrap().index(), reference[at]);
            at += 1;
        }
        // capped for several periods: never picked, its turns skipped
        let lease = Lease::acquire(&pool, id).unwrap();
        let mut capped_picks = Vec::new();
        for _ in 0..3 * total {
            while reference[at] == capped {
                at += 1;
            }
            let got = wrr.select(&pool, &mut req).unwrap().index();
            assert_eq!(got, reference[at], "{weights:?} capped {capped}");
            capped_picks.push(got);
            at += 1;
        }
        assert!(!capped_picks.contains(&capped));
        drop(lease);
        // free again: the schedule resumes where the tickets are, no burst
        let after = run(&wrr, &pool, 2 * total);
        assert_eq!(
            after[..],
            reference[at..at + 2 * total],
            "{weights:?} capped {capped}"
        );
        for window in after.windows(total) {
            assert_eq!(
                counts(window, weights.len())[capped],
                weights[capped],
                "{weights:?}: burst after the cap was lifted: {after:?}"
            );
        }
    }
}

/// No table proportional to `Σw`: the state is a fixed number of counters per slot, and
/// weights up to `MAX_WEIGHT` schedule exactly. A full period of `[MAX_WEIGHT, 1]`
/// (2^21 picks) is nginx's, the light backend gets exactly one pick, in the middle.
#[test]
fn weights_up_to_max_weight() {
    let weights = [MAX_WEIGHT, 1];
    let pool = pool_of(&weights);
    let wrr = WeightedRoundRobin::<N>::new();
    let total = MAX_WEIGHT as usize + 1;
    let got = run(&wrr, &pool, total);
    assert_eq!(got, nginx_swrr(&weights, total));
    assert_eq!(counts(&got, 2), weights);
    let light = got.iter().position(|&i| i == 1).unwrap();
    assert!(light.abs_diff(total / 2) <= 1, "light pick at {light}");

    // three large weights: a prefix of nginx's sequence and exact counts over the prefix
    // that a smooth schedule gives
    let weights = [MAX_WEIGHT, MAX_WEIGHT - 1, 12_345];
    let pool = pool_of(&weights);
    let got = run(&WeightedRoundRobin::<N>::new(), &pool, 100_000);
    assert_eq!(got, nginx_swrr(&weights, 100_000));
    assert!(max_prefix_deviation(&weights, &got) < 1.0);
}

// ----- the smoothness measurement -----

/// Max prefix deviation of gRPC's stride model, worst over a few starting sequence numbers
/// (gRPC starts its counter at a random value).
fn grpc_dev(weights: &[u32], clamp: bool, picks: usize, starts: &[u32]) -> f64 {
    let scaled = grpc_stride_weights(weights, clamp);
    starts
        .iter()
        .map(|&s| max_prefix_deviation_fast(weights, &grpc_stride_picks(&scaled, s, picks)))
        .fold(0.0, f64::max)
}

/// Worst deviation over `runs` two-thread runs of ours (a fresh pool and strategy each run).
fn ours_two_threads(weights: &[u32], picks: usize, runs: usize) -> f64 {
    (0..runs)
        .map(|_| {
            let pool = pool_of(weights);
            let wrr = WeightedRoundRobin::<N>::new();
            let merged = crate::support::merged_two_threads(picks, &|| {
                wrr.select(&pool, &mut Request::new())
                    .expect("eligible")
                    .index()
            });
            assert_eq!(
                counts(&merged, weights.len()).iter().sum::<u32>() as usize,
                picks
            );
            max_prefix_deviation_fast(weights, &merged)
        })
        .fold(0.0, f64::max)
}

/// The control: nginx's sequence served behind a mutex to two threads and recorded the same
/// way. Its picks are served in exactly nginx's order, so whatever it adds to nginx's
/// deviation is measurement noise.
fn locked_nginx_two_threads(weights: &[u32], picks: usize, runs: usize) -> f64 {
    let reference = nginx_swrr(weights, picks);
    (0..runs)
        .map(|_| {
            let next = std::sync::Mutex::new(0usize);
            let merged = crate::support::merged_two_threads(picks, &|| {
                let mut k = next.lock().unwrap();
                let i = reference[*k];
                *k += 1;
                i
            });
            max_prefix_deviation_fast(weights, &merged)
        })
        .fold(0.0, f64::max)
}

/// The gRPC model reproduces the expectations of gRPC's own scheduler tests
/// (`static_stride_scheduler_test.cc`): exact counts for `[1, 2, 3]` over 6 picks from
/// sequence 0; the largest weight taken in every generation; the heavy weight of
/// `[81, 1 × 19]` clamped to 10 × the mean (50).
#[test]
fn grpc_model_matches_grpc_tests() {
    let w = grpc_stride_weights(&[1, 2, 3], true);
    assert_eq!(counts(&grpc_stride_picks(&w, 0, 6), 3), [1, 2, 3]);
    let picks = grpc_stride_picks(&w, 0, 2 * 65535);
    assert_eq!(counts(&picks, 3)[2], 65535);
    let mut heavy = vec![1u32; 20];
    heavy[0] = 81;
    let w = grpc_stride_weights(&heavy, true);
    let mut expect = vec![1u32; 20];
    expect[0] = 50;
    assert_eq!(counts(&grpc_stride_picks(&w, 0, 69), 20), expect);
}

/// Max prefix deviation `max_k max_i |count_i(k) − k·w_i/W|` over many periods for nginx's
/// smooth WRR, ours (one thread, `new()`), ours seeded (worst of seeds 1..=8, measured from
/// the seeded start), ours from two threads beside the locked-nginx control (worst of 1 run
/// in a debug build, 20 in release), and the gRPC stride model (as shipped, with its 10× mean cap and 1 %
/// floor, and the stride loop alone on 16-bit-rounded weights), each worst of 8 starting
/// sequence numbers. Asserts what holds on one thread: ours equals nginx, a seeded start is
/// within twice nginx's (a window of a sequence whose prefixes are within `d` is within
/// `2d`), and ours is no worse than either gRPC model on every set. The two-thread columns
/// depend on scheduling and are reported, not asserted.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn wrr_smoothness_table() {
    let sets = crate::support::wrr_weight_sets(4);

    // two-thread runs per set: a few in a debug build (under 10 s), more in release
    const RUNS: usize = if cfg!(debug_assertions) { 1 } else { 20 };
    let mut starts = vec![0u32];
    let mut rng = SplitMix(0x5eed);
    starts.extend((0..7).map(|_| rng.next_u32()));

    println!();
    println!(
        "| weights | W | picks | nginx | ours, 1 thread | ours seeded, worst of 8 seeds | ours, 2 threads, worst of {RUNS} runs | control: nginx locked, 2 threads, worst of {RUNS} runs | gRPC as shipped, worst of 8 starts | gRPC stride without clamping, worst of 8 starts |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, weights) in &sets {
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let picks = total * 2.max(10_000usize.div_ceil(total));
        let nginx = max_prefix_deviation_fast(weights, &nginx_swrr(weights, picks));
        let pool = pool_of(weights);
        let ours_seq = run(&WeightedRoundRobin::<N>::new(), &pool, picks);
        let ours = max_prefix_deviation_fast(weights, &ours_seq);
        let seeded = (1..=8u64)
            .map(|s| {
                let seq = run(&WeightedRoundRobin::<N>::with_seed(s), &pool, picks);
                max_prefix_deviation_fast(weights, &seq)
            })
            .fold(0.0, f64::max);
        let two = ours_two_threads(weights, picks, RUNS);
        let control = locked_nginx_two_threads(weights, picks, RUNS);
        let grpc = grpc_dev(weights, true, picks, &starts);
        let stride = grpc_dev(weights, false, picks, &starts);
        println!(
            "| {name} | {total} | {picks} | {nginx:.3} | {ours:.3} | {seeded:.3} | {two:.3} | {control:.3} | {grpc:.3} | {stride:.3} |"
        );
        assert_eq!(ours_seq, nginx_swrr(weights, picks), "{name}");
        assert_eq!(ours, nginx, "{name}");
        assert!(seeded <= 2.0 * nginx + 1e-9, "{name}: seeded {seeded}");
        assert!(ours <= grpc + 1e-9, "{name}: ours {ours} > gRPC {grpc}");
        assert!(
            ours <= stride + 1e-9,
            "{name}: ours {ours} > stride {stride}"
        );
    }
}
