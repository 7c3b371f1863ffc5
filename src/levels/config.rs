//! The level and locality fields' builders and checks on [`Config`].

use super::{LocalityPolicy, MAX_LOCALITIES};
use crate::config::Config;

impl Config {
    /// Sets the overprovisioning factor in percent (default
    /// [`DEFAULT_OVERPROVISIONING_PERCENT`](super::DEFAULT_OVERPROVISIONING_PERCENT), Envoy's 1.4): a level, or a locality, counts as
    /// fully available until fewer than `100 / factor` of its backends are. A very large
    /// factor (`u32::MAX`) gives nginx's and HAProxy's all-or-nothing backup: the next
    /// level takes traffic only once no backend of this one is healthy. 0 is refused.
    pub const fn overprovisioning_percent(mut self, p: u32) -> Self {
        self.overprovisioning_percent = p;
        self
    }
    /// Counts a level's health by configured weight instead of by backend (Envoy's
    /// `weighted_priority_health`).
    pub const fn weighted_priority_health(mut self, on: bool) -> Self {
        self.weighted_priority_health = on;
        self
    }
    /// A pick in a level in panic fails instead of spreading over all its backends
    /// (Envoy's `fail_traffic_on_panic`).
    pub const fn fail_traffic_on_panic(mut self, on: bool) -> Self {
        self.fail_traffic_on_panic = on;
        self
    }
    /// In panic, down backends are candidates too (Envoy's "all hosts"); by default they
    /// stay out.
    pub const fn panic_picks_down(mut self, on: bool) -> Self {
        self.panic_picks_down = on;
        self
    }
    /// Sets the locality policy.
    pub const fn locality(mut self, policy: LocalityPolicy) -> Self {
        self.locality = policy;
        self
    }
    /// Checks the level and locality fields.
    pub(crate) const fn validate_levels(&self) -> Result<(), crate::ConfigError> {
        if self.overprovisioning_percent == 0 {
            return Err(crate::ConfigError::InvalidOverprovisioning);
        }
        if let LocalityPolicy::ZoneAware(z) = self.locality
            && z.local_zone as usize >= MAX_LOCALITIES
        {
            return Err(crate::ConfigError::InvalidLocality);
        }
        if !cfg!(feature = "levels") && self.always_spread() {
            return Err(crate::ConfigError::LevelsDisabled);
        }
        Ok(())
    }
    /// `true` if picks must take the spread path whatever the backends are.
    pub(crate) const fn always_spread(&self) -> bool {
        self.weighted_priority_health || !matches!(self.locality, LocalityPolicy::Off)
    }
    /// `true` if a single level's panic changes what a pick may return.
    pub(crate) const fn panic_matters(&self) -> bool {
        self.panic_threshold_percent != 0
            && (self.ejection.is_some() || self.fail_traffic_on_panic || self.panic_picks_down)
    }
}
