//! Unit tests of `flight.rs`: both layouts against one reference model of the in-flight
//! word and the abandoned total, on any host (the layout a target's slots use is chosen by
//! `cfg`; both are compiled for tests), and the edges of the combined operation's carry.

use super::*;
use crate::pool::MAX_IN_FLIGHT;
use proptest::prelude::*;

/// The two layouts' common methods, so one test runs on both.
trait Layout {
    type S: Copy + core::fmt::Debug;
    fn make() -> Self;
    fn seen(&self) -> Self::S;
    fn count(&self) -> u32;
    fn word(s: Self::S) -> Flight;
    fn cas(&self, s: Self::S, next: Flight) -> Result<(), Self::S>;
    fn release(&self);
    fn release_abandoned(&self);
    fn unpin(&self);
    fn claim(&self, s: Self::S, generation: u32) -> bool;
    fn abandoned(&self) -> u32;
    fn set_abandoned(&self, total: u32);
    /// The combined layout compares the abandoned half in its compare-and-swap too.
    const JOINT: bool;
}

macro_rules! layout {
    ($t:ty, $s:ty, $joint:expr) => {
        impl Layout for $t {
            type S = Seen<$s>;
            fn make() -> Self {
                <$t>::new()
            }
            fn seen(&self) -> Self::S {
                self.load(Ordering::SeqCst)
            }
            fn count(&self) -> u32 {
                <$t>::count(self, Ordering::Relaxed)
            }
            fn word(s: Self::S) -> Flight {
                s.flight()
            }
            fn cas(&self, s: Self::S, next: Flight) -> Result<(), Self::S> {
                self.compare_exchange(s, next)
            }
            fn release(&self) {
                <$t>::release(self)
            }
            fn release_abandoned(&self) {
                <$t>::release_abandoned(self)
            }
            fn unpin(&self) {
                <$t>::unpin(self)
            }
            fn claim(&self, s: Self::S, generation: u32) -> bool {
                <$t>::claim(self, s, generation)
            }
            fn abandoned(&self) -> u32 {
                <$t>::abandoned(self)
            }
            fn set_abandoned(&self, total: u32) {
                <$t>::set_abandoned(self, total)
            }
            const JOINT: bool = $joint;
        }
    };
}

#[cfg(target_has_atomic = "64")]
layout!(joint::Joint, u64, true);
layout!(split::Split, u32, false);

/// What both layouts must hold: the in-flight word's fields and the abandoned total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    tag: u32,
    pins: u32,
    count: u32,
    abandoned: u32,
}

impl Model {
    fn word(self) -> Flight {
        Flight((self.tag << 24) | (self.pins * Flight::PIN) | self.count)
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Take,
    Release,
    Abandon,
    Pin,
    Unpin,
    Claim(u32),
    SetAbandoned(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Take),
        2 => Just(Op::Release),
        3 => Just(Op::Abandon),
        1 => Just(Op::Pin),
        1 => Just(Op::Unpin),
        1 => any::<u32>().prop_map(Op::Claim),
        1 => prop_oneof![Just(u32::MAX), Just(u32::MAX - 1), any::<u32>()]
            .prop_map(Op::SetAbandoned),
    ]
}

/// Applies `op` to `w` the way the crate's callers do (each only where its precondition
/// holds, as the callers guarantee) and to the model.
fn apply<L: Layout>(w: &L, m: &mut Model, op: Op) {
    let s = w.seen();
    let f = L::word(s);
    match op {
        Op::Take if m.count < MAX_IN_FLIGHT => {
            w.cas(s, Flight(f.0 + 1)).unwrap();
            m.count += 1;
        }
        Op::Release if m.count > 0 => {
            w.release();
            m.count -= 1;
        }
        Op::Abandon if m.count > 0 => {
            w.release_abandoned();
            m.count -= 1;
            m.abandoned = m.abandoned.wrapping_add(1);
        }
        Op::Pin if m.pins < 7 => {
            w.cas(s, f.pinned().unwrap()).unwrap();
            m.pins += 1;
        }
        Op::Unpin if m.pins > 0 => {
            w.unpin();
            m.pins -= 1;
        }
        Op::Claim(g) if f.free() => {
            assert!(w.claim(s, g));
            *m = Model {
                tag: g & 0xff,
                pins: 0,
                count: 0,
                abandoned: 0,
            };
        }
        Op::SetAbandoned(v) => {
            w.set_abandoned(v);
            m.abandoned = v;
        }
        _ => {}
    }
}

fn run<L: Layout>(ops: &[Op], start: Model) -> Result<(), TestCaseError> {
    let w = L::make();
    let mut m = Model {
        tag: 0,
        pins: 0,
        count: 0,
        abandoned: 0,
    };
    prop_assert_eq!(L::word(w.seen()), m.word());
    prop_assert_eq!(w.abandoned(), 0);
    // start from `start` through the public moves (claim, then takes and pins)
    apply(&w, &mut m, Op::Claim(start.tag));
    apply(&w, &mut m, Op::SetAbandoned(start.abandoned));
    for _ in 0..start.pins {
        apply(&w, &mut m, Op::Pin);
    }
    for _ in 0..start.count {
        apply(&w, &mut m, Op::Take);
    }
    prop_assert_eq!(m, start);
    for &o in ops {
        apply(&w, &mut m, o);
        prop_assert_eq!(L::word(w.seen()), m.word(), "after {:?}", o);
        prop_assert_eq!(w.abandoned(), m.abandoned, "after {:?}", o);
        prop_assert_eq!(w.count(), m.count, "after {:?}", o);
    }
    Ok(())
}

fn start() -> impl Strategy<Value = Model> {
    (0u32..=0xff, 0u32..=7, 0u32..4, any::<u32>()).prop_map(|(tag, pins, count, abandoned)| Model {
        tag,
        pins,
        count,
        abandoned,
    })
}

/// Longest sequence of operations a case runs: shorter under miri, where each costs about
/// a second (the properties' case count already follows `PROPTEST_CASES`).
const OPS: usize = if cfg!(miri) { 12 } else { 48 };

proptest! {
    /// Any sequence of the callers' operations leaves both layouts where the model is: the
    /// combined operation moves the count and the total by exactly one each, and nothing
    /// else (tag, pins, the other half) moves.
    #[test]
    fn both_layouts_follow_the_model(
        s in start(),
        ops in prop::collection::vec(op(), 0..OPS),
    ) {
        #[cfg(target_has_atomic = "64")]
        run::<joint::Joint>(&ops, s)?;
        run::<split::Split>(&ops, s)?;
    }
}

/// The carry's edges: the total wraps at `u32::MAX` without touching the word below it,
/// and a full word (every pin, the last count) loses exactly one unit.
fn edges<L: Layout>() {
    let w = L::make();
    let s = w.seen();
    assert!(w.claim(s, 0x1ff));
    w.set_abandoned(u32::MAX);
    for _ in 0..7 {
        let s = w.seen();
        w.cas(s, L::word(s).pinned().unwrap()).unwrap();
    }
    for _ in 0..2 {
        let s = w.seen();
        w.cas(s, Flight(L::word(s).0 + 1)).unwrap();
    }
    let full = L::word(w.seen());
    w.release_abandoned();
    assert_eq!(w.abandoned(), 0, "the total wraps");
    assert_eq!(L::word(w.seen()).0, full.0 - 1, "tag and pins stay");
    w.release_abandoned();
    assert_eq!(w.abandoned(), 1);
    let f = L::word(w.seen());
    assert!(f.tagged(0xff) && f.count() == 0 && !f.free());
    for _ in 0..7 {
        w.unpin();
    }
    assert!(L::word(w.seen()).free());
    assert_eq!(w.abandoned(), 1, "unpinning leaves the total");
}

#[test]
fn the_carry_goes_into_the_total_and_nowhere_else() {
    #[cfg(target_has_atomic = "64")]
    edges::<joint::Joint>();
    edges::<split::Split>();
}

/// A snapshot taken before another lease's end and a new take (the word's fields are back
/// where they were, the total is one more): the combined layout's compare-and-swap fails
/// and hands back the word as it is, so the retry carries the new total; the split layout
/// compares the word alone. Either way no count is lost.
fn stale<L: Layout>() {
    let w = L::make();
    let s = w.seen();
    assert!(w.claim(s, 3));
    let s = w.seen();
    w.cas(s, Flight(L::word(s).0 + 1)).unwrap();
    let old = w.seen();
    w.release_abandoned();
    let s = w.seen();
    w.cas(s, Flight(L::word(s).0 + 1)).unwrap();
    assert_eq!(L::word(w.seen()), L::word(old));
    let next = Flight(L::word(old).0 + 1);
    match w.cas(old, next) {
        Ok(()) => assert!(!L::JOINT, "the combined layout compares the total too"),
        Err(now) => {
            assert!(L::JOINT);
            assert_eq!(L::word(now), L::word(old));
            w.cas(now, next).unwrap();
        }
    }
    assert_eq!((L::word(w.seen()).count(), w.abandoned()), (2, 1));
    // a claim on a stale snapshot fails
    assert!(!w.claim(old, 4));
    w.release_abandoned();
    w.release();
    assert_eq!((L::word(w.seen()), w.abandoned()), (Flight::idle(3), 2));
}

#[test]
fn a_stale_snapshot_loses_no_count() {
    #[cfg(target_has_atomic = "64")]
    stale::<joint::Joint>();
    stale::<split::Split>();
}
