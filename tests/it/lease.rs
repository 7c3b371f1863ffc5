//! Leases: the public contract of `Lease` and `SelectExt::lease`.
//!
//! * a lease adds exactly one in-flight unit and gives back exactly one, whether it is
//!   dropped or finished;
//! * `finish` feeds the backend's latency estimate and failure streak;
//! * a lease whose backend was removed while it was out records nothing and still gives
//!   back its unit, which is what frees the slot for reuse;
//! * `Lease::acquire` and `SelectExt::lease` never go past an in-flight cap, and
//!   `SelectExt::lease` moves on to another backend when one is full;
//! * leases held through `Arc<Pool>` or `&'static Pool` move into spawned threads.

#![allow(clippy::indexing_slicing)]

use core::cell::Cell;
use core::num::NonZeroU32;
use core::time::Duration;
use std::sync::Arc;

use crate::support::SplitMix;
use tinylb::{
    Backend, BackendId, Health, Lease, LeastConn, Outcome, Pool, Request, RoundRobin, Select,
    SelectExt, Strategy,
};

/// Every backend's in-flight count, by slot.
fn in_flight<const N: usize>(pool: &Pool<N>) -> Vec<u32> {
    (0..N).map(|i| pool.in_flight_at(i)).collect()
}

#[test]
fn a_lease_adds_one_unit_and_gives_back_exactly_one() {
    let pool: Pool<4> = Pool::new();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    let rr = RoundRobin::new();
    let mut req = Request::new();

    let l1 = rr.lease(&pool, &mut req).unwrap();
    assert_eq!(l1.id(), a);
    assert_eq!(l1.index(), a.index());
    assert!(core::ptr::eq(l1.pool(), &pool));
    assert_eq!(in_flight(&pool), [1, 0, 0, 0]);

    let l2 = rr.lease(&pool, &mut req).unwrap();
    assert_eq!(l2.id(), b);
    let l3 = Lease::acquire(&pool, a).unwrap();
    assert_eq!(in_flight(&pool), [2, 1, 0, 0]);
    assert_eq!(pool.info(a).unwrap().in_flight, 2);

    drop(l1);
    assert_eq!(in_flight(&pool), [1, 1, 0, 0]);
    // finishing consumes the lease: its unit is given back once, not once more on drop
    l3.finish(Outcome::success_after(Duration::from_micros(10)).at_us(0));
    assert_eq!(in_flight(&pool), [0, 1, 0, 0]);
    l2.finish(Outcome::failure_after(Duration::from_micros(10)).at_us(0));
    assert_eq!(in_flight(&pool), [0, 0, 0, 0]);
    assert_eq!(pool.info(a).unwrap().in_flight, 0);
    assert_eq!(pool.info(b).unwrap().in_flight, 0);
}

#[test]
fn many_leases_on_one_backend_balance() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(5).unwrap();
    let leases: Vec<_> = (0..1000)
        .map(|_| Lease::acquire(&pool, a).unwrap())
        .collect();
    assert_eq!(pool.in_flight_at(a.index()), 1000);
    for (k, l) in leases.into_iter().enumerate() {
        if k % 2 == 0 {
            drop(l);
        } else {
            l.finish(Outcome::success_after(Duration::from_micros(1)).at_us(0));
        }
    }
    assert_eq!(pool.in_flight_at(a.index()), 0);
}

#[test]
fn finish_records_latency_and_failure_streak() {
    let pool: Pool<2> = Pool::with_half_life_ms(1_000);
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    let info = pool.info(a).unwrap();
    assert_eq!(info.latency_us, None, "no sample yet");
    assert_eq!(info.failure_streak, 0);

    let t0 = 10_000_000;
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(1_500)).at_us(t0));
    assert_eq!(
        pool.info(a).unwrap().latency_us,
        Some(1_500),
        "first sample as is"
    );
    assert_eq!(
        pool.info(b).unwrap().latency_us,
        None,
        "other backend untouched"
    );

    // peak-sensitive: a slow sample raises the estimate at once
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(5_000)).at_us(t0));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(5_000));
    // a fast one at the same instant barely moves it
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(1_000)).at_us(t0));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(5_000));
    // one half-life later a fast sample pulls it halfway: 1000 + (5000 - 1000) / 2
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(1_000)).at_us(t0 + 1_000_000));
    assert_eq!(pool.info(a).unwrap().latency_us, Some(3_000));

    // failures extend the streak (and still feed the estimate)
    for k in 1..=3 {
        Lease::acquire(&pool, a)
            .unwrap()
            .finish(Outcome::failure_after(Duration::from_micros(9_000)).at_us(t0 + 1_000_000));
        let info = pool.info(a).unwrap();
        assert_eq!(info.failure_streak, k);
        assert_eq!(info.latency_us, Some(9_000));
    }
    assert_eq!(pool.info(b).unwrap().failure_streak, 0);
    // one success resets it
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_millis(2)).at_us(t0 + 1_000_000));
    assert_eq!(pool.info(a).unwrap().failure_streak, 0);
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::failure_after(Duration::from_micros(1)).at_us(t0 + 1_000_000));
    assert_eq!(pool.info(a).unwrap().failure_streak, 1);
    assert_eq!(pool.in_flight_at(a.index()), 0);
}

#[test]
fn a_zero_latency_sample_still_counts_as_sampled() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::success_after(Duration::from_micros(0)).at_us(0));
    let lat = pool.info(a).unwrap().latency_us;
    assert!(matches!(lat, Some(0..=1)), "{lat:?}");
}

#[test]
fn dropping_without_finish_records_nothing_but_the_abandonment() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    let before = pool.info(a).unwrap();
    drop(Lease::acquire(&pool, a).unwrap());
    // no latency, no streak, no success or failure: only the abandoned total moves
    let after = pool.info(a).unwrap();
    assert_eq!((after.abandoned, after.requests), (1, 1));
    assert_eq!(
        tinylb::BackendInfo {
            abandoned: 0,
            requests: 0,
            ..after
        },
        before
    );
}

#[test]
fn outcome_accessors_and_duration_saturation() {
    let o = Outcome::success_after(Duration::from_micros(7)).at_us(9);
    assert!(o.is_success());
    assert_eq!((o.latency_us(), o.now_us()), (7, 9));
    let f = Outcome::failure_after(Duration::from_micros(1)).at_us(2);
    assert!(!f.is_success());
    assert_eq!(
        Outcome::success_after(Duration::from_millis(3))
            .at_us(4)
            .latency_us(),
        3_000
    );
    assert_eq!(
        Outcome::failure_after(Duration::MAX).at_us(0).latency_us(),
        u64::MAX
    );
    assert!(!Outcome::failure_after(Duration::ZERO).at_us(0).is_success());
}

#[test]
fn lease_on_a_removed_backend_records_nothing_but_gives_back_its_unit() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    assert_eq!(a.index(), 0);
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::failure_after(Duration::from_micros(4_000)).at_us(0));
    let l1 = Lease::acquire(&pool, a).unwrap();
    let l2 = Lease::acquire(&pool, a).unwrap();
    pool.set_cap(a, NonZeroU32::new(7)).unwrap();
    pool.remove(a).unwrap();

    // the slot is draining: both units still count, and it cannot be reused yet
    assert_eq!(pool.in_flight_at(0), 2);
    assert_eq!(pool.len(), 1);
    assert!(!pool.is_eligible(0, 0));
    assert_eq!(
        pool.add(1),
        Err(tinylb::BackendError::Full),
        "slot 0 still has leases out"
    );
    l1.finish(Outcome::failure_after(Duration::from_micros(u64::MAX)).at_us(1));
    assert_eq!(pool.in_flight_at(0), 1);
    assert_eq!(pool.add(1), Err(tinylb::BackendError::Full));
    l2.finish(Outcome::success_after(Duration::from_micros(1)).at_us(2));
    assert_eq!(pool.in_flight_at(0), 0);

    // now the slot is reused, and the new backend starts from zero
    let c = pool.add(3).unwrap();
    assert_eq!(c.index(), 0);
    assert_ne!(c, a);
    let info = pool.info(c).unwrap();
    assert_eq!(info.id, c);
    assert_eq!(info.weight, 3);
    assert_eq!(info.health, Health::Up);
    assert_eq!(info.in_flight, 0);
    assert_eq!(info.cap, None);
    assert_eq!(info.latency_us, None);
    assert_eq!(info.failure_streak, 0);
    assert_eq!(pool.info(a), Err(tinylb::BackendError::Stale));
    assert_eq!(pool.ids().as_slice(), [c, b]);
    assert_eq!(pool.total_weight(), 4);

    // a stale id cannot lease the slot's new occupant
    assert!(Lease::acquire(&pool, a).is_none());
    assert_eq!(pool.in_flight_at(0), 0);
    assert!(Lease::acquire(&pool, c).is_some());
}

#[test]
fn dropped_lease_on_removed_backend_frees_the_slot() {
    let pool: Pool<1> = Pool::new();
    let a = pool.add(1).unwrap();
    let l = Lease::acquire(&pool, a).unwrap();
    pool.remove(a).unwrap();
    assert_eq!(pool.add(1), Err(tinylb::BackendError::Full));
    drop(l);
    assert_eq!(pool.in_flight_at(0), 0);
    let b = pool.add(1).unwrap();
    assert_eq!(pool.info(b).unwrap().in_flight, 0);
}

#[test]
fn acquire_at_cap_returns_none_and_changes_nothing() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(2).unwrap();
    let b = pool.add(1).unwrap();
    pool.set_cap(a, NonZeroU32::new(2)).unwrap();
    let l1 = Lease::acquire(&pool, a).unwrap();
    assert!(pool.is_eligible(0, 0));
    let l2 = Lease::acquire(&pool, a).unwrap();
    assert!(!pool.is_eligible(0, 0), "at its cap");
    let before = (pool.info(a).unwrap(), pool.info(b).unwrap());
    for _ in 0..10 {
        assert!(Lease::acquire(&pool, a).is_none());
    }
    assert_eq!((pool.info(a).unwrap(), pool.info(b).unwrap()), before);
    assert_eq!(before.0.in_flight, 2);

    // lowering the cap below the count cancels nothing and refuses new leases
    pool.set_cap(a, NonZeroU32::new(1)).unwrap();
    assert_eq!(pool.in_flight_at(0), 2);
    drop(l1);
    assert!(Lease::acquire(&pool, a).is_none(), "1 out, cap 1");
    drop(l2);
    let l3 = Lease::acquire(&pool, a).unwrap();
    assert!(Lease::acquire(&pool, a).is_none());
    // lifting the cap lets more in
    pool.set_cap(a, None).unwrap();
    let more: Vec<_> = (0..5).map(|_| Lease::acquire(&pool, a).unwrap()).collect();
    assert_eq!(pool.in_flight_at(0), 6);
    drop((l3, more));
    assert_eq!(pool.in_flight_at(0), 0);
}

#[test]
fn acquire_refuses_ineligible_backends_and_changes_nothing() {
    let pool: Pool<4> = Pool::new();
    let down = pool
        .add_backend(Backend::new(1).health(Health::Down))
        .unwrap();
    let draining = pool
        .add_backend(Backend::new(1).health(Health::Draining))
        .unwrap();
    let zero = pool.add(0).unwrap();
    let gone = pool.add(1).unwrap();
    pool.remove(gone).unwrap();
    for id in [down, draining, zero, gone] {
        assert!(Lease::acquire(&pool, id).is_none(), "{id:?}");
    }
    assert_eq!(in_flight(&pool), [0, 0, 0, 0]);
    // becoming eligible makes it leasable
    pool.set_health(down, Health::Up).unwrap();
    pool.set_weight(zero, 1).unwrap();
    let l = (
        Lease::acquire(&pool, down).unwrap(),
        Lease::acquire(&pool, zero).unwrap(),
    );
    assert_eq!(in_flight(&pool), [1, 0, 1, 0]);
    // a lease survives its backend going down; a new one is refused
    pool.set_health(down, Health::Down).unwrap();
    assert!(Lease::acquire(&pool, down).is_none());
    assert_eq!(in_flight(&pool), [1, 0, 1, 0]);
    drop(l);
    assert_eq!(in_flight(&pool), [0, 0, 0, 0]);
}

#[test]
fn select_lease_never_exceeds_a_cap_and_moves_on() {
    for name in Strategy::<4>::NAMES {
        for with_rng in [false, true] {
            let pool: Pool<4> = Pool::new();
            let ids: Vec<BackendId> = [3, 1, 2].iter().map(|&w| pool.add(w).unwrap()).collect();
            let caps = [2u32, 1, 3];
            for (&id, &cap) in ids.iter().zip(&caps) {
                pool.set_cap(id, NonZeroU32::new(cap)).unwrap();
            }
            let s: Strategy<4> = Strategy::from_name(name, 11).unwrap();
            let mut rng = SplitMix(5);
            let mut leases = Vec::new();
            for _ in 0..6 {
                let mut req = if with_rng {
                    Request::new().with_rng(&mut rng)
                } else {
                    Request::new()
                };
                let l = s
                    .lease(&pool, &mut req)
                    .unwrap_or_else(|| panic!("{name}: room left, got None"));
                let i = l.index();
                assert!(
                    pool.in_flight_at(i) <= caps[i],
                    "{name}: backend {i} past its cap"
                );
                leases.push(l);
            }
            assert_eq!(in_flight(&pool), [2, 1, 3, 0], "{name}");
            for _ in 0..5 {
                assert!(
                    s.lease(&pool, &mut Request::new()).is_none(),
                    "{name}: all full"
                );
            }
            assert_eq!(in_flight(&pool), [2, 1, 3, 0], "{name}");
            // freeing one unit of backend 1 makes it the only choice
            let k = leases.iter().position(|l| l.index() == 1).unwrap();
            drop(leases.swap_remove(k));
            for _ in 0..3 {
                let l = s.lease(&pool, &mut Request::new()).unwrap_or_else(|| {
                    panic!("{name} rng={with_rng}: backend 1 has room, got None")
                });
                assert_eq!(l.index(), 1, "{name}");
                drop(l);
            }
            leases.push(s.lease(&pool, &mut Request::new()).unwrap());
            assert!(s.lease(&pool, &mut Request::new()).is_none(), "{name}");
            drop(leases);
            assert_eq!(in_flight(&pool), [0, 0, 0, 0], "{name}");
        }
    }
}

/// A strategy that names a given sequence of backends, as a racing picker might see them
/// (eligible when it looked, full by the time it leases).
struct Scripted<'a> {
    script: &'a [BackendId],
    calls: Cell<usize>,
}

impl<const N: usize> Select<N> for Scripted<'_> {
    fn select(&self, _pool: &Pool<N>, _req: &mut Request<'_>) -> Option<BackendId> {
        let k = self.calls.get();
        self.calls.set(k + 1);
        self.script.get(k).or(self.script.last()).copied()
    }
}

#[test]
fn select_lease_moves_on_when_the_pick_filled_up() {
    let pool: Pool<4> = Pool::new();
    let a = pool.add(1).unwrap();
    let b = pool.add(1).unwrap();
    pool.set_cap(a, NonZeroU32::new(1)).unwrap();
    let _held = Lease::acquire(&pool, a).unwrap();

    // the strategy names the full backend first, then another: the lease lands on the other
    let s = Scripted {
        script: &[a, b],
        calls: Cell::new(0),
    };
    let l = s.lease(&pool, &mut Request::new()).unwrap();
    assert_eq!(l.id(), b);
    assert_eq!(s.calls.get(), 2);
    assert_eq!(in_flight(&pool), [1, 1, 0, 0], "a stayed at its cap");

    // a strategy stuck on the full backend: bounded retries, then None, nothing changed
    let stuck = Scripted {
        script: &[a],
        calls: Cell::new(0),
    };
    assert!(stuck.lease(&pool, &mut Request::new()).is_none());
    let calls = stuck.calls.get();
    assert!(
        (1..=pool.len() + 1).contains(&calls),
        "picked {calls} times for {} backends",
        pool.len()
    );
    assert_eq!(in_flight(&pool), [1, 1, 0, 0]);
}

#[test]
fn least_conn_spreads_leases_by_weight() {
    // a lease changes what the next pick sees
    let pool: Pool<2> = Pool::new();
    pool.add(1).unwrap();
    pool.add(2).unwrap();
    let s = LeastConn::new();
    let leases: Vec<_> = (0..30)
        .map(|_| s.lease(&pool, &mut Request::new()).unwrap())
        .collect();
    assert_eq!(in_flight(&pool), [10, 20]);
    drop(leases);
    assert_eq!(in_flight(&pool), [0, 0]);
}

static STATIC_POOL: Pool<4> = Pool::new();

#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn static_pool_leases_move_into_threads() {
    let a = STATIC_POOL.add(1).unwrap();
    let rr = RoundRobin::new();
    let leases: Vec<Lease<&'static Pool<4>, 4>> = (0..4)
        .map(|_| rr.lease(&STATIC_POOL, &mut Request::new()).unwrap())
        .collect();
    assert_eq!(STATIC_POOL.in_flight_at(a.index()), 4);
    let handles: Vec<_> = leases
        .into_iter()
        .enumerate()
        .map(|(k, l)| {
            std::thread::spawn(move || {
                if k % 2 == 0 {
                    l.finish(Outcome::failure_after(Duration::from_micros(100)).at_us(0));
                } else {
                    drop(l);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let info = STATIC_POOL.info(a).unwrap();
    assert_eq!(info.in_flight, 0);
    assert_eq!(info.failure_streak, 2);
    assert_eq!(info.latency_us, Some(100));
}

#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn arc_pool_leases_move_into_threads_and_keep_the_pool_alive() {
    let pool = Arc::new(Pool::<4>::new());
    let a = pool.add(1).unwrap();
    let lease: Lease<Arc<Pool<4>>, 4> = RoundRobin::new()
        .lease(Arc::clone(&pool), &mut Request::new())
        .unwrap();
    let acquired = Lease::acquire(Arc::clone(&pool), a).unwrap();
    assert_eq!(pool.in_flight_at(0), 2);
    let watcher = Arc::clone(&pool);
    drop(pool);
    let h = std::thread::spawn(move || {
        lease.finish(Outcome::success_after(Duration::from_micros(250)).at_us(0));
        drop(acquired);
    });
    h.join().unwrap();
    assert_eq!(watcher.in_flight_at(0), 0);
    assert_eq!(watcher.info(a).unwrap().latency_us, Some(250));
    assert_eq!(
        Arc::strong_count(&watcher),
        1,
        "leases released their handles"
    );
}
