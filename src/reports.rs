//! Weights from backends' load reports: gRPC's client-side weighted round robin rule
//! (proposal A58, `grpc/proposal/A58-client-side-weighted-round-robin-lb-policy.md`; the Go
//! implementation `balancer/weightedroundrobin/balancer.go`), Envoy's
//! `client_side_weighted_round_robin` and GCP's `WEIGHTED_ROUND_ROBIN` / `WEIGHTED_MAGLEV`.
//!
//! Many proxies balancing independently cannot see each other's load; the backends can. Each
//! backend reports its utilization (and its queries and errors per second), the caller hands
//! the reports to [`LoadWeights::report`], and [`LoadWeights::apply`] turns them into the
//! pool's weights, at most once per update period, so every weighted strategy (smooth WRR
//! as in gRPC, P2C, random, Maglev as `WEIGHTED_MAGLEV`, rendezvous) follows them.
//!
//! # The rule (A58), on the caller's clock, in integers
//!
//! * A report's weight is `qps / (utilization + eps / qps × penalty)`; a report with zero
//!   qps or zero utilization is ignored (A58 ignores empty reports).
//! * A backend's weight is usable only once it has had reports for the **blackout period**
//!   (10 s by default) since its first report, and stops being usable when its last report
//!   is older than the **expiration period** (3 min): then its blackout starts again with its
//!   next report.
//! * [`LoadWeights::apply`] gives each backend without a usable weight the mean of the usable
//!   ones; with fewer than two usable weights every backend gets the same weight (A58 falls
//!   back to round robin). It runs at most once per **update period** (1 s).
//!
//! Fixed point: utilization and the penalty are in parts per million (`1_000_000` = 1.0),
//! a report's weight is `qps · 2^8 · 10^6 / (utilization_ppm + eps · penalty_ppm / qps)`
//! rounded down and saturated at `u32::MAX`, and `apply` scales the weights so that the
//! largest is `min(MAX_WEIGHT, MAX_TOTAL_WEIGHT / backends)` (each at least 1). A clock that
//! goes backwards counts as no time.
//!
//! **Differences from gRPC**: gRPC's stride scheduler also clamps every weight to `[mean /
//! 100, 10 × mean]`; here the weights go to the pool as computed, so a strategy sees the
//! reported ratios (clamp them in the caller if you want gRPC's bounds). The state lives in
//! this struct, not in the pool, so a pool that does not use load reports pays nothing.

use core::fmt;

use crate::clock::{elapsed_ms, reached, tick_ms};
use crate::error::{BackendError, ConfigError};
use crate::pool::{BackendId, MAX_TOTAL_WEIGHT, MAX_WEIGHT, Pool};
use crate::sync::{AtomicU32, Ordering};

/// A tick as kept in the state: 0 means "never", so tick 0 is kept as 1 (1 ms late, once
/// every 2^32 ms).
const fn mark(tick: u32) -> u32 {
    if tick == 0 { 1 } else { tick }
}

/// How reports become weights (A58's parameters), in milliseconds of the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WeightPolicy {
    /// How long a backend must report before its weight is used (A58 `blackout_period`,
    /// 10 s; 0 = at once).
    pub blackout_ms: u32,
    /// How old its last report may be before its weight is dropped (A58
    /// `weight_expiration_period`, 3 min; > 0).
    pub expiry_ms: u32,
    /// Least time between two [`LoadWeights::apply`] that change weights (A58
    /// `weight_update_period`, 1 s; > 0).
    pub update_period_ms: u32,
    /// Weight of the error rate against utilization, in parts per million (A58
    /// `error_utilization_penalty`, 1.0 = `1_000_000`).
    pub error_penalty_ppm: u32,
}

impl WeightPolicy {
    /// A58's defaults: 10 s blackout, 3 min expiry, 1 s update period, penalty 1.0.
    pub const A58: WeightPolicy = WeightPolicy {
        blackout_ms: 10_000,
        expiry_ms: 180_000,
        update_period_ms: 1_000,
        error_penalty_ppm: 1_000_000,
    };

    /// `Ok` if the expiry and the update period are above zero and shorter than 2^31 ms.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        let limit = i32::MAX as u32;
        if self.expiry_ms == 0
            || self.update_period_ms == 0
            || self.expiry_ms > limit
            || self.update_period_ms > limit
            || self.blackout_ms > limit
        {
            return Err(ConfigError::InvalidWeightPolicy);
        }
        Ok(())
    }
}

/// One load report from a backend (ORCA's `rps_fractional`, `eps` and
/// `application_utilization`, else `cpu_utilization`), as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoadReport {
    /// Queries per second the backend served (any unit, the same for all backends).
    pub qps: u32,
    /// Errors per second, in the unit of `qps`.
    pub eps: u32,
    /// Utilization in parts per million (`1_000_000` = 100 %; may be above).
    pub utilization_ppm: u32,
}

impl LoadReport {
    /// A report of `qps` served at `utilization_ppm`, with no errors.
    pub const fn new(qps: u32, utilization_ppm: u32) -> Self {
        LoadReport {
            qps,
            eps: 0,
            utilization_ppm,
        }
    }

    /// The same report with `eps` errors per second.
    pub const fn errors(mut self, eps: u32) -> Self {
        self.eps = eps;
        self
    }

    /// The report's weight under `penalty_ppm`, or `None` for an empty report.
    pub const fn weight(&self, penalty_ppm: u32) -> Option<u32> {
        if self.qps == 0 || self.utilization_ppm == 0 {
            return None;
        }
        let qps = self.qps as u128;
        let penalty = self.eps as u128 * penalty_ppm as u128 / qps;
        let denom = self.utilization_ppm as u128 + penalty;
        let w = (qps << 8) * 1_000_000 / denom;
        Some(if w > u32::MAX as u128 {
            u32::MAX
        } else if w == 0 {
            1
        } else {
            w as u32
        })
    }
}

/// Per-backend report state for a pool of `N` slots, in atomics: every call takes `&self`.
/// Reports for a backend whose slot was reused start over (blackout included).
///
/// ```
/// use tinylb::{LoadReport, LoadWeights, Pool, WeightPolicy};
/// let pool: Pool<4> = Pool::new();
/// let a = pool.add(1).unwrap();
/// let b = pool.add(1).unwrap();
/// let lw = LoadWeights::<4>::new(WeightPolicy::A58).unwrap();
/// // b serves twice the queries at the same utilization: twice the capacity
/// for t in 1..=11u64 {
///     let now_us = t * 1_000_000;
///     lw.report(a, LoadReport::new(100, 500_000), now_us).unwrap();
///     lw.report(b, LoadReport::new(200, 500_000), now_us).unwrap();
///     lw.apply(&pool, now_us);
/// }
/// let (wa, wb) = (pool.info(a).unwrap().weight, pool.info(b).unwrap().weight);
/// assert!(wb.abs_diff(2 * wa) <= 1, "{wa} {wb}"); // scaled so the largest is MAX_WEIGHT
/// ```
pub struct LoadWeights<const N: usize> {
    policy: WeightPolicy,
    generation: [AtomicU32; N],
    weight: [AtomicU32; N],
    /// First report since the state was (re)started (a [`mark`]ed tick), 0 if none.
    since: [AtomicU32; N],
    /// Last report (a [`mark`]ed tick), 0 if none.
    last: [AtomicU32; N],
    /// Last `apply` that ran (a [`mark`]ed tick), 0 if none.
    applied: AtomicU32,
    busy: AtomicU32,
}

impl<const N: usize> fmt::Debug for LoadWeights<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadWeights")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> LoadWeights<N> {
    /// Empty report state under `policy`, or why the policy is invalid.
    pub const fn new(policy: WeightPolicy) -> Result<Self, ConfigError> {
        if let Err(e) = policy.validate() {
            return Err(e);
        }
        Ok(LoadWeights {
            policy,
            generation: [const { AtomicU32::new(0) }; N],
            weight: [const { AtomicU32::new(0) }; N],
            since: [const { AtomicU32::new(0) }; N],
            last: [const { AtomicU32::new(0) }; N],
            applied: AtomicU32::new(0),
            busy: AtomicU32::new(0),
        })
    }

    /// The policy.
    pub const fn policy(&self) -> &WeightPolicy {
        &self.policy
    }

    /// Records backend `id`'s report at the caller's clock `now_us`: `Ok(true)` if it was
    /// used, `Ok(false)` for an empty report (zero qps or utilization: ignored, as A58 does),
    /// [`BackendError::NoSuchBackend`] for an index outside `0..N`.
    pub fn report(&self, id: BackendId, r: LoadReport, now_us: u64) -> Result<bool, BackendError> {
        let i = id.index();
        let (Some(g), Some(w), Some(since), Some(last)) = (
            self.generation.get(i),
            self.weight.get(i),
            self.since.get(i),
            self.last.get(i),
        ) else {
            return Err(BackendError::NoSuchBackend);
        };
        let Some(weight) = r.weight(self.policy.error_penalty_ppm) else {
            return Ok(false);
        };
        if g.swap(id.generation(), Ordering::AcqRel) != id.generation() {
            // a new backend in this slot: its reports start over
            since.store(0, Ordering::Release);
        }
        let now = mark(tick_ms(now_us));
        w.store(weight, Ordering::Release);
        // a clock behind the last report is no time: `last` never moves back
        let prev = last.load(Ordering::Acquire);
        if prev == 0 || reached(now, prev) {
            last.store(now, Ordering::Release);
        }
        let _ = since.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        Ok(true)
    }

    /// Backend `id`'s usable weight at `now_us` (A58's `GetWeight`), or `None` while it is
    /// in its blackout, after its reports expired, or before its first report. Like A58, an
    /// expired weight restarts the blackout for the next report.
    pub fn weight_at(&self, id: BackendId, now_us: u64) -> Option<u32> {
        let i = id.index();
        if self.generation.get(i)?.load(Ordering::Acquire) != id.generation() {
            return None;
        }
        let last = self.last.get(i)?.load(Ordering::Acquire);
        if last == 0 {
            return None;
        }
        let now = tick_ms(now_us);
        let since = self.since.get(i)?;
        if elapsed_ms(now, last) >= self.policy.expiry_ms {
            since.store(0, Ordering::Release);
            return None;
        }
        let from = since.load(Ordering::Acquire);
        let blackout = self.policy.blackout_ms;
        if blackout > 0 && (from == 0 || elapsed_ms(now, from) < blackout) {
            return None;
        }
        Some(self.weight.get(i)?.load(Ordering::Acquire))
    }

    /// Sets the pool's weights from the reports (see the module docs), unless it ran less
    /// than an update period ago (on the caller's clock) or another thread is applying:
    /// `true` if it ran. A weight that does not change is not written, so strategies
    /// rebuild only when a weight moved. O(n).
    pub fn apply(&self, pool: &Pool<N>, now_us: u64) -> bool {
        let now = tick_ms(now_us);
        let prev = self.applied.load(Ordering::Acquire);
        if prev != 0 && elapsed_ms(now, prev) < self.policy.update_period_ms {
            return false;
        }
        if self
            .busy
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.applied.store(mark(now), Ordering::Release);
        let ids = pool.ids();
        let mut raw = [0u32; N];
        let (mut sum, mut usable) = (0u64, 0u64);
        for (r, id) in raw.iter_mut().zip(ids.iter()) {
            if let Some(w) = self.weight_at(*id, now_us) {
                *r = w;
                sum += w as u64;
                usable += 1;
            }
        }
        let mean = sum.checked_div(usable).unwrap_or(0);
        for r in raw.iter_mut().take(ids.len()) {
            if usable < 2 {
                *r = 1;
            } else if *r == 0 {
                *r = mean.max(1) as u32;
            }
        }
        let max = raw.iter().copied().max().unwrap_or(1).max(1) as u64;
        let top = (MAX_TOTAL_WEIGHT as u64 / ids.len().max(1) as u64).min(MAX_WEIGHT as u64);
        let scaled = |w: u32| ((w as u64 * top / max).max(1)) as u32;
        // lower weights first, so the pool's total never passes its limit midway
        for lowering in [true, false] {
            for (id, &w) in ids.iter().zip(raw.iter()) {
                let new = scaled(w);
                let Ok(info) = pool.info(*id) else { continue };
                if (new < info.weight) == lowering && new != info.weight {
                    // a backend removed or changed meanwhile: left for the next period
                    let _ = pool.set_weight(*id, new);
                }
            }
        }
        self.busy.store(0, Ordering::Release);
        true
    }
}
