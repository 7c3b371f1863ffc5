//! The panic-freedom check: a panic handler that calls a function defined nowhere. A release
//! build (LTO, one codegen unit) removes every panic path it can prove unreachable; if one
//! remains in what the binary calls, the handler stays, and the link fails with
//! "undefined symbol: tinylb_hot_path_can_panic". Only a release build can pass: a debug
//! build keeps every bounds and overflow check.

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        /// Defined nowhere, on purpose: see the module docs.
        fn tinylb_hot_path_can_panic() -> !;
    }
    // SAFETY: never runs: the binary links only if this call was optimised away.
    unsafe { tinylb_hot_path_can_panic() }
}
