//! Int range analysis of one body, for the compiled tier's overflow checks.
//!
//! A forward dataflow analysis over the body's basic blocks ([`mdbc::cfg::Cfg`]) that learns, per
//! register, bounds its value lies within *if it holds an int* ([`Bound`]). Facts come from int
//! constants, from int arithmetic on bounded operands (`ADD_R`, `SUB_R`, `MUL_R`, `MOD_R`, `NEG_R`;
//! an int result implies int operands: ARCHITECTURE.md, *Semantics*), from `ARRAY_LEN_R`, and from
//! the branch on an int comparison that leads into a block (`i < n` on the taken side). Joins take
//! the hull of the incoming bounds; at a loop header (a block with a back-edge into it) a bound
//! that grows is widened to the end of the int range, so the analysis ends after a few passes. In
//! `i = 0; while i < n { ...; i = i + 1 }` the header learns `i >= 0` and the body `0 <= i <= n -
//! 1`.
//!
//! The facts are about the bytecode's semantics, not about speculated types, and cover every
//! path from the body's start: so they hold in the interpreter's frame at an OSR entry too.
//! The analysis is run on the whole body whatever the compiled entry.

use mdbc::cfg::{Cfg, RegSet};
use mdbc::{Constant, Instr, Module};

use crate::analysis::ops::{binop_of, BinOp};

/// What is known of one register's value at one point: if it holds an int, the int lies in
/// `lo..=hi`; when `int` is set it always holds an int there (a comparison with it bounds the
/// other operand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    pub lo: i64,
    pub hi: i64,
    pub int: bool,
}

impl Bound {
    /// Nothing known.
    pub const TOP: Bound = Bound { lo: i64::MIN, hi: i64::MAX, int: false };

    fn exact(c: i64) -> Bound {
        Bound { lo: c, hi: c, int: true }
    }

    /// The bound of a value from either side of a join.
    fn join(self, o: Bound) -> Bound {
        Bound { lo: self.lo.min(o.lo), hi: self.hi.max(o.hi), int: self.int && o.int }
    }

    /// The join at a loop header: a side that grew goes to the next of `thresholds` (sorted,
    /// holding `MIN` and `MAX`) beyond it; with no thresholds, to the end of the int range.
    fn widen(self, newer: Bound, thresholds: &[i64]) -> Bound {
        let j = self.join(newer);
        let lo = match thresholds.partition_point(|&t| t <= j.lo) {
            _ if j.lo >= self.lo => j.lo,
            0 => i64::MIN,
            i => thresholds[i - 1],
        };
        let hi = match thresholds.partition_point(|&t| t < j.hi) {
            _ if j.hi <= self.hi => j.hi,
            i if i == thresholds.len() => i64::MAX,
            i => thresholds[i],
        };
        Bound { lo, hi, int: j.int }
    }
}

fn clamp(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The exact range of `a op b` over ints `a` in `a_lo..=a_hi` and `b` likewise, for `op` among
/// `+ - *`, computed without overflow (i128). The result may lie outside the int range (such
/// an operation overflows for some operands).
pub(crate) fn arith_range(op: BinOp, a: (i64, i64), b: (i64, i64)) -> Option<(i128, i128)> {
    let (al, ah, bl, bh) = (a.0 as i128, a.1 as i128, b.0 as i128, b.1 as i128);
    Some(match op {
        BinOp::Add => (al + bl, ah + bh),
        BinOp::Sub => (al - bh, ah - bl),
        BinOp::Mul => {
            let p = [al * bl, al * bh, ah * bl, ah * bh];
            (*p.iter().min().expect("four"), *p.iter().max().expect("four"))
        }
        _ => return None,
    })
}

/// True when `a op b` (`+ - *`) cannot overflow for any ints in the given ranges.
pub(crate) fn cannot_overflow(op: BinOp, a: (i64, i64), b: (i64, i64)) -> bool {
    matches!(arith_range(op, a, b), Some((lo, hi)) if lo >= i64::MIN as i128 && hi <= i64::MAX as i128)
}

/// The facts at one point of a block: per register its [`Bound`], and the int comparison
/// whose result a register holds (`compares[d] = (op, a, b)` after `d = a op b`, until `d`, `a`
/// or `b` is written), so that a branch on `d` knows what it tested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    bounds: Vec<Bound>,
    compares: Vec<Option<(BinOp, u8, u8)>>,
}

impl Facts {
    /// No facts about `nregs` registers.
    pub fn top(nregs: usize) -> Facts {
        Facts { bounds: vec![Bound::TOP; nregs], compares: vec![None; nregs] }
    }

    /// The bound of register `r`.
    pub fn bound(&self, r: u8) -> Bound {
        self.bounds.get(r as usize).copied().unwrap_or(Bound::TOP)
    }

    /// Register `r` now holds a value with bound `b`: every other fact about it ends.
    fn set(&mut self, r: u8, b: Bound) {
        for c in self.compares.iter_mut() {
            if matches!(*c, Some((_, x, y)) if x == r || y == r) {
                *c = None;
            }
        }
        if let Some(slot) = self.compares.get_mut(r as usize) {
            *slot = None;
        }
        if let Some(slot) = self.bounds.get_mut(r as usize) {
            *slot = b;
        }
    }

    /// The facts after the non-phi instruction `ins` (of module `m`) runs, on the path where
    /// it completes (an error ends the program, so it leaves no state to describe).
    pub fn step(&mut self, m: &Module, ins: &Instr) {
        let Some(d) = ins.def() else { return };
        match ins {
            Instr::DefineR { .. } => {}
            Instr::LoadConstR { k, .. } => {
                let b = match m.constants.get(k.0 as usize) {
                    Some(Constant::Int(c)) => Bound::exact(*c),
                    _ => Bound::TOP,
                };
                self.set(d, b);
            }
            Instr::MoveR { src, .. } => {
                let (b, c) = (self.bound(src.0), self.compares.get(src.0 as usize).copied().flatten());
                self.set(d, b);
                if let Some((op, x, y)) = c {
                    if x != d && y != d {
                        self.compares[d as usize] = Some((op, x, y));
                    }
                }
            }
            Instr::NegR { src, .. } => {
                let s = self.bound(src.0);
                // -MIN overflows (an error), so the result is at most MAX.
                let b = Bound { lo: clamp(-(s.hi as i128)), hi: clamp(-(s.lo as i128)), int: s.int };
                self.set(d, b);
            }
            Instr::ArrayLenR { .. } => self.set(d, Bound { lo: 0, hi: i64::MAX, int: true }),
            _ => {
                let Some((op, _, a, b)) = binop_of(ins) else {
                    self.set(d, Bound::TOP);
                    return;
                };
                let (ba, bb) = (self.bound(a), self.bound(b));
                let int = ba.int && bb.int;
                let out = match op {
                    BinOp::Add | BinOp::Sub | BinOp::Mul => {
                        let (lo, hi) = arith_range(op, (ba.lo, ba.hi), (bb.lo, bb.hi)).expect("+ - *");
                        Bound { lo: clamp(lo), hi: clamp(hi), int }
                    }
                    // Floor modulo takes the divisor's sign and is smaller than it.
                    BinOp::Mod if bb.lo > 0 => Bound { lo: 0, hi: bb.hi - 1, int },
                    BinOp::Mod if bb.hi < 0 => Bound { lo: bb.lo + 1, hi: 0, int },
                    BinOp::Div | BinOp::Mod => Bound { int, ..Bound::TOP },
                    _ => Bound::TOP,
                };
                self.set(d, out);
                if op.is_compare() && d != a && d != b {
                    self.compares[d as usize] = Some((op, a, b));
                }
            }
        }
    }

    /// The facts where `truthy(cond)` is `truth`, when `cond` holds an int comparison: the
    /// operands' bounds narrowed by it (each by the other's, when that one is always an int).
    pub fn branch(&self, cond: u8, truth: bool) -> Facts {
        let mut out = self.clone();
        let Some((op, a, b)) = self.compares.get(cond as usize).copied().flatten() else { return out };
        let op = if truth { Some(op) } else { op.negated() };
        let Some(op) = op else { return out };
        if a == b {
            return out;
        }
        let (ba, bb) = (self.bound(a), self.bound(b));
        // The bounds of a and of b where `a op b` holds (for ints a and b).
        let (na, nb) = match op {
            BinOp::Lt => ((ba.lo, ba.hi.min(bb.hi.saturating_sub(1))), (bb.lo.max(ba.lo.saturating_add(1)), bb.hi)),
            BinOp::Le => ((ba.lo, ba.hi.min(bb.hi)), (bb.lo.max(ba.lo), bb.hi)),
            BinOp::Gt => ((ba.lo.max(bb.lo.saturating_add(1)), ba.hi), (bb.lo, bb.hi.min(ba.hi.saturating_sub(1)))),
            BinOp::Ge => ((ba.lo.max(bb.lo), ba.hi), (bb.lo, bb.hi.min(ba.hi))),
            BinOp::Eq => ((ba.lo.max(bb.lo), ba.hi.min(bb.hi)), (ba.lo.max(bb.lo), ba.hi.min(bb.hi))),
            _ => return out,
        };
        // A side is narrowed only by an operand that is always an int (an int compared with a
        // float or a string learns nothing), and never to nothing (an edge that cannot run).
        if bb.int && na.0 <= na.1 {
            out.bounds[a as usize] = Bound { lo: na.0, hi: na.1, int: ba.int };
        }
        if ba.int && nb.0 <= nb.1 {
            out.bounds[b as usize] = Bound { lo: nb.0, hi: nb.1, int: bb.int };
        }
        out
    }

    /// Joins `incoming` into these facts; returns true if they changed. Comparisons do not
    /// cross block boundaries. At a loop header (`widen`), a register its loop writes widens:
    /// to the thresholds while its bound has changed fewer than [`THRESHOLD_STEPS`] times
    /// there, then to the ends of the int range. A register the loop leaves alone only joins:
    /// what it brings in grows only with an enclosing loop, whose header widens it.
    fn merge(&mut self, incoming: &Facts, mut widen: Option<Widening<'_>>) -> bool {
        let mut changed = false;
        for (r, (old, new)) in self.bounds.iter_mut().zip(&incoming.bounds).enumerate() {
            let m = match &mut widen {
                Some(Widening { written, .. }) if !written.contains(r as u8) => old.join(*new),
                Some(Widening { thresholds: t, steps, .. }) => {
                    let t = if steps[r] < THRESHOLD_STEPS { *t } else { &[][..] };
                    let m = old.widen(*new, t);
                    steps[r] = steps[r].saturating_add((m != *old) as u8);
                    m
                }
                None => old.join(*new),
            };
            changed |= m != *old;
            *old = m;
        }
        changed
    }
}

/// What [`Facts::merge`] needs at a loop header.
struct Widening<'a> {
    /// The body's int constants and their neighbours, sorted, with `MIN` and `MAX`.
    thresholds: &'a [i64],
    /// Per register, how many times its bound at this header changed.
    steps: &'a mut [u8],
    /// The registers some instruction of the loop writes ([`loop_writes`]).
    written: &'a RegSet,
}

/// The registers written in the loop of each header block of `cfg` (none for other blocks):
/// by an instruction, phis included, of a block that reaches one of the header's back-edges
/// (an edge from a block at or after it) without passing through the header, or of the header.
/// Every cycle of the CFG passes through such a header, and every block of the cycle is in
/// that header's loop, so a register that changes around a cycle is written in the loop of a
/// header on it.
fn loop_writes(m: &Module, cfg: &Cfg, header: &[bool]) -> Vec<RegSet> {
    let n = cfg.blocks.len();
    let mut out = vec![RegSet::EMPTY; n];
    let mut inside = vec![false; n];
    for h in (0..n).filter(|&h| header[h]) {
        inside.fill(false);
        inside[h] = true;
        let mut work: Vec<usize> = cfg.blocks[h].preds.iter().map(|&p| p as usize).filter(|&p| p >= h).collect();
        while let Some(b) = work.pop() {
            if !inside[b] {
                inside[b] = true;
                work.extend(cfg.blocks[b].preds.iter().map(|&p| p as usize));
            }
        }
        let mut written = RegSet::EMPTY;
        for b in (0..n).filter(|&b| inside[b]) {
            let blk = &cfg.blocks[b];
            for ins in &m.code[blk.start as usize..blk.end as usize] {
                if let Some(d) = ins.def() {
                    written.insert(d);
                }
            }
        }
        out[h] = written;
    }
    out
}

/// How many times a register's bound at a loop header may change before its widening skips
/// the thresholds. Counted per register: in nested loops each register widens step by step
/// through the constants, and a header's other registers must not use up its steps.
const THRESHOLD_STEPS: u8 = 24;

/// The facts at the start of each block of `cfg` (after its phis, which run on the edge into
/// it: [`Cfg::phi_moves`]), from the whole body's analysis. Widening at loop headers stops
/// first at the body's int constants and their neighbours (so `i < 25000` in an outer loop
/// keeps `i <= 25000` at an inner loop's header), at most [`THRESHOLD_STEPS`] times per
/// register and header, then at the ends of the int range. Block 0 starts with none (the body's start,
/// where parameters may be anything); a block no path reaches gets none.
pub(crate) fn block_entry_facts(m: &Module, cfg: &Cfg, nregs: usize) -> Vec<Facts> {
    let n = cfg.blocks.len();
    let mut entry: Vec<Option<Facts>> = vec![None; n];
    if n == 0 {
        return Vec::new();
    }
    let header = cfg.loop_headers();
    let mut thresholds = vec![i64::MIN, i64::MAX];
    for ins in &m.code[cfg.start as usize..cfg.end as usize] {
        if let Instr::LoadConstR { k, .. } = ins {
            if let Some(Constant::Int(c)) = m.constants.get(k.0 as usize) {
                thresholds.extend([c.saturating_sub(1), *c, c.saturating_add(1)]);
            }
        }
    }
    thresholds.sort_unstable();
    thresholds.dedup();
    // Per loop header, the changes of each register's bound there, and what its loop writes.
    let mut widenings: Vec<Vec<u8>> = (0..n).map(|b| if header[b] { vec![0; nregs] } else { Vec::new() }).collect();
    let writes = loop_writes(m, cfg, &header);
    entry[0] = Some(Facts::top(nregs));
    let mut work = vec![0u32];
    while let Some(blk) = work.pop() {
        let b = &cfg.blocks[blk as usize];
        let mut out = entry[blk as usize].clone().expect("queued blocks have facts");
        for bc in b.phis_end..b.end {
            out.step(m, &m.code[bc as usize]);
        }
        let last = b.end - 1;
        let next = b.end;
        // The successor each side of a conditional jump goes to (none when both go to one).
        let cond_edges = match &m.code[last as usize] {
            ins @ (Instr::JumpIfR { cond, .. } | Instr::JumpIfNotR { cond, .. }) => {
                let target = ins.jump_target(last).expect("a jump");
                let when = matches!(ins, Instr::JumpIfR { .. });
                let block_of = |t: u32| (t < cfg.end).then(|| cfg.block_at(t));
                match (block_of(target), block_of(next)) {
                    (Some(t), Some(f)) if t == f => None,
                    (t, f) => Some((cond.0, when, t, f)),
                }
            }
            _ => None,
        };
        for &s in &b.succs {
            let mut inc = match cond_edges {
                Some((cond, when, t, _)) if t == Some(s) => out.branch(cond, when),
                Some((cond, when, _, f)) if f == Some(s) => out.branch(cond, !when),
                _ => out.clone(),
            };
            for (dst, src) in cfg.phi_moves(m, s, last) {
                let bound = inc.bound(src);
                inc.set(dst, bound);
            }
            inc.compares.iter_mut().for_each(|c| *c = None);
            let changed = match &mut entry[s as usize] {
                None => {
                    entry[s as usize] = Some(inc);
                    true
                }
                Some(old) => {
                    let steps = &mut widenings[s as usize][..];
                    let written = &writes[s as usize];
                    let widen = header[s as usize].then_some(Widening { thresholds: &thresholds, steps, written });
                    old.merge(&inc, widen)
                }
            };
            if changed && !work.contains(&s) {
                work.push(s);
            }
        }
    }
    entry.into_iter().map(|f| f.unwrap_or_else(|| Facts::top(nregs))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_moves_a_growing_side_to_the_end_of_the_range() {
        let old = Bound { lo: 0, hi: 0, int: true };
        assert_eq!(old.widen(Bound { lo: 1, hi: 1, int: true }, &[]), Bound { lo: 0, hi: i64::MAX, int: true });
        assert_eq!(old.widen(Bound { lo: -1, hi: 0, int: true }, &[]), Bound { lo: i64::MIN, hi: 0, int: true });
        assert_eq!(old.widen(Bound { lo: 0, hi: 0, int: false }, &[]), Bound { lo: 0, hi: 0, int: false });
        // With thresholds, to the next one beyond the grown side (or the end of the range).
        let t = [i64::MIN, -10, 0, 7, 100, i64::MAX];
        assert_eq!(old.widen(Bound { lo: 0, hi: 8, int: true }, &t), Bound { lo: 0, hi: 100, int: true });
        assert_eq!(old.widen(Bound { lo: 0, hi: 7, int: true }, &t), Bound { lo: 0, hi: 7, int: true });
        assert_eq!(old.widen(Bound { lo: -11, hi: 0, int: true }, &t), Bound { lo: i64::MIN, hi: 0, int: true });
        assert_eq!(old.widen(Bound { lo: -3, hi: 0, int: true }, &t), Bound { lo: -10, hi: 0, int: true });
    }

    #[test]
    fn arithmetic_ranges_are_exact_at_the_corners() {
        assert_eq!(arith_range(BinOp::Mul, (-3, 2), (-5, 4)), Some((-12, 15)));
        assert_eq!(arith_range(BinOp::Sub, (0, 10), (-1, 5)), Some((-5, 11)));
        assert!(cannot_overflow(BinOp::Mul, (-25_000, 24_999), (1, 10_000)));
        assert!(!cannot_overflow(BinOp::Add, (0, i64::MAX), (0, 1)));
        assert!(cannot_overflow(BinOp::Add, (0, i64::MAX - 1), (0, 1)));
        assert!(!cannot_overflow(BinOp::Sub, (i64::MIN, 0), (1, 1)));
    }

    /// The facts at each block start of the main program of `src`.
    fn facts_of(src: &str) -> (Cfg, Vec<Facts>) {
        let m = mdbc::assemble(src).unwrap_or_else(|e| panic!("{e}"));
        let layout = mdbc::verify(&m).unwrap();
        let cfg = Cfg::build(&m, &layout.bodies[0]);
        let facts = block_entry_facts(&m, &cfg, layout.bodies[0].nregs as usize);
        (cfg, facts)
    }

    #[test]
    fn a_counting_loop_bounds_its_counter_by_the_test() {
        // i = 0; while i < n (n = 1000) { i = i + 1 }
        let (cfg, facts) = facts_of(
            ".module t
                LOAD_CONST_R r0, int 0
                LOAD_CONST_R r1, int 1000
                LOAD_CONST_R r2, int 1
        head:   LT_R r3, r0, r1
                JUMP_IF_NOT_R r3, done
                ADD_R r0, r0, r2
                JUMP_R head
        done:   DEBUG_PRINT r0
                RETURN_R",
        );
        let at = |pc: u32| &facts[cfg.block_at(pc) as usize];
        // The header: i >= 0, widened up to the threshold at the limit (1000 + 1).
        let h = at(3).bound(0);
        assert_eq!((h.lo, h.int), (0, true));
        assert!(h.hi >= 1000 && h.hi < i64::MAX, "widened to a threshold, not to MAX: {h:?}");
        // The body: 0 <= i <= 999 (the taken side of `i < 1000`), so `i + 1` cannot overflow.
        assert_eq!(at(5).bound(0), Bound { lo: 0, hi: 999, int: true });
        // After the loop i is 1000, which the facts hold (not exactly: while the header's
        // bound was still growing, the exit edge could not run and was joined in unnarrowed).
        let exit = at(7).bound(0);
        assert!(exit.int && exit.lo <= 1000 && 1000 <= exit.hi, "{exit:?}");
        // The limit stays exact everywhere.
        assert_eq!(at(5).bound(1), Bound::exact(1000));
    }

    #[test]
    fn modulo_by_a_positive_bound_is_below_it_and_unknown_values_bound_nothing() {
        let (cfg, facts) = facts_of(
            ".module t
                LOAD_CONST_R r1, int 7
                MOD_R r2, r0, r1
                MUL_R r3, r2, r2
                JUMP_R next
        next:   DEBUG_PRINT r3
                RETURN_R",
        );
        let f = &facts[cfg.block_at(4) as usize];
        assert_eq!(f.bound(2), Bound { lo: 0, hi: 6, int: false }, "r0 may not be an int: the result is bounded if it is");
        assert_eq!((f.bound(3).lo, f.bound(3).hi), (0, 36));
        assert_eq!(f.bound(0), Bound::TOP, "a parameter is anything");
    }

    #[test]
    fn comparison_with_a_non_int_bounds_nothing() {
        let mut f = Facts::top(3);
        // r1 always an int in 0..=9; r0 anything; r2 = r0 < r1.
        f.bounds[1] = Bound { lo: 0, hi: 9, int: true };
        f.compares[2] = Some((BinOp::Lt, 0, 1));
        let t = f.branch(2, true);
        assert_eq!(t.bound(0), Bound { lo: i64::MIN, hi: 8, int: false });
        // r0 is not always an int, so r1 learns nothing from it.
        assert_eq!(t.bound(1), Bound { lo: 0, hi: 9, int: true });
        let e = f.branch(2, false);
        assert_eq!(e.bound(0), Bound { lo: 0, hi: i64::MAX, int: false });
    }

    /// A row offset computed in an outer loop (`y * W`) stays bounded at the inner loop's
    /// header, which does not write it: only what a loop writes is widened there. So
    /// `y * W + x` cannot overflow (the relaxation sweep of `floatgrid`).
    #[test]
    fn values_an_inner_loop_does_not_write_are_not_widened_at_its_header() {
        let (cfg, facts) = facts_of(
            ".module t
                LOAD_CONST_R r0, int 500        ; W
                LOAD_CONST_R r1, int 399        ; H - 1
                LOAD_CONST_R r2, int 1
                LOAD_CONST_R r3, int 1          ; y
        rowy:   LT_R r4, r3, r1
                JUMP_IF_NOT_R r4, done
                MUL_R r5, r3, r0                ; y * W
                LOAD_CONST_R r6, int 1          ; x
        rowx:   LT_R r4, r6, r0
                JUMP_IF_NOT_R r4, next
                ADD_R r7, r5, r6                ; y * W + x
                ADD_R r6, r6, r2
                JUMP_R rowx
        next:   ADD_R r3, r3, r2
                JUMP_R rowy
        done:   RETURN_R",
        );
        let at = |pc: u32| &facts[cfg.block_at(pc) as usize];
        assert_eq!(at(8).bound(5), Bound { lo: 500, hi: 398 * 500, int: true }, "at the inner header");
        let body = at(10);
        assert_eq!(body.bound(6), Bound { lo: 1, hi: 499, int: true });
        assert!(cannot_overflow(BinOp::Add, (body.bound(5).lo, body.bound(5).hi), (body.bound(6).lo, body.bound(6).hi)));
        // The outer counter is written in both loops' cycles and still bounded by its test.
        assert_eq!(at(6).bound(3), Bound { lo: 1, hi: 398, int: true });
    }
}
