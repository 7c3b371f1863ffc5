//! The pool's public contract, checked against a reference model.
//!
//! The model is a `Vec` of slots, each empty, holding a live backend (weight, health, cap,
//! in-flight count, latency, failure streak, id), or removed with leases still out. Random
//! sequences of add / remove / set_weight / set_health / set_cap / lease / finish / drop run
//! on both, and after every step the pool must agree with the model on `ids`, `id_at`,
//! `len`, `total_weight`, `info` of every live backend, `BackendError::Stale` for every removed
//! one, `is_eligible` and `in_flight_at` of every slot. In particular:
//!
//! * `add` takes the lowest free slot, and a removed slot is free only once its in-flight
//!   count is zero;
//! * `add` into a full pool returns `BackendError::Full` and changes nothing;
//! * every id handed out is new, and ids of removed backends are refused with `BackendError::Stale`;
//! * eligible = `Health::Up`, weight > 0 and in-flight below the cap.

#![allow(clippy::indexing_slicing)]

use core::num::NonZeroU32;
use core::time::Duration;
use proptest::prelude::*;
use tinylb::{
    Backend, BackendError, BackendId, BackendInfo, Health, Lease, LeastConn, LeastTime, MAX_WEIGHT,
    Outcome, PeakEwma, Pool, PowerOfTwo, Random, Request, RoundRobin, Select, SelectExt,
    WeightedRoundRobin,
};

const N: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Live {
    id: BackendId,
    weight: u32,
    health: Health,
    cap: Option<u32>,
    in_flight: u32,
    latency_us: Option<u32>,
    failure_streak: u32,
}

impl Live {
    fn eligible(&self) -> bool {
        self.health == Health::Up && self.weight > 0 && self.cap.is_none_or(|c| self.in_flight < c)
    }
    /// `info` agrees with the model, field by field.
    fn check_info(&self, info: &BackendInfo) {
        assert_eq!(info.id, self.id);
        assert_eq!(info.weight, self.weight, "weight of {:?}", self.id);
        assert_eq!(info.health, self.health, "health of {:?}", self.id);
        assert_eq!(info.in_flight, self.in_flight, "in_flight of {:?}", self.id);
        assert_eq!(
            info.cap.map(NonZeroU32::get),
            self.cap,
            "cap of {:?}",
            self.id
        );
        assert_eq!(info.latency_us, self.latency_us, "latency of {:?}", self.id);
        assert_eq!(
            info.failure_streak, self.failure_streak,
            "failure streak of {:?}",
            self.id
        );
        assert!(!info.ejected, "no ejection is configured");
        assert!(!info.backup, "no backup was added");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Empty,
    Live(Live),
    Removed { in_flight: u32 },
}

impl Slot {
    fn in_flight_mut(&mut self) -> &mut u32 {
        match self {
            Slot::Live(l) => &mut l.in_flight,
            Slot::Removed { in_flight } => in_flight,
            Slot::Empty => panic!("model: lease on an empty slot"),
        }
    }
}

#[derive(Debug)]
struct Model {
    slots: Vec<Slot>,
    /// Every id ever handed out whose backend has been removed.
    stale: Vec<BackendId>,
    /// The last id each slot held, live or removed.
    last_id: Vec<Option<BackendId>>,
}

impl Model {
    fn new() -> Self {
        Model {
            slots: vec![Slot::Empty; N],
            stale: Vec::new(),
            last_id: vec![None; N],
        }
    }
    fn live(&self, i: usize) -> Option<&Live> {
        match &self.slots[i] {
            Slot::Live(l) => Some(l),
            _ => None,
        }
    }
    fn live_mut(&mut self, i: usize) -> Option<&mut Live> {
        match &mut self.slots[i] {
            Slot::Live(l) => Some(l),
            _ => None,
        }
    }
    fn total_weight(&self) -> u32 {
        (0..N).filter_map(|i| self.live(i)).map(|l| l.weight).sum()
    }
    fn any_eligible(&self) -> bool {
        (0..N).filter_map(|i| self.live(i)).any(Live::eligible)
    }
    /// What `add` should do: the lowest empty slot, or removed slot with nothing in flight.
    fn free_slot(&self) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| matches!(s, Slot::Empty | Slot::Removed { in_flight: 0 }))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(u32, Health),
    Remove(usize),
    SetWeight(usize, u32),
    SetHealth(usize, Health),
    SetCap(usize, Option<u32>),
    /// `Lease::acquire` on the backend in a slot.
    Acquire(usize),
    /// `SelectExt::lease` with one of the strategies.
    Pick(usize),
    Drop(usize),
    Finish(usize, bool, u64),
}

fn weight() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => 0..=4u32,
        1 => Just(MAX_WEIGHT),
        1 => Just(MAX_WEIGHT + 1),
        1 => any::<u32>(),
    ]
}

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![
        3 => Just(Health::Up),
        1 => Just(Health::Down),
        1 => Just(Health::Draining),
    ]
}

fn cap() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(0)),
        4 => (1..=3u32).prop_map(Some),
        1 => Just(Some(u32::MAX - 1)),
    ]
}

fn latency() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0..=5_000u64,
        1 => Just(u64::from(u32::MAX)),
        1 => Just(u64::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..N + 1;
    prop_oneof![
        4 => (weight(), health()).prop_map(|(w, h)| Op::Add(w, h)),
        2 => slot.clone().prop_map(Op::Remove),
        2 => (slot.clone(), weight()).prop_map(|(i, w)| Op::SetWeight(i, w)),
        2 => (slot.clone(), health()).prop_map(|(i, h)| Op::SetHealth(i, h)),
        2 => (slot.clone(), cap()).prop_map(|(i, c)| Op::SetCap(i, c)),
        4 => slot.clone().prop_map(Op::Acquire),
        4 => (0..7usize).prop_map(Op::Pick),
        3 => any::<prop::sample::Index>().prop_map(|k| Op::Drop(k.index(usize::MAX))),
        3 => (any::<prop::sample::Index>(), any::<bool>(), latency())
            .prop_map(|(k, ok, lat)| Op::Finish(k.index(usize::MAX), ok, lat)),
    ]
}

/// The id to aim an operation at slot `i`: the live backend's, else the last (now stale)
/// one, else none (nothing was ever there; ids cannot be made up).
fn target(m: &Model, i: usize) -> Option<(BackendId, bool)> {
    let i = i.min(N - 1);
    match m.live(i) {
        Some(l) => Some((l.id, true)),
        None => m.last_id[i].map(|id| (id, false)),
    }
}

/// Every observable of the pool agrees with the model.
fn check(pool: &Pool<N>, m: &Model) {
    let live_ids: Vec<BackendId> = (0..N).filter_map(|i| m.live(i)).map(|l| l.id).collect();
    assert_eq!(pool.ids().as_slice(), live_ids.as_slice(), "ids");
    assert_eq!(pool.len(), live_ids.len(), "len");
    assert_eq!(pool.is_empty(), live_ids.is_empty(), "is_empty");
    assert_eq!(pool.total_weight(), m.total_weight(), "total_weight");
    assert_eq!(pool.capacity(), N);
    for i in 0..N {
        let live = m.live(i);
        assert_eq!(pool.id_at(i), live.map(|l| l.id), "id_at({i})");
        assert_eq!(
            pool.is_eligible(i, 0),
            live.is_some_and(Live::eligible),
            "is_eligible({i}) {:?}",
            m.slots[i]
        );
        let f = match m.slots[i] {
            Slot::Empty => 0,
            Slot::Live(l) => l.in_flight,
            Slot::Removed { in_flight } => in_flight,
        };
        assert_eq!(pool.in_flight_at(i), f, "in_flight_at({i})");
        if let Some(l) = live {
            l.check_info(&pool.info(l.id).unwrap());
        }
    }
    for i in N..N + 3 {
        assert_eq!(pool.id_at(i), None);
        assert!(!pool.is_eligible(i, 0));
        assert_eq!(pool.in_flight_at(i), 0);
    }
    for &id in &m.stale {
        assert_eq!(pool.info(id), Err(BackendError::Stale), "stale {id:?}");
    }
}

fn strategies() -> Vec<Box<dyn Select<N>>> {
    vec![
        Box::new(RoundRobin::new()),
        // seed 0: with another seed, a pick on a pool that never had a backend divides by
        // zero (reported as a bug)
        Box::new(WeightedRoundRobin::<N>::new()),
        Box::new(LeastConn::with_seed(4)),
        Box::new(LeastTime::with_seed(5)),
        Box::new(Random::with_seed(6)),
        Box::new(PowerOfTwo::with_seed(7)),
        Box::new(PeakEwma::with_seed(8)),
    ]
}

fn run(ops: &[Op]) {
    let pool: Pool<N> = Pool::new();
    let mut m = Model::new();
    // leases out, with the slot and id each was taken on
    let mut leases: Vec<Lease<&Pool<N>, N>> = Vec::new();
    let strategies = strategies();
    let mut issued: Vec<BackendId> = Vec::new();
    check(&pool, &m);
    for op in ops {
        match *op {
            Op::Add(w, h) => {
                let got = pool.add_backend(Backend::new(w).health(h));
                let want_slot = if w > MAX_WEIGHT {
                    Err(BackendError::WeightTooLarge)
                } else {
                    // N * MAX_WEIGHT < MAX_TOTAL_WEIGHT: no overflow at this size
                    m.free_slot().ok_or(BackendError::Full)
                };
                match (got, want_slot) {
                    (Ok(id), Ok(i)) => {
                        assert_eq!(id.index(), i, "add takes the lowest free slot");
                        assert!(!issued.contains(&id), "id {id:?} handed out twice");
                        issued.push(id);
                        m.slots[i] = Slot::Live(Live {
                            id,
                            weight: w,
                            health: h,
                            cap: None,
                            in_flight: 0,
                            latency_us: None,
                            failure_streak: 0,
                        });
                        m.last_id[i] = Some(id);
                    }
                    (got, want) => assert_eq!(got.map(|id| id.index()), want, "add({w}, {h:?})"),
                }
            }
            Op::Remove(i) => {
                let Some((id, live)) = target(&m, i) else {
                    continue;
                };
                let got = pool.remove(id);
                if live {
                    assert_eq!(got, Ok(()));
                    let l = *m.live(id.index()).unwrap();
                    m.slots[id.index()] = Slot::Removed {
                        in_flight: l.in_flight,
                    };
                    m.stale.push(id);
                } else {
                    assert_eq!(got, Err(BackendError::Stale), "remove of a removed id");
                }
            }
            Op::SetWeight(i, w) => {
                let Some((id, live)) = target(&m, i) else {
                    continue;
                };
                let got = pool.set_weight(id, w);
                if w > MAX_WEIGHT {
                    assert_eq!(got, Err(BackendError::WeightTooLarge));
                } else if live {
                    assert_eq!(got, Ok(()));
                    m.live_mut(id.index()).unwrap().weight = w;
                } else {
                    assert_eq!(got, Err(BackendError::Stale));
                }
            }
            Op::SetHealth(i, h) => {
                let Some((id, live)) = target(&m, i) else {
                    continue;
                };
                let got = pool.set_health(id, h);
                if live {
                    assert_eq!(got, Ok(()));
                    let b = m.live_mut(id.index()).unwrap();
                    if b.health != Health::Up && h == Health::Up {
                        // back up: failures reported before start no new streak
                        b.failure_streak = 0;
                    }
                    b.health = h;
                } else {
                    assert_eq!(got, Err(BackendError::Stale));
                }
            }
            Op::SetCap(i, c) => {
                let Some((id, live)) = target(&m, i) else {
                    continue;
                };
                // a cap of 0 cannot be said (`NonZeroU32`): `Some(0)` here is "no cap"; a cap
                // of MAX_IN_FLIGHT or more is no cap either, and reads back as such
                let got = pool.set_cap(id, c.and_then(NonZeroU32::new));
                if live {
                    assert_eq!(got, Ok(()));
                    m.live_mut(id.index()).unwrap().cap =
                        c.filter(|&c| c != 0 && c < tinylb::MAX_IN_FLIGHT);
                } else {
                    assert_eq!(got, Err(BackendError::Stale));
                }
            }
            Op::Acquire(i) => {
                let Some((id, live)) = target(&m, i) else {
                    continue;
                };
                let want = live && m.live(id.index()).unwrap().eligible();
                match Lease::acquire(&pool, id) {
                    Some(l) => {
                        assert!(want, "acquired an ineligible or stale backend {id:?}");
                        m.live_mut(id.index()).unwrap().in_flight += 1;
                        leases.push(l);
                    }
                    None => assert!(!want, "refused an eligible backend {id:?}"),
                }
            }
            Op::Pick(s) => {
                let any = m.any_eligible();
                match strategies[s].lease(&pool, &mut Request::new()) {
                    Some(l) => {
                        let i = l.index();
                        let model = m.live_mut(i).expect("picked a backend not in the pool");
                        assert_eq!(l.id(), model.id);
                        assert!(model.eligible(), "picked an ineligible backend {model:?}");
                        model.in_flight += 1;
                        leases.push(l);
                    }
                    None => assert!(!any, "strategy {s} found nothing, but {m:?}"),
                }
            }
            Op::Drop(k) => {
                if leases.is_empty() {
                    continue;
                }
                let l = leases.swap_remove(k % leases.len());
                *m.slots[l.index()].in_flight_mut() -= 1;
                drop(l);
            }
            Op::Finish(k, ok, lat) => {
                if leases.is_empty() {
                    continue;
                }
                let l = leases.swap_remove(k % leases.len());
                let (i, id) = (l.index(), l.id());
                let slot = &mut m.slots[i];
                *slot.in_flight_mut() -= 1;
                if let Slot::Live(b) = slot {
                    assert_eq!(b.id, id, "a slot was reused under a lease");
                    // every finish is at the same instant, so the peak-sensitive estimate
                    // is the largest sample so far (a 0 µs sample is stored as 1)
                    let sample = u32::try_from(lat).unwrap_or(u32::MAX).max(1);
                    b.latency_us = Some(b.latency_us.map_or(sample, |e| e.max(sample)));
                    b.failure_streak = if ok { 0 } else { b.failure_streak + 1 };
                }
                l.finish(if ok {
                    Outcome::success_after(Duration::from_micros(lat)).at_us(0)
                } else {
                    Outcome::failure_after(Duration::from_micros(lat)).at_us(0)
                });
            }
        }
        check(&pool, &m);
    }
    // the last leases give back their units, and every removed slot becomes free
    drop(leases);
    for s in &mut m.slots {
        if let Slot::Live(l) = s {
            l.in_flight = 0;
        } else if let Slot::Removed { in_flight } = s {
            *in_flight = 0;
        }
    }
    check(&pool, &m);
    let free = m
        .slots
        .iter()
        .filter(|s| !matches!(s, Slot::Live(_)))
        .count();
    for _ in 0..free {
        assert!(pool.add(1).is_ok());
    }
    assert_eq!(pool.add(1), Err(BackendError::Full));
    assert_eq!(pool.len(), N);
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    #[test]
    fn pool_agrees_with_the_model(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops);
    }
}

#[test]
fn fixed_sequence_against_the_model() {
    // a hand-written sequence through the same checker, so the model itself is exercised
    // on the interesting paths even if the random search misses them
    use Op::*;
    run(&[
        Add(1, Health::Up),
        Add(2, Health::Down),
        Add(0, Health::Up),
        SetCap(0, Some(1)),
        Acquire(0),
        Acquire(0),
        Pick(0),
        Remove(0),
        Add(3, Health::Up),
        Add(1, Health::Draining),
        Add(1, Health::Up),
        Add(1, Health::Up),
        Finish(0, false, 700),
        Add(4, Health::Up),
        Remove(0),
        SetWeight(0, 9),
        SetHealth(1, Health::Up),
        Pick(2),
        Pick(3),
        Finish(0, true, u64::MAX),
        Drop(0),
        Remove(1),
        Add(MAX_WEIGHT, Health::Up),
        Add(MAX_WEIGHT + 1, Health::Up),
    ]);
}

#[test]
fn add_into_a_full_pool_changes_nothing() {
    let pool: Pool<3> = Pool::new();
    let ids: Vec<_> = (1..=3).map(|w| pool.add(w).unwrap()).collect();
    pool.set_cap(ids[1], NonZeroU32::new(2)).unwrap();
    let _l = Lease::acquire(&pool, ids[2]).unwrap();
    let before: Vec<_> = ids.iter().map(|&id| pool.info(id).unwrap()).collect();
    for w in [0, 1, MAX_WEIGHT] {
        assert_eq!(pool.add(w), Err(BackendError::Full));
        assert_eq!(
            pool.add_backend(Backend::new(w).health(Health::Down)),
            Err(BackendError::Full)
        );
    }
    let after: Vec<_> = ids.iter().map(|&id| pool.info(id).unwrap()).collect();
    assert_eq!(before, after);
    assert_eq!(pool.total_weight(), 6);
    assert_eq!(pool.len(), 3);
    assert_eq!(pool.ids().as_slice(), ids.as_slice());
}

#[test]
fn removed_ids_are_stale_everywhere() {
    let pool: Pool<2> = Pool::new();
    let a = pool.add(1).unwrap();
    pool.remove(a).unwrap();
    for _ in 0..2 {
        assert_eq!(pool.remove(a), Err(BackendError::Stale));
        assert_eq!(pool.set_weight(a, 1), Err(BackendError::Stale));
        assert_eq!(pool.set_health(a, Health::Up), Err(BackendError::Stale));
        assert_eq!(
            pool.set_cap(a, NonZeroU32::new(1)),
            Err(BackendError::Stale)
        );
        assert_eq!(pool.info(a), Err(BackendError::Stale));
        // the slot is reused by a new backend; the old id stays stale
        let b = pool.add(1).unwrap();
        assert_eq!(b.index(), a.index());
        assert_ne!(b.generation(), a.generation());
        pool.remove(b).unwrap();
    }
}

#[test]
fn ids_survive_other_backends_changing() {
    // slot indices are stable: removing one backend moves no other
    let pool: Pool<4> = Pool::new();
    let ids: Vec<_> = (0..4).map(|_| pool.add(1).unwrap()).collect();
    pool.remove(ids[1]).unwrap();
    assert_eq!(pool.ids().as_slice(), [ids[0], ids[2], ids[3]]);
    for &i in &[0usize, 2, 3] {
        assert_eq!(pool.id_at(i), Some(ids[i]));
        assert_eq!(pool.info(ids[i]).unwrap().id, ids[i]);
    }
    assert_eq!(pool.id_at(1), None);
}

static POOL: Pool<4> = Pool::new();

#[test]
fn a_static_pool_works() {
    assert_eq!(POOL.capacity(), 4);
    assert!(POOL.is_empty());
    let a = POOL.add(3).unwrap();
    let b = POOL
        .add_backend(Backend::new(1).health(Health::Down))
        .unwrap();
    assert_eq!(POOL.len(), 2);
    assert_eq!(POOL.total_weight(), 4);
    assert!(POOL.is_eligible(a.index(), 0));
    assert!(!POOL.is_eligible(b.index(), 0));
    let l = RoundRobin::new().lease(&POOL, &mut Request::new()).unwrap();
    assert_eq!(l.id(), a);
    assert_eq!(POOL.info(a).unwrap().in_flight, 1);
    drop(l);
    POOL.remove(b).unwrap();
    assert_eq!(POOL.ids().as_slice(), [a]);
    assert_eq!(POOL.half_life_ms(), tinylb::DEFAULT_HALF_LIFE_MS);
    let custom: Pool<2> = Pool::with_half_life_ms(250);
    assert_eq!(custom.half_life_ms(), 250);
    let d: Pool<2> = Pool::default();
    assert!(d.is_empty());
}
