//! Golden vectors: fixed pools, seeds and request sequences in, the exact list of picked
//! slot indices out, for every strategy. One file, three runs: `tests/value_stability.rs`
//! includes it on x86-64 (`cargo test`) and under WASI (`cargo test --target
//! wasm32-wasip1`), and `firmware/src/bin/golden.rs` includes it on Cortex-M0/M3/M4 under
//! QEMU. A change to any vector changes what deployed proxies pick for the same inputs: it is
//! a breaking change and goes in the CHANGELOG, never a silent update of the constants.
//!
//! Only `core` and tinylb are used here (no `std`, no allocation, no floats): the caller RNG
//! is this file's [`SplitMix`], passed in as `&mut dyn Rng`. Slot indices are `u8`; [`NONE`]
//! marks a pick that returned `None`. [`check_all`] runs every scenario against its vector,
//! so a new vector added here is checked on every target without touching the runners.

use tinylb::rand_core::{Rng, TryRng};
use tinylb::{
    BackendId, Health, Lease, LeastConn, LeastTime, Outcome, PeakEwma, PickFirst, Pool, PowerOfTwo,
    Random, Request, RoundRobin, Select, SelectExt, Strategy, Tried, WeightedRoundRobin,
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
/// Maglev's table size in [`every_strategy`]: a prime, small enough for the stack of a
/// Cortex-M0 with 16 KiB of RAM (a `Strategy<8, 251>` is about 640 bytes).
pub const TABLE: usize = 251;

/// SplitMix64, the caller RNG of the `*_CALLER_RNG` vectors: the same generator as the
/// tests' `common::SplitMix` (`tests/value_stability.rs` checks that the two agree), kept
/// here so that this file needs nothing but `core` and tinylb.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl TryRng for SplitMix {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

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

fn index(id: Option<BackendId>) -> u8 {
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
fn held_leases<S: Select<N>>(s: &S, mut rng: Option<&mut dyn Rng>, out: &mut [u8]) {
    let pool = pool(1000);
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
        let lease = s.lease(&pool, &mut req);
        *o = index(lease.as_ref().map(Lease::id));
        held[next] = lease;
        next += 1;
    }
}

/// `LeastConn::with_seed(SEED)` in the held-leases scenario of [`held_leases`].
pub fn least_conn(rng: Option<&mut dyn Rng>, out: &mut [u8]) {
    held_leases(&LeastConn::with_seed(SEED), rng, out);
}

/// `PowerOfTwo::with_seed(SEED)` in the same held-leases scenario as [`least_conn`].
pub fn p2c(rng: Option<&mut dyn Rng>, out: &mut [u8]) {
    held_leases(&PowerOfTwo::with_seed(SEED), rng, out);
}

/// `PowerOfTwo::with_choices(3, SEED)` in the same held-leases scenario as [`p2c`].
pub fn p2c_three_choices(rng: Option<&mut dyn Rng>, out: &mut [u8]) {
    if let Ok(s) = PowerOfTwo::with_choices(3, SEED) {
        held_leases(&s, rng, out);
    }
}

/// The order of `PickFirst::with_seed(SEED)` over the fixed pool, read off its picks: each
/// pick excludes the backends picked before it ([`NONE`] once none is left).
pub fn pick_first_order(out: &mut [u8]) {
    let pool = pool(1000);
    let s = PickFirst::with_seed(SEED);
    let mut tried = Tried::<N>::new();
    for o in out.iter_mut() {
        let id = s.select(&pool, &mut Request::new().excluding(&tried));
        if let Some(id) = id {
            tried.insert(id);
        }
        *o = index(id);
    }
}

/// Latencies recorded at t = 0 µs (backend 3 is down and has none): [900, 300, 1200, -,
/// 500] µs, half-life 1 s. Pick `k` happens at `k × 50 ms`, takes a lease and keeps it;
/// from the third pick on, the oldest lease finishes first with its backend's latency
/// plus `(k mod 3) × 400 µs`.
fn latencies<S: Select<N>>(s: &S, out: &mut [u8]) {
    const LAT: [u64; 5] = [900, 300, 1200, 0, 500];
    let pool = pool(1000);
    for (i, &lat) in LAT.iter().enumerate() {
        if i != DOWN {
            Lease::acquire(&pool, pool.id_at(i).unwrap())
                .unwrap()
                .finish(Outcome::success(lat, 0));
        }
    }
    let mut held: [Option<Lease<&Pool<N>, N>>; 64] = [const { None }; 64];
    for (k, o) in out.iter_mut().enumerate() {
        let now = k as u64 * 50_000;
        if k >= 2
            && let Some(lease) = held[k - 2].take()
        {
            let lat = LAT[lease.index()] + (k as u64 % 3) * 400;
            lease.finish(Outcome::success(lat, now));
        }
        let lease = s.lease(&pool, &mut Request::new().at_us(now));
        *o = index(lease.as_ref().map(Lease::id));
        held[k] = lease;
    }
}

/// `LeastTime::with_seed(SEED)` in the latency scenario of [`latencies`].
pub fn least_time(out: &mut [u8]) {
    latencies(&LeastTime::with_seed(SEED), out);
}

/// `PeakEwma::with_seed(SEED)` in the same latency scenario as [`least_time`].
pub fn peak_ewma(out: &mut [u8]) {
    latencies(&PeakEwma::with_seed(SEED), out);
}

/// Each built-in strategy by name with seed 7, ten plain picks each, in
/// `Strategy::NAMES` order (the first five names). The enum's Maglev table is [`TABLE`]
/// entries, not the default 8191 (16 KiB, too large for a microcontroller's stack); the
/// five strategies here do not depend on it.
pub fn by_name(out: &mut [u8; 50]) {
    for (name, chunk) in Strategy::<N, TABLE>::NAMES.iter().zip(out.chunks_mut(10)) {
        let s = Strategy::<N, TABLE>::from_name(name, 7).unwrap();
        plain(&s, chunk);
    }
}

/// The names [`every_strategy`] runs, one row of [`EVERY_STRATEGY`] each.
pub const EVERY_NAME: [&str; 13] = [
    "round_robin",
    "weighted_round_robin",
    "least_conn",
    "least_time",
    "random",
    "maglev",
    "rendezvous",
    "jump",
    "bounded_load",
    "p2c",
    "peak_ewma",
    "first",
    "pick_first",
];

/// The key of pick `k` in [`every_strategy`]: a Weyl sequence, so every pick has a new key.
pub const fn key(k: usize) -> u64 {
    (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The strategy named `name`, built with `Strategy::<N, TABLE>::from_name(name, 7)`, over the
/// fixed pool: pick `k` (of 12) has key [`key`]`(k)` and happens at `k × 10 ms`, takes a
/// lease and keeps it; from the third pick on, the oldest lease still held finishes first,
/// a success with latency `300 × (slot + 1) + 100 × (k mod 4)` µs, except every fifth pick,
/// whose oldest lease fails instead. Exercises the hashing, load and latency paths of every
/// strategy in one scenario. `None` if the name does not parse.
pub fn every_strategy(name: &str, out: &mut [u8; 12]) -> Option<()> {
    let s = Strategy::<N, TABLE>::from_name(name, 7).ok()?;
    let pool = pool(1000);
    let mut held: [Option<Lease<&Pool<N>, N>>; 12] = [const { None }; 12];
    let mut oldest = 0;
    for (k, o) in out.iter_mut().enumerate() {
        let now = k as u64 * 10_000;
        if k >= 2 {
            while oldest < k && held[oldest].is_none() {
                oldest += 1;
            }
            if let Some(lease) = held.get_mut(oldest).and_then(Option::take) {
                let lat = 300 * (lease.index() as u64 + 1) + 100 * (k as u64 % 4);
                lease.finish(if k % 5 == 4 {
                    Outcome::failure(lat, now)
                } else {
                    Outcome::success(lat, now)
                });
            }
        }
        let lease = s.lease(&pool, &mut Request::new().with_key(key(k)).at_us(now));
        *o = index(lease.as_ref().map(Lease::id));
        held[k] = lease;
    }
    Some(())
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
    2, 4, 0, 2, 4, 4, 2, 0, 4, 2, 1, 4, 0, 2, 4, 0, 2, 4, 4, 2, 0, 4, 2, 1, 4, 0,
];
/// `random_seeded`, 32 picks.
pub const RANDOM_SEEDED: [u8; 32] = [
    4, 0, 0, 0, 0, 2, 2, 4, 4, 1, 0, 0, 0, 2, 2, 4, 4, 0, 2, 2, 0, 4, 4, 4, 4, 0, 2, 1, 4, 0, 4, 0,
];
/// `random_caller_rng` with `SplitMix(SEED)`, 32 picks.
pub const RANDOM_CALLER_RNG: [u8; 32] = [
    0, 0, 0, 0, 2, 2, 4, 4, 1, 0, 0, 0, 2, 2, 4, 4, 0, 2, 2, 0, 4, 4, 4, 4, 0, 2, 1, 4, 0, 4, 0, 0,
];
/// `least_conn` with the strategy's stream, 24 picks.
pub const LEAST_CONN: [u8; 24] = [
    4, 1, 4, 2, 0, 0, 4, 2, 2, 4, 0, 4, 2, 4, 1, 0, 4, 1, 2, 4, 2, 4, 2, 0,
];
/// `least_conn` with `SplitMix(SEED)`, 24 picks.
pub const LEAST_CONN_CALLER_RNG: [u8; 24] = [
    1, 4, 4, 2, 0, 0, 4, 2, 2, 4, 0, 1, 2, 4, 4, 2, 0, 4, 1, 4, 2, 4, 2, 0,
];
/// `least_time`, 24 picks.
pub const LEAST_TIME: [u8; 24] = [
    4, 4, 2, 4, 0, 4, 1, 4, 0, 4, 2, 4, 2, 4, 0, 4, 0, 4, 0, 4, 2, 4, 2, 4,
];
/// `by_name`, 50 picks.
pub const BY_NAME: [u8; 50] = [
    2, 4, 0, 1, 2, 4, 0, 1, 2, 4, // round_robin (starting at 7)
    2, 1, 4, 0, 2, 4, 0, 2, 4, 4, // weighted_round_robin
    1, 1, 4, 2, 1, 1, 4, 0, 0, 2, // least_conn (all idle: tie-breaks)
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, // least_time (no samples, idle: the heaviest)
    2, 4, 2, 2, 2, 2, 0, 0, 4, 0, // random
];
/// `p2c` with the strategy's stream, 24 picks.
pub const P2C: [u8; 24] = [
    4, 2, 4, 1, 0, 4, 0, 2, 4, 2, 0, 4, 4, 0, 2, 1, 2, 2, 2, 4, 4, 0, 4, 1,
];
/// `p2c` with `SplitMix(SEED)`, 24 picks.
pub const P2C_CALLER_RNG: [u8; 24] = [
    2, 4, 1, 0, 4, 0, 2, 4, 2, 4, 0, 4, 0, 2, 4, 2, 2, 2, 4, 4, 0, 4, 1, 0,
];
/// `peak_ewma`, 24 picks.
pub const PEAK_EWMA: [u8; 24] = [
    4, 0, 4, 1, 2, 4, 0, 2, 4, 2, 4, 4, 4, 0, 2, 4, 2, 0, 2, 4, 4, 0, 4, 4,
];
/// `p2c_three_choices` with the strategy's stream, 24 picks.
pub const P2C_THREE_CHOICES: [u8; 24] = [
    4, 1, 4, 2, 0, 0, 4, 2, 2, 4, 0, 4, 2, 4, 1, 0, 4, 4, 1, 2, 2, 4, 2, 0,
];
/// `pick_first_order`: the four eligible backends in the seed's order, then nothing.
pub const PICK_FIRST_ORDER: [u8; 6] = [1, 0, 4, 2, NONE, NONE];
/// `every_strategy`, one row of 12 picks per name of [`EVERY_NAME`].
pub const EVERY_STRATEGY: [[u8; 12]; 13] = [
    [2, 4, 0, 1, 2, 4, 0, 1, 2, 4, 0, 1], // round_robin
    [2, 1, 4, 0, 2, 4, 0, 2, 4, 4, 2, 0], // weighted_round_robin
    [1, 2, 4, 2, 0, 1, 2, 0, 1, 2, 1, 2], // least_conn
    [4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2], // least_time
    [2, 4, 2, 2, 2, 2, 0, 0, 4, 0, 0, 4], // random
    [4, 1, 0, 2, 2, 0, 4, 4, 4, 4, 4, 0], // maglev
    [0, 1, 0, 4, 4, 0, 0, 4, 0, 2, 4, 1], // rendezvous
    [1, 0, 4, 2, 2, 2, 0, 2, 2, 2, 1, 0], // jump
    [0, 1, 0, 4, 1, 0, 2, 4, 0, 2, 4, 1], // bounded_load
    [2, 0, 4, 0, 2, 4, 2, 0, 2, 0, 4, 2], // p2c
    [4, 2, 4, 0, 2, 4, 2, 0, 2, 0, 0, 2], // peak_ewma
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // first
    [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], // pick_first
];

/// What [`check_all`] tells its caller about each vector: `(vector, row, want, got)`, with
/// `row` the strategy name in [`EVERY_STRATEGY`], else empty.
pub type Report<'a> = dyn FnMut(&'static str, &'static str, &[u8], &[u8]) + 'a;

/// Runs every scenario above, compares it with its vector, calls `report` for each and
/// returns how many differed.
pub fn check_all(report: &mut Report<'_>) -> usize {
    let mut failed = 0;
    let mut buf = [0u8; 64];
    let mut one =
        |vector: &'static str, row: &'static str, want: &[u8], run: &mut dyn FnMut(&mut [u8])| {
            let got = &mut buf[..want.len()];
            got.fill(NONE);
            run(got);
            if got != want {
                failed += 1;
            }
            report(vector, row, want, got);
        };
    one("ROUND_ROBIN", "", &ROUND_ROBIN, &mut round_robin);
    one(
        "ROUND_ROBIN_AT_MAX",
        "",
        &ROUND_ROBIN_AT_MAX,
        &mut round_robin_at_max,
    );
    one(
        "WEIGHTED_ROUND_ROBIN",
        "",
        &WEIGHTED_ROUND_ROBIN,
        &mut weighted_round_robin,
    );
    one(
        "WEIGHTED_ROUND_ROBIN_SEEDED",
        "",
        &WEIGHTED_ROUND_ROBIN_SEEDED,
        &mut weighted_round_robin_seeded,
    );
    one("RANDOM_SEEDED", "", &RANDOM_SEEDED, &mut random_seeded);
    one("RANDOM_CALLER_RNG", "", &RANDOM_CALLER_RNG, &mut |out| {
        random_caller_rng(&mut SplitMix(SEED), out)
    });
    one("LEAST_CONN", "", &LEAST_CONN, &mut |out| {
        least_conn(None, out)
    });
    one(
        "LEAST_CONN_CALLER_RNG",
        "",
        &LEAST_CONN_CALLER_RNG,
        &mut |out| least_conn(Some(&mut SplitMix(SEED)), out),
    );
    one("LEAST_TIME", "", &LEAST_TIME, &mut least_time);
    one("BY_NAME", "", &BY_NAME, &mut |out| {
        if let Ok(out) = out.try_into() {
            by_name(out);
        }
    });
    one("P2C", "", &P2C, &mut |out| p2c(None, out));
    one("P2C_CALLER_RNG", "", &P2C_CALLER_RNG, &mut |out| {
        p2c(Some(&mut SplitMix(SEED)), out)
    });
    one("PEAK_EWMA", "", &PEAK_EWMA, &mut peak_ewma);
    one("P2C_THREE_CHOICES", "", &P2C_THREE_CHOICES, &mut |out| {
        p2c_three_choices(None, out)
    });
    one(
        "PICK_FIRST_ORDER",
        "",
        &PICK_FIRST_ORDER,
        &mut pick_first_order,
    );
    for (name, want) in EVERY_NAME.iter().zip(&EVERY_STRATEGY) {
        one("EVERY_STRATEGY", name, want, &mut |out| {
            if let Ok(out) = out.try_into() {
                let _ = every_strategy(name, out);
            }
        });
    }
    failed
}
