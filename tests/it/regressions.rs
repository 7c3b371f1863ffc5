//! Regression tests: each reproduces a bug that the property tests, the stress test or the
//! fuzz model found, and failed before its fix.
#![allow(clippy::indexing_slicing)]

use core::num::NonZeroU32;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::thread;

use crate::support::{Spec, build_pool};
use tinylb::{
    Backend, BackendError, Lease, Outcome, Pool, Request, RoundRobin, Select, Strategy,
    WeightedRoundRobin,
};

/// Weighted round robin: with the heaviest backend at its cap, `select` returned `None` on
/// every third pick although backends 1 and 2 are eligible.
#[test]
fn wrr_some_while_a_backend_is_eligible() {
    let pool: Pool<4> = Pool::new();
    let a = pool.add(5).unwrap();
    pool.add(1).unwrap();
    pool.add(1).unwrap();
    pool.set_cap(a, NonZeroU32::new(1)).unwrap();
    let _held = Lease::acquire(&pool, a).unwrap();
    let wrr = WeightedRoundRobin::<4>::new();
    let got: Vec<Option<usize>> = (0..9)
        .map(|_| wrr.select(&pool, &mut Request::new()).map(|id| id.index()))
        .collect();
    assert!(got.iter().all(Option::is_some), "{got:?}");
}

/// Round robin from two threads: a pick could come back `None` although four of seven backends
/// are eligible all the time.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn rr_some_under_contention() {
    let pool: Pool<8> = Pool::new();
    let specs = [
        Spec::Up(1),
        Spec::Down(1),
        Spec::Up(3),
        Spec::Zero,
        Spec::Up(1),
        Spec::AtCap(2, 1),
        Spec::Up(1),
    ];
    let _held = build_pool(&pool, &specs);
    let rr = RoundRobin::new();
    let nones: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut req = Request::new();
                    (0..1_000_000)
                        .filter(|_| rr.select(&pool, &mut req).is_none())
                        .count()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(nones, 0, "{nones} picks of 2 000 000 returned None");
}

/// A seeded weighted round robin divided by zero when it first picked from a pool that never
/// had a backend (its start phase was taken modulo zero).
#[test]
fn seeded_wrr_on_a_pool_that_never_had_a_backend() {
    let pool: Pool<4> = Pool::new();
    let wrr = WeightedRoundRobin::<4>::with_seed(1);
    assert_eq!(wrr.select(&pool, &mut Request::new()), None);
    let a = pool.add(3).unwrap();
    assert_eq!(wrr.select(&pool, &mut Request::new()), Some(a));
}

/// `Pool::id_at` (and `ids`) missed a live backend while another thread changed its weight:
/// it compared the whole config word instead of the occupant's generation.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn id_at_sees_a_backend_whose_weight_is_changing() {
    use core::sync::atomic::AtomicBool;
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut w = 1;
            while !stop.load(Ordering::Relaxed) {
                w = 3 - w;
                pool.set_weight(a, w).unwrap();
            }
        });
        for _ in 0..200_000 {
            assert_eq!(pool.id_at(0), Some(a));
            assert_eq!(pool.ids().len(), 1);
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// With every primary ejected and a healthy backup, the backup takes the traffic: the panic
/// threshold once sent it to the ejected primaries instead, since backups counted in the
/// healthy share and the primary tier was tried first. (By Envoy's arithmetic the levels
/// together are fully available, so there is no panic at all.)
#[test]
fn panic_spills_to_healthy_backups_first() {
    use tinylb::LeastConn;
    let pool: Pool<8> = Pool::with_config(crate::support::eject_on_first_failure()).unwrap();
    let primaries: Vec<_> = (0..3).map(|_| pool.add(1).unwrap()).collect();
    let backup = pool.add_backend(Backend::new(1).backup()).unwrap();
    for &p in &primaries {
        Lease::acquire(&pool, p)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000_000));
    }
    assert_eq!(pool.ejected_count(), 3);
    assert!(!pool.in_panic());
    let lc = LeastConn::new();
    for _ in 0..20 {
        let got = lc.select(&pool, &mut Request::new().with_now_us(2_000_000));
        assert_eq!(got, Some(backup));
    }
    // without a pickable backup, panic picks the ejected primaries again
    pool.set_health(backup, tinylb::Health::Down).unwrap();
    assert!(pool.in_panic());
    let got = lc
        .select(&pool, &mut Request::new().with_now_us(2_000_000))
        .unwrap();
    assert!(primaries.contains(&got));
}

/// `Pool::remove` once moved the generation on after publishing the slot as removed, so a
/// racing `add` could reuse the slot in between and hand out an id that was stale at once
/// (and whose backend could never be removed). Found by the stress test.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn fresh_id_is_never_stale() {
    let pool: Pool<1> = Pool::new();
    let stale = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..1_000_000 {
                    if let Ok(id) = pool.add(1) {
                        match pool.remove(id) {
                            Ok(()) => {}
                            Err(BackendError::Stale) => {
                                stale.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
            });
        }
    });
    let stale = stale.load(Ordering::Relaxed);
    let leaked = pool.id_at(0);
    eprintln!(
        "fresh ids refused as Stale: {stale}; afterwards id_at(0) = {leaked:?}, len {}, info = {:?}, remove = {:?}, add = {:?}",
        pool.len(),
        leaked.map(|id| pool.info(id)),
        leaked.map(|id| pool.remove(id)),
        pool.add(1),
    );
    assert_eq!(stale, 0);
}

/// In panic mode with a backup tier, an ejected backup was never picked even when nothing
/// else could be (below the panic threshold every backend that is up is eligible again).
/// Found by the fuzz model.
#[test]
fn panic_makes_an_ejected_backup_eligible_when_nothing_else_is() {
    let config = crate::support::eject_on_first_failure();
    let pool: Pool<4> = Pool::with_config(config).unwrap();
    let primary = pool.add(1).unwrap();
    let backup = pool.add_backend(Backend::new(1).backup()).unwrap();
    pool.set_health(primary, tinylb::Health::Down).unwrap();
    Lease::acquire(&pool, backup)
        .unwrap()
        .finish(Outcome::failure_after(Duration::from_micros(100)).at_us(1_000_000));
    assert!(pool.info(backup).unwrap().ejected);
    assert!(
        pool.in_panic(),
        "1 backend up, 1 ejected: below the 50 % threshold"
    );
    for name in Strategy::<4>::NAMES {
        let s: Strategy<4> = name.parse().unwrap();
        let got = s.select(&pool, &mut Request::new().with_now_us(1_000_000));
        assert_eq!(
            got,
            Some(backup),
            "{name}: in panic every backend is eligible again"
        );
    }
}

/// The same panic without a backup tier picks the ejected primary.
#[test]
fn same_without_a_backup_tier_picks_the_ejected_primary() {
    let config = crate::support::eject_on_first_failure();
    let pool: Pool<4> = Pool::with_config(config).unwrap();
    let a = pool.add(1).unwrap();
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::failure_after(Duration::from_micros(100)).at_us(1_000_000));
    assert!(pool.info(a).unwrap().ejected && pool.in_panic());
    let s: Strategy<4> = "round_robin".parse().unwrap();
    assert_eq!(
        s.select(&pool, &mut Request::new().with_now_us(1_000_000)),
        Some(a)
    );
}
