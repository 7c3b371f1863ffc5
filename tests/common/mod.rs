//! Shared helpers for the integration tests: a tiny seedable RNG and reference models.
#![allow(dead_code, unreachable_pub)]

use core::convert::Infallible;
use tinylb::rand_core::TryRng;

/// SplitMix64: a seedable `rand_core::Rng` for tests (identical on every target).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl TryRng for SplitMix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// nginx's smooth weighted round robin (ngx_http_upstream_get_peer), the reference model:
/// every step adds each weight to its backend's `current`, picks the largest (first on
/// ties) and subtracts the total from the winner.
pub fn nginx_swrr(weights: &[u32], picks: usize) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut cur = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(picks);
    for _ in 0..picks {
        let mut best: Option<usize> = None;
        for i in 0..weights.len() {
            if weights[i] == 0 {
                continue;
            }
            cur[i] += weights[i] as i64;
            if best.is_none_or(|b| cur[i] > cur[b]) {
                best = Some(i);
            }
        }
        let b = best.expect("some weight > 0");
        cur[b] -= total;
        out.push(b);
    }
    out
}

/// Largest |count_i(k) - k*w_i/W| over every prefix k of `seq` and every backend i.
pub fn max_prefix_deviation(weights: &[u32], seq: &[usize]) -> f64 {
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let mut counts = vec![0u64; weights.len()];
    let mut worst = 0.0f64;
    for (k, &b) in seq.iter().enumerate() {
        counts[b] += 1;
        let k = (k + 1) as f64;
        for (i, &w) in weights.iter().enumerate() {
            let d = (counts[i] as f64 - k * w as f64 / total).abs();
            worst = worst.max(d);
        }
    }
    worst
}
