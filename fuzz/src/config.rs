//! (b) Every constructor and configuration call that takes numbers (or a name) from the user.
//!
//! Each call gets values biased towards the edges (0, 1, the documented limits and one past
//! them, `i32::MAX`, `u32::MAX`, anything) and must return exactly what its documentation
//! promises: the documented error for a bad value, and for a good one a value that then
//! works: pools built from a fuzzed [`Config`] are driven through picks, leases and finishes
//! with fuzzed latencies and clocks, and must neither panic nor return an ineligible backend.
//!
//! | call | checked |
//! |---|---|
//! | `Pool::with_config(Config { .. })`, `Config::validate`, `SlowStart::linear` | the documented `Invalid*` error exactly when a field is out of range; a valid config then runs |
//! | `Pool::with_half_life_ms` | any value runs |
//! | `Pool::add`, `add_with`, `add_backup`, `set_weight` | `WeightTooLarge` above `MAX_WEIGHT`, `WeightOverflow` past `MAX_TOTAL_WEIGHT` (a pool of 1100 slots), `Full` |
//! | `Pool::set_cap` | `ZeroCap` for `Some(0)`; any other cap holds |
//! | `Pool::in_flight_at`, `is_eligible`, `id_at` | any index, out of range included |
//! | `Strategy::from_name` | accepted exactly for the documented names and aliases, any seed |
//! | `BoundedLoad::new`, `with_seed` | `BalanceFactorTooLow` below 100; any factor above runs |
//! | `Maglev::try_with_seed`, `table_entry`, `lookup` | errors for bad sizes; any position, any key |
//! | `RoundRobin::starting_at` | any start: n picks visit each of n eligible backends once |
//! | `hash::jump`, `hash_bytes`, `hash_bytes_keyed` | `None` only for 0 buckets, in range, deterministic |
//! | `Outcome::success_after`, `failure_after`, `Request::at_us` | any duration and clock |

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

use std::string::String;
use std::vec::Vec;

use core::time::Duration;

use tinylb::{
    BoundedLoad, Config, Ejection, Error, Health, Lease, MAX_TOTAL_WEIGHT, MAX_WEIGHT, Maglev,
    Outcome, Pool, Request, RoundRobin, Select, SelectExt, SlowStart, Strategy, hash,
};

use super::input::Input;

/// Decodes `data` and runs every check once.
pub fn run_bytes(data: &[u8]) {
    let mut inp = Input::new(data);
    match inp.u8() % 8 {
        0 => config(&mut inp),
        1 => weights(&mut inp),
        2 => strategy_name(&mut inp),
        3 => bounded_load(&mut inp),
        4 => round_robin_start(&mut inp),
        5 => hashes(&mut inp),
        6 => maglev(&mut inp),
        _ => indices_and_times(&mut inp),
    }
}

fn slow_start_of(inp: &mut Input<'_>) -> SlowStart {
    if inp.u8().is_multiple_of(4) {
        return SlowStart::linear(inp.u32_near(1));
    }
    SlowStart {
        window_ms: inp.u32_near(1),
        aggression: inp.u32_near(8),
        min_weight_percent: inp.u32_near(100),
    }
}

fn ejection_of(inp: &mut Input<'_>) -> Ejection {
    let base_ms = inp.u32_near(1000);
    Ejection {
        consecutive_failures: inp.u32_near(5),
        base_ms,
        max_ms: match inp.u8() % 3 {
            0 => base_ms,
            1 => inp.u32_near(i32::MAX as u32),
            _ => base_ms.saturating_mul(1 + (inp.u8() % 4) as u32),
        },
        max_ejection_percent: inp.u32_near(100),
    }
}

/// Every error the documentation says this config deserves (empty: it is valid).
fn config_errors(c: &Config) -> Vec<Error> {
    let mut errs = Vec::new();
    if let Some(s) = c.slow_start
        && (s.window_ms == 0 || !(1..=8).contains(&s.aggression) || s.min_weight_percent > 100)
    {
        errs.push(Error::InvalidSlowStart);
    }
    if let Some(e) = c.ejection
        && (e.consecutive_failures == 0
            || e.base_ms == 0
            || e.max_ms < e.base_ms
            || e.max_ms >= 1 << 31
            || e.max_ejection_percent > 100)
    {
        errs.push(Error::InvalidEjection);
    }
    if c.panic_threshold_percent > 100 {
        errs.push(Error::InvalidPercent);
    }
    errs
}

fn config(inp: &mut Input<'_>) {
    let flags = inp.u8();
    let mut c = Config::new().half_life_ms(inp.u32_near(5000));
    if flags & 1 != 0 {
        c = c.slow_start(slow_start_of(inp));
    }
    if flags & 2 != 0 {
        c = c.ejection(ejection_of(inp));
    }
    c = c.panic_threshold_percent(inp.u32_near(100));
    let errs = config_errors(&c);
    let got = Pool::<4>::with_config(c);
    match (&got, errs.is_empty()) {
        (Ok(_), true) => {}
        (Err(e), false) => assert!(errs.contains(e), "{c:?}: {e:?}, expected one of {errs:?}"),
        (got, _) => panic!("{c:?}: {got:?}, expected {errs:?}"),
    }
    assert_eq!(c.validate().err(), got.as_ref().err().copied());
    if let Ok(pool) = got {
        drive(&pool, inp);
    }
}

/// Picks, leases and finishes with fuzzed latencies and clocks on a pool with fuzzed
/// weights: nothing panics, and every pick is a backend that is up, weighted and has room.
fn drive<const N: usize>(pool: &Pool<N>, inp: &mut Input<'_>) {
    for _ in 0..N {
        let w = 1 + (inp.u8() % 8) as u32;
        let id = pool.add(w).expect("room for N small backends");
        if inp.u8().is_multiple_of(4) {
            pool.set_cap(id, Some(1 + (inp.u8() % 3) as u32)).unwrap();
        }
    }
    let strategies: Vec<Strategy<N, 251>> = Strategy::<N, 251>::NAMES
        .iter()
        .map(|n| Strategy::from_name(n, 7).unwrap())
        .collect();
    let mut held = Vec::new();
    let mut now_us = inp.u64();
    for _ in 0..64 {
        if inp.is_empty() {
            break;
        }
        let s = &strategies[inp.u8() as usize % strategies.len()];
        now_us = match inp.u8() % 4 {
            0 => inp.u64(),
            1 => now_us.wrapping_sub(inp.u32() as u64),
            _ => now_us.wrapping_add(inp.u32() as u64),
        };
        let mut req = Request::new().at_us(now_us).with_key(inp.u64());
        if let Some(l) = s.lease(pool, &mut req) {
            let info = pool.info(l.id()).expect("a leased backend is current");
            assert!(info.health == Health::Up && info.weight > 0, "{info:?}");
            assert!(info.cap.is_none_or(|c| info.in_flight <= c), "{info:?}");
            held.push(l);
        }
        if !held.is_empty() && (held.len() > N || inp.bool()) {
            let l: Lease<&Pool<N>, N> = held.swap_remove(0);
            let latency = match inp.u8() % 3 {
                0 => Duration::new(inp.u64(), inp.u32() % 1_000_000_000),
                1 => Duration::from_micros(inp.u64()),
                _ => Duration::from_micros(inp.u16() as u64),
            };
            let o = if inp.bool() {
                Outcome::success_after(latency, now_us)
            } else {
                Outcome::failure_after(latency, now_us)
            };
            let want = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            assert_eq!(o.latency_us(), want, "{latency:?}");
            l.finish(o);
        }
    }
    drop(held);
    for i in 0..N {
        assert_eq!(pool.in_flight_at(i), 0);
    }
}

/// Weights and caps through every call that takes one, on a pool large enough to reach
/// `MAX_TOTAL_WEIGHT` (1100 slots × `MAX_WEIGHT` > 2^31).
fn weights(inp: &mut Input<'_>) {
    let pool: Pool<1100> = Pool::new();
    let mut total: u64 = 0;
    let mut ids = Vec::new();
    let mut live = 0usize;
    for _ in 0..64 {
        if inp.is_empty() {
            break;
        }
        let w = match inp.u8() % 4 {
            0 => MAX_WEIGHT,
            1 => inp.u32_near(MAX_WEIGHT),
            _ => MAX_WEIGHT - (inp.u8() as u32),
        };
        let repeat = 1 + (inp.u8() % 64) as usize * 20;
        for _ in 0..repeat {
            let want = if w > MAX_WEIGHT {
                Err(Error::WeightTooLarge)
            } else if total + w as u64 > MAX_TOTAL_WEIGHT as u64 {
                Err(Error::WeightOverflow)
            } else if live == 1100 {
                Err(Error::Full)
            } else {
                Ok(())
            };
            let got = match inp.u8() % 3 {
                0 => pool.add(w),
                1 => pool.add_with(w, Health::Down),
                _ => pool.add_backup(w),
            };
            assert_eq!(got.map(|_| ()), want, "add {w}, total {total}, live {live}");
            if let Ok(id) = got {
                total += w as u64;
                live += 1;
                ids.push(id);
            }
            assert_eq!(pool.total_weight() as u64, total);
        }
        if let Some(&id) = ids.get(inp.u16() as usize % ids.len().max(1)) {
            let w = inp.u32_near(MAX_WEIGHT);
            let old = pool.info(id).unwrap().weight as u64;
            let want = if w > MAX_WEIGHT {
                Err(Error::WeightTooLarge)
            } else if total - old + w as u64 > MAX_TOTAL_WEIGHT as u64 {
                Err(Error::WeightOverflow)
            } else {
                Ok(())
            };
            assert_eq!(pool.set_weight(id, w), want, "set_weight {w}");
            if want.is_ok() {
                total = total - old + w as u64;
            }
            let cap = match inp.u8() % 3 {
                0 => None,
                _ => Some(inp.u32_near(1)),
            };
            let want = if cap == Some(0) {
                Err(Error::ZeroCap)
            } else {
                Ok(())
            };
            assert_eq!(pool.set_cap(id, cap), want, "set_cap {cap:?}");
            if want.is_ok() {
                let got = pool.info(id).unwrap().cap;
                assert_eq!(got, cap.filter(|&c| c != u32::MAX), "cap read back");
            }
        }
        assert_eq!(pool.total_weight() as u64, total);
    }
}

/// The names and aliases the `Strategy` docs list, with their canonical names.
const ALIASES: &[(&str, &str)] = &[
    ("round_robin", "round_robin"),
    ("rr", "round_robin"),
    ("roundrobin", "round_robin"),
    ("static_rr", "round_robin"),
    ("weighted_round_robin", "weighted_round_robin"),
    ("wrr", "weighted_round_robin"),
    ("weighted_rr", "weighted_round_robin"),
    ("least_conn", "least_conn"),
    ("least_connections", "least_conn"),
    ("leastconn", "least_conn"),
    ("least_time", "least_time"),
    ("least_response_time", "least_time"),
    ("lrt", "least_time"),
    ("random", "random"),
    ("maglev", "maglev"),
    ("ring", "maglev"),
    ("ring_hash", "maglev"),
    ("consistent", "maglev"),
    ("consistent_hash", "maglev"),
    ("rendezvous", "rendezvous"),
    ("hrw", "rendezvous"),
    ("highest_random_weight", "rendezvous"),
    ("jump", "jump"),
    ("jump_hash", "jump"),
    ("jump_consistent_hash", "jump"),
    ("bounded_load", "bounded_load"),
    ("consistent_bounded_load", "bounded_load"),
    ("chbl", "bounded_load"),
    ("p2c", "p2c"),
    ("power_of_two", "p2c"),
    ("least_request", "p2c"),
    ("random_2", "p2c"),
    // accepted by the parser although the docs' table does not list it (HAProxy's spelling)
    ("random(2)", "p2c"),
    ("peak_ewma", "peak_ewma"),
    ("p2c_ewma", "peak_ewma"),
    ("p2c_peak_ewma", "peak_ewma"),
    ("ewma", "peak_ewma"),
];

/// The documented normalisation: surrounding whitespace trimmed, ASCII case ignored, `-`
/// and ` ` read as `_`.
fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn strategy_name(inp: &mut Input<'_>) {
    let seed = inp.u64();
    let mode = inp.u8();
    let raw = inp.bytes(48);
    let name: String = if mode.is_multiple_of(2) {
        // a known name, mangled the ways the docs allow (and some they do not)
        let (alias, _) = ALIASES[raw.first().copied().unwrap_or(0) as usize % ALIASES.len()];
        let mut s: String = alias
            .chars()
            .zip(raw.iter().skip(1).chain(core::iter::repeat(&0)))
            .map(|(c, &b)| match (c, b % 8) {
                ('_', 1) => '-',
                ('_', 2) => ' ',
                (c, 3) => c.to_ascii_uppercase(),
                (c, 4) if mode & 4 != 0 => char::from_u32(c as u32 + 1).unwrap_or(c),
                (c, _) => c,
            })
            .collect();
        if mode & 2 != 0 {
            s = format!("  {s}\t");
        }
        if mode & 8 != 0 {
            s.push('x');
        }
        s
    } else {
        String::from_utf8_lossy(raw).into_owned()
    };
    let norm = normalise(&name);
    let want = ALIASES
        .iter()
        .find(|(a, _)| *a == norm)
        .map(|&(_, canon)| canon);
    let got = Strategy::<4, 251>::from_name(&name, seed);
    assert_eq!(got.as_ref().ok().map(|s| s.name()), want, "{name:?}");
    if let Ok(s) = got {
        assert!(Strategy::<4, 251>::NAMES.contains(&s.name()));
        let pool: Pool<4> = Pool::new();
        assert_eq!(s.select(&pool, &mut Request::new()), None);
        pool.add(1).unwrap();
        assert!(
            s.select(&pool, &mut Request::new().with_key(seed))
                .is_some()
        );
    }
    // without a Maglev table, or with a table size that is not prime, `maglev` is refused
    let no_table = Strategy::<4, 0>::from_name(&name, seed);
    assert_eq!(
        no_table.ok().map(|s| s.name()),
        want.filter(|&c| c != "maglev"),
        "{name:?} with M = 0"
    );
    let not_prime = Strategy::<4, 250>::from_name(&name, seed);
    assert_eq!(
        not_prime.ok().map(|s| s.name()),
        want.filter(|&c| c != "maglev"),
        "{name:?} with M = 250"
    );
}

fn bounded_load(inp: &mut Input<'_>) {
    let factor = inp.u32_near(100);
    let seed = inp.u64();
    let a = BoundedLoad::new(factor);
    let b = BoundedLoad::with_seed(factor, seed);
    let want = if factor < 100 {
        Some(Error::BalanceFactorTooLow)
    } else {
        None
    };
    assert_eq!(a.as_ref().err().copied(), want, "factor {factor}");
    assert_eq!(b.as_ref().err().copied(), want, "factor {factor}");
    let Ok(s) = b else { return };
    assert_eq!(s.factor_percent(), factor);
    let pool: Pool<4> = Pool::new();
    for _ in 0..4 {
        pool.add(1 + (inp.u8() % 4) as u32).unwrap();
    }
    let mut held = Vec::new();
    for _ in 0..16 {
        let key = inp.u8() as u64;
        let l = s
            .lease(&pool, &mut Request::new().with_key(key))
            .expect("uncapped backends are always eligible");
        held.push(l);
        // the bound (⌈c·(T+1)·w/W⌉ at pick time) is a property test's business; here:
        // no panic, and nothing lost
    }
    drop(held);
    assert!((0..4).all(|i| pool.in_flight_at(i) == 0));
}

fn round_robin_start(inp: &mut Input<'_>) {
    let start = inp.u32_near(u32::MAX);
    let rr = RoundRobin::starting_at(start);
    let pool: Pool<8> = Pool::new();
    let n = 1 + inp.u8() as usize % 8;
    for _ in 0..n {
        pool.add(1).unwrap();
    }
    // any number of rounds from any start: every round of n picks visits each backend once
    for round in 0..(1 + inp.u8() % 4) {
        let mut seen = [false; 8];
        for _ in 0..n {
            let i = rr
                .select(&pool, &mut Request::new())
                .expect("all eligible")
                .index();
            assert!(!seen[i], "start {start}, round {round}: {i} twice");
            seen[i] = true;
        }
    }
}

fn hashes(inp: &mut Input<'_>) {
    let key = inp.u64();
    let buckets = inp.u32_near(u32::MAX);
    match hash::jump(key, buckets) {
        None => assert_eq!(buckets, 0),
        Some(b) => assert!(b < buckets, "jump({key}, {buckets}) = {b}"),
    }
    assert_eq!(hash::jump(key, buckets), hash::jump(key, buckets));
    let k: [u8; 8] = inp.u64().to_le_bytes();
    let bytes = inp.bytes(usize::MAX);
    assert_eq!(hash::hash_bytes(bytes), hash::hash_bytes(bytes));
    assert_eq!(
        hash::hash_bytes_keyed(&k, bytes),
        hash::hash_bytes_keyed(&k, bytes)
    );
    assert_eq!(
        hash::hash_bytes(bytes),
        hash::hash_bytes_keyed(&hash::REFERENCE_KEY, bytes)
    );
}

fn maglev(inp: &mut Input<'_>) {
    let seed = inp.u64();
    assert_eq!(
        Maglev::<8, 1000>::try_with_seed(seed).err(),
        Some(Error::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<8, 0>::try_with_seed(seed).err(),
        Some(Error::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<8, 7>::try_with_seed(seed).err(),
        Some(Error::TableTooSmall)
    );
    let m = Maglev::<4, 13>::try_with_seed(seed).expect("13 is a prime >= 4");
    let pool: Pool<4> = Pool::new();
    for _ in 0..(inp.u8() % 5) {
        pool.add(1 + (inp.u8() % 3) as u32).unwrap();
    }
    let _ = m.select(&pool, &mut Request::new().with_key(inp.u64()));
    if let Some(i) = m.lookup(inp.u64()) {
        assert!(i < 4 && !pool.is_empty(), "lookup -> {i}");
    }
    let pos = inp.u64() as usize;
    match m.table_entry(pos) {
        Some(i) => assert!(pos < 13 && i < 4, "entry {pos} -> {i}"),
        None => assert!(pos >= 13 || pool.is_empty(), "entry {pos} of a built table"),
    }
}

fn indices_and_times(inp: &mut Input<'_>) {
    let pool: Pool<4> = Pool::with_half_life_ms(inp.u32_near(5000));
    pool.add(1).unwrap();
    pool.add(2).unwrap();
    for _ in 0..8 {
        let i = match inp.u8() % 3 {
            0 => inp.u64() as usize,
            1 => usize::MAX - inp.u8() as usize,
            _ => inp.u8() as usize,
        };
        let _ = pool.in_flight_at(i);
        let _ = pool.is_eligible(i);
        let id = pool.id_at(i);
        assert_eq!(id.is_some(), i < 2, "id_at({i})");
        if i >= 4 {
            assert_eq!(pool.in_flight_at(i), 0);
            assert!(!pool.is_eligible(i));
        }
    }
    let strategies: Vec<Strategy<4, 251>> = Strategy::<4, 251>::NAMES
        .iter()
        .map(|n| Strategy::from_name(n, 3).unwrap())
        .collect();
    for s in &strategies {
        let now = inp.u64();
        if let Some(l) = s.lease(&pool, &mut Request::new().at_us(now)) {
            let latency = inp.u64();
            let done = inp.u64();
            l.finish(Outcome::success(latency, done));
        }
    }
    assert!((0..4).all(|i| pool.in_flight_at(i) == 0));
}
