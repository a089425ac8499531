//! Fuel and loops: charging blocks to the fuel budget, safepoints, and the trip-count check
//! that lets a counted loop's accumulators add without a check ([`crate::analysis::counted`]).
//!
//! A **safepoint** (every loop back-edge and function entry) loads the machine's interrupt word
//! ([`mdvm_runtime::interrupt`]) and, only when it is nonzero, side-exits to the interpreter
//! ([`DeoptReason::Interrupt`]), which serves the request (stop, time limit, memory limit, host
//! poll) and ends the run or goes on.
//!
//! When the run is metered, every edge into a block charges the instruction count of the
//! block's first segment ([`crate::analysis::fuel`]) and side-exits to the block's start when
//! the fuel left cannot cover it ([`DeoptReason::Fuel`]): the interpreter then counts the rest
//! out one instruction at a time, so both tiers stop at the same instruction. A side exit
//! inside a segment gives back what was charged for the instructions the interpreter runs
//! again ([`Emitter::charged_ahead`]).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData as MemFlags};
use mdbc::cfg::RegSet;
use mdvm_runtime::native::{self as rt, stress_id, DeoptReason, GuardSlot};

use crate::analysis::counted;
use crate::analysis::fuel::{segment_end, segments};
use crate::lower::frame::ctx_flags;
use crate::lower::Emitter;
use crate::spec::state::{State, Val};

impl Emitter<'_, '_, '_> {
    /// Fuel already charged for instructions from `pc` to the end of its segment (which the
    /// interpreter charges again when it executes them after a side exit at `pc` for
    /// `reason`): none before anything is charged, for a fuel exit (it charged nothing) and
    /// for the exits right after a call returned (a result guard, a debugger's pin, a
    /// suspension): they resume after the call, in a segment not charged yet.
    pub fn charged_ahead(&self, pc: u32, reason: DeoptReason) -> u32 {
        let outside = pc < self.s.cfg.start || pc >= self.s.cfg.end;
        if self.uncharged_exits || matches!(
            reason,
            DeoptReason::Fuel | DeoptReason::Interrupt | DeoptReason::ResultType | DeoptReason::Debugger | DeoptReason::Suspend
        ) || outside {
            return 0;
        }
        // Lowering asks for the pcs of a segment in order: remember the last segment found, so
        // a long block costs linear time, not quadratic.
        let (seg_start, seg_end) = self.segment_memo.get();
        if seg_start <= pc && pc < seg_end {
            return seg_end - pc;
        }
        let b = &self.s.cfg.blocks[self.s.cfg.block_at(pc) as usize];
        let e = segment_end(self.s.m, b.start, b.end, pc);
        self.segment_memo.set((pc, e));
        e - pc
    }

    /// Charges `cost` instructions of fuel, side-exiting to `pc` (entered from `pred`, with
    /// the live registers `live` of state `st`) when not enough is left.
    pub fn charge_fuel(&mut self, cost: u32, pc: u32, pred: u32, st: &State, live: RegSet) {
        if !self.req.metered || cost == 0 {
            return;
        }
        let fuel = self.b.ins().load(types::I64, ctx_flags(), self.ctx, rt::OFF_FUEL);
        let short = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, fuel, cost as i64);
        let snap = self.snapshot(pc, pred, DeoptReason::Fuel, st, live);
        self.side_exit_if(short, snap);
        let left = self.b.ins().iadd_imm_s(fuel, -(cost as i64));
        self.b.ins().store(ctx_flags(), left, self.ctx, rt::OFF_FUEL);
    }

    /// A safepoint on an edge into the block starting at `pc` from `pred` (a back-edge, or the
    /// function's entry with [`rt::NO_PRED`]), before anything of the block is charged: when
    /// the interrupt word is nonzero, side-exits there ([`DeoptReason::Interrupt`]) with the
    /// live registers `live` of state `st`, and the interpreter serves the request. A side
    /// exit returns instead of calling out and coming back, so the loop's values need not
    /// survive a call. Nothing when the tier was built without an interrupt word.
    pub fn safepoint(&mut self, pc: u32, pred: u32, st: &State, live: RegSet) {
        if self.req.interrupt_flag == 0 {
            return;
        }
        let addr = self.b.ins().iconst(self.ptr, self.req.interrupt_flag as i64);
        // Another thread writes the word. An atomic load is never merged with another load
        // or moved out of the loop by Cranelift (its alias analysis treats it as a fence, so
        // slots and context fields are loaded again after it); on x86-64 it is a plain `mov`.
        let word = self.b.ins().atomic_load(types::I32, MemFlags::trusted(), addr);
        let snap = self.snapshot(pc, pred, DeoptReason::Interrupt, st, live);
        self.side_exit_if(word, snap);
    }

    /// The fuel cost of the segment starting at the head of block `blk`.
    pub fn head_cost(&self, blk: u32) -> u32 {
        let b = &self.s.cfg.blocks[blk as usize];
        let segs = segments(self.s.m, b.start, b.end);
        segs[0].1 - segs[0].0
    }

    /// Chooses the counted loops ([`counted`]) whose accumulators this function adds without a
    /// check: those whose counter, limit and accumulator are unboxed ints at the header (the
    /// plan's comparison and additions are then exact int operations), and that the compiled
    /// entry (block `entry_blk`) does not enter other than at their header.
    pub fn plan_counted_loops(&mut self, entry_blk: u32) {
        let loops = counted::counted_loops(self.s.m, &self.s.cfg, &self.s.entry_facts, self.req.unbounded_loops);
        for mut c in loops {
            let Some(head) = self.s.head[c.header as usize].as_ref() else { continue };
            let is_int = |r: u8| head[r as usize].val == Val::Int;
            if !is_int(c.counter) || !is_int(c.limit) || (c.blocks[entry_blk as usize] && entry_blk != c.header) {
                continue;
            }
            c.accumulators.retain(|a| is_int(a.reg));
            if c.accumulators.is_empty() {
                continue;
            }
            self.unchecked_updates.extend(c.accumulators.iter().flat_map(|a| a.updates.iter().copied()));
            self.counted.push(c);
        }
    }

    /// On an edge from `pred` into the header of counted loop `i` from outside it (or at the
    /// OSR entry there), with the state `st` before the edge: side-exits to the header
    /// ([`DeoptReason::LoopBound`]) unless every accumulator stays an int through as many
    /// iterations as the header's test allows, so that its additions inside need no check.
    /// With counter `j`, limit `n` and an accumulator growing by at most `step` per iteration,
    /// the loop runs at most `n - j + 1` (`j <= n`) or `n - j` (`j < n`) more times, so it is
    /// enough that this count is at most `(MAX - acc) / step` (for a shrinking one,
    /// `(acc - MIN) / step`), computed unsigned (exact for `j <= n`; no iteration otherwise).
    /// Its stress guard is [`GuardSlot::Entry`] of the first accumulator update's
    /// `ADD_R`/`SUB_R` (an id none of that instruction's own guards uses).
    pub fn check_trip_bound(&mut self, i: usize, pred: u32, st: &State) {
        let c = self.counted[i].clone();
        let header_pc = self.s.cfg.blocks[c.header as usize].start;
        let live = self.s.live_in(header_pc);
        let saved = std::mem::replace(&mut self.uncharged_exits, true);
        let regs = [c.counter, c.limit].into_iter().chain(c.accumulators.iter().map(|a| a.reg));
        let fail = if regs.clone().all(|r| st[r as usize].val == Val::Int) {
            let snap = self.snapshot(header_pc, pred, DeoptReason::Stress, st, live);
            self.stress_guard(stress_id(c.accumulators[0].updates[0], GuardSlot::Entry), snap);
            let j = self.b.use_var(self.ivars[c.counter as usize]);
            let n = self.b.use_var(self.ivars[c.limit as usize]);
            let (runs_cc, over_cc) = if c.inclusive {
                (IntCC::SignedLessThanOrEqual, IntCC::UnsignedGreaterThanOrEqual)
            } else {
                (IntCC::SignedLessThan, IntCC::UnsignedGreaterThan)
            };
            let runs = self.b.ins().icmp(runs_cc, j, n);
            let span = self.b.ins().isub(n, j);
            let mut over = None;
            for a in &c.accumulators {
                let v = self.b.use_var(self.ivars[a.reg as usize]);
                let room = if a.up {
                    let max = self.iconst(i64::MAX);
                    self.b.ins().isub(max, v)
                } else {
                    let min = self.iconst(i64::MIN);
                    self.b.ins().isub(v, min)
                };
                let most = if a.step == 1 { room } else { self.b.ins().udiv_imm_u(room, a.step as i64) };
                let o = self.b.ins().icmp(over_cc, span, most);
                over = Some(match over {
                    Some(p) => self.b.ins().bor(p, o),
                    None => o,
                });
            }
            let over = over.expect("a counted loop has an accumulator");
            self.b.ins().band(runs, over)
        } else {
            // Not unboxed on this edge (the header's state says they are): leave it to the
            // interpreter rather than reason about it.
            self.b.ins().iconst(types::I8, 1)
        };
        let snap = self.snapshot(header_pc, pred, DeoptReason::LoopBound, st, live);
        self.side_exit_if(fail, snap);
        self.uncharged_exits = saved;
    }
}
