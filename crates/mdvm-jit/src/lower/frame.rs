//! The frame: register slots in the interpreter's window, as compiled code reads and writes
//! them.
//!
//! Register `rN` of the window at `base` is the [`mdvm_runtime::value::Value`] at
//! `ctx.stack + (base + N) * VALUE_SIZE`: its tag word at `TAG_OFFSET`, its payload at
//! `PAYLOAD_OFFSET` ([`mdvm_runtime::value`]). The stack may move at any call out of native
//! code, so the address of `r0` is computed where it is used.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AliasRegion, InstBuilder, MemFlagsData as MemFlags, Value as ClifValue};
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{self as rt, RET_NONE};
use mdvm_runtime::value::{Tag, PAYLOAD_OFFSET, TAG_OFFSET, VALUE_SIZE};

use crate::entries::Entry;
use crate::lower::Emitter;
use crate::spec::state::{Reg, Slot, State, Val};

/// Memory flags of accesses to runtime objects (the `Rc` allocations of strings, arrays and
/// dicts and their buffers, call counts, entry addresses, stress flags): aligned, never
/// trapping (the addresses are valid by the native code contract), and in their own alias
/// region ([`declare_alias_regions`]): each is an allocation of its own, never the context
/// nor the value stack, so a store to an array element or a reference count does not make
/// Cranelift load `ctx.stack` again.
pub(crate) fn flags() -> MemFlags {
    MemFlags::trusted().with_alias_region(Some(AliasRegion::from_u32(HEAP_REGION)))
}

/// The alias region of the [`rt::NativeContext`]'s fields ([`declare_alias_regions`]).
const CTX_REGION: u32 = 0;
/// The alias region of the value stack's slots: every register window ([`declare_alias_regions`]).
const FRAME_REGION: u32 = 1;
/// The alias region of runtime objects ([`flags`]).
const HEAP_REGION: u32 = 2;

/// Declares the three alias regions of `func`, before any of its memory accesses: the
/// context's fields, the value stack and runtime objects. They never overlap, and every
/// access to any is tagged with its region ([`ctx_flags`], [`frame_flags`], [`flags`]; only the
/// interrupt word's atomic load has none). Cranelift's alias analysis then keeps what it
/// loaded from one across stores to the others: the value stack's address (`ctx.stack`) is
/// loaded once per stretch of code without calls, not once per slot access.
pub(crate) fn declare_alias_regions(func: &mut cranelift_codegen::ir::Function) {
    use cranelift_codegen::ir::AliasRegionData;
    for (n, description) in [(CTX_REGION, "ctx"), (FRAME_REGION, "frame"), (HEAP_REGION, "heap")] {
        let r = func.dfg.alias_regions.insert(AliasRegionData { user_id: n, description: description.into() });
        debug_assert_eq!(r, AliasRegion::from_u32(n));
    }
}

/// Memory flags of an access to a field of the context ([`flags`], in the context's region).
pub(crate) fn ctx_flags() -> MemFlags {
    MemFlags::trusted().with_alias_region(Some(AliasRegion::from_u32(CTX_REGION)))
}

/// Memory flags of an access to a register slot of the value stack ([`flags`], in the value
/// stack's region).
pub(crate) fn frame_flags() -> MemFlags {
    MemFlags::trusted().with_alias_region(Some(AliasRegion::from_u32(FRAME_REGION)))
}

/// The byte offset of register `r`'s slot from `r0`'s.
pub(crate) fn slot_offset(r: u32) -> i32 {
    r as i32 * VALUE_SIZE
}

impl Emitter<'_, '_, '_> {
    /// The address of r0's slot, computed where it is used: the value stack may move at any
    /// call out of native code, and keeping no frame pointer live across calls leaves the
    /// registers to the values.
    pub fn fp(&mut self) -> ClifValue {
        let stack = self.b.ins().load(self.ptr, ctx_flags(), self.ctx, rt::OFF_STACK);
        self.b.ins().iadd(stack, self.base_offset)
    }

    /// Makes `ctx.depth` say `depth` (before calling runtime code that reads it).
    pub fn store_depth(&mut self, depth: ClifValue) {
        self.b.ins().store(ctx_flags(), depth, self.ctx, rt::OFF_DEPTH);
    }

    pub fn load_tag(&mut self, r: u8) -> ClifValue {
        let fp = self.fp();
        self.b.ins().load(types::I64, frame_flags(), fp, slot_offset(r as u32) + TAG_OFFSET)
    }

    pub fn load_payload(&mut self, r: u8) -> ClifValue {
        let fp = self.fp();
        self.b.ins().load(types::I64, frame_flags(), fp, slot_offset(r as u32) + PAYLOAD_OFFSET)
    }

    pub fn store_tag(&mut self, r: u8, tag: Tag) {
        self.forget_slot_tags();
        let fp = self.fp();
        let t = self.b.ins().iconst(types::I64, tag as i64);
        self.b.ins().store(frame_flags(), t, fp, slot_offset(r as u32) + TAG_OFFSET);
    }

    /// Stores the two words of a value at `addr + off`, a slot of the value stack.
    pub fn store_words_at(&mut self, addr: ClifValue, off: i32, tag: ClifValue, payload: ClifValue) {
        self.forget_slot_tags();
        self.b.ins().store(frame_flags(), tag, addr, off + TAG_OFFSET);
        self.b.ins().store(frame_flags(), payload, addr, off + PAYLOAD_OFFSET);
    }

    /// The two words of an unboxed register (tag, payload), for boxing (zeros, i.e. `Empty`,
    /// for anything not unboxed).
    pub fn unboxed_words(&mut self, r: u8, val: Val) -> (ClifValue, ClifValue) {
        match val {
            Val::Int | Val::Bool => {
                let t = self.iconst(if val == Val::Int { Tag::Int } else { Tag::Bool } as i64);
                (t, self.b.use_var(self.ivars[r as usize]))
            }
            Val::Float => {
                let t = self.iconst(Tag::Float as i64);
                let f = self.b.use_var(self.fvars[r as usize]);
                (t, self.b.ins().bitcast(types::I64, MemFlags::new(), f))
            }
            _ => {
                let z = self.iconst(0);
                (z, z)
            }
        }
    }

    /// Makes the slot of `r` (state `reg`) hold its value, for unboxed, empty and lazily
    /// written values; a slot that holds it already is left alone. A written function name
    /// leaves the slot owning it ([`crate::spec::transfer::materialize`]).
    pub fn spill(&mut self, r: u8, reg: Reg) {
        match reg.val {
            Val::Int | Val::Bool | Val::Float => {
                let (t, p) = self.unboxed_words(r, reg.val);
                let fp = self.fp();
                self.store_words_at(fp, slot_offset(r as u32), t, p);
            }
            Val::Empty => {
                if reg.slot != Slot::Empty {
                    self.store_tag(r, Tag::Empty);
                }
            }
            Val::Fn(_, k) => {
                let base = self.base;
                self.load_const_into(base, r as u32, k);
            }
            Val::Mem | Val::Array | Val::Dead => {}
        }
    }

    /// [`Emitter::spill`] of each distinct register of `regs` in state `st`, so that a helper
    /// sees their values in slots.
    pub fn spill_regs(&mut self, regs: &[u8], st: &State) {
        for (i, &r) in regs.iter().enumerate() {
            if !regs[..i].contains(&r) {
                self.spill(r, st[r as usize]);
            }
        }
    }

    /// `mdvm_load_const`: constant `k` into slot `slot` of the window at `base`.
    pub fn load_const_into(&mut self, base: ClifValue, slot: u32, k: u16) {
        let rr = self.b.ins().iconst(types::I32, slot as i64);
        let kk = self.b.ins().iconst(types::I32, k as i64);
        let ctx = self.ctx;
        self.call_helper(Helper::LoadConst, &[ctx, base, rr, kk]);
    }

    /// Releases what an owned slot holds (leaving `Empty` or a plain value). A heap value with
    /// other references loses one in machine code (its `Rc` strong count decremented, the
    /// slot set to `Empty`); the last reference is dropped by `mdvm_release`, which frees it.
    pub fn release_slot(&mut self, r: u8) {
        let tag = self.load_tag(r);
        let heap = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, tag, Tag::FIRST_HEAP as i64);
        let Some(layout) = mdvm_runtime::value::array_layout() else {
            let done = self.cold_if(heap);
            self.call_release(r);
            self.b.ins().jump(done, &[]);
            self.resume_at(done);
            return;
        };
        let (counted, shared, last, done) =
            (self.b.create_block(), self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(last);
        self.b.ins().brif(heap, counted, &[], done, &[]);
        self.resume_at(counted);
        let p = self.load_payload(r);
        let strong = self.b.ins().load(types::I64, flags(), p, layout.strong);
        let alone = self.b.ins().icmp_imm_u(IntCC::Equal, strong, 1);
        self.b.ins().brif(alone, last, &[], shared, &[]);
        self.resume_at(shared);
        let fewer = self.b.ins().iadd_imm_s(strong, -1);
        self.b.ins().store(flags(), fewer, p, layout.strong);
        self.store_tag(r, Tag::Empty);
        self.b.ins().jump(done, &[]);
        self.resume_at(last);
        self.call_release(r);
        self.b.ins().jump(done, &[]);
        self.resume_at(done);
    }

    /// `mdvm_release` of the slot of `r`.
    fn call_release(&mut self, r: u8) {
        let rr = self.b.ins().iconst(types::I32, r as i64);
        let (ctx, base) = (self.ctx, self.base);
        self.call_helper(Helper::Release, &[ctx, base, rr]);
    }

    /// Resets the slot of `r` to `Empty` on return.
    fn clear_slot(&mut self, r: u8, slot: Slot) {
        // Written through, a slot the state calls empty may hold a plain value.
        let slot = if self.write_through { slot.max(Slot::Plain) } else { slot };
        match slot {
            Slot::Empty => {}
            Slot::Plain => self.store_tag(r, Tag::Empty),
            Slot::Owned => {
                self.release_slot(r);
                self.store_tag(r, Tag::Empty);
            }
        }
    }

    /// Before `r` is defined unboxed (state `st` just before the definition): an owned slot
    /// gives up its value ([`crate::spec::transfer::define_unboxed`]).
    pub fn release_for_def(&mut self, r: u8, st: &State) {
        if st[r as usize].slot == Slot::Owned {
            self.release_slot(r);
        }
    }

    /// With [`Emitter::write_through`], stores register `r` (state `reg`, just defined) to its
    /// slot when it is unboxed or empty, so that side exits need not. (The state's [`Slot`]
    /// is not updated: a slot it calls empty may hold a written-through plain value, which
    /// only matters where the window is cleared, [`Emitter::emit_return`].)
    pub fn write_through_def(&mut self, r: u8, reg: Reg) {
        if !self.write_through {
            return;
        }
        let tag = match reg.val {
            Val::Int => Tag::Int,
            Val::Bool => Tag::Bool,
            Val::Float => Tag::Float,
            Val::Empty => Tag::Empty,
            _ => return,
        };
        let fp = self.fp();
        let off = slot_offset(r as u32);
        if self.slot_tags[r as usize] != Some(tag) {
            let t = self.iconst(tag as i64);
            self.b.ins().store(frame_flags(), t, fp, off + TAG_OFFSET);
        }
        if tag != Tag::Empty {
            let (_, p) = self.unboxed_words(r, reg.val);
            self.b.ins().store(frame_flags(), p, fp, off + PAYLOAD_OFFSET);
        }
        self.slot_tags[r as usize] = Some(tag);
    }

    /// Forgets what [`Emitter::slot_tags`] knows (at a block head or an edge, a call, or a
    /// store to a slot other than a written-through definition).
    pub fn forget_slot_tags(&mut self) {
        if self.write_through {
            self.slot_tags.fill(None);
        }
    }

    /// Defines `r` as the unboxed int or bool `v` (state `st` just before the definition).
    pub fn def_int(&mut self, r: u8, v: ClifValue, st: &State) {
        self.release_for_def(r, st);
        self.b.def_var(self.ivars[r as usize], v);
    }

    /// Defines `r` as the unboxed float `v` (state `st` just before the definition).
    pub fn def_float(&mut self, r: u8, v: ClifValue, st: &State) {
        self.release_for_def(r, st);
        self.b.def_var(self.fvars[r as usize], v);
    }

    /// Copies the value in slot `src` of this window to the slot `to = (window base, register
    /// in that window, byte offset from this frame's r0)`: plain words directly, a heap value
    /// through `mdvm_copy` (which adds its reference and releases what the target held). With
    /// `release_first`, a plain copy first releases what the target slot owns.
    pub fn copy_slot(&mut self, src: u8, to: (ClifValue, u32, i32), release_first: bool) {
        let (dst_base, dst_reg, dst_off) = to;
        let (ctx, base) = (self.ctx, self.base);
        let tag = self.load_tag(src);
        let heap = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, tag, Tag::FIRST_HEAP as i64);
        let slow = self.b.create_block();
        let fast = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(heap, slow, &[], fast, &[]);
        self.resume_at(slow);
        let sr = self.b.ins().iconst(types::I32, src as i64);
        let dr = self.b.ins().iconst(types::I32, dst_reg as i64);
        self.call_helper(Helper::Copy, &[ctx, base, sr, dst_base, dr]);
        self.b.ins().jump(done, &[]);
        self.resume_at(fast);
        if release_first {
            self.release_slot(dst_reg as u8);
        }
        let p = self.load_payload(src);
        let fp = self.fp();
        self.store_words_at(fp, dst_off, tag, p);
        self.b.ins().jump(done, &[]);
        self.resume_at(done);
    }

    /// `dst = src` (`MOVE_R`, and the phis on an edge) in state `st`; the state after it is
    /// [`crate::spec::transfer::copy`]'s.
    pub fn emit_move(&mut self, dst: u8, src: u8, st: &State) {
        if dst == src {
            return;
        }
        match st[src as usize].val {
            Val::Int | Val::Bool => {
                let v = self.b.use_var(self.ivars[src as usize]);
                self.def_int(dst, v, st);
            }
            Val::Float => {
                let v = self.b.use_var(self.fvars[src as usize]);
                self.def_float(dst, v, st);
            }
            // Nothing to compute: the state says what the register is.
            Val::Empty | Val::Fn(..) | Val::Dead => self.release_for_def(dst, st),
            Val::Mem | Val::Array => {
                let owned = st[dst as usize].slot == Slot::Owned;
                let base = self.base;
                self.copy_slot(src, (base, dst as u32, slot_offset(dst as u32)), owned);
            }
        }
    }

    /// [`Plan::MoveOut`] `dst = src` in state `st` (before the move): what `dst` owned is
    /// released, `src`'s two words move to `dst`'s slot and `src`'s slot is left empty; a
    /// known array's view moves with it.
    pub fn emit_move_out(&mut self, dst: u8, src: u8, st: &State) {
        self.release_for_def(dst, st);
        let fp = self.fp();
        let t = self.b.ins().load(types::I64, frame_flags(), fp, slot_offset(src as u32) + TAG_OFFSET);
        let p = self.b.ins().load(types::I64, frame_flags(), fp, slot_offset(src as u32) + PAYLOAD_OFFSET);
        self.store_words_at(fp, slot_offset(dst as u32), t, p);
        let empty = self.iconst(Tag::Empty as i64);
        self.b.ins().store(frame_flags(), empty, fp, slot_offset(src as u32) + TAG_OFFSET);
        if st[src as usize].val == Val::Array {
            let (from, to) = (self.views[src as usize], self.views[dst as usize]);
            for (f, t) in [(from.len, to.len), (from.kind, to.kind), (from.data, to.data), (from.bound, to.bound)] {
                let v = self.b.use_var(f);
                self.b.def_var(t, v);
            }
        }
    }

    /// Returns from the function with the value of `src` (or none) in state `st`, clearing the
    /// window (the native code contract, [`mdvm_runtime::native`]).
    pub fn emit_return(&mut self, src: Option<u8>, st: &State) {
        let (tag, payload) = match src {
            None => (self.iconst(RET_NONE as i64), self.iconst(0)),
            Some(r) => {
                let reg = st[r as usize];
                if let Val::Fn(..) = reg.val {
                    self.spill(r, reg);
                }
                match reg.val {
                    Val::Mem | Val::Array | Val::Fn(..) => {
                        let t = self.load_tag(r);
                        let p = self.load_payload(r);
                        (t, p)
                    }
                    Val::Empty => (self.iconst(0), self.iconst(0)),
                    v => self.unboxed_words(r, v),
                }
            }
        };
        for r in (0..st.len()).map(|r| r as u8) {
            let reg = st[r as usize];
            if Some(r) == src && matches!(reg.val, Val::Mem | Val::Array | Val::Fn(..)) {
                // Its value moves out with the result.
                self.store_tag(r, Tag::Empty);
            } else {
                self.clear_slot(r, reg.slot);
            }
        }
        if matches!(self.req.entry, Entry::Osr { .. }) {
            // Typed callees leave `ctx.depth` as their deepest callee wrote it; the interpreter
            // that entered this loop counts frames there.
            let depth = self.depth;
            self.store_depth(depth);
        }
        self.b.ins().return_(&[tag, payload]);
    }
}
