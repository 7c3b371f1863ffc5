//! The one table of strategy names: every canonical name and its aliases, in the order of
//! the [`Strategy`](crate::Strategy) enum. Parsing, [`Strategy::name`](crate::Strategy::name),
//! [`Strategy::NAMES`](crate::Strategy::NAMES) and the fuzz harness read it.
//!
//! Two names mean different things in different balancers, and the table says which is meant:
//!
//! * **`random`** is nginx's `random` without `two`: one weighted draw ([`Random`]).
//!   HAProxy's bare `balance random` is *two* draws, the less loaded kept: its `<draws>`
//!   argument defaults to 2 since HAProxy 2.0 (`random(<draws>)` in its configuration
//!   manual), which is [`PowerOfTwo`] here. Spell the draws to be unambiguous:
//!   `random(1)` / `random_1` parse to [`Random`], `random(2)` / `random_2` to
//!   [`PowerOfTwo`] (other draw counts: [`PowerOfTwo::with_choices`] in code).
//! * **`static_rr`** is HAProxy's `static-rr`: *weighted* round robin over a static map
//!   (`src/lb_map.c`: each server `weight` times in a map of `Σweight` entries, interleaved by
//!   a smooth-WRR-like rule), no slow start, no live weights. It parses to
//!   [`WeightedRoundRobin`], whose every aligned period of `Σw` picks gives each backend
//!   exactly its weight, as HAProxy's map does (the interleaving is nginx's smooth order, not
//!   HAProxy's map order). The pool's slow start and live weights apply if the pool has them.
//!   Unweighted round robin is `round_robin` (`rr`).
//!
//! [`Random`]: crate::Random
//! [`PowerOfTwo`]: crate::PowerOfTwo
//! [`PowerOfTwo::with_choices`]: crate::PowerOfTwo::with_choices
//! [`WeightedRoundRobin`]: crate::WeightedRoundRobin

/// One built-in strategy's names: the canonical one and the aliases users know from other
/// balancers (nginx, HAProxy, Envoy, gRPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyName {
    /// The canonical name, what [`Strategy::name`](crate::Strategy::name) returns.
    pub name: &'static str,
    /// Other names that parse to the same strategy.
    pub aliases: &'static [&'static str],
}

/// Every built-in strategy's names, in the order of the [`Strategy`](crate::Strategy) enum.
///
/// Names are matched case-insensitively, with `-` and spaces read as `_`.
pub const STRATEGY_NAMES: &[StrategyName] = &[
    StrategyName {
        name: "round_robin",
        aliases: &["rr", "roundrobin"],
    },
    StrategyName {
        name: "weighted_round_robin",
        aliases: &["wrr", "weighted_rr", "static_rr"],
    },
    StrategyName {
        name: "least_conn",
        aliases: &["least_connections", "leastconn"],
    },
    StrategyName {
        name: "least_time",
        aliases: &["least_response_time", "lrt"],
    },
    StrategyName {
        name: "random",
        aliases: &["random_1", "random(1)"],
    },
    StrategyName {
        name: "maglev",
        aliases: &["ring", "ring_hash", "consistent", "consistent_hash"],
    },
    StrategyName {
        name: "rendezvous",
        aliases: &["hrw", "highest_random_weight"],
    },
    StrategyName {
        name: "jump",
        aliases: &["jump_hash", "jump_consistent_hash"],
    },
    StrategyName {
        name: "bounded_load",
        aliases: &["consistent_bounded_load", "chbl"],
    },
    StrategyName {
        name: "p2c",
        aliases: &["power_of_two", "least_request", "random_2", "random(2)"],
    },
    StrategyName {
        name: "peak_ewma",
        aliases: &["p2c_ewma", "p2c_peak_ewma", "ewma"],
    },
    StrategyName {
        name: "first",
        aliases: &[],
    },
    StrategyName {
        name: "pick_first",
        aliases: &[],
    },
];

/// Number of built-in strategies.
pub(crate) const COUNT: usize = STRATEGY_NAMES.len();

/// The canonical names alone, in table order.
pub(crate) const CANONICAL: [&str; COUNT] = {
    let mut out = [""; COUNT];
    let mut rows = STRATEGY_NAMES;
    let mut dst: &mut [&str] = &mut out;
    while let ([row, rest @ ..], [d, tail @ ..]) = (rows, dst) {
        *d = row.name;
        rows = rest;
        dst = tail;
    }
    out
};

/// Longest name or alias the parser accepts, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 32;

/// The table row `name` names (after normalising case, `-` and spaces), or `None`.
pub(crate) fn lookup(name: &str) -> Option<usize> {
    let mut buf = [0u8; MAX_NAME_LEN];
    let bytes = name.trim().as_bytes();
    let dst = buf.get_mut(..bytes.len())?;
    for (d, &b) in dst.iter_mut().zip(bytes) {
        *d = match b {
            b'-' | b' ' => b'_',
            _ => b.to_ascii_lowercase(),
        };
    }
    let dst: &[u8] = dst;
    STRATEGY_NAMES.iter().position(|row| {
        row.name.as_bytes() == dst || row.aliases.iter().any(|a| a.as_bytes() == dst)
    })
}
