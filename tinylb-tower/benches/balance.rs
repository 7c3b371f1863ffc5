//! Throughput through `Balance` against tower's `p2c::Balance` (written next).
fn main() {}
