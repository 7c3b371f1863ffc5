#![no_main]
//! (a) Operation sequences against a reference model; see `src/ops/mod.rs`.

use libfuzzer_sys::fuzz_target;
use tinylb_fuzz::ops::{Scenario, run};

fuzz_target!(|s: Scenario| run(&s));
