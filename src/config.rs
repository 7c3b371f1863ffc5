//! Pool-wide policy: latency half-life, slow start, outlier ejection, panic threshold.

use crate::error::ConfigError;
use crate::levels::{DEFAULT_OVERPROVISIONING_PERCENT, LocalityPolicy};

/// Default half-life of the latency estimate: 5 seconds (Finagle's default decay window is
/// 10 s, the `1/e` time; its half-life is about 6.9 s).
pub const DEFAULT_HALF_LIFE_MS: u32 = 5_000;

/// Slow start (Envoy `slow_start_config`, HAProxy `slowstart`): a backend that joins the
/// pool, comes back up, or returns from ejection ramps its effective weight over a window
/// instead of taking its full share at once.
///
/// Effective weight at `t` ms into the window of `window_ms`:
///
/// ```text
/// w_eff = max(1, w · max(min_weight_percent / 100, (t / window_ms)^(1 / aggression)))
/// ```
///
/// Envoy's curve, with an integer `aggression` (1 is linear, HAProxy's ramp; 2 rises like a
/// square root, faster at first). The elapsed fraction `t / window_ms` is taken in Q16
/// (rounded down to a multiple of 2^-16), its root is computed exactly in integers by
/// bisection and rounded down to a multiple of 2^-16, and the weight is rounded down: the
/// result is within `1 + w / 2^16` of the curve at that fraction. The window
/// starts at the first pick that sees the backend after the change (the crate has no clock:
/// that pick's [`Request::with_now_us`](crate::Request::with_now_us) is the start, rounded up to an odd
/// millisecond), and ends by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlowStart {
    /// Length of the ramp in milliseconds (> 0).
    pub window_ms: u32,
    /// Curve exponent `1 / aggression`, `1..=8`.
    pub aggression: u32,
    /// Floor of the ramp as a percentage of the weight, `0..=100` (Envoy's default is 10).
    pub min_weight_percent: u32,
}

impl SlowStart {
    /// A linear ramp over `window_ms` starting at 10 % of the weight.
    pub const fn linear(window_ms: u32) -> Self {
        SlowStart {
            window_ms,
            aggression: 1,
            min_weight_percent: 10,
        }
    }

    const fn validate(&self) -> Result<(), ConfigError> {
        if self.window_ms == 0
            || self.aggression == 0
            || self.aggression > 8
            || self.min_weight_percent > 100
        {
            return Err(ConfigError::InvalidSlowStart);
        }
        Ok(())
    }

    /// The ramp's fraction at `elapsed_ms`, in Q16 (65536 = full weight).
    pub(crate) const fn fraction_q16(&self, elapsed_ms: u32) -> u32 {
        // window_ms == 0 is refused by validate; the test keeps the panic path out anyway
        if elapsed_ms >= self.window_ms || self.window_ms == 0 {
            return 1 << 16;
        }
        let x = (((elapsed_ms as u64) << 16) / self.window_ms as u64) as u32;
        let root = root_q16(x, self.aggression);
        let floor = (((self.min_weight_percent as u64) << 16).div_ceil(100)) as u32;
        if root > floor { root } else { floor }
    }

    /// Effective weight of a backend of weight `w` that is `elapsed_ms` into its ramp.
    pub(crate) const fn weight(&self, w: u32, elapsed_ms: u32) -> u32 {
        let f = self.fraction_q16(elapsed_ms);
        let e = ((w as u64 * f as u64) >> 16) as u32;
        if e == 0 && w > 0 { 1 } else { e }
    }
}

/// `true` if `(y / 2^16)^k <= x / 2^16`, exactly (`x < 2^16`, `k <= 8`).
const fn pow_le(y: u32, k: u32, x: u32) -> bool {
    let mut p: u128 = 1;
    let mut i = 0;
    while i < k {
        p = match p.checked_mul(y as u128) {
            Some(v) => v,
            None => return false,
        };
        i += 1;
    }
    p <= (x as u128) << (16 * (k - 1))
}

/// The largest `y` in Q16 with `y^k <= x` exactly (`x <= 1.0`, `1 <= k <= 8`), by
/// bisection: the exact root rounded down to a multiple of 2^-16.
const fn root_q16(x: u32, k: u32) -> u32 {
    if k <= 1 || x >= 1 << 16 {
        return x;
    }
    let (mut lo, mut hi) = (0u32, 1u32 << 16);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if pow_le(mid, k, x) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Outlier ejection (Envoy `outlier_detection` consecutive-5xx, nginx
/// `max_fails`/`fail_timeout`): a backend whose leases report `consecutive_failures`
/// failures in a row is ejected (not picked) for `base_ms × times ejected`, capped at
/// `max_ms`, and returns by itself once that time has passed on the caller's clock.
///
/// "Times ejected" is Envoy's ejection multiplier (`ejectTimeBackoff` in Envoy's
/// `source/common/upstream/outlier_detection_impl.cc`; gRPC's A50 calls it the ejection time
/// multiplier), and it moves as Envoy moves it:
///
/// * an ejection adds one, unless `base_ms × times` already reaches `max_ms + base_ms`
///   (Envoy's cap in `ejectHost`: with its defaults the multiplier stops at 11);
/// * it goes down by one for every `interval_ms` the backend spends back in the pool, not
///   ejected (Envoy's `onIntervalTimer` takes one off every host that is not ejected and has
///   been back for at least an interval, once per detection interval; A50 step 5 does the
///   same). tinylb has no timer: the steps are counted when the backend is next ejected, as
///   `⌊time back / interval_ms⌋`, which is Envoy's count with the detection timer started at
///   the moment the backend came back (Envoy's own timer has an arbitrary phase, so it may
///   take one step fewer). "Back" is measured from the first pick that saw the ejection end
///   (the crate has no clock), rounded up to an odd millisecond; a clock that goes
///   backwards counts as no time.
///
/// Never more than `max_ejection_percent` of the pool's backends are ejected at once, except
/// that one backend may always be ejected (as in Envoy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ejection {
    /// Failures in a row that eject (> 0). Envoy's default is 5.
    pub consecutive_failures: u32,
    /// First ejection time in milliseconds (> 0). Envoy's default is 30 s.
    pub base_ms: u32,
    /// Longest ejection in milliseconds (>= `base_ms`, < 2^31). Envoy's default is 300 s.
    pub max_ms: u32,
    /// Most backends ejected at once, as a percentage of the pool, `0..=100` (Envoy: 10).
    pub max_ejection_percent: u32,
    /// Time back in the pool that takes one step off the multiplier, in milliseconds (> 0):
    /// Envoy's detection `interval`, default 10 s.
    pub interval_ms: u32,
}

impl Ejection {
    /// Envoy's defaults: 5 failures, 30 s base, 300 s cap, at most 10 % of the pool, one
    /// step off the multiplier per 10 s back.
    pub const ENVOY: Ejection = Ejection {
        consecutive_failures: 5,
        base_ms: 30_000,
        max_ms: 300_000,
        max_ejection_percent: 10,
        interval_ms: 10_000,
    };

    const fn validate(&self) -> Result<(), ConfigError> {
        if self.consecutive_failures == 0
            || self.base_ms == 0
            || self.interval_ms == 0
            || self.max_ms < self.base_ms
            || self.max_ms > i32::MAX as u32
            || self.max_ejection_percent > 100
        {
            return Err(ConfigError::InvalidEjection);
        }
        Ok(())
    }

    /// Ejection time for the `times`-th ejection in a row.
    pub(crate) const fn duration_ms(&self, times: u32) -> u32 {
        let d = self.base_ms as u64 * times as u64;
        if d > self.max_ms as u64 {
            self.max_ms
        } else {
            d as u32
        }
    }

    /// The multiplier of an ejection that finds it at `prior` after `back_ms` back in the
    /// pool (`None`: never back): one step off per `interval_ms` back, then one more unless
    /// Envoy's cap (`base × times >= max + base`) stops it.
    pub(crate) const fn next_times(&self, prior: u32, back_ms: Option<u32>) -> u32 {
        let mut times = prior;
        if let Some(back) = back_ms {
            // interval_ms > 0 by validate; the test keeps the panic path out anyway
            let earned = match back.checked_div(self.interval_ms) {
                Some(e) => e,
                None => 0,
            };
            times = times.saturating_sub(earned);
        }
        if (self.base_ms as u64 * times as u64) < self.max_ms as u64 + self.base_ms as u64 {
            times + 1
        } else {
            times
        }
    }
}

/// Pool-wide policy, built with `const fn`s and checked by
/// [`Pool::with_config`](crate::Pool::with_config).
///
/// ```
/// use tinylb::{Config, Ejection, Pool, SlowStart};
/// static POOL: Pool<16> = match Pool::with_config(
///     Config::new()
///         .half_life_ms(2_000)
///         .slow_start(SlowStart::linear(30_000))
///         .ejection(Ejection::ENVOY)
///         .panic_threshold_percent(50),
/// ) {
///     Ok(pool) => pool,
///     Err(_) => panic!("bad pool config"), // a compile-time error for a static
/// };
/// assert_eq!(POOL.config().panic_threshold_percent, 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Half-life of the latency estimate in milliseconds (see [`DEFAULT_HALF_LIFE_MS`]).
    pub half_life_ms: u32,
    /// Slow start for backends that join or return, if any.
    pub slow_start: Option<SlowStart>,
    /// Outlier ejection, if any.
    pub ejection: Option<Ejection>,
    /// Panic threshold (Envoy's `healthy_panic_threshold`, default 50 %): a priority level
    /// is in panic when fewer than this percentage of *all* its backends (down and draining
    /// ones counted, as Envoy counts hosts failing health checks) are up or degraded and not
    /// ejected, unless the levels together are fully available (see [`crate::levels`]). A
    /// level in panic picks from its ejected backends again (and its down ones with
    /// [`Config::panic_picks_down`]), or fails with [`Config::fail_traffic_on_panic`]. `0`
    /// disables it.
    pub panic_threshold_percent: u32,
    /// Overprovisioning factor in percent (Envoy's, default 140): see
    /// [`Config::overprovisioning_percent`].
    pub overprovisioning_percent: u32,
    /// Count a level's health by weight (Envoy's `weighted_priority_health`).
    pub weighted_priority_health: bool,
    /// A pick in a level in panic fails (Envoy's `fail_traffic_on_panic`).
    pub fail_traffic_on_panic: bool,
    /// In panic, down backends are candidates too (Envoy's behaviour; off by default).
    pub panic_picks_down: bool,
    /// How picks split over localities ([`LocalityPolicy::Off`] by default).
    pub locality: LocalityPolicy,
    /// How much recent failures add to a backend's cost in the load-aware strategies
    /// (least connections, least time, bounded load, P2C, P2C peak-EWMA), as a percentage `p` of the
    /// failure odds: the cost is multiplied by `1 + p/100 · f / (1 − f)`, `f` the backend's
    /// recent failure fraction (see [`DEFAULT_FAILURE_PENALTY_PERCENT`] and the README's
    /// load-aware section). `0` turns it off; at most 10 000.
    pub failure_penalty_percent: u32,
}

/// Default [`Config::failure_penalty_percent`]: 100, a backend's cost is the cost of one
/// *successful* request on it (a request that fails with probability `f` takes `1 / (1 − f)`
/// attempts), so a backend that fails fast no longer looks idle and fast.
pub const DEFAULT_FAILURE_PENALTY_PERCENT: u32 = 100;

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// Default policy: 5 s latency half-life, no slow start, no ejection, panic threshold
    /// 50 %, overprovisioning 140 %, no locality routing, failure penalty 100 %.
    pub const fn new() -> Self {
        Config {
            half_life_ms: DEFAULT_HALF_LIFE_MS,
            slow_start: None,
            ejection: None,
            panic_threshold_percent: 50,
            overprovisioning_percent: DEFAULT_OVERPROVISIONING_PERCENT,
            weighted_priority_health: false,
            fail_traffic_on_panic: false,
            panic_picks_down: false,
            locality: LocalityPolicy::Off,
            failure_penalty_percent: DEFAULT_FAILURE_PENALTY_PERCENT,
        }
    }

    /// Sets the latency half-life.
    pub const fn half_life_ms(mut self, half_life_ms: u32) -> Self {
        self.half_life_ms = half_life_ms;
        self
    }

    /// Turns on slow start.
    pub const fn slow_start(mut self, s: SlowStart) -> Self {
        self.slow_start = Some(s);
        self
    }

    /// Turns on outlier ejection.
    pub const fn ejection(mut self, e: Ejection) -> Self {
        self.ejection = Some(e);
        self
    }

    /// Sets the panic threshold (0 to 100).
    pub const fn panic_threshold_percent(mut self, p: u32) -> Self {
        self.panic_threshold_percent = p;
        self
    }

    /// Sets the failure penalty (0 to 10 000; 0 turns it off): see
    /// [`Config::failure_penalty_percent`].
    pub const fn failure_penalty_percent(mut self, p: u32) -> Self {
        self.failure_penalty_percent = p;
        self
    }

    /// Checks every field: [`ConfigError::InvalidSlowStart`], [`ConfigError::InvalidEjection`],
    /// [`ConfigError::InvalidPercent`] (a panic threshold above 100 or a failure penalty
    /// above 10 000), [`ConfigError::InvalidOverprovisioning`] (a factor of 0),
    /// [`ConfigError::InvalidLocality`] (a local zone out of range).
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if let Some(s) = &self.slow_start
            && let Err(e) = s.validate()
        {
            return Err(e);
        }
        if let Some(e) = &self.ejection
            && let Err(err) = e.validate()
        {
            return Err(err);
        }
        if self.panic_threshold_percent > 100 || self.failure_penalty_percent > 10_000 {
            return Err(ConfigError::InvalidPercent);
        }
        self.validate_levels()
    }
}

#[cfg(test)]
mod tests;
