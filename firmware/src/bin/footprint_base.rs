//! Footprint baseline: the runtime (vector table, reset handler, `main`) and no tinylb, so
//! that the other images' sizes minus this one are what tinylb costs.
#![no_std]
#![no_main]

#[path = "../panic_halt.rs"]
mod panic_halt;

#[cortex_m_rt::entry]
fn main() -> ! {
    loop {
        core::hint::black_box(());
    }
}
