//! Rate-based outlier detection: Envoy's success-rate and failure-percentage detectors, as
//! gRPC's proposal A50 states them (`grpc/proposal/A50-xds-outlier-detection.md`, "Success
//! Rate Algorithm", "Failure Percentage Algorithm"; Envoy
//! `source/extensions/outlier_detection_monitors/` and the outlier detection architecture
//! docs, `docs/root/intro/arch_overview/upstream/outlier.rst`).
//!
//! # On the caller's clock
//!
//! There is no timer in the crate: the caller calls [`OutlierDetector::evaluate`] every
//! interval (more often is harmless: a call less than an interval after the last one that
//! ran returns `None` at once). The interval is the pool's
//! [`Ejection::interval_ms`](crate::Ejection::interval_ms), the one Envoy and A50 use both to
//! run the detectors and to step an ejected host's multiplier down. It is not folded into picks, because one evaluation is O(n)
//! with a square root, and folding it in would put that on whichever request happened to
//! cross the interval.
//!
//! # Counts per interval, without a reset
//!
//! A50 (like Envoy) swaps two buckets of counters at each interval. Here a lease's outcome
//! goes into the backend's totals (wrapping `successes` and `failures`, which a status page
//! reads too, never reset while the backend lives), and the detector keeps a snapshot of
//! them per slot: an interval's counts are the differences. Nothing is reset while leases
//! finish, so an outcome counted concurrently with an evaluation lands in this interval or
//! the next, never in neither or both. The snapshots are three 32-bit words per slot in the
//! detector (12 bytes), not in the pool's slots.
//!
//! # The detectors, in integers
//!
//! * **Success rate**: among the backends (up, not ejected) with at least `request_volume`
//!   requests in the interval, if there are at least `minimum_hosts`: each one's success
//!   rate in parts per million, their mean `μ` and population standard deviation `σ` (an
//!   integer square root of the variance in ppm²), and every one whose rate is below
//!   `μ − σ · stdev_factor / 1000` is ejected with probability `enforcement_percent` %.
//! * **Failure percentage**: if the pool has at least `minimum_hosts` backends, every one
//!   with at least `request_volume` requests whose failures are more than `threshold_percent`
//!   of them (`100 · failures > threshold · requests`, exactly) is ejected with probability
//!   `enforcement_percent` %.
//!
//! Ejection is the pool's: the ejection time (base × multiplier, capped) and the
//! max-ejection share come from its [`Ejection`](crate::Ejection) policy, so the pool needs
//! one (without it, nothing is ejected). To use the rate detectors alone, as gRPC does, set
//! its `consecutive_failures` to `u32::MAX`. Backends are visited in slot order, and the
//! share stops ejections as A50 does.

use core::fmt;

use crate::clock::{elapsed_ms, tick_ms};
use crate::error::ConfigError;
use crate::rng::{Stream, below_from};
use crate::sync::{AtomicU32, Ordering};

use super::word::EJECTED;
use super::{BackendId, Pool};

/// Envoy's / A50's success-rate detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SuccessRate {
    /// `σ` multiplier in thousandths (1900 = 1.9, the default).
    pub stdev_factor: u32,
    /// Chance, in percent, that a detected outlier is ejected (100).
    pub enforcement_percent: u32,
    /// Backends with enough volume needed for the detector to run (5).
    pub minimum_hosts: u32,
    /// Requests in the interval a backend needs to be judged (100).
    pub request_volume: u32,
}

impl SuccessRate {
    /// The defaults of Envoy and A50: factor 1.9, 100 %, 5 hosts, 100 requests.
    pub const DEFAULT: SuccessRate = SuccessRate {
        stdev_factor: 1900,
        enforcement_percent: 100,
        minimum_hosts: 5,
        request_volume: 100,
    };
}

/// Envoy's / A50's failure-percentage detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailurePercentage {
    /// Failures above this percentage of a backend's requests eject it (85).
    pub threshold_percent: u32,
    /// Chance, in percent, that a detected outlier is ejected (A50: 100; Envoy's
    /// `enforcing_failure_percentage` defaults to 0, which is "off" here: use `None`).
    pub enforcement_percent: u32,
    /// Backends the pool needs for the detector to run (5).
    pub minimum_hosts: u32,
    /// Requests in the interval a backend needs to be judged (50).
    pub request_volume: u32,
}

impl FailurePercentage {
    /// The defaults of A50: 85 %, 100 %, 5 hosts, 50 requests.
    pub const DEFAULT: FailurePercentage = FailurePercentage {
        threshold_percent: 85,
        enforcement_percent: 100,
        minimum_hosts: 5,
        request_volume: 50,
    };
}

/// Which rate detectors run (each interval of the pool's
/// [`Ejection::interval_ms`](crate::Ejection::interval_ms)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateDetection {
    /// The success-rate detector, if on.
    pub success_rate: Option<SuccessRate>,
    /// The failure-percentage detector, if on.
    pub failure_percentage: Option<FailurePercentage>,
}

impl RateDetection {
    /// Both detectors with their defaults.
    pub const DEFAULT: RateDetection = RateDetection {
        success_rate: Some(SuccessRate::DEFAULT),
        failure_percentage: Some(FailurePercentage::DEFAULT),
    };

    /// `Ok` if every percentage is at most 100.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if let Some(s) = self.success_rate
            && s.enforcement_percent > 100
        {
            return Err(ConfigError::InvalidRateDetection);
        }
        if let Some(f) = self.failure_percentage
            && (f.enforcement_percent > 100 || f.threshold_percent > 100)
        {
            return Err(ConfigError::InvalidRateDetection);
        }
        Ok(())
    }
}

/// What one evaluation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Evaluation {
    /// Backends ejected by the success-rate detector.
    pub by_success_rate: u32,
    /// Backends ejected by the failure-percentage detector.
    pub by_failure_percentage: u32,
    /// The success-rate threshold `μ − σ · factor` in ppm, if the detector ran.
    pub success_threshold_ppm: Option<u32>,
    /// Outcomes counted in the interval, over the backends judged (up, not ejected).
    pub requests: u64,
}

/// The rate detectors' state for a pool of `N` slots: per-slot snapshots of the totals,
/// and the time of the last evaluation. Every call takes `&self`.
pub struct OutlierDetector<const N: usize> {
    config: RateDetection,
    ok: [AtomicU32; N],
    failed: [AtomicU32; N],
    generation: [AtomicU32; N],
    /// Last evaluation that ran (tick, 0 = none yet).
    last: AtomicU32,
    busy: AtomicU32,
    stream: Stream,
}

impl<const N: usize> fmt::Debug for OutlierDetector<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutlierDetector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One backend's interval: `(slot, id, successes, failures)`.
type Row = (usize, BackendId, u32, u32);

impl<const N: usize> OutlierDetector<N> {
    /// A detector with `config`; `seed` seeds the enforcement draws. The first evaluation
    /// counts every outcome since each backend was added.
    pub const fn new(config: RateDetection, seed: u64) -> Result<Self, ConfigError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        Ok(OutlierDetector {
            config,
            ok: [const { AtomicU32::new(0) }; N],
            failed: [const { AtomicU32::new(0) }; N],
            generation: [const { AtomicU32::new(0) }; N],
            last: AtomicU32::new(0),
            busy: AtomicU32::new(0),
            stream: Stream::new(seed ^ 0x4135_305f_7261_7465),
        })
    }

    /// loom builds only: creates every atomic of the detector in the calling thread.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_init(&self) {
        for a in self.ok.iter().chain(&self.failed).chain(&self.generation) {
            a.touch();
        }
        self.last.touch();
        self.busy.touch();
        self.stream.touch();
    }

    /// The configuration.
    pub const fn config(&self) -> &RateDetection {
        &self.config
    }

    /// Runs the detectors over the interval since the last evaluation that ran, at the
    /// caller's clock `now_us`: `None` if less than the pool's
    /// [`Ejection::interval_ms`](crate::Ejection::interval_ms) has passed since then (a
    /// clock going backwards counts as no time), if another thread is evaluating, or if the
    /// pool has no ejection policy (there would be nothing to eject with).
    pub fn evaluate(&self, pool: &Pool<N>, now_us: u64) -> Option<Evaluation> {
        let interval = pool.config().ejection?.interval_ms;
        let now = tick_ms(now_us).max(1);
        let last = self.last.load(Ordering::Acquire);
        if last != 0 && elapsed_ms(now, last) < interval {
            return None;
        }
        self.busy
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        self.last.store(now, Ordering::Release);
        let mut rows: [Option<Row>; N] = [None; N];
        let mut members = 0u32;
        for (i, row) in rows.iter_mut().enumerate() {
            if let Some(r) = self.interval(pool, i) {
                members += 1;
                *row = r;
            }
        }
        let mut out = Evaluation {
            requests: rows.iter().flatten().map(|r| r.2 as u64 + r.3 as u64).sum(),
            ..Evaluation::default()
        };
        if let Some(sr) = self.config.success_rate {
            out.success_threshold_ppm = self.success_rate(pool, &rows, sr, now, &mut out);
        }
        if let Some(fp) = self.config.failure_percentage
            && members >= fp.minimum_hosts
        {
            for &(_, id, ok, failed) in rows.iter().flatten() {
                let volume = ok as u64 + failed as u64;
                if volume < fp.request_volume as u64
                    || 100 * failed as u64 <= fp.threshold_percent as u64 * volume
                {
                    continue;
                }
                if self.enforce(fp.enforcement_percent) && pool.eject_outlier(id, now) {
                    out.by_failure_percentage += 1;
                }
            }
        }
        self.busy.store(0, Ordering::Release);
        Some(out)
    }

    /// Slot `i`'s interval counts, taking a new snapshot: `None` for an empty slot,
    /// `Some(None)` for a backend that is not judged (down, draining or ejected).
    fn interval(&self, pool: &Pool<N>, i: usize) -> Option<Option<Row>> {
        let id = pool.id_at(i)?;
        let slot = pool.slot(i)?;
        let (ok_now, failed_now) = (
            slot.hot.successes.load(Ordering::Acquire),
            slot.hot.failures.load(Ordering::Acquire),
        );
        let (snap_ok, snap_failed, snap_gen) = (
            self.ok.get(i)?,
            self.failed.get(i)?,
            self.generation.get(i)?,
        );
        let (ok0, failed0) = if snap_gen.swap(id.generation(), Ordering::AcqRel) == id.generation()
        {
            (
                snap_ok.load(Ordering::Acquire),
                snap_failed.load(Ordering::Acquire),
            )
        } else {
            // a new backend in the slot: its totals started at zero when it was added
            (0, 0)
        };
        snap_ok.store(ok_now, Ordering::Release);
        snap_failed.store(failed_now, Ordering::Release);
        let c = slot.word();
        let judged = c.state() == super::word::S_UP && !c.has(EJECTED);
        Some(judged.then(|| {
            (
                i,
                id,
                ok_now.wrapping_sub(ok0),
                failed_now.wrapping_sub(failed0),
            )
        }))
    }

    /// The success-rate detector; returns its threshold in ppm if it ran.
    fn success_rate(
        &self,
        pool: &Pool<N>,
        rows: &[Option<Row>],
        sr: SuccessRate,
        now: u32,
        out: &mut Evaluation,
    ) -> Option<u32> {
        let volume = |&(_, _, ok, failed): &Row| ok as u64 + failed as u64;
        let rate = |r: &Row| (r.2 as u64 * 1_000_000).checked_div(volume(r)).unwrap_or(0);
        let judged = || {
            rows.iter()
                .flatten()
                .filter(|r| volume(r) >= sr.request_volume as u64 && volume(r) > 0)
        };
        let n = judged().count() as u64;
        if n < sr.minimum_hosts.max(1) as u64 {
            return None;
        }
        let sum: u64 = judged().map(rate).sum();
        let mean = sum / n;
        // population variance in ppm², exactly: (n·Σx² − (Σx)²) / n², in 128 bits (each
        // rate is at most 10^6 and n at most 65535)
        let sq: u128 = judged().map(|r| rate(r) as u128 * rate(r) as u128).sum();
        let n128 = n as u128;
        let spread = (n128 * sq).saturating_sub(sum as u128 * sum as u128);
        let variance = (spread / (n128 * n128)) as u64;
        let stdev = variance.isqrt();
        let cut = (stdev * sr.stdev_factor as u64) / 1000;
        let threshold = mean.saturating_sub(cut);
        for r in judged() {
            if rate(r) < threshold
                && self.enforce(sr.enforcement_percent)
                && pool.eject_outlier(r.1, now)
            {
                out.by_success_rate += 1;
            }
        }
        Some(threshold as u32)
    }

    /// `true` with probability `percent` %.
    fn enforce(&self, percent: u32) -> bool {
        match percent {
            100.. => true,
            0 => false,
            p => below_from(self.stream.next_u64() as u32, 100).is_some_and(|d| d < p),
        }
    }
}

impl<const N: usize> Pool<N> {
    /// Ejects backend `id` found an outlier by a rate detector at tick `now`, as a failure
    /// streak would (the pool's ejection time and max share apply): `true` if it was ejected.
    fn eject_outlier(&self, id: BackendId, now: u32) -> bool {
        let Some(slot) = self.slot(id.index()) else {
            return false;
        };
        let before = slot.hot.ejected_total.load(Ordering::Acquire);
        self.try_eject(slot, id, now);
        slot.hot.ejected_total.load(Ordering::Acquire) != before
    }
}
