//! The failure penalty ([`Config::failure_penalty_percent`]): a backend that fails fast must
//! not look fast and idle.
//!
//! * **The sinkhole, closed**: a small deterministic version of the simulation's `failing`
//!   scenario (10 backends, one failing every other request in 1 ms, no ejection, a closed
//!   loop of clients): with the penalty on, no strategy sends the failing backend more than
//!   11 % of the picks; with it off, the load-aware ones (least connections, least time,
//!   bounded load, P2C, P2C peak-EWMA) send it more than 12 % (so the check can fail).
//! * **No failure, no change**: over random pools and outcome histories with no failure,
//!   every strategy picks exactly the same with the penalty on and off.
//! * **The formula**: after random outcome histories on two backends, least connections
//!   and P2C pick as the documented cost says (recent failure fraction `f` moved 1/16 of the
//!   way per outcome, rounded away from the old value; cost
//!   `in_flight + (in_flight + 1) · p · f / (1 − f)` per weight, odds capped at 255).
//! * **It decays**: a backend that failed and then got no traffic is picked again once its
//!   failures have decayed on the request's clock.

#![allow(clippy::indexing_slicing)]

use core::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::support::SplitMix;
use core::time::Duration;
use proptest::prelude::*;
use tinylb::{
    BackendId, Config, Lease, LeastConn, Outcome, Pool, PowerOfTwo, Request, Select, SelectExt,
    Strategy,
};

const N: usize = 16;

/// Picks of each backend in a closed loop over `n` backends of which backend 0 fails every
/// other request after 1 ms; every other request takes `1 + (x mod 19)` ms, `x` from a fixed
/// SplitMix stream (the same for every strategy). `clients` requests are outstanding at all
/// times; `requests` are sent in all.
fn failing_shares(name: &str, config: Config, clients: usize, requests: usize) -> Vec<u64> {
    let n = 10;
    let pool: Pool<N> = Pool::with_config(config).unwrap();
    for _ in 0..n {
        pool.add(100).unwrap();
    }
    let s: Strategy<N> = Strategy::from_name(name, 3).unwrap();
    let mut rng = SplitMix(7);
    let mut lat = SplitMix(11);
    let mut counts = vec![0u64; n];
    let mut b0_requests = 0u64;
    // (completion µs, sequence number); the lease, whether it fails, how long it took
    let mut queue = BinaryHeap::new();
    let mut leases: Vec<Option<(Lease<&Pool<N>, N>, bool, u64)>> = Vec::new();
    let mut now = 1_000_000u64;
    let (mut sent, mut due) = (0, clients);
    loop {
        for _ in 0..due {
            let key = rng.next();
            let mut req = Request::new()
                .with_key(key)
                .with_now_us(now)
                .with_rng(&mut rng);
            let lease = s.lease(&pool, &mut req).expect("a backend");
            let i = lease.index();
            counts[i] += 1;
            let fails = i == 0 && {
                b0_requests += 1;
                b0_requests.is_multiple_of(2)
            };
            let took = if fails {
                1_000
            } else {
                1_000 + lat.next_below(19) * 1_000
            };
            queue.push(Reverse((now + took, leases.len())));
            leases.push(Some((lease, fails, took)));
            sent += 1;
        }
        let Some(Reverse((at, seq))) = queue.pop() else {
            break;
        };
        now = at;
        let (lease, fails, took) = leases[seq].take().unwrap();
        let d = Duration::from_micros(took);
        lease.finish(if fails {
            Outcome::failure_after(d).at_us(now)
        } else {
            Outcome::success_after(d).at_us(now)
        });
        due = usize::from(sent < requests);
    }
    counts
}

fn share_percent(counts: &[u64]) -> f64 {
    100.0 * counts[0] as f64 / counts.iter().sum::<u64>() as f64
}

#[test]
#[cfg_attr(miri, ignore = "20 000 requests per strategy: minutes under miri")]
fn a_fast_failing_backend_gets_no_more_than_its_share() {
    // `first` and `pick_first` send everything to one backend while it is eligible, by
    // design (they read no load, so the penalty has nothing to charge): no share to keep
    for name in Strategy::<N>::NAMES
        .iter()
        .filter(|n| !crate::support::is_sticky(n))
    {
        let on = share_percent(&failing_shares(
            name,
            Config::new().failure_penalty_percent(100),
            40,
            20_000,
        ));
        let off = share_percent(&failing_shares(
            name,
            Config::new().failure_penalty_percent(0),
            40,
            20_000,
        ));
        assert!(
            on <= 11.0,
            "{name}: {on:.1} % with the penalty (off: {off:.1} %)"
        );
        if matches!(
            *name,
            "least_conn" | "least_time" | "bounded_load" | "p2c" | "peak_ewma"
        ) {
            assert!(
                off > 12.0,
                "{name}: no sinkhole to close without the penalty ({off:.1} %)"
            );
        }
    }
}

/// Random successes (latencies), held leases and picks: the same picks with the penalty
/// on and off, for every strategy.
fn same_picks(
    name: &str,
    weights: &[u32],
    ops: &[(u8, u16)],
    seed: u64,
) -> Result<(), TestCaseError> {
    let pools: Vec<Pool<N>> = [100, 0]
        .into_iter()
        .map(|p| Pool::with_config(Config::new().failure_penalty_percent(p)).unwrap())
        .collect();
    for pool in &pools {
        for &w in weights {
            pool.add(w).unwrap();
        }
    }
    let strategies: Vec<Strategy<N>> = (0..2)
        .map(|_| Strategy::from_name(name, seed).unwrap())
        .collect();
    let mut held: Vec<Vec<Lease<&Pool<N>, N>>> = vec![Vec::new(), Vec::new()];
    let mut rngs = [SplitMix(seed), SplitMix(seed)];
    for (step, &(op, arg)) in ops.iter().enumerate() {
        let now = 1_000_000 + step as u64 * 997;
        let mut got = Vec::new();
        for k in 0..2 {
            match op % 3 {
                0 => {
                    let mut req = Request::new()
                        .with_key(arg as u64)
                        .with_now_us(now)
                        .with_rng(&mut rngs[k]);
                    let l = strategies[k].lease(&pools[k], &mut req);
                    got.push(l.as_ref().map(Lease::id));
                    if let Some(l) = l {
                        held[k].push(l);
                    }
                }
                1 if !held[k].is_empty() => {
                    let at = arg as usize % held[k].len();
                    let l = held[k].remove(at);
                    l.finish(
                        Outcome::success_after(Duration::from_micros(arg as u64 * 10)).at_us(now),
                    );
                }
                _ => {}
            }
        }
        prop_assert_eq!(got.first(), got.get(1), "{}: step {}", name, step);
    }
    Ok(())
}

/// The documented failure fraction after `outcomes` (true = success), in Q16.
fn model_fraction(outcomes: &[bool]) -> u64 {
    let one = 1u64 << 16;
    outcomes.iter().fold(0, |f, &ok| {
        if ok {
            f - f.div_ceil(16)
        } else {
            f + (one - f).div_ceil(16)
        }
    })
}

/// The documented cost of `in_flight` with failure fraction `f` (Q16) and `p` percent, as
/// an exact rational `num / 2^16` (weights are equal here).
fn model_cost(in_flight: u64, f: u64, p: u64) -> u64 {
    let one = 1u64 << 16;
    let odds = if f >= one {
        255 << 16
    } else {
        ((f << 16) / (one - f)).min(255 << 16)
    };
    let pen = if f == 0 { 0 } else { odds * p / 100 };
    (in_flight << 16) + (in_flight + 1) * pen
}

proptest! {
    #![proptest_config(crate::support::config(64))]

    #[test]
    fn no_failure_changes_no_pick(
        weights in prop::collection::vec(1u32..=8, 1..=8),
        ops in prop::collection::vec((0u8..3, any::<u16>()), 1..=60),
        seed in any::<u64>(),
    ) {
        for name in Strategy::<N>::NAMES {
            same_picks(name, &weights, &ops, seed)?;
        }
    }

    /// Two backends with random outcome histories (all at one clock: nothing decays) and
    /// random loads: least connections picks the model's cheaper one (either on a tie), and
    /// so does P2C (whose two draws are then these two).
    #[test]
    fn picks_follow_the_documented_cost(
        hist in prop::collection::vec(prop::collection::vec(any::<bool>(), 0..=40), 2),
        loads in prop::collection::vec(0u64..=6, 2),
        p in prop_oneof![Just(100u64), 0u64..=400, Just(10_000u64)],
    ) {
        let pool: Pool<N> =
            Pool::with_config(Config::new().failure_penalty_percent(p as u32)).unwrap();
        let ids: Vec<BackendId> = (0..2).map(|_| pool.add(5).unwrap()).collect();
        let now = 5_000_000u64;
        for (i, h) in hist.iter().enumerate() {
            for &ok in h {
                let l = Lease::acquire(&pool, ids[i]).unwrap();
                let d = Duration::from_micros(500);
                l.finish(if ok { Outcome::success_after(d) } else { Outcome::failure_after(d) }.at_us(now));
            }
        }
        let _held: Vec<_> = (0..2)
            .flat_map(|i| (0..loads[i]).map(move |_| i))
            .map(|i| Lease::acquire(&pool, ids[i]).unwrap())
            .collect();
        let cost: Vec<u64> = (0..2)
            .map(|i| model_cost(loads[i], model_fraction(&hist[i]), p))
            .collect();
        let mut rng = SplitMix(cost[0] ^ cost[1]);
        for _ in 0..8 {
            let mut req = Request::new().with_now_us(now).with_rng(&mut rng);
            let lc = LeastConn::new().select(&pool, &mut req).unwrap();
            let mut req = Request::new().with_now_us(now).with_rng(&mut rng);
            let p2c = PowerOfTwo::new().select(&pool, &mut req).unwrap();
            for got in [lc, p2c] {
                let i = ids.iter().position(|&x| x == got).unwrap();
                prop_assert!(cost[i] <= cost[1 - i], "picked {} at cost {:?}", i, cost);
            }
        }
    }
}

/// A backend that failed and then got no traffic comes back once its failures decay (the
/// pool's half-life, on the request's clock); a clock that went backwards decays nothing.
#[test]
fn failures_decay_on_the_request_clock() {
    let pool: Pool<N> = Pool::with_config(
        Config::new()
            .half_life_ms(1_000)
            .failure_penalty_percent(100),
    )
    .unwrap();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    let t = 10_000_000u64;
    for _ in 0..4 {
        Lease::acquire(&pool, a)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(100)).at_us(t));
    }
    let picks = |now: u64| {
        let lc = LeastConn::new();
        let mut rng = SplitMix(1);
        (0..64)
            .filter(|_| {
                lc.select(
                    &pool,
                    &mut Request::new().with_now_us(now).with_rng(&mut rng),
                ) == Some(a)
            })
            .count()
    };
    // both idle: the failing one loses every pick, now, a while later, and at earlier clocks
    for now in [t, t + 5_000_000, t - 5_000_000] {
        assert_eq!(picks(now), 0, "at {now} µs");
    }
    // 17 half-lives later its recent failures read as none: a tie, broken fairly
    let back = picks(t + 17_000_000);
    assert!((16..=48).contains(&back), "{back} of 64");
    let _ = b;
}
