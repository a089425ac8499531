//! Lowering: CLIF for one body, instruction by instruction, from the plans of
//! [`crate::spec`].
//!
//! [`Emitter`] walks the reachable blocks in program order from their head states, plans each
//! instruction in the current state, emits its code and moves the state through the transfer
//! function ([`crate::spec::transfer`]). Its concerns are split by file:
//!
//! * [`frame`]: the frame slots: loads and stores, boxing, releasing, copying, `MOVE_R`, returns;
//! * [`exits`]: guards, snapshots and the side exits built from them (cold blocks after the
//!   body, one per distinct snapshot);
//! * [`arith`]: binary and unary arithmetic, comparisons and logic;
//! * [`arrays`]: array views, element reads and writes, lengths;
//! * [`calls`]: calls (typed entries, entry table, interpreter), results, unwinding, the native
//!   stack;
//! * [`dicts`]: dict lookups, membership tests and stores through their own helpers;
//! * [`generic`]: instructions run through the interpreter's semantics (`mdvm_exec`);
//! * [`loops`]: fuel charging, counted loops' trip-count checks;
//! * this file: the block walk, control flow, edges and phis.

mod arith;
mod arrays;
mod calls;
mod dicts;
pub(crate) mod exits;
pub(crate) mod frame;
mod generic;
mod natives;
mod strings;
pub(crate) mod loops;

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Block, FuncRef, InstBuilder, SigRef, Type, Value as ClifValue};
use cranelift_frontend::{FunctionBuilder, Variable};
use mdbc::cfg::RegSet;
use mdbc::Constant;
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{DeoptReason, NO_PRED};

use crate::analysis::counted::CountedLoop;
use crate::analysis::fuel::segments;
use crate::analysis::ranges::Facts;
use crate::entries::Request;
use crate::spec::dataflow::Speculation;
use crate::spec::plan::Plan;
use crate::spec::state::{flows_into, State, Val};
use crate::spec::transfer;

/// The variables holding what machine code reads of an array ([`Val::Array`]): its length,
/// its kind ([`mdvm_runtime::array::Array::kind`]), and the address and number of the
/// elements stored in that kind's form (packed `u64` words, or 16-byte values).
#[derive(Clone, Copy)]
pub(crate) struct View {
    pub len: Variable,
    pub kind: Variable,
    pub data: Variable,
    pub bound: Variable,
}

/// The instruction being lowered: its bytecode index, the frame state before it (which every
/// side exit inside it resumes with: its snapshot) and the registers live into it.
#[derive(Clone, Copy)]
pub(crate) struct At<'s> {
    pub pc: u32,
    pub before: &'s State,
    pub live: RegSet,
}

/// Code generation state of one function.
pub(crate) struct Emitter<'r, 'a, 'f> {
    pub s: Speculation<'a>,
    pub req: &'r Request<'a>,
    pub b: FunctionBuilder<'f>,
    pub ptr: Type,
    pub ctx: ClifValue,
    pub base: ClifValue,
    /// `base * VALUE_SIZE`: the byte offset of r0's slot from the value stack's start,
    /// computed once at the entry ([`Emitter::fp`]).
    pub base_offset: ClifValue,
    /// The frame count with this activation's frame (see [`crate::entries::Entry::Typed`]:
    /// `ctx.depth` is written from it before every call into runtime code or a generic entry).
    pub depth: ClifValue,
    pub ivars: Vec<Variable>,
    pub fvars: Vec<Variable>,
    /// Per register, the variables of its array view ([`Val::Array`]).
    pub views: Vec<View>,
    /// The CLIF block of each bytecode block.
    pub blocks: Vec<Block>,
    /// While set, side exits refund no fuel (none has been charged yet).
    pub uncharged_exits: bool,
    /// Typed entries of callees imported into this function.
    pub callees: HashMap<u32, FuncRef>,
    /// Helpers imported into this function.
    pub helpers: HashMap<Helper, FuncRef>,
    /// The signature of a generic entry ([`crate::entries::entry_signature`]), once imported
    /// for calls through the entry table.
    pub entry_sig: Option<SigRef>,
    /// Int range facts at the instruction being emitted ([`crate::analysis::ranges`]).
    pub ranges: Facts,
    /// The counted loops whose accumulators add without a check inside
    /// ([`crate::analysis::counted`]); each edge into one's header from outside it checks the
    /// trip-count bound.
    pub counted: Vec<CountedLoop>,
    /// Bytecode indices of those accumulators' additions.
    pub unchecked_updates: HashSet<u32>,
    /// Set while the OSR entry's edge into its header is emitted (it enters the loop).
    pub entering_osr: bool,
    /// Registers are **written through**: every definition of an unboxed register also
    /// stores it to its slot, so side exits write (almost) nothing and share one tail. Chosen
    /// for bodies whose exits would otherwise write too many registers
    /// ([`crate::entries::write_through_threshold`]): code and compile time stay linear in
    /// the body, at the price of a store per definition.
    pub write_through: bool,
    /// With [`Emitter::write_through`]: per register, the type tag its slot is known to hold
    /// at the current emission point (stored by an earlier definition on the same straight
    /// path), so the next definition stores only the payload. Forgotten at every block head and
    /// edge, every call and every other store to a slot ([`Emitter::forget_slot_tags`]).
    pub slot_tags: Vec<Option<mdvm_runtime::value::Tag>>,
    /// The side exits of this function, one per distinct snapshot ([`exits`]).
    pub exits: exits::ExitTable,
    /// The fuel segment last found by [`Emitter::charged_ahead`], as `(a pc in it, its end)`.
    pub segment_memo: std::cell::Cell<(u32, u32)>,
    /// The dict lookup available at the current emission point, as `(dict, key)` registers:
    /// on every path here, an earlier `DICT_CONTAINS_R` or `DICT_GET_R` of the string in `key`
    /// in the dict in `dict` left its result in [`Emitter::lookup_entry`], and neither
    /// register nor any dict has been written since ([`dicts`]).
    pub lookup: Option<(u8, u8)>,
    /// The lookup the instruction being emitted made available (set by the dict lowering).
    pub lookup_made: Option<(u8, u8)>,
    /// The available lookup's result: the address of the value in the dict's entries, or 0
    /// when the key is absent.
    pub lookup_entry: Variable,
    /// Per block, the lookup each edge emitted into it so far carried (`None`: none).
    pub edge_lookups: Vec<Vec<Option<(u8, u8)>>>,
}

impl Emitter<'_, '_, '_> {
    pub fn iconst(&mut self, v: i64) -> ClifValue {
        self.b.ins().iconst(types::I64, v)
    }

    /// Branches to a new cold block when `cond` holds, and continues there; returns the block
    /// where the hot path goes on, to switch to with [`Emitter::resume_at`] once the cold code
    /// ends (by jumping there, returning or side-exiting).
    pub fn cold_if(&mut self, cond: ClifValue) -> Block {
        let cold = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(cold);
        self.b.ins().brif(cond, cold, &[], cont, &[]);
        self.b.switch_to_block(cold);
        self.b.seal_block(cold);
        cont
    }

    /// Continues emitting at `block`, all of whose predecessors are emitted (so it is sealed):
    /// the continuation [`Emitter::cold_if`] returns, or either side of a branch.
    pub fn resume_at(&mut self, block: Block) {
        self.b.switch_to_block(block);
        self.b.seal_block(block);
    }

    /// Code for every block the entry reaches, then the side exits they branch to.
    /// Stops as soon as the side exits are over their budget (the caller then gives up).
    pub fn emit_body(&mut self) {
        for blk in 0..self.blocks.len() as u32 {
            if self.s.reachable(blk) {
                self.emit_block(blk);
            }
            if self.exits.over_budget().is_some() {
                return;
            }
        }
        self.emit_exits();
    }

    /// Code for block `blk` from its head state.
    fn emit_block(&mut self, blk: u32) {
        let clif = self.blocks[blk as usize];
        self.b.switch_to_block(clif);
        self.forget_slot_tags();
        let mut st = self.s.head[blk as usize].clone().expect("reachable block");
        let b = self.s.cfg.blocks[blk as usize].clone();
        let segs = segments(self.s.m, b.start, b.end);
        // The facts after the phis, which write their registers on the edge.
        self.ranges = self.s.entry_facts[blk as usize].clone();
        self.lookup = self.lookup_at_head(blk);
        for bc in b.phis_end..b.end {
            if self.exits.over_budget().is_some() {
                return;
            }
            let ins = &self.s.m.code[bc as usize];
            let plan = self.s.plan(bc, &st);
            let mut after = st.clone();
            transfer::operands(&plan, ins, &mut after);
            let at = At { pc: bc, before: &st, live: self.s.live_in(bc) };
            match &plan {
                Plan::Nop | Plan::Phi => {}
                Plan::ConstInt(d, v) => {
                    let c = self.iconst(*v);
                    self.def_int(*d, c, &after);
                }
                Plan::ConstBool(d, v) => {
                    let c = self.iconst(*v as i64);
                    self.def_int(*d, c, &after);
                }
                Plan::ConstFloat(d, v) => {
                    let c = self.b.ins().f64const(*v);
                    self.def_float(*d, c, &after);
                }
                // Nothing to compute: the state says what the register is.
                Plan::ConstEmpty(d) | Plan::ConstFn(d, ..) => self.release_for_def(*d, &after),
                Plan::ConstStr(_) => self.emit_generic(&at, &[]),
                Plan::Move(d, s) => self.emit_move(*d, *s, &after),
                Plan::MoveOut(d, s) => self.emit_move_out(*d, *s, &after),
                Plan::Binary { .. } => self.emit_binary(&at, &plan, &after),
                Plan::Unary { .. } => self.emit_unary(&at, &plan, &after),
                Plan::Cast { .. } => self.emit_cast(&at, &plan, &after),
                Plan::Generic { uses, .. } => self.emit_generic(&at, uses),
                Plan::Dict { .. } => self.emit_dict(&at, &plan, &after),
                Plan::Concat { dst, a, b } => self.emit_concat(&at, (*dst, *a, *b), true),
                Plan::ArrayGet { .. } => self.emit_array_get(&at, &plan, &after),
                Plan::ArrayGetValue { .. } => self.emit_array_get_value(&at, &plan, &after),
                Plan::ArrayLen { .. } => self.emit_array_len(&at, &plan, &after),
                Plan::ArraySet { .. } => self.emit_array_set(&at, &plan, &after),
                Plan::Call { .. } => self.emit_call(&at, &plan, &after),
                Plan::Native { .. } => self.emit_native(&at, &plan, &after),
                Plan::Inline { .. } => self.emit_inline(&at, &plan, &after),
                Plan::TypeTest { .. } => self.emit_type_test(&plan, &st, &after),
                Plan::Len { .. } => self.emit_len(&at, &plan, &after),
                Plan::Return(src) => {
                    self.emit_return(*src, &st);
                    return;
                }
                Plan::Halt => {
                    let ctx = self.ctx;
                    self.call_helper(Helper::Halt, &[ctx]);
                    self.return_unwind();
                    return;
                }
                Plan::Jump => {
                    let target = ins.jump_target(bc).expect("a jump");
                    self.emit_goto(target, bc, st);
                    return;
                }
                Plan::Branch { cond, when } => {
                    let target = ins.jump_target(bc).expect("a jump");
                    let c = self.truth_is(*cond, &st, *when);
                    let taken = self.b.create_block();
                    let fall = self.b.create_block();
                    // The fall-through edge goes second: Cranelift lays out the last successor
                    // first after the branch, so a loop header's body (the frontend's
                    // fall-through) follows it and the loop exit is the taken jump.
                    self.b.ins().brif(c, taken, &[], fall, &[]);
                    self.resume_at(taken);
                    self.emit_goto(target, bc, st.clone());
                    self.resume_at(fall);
                    self.emit_goto(bc + 1, bc, st);
                    return;
                }
            }
            transfer::define(&plan, ins, &mut after);
            self.lookup_after(ins);
            if let Some(d) = ins.def() {
                self.write_through_def(d, after[d as usize]);
            }
            st = after;
            if self.req.debug_checks && matches!(plan, Plan::Call { .. }) {
                self.exit_if_pinned(bc, &st);
            }
            self.ranges.step(self.s.m, ins);
            // A new fuel segment starts after a call inside the block.
            if let Some(&(s, e)) = segs.iter().find(|(s, _)| *s == bc + 1) {
                let live = self.s.live_in(s);
                self.charge_fuel(e - s, s, NO_PRED, &st, live);
            }
        }
        // Falling through to the next block (or off the end of the body).
        self.emit_goto(b.end, b.end - 1, st);
    }

    /// Whether the truthiness of `cond` is `truth`, as an i8 (nonzero when it is): the test a
    /// conditional jump makes (`JUMP_IF_R` with `truth`, `JUMP_IF_NOT_R` without), computed
    /// directly rather than as a negated truthiness, so that the branch is one compare.
    fn truth_is(&mut self, cond: u8, st: &State, truth: bool) -> ClifValue {
        let icc = if truth { IntCC::NotEqual } else { IntCC::Equal };
        match st[cond as usize].val {
            Val::Bool | Val::Int => {
                let v = self.b.use_var(self.ivars[cond as usize]);
                self.b.ins().icmp_imm_s(icc, v, 0)
            }
            Val::Float => {
                // NaN is false: truthy is "ordered and not equal to zero".
                let fcc = if truth { FloatCC::OrderedNotEqual } else { FloatCC::UnorderedOrEqual };
                let v = self.b.use_var(self.fvars[cond as usize]);
                let zero = self.b.ins().f64const(0.0);
                self.b.ins().fcmp(fcc, v, zero)
            }
            Val::Empty | Val::Dead => self.b.ins().iconst(types::I8, !truth as i64),
            Val::Fn(_, k) => {
                let nonempty = !matches!(&self.s.m.constants[k as usize], Constant::Str(s) if s.is_empty());
                self.b.ins().iconst(types::I8, (nonempty == truth) as i64)
            }
            // An array is true when it has elements.
            Val::Array => {
                let len = self.b.use_var(self.views[cond as usize].len);
                self.b.ins().icmp_imm_s(icc, len, 0)
            }
            Val::Mem => {
                let rr = self.b.ins().iconst(types::I32, cond as i64);
                let (ctx, base) = (self.ctx, self.base);
                let call = self.call_helper(Helper::Truthy, &[ctx, base, rr]);
                let t = self.b.inst_results(call)[0];
                self.b.ins().icmp_imm_s(icc, t, 0)
            }
        }
    }

    /// Control to bytecode index `target` from the instruction `from` (its predecessor id).
    pub fn emit_goto(&mut self, target: u32, from: u32, st: State) {
        if target < self.s.cfg.start || target > self.s.cfg.end {
            // Into another function's range: the interpreter goes on there in this frame, with
            // every register written back (the code there is not analysed here).
            let snap = self.snapshot(target, from, DeoptReason::OtherRange, &st, RegSet::ALL);
            self.side_exit(snap);
        } else if target >= self.s.cfg.end {
            self.emit_return(None, &st);
        } else {
            let blk = self.s.cfg.block_at(target);
            self.emit_edge(st, blk, from);
        }
    }

    /// An edge from the current position (state `st`, predecessor id `pred`) into `blk`: the
    /// counted-loop bound check when it enters a counted loop, the fuel of the target's first
    /// segment, the phis as copies, and the registers the target's head state has in slots
    /// written there.
    pub fn emit_edge(&mut self, mut st: State, blk: u32, pred: u32) {
        // What the other side of a branch stored is not known here.
        self.forget_slot_tags();
        let start = self.s.cfg.blocks[blk as usize].start;
        // A back-edge is a safepoint (the OSR entry's edge follows the interpreter's, which
        // was one).
        if pred != NO_PRED && pred >= start && !self.entering_osr {
            let live = self.s.live_in(start);
            self.safepoint(start, pred, &st, live);
        }
        if let Some(i) = self.counted.iter().position(|c| c.header == blk) {
            if self.entering_osr || self.counted[i].enters_from(&self.s.cfg, pred) {
                self.check_trip_bound(i, pred, &st);
            }
        }
        self.promote_arrays(&mut st, blk, pred);
        let live = self.s.live_in(start);
        let cost = self.head_cost(blk);
        self.charge_fuel(cost, start, pred, &st, live);
        let phis = self.s.phi_moves(blk, pred);
        self.lookup_on_edge(blk, pred, &phis);
        for (dst, src) in phis {
            self.emit_move(dst, src, &st);
            transfer::copy(&mut st, dst, src);
            self.write_through_def(dst, st[dst as usize]);
        }
        let target = self.s.head[blk as usize].clone().expect("edge into a reachable block");
        for r in (0..st.len()).map(|r| r as u8) {
            let (have, want) = (st[r as usize], target[r as usize]);
            if want.val.in_slot() && !have.val.in_slot() {
                self.spill(r, have);
            }
        }
        // The analysis joined this edge's state into the head's: it can only be more general,
        // and the spills above make the emitted frame match it.
        if cfg!(debug_assertions) {
            let live = self.s.live_after_phis(blk);
            for (r, (&have, &want)) in st.iter().zip(&target).enumerate() {
                assert!(
                    !live.contains(r as u8) || flows_into(have, want),
                    "body {}: edge {pred} -> {start}: r{r} is {have:?}, the head wants {want:?}",
                    self.req.body
                );
            }
        }
        self.b.ins().jump(self.blocks[blk as usize], &[]);
    }

    /// The one int register `r` can hold here, when it is a known constant of unboxed int
    /// type ([`Speculation::int_const`]).
    pub fn const_int_operand(&self, r: u8, st: &State) -> Option<i64> {
        match (self.s.int_const(r), st[r as usize].val) {
            (Some(c), Val::Int) => Some(c),
            _ => None,
        }
    }

    /// The bounds within which int register `r` lies here (a register that only ever holds
    /// one int constant: that constant), from the range analysis
    /// ([`crate::analysis::ranges`]).
    pub fn int_range(&self, r: u8) -> (i64, i64) {
        match self.s.int_const(r) {
            Some(c) => (c, c),
            None => {
                let b = self.ranges.bound(r);
                (b.lo, b.hi)
            }
        }
    }
}
