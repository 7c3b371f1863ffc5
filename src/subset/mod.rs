//! Fleet subsetting: which backends *this* proxy of a fleet connects to, and with what share.
//!
//! Past a few hundred proxies and backends, a full mesh (every proxy connected to every
//! backend) costs proxies × backends connections, and each backend holds one per proxy.
//! Subsetting gives each proxy a small, stable subset, chosen so that every backend gets
//! about the same number of proxies and a membership change moves few connections. The
//! three algorithms here are pure functions: the caller passes this proxy's index and the
//! fleet size (plain integers, like time), the backends and a subset size, and gets a
//! [`Subset`] back; no heap, no floats, no `usize` in any hash (the same inputs give the same
//! subset on 16-, 32- and 64-bit targets; `tests/golden/subset.rs` checks it on x86-64, WASI
//! and Cortex-M).
//!
//! | function | anchor | connections per backend | on a membership change |
//! |---|---|---|---|
//! | [`deterministic`] | Google SRE book, ch. 20 | exactly `P·k/B` when `B` divides `P·k`, else within one | a proxy added or restarted moves nothing; a backend added or removed reshuffles much |
//! | [`aperture`] | Finagle deterministic aperture | within one of each other; overlap-weighted load exactly equal | small shifts of every window when `P` or `B` changes |
//! | [`random`] | gRPC A68 `random_subsetting` | binomial: the SRE book's 63 %–121 % of the mean | a backend removed or added moves at most one connection per proxy, only where needed |
//!
//! (`P` proxies, `B` backends, subset size `k`.) [`Scheme`] names the three for a
//! configuration file. [`Subset::apply`] sets each backend's share of its weight in a
//! [`Pool`](crate::Pool) ([`Pool::set_share`](crate::Pool::set_share): the member's share,
//! 0 outside the subset), so every strategy picks only within the subset; [`slots`] lists a
//! pool's backends as the `backends` argument. [`Subset::diff`] reports what changed between
//! two subsets (members added, removed, re-weighted); [`Subset::share_of`] gives a backend's
//! share as a Q16 multiplier ([`FULL_SHARE`] = 1.0, 0 = outside the subset).
//!
//! # The backends
//!
//! `backends` lists the backends the fleet shares, as `u32` ids in **strictly ascending
//! order** (anything else is [`SubsetError::Unsorted`]). Every proxy of the fleet must pass
//! the same ids for the same backends: when every proxy fills its [`Pool`](crate::Pool) from
//! the same configuration in the same order, the pool's slot indices are such ids (the
//! subset then names slots directly); otherwise use a fleet-wide id (a hash of the address)
//! and map it to the slot. Deterministic and random subsetting hash the ids, so a backend's
//! fate depends on its id, not on its position; aperture places the backends on a ring in
//! list order.
//!
//! # When to use which
//!
//! * **Deterministic** when the fleet size changes more often than the backends (autoscaled
//!   proxies in front of a fixed backend set), and exact connection balance matters.
//! * **Aperture** when both change, the strategy weighs by load (P2C, least connections), and
//!   equal *load* matters more than equal connection counts: overlap weights make every
//!   backend's load exactly equal while connection counts stay within one.
//! * **Random** when proxies cannot know their index or the fleet size (no coordination at
//!   all), or backends come and go often: it moves the fewest connections on a backend
//!   change, at the cost of binomial imbalance.

mod aperture;
mod apply;
mod deterministic;
mod diff;
mod random;
mod select;

pub use aperture::{MIN_APERTURE, aperture};
pub use apply::{Slots, slots};
pub use deterministic::deterministic;
pub use diff::{Change, Diff};
pub use random::{DEFAULT_SUBSET_SIZE, random};

use core::fmt;

/// A full share (1.0 in Q16, 65536): the backend is a full member of the subset. The
/// pool's [`crate::FULL_SHARE`], re-exported.
pub use crate::FULL_SHARE;

/// One member of a [`Subset`]: a backend id and its share of a full weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Member {
    /// The backend's id, one of the `backends` passed in.
    pub backend: u32,
    /// Its share in Q16, `1..=FULL_SHARE`: [`FULL_SHARE`] for deterministic and random
    /// subsetting; aperture's overlap of the proxy's window with the backend.
    pub share_q16: u32,
}

/// This proxy's subset: at most `K` members, in ascending order of backend id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subset<const K: usize> {
    members: heapless::Vec<Member, K>,
}

impl<const K: usize> Default for Subset<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> Subset<K> {
    /// An empty subset.
    pub const fn new() -> Self {
        Subset {
            members: heapless::Vec::new(),
        }
    }

    /// A subset of the given members, for a caller that keeps subsets (to diff against
    /// the next one, say): backend ids strictly ascending ([`SubsetError::Unsorted`]
    /// otherwise), shares in `1..=FULL_SHARE` ([`SubsetError::InvalidShare`]), at most `K`
    /// of them ([`SubsetError::CapacityTooSmall`]).
    pub fn from_members(members: impl IntoIterator<Item = Member>) -> Result<Self, SubsetError> {
        let mut out = Subset::new();
        for m in members {
            if out.members.last().is_some_and(|l| l.backend >= m.backend) {
                return Err(SubsetError::Unsorted);
            }
            if m.share_q16 == 0 || m.share_q16 > FULL_SHARE {
                return Err(SubsetError::InvalidShare);
            }
            out.members
                .push(m)
                .map_err(|_| SubsetError::CapacityTooSmall)?;
        }
        Ok(out)
    }

    /// The members, in ascending order of backend id.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// `true` if the subset has no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The backend ids, ascending.
    pub fn backends(&self) -> impl Iterator<Item = u32> + '_ {
        self.members.iter().map(|m| m.backend)
    }

    /// `backend`'s share in Q16: 0 if it is not a member.
    pub fn share_of(&self, backend: u32) -> u32 {
        self.member(backend).map_or(0, |m| m.share_q16)
    }

    /// `true` if `backend` is a member.
    pub fn contains(&self, backend: u32) -> bool {
        self.member(backend).is_some()
    }

    fn member(&self, backend: u32) -> Option<&Member> {
        self.members
            .binary_search_by_key(&backend, |m| m.backend)
            .ok()
            .and_then(|i| self.members.get(i))
    }

    /// What changed from `self` (the old subset) to `next`.
    pub fn diff<'a, const K2: usize>(&'a self, next: &'a Subset<K2>) -> Diff<'a> {
        Diff::new(&self.members, &next.members)
    }

    /// Adds a member or, if it is already one, adds to its share (capped at
    /// [`FULL_SHARE`]); the members stay sorted.
    fn push(&mut self, backend: u32, share_q16: u32) -> Result<(), SubsetError> {
        match self.members.binary_search_by_key(&backend, |m| m.backend) {
            Ok(i) => {
                if let Some(m) = self.members.get_mut(i) {
                    m.share_q16 = m.share_q16.saturating_add(share_q16).min(FULL_SHARE);
                }
                Ok(())
            }
            Err(i) => self
                .members
                .insert(i, Member { backend, share_q16 })
                .map_err(|_| SubsetError::CapacityTooSmall),
        }
    }
}

/// The three algorithms, for a caller that takes the choice from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scheme {
    /// [`deterministic`]: Google SRE book, chapter 20.
    Deterministic,
    /// [`aperture`]: Finagle's deterministic aperture, with overlap weights.
    Aperture,
    /// [`random`]: gRPC A68; `seed` is this proxy's own.
    Random,
}

impl Scheme {
    /// Every scheme, in declaration order.
    pub const ALL: [Scheme; 3] = [Scheme::Deterministic, Scheme::Aperture, Scheme::Random];

    /// The scheme's name: `deterministic`, `aperture` or `random`.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Deterministic => "deterministic",
            Scheme::Aperture => "aperture",
            Scheme::Random => "random",
        }
    }

    /// The scheme called `name` (as [`Scheme::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }

    /// This proxy's subset under the scheme. [`Scheme::Random`] ignores `proxy` and
    /// `proxies` (it checks them all the same), and takes `seed` as this proxy's own.
    pub fn subset<const K: usize>(
        self,
        proxy: u32,
        proxies: u32,
        backends: &[u32],
        subset_size: u32,
        seed: u64,
    ) -> Result<Subset<K>, SubsetError> {
        match self {
            Scheme::Deterministic => deterministic(proxy, proxies, backends, subset_size, seed),
            Scheme::Aperture => aperture(proxy, proxies, backends, subset_size, seed),
            Scheme::Random => {
                check(proxy, proxies, backends, subset_size)?;
                random(backends, subset_size, seed)
            }
        }
    }
}

/// Why a subset could not be computed. Nothing is computed on an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SubsetError {
    /// A subset size of zero: the proxy would talk to no backend.
    ZeroSubsetSize,
    /// A fleet of zero proxies.
    EmptyFleet,
    /// This proxy's index is not below the fleet size.
    ProxyOutOfRange,
    /// The backend ids are not strictly ascending (out of order, or one listed twice).
    Unsorted,
    /// More than `u32::MAX` backends.
    TooManyBackends,
    /// The subset has more members than the [`Subset`]'s capacity `K`. Deterministic and
    /// random subsets have `min(subset_size, backends)` members; an aperture up to
    /// [`aperture`]'s stated bound.
    CapacityTooSmall,
    /// A member's share is 0 or above [`FULL_SHARE`] (from [`Subset::from_members`]).
    InvalidShare,
}

impl fmt::Display for SubsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubsetError::ZeroSubsetSize => "the subset size is zero",
            SubsetError::EmptyFleet => "the fleet has no proxy",
            SubsetError::ProxyOutOfRange => "the proxy index is not below the fleet size",
            SubsetError::Unsorted => "the backend ids are not strictly ascending",
            SubsetError::TooManyBackends => "more than u32::MAX backends",
            SubsetError::CapacityTooSmall => "the subset has more members than its capacity",
            SubsetError::InvalidShare => "a share is 0 or above FULL_SHARE",
        })
    }
}

impl core::error::Error for SubsetError {}

/// Checks the inputs every scheme shares; returns the backend count.
fn check(proxy: u32, proxies: u32, backends: &[u32], subset_size: u32) -> Result<u32, SubsetError> {
    if subset_size == 0 {
        return Err(SubsetError::ZeroSubsetSize);
    }
    if proxies == 0 {
        return Err(SubsetError::EmptyFleet);
    }
    if proxy >= proxies {
        return Err(SubsetError::ProxyOutOfRange);
    }
    check_backends(backends)
}

/// Checks that the ids are strictly ascending and few enough; returns their count.
fn check_backends(backends: &[u32]) -> Result<u32, SubsetError> {
    let n = u32::try_from(backends.len()).map_err(|_| SubsetError::TooManyBackends)?;
    if backends.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
        return Err(SubsetError::Unsorted);
    }
    Ok(n)
}
