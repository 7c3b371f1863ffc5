//! The comparisons: a pick against what the model allows, and everything the pool shows
//! against the model after every step.

use std::fmt;
use std::format;
use std::vec::Vec;

use tinylb::{BackendError, BackendId, MAX_LEVELS, Pool};

use super::Op;
use super::model::{Model, State, tick};
use super::route::Allowed;

/// Where a check failed: the step, its op and the clock, printed before every message.
pub(super) struct Fail<'a> {
    pub(super) step: usize,
    pub(super) op: &'a Op,
    pub(super) now_us: u64,
}

impl fmt::Display for Fail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} {:?} at {} µs", self.step, self.op, self.now_us)
    }
}

/// Reads back which ejections a call ended (the model as it was before the call:
/// `before`), checks that each was allowed to (`may`: expired, and judged by the call or
/// counted by its census) and that each of `must` did; then brings `model` up to date.
pub(super) fn read_back_ends<const N: usize>(
    pool: &Pool<N>,
    (before, model): (&Model, &mut Model),
    may: &[usize],
    must: &[usize],
    now: u32,
    at: &str,
) {
    for i in 0..N {
        let s = &before.slots[i];
        if !s.ejected {
            continue;
        }
        let id = pool.id_at(i).expect("an ejected backend is in the pool");
        let still = pool.info(id).expect("current id").ejected;
        if !still {
            assert!(
                may.contains(&i),
                "{at}: slot {i}'s ejection (until tick {}) ended at tick {now}, may end {may:?}: {s:?}",
                s.until
            );
            model.uneject(i, now);
        } else {
            assert!(
                !must.contains(&i),
                "{at}: slot {i}'s ejection (until tick {}) did not end at tick {now}, must end {must:?}: {s:?}",
                s.until
            );
        }
    }
}

/// Checks one pick (`got`) against the model as it was before it (`before`), and brings
/// `model` up to date with the ejections the pick ended.
pub(super) fn check_pick<const N: usize>(
    pool: &Pool<N>,
    before: &Model,
    model: &mut Model,
    got: Option<BackendId>,
    now: u32,
    at: &str,
) {
    check_pick_of(pool, before, model, got, before.allowed(now), now, at);
}

/// [`check_pick`] for a request that excludes the slots marked in `excluded` and prefers
/// slot `prefer`: the pick is one the model allows under them (exactly the preferred slot
/// when a pick may take it), `None` only when a pick may find nothing.
pub(super) fn check_retry<const N: usize>(
    pool: &Pool<N>,
    before: &Model,
    model: &mut Model,
    got: Option<BackendId>,
    (excluded, prefer): (&[bool], Option<usize>),
    now: u32,
    at: &str,
) {
    let allowed = before.allowed_with(now, excluded, prefer);
    check_pick_of(pool, before, model, got, allowed, now, at);
}

/// The pick `got` against what the model allows; then the ejections the pick ended (a
/// picked backend was judged by the view it came from: its ejection, if expired, ended).
fn check_pick_of<const N: usize>(
    pool: &Pool<N>,
    before: &Model,
    model: &mut Model,
    got: Option<BackendId>,
    allowed: Allowed,
    now: u32,
    at: &str,
) {
    let must = allowed.must_end(got.map(|id| id.index()));
    read_back_ends(pool, (before, model), &allowed.may_end, &must, now, at);
    let why = || {
        format!(
            "loads {:?}, spread {}, panic {} in {:?}",
            before.loads(),
            before.spread(),
            before.panic(),
            before.slots
        )
    };
    match got {
        None => assert!(
            allowed.none,
            "{at}: None although a pick must find one of {:?}; {}",
            allowed.slots,
            why()
        ),
        Some(id) => {
            let i = id.index();
            assert!(
                allowed.slots.contains(&i),
                "{at}: picked slot {i}, allowed {:?}; {}",
                allowed.slots,
                why()
            );
            assert_eq!(
                id.generation(),
                before.slots[i].generation,
                "{at}: picked id is not the current backend"
            );
        }
    }
}

/// `Pool::is_eligible(index, now_us)` exactly, and the ejections it ended.
pub(super) fn check_eligible<const N: usize>(
    pool: &Pool<N>,
    model: &mut Model,
    index: usize,
    now_us: u64,
    at: &str,
) {
    let now = tick(now_us);
    let before = model.clone();
    let (want, ends, judged) = before.eligible(index, now);
    let got = pool.is_eligible(index, now_us);
    assert_eq!(
        got,
        want,
        "{at}: is_eligible({index}) (loads {:?}, spread {}) in {:?}",
        before.loads(),
        before.spread(),
        before.slots
    );
    let must = ends.must_end(judged);
    read_back_ends(pool, (&before, model), &ends.may_end, &must, now, at);
}

/// Everything the pool shows agrees with the model.
///
/// Eligibility of every slot (and of index `N`, out of range) is asked only where the call
/// can end no ejection (no expired one it could judge or count): elsewhere asking would end
/// ejections that the scenario's picks are meant to end lazily. `Op::IsEligible` asks
/// anywhere.
pub(super) fn compare<const N: usize>(
    pool: &Pool<N>,
    model: &Model,
    ids: &[BackendId],
    at: &Fail<'_>,
) {
    let now = tick(at.now_us);
    for index in 0..=N {
        let (want, ends, _) = model.eligible(index, now);
        if ends.may_end.is_empty() {
            assert_eq!(
                pool.is_eligible(index, at.now_us),
                want,
                "{at}: eligibility of slot {index} (loads {:?}, spread {}) in {:?}",
                model.loads(),
                model.spread(),
                model.slots
            );
        }
    }
    let mut live = Vec::new();
    for (i, s) in model.slots.iter().enumerate() {
        assert_eq!(
            pool.in_flight_at(i),
            s.in_flight,
            "{at}: in-flight of slot {i}"
        );
        let id = pool.id_at(i);
        if !s.live() {
            assert_eq!(id, None, "{at}: slot {i} is {:?}", s.state);
            continue;
        }
        let id = id.unwrap_or_else(|| panic!("{at}: slot {i} has no id: {s:?}"));
        assert_eq!(
            id.generation(),
            s.generation,
            "{at}: generation of slot {i}"
        );
        live.push(id);
        let info = pool
            .info(id)
            .unwrap_or_else(|e| panic!("{at}: info {id:?}: {e}"));
        let State::Live(health) = s.state else {
            unreachable!()
        };
        assert_eq!(
            (
                info.weight,
                info.health,
                info.in_flight,
                info.cap,
                info.failure_streak,
                info.ejected,
                info.backup,
                info.level
            ),
            (
                s.weight,
                health,
                s.in_flight,
                s.cap,
                s.streak,
                s.ejected,
                s.level > 0,
                s.level
            ),
            "{at}: info of slot {i} (weight, health, in_flight, cap, streak, ejected, backup, level)"
        );
        assert_eq!(pool.share(id), Ok(s.share), "{at}: share of slot {i}");
        match (info.latency_us, s.samples) {
            (None, None) => {}
            (Some(est), Some((lo, hi))) => assert!(
                (lo..=hi).contains(&est),
                "{at}: slot {i} estimate {est} outside the samples {lo}..={hi}"
            ),
            (got, want) => panic!("{at}: slot {i} estimate {got:?}, samples {want:?}"),
        }
    }
    for &id in ids {
        if model.resolve(id).is_err() {
            assert_eq!(
                pool.info(id),
                Err(BackendError::Stale),
                "{at}: stale {id:?}"
            );
            assert_eq!(
                pool.share(id),
                Err(BackendError::Stale),
                "{at}: stale {id:?}"
            );
        }
    }
    assert_eq!(pool.len(), live.len(), "{at}: len");
    assert_eq!(pool.is_empty(), live.is_empty(), "{at}: is_empty");
    assert_eq!(
        pool.total_weight() as u64,
        model.total_weight(),
        "{at}: total weight"
    );
    // `Ids` is a slice of what is left and an exact-size iterator
    let mut listed = pool.ids();
    assert_eq!(&*listed, &live[..], "{at}: ids as a slice");
    assert_eq!(listed.len(), live.len(), "{at}: ids' length");
    if let Some(first) = listed.next() {
        assert_eq!(first, live[0], "{at}: first id");
        assert_eq!(&*listed, &live[1..], "{at}: ids left after one");
    }
    assert_eq!(
        listed.collect::<Vec<_>>(),
        live.get(1..).unwrap_or(&[]),
        "{at}: ids as an iterator"
    );
    assert_eq!(
        pool.ejected_count() as u64,
        model.ejected(),
        "{at}: ejected count"
    );
    assert_eq!(pool.in_panic(), model.panic(), "{at}: panic");
    // Envoy's arithmetic exactly, on the counts as they are (no ejection ends)
    let got = pool.priority_load();
    let want = model.loads();
    let pad = |v: &[u64]| -> Vec<u64> {
        let mut p = v.to_vec();
        p.resize(MAX_LEVELS, 0);
        p
    };
    let mut panic = want.panic.clone();
    panic.resize(MAX_LEVELS, false);
    assert_eq!(
        (
            got.healthy.map(u64::from).to_vec(),
            got.degraded.map(u64::from).to_vec(),
            got.panic.to_vec(),
            got.levels as usize
        ),
        (
            pad(&want.healthy),
            pad(&want.degraded),
            panic,
            want.panic.len()
        ),
        "{at}: priority load (healthy, degraded, panic, levels) in {:?}",
        model.slots
    );
}
