//! Arithmetic, comparisons and logic on unboxed operands: checked int arithmetic (overflow
//! side-exits so the interpreter raises the error), floor division and modulo, float
//! arithmetic, comparisons and bool logic.
//!
//! Overflow checks are left out or reduced where the int range analysis
//! ([`crate::analysis::ranges`]) or a constant operand allows, and inside counted loops for
//! their accumulators ([`crate::analysis::counted`]).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, InstructionData, Opcode, Value as ClifValue};
use mdbc::Instr;
use mdvm_runtime::native::{DeoptReason, GuardSlot};
use mdvm_runtime::value::Tag;

use crate::analysis::ops::{binop_of, BinOp};
use crate::analysis::ranges;
use crate::lower::{At, Emitter};
use crate::spec::plan::{Operand, Plan, Spec};
use crate::spec::state::State;

/// For `a + b` or `a - b` with operand ranges `ra` and `rb`, when one operand's range is
/// small (within +-2^32) and on one side of zero: (which operand must be compared, 0 for
/// `a` and 1 for `b`; the limit; true if overflow needs that operand above the limit,
/// false if below it). Otherwise None.
pub(crate) fn one_sided_overflow_limit(op: BinOp, ra: (i64, i64), rb: (i64, i64)) -> Option<(u8, i64, bool)> {
    const SMALL: i64 = 1 << 32;
    let small = |(lo, hi): (i64, i64)| lo >= -SMALL && hi <= SMALL && (lo >= 0 || hi <= 0);
    match op {
        // x + y, y in lo..=hi: with lo >= 0, overflow needs x > MAX - hi; with hi <= 0,
        // x < MIN - lo.
        BinOp::Add => {
            let (other, (lo, hi)) = if small(rb) {
                (0, rb)
            } else if small(ra) {
                (1, ra)
            } else {
                return None;
            };
            Some(if lo >= 0 { (other, i64::MAX - hi, true) } else { (other, i64::MIN - lo, false) })
        }
        // x - y, y in lo..=hi: with lo >= 0, overflow needs x < MIN + hi; with hi <= 0,
        // x > MAX + lo.
        BinOp::Sub if small(rb) => {
            let (lo, hi) = rb;
            Some(if lo >= 0 { (0, i64::MIN + hi, false) } else { (0, i64::MAX + lo, true) })
        }
        _ => None,
    }
}

impl Emitter<'_, '_, '_> {
    /// For `x + y` or `x - y` with a constant operand that the operation can use as an
    /// addend: (the other operand, the constant). `x - MIN` is excluded (its addend overflows).
    fn const_operand(&self, op: BinOp, x: ClifValue, y: ClifValue) -> Option<(ClifValue, i64)> {
        let konst = |v: ClifValue| {
            let inst = self.b.func.dfg.value_def(v).inst()?;
            match self.b.func.dfg.insts[inst] {
                InstructionData::UnaryImm { opcode: Opcode::Iconst, imm } => Some(imm.bits()),
                _ => None,
            }
        };
        match op {
            BinOp::Add => konst(y).map(|c| (x, c)).or_else(|| konst(x).map(|c| (y, c))),
            BinOp::Sub => konst(y).filter(|&c| c != i64::MIN).map(|c| (x, c)),
            _ => None,
        }
    }

    /// An overflow guard: side-exits to the instruction `at` when `cond` holds.
    pub fn overflow_exit_if(&mut self, at: &At, cond: ClifValue) {
        let snap = self.snapshot_at(at, DeoptReason::Overflow);
        self.side_exit_if(cond, snap);
    }

    /// A binary instruction planned [`Plan::Binary`]; `ops` is the state once its operands
    /// are obtained.
    pub fn emit_binary(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Binary { spec, dst, a, b, oa, ob } = *plan else { unreachable!("a binary plan") };
        let (op, ..) = binop_of(&self.s.m.code[at.pc as usize]).expect("a binary instruction");
        match spec {
            Spec::Generic => return self.emit_generic(at, &[a, b]),
            Spec::Str => {
                // Guard both operands, then let the runtime concatenate or compare.
                for (r, o, slot) in [(a, oa, GuardSlot::First), (b, ob, GuardSlot::Second)] {
                    if let Operand::Guard(tag) = o {
                        self.guard_unbox(at, r, tag, slot);
                    }
                }
                if op == BinOp::Add {
                    return self.emit_concat(at, (dst, a, b), false);
                }
                return self.emit_generic(at, &[a, b]);
            }
            _ => {}
        }
        let x = self.get_operand(at, a, spec, oa, GuardSlot::First);
        let y = self.get_operand(at, b, spec, ob, GuardSlot::Second);
        match spec {
            Spec::Int => self.emit_int_binary(at, op, (dst, a, b), (x, y), ops),
            Spec::Float => self.emit_float_binary(at, op, dst, (x, y), ops),
            Spec::Bool => {
                let v = match op {
                    BinOp::And => self.b.ins().band(x, y),
                    BinOp::Or => self.b.ins().bor(x, y),
                    BinOp::Eq => {
                        let c = self.b.ins().icmp(IntCC::Equal, x, y);
                        self.b.ins().uextend(types::I64, c)
                    }
                    _ => {
                        let c = self.b.ins().icmp(IntCC::NotEqual, x, y);
                        self.b.ins().uextend(types::I64, c)
                    }
                };
                self.def_int(dst, v, ops);
            }
            Spec::Generic | Spec::Str => unreachable!("handled above"),
        }
    }

    /// `dst = a op b` on ints `x` and `y`.
    fn emit_int_binary(&mut self, at: &At, op: BinOp, (dst, a, b): (u8, u8, u8), (x, y): (ClifValue, ClifValue), ops: &State) {
        // An int operand that can only be one int is that constant (folded into the operation,
        // and overflow checks against it become comparisons).
        let x = match self.const_int_operand(a, ops) {
            Some(c) => self.iconst(c),
            None => x,
        };
        let y = match self.const_int_operand(b, ops) {
            Some(c) => self.iconst(c),
            None => y,
        };
        let r = match op {
            BinOp::Add | BinOp::Sub if self.const_operand(op, x, y).is_some() => {
                // With a constant operand, overflow is a comparison of the other one against a
                // bound (one compare-and-branch, and a plain add).
                let (v, c) = self.const_operand(op, x, y).expect("checked");
                let c = if op == BinOp::Sub { c.wrapping_neg() } else { c };
                let r = self.b.ins().iadd_imm_s(v, c);
                // The other operand's range facts may rule overflow out.
                let (lo, hi) = self.int_range(if v == x { a } else { b });
                let safe = (c > 0 && hi <= i64::MAX - c) || (c < 0 && lo >= i64::MIN - c);
                if c != 0 && !safe {
                    let of = if c > 0 {
                        self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, v, i64::MAX - c)
                    } else {
                        self.b.ins().icmp_imm_s(IntCC::SignedLessThan, v, i64::MIN - c)
                    };
                    self.overflow_exit_if(at, of);
                }
                r
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let (ra, rb) = (self.int_range(a), self.int_range(b));
                // Operands whose range facts rule overflow out need no check, nor does a
                // counted loop's accumulator (its entry checked the bound).
                if ranges::cannot_overflow(op, ra, rb) || self.unchecked_updates.contains(&at.pc) {
                    match op {
                        BinOp::Add => self.b.ins().iadd(x, y),
                        BinOp::Sub => self.b.ins().isub(x, y),
                        _ => self.b.ins().imul(x, y),
                    }
                } else if let Some((other, limit, above)) = one_sided_overflow_limit(op, ra, rb) {
                    // One operand in a small range on one side of zero: overflow needs the
                    // other one near an end of the int range, and one comparison of it
                    // against a limit rules that out. An operand past the limit takes the
                    // overflow exit even when the sum itself fits: the interpreter then does
                    // the operation exactly.
                    let other = if other == 0 { x } else { y };
                    let cc = if above { IntCC::SignedGreaterThan } else { IntCC::SignedLessThan };
                    let of = self.b.ins().icmp_imm_s(cc, other, limit);
                    self.overflow_exit_if(at, of);
                    if op == BinOp::Add {
                        self.b.ins().iadd(x, y)
                    } else {
                        self.b.ins().isub(x, y)
                    }
                } else {
                    let (v, of) = match op {
                        BinOp::Add => self.b.ins().sadd_overflow(x, y),
                        BinOp::Sub => self.b.ins().ssub_overflow(x, y),
                        _ => self.b.ins().smul_overflow(x, y),
                    };
                    self.overflow_exit_if(at, of);
                    v
                }
            }
            BinOp::Div | BinOp::Mod => self.emit_floor_div(at, op, (a, b), (x, y), ops),
            _ => {
                let cc = match op {
                    BinOp::Eq => IntCC::Equal,
                    BinOp::Ne => IntCC::NotEqual,
                    BinOp::Lt => IntCC::SignedLessThan,
                    BinOp::Gt => IntCC::SignedGreaterThan,
                    BinOp::Le => IntCC::SignedLessThanOrEqual,
                    _ => IntCC::SignedGreaterThanOrEqual,
                };
                let c = self.b.ins().icmp(cc, x, y);
                self.b.ins().uextend(types::I64, c)
            }
        };
        self.def_int(dst, r, ops);
    }

    /// Floor division or modulo of ints `x / y` (operand registers `a`, `b`).
    fn emit_floor_div(&mut self, at: &At, op: BinOp, (a, b): (u8, u8), (x, y): (ClifValue, ClifValue), ops: &State) -> ClifValue {
        // Zero divisor and MIN / -1 go to the interpreter, which raises them. A constant
        // divisor other than 0 and -1 needs neither check.
        let divisor = self.const_int_operand(b, ops);
        if !matches!(divisor, Some(c) if c != 0 && c != -1) {
            let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
            let m1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
            let ovf = self.b.ins().band(m1, min);
            let bad = self.b.ins().bor(zero, ovf);
            self.overflow_exit_if(at, bad);
        }
        let q = self.b.ins().sdiv(x, y);
        let rem = self.b.ins().srem(x, y);
        // Floor: adjust when the remainder is nonzero and its sign differs from the divisor's.
        // With a constant divisor that is one comparison of the remainder (whose sign is the
        // dividend's), and none when the dividend's range facts give it the divisor's sign.
        let (lo, hi) = self.int_range(a);
        let adj = match divisor {
            Some(c) if (c > 0 && lo >= 0) || (c < 0 && hi <= 0) => None,
            Some(c) if c > 0 => Some(self.b.ins().icmp_imm_s(IntCC::SignedLessThan, rem, 0)),
            Some(_) => Some(self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, rem, 0)),
            None => {
                let rz = self.b.ins().icmp_imm_s(IntCC::NotEqual, rem, 0);
                let sx = self.b.ins().bxor(rem, y);
                let neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, sx, 0);
                Some(self.b.ins().band(rz, neg))
            }
        };
        match (op, adj) {
            (BinOp::Div, None) => q,
            (BinOp::Div, Some(adj)) => {
                let adj64 = self.b.ins().uextend(types::I64, adj);
                self.b.ins().isub(q, adj64)
            }
            (_, None) => rem,
            (_, Some(adj)) => {
                let plus = self.b.ins().iadd(rem, y);
                self.b.ins().select(adj, plus, rem)
            }
        }
    }

    /// `dst = x op y` on floats.
    fn emit_float_binary(&mut self, at: &At, op: BinOp, dst: u8, (x, y): (ClifValue, ClifValue), ops: &State) {
        match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let v = match op {
                    BinOp::Add => self.b.ins().fadd(x, y),
                    BinOp::Sub => self.b.ins().fsub(x, y),
                    _ => self.b.ins().fmul(x, y),
                };
                self.def_float(dst, v, ops);
            }
            BinOp::Div => {
                let zero = self.b.ins().f64const(0.0);
                let z = self.b.ins().fcmp(FloatCC::Equal, y, zero);
                self.overflow_exit_if(at, z);
                let v = self.b.ins().fdiv(x, y);
                self.def_float(dst, v, ops);
            }
            _ => {
                let cc = match op {
                    BinOp::Eq => FloatCC::Equal,
                    BinOp::Ne => FloatCC::NotEqual,
                    BinOp::Lt => FloatCC::LessThan,
                    BinOp::Gt => FloatCC::GreaterThan,
                    BinOp::Le => FloatCC::LessThanOrEqual,
                    _ => FloatCC::GreaterThanOrEqual,
                };
                let c = self.b.ins().fcmp(cc, x, y);
                let v = self.b.ins().uextend(types::I64, c);
                self.def_int(dst, v, ops);
            }
        }
    }

    /// `NEG_R` or `NOT_R` planned [`Plan::Unary`]; `ops` is the state once its operand is
    /// obtained.
    pub fn emit_unary(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Unary { spec, dst, src, o } = *plan else { unreachable!("a unary plan") };
        let is_not = matches!(self.s.m.code[at.pc as usize], Instr::NotR { .. });
        if spec == Spec::Generic {
            return self.emit_generic(at, &[src]);
        }
        let x = self.get_operand(at, src, spec, o, GuardSlot::First);
        match (spec, is_not) {
            (Spec::Int | Spec::Bool, true) => {
                let c = self.b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                let v = self.b.ins().uextend(types::I64, c);
                self.def_int(dst, v, ops);
            }
            (Spec::Float, true) => {
                // not truthy: 0.0 and NaN are false.
                let zero = self.b.ins().f64const(0.0);
                let c = self.b.ins().fcmp(FloatCC::UnorderedOrEqual, x, zero);
                let v = self.b.ins().uextend(types::I64, c);
                self.def_int(dst, v, ops);
            }
            (Spec::Int, false) => {
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                self.overflow_exit_if(at, min);
                let v = self.b.ins().ineg(x);
                self.def_int(dst, v, ops);
            }
            (Spec::Float, false) => {
                let v = self.b.ins().fneg(x);
                self.def_float(dst, v, ops);
            }
            _ => unreachable!("planned only for int, float and bool"),
        }
    }

    /// `CAST_R` planned [`Plan::Cast`]; `ops` is the state once its operand is obtained. A
    /// float becomes an int by truncation when the result fits 64 bits (`ops::cast`'s range,
    /// -2^63 to 2^63 exclusive); otherwise, NaN included, an `Overflow` exit lets the
    /// interpreter raise the error.
    pub fn emit_cast(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Cast { from, to, dst, src, o } = *plan else { unreachable!("a cast plan") };
        let x = self.get_operand(at, src, from, o, GuardSlot::First);
        match (from, to) {
            (Spec::Int | Spec::Bool, Tag::Int) => self.def_int(dst, x, ops),
            (Spec::Int | Spec::Bool, Tag::Float) => {
                let f = self.b.ins().fcvt_from_sint(types::F64, x);
                self.def_float(dst, f, ops);
            }
            (Spec::Float, Tag::Float) => self.def_float(dst, x, ops),
            (Spec::Float, Tag::Int) => {
                let t = self.b.ins().trunc(x);
                let low = self.b.ins().f64const(-9223372036854775808.0);
                let high = self.b.ins().f64const(9223372036854775808.0);
                let above = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, t, low);
                let below = self.b.ins().fcmp(FloatCC::LessThan, t, high);
                let fits = self.b.ins().band(above, below);
                let outside = self.b.ins().bxor_imm_u(fits, 1);
                self.overflow_exit_if(at, outside);
                let v = self.b.ins().fcvt_to_sint_sat(types::I64, t);
                self.def_int(dst, v, ops);
            }
            _ => unreachable!("planned only from an int, float or bool to an int or float"),
        }
    }
}
