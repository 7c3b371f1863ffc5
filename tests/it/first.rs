//! HAProxy's `first` ([`First`], `first`): the lowest-index backend with room, against a
//! model of the pool.
//!
//! * **the model**: per backend its health, its cap and the leases held on it; the pick is
//!   the lowest index that is up, below its cap and not excluded by the request. Random
//!   sequences of health changes, cap changes, leases taken (through [`First`] itself, so
//!   the backends fill in order) and dropped, and picks with random exclusion sets: every
//!   pick is the model's, `None` exactly when the model has none;
//! * **fills in order**: with caps, `Σcap` leases taken and held land on backend 0 up to its
//!   cap, then backend 1, and so on; a lease dropped on backend `i` gives the next lease to
//!   `i` (the first with room again), and the last backends stay idle;
//! * **tiers**: a backup gets picks only when no primary has room;
//! * **preference** wins over the order while the preferred backend has room.

#![allow(clippy::indexing_slicing)]

use core::num::NonZeroU32;
use proptest::prelude::*;
use tinylb::{Backend, BackendId, First, Health, Lease, Pool, Request, Select, SelectExt, Tried};

const N: usize = 12;

/// One backend of the model.
#[derive(Debug)]
struct Model<'p> {
    id: BackendId,
    up: bool,
    cap: Option<u32>,
    held: Vec<Lease<&'p Pool<N>, N>>,
}

impl Model<'_> {
    fn has_room(&self) -> bool {
        self.up && self.cap.is_none_or(|c| (self.held.len() as u32) < c)
    }
}

/// One step of a scenario.
#[derive(Debug, Clone)]
enum Op {
    /// Backend `i % n` up (`true`) or down.
    Health(usize, bool),
    /// Backend `i % n` gets this cap (0: none).
    Cap(usize, u32),
    /// A lease through `First`, held.
    Lease,
    /// The `j`-th lease held (modulo their count) is dropped.
    Drop(usize),
    /// A pick excluding the backends whose bit is set.
    Pick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<usize>(), prop::bool::weighted(0.7)).prop_map(|(i, up)| Op::Health(i, up)),
        1 => (any::<usize>(), 0u32..=3).prop_map(|(i, c)| Op::Cap(i, c)),
        3 => Just(Op::Lease),
        2 => any::<usize>().prop_map(Op::Drop),
        3 => any::<u16>().prop_map(Op::Pick),
    ]
}

/// The model's pick: the lowest index with room, not in `excluded`.
fn model_pick(backends: &[Model<'_>], excluded: u16) -> Option<BackendId> {
    backends
        .iter()
        .enumerate()
        .find(|(i, b)| excluded & (1 << i) == 0 && b.has_room())
        .map(|(_, b)| b.id)
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    #[test]
    fn always_the_lowest_index_with_room(
        weights in prop::collection::vec(1u32..=9, 1..=N),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let pool_owned: Pool<N> = Pool::new();
        let pool = &pool_owned;
        let mut backends: Vec<Model<'_>> = weights
            .iter()
            .map(|&w| Model { id: pool.add(w).unwrap(), up: true, cap: None, held: Vec::new() })
            .collect();
        let n = backends.len();
        let first = First::new();
        for op in ops {
            match op {
                Op::Health(i, up) => {
                    let b = &mut backends[i % n];
                    let h = if up { Health::Up } else { Health::Down };
                    pool.set_health(b.id, h).unwrap();
                    b.up = up;
                }
                Op::Cap(i, c) => {
                    let b = &mut backends[i % n];
                    pool.set_cap(b.id, NonZeroU32::new(c)).unwrap();
                    b.cap = (c > 0).then_some(c);
                }
                Op::Lease => {
                    let want = model_pick(&backends, 0);
                    let got = first.lease(pool, &mut Request::new());
                    prop_assert_eq!(got.as_ref().map(Lease::id), want);
                    if let Some(lease) = got {
                        let i = lease.index();
                        backends[i].held.push(lease);
                    }
                }
                Op::Drop(j) => {
                    let total: usize = backends.iter().map(|b| b.held.len()).sum();
                    if total > 0 {
                        let mut j = j % total;
                        for b in &mut backends {
                            if j < b.held.len() {
                                b.held.remove(j);
                                break;
                            }
                            j -= b.held.len();
                        }
                    }
                }
                Op::Pick(mask) => {
                    let mut tried = Tried::<N>::new();
                    for (i, b) in backends.iter().enumerate() {
                        if mask & (1 << i) != 0 {
                            tried.insert(b.id);
                        }
                    }
                    let got = first.select(pool, &mut Request::new().excluding(&tried));
                    prop_assert_eq!(got, model_pick(&backends, mask), "excluding {:?}", tried);
                    prop_assert_eq!(first.select(pool, &mut Request::new()), model_pick(&backends, 0));
                }
            }
        }
    }
}

/// With caps `[2, 3, 1, 4]`, ten leases fill the backends in order; the last backend is
/// idle until the ones before it are full; a lease dropped on backend 1 makes backend 1 the
/// next pick, not backend 3.
#[test]
fn fills_the_backends_in_order() {
    let pool: Pool<8> = Pool::new();
    let caps = [2u32, 3, 1, 4];
    let ids: Vec<BackendId> = caps
        .iter()
        .map(|&c| {
            pool.add_backend(Backend::new(1).cap(NonZeroU32::new(c)))
                .unwrap()
        })
        .collect();
    let first = First::new();
    let mut held: Vec<Lease<&Pool<8>, 8>> = Vec::new();
    let mut got = Vec::new();
    for _ in 0..6 {
        let lease = first.lease(&pool, &mut Request::new()).unwrap();
        got.push(lease.index());
        held.push(lease);
    }
    assert_eq!(got, [0, 0, 1, 1, 1, 2]);
    assert_eq!(pool.in_flight_at(3), 0, "the last backend stays idle");
    // drop one lease of backend 1 (the third taken): backend 1 is first with room again
    held.remove(2);
    let lease = first.lease(&pool, &mut Request::new()).unwrap();
    assert_eq!(lease.id(), ids[1]);
    held.push(lease);
    for _ in 0..4 {
        held.push(first.lease(&pool, &mut Request::new()).unwrap());
    }
    assert!(held[held.len() - 4..].iter().all(|l| l.id() == ids[3]));
    assert!(
        first.lease(&pool, &mut Request::new()).is_none(),
        "all full"
    );
}

/// A backup gets picks only while no primary has room; a preferred backend with room is
/// taken before the order.
#[test]
fn backups_wait_and_preference_wins() {
    let pool: Pool<8> = Pool::new();
    let backup = pool.add_backend(Backend::new(1).backup()).unwrap();
    let a = pool
        .add_backend(Backend::new(1).cap(NonZeroU32::new(1)))
        .unwrap();
    let b = pool.add(1).unwrap();
    let first = First::new();
    assert_eq!(first.select(&pool, &mut Request::new()), Some(a));
    assert_eq!(first.select(&pool, &mut Request::new().prefer(b)), Some(b));
    let _full = Lease::acquire(&pool, a).unwrap();
    assert_eq!(first.select(&pool, &mut Request::new()), Some(b));
    pool.set_health(b, Health::Down).unwrap();
    assert_eq!(first.select(&pool, &mut Request::new()), Some(backup));
    // a preferred backend without room is not taken: the order decides
    assert_eq!(
        first.select(&pool, &mut Request::new().prefer(a)),
        Some(backup)
    );
}
