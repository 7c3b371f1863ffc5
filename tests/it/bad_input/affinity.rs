//! Bad input to the hashing strategies: every refused constructor returns its exact
//! [`Error`] variant; picks with nothing eligible return `None` and change nothing in the
//! pool; `maglev` fails to parse for an enum whose table size cannot work.
#![allow(clippy::indexing_slicing)]

use super::snapshot;
use core::num::NonZeroU32;
use tinylb::{
    BoundedLoad, ConfigError, Health, Jump, Lease, Maglev, ParseReason, ParseStrategyError, Pool,
    Rendezvous, Request, Select, SelectExt, Strategy, TableError,
};

#[test]
fn maglev_table_size_not_prime() {
    assert_eq!(
        Maglev::<4, 0>::try_new().err(),
        Some(TableError::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<1, 1>::try_new().err(),
        Some(TableError::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<4, 1000>::try_new().err(),
        Some(TableError::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<4, 65535>::try_new().err(),
        Some(TableError::TableSizeNotPrime)
    );
    // 8633 = 89 · 97: no small factor
    assert_eq!(
        Maglev::<4, 8633>::try_new().err(),
        Some(TableError::TableSizeNotPrime)
    );
    assert_eq!(
        Maglev::<4, 65537>::try_with_seed(3).err(),
        None,
        "65537 is prime"
    );
}

#[test]
fn maglev_table_smaller_than_the_pool() {
    assert_eq!(
        Maglev::<8, 7>::try_new().err(),
        Some(TableError::TableTooSmall)
    );
    assert_eq!(
        Maglev::<64, 61>::try_new().err(),
        Some(TableError::TableTooSmall)
    );
    // equal is allowed (every backend can still get an entry), if useless for balance
    assert!(Maglev::<7, 7>::try_new().is_ok());
    assert!(Maglev::<1, 2>::try_new().is_ok());
}

#[test]
#[cfg_attr(target_family = "wasm", ignore = "needs a thread with a large stack")]
fn maglev_pool_too_large() {
    // the struct is ~400 KiB: build it on a thread with room
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            assert_eq!(
                Maglev::<32768, 2>::try_new().err(),
                Some(TableError::PoolTooLarge)
            );
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn balance_factor_below_100() {
    for f in [0, 1, 50, 99] {
        assert_eq!(
            BoundedLoad::new(f).err(),
            Some(ConfigError::BalanceFactorTooLow),
            "{f}"
        );
        assert_eq!(
            BoundedLoad::with_seed(f, 9).err(),
            Some(ConfigError::BalanceFactorTooLow)
        );
    }
    assert_eq!(BoundedLoad::new(100).unwrap().factor_percent(), 100);
    assert_eq!(
        BoundedLoad::new(u32::MAX).unwrap().factor_percent(),
        u32::MAX
    );
}

#[test]
fn errors_display_distinct_messages() {
    let all: [&dyn core::error::Error; 4] = [
        &TableError::TableSizeNotPrime,
        &TableError::TableTooSmall,
        &TableError::PoolTooLarge,
        &ConfigError::BalanceFactorTooLow,
    ];
    let msgs: Vec<String> = all.iter().map(|e| e.to_string()).collect();
    // a refused number names its limit
    assert!(msgs[2].contains("32767"), "{}", msgs[2]);
    for (i, m) in msgs.iter().enumerate() {
        assert!(!m.is_empty());
        assert!(msgs[..i].iter().all(|o| o != m), "{m}");
        assert!(all[i].source().is_none());
    }
}

#[test]
fn maglev_name_refused_when_the_enum_table_cannot_work() {
    fn parse<const N: usize, const M: usize>(name: &str) -> Result<&'static str, ParseReason> {
        name.parse::<Strategy<N, M>>()
            .map(|s| s.name())
            .map_err(|e: ParseStrategyError| e.reason())
    }
    assert_eq!(parse::<8, 0>("maglev"), Err(ParseReason::NoMaglevTable));
    assert_eq!(parse::<8, 1000>("ring"), Err(ParseReason::NoMaglevTable));
    assert_eq!(parse::<8, 7>("consistent"), Err(ParseReason::NoMaglevTable));
    // the other names still parse with any table size
    assert_eq!(parse::<8, 0>("rendezvous"), Ok("rendezvous"));
    assert_eq!(parse::<8, 0>("jump"), Ok("jump"));
    assert_eq!(parse::<8, 0>("bounded_load"), Ok("bounded_load"));
    assert_eq!(parse::<8, 1031>("Ring-Hash"), Ok("maglev"));
    assert_eq!(parse::<8, 8191>("HRW"), Ok("rendezvous"));
    assert_eq!(parse::<8, 8191>("jump_consistent_hash"), Ok("jump"));
    assert_eq!(parse::<8, 8191>("CHBL"), Ok("bounded_load"));
    for bad in [
        "maglev2",
        "maglev:65537",
        "bounded_load(150)",
        "rendezvous_",
        "jumphash",
    ] {
        assert_eq!(parse::<8, 8191>(bad), Err(ParseReason::Unknown), "{bad}");
    }
}

/// Every hashing strategy, with and without a key, with `select` and `lease`, finds nothing
/// and leaves the pool as it was.
fn assert_nothing_pickable(pool: &Pool<8>) {
    let before = snapshot(pool, &[]);
    let maglev: Maglev<8, 1031> = Maglev::new();
    let hrw = Rendezvous::new();
    let jump = Jump::new();
    let chbl = BoundedLoad::new(125).unwrap();
    let enums: Vec<Strategy<8>> = ["maglev", "rendezvous", "jump", "bounded_load"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let mut all: Vec<&dyn Select<8>> = vec![&maglev, &hrw, &jump, &chbl];
    all.extend(enums.iter().map(|s| s as &dyn Select<8>));
    for s in all {
        for key in [None, Some(0), Some(42), Some(u64::MAX)] {
            let mut req = match key {
                Some(k) => Request::new().with_key(k),
                None => Request::new(),
            };
            assert_eq!(s.select(pool, &mut req), None, "{s:p} key {key:?}");
            assert!(s.lease(pool, &mut req).is_none());
        }
    }
    assert_eq!(snapshot(pool, &[]), before);
}

#[test]
fn empty_pool() {
    let pool: Pool<8> = Pool::new();
    assert_nothing_pickable(&pool);
    // a Maglev table over an empty pool has no entries
    let m: Maglev<8, 1031> = Maglev::new();
    assert!(!m.refresh(&pool));
    assert_eq!(m.table_entry(0), None);
    assert_eq!(m.table_entry(5000), None);
}

#[test]
fn every_backend_removed() {
    let pool: Pool<8> = Pool::new();
    let ids: Vec<_> = (0..5).map(|_| pool.add(2).unwrap()).collect();
    for id in ids {
        pool.remove(id).unwrap();
    }
    assert_nothing_pickable(&pool);
}

#[test]
fn every_backend_down_draining_zero_or_capped() {
    let pool: Pool<8> = Pool::new();
    let a = pool.add(3).unwrap();
    let b = pool.add(1).unwrap();
    let _c = pool.add(0).unwrap();
    let d = pool.add(5).unwrap();
    pool.set_health(a, Health::Down).unwrap();
    pool.set_health(b, Health::Draining).unwrap();
    pool.set_cap(d, NonZeroU32::new(2)).unwrap();
    let held: Vec<_> = (0..2).map(|_| Lease::acquire(&pool, d).unwrap()).collect();
    assert_nothing_pickable(&pool);
    drop(held);
    // one lease given back: d is the only choice for every key
    let maglev: Maglev<8, 1031> = Maglev::new();
    for k in 0..100 {
        let mut req = Request::new().with_key(k);
        assert_eq!(maglev.select(&pool, &mut req), Some(d));
        assert_eq!(Rendezvous::new().select(&pool, &mut req), Some(d));
        assert_eq!(Jump::new().select(&pool, &mut req), Some(d));
        assert_eq!(
            BoundedLoad::new(100).unwrap().select(&pool, &mut req),
            Some(d)
        );
    }
}

#[test]
fn extreme_factor_and_loads_do_not_overflow() {
    let pool: Pool<4> = Pool::new();
    let a = pool.add(tinylb::MAX_WEIGHT).unwrap();
    let _b = pool.add(1).unwrap();
    let held: Vec<_> = (0..1000)
        .map(|_| Lease::acquire(&pool, a).unwrap())
        .collect();
    for f in [100, 101, u32::MAX] {
        let s = BoundedLoad::new(f).unwrap();
        for k in 0..50 {
            assert!(s.select(&pool, &mut Request::new().with_key(k)).is_some());
        }
    }
    drop(held);
}
