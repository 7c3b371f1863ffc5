#![no_main]
//! (b) Constructors and configuration calls with numbers from the user; see
//! `src/config/mod.rs`.

use libfuzzer_sys::fuzz_target;
use tinylb_fuzz::config::{Check, run};

fuzz_target!(|c: Check| run(&c));
