//! The checks of the `config` target, one function per [`Check`](super::Check) variant.

use core::time::Duration;
use std::vec::Vec;

use tinylb::strategy::{DEFAULT_BALANCE_FACTOR, STRATEGY_NAMES};
use tinylb::{
    Backend, BackendError, BoundedLoad, Config, ConfigError, Health, Lease, MAX_IN_FLIGHT,
    MAX_TOTAL_WEIGHT, MAX_WEIGHT, Maglev, Outcome, Pool, Request, RoundRobin, Select, SelectExt,
    Strategy, TableError, hash,
};

use super::{AddVia, Clock, Drive, Index, Latency, WeightRound};

/// Every error the documentation says this config deserves (empty: it is valid).
fn config_errors(c: &Config) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    if let Some(s) = c.slow_start
        && (s.window_ms == 0 || !(1..=8).contains(&s.aggression) || s.min_weight_percent > 100)
    {
        errs.push(ConfigError::InvalidSlowStart);
    }
    if let Some(e) = c.ejection
        && (e.consecutive_failures == 0
            || e.base_ms == 0
            || e.max_ms < e.base_ms
            || e.max_ms >= 1 << 31
            || e.max_ejection_percent > 100
            || e.interval_ms == 0)
    {
        errs.push(ConfigError::InvalidEjection);
    }
    if c.panic_threshold_percent > 100 || c.failure_penalty_percent > 10_000 {
        errs.push(ConfigError::InvalidPercent);
    }
    errs
}

/// One strategy per row of `STRATEGY_NAMES`, parsed from its canonical name.
pub(super) fn every_strategy<const N: usize>(seed: u64) -> Vec<Strategy<N, 251>> {
    STRATEGY_NAMES
        .iter()
        .map(|row| Strategy::from_name(row.name, seed).expect("every canonical name parses"))
        .collect()
}

pub(super) fn config(c: Config, drive_with: &Drive) {
    let errs = config_errors(&c);
    let got = Pool::<4>::with_config(c);
    match (&got, errs.is_empty()) {
        (Ok(_), true) => {}
        // the docs list the errors, not an order among them
        (Err(e), false) => assert!(errs.contains(e), "{c:?}: {e:?}, expected one of {errs:?}"),
        (got, _) => panic!("{c:?}: {got:?}, expected {errs:?}"),
    }
    assert_eq!(c.validate().err(), got.as_ref().err().copied());
    if let Ok(pool) = got {
        drive(&pool, drive_with);
    }
}

/// Picks, leases and finishes with fuzzed latencies and clocks on a pool with fuzzed
/// weights: nothing panics, and every pick is a backend that is up, weighted and has room.
fn drive<const N: usize>(pool: &Pool<N>, d: &Drive) {
    for b in d.backends.iter().take(N) {
        let id = pool.add(b.weight).expect("room for N small backends");
        if b.cap.is_some() {
            pool.set_cap(id, b.cap)
                .expect("a cap of 1 to 3 on a current id");
        }
    }
    let strategies = every_strategy::<N>(7);
    let mut held = Vec::new();
    let mut now_us = d.start_us;
    for step in d.steps.iter().take(64) {
        let s = &strategies[step.strategy as usize % strategies.len()];
        now_us = match step.clock {
            Clock::Set(t) => t,
            Clock::Back(dt) => now_us.wrapping_sub(dt as u64),
            Clock::Forward(dt) => now_us.wrapping_add(dt as u64),
        };
        let mut req = Request::new().with_now_us(now_us).with_key(step.key);
        if let Some(l) = s.lease(pool, &mut req) {
            let info = pool.info(l.id()).expect("a leased backend is current");
            assert!(info.health == Health::Up && info.weight > 0, "{info:?}");
            assert!(
                info.cap.is_none_or(|c| info.in_flight <= c.get()),
                "{info:?}"
            );
            held.push(l);
        }
        if !held.is_empty() && (held.len() > N || step.release) {
            let l: Lease<&Pool<N>, N> = held.swap_remove(0);
            let latency = match step.latency {
                Latency::Duration(secs, nanos) => Duration::new(secs, nanos),
                Latency::Micros(us) => Duration::from_micros(us),
                Latency::SmallMicros(us) => Duration::from_micros(us as u64),
            };
            let o = if step.success {
                Outcome::success_after(latency).at_us(now_us)
            } else {
                Outcome::failure_after(latency).at_us(now_us)
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
pub(super) fn weights(rounds: &[WeightRound]) {
    let pool: Pool<1100> = Pool::new();
    let mut total: u64 = 0;
    let mut ids = Vec::new();
    let mut live = 0usize;
    for r in rounds.iter().take(64) {
        let w = r.weight;
        for k in 0..r.repeat as usize {
            let want = if w > MAX_WEIGHT {
                Err(BackendError::WeightTooLarge)
            } else if total + w as u64 > MAX_TOTAL_WEIGHT as u64 {
                Err(BackendError::WeightOverflow)
            } else if live == 1100 {
                Err(BackendError::Full)
            } else {
                Ok(())
            };
            let got = match r.via[k % r.via.len()] {
                AddVia::Add => pool.add(w),
                AddVia::AddDown => pool.add_backend(Backend::new(w).health(Health::Down)),
                AddVia::AddBackup => pool.add_backend(Backend::new(w).backup()),
            };
            assert_eq!(got.map(|_| ()), want, "add {w}, total {total}, live {live}");
            if let Ok(id) = got {
                total += w as u64;
                live += 1;
                ids.push(id);
            }
            assert_eq!(pool.total_weight() as u64, total);
        }
        if let Some(&id) = ids.get(r.target as usize % ids.len().max(1)) {
            let w = r.new_weight;
            let old = pool.info(id).unwrap().weight as u64;
            let want = if w > MAX_WEIGHT {
                Err(BackendError::WeightTooLarge)
            } else if total - old + w as u64 > MAX_TOTAL_WEIGHT as u64 {
                Err(BackendError::WeightOverflow)
            } else {
                Ok(())
            };
            assert_eq!(pool.set_weight(id, w), want, "set_weight {w}");
            if want.is_ok() {
                total = total - old + w as u64;
            }
            // every cap is valid; one at or above MAX_IN_FLIGHT reads back as none
            assert_eq!(pool.set_cap(id, r.cap), Ok(()), "set_cap {:?}", r.cap);
            let got = pool.info(id).unwrap().cap;
            let want = r.cap.filter(|c| c.get() < MAX_IN_FLIGHT);
            assert_eq!(got, want, "cap {:?} read back", r.cap);
        }
        assert_eq!(pool.total_weight() as u64, total);
    }
}

pub(super) fn bounded_load(factor: u32, seed: u64, weights: &[u32; 4], keys: &[u8; 16]) {
    let a = BoundedLoad::new(factor);
    let b = BoundedLoad::with_seed(factor, seed);
    let want = if factor < 100 {
        Some(ConfigError::BalanceFactorTooLow)
    } else {
        None
    };
    assert_eq!(a.as_ref().err().copied(), want, "factor {factor}");
    assert_eq!(b.as_ref().err().copied(), want, "factor {factor}");
    // the default factor, as `default()` and spelled out
    assert_eq!(
        BoundedLoad::default().factor_percent(),
        DEFAULT_BALANCE_FACTOR
    );
    let spelled = BoundedLoad::with_seed(DEFAULT_BALANCE_FACTOR, seed).expect("125 % is valid");
    assert_eq!(spelled.factor_percent(), DEFAULT_BALANCE_FACTOR);
    let Ok(s) = b else { return };
    assert_eq!(s.factor_percent(), factor);
    let pool: Pool<4> = Pool::new();
    for &w in weights {
        pool.add(w).unwrap();
    }
    let mut held = Vec::new();
    for &key in keys {
        let l = s
            .lease(&pool, &mut Request::new().with_key(key as u64))
            .expect("uncapped backends are always eligible");
        held.push(l);
        // the bound (⌈c·(T+1)·w/W⌉ at pick time) is a property test's business; here:
        // no panic, and nothing lost
    }
    drop(held);
    assert!((0..4).all(|i| pool.in_flight_at(i) == 0));
}

/// Any start: every round of n picks visits each of n backends once.
pub(super) fn round_robin(start: u32, n: u32, rounds: u32) {
    let rr = RoundRobin::starting_at(start);
    let pool: Pool<8> = Pool::new();
    for _ in 0..n {
        pool.add(1).unwrap();
    }
    for round in 0..rounds {
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

pub(super) fn hashes(key: u64, buckets: u32, k: &[u8; 8], bytes: &[u8]) {
    match hash::jump(key, buckets) {
        None => assert_eq!(buckets, 0),
        Some(b) => assert!(b < buckets, "jump({key}, {buckets}) = {b}"),
    }
    assert_eq!(hash::jump(key, buckets), hash::jump(key, buckets));
    assert_eq!(hash::hash_bytes(bytes), hash::hash_bytes(bytes));
    assert_eq!(
        hash::hash_bytes_keyed(k, bytes),
        hash::hash_bytes_keyed(k, bytes)
    );
    assert_eq!(
        hash::hash_bytes(bytes),
        hash::hash_bytes_keyed(&hash::REFERENCE_KEY, bytes)
    );
}

pub(super) fn maglev(seed: u64, weights: &[u32], key: u64, lookup: u64, pos: u64) {
    assert_eq!(
        Maglev::<8, 1000>::try_with_seed(seed).err(),
        Some(TableError::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<8, 0>::try_with_seed(seed).err(),
        Some(TableError::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<8, 7>::try_with_seed(seed).err(),
        Some(TableError::TableTooSmall)
    );
    let m = Maglev::<4, 13>::try_with_seed(seed).expect("13 is a prime >= 4");
    let pool: Pool<4> = Pool::new();
    for &w in weights {
        pool.add(w).unwrap();
    }
    // every backend is up and uncapped: a pick finds one exactly when there is one
    let got = m.select(&pool, &mut Request::new().with_key(key));
    assert_eq!(got.is_some(), !pool.is_empty(), "select on {weights:?}");
    // the pick built the table: with backends every entry names one of them, without any
    // none does
    let pos = pos as usize;
    let (home, entry) = (m.lookup(lookup), m.table_entry(pos));
    let n = weights.len();
    if n == 0 {
        assert_eq!(
            (home, entry),
            (None, None),
            "lookup, entry {pos} of an empty pool"
        );
    } else {
        assert!(home.is_some_and(|i| i < n), "lookup -> {home:?} of {n}");
        assert_eq!(entry.is_some(), pos < 13, "entry {pos} -> {entry:?}");
        assert!(
            entry.is_none_or(|i| i < n),
            "entry {pos} -> {entry:?} of {n}"
        );
    }
}

pub(super) fn indices_and_times(
    half_life_ms: u32,
    indices: &[Index; 8],
    times: &[(u64, u64, u64)],
) {
    let pool: Pool<4> = Pool::with_half_life_ms(half_life_ms);
    pool.add(1).unwrap();
    pool.add(2).unwrap();
    for i in indices.iter().map(|i| i.get()) {
        // nothing is leased yet, and both backends are up, weighted, uncapped primaries: at
        // any clock, each is a candidate of the first view
        let now_us = times[i % times.len()].0;
        assert_eq!(pool.in_flight_at(i), 0, "in_flight_at({i})");
        assert_eq!(
            pool.is_eligible(i, now_us),
            i < 2,
            "is_eligible({i}, {now_us})"
        );
        assert_eq!(pool.id_at(i).is_some(), i < 2, "id_at({i})");
    }
    let strategies = every_strategy::<4>(3);
    assert!(
        strategies.len() <= times.len(),
        "a clock for every strategy"
    );
    for (s, &(now, latency, done)) in strategies.iter().zip(times) {
        if let Some(l) = s.lease(&pool, &mut Request::new().with_now_us(now)) {
            l.finish(Outcome::success_after(Duration::from_micros(latency)).at_us(done));
        }
    }
    assert!((0..4).all(|i| pool.in_flight_at(i) == 0));
}
