//! The backup tier ([`Pool::add_backup`], [`Pool::set_backup`]) as nginx and HAProxy have it:
//! with an overprovisioning factor of `u32::MAX` (level 0 counts as fully available while
//! any primary is healthy), backups are picked only when no primary backend is eligible, by
//! every strategy in [`Strategy::NAMES`]. (Envoy's gradual spill at the default factor is
//! `levels.rs`'s.)
//!
//! * **Property, every strategy**: pools of primaries and backups, each of them eligible or
//!   ineligible in one of five ways (down, draining, weight 0, at its in-flight cap, ejected):
//!   every pick, with random keys (the hash strategies route by them) and randomness, is an
//!   eligible primary when there is one, else an eligible backup when there is one, else
//!   `None`.
//! * **Live changes, every strategy**: picks move to the backups the moment the last primary
//!   becomes ineligible (its cap filled, ejected, drained, marked down, weight 0) and back the
//!   moment one is eligible again (lease dropped, ejection over by the request's clock, up
//!   again); [`Pool::set_backup`] moves a backend between tiers both ways.
//! * A backup that is itself ineligible is not picked: with nothing eligible the pick is
//!   `None`.

#![allow(clippy::indexing_slicing)]

use crate::support::SplitMix;
use core::num::NonZeroU32;
use core::time::Duration;
use proptest::prelude::*;
use tinylb::{
    Backend, BackendId, Config, Ejection, Health, Lease, Outcome, Pool, Request, Select, Strategy,
};

const N: usize = 16;
/// When ejected backends were ejected (ms); picks happen well before they return.
const EJECTED_AT_MS: u64 = 1_001;
const PICK_AT_US: u64 = 2_000_000;

/// How one backend is (in)eligible.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Eligible,
    Down,
    Draining,
    ZeroWeight,
    AtCap,
    Ejected,
}

fn kind() -> impl proptest::strategy::Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Eligible),
        1 => Just(Kind::Down),
        1 => Just(Kind::Draining),
        1 => Just(Kind::ZeroWeight),
        1 => Just(Kind::AtCap),
        1 => Just(Kind::Ejected),
    ]
}

/// Ejection after one failure, no share limit, no panic mode (so an ejected backend is
/// simply ineligible), all-or-nothing backups.
fn pool() -> Pool<N> {
    Pool::with_config(
        Config::new()
            .ejection(Ejection {
                consecutive_failures: 1,
                base_ms: 60_000,
                max_ms: 60_000,
                max_ejection_percent: 100,
                interval_ms: 60_000,
            })
            .panic_threshold_percent(0)
            .overprovisioning_percent(u32::MAX),
    )
    .unwrap()
}

/// Adds one backend of `kind` (in the backup tier if `backup`); returns its id and the
/// leases that hold it at its cap.
fn add(
    pool: &Pool<N>,
    kind: Kind,
    weight: u32,
    backup: bool,
) -> (BackendId, Vec<Lease<&Pool<N>, N>>) {
    let id = if backup {
        pool.add_backend(Backend::new(weight).backup()).unwrap()
    } else {
        pool.add(weight).unwrap()
    };
    let mut held = Vec::new();
    match kind {
        Kind::Eligible => {}
        Kind::Down => pool.set_health(id, Health::Down).unwrap(),
        Kind::Draining => pool.set_health(id, Health::Draining).unwrap(),
        Kind::ZeroWeight => pool.set_weight(id, 0).unwrap(),
        Kind::AtCap => {
            pool.set_cap(id, NonZeroU32::new(2)).unwrap();
            held.push(Lease::acquire(pool, id).unwrap());
            held.push(Lease::acquire(pool, id).unwrap());
        }
        Kind::Ejected => {
            Lease::acquire(pool, id).unwrap().finish(
                Outcome::failure_after(Duration::from_micros(10)).at_us(EJECTED_AT_MS * 1000),
            );
            assert!(pool.info(id).unwrap().ejected);
        }
    }
    assert_eq!(pool.info(id).unwrap().backup, backup);
    (id, held)
}

fn every_strategy() -> Vec<Strategy<N>> {
    Strategy::<N>::NAMES
        .iter()
        .map(|name| Strategy::from_name(name, 17).unwrap())
        .collect()
}

fn pick(s: &Strategy<N>, pool: &Pool<N>, key: u64, now_us: u64) -> Option<BackendId> {
    let mut rng = SplitMix(key);
    s.select(
        pool,
        &mut Request::new()
            .with_key(key)
            .with_now_us(now_us)
            .with_rng(&mut rng),
    )
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Every pick of every strategy is an eligible primary if there is one, else an eligible
    /// backup if there is one, else `None`. Slots of both tiers are interleaved.
    #[test]
    fn backups_only_when_no_primary_is_eligible(
        backends in prop::collection::vec((kind(), 1u32..=5, any::<bool>()), 0..=N),
        keys in prop::collection::vec(any::<u64>(), 16),
    ) {
        let pool = pool();
        let mut held = Vec::new();
        let mut primaries = Vec::new();
        let mut backups = Vec::new();
        for &(k, w, backup) in &backends {
            let (id, h) = add(&pool, k, w, backup);
            held.extend(h);
            if k == Kind::Eligible {
                if backup { backups.push(id) } else { primaries.push(id) }
            }
        }
        let want: &[BackendId] = if !primaries.is_empty() { &primaries } else { &backups };
        for s in every_strategy() {
            for &key in &keys {
                match pick(&s, &pool, key, PICK_AT_US) {
                    Some(id) => prop_assert!(
                        want.contains(&id),
                        "{}: picked {:?} ({:?}), primaries {:?}, backups {:?}",
                        s.name(), id, pool.info(id), primaries, backups
                    ),
                    None => prop_assert!(want.is_empty(), "{}: None", s.name()),
                }
            }
        }
    }
}

/// Every pick of `s` over `keys` keys is in `want` (or `None` when `want` is empty).
fn assert_picks(s: &Strategy<N>, pool: &Pool<N>, now_us: u64, want: &[BackendId], what: &str) {
    for key in 0..64u64 {
        let got = pick(s, pool, key, now_us);
        match got {
            Some(id) => assert!(
                want.contains(&id),
                "{} ({what}): picked {id:?}, want one of {want:?}",
                s.name()
            ),
            None => assert!(want.is_empty(), "{} ({what}): None", s.name()),
        }
    }
}

/// Two primaries and two backups; the primaries become ineligible one way after another and
/// come back, and the picks follow, under every strategy.
#[test]
fn picks_follow_the_primaries_live() {
    for s in every_strategy() {
        let pool = pool();
        let p0 = pool.add(2).unwrap();
        let b0 = pool.add_backend(Backend::new(1).backup()).unwrap();
        let p1 = pool.add(3).unwrap();
        let b1 = pool.add_backend(Backend::new(4).backup()).unwrap();
        let (both, backups) = ([p0, p1], [b0, b1]);
        let now = PICK_AT_US;
        assert_picks(&s, &pool, now, &both, "all up");

        // p0 at its cap, p1 draining: backups; the lease dropped: p0 again
        pool.set_cap(p0, NonZeroU32::new(1)).unwrap();
        let lease = Lease::acquire(&pool, p0).unwrap();
        pool.set_health(p1, Health::Draining).unwrap();
        assert_picks(&s, &pool, now, &backups, "p0 at cap, p1 draining");
        drop(lease);
        assert_picks(&s, &pool, now, &[p0], "p0 free again");

        // p0 ejected: backups until the request's clock reaches the end of the ejection
        Lease::acquire(&pool, p0)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(10)).at_us(now));
        assert_picks(&s, &pool, now, &backups, "p0 ejected");
        assert_picks(&s, &pool, now + 59_999_999, &backups, "p0 still ejected");
        assert_picks(&s, &pool, now + 60_000_000, &[p0], "p0 back");

        // p0 down, p1 weight 0 (and up): backups; p1's weight back: p1
        pool.set_health(p0, Health::Down).unwrap();
        pool.set_health(p1, Health::Up).unwrap();
        pool.set_weight(p1, 0).unwrap();
        let later = now + 60_000_000;
        assert_picks(&s, &pool, later, &backups, "p0 down, p1 weight 0");
        pool.set_weight(p1, 3).unwrap();
        assert_picks(&s, &pool, later, &[p1], "p1 weighted again");

        // tiers move both ways: p1 to the backups leaves no primary; b1 promoted takes over
        pool.set_backup(p1, true).unwrap();
        assert_picks(&s, &pool, later, &[b0, b1, p1], "p1 demoted");
        pool.set_backup(b1, false).unwrap();
        assert_picks(&s, &pool, later, &[b1], "b1 promoted");
        pool.set_backup(b1, true).unwrap();

        // every backup ineligible too: nothing
        pool.set_health(b0, Health::Down).unwrap();
        pool.set_cap(b1, NonZeroU32::new(1)).unwrap();
        pool.set_health(p1, Health::Draining).unwrap();
        let lease = Lease::acquire(&pool, b1).unwrap();
        assert_picks(&s, &pool, later, &[], "nothing eligible");
        drop(lease);
        assert_picks(&s, &pool, later, &[b1], "b1 free again");
    }
}
