//! Arrays in machine code: the array's **view** (length, form, element address and count)
//! read once and kept in variables while the register holds the same array
//! ([`crate::spec::state::Val::Array`]), bounds-checked element reads of packed words or
//! 16-byte values, lengths, and element writes of unboxed values through one small helper.
//!
//! The view is read through the layout the runtime measures
//! ([`mdvm_runtime::value::array_layout`]); element forms are those of
//! [`mdvm_runtime::array`].

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder};
use mdvm_runtime::array::KIND_VALUES;
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{stress_id, DeoptReason, GuardSlot};
use mdvm_runtime::value::{Tag, VALUE_SIZE};

use crate::lower::frame::flags;
use crate::lower::exits::not_a;
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
        let layout = mdvm_runtime::value::array_layout().expect("array operations are planned native only with a known layout");
        let a = self.load_payload(arr);
        let len = self.b.ins().load(types::I64, flags(), a, layout.len);
        let kind = self.b.ins().uload8(types::I64, flags(), a, layout.kind);
        let (data, bound) = match self.s.planner.view_forms[arr as usize] {
            Some(k) => {
                let other = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, k as i64);
                let snap = self.snapshot_at(at, DeoptReason::ArrayKind);
                self.side_exit_if(other, snap);
                if k == KIND_VALUES {
                    (self.b.ins().load(self.ptr, flags(), a, layout.values_data), len)
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
    /// obtained.
    pub fn emit_array_get(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::ArrayGet { dst, arr, idx, oi, elem, packed } = *plan else { unreachable!("an array read plan") };
        let view = self.array_view(at, arr);
        let i = self.get_operand(at, idx, Spec::Int, oi, GuardSlot::Second);
        // The array's form: packed words of the element type, or values (guarded with the view
        // when all reads of `arr` agree on it).
        if self.s.planner.view_forms[arr as usize].is_none() {
            let kind = self.b.use_var(view.kind);
            let want = if packed { elem as i64 } else { KIND_VALUES as i64 };
            let other = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, want);
            let snap = self.snapshot_at(at, DeoptReason::ArrayKind);
            self.side_exit_if(other, snap);
        }
        // A negative index is a huge unsigned one: one comparison checks both bounds. Past a
        // packed prefix the elements are empty, not `elem`: a misspeculation like a failed
        // element guard (or, past the length, the interpreter raises the error).
        let (bound, data) = (self.b.use_var(view.bound), self.b.use_var(view.data));
        let out = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i, bound);
        let reason = match (packed, elem) {
            (false, _) => DeoptReason::Fault,
            (true, Tag::Float) => DeoptReason::NotFloat,
            (true, _) => DeoptReason::NotInt,
        };
        let snap = self.snapshot_at(at, reason);
        self.side_exit_if(out, snap);
        let snap = self.snapshot_at(at, DeoptReason::Stress);
        self.stress_guard(stress_id(at.pc, GuardSlot::Element), snap);
        let off = self.b.ins().ishl_imm_u(i, if packed { WORD_SHIFT } else { VALUE_SHIFT });
        let e = self.b.ins().iadd(data, off);
        let v = if packed {
            let ty = if elem == Tag::Float { types::F64 } else { types::I64 };
            self.b.ins().load(ty, flags(), e, 0)
        } else {
            let snap = self.snapshot_at(at, not_a(elem));
            self.check_and_unbox_at(e, 0, elem, snap, flags())
        };
        match elem {
            Tag::Float => self.def_float(dst, v, ops),
            _ => self.def_int(dst, v, ops),
        }
    }

    /// `ARRAY_LEN_R` planned [`Plan::ArrayLen`].
    pub fn emit_array_len(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::ArrayLen { dst, arr } = *plan else { unreachable!("an array length plan") };
        let view = self.array_view(at, arr);
        let len = self.b.use_var(view.len);
        self.def_int(dst, len, ops);
    }

    /// `ARRAY_SET_R` planned [`Plan::ArraySet`], through `mdvm_array_set_plain`; the array's
    /// view is read again by its next use.
    pub fn emit_array_set(&mut self, at: &At, plan: &Plan) {
        let Plan::ArraySet { arr, idx, oi, val } = *plan else { unreachable!("an array write plan") };
        let i = self.get_operand(at, idx, Spec::Int, oi, GuardSlot::Second);
        let (t, p) = self.unboxed_words(val, at.before[val as usize].val);
        let ar = self.b.ins().iconst(types::I32, arr as i64);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.call_helper(Helper::ArraySetPlain, &[ctx, base, ar, i, t, p]);
        let status = self.b.inst_results(call)[0];
        // On failure nothing changed: the interpreter executes the instruction again.
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        self.side_exit_if(status, snap);
    }
}
