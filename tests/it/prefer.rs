//! `Request::prefer` (stickiness with fallback), the reason for no pick (`NoBackend`) and the
//! pool-wide in-flight cap, against a reference model of the view's rules.
#![allow(clippy::indexing_slicing)]

use core::num::NonZeroU32;
use core::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use crate::support;
use tinylb::{
    Backend, Config, Health, Lease, NoBackend, Outcome, Pool, Request, Select, SelectExt, Strategy,
    Tried,
};

/// One backend of the model.
#[derive(Debug, Clone, Copy)]
struct B {
    health: u8, // 0 up, 1 down, 2 draining
    backup: bool,
    at_cap: bool,
    ejected: bool,
    excluded: bool,
}

fn backend() -> impl proptest::strategy::Strategy<Value = B> {
    (
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(h, backup, at_cap, ejected, excluded)| B {
            health: if h == 0 { 0 } else { h % 3 },
            backup,
            at_cap,
            ejected: ejected && h == 0,
            excluded,
        })
}

/// The pool for `model`, with its held leases (the at-cap backends) and the tried set.
fn build<'p>(
    pool: &'p Pool<16>,
    model: &[B],
) -> (
    Vec<tinylb::BackendId>,
    Vec<Lease<&'p Pool<16>, 16>>,
    Tried<16>,
) {
    let mut ids = Vec::new();
    let mut held = Vec::new();
    let mut tried = Tried::new();
    for b in model {
        let mut spec = Backend::new(1);
        if b.backup {
            spec = spec.backup();
        }
        let id = pool.add_backend(spec).unwrap();
        if b.ejected {
            // one failure ejects (the pool's policy below)
            Lease::acquire(pool, id)
                .unwrap()
                .finish(Outcome::failure_after(Duration::from_micros(1)).at_us(1_000));
        }
        if b.at_cap {
            pool.set_cap(id, NonZeroU32::new(1)).unwrap();
            held.push(Lease::acquire(pool, id).unwrap());
        }
        match b.health {
            1 => pool.set_health(id, Health::Down).unwrap(),
            2 => pool.set_health(id, Health::Draining).unwrap(),
            _ => {}
        }
        if b.excluded {
            tried.insert(id);
        }
        ids.push(id);
    }
    (ids, held, tried)
}

/// The model: may a pick take backend `i` (for a request with the model's exclusion)?
/// Panic is off (its threshold is 0 below), so ejected backends are out.
fn takeable(model: &[B], i: usize) -> bool {
    let ok = |b: &B| b.health == 0 && !b.at_cap && !b.ejected && !b.excluded;
    let primaries = model.iter().any(|b| !b.backup && ok(b));
    let b = &model[i];
    ok(b) && (b.backup != primaries)
}

/// The model's reason for no pick: Saturated if some up, not ejected backend is out only
/// because of its cap, else Excluded if some is out only by the exclusion, else
/// Unavailable.
fn reason(model: &[B]) -> NoBackend {
    let live = |b: &&B| b.health == 0 && !b.ejected;
    if model.is_empty() {
        NoBackend::Empty
    } else if model.iter().filter(live).any(|b| !b.excluded) {
        NoBackend::Saturated
    } else if model.iter().any(|b| live(&b)) {
        NoBackend::Excluded
    } else {
        NoBackend::Unavailable
    }
}

/// No panic, and all-or-nothing backups (an overprovisioning factor of `u32::MAX`: level 0
/// takes every pick while any primary is healthy), so the model's tiers are nginx's.
fn policy() -> Config {
    support::eject_on_first_failure()
        .panic_threshold_percent(0)
        .overprovisioning_percent(u32::MAX)
}

proptest! {
    #![proptest_config(support::config(128))]

    /// The preference is taken exactly when the model says a pick may take it; otherwise
    /// the strategy's pick is one the model allows; a miss has the model's reason.
    #[test]
    fn prefer_is_honoured_exactly_when_the_view_allows(
        model in prop::collection::vec(backend(), 1..10),
        pref in 0usize..10,
        seed in any::<u64>(),
    ) {
        let pref = pref % model.len();
        for &name in Strategy::<16>::NAMES {
            let pool: Pool<16> = Pool::with_config(policy()).unwrap();
            let (ids, _held, tried) = build(&pool, &model);
            let s: Strategy<16> = Strategy::from_name(name, seed).unwrap();
            let mut req = Request::new()
                .with_key(seed)
                .with_now_us(2_000)
                .excluding(&tried)
                .prefer(ids[pref]);
            let got = s.try_select(&pool, &mut req);
            if takeable(&model, pref) {
                prop_assert_eq!(got, Ok(ids[pref]), "{}", name);
            } else {
                match got {
                    Ok(id) => prop_assert!(takeable(&model, id.index()), "{}: {:?}", name, id),
                    Err(why) => {
                        prop_assert!((0..model.len()).all(|i| !takeable(&model, i)));
                        prop_assert_eq!(why, reason(&model), "{}", name);
                    }
                }
            }
        }
    }
}

#[test]
fn a_preferred_backend_skips_the_strategy() {
    let pool: Pool<4> = Pool::new();
    let ids: Vec<_> = (0..3).map(|_| pool.add(1).unwrap()).collect();
    let rr = tinylb::RoundRobin::new();
    for _ in 0..5 {
        let got = rr.select(&pool, &mut Request::new().prefer(ids[2]));
        assert_eq!(got, Some(ids[2]));
    }
    // the rotation did not move while the preference was taken
    assert_eq!(rr.cursor(), 0);
    // a stale id is not taken: the strategy picks
    pool.remove(ids[2]).unwrap();
    let got = rr.select(&pool, &mut Request::new().prefer(ids[2]));
    assert_eq!(got, Some(ids[0]));
}

#[test]
fn an_empty_pool_says_empty() {
    let pool: Pool<4> = Pool::new();
    let why = tinylb::Random::new().try_select(&pool, &mut Request::new());
    assert_eq!(why, Err(NoBackend::Empty));
    assert_eq!(NoBackend::Empty.to_string(), "the pool holds no backend");
}

/// The pool-wide cap: leases never exceed it, a refused lease changes nothing, dropping
/// gives the unit back, and without a cap nothing is counted.
#[test]
fn the_pool_wide_cap() {
    let pool: Pool<8> = Pool::new();
    for _ in 0..4 {
        pool.add(1).unwrap();
    }
    let lb = tinylb::LeastConn::new();
    let free = lb.lease(&pool, &mut Request::new()).unwrap();
    assert_eq!(pool.pooled_in_flight(), 0, "no cap: not counted");
    pool.set_max_in_flight(NonZeroU32::new(3));
    assert_eq!(pool.max_in_flight(), NonZeroU32::new(3));
    let held: Vec<_> = (0..3)
        .map(|_| lb.try_lease(&pool, &mut Request::new()).unwrap())
        .collect();
    assert_eq!(pool.pooled_in_flight(), 3);
    let before: Vec<u32> = (0..4).map(|i| pool.in_flight_at(i)).collect();
    assert_eq!(
        lb.try_lease(&pool, &mut Request::new()).unwrap_err(),
        NoBackend::PoolSaturated
    );
    assert!(Lease::acquire(&pool, held[0].id()).is_none());
    let after: Vec<u32> = (0..4).map(|i| pool.in_flight_at(i)).collect();
    assert_eq!(before, after, "a refused lease changes nothing");
    assert_eq!(pool.pooled_in_flight(), 3);
    drop(free); // taken before the cap: gives back its backend's unit only
    assert_eq!(pool.pooled_in_flight(), 3);
    drop(held);
    assert_eq!(pool.pooled_in_flight(), 0);
    assert!(lb.lease(&pool, &mut Request::new()).is_some());
    pool.set_max_in_flight(None);
    assert_eq!(pool.max_in_flight(), None);
    assert_eq!(pool.pooled_in_flight(), 0);
    assert!((0..4).all(|i| pool.in_flight_at(i) == 0));
}

/// Two threads lease against a pool-wide cap: it is never exceeded and every unit comes
/// back.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn the_pool_wide_cap_under_threads() {
    let pool: Pool<8> = Pool::new();
    for _ in 0..6 {
        pool.add(1).unwrap();
    }
    pool.set_max_in_flight(NonZeroU32::new(4));
    let lb = tinylb::PowerOfTwo::new();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (pool, lb) = (&pool, &lb);
            s.spawn(move || {
                let mut rng = support::SplitMix(t);
                let mut held = Vec::new();
                for _ in 0..20_000 {
                    if rng.next().is_multiple_of(2) {
                        if let Ok(l) = lb.try_lease(pool, &mut Request::new().with_rng(&mut rng)) {
                            held.push(l);
                        }
                    } else {
                        held.pop();
                    }
                    assert!(
                        pool.pooled_in_flight() <= 4 + 2,
                        "a transient over-count only"
                    );
                    assert!(held.len() <= 4);
                }
            });
        }
    });
    assert_eq!(pool.pooled_in_flight(), 0);
    assert!((0..6).all(|i| pool.in_flight_at(i) == 0));
}
