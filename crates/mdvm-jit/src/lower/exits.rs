//! Guards, snapshots and side exits.
//!
//! A **guard** tests what compiled code assumed (a register's type, an index in bounds, no
//! overflow, enough fuel) and branches to a **side exit** when it does not hold. Each side exit
//! is described by a [`Snapshot`], recorded at the guard: the bytecode index the interpreter
//! resumes at, the phi predecessor it resumes with, the reason, the fuel to give back, and how
//! each live register that is not in its slot is written there (the interpreter's window is
//! the whole frame state, so a side exit never rebuilds frames). A guard inside an instruction
//! resumes at that instruction with the state before it (the instruction runs again in the
//! interpreter, which raises any error there); the guard on a call's result resumes after the
//! call.
//!
//! Side exits are emitted after the body as cold blocks, one per distinct snapshot: guards with
//! equal snapshots (the operands of one instruction, repeated checks at one pc) branch to the
//! same block, and the SSA construction passes each its registers' current values. Each exit
//! ends by recording its position in the context and jumping to the function's one
//! deoptimization tail ([`Emitter::emit_exits`]). In a written-through body
//! ([`Emitter::write_through`]) the registers are in their slots already and the exits write
//! almost nothing.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Block, InstBuilder, MemFlagsData as MemFlags, Value as ClifValue};
use mdbc::cfg::RegSet;
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{self as rt, stress_id, DeoptReason, GuardSlot, NO_PRED};
use mdvm_runtime::value::{Tag, PAYLOAD_OFFSET, TAG_OFFSET};

use crate::lower::frame::{ctx_flags, flags, frame_flags, slot_offset};
use crate::lower::{At, Emitter};
use crate::spec::plan::{Operand, Spec};
use crate::spec::state::{Slot, State, Val};

/// How a side exit writes one live register to its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SlotWrite {
    /// Box the unboxed int in the register's i64 variable.
    Int,
    /// Box the unboxed bool in the register's i64 variable.
    Bool,
    /// Box the unboxed float in the register's f64 variable.
    Float,
    /// Store `Empty` (the slot may hold a stale plain value).
    Empty,
    /// Write string constant `k` (a function name not yet written).
    Const(u16),
}

/// What a side exit does: the frame state it leaves and where the interpreter resumes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Snapshot {
    /// The bytecode index the interpreter resumes at.
    pub pc: u32,
    /// The phi predecessor it resumes with (a bytecode index: the last instruction before
    /// `pc`'s block was entered), or [`NO_PRED`].
    pub pred: u32,
    /// Why (counted in stats; misspeculation reasons make the site generic).
    pub reason: DeoptReason,
    /// Instructions of fuel charged ahead for instructions from `pc` on, which the
    /// interpreter charges again: given back before resuming (when metered).
    pub refund: u32,
    /// The live registers not in their slots, in register order, and how each is written.
    pub writes: Vec<(u8, SlotWrite)>,
}

impl Snapshot {
    /// The writes that make the window hold the live registers `live` of state `st`. With
    /// `write_through` ([`Emitter::write_through`]) unboxed and empty registers are in their
    /// slots already.
    pub fn writes_for(st: &State, live: RegSet, write_through: bool) -> Vec<(u8, SlotWrite)> {
        live.iter()
            .filter(|&r| (r as usize) < st.len())
            .filter_map(|r| {
                let reg = st[r as usize];
                let w = match reg.val {
                    Val::Int | Val::Bool | Val::Float | Val::Empty if write_through => return None,
                    Val::Int => SlotWrite::Int,
                    Val::Bool => SlotWrite::Bool,
                    Val::Float => SlotWrite::Float,
                    Val::Empty if reg.slot != Slot::Empty => SlotWrite::Empty,
                    Val::Fn(_, k) => SlotWrite::Const(k),
                    Val::Empty | Val::Mem | Val::Array | Val::Dead => return None,
                };
                Some((r, w))
            })
            .collect()
    }
}

/// The side exits of one function: a cold block per distinct snapshot, in creation order, and
/// the register writes they emit against the function's budget
/// ([`crate::entries::exit_write_budget`]).
pub(crate) struct ExitTable {
    blocks: HashMap<Snapshot, Block>,
    order: Vec<(Snapshot, Block)>,
    writes: usize,
    budget: usize,
}

impl ExitTable {
    /// An empty table allowing `budget` register writes.
    pub fn new(budget: usize) -> ExitTable {
        ExitTable { blocks: HashMap::new(), order: Vec::new(), writes: 0, budget }
    }

    /// `Some(budget)` once the exits need more writes than the budget: lowering stops and the
    /// body stays in the interpreter.
    pub fn over_budget(&self) -> Option<usize> {
        (self.writes > self.budget).then_some(self.budget)
    }
}

/// The reason a failed tag test of `tag` is counted under.
pub(crate) fn not_a(tag: Tag) -> DeoptReason {
    match tag {
        Tag::Float => DeoptReason::NotFloat,
        Tag::Bool => DeoptReason::NotBool,
        Tag::Str => DeoptReason::NotString,
        Tag::Array => DeoptReason::NotArray,
        _ => DeoptReason::NotInt,
    }
}

impl Emitter<'_, '_, '_> {
    /// The snapshot of a side exit to `pc` (entered from `pred`) for `reason`, with the live
    /// registers `live` of state `st`.
    pub fn snapshot(&self, pc: u32, pred: u32, reason: DeoptReason, st: &State, live: RegSet) -> Snapshot {
        Snapshot { pc, pred, reason, refund: self.charged_ahead(pc, reason), writes: Snapshot::writes_for(st, live, self.write_through) }
    }

    /// The snapshot of a side exit inside the instruction `at` for `reason`: it runs again.
    pub fn snapshot_at(&self, at: &At, reason: DeoptReason) -> Snapshot {
        self.snapshot(at.pc, NO_PRED, reason, at.before, at.live)
    }

    /// The cold block of the side exit described by `snap` (created at its first use).
    fn exit_block(&mut self, snap: Snapshot) -> Block {
        if let Some(&b) = self.exits.blocks.get(&snap) {
            return b;
        }
        let b = self.b.create_block();
        self.b.set_cold_block(b);
        self.exits.writes += snap.writes.len();
        self.exits.blocks.insert(snap.clone(), b);
        self.exits.order.push((snap, b));
        b
    }

    /// A guard: side-exits as `snap` says when `cond` is true, else continues.
    pub fn side_exit_if(&mut self, cond: ClifValue, snap: Snapshot) {
        let exit = self.exit_block(snap);
        let cont = self.b.create_block();
        self.b.ins().brif(cond, exit, &[], cont, &[]);
        self.resume_at(cont);
    }

    /// Side-exits as `snap` says, unconditionally (ends the current block).
    pub fn side_exit(&mut self, snap: Snapshot) {
        let exit = self.exit_block(snap);
        self.b.ins().jump(exit, &[]);
    }

    /// In stress mode, the first execution of guard `id` ([`stress_id`]) side-exits with
    /// `snap` (a snapshot for [`DeoptReason::Stress`]).
    pub fn stress_guard(&mut self, id: u32, snap: Snapshot) {
        if !self.req.stress {
            return;
        }
        debug_assert_eq!(snap.reason, DeoptReason::Stress);
        let flags_ptr = self.b.ins().load(self.ptr, ctx_flags(), self.ctx, rt::OFF_STRESS_FLAGS);
        let addr = self.b.ins().iadd_imm_s(flags_ptr, id as i64);
        let seen = self.b.ins().uload8(types::I32, flags(), addr, 0);
        let first = self.b.ins().icmp_imm_s(IntCC::Equal, seen, 0);
        let cont = self.cold_if(first);
        let one = self.b.ins().iconst(types::I8, 1);
        self.b.ins().store(flags(), one, addr, 0);
        self.side_exit(snap);
        self.resume_at(cont);
    }

    /// The tag test of a guard on the value at `addr + off` (a frame slot or an array
    /// element), side-exiting with `snap` (a snapshot for [`not_a`] `tag`) when it fails, then
    /// the unboxed payload: f64 for floats, the bool byte, else the i64 word. `mem`: the flags of
    /// the memory ([`frame_flags`] for a slot, [`flags`] for an element).
    pub fn check_and_unbox_at(&mut self, addr: ClifValue, off: i32, tag: Tag, snap: Snapshot, mem: MemFlags) -> ClifValue {
        let t = self.b.ins().load(types::I64, mem, addr, off + TAG_OFFSET);
        let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, t, tag as i64);
        self.side_exit_if(bad, snap);
        let at = off + PAYLOAD_OFFSET;
        match tag {
            Tag::Float => self.b.ins().load(types::F64, mem, addr, at),
            Tag::Bool => self.b.ins().uload8(types::I64, mem, addr, at),
            _ => self.b.ins().load(types::I64, mem, addr, at),
        }
    }

    /// [`Emitter::check_and_unbox_at`] for the slot of `r`: a guard that it holds `tag`,
    /// resuming at `pc` from `pred` with the live registers `live` of `st` when it does not.
    pub fn check_and_unbox(&mut self, r: u8, tag: Tag, pc: u32, pred: u32, st: &State, live: RegSet) -> ClifValue {
        let snap = self.snapshot(pc, pred, not_a(tag), st, live);
        let fp = self.fp();
        self.check_and_unbox_at(fp, slot_offset(r as u32), tag, snap, frame_flags())
    }

    /// Guard `slot` of the instruction `at`: that the slot of `r` holds `tag` (with its stress
    /// guard), then the payload.
    pub fn guard_unbox(&mut self, at: &At, r: u8, tag: Tag, slot: GuardSlot) -> ClifValue {
        let snap = self.snapshot_at(at, DeoptReason::Stress);
        self.stress_guard(stress_id(at.pc, slot), snap);
        self.check_and_unbox(r, tag, at.pc, NO_PRED, at.before, at.live)
    }

    /// Operand `r` of the instruction `at` as the specialised type, obtained as `o` (guarded
    /// as guard `slot`); a guarded operand's unboxed value is defined in its variables
    /// ([`crate::spec::transfer::refine`]).
    pub fn get_operand(&mut self, at: &At, r: u8, spec: Spec, o: Operand, slot: GuardSlot) -> ClifValue {
        match o {
            Operand::Ready => match spec {
                Spec::Float => self.b.use_var(self.fvars[r as usize]),
                _ => self.b.use_var(self.ivars[r as usize]),
            },
            Operand::IntToFloat => {
                let i = self.b.use_var(self.ivars[r as usize]);
                self.b.ins().fcvt_from_sint(types::F64, i)
            }
            Operand::Guard(tag) => {
                let v = self.guard_unbox(at, r, tag, slot);
                match tag {
                    Tag::Float => self.b.def_var(self.fvars[r as usize], v),
                    _ => self.b.def_var(self.ivars[r as usize], v),
                }
                v
            }
            Operand::GuardIntToFloat => {
                let v = self.guard_unbox(at, r, Tag::Int, slot);
                self.b.def_var(self.ivars[r as usize], v);
                self.b.ins().fcvt_from_sint(types::F64, v)
            }
        }
    }

    /// Emits every side exit recorded so far, after the body: give back fuel charged ahead,
    /// write the snapshot's registers to their slots, record the position and reason in the
    /// context, and jump to the function's one deoptimization tail, which returns what the
    /// interpreter returns when it finishes the activation (`mdvm_deopt_exit`).
    pub fn emit_exits(&mut self) {
        let order = std::mem::take(&mut self.exits.order);
        self.exits.blocks.clear();
        if order.is_empty() {
            return;
        }
        // The exits reach the tail through a tree of empty join blocks, at most `FAN_IN`
        // predecessors each: the register allocator computes dominators by walking up from
        // every predecessor of a join, and one tail with an exit from each of a long body's
        // guards made that quadratic in the body (a tenth of the compile time of 1,000 guards).
        const FAN_IN: usize = 16;
        let mut levels: Vec<Vec<Block>> = Vec::new();
        let mut width = order.len();
        loop {
            width = width.div_ceil(FAN_IN);
            levels.push((0..width).map(|_| self.b.create_block()).collect());
            if width == 1 {
                break;
            }
        }
        for (i, (snap, block)) in order.into_iter().enumerate() {
            // Every branch to it has been emitted: sealing first lets the SSA construction
            // read each variable from the predecessors without a block parameter when they agree.
            self.b.seal_block(block);
            self.b.switch_to_block(block);
            if self.req.metered && snap.refund > 0 {
                let fuel = self.b.ins().load(types::I64, ctx_flags(), self.ctx, rt::OFF_FUEL);
                let back = self.b.ins().iadd_imm_s(fuel, snap.refund as i64);
                self.b.ins().store(ctx_flags(), back, self.ctx, rt::OFF_FUEL);
            }
            // The window's address and the tag words are made once per exit, not per write:
            // an exit may write every live register, and the size of the exits is most of a
            // large body's compile time.
            let mut fp = None;
            let mut tags: [Option<ClifValue>; 3] = [None; 3];
            for &(r, w) in &snap.writes {
                match w {
                    SlotWrite::Int | SlotWrite::Bool | SlotWrite::Float => {
                        let (tag, i) = match w {
                            SlotWrite::Int => (Tag::Int, 0),
                            SlotWrite::Bool => (Tag::Bool, 1),
                            _ => (Tag::Float, 2),
                        };
                        let t = *tags[i].get_or_insert_with(|| self.b.ins().iconst(types::I64, tag as i64));
                        let p = if tag == Tag::Float {
                            let f = self.b.use_var(self.fvars[r as usize]);
                            self.b.ins().bitcast(types::I64, MemFlags::new(), f)
                        } else {
                            self.b.use_var(self.ivars[r as usize])
                        };
                        let addr = match fp {
                            Some(a) => a,
                            None => *fp.insert(self.fp()),
                        };
                        self.store_words_at(addr, slot_offset(r as u32), t, p);
                    }
                    SlotWrite::Empty => self.store_tag(r, Tag::Empty),
                    SlotWrite::Const(k) => {
                        let base = self.base;
                        self.load_const_into(base, r as u32, k);
                    }
                }
            }
            // The position and reason go to the context and the call sequence is shared: a
            // body has an exit per guard, and one call per exit was most of the code the
            // register allocator saw.
            let has_pred = snap.pred != NO_PRED;
            let at = self.b.ins().iconst(types::I64, rt::exit_word(snap.pc, snap.reason, has_pred) as i64);
            self.b.ins().store(ctx_flags(), at, self.ctx, rt::OFF_EXIT_AT);
            if has_pred {
                let pred = self.b.ins().iconst(types::I64, snap.pred as i64);
                self.b.ins().store(ctx_flags(), pred, self.ctx, rt::OFF_EXIT_PRED);
            }
            self.b.ins().jump(levels[0][i / FAN_IN], &[]);
        }
        for l in 0..levels.len() {
            for (j, &join) in levels[l].iter().enumerate() {
                self.b.set_cold_block(join);
                self.b.seal_block(join);
                self.b.switch_to_block(join);
                if let Some(up) = levels.get(l + 1) {
                    self.b.ins().jump(up[j / FAN_IN], &[]);
                }
            }
        }
        {
            // The tail (the one block of the last level, current now).
            let body = self.b.ins().iconst(types::I32, self.req.body as i64);
            let depth = self.depth;
            self.store_depth(depth);
            let (ctx, base) = (self.ctx, self.base);
            let call = self.call_helper(Helper::DeoptExit, &[ctx, body, base]);
            let res = self.b.inst_results(call).to_vec();
            self.b.ins().return_(&res);
        }
    }
}

