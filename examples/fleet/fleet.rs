//! The fleet model: every proxy's subset under a scheme, connections per backend, and the
//! connections a membership change opens and closes.

use std::collections::BTreeSet;

use tinylb::subset::{Scheme, Subset};

/// Largest subset the model computes (aperture windows can exceed the subset size).
pub(crate) const CAP: usize = 128;

/// How proxies choose their backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every proxy connects to every backend.
    FullMesh,
    /// One of the crate's subsetting schemes.
    Subset(Scheme),
}

impl Mode {
    /// Every mode, in table order.
    pub(crate) const ALL: [Mode; 4] = [
        Mode::FullMesh,
        Mode::Subset(Scheme::Random),
        Mode::Subset(Scheme::Deterministic),
        Mode::Subset(Scheme::Aperture),
    ];

    /// The mode's name in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::FullMesh => "full mesh",
            Mode::Subset(s) => s.name(),
        }
    }
}

/// A fleet: proxies (each with a random-subsetting seed, A68's per-client seed) and the
/// backend ids they share.
#[derive(Debug, Clone)]
pub(crate) struct Fleet {
    /// One seed per proxy, for random subsetting.
    pub(crate) proxy_seeds: Vec<u64>,
    /// The backends, ascending ids.
    pub(crate) backends: Vec<u32>,
    /// Subset size.
    pub(crate) k: u32,
    /// The fleet-wide seed of deterministic subsetting and aperture.
    pub(crate) seed: u64,
}

/// One proxy's backends and shares (Q16), ascending by backend.
pub(crate) type Members = Vec<(u32, u32)>;

impl Fleet {
    /// The number of proxies.
    pub(crate) fn proxies(&self) -> u32 {
        self.proxy_seeds.len() as u32
    }

    /// Proxy `i`'s members under `mode`.
    pub(crate) fn members(&self, mode: Mode, i: u32) -> Members {
        match mode {
            Mode::FullMesh => self.backends.iter().map(|&b| (b, 65_536)).collect(),
            Mode::Subset(scheme) => {
                let seed = match scheme {
                    Scheme::Random => self.proxy_seeds[i as usize],
                    _ => self.seed,
                };
                let s: Subset<CAP> = scheme
                    .subset(i, self.proxies(), &self.backends, self.k, seed)
                    .expect("valid fleet inputs");
                s.members()
                    .iter()
                    .map(|m| (m.backend, m.share_q16))
                    .collect()
            }
        }
    }

    /// Every proxy's members under `mode`.
    pub(crate) fn all(&self, mode: Mode) -> Vec<Members> {
        (0..self.proxies()).map(|i| self.members(mode, i)).collect()
    }
}

/// Connections per backend id (index = id, up to `ids`).
pub(crate) fn connections(subsets: &[Members], ids: usize) -> Vec<u32> {
    let mut c = vec![0u32; ids];
    for s in subsets {
        for &(b, _) in s {
            c[b as usize] += 1;
        }
    }
    c
}

/// The (proxy, backend) connections of a fleet.
fn edges(subsets: &[Members]) -> BTreeSet<(usize, u32)> {
    subsets
        .iter()
        .enumerate()
        .flat_map(|(p, s)| s.iter().map(move |&(b, _)| (p, b)))
        .collect()
}

/// Connections opened and closed from `before` to `after` (proxy `p` of one is proxy `p`
/// of the other; a proxy only in `after` opens all of its connections).
pub(crate) fn moved(before: &[Members], after: &[Members]) -> (usize, usize) {
    let (a, b) = (edges(before), edges(after));
    (b.difference(&a).count(), a.difference(&b).count())
}
