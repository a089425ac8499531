//! Counted loops: a trip-count bound that moves an accumulator's overflow check from every
//! iteration to the loop's entry.
//!
//! In
//!
//! ```text
//! head:  LTE_R c, j, n          ; j <= n stays in the loop (n not written in it)
//!        JUMP_IF_NOT_R c, out
//!        ...                    ; d in 0..=6 (range analysis)
//!        ADD_R t, acc, d
//!        MOVE_R acc, t          ; acc's only write in the loop, at most once per iteration
//!        ADD_R u, j, one        ; one >= 1: j's only write, on every path back to head
//!        MOVE_R j, u
//!        JUMP_R head
//! ```
//!
//! the body runs at most `n - j + 1` more times from any visit of `head`, and each run adds at
//! most 6 to `acc`. So when `acc + 6 * (n - j + 1)` fits in an int on entering the loop
//! (checked by one comparison on each edge into `head` from outside the loop and at an OSR
//! entry there), no `acc + d` inside it can overflow and the compiled loop adds without a
//! check. When the entry check fails, the code side-exits to the interpreter at `head`
//! ([`DeoptReason::LoopBound`](mdvm_runtime::native::DeoptReason::LoopBound)), which runs the
//! loop with exact checks; the header is then compiled without the plan.
//!
//! The proof needs, and [`counted_loops`] checks on the bytecode: a loop with a single entry (its
//! header); a header made of the comparison `j < n` or `j <= n` (either operand order, through
//! copies made in the header) and the conditional jump that leaves the loop; `n` not written in the
//! loop; `j` written only by `j = j + s` with `s >= 1` (always an int), on every path from the
//! header back to it; every write of an accumulator `acc = acc + d` (or `acc - d`) with `d` of one
//! sign and small (range analysis, [`crate::analysis::ranges`]), outside any inner loop (so at most
//! once per iteration). The lowering applies a plan only where its registers are unboxed ints at
//! the header, so the compiled comparison and additions are exact int operations.

use mdbc::cfg::Cfg;
use mdbc::{Instr, Module};

use crate::analysis::ops::{binop_of, BinOp};
use crate::analysis::ranges::Facts;

/// Largest per-write step magnitude an accumulator may have.
const MAX_STEP: u64 = 1 << 32;

/// One accumulator of a [`CountedLoop`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Accumulator {
    /// Its register.
    pub reg: u8,
    /// True if it only grows (every `d >= 0`), false if it only shrinks.
    pub up: bool,
    /// The most it can change by in one iteration (the sum of its writes' largest steps; > 0).
    pub step: u64,
    /// Bytecode indices of its `ADD_R`/`SUB_R` instructions, which need no overflow check.
    pub updates: Vec<u32>,
}

/// A loop whose trip count is bounded by its header's comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CountedLoop {
    /// The header block (index into [`Cfg::blocks`]).
    pub header: u32,
    /// The counter register `j`.
    pub counter: u8,
    /// The limit register `n`.
    pub limit: u8,
    /// True for `j <= n`, false for `j < n`.
    pub inclusive: bool,
    /// Per block of the body: in this loop.
    pub blocks: Vec<bool>,
    /// Its accumulators (at least one).
    pub accumulators: Vec<Accumulator>,
}

impl CountedLoop {
    /// True if the edge from instruction `pred` (`u32::MAX`: the body's entry) into the header
    /// comes from outside the loop.
    pub fn enters_from(&self, cfg: &Cfg, pred: u32) -> bool {
        pred < cfg.start || pred >= cfg.end || !self.blocks[cfg.block_at(pred) as usize]
    }
}

/// True if `from` reaches `to` inside the loop without passing through `avoid` (or the header,
/// unless it is `to`).
fn reaches(cfg: &Cfg, inside: &[bool], header: usize, from: usize, to: usize, avoid: usize) -> bool {
    let mut seen = vec![false; cfg.blocks.len()];
    let mut work: Vec<usize> = cfg.blocks[from].succs.iter().map(|&s| s as usize).collect();
    while let Some(b) = work.pop() {
        if b == to {
            return true;
        }
        if !inside[b] || seen[b] || b == avoid || b == header {
            continue;
        }
        seen[b] = true;
        work.extend(cfg.blocks[b].succs.iter().map(|&s| s as usize));
    }
    false
}

/// The header's test: (counter, limit, inclusive), when the header is copies, one ordering
/// comparison and a conditional jump with exactly one side leaving the loop.
fn header_test(m: &Module, cfg: &Cfg, inside: &[bool], header: usize) -> Option<(u8, u8, bool)> {
    let b = &cfg.blocks[header];
    if b.phis_end != b.start || b.end - b.start < 2 {
        return None;
    }
    let last = b.end - 1;
    let (cond, jump_if) = match &m.code[last as usize] {
        Instr::JumpIfR { cond, .. } => (cond.0, true),
        Instr::JumpIfNotR { cond, .. } => (cond.0, false),
        _ => return None,
    };
    let (op, d, mut x, mut y) = binop_of(&m.code[last as usize - 1])?;
    if d != cond || !matches!(op, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge) {
        return None;
    }
    // Copies before the comparison: `MOVE_R t, r` makes t stand for r.
    let mut copies: Vec<(u8, u8)> = Vec::new();
    for i in b.start..last - 1 {
        let Instr::MoveR { dst, src } = &m.code[i as usize] else { return None };
        let src = copies.iter().rev().find(|(t, _)| *t == src.0).map_or(src.0, |&(_, r)| r);
        copies.retain(|(t, r)| *t != dst.0 && *r != dst.0);
        copies.push((dst.0, src));
    }
    let resolve = |r: u8| copies.iter().rev().find(|(t, _)| *t == r).map_or(r, |&(_, s)| s);
    (x, y) = (resolve(x), resolve(y));
    if x == y || copies.iter().any(|&(t, _)| t == x || t == y || t == cond) {
        return None;
    }
    let target = m.code[last as usize].jump_target(last)?;
    let in_loop = |pc: u32| pc < cfg.end && inside[cfg.block_at(pc) as usize];
    let stay_on_jump = match (in_loop(target), in_loop(b.end)) {
        (true, false) => true,
        (false, true) => false,
        _ => return None,
    };
    // The loop continues while `x op y` is `stay`.
    let stay = stay_on_jump == jump_if;
    let op = if stay { op } else { op.negated()? };
    match op {
        BinOp::Lt => Some((x, y, false)),
        BinOp::Le => Some((x, y, true)),
        BinOp::Gt => Some((y, x, false)),
        BinOp::Ge => Some((y, x, true)),
        _ => None,
    }
}

/// A write of register `r` at `pc` of the form `r = r + e` / `r - e`, directly or as
/// `t = r + e; ...; MOVE_R r, t` within one block (with neither `r` nor `t` written between):
/// (the index of the addition, the operation, `e`'s register).
fn self_update(m: &Module, cfg: &Cfg, r: u8, pc: u32) -> Option<(u32, BinOp, u8)> {
    let as_update = |at: u32, dst: u8| -> Option<(u32, BinOp, u8)> {
        let (op, d, a, b) = binop_of(&m.code[at as usize])?;
        if d != dst {
            return None;
        }
        match op {
            BinOp::Add if a == r && b != r => Some((at, op, b)),
            BinOp::Add if b == r && a != r => Some((at, op, a)),
            BinOp::Sub if a == r && b != r => Some((at, op, b)),
            _ => None,
        }
    };
    match &m.code[pc as usize] {
        Instr::MoveR { dst, src } if dst.0 == r && src.0 != r => {
            let t = src.0;
            let start = cfg.blocks[cfg.block_at(pc) as usize].start;
            let mut i = pc;
            while i > start {
                i -= 1;
                match m.code[i as usize].def() {
                    Some(d) if d == t => return as_update(i, t),
                    Some(d) if d == r => return None,
                    _ => {}
                }
            }
            None
        }
        _ => as_update(pc, r),
    }
}

/// The range facts just before instruction `pc` (of block `blk`).
fn facts_at(m: &Module, cfg: &Cfg, entry: &[Facts], blk: usize, pc: u32) -> Facts {
    let mut f = entry[blk].clone();
    for i in cfg.blocks[blk].phis_end..pc {
        f.step(m, &m.code[i as usize]);
    }
    f
}

/// The counted loops of the body of `cfg` with at least one accumulator, from the range facts
/// at each block's start (`entry`, [`crate::analysis::ranges::block_entry_facts`]); headers whose
/// bytecode index is in `skip` are left out.
pub(crate) fn counted_loops(m: &Module, cfg: &Cfg, entry: &[Facts], skip: &std::collections::HashSet<u32>) -> Vec<CountedLoop> {
    let mut out = Vec::new();
    for header in 0..cfg.blocks.len() {
        if skip.contains(&cfg.blocks[header].start) {
            continue;
        }
        let Some(inside) = cfg.natural_loop(header as u32) else { continue };
        let Some((counter, limit, inclusive)) = header_test(m, cfg, &inside, header) else { continue };
        if let Some(l) = plan(m, cfg, entry, header, inside, counter, limit, inclusive) {
            out.push(l);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn plan(
    m: &Module,
    cfg: &Cfg,
    entry: &[Facts],
    header: usize,
    inside: Vec<bool>,
    counter: u8,
    limit: u8,
    inclusive: bool,
) -> Option<CountedLoop> {
    // Every write in the loop, by register: (block, index).
    let mut writes: Vec<Vec<(usize, u32)>> = vec![Vec::new(); mdbc::operand::REGISTERS];
    for blk in (0..cfg.blocks.len()).filter(|&b| inside[b]) {
        let b = &cfg.blocks[blk];
        for pc in b.start..b.end {
            if let Some(d) = m.code[pc as usize].def() {
                writes[d as usize].push((blk, pc));
            }
        }
    }
    if !writes[limit as usize].is_empty() {
        return None;
    }
    // The counter: one write `j = j + s` with s always an int >= 1, on every path back.
    let [(inc_blk, inc_pc)] = writes[counter as usize][..] else { return None };
    let (add, op, s) = self_update(m, cfg, counter, inc_pc)?;
    let sb = facts_at(m, cfg, entry, inc_blk, add).bound(s);
    if op != BinOp::Add || !sb.int || sb.lo < 1 || reaches(cfg, &inside, header, header, header, inc_blk) {
        return None;
    }
    // Accumulators: every other register all of whose writes are small one-signed updates
    // outside inner loops.
    let mut accumulators = Vec::new();
    for (r, ws) in writes.iter().enumerate() {
        let r = r as u8;
        if ws.is_empty() || r == counter || r == limit {
            continue;
        }
        let mut acc = Some(Accumulator { reg: r, up: true, step: 0, updates: Vec::new() });
        let mut sign: Option<bool> = None;
        for &(blk, pc) in ws {
            let update = self_update(m, cfg, r, pc).and_then(|(at, op, e)| {
                let inner = reaches(cfg, &inside, header, blk, blk, usize::MAX);
                let eb = facts_at(m, cfg, entry, blk, at).bound(e);
                // The change to r: e for +, -e for -.
                let (lo, hi) = if op == BinOp::Add { (eb.lo as i128, eb.hi as i128) } else { (-(eb.hi as i128), -(eb.lo as i128)) };
                let up = lo >= 0;
                let mag = if up { hi } else { -lo };
                (!inner && (lo >= 0 || hi <= 0) && mag <= MAX_STEP as i128).then_some((at, up, mag as u64))
            });
            match (update, &mut acc) {
                (Some((at, up, mag)), Some(a)) if sign.is_none_or(|s| s == up) => {
                    sign = Some(up);
                    a.up = up;
                    a.step += mag;
                    a.updates.push(at);
                }
                _ => acc = None,
            }
        }
        if let Some(a) = acc.filter(|a| a.step > 0) {
            accumulators.push(a);
        }
    }
    // Registers written only as temporaries of an update also have writes; they are not
    // accumulators (their writes are not self-updates) and need nothing.
    (!accumulators.is_empty()).then_some(CountedLoop { header: header as u32, counter, limit, inclusive, blocks: inside, accumulators })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbc::asm::assemble;
    use mdbc::verify;

    /// The counted loops of the main program of `body`, a loop body spliced between a fixed
    /// prologue (r0 = acc 0, r3 = n 1000, r4 = 1, r5 = 7) and `DEBUG_PRINT r0`.
    fn loops_of(body: &str) -> Vec<CountedLoop> {
        let src = format!(
            ".module t
                LOAD_CONST_R r0, int 0
                LOAD_CONST_R r3, int 1000
                LOAD_CONST_R r4, int 1
                LOAD_CONST_R r5, int 7
                LOAD_CONST_R r7, int 0
            {body}
            done:   DEBUG_PRINT r0
                    RETURN_R"
        );
        let m = assemble(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let layout = verify(&m).unwrap();
        let cfg = Cfg::build(&m, &layout.bodies[0]);
        let facts = crate::analysis::ranges::block_entry_facts(&m, &cfg, layout.bodies[0].nregs as usize);
        counted_loops(&m, &cfg, &facts, &Default::default())
    }

    /// The loop of the module doc: `r0 += r7 % 7` for `r7` in `0..=n`, through temporaries.
    const COUNTED: &str = "
        head:   LTE_R r8, r7, r3
                JUMP_IF_NOT_R r8, done
                MOD_R r10, r7, r5
                ADD_R r11, r0, r10
                MOVE_R r0, r11
                ADD_R r12, r7, r4
                MOVE_R r7, r12
                JUMP_R head";

    #[test]
    fn the_module_doc_loop_is_counted() {
        let loops = loops_of(COUNTED);
        assert_eq!(loops.len(), 1, "{loops:?}");
        let l = &loops[0];
        assert_eq!((l.counter, l.limit, l.inclusive), (7, 3, true));
        assert_eq!(l.accumulators.len(), 1);
        let a = &l.accumulators[0];
        // r7 >= 0 at the MOD (range analysis), so r10 is in 0..=6.
        assert_eq!((a.reg, a.up, a.step), (0, true, 6));
        // The ADD_R r11, r0, r10 (instruction 5 + 3 = 8).
        assert_eq!(a.updates, vec![8]);
    }

    #[test]
    fn the_header_test_may_be_mirrored_and_exit_on_the_jump() {
        // Leaving when `j >= n` stays while `j < n`; `n > j` is `j < n` mirrored.
        let loops = loops_of(&COUNTED.replace("LTE_R r8, r7, r3\n                JUMP_IF_NOT_R r8, done", "GTE_R r8, r7, r3\n                JUMP_IF_R r8, done"));
        assert_eq!(loops.len(), 1, "{loops:?}");
        assert_eq!((loops[0].counter, loops[0].limit, loops[0].inclusive), (7, 3, false));
        let loops = loops_of(&COUNTED.replace("LTE_R r8, r7, r3", "GT_R r8, r3, r7"));
        assert_eq!((loops[0].counter, loops[0].limit, loops[0].inclusive), (7, 3, false));
    }

    #[test]
    fn a_limit_written_in_the_loop_bounds_nothing() {
        let body = COUNTED.replace("JUMP_R head", "ADD_R r3, r3, r4\n                JUMP_R head");
        assert_eq!(loops_of(&body), Vec::new());
    }

    #[test]
    fn a_path_back_that_skips_the_counter_bounds_nothing() {
        // When r0 is odd the body goes back to the header without counting.
        let body = "
        head:   LTE_R r8, r7, r3
                JUMP_IF_NOT_R r8, done
                MOD_R r10, r7, r5
                ADD_R r11, r0, r10
                MOVE_R r0, r11
                MOD_R r9, r0, r5
                JUMP_IF_R r9, head
                ADD_R r12, r7, r4
                MOVE_R r7, r12
                JUMP_R head";
        assert_eq!(loops_of(body), Vec::new());
    }

    #[test]
    fn a_counter_step_that_may_be_zero_bounds_nothing() {
        // r7 += r7 % 7, which is 0 when r7 is 0.
        assert_eq!(loops_of(&COUNTED.replace("ADD_R r12, r7, r4", "ADD_R r12, r7, r10")), Vec::new());
        // A second write of the counter.
        assert_eq!(loops_of(&COUNTED.replace("JUMP_R head", "ADD_R r7, r7, r4\n                JUMP_R head")), Vec::new());
    }

    #[test]
    fn updates_in_an_inner_loop_or_of_both_signs_are_not_accumulators() {
        // r0 += 1 while r0 < r5, inside the counted loop: any number of times per iteration.
        let inner = COUNTED.replace(
            "MOVE_R r0, r11",
            "MOVE_R r0, r11
        spin:   LT_R r13, r0, r5
                JUMP_IF_NOT_R r13, go
                ADD_R r0, r0, r4
                JUMP_R spin
        go:     MOVE_R r14, r14",
        );
        assert_eq!(loops_of(&inner), Vec::new());
        // r0 += d and r0 -= 1 in one iteration.
        let both = COUNTED.replace("JUMP_R head", "SUB_R r0, r0, r4\n                JUMP_R head");
        assert_eq!(loops_of(&both), Vec::new());
        // A subtraction alone makes a shrinking accumulator.
        let down = loops_of(&COUNTED.replace("ADD_R r11, r0, r10", "SUB_R r11, r0, r10"));
        assert_eq!((down[0].accumulators[0].up, down[0].accumulators[0].step), (false, 6));
    }
}
