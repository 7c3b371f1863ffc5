#![no_main]
//! (a) Operation sequences against a reference model; see `src/ops.rs`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tinylb_fuzz::ops::run_bytes(data);
});
