//! The comparisons: a pick against what the model allows, and everything the pool shows
//! against the model after every step.

use std::fmt;
use std::vec::Vec;

use tinylb::{BackendError, BackendId, Pool};

use super::Op;
use super::model::{Model, State, reached};

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
    let panic_start = before.panic();
    let pickable = |backup: bool, panic: bool| -> Vec<usize> {
        (0..N)
            .filter(|&i| before.slots[i].pickable(backup, now, panic))
            .collect()
    };
    let primary = pickable(false, panic_start);
    // In panic with a backup tier, healthy backups come first (ejected ones stay out: a calm
    // view), and only without one are the ejected primaries picked from again.
    let spill = panic_start && before.has_backups();
    let calm_backup = if spill {
        pickable(true, false)
    } else {
        Vec::new()
    };
    // which tiers a pick looks into
    let (looked_primary, looked_backup) = if spill {
        (calm_backup.is_empty(), true)
    } else {
        (true, primary.is_empty() && before.has_backups())
    };

    // read back the ejections that ended lazily: only an expired one, of a backend the pick
    // could have looked at (up, weight > 0, in a tier it looked into)
    let mut ended = Vec::new();
    for i in 0..N {
        let s = &before.slots[i];
        if !s.ejected {
            continue;
        }
        let id = pool.id_at(i).expect("an ejected backend is in the pool");
        let still = pool.info(id).expect("current id").ejected;
        if still {
            continue;
        }
        assert!(
            s.up() && s.weight > 0 && reached(now, s.until),
            "{at}: slot {i}'s ejection (until tick {}) ended at tick {now}: {s:?}",
            s.until
        );
        let looked = if s.backup {
            looked_backup
        } else {
            looked_primary
        };
        assert!(
            looked,
            "{at}: slot {i} (backup: {}) un-ejected by a pick that did not look at its tier",
            s.backup
        );
        ended.push(i);
    }
    for &i in &ended {
        if !before.slots[i].backup {
            model.uneject(i, now);
        }
    }
    // without the spill, the backup tier's view is made after the primary pick (and its
    // un-ejections)
    let panic_backup = model.panic();
    let backup = pickable(true, panic_backup);
    for &i in &ended {
        if before.slots[i].backup {
            model.uneject(i, now);
        }
    }

    // In the spill, when neither a healthy backup nor any primary can take the pick, an
    // ejected backup is picked in panic: below the panic threshold every backend that is up
    // is eligible again, in either tier.
    let panic_backups = pickable(true, true);
    let allowed = match (spill, calm_backup.is_empty(), primary.is_empty()) {
        (true, false, _) => &calm_backup,
        (true, true, false) | (false, _, false) => &primary,
        (true, true, true) => &panic_backups,
        (false, _, true) => &backup,
    };
    match got {
        None => assert!(
            allowed.is_empty(),
            "{at}: None although {allowed:?} are eligible (primary {primary:?}, backup {backup:?}, panic {panic_start}/{panic_backup}) in {:?}",
            before.slots
        ),
        Some(id) => {
            let i = id.index();
            assert!(
                allowed.contains(&i),
                "{at}: picked slot {i}, allowed {allowed:?} (primary {primary:?}, backup {backup:?}, panic {panic_start}/{panic_backup}) in {:?}",
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

/// Everything the pool shows agrees with the model.
pub(super) fn compare<const N: usize>(
    pool: &Pool<N>,
    model: &Model,
    ids: &[BackendId],
    at: &Fail<'_>,
) {
    let mut live = Vec::new();
    for (i, s) in model.slots.iter().enumerate() {
        assert_eq!(
            pool.in_flight_at(i),
            s.in_flight,
            "{at}: in-flight of slot {i}"
        );
        assert_eq!(
            pool.is_eligible(i),
            s.eligible_flagged(),
            "{at}: eligibility of slot {i}: {s:?}"
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
        }
    }
    assert_eq!(pool.len(), live.len(), "{at}: len");
    assert_eq!(pool.is_empty(), live.is_empty(), "{at}: is_empty");
    assert_eq!(
        pool.total_weight() as u64,
        model.total_weight(),
        "{at}: total weight"
    );
    assert_eq!(
        pool.ids().iter().copied().collect::<Vec<_>>(),
        live,
        "{at}: ids"
    );
    assert_eq!(
        pool.ejected_count() as u64,
        model.ejected(),
        "{at}: ejected count"
    );
    assert_eq!(pool.in_panic(), model.panic(), "{at}: panic");
}
