//! The crate's error types, one per kind of operation.
//!
//! * [`BackendError`]: adding, removing and changing backends (membership and per-backend
//!   settings);
//! * [`ConfigError`]: pool policy ([`Config`](crate::Config)) and strategy parameters;
//! * [`TableError`]: sizing a [`Maglev`](crate::Maglev) table.
//!
//! Every call that returns one of these has changed nothing.

use core::fmt;

use crate::pool::{MAX_TOTAL_WEIGHT, MAX_WEIGHT};

/// Why a call on the pool's backends (add, remove, `set_*`, `info`) was refused.
///
/// The pool is exactly as it was before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BackendError {
    /// Every slot of the pool is taken (or still draining leases after a removal), so no
    /// backend can be added. Remove one, or build the pool with a larger `N`.
    Full,
    /// The weight is larger than [`MAX_WEIGHT`](crate::MAX_WEIGHT).
    WeightTooLarge,
    /// The change would make the pool's total weight exceed
    /// [`MAX_TOTAL_WEIGHT`](crate::MAX_TOTAL_WEIGHT).
    WeightOverflow,
    /// No backend lives at that index: it is out of range, or the slot is empty.
    NoSuchBackend,
    /// The [`BackendId`](crate::BackendId) names a backend that has since been removed
    /// (its slot's generation moved on). The id is dead: drop it.
    Stale,
    /// A share above [`FULL_SHARE`](crate::FULL_SHARE) (65536).
    ShareTooLarge,
    /// The backend is being changed by other calls at this very moment and this call lost
    /// every one of its bounded compare-and-swap tries. The id is still good: try again.
    Busy,
    /// A priority level at or above [`MAX_LEVELS`](crate::MAX_LEVELS).
    InvalidLevel,
    /// A locality at or above [`MAX_LOCALITIES`](crate::MAX_LOCALITIES).
    InvalidLocality,
    /// A level above 0 or [`Health::Degraded`](crate::Health::Degraded) in a build without
    /// the `levels` feature.
    LevelsDisabled,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Full => f.write_str("the pool is full"),
            BackendError::WeightTooLarge => {
                write!(f, "weight exceeds MAX_WEIGHT ({MAX_WEIGHT})")
            }
            BackendError::WeightOverflow => write!(
                f,
                "total weight would exceed MAX_TOTAL_WEIGHT ({MAX_TOTAL_WEIGHT})"
            ),
            BackendError::NoSuchBackend => f.write_str("no backend at that index"),
            BackendError::Stale => f.write_str("the backend id refers to a removed backend"),
            BackendError::ShareTooLarge => {
                write!(f, "share exceeds FULL_SHARE ({})", crate::FULL_SHARE)
            }
            BackendError::Busy => {
                f.write_str("the backend is being changed concurrently; try again")
            }
            BackendError::InvalidLevel => {
                write!(
                    f,
                    "the level is not below MAX_LEVELS ({})",
                    crate::MAX_LEVELS
                )
            }
            BackendError::LevelsDisabled => {
                f.write_str("levels above 0 and degraded backends need the `levels` feature")
            }
            BackendError::InvalidLocality => write!(
                f,
                "the locality is not below MAX_LOCALITIES ({})",
                crate::MAX_LOCALITIES
            ),
        }
    }
}

impl core::error::Error for BackendError {}

/// Why a pool policy ([`Config`](crate::Config)) or a strategy parameter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// A [`SlowStart`](crate::SlowStart) with a zero window, an aggression outside `1..=8`
    /// or a floor above 100 %. Returned by [`Pool::with_config`](crate::Pool::with_config).
    InvalidSlowStart,
    /// An [`Ejection`](crate::Ejection) with zero failures, a zero base time, a cap below
    /// the base or at/above 2^31 ms, a share above 100 %, or a zero interval. Returned by
    /// [`Pool::with_config`](crate::Pool::with_config).
    InvalidEjection,
    /// A percentage above 100 (the panic threshold) or a failure penalty above 10 000 %. Returned by
    /// [`Pool::with_config`](crate::Pool::with_config).
    InvalidPercent,
    /// A [`BoundedLoad`](crate::BoundedLoad) balance factor below 100 %: no backend could be
    /// under a bound smaller than its fair share. Returned by
    /// [`BoundedLoad::new`](crate::BoundedLoad::new).
    BalanceFactorTooLow,
    /// A choice count outside `1..=`[`MAX_CHOICES`](crate::strategy::MAX_CHOICES).
    /// Returned by [`PowerOfTwo::with_choices`](crate::PowerOfTwo::with_choices) and
    /// [`PeakEwma::with_choices`](crate::PeakEwma::with_choices).
    InvalidChoiceCount,
    /// A [`WeightPolicy`](crate::WeightPolicy) with a zero expiry or update period, or a
    /// period at or above 2^31 ms. Returned by [`LoadWeights::new`](crate::LoadWeights::new).
    InvalidWeightPolicy,
    /// A [`RateDetection`](crate::RateDetection) with a percentage above 100. Returned by
    /// [`OutlierDetector::new`](crate::OutlierDetector::new).
    InvalidRateDetection,
    /// An overprovisioning factor of 0 (no level could ever be available). Returned by
    /// [`Pool::with_config`](crate::Pool::with_config).
    InvalidOverprovisioning,
    /// A zone at or above [`MAX_LOCALITIES`](crate::MAX_LOCALITIES): a
    /// [`ZoneAware`](crate::ZoneAware) local zone, or a zone given to
    /// [`Pool::set_fleet`](crate::Pool::set_fleet) or
    /// [`Pool::set_locality_weight`](crate::Pool::set_locality_weight).
    InvalidLocality,
    /// A locality policy or weighted priority health in a build without the `levels`
    /// feature. Returned by [`Pool::with_config`](crate::Pool::with_config).
    LevelsDisabled,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::InvalidSlowStart => {
                "slow start needs a window > 0 ms, aggression 1..=8, floor <= 100 %"
            }
            ConfigError::InvalidEjection => {
                "ejection needs failures > 0, 0 < base_ms <= max_ms < 2^31 ms (2147483648), share <= 100 %, interval_ms > 0"
            }
            ConfigError::InvalidPercent => "a percentage above 100",
            ConfigError::BalanceFactorTooLow => "the bounded-load balance factor is below 100 %",
            ConfigError::InvalidRateDetection => {
                "rate detection needs percentages <= 100"
            }
            ConfigError::InvalidOverprovisioning => "the overprovisioning factor is 0",
            ConfigError::LevelsDisabled => "locality routing needs the `levels` feature",
            ConfigError::InvalidLocality => {
                return write!(
                    f,
                    "the zone is not below MAX_LOCALITIES ({})",
                    crate::MAX_LOCALITIES
                );
            }
            ConfigError::InvalidWeightPolicy => {
                "a weight policy needs 0 < expiry_ms, update_period_ms and blackout_ms < 2^31 ms"
            }
            ConfigError::InvalidChoiceCount => {
                return write!(
                    f,
                    "the choice count is outside 1..=MAX_CHOICES ({})",
                    crate::strategy::MAX_CHOICES
                );
            }
        })
    }
}

impl core::error::Error for ConfigError {}

/// Why a [`Maglev`](crate::Maglev) table of `M` entries cannot serve a pool of `N` slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TableError {
    /// A table size `M` that is not a prime below 2^32: only a prime size lets every
    /// backend's permutation (a stride through the table) visit every entry.
    TableSizeNotPrime,
    /// Fewer entries than the pool has slots (`M < N`), so some backend could get no entry
    /// at all. For a balance within 1 %, make `M` larger than 100 × the number of backends.
    TableTooSmall,
    /// A pool with more slots than the table's 15-bit entries can name
    /// (`N >` [`MAX_MAGLEV_SLOTS`](crate::strategy::MAX_MAGLEV_SLOTS)).
    PoolTooLarge,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::TableSizeNotPrime => {
                f.write_str("the Maglev table size is not a prime below 2^32 (4294967296)")
            }
            TableError::TableTooSmall => {
                f.write_str("the Maglev table has fewer entries than the pool has slots (M < N)")
            }
            TableError::PoolTooLarge => write!(
                f,
                "Maglev tables name at most MAX_MAGLEV_SLOTS ({}) pool slots",
                crate::strategy::MAX_MAGLEV_SLOTS
            ),
        }
    }
}

impl core::error::Error for TableError {}
