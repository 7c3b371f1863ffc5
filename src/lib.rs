#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod clock;
mod config;
mod error;
mod ewma;
pub mod hash;
mod lease;
pub mod levels;
mod pool;
mod reports;
mod rng;
mod select;
pub mod strategy;
pub mod subset;
mod sync;
mod tried;

pub use config::{
    Config, DEFAULT_FAILURE_PENALTY_PERCENT, DEFAULT_HALF_LIFE_MS, Ejection, SlowStart,
};
pub use error::{BackendError, ConfigError, TableError};
pub use lease::{Lease, Outcome, Unstamped};
pub use levels::{
    Availability, LocalityPolicy, MAX_LEVELS, MAX_LOCALITIES, PriorityLoad, ZoneAware,
};
pub use pool::{
    Backend, BackendId, BackendInfo, Candidate, FULL_SHARE, Health, Ids, MAX_IN_FLIGHT,
    MAX_TOTAL_WEIGHT, MAX_WEIGHT, NoBackend, Pool, View,
};
pub use pool::{Evaluation, FailurePercentage, OutlierDetector, RateDetection, SuccessRate};
pub use reports::{LoadReport, LoadWeights, WeightPolicy};
pub use select::{Request, Select, SelectExt};
pub use strategy::{AliasRandom, BoundedLoad, Jump, Maglev, Rendezvous};
pub use strategy::{
    First, LeastConn, LeastTime, ParseReason, ParseStrategyError, PeakEwma, PickFirst, PowerOfTwo,
    Random, RoundRobin, Strategy, WeightedRoundRobin,
};
pub use tried::Tried;

/// The `rand_core` crate tinylb's [`Request::with_rng`] takes randomness from, re-exported
/// so that callers name the same version.
pub use rand_core;
