//! Fuel segments: the runs of a block that compiled code charges to the fuel budget at once.
//!
//! Compiled code charges a basic block's instruction count when it enters the block
//! (ARCHITECTURE.md, *The compiled tier*), so that fuel stops both tiers at the same instruction. A
//! call inside a block ends a segment: the callee may use up fuel, so the instructions after the
//! call are charged when control comes back to them.

use mdbc::{Instr, Module};

/// The segments of the block `start..end`, as `(first, one past the last)` instruction
/// indices, in order; every instruction is in exactly one. A segment ends after each
/// `CALL_R` that is not the block's last instruction.
pub(crate) fn segments(m: &Module, start: u32, end: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    let mut s = start;
    for i in start..end {
        if matches!(m.code[i as usize], Instr::CallR { .. }) && i + 1 < end {
            v.push((s, i + 1));
            s = i + 1;
        }
    }
    v.push((s, end));
    v
}

/// The end of the segment of `start..end` that holds instruction `pc` (`pc` itself when it is
/// outside the block): one past the first `CALL_R` at or after `pc` that is not the block's
/// last instruction, else `end`. Scans from `pc` only.
pub(crate) fn segment_end(m: &Module, start: u32, end: u32, pc: u32) -> u32 {
    if pc < start || pc >= end {
        return pc;
    }
    (pc..end - 1).find(|&i| matches!(m.code[i as usize], Instr::CallR { .. })).map_or(end, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_end_segments_except_at_the_end_of_the_block() {
        let m = mdbc::asm::assemble(
            ".module t
                LOAD_CONST_R r0, str \"f\"
                CALL_R r0, r1
                DEBUG_PRINT r1
                CALL_R r0, r1
                RETURN_R
            .func f
                RETURN_R",
        )
        .unwrap();
        assert_eq!(segments(&m, 0, 5), vec![(0, 2), (2, 4), (4, 5)]);
        assert_eq!(segments(&m, 0, 2), vec![(0, 2)]);
        assert_eq!(segment_end(&m, 0, 5, 2), 4);
        assert_eq!(segment_end(&m, 0, 5, 7), 7);
    }
}
