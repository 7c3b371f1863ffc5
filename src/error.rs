//! The crate's one error type for configuration calls.

use core::fmt;

/// Why a configuration call (adding, re-weighting, capping, marking a backend) was refused.
///
/// Every call that returns this error has changed nothing: the pool is exactly as it was
/// before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
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
    /// (its slot's generation moved on).
    Stale,
    /// The in-flight cap is zero: such a backend could never be picked. Mark it down instead.
    ZeroCap,
    /// A [`SlowStart`](crate::SlowStart) with a zero window, an aggression outside `1..=8`
    /// or a floor above 100 %. Returned by [`Pool::with_config`](crate::Pool::with_config).
    InvalidSlowStart,
    /// An [`Ejection`](crate::Ejection) with zero failures, a zero base time, a cap below
    /// the base or at/above 2^31 ms, or a share above 100 %. Returned by
    /// [`Pool::with_config`](crate::Pool::with_config).
    InvalidEjection,
    /// A percentage above 100 (the panic threshold). Returned by
    /// [`Pool::with_config`](crate::Pool::with_config).
    InvalidPercent,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Full => "the pool is full",
            Error::WeightTooLarge => "weight exceeds MAX_WEIGHT",
            Error::WeightOverflow => "total weight would exceed MAX_TOTAL_WEIGHT",
            Error::NoSuchBackend => "no backend at that index",
            Error::Stale => "the backend id refers to a removed backend",
            Error::ZeroCap => "an in-flight cap of zero would make the backend unpickable",
            Error::InvalidSlowStart => "slow start needs a window > 0, aggression 1..=8, floor <= 100 %",
            Error::InvalidEjection => {
                "ejection needs failures > 0, 0 < base <= max < 2^31 ms, share <= 100 %"
            }
            Error::InvalidPercent => "a percentage above 100",
        };
        f.write_str(s)
    }
}

impl core::error::Error for Error {}
