//! Calls: to a compiled callee's typed entry directly, through the entry table to its generic
//! entry, or into the interpreter; dynamic callees through the runtime. Also the call result's
//! guard, unwinding, the native stack check, and calls of runtime helpers.
//!
//! The callee's window starts right after this one (`base + nregs`); the caller checks and
//! counts the callee's frame (the native code contract, [`mdvm_runtime::native`]).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Block, BlockArg, FuncRef, Inst, InstBuilder, MemFlagsData as MemFlags, Value as ClifValue};
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{
    self as rt, DeoptReason, CALL_BLOCKED, CALL_COUNT_STRIDE, CALL_SUSPENDED, CALL_UNWIND, ENTRY_STRIDE, NO_PRED, RET_NONE,
    RET_SUSPEND, RET_UNWIND,
};
use mdvm_runtime::value::Tag;

use crate::entries::{entry_signature, typed_signature};
use crate::helpers::{helper_signature, import_function};
use crate::lower::frame::{ctx_flags, flags, slot_offset};
use crate::lower::{At, Emitter};
use crate::spec::plan::Plan;
use crate::spec::state::{Slot, State, Val};
use crate::spec::transfer;

impl Emitter<'_, '_, '_> {
    /// Calls runtime helper `h` with `args` (imported into this function at its first use).
    pub fn call_helper(&mut self, h: Helper, args: &[ClifValue]) -> Inst {
        let fref = match self.helpers.get(&h) {
            Some(&f) => f,
            None => {
                let sig = helper_signature(h, self.b.func.signature.call_conv, self.ptr);
                let f = import_function(self.b.func, self.req.helper_ids[h as usize], sig, false);
                self.helpers.insert(h, f);
                f
            }
        };
        self.forget_slot_tags();
        self.b.ins().call(fref, args)
    }

    /// Returns [`RET_UNWIND`] (the run is ending).
    pub fn return_unwind(&mut self) {
        let t = self.iconst(RET_UNWIND as i64);
        let z = self.iconst(0);
        self.b.ins().return_(&[t, z]);
    }

    /// `CALL_R` planned [`Plan::Call`]; `ops` is the state once its operands are obtained.
    pub fn emit_call(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Call { callee, func, dst, ref args, expect } = *plan else { unreachable!("a call plan") };
        let (ctx, base) = (self.ctx, self.base);
        let Some(callee) = callee else {
            // Dynamic callee: the runtime performs the whole call on the slots (and checks and
            // counts the callee's frame itself).
            self.spill_regs(&transfer::dynamic_call_regs(func, dst, args), at.before);
            let body = self.b.ins().iconst(types::I32, self.req.body as i64);
            let pcv = self.b.ins().iconst(types::I32, at.pc as i64);
            let depth = self.depth;
            self.store_depth(depth);
            let call = self.call_helper(Helper::CallDynamic, &[ctx, body, pcv, base]);
            let status = self.b.inst_results(call)[0];
            if self.req.program.uses_processes() {
                let suspended = self.b.ins().icmp_imm_s(IntCC::Equal, status, CALL_SUSPENDED as i64);
                let snap = self.suspend_snapshot(at.pc, at.before);
                self.side_exit_if(suspended, snap);
                let blocked = self.b.ins().icmp_imm_s(IntCC::Equal, status, CALL_BLOCKED as i64);
                let snap = self.snapshot_at(at, DeoptReason::Blocked);
                self.side_exit_if(blocked, snap);
            }
            let unwinding = self.b.ins().icmp_imm_s(IntCC::Equal, status, CALL_UNWIND as i64);
            self.unwind_if(unwinding, None);
            return;
        };
        let cb = &self.req.program.bodies[callee as usize];
        let (callee_nregs, callee_live) = (cb.nregs, cb.entry_live);
        let typed = self.typed_call(callee, args, at.before);
        // Depth limit: the interpreter raises the error at this call.
        let depth = self.depth;
        let max = self.b.ins().load(types::I64, ctx_flags(), ctx, rt::OFF_MAX_DEPTH);
        let full = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, depth, max);
        let snap = self.snapshot_at(at, DeoptReason::Depth);
        self.side_exit_if(full, snap);
        // The callee's window (the stack was made large enough for it at entry, and only grows).
        let nregs = self.s.nregs as u32;
        let new_base = self.b.ins().iadd_imm_s(base, nregs as i64);
        // Arguments the callee reads (its other slots must stay empty); a typed entry takes
        // its typed parameters unboxed instead.
        let typed_regs: Vec<u8> = typed.as_ref().map(|(_, p, _)| p.iter().map(|&(r, _)| r).collect()).unwrap_or_default();
        for (i, &r) in args.iter().enumerate() {
            if i as u32 >= callee_nregs || !callee_live.contains(i as u8) || typed_regs.contains(&(i as u8)) {
                continue;
            }
            let off = slot_offset(nregs + i as u32);
            let reg = at.before[r as usize];
            match reg.val {
                Val::Int | Val::Bool | Val::Float => {
                    let (t, p) = self.unboxed_words(r, reg.val);
                    let fp = self.fp();
                    self.store_words_at(fp, off, t, p);
                }
                Val::Empty | Val::Dead => {}
                Val::Fn(_, k) => self.load_const_into(new_base, i as u32, k),
                // The callee's slot is empty: nothing to release first.
                Val::Mem | Val::Array => self.copy_slot(r, (new_base, i as u32, off), false),
            }
        }
        // The callee's frame is counted: a typed entry takes the count as an argument, other
        // callees read it from `ctx.depth`.
        let d1 = self.b.ins().iadd_imm_s(depth, 1);
        // Call count (for stats: counted when the run is metered).
        if self.req.metered {
            let counts = self.b.ins().load(self.ptr, ctx_flags(), ctx, rt::OFF_CALL_COUNTS);
            let c = self.b.ins().load(types::I64, flags(), counts, callee as i32 * CALL_COUNT_STRIDE);
            let c1 = self.b.ins().iadd_imm_s(c, 1);
            self.b.ins().store(flags(), c1, counts, callee as i32 * CALL_COUNT_STRIDE);
        }
        let joined = self.b.create_block();
        self.b.append_block_param(joined, types::I64);
        self.b.append_block_param(joined, types::I64);
        // No native stack check here: a callee with calls of its own checks at its typed
        // entry (and a generic entry only calls its typed entry), and the interpreter checks
        // for itself.
        let entries = self.b.ins().load(self.ptr, ctx_flags(), ctx, rt::OFF_ENTRIES);
        let entry = self.b.ins().load(self.ptr, flags(), entries, callee as i32 * ENTRY_STRIDE);
        if let Some((fref, params, values)) = typed {
            // The callee's typed entry, directly, while it is current: the entry table still
            // holds the generic entry compiled with it. A callee discarded since (its guards
            // kept failing) is called through the entry table like any other, its typed
            // arguments boxed into its window.
            let generic = self.req.typed[&callee].generic;
            let gref = import_function(self.b.func, generic, entry_signature(self.b.func.signature.call_conv), true);
            let current = self.b.ins().func_addr(self.ptr, gref);
            let same = self.b.ins().icmp(IntCC::Equal, entry, current);
            let direct = self.b.create_block();
            let stale = self.b.create_block();
            self.b.ins().brif(same, direct, &[], stale, &[]);
            self.resume_at(stale);
            self.box_typed_params(nregs, &params, &values);
            self.call_through_table(callee, (entry, new_base, d1), joined);
            self.resume_at(direct);
            let mut call_args = vec![ctx, new_base, d1];
            call_args.extend(values.iter().copied());
            self.forget_slot_tags();
            let call = self.b.ins().call(fref, &call_args);
            self.jump_with_results(call, joined);
        } else {
            self.call_through_table(callee, (entry, new_base, d1), joined);
        }
        self.resume_at(joined);
        let tag = self.b.block_params(joined)[0];
        let payload = self.b.block_params(joined)[1];
        if self.req.program.uses_processes() {
            let suspended = self.b.ins().icmp_imm_s(IntCC::Equal, tag, RET_SUSPEND as i64);
            let snap = self.suspend_snapshot(at.pc, ops);
            self.side_exit_if(suspended, snap);
        }
        self.finish_call(at, dst, expect, (tag, payload), ops);
    }

    /// The side exit after the call at `pc` (state `st` before its result) when the callee
    /// suspended its process ([`RET_SUSPEND`]): this activation becomes an interpreter frame
    /// that goes on after the call when the callee's frames return. Like the debugger's exit,
    /// it comes before the fuel of the instructions after the call is charged.
    fn suspend_snapshot(&self, pc: u32, st: &State) -> crate::lower::exits::Snapshot {
        self.snapshot(pc + 1, NO_PRED, DeoptReason::Suspend, st, self.s.live_after(pc))
    }

    /// Calls `callee` through its entry-table slot (`entry`, loaded): its generic entry when
    /// compiled, else the interpreter; the callee's window at `new_base`, the frame count `d1`
    /// (the callee's frame counted). Jumps to `joined` with the result.
    fn call_through_table(&mut self, callee: u32, (entry, new_base, d1): (ClifValue, ClifValue, ClifValue), joined: Block) {
        let ctx = self.ctx;
        {
            // Compiled callee (its generic entry), or the interpreter.
            self.store_depth(d1);
            let native = self.b.create_block();
            let interp = self.b.create_block();
            self.b.ins().brif(entry, native, &[], interp, &[]);
            self.resume_at(native);
            let sig = match self.entry_sig {
                Some(s) => s,
                None => {
                    let s = self.b.import_signature(entry_signature(self.b.func.signature.call_conv));
                    self.entry_sig = Some(s);
                    s
                }
            };
            self.forget_slot_tags();
            let call = self.b.ins().call_indirect(sig, entry, &[ctx, new_base]);
            self.jump_with_results(call, joined);
            self.resume_at(interp);
            let cbody = self.b.ins().iconst(types::I32, callee as i64);
            let call = self.call_helper(Helper::CallInterp, &[ctx, cbody, new_base]);
            self.jump_with_results(call, joined);
        }
    }

    /// After a call returned (`tag`, `payload`): unwinds when the run is ending, else writes
    /// the result to `dst`, unboxed behind a type guard when `expect` is given (another type
    /// is stored and side-exits after the call). `ops` is the state before the result.
    pub fn finish_call(&mut self, at: &At, dst: u8, expect: Option<Tag>, (tag, payload): (ClifValue, ClifValue), ops: &State) {
        let unwinding = self.b.ins().icmp_imm_s(IntCC::Equal, tag, RET_UNWIND as i64);
        self.unwind_if(unwinding, Some((tag, payload)));
        match expect {
            Some(t) => {
                // Anything else than the expected type: store it (or keep dst for no value)
                // and let the interpreter go on after the call.
                let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, tag, t as i64);
                let cont = self.cold_if(bad);
                self.store_result(dst, tag, payload, ops);
                let mut after = ops.clone();
                transfer::define_in_slot(&mut after, dst);
                let mut live = self.s.live_after(at.pc);
                live.remove(dst);
                let snap = self.snapshot(at.pc + 1, NO_PRED, DeoptReason::ResultType, &after, live);
                self.side_exit(snap);
                self.resume_at(cont);
                match t {
                    Tag::Float => {
                        let f = self.b.ins().bitcast(types::F64, MemFlags::new(), payload);
                        self.def_float(dst, f, ops);
                    }
                    Tag::Bool => {
                        let v = self.b.ins().band_imm_s(payload, 1);
                        self.def_int(dst, v, ops);
                    }
                    _ => self.def_int(dst, payload, ops),
                }
            }
            None => self.store_result(dst, tag, payload, ops),
        }
    }

    /// After the call at `pc` (state `st` with its result): side-exits to the instruction after
    /// it when a debugger has pinned this body to the interpreter since the code was entered
    /// ([`mdvm_runtime::native::NativeContext::pinned`]), so that the interpreter runs the
    /// rest of the activation and stops at its breakpoints. Like the result guard's exit, it
    /// comes before the fuel of the instructions after the call is charged.
    pub fn exit_if_pinned(&mut self, pc: u32, st: &State) {
        let pinned = self.b.ins().load(self.ptr, ctx_flags(), self.ctx, rt::OFF_PINNED);
        let flag = self.b.ins().uload8(types::I64, flags(), pinned, self.req.body as i32);
        let set = self.b.ins().icmp_imm_s(IntCC::NotEqual, flag, 0);
        let snap = self.snapshot(pc + 1, NO_PRED, DeoptReason::Debugger, st, self.s.live_after(pc));
        self.side_exit_if(set, snap);
    }

    /// The callee's typed entry when it has one and this call's arguments (state `st`) fit
    /// it: every typed parameter's argument is unboxed here with that type (an `Empty`
    /// parameter: known empty or not passed). Returns the imported function, its parameters
    /// and the argument values.
    #[allow(clippy::type_complexity)]
    fn typed_call(&mut self, callee: u32, args: &[u8], st: &State) -> Option<(FuncRef, Vec<(u8, Tag)>, Vec<ClifValue>)> {
        let te = self.req.typed.get(&callee)?.clone();
        let mut values = Vec::new();
        for &(i, t) in &te.params {
            let have = args.get(i as usize).map(|&a| (a, st[a as usize].val));
            match (t, have) {
                (Tag::Empty, None) | (Tag::Empty, Some((_, Val::Empty))) => {}
                (Tag::Int, Some((a, Val::Int))) | (Tag::Bool, Some((a, Val::Bool))) => {
                    values.push(self.b.use_var(self.ivars[a as usize]))
                }
                (Tag::Float, Some((a, Val::Float))) => values.push(self.b.use_var(self.fvars[a as usize])),
                _ => return None,
            }
        }
        let fref = match self.callees.get(&callee) {
            Some(&f) => f,
            None => {
                let sig = typed_signature(self.b.func.signature.call_conv, &te.params);
                let f = import_function(self.b.func, te.func, sig, true);
                self.callees.insert(callee, f);
                f
            }
        };
        Some((fref, te.params, values))
    }

    /// At a typed entry (parameters `params` arriving as `values`): when the native stack
    /// pointer is below `ctx.stack_limit`, boxes the parameters into their slots, writes the
    /// frame count to `ctx.depth` (where generic entries read it) and returns what the generic
    /// entry `generic` returns when run on a new stack segment (`mdvm_call_on_new_stack`; it
    /// enters this typed entry again, far from the limit).
    pub fn switch_stack_if_low(&mut self, generic: u32, params: &[(u8, Tag)], values: &[ClifValue]) {
        let sp = self.b.ins().get_stack_pointer(self.ptr);
        let limit = self.b.ins().load(types::I64, ctx_flags(), self.ctx, rt::OFF_STACK_LIMIT);
        let low = self.b.ins().icmp(IntCC::UnsignedLessThan, sp, limit);
        let cont = self.cold_if(low);
        self.box_typed_params(0, params, values);
        let depth = self.depth;
        self.store_depth(depth);
        let sig = entry_signature(self.b.func.signature.call_conv);
        let fref = import_function(self.b.func, generic, sig, true);
        let entry = self.b.ins().func_addr(self.ptr, fref);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.call_helper(Helper::CallOnNewStack, &[ctx, entry, base]);
        let res = self.b.inst_results(call).to_vec();
        self.b.ins().return_(&res);
        self.resume_at(cont);
    }

    /// Writes typed parameters `params` (as a typed entry takes them: `values`, one per
    /// parameter that is not `Empty`) boxed into the slots of the window `window` slots above
    /// this one's (0: this window).
    fn box_typed_params(&mut self, window: u32, params: &[(u8, Tag)], values: &[ClifValue]) {
        let mut next = values.iter();
        for &(r, t) in params {
            if t == Tag::Empty {
                continue;
            }
            let v = *next.next().expect("typed argument");
            let payload = if t == Tag::Float { self.b.ins().bitcast(types::I64, MemFlags::new(), v) } else { v };
            let tag = self.iconst(t as i64);
            let fp = self.fp();
            self.store_words_at(fp, slot_offset(window + r as u32), tag, payload);
        }
    }

    /// Jumps to `joined` passing the results of `call` (a call's (tag, payload)).
    fn jump_with_results(&mut self, call: Inst, joined: Block) {
        let r = self.b.inst_results(call).to_vec();
        let args: Vec<BlockArg> = r.iter().map(|v| (*v).into()).collect();
        self.b.ins().jump(joined, &args);
    }

    /// Writes a call result (tag, payload) into the slot of `dst` (no value: `dst` keeps its
    /// value, made visible in its slot); `st` is the state before the result is written.
    fn store_result(&mut self, dst: u8, tag: ClifValue, payload: ClifValue, st: &State) {
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, tag, RET_NONE as i64);
        let keep = self.b.create_block();
        let write = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(none, keep, &[], write, &[]);
        self.resume_at(keep);
        self.spill(dst, st[dst as usize]);
        self.b.ins().jump(done, &[]);
        self.resume_at(write);
        if st[dst as usize].slot == Slot::Owned {
            self.release_slot(dst);
        }
        let fp = self.fp();
        self.store_words_at(fp, slot_offset(dst as u32), tag, payload);
        self.b.ins().jump(done, &[]);
        self.resume_at(done);
    }

    /// Returns `RET_UNWIND` at once when `cond` holds. `ret` is a (tag, payload) pair known
    /// to be (`RET_UNWIND`, anything) when `cond` holds (a callee's result), returned as is;
    /// `None` returns fresh constants. (Returning the callee's own words keeps a constant from
    /// being shared by every call site and held in a callee-saved register across calls.)
    fn unwind_if(&mut self, cond: ClifValue, ret: Option<(ClifValue, ClifValue)>) {
        let cont = self.cold_if(cond);
        match ret {
            Some((t, z)) => {
                self.b.ins().return_(&[t, z]);
            }
            None => self.return_unwind(),
        }
        self.resume_at(cont);
    }
}
