//! SplitMix64 (Steele, Lea & Flood, 2014): the one seedable RNG of the tests, benches, fuzz
//! harness and examples, identical on every target. Included by path (`#[path = ...] mod`)
//! wherever it is needed, so there is exactly one copy.

// `pub` for the includers that re-export it (tests/it/support); private elsewhere
#![allow(unreachable_pub)]

use core::convert::Infallible;
use tinylb::rand_core::TryRng;

/// SplitMix64 as a `rand_core::Rng`: state `0` is a fine seed.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    #[allow(dead_code)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw in `0..n` (`n > 0`) by remainder: slightly biased, fine for choosing what a
    /// test does next, not for measuring shares.
    #[allow(dead_code)]
    pub fn next_below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl TryRng for SplitMix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            let n = chunk.len();
            chunk.copy_from_slice(v.get(..n).unwrap_or(&[]));
        }
        Ok(())
    }
}
