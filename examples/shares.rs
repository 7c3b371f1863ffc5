//! Runs every built-in strategy over a small pool and prints each backend's share.
//!
//! `cargo run --release --example shares [-- PICKS [SEED]]`
//!
//! The pool has five backends with weights 5, 3, 1, 1 and 0 (the last one stays in the pool
//! but takes no traffic). Backend 1 is twice as slow as the others, and every request holds
//! its lease for a few picks, so load-aware strategies see different in-flight counts.
//! Everything is seeded, so the output is the same on every run and every machine.

#![allow(clippy::indexing_slicing)]

use core::time::Duration;
use std::collections::VecDeque;

use tinylb::{Outcome, Pool, Request, SelectExt, Strategy};

const WEIGHTS: [u32; 5] = [5, 3, 1, 1, 0];
const LATENCY_US: [u64; 5] = [1_000, 2_000, 1_000, 1_000, 1_000];
/// Requests in flight at once.
const CONCURRENCY: usize = 8;

fn main() {
    let mut args = std::env::args().skip(1);
    let picks: usize = args
        .next()
        .map(|a| a.parse().expect("PICKS must be a number"))
        .unwrap_or(100_000);
    let seed: u64 = args
        .next()
        .map(|a| a.parse().expect("SEED must be a number"))
        .unwrap_or(1);

    println!(
        "{picks} picks per strategy, weights {WEIGHTS:?}, seed {seed}, {CONCURRENCY} in flight"
    );
    print!("{:<22}", "strategy");
    for (i, w) in WEIGHTS.iter().enumerate() {
        print!("{:>10}", format!("b{i} (w{w})"));
    }
    println!();
    let total_w: u32 = WEIGHTS.iter().sum();
    print!("{:<22}", "ideal (by weight)");
    for w in WEIGHTS {
        print!("{:>9.1}%", 100.0 * w as f64 / total_w as f64);
    }
    println!();

    for name in Strategy::<8>::NAMES {
        let pool: Pool<8> = Pool::new();
        for w in WEIGHTS {
            pool.add(w).expect("pool has room");
        }
        let strategy = Strategy::<8>::from_name(name, seed).expect("built-in name");
        let mut counts = [0u64; 5];
        let mut in_flight = VecDeque::new();
        let mut now_us = 0u64;
        for _ in 0..picks {
            now_us += 250;
            let mut req = Request::new().with_now_us(now_us);
            if let Some(lease) = strategy.lease(&pool, &mut req) {
                counts[lease.index()] += 1;
                in_flight.push_back(lease);
            }
            if in_flight.len() >= CONCURRENCY
                && let Some(done) = in_flight.pop_front()
            {
                let lat = LATENCY_US[done.index()];
                done.finish(Outcome::success_after(Duration::from_micros(lat)).at_us(now_us));
            }
        }
        drop(in_flight);
        for i in 0..WEIGHTS.len() {
            assert_eq!(pool.in_flight_at(i), 0, "every lease given back");
        }
        print!("{name:<22}");
        for c in counts {
            print!("{:>9.1}%", 100.0 * c as f64 / picks as f64);
        }
        println!();
    }
}
