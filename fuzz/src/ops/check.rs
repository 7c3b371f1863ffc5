//! The comparisons: a pick against what the model allows, and everything the pool shows
//! against the model after every step.

use std::fmt;
use std::vec::Vec;

use tinylb::{BackendError, BackendId, Pool};

use super::Op;
use super::model::{Model, State, Tier, tick};

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

/// Reads back which ejections a call that looked at the views `looked` at tick `now` ended
/// (the model as it was before the call: `before`), checks that each was allowed to end
/// (expired, up, weighted, in a tier the call looked at) and that `must`, if it was allowed
/// to, did; then brings `model` up to date.
pub(super) fn read_back_ends<const N: usize>(
    pool: &Pool<N>,
    before: &Model,
    model: &mut Model,
    looked: &[Tier],
    must: Option<usize>,
    now: u32,
    at: &str,
) {
    let may = before.may_end(looked, now);
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
                "{at}: slot {i}'s ejection (until tick {}) ended at tick {now} by a call that looked at {looked:?}: {s:?}",
                s.until
            );
            model.uneject(i, now);
        } else {
            assert!(
                must != Some(i) || !may.contains(&i),
                "{at}: slot {i}'s ejection (until tick {}) did not end at tick {now} although the call judged it: {s:?}",
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
    let (allowed, looked) = before.allowed(now);
    check_pick_of(pool, before, model, got, (allowed, looked), now, at);
}

/// [`check_pick`] for a request that excludes the slots marked in `excluded` and prefers
/// slot `prefer`: the pick is one the model allows under them (exactly the preferred slot
/// when a pick may take it), `None` only when nothing is left.
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

/// The pick `got` against what the model allows, `allowed` found by looking at the views
/// `looked`; then the ejections the pick ended.
fn check_pick_of<const N: usize>(
    pool: &Pool<N>,
    before: &Model,
    model: &mut Model,
    got: Option<BackendId>,
    (allowed, looked): (Vec<usize>, Vec<Tier>),
    now: u32,
    at: &str,
) {
    // a picked backend was judged by the view it came from: its ejection, if expired, ended
    read_back_ends(
        pool,
        before,
        model,
        &looked,
        got.map(|id| id.index()),
        now,
        at,
    );
    let views: Vec<(Tier, Vec<usize>)> = before
        .tiers()
        .into_iter()
        .map(|t| (t, before.candidates(t, now)))
        .collect();
    match got {
        None => assert!(
            allowed.is_empty(),
            "{at}: None although {allowed:?} are eligible (views {views:?}, panic {}) in {:?}",
            before.panic(),
            before.slots
        ),
        Some(id) => {
            let i = id.index();
            assert!(
                allowed.contains(&i),
                "{at}: picked slot {i}, allowed {allowed:?} (views {views:?}, panic {}) in {:?}",
                before.panic(),
                before.slots
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
    let (want, looked) = before.eligible(index, now);
    let got = pool.is_eligible(index, now_us);
    assert_eq!(
        got, want,
        "{at}: is_eligible({index}) (views {looked:?}) in {:?}",
        before.slots
    );
    read_back_ends(pool, &before, model, &looked, Some(index), now, at);
}

/// Everything the pool shows agrees with the model.
///
/// Eligibility of every slot (and of index `N`, out of range) is asked only where the call
/// can end no ejection (no expired one in a tier it looks at): elsewhere asking would end
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
        let (want, looked) = model.eligible(index, now);
        if model.may_end(&looked, now).is_empty() {
            assert_eq!(
                pool.is_eligible(index, at.now_us),
                want,
                "{at}: eligibility of slot {index} (views {looked:?}) in {:?}",
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
                info.backup
            ),
            (
                s.weight,
                health,
                s.in_flight,
                s.cap,
                s.streak,
                s.ejected,
                s.backup
            ),
            "{at}: info of slot {i} (weight, health, in_flight, cap, streak, ejected, backup)"
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
}
