//! Arrays in machine code: the array's **view** (length, form, element address and count)
//! read once and kept in variables while the register holds the same array
//! ([`crate::spec::state::Val::Array`]), bounds-checked element reads of packed words or
//! 16-byte values, lengths, and element writes of unboxed values through one small helper.
//!
//! The view is read through the layout the runtime measures
//! ([`mdvm_runtime::value::array_layout`]); element forms are those of
//! [`mdvm_runtime::array`].

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value as ClifValue};
use mdvm_runtime::array::KIND_VALUES;
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{stress_id, DeoptReason, GuardSlot, NO_PRED};
use mdvm_runtime::value::{Tag, PAYLOAD_OFFSET, TAG_OFFSET, VALUE_SIZE};

use crate::lower::exits::not_a;
use crate::lower::frame::{flags, slot_offset};
use crate::lower::{At, Emitter, View};
use crate::spec::plan::{Plan, Spec};
use crate::spec::state::{State, Val};

/// log2 of the size of a packed element (a `u64` word).
const WORD_SHIFT: i64 = 3;
/// log2 of the size of an element held as a value.
const VALUE_SHIFT: i64 = VALUE_SIZE.trailing_zeros() as i64;
const _: () = assert!(1 << VALUE_SHIFT == VALUE_SIZE);

impl Emitter<'_, '_, '_> {
    /// The view of `arr` for the instruction `at`: when the register is not a known array
    /// ([`Val::Array`]), guards that its slot holds an array (guard [`GuardSlot::First`]) and
    /// reads the view.
    fn array_view(&mut self, at: &At, arr: u8) -> View {
        if at.before[arr as usize].val != Val::Array {
            let snap = self.snapshot_at(at, DeoptReason::Stress);
            self.stress_guard(stress_id(at.pc, GuardSlot::First), snap);
            let t = self.load_tag(arr);
            let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, t, Tag::Array as i64);
            let snap = self.snapshot_at(at, DeoptReason::NotArray);
            self.side_exit_if(bad, snap);
            self.read_view(at, arr);
        }
        self.views[arr as usize]
    }

    /// Reads the view of the array in the slot of `arr` into its variables: its length, its
    /// kind ([`mdvm_runtime::array::Array::kind`]), and the address and number of the
    /// elements stored in the form of that kind (packed words, or values). When every element
    /// read of `arr` is compiled for one kind ([`crate::spec::plan::Planner::view_forms`]),
    /// guards that kind here ([`DeoptReason::ArrayKind`]).
    fn read_view(&mut self, at: &At, arr: u8) {
        let snap = self.snapshot_at(at, DeoptReason::ArrayKind);
        self.read_view_with(arr, snap);
    }

    /// [`Emitter::read_view`] after the instruction `at` changed the array: a form other than
    /// the one its reads are compiled for resumes at `resume`, the next instruction (stress
    /// mode takes that exit the first time, as guard [`GuardSlot::Element`] of `at`).
    fn read_view_resuming(&mut self, at: &At, arr: u8, resume: &At) {
        let snap = self.snapshot_after(at, resume, DeoptReason::Stress);
        self.stress_guard(stress_id(at.pc, GuardSlot::Element), snap);
        let snap = self.snapshot_after(at, resume, DeoptReason::ArrayKind);
        self.read_view_with(arr, snap);
    }

    /// On an edge from `pred` into `blk` (state `st` before its phis): each register the
    /// target's head promotes to a known array ([`crate::spec::dataflow::Speculation::promoted`])
    /// that this edge brings in its slot is guarded to hold an array and its view is read, as
    /// the head expects. A failure resumes the interpreter at the head, entered from `pred`,
    /// before anything of the head was charged ([`DeoptReason::ArrayKind`]: the next compile
    /// leaves this head alone).
    pub fn promote_arrays(&mut self, st: &mut State, blk: u32, pred: u32) {
        let promoted = self.s.promoted[blk as usize];
        let Some(target) = self.s.head[blk as usize].as_ref() else { return };
        let regs: Vec<u8> =
            promoted.iter().filter(|&r| target[r as usize].val == Val::Array && st[r as usize].val == Val::Mem).collect();
        if regs.is_empty() {
            return;
        }
        let start = self.s.cfg.blocks[blk as usize].start;
        let live = self.s.live_in(start);
        let saved = std::mem::replace(&mut self.uncharged_exits, true);
        for r in regs {
            let snap = self.snapshot(start, pred, DeoptReason::ArrayKind, st, live);
            let t = self.load_tag(r);
            let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, t, Tag::Array as i64);
            self.side_exit_if(bad, snap.clone());
            self.read_view_with(r, snap);
            st[r as usize].val = Val::Array;
        }
        self.uncharged_exits = saved;
    }

    /// A snapshot resuming at `resume`, the instruction after `at`, for `reason`. When `at`
    /// ends its block, the next block has not been charged yet (its edge charges it): nothing
    /// is refunded.
    fn snapshot_after(&self, at: &At, resume: &At, reason: DeoptReason) -> crate::lower::exits::Snapshot {
        let mut snap = self.snapshot(resume.pc, NO_PRED, reason, resume.before, resume.live);
        let cfg = &self.s.cfg;
        if resume.pc >= cfg.end || cfg.blocks[cfg.block_at(at.pc) as usize].end == resume.pc {
            snap.refund = 0;
        }
        snap
    }

    /// Reads the view of `arr`, its form guarded with the side exit `kind_exit` when its
    /// reads agree on one. An array with nothing written yet (kind [`Tag::Empty`], no element
    /// stored in either form) passes the guard with a bound of 0: a fresh array from
    /// `NEW_ARRAY_R` takes its form from its first write, which re-reads the view.
    fn read_view_with(&mut self, arr: u8, kind_exit: crate::lower::exits::Snapshot) {
        let layout = mdvm_runtime::value::array_layout().expect("array operations are planned native only with a known layout");
        let a = self.load_payload(arr);
        let len = self.b.ins().load(types::I64, flags(), a, layout.len);
        let kind = self.b.ins().uload8(types::I64, flags(), a, layout.kind);
        let (data, bound) = match self.s.planner.view_forms[arr as usize] {
            Some(k) => {
                let other = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, k as i64);
                let written = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, Tag::Empty as i64);
                let bad = self.b.ins().band(other, written);
                self.side_exit_if(bad, kind_exit);
                if k == KIND_VALUES {
                    // Nothing written: no values to read (the packed bound, 0, says so).
                    let zero = self.iconst(0);
                    (self.b.ins().load(self.ptr, flags(), a, layout.values_data), self.b.ins().select(other, zero, len))
                } else {
                    let words = self.b.ins().load(self.ptr, flags(), a, layout.words_data);
                    (words, self.b.ins().load(types::I64, flags(), a, layout.words_len))
                }
            }
            None => {
                let words = self.b.ins().load(self.ptr, flags(), a, layout.words_data);
                let filled = self.b.ins().load(types::I64, flags(), a, layout.words_len);
                let values = self.b.ins().load(self.ptr, flags(), a, layout.values_data);
                let is_values = self.b.ins().icmp_imm_s(IntCC::Equal, kind, KIND_VALUES as i64);
                (self.b.ins().select(is_values, values, words), self.b.ins().select(is_values, len, filled))
            }
        };
        let v = self.views[arr as usize];
        for (var, x) in [(v.len, len), (v.kind, kind), (v.data, data), (v.bound, bound)] {
            self.b.def_var(var, x);
        }
    }

    /// `ARRAY_GET_R` planned [`Plan::ArrayGet`]; `ops` is the state once its operands are
    /// obtained. When the view's form guard does not cover the read (the array's reads differ,
    /// or its form guard failed once: [`crate::spec::plan::Planner::with_form_misses`]), the
    /// read checks the form itself and reads an `elem` from either form, packed words of that
    /// type or values; any other form side-exits ([`DeoptReason::ArrayKind`]).
    pub fn emit_array_get(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::ArrayGet { dst, arr, idx, oi, elem, packed } = *plan else { unreachable!("an array read plan") };
        let view = self.array_view(at, arr);
        let i = self.get_operand(at, idx, Spec::Int, oi, GuardSlot::Second);
        let want = if packed { elem as u8 } else { KIND_VALUES };
        let v = if self.s.planner.view_forms[arr as usize] == Some(want) {
            self.read_element(at, view, i, elem, packed)
        } else {
            let kind = self.b.use_var(view.kind);
            let other = if packed { KIND_VALUES } else { elem as u8 };
            let is_want = self.b.ins().icmp_imm_s(IntCC::Equal, kind, want as i64);
            let is_other = self.b.ins().icmp_imm_s(IntCC::Equal, kind, other as i64);
            let either = self.b.ins().bor(is_want, is_other);
            let neither = self.b.ins().bxor_imm_u(either, 1);
            let snap = self.snapshot_at(at, DeoptReason::ArrayKind);
            self.side_exit_if(neither, snap);
            let (first, second, merge) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
            let ty = if elem == Tag::Float { types::F64 } else { types::I64 };
            self.b.append_block_param(merge, ty);
            self.b.ins().brif(is_want, first, &[], second, &[]);
            self.resume_at(first);
            let x = self.read_element(at, view, i, elem, packed);
            self.b.ins().jump(merge, &[x.into()]);
            self.resume_at(second);
            let y = self.read_element(at, view, i, elem, !packed);
            self.b.ins().jump(merge, &[y.into()]);
            self.resume_at(merge);
            self.b.block_params(merge)[0]
        };
        match elem {
            Tag::Float => self.def_float(dst, v, ops),
            _ => self.def_int(dst, v, ops),
        }
    }

    /// Element `i` of the array whose view is `view`, in the form `packed` (words of `elem`)
    /// or values (guarded to hold an `elem`), unboxed: bounds-checked, with side exits at
    /// `at`.
    fn read_element(&mut self, at: &At, view: View, i: ClifValue, elem: Tag, packed: bool) -> ClifValue {
        // A negative index is a huge unsigned one: one comparison checks both bounds. Past a
        // packed prefix the elements are empty, not `elem`: a misspeculation like a failed
        // element guard (or, past the length, the interpreter raises the error).
        let (bound, data) = (self.b.use_var(view.bound), self.b.use_var(view.data));
        let out = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i, bound);
        let reason = if packed { not_a(elem) } else { DeoptReason::Fault };
        let snap = self.snapshot_at(at, reason);
        self.side_exit_if(out, snap);
        let snap = self.snapshot_at(at, DeoptReason::Stress);
        self.stress_guard(stress_id(at.pc, GuardSlot::Element), snap);
        let off = self.b.ins().ishl_imm_u(i, if packed { WORD_SHIFT } else { VALUE_SHIFT });
        let e = self.b.ins().iadd(data, off);
        if packed {
            // A packed bool is the word 0 or 1: the unboxed bool itself.
            let ty = if elem == Tag::Float { types::F64 } else { types::I64 };
            self.b.ins().load(ty, flags(), e, 0)
        } else {
            let snap = self.snapshot_at(at, not_a(elem));
            self.check_and_unbox_at(e, 0, elem, snap, flags())
        }
    }

    /// `ARRAY_GET_R` planned [`Plan::ArrayGetValue`]: the element of an array of values
    /// (checked at the read unless the view's form guard covers it), bounds-checked, copied
    /// into the slot of `dst`. A heap element's `Rc` strong count is incremented in machine
    /// code before what `dst` held is released (`dst` may be the array itself). Every `Rc`
    /// allocation starts with the same header (`RcInner` is `repr(C)`), so the strong count's
    /// offset measured on arrays ([`mdvm_runtime::array::ArrayLayout::strong`]) is that of
    /// strings and dicts too. `ops` is the state once the operands are obtained.
    pub fn emit_array_get_value(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::ArrayGetValue { dst, arr, idx, oi } = *plan else { unreachable!("an array read plan") };
        let layout = mdvm_runtime::value::array_layout().expect("array operations are planned native only with a known layout");
        let view = self.array_view(at, arr);
        let i = self.get_operand(at, idx, Spec::Int, oi, GuardSlot::Second);
        if self.s.planner.view_forms[arr as usize] != Some(KIND_VALUES) {
            let kind = self.b.use_var(view.kind);
            let other = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, KIND_VALUES as i64);
            let snap = self.snapshot_at(at, DeoptReason::ArrayKind);
            self.side_exit_if(other, snap);
        }
        let (bound, data) = (self.b.use_var(view.bound), self.b.use_var(view.data));
        let out = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i, bound);
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        self.side_exit_if(out, snap);
        let snap = self.snapshot_at(at, DeoptReason::Stress);
        self.stress_guard(stress_id(at.pc, GuardSlot::Element), snap);
        let off = self.b.ins().ishl_imm_u(i, VALUE_SHIFT);
        let e = self.b.ins().iadd(data, off);
        let t = self.b.ins().load(types::I64, flags(), e, TAG_OFFSET);
        let p = self.b.ins().load(types::I64, flags(), e, PAYLOAD_OFFSET);
        let heap = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, t, Tag::FIRST_HEAP as i64);
        let (counted, done) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(heap, counted, &[], done, &[]);
        self.resume_at(counted);
        let strong = self.b.ins().load(types::I64, flags(), p, layout.strong);
        let more = self.b.ins().iadd_imm_s(strong, 1);
        self.b.ins().store(flags(), more, p, layout.strong);
        self.b.ins().jump(done, &[]);
        self.resume_at(done);
        self.release_for_def(dst, ops);
        let fp = self.fp();
        self.forget_slot_tags();
        self.store_words_at(fp, slot_offset(dst as u32), t, p);
    }

    /// `ARRAY_LEN_R` planned [`Plan::ArrayLen`].
    pub fn emit_array_len(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::ArrayLen { dst, arr } = *plan else { unreachable!("an array length plan") };
        let view = self.array_view(at, arr);
        let len = self.b.use_var(view.len);
        self.def_int(dst, len, ops);
    }

    /// `ARRAY_SET_R` planned [`Plan::ArraySet`]. An array its register holds alone (the `Rc`'s
    /// strong count is 1: what `Rc::make_mut` tests) is written in machine code when the
    /// write keeps its form: an int, float or bool into a packed array of that type, inside the
    /// packed prefix or appended at its end within the buffer's capacity; or any plain value
    /// over a plain element of an array of values. Such a write allocates nothing and charges
    /// no work, and the view stays valid (only its packed bound moves on an append). Anything
    /// else (a shared array, a write that converts or grows it, an index out of range) goes
    /// through `mdvm_array_set_plain`, after which the view is read again; when every read of
    /// the array is compiled for one form and the write changed it, the code side-exits after
    /// the write ([`DeoptReason::ArrayKind`]) and the interpreter goes on from the next
    /// instruction. The array stays [`Val::Array`] either way.
    pub fn emit_array_set(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::ArraySet { arr, idx, oi, val } = *plan else { unreachable!("an array write plan") };
        let layout = mdvm_runtime::value::array_layout().expect("array operations are planned native only with a known layout");
        let view = self.array_view(at, arr);
        let i = self.get_operand(at, idx, Spec::Int, oi, GuardSlot::Second);
        let vval = at.before[val as usize].val;
        let (t, p) = self.unboxed_words(val, vval);
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.set_cold_block(slow);
        // Held alone: written in place. The state may know it already ([`Reg::unique`]: an
        // earlier write on every path here, and no copy since); else the count is tested.
        let checked = if ops[arr as usize].unique {
            None
        } else {
            let a = self.load_payload(arr);
            let strong = self.b.ins().load(types::I64, flags(), a, layout.strong);
            let shared = self.b.ins().icmp_imm_s(IntCC::NotEqual, strong, 1);
            let unique = self.b.create_block();
            self.b.ins().brif(shared, slow, &[], unique, &[]);
            self.resume_at(unique);
            Some(a)
        };
        let kind = self.b.use_var(view.kind);
        let (bound, data) = (self.b.use_var(view.bound), self.b.use_var(view.data));
        let values_form = self.b.create_block();
        let form = self.s.planner.view_forms[arr as usize];
        let packable = matches!(vval, Val::Int | Val::Float | Val::Bool).then(|| vval.known_tag().expect("a typed value"));
        // A view whose reads are compiled for another form never takes a packed write of this
        // type in place: the helper writes it and the view's form guard then resumes after it.
        if let Some(tag) = packable.filter(|&t| form.is_none_or(|k| k == t as u8)) {
            // Packed of the value's type (or nothing written yet): inside the packed prefix, or
            // appended at its end.
            // A bool's word is 0 or 1.
            let p = if tag == Tag::Bool { self.b.ins().band_imm_u(p, 1) } else { p };
            let packed = self.b.create_block();
            if form == Some(tag as u8) {
                // The view's form guard admitted only this form or nothing written yet.
                self.b.ins().jump(packed, &[]);
            } else {
                let same = self.b.ins().icmp_imm_s(IntCC::Equal, kind, tag as i64);
                let empty = self.b.ins().icmp_imm_s(IntCC::Equal, kind, Tag::Empty as i64);
                let packs = self.b.ins().bor(same, empty);
                self.b.ins().brif(packs, packed, &[], values_form, &[]);
            }
            self.resume_at(packed);
            let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i, bound);
            let in_prefix = self.b.create_block();
            let append = self.b.create_block();
            self.b.ins().brif(inside, in_prefix, &[], append, &[]);
            self.resume_at(in_prefix);
            let off = self.b.ins().ishl_imm_u(i, WORD_SHIFT);
            let e = self.b.ins().iadd(data, off);
            self.b.ins().store(flags(), p, e, 0);
            self.b.ins().jump(done, &[]);
            // An append: at the prefix's end, inside the array and the buffer's capacity (a
            // fresh array's buffer may have none: then the helper allocates it).
            self.resume_at(append);
            let a = match checked {
                Some(a) => a,
                None => self.load_payload(arr),
            };
            let len = self.b.use_var(view.len);
            let cap = self.b.ins().load(types::I64, flags(), a, layout.words_cap);
            let at_end = self.b.ins().icmp(IntCC::Equal, i, bound);
            let in_len = self.b.ins().icmp(IntCC::UnsignedLessThan, i, len);
            let in_cap = self.b.ins().icmp(IntCC::UnsignedLessThan, i, cap);
            let ok = self.b.ins().band(at_end, in_len);
            let ok = self.b.ins().band(ok, in_cap);
            let fits = self.b.create_block();
            self.b.ins().brif(ok, fits, &[], slow, &[]);
            self.resume_at(fits);
            // The buffer's address: a view over an empty kind may hold it already (read
            // through `words_data` then), but load it to be independent of the view's form.
            let words = self.b.ins().load(self.ptr, flags(), a, layout.words_data);
            let off = self.b.ins().ishl_imm_u(i, WORD_SHIFT);
            let e = self.b.ins().iadd(words, off);
            self.b.ins().store(flags(), p, e, 0);
            let next = self.b.ins().iadd_imm_s(i, 1);
            self.b.ins().store(flags(), next, a, layout.words_len);
            let tag8 = self.b.ins().iconst(types::I8, tag as i64);
            self.b.ins().store(flags(), tag8, a, layout.kind);
            let kind_now = self.iconst(tag as i64);
            for (var, x) in [(view.bound, next), (view.kind, kind_now), (view.data, words)] {
                self.b.def_var(var, x);
            }
            self.b.ins().jump(done, &[]);
        } else {
            self.b.ins().jump(values_form, &[]);
        }
        // An array of values: over a plain element (one owning nothing to release).
        self.resume_at(values_form);
        let values = self.b.ins().icmp_imm_s(IntCC::Equal, kind, KIND_VALUES as i64);
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i, bound);
        let ok = self.b.ins().band(values, inside);
        let in_values = self.b.create_block();
        self.b.ins().brif(ok, in_values, &[], slow, &[]);
        self.resume_at(in_values);
        let off = self.b.ins().ishl_imm_u(i, VALUE_SHIFT);
        let e = self.b.ins().iadd(data, off);
        let old = self.b.ins().load(types::I64, flags(), e, 0);
        let heap = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, old, Tag::FIRST_HEAP as i64);
        let plain_old = self.b.create_block();
        self.b.ins().brif(heap, slow, &[], plain_old, &[]);
        self.resume_at(plain_old);
        self.b.ins().store(flags(), t, e, 0);
        self.b.ins().store(flags(), p, e, 8);
        self.b.ins().jump(done, &[]);
        // Everything else through the helper.
        self.resume_at(slow);
        let ar = self.b.ins().iconst(types::I32, arr as i64);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.call_helper(Helper::ArraySetPlain, &[ctx, base, ar, i, t, p]);
        let status = self.b.inst_results(call)[0];
        // On failure nothing changed: the interpreter executes the instruction again.
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        self.side_exit_if(status, snap);
        // The array may have been copied, converted or grown: its view is read again, and a
        // form other than the one its reads are compiled for resumes after the write.
        let mut after = ops.clone();
        after[arr as usize].val = Val::Array;
        let live = self.s.live_after(at.pc);
        let resume = At { pc: at.pc + 1, before: &after, live };
        self.read_view_resuming(at, arr, &resume);
        self.b.ins().jump(done, &[]);
        self.resume_at(done);
    }
}
