//! Compatibility with the `machine-dialect` 0.1.0a2 serializer's instruction miscount.
//!
//! The frontend counts instructions with a size table that lacks opcodes 4-6 and 41-49 (and the
//! range form of `ASSERT_R`): it takes such an opcode for a one-byte instruction and then reads
//! its operand bytes as further instructions. Its header count and its function-table entries
//! (the "serializer count" of the code bytes before the function) are computed that way.
//!
//! The loader decodes the real instructions and maps each stored entry `E` back to the smallest
//! real instruction index `k` (`0 <= k <= n`) whose serializer count equals `E`, where the
//! serializer count of `k` is `count_instructions(code[..byte offset of k])` exactly as the
//! frontend computes it (see `tests/corpus/README.md`, rule 8). For a stream without such
//! opcodes the serializer count of `k` is `k`, so the mapping is the identity.

/// The frontend's `get_instruction_size(opcode, bytecode, offset)` over `code` (whose length is
/// the `len(bytecode)` the frontend sees).
fn serializer_size(code: &[u8], offset: usize) -> usize {
    let len = code.len();
    match code[offset] {
        0 | 2 | 3 => 4,
        1 => 3,
        7..=11 => 4,
        12 | 13 => 3,
        14..=21 => 4,
        22 => 5,
        23 | 24 => 6,
        // CALL_R: opcode + func + dst + num_args + args
        25 if offset + 3 < len => 4 + code[offset + 3] as usize,
        // RETURN_R: opcode + has_value + [src]
        26 if offset + 1 < len => {
            if code[offset + 1] != 0 {
                3
            } else {
                2
            }
        }
        // PHI_R: opcode + dst + n + n * (src + u16 block)
        27 if offset + 2 < len => 3 + 3 * code[offset + 2] as usize,
        // A variable-size opcode too close to the end: the frontend counts one byte.
        25..=27 => 1,
        28 => 5,
        29 | 30 => 3,
        31 => 4,
        32 | 33 => 3,
        34 | 35 => 4,
        36 => 3,
        37 => 2,
        38 => 1,
        _ => 1,
    }
}

/// The frontend's `count_instructions(code)`: its instruction count of a code byte string.
pub fn serializer_count(code: &[u8]) -> u32 {
    let mut count = 0u32;
    let mut i = 0usize;
    while i < code.len() {
        count = count.wrapping_add(1);
        i += serializer_size(code, i);
    }
    count
}

/// Largest lookahead (in bytes past an instruction's first byte) `serializer_size` reads.
const LOOKAHEAD: usize = 3;

/// Serializer counts of the prefixes `code[..b - base]` for each boundary `b` in `boundaries`
/// (ascending byte offsets, `base` being the offset of `code[0]`), in
/// O(len + boundaries * log len).
///
/// The serializer's walk over a prefix `code[..b]` agrees with its walk over the whole code at
/// every position `p` with `p + LOOKAHEAD < b` (the size it computes there reads no byte at or
/// past `b`), so only the last few steps before `b` are re-walked with the prefix's length.
pub fn prefix_counts(code: &[u8], boundaries: &[u32], base: u32) -> Vec<u32> {
    // Positions visited by the serializer's walk over the whole code (the code is shorter than
    // 4 GiB: offsets are `u32`, as in [`crate::Module::instr_offsets`]).
    let mut walk: Vec<u32> = Vec::new();
    let mut i = 0usize;
    while i < code.len() {
        walk.push(i as u32);
        i += serializer_size(code, i);
    }
    boundaries
        .iter()
        .map(|&b| {
            let b = (b.saturating_sub(base) as usize).min(code.len());
            // First walk position q with q + LOOKAHEAD >= b: the walks agree up to q.
            let idx = walk.partition_point(|&p| p as usize + LOOKAHEAD < b);
            let mut count = idx as u32;
            if let Some(&q) = walk.get(idx) {
                let prefix = &code[..b];
                let mut p = q as usize;
                while p < b {
                    count += 1;
                    p += serializer_size(prefix, p);
                }
            }
            count
        })
        .collect()
}

/// Maps stored function-table entries back to real instruction indices.
#[derive(Debug)]
pub struct EntryMap {
    /// `counts[k]` = serializer count of the code before real instruction `k` (`k = 0..=n`).
    pub counts: Vec<u32>,
    /// When miscounted: `(count, k)` for the smallest `k` of each count, sorted by count (the
    /// counts are not monotone near a miscounted opcode, so this is searched, not `counts`).
    first_index: Vec<(u32, u32)>,
    /// True when some prefix's serializer count differs from its real instruction count.
    pub miscounted: bool,
}

impl EntryMap {
    /// Builds the map from the code bytes and the byte offset of each real instruction
    /// (`offsets.len() == n + 1`, the last being the end of the code), counted from `base`
    /// (the offset of `code[0]`: 0 for offsets into `code` itself, the code's start for
    /// offsets into the file).
    pub fn new(code: &[u8], offsets: &[u32], base: u32) -> Self {
        let counts = prefix_counts(code, offsets, base);
        let miscounted = counts.iter().enumerate().any(|(k, &c)| c as usize != k);
        let mut first_index = Vec::new();
        if miscounted {
            first_index = counts.iter().enumerate().map(|(k, &c)| (c, k as u32)).collect();
            // Sorted by count, then index: the first of each count is its smallest index.
            first_index.sort_unstable();
            first_index.dedup_by_key(|e| e.0);
        }
        EntryMap { counts, first_index, miscounted }
    }

    /// The real instruction index for stored entry `stored`, or `None` if no instruction
    /// boundary has that serializer count.
    pub fn real_index(&self, stored: u32) -> Option<u32> {
        if self.miscounted {
            self.first_index.binary_search_by_key(&stored, |e| e.0).ok().map(|i| self.first_index[i].1)
        } else if (stored as usize) < self.counts.len() {
            Some(stored)
        } else {
            None
        }
    }

    /// The serializer count of the whole stream (what the frontend writes in the header).
    pub fn total(&self) -> u32 {
        *self.counts.last().unwrap_or(&0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct transcription of the frontend's algorithm, for comparison.
    fn naive_prefix(code: &[u8], b: usize) -> u32 {
        serializer_count(&code[..b])
    }

    #[test]
    fn unaffected_stream_counts_real_instructions() {
        // LOAD_CONST_R r0, 0; DEBUG_PRINT r0; RETURN_R
        let code = [0, 0, 0, 0, 37, 0, 26, 0];
        assert_eq!(serializer_count(&code), 3);
        let map = EntryMap::new(&code, &[0, 4, 6, 8], 0);
        assert!(!map.miscounted);
        assert_eq!(map.real_index(2), Some(2));
        assert_eq!(map.real_index(4), None);
    }

    #[test]
    fn dict_opcode_is_miscounted() {
        // DICT_NEW_R r7 (41 7), RETURN_R (26 0), DEBUG_PRINT r1 (37 1): the serializer takes
        // 41 for one byte, then reads 7 as ADD_R (4 bytes), which swallows the rest.
        let code = [41, 7, 26, 0, 37, 1];
        let offsets = [0, 2, 4, 6];
        let counts = prefix_counts(&code, &offsets, 0);
        for (i, &b) in offsets.iter().enumerate() {
            assert_eq!(counts[i], naive_prefix(&code, b as usize), "boundary {b}");
        }
        // The same offsets counted from a file position.
        let in_file: Vec<u32> = offsets.iter().map(|o| o + 100).collect();
        assert_eq!(prefix_counts(&code, &in_file, 100), counts);
        let map = EntryMap::new(&code, &offsets, 0);
        assert!(map.miscounted);
    }

    #[test]
    fn prefix_counts_match_naive_on_many_streams() {
        // Deterministic pseudo-random byte strings; every boundary.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..300 {
            let len = (x % 40) as usize;
            let mut code = Vec::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                code.push((x % 52) as u8);
            }
            let bounds: Vec<u32> = (0..=code.len() as u32).collect();
            let fast = prefix_counts(&code, &bounds, 0);
            for &b in &bounds {
                assert_eq!(fast[b as usize], naive_prefix(&code, b as usize), "code {code:?} boundary {b}");
            }
            // Every stored entry maps to the first boundary with its count, or to none.
            let map = EntryMap::new(&code, &bounds, 0);
            for stored in 0..=code.len() as u32 + 1 {
                let first = fast.iter().position(|&c| c == stored).map(|k| k as u32);
                let expect = if map.miscounted { first } else { (stored as usize <= code.len()).then_some(stored) };
                assert_eq!(map.real_index(stored), expect, "code {code:?} stored {stored}");
            }
        }
    }
}
