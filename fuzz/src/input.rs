//! A forgiving byte reader: every read succeeds, returning zeros once the input runs out, so
//! every byte string is a valid input and libFuzzer's mutations stay meaningful.

#![allow(dead_code, unreachable_pub)]

/// Reads little-endian integers off the front of a byte slice.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// `true` once every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next 2 bytes, little-endian (missing bytes read as 0).
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next 4 bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next 8 bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) | ((self.u32() as u64) << 32)
    }

    /// One byte, odd = `true`.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A `u32` that lands on the interesting values often: 0, 1, small numbers, the edges
    /// of the given limit, `i32::MAX`, `u32::MAX`, or anything.
    pub fn u32_near(&mut self, limit: u32) -> u32 {
        match self.u8() % 12 {
            0 => 0,
            1 => 1,
            2 => limit,
            3 => limit.wrapping_add(1),
            4 => limit.wrapping_sub(1),
            5 => i32::MAX as u32,
            6 => 1 << 31,
            7 => u32::MAX,
            8 => self.u32(),
            _ => (self.u8() % 16) as u32,
        }
    }
}
