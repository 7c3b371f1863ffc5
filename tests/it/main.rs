//! The contract tests of tinylb, in one test binary (one link instead of one per file), one
//! module per subject. Run one subject with a path filter, for example
//! `cargo test --test it -- wrr::` or `cargo test --test it -- bad_input::table::`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`pool`], [`lease`] | the pool's and the lease's public contracts, against a model |
//! | [`report`], [`totals`] | reporting more than once per lease; per-backend totals and the decayed latency |
//! | [`round_robin`], [`wrr`], [`least_conn`], [`least_time`], [`random`], [`p2c`], [`peak_ewma`], [`first`], [`pick_first`] | one strategy each: its row of DESIGN.md's strategy table |
//! | [`alias_random`] | weighted random from an alias table: shares exact under slow start, shares, tiers, exclusion |
//! | [`choices`] | `k` choices for P2C and peak-EWMA, against a model of the sampler |
//! | [`anchor_names`] | names the anchors use for different things (`static-rr`, `random`) |
//! | [`hashing`] | affinity: the byte hash, Maglev, rendezvous, jump, bounded load |
//! | [`backup`], [`ejection`], [`slow_start`], [`time_edges`] | tiers, outlier ejection and panic, slow start, clocks and latencies at their limits |
//! | [`failure_penalty`] | recent failures in the load-aware costs: the fast-failing sinkhole closed |
//! | [`bad_input`] | every refused call returns its error and changes nothing |
//! | [`value_stability`] | the golden picks (`tests/golden/`, shared with the firmware) |
//! | [`outside_strategy`] | a strategy written outside the crate, through the public view |
//! | [`subset`] | fleet subsetting against reference models, and its golden vectors |
//! | [`stated_bounds`] | the figures the README and the docs state, each asserted |
//! | [`regressions`] | one test per bug found, each failing before its fix |
//! | [`threads`], [`resilience_threads`], [`send_sync`] | real threads against leases, caps and ejection; `Send + Sync` |
//! | [`workers`] | one strategy per worker over one shared pool: each instance keeps its own promises |
//! | [`support`] | the shared RNG, proptest configuration, pool builders, models, statistics |
//!
//! Separate binaries, because they must be: `tests/loom.rs` (`--cfg loom`),
//! `tests/no_alloc.rs` (a global allocator), `tests/proxy_e2e.rs` (spawns servers),
//! `tests/stress.rs` (CI runs it alone in release) and `tests/fuzz_regressions.rs` (the fuzz
//! harness on seeded inputs).

mod support;

mod alias_random;
mod anchor_names;
mod backup;
mod bad_input;
mod choices;
mod ejection;
mod envoy_model;
mod exclusion;
mod failure_penalty;
mod first;
mod hashing;
mod lease;
mod least_conn;
mod least_time;
mod levels;
mod load_reports;
mod localities;
mod multi_proxy;
mod outside_strategy;
mod p2c;
mod peak_ewma;
mod pick_first;
mod pool;
mod prefer;
mod random;
mod rate_detection;
mod regressions;
mod report;
mod resilience_threads;
mod round_robin;
mod send_sync;
mod slow_start;
mod stated_bounds;
mod subset;
mod threads;
mod time_edges;
mod totals;
mod value_stability;
mod workers;
mod wrr;
