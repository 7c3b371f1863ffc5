//! The rows of the bad-input table (every public function that takes a number or an index
//! from the user) that no other test covered: `add_backup`'s refusals, `set_backup` with an
//! id that names nothing, a cap of `u32::MAX`, index arguments out of range, `jump` with no
//! buckets, and extreme seeds and cursors. Every refused call must return the exact error
//! and change nothing; every accepted extreme must leave a pool that still picks.

#![allow(clippy::indexing_slicing)]

use super::snapshot;
use core::num::NonZeroU32;
use tinylb::{
    Backend, BackendError, BoundedLoad, Health, Jump, Lease, LeastConn, LeastTime, MAX_WEIGHT,
    Maglev, PeakEwma, Pool, PowerOfTwo, Random, Rendezvous, Request, RoundRobin, Select, SelectExt,
    Strategy, WeightedRoundRobin, hash,
};

/// `add_backup(weight)`: `WeightTooLarge` above `MAX_WEIGHT`, `Full` without a free slot,
/// nothing changed either way.
#[test]
fn add_backup_refuses_like_add() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    let before = snapshot(&pool, &[]);
    for w in [MAX_WEIGHT + 1, 1 << 31, u32::MAX] {
        assert_eq!(
            pool.add_backend(Backend::new(w).backup()),
            Err(BackendError::WeightTooLarge),
            "{w}"
        );
        assert_eq!(snapshot(&pool, &[]), before);
    }
    let b = pool.add_backend(Backend::new(MAX_WEIGHT).backup()).unwrap();
    assert!(pool.info(b).unwrap().backup);
    let before = snapshot(&pool, &[]);
    assert_eq!(
        pool.add_backend(Backend::new(1).backup()),
        Err(BackendError::Full)
    );
    assert_eq!(
        pool.add_backend(Backend::new(0).backup()),
        Err(BackendError::Full)
    );
    assert_eq!(snapshot(&pool, &[]), before);
    // the primary is picked while it is eligible; the backup once it is not
    let rr = RoundRobin::new();
    assert_eq!(rr.select(&pool, &mut Request::new()), Some(a));
    pool.set_health(a, Health::Down).unwrap();
    assert_eq!(rr.select(&pool, &mut Request::new()), Some(b));
}

/// `add_backup(weight)` past `MAX_TOTAL_WEIGHT`: `WeightOverflow` (1024 backends of
/// `MAX_WEIGHT` fill the total but for 1023). Too slow under miri (1100-slot pool).
#[cfg(not(miri))]
#[test]
fn add_backup_past_the_total_weight() {
    let pool: Box<Pool<1100>> = Box::new(Pool::new());
    for _ in 0..1024 {
        pool.add_backend(Backend::new(MAX_WEIGHT).backup()).unwrap();
    }
    let before = snapshot(&*pool, &[]);
    assert_eq!(
        pool.add_backend(Backend::new(1024).backup()),
        Err(BackendError::WeightOverflow)
    );
    assert_eq!(snapshot(&*pool, &[]), before);
    pool.add_backend(Backend::new(1023).backup()).unwrap();
    assert_eq!(pool.total_weight(), tinylb::MAX_TOTAL_WEIGHT);
    assert_eq!(
        pool.add_backend(Backend::new(1).backup()),
        Err(BackendError::WeightOverflow)
    );
}

/// `set_backup(id, _)`: `Stale` for a removed backend's id (its slot drained or reused),
/// `NoSuchBackend` for an id beyond the pool or on an empty slot; nothing changed.
#[test]
fn set_backup_with_an_id_that_names_nothing() {
    let big: Pool<8> = Pool::new();
    let far: Vec<_> = (0..8).map(|_| big.add(1).unwrap()).collect();
    let pool: Pool<4> = Pool::new();
    let a = pool.add(1).unwrap();
    let gone = pool.add(2).unwrap();
    let held = pool.add(3).unwrap();
    let lease = Lease::acquire(&pool, held).unwrap();
    pool.remove(gone).unwrap();
    pool.remove(held).unwrap();
    let reused = pool.add(4).unwrap();
    assert_eq!(reused.index(), gone.index());
    let before = snapshot(&pool, &[]);
    for id in [gone, held] {
        for b in [true, false] {
            assert_eq!(pool.set_backup(id, b), Err(BackendError::Stale), "{id:?}");
            assert_eq!(snapshot(&pool, &[]), before);
        }
    }
    // slot 3 is empty; 4..8 are beyond the pool
    for &id in &far[3..] {
        assert_eq!(
            pool.set_backup(id, true),
            Err(BackendError::NoSuchBackend),
            "{id:?}"
        );
        assert_eq!(snapshot(&pool, &[]), before);
    }
    assert!(!pool.info(a).unwrap().backup);
    assert!(!pool.info(reused).unwrap().backup);
    drop(lease);
}

/// `set_cap(id, Some(u32::MAX))` is accepted and means "no cap": it reads back as `None`
/// (`u32::MAX` is the crate's "uncapped" value), and leases are never refused by it.
#[test]
fn cap_of_u32_max_is_no_cap() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    pool.set_cap(a, NonZeroU32::new(u32::MAX)).unwrap();
    assert_eq!(pool.info(a).unwrap().cap, None);
    pool.set_cap(a, NonZeroU32::new(u32::MAX - 1)).unwrap();
    assert_eq!(
        pool.info(a).unwrap().cap,
        None,
        "a cap >= MAX_IN_FLIGHT is no cap"
    );
    pool.set_cap(a, NonZeroU32::new(tinylb::MAX_IN_FLIGHT - 1))
        .unwrap();
    assert_eq!(
        pool.info(a).unwrap().cap,
        NonZeroU32::new(tinylb::MAX_IN_FLIGHT - 1)
    );
    pool.set_cap(a, NonZeroU32::new(1)).unwrap();
    let l = Lease::acquire(&pool, a).unwrap();
    assert!(Lease::acquire(&pool, a).is_none(), "at its cap of 1");
    pool.set_cap(a, NonZeroU32::new(u32::MAX)).unwrap();
    let m = Lease::acquire(&pool, a).expect("uncapped again");
    assert_eq!(pool.in_flight_at(0), 2);
    drop((l, m));
}

/// Index arguments out of range: `Pool::id_at`, `in_flight_at`, `is_eligible` (`None`, 0,
/// `false`) and `Maglev::table_entry` (`None` at or past `M`), with no panic; and
/// `Maglev::lookup` with any key.
#[test]
fn index_arguments_out_of_range() {
    let pool: Pool<4> = Pool::new();
    for _ in 0..4 {
        pool.add(1).unwrap();
    }
    let _l = Lease::acquire(&pool, pool.id_at(3).unwrap()).unwrap();
    for i in [4, 5, 64, usize::MAX / 2, usize::MAX - 1, usize::MAX] {
        assert_eq!(pool.id_at(i), None, "{i}");
        assert_eq!(pool.in_flight_at(i), 0, "{i}");
        assert!(!pool.is_eligible(i, 0), "{i}");
    }
    assert_eq!(pool.in_flight_at(3), 1);
    let m: Maglev<4, 13> = Maglev::new();
    assert_eq!(m.table_entry(0), None, "not built yet");
    assert!(m.refresh(&pool));
    assert!((0..13).all(|p| m.table_entry(p).is_some_and(|i| i < 4)));
    for p in [13, 14, usize::MAX] {
        assert_eq!(m.table_entry(p), None, "{p}");
    }
    // `lookup` takes any key: a slot of the pool once built, `None` before
    for key in [0, 1, u64::MAX, 1 << 63] {
        assert!(m.lookup(key).is_some_and(|i| i < 4), "{key}");
        assert_eq!(Maglev::<4, 13>::new().lookup(key), None, "{key}");
    }
}

/// `hash::jump(key, buckets)`: `None` for 0 buckets, else a bucket below `buckets`, up to
/// `u32::MAX` buckets.
#[test]
fn jump_with_no_buckets_and_the_most() {
    for key in [0, 1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
        assert_eq!(hash::jump(key, 0), None);
        assert_eq!(hash::jump(key, 1), Some(0));
        for buckets in [2, 1 << 31, u32::MAX] {
            let b = hash::jump(key, buckets).unwrap();
            assert!(b < buckets, "jump({key}, {buckets}) = {b}");
        }
    }
}

/// Leases per strategy and seeds per constructor (fewer under miri, which interprets each
/// pick about a thousand times slower).
const LEASES: u64 = if cfg!(miri) { 24 } else { 200 };
const SEEDS: &[u64] = if cfg!(miri) {
    &[u64::MAX]
} else {
    &[0, 1, u64::MAX, 1 << 63]
};

/// Seeds and cursors take any value: `with_seed(0)` and `with_seed(u64::MAX)` for every
/// seeded strategy, `RoundRobin::starting_at` at the `u32` limits, `Strategy::from_name`
/// with any seed; each then picks every backend of a small pool.
#[test]
fn any_seed_or_start_is_accepted() {
    let pool: Pool<4> = Pool::new();
    for w in [1, 2, 3, 4] {
        pool.add(w).unwrap();
    }
    fn covers<S: Select<4>>(s: &S, pool: &Pool<4>, what: &str) {
        // leases are held, so load-aware strategies spread too
        let mut held = Vec::new();
        for k in 0..LEASES {
            let mut req = Request::new().with_key(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            held.push(s.lease(pool, &mut req).unwrap_or_else(|| panic!("{what}")));
        }
        let mut seen = [false; 4];
        for l in &held {
            seen[l.index()] = true;
        }
        if crate::support::is_sticky(what) {
            // no caps, nothing down: every lease on the one backend it sticks to
            assert_eq!(seen.iter().filter(|&&s| s).count(), 1, "{what}: {seen:?}");
        } else {
            assert!(seen.iter().all(|&s| s), "{what}: {seen:?}");
        }
    }
    for &seed in SEEDS {
        covers(&WeightedRoundRobin::<4>::with_seed(seed), &pool, "wrr");
        covers(&LeastConn::with_seed(seed), &pool, "least_conn");
        covers(&LeastTime::with_seed(seed), &pool, "least_time");
        covers(&Random::with_seed(seed), &pool, "random");
        covers(&PowerOfTwo::with_seed(seed), &pool, "p2c");
        covers(&PeakEwma::with_seed(seed), &pool, "peak_ewma");
        covers(&Maglev::<4, 251>::with_seed(seed), &pool, "maglev");
        covers(&Rendezvous::with_seed(seed), &pool, "rendezvous");
        covers(&Jump::with_seed(seed), &pool, "jump");
        covers(&BoundedLoad::with_seed(100, seed).unwrap(), &pool, "chbl");
        covers(
            &BoundedLoad::with_seed(tinylb::strategy::DEFAULT_BALANCE_FACTOR, seed).unwrap(),
            &pool,
            "chbl 125",
        );
        for name in Strategy::<4, 251>::NAMES {
            covers(
                &Strategy::<4, 251>::from_name(name, seed).unwrap(),
                &pool,
                name,
            );
        }
    }
    for start in [0, 1, (1 << 31) - 1, 1 << 31, u32::MAX - 1, u32::MAX] {
        let rr = RoundRobin::starting_at(start);
        let got: Vec<usize> = (0..8)
            .map(|_| rr.select(&pool, &mut Request::new()).unwrap().index())
            .collect();
        for i in 0..4 {
            assert_eq!(
                got.iter().filter(|&&g| g == i).count(),
                2,
                "{start}: {got:?}"
            );
        }
    }
}
