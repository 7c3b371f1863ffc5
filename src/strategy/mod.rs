//! The built-in strategies, one file each, and the [`Strategy`] enum that picks one by name.
//!
//! | strategy | name | per pick | state |
//! |---|---|---|---|
//! | [`RoundRobin`] | `round_robin` | O(1): one `fetch_add` (+1 per ineligible slot skipped) | one counter |
//! | [`WeightedRoundRobin`] | `weighted_round_robin` | O(n) scan, two `fetch_add`s | counter + one counter per slot |
//! | [`LeastConn`] | `least_conn` | O(n) scan, no writes | a seed |
//! | [`LeastTime`] | `least_time` | O(n) scan, no writes | a seed |
//! | [`Random`] | `random` | O(1) expected, O(n) worst case | a seed |
//! | [`AliasRandom`] | (code only) | O(1): one alias-table draw (+ fallback to [`Random`]'s sampler when the draw is not a candidate) | `10·N + 36` bytes (a table of `N` columns) |
//! | [`PowerOfTwo`] | `p2c` | two (or `k`) weighted draws, O(1) expected | a seed + the choice count |
//! | [`PeakEwma`] | `peak_ewma` | two (or `k`) weighted draws, O(1) expected | a seed + the choice count |
//! | [`Maglev`] | `maglev` | O(1): one table read (+ fallback when the backend is not eligible) | a table of `M` `u16` (2·M bytes) + 12 bytes per slot |
//! | [`Rendezvous`] | `rendezvous` | O(n) scan, no writes | a seed |
//! | [`Jump`] | `jump` | O(ln n), no writes | a seed |
//! | [`BoundedLoad`] | `bounded_load` | O(n): two scans, no writes | factor + seed |
//! | [`First`] | `first` | O(1) while the first backend has room, O(n) worst case | none |
//! | [`PickFirst`] | `pick_first` | O(n) scan, no writes | the seed's key |
//!
//! Every strategy is built the same way: `new(..)` with its required parameters (none for
//! most; the balance factor for [`BoundedLoad`], which returns a `Result`; Maglev's table
//! sizes are checked at compile time by [`Maglev::new`] or at run time by
//! [`Maglev::try_new`]), and `with_seed(.., seed)`, the same with a seed for the random
//! stream used when a request carries no RNG (and, for round robin and weighted round robin,
//! for where the rotation starts; for [`PickFirst`], the order itself). [`First`] has
//! nothing to seed: `new()` alone. [`PowerOfTwo`] and [`PeakEwma`] also have
//! `with_choices(k, seed)`, the best of `k` draws instead of two. Every pick reads its
//! candidates through the pool's [`View`](crate::View); the shared rules (fair
//! tie-breaking, the lowest-cost scan, two or `k` weighted choices), load metrics (in-flight
//! per weight, peak-EWMA cost), rendezvous scoring and re-hash probing live in modules of
//! their own.
//!
//! [`Maglev`], [`Rendezvous`], [`Jump`] and [`BoundedLoad`] route by the request's key
//! ([`Request::with_key`]; byte keys through [`hash::hash_bytes`](crate::hash::hash_bytes));
//! the README's "Affinity" section says how to choose between them.

use core::fmt;
use core::str::FromStr;

use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};

#[macro_use]
mod seeded;

/// Distinct weighted draws per pick of [`PowerOfTwo`] and [`PeakEwma`] unless
/// `with_choices` says otherwise: two, the power of two choices.
pub const DEFAULT_CHOICES: u8 = 2;

/// Most draws `with_choices` accepts for [`PowerOfTwo`] and [`PeakEwma`]. The gain of a
/// third choice over two is small next to that of two over one (Mitzenmacher: the largest
/// load goes from `ln ln n / ln 2` to `ln ln n / ln 3`); past a handful a full scan
/// ([`LeastConn`], [`LeastTime`]) is as cheap and exact.
pub const MAX_CHOICES: u8 = 8;

mod alias;
mod bounded_load;
mod cost;
mod first;
mod jump;
mod least_conn;
mod least_time;
mod maglev;
mod names;
mod p2c;
mod pick_first;
mod probe;
mod random;
mod rendezvous;
mod round_robin;
mod rule;
mod sample;
pub(crate) mod score;
mod weighted_round_robin;

pub use alias::AliasRandom;
pub use bounded_load::{BoundedLoad, DEFAULT_BALANCE_FACTOR};
pub use first::First;
pub use jump::Jump;
pub use least_conn::LeastConn;
pub use least_time::LeastTime;
pub use maglev::{DEFAULT_TABLE_SIZE, MAX_MAGLEV_SLOTS, Maglev};
pub use names::{STRATEGY_NAMES, StrategyName};
pub use p2c::{PeakEwma, PowerOfTwo};
pub use pick_first::PickFirst;
pub use random::Random;
pub use rendezvous::Rendezvous;
pub use round_robin::RoundRobin;
pub use weighted_round_robin::WeightedRoundRobin;

/// Any built-in strategy, chosen in code or by name from a configuration file.
///
/// Names come from one table, [`STRATEGY_NAMES`]: each strategy's canonical name and the
/// aliases users know from nginx, HAProxy, Envoy and gRPC, matched case-insensitively with
/// `-` and spaces read as `_`. A refused name's error says which name and lists the known
/// ones.
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
    /// See [`First`].
    First(First),
    /// See [`PickFirst`].
    PickFirst(PickFirst),
}

impl<const N: usize, const M: usize> Strategy<N, M> {
    /// Every canonical name, in the order of the enum (the `name` column of
    /// [`STRATEGY_NAMES`]).
    pub const NAMES: &'static [&'static str] = &names::CANONICAL;

    /// The strategy's canonical name (what [`FromStr`] accepts first).
    pub const fn name(&self) -> &'static str {
        // rows of STRATEGY_NAMES, in the enum's order
        match self {
            Strategy::RoundRobin(_) => names::CANONICAL[0],
            Strategy::WeightedRoundRobin(_) => names::CANONICAL[1],
            Strategy::LeastConn(_) => names::CANONICAL[2],
            Strategy::LeastTime(_) => names::CANONICAL[3],
            Strategy::Random(_) => names::CANONICAL[4],
            Strategy::Maglev(_) => names::CANONICAL[5],
            Strategy::Rendezvous(_) => names::CANONICAL[6],
            Strategy::Jump(_) => names::CANONICAL[7],
            Strategy::BoundedLoad(_) => names::CANONICAL[8],
            Strategy::PowerOfTwo(_) => names::CANONICAL[9],
            Strategy::PeakEwma(_) => names::CANONICAL[10],
            Strategy::First(_) => names::CANONICAL[11],
            Strategy::PickFirst(_) => names::CANONICAL[12],
        }
    }

    /// Parses a name like [`FromStr`], giving every seeded strategy `seed` (use a different
    /// seed per proxy instance so instances do not pick in lockstep).
    pub fn from_name(name: &str, seed: u64) -> Result<Self, ParseStrategyError> {
        let Some(row) = names::lookup(name) else {
            return Err(ParseStrategyError::new(name, ParseReason::Unknown));
        };
        // rows in the order of STRATEGY_NAMES (tests/ check every name and alias)
        Ok(match row {
            0 => Strategy::RoundRobin(RoundRobin::with_seed(seed)),
            1 => Strategy::WeightedRoundRobin(WeightedRoundRobin::with_seed(seed)),
            2 => Strategy::LeastConn(LeastConn::with_seed(seed)),
            3 => Strategy::LeastTime(LeastTime::with_seed(seed)),
            4 => Strategy::Random(Random::with_seed(seed)),
            5 => match Maglev::try_with_seed(seed) {
                Ok(m) => Strategy::Maglev(m),
                Err(_) => return Err(ParseStrategyError::new(name, ParseReason::NoMaglevTable)),
            },
            6 => Strategy::Rendezvous(Rendezvous::with_seed(seed)),
            7 => Strategy::Jump(Jump::with_seed(seed)),
            8 => Strategy::BoundedLoad(BoundedLoad::build(DEFAULT_BALANCE_FACTOR, seed)),
            9 => Strategy::PowerOfTwo(PowerOfTwo::with_seed(seed)),
            10 => Strategy::PeakEwma(PeakEwma::with_seed(seed)),
            11 => Strategy::First(First::new()),
            _ => Strategy::PickFirst(PickFirst::with_seed(seed)),
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
            Strategy::First(s) => s.select(pool, req),
            Strategy::PickFirst(s) => s.select(pool, req),
        }
    }
}

/// Why [`Strategy::from_name`] refused a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseReason {
    /// Not a name or alias in [`STRATEGY_NAMES`].
    Unknown,
    /// `maglev` (or an alias) with a table size `M` that is not a prime at least `N`
    /// (for example `Strategy<8, 0>`, which has no table).
    NoMaglevTable,
}

/// The name given to [`Strategy::from_name`] is not one tinylb knows (or names Maglev where
/// the enum has no usable table). Its [`Display`](fmt::Display) names the rejected name
/// (up to 32 bytes) and lists the accepted ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParseStrategyError {
    name: [u8; names::MAX_NAME_LEN],
    len: u8,
    reason: ParseReason,
}

impl ParseStrategyError {
    fn new(name: &str, reason: ParseReason) -> Self {
        let mut buf = [0u8; names::MAX_NAME_LEN];
        // keep whole characters only, so the copy stays valid UTF-8
        let mut len = 0;
        for (i, ch) in name.char_indices() {
            let end = i + ch.len_utf8();
            if end > names::MAX_NAME_LEN {
                break;
            }
            len = end;
        }
        if let (Some(dst), Some(src)) = (buf.get_mut(..len), name.as_bytes().get(..len)) {
            dst.copy_from_slice(src);
        }
        ParseStrategyError {
            name: buf,
            len: len as u8,
            reason,
        }
    }

    /// The rejected name (its first 32 bytes, cut at a character boundary).
    pub fn name(&self) -> &str {
        let bytes = self.name.get(..self.len as usize).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// Why it was rejected.
    pub const fn reason(&self) -> ParseReason {
        self.reason
    }
}

impl fmt::Debug for ParseStrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseStrategyError")
            .field("name", &self.name())
            .field("reason", &self.reason)
            .finish()
    }
}

impl fmt::Display for ParseStrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            ParseReason::Unknown => write!(f, "unknown strategy name `{}`; known: ", self.name())?,
            ParseReason::NoMaglevTable => write!(
                f,
                "`{}` needs a Maglev table size M that is a prime at least N; known: ",
                self.name()
            )?,
        }
        for (i, row) in STRATEGY_NAMES.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(row.name)?;
        }
        Ok(())
    }
}

impl core::error::Error for ParseStrategyError {}
