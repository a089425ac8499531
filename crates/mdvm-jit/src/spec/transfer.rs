//! The transfer function: the effect of one planned instruction on the frame state.
//!
//! It is the only place the state changes. The type analysis ([`crate::spec::dataflow`])
//! applies it to find the state at every block head, and the code generator applies the same
//! two phases around the code it emits for each instruction:
//!
//! 1. [`operands`]: the state once the instruction's operands are obtained: a guarded operand
//!    is now unboxed (its slot still holds the plain value), an operand a helper reads from its
//!    slot has been written there, an array operand's view is read;
//! 2. [`define`]: the state once its result is written.
//!
//! The generator decides how to write the result (whether the destination's slot must be
//! released first) from the state after phase 1, and every side exit inside an instruction
//! resumes with the state before it (its snapshot, [`crate::lower::exits`]).

use mdbc::Instr;
use mdvm_runtime::value::Tag;

use crate::analysis::ops::binop_of;
use crate::spec::plan::{DictAccess, Operand, Plan, Spec};
use crate::spec::state::{Reg, Slot, State, Val};

/// Register `r` now holds an unboxed value (or a known empty or function name) `val`: an
/// owned slot was released first and holds nothing owned any more.
pub(crate) fn define_unboxed(st: &mut State, r: u8, val: Val) {
    let reg = &mut st[r as usize];
    reg.slot = reg.slot.min(Slot::Plain);
    reg.val = val;
    reg.unique = false;
}

/// Register `r` now holds a value in its slot, which owns it.
pub(crate) fn define_in_slot(st: &mut State, r: u8) {
    st[r as usize] = Reg::MEM;
}

/// `dst = src`: a copy of an unboxed value is unboxed; a copy of a slot is in the destination's
/// slot (an array's view stays with `src`).
pub(crate) fn copy(st: &mut State, dst: u8, src: u8) {
    if dst == src {
        return;
    }
    let s = st[src as usize];
    // Both registers now refer to what `src` holds.
    st[src as usize].unique = false;
    if s.val.in_slot() {
        st[dst as usize] = Reg { val: s.val.copied(), slot: Slot::Owned, unique: false };
    } else {
        define_unboxed(st, dst, s.val);
    }
}

/// Operand `r` obtained as `o`: a guarded operand is unboxed with its guard's type, its slot
/// holding that plain value.
pub(crate) fn refine(st: &mut State, r: u8, o: Operand) {
    let val = match o {
        Operand::Guard(Tag::Int) | Operand::GuardIntToFloat => Val::Int,
        Operand::Guard(Tag::Float) => Val::Float,
        Operand::Guard(Tag::Bool) => Val::Bool,
        _ => return,
    };
    st[r as usize] = Reg { val, slot: Slot::Plain, unique: false };
}

/// The registers `regs` written to their slots for a helper that reads slots: a function name
/// now lives in its slot (owned), an unboxed value's slot holds a plain copy, and an array's
/// view is dropped (the helper may write the array in place).
pub(crate) fn materialize(st: &mut State, regs: &[u8]) {
    for &r in regs {
        let reg = &mut st[r as usize];
        match reg.val {
            Val::Fn(..) => *reg = Reg::MEM,
            Val::Int | Val::Float | Val::Bool => reg.slot = reg.slot.max(Slot::Plain),
            Val::Array => {
                reg.val = Val::Mem;
                reg.unique = false;
            }
            _ => {}
        }
    }
}

/// The registers a dynamic call writes to slots before the runtime performs it: its
/// arguments, its callee and its destination (kept when the callee returns no value).
pub(crate) fn dynamic_call_regs(func: u8, dst: u8, args: &[u8]) -> Vec<u8> {
    let mut regs = args.to_vec();
    regs.push(func);
    regs.push(dst);
    regs
}

/// The register `plan` reads without another reference to its value resulting: the array of
/// an array operation, the source of a move out of a dead register.
fn unshared_operand(plan: &Plan) -> Option<u8> {
    match plan {
        Plan::ArrayGet { arr, .. } | Plan::ArrayGetValue { arr, .. } | Plan::ArrayLen { arr, .. } | Plan::ArraySet { arr, .. } => Some(*arr),
        Plan::MoveOut(_, s) => Some(*s),
        _ => None,
    }
}

/// Phase 1: the state once `plan`'s operands (of instruction `ins`) are obtained. Every
/// register `ins` reads, but the array of an array operation and a moved-out source, may now be referred to from
/// elsewhere too (a copy, an argument, a helper's store): it is no longer known to be held
/// alone ([`Reg::unique`]).
pub(crate) fn operands(plan: &Plan, ins: &Instr, st: &mut State) {
    let kept = unshared_operand(plan);
    ins.for_each_use(|r| {
        if Some(r) != kept {
            st[r as usize].unique = false;
        }
    });
    match plan {
        Plan::Binary { spec, a, b, oa, ob, .. } => {
            refine(st, *a, *oa);
            refine(st, *b, *ob);
            if matches!(spec, Spec::Generic | Spec::Str) {
                materialize(st, &[*a, *b]);
            }
        }
        Plan::Unary { spec, src, o, .. } => {
            refine(st, *src, *o);
            if *spec == Spec::Generic {
                materialize(st, &[*src]);
            }
        }
        Plan::Generic { uses, .. } => materialize(st, uses),
        Plan::Dict { access, dict, key } => materialize(st, &access.reads(*dict, *key)),
        Plan::Concat { a, b, .. } => materialize(st, &[*a, *b]),
        Plan::Cast { src, o, .. } => refine(st, *src, *o),
        Plan::ArrayGet { arr, idx, oi, .. } | Plan::ArrayGetValue { arr, idx, oi, .. } => {
            st[*arr as usize].val = Val::Array;
            refine(st, *idx, *oi);
        }
        Plan::ArrayLen { arr, .. } => st[*arr as usize].val = Val::Array,
        Plan::ArraySet { idx, oi, .. } => refine(st, *idx, *oi),
        Plan::Call { callee: None, func, dst, args, .. } => materialize(st, &dynamic_call_regs(*func, *dst, args)),
        Plan::Native { args, .. } => materialize(st, args),
        Plan::Inline { a, b, oa, ob, .. } => {
            refine(st, *a, *oa);
            refine(st, *b, *ob);
        }
        Plan::Nop
        | Plan::ConstInt(..)
        | Plan::ConstFloat(..)
        | Plan::ConstBool(..)
        | Plan::ConstEmpty(_)
        | Plan::ConstStr(_)
        | Plan::ConstFn(..)
        | Plan::Move(..)
        | Plan::MoveOut(..)
        | Plan::Call { .. }
        | Plan::TypeTest { .. }
        | Plan::Len { .. }
        | Plan::Jump
        | Plan::Branch { .. }
        | Plan::Return(_)
        | Plan::Halt
        | Plan::Phi => {}
    }
}

/// Phase 2: the state once the result of `plan` (for instruction `ins`) is written, from the
/// state after [`operands`].
pub(crate) fn define(plan: &Plan, ins: &Instr, st: &mut State) {
    match plan {
        Plan::ConstInt(d, _) => define_unboxed(st, *d, Val::Int),
        Plan::ConstFloat(d, _) => define_unboxed(st, *d, Val::Float),
        Plan::ConstBool(d, _) => define_unboxed(st, *d, Val::Bool),
        Plan::ConstEmpty(d) => define_unboxed(st, *d, Val::Empty),
        Plan::ConstStr(d) => define_in_slot(st, *d),
        Plan::ConstFn(d, f, k) => define_unboxed(st, *d, Val::Fn(*f, *k)),
        Plan::Move(d, s) => copy(st, *d, *s),
        Plan::MoveOut(d, s) => {
            st[*d as usize] = Reg { val: st[*s as usize].val, slot: Slot::Owned, unique: st[*s as usize].unique };
            st[*s as usize] = Reg { val: Val::Dead, slot: Slot::Empty, unique: false };
        }
        Plan::Binary { spec: Spec::Generic | Spec::Str, dst, .. } | Plan::Unary { spec: Spec::Generic | Spec::Str, dst, .. } => {
            define_in_slot(st, *dst)
        }
        Plan::Binary { spec, dst, .. } => {
            let gives_bool = binop_of(ins).is_some_and(|(op, ..)| op.gives_bool());
            let val = match spec {
                _ if gives_bool => Val::Bool,
                Spec::Float => Val::Float,
                Spec::Bool => Val::Bool,
                _ => Val::Int,
            };
            define_unboxed(st, *dst, val);
        }
        Plan::Unary { spec, dst, .. } => {
            let val = match spec {
                _ if matches!(ins, Instr::NotR { .. }) => Val::Bool,
                Spec::Float => Val::Float,
                Spec::Bool => Val::Bool,
                _ => Val::Int,
            };
            define_unboxed(st, *dst, val);
        }
        Plan::Generic { dst, .. } => {
            if let Some(d) = dst {
                define_in_slot(st, *d);
                // A new array is held by its register alone.
                st[*d as usize].unique = matches!(ins, Instr::NewArrayR { .. });
            }
        }
        Plan::Dict { access: DictAccess::Get { dst, expect: Some(t) }, .. } => define_unboxed(st, *dst, Val::unboxed(*t)),
        Plan::Dict { access: DictAccess::Get { dst, expect: None }, .. } => define_in_slot(st, *dst),
        Plan::Dict { access: DictAccess::Contains { dst }, .. } => define_unboxed(st, *dst, Val::Bool),
        Plan::Dict { access: DictAccess::Set { .. }, .. } => {}
        Plan::ArrayGet { dst, elem, .. } => define_unboxed(st, *dst, Val::unboxed(*elem)),
        Plan::ArrayGetValue { dst, .. } => define_in_slot(st, *dst),
        Plan::Concat { dst, .. } => define_in_slot(st, *dst),
        Plan::Cast { to, dst, .. } => define_unboxed(st, *dst, Val::unboxed(*to)),
        Plan::ArrayLen { dst, .. } => define_unboxed(st, *dst, Val::Int),
        // Written in place, its view unchanged, or by the helper, the view read again.
        // Held alone afterwards: the write went in place or through `Rc::make_mut`.
        Plan::ArraySet { arr, .. } => {
            st[*arr as usize].val = Val::Array;
            st[*arr as usize].unique = true;
        }
        Plan::Call { callee: Some(_), dst, expect: Some(t @ (Tag::Int | Tag::Float | Tag::Bool)), .. } => {
            define_unboxed(st, *dst, Val::unboxed(*t))
        }
        Plan::Call { dst, .. } => define_in_slot(st, *dst),
        Plan::Native { dst, expect: Some(t @ (Tag::Int | Tag::Float | Tag::Bool)), .. } => define_unboxed(st, *dst, Val::unboxed(*t)),
        Plan::Native { dst, .. } => define_in_slot(st, *dst),
        Plan::Inline { f, spec, dst, .. } => define_unboxed(st, *dst, f.result(*spec)),
        Plan::TypeTest { dst, .. } => define_unboxed(st, *dst, Val::Bool),
        Plan::Len { dst, .. } => define_unboxed(st, *dst, Val::Int),
        // A slot-held condition is tested by a helper; nothing is learnt.
        Plan::Nop | Plan::Jump | Plan::Branch { .. } | Plan::Return(_) | Plan::Halt | Plan::Phi => {}
    }
}

/// The state after `plan` for instruction `ins`: [`operands`] then [`define`].
pub(crate) fn apply(plan: &Plan, ins: &Instr, st: &mut State) {
    operands(plan, ins, st);
    define(plan, ins, st);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbc::operand::{Dst, Src};
    use mdvm_runtime::program::Callee;

    const INT_PLAIN: Reg = Reg { val: Val::Int, slot: Slot::Plain, unique: false };

    fn state(regs: &[Reg]) -> State {
        regs.to_vec()
    }

    #[test]
    fn an_unboxed_definition_gives_up_the_slot_it_owned() {
        let mut st = state(&[Reg::MEM, Reg { val: Val::Empty, slot: Slot::Empty, unique: false }]);
        define_unboxed(&mut st, 0, Val::Int);
        define_unboxed(&mut st, 1, Val::Float);
        // r0's slot was released (it may hold a stale plain value); r1's stays empty.
        assert_eq!(st, state(&[INT_PLAIN, Reg { val: Val::Float, slot: Slot::Empty, unique: false }]));
        define_in_slot(&mut st, 1);
        assert_eq!(st[1], Reg::MEM);
    }

    #[test]
    fn a_copy_of_a_slot_owns_its_copy_and_leaves_the_view_behind() {
        let arr = Reg { val: Val::Array, slot: Slot::Owned, unique: false };
        let mut st = state(&[arr, INT_PLAIN, Reg::MEM]);
        copy(&mut st, 2, 0);
        assert_eq!(st[2], Reg::MEM, "the view stays with r0's variables");
        assert_eq!(st[0], arr);
        copy(&mut st, 0, 1);
        assert_eq!(st[0], INT_PLAIN, "an unboxed copy releases what r0's slot owned");
        let before = st.clone();
        copy(&mut st, 1, 1);
        assert_eq!(st, before, "a copy onto itself does nothing");
    }

    #[test]
    fn guarded_operands_are_unboxed_and_generic_operands_are_written_to_slots() {
        let ins = Instr::AddR { dst: Dst(2), a: Src(0), b: Src(1) };
        let mut st = state(&[Reg::MEM, INT_PLAIN, Reg::MEM]);
        let plan = Plan::Binary { spec: Spec::Int, dst: 2, a: 0, b: 1, oa: Operand::Guard(Tag::Int), ob: Operand::Ready };
        operands(&plan, &ins, &mut st);
        assert_eq!(st[0], INT_PLAIN, "after its guard r0 is an unboxed int, its slot the plain copy");
        define(&plan, &ins, &mut st);
        assert_eq!(st[2], INT_PLAIN);

        let mut st = state(&[Reg { val: Val::Fn(Callee::Body(1), 3), slot: Slot::Empty, unique: false }, Reg { val: Val::Int, slot: Slot::Empty, unique: false }, Reg::MEM]);
        let plan = Plan::Binary { spec: Spec::Generic, dst: 2, a: 0, b: 1, oa: Operand::Ready, ob: Operand::Ready };
        apply(&plan, &ins, &mut st);
        assert_eq!(st[0], Reg::MEM, "the function name now lives in its slot");
        assert_eq!(st[1], Reg { val: Val::Int, slot: Slot::Plain, unique: false }, "the slot holds a plain copy");
        assert_eq!(st[2], Reg::MEM);
    }

    /// An array is known to be held alone from `NEW_ARRAY_R` or a write on it, through reads
    /// and moves out of a dead register, until a copy or any other read may share it.
    #[test]
    fn arrays_are_held_alone_from_a_write_until_something_else_reads_them() {
        let mut st = state(&[Reg::MEM, INT_PLAIN, Reg::MEM, Reg::MEM]);
        let new = Instr::NewArrayR { dst: Dst(0), size: Src(1) };
        apply(&Plan::Generic { dst: Some(0), uses: vec![1] }, &new, &mut st);
        assert!(st[0].unique, "a new array");
        let set = Instr::ArraySetR { arr: Src(2), idx: Src(1), val: Src(1) };
        apply(&Plan::ArraySet { arr: 2, idx: 1, oi: Operand::Ready, val: 1 }, &set, &mut st);
        assert!(st[2].unique && st[2].val == Val::Array, "written: held alone, its view known");
        let get = Instr::ArrayGetR { dst: Dst(1), arr: Src(2), idx: Src(1) };
        apply(&Plan::ArrayGet { dst: 1, arr: 2, idx: 1, oi: Operand::Ready, elem: Tag::Int, packed: true }, &get, &mut st);
        assert!(st[2].unique, "a read of an element shares nothing");
        let mv = Instr::MoveR { dst: Dst(3), src: Src(2) };
        apply(&Plan::MoveOut(3, 2), &mv, &mut st);
        assert!(st[3].unique && !st[2].unique, "moved out: the destination holds it alone");
        apply(&Plan::Move(2, 3), &Instr::MoveR { dst: Dst(2), src: Src(3) }, &mut st);
        assert!(!st[3].unique && !st[2].unique, "a copy shares it");
        let mut st = state(&[Reg::MEM, INT_PLAIN, Reg { unique: true, ..Reg::MEM }]);
        let call = Instr::DebugPrint { src: Src(2) };
        apply(&Plan::Generic { dst: None, uses: vec![2] }, &call, &mut st);
        assert!(!st[2].unique, "any other read may take a reference");
    }

    #[test]
    fn comparisons_define_bools_whatever_they_compare() {
        let ins = Instr::LtR { dst: Dst(2), a: Src(0), b: Src(1) };
        let float = Reg { val: Val::Float, slot: Slot::Plain, unique: false };
        let mut st = state(&[float, float, Reg::MEM]);
        let plan = Plan::Binary { spec: Spec::Float, dst: 2, a: 0, b: 1, oa: Operand::Ready, ob: Operand::Ready };
        apply(&plan, &ins, &mut st);
        assert_eq!(st[2].val, Val::Bool);
        let not = Instr::NotR { dst: Dst(1), src: Src(0) };
        let mut st = state(&[float, Reg::MEM]);
        apply(&Plan::Unary { spec: Spec::Float, dst: 1, src: 0, o: Operand::Ready }, &not, &mut st);
        assert_eq!(st[1].val, Val::Bool);
    }

    #[test]
    fn array_reads_and_writes_keep_the_view_and_helpers_drop_it() {
        let mut st = state(&[Reg::MEM, Reg::MEM, Reg::MEM]);
        let read = Plan::ArrayGet { dst: 2, arr: 0, idx: 1, oi: Operand::Guard(Tag::Int), elem: Tag::Float, packed: true };
        apply(&read, &Instr::Nop {}, &mut st);
        assert_eq!(st[0].val, Val::Array);
        assert_eq!(st[1], INT_PLAIN);
        assert_eq!(st[2], Reg { val: Val::Float, slot: Slot::Plain, unique: false });
        apply(&Plan::ArraySet { arr: 0, idx: 1, oi: Operand::Ready, val: 2 }, &Instr::Nop {}, &mut st);
        assert_eq!(st[0], Reg { val: Val::Array, slot: Slot::Owned, unique: true }, "written in place, or the view read again after the helper; held alone");
        let mut st = state(&[Reg { val: Val::Array, slot: Slot::Owned, unique: false }, Reg::MEM]);
        apply(&Plan::Generic { dst: Some(1), uses: vec![0] }, &Instr::Nop {}, &mut st);
        assert_eq!(st[0], Reg::MEM, "a helper may write the array in place");
    }

    #[test]
    fn calls_define_their_result_as_compiled_for() {
        let mut st = state(&[Reg::MEM, INT_PLAIN, Reg::MEM]);
        let known = Plan::Call { callee: Some(1), func: 0, dst: 2, args: vec![1], expect: Some(Tag::Int) };
        apply(&known, &Instr::Nop {}, &mut st);
        assert_eq!(st, state(&[Reg::MEM, INT_PLAIN, INT_PLAIN]), "arguments are copied, not written to their slots");
        let mut st = state(&[Reg { val: Val::Fn(Callee::Body(1), 0), slot: Slot::Empty, unique: false }, Reg { val: Val::Int, slot: Slot::Empty, unique: false }, INT_PLAIN]);
        let dynamic = Plan::Call { callee: None, func: 0, dst: 2, args: vec![1], expect: None };
        apply(&dynamic, &Instr::Nop {}, &mut st);
        assert_eq!(st[0], Reg::MEM);
        assert_eq!(st[1], INT_PLAIN, "the runtime reads the argument from its slot");
        assert_eq!(st[2], Reg::MEM);
    }
}
