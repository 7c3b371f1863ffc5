//! The harness: a real pool and the model side by side, one method per operation. Each
//! method applies its op to both, checks the pool's answer against the model's, and
//! [`Harness::step`] compares everything the pool shows after it.

use core::num::NonZeroU32;
use core::time::Duration;
use std::format;
use std::vec::Vec;

use tinylb::strategy::STRATEGY_NAMES;
use tinylb::{
    Backend, BackendError, BackendId, FULL_SHARE, Health, Lease, MAX_LEVELS, MAX_WEIGHT, Outcome,
    Pool, Request, Select, SelectExt, Strategy, Tried,
};

use super::check::{Fail, check_eligible, check_pick, check_retry, compare};
use super::model::{Model, tick};
use super::{Op, PickReq, Scenario, TABLE};
use crate::splitmix::SplitMix;

/// Most ids remembered (old ones are dropped first).
const MAX_IDS: usize = 64;

/// A lease the scenario holds, with the backend it was taken on.
struct Held<'p, const N: usize> {
    lease: Lease<&'p Pool<N>, N>,
    index: usize,
    generation: u32,
}

/// One scenario in progress.
pub(super) struct Harness<'p, const N: usize> {
    pool: &'p Pool<N>,
    /// One strategy per row of `STRATEGY_NAMES`, parsed from its canonical name.
    strategies: Vec<Strategy<N, TABLE>>,
    model: Model,
    /// Ids handed out so far (the newest [`MAX_IDS`]), removed ones included.
    ids: Vec<BackendId>,
    held: Vec<Held<'p, N>>,
    now_us: u64,
}

impl<'p, const N: usize> Harness<'p, N> {
    pub(super) fn new(pool: &'p Pool<N>, s: &Scenario) -> Self {
        let strategies = STRATEGY_NAMES
            .iter()
            .map(|row| Strategy::from_name(row.name, s.seed).expect("every canonical name parses"))
            .collect();
        Harness {
            pool,
            strategies,
            model: Model::new(N, s.config),
            ids: Vec::new(),
            held: Vec::new(),
            now_us: s.start_us,
        }
    }

    /// Applies `op` (step number `step`) and compares pool and model afterwards.
    pub(super) fn step(&mut self, step: usize, op: &Op) {
        let at = Fail {
            step,
            op,
            now_us: self.now_us,
        };
        match *op {
            Op::Add {
                weight,
                health,
                level,
                cap,
            } => self.add(&at, weight, health, level, cap),
            Op::Remove(r) => self.remove(&at, r),
            Op::SetWeight(r, w) => self.set_weight(&at, r, w),
            Op::SetHealth(r, h) => self.set_health(&at, r, h),
            Op::SetCap(r, cap) => self.set_cap(&at, r, cap),
            Op::SetShare(r, share) => self.set_share(&at, r, share),
            Op::SetBackup(r, b) => self.set_level(&at, r, b as u8, true),
            Op::SetLevel(r, l) => self.set_level(&at, r, l, false),
            Op::Pick(p) => self.pick(&at, p, false),
            Op::Lease(p) => self.pick(&at, p, true),
            Op::Acquire(r) => self.acquire(&at, r),
            Op::Finish {
                lease,
                success,
                latency_us,
            } => self.finish(lease, success, latency_us),
            Op::Drop(r) => self.drop_lease(r),
            Op::IsEligible(r) => {
                let index = r as usize % (N + 1);
                check_eligible(
                    self.pool,
                    &mut self.model,
                    index,
                    self.now_us,
                    &format!("{at}"),
                );
            }
            Op::Advance(d) => self.now_us = self.now_us.saturating_add(d),
            Op::Rewind(d) => self.now_us = self.now_us.saturating_sub(d),
            Op::Retry {
                pick,
                exclude,
                prefer,
            } => self.retry(&at, pick, exclude, prefer),
        }
        compare(self.pool, &self.model, &self.ids, &at);
    }

    /// A known id (perhaps a stale one), by a number taken modulo the ids so far.
    fn id_ref(&self, r: u8) -> Option<BackendId> {
        (!self.ids.is_empty()).then(|| self.ids[r as usize % self.ids.len()])
    }

    fn add(
        &mut self,
        at: &Fail<'_>,
        weight: u32,
        health: Health,
        level: u8,
        cap: Option<NonZeroU32>,
    ) {
        let got = if health == Health::Up && level == 0 && cap.is_none() {
            self.pool.add(weight)
        } else {
            let b = Backend::new(weight).health(health).cap(cap);
            self.pool.add_backend(match level {
                0 => b,
                1 => b.backup(),
                l => b.level(l),
            })
        };
        match (got, self.model.add(weight, health, level, cap)) {
            (Ok(id), Ok((i, g))) => {
                assert_eq!((id.index(), id.generation()), (i, g), "{at}: new id");
                if self.ids.len() == MAX_IDS {
                    self.ids.remove(0);
                }
                self.ids.push(id);
            }
            (got, want) => assert_eq!(got.map(|_| ()), want.map(|_| ()), "{at}: add"),
        }
    }

    fn remove(&mut self, at: &Fail<'_>, r: u8) {
        let Some(id) = self.id_ref(r) else { return };
        let want = self.model.resolve(id);
        assert_eq!(
            self.pool.remove(id),
            want.map(|_| ()),
            "{at}: remove {id:?}"
        );
        if let Ok(i) = want {
            self.model.remove(i);
        }
    }

    fn set_weight(&mut self, at: &Fail<'_>, r: u8, w: u32) {
        let Some(id) = self.id_ref(r) else { return };
        let want = if w > MAX_WEIGHT {
            Err(BackendError::WeightTooLarge)
        } else {
            self.model
                .resolve(id)
                .and_then(|i| self.model.set_weight(i, w))
        };
        assert_eq!(self.pool.set_weight(id, w), want, "{at}: set_weight {id:?}");
    }

    fn set_health(&mut self, at: &Fail<'_>, r: u8, h: Health) {
        let Some(id) = self.id_ref(r) else { return };
        let want = self.model.resolve(id);
        let got = self.pool.set_health(id, h);
        assert_eq!(got, want.map(|_| ()), "{at}: set_health {id:?}");
        if let Ok(i) = want {
            self.model.set_health(i, h);
        }
    }

    fn set_cap(&mut self, at: &Fail<'_>, r: u8, cap: Option<NonZeroU32>) {
        let Some(id) = self.id_ref(r) else { return };
        // every cap is valid (at or above MAX_IN_FLIGHT it reads back as none); the pin a
        // single thread takes is never contended, so no `Busy`
        let want = self.model.resolve(id);
        let got = self.pool.set_cap(id, cap);
        assert_eq!(got, want.map(|_| ()), "{at}: set_cap {id:?}");
        if let Ok(i) = want {
            self.model.set_cap(i, cap);
        }
    }

    fn set_share(&mut self, at: &Fail<'_>, r: u8, share: u32) {
        let Some(id) = self.id_ref(r) else { return };
        let want = if share > FULL_SHARE {
            Err(BackendError::ShareTooLarge)
        } else {
            self.model.resolve(id)
        };
        let got = self.pool.set_share(id, share);
        assert_eq!(got, want.map(|_| ()), "{at}: set_share {id:?} {share}");
        if let Ok(i) = want {
            self.model.set_share(i, share);
        }
    }

    /// `set_level` (or, with `backup`, `set_backup` of level 1 or 0).
    fn set_level(&mut self, at: &Fail<'_>, r: u8, level: u8, backup: bool) {
        let Some(id) = self.id_ref(r) else { return };
        let want = if level as usize >= MAX_LEVELS {
            Err(BackendError::InvalidLevel)
        } else {
            self.model.resolve(id)
        };
        let got = if backup {
            self.pool.set_backup(id, level > 0)
        } else {
            self.pool.set_level(id, level)
        };
        assert_eq!(got, want.map(|_| ()), "{at}: set_level {id:?} {level}");
        if let Ok(i) = want {
            self.model.slots[i].level = level;
        }
    }

    /// `select` (or, with `lease`, `SelectExt::lease`, keeping the lease) through the
    /// strategy `p` names, checked against what the model allows.
    fn pick(&mut self, at: &Fail<'_>, p: PickReq, lease: bool) {
        let strategy = &self.strategies[p.strategy as usize % self.strategies.len()];
        let mut rng = p.rng.map(SplitMix);
        let mut req = Request::new().with_now_us(self.now_us);
        if let Some(k) = p.key {
            req = req.with_key(k);
        }
        if let Some(r) = rng.as_mut() {
            req = req.with_rng(r);
        }
        let before = self.model.clone();
        let got = if lease {
            strategy.lease(self.pool, &mut req).map(|lease| {
                let id = lease.id();
                self.held.push(Held {
                    lease,
                    index: id.index(),
                    generation: id.generation(),
                });
                id
            })
        } else {
            strategy.select(self.pool, &mut req)
        };
        let at = format!("{at} {}", strategy.name());
        check_pick(
            self.pool,
            &before,
            &mut self.model,
            got,
            tick(self.now_us),
            &at,
        );
        if let (true, Some(id)) = (lease, got) {
            self.model.slots[id.index()].in_flight += 1;
        }
    }

    /// `select` excluding the backends of the slots in `exclude` and preferring a known
    /// id, checked against what the model allows under the same exclusion and preference.
    fn retry(&mut self, at: &Fail<'_>, p: PickReq, exclude: u16, prefer: Option<u8>) {
        let strategy = &self.strategies[p.strategy as usize % self.strategies.len()];
        let mut tried = Tried::<N>::new();
        let mut excluded = std::vec![false; N];
        for (i, e) in excluded.iter_mut().enumerate().take(16) {
            if exclude & (1 << i) != 0
                && let Some(id) = self.pool.id_at(i)
            {
                tried.insert(id);
                *e = true;
            }
        }
        let prefer = prefer.and_then(|r| self.id_ref(r));
        let mut rng = p.rng.map(SplitMix);
        let mut req = Request::new().with_now_us(self.now_us).excluding(&tried);
        if let Some(k) = p.key {
            req = req.with_key(k);
        }
        if let Some(id) = prefer {
            req = req.prefer(id);
        }
        if let Some(r) = rng.as_mut() {
            req = req.with_rng(r);
        }
        let before = self.model.clone();
        let got = strategy.select(self.pool, &mut req);
        // the preferred id counts only if it is the slot's current backend
        let prefer = prefer
            .filter(|id| before.slots[id.index()].generation == id.generation())
            .map(|id| id.index());
        let at = format!(
            "{at} {} excluding {excluded:?} preferring {prefer:?}",
            strategy.name()
        );
        check_retry(
            self.pool,
            &before,
            &mut self.model,
            got,
            (&excluded, prefer),
            tick(self.now_us),
            &at,
        );
    }

    fn acquire(&mut self, at: &Fail<'_>, r: u8) {
        let Some(id) = self.id_ref(r) else { return };
        let want = self.model.can_acquire(id);
        let got = Lease::acquire(self.pool, id);
        assert_eq!(got.is_some(), want, "{at}: acquire {id:?}");
        if let Some(lease) = got {
            self.model.slots[id.index()].in_flight += 1;
            self.held.push(Held {
                lease,
                index: id.index(),
                generation: id.generation(),
            });
        }
    }

    fn finish(&mut self, r: u8, success: bool, latency_us: u64) {
        if self.held.is_empty() {
            return;
        }
        let h = self.held.swap_remove(r as usize % self.held.len());
        let outcome = if success {
            Outcome::success_after(Duration::from_micros(latency_us)).at_us(self.now_us)
        } else {
            Outcome::failure_after(Duration::from_micros(latency_us)).at_us(self.now_us)
        };
        h.lease.finish(outcome);
        let now = tick(self.now_us);
        self.model
            .record(h.index, h.generation, success, latency_us, now);
        self.model.slots[h.index].in_flight -= 1;
    }

    fn drop_lease(&mut self, r: u8) {
        if self.held.is_empty() {
            return;
        }
        let h = self.held.swap_remove(r as usize % self.held.len());
        drop(h.lease);
        self.model.slots[h.index].in_flight -= 1;
    }

    /// The end of a scenario: every lease given back leaves every in-flight count at zero,
    /// and removing every backend takes every counter back to zero (and panic to what the
    /// model says of an empty pool: not in panic, unless levels count by weight, where the
    /// one empty level counts as 0 % healthy).
    pub(super) fn finish_all(mut self) {
        for h in core::mem::take(&mut self.held) {
            drop(h.lease);
            self.model.slots[h.index].in_flight -= 1;
        }
        let pool = self.pool;
        for i in 0..N {
            assert_eq!(
                pool.in_flight_at(i),
                0,
                "slot {i} in flight after every drop"
            );
        }
        for id in pool.ids() {
            pool.remove(id).expect("a listed id is current");
            self.model.remove(id.index());
        }
        assert_eq!(pool.len(), 0);
        assert_eq!(pool.total_weight(), 0);
        assert_eq!(pool.ejected_count(), 0);
        assert_eq!(
            pool.in_panic(),
            self.model.panic(),
            "panic of the empty pool"
        );
        assert!(pool.ids().next().is_none());
    }
}
