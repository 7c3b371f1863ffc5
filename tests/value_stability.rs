//! Value stability: fixed pools, seeds and request sequences in, the exact list of picked
//! slot indices out, for every strategy. A change to any of these vectors changes what
//! deployed proxies pick for the same inputs: it is a breaking change and goes in the
//! CHANGELOG, never a silent update of the constants.
//!
//! The vectors and the scenarios that produce them live in [`vectors`], which uses only
//! `core` and tinylb (the caller RNG is passed in as `&mut dyn Rng`), so a firmware or WASM
//! test can include this module and check the same vectors on its target.

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

mod common;

/// The scenarios and their expected picks (slot indices; `NONE` would mark a `None`).
pub mod vectors {
    use tinylb::rand_core::Rng;
    use tinylb::{
        Health, Lease, LeastConn, LeastTime, Outcome, Pool, Random, Request, RoundRobin, Select,
        SelectExt, Strategy, WeightedRoundRobin,
    };

    /// Slots in the pool.
    pub const N: usize = 8;
    /// The backends' weights, in slot order.
    pub const WEIGHTS: [u32; 5] = [3, 1, 4, 1, 5];
    /// The backend marked down.
    pub const DOWN: usize = 3;
    /// Marks a pick that returned `None`.
    pub const NONE: u8 = u8::MAX;
    /// Seed of every seeded strategy and of the caller RNG.
    pub const SEED: u64 = 42;

    /// The fixed pool: [`WEIGHTS`], backend [`DOWN`] down.
    pub fn pool(half_life_ms: u32) -> Pool<N> {
        let pool = Pool::with_half_life_ms(half_life_ms);
        for w in WEIGHTS {
            pool.add(w).unwrap();
        }
        pool.set_health(pool.id_at(DOWN).unwrap(), Health::Down)
            .unwrap();
        pool
    }

    fn index(id: Option<tinylb::BackendId>) -> u8 {
        id.map_or(NONE, |id| id.index() as u8)
    }

    fn plain<S: Select<N>>(s: &S, out: &mut [u8]) {
        let pool = pool(1000);
        for o in out.iter_mut() {
            *o = index(s.select(&pool, &mut Request::new()));
        }
    }

    /// `RoundRobin::new()`.
    pub fn round_robin(out: &mut [u8]) {
        plain(&RoundRobin::new(), out);
    }
    /// `RoundRobin::starting_at(u32::MAX)`: across the cursor's fold.
    pub fn round_robin_at_max(out: &mut [u8]) {
        plain(&RoundRobin::starting_at(u32::MAX), out);
    }
    /// `WeightedRoundRobin::new()`.
    pub fn weighted_round_robin(out: &mut [u8]) {
        plain(&WeightedRoundRobin::<N>::new(), out);
    }
    /// `WeightedRoundRobin::with_seed(SEED)`.
    pub fn weighted_round_robin_seeded(out: &mut [u8]) {
        plain(&WeightedRoundRobin::<N>::with_seed(SEED), out);
    }
    /// `Random::with_seed(SEED)`, no caller RNG: the strategy's own stream.
    pub fn random_seeded(out: &mut [u8]) {
        plain(&Random::with_seed(SEED), out);
    }
    /// `Random::new()` with a caller RNG.
    pub fn random_caller_rng(rng: &mut dyn Rng, out: &mut [u8]) {
        let pool = pool(1000);
        let random = Random::new();
        for o in out.iter_mut() {
            *o = index(random.select(&pool, &mut Request::new().with_rng(rng)));
        }
    }

    /// Leases held: [2, 0, 1, -, 0] at the start; each pick takes a lease and keeps it, and
    /// every third pick first drops the oldest lease still held. With a caller RNG when one is
    /// given, else the strategy's stream.
    pub fn least_conn(mut rng: Option<&mut dyn Rng>, out: &mut [u8]) {
        let pool = pool(1000);
        let lc = LeastConn::with_seed(SEED);
        let mut held: [Option<Lease<&Pool<N>, N>>; 64] = [const { None }; 64];
        let mut next = 0;
        let mut oldest = 0;
        for (i, &count) in [2usize, 0, 1, 0, 0].iter().enumerate() {
            for _ in 0..count {
                held[next] = Lease::acquire(&pool, pool.id_at(i).unwrap());
                next += 1;
            }
        }
        for (k, o) in out.iter_mut().enumerate() {
            if k % 3 == 2 {
                held[oldest] = None;
                oldest += 1;
            }
            let mut req = match rng.as_deref_mut() {
                Some(r) => Request::new().with_rng(r),
                None => Request::new(),
            };
            let lease = lc.lease(&pool, &mut req);
            *o = index(lease.as_ref().map(Lease::id));
            held[next] = lease;
            next += 1;
        }
    }

    /// Latencies recorded at t = 0 µs (backend 3 is down and has none): [900, 300, 1200, -,
    /// 500] µs, half-life 1 s. Pick `k` happens at `k × 50 ms`, takes a lease and keeps it;
    /// from the third pick on, the oldest lease finishes first with its backend's latency
    /// plus `(k mod 3) × 400 µs`.
    pub fn least_time(out: &mut [u8]) {
        const LAT: [u64; 5] = [900, 300, 1200, 0, 500];
        let pool = pool(1000);
        for (i, &lat) in LAT.iter().enumerate() {
            if i != DOWN {
                Lease::acquire(&pool, pool.id_at(i).unwrap())
                    .unwrap()
                    .finish(Outcome::success(lat, 0));
            }
        }
        let lt = LeastTime::with_seed(SEED);
        let mut held: [Option<Lease<&Pool<N>, N>>; 64] = [const { None }; 64];
        for (k, o) in out.iter_mut().enumerate() {
            let now = k as u64 * 50_000;
            if k >= 2
                && let Some(lease) = held[k - 2].take()
            {
                let lat = LAT[lease.index()] + (k as u64 % 3) * 400;
                lease.finish(Outcome::success(lat, now));
            }
            let lease = lt.lease(&pool, &mut Request::new().at_us(now));
            *o = index(lease.as_ref().map(Lease::id));
            held[k] = lease;
        }
    }

    /// Each built-in strategy by name with seed 7, ten plain picks each, in
    /// `Strategy::NAMES` order.
    pub fn by_name(out: &mut [u8; 50]) {
        for (name, chunk) in Strategy::<N>::NAMES.iter().zip(out.chunks_mut(10)) {
            let s = Strategy::<N>::from_name(name, 7).unwrap();
            plain(&s, chunk);
        }
    }

    /// `round_robin`, 12 picks.
    pub const ROUND_ROBIN: [u8; 12] = [0, 1, 2, 4, 0, 1, 2, 4, 0, 1, 2, 4];
    /// `round_robin_at_max`, 12 picks.
    pub const ROUND_ROBIN_AT_MAX: [u8; 12] = [2, 4, 0, 1, 2, 4, 0, 1, 2, 4, 0, 1];
    /// `weighted_round_robin`, 26 picks (two periods).
    pub const WEIGHTED_ROUND_ROBIN: [u8; 26] = [
        4, 2, 0, 4, 2, 1, 4, 0, 2, 4, 0, 2, 4, 4, 2, 0, 4, 2, 1, 4, 0, 2, 4, 0, 2, 4,
    ];
    /// `weighted_round_robin_seeded`, 26 picks.
    pub const WEIGHTED_ROUND_ROBIN_SEEDED: [u8; 26] = [
        0, 4, 2, 1, 4, 0, 2, 4, 0, 2, 4, 4, 2, 0, 4, 2, 1, 4, 0, 2, 4, 0, 2, 4, 4, 2,
    ];
    /// `random_seeded`, 32 picks.
    pub const RANDOM_SEEDED: [u8; 32] = [
        4, 0, 0, 0, 0, 2, 2, 4, 4, 1, 0, 0, 0, 2, 2, 4, 4, 0, 2, 2, 0, 4, 4, 4, 4, 0, 2, 1, 4, 0,
        4, 0,
    ];
    /// `random_caller_rng` with `SplitMix(SEED)`, 32 picks.
    pub const RANDOM_CALLER_RNG: [u8; 32] = [
        0, 0, 0, 0, 2, 2, 4, 4, 1, 0, 0, 0, 2, 2, 4, 4, 0, 2, 2, 0, 4, 4, 4, 4, 0, 2, 1, 4, 0, 4,
        0, 0,
    ];
    /// `least_conn` with the strategy's stream, 24 picks.
    pub const LEAST_CONN: [u8; 24] = [
        1, 4, 4, 2, 0, 0, 4, 2, 2, 4, 0, 1, 2, 4, 4, 4, 2, 1, 0, 4, 2, 4, 2, 0,
    ];
    /// `least_conn` with `SplitMix(SEED)`, 24 picks.
    pub const LEAST_CONN_CALLER_RNG: [u8; 24] = [
        1, 4, 4, 2, 0, 0, 4, 2, 2, 4, 0, 1, 2, 4, 4, 2, 1, 4, 0, 4, 2, 4, 2, 0,
    ];
    /// `least_time`, 24 picks.
    pub const LEAST_TIME: [u8; 24] = [
        4, 4, 0, 4, 1, 4, 2, 4, 1, 4, 0, 4, 0, 4, 2, 4, 2, 4, 2, 4, 0, 4, 2, 4,
    ];
    /// `by_name`, 50 picks.
    pub const BY_NAME: [u8; 50] = [
        2, 4, 0, 1, 2, 4, 0, 1, 2, 4, // round_robin (starting at 7)
        2, 1, 4, 0, 2, 4, 0, 2, 4, 4, // weighted_round_robin
        4, 0, 4, 0, 1, 4, 0, 0, 1, 1, // least_conn (all idle: tie-breaks)
        4, 4, 4, 4, 4, 4, 4, 4, 4, 4, // least_time (no samples, idle: the heaviest)
        2, 4, 2, 2, 2, 2, 0, 0, 4, 0, // random
    ];
}

use common::{SplitMix, nginx_swrr};
use vectors::*;

fn check<const L: usize>(name: &str, expect: &[u8; L], run: impl FnOnce(&mut [u8])) {
    let mut got = [0u8; L];
    run(&mut got);
    assert_eq!(&got, expect, "{name} changed: a breaking change");
}

#[test]
fn round_robin() {
    check("ROUND_ROBIN", &ROUND_ROBIN, vectors::round_robin);
    check(
        "ROUND_ROBIN_AT_MAX",
        &ROUND_ROBIN_AT_MAX,
        round_robin_at_max,
    );
}

#[test]
fn weighted_round_robin() {
    check(
        "WEIGHTED_ROUND_ROBIN",
        &WEIGHTED_ROUND_ROBIN,
        vectors::weighted_round_robin,
    );
    check(
        "WEIGHTED_ROUND_ROBIN_SEEDED",
        &WEIGHTED_ROUND_ROBIN_SEEDED,
        weighted_round_robin_seeded,
    );
}

/// The vectors themselves agree with the reference models: round robin visits the eligible
/// slots in order; weighted round robin is nginx's smooth WRR, seeded a rotation of it; the
/// seeded random stream is SplitMix64 (draw `k` is the mixer at `seed + k·golden`), so the
/// caller-RNG run with `SplitMix(SEED)` sees the same draws one step later.
#[test]
fn vectors_agree_with_the_models() {
    let eligible = [0u8, 1, 2, 4];
    for (k, &i) in ROUND_ROBIN.iter().enumerate() {
        assert_eq!(i, eligible[k % 4]);
    }
    let mut weights = WEIGHTS;
    weights[DOWN] = 0;
    let nginx: Vec<u8> = nginx_swrr(&weights, 40).iter().map(|&i| i as u8).collect();
    assert_eq!(WEIGHTED_ROUND_ROBIN[..], nginx[..26]);
    assert!((0..13).any(|p| WEIGHTED_ROUND_ROBIN_SEEDED[..] == nginx[p..p + 26]));
    assert_eq!(RANDOM_SEEDED[1..], RANDOM_CALLER_RNG[..31]);
}

#[test]
fn random() {
    check("RANDOM_SEEDED", &RANDOM_SEEDED, random_seeded);
    check("RANDOM_CALLER_RNG", &RANDOM_CALLER_RNG, |out| {
        random_caller_rng(&mut SplitMix(SEED), out)
    });
}

#[test]
fn least_conn() {
    check("LEAST_CONN", &LEAST_CONN, |out| {
        vectors::least_conn(None, out)
    });
    check("LEAST_CONN_CALLER_RNG", &LEAST_CONN_CALLER_RNG, |out| {
        vectors::least_conn(Some(&mut SplitMix(SEED)), out)
    });
}

#[test]
fn least_time() {
    check("LEAST_TIME", &LEAST_TIME, vectors::least_time);
}

#[test]
fn strategies_by_name() {
    check("BY_NAME", &BY_NAME, |out| by_name(out.try_into().unwrap()));
}
