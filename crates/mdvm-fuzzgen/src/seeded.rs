//! A fixed, dependency-free byte source for the seeded tests and tools, so the same inputs are
//! generated everywhere (the seeded test, the `limits` test, the timing harness).

/// xorshift64*: a seeded stream of pseudo-random words.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next word.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next `n` bytes (the low byte of `n` words).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Input `i` of the seeded set of generator inputs: lengths from 0 to about 1,500 bytes, so
/// small and large programs both occur.
pub fn seeded_input(i: u64) -> Vec<u8> {
    let mut r = Xorshift(0x9e37_79b9_7f4a_7c15 ^ (i.wrapping_mul(0x1000_0000_01b3) + 1));
    let len = match i % 4 {
        0 => (r.next_u64() % 64) as usize,
        1 => (r.next_u64() % 400) as usize,
        _ => (r.next_u64() % 1500) as usize,
    };
    r.bytes(len)
}
