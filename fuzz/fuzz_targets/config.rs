#![no_main]
//! (b) Constructors and configuration calls with numbers from the user; see `src/config.rs`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tinylb_fuzz::config::run_bytes(data);
});
