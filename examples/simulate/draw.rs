//! The random streams and draws of the simulation: one SplitMix stream per purpose, unrelated
//! across streams of one seed.

use crate::splitmix::SplitMix;

/// SplitMix64's output function alone (one step from the state before `z`).
fn mix64(z: u64) -> u64 {
    SplitMix(z.wrapping_sub(0x9e37_79b9_7f4a_7c15)).next()
}

/// The random stream `stream` of the run seeded `seed`: streams of one seed are unrelated.
pub(crate) fn stream(seed: u64, stream: u64) -> SplitMix {
    SplitMix(mix64(
        seed ^ mix64(stream.wrapping_add(0x5851_f42d_4c95_7f2d)),
    ))
}

/// The draws the simulation makes (floats are fine outside the library).
pub(crate) trait Draw {
    /// Uniform in `[0, 1)` with 53 bits.
    fn unit(&mut self) -> f64;
    /// Uniform in `0..n` (float scaling: bias below 2^-53, irrelevant here).
    fn below(&mut self, n: u64) -> u64;
}

impl Draw for SplitMix {
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        (self.unit() * n as f64) as u64
    }
}
