//! A strategy written outside the crate, as a user would write one, through the public
//! eligibility view (`Pool::pick`, `View`, `Candidate`): it honours backups, ejection, panic
//! mode, slow start and caps without knowing any of them.

use core::num::NonZeroU32;
use core::time::Duration;

use tinylb::{
    Backend, BackendId, Candidate, Config, Health, Lease, Outcome, Pool, Request, Select,
    SelectExt, SlowStart,
};

/// The highest-index candidate: deliberately not what any built-in does.
struct Last;

impl<const N: usize> Select<N> for Last {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, _| view.candidates().last())
    }
}

/// Every candidate the view offers, for inspection.
fn offered<const N: usize>(pool: &Pool<N>, now_us: u64) -> Vec<Candidate> {
    let mut seen = Vec::new();
    pool.pick(&mut Request::new().with_now_us(now_us), |view, _| {
        seen = view.candidates().collect();
        seen.first().copied()
    });
    seen
}

const FAILED: Outcome = Outcome::failure_after(Duration::from_micros(10)).at_us(1_000_000);

#[test]
fn honours_backups() {
    let pool: Pool<4> = Pool::new();
    let a = pool.add(1).unwrap();
    let backup = pool.add_backend(Backend::new(1).backup()).unwrap();
    // a primary is eligible: the backup is never offered, though it has the highest index
    assert_eq!(Last.select(&pool, &mut Request::new()), Some(a));
    pool.set_health(a, Health::Down).unwrap();
    assert_eq!(Last.select(&pool, &mut Request::new()), Some(backup));
    pool.set_health(backup, Health::Draining).unwrap();
    assert_eq!(Last.select(&pool, &mut Request::new()), None);
}

fn ejecting() -> Pool<4> {
    Pool::with_config(crate::support::eject_on_first_failure()).unwrap()
}

#[test]
fn honours_ejection_and_its_end() {
    let pool = ejecting();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    let c = pool.add(1).unwrap();
    Lease::acquire(&pool, c).unwrap().finish(FAILED);
    assert!(pool.info(c).unwrap().ejected);
    // 2 of 3 healthy: no panic, the ejected backend is not offered
    let ids: Vec<_> = offered(&pool, 1_000_000)
        .iter()
        .map(|x| x.index())
        .collect();
    assert_eq!(ids, [a.index(), b.index()]);
    assert_eq!(
        Last.select(&pool, &mut Request::new().with_now_us(1_000_000)),
        Some(b)
    );
    // the ejection's time is up: the view ends it and offers the backend again
    let later = 1_000_000 + 10_001_000;
    assert_eq!(
        Last.select(&pool, &mut Request::new().with_now_us(later)),
        Some(c)
    );
    assert!(!pool.info(c).unwrap().ejected);
}

#[test]
fn honours_panic() {
    let pool = ejecting();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    Lease::acquire(&pool, b).unwrap().finish(FAILED);
    Lease::acquire(&pool, a).unwrap().finish(FAILED);
    assert_eq!(pool.ejected_count(), 2);
    assert!(pool.in_panic());
    // in panic every backend that is up is offered again, ejected ones included
    assert_eq!(offered(&pool, 1_000_000).len(), 2);
    assert_eq!(
        Last.select(&pool, &mut Request::new().with_now_us(1_000_000)),
        Some(b)
    );
}

#[test]
fn honours_panic_with_backups_first() {
    let pool = ejecting();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    let spare = pool.add_backend(Backend::new(1).backup()).unwrap();
    Lease::acquire(&pool, a).unwrap().finish(FAILED);
    Lease::acquire(&pool, b).unwrap().finish(FAILED);
    // Envoy: level 1 is fully available, so the levels together are and nothing panics;
    // level 0 has no healthy backend, so every pick goes to level 1
    assert!(!pool.in_panic());
    assert_eq!(
        Last.select(&pool, &mut Request::new().with_now_us(1_000_000)),
        Some(spare)
    );
}

#[test]
fn honours_caps_and_slow_start() {
    let pool: Pool<4> =
        Pool::with_config(Config::new().slow_start(SlowStart::linear(10_000))).unwrap();
    let a = pool.add(1).unwrap();
    let b = pool
        .add_backend(Backend::new(40).cap(NonZeroU32::new(1)))
        .unwrap();
    let held = Last
        .lease(&pool, &mut Request::new().with_now_us(0))
        .unwrap();
    assert_eq!(held.id(), b);
    // b is at its cap: only a is offered
    let ids: Vec<_> = offered(&pool, 0).iter().map(|x| x.index()).collect();
    assert_eq!(ids, [a.index()]);
    drop(held);
    // slow start: b's effective weight ramps from its 10 % floor, its configured weight stays
    let b_cand = offered(&pool, 5_000_000)
        .into_iter()
        .find(|x| x.index() == b.index())
        .unwrap();
    assert_eq!(b_cand.configured_weight(), 40);
    assert!(b_cand.weight() < 40 && b_cand.weight() >= 4, "{b_cand:?}");
}

#[test]
fn the_returned_id_is_the_judged_backend() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    let id = Last.select(&pool, &mut Request::new()).unwrap();
    assert_eq!(id, a);
    pool.remove(a).unwrap();
    let a2 = pool.add(1).unwrap();
    assert_eq!(a2.index(), a.index());
    assert_ne!(a2.generation(), a.generation());
    assert_eq!(Last.select(&pool, &mut Request::new()), Some(a2));
    // and is_eligible means what a pick means: a backup is not eligible while a primary is
    let spare = pool.add_backend(Backend::new(1).backup()).unwrap();
    assert!(pool.is_eligible(a2.index(), 0));
    assert!(!pool.is_eligible(spare.index(), 0));
    pool.set_health(a2, Health::Down).unwrap();
    assert!(pool.is_eligible(spare.index(), 0));
}
