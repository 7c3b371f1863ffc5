//! Golden vectors of priority levels, degraded backends and localities: three fixed pools,
//! one strategy per row (`vectors::EVERY_NAME`), [`PICKS`] picks each with key
//! `vectors::key(k)` and the caller RNG `SplitMix(SEED)`, every lease dropped at once. One
//! file, three runs: `tests/it/value_stability` includes it on x86-64 and under WASI, and
//! `firmware/src/bin/golden.rs` on Cortex-M under QEMU (with the firmware's `levels`
//! feature). A change to any vector changes which level, zone and backend deployed proxies
//! send the same requests to: a breaking change that goes in the CHANGELOG.
//!
//! * [`PRIORITY`]: level 0 holds slots 0–3 (weights 3, 1, 4, 1; slots 1 and 3 down) and
//!   slot 6 (weight 2, degraded); level 1 holds slots 4 and 5 (weights 5 and 2, both
//!   degraded). Envoy's loads: level 0 healthy 56 %, level 0 degraded 28 %, level 1
//!   degraded 16 % (checked here too).
//! * [`ZONE_AWARE`]: eight backends of weight 1 in zones `[0, 0, 1, 1, 1, 2, 2, 2]`, zone-aware
//!   routing from zone 0 with a fleet of 4, 2 and 2 proxies: half the picks stay in zone 0,
//!   the rest split evenly over zones 1 and 2.
//! * [`WEIGHTED`]: the same backends with locality weights 1, 2 and 3 and slots 6 and 7 down
//!   (zone 2 at a third of its backends: effective weight `3 · min(1, 1.4 / 3)`).
//!
//! Only `core` and tinylb are used (no `std`, no allocation, no floats).

use tinylb::rand_core::Rng;
use tinylb::{
    Backend, Config, Health, LocalityPolicy, Pool, Request, SelectExt, Strategy, ZoneAware,
};

use super::vectors::{EVERY_NAME, N, NONE, SEED, SplitMix, TABLE, key};

/// Picks per row.
pub const PICKS: usize = 24;

/// The strategies, one row each: `vectors::EVERY_NAME`, in its order.
pub const NAMES: [&str; 13] = EVERY_NAME;

/// The three pools, by name.
pub const POOLS: [&str; 3] = ["PRIORITY", "ZONE_AWARE", "WEIGHTED"];

/// Zones of the locality pools' slots.
const ZONES: [u8; N] = [0, 0, 1, 1, 1, 2, 2, 2];

/// The pool named `POOLS[which]`.
fn build(which: usize) -> Option<Pool<N>> {
    match which {
        0 => {
            let pool: Pool<N> = Pool::new();
            for w in [3, 1, 4, 1] {
                pool.add(w).ok()?;
            }
            for w in [5, 2] {
                let b = Backend::new(w).level(1).health(Health::Degraded);
                pool.add_backend(b).ok()?;
            }
            pool.add_backend(Backend::new(2).health(Health::Degraded))
                .ok()?;
            for i in [1, 3] {
                pool.set_health(pool.id_at(i)?, Health::Down).ok()?;
            }
            let load = pool.priority_load();
            let healthy = load.healthy.get(..2) == Some(&[56, 0][..]);
            let degraded = load.degraded.get(..2) == Some(&[28, 16][..]);
            (healthy && degraded).then_some(pool)
        }
        1 | 2 => {
            let policy = if which == 1 {
                LocalityPolicy::ZoneAware(ZoneAware::new(0))
            } else {
                LocalityPolicy::Weighted
            };
            let pool: Pool<N> = Pool::with_config(Config::new().locality(policy)).ok()?;
            for z in ZONES {
                pool.add_backend(Backend::new(1).locality(z)).ok()?;
            }
            for (z, proxies) in [4, 2, 2].into_iter().enumerate() {
                pool.set_fleet(z as u8, proxies).ok()?;
                pool.set_locality_weight(z as u8, z as u16 + 1).ok()?;
            }
            if which == 2 {
                for i in [6, 7] {
                    pool.set_health(pool.id_at(i)?, Health::Down).ok()?;
                }
            }
            Some(pool)
        }
        _ => None,
    }
}

/// The picks of strategy `name` over pool `which`, or `None` if the name does not parse or
/// the pool is not what its description says.
pub fn compute(which: usize, name: &str, out: &mut [u8; PICKS]) -> Option<()> {
    let s = Strategy::<N, TABLE>::from_name(name, SEED).ok()?;
    let pool = build(which)?;
    let mut rng = SplitMix(SEED);
    for (k, o) in out.iter_mut().enumerate() {
        let rng: &mut dyn Rng = &mut rng;
        let mut req = Request::new().with_key(key(k)).with_rng(rng);
        *o = s
            .try_lease(&pool, &mut req)
            .map_or(NONE, |l| l.index() as u8);
    }
    Some(())
}

/// The picks of [`NAMES`] over the [`PRIORITY`] pool.
pub const PRIORITY: [[u8; PICKS]; 13] = [
    [
        4, 0, 2, 5, 0, 2, 0, 6, 6, 2, 0, 2, 4, 0, 6, 2, 0, 6, 6, 2, 0, 2, 0, 2,
    ],
    [
        5, 0, 2, 4, 0, 2, 2, 6, 6, 0, 2, 0, 4, 2, 6, 2, 0, 6, 6, 2, 2, 0, 2, 0,
    ],
    [
        4, 2, 0, 4, 0, 0, 0, 6, 6, 2, 0, 0, 4, 0, 6, 0, 0, 6, 6, 0, 0, 2, 2, 0,
    ],
    [
        4, 2, 2, 4, 2, 2, 2, 6, 6, 2, 2, 2, 4, 2, 6, 2, 2, 6, 6, 2, 2, 2, 2, 2,
    ],
    [
        4, 0, 0, 4, 0, 2, 0, 6, 6, 0, 0, 0, 4, 2, 6, 0, 0, 6, 6, 2, 0, 2, 2, 2,
    ],
    [
        4, 2, 0, 5, 2, 0, 2, 6, 6, 2, 2, 0, 4, 2, 6, 0, 0, 6, 6, 2, 2, 2, 2, 0,
    ],
    [
        4, 0, 0, 5, 0, 0, 0, 6, 6, 2, 2, 0, 4, 0, 6, 2, 2, 6, 6, 0, 2, 2, 2, 2,
    ],
    [
        4, 2, 2, 4, 2, 2, 2, 6, 6, 0, 0, 0, 5, 2, 6, 0, 0, 6, 6, 2, 2, 0, 2, 0,
    ],
    [
        4, 0, 0, 5, 0, 0, 0, 6, 6, 2, 2, 0, 4, 0, 6, 2, 2, 6, 6, 0, 2, 2, 2, 2,
    ],
    [
        4, 2, 2, 4, 0, 0, 2, 6, 6, 2, 0, 2, 4, 2, 6, 0, 0, 6, 6, 2, 2, 0, 0, 2,
    ],
    [
        4, 2, 2, 4, 2, 2, 2, 6, 6, 2, 2, 2, 4, 2, 6, 2, 2, 6, 6, 2, 2, 2, 2, 2,
    ],
    [
        4, 0, 0, 4, 0, 0, 0, 6, 6, 0, 0, 0, 4, 0, 6, 0, 0, 6, 6, 0, 0, 0, 0, 0,
    ],
    [
        4, 0, 0, 4, 0, 0, 0, 6, 6, 0, 0, 0, 4, 0, 6, 0, 0, 6, 6, 0, 0, 0, 0, 0,
    ],
];
/// The picks of [`NAMES`] over the [`ZONE_AWARE`] pool.
pub const ZONE_AWARE: [[u8; PICKS]; 13] = [
    [
        5, 0, 2, 3, 1, 6, 0, 4, 7, 1, 2, 0, 5, 1, 0, 3, 1, 4, 6, 0, 1, 7, 0, 1,
    ],
    [
        5, 0, 2, 3, 1, 6, 0, 4, 7, 1, 2, 0, 5, 1, 0, 3, 1, 4, 6, 0, 1, 7, 0, 1,
    ],
    [
        5, 1, 2, 2, 0, 5, 0, 3, 5, 0, 3, 0, 6, 0, 0, 2, 1, 4, 5, 0, 0, 5, 0, 0,
    ],
    [
        5, 1, 2, 2, 0, 5, 0, 3, 5, 0, 3, 0, 6, 0, 0, 2, 1, 4, 5, 0, 0, 5, 0, 0,
    ],
    [
        5, 0, 2, 4, 0, 7, 1, 3, 6, 1, 2, 0, 6, 0, 1, 4, 1, 2, 5, 1, 0, 5, 0, 1,
    ],
    [
        7, 1, 3, 3, 0, 6, 1, 3, 7, 1, 3, 0, 5, 0, 1, 2, 0, 4, 6, 1, 1, 6, 0, 1,
    ],
    [
        7, 1, 2, 4, 1, 7, 0, 3, 7, 1, 4, 1, 7, 0, 0, 2, 1, 4, 5, 0, 0, 7, 1, 1,
    ],
    [
        5, 1, 3, 2, 1, 7, 1, 4, 7, 1, 2, 0, 6, 1, 0, 2, 0, 2, 5, 0, 1, 6, 1, 1,
    ],
    [
        7, 1, 2, 4, 1, 7, 0, 3, 7, 1, 4, 1, 7, 0, 0, 2, 1, 4, 5, 0, 0, 7, 1, 1,
    ],
    [
        5, 0, 3, 3, 1, 6, 0, 4, 7, 0, 2, 1, 6, 0, 1, 4, 0, 2, 5, 0, 1, 6, 1, 1,
    ],
    [
        7, 1, 2, 4, 0, 7, 1, 3, 6, 1, 3, 0, 7, 1, 0, 3, 1, 3, 7, 1, 0, 5, 0, 0,
    ],
    [
        5, 0, 2, 2, 0, 5, 0, 2, 5, 0, 2, 0, 5, 0, 0, 2, 0, 2, 5, 0, 0, 5, 0, 0,
    ],
    [
        6, 1, 4, 4, 1, 6, 1, 4, 6, 1, 4, 1, 6, 1, 1, 4, 1, 4, 6, 1, 1, 6, 1, 1,
    ],
];
/// The picks of [`NAMES`] over the [`WEIGHTED`] pool.
pub const WEIGHTED: [[u8; PICKS]; 13] = [
    [
        5, 0, 2, 5, 1, 5, 0, 3, 5, 1, 5, 0, 5, 4, 1, 5, 0, 2, 5, 1, 3, 5, 0, 4,
    ],
    [
        5, 0, 4, 5, 1, 5, 0, 2, 5, 1, 5, 0, 5, 3, 1, 5, 0, 4, 5, 1, 2, 5, 0, 3,
    ],
    [
        5, 0, 4, 5, 0, 5, 0, 2, 5, 0, 5, 0, 5, 3, 0, 5, 0, 3, 5, 0, 3, 5, 0, 2,
    ],
    [
        5, 0, 4, 5, 0, 5, 0, 2, 5, 0, 5, 0, 5, 3, 0, 5, 0, 3, 5, 0, 3, 5, 0, 2,
    ],
    [
        5, 0, 2, 5, 1, 5, 1, 2, 5, 0, 5, 0, 5, 2, 0, 5, 0, 3, 5, 1, 3, 5, 1, 4,
    ],
    [
        5, 1, 3, 5, 0, 5, 1, 3, 5, 1, 5, 0, 5, 4, 1, 5, 0, 4, 5, 1, 3, 5, 0, 3,
    ],
    [
        5, 1, 2, 5, 1, 5, 0, 3, 5, 1, 5, 1, 5, 4, 0, 5, 1, 4, 5, 0, 2, 5, 1, 2,
    ],
    [
        5, 1, 3, 5, 1, 5, 1, 4, 5, 1, 5, 0, 5, 4, 0, 5, 0, 2, 5, 0, 2, 5, 1, 4,
    ],
    [
        5, 1, 2, 5, 1, 5, 0, 3, 5, 1, 5, 1, 5, 4, 0, 5, 1, 4, 5, 0, 2, 5, 1, 2,
    ],
    [
        5, 0, 3, 5, 0, 5, 0, 3, 5, 1, 5, 1, 5, 2, 1, 5, 1, 3, 5, 1, 3, 5, 1, 4,
    ],
    [
        5, 1, 2, 5, 1, 5, 1, 4, 5, 0, 5, 0, 5, 3, 0, 5, 0, 2, 5, 0, 2, 5, 0, 2,
    ],
    [
        5, 0, 2, 5, 0, 5, 0, 2, 5, 0, 5, 0, 5, 2, 0, 5, 0, 2, 5, 0, 2, 5, 0, 2,
    ],
    [
        5, 1, 4, 5, 1, 5, 1, 4, 5, 1, 5, 1, 5, 4, 1, 5, 1, 4, 5, 1, 4, 5, 1, 4,
    ],
];

/// What [`check_all`] tells its caller about each vector: `(vector, row, want, got)`.
pub type Report<'a> = dyn FnMut(&'static str, &'static str, &[u8], &[u8]) + 'a;

/// Runs every row of every pool, compares it with its vector, calls `report` for each and
/// returns how many differed.
pub fn check_all(report: &mut Report<'_>) -> usize {
    let mut failed = 0;
    for (which, (pool, vectors)) in POOLS
        .iter()
        .zip([&PRIORITY, &ZONE_AWARE, &WEIGHTED])
        .enumerate()
    {
        for (name, want) in NAMES.iter().zip(vectors) {
            let mut got = [NONE; PICKS];
            if compute(which, name, &mut got).is_none() || &got != want {
                failed += 1;
            }
            report(pool, name, want, &got);
        }
    }
    failed
}
