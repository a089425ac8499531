//! Calls of natives ([`mdvm_runtime::natives`]): through `mdvm_call_native` on the arguments'
//! slots, or, for the pure standard-library builtins whose argument types are known or
//! guarded, computed in machine code (`abs`, `min`, `max`, `sqrt`, `floor`, `ceil`, `round`,
//! `int`, `float`, the type tests; `len` of an array is planned as `ARRAY_LEN_R`).
//!
//! Inline code agrees with [`mdvm_runtime::natives::stdlib`] bit for bit: `sqrt` is the IEEE
//! square root both ways; the float-to-int builtins side-exit (`Overflow`) on NaN and on
//! results outside the int range, so the interpreter runs the call again and raises the error.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value as ClifValue};
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{stress_id, DeoptReason, GuardSlot, RET_BLOCK};
use mdvm_runtime::value::{str_layout, Tag};

use crate::lower::frame::flags;
use crate::lower::{At, Emitter};
use crate::spec::plan::{Inline, Plan, Spec};
use crate::spec::state::{State, Val};

/// 2^63 as a float: the first float above the int range.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

impl Emitter<'_, '_, '_> {
    /// A native planned [`Plan::Native`]: its arguments written to their slots, then
    /// `mdvm_call_native`, then the result as for a call.
    pub fn emit_native(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Native { native, dst, ref args, expect } = *plan else { unreachable!("a native plan") };
        self.spill_regs(args, at.before);
        // The runtime reads the true frame count from the context.
        let depth = self.depth;
        self.store_depth(depth);
        let (ctx, base) = (self.ctx, self.base);
        let body = self.b.ins().iconst(types::I32, self.req.body as i64);
        let pcv = self.b.ins().iconst(types::I32, at.pc as i64);
        let n = self.b.ins().iconst(types::I32, native as i64);
        let call = self.call_helper(Helper::CallNative, &[ctx, body, pcv, base, n]);
        let r = self.b.inst_results(call).to_vec();
        if self.req.program.natives.get(native).builtin.is_some_and(|b| b.may_block()) {
            // It would block and did nothing: the interpreter runs the call again and
            // suspends the process there ([`mdvm_runtime::process`]).
            let blocked = self.b.ins().icmp_imm_s(IntCC::Equal, r[0], RET_BLOCK as i64);
            let snap = self.snapshot_at(at, DeoptReason::Blocked);
            self.side_exit_if(blocked, snap);
        }
        self.finish_call(at, dst, expect, (r[0], r[1]), ops);
    }

    /// A type test planned [`Plan::TypeTest`]: a constant when the state knows the type, else
    /// the slot's tag tested against the mask.
    pub fn emit_type_test(&mut self, plan: &Plan, st: &State, ops: &State) {
        let Plan::TypeTest { dst, src, mask } = *plan else { unreachable!("a type test plan") };
        let v = match st[src as usize].val {
            Val::Mem => {
                let tag = self.load_tag(src);
                let one = self.iconst(1);
                let bit = self.b.ins().ishl(one, tag);
                let hit = self.b.ins().band_imm_s(bit, mask as i64);
                let c = self.b.ins().icmp_imm_s(IntCC::NotEqual, hit, 0);
                self.b.ins().uextend(types::I64, c)
            }
            val => {
                let tag = val.known_tag().unwrap_or(Tag::Empty);
                self.iconst((mask >> tag as u16 & 1) as i64)
            }
        };
        self.def_int(dst, v, ops);
    }

    /// A length planned [`Plan::Len`]: the tag of the slot guarded, then a string's character
    /// count read from the string, or a dict's entries from `mdvm_dict_len`.
    pub fn emit_len(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Len { dst, src, tag } = *plan else { unreachable!("a length plan") };
        let snap = self.snapshot_at(at, DeoptReason::Stress);
        self.stress_guard(stress_id(at.pc, GuardSlot::First), snap);
        let t = self.load_tag(src);
        let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, t, tag as i64);
        let reason = if tag == Tag::Str { DeoptReason::NotString } else { DeoptReason::NotDict };
        let snap = self.snapshot_at(at, reason);
        self.side_exit_if(bad, snap);
        let v = if tag == Tag::Str {
            let layout = str_layout().expect("planned only with a known string layout");
            let payload = self.load_payload(src);
            self.b.ins().load(types::I64, flags(), payload, layout.chars)
        } else {
            let (ctx, base) = (self.ctx, self.base);
            let r = self.b.ins().iconst(types::I32, src as i64);
            let call = self.call_helper(Helper::DictLen, &[ctx, base, r]);
            self.b.inst_results(call)[0]
        };
        self.def_int(dst, v, ops);
    }

    /// A builtin planned [`Plan::Inline`].
    pub fn emit_inline(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Inline { f, spec, dst, a, b, oa, ob } = *plan else { unreachable!("an inline plan") };
        let x = self.get_operand(at, a, spec, oa, GuardSlot::First);
        match (f, spec) {
            (Inline::Abs, Spec::Int) => {
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                self.overflow_exit_if(at, min);
                let v = self.b.ins().iabs(x);
                self.def_int(dst, v, ops);
            }
            (Inline::Abs, _) => {
                let v = self.b.ins().fabs(x);
                self.def_float(dst, v, ops);
            }
            (Inline::Min | Inline::Max, Spec::Int) => {
                let y = self.get_operand(at, b, spec, ob, GuardSlot::Second);
                let v = if f == Inline::Min { self.b.ins().smin(x, y) } else { self.b.ins().smax(x, y) };
                self.def_int(dst, v, ops);
            }
            (Inline::Min | Inline::Max, _) => {
                let y = self.get_operand(at, b, spec, ob, GuardSlot::Second);
                // The second wins only when strictly better (the first of equals is kept);
                // a NaN argument, the first one if both are, is the result.
                let cc = if f == Inline::Min { FloatCC::LessThan } else { FloatCC::GreaterThan };
                let better = self.b.ins().fcmp(cc, y, x);
                let r = self.b.ins().select(better, y, x);
                let y_nan = self.b.ins().fcmp(FloatCC::Unordered, y, y);
                let r = self.b.ins().select(y_nan, y, r);
                let x_nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                let v = self.b.ins().select(x_nan, x, r);
                self.def_float(dst, v, ops);
            }
            (Inline::Sqrt, _) => {
                let v = self.b.ins().sqrt(x);
                self.def_float(dst, v, ops);
            }
            (Inline::ToFloat, Spec::Int) => {
                let v = self.b.ins().fcvt_from_sint(types::F64, x);
                self.def_float(dst, v, ops);
            }
            (Inline::ToFloat, _) => self.def_float(dst, x, ops),
            (Inline::Floor | Inline::Ceil | Inline::Round | Inline::Trunc, Spec::Int) => self.def_int(dst, x, ops),
            (Inline::Floor | Inline::Ceil | Inline::Round | Inline::Trunc, _) => {
                let r = match f {
                    Inline::Floor => self.b.ins().floor(x),
                    Inline::Ceil => self.b.ins().ceil(x),
                    Inline::Trunc => self.b.ins().trunc(x),
                    _ => self.round_half_away(x),
                };
                let v = self.float_to_int_or_exit(at, r);
                self.def_int(dst, v, ops);
            }
        }
    }

    /// `x` rounded to the nearest whole number, halves away from zero (`f64::round`).
    fn round_half_away(&mut self, x: ClifValue) -> ClifValue {
        let t = self.b.ins().trunc(x);
        // Exact: the fraction of a float is representable.
        let frac = self.b.ins().fsub(x, t);
        let frac = self.b.ins().fabs(frac);
        let half = self.b.ins().f64const(0.5);
        let up = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, frac, half);
        let one = self.b.ins().f64const(1.0);
        let step = self.b.ins().fcopysign(one, x);
        let away = self.b.ins().fadd(t, step);
        self.b.ins().select(up, away, t)
    }

    /// Whole float `r` as an int; NaN or outside the int range side-exits (`Overflow`) so the
    /// interpreter raises the error.
    fn float_to_int_or_exit(&mut self, at: &At, r: ClifValue) -> ClifValue {
        let lo = self.b.ins().f64const(-TWO_63);
        let hi = self.b.ins().f64const(TWO_63);
        let ge = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, r, lo);
        let lt = self.b.ins().fcmp(FloatCC::LessThan, r, hi);
        let ok = self.b.ins().band(ge, lt);
        let bad = self.b.ins().icmp_imm_s(IntCC::Equal, ok, 0);
        self.overflow_exit_if(at, bad);
        self.b.ins().fcvt_to_sint(types::I64, r)
    }
}
