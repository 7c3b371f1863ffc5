//! The built-in strategies, one file each, and the [`Strategy`] enum that picks one by name.
//!
//! | strategy | name | per pick | state |
//! |---|---|---|---|
//! | [`RoundRobin`] | `round_robin` | O(1): one `fetch_add` (+1 per ineligible slot skipped) | one counter |
//! | [`WeightedRoundRobin`] | `weighted_round_robin` | O(n) scan, two `fetch_add`s | counter + one counter per slot |
//! | [`LeastConn`] | `least_conn` | O(n) scan, no writes | a seed |
//! | [`LeastTime`] | `least_time` | O(n) scan, no writes | a seed |
//! | [`Random`] | `random` | O(1) expected, O(n) worst case | a seed |
//! | [`PowerOfTwo`] | `p2c` | two weighted draws, O(1) expected | a seed |
//! | [`PeakEwma`] | `peak_ewma` | two weighted draws, O(1) expected | a seed |
//! | [`Maglev`] | `maglev` | O(1): one table read (+ fallback when the backend is not eligible) | a table of `M` `u16` (2·M bytes) + 12 bytes per slot |
//! | [`Rendezvous`] | `rendezvous` | O(n) scan, no writes | a seed |
//! | [`Jump`] | `jump` | O(ln n), no writes | a seed |
//! | [`BoundedLoad`] | `bounded_load` | O(n): two scans, no writes | factor + seed |
//!
//! The last four route by the request's key ([`Request::with_key`]; byte keys through
//! [`hash::hash_bytes`](crate::hash::hash_bytes)); the README's "Affinity" section says how to
//! choose between them.

use core::fmt;
use core::str::FromStr;

use crate::pool::{BackendId, Pool};
use crate::rng::Stream;
use crate::select::{Request, Select};

mod bounded_load;
mod jump;
mod least_conn;
mod least_time;
mod maglev;
mod p2c;
mod random;
mod rendezvous;
mod round_robin;
mod sample;
mod weighted_round_robin;

pub use bounded_load::{BoundedLoad, DEFAULT_BALANCE_FACTOR};
pub use jump::Jump;
pub use least_conn::LeastConn;
pub use least_time::LeastTime;
pub use maglev::{DEFAULT_TABLE_SIZE, MAX_MAGLEV_SLOTS, Maglev};
pub use p2c::{PeakEwma, PowerOfTwo};
pub use random::Random;
pub use rendezvous::Rendezvous;
pub use round_robin::RoundRobin;
pub use weighted_round_robin::WeightedRoundRobin;

/// Fair random tie-breaking for scanning strategies: every backend tied for best is equally
/// likely to win. Priorities come from a 64-bit LCG (Knuth's MMIX constants) seeded by one
/// random draw, taken only when the first tie of a pick happens.
pub(crate) struct TieBreak {
    lcg: Option<u64>,
    leader: Option<u32>,
}

impl TieBreak {
    pub(crate) const fn new() -> Self {
        TieBreak {
            lcg: None,
            leader: None,
        }
    }

    fn next(&mut self, req: &mut Request<'_>, stream: &Stream) -> u32 {
        let x = match self.lcg {
            Some(x) => x,
            None => req.draw(stream),
        };
        let x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.lcg = Some(x);
        (x >> 32) as u32
    }

    /// A strictly better backend took the lead: its priority is drawn if it is challenged.
    pub(crate) fn new_leader(&mut self) {
        self.leader = None;
    }

    /// A backend tied with the leader: `true` if it takes the lead.
    pub(crate) fn challenge(&mut self, req: &mut Request<'_>, stream: &Stream) -> bool {
        let lead = match self.leader {
            Some(p) => p,
            None => self.next(req, stream),
        };
        let mine = self.next(req, stream);
        if mine > lead {
            self.leader = Some(mine);
            true
        } else {
            self.leader = Some(lead);
            false
        }
    }
}

/// Any built-in strategy, chosen in code or by name from a configuration file.
///
/// Names (case-insensitive, `-` and `_` interchangeable):
///
/// | name | aliases | strategy |
/// |---|---|---|
/// | `round_robin` | `rr`, `roundrobin`, `static-rr` | [`RoundRobin`] |
/// | `weighted_round_robin` | `wrr`, `weighted_rr` | [`WeightedRoundRobin`] |
/// | `least_conn` | `least_connections`, `leastconn` | [`LeastConn`] |
/// | `least_time` | `least_response_time`, `lrt` | [`LeastTime`] |
/// | `random` | | [`Random`] |
/// | `maglev` | `ring`, `ring_hash`, `consistent`, `consistent_hash` | [`Maglev`] with `M` entries |
/// | `rendezvous` | `hrw`, `highest_random_weight` | [`Rendezvous`] |
/// | `jump` | `jump_hash`, `jump_consistent_hash` | [`Jump`] |
/// | `bounded_load` | `consistent_bounded_load`, `chbl` | [`BoundedLoad`], factor 125 % |
/// | `p2c` | `power_of_two`, `least_request`, `random_2` | [`PowerOfTwo`] |
/// | `peak_ewma` | `p2c_ewma`, `p2c_peak_ewma`, `ewma` | [`PeakEwma`] |
///
/// ```
/// use tinylb::{Pool, Request, Select, Strategy};
/// let pool: Pool<4> = Pool::new();
/// pool.add(1).unwrap();
/// let s: Strategy<4> = "least_conn".parse().unwrap();
/// assert_eq!(s.name(), "least_conn");
/// assert!(s.select(&pool, &mut Request::new()).is_some());
/// assert!("fastest".parse::<Strategy<4>>().is_err());
/// ```
///
/// # The Maglev table size `M`
///
/// [`Maglev`]'s table is part of the strategy, so it is part of this enum, and every
/// `Strategy` value is as large as that table (`2·M` bytes) whichever strategy it holds.
/// `M` defaults to [`DEFAULT_TABLE_SIZE`] (8191, 16 KiB): `Strategy<N>` then parses
/// `maglev` with a 1 % balance guarantee up to 81 backends, for 16 KiB, nothing on a
/// server. Name `M` to change it: `Strategy<1000, 131071>` for a large pool (256 KiB), or,
/// on a microcontroller that does not need Maglev, `Strategy<8, 0>`: no table at all, and
/// `maglev` (like any `M` that is not a prime at least `N`) fails to parse. The concrete
/// strategy types avoid the question: `Maglev<N, M>` sized to need, `RoundRobin` in 4 bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum Strategy<const N: usize, const M: usize = DEFAULT_TABLE_SIZE> {
    /// See [`RoundRobin`].
    RoundRobin(RoundRobin),
    /// See [`WeightedRoundRobin`].
    WeightedRoundRobin(WeightedRoundRobin<N>),
    /// See [`LeastConn`].
    LeastConn(LeastConn),
    /// See [`LeastTime`].
    LeastTime(LeastTime),
    /// See [`Random`].
    Random(Random),
    /// See [`Maglev`].
    Maglev(Maglev<N, M>),
    /// See [`Rendezvous`].
    Rendezvous(Rendezvous),
    /// See [`Jump`].
    Jump(Jump),
    /// See [`BoundedLoad`].
    BoundedLoad(BoundedLoad),
    /// See [`PowerOfTwo`].
    PowerOfTwo(PowerOfTwo),
    /// See [`PeakEwma`].
    PeakEwma(PeakEwma),
}

impl<const N: usize, const M: usize> Strategy<N, M> {
    /// Every canonical name, in the order of the enum.
    pub const NAMES: &'static [&'static str] = &[
        "round_robin",
        "weighted_round_robin",
        "least_conn",
        "least_time",
        "random",
        "maglev",
        "rendezvous",
        "jump",
        "bounded_load",
        "p2c",
        "peak_ewma",
    ];

    /// The strategy's canonical name (what [`FromStr`] accepts first).
    pub const fn name(&self) -> &'static str {
        match self {
            Strategy::RoundRobin(_) => "round_robin",
            Strategy::WeightedRoundRobin(_) => "weighted_round_robin",
            Strategy::LeastConn(_) => "least_conn",
            Strategy::LeastTime(_) => "least_time",
            Strategy::Random(_) => "random",
            Strategy::Maglev(_) => "maglev",
            Strategy::Rendezvous(_) => "rendezvous",
            Strategy::Jump(_) => "jump",
            Strategy::BoundedLoad(_) => "bounded_load",
            Strategy::PowerOfTwo(_) => "p2c",
            Strategy::PeakEwma(_) => "peak_ewma",
        }
    }

    /// Parses a name like [`FromStr`], giving every seeded strategy `seed` (use a different
    /// seed per proxy instance so instances do not pick in lockstep).
    pub fn from_name(name: &str, seed: u64) -> Result<Self, ParseStrategyError> {
        let mut buf = [0u8; 32];
        let bytes = name.trim().as_bytes();
        let Some(dst) = buf.get_mut(..bytes.len()) else {
            return Err(ParseStrategyError);
        };
        for (d, &b) in dst.iter_mut().zip(bytes) {
            *d = match b {
                b'-' | b' ' => b'_',
                _ => b.to_ascii_lowercase(),
            };
        }
        Ok(match &*dst {
            b"round_robin" | b"rr" | b"roundrobin" | b"static_rr" => {
                Strategy::RoundRobin(RoundRobin::starting_at(seed as u32))
            }
            b"weighted_round_robin" | b"wrr" | b"weighted_rr" => {
                Strategy::WeightedRoundRobin(WeightedRoundRobin::with_seed(seed))
            }
            b"least_conn" | b"least_connections" | b"leastconn" => {
                Strategy::LeastConn(LeastConn::with_seed(seed))
            }
            b"least_time" | b"least_response_time" | b"lrt" => {
                Strategy::LeastTime(LeastTime::with_seed(seed))
            }
            b"random" => Strategy::Random(Random::with_seed(seed)),
            b"maglev" | b"ring" | b"ring_hash" | b"consistent" | b"consistent_hash" => {
                match Maglev::try_with_seed(seed) {
                    Ok(m) => Strategy::Maglev(m),
                    Err(_) => return Err(ParseStrategyError),
                }
            }
            b"rendezvous" | b"hrw" | b"highest_random_weight" => {
                Strategy::Rendezvous(Rendezvous::with_seed(seed))
            }
            b"jump" | b"jump_hash" | b"jump_consistent_hash" => {
                Strategy::Jump(Jump::with_seed(seed))
            }
            b"bounded_load" | b"consistent_bounded_load" | b"chbl" => {
                Strategy::BoundedLoad(BoundedLoad::with_default_factor(seed))
            }
            b"p2c" | b"power_of_two" | b"least_request" | b"random_2" | b"random(2)" => {
                Strategy::PowerOfTwo(PowerOfTwo::with_seed(seed))
            }
            b"peak_ewma" | b"p2c_ewma" | b"p2c_peak_ewma" | b"ewma" => {
                Strategy::PeakEwma(PeakEwma::with_seed(seed))
            }
            _ => return Err(ParseStrategyError),
        })
    }
}

impl<const N: usize, const M: usize> FromStr for Strategy<N, M> {
    type Err = ParseStrategyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s, 0)
    }
}

impl<const N: usize, const M: usize> Select<N> for Strategy<N, M> {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        match self {
            Strategy::RoundRobin(s) => s.select(pool, req),
            Strategy::WeightedRoundRobin(s) => s.select(pool, req),
            Strategy::LeastConn(s) => s.select(pool, req),
            Strategy::LeastTime(s) => s.select(pool, req),
            Strategy::Random(s) => s.select(pool, req),
            Strategy::Maglev(s) => s.select(pool, req),
            Strategy::Rendezvous(s) => s.select(pool, req),
            Strategy::Jump(s) => s.select(pool, req),
            Strategy::BoundedLoad(s) => s.select(pool, req),
            Strategy::PowerOfTwo(s) => s.select(pool, req),
            Strategy::PeakEwma(s) => s.select(pool, req),
        }
    }
}

/// The name given to [`Strategy::from_str`] is not one tinylb knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseStrategyError;

impl fmt::Display for ParseStrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown strategy name (see Strategy::NAMES for the ones tinylb knows)")
    }
}

impl core::error::Error for ParseStrategyError {}
