//! Outlier ejection and the panic threshold ([`Ejection`], [`Config::panic_threshold_percent`]).
//!
//! * **Exactly `k`**: `k − 1` consecutive failures leave a backend in, the `k`-th ejects it;
//!   a success anywhere resets the streak.
//! * **Return by the request's clock**: an ejected backend is not picked by a request whose
//!   clock is one millisecond before `ejected at + duration`, and is back (picked, no longer
//!   ejected) at the first pick whose clock reaches it, under every strategy.
//! * **Durations**: the `i`-th ejection in a row lasts `min(base × i, max)`, the multiplier
//!   stopping at Envoy's cap (`base × times >= max + base`); every `interval` spent back in
//!   the pool earns one step back. A proptest checks successive ejection times against a
//!   model that runs Envoy's detection timer tick by tick (`onIntervalTimer` in Envoy's
//!   `outlier_detection_impl.cc`), over random fail/heal schedules on the caller's clock,
//!   including clocks that go backwards (no time back).
//! * **Reference model**: random sequences of failures, successes, health changes, clock
//!   steps and picks over pools of 2 to 20 backends with random `k`, times, max-ejection share
//!   and panic threshold, checked after every step against a model of the documented rules:
//!   which backends are ejected, every failure streak, the ejected count (never above
//!   `max(1, share × members)`), whether the pool is in panic, and that a pick is eligible
//!   (`None` only when nothing is).
//! * **Panic threshold** (Envoy's definition, every backend in the denominator): in panic
//!   exactly when `h·100 < threshold·m` and `1.4·h < m` (`h` = up and not ejected, `m` =
//!   every backend, down ones included); in panic every backend that is up, ejected or not,
//!   is picked from again (down ones never, by default), by every strategy; out of panic an
//!   ejected backend is never picked.
//! * Marking a backend down or draining, or removing it, ends its ejection.
//! * Every invalid [`Ejection`] gives [`ConfigError::InvalidEjection`], a threshold above 100
//!   [`ConfigError::InvalidPercent`].

#![allow(clippy::indexing_slicing)]

use crate::support::SplitMix;
use core::num::NonZeroU32;
use core::time::Duration;
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tinylb::{
    BackendId, Config, ConfigError, Ejection, Health, Lease, LeastConn, Outcome, Pool, Random,
    Request, Select, Strategy,
};

const N: usize = 20;

/// Ejection after `k` failures, `base_ms` to `max_ms`, at most `share` %, a step back per
/// `base_ms` back in the pool.
fn config(k: u32, base_ms: u32, max_ms: u32, share: u32, threshold: u32) -> Config {
    config_iv(k, base_ms, max_ms, share, threshold, base_ms)
}

/// [`config`] with a step back per `interval_ms`.
fn config_iv(
    k: u32,
    base_ms: u32,
    max_ms: u32,
    share: u32,
    threshold: u32,
    interval_ms: u32,
) -> Config {
    Config::new()
        .ejection(Ejection {
            consecutive_failures: k,
            base_ms,
            max_ms,
            max_ejection_percent: share,
            interval_ms,
        })
        .panic_threshold_percent(threshold)
}

fn fail(pool: &Pool<N>, id: BackendId, now_ms: u64) {
    Lease::acquire(pool, id)
        .expect("up")
        .finish(Outcome::failure_after(Duration::from_micros(100)).at_us(now_ms * 1000));
}

fn succeed(pool: &Pool<N>, id: BackendId, now_ms: u64) {
    Lease::acquire(pool, id)
        .expect("up")
        .finish(Outcome::success_after(Duration::from_micros(100)).at_us(now_ms * 1000));
}

fn ejected(pool: &Pool<N>, id: BackendId) -> bool {
    pool.info(id).unwrap().ejected
}

/// One least-connections pick at `now_ms` (it looks at every backend, so it returns every
/// backend whose time is up).
fn pick(pool: &Pool<N>, now_ms: u64) -> Option<BackendId> {
    LeastConn::new().select(pool, &mut Request::new().with_now_us(now_ms * 1000))
}

#[test]
fn ejects_after_exactly_k_failures() {
    for k in 1..=7u32 {
        let pool: Pool<N> = Pool::with_config(config(k, 1000, 1000, 100, 0)).unwrap();
        let a = pool.add(1).unwrap();
        let _b = pool.add(1).unwrap();
        for i in 1..k {
            fail(&pool, a, 10);
            assert!(!ejected(&pool, a), "k={k}: ejected after {i}");
            assert_eq!(pool.info(a).unwrap().failure_streak, i);
        }
        // a success resets the streak: k − 1 more are still not enough
        succeed(&pool, a, 10);
        assert_eq!(pool.info(a).unwrap().failure_streak, 0);
        for _ in 1..k {
            fail(&pool, a, 10);
        }
        assert!(!ejected(&pool, a));
        assert_eq!(pool.ejected_count(), 0);
        fail(&pool, a, 10);
        assert!(ejected(&pool, a), "k={k}: not ejected after k");
        assert_eq!(pool.ejected_count(), 1);
    }
}

/// Under every strategy: a lone backend ejected at `t` (ms) for `d` is not picked by a
/// request at `t + d` ms minus 1 µs, and is picked (and no longer ejected) by one at `t + d`.
#[test]
fn returns_when_the_request_clock_reaches_the_deadline() {
    for name in Strategy::<N>::NAMES {
        for (t, base) in [(1_000u64, 30_000u32), (77_777, 1), (5_000_000, 123_456)] {
            let pool: Pool<N> = Pool::with_config(config(2, base, base, 100, 0)).unwrap();
            let a = pool.add(3).unwrap();
            fail(&pool, a, t);
            fail(&pool, a, t);
            assert!(ejected(&pool, a));
            let s: Strategy<N> = Strategy::from_name(name, 11).unwrap();
            let deadline_us = (t + base as u64) * 1000;
            for now in [t * 1000, deadline_us - 1] {
                let mut req = Request::new().with_key(5).with_now_us(now);
                assert_eq!(s.select(&pool, &mut req), None, "{name}: back at {now} µs");
                assert!(ejected(&pool, a));
            }
            let mut req = Request::new().with_key(5).with_now_us(deadline_us);
            assert_eq!(
                s.select(&pool, &mut req),
                Some(a),
                "{name}: not back at the deadline"
            );
            assert!(!ejected(&pool, a));
            assert_eq!(pool.ejected_count(), 0);
        }
    }
}

/// The i-th ejection in a row lasts `min(base·i, max)` when the backend fails again as soon
/// as it is back, the multiplier stopping at Envoy's cap; time spent back in the pool earns
/// one step per interval (not per base).
#[test]
fn durations_grow_and_are_capped() {
    let (base, max, interval) = (1_000u64, 3_500u64, 400u32);
    let pool: Pool<N> =
        Pool::with_config(config_iv(1, base as u32, max as u32, 100, 0, interval)).unwrap();
    let a = pool.add(1).unwrap();
    let mut now = 1_001u64;
    for want in [1_000u64, 2_000, 3_000, 3_500, 3_500, 3_500] {
        fail(&pool, a, now);
        assert_eq!(
            pick(&pool, now + want - 1),
            None,
            "still out before {want} ms"
        );
        now += want;
        assert_eq!(pick(&pool, now), Some(a), "back after {want} ms");
    }
    // six ejections in a row, but the multiplier stopped at 5 (1000 × 5 >= 3500 + 1000);
    // 1.3 s back earns three 400 ms steps: the next lasts (5 − 3 + 1) × base
    now += 1_300;
    fail(&pool, a, now);
    assert_eq!(pick(&pool, now + 2_999), None);
    assert_eq!(pick(&pool, now + 3_000), Some(a));
    now += 3_000;
    // a long healthy stretch earns everything back: the next is one base again
    now += 100_000;
    fail(&pool, a, now);
    assert_eq!(pick(&pool, now + 999), None);
    assert_eq!(pick(&pool, now + 1_000), Some(a));
}

/// Envoy's rule, run as Envoy runs it: a detection timer that fires every `interval` (here
/// started when the backend comes back, the phase tinylb's lazy count corresponds to) and
/// takes one off the multiplier of a backend that is not ejected and has been back at least
/// an interval; an ejection raises it unless `base × times >= max + base`; the ejection lasts
/// `min(base × times, max)`. A clock that went back before the return counts no tick.
#[derive(Debug, Default)]
struct EnvoyTimer {
    times: u64,
    returned: Option<u64>,
}

impl EnvoyTimer {
    fn eject(&mut self, now: u64, base: u64, max: u64, interval: u64) -> u64 {
        if let Some(r) = self.returned {
            let mut tick = r + interval;
            while tick <= now {
                self.times = self.times.saturating_sub(1);
                tick += interval;
            }
        }
        if base * self.times < max + base {
            self.times += 1;
        }
        (base * self.times).min(max)
    }
}

/// One round of a flapping schedule: time back in the pool before failing again, an
/// optional clock step backwards for the failures, and how late the returning pick comes.
#[derive(Debug, Clone, Copy)]
struct Round {
    wait: u64,
    back: u64,
    late: u64,
}

fn round() -> impl proptest::strategy::Strategy<Value = Round> {
    (
        prop_oneof![Just(0u64), 0u64..=5, 0u64..=30_000],
        prop_oneof![4 => Just(0u64), 1 => 0u64..=20_000],
        prop_oneof![3 => Just(0u64), 1 => 0u64..=3_000],
    )
        .prop_map(|(wait, back, late)| Round {
            wait: 2 * wait,
            back: 2 * back,
            late: 2 * late,
        })
}

proptest! {
    #![proptest_config(crate::support::config(256))]

    /// Rounds of "wait after coming back, fail `k` times (perhaps with a clock set back),
    /// find the return": every ejection lasts what [`EnvoyTimer`] says, to the millisecond.
    #[test]
    fn flapping_follows_envoys_timer(
        k in 1u32..=4,
        base_half in 1u32..=2_000,
        max_mult in 1u32..=6,
        interval_half in prop_oneof![1u32..=50, 1u32..=5_000],
        rounds in prop::collection::vec(round(), 1..=12),
    ) {
        // even base, interval and steps keep every tick odd (see the module docs of `time_edges`)
        let base = 2 * base_half as u64;
        let interval = 2 * interval_half as u64;
        // a cap between multiples (even too: an odd cap made an odd duration, the next
        // tick even, and its return stamp one later, so a step earned at exactly one
        // interval was missed)
        let max = base * max_mult as u64 + if max_mult > 1 { 2 * (base_half as u64 / 2) } else { 0 };
        let pool: Pool<N> = Pool::with_config(config_iv(
            k, base as u32, max as u32, 100, 0, interval as u32,
        ))
        .unwrap();
        let a = pool.add(1).unwrap();
        let mut envoy = EnvoyTimer::default();
        let mut now = 100_000_001u64;
        for (i, r) in rounds.into_iter().enumerate() {
            now += r.wait;
            // the failures come with a clock set back (a reordered report): no time back
            let at = now - r.back;
            for _ in 0..k {
                fail(&pool, a, at);
            }
            prop_assert!(ejected(&pool, a));
            let d = envoy.eject(at, base, max, interval);
            prop_assert_eq!(pick(&pool, at + d - 1), None, "round {}: back before {} ms", i, d);
            now = (at + d + r.late).max(now);
            if now > at + d {
                // still out at the deadline if no pick looked; the first pick ends it
                prop_assert!(ejected(&pool, a));
            }
            prop_assert_eq!(pick(&pool, now), Some(a), "round {}: not back after {} ms", i, d);
            envoy.returned = Some(now);
        }
    }
}

// ----- the reference model -----

#[derive(Debug, Clone, Copy)]
enum Op {
    Fail(usize),
    Succeed(usize),
    /// Clock forward by this many (even) ms.
    Advance(u64),
    Pick,
    Down(usize),
    Drain(usize),
    Up(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..N).prop_map(Op::Fail),
        2 => (0usize..N).prop_map(Op::Succeed),
        3 => prop_oneof![0u64..=50, 0u64..=5_000].prop_map(|d| Op::Advance(2 * d)),
        3 => Just(Op::Pick),
        1 => (0usize..N).prop_map(Op::Down),
        1 => (0usize..N).prop_map(Op::Drain),
        2 => (0usize..N).prop_map(Op::Up),
    ]
}

#[derive(Debug, Clone, Copy, Default)]
struct Backend {
    down: bool,
    streak: u32,
    ejected: bool,
    until: u64,
    times: u64,
    /// Clock when it last came back, if ever.
    returned: Option<u64>,
}

#[derive(Debug)]
struct Model {
    k: u32,
    base: u64,
    max: u64,
    interval: u64,
    share: u64,
    threshold: u64,
    b: Vec<Backend>,
    ejected: u64,
}

impl Model {
    fn members(&self) -> u64 {
        self.b.len() as u64
    }
    fn up(&self) -> u64 {
        self.b.iter().filter(|b| !b.down).count() as u64
    }
    /// Envoy's panic for one level: fewer than the threshold of *all* backends (down ones
    /// counted) are healthy, and the level is not fully available at overprovisioning 1.4.
    fn panic(&self) -> bool {
        let healthy = self.up() - self.ejected;
        let m = self.members();
        self.threshold > 0 && 140 * healthy < 100 * m && healthy * 100 < self.threshold * m
    }
    fn cap(&self) -> u64 {
        (self.share * self.members() / 100).max(1)
    }
    fn allowed(&self) -> bool {
        self.ejected == 0 || (self.ejected + 1) * 100 <= self.share * self.members()
    }
    fn fail(&mut self, i: usize, now: u64) {
        let wants = self.b[i].streak + 1 >= self.k && !self.b[i].ejected;
        if wants && !self.allowed() {
            // a full share first ends the ejections whose time is up (they end lazily)
            for b in self.b.iter_mut() {
                if b.ejected && now >= b.until {
                    b.ejected = false;
                    b.streak = 0;
                    b.returned = Some(now);
                    self.ejected -= 1;
                }
            }
        }
        let allowed = self.allowed();
        let (base, max, interval, k) = (self.base, self.max, self.interval, self.k);
        let b = &mut self.b[i];
        b.streak += 1;
        if b.streak >= k && !b.ejected && allowed {
            let earned = b.returned.map_or(0, |r| (now - r) / interval);
            b.times = b.times.saturating_sub(earned);
            if base * b.times < max + base {
                b.times += 1;
            }
            b.until = now + (base * b.times).min(max);
            b.ejected = true;
            self.ejected += 1;
        }
    }
    /// A pick that looks at every backend: every ejection whose time is up ends.
    fn pick(&mut self, now: u64) {
        for b in self.b.iter_mut().filter(|b| !b.down) {
            if b.ejected && now >= b.until {
                b.ejected = false;
                b.streak = 0;
                b.returned = Some(now);
                self.ejected -= 1;
            }
        }
    }
    fn set_down(&mut self, i: usize) {
        let b = &mut self.b[i];
        b.down = true;
        if b.ejected {
            b.ejected = false;
            self.ejected -= 1;
        }
    }
}

proptest! {
    #![proptest_config(crate::support::config(512))]

    /// Random operations against the reference model (see the module docs).
    #[test]
    fn ejection_follows_the_model(
        n in 2usize..=N,
        k in 1u32..=4,
        base_half in 1u64..=1_000,
        max_mult in 1u64..=5,
        interval_half in 1u64..=1_500,
        share in prop_oneof![0u32..=100, Just(10u32), Just(50u32), Just(100u32)],
        threshold in prop_oneof![0u32..=100, Just(0u32), Just(50u32)],
        ops in prop::collection::vec(op(), 1..=120),
    ) {
        let base = 2 * base_half;
        let max = base * max_mult;
        let interval = 2 * interval_half;
        let pool: Pool<N> = Pool::with_config(config_iv(
            k, base as u32, max as u32, share, threshold, interval as u32,
        ))
        .unwrap();
        let ids: Vec<BackendId> = (0..n).map(|_| pool.add(1).unwrap()).collect();
        let mut m = Model {
            k, base, max, interval, share: share as u64, threshold: threshold as u64,
            b: vec![Backend::default(); n], ejected: 0,
        };
        // odd, and moved only by even steps: every tick the pool stamps is the clock itself
        let mut now = 3_000_001u64;
        for (step, &o) in ops.iter().enumerate() {
            match o {
                Op::Fail(i) | Op::Succeed(i) | Op::Down(i) | Op::Drain(i) | Op::Up(i)
                    if i >= n => continue,
                Op::Fail(i) => {
                    if m.b[i].down { continue; }
                    fail(&pool, ids[i], now);
                    m.fail(i, now);
                }
                Op::Succeed(i) => {
                    if m.b[i].down { continue; }
                    succeed(&pool, ids[i], now);
                    m.b[i].streak = 0;
                }
                Op::Advance(d) => now += d,
                Op::Pick => {
                    let panic = m.panic();
                    let got = pick(&pool, now);
                    m.pick(now);
                    let ok = |b: &Backend| !b.down && (!b.ejected || panic);
                    match got {
                        Some(id) => {
                            let i = ids.iter().position(|&x| x == id).unwrap();
                            prop_assert!(ok(&m.b[i]), "step {}: picked {} {:?}", step, i, m.b[i]);
                        }
                        None => prop_assert!(!m.b.iter().any(ok), "step {}: None", step),
                    }
                }
                Op::Down(i) | Op::Drain(i) => {
                    let h = if matches!(o, Op::Down(_)) { Health::Down } else { Health::Draining };
                    pool.set_health(ids[i], h).unwrap();
                    m.set_down(i);
                }
                Op::Up(i) => {
                    pool.set_health(ids[i], Health::Up).unwrap();
                    if m.b[i].down {
                        // failures reported before it went down start no new streak
                        m.b[i].streak = 0;
                    }
                    m.b[i].down = false;
                }
            }
            prop_assert_eq!(pool.ejected_count() as u64, m.ejected, "step {} {:?}", step, o);
            prop_assert!(m.ejected <= m.cap(), "model over the share");
            prop_assert_eq!(pool.in_panic(), m.panic(), "step {} {:?}", step, o);
            for (i, id) in ids.iter().enumerate() {
                let info = pool.info(*id).unwrap();
                prop_assert_eq!(info.ejected, m.b[i].ejected, "step {} {:?}: backend {}", step, o, i);
                prop_assert_eq!(info.failure_streak, m.b[i].streak, "step {} {:?}: backend {}", step, o, i);
            }
        }
    }

    /// `n` backends up and `d` down, `j` of the up ones ejected: the pool is in panic
    /// exactly when `(n − j)·100 < threshold·(n + d)` and `1.4·(n − j) < n + d`. In panic,
    /// weighted random picks every up
    /// backend, ejected or not, and no down one; out of panic, never an ejected one.
    #[test]
    fn panic_threshold(
        n in 1usize..=16,
        d in 0usize..=3,
        j in 0usize..=16,
        threshold in prop_oneof![0u32..=100, Just(50u32), Just(100u32)],
        seed in any::<u64>(),
    ) {
        let j = j.min(n);
        let pool: Pool<N> = Pool::with_config(config(1, 60_000, 60_000, 100, threshold)).unwrap();
        let up: Vec<BackendId> = (0..n).map(|_| pool.add(1).unwrap()).collect();
        for _ in 0..d {
            pool.add_backend(tinylb::Backend::new(1).health(Health::Down)).unwrap();
        }
        for &id in &up[..j] {
            fail(&pool, id, 1_001);
        }
        prop_assert_eq!(pool.ejected_count() as usize, j);
        let (h, m) = (n - j, n + d);
        let panic = threshold > 0 && 140 * h < 100 * m && h * 100 < threshold as usize * m;
        prop_assert_eq!(pool.in_panic(), panic);
        let mut counts = vec![0u32; n + d];
        let mut rng = SplitMix(seed);
        let r = Random::new();
        for _ in 0..400 {
            let got = r.select(&pool, &mut Request::new().with_now_us(2_000_000).with_rng(&mut rng));
            match got {
                Some(id) => counts[id.index()] += 1,
                None => prop_assert!(!panic && j == n, "None with something eligible"),
            }
        }
        for (i, &c) in counts.iter().enumerate() {
            if i >= n {
                prop_assert_eq!(c, 0, "down backend {} picked", i);
            } else if i < j && !panic {
                prop_assert_eq!(c, 0, "ejected backend {} picked out of panic", i);
            } else {
                prop_assert!(c > 0, "backend {} never picked (panic {})", i, panic);
            }
        }
    }
}

/// Every strategy picks from the ejected backends again in panic: with 3 of 4 ejected (the
/// fourth at its in-flight cap, so that only ejected ones could be picked) or all 4 ejected,
/// every pick at a threshold above zero is one of them, and each is picked; at threshold 0
/// (no panic) nothing is picked.
#[test]
fn panic_applies_to_every_strategy() {
    for name in Strategy::<N>::NAMES {
        for (ejected, threshold) in [(3usize, 50u32), (4, 50), (4, 1), (3, 0), (4, 0)] {
            let pool: Pool<N> =
                Pool::with_config(config(1, 60_000, 60_000, 100, threshold)).unwrap();
            let ids: Vec<BackendId> = (0..4).map(|_| pool.add(2).unwrap()).collect();
            for &id in &ids[..ejected] {
                fail(&pool, id, 1_001);
            }
            let _full = (ejected < 4).then(|| {
                pool.set_cap(ids[3], NonZeroU32::new(1)).unwrap();
                Lease::acquire(&pool, ids[3]).unwrap()
            });
            let panic = threshold > 0;
            assert_eq!(pool.in_panic(), panic, "{name}");
            let s: Strategy<N> = Strategy::from_name(name, 21).unwrap();
            let mut rng = SplitMix(3);
            let mut seen = [0u32; 4];
            for key in 0..400u64 {
                let mut req = Request::new()
                    .with_key(key)
                    .with_now_us(2_000_000)
                    .with_rng(&mut rng);
                match s.select(&pool, &mut req) {
                    Some(id) => seen[id.index()] += 1,
                    None => assert!(!panic, "{name} ({ejected} ejected, {threshold} %): None"),
                }
            }
            if panic && crate::support::is_sticky(name) {
                // every pick on one backend, an ejected one (the fourth is at its cap)
                let picked: Vec<usize> = (0..4).filter(|&i| seen[i] > 0).collect();
                assert_eq!(picked.len(), 1, "{name} ({ejected} ejected): {seen:?}");
                assert!(picked[0] < ejected, "{name}: {seen:?}");
                continue;
            }
            for (i, &c) in seen.iter().enumerate().take(ejected) {
                if panic {
                    assert!(
                        c > 0,
                        "{name} ({ejected} ejected, {threshold} %): {i} never picked"
                    );
                } else {
                    assert_eq!(c, 0, "{name}: ejected {i} picked out of panic");
                }
            }
            if ejected < 4 {
                assert_eq!(seen[3], 0, "{name}: the capped backend was picked");
            }
        }
    }
}

/// Marking an ejected backend down or draining, or removing it, ends the ejection (and the
/// count); up again, it is eligible at once.
#[test]
fn health_and_removal_end_an_ejection() {
    for how in 0..3 {
        let pool: Pool<N> = Pool::with_config(config(1, 60_000, 60_000, 100, 0)).unwrap();
        let a = pool.add(1).unwrap();
        let b = pool.add(1).unwrap();
        fail(&pool, a, 1_001);
        assert_eq!(pool.ejected_count(), 1);
        match how {
            0 => pool.set_health(a, Health::Down).unwrap(),
            1 => pool.set_health(a, Health::Draining).unwrap(),
            _ => pool.remove(a).unwrap(),
        }
        assert_eq!(pool.ejected_count(), 0);
        if how < 2 {
            assert!(!ejected(&pool, a));
            pool.set_health(a, Health::Up).unwrap();
            assert!(pool.is_eligible(a.index(), 0));
        }
        // the freed share lets another backend be ejected
        fail(&pool, b, 1_003);
        assert!(ejected(&pool, b));
    }
}

#[test]
fn invalid_ejection_and_percent() {
    let ok = Ejection::ENVOY;
    for bad in [
        Ejection {
            consecutive_failures: 0,
            ..ok
        },
        Ejection { base_ms: 0, ..ok },
        Ejection {
            max_ms: ok.base_ms - 1,
            ..ok
        },
        Ejection {
            base_ms: 0,
            max_ms: 0,
            ..ok
        },
        Ejection {
            max_ms: 1 << 31,
            ..ok
        },
        Ejection {
            max_ms: u32::MAX,
            ..ok
        },
        Ejection {
            max_ejection_percent: 101,
            ..ok
        },
        Ejection {
            max_ejection_percent: u32::MAX,
            ..ok
        },
        Ejection {
            interval_ms: 0,
            ..ok
        },
    ] {
        let got = Pool::<N>::with_config(Config::new().ejection(bad)).err();
        assert_eq!(got, Some(ConfigError::InvalidEjection), "{bad:?}");
        // ejection is checked before the panic threshold
        let got = Pool::<N>::with_config(Config::new().ejection(bad).panic_threshold_percent(101));
        assert_eq!(got.err(), Some(ConfigError::InvalidEjection));
    }
    for good in [
        Ejection {
            consecutive_failures: 1,
            ..ok
        },
        Ejection {
            consecutive_failures: u32::MAX,
            ..ok
        },
        Ejection {
            base_ms: 1,
            max_ms: 1,
            ..ok
        },
        Ejection {
            max_ms: ok.base_ms,
            ..ok
        },
        Ejection {
            max_ms: (1 << 31) - 1,
            ..ok
        },
        Ejection {
            max_ejection_percent: 0,
            ..ok
        },
        Ejection {
            max_ejection_percent: 100,
            ..ok
        },
        Ejection {
            interval_ms: 1,
            ..ok
        },
        Ejection {
            interval_ms: u32::MAX,
            ..ok
        },
    ] {
        assert!(
            Pool::<N>::with_config(Config::new().ejection(good)).is_ok(),
            "{good:?}"
        );
    }
    for p in [101, 200, u32::MAX] {
        let got = Pool::<N>::with_config(Config::new().panic_threshold_percent(p)).err();
        assert_eq!(got, Some(ConfigError::InvalidPercent), "{p}");
    }
    for p in [0, 50, 100] {
        assert!(Pool::<N>::with_config(Config::new().panic_threshold_percent(p)).is_ok());
    }
    // the half-life takes any value
    for h in [0, 1, u32::MAX] {
        assert!(Pool::<N>::with_config(Config::new().half_life_ms(h)).is_ok());
    }
}
