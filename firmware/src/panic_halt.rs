//! The footprint images' panic handler: stop. (The panic-freedom check is separate, in the
//! `hot_path` binaries: see `panic_never.rs`.)

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
