//! Control-flow graph and register liveness of one body.
//!
//! The graph covers the body's own range (`start..end`, [`Body`]). A jump into another
//! function's range is no successor: its block [`Block::leaves`] the range, and every register
//! counts as live there (the code it continues in is not analysed here).
//!
//! Shared by the interpreter's load-time optimizations and the compiled tier. Basic blocks start at
//! the body's first instruction, at every jump target, after every jump, return or `HALT`, and at
//! the first phi of every run of phis (so a phi run always heads its block, and the predecessor
//! block id of ARCHITECTURE.md, *Calls, frames and phis*, is the index of the last instruction of
//! the predecessor block).

use smallvec::SmallVec;

use crate::isa::Instr;
use crate::verify::Body;
use crate::Module;

/// A set of registers `r0..r255`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegSet(pub [u64; 4]);

impl RegSet {
    /// The empty set.
    pub const EMPTY: RegSet = RegSet([0; 4]);
    /// Every register.
    pub const ALL: RegSet = RegSet([u64::MAX; 4]);

    /// Adds `r`.
    #[inline]
    pub fn insert(&mut self, r: u8) {
        self.0[(r >> 6) as usize] |= 1 << (r & 63);
    }

    /// Removes `r`.
    #[inline]
    pub fn remove(&mut self, r: u8) {
        self.0[(r >> 6) as usize] &= !(1 << (r & 63));
    }

    /// True if `r` is in the set.
    #[inline]
    pub fn contains(&self, r: u8) -> bool {
        self.0[(r >> 6) as usize] & (1 << (r & 63)) != 0
    }

    /// Adds every register of `other`; returns true if the set grew.
    pub fn union_with(&mut self, other: &RegSet) -> bool {
        let mut grew = false;
        for i in 0..4 {
            let n = self.0[i] | other.0[i];
            grew |= n != self.0[i];
            self.0[i] = n;
        }
        grew
    }

    /// The registers in the set, ascending (a step per member, not per possible register).
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            let mut w = word;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros();
                    w &= w - 1;
                    (i as u32 * 64 + bit) as u8
                })
            })
        })
    }
}

/// One basic block: instructions `start..end` (absolute indices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// First instruction.
    pub start: u32,
    /// First instruction after the phis that head the block (`start` when it has none; `end`
    /// when it is all phis). The phis run on the edge into the block.
    pub phis_end: u32,
    /// One past the last instruction.
    pub end: u32,
    /// Successor blocks (indices into [`Cfg::blocks`]); leaving the body is not a successor.
    /// At most two (a branch's target and its fall-through), held inline.
    pub succs: SmallVec<[u32; 2]>,
    /// Predecessor blocks (inline up to two: a block per instruction of a large body then
    /// costs no allocation).
    pub preds: SmallVec<[u32; 2]>,
    /// True if control can leave the body from this block (return, `HALT`, falling off or
    /// jumping to the end).
    pub exits: bool,
    /// The target of this block's jump when it is outside the body's own range (an
    /// instruction of another range, or the end of the stream), where execution goes on in the
    /// same frame.
    pub leaves: Option<u32>,
}

/// The control-flow graph of one body. Block 0 is the entry block (the body is never empty
/// when it has blocks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cfg {
    /// The body's first instruction.
    pub start: u32,
    /// One past the body's last instruction.
    pub end: u32,
    /// Blocks in program order.
    pub blocks: Vec<Block>,
    /// For each instruction of the body (index `i - start`), its block.
    pub block_of: Vec<u32>,
}

/// An upper bound on the basic blocks of any one body of `m` (what [`Cfg::build`] allocates
/// for the largest), without building any graph: one per function entry, plus two for each jump
/// (its target and what follows it) and one for each return, `HALT` and phi.
pub fn max_blocks(m: &Module) -> usize {
    let leaders = m
        .code
        .iter()
        .map(|ins| {
            // A jump makes two leaders: its target and what follows it.
            2 * ins.jump_offset().is_some() as usize + (ins.is_terminator() || matches!(ins, Instr::PhiR { .. })) as usize
        })
        .sum::<usize>();
    leaders + m.functions.len() + 1
}

impl Cfg {
    /// Builds the CFG of a verified body (jump targets outside `start..=end` leave the range).
    pub fn build(m: &Module, body: &Body) -> Cfg {
        let (start, end) = (body.start, body.end);
        let n = (end - start) as usize;
        let mut leader = vec![false; n + 1];
        if n > 0 {
            leader[0] = true;
        }
        for idx in start..end {
            let ins = &m.code[idx as usize];
            let rel = (idx - start) as usize;
            if let Some(t) = ins.jump_target(idx).filter(|&t| body.holds(t)) {
                leader[(t - start) as usize] = true;
            }
            if ins.ends_block() {
                leader[rel + 1] = true;
            }
            if matches!(ins, Instr::PhiR { .. })
                && (idx == start || !matches!(m.code[idx as usize - 1], Instr::PhiR { .. }))
            {
                leader[rel] = true;
            }
        }
        let mut blocks = Vec::new();
        let mut block_of = vec![0u32; n];
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && !leader[j] {
                j += 1;
            }
            for b in &mut block_of[i..j] {
                *b = blocks.len() as u32;
            }
            let phis = m.code[start as usize + i..start as usize + j]
                .iter()
                .take_while(|ins| matches!(ins, Instr::PhiR { .. }))
                .count();
            blocks.push(Block {
                start: start + i as u32,
                phis_end: start + (i + phis) as u32,
                end: start + j as u32,
                succs: SmallVec::new(),
                preds: SmallVec::new(),
                exits: false,
                leaves: None,
            });
            i = j;
        }
        let mut cfg = Cfg { start, end, blocks, block_of };
        for b in 0..cfg.blocks.len() {
            let last = cfg.blocks[b].end - 1;
            let ins = &m.code[last as usize];
            let mut succ_idx: SmallVec<[u32; 2]> = SmallVec::new();
            let mut exits = false;
            let mut add = |t: u32, exits: &mut bool| {
                if t >= end {
                    *exits = true;
                } else {
                    succ_idx.push(t);
                }
            };
            if !ins.is_terminator() {
                add(last + 1, &mut exits);
            }
            match ins.jump_target(last) {
                Some(t) if t < start || t > end => cfg.blocks[b].leaves = Some(t),
                Some(t) => add(t, &mut exits),
                None if ins.is_terminator() => exits = true,
                None => {}
            }
            let mut succs: SmallVec<[u32; 2]> = succ_idx.iter().map(|&t| cfg.block_at(t)).collect();
            succs.dedup();
            cfg.blocks[b].succs = succs.clone();
            cfg.blocks[b].exits = exits;
            for s in succs {
                cfg.blocks[s as usize].preds.push(b as u32);
            }
        }
        cfg
    }

    /// The block holding instruction `idx` (which must be in the body).
    pub fn block_at(&self, idx: u32) -> u32 {
        self.block_of[(idx - self.start) as usize]
    }

    /// Registers live after each instruction of the body (index `i - start`): read on some
    /// path before being overwritten. A phi counts as reading all its sources; `CALL_R` and
    /// `PHI_R` do not kill their destination (see [`Instr::definite_def`]). 32 bytes per
    /// instruction: for a body of unbounded size, walk [`Cfg::for_each_live_out`] instead.
    pub fn live_out(&self, m: &Module) -> Vec<RegSet> {
        let live_in = self.live_in_blocks(m);
        let mut out = vec![RegSet::EMPTY; (self.end - self.start) as usize];
        self.for_each_live_out(m, &live_in, |idx, live| out[(idx - self.start) as usize] = *live);
        out
    }

    /// Registers live on entry to each block (by block id), the fixpoint of the backward
    /// dataflow that [`Cfg::live_out`] and [`Cfg::for_each_live_out`] start from.
    pub fn live_in_blocks(&self, m: &Module) -> Vec<RegSet> {
        let mut live_in = vec![RegSet::EMPTY; self.blocks.len()];
        let mut changed = true;
        while changed {
            changed = false;
            for b in (0..self.blocks.len()).rev() {
                let blk = &self.blocks[b];
                let mut live = self.block_live_out(blk, &live_in);
                for idx in (blk.start..blk.end).rev() {
                    live_step(&m.code[idx as usize], &mut live);
                }
                if live != live_in[b] {
                    live_in[b] = live;
                    changed = true;
                }
            }
        }
        live_in
    }

    /// Calls `f(idx, live)` for every instruction of the body, `live` being the registers live
    /// after instruction `idx`, given `live_in` from [`Cfg::live_in_blocks`]. Memory: one set.
    pub fn for_each_live_out(&self, m: &Module, live_in: &[RegSet], mut f: impl FnMut(u32, &RegSet)) {
        for blk in &self.blocks {
            let mut live = self.block_live_out(blk, live_in);
            for idx in (blk.start..blk.end).rev() {
                f(idx, &live);
                live_step(&m.code[idx as usize], &mut live);
            }
        }
    }

    /// Registers live at the end of `blk`: all of them when it jumps out of the body's range
    /// ([`Block::leaves`]), else the union of its successors' live-in sets.
    fn block_live_out(&self, blk: &Block, live_in: &[RegSet]) -> RegSet {
        let mut live = if blk.leaves.is_some() { RegSet::ALL } else { RegSet::EMPTY };
        for &s in &blk.succs {
            live.union_with(&live_in[s as usize]);
        }
        live
    }
}

/// Liveness across `ins`, backwards: its definite definition dies, its uses become live.
fn live_step(ins: &Instr, live: &mut RegSet) {
    if let Some(d) = ins.definite_def() {
        live.remove(d);
    }
    ins.for_each_use(|r| live.insert(r));
}

impl Cfg {
    /// The copies `(dst, src)`, in order, that the phis heading block `blk` make when it is entered
    /// from the predecessor whose last instruction is `pred` (the phi's block id, ARCHITECTURE.md,
    /// *Calls, frames and phis*): one per phi with a source for `pred`; a phi without one leaves
    /// its destination unchanged. Phis run one at a time, so a later copy sees an earlier one.
    pub fn phi_moves(&self, m: &Module, blk: u32, pred: u32) -> Vec<(u8, u8)> {
        let b = &self.blocks[blk as usize];
        (b.start..b.phis_end)
            .filter_map(|i| match &m.code[i as usize] {
                Instr::PhiR { dst, sources } => {
                    sources.0.iter().find(|(_, id)| *id as u32 == pred).map(|&(src, _)| (dst.0, src))
                }
                _ => None,
            })
            .collect()
    }

    /// Per block: true if it is a loop header, i.e. it has a predecessor at or after it in
    /// program order (every cycle of the CFG has such an edge, a back-edge).
    pub fn loop_headers(&self) -> Vec<bool> {
        (0..self.blocks.len()).map(|b| self.blocks[b].preds.iter().any(|&p| p as usize >= b)).collect()
    }

    /// The natural loop of block `header`: per block, whether it is in the loop (the header
    /// and every block that reaches one of its back-edges' sources without passing through the
    /// header). `None` if `header` has no back-edge, or if the loop can be entered other than
    /// through its header (a block of it other than the header has a predecessor outside it,
    /// or is the body's entry block).
    pub fn natural_loop(&self, header: u32) -> Option<Vec<bool>> {
        let header = header as usize;
        let latches: Vec<usize> =
            self.blocks[header].preds.iter().map(|&p| p as usize).filter(|&p| p >= header).collect();
        if latches.is_empty() {
            return None;
        }
        let mut inside = vec![false; self.blocks.len()];
        inside[header] = true;
        let mut work = latches;
        while let Some(b) = work.pop() {
            if !inside[b] {
                inside[b] = true;
                work.extend(self.blocks[b].preds.iter().map(|&p| p as usize));
            }
        }
        // The body's start enters block 0 from nowhere.
        let single_entry = (0..self.blocks.len()).all(|b| {
            b == header || !inside[b] || (b != 0 && self.blocks[b].preds.iter().all(|&p| inside[p as usize]))
        });
        single_entry.then_some(inside)
    }

    /// Registers live on entry to the instruction at `idx`, given `live_out` from
    /// [`Cfg::live_out`]: live after it, minus what it always overwrites, plus what it reads.
    pub fn live_in_at(&self, m: &Module, live_out: &[RegSet], idx: u32) -> RegSet {
        let ins = &m.code[idx as usize];
        let mut live = live_out[(idx - self.start) as usize];
        if let Some(d) = ins.definite_def() {
            live.remove(d);
        }
        ins.for_each_use(|r| live.insert(r));
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify;

    #[test]
    fn a_register_set_lists_its_members_in_order() {
        let members = [0u8, 1, 63, 64, 100, 127, 128, 200, 254, 255];
        let mut set = RegSet::EMPTY;
        for &r in members.iter().rev() {
            set.insert(r);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), members);
        assert_eq!(RegSet::EMPTY.iter().count(), 0);
        assert_eq!(RegSet::ALL.iter().collect::<Vec<_>>(), (0..=255u8).collect::<Vec<_>>());
        for r in 0..=255u8 {
            assert_eq!(set.contains(r), set.iter().any(|m| m == r), "r{r}");
        }
    }

    #[test]
    fn loop_blocks_and_liveness() {
        let m = crate::assemble(
            ".module t
                LOAD_CONST_R r0, int 0
                LOAD_CONST_R r1, int 10
        head:   LT_R r2, r0, r1
                JUMP_IF_NOT_R r2, done
                LOAD_CONST_R r3, int 1
                ADD_R r0, r0, r3
                JUMP_R head
        done:   DEBUG_PRINT r0
                RETURN_R",
        )
        .unwrap();
        let layout = verify(&m).unwrap();
        let cfg = Cfg::build(&m, &layout.bodies[0]);
        let starts: Vec<u32> = cfg.blocks.iter().map(|b| b.start).collect();
        assert_eq!(starts, vec![0, 2, 4, 7]);
        assert_eq!(cfg.blocks[1].preds.as_slice(), [0, 2]);
        assert_eq!(cfg.blocks[2].succs.as_slice(), [1]);
        assert!(cfg.blocks[3].exits);
        let live = cfg.live_out(&m);
        // After `LOAD_CONST_R r3`: r0, r1, r3 live; r2 dead.
        assert!(live[4].contains(0) && live[4].contains(1) && live[4].contains(3));
        assert!(!live[4].contains(2));
        // After the loop test, r2 is dead, r0 and r1 live.
        assert!(!live[3].contains(2) && live[3].contains(0) && live[3].contains(1));
        // After the print nothing is live.
        assert_eq!(live[7], RegSet::EMPTY);
        assert_eq!(cfg.loop_headers(), vec![false, true, false, false]);
        assert_eq!(cfg.natural_loop(1), Some(vec![false, true, true, false]));
        assert_eq!(cfg.natural_loop(0), None);
    }

    #[test]
    fn a_jump_into_another_range_leaves_with_everything_live() {
        let m = crate::assemble(
            ".module t
                RETURN_R
        .func f
                LOAD_CONST_R r0, int 1
                JUMP_IF_R r0, there
                RETURN_R r0
        .func g
                RETURN_R
        there:  DEBUG_PRINT r7",
        )
        .unwrap();
        let layout = verify(&m).unwrap();
        let f = &layout.bodies[1];
        assert_eq!(f.nregs, 8, "f's window covers the range it jumps into");
        assert!(f.holds(f.end) && !f.holds(5));
        let cfg = Cfg::build(&m, f);
        assert_eq!(cfg.blocks[0].leaves, Some(5));
        assert_eq!(cfg.blocks[0].succs.as_slice(), [1]);
        let live = cfg.live_out(&m);
        assert_eq!(live[1], RegSet::ALL, "after the jump into g's range every register may be read");
    }

    fn cfg_of(src: &str) -> (Module, Cfg) {
        let m = crate::assemble(src).unwrap();
        let layout = verify(&m).unwrap();
        let cfg = Cfg::build(&m, &layout.bodies[0]);
        (m, cfg)
    }

    #[test]
    fn phis_head_their_block_and_copy_by_predecessor() {
        let (m, cfg) = cfg_of(
            ".module t
                LOAD_CONST_R r0, int 0
                LOAD_CONST_R r1, int 1
                JUMP_IF_R r1, other
                JUMP_R join
        other:  MOVE_R r0, r1
        join:   PHI_R r2, r0@3, r1@4
                PHI_R r3, r2@3
                DEBUG_PRINT r3
                RETURN_R",
        );
        let starts: Vec<(u32, u32, u32)> = cfg.blocks.iter().map(|b| (b.start, b.phis_end, b.end)).collect();
        assert_eq!(starts, vec![(0, 0, 3), (3, 3, 4), (4, 4, 5), (5, 7, 9)]);
        // From the `JUMP_R` (index 3) both phis copy, the second seeing the first.
        assert_eq!(cfg.phi_moves(&m, 3, 3), vec![(2, 0), (3, 2)]);
        // Falling through from `other` (last instruction 4): only the first has a source.
        assert_eq!(cfg.phi_moves(&m, 3, 4), vec![(2, 1)]);
        assert_eq!(cfg.phi_moves(&m, 3, 99), vec![]);
        assert_eq!(cfg.loop_headers(), vec![false; 4]);
    }

    #[test]
    fn a_loop_entered_in_its_middle_is_not_a_natural_loop() {
        // `JUMP_IF_R r0, mid` enters the loop `head..back` at `mid`, not at its header.
        let (_, cfg) = cfg_of(
            ".module t
                LOAD_CONST_R r0, int 1
                JUMP_IF_R r0, mid
        head:   NOP
        mid:    NOP
                JUMP_R head",
        );
        let head = cfg.block_at(2);
        assert!(cfg.loop_headers()[head as usize]);
        assert_eq!(cfg.natural_loop(head), None);
    }
}
