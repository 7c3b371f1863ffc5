//! The crate's one error type for configuration calls.

use core::fmt;

/// Why a configuration call (adding, re-weighting, capping, marking a backend) was refused.
///
/// Every call that returns this error has changed nothing: the pool is exactly as it was
/// before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    /// A [`Maglev`](crate::Maglev) table size `M` that is not a prime below 2^32: only a
    /// prime size lets every backend's permutation (a stride through the table) visit every
    /// entry. Returned by [`Maglev::try_new`](crate::Maglev::try_new).
    TableSizeNotPrime,
    /// A [`Maglev`](crate::Maglev) table with fewer entries than the pool has slots
    /// (`M < N`), so some backend could get no entry at all. For a balance within 1 %,
    /// make `M` larger than 100 × the number of backends. Returned by
    /// [`Maglev::try_new`](crate::Maglev::try_new).
    TableTooSmall,
    /// A pool with more slots than [`Maglev`](crate::Maglev)'s 15-bit table entries can
    /// name (`N > 32767`). Returned by [`Maglev::try_new`](crate::Maglev::try_new).
    PoolTooLarge,
    /// A [`BoundedLoad`](crate::BoundedLoad) balance factor below 100 %: no backend could be
    /// under a bound smaller than its fair share. Returned by
    /// [`BoundedLoad::new`](crate::BoundedLoad::new).
    BalanceFactorTooLow,
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
            Error::InvalidSlowStart => {
                "slow start needs a window > 0, aggression 1..=8, floor <= 100 %"
            }
            Error::InvalidEjection => {
                "ejection needs failures > 0, 0 < base <= max < 2^31 ms, share <= 100 %"
            }
            Error::InvalidPercent => "a percentage above 100",
            Error::TableSizeNotPrime => "the Maglev table size is not a prime below 2^32",
            Error::TableTooSmall => "the Maglev table has fewer entries than the pool has slots",
            Error::PoolTooLarge => "Maglev tables name at most 32767 pool slots",
            Error::BalanceFactorTooLow => "the bounded-load balance factor is below 100 %",
        };
        f.write_str(s)
    }
}

impl core::error::Error for Error {}
