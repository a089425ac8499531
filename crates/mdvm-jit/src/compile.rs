//! Lowering of one body (or OSR entry) to CLIF.
//!
//! Two passes share one set of decisions:
//!
//! 1. **Type analysis**: a forward dataflow over the basic blocks computes, for every block
//!    head, the state of each VM register: where its value lives ([`Val`]: in its frame slot,
//!    or unboxed in a CLIF variable as empty/bool/int/float) and what its frame slot may hold
//!    ([`Slot`]). [`Lowerer::plan`] decides each instruction's specialization from the state
//!    and the interpreter's feedback; [`apply`] is its effect on the state.
//! 2. **Code generation** walks the blocks again with the same plans and emits CLIF.
//!
//! Phis are resolved on CFG edges (the predecessor's block id is the index of its last
//! instruction, DESIGN.md section 5); an edge also materializes registers whose state differs
//! at the join, and, when metered, charges the target block's fuel.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, Block, ExtFuncData, ExternalName, FuncRef, Function, InstBuilder, MemFlagsData as MemFlags, SigRef,
    Signature, Type, UserExternalName, UserFuncName, Value as ClifValue,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use mdbc::cfg::{Cfg, RegSet};
use mdbc::{Constant, Instr};
use mdvm_runtime::array::KIND_VALUES;
use mdvm_runtime::feedback::{Feedback, SiteTypes, VALUES_ARRAY};
use mdvm_runtime::native::{self as rt, DeoptReason, RET_NONE, RET_UNWIND};
use mdvm_runtime::program::Program;
use mdvm_runtime::value::Tag;

use crate::counted::{self, CountedLoop};
use crate::ranges::{self, Facts};

/// Which entry of a body to build.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry<'a> {
    /// The **typed entry** `(ctx, base, p1, .., pk) -> NativeRet`: the body's typed parameters
    /// ([`typed_params`]) arrive unboxed as CLIF parameters (i64 for ints and bools, f64 for
    /// floats; an `Empty` parameter passes nothing) and their frame slots are `Empty`. Compiled
    /// callers whose arguments are already unboxed call it directly. A body with calls checks
    /// the native stack here, once per activation: near the end of the segment it boxes its
    /// parameters into their slots and runs on a new segment through its generic entry
    /// `generic` (a function id of the JIT module), so call sites need no check of their own.
    Typed { generic: u32 },
    /// The **generic entry** [`rt::NativeEntry`] `(ctx, base)`: guards the typed parameters in
    /// their slots (a failure side-exits to the body's start), unboxes them, empties their
    /// slots and calls the typed entry `fast` (a function id of the JIT module).
    Generic { fast: u32 },
    /// An OSR entry `(ctx, base)` at loop `header` entered from `latch` (bytecode indices),
    /// guarding the frame's live registers to their current `tags`.
    Osr { header: u32, latch: u32, tags: &'a [Tag] },
}

/// A compiled body's typed entry (see [`Entry::Typed`]), callable directly from compiled code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TypedEntry {
    /// The function's id in the JIT module.
    pub func: u32,
    /// The parameters it takes unboxed, as (register, type), in register order.
    pub params: Vec<(u8, Tag)>,
}

/// What to compile.
pub(crate) struct Request<'a> {
    pub program: &'a Program,
    pub feedback: &'a Feedback,
    pub body: u32,
    /// Which entry to build.
    pub entry: Entry<'a>,
    /// Typed entries of compiled bodies (the body being compiled included, for self-calls).
    pub typed: &'a HashMap<u32, TypedEntry>,
    /// Bytecode indices to compile without speculation.
    pub generic: &'a HashSet<u32>,
    /// Loop headers (bytecode indices) whose trip-count guard failed: no counted-loop
    /// accumulator plan for them ([`crate::counted`]).
    pub unbounded_loops: &'a HashSet<u32>,
    pub stress: bool,
    pub metered: bool,
}

/// Where a register's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// In its frame slot (any type); the slot owns it.
    Mem,
    /// The string constant `.1` naming function body `.0` (a known callee), not yet written
    /// to its slot (which holds no heap value); written there when something reads the slot.
    Fn(u32, u16),
    /// Known empty.
    Empty,
    /// Unboxed bool (0/1 in the register's i64 variable).
    Bool,
    /// Unboxed int (the register's i64 variable).
    Int,
    /// Unboxed float (the register's f64 variable).
    Float,
    /// Not live here: its value will never be read (its slot state still matters).
    Dead,
    /// In its slot (which owns it), known to be an array whose **view** ([`View`], read
    /// through [`mdvm_runtime::value::ArrayLayout`]) is in the register's view variables. The
    /// view stays valid while the slot keeps this value: only a write to the register or an
    /// `ARRAY_SET_R` on it (copy-on-write may move the elements, a write may change the
    /// array's form) can change it, and both leave this state. Another register sharing the
    /// array copies it before writing.
    Array,
}

impl Val {
    fn in_slot(self) -> bool {
        matches!(self, Val::Mem | Val::Array)
    }

    /// The state of another register given a copy of this one's slot (a view stays with the
    /// register whose variables hold it).
    fn copied(self) -> Val {
        match self {
            Val::Array => Val::Mem,
            v => v,
        }
    }

    /// The unboxed form of a value of type `t` (empty, bool, int or float; anything else is
    /// `Empty` here, for the parameters and registers only those four types reach).
    fn unboxed(t: Tag) -> Val {
        match t {
            Tag::Int => Val::Int,
            Tag::Float => Val::Float,
            Tag::Bool => Val::Bool,
            _ => Val::Empty,
        }
    }
}

/// What a register's frame slot may hold (ordered: later is more general).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// `Empty`.
    Empty,
    /// `Empty` or a plain (non-heap) value.
    Plain,
    /// Any value, owned (a heap reference must be released).
    Owned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reg {
    val: Val,
    slot: Slot,
}

type State = Vec<Reg>;

fn merge_reg(a: Reg, b: Reg) -> Reg {
    if a.val == b.val {
        Reg { val: a.val, slot: a.slot.max(b.slot) }
    } else {
        Reg { val: Val::Mem, slot: Slot::Owned }
    }
}

/// Which types a binary operation is specialised to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    Int,
    Float,
    Bool,
    /// Both operands strings (guarded), the operation itself through the generic path.
    Str,
    Generic,
}

/// How one operand is obtained in a specialised op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operand {
    /// Already unboxed with the needed type.
    Ready,
    /// In its slot: guard that its tag is this one, then unbox.
    Guard(Tag),
    /// Unboxed int used as a float.
    IntToFloat,
    /// In its slot: guard that it is an int, unbox, use as float.
    GuardIntToFloat,
}

/// The decision for one instruction.
#[derive(Clone, Debug, PartialEq)]
enum Plan {
    Nop,
    ConstInt(u8, i64),
    ConstFloat(u8, f64),
    ConstBool(u8, bool),
    ConstEmpty(u8),
    /// A string constant (through the generic path).
    ConstStr(u8, Option<u32>),
    /// A string constant naming a function: known statically, written to the slot lazily.
    ConstFn(u8, u32, u16),
    Move(u8, u8),
    /// Binary arithmetic / comparison specialised to `spec`.
    Binary { spec: Spec, dst: u8, a: u8, b: u8, oa: Operand, ob: Operand },
    Unary { spec: Spec, dst: u8, src: u8, o: Operand },
    /// Executed by `mdvm_exec` (operands spilled to their slots; `dst` ends in its slot).
    Generic { dst: Option<u8>, uses: Vec<u8> },
    /// `ARRAY_GET_R` read in machine code through the array's view ([`Val::Array`]; the slot of
    /// `arr` guarded to hold an array when it is not known to), the index an int (operand
    /// `oi`), bounds checked (out of range side-exits so the interpreter raises the error),
    /// the element guarded to have tag `elem` (int, float or bool) and unboxed into `dst`.
    /// `packed`: the array is expected packed ([`mdvm_runtime::array`]) with `elem` elements.
    ArrayGet { dst: u8, arr: u8, idx: u8, oi: Operand, elem: Tag, packed: bool },
    /// `ARRAY_LEN_R` read in machine code (the slot of `arr` guarded to hold an array).
    ArrayLen { dst: u8, arr: u8 },
    /// `ARRAY_SET_R` of an unboxed empty, bool, int or float `val` at an int index (operand
    /// `oi`), through `mdvm_array_set_plain` (no spills, no instruction decoding).
    ArraySet { arr: u8, idx: u8, oi: Operand, val: u8 },
    Call { callee: Option<u32>, func: u8, dst: u8, args: Vec<u8>, expect: Option<Tag> },
    Jump,
    Branch { cond: u8, when: bool },
    Return(Option<u8>),
    Halt,
    /// Phis are resolved on edges.
    Phi,
}

/// What every kind of binary op does natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
}

pub(crate) fn binop_of(ins: &Instr) -> Option<(BinOp, u8, u8, u8)> {
    Some(match ins {
        Instr::AddR { dst, a, b } => (BinOp::Add, dst.0, a.0, b.0),
        Instr::SubR { dst, a, b } => (BinOp::Sub, dst.0, a.0, b.0),
        Instr::MulR { dst, a, b } => (BinOp::Mul, dst.0, a.0, b.0),
        Instr::DivR { dst, a, b } => (BinOp::Div, dst.0, a.0, b.0),
        Instr::ModR { dst, a, b } => (BinOp::Mod, dst.0, a.0, b.0),
        Instr::EqR { dst, a, b } => (BinOp::Eq, dst.0, a.0, b.0),
        Instr::NeqR { dst, a, b } => (BinOp::Ne, dst.0, a.0, b.0),
        Instr::LtR { dst, a, b } => (BinOp::Lt, dst.0, a.0, b.0),
        Instr::GtR { dst, a, b } => (BinOp::Gt, dst.0, a.0, b.0),
        Instr::LteR { dst, a, b } => (BinOp::Le, dst.0, a.0, b.0),
        Instr::GteR { dst, a, b } => (BinOp::Ge, dst.0, a.0, b.0),
        Instr::AndR { dst, a, b } => (BinOp::And, dst.0, a.0, b.0),
        Instr::OrR { dst, a, b } => (BinOp::Or, dst.0, a.0, b.0),
        _ => return None,
    })
}

pub(crate) fn is_compare(op: BinOp) -> bool {
    matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge)
}

/// The state after the registers among `uses` are spilled for a generic path (which reads
/// slots): a lazily written function name now lives in its slot, and an unboxed value's slot
/// now holds a plain copy (which the return must clear).
fn materialize_uses(st: &mut State, uses: &[u8]) {
    for &r in uses {
        let reg = &mut st[r as usize];
        match reg.val {
            Val::Fn(..) => *reg = Reg { val: Val::Mem, slot: Slot::Owned },
            Val::Int | Val::Float | Val::Bool => reg.slot = reg.slot.max(Slot::Plain),
            // A generic operation may write the array in place (`ARRAY_SET_R`).
            Val::Array => reg.val = Val::Mem,
            _ => {}
        }
    }
}

/// The effect of a plan on the register state (must match what the code generator emits).
fn apply(plan: &Plan, ins: &Instr, st: &mut State) {
    fn set_unboxed(st: &mut State, r: u8, val: Val) {
        let reg = &mut st[r as usize];
        reg.slot = if reg.slot == Slot::Owned { Slot::Plain } else { reg.slot };
        reg.val = val;
    }
    fn refine(st: &mut State, r: u8, o: Operand) {
        match o {
            Operand::Guard(Tag::Int) | Operand::GuardIntToFloat => {
                st[r as usize] = Reg { val: Val::Int, slot: Slot::Plain }
            }
            Operand::Guard(Tag::Float) => st[r as usize] = Reg { val: Val::Float, slot: Slot::Plain },
            Operand::Guard(Tag::Bool) => st[r as usize] = Reg { val: Val::Bool, slot: Slot::Plain },
            _ => {}
        }
    }
    match plan {
        Plan::Nop | Plan::Jump | Plan::Phi | Plan::Return(_) | Plan::Halt => {}
        Plan::ConstInt(d, _) => set_unboxed(st, *d, Val::Int),
        Plan::ConstFloat(d, _) => set_unboxed(st, *d, Val::Float),
        Plan::ConstBool(d, _) => set_unboxed(st, *d, Val::Bool),
        Plan::ConstEmpty(d) => set_unboxed(st, *d, Val::Empty),
        Plan::ConstStr(d, _) => st[*d as usize] = Reg { val: Val::Mem, slot: Slot::Owned },
        Plan::ConstFn(d, f, k) => set_unboxed(st, *d, Val::Fn(*f, *k)),
        Plan::Move(d, s) => {
            let src = st[*s as usize];
            if d != s {
                if src.val.in_slot() {
                    st[*d as usize] = Reg { val: src.val.copied(), slot: Slot::Owned };
                } else {
                    set_unboxed(st, *d, src.val);
                }
            }
        }
        Plan::Binary { spec, dst, a, b, oa, ob } => {
            refine(st, *a, *oa);
            refine(st, *b, *ob);
            if matches!(spec, Spec::Generic | Spec::Str) {
                materialize_uses(st, &[*a, *b]);
            }
            let op = binop_of(ins).map(|x| x.0);
            let val = match (spec, op) {
                (_, Some(o)) if is_compare(o) || matches!(o, BinOp::And | BinOp::Or) => Val::Bool,
                (Spec::Int, _) => Val::Int,
                (Spec::Float, _) => Val::Float,
                (Spec::Bool, _) => Val::Bool,
                (Spec::Generic | Spec::Str, _) => Val::Mem,
            };
            if matches!(spec, Spec::Generic | Spec::Str) {
                st[*dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
            } else {
                set_unboxed(st, *dst, val);
            }
        }
        Plan::Unary { spec, dst, src, o } => {
            refine(st, *src, *o);
            if *spec == Spec::Generic {
                materialize_uses(st, &[*src]);
            }
            match spec {
                Spec::Generic | Spec::Str => st[*dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned },
                Spec::Int => set_unboxed(st, *dst, if matches!(ins, Instr::NotR { .. }) { Val::Bool } else { Val::Int }),
                Spec::Float => set_unboxed(st, *dst, if matches!(ins, Instr::NotR { .. }) { Val::Bool } else { Val::Float }),
                Spec::Bool => set_unboxed(st, *dst, Val::Bool),
            }
        }
        Plan::Generic { dst, uses } => {
            materialize_uses(st, uses);
            if let Some(d) = dst {
                st[*d as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
            }
        }
        Plan::ArrayGet { dst, arr, idx, oi, elem, .. } => {
            st[*arr as usize].val = Val::Array;
            refine(st, *idx, *oi);
            set_unboxed(st, *dst, Val::unboxed(*elem));
        }
        Plan::ArrayLen { dst, arr } => {
            st[*arr as usize].val = Val::Array;
            set_unboxed(st, *dst, Val::Int);
        }
        Plan::ArraySet { arr, idx, oi, .. } => {
            refine(st, *idx, *oi);
            // The view is read again by the next array operation (the elements may have
            // moved, the kind changed).
            st[*arr as usize].val = Val::Mem;
        }
        Plan::Call { callee: None, func, dst, args, .. } => {
            let mut regs = args.clone();
            regs.push(*func);
            regs.push(*dst);
            materialize_uses(st, &regs);
            st[*dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
        }
        Plan::Call { dst, expect, .. } => match expect {
            Some(Tag::Int) => set_unboxed(st, *dst, Val::Int),
            Some(Tag::Float) => set_unboxed(st, *dst, Val::Float),
            Some(Tag::Bool) => set_unboxed(st, *dst, Val::Bool),
            _ => st[*dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned },
        },
        // A slot-held condition is tested by a helper; nothing is learnt.
        Plan::Branch { .. } => {}
    }
}

/// One segment of a block for fuel: instructions `start..end`, charged at its start.
fn segments(m: &mdbc::Module, start: u32, end: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    let mut s = start;
    for i in start..end {
        if matches!(m.code[i as usize], Instr::CallR { .. }) && i + 1 < end {
            v.push((s, i + 1));
            s = i + 1;
        }
    }
    v.push((s, end));
    v
}

/// Helper signatures, imported once per function.
struct Sigs {
    entry: SigRef,
    exec: SigRef,
    call_interp: SigRef,
    deopt: SigRef,
    release: SigRef,
    copy: SigRef,
    truthy: SigRef,
    halt: SigRef,
    reserve: SigRef,
    call_dynamic: SigRef,
    load_const: SigRef,
    call_switch: SigRef,
    array_set: SigRef,
}

pub(crate) struct Lowerer<'r, 'a> {
    req: &'r Request<'a>,
    m: &'a mdbc::Module,
    cfg: Cfg,
    live_out: Vec<RegSet>,
    nregs: usize,
    code_start: u32,
    bc_start: u32,
    /// Block reachability from the compiled entry.
    reachable: Vec<bool>,
    /// State at each block head after its phis (None: not reached yet).
    head: Vec<Option<State>>,
    /// The int each register holds whenever it holds an int, when only one is possible
    /// (see [`single_constants`]).
    int_consts: Vec<Option<i64>>,
    /// See [`Lowerer::view_forms`].
    view_forms: Vec<Option<u8>>,
    /// Per block, the int range facts at its start after its phis ([`ranges`]).
    entry_facts: Vec<Facts>,
}

impl<'r, 'a> Lowerer<'r, 'a> {
    fn ipc(&self, bc: u32) -> usize {
        (self.code_start + (bc - self.bc_start)) as usize
    }

    /// For the `ARRAY_GET_R` at `bc`, the element type to read in machine code (int, float or
    /// bool, from its feedback) and whether to read it packed: ints and floats are, unless
    /// the site saw an array of values ([`VALUES_ARRAY`]). `None`: read generically.
    fn array_get_elem(&self, bc: u32) -> Option<(Tag, bool)> {
        let out = self.site(bc).out;
        let elem = Self::expected(out & !VALUES_ARRAY).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool))?;
        Some((elem, matches!(elem, Tag::Int | Tag::Float) && out & VALUES_ARRAY == 0))
    }

    /// Per register, the array kind ([`mdvm_runtime::array::Array::kind`]) every element
    /// read of it in `start..end` is compiled for, when they all agree: its view then guards
    /// that kind once, where it is read, instead of at every element read.
    fn view_forms(&self, start: u32, end: u32) -> Vec<Option<u8>> {
        // None: no read yet; Some(Some(k)): all reads want k; Some(None): they differ.
        let mut forms: Vec<Option<Option<u8>>> = vec![None; self.nregs];
        for bc in start..end {
            let Instr::ArrayGetR { arr, .. } = &self.m.code[bc as usize] else { continue };
            let Some((elem, packed)) = self.array_get_elem(bc) else { continue };
            let k = if packed { elem as u8 } else { KIND_VALUES };
            let f = &mut forms[arr.0 as usize];
            *f = match *f {
                None => Some(Some(k)),
                Some(Some(j)) if j == k => Some(Some(k)),
                _ => Some(None),
            };
        }
        forms.into_iter().map(Option::flatten).collect()
    }

    fn site(&self, bc: u32) -> SiteTypes {
        self.req.feedback.site_types[self.ipc(bc)]
    }

    fn live_in(&self, bc: u32) -> RegSet {
        self.cfg.live_in_at(self.m, &self.live_out, bc)
    }

    /// The tag feedback says an operand has, if it names exactly one (or nothing was seen:
    /// then `Int` is assumed, and a wrong guess costs one side exit).
    fn expected(mask: u16) -> Option<Tag> {
        if mask == 0 {
            return Some(Tag::Int);
        }
        if mask.count_ones() == 1 {
            Tag::from_u8(mask.trailing_zeros() as u8)
        } else {
            None
        }
    }

    /// How to get operand `r` (state `reg`) as type `want` (Int or Float) given the tag
    /// feedback expects (`exp`); `None` if it cannot be done without the generic path.
    fn operand(reg: Reg, want: Spec, exp: Option<Tag>) -> Option<Operand> {
        match (want, reg.val) {
            (Spec::Int, Val::Int) | (Spec::Float, Val::Float) | (Spec::Bool, Val::Bool) => Some(Operand::Ready),
            (Spec::Float, Val::Int) => Some(Operand::IntToFloat),
            (Spec::Int, Val::Mem) if exp == Some(Tag::Int) => Some(Operand::Guard(Tag::Int)),
            (Spec::Float, Val::Mem) if exp == Some(Tag::Float) => Some(Operand::Guard(Tag::Float)),
            (Spec::Float, Val::Mem) if exp == Some(Tag::Int) => Some(Operand::GuardIntToFloat),
            (Spec::Bool, Val::Mem) if exp == Some(Tag::Bool) => Some(Operand::Guard(Tag::Bool)),
            (Spec::Str, Val::Fn(..)) => Some(Operand::Ready),
            (Spec::Str, Val::Mem) if exp == Some(Tag::Str) => Some(Operand::Guard(Tag::Str)),
            _ => None,
        }
    }

    /// Whether an array operation on register `arr` (its feedback mask `seen`) is done in
    /// machine code: the register is known to hold an array, or it is in its slot and
    /// feedback saw only arrays there (or nothing yet: then an array is assumed and a wrong
    /// guess costs one side exit); the site is not generic, and this build's array layout is
    /// known.
    fn native_array(&self, generic_site: bool, arr: u8, seen: u16, st: &State) -> bool {
        let val = st[arr as usize].val;
        !generic_site
            && (val == Val::Array || (val == Val::Mem && (seen == 0 || seen == 1 << Tag::Array as u16)))
            && mdvm_runtime::value::array_layout().is_some()
    }

    /// The type a register would have after its guard, for choosing a specialisation.
    fn likely(reg: Reg, exp: Option<Tag>) -> Option<Tag> {
        match reg.val {
            Val::Int => Some(Tag::Int),
            Val::Float => Some(Tag::Float),
            Val::Bool => Some(Tag::Bool),
            // A dead register is never read (liveness); it would read as empty.
            Val::Empty | Val::Dead => Some(Tag::Empty),
            Val::Fn(..) => Some(Tag::Str),
            Val::Array => Some(Tag::Array),
            Val::Mem => exp,
        }
    }

    fn plan(&self, bc: u32, st: &State) -> Plan {
        let ins = &self.m.code[bc as usize];
        let generic_site = self.req.generic.contains(&bc);
        let uses = |ins: &Instr| {
            let mut v = Vec::new();
            ins.for_each_use(|r| v.push(r));
            v
        };
        let generic = |ins: &Instr| Plan::Generic { dst: ins.def(), uses: uses(ins) };
        match ins {
            Instr::DefineR { .. }
            | Instr::ScopeEnterR { .. }
            | Instr::ScopeExitR { .. }
            | Instr::Breakpoint {}
            | Instr::Nop {} => Plan::Nop,
            Instr::LoadConstR { dst, k } => match &self.m.constants[k.0 as usize] {
                Constant::Int(i) => Plan::ConstInt(dst.0, *i),
                Constant::Float(f) => Plan::ConstFloat(dst.0, *f),
                Constant::Bool(b) => Plan::ConstBool(dst.0, *b),
                Constant::Empty => Plan::ConstEmpty(dst.0),
                Constant::Str(s) => match self.req.program.by_name.get(s.as_str()) {
                    Some(&f) => Plan::ConstFn(dst.0, f, k.0),
                    None => Plan::ConstStr(dst.0, None),
                },
            },
            Instr::MoveR { dst, src } => Plan::Move(dst.0, src.0),
            Instr::JumpR { .. } => Plan::Jump,
            Instr::JumpIfR { cond, .. } => Plan::Branch { cond: cond.0, when: true },
            Instr::JumpIfNotR { cond, .. } => Plan::Branch { cond: cond.0, when: false },
            Instr::ReturnR { value } => Plan::Return(value.0),
            Instr::Halt {} => Plan::Halt,
            Instr::PhiR { .. } => Plan::Phi,
            Instr::ArrayGetR { dst, arr, idx } => {
                let site = self.site(bc);
                let oi = Self::operand(st[idx.0 as usize], Spec::Int, Self::expected(site.b));
                match (self.native_array(generic_site, arr.0, site.a, st) && arr != idx, oi, self.array_get_elem(bc)) {
                    (true, Some(oi), Some((elem, packed))) => Plan::ArrayGet { dst: dst.0, arr: arr.0, idx: idx.0, oi, elem, packed },
                    _ => generic(ins),
                }
            }
            Instr::ArrayLenR { dst, arr } if self.native_array(generic_site, arr.0, 0, st) => {
                Plan::ArrayLen { dst: dst.0, arr: arr.0 }
            }
            Instr::ArraySetR { arr, idx, val } => {
                let site = self.site(bc);
                let oi = Self::operand(st[idx.0 as usize], Spec::Int, Self::expected(site.b));
                let plain = matches!(st[val.0 as usize].val, Val::Empty | Val::Bool | Val::Int | Val::Float);
                match (self.native_array(generic_site, arr.0, site.a, st) && arr != idx && plain, oi) {
                    (true, Some(oi)) => Plan::ArraySet { arr: arr.0, idx: idx.0, oi, val: val.0 },
                    _ => generic(ins),
                }
            }
            Instr::CallR { func, dst, args } => {
                let site = &self.req.program.call_sites;
                // The call site's own load-time resolution, or a known function string.
                let ipc = self.ipc(bc);
                let target = match self.req.program.code[ipc] {
                    mdvm_runtime::program::Op::Call { site: s } | mdvm_runtime::program::Op::LoadCall { site: s } => {
                        site[s as usize].target
                    }
                    _ => None,
                };
                let callee = target.or(match st[func.0 as usize].val {
                    Val::Fn(b, _) => Some(b),
                    _ => None,
                });
                // The result type feedback saw (an int when the call never ran yet; a wrong
                // guess costs one side exit after the call and makes the site generic).
                let out = self.site(bc).out;
                let expect = if generic_site || callee.is_none() {
                    None
                } else {
                    Self::expected(out).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool))
                };
                Plan::Call { callee, func: func.0, dst: dst.0, args: args.0.clone(), expect }
            }
            Instr::NegR { dst, src } | Instr::NotR { dst, src } => {
                let reg = st[src.0 as usize];
                let exp = Self::expected(self.site(bc).a);
                let is_not = matches!(ins, Instr::NotR { .. });
                if generic_site {
                    return Plan::Unary { spec: Spec::Generic, dst: dst.0, src: src.0, o: Operand::Ready };
                }
                let exp = if is_not && self.site(bc).a == 0 { None } else { exp };
                let t = Self::likely(reg, exp);
                let spec = match t {
                    Some(Tag::Int) => Spec::Int,
                    Some(Tag::Float) => Spec::Float,
                    Some(Tag::Bool) if is_not => Spec::Bool,
                    _ => Spec::Generic,
                };
                match spec {
                    Spec::Generic => Plan::Unary { spec, dst: dst.0, src: src.0, o: Operand::Ready },
                    s => match Self::operand(reg, s, exp) {
                        Some(o) => Plan::Unary { spec: s, dst: dst.0, src: src.0, o },
                        None => Plan::Unary { spec: Spec::Generic, dst: dst.0, src: src.0, o: Operand::Ready },
                    },
                }
            }
            _ => {
                if let Some((op, dst, a, b)) = binop_of(ins) {
                    let site = self.site(bc);
                    let (ra, rb) = (st[a as usize], st[b as usize]);
                    let (ea, eb) = (Self::expected(site.a), Self::expected(site.b));
                    let gen = Plan::Binary { spec: Spec::Generic, dst, a, b, oa: Operand::Ready, ob: Operand::Ready };
                    if generic_site {
                        return gen;
                    }
                    // And/Or speculate only on what feedback saw (no int guess).
                    let (ea, eb) = match matches!(op, BinOp::And | BinOp::Or) {
                        true => (ea.filter(|_| site.a != 0), eb.filter(|_| site.b != 0)),
                        false => (ea, eb),
                    };
                    let (ta, tb) = (Self::likely(ra, ea), Self::likely(rb, eb));
                    let spec = match (op, ta, tb) {
                        (BinOp::And | BinOp::Or, Some(Tag::Bool), Some(Tag::Bool)) => Spec::Bool,
                        (BinOp::And | BinOp::Or, _, _) => Spec::Generic,
                        (BinOp::Eq | BinOp::Ne, Some(Tag::Bool), Some(Tag::Bool)) => Spec::Bool,
                        (_, Some(Tag::Int), Some(Tag::Int)) => Spec::Int,
                        (_, Some(Tag::Int | Tag::Float), Some(Tag::Int | Tag::Float)) => Spec::Float,
                        (BinOp::Add | BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge, Some(Tag::Str), Some(Tag::Str)) => {
                            Spec::Str
                        }
                        _ => Spec::Generic,
                    };
                    // Float remainder has no native instruction.
                    if spec == Spec::Generic || (spec == Spec::Float && op == BinOp::Mod) {
                        return gen;
                    }
                    match (Self::operand(ra, spec, ea), Self::operand(rb, spec, eb)) {
                        (Some(oa), Some(ob)) => Plan::Binary { spec, dst, a, b, oa, ob },
                        _ => gen,
                    }
                } else {
                    generic(ins)
                }
            }
        }
    }

    /// Applies the phis at the head of block `blk` for an edge from predecessor id `pred`.
    fn phi_moves(&self, blk: u32, pred: u32) -> Vec<(u8, u8)> {
        let b = &self.cfg.blocks[blk as usize];
        let mut moves = Vec::new();
        let mut i = b.start;
        while i < b.end {
            let Instr::PhiR { dst, sources } = &self.m.code[i as usize] else { break };
            if let Some(&(src, _)) = sources.0.iter().find(|(_, blk_id)| *blk_id as u32 == pred) {
                moves.push((dst.0, src));
            }
            i += 1;
        }
        moves
    }

    fn first_non_phi(&self, blk: u32) -> u32 {
        let b = &self.cfg.blocks[blk as usize];
        let mut i = b.start;
        while i < b.end && matches!(self.m.code[i as usize], Instr::PhiR { .. }) {
            i += 1;
        }
        i
    }

    /// State after running a block's non-phi instructions from its head state.
    fn transfer(&self, blk: u32, mut st: State) -> State {
        let b = &self.cfg.blocks[blk as usize];
        for bc in self.first_non_phi(blk)..b.end {
            let plan = self.plan(bc, &st);
            apply(&plan, &self.m.code[bc as usize], &mut st);
        }
        st
    }

    /// State along an edge into `blk` from predecessor id `pred`, after the phis. Registers not
    /// live after the phi run are marked dead, so joins never materialize them.
    fn edge_state(&self, mut st: State, blk: u32, pred: u32) -> State {
        for (dst, src) in self.phi_moves(blk, pred) {
            let plan = Plan::Move(dst, src);
            apply(&plan, &Instr::Nop {}, &mut st);
        }
        let live = self.live_after_phis(blk);
        for (r, reg) in st.iter_mut().enumerate() {
            if !live.contains(r as u8) {
                reg.val = Val::Dead;
            }
        }
        st
    }

    /// Registers live after the phi run at the head of `blk`.
    fn live_after_phis(&self, blk: u32) -> RegSet {
        let b = &self.cfg.blocks[blk as usize];
        let first = self.first_non_phi(blk);
        if first < b.end {
            self.live_in(first)
        } else {
            self.live_out[(b.end - 1 - self.cfg.start) as usize]
        }
    }

    fn successors(&self, blk: u32) -> Vec<u32> {
        self.cfg.blocks[blk as usize].succs.clone()
    }

    /// The forward type analysis: head states of every reachable block.
    fn analyze(&mut self, entry_blk: u32, entry_state: State, entry_pred: u32) {
        let n = self.cfg.blocks.len();
        self.head = vec![None; n];
        self.head[entry_blk as usize] = Some(self.edge_state(entry_state, entry_blk, entry_pred));
        // Head states only move up a finite lattice at joins, so this terminates.
        let mut work = vec![entry_blk];
        while let Some(blk) = work.pop() {
            let out = self.transfer(blk, self.head[blk as usize].clone().expect("queued blocks have a head"));
            let last = self.cfg.blocks[blk as usize].end - 1;
            for s in self.successors(blk) {
                let incoming = self.edge_state(out.clone(), s, last);
                let merged = match &self.head[s as usize] {
                    None => incoming,
                    Some(h) => h.iter().zip(incoming.iter()).map(|(a, b)| merge_reg(*a, *b)).collect(),
                };
                if self.head[s as usize].as_ref() != Some(&merged) {
                    self.head[s as usize] = Some(merged);
                    if !work.contains(&s) {
                        work.push(s);
                    }
                }
            }
        }
        for (i, h) in self.head.iter().enumerate() {
            self.reachable[i] = h.is_some();
        }
    }
}

/// Code generation state.
/// The variables holding what machine code reads of an array ([`Val::Array`]): its length,
/// its kind ([`mdvm_runtime::array::Array::kind`]), and the address and number of the
/// elements stored in that kind's form (packed `u64` words, or 16-byte values).
#[derive(Clone, Copy)]
struct View {
    len: Variable,
    kind: Variable,
    data: Variable,
    bound: Variable,
}

struct Gen<'r, 'a, 'f> {
    l: Lowerer<'r, 'a>,
    b: FunctionBuilder<'f>,
    sigs: Sigs,
    ptr: Type,
    ctx: ClifValue,
    base: ClifValue,
    /// The frame count with this activation's frame (see [`Entry::Typed`]: `ctx.depth` is
    /// written from it before every call into runtime code or a generic entry).
    depth: ClifValue,
    ivars: Vec<Variable>,
    fvars: Vec<Variable>,
    /// Per register, the variables of its array view ([`Val::Array`]).
    views: Vec<View>,
    blocks: Vec<Block>,
    /// While set, side exits refund no fuel (none has been charged yet).
    uncharged_exits: bool,
    /// Typed entries of callees imported into this function.
    callees: HashMap<u32, FuncRef>,
    /// Int range facts at the instruction being emitted ([`ranges`]).
    ranges: Facts,
    /// The counted loops whose accumulators add without a check inside ([`counted`]); each
    /// edge into one's header from outside it checks the trip-count bound.
    counted: Vec<CountedLoop>,
    /// Bytecode indices of those accumulators' additions.
    unchecked_updates: HashSet<u32>,
    /// Set while the OSR entry's edge into its header is emitted (it enters the loop).
    entering_osr: bool,
}

/// The comparison that holds where `op` does not.
pub(crate) fn negated(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Lt => BinOp::Ge,
        BinOp::Le => BinOp::Gt,
        BinOp::Gt => BinOp::Le,
        BinOp::Ge => BinOp::Lt,
        _ => return None,
    })
}

const VALUE_SIZE: i32 = 16;
const PAYLOAD: i32 = 8;

fn flags() -> MemFlags {
    MemFlags::trusted()
}

impl<'r, 'a, 'f> Gen<'r, 'a, 'f> {
    fn iconst(&mut self, v: i64) -> ClifValue {
        self.b.ins().iconst(types::I64, v)
    }

    /// The address of r0's slot, computed where it is used: the value stack may move at any
    /// call out of native code, and keeping no frame pointer live across calls leaves the
    /// registers to the values.
    fn fp(&mut self) -> ClifValue {
        let stack = self.b.ins().load(self.ptr, flags(), self.ctx, rt::OFF_STACK);
        let off = self.b.ins().imul_imm_s(self.base, VALUE_SIZE as i64);
        self.b.ins().iadd(stack, off)
    }

    /// Makes `ctx.depth` say `depth` (before calling runtime code that reads it).
    fn store_depth(&mut self, depth: ClifValue) {
        self.b.ins().store(flags(), depth, self.ctx, rt::OFF_DEPTH);
    }

    fn load_tag(&mut self, r: u8) -> ClifValue {
        let fp = self.fp();
        self.b.ins().load(types::I64, flags(), fp, r as i32 * VALUE_SIZE)
    }

    fn load_payload(&mut self, r: u8) -> ClifValue {
        let fp = self.fp();
        self.b.ins().load(types::I64, flags(), fp, r as i32 * VALUE_SIZE + PAYLOAD)
    }

    fn store_tag(&mut self, r: u8, tag: u64) {
        let fp = self.fp();
        let t = self.b.ins().iconst(types::I64, tag as i64);
        self.b.ins().store(flags(), t, fp, r as i32 * VALUE_SIZE);
    }

    fn store_words_at(&mut self, addr: ClifValue, off: i32, tag: ClifValue, payload: ClifValue) {
        self.b.ins().store(flags(), tag, addr, off);
        self.b.ins().store(flags(), payload, addr, off + PAYLOAD);
    }

    /// The two words of an unboxed register (tag, payload), for boxing.
    fn unboxed_words(&mut self, r: u8, val: Val) -> (ClifValue, ClifValue) {
        match val {
            Val::Int => {
                let t = self.iconst(Tag::Int as i64);
                (t, self.b.use_var(self.ivars[r as usize]))
            }
            Val::Bool => {
                let t = self.iconst(Tag::Bool as i64);
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

    /// Makes the slot of `r` hold its value (for unboxed, empty and lazily written values; the
    /// slot is not owned). A written function name leaves the slot owning it: callers that go
    /// on using the state update it (see [`materialize_uses`]).
    fn spill(&mut self, r: u8, reg: Reg) {
        match reg.val {
            Val::Int | Val::Bool | Val::Float => {
                let (t, p) = self.unboxed_words(r, reg.val);
                let fp = self.fp();
                self.store_words_at(fp, r as i32 * VALUE_SIZE, t, p);
            }
            Val::Empty => {
                if reg.slot != Slot::Empty {
                    self.store_tag(r, Tag::Empty as u64);
                }
            }
            Val::Fn(_, k) => {
                let base = self.base;
                self.load_const_into(base, r as u32, k);
            }
            Val::Mem | Val::Array | Val::Dead => {}
        }
    }

    /// `mdvm_load_const`: constant `k` into slot `slot` of the window at `base`.
    fn load_const_into(&mut self, base: ClifValue, slot: u32, k: u16) {
        let rr = self.b.ins().iconst(types::I32, slot as i64);
        let kk = self.b.ins().iconst(types::I32, k as i64);
        let f = self.iconst(rt::mdvm_load_const as *const () as usize as i64);
        let ctx = self.ctx;
        self.b.ins().call_indirect(self.sigs.load_const, f, &[ctx, base, rr, kk]);
    }

    /// Releases what an owned slot holds (leaving `Empty` or a plain value).
    fn release_slot(&mut self, r: u8) {
        let tag = self.load_tag(r);
        let heap = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, tag, Tag::FIRST_HEAP as i64);
        let rel = self.b.create_block();
        let done = self.b.create_block();
        self.b.set_cold_block(rel);
        self.b.ins().brif(heap, rel, &[], done, &[]);
        self.b.switch_to_block(rel);
        self.b.seal_block(rel);
        let rr = self.b.ins().iconst(types::I32, r as i64);
        let f = self.iconst(rt::mdvm_release as *const () as usize as i64);
        let (ctx, base) = (self.ctx, self.base);
        self.b.ins().call_indirect(self.sigs.release, f, &[ctx, base, rr]);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.seal_block(done);
    }

    /// Resets the slot of `r` to `Empty` on return.
    fn clear_slot(&mut self, r: u8, slot: Slot) {
        match slot {
            Slot::Empty => {}
            Slot::Plain => self.store_tag(r, Tag::Empty as u64),
            Slot::Owned => {
                self.release_slot(r);
                self.store_tag(r, Tag::Empty as u64);
            }
        }
    }

    /// Before writing an unboxed value to `r`: an owned slot must give up its value.
    fn prepare_unboxed_def(&mut self, r: u8, st: &State) {
        if st[r as usize].slot == Slot::Owned {
            self.release_slot(r);
        }
    }

    /// Emits a side exit taken when `cond` is true: live registers at `pc` are written back
    /// and the interpreter finishes the activation from `pc`.
    fn side_exit_if(&mut self, cond: ClifValue, pc: u32, pred: u32, reason: DeoptReason, st: &State, live: RegSet) {
        let exit = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(exit);
        self.b.ins().brif(cond, exit, &[], cont, &[]);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        self.deopt_here(pc, pred, reason, st, live);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// Fuel already charged for instructions from `pc` to the end of its segment (which the
    /// interpreter charges again when it executes them after a side exit at `pc`).
    fn charged_ahead(&self, pc: u32, reason: DeoptReason) -> u32 {
        if self.uncharged_exits || matches!(reason, DeoptReason::Fuel | DeoptReason::ResultType) || pc >= self.l.cfg.end {
            return 0;
        }
        let b = &self.l.cfg.blocks[self.l.cfg.block_at(pc) as usize];
        let seg_end = segments(self.l.m, b.start, b.end)
            .into_iter()
            .find(|(s, e)| *s <= pc && pc < *e)
            .map(|(_, e)| e)
            .unwrap_or(pc);
        seg_end - pc
    }

    /// Writes back the live registers and returns what the interpreter returns.
    fn deopt_here(&mut self, pc: u32, pred: u32, reason: DeoptReason, st: &State, live: RegSet) {
        let refund = self.charged_ahead(pc, reason);
        if self.l.req.metered && refund > 0 {
            let fuel = self.b.ins().load(types::I64, flags(), self.ctx, rt::OFF_FUEL);
            let back = self.b.ins().iadd_imm_s(fuel, refund as i64);
            self.b.ins().store(flags(), back, self.ctx, rt::OFF_FUEL);
        }
        for r in live.iter() {
            if (r as usize) < st.len() {
                self.spill(r, st[r as usize]);
            }
        }
        let body = self.b.ins().iconst(types::I32, self.l.req.body as i64);
        let pcv = self.b.ins().iconst(types::I32, pc as i64);
        let predv = self.b.ins().iconst(types::I32, pred as i64);
        let rv = self.b.ins().iconst(types::I32, reason as i64);
        let f = self.iconst(rt::mdvm_deopt as *const () as usize as i64);
        let depth = self.depth;
        self.store_depth(depth);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.b.ins().call_indirect(self.sigs.deopt, f, &[ctx, body, pcv, base, predv, rv]);
        let res = self.b.inst_results(call).to_vec();
        self.b.ins().return_(&res);
    }

    /// In stress mode, the first execution of guard `id` side-exits.
    fn stress_guard(&mut self, id: u32, pc: u32, st: &State, live: RegSet) {
        if !self.l.req.stress {
            return;
        }
        let flags_ptr = self.b.ins().load(self.ptr, flags(), self.ctx, rt::OFF_STRESS_FLAGS);
        let addr = self.b.ins().iadd_imm_s(flags_ptr, id as i64);
        let seen = self.b.ins().uload8(types::I32, flags(), addr, 0);
        let first = self.b.ins().icmp_imm_s(IntCC::Equal, seen, 0);
        let exit = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(exit);
        self.b.ins().brif(first, exit, &[], cont, &[]);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        let one = self.b.ins().iconst(types::I8, 1);
        self.b.ins().store(flags(), one, addr, 0);
        self.deopt_here(pc, rt_no_pred(), DeoptReason::Stress, st, live);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// At an OSR entry: guards that slot `r` holds `tag` (else the interpreter resumes at the
    /// header, entered from `latch`), then returns its payload.
    fn osr_guard(&mut self, r: u8, tag: Tag, header: u32, latch: u32, st: &State, live: RegSet) -> ClifValue {
        self.check_and_unbox(r, tag, header, latch, st, live)
    }

    /// Guards that slot `r` holds `tag`, then returns its payload (i64 or f64).
    fn guard_unbox(&mut self, r: u8, tag: Tag, slot_no: u32, pc: u32, st: &State, live: RegSet) -> ClifValue {
        self.stress_guard(pc * 4 + slot_no, pc, st, live);
        self.check_and_unbox(r, tag, pc, rt_no_pred(), st, live)
    }

    /// The tag test of a guard (side exit to `pc`, predecessor `pred`, when it fails) and the
    /// unboxed payload: f64 for floats, the bool byte, else the i64 word.
    fn check_and_unbox(&mut self, r: u8, tag: Tag, pc: u32, pred: u32, st: &State, live: RegSet) -> ClifValue {
        let fp = self.fp();
        self.check_and_unbox_at(fp, r as i32 * VALUE_SIZE, tag, pc, pred, st, live)
    }

    /// [`Gen::check_and_unbox`] for the value at `addr + off` (a frame slot or an array
    /// element): the tag test with its side exit, then the unboxed payload.
    #[allow(clippy::too_many_arguments)]
    fn check_and_unbox_at(&mut self, addr: ClifValue, off: i32, tag: Tag, pc: u32, pred: u32, st: &State, live: RegSet) -> ClifValue {
        let t = self.b.ins().load(types::I64, flags(), addr, off);
        let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, t, tag as i64);
        let reason = match tag {
            Tag::Float => DeoptReason::NotFloat,
            Tag::Bool => DeoptReason::NotBool,
            Tag::Str => DeoptReason::NotString,
            _ => DeoptReason::NotInt,
        };
        self.side_exit_if(bad, pc, pred, reason, st, live);
        let at = off + PAYLOAD;
        match tag {
            Tag::Float => self.b.ins().load(types::F64, flags(), addr, at),
            Tag::Bool => self.b.ins().uload8(types::I64, flags(), addr, at),
            _ => self.b.ins().load(types::I64, flags(), addr, at),
        }
    }

    /// The operand `r` as the specialised type, guarding when needed. Updates the register
    /// state and variables for a guarded operand.
    /// `site` is (bytecode index, operand number): the guard's identity.
    fn get_operand(&mut self, r: u8, spec: Spec, o: Operand, site: (u32, u32), st: &mut State, live: RegSet) -> ClifValue {
        let (pc, slot_no) = site;
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
                let v = self.guard_unbox(r, tag, slot_no, pc, st, live);
                match tag {
                    Tag::Float => {
                        self.b.def_var(self.fvars[r as usize], v);
                        st[r as usize] = Reg { val: Val::Float, slot: Slot::Plain };
                    }
                    Tag::Bool => {
                        self.b.def_var(self.ivars[r as usize], v);
                        st[r as usize] = Reg { val: Val::Bool, slot: Slot::Plain };
                    }
                    _ => {
                        self.b.def_var(self.ivars[r as usize], v);
                        st[r as usize] = Reg { val: Val::Int, slot: Slot::Plain };
                    }
                }
                v
            }
            Operand::GuardIntToFloat => {
                let v = self.guard_unbox(r, Tag::Int, slot_no, pc, st, live);
                self.b.def_var(self.ivars[r as usize], v);
                st[r as usize] = Reg { val: Val::Int, slot: Slot::Plain };
                self.b.ins().fcvt_from_sint(types::F64, v)
            }
        }
    }

    fn def_int(&mut self, r: u8, v: ClifValue, st: &mut State, val: Val) {
        self.prepare_unboxed_def(r, st);
        self.b.def_var(self.ivars[r as usize], v);
        let reg = &mut st[r as usize];
        reg.slot = if reg.slot == Slot::Owned { Slot::Plain } else { reg.slot };
        reg.val = val;
    }

    fn def_float(&mut self, r: u8, v: ClifValue, st: &mut State) {
        self.prepare_unboxed_def(r, st);
        self.b.def_var(self.fvars[r as usize], v);
        let reg = &mut st[r as usize];
        reg.slot = if reg.slot == Slot::Owned { Slot::Plain } else { reg.slot };
        reg.val = Val::Float;
    }

    /// Copies the value in slot `src` of this window to the slot `to = (window base, register
    /// in that window, byte offset from this frame's r0)`: plain words directly, a heap value
    /// through `mdvm_copy` (which adds its reference and releases what the target held). With
    /// `release_first`, a plain copy first releases what the target slot owns.
    fn copy_slot(&mut self, src: u8, to: (ClifValue, u32, i32), release_first: bool) {
        let (dst_base, dst_reg, dst_off) = to;
        let (ctx, base) = (self.ctx, self.base);
        let tag = self.load_tag(src);
        let heap = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, tag, Tag::FIRST_HEAP as i64);
        let slow = self.b.create_block();
        let fast = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(heap, slow, &[], fast, &[]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        let sr = self.b.ins().iconst(types::I32, src as i64);
        let dr = self.b.ins().iconst(types::I32, dst_reg as i64);
        let f = self.iconst(rt::mdvm_copy as *const () as usize as i64);
        self.b.ins().call_indirect(self.sigs.copy, f, &[ctx, base, sr, dst_base, dr]);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(fast);
        self.b.seal_block(fast);
        if release_first {
            self.release_slot(dst_reg as u8);
        }
        let p = self.load_payload(src);
        let fp = self.fp();
        self.store_words_at(fp, dst_off, tag, p);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.seal_block(done);
    }

    /// `dst = src` (also used for phi moves).
    fn emit_move(&mut self, dst: u8, src: u8, st: &mut State) {
        if dst == src {
            return;
        }
        let s = st[src as usize];
        match s.val {
            Val::Int | Val::Bool => {
                let v = self.b.use_var(self.ivars[src as usize]);
                self.def_int(dst, v, st, s.val);
            }
            Val::Float => {
                let v = self.b.use_var(self.fvars[src as usize]);
                self.def_float(dst, v, st);
            }
            Val::Empty | Val::Fn(..) | Val::Dead => {
                self.prepare_unboxed_def(dst, st);
                let reg = &mut st[dst as usize];
                reg.slot = if reg.slot == Slot::Owned { Slot::Plain } else { reg.slot };
                reg.val = s.val;
            }
            Val::Mem | Val::Array => {
                let owned = st[dst as usize].slot == Slot::Owned;
                let base = self.base;
                self.copy_slot(src, (base, dst as u32, dst as i32 * VALUE_SIZE), owned);
                st[dst as usize] = Reg { val: s.val.copied(), slot: Slot::Owned };
            }
        }
    }

    /// Spills the unboxed registers among `regs` so a helper sees their values in slots.
    fn spill_regs(&mut self, regs: &[u8], st: &mut State) {
        let mut done = Vec::new();
        for &r in regs {
            if !done.contains(&r) {
                self.spill(r, st[r as usize]);
                done.push(r);
            }
        }
        materialize_uses(st, regs);
    }

    /// `mdvm_exec` for the instruction at `pc`; side-exits there on failure.
    fn emit_generic(&mut self, pc: u32, dst: Option<u8>, uses: &[u8], st: &mut State, live: RegSet) {
        // The helper overwrites `dst`'s slot with `set`, which releases an owned value.
        self.spill_regs(uses, st);
        let body = self.b.ins().iconst(types::I32, self.l.req.body as i64);
        let pcv = self.b.ins().iconst(types::I32, pc as i64);
        let f = self.iconst(rt::mdvm_exec as *const () as usize as i64);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.b.ins().call_indirect(self.sigs.exec, f, &[ctx, body, pcv, base]);
        let status = self.b.inst_results(call)[0];
        // On failure the operands are in their slots already (spilled above).
        let mut exit_state = st.clone();
        for &r in uses {
            let reg = &mut exit_state[r as usize];
            if !reg.val.in_slot() {
                reg.slot = Slot::Plain;
            }
        }
        self.side_exit_if(status, pc, rt_no_pred(), DeoptReason::Fault, &exit_state, live);
        if let Some(d) = dst {
            st[d as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
        }
    }

    /// Makes `arr` a known array with its view in its variables ([`Val::Array`]): when it
    /// is not one yet, guards that its slot holds an array (guard `pc * 4`, else a side exit
    /// to `pc`) and reads the view.
    fn array_view(&mut self, arr: u8, pc: u32, st: &mut State, live: RegSet) -> View {
        if st[arr as usize].val != Val::Array {
            self.stress_guard(pc * 4, pc, st, live);
            let t = self.load_tag(arr);
            let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, t, Tag::Array as i64);
            self.side_exit_if(bad, pc, rt_no_pred(), DeoptReason::NotArray, st, live);
            self.read_view(arr, pc, st, live);
        }
        self.views[arr as usize]
    }

    /// Reads the view of the array in the slot of `arr` into its variables: its length, its
    /// kind ([`mdvm_runtime::array::Array::kind`]), and the address and number of the
    /// elements stored in the form of that kind (packed words, or values). When every element
    /// read of `arr` is compiled for one kind ([`Lowerer::view_forms`]), guards that kind here
    /// (else a side exit to `pc`).
    fn read_view(&mut self, arr: u8, pc: u32, st: &mut State, live: RegSet) {
        let layout = mdvm_runtime::value::array_layout().expect("array operations are planned native only with a known layout");
        let a = self.load_payload(arr);
        let len = self.b.ins().load(types::I64, flags(), a, layout.len);
        let kind = self.b.ins().uload8(types::I64, flags(), a, layout.kind);
        let (data, bound) = match self.l.view_forms[arr as usize] {
            Some(k) => {
                let other = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, k as i64);
                self.side_exit_if(other, pc, rt_no_pred(), DeoptReason::ArrayKind, st, live);
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
        st[arr as usize].val = Val::Array;
    }

    fn emit_array_get(&mut self, pc: u32, plan: &Plan, st: &mut State, live: RegSet) {
        let Plan::ArrayGet { dst, arr, idx, oi, elem, packed } = *plan else { unreachable!() };
        let view = self.array_view(arr, pc, st, live);
        let i = self.get_operand(idx, Spec::Int, oi, (pc, 1), st, live);
        // The array's form: packed words of the element type, or values (guarded with the view
        // when all reads of `arr` agree on it).
        if self.l.view_forms[arr as usize].is_none() {
            let kind = self.b.use_var(view.kind);
            let want = if packed { elem as i64 } else { KIND_VALUES as i64 };
            let other = self.b.ins().icmp_imm_s(IntCC::NotEqual, kind, want);
            self.side_exit_if(other, pc, rt_no_pred(), DeoptReason::ArrayKind, st, live);
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
        self.side_exit_if(out, pc, rt_no_pred(), reason, st, live);
        self.stress_guard(pc * 4 + 2, pc, st, live);
        // Element `i` is 8 bytes (a packed word) or 16 (a value) from the last.
        let off = self.b.ins().ishl_imm_u(i, if packed { 3 } else { 4 });
        let e = self.b.ins().iadd(data, off);
        let v = if packed {
            let ty = if elem == Tag::Float { types::F64 } else { types::I64 };
            self.b.ins().load(ty, flags(), e, 0)
        } else {
            self.check_and_unbox_at(e, 0, elem, pc, rt_no_pred(), st, live)
        };
        match elem {
            Tag::Float => self.def_float(dst, v, st),
            _ => self.def_int(dst, v, st, Val::unboxed(elem)),
        }
    }

    fn emit_array_len(&mut self, pc: u32, plan: &Plan, st: &mut State, live: RegSet) {
        let Plan::ArrayLen { dst, arr } = *plan else { unreachable!() };
        let view = self.array_view(arr, pc, st, live);
        let len = self.b.use_var(view.len);
        self.def_int(dst, len, st, Val::Int);
    }

    fn emit_array_set(&mut self, pc: u32, plan: &Plan, st: &mut State, live: RegSet) {
        let Plan::ArraySet { arr, idx, oi, val } = *plan else { unreachable!() };
        let i = self.get_operand(idx, Spec::Int, oi, (pc, 1), st, live);
        let (t, p) = self.unboxed_words(val, st[val as usize].val);
        let ar = self.b.ins().iconst(types::I32, arr as i64);
        let f = self.iconst(rt::mdvm_array_set_plain as *const () as usize as i64);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.b.ins().call_indirect(self.sigs.array_set, f, &[ctx, base, ar, i, t, p]);
        let status = self.b.inst_results(call)[0];
        // On failure nothing changed: the interpreter executes the instruction again.
        self.side_exit_if(status, pc, rt_no_pred(), DeoptReason::Fault, st, live);
        // The slot holds an array (the write succeeded), but its elements may have moved and
        // its kind changed: the next array operation reads the view again.
        st[arr as usize].val = Val::Mem;
    }

    fn emit_binary(&mut self, pc: u32, plan: &Plan, st: &mut State, live: RegSet) {
        let Plan::Binary { spec, dst, a, b, oa, ob } = *plan else { unreachable!() };
        let ins = &self.l.m.code[pc as usize];
        let (op, ..) = binop_of(ins).expect("binary instruction");
        if spec == Spec::Generic {
            let uses = [a, b];
            self.emit_generic(pc, Some(dst), &uses, st, live);
            return;
        }
        if spec == Spec::Str {
            // Guard both operands, then let the runtime concatenate or compare.
            for (r, o, n) in [(a, oa, 0u32), (b, ob, 1u32)] {
                if let Operand::Guard(tag) = o {
                    self.guard_unbox(r, tag, n, pc, st, live);
                }
            }
            let uses = [a, b];
            self.emit_generic(pc, Some(dst), &uses, st, live);
            return;
        }
        let x = self.get_operand(a, spec, oa, (pc, 0), st, live);
        let y = self.get_operand(b, spec, ob, (pc, 1), st, live);
        // An int operand that can only be one int is that constant (folded into the operation,
        // and overflow checks against it become comparisons).
        let (x, y) = match spec {
            Spec::Int => {
                let x = match self.const_int_operand(a, st) {
                    Some(c) => self.iconst(c),
                    None => x,
                };
                let y = match self.const_int_operand(b, st) {
                    Some(c) => self.iconst(c),
                    None => y,
                };
                (x, y)
            }
            _ => (x, y),
        };
        // After guards the live state has the operands unboxed.
        match spec {
            Spec::Int => {
                let r = match op {
                    BinOp::Add | BinOp::Sub if self.const_operand(op, x, y).is_some() => {
                        // With a constant operand, overflow is a comparison of the other one
                        // against a bound (one compare-and-branch, and a plain add).
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
                            self.side_exit_if(of, pc, rt_no_pred(), DeoptReason::Overflow, &st.clone(), live);
                        }
                        self.def_int(dst, r, st, Val::Int);
                        return;
                    }
                    BinOp::Add | BinOp::Sub | BinOp::Mul => {
                        let (ra, rb) = (self.int_range(a), self.int_range(b));
                        // Operands whose range facts rule overflow out need no check, nor
                        // does a counted loop's accumulator (its entry checked the bound).
                        if ranges::cannot_overflow(op, ra, rb) || self.unchecked_updates.contains(&pc) {
                            let v = match op {
                                BinOp::Add => self.b.ins().iadd(x, y),
                                BinOp::Sub => self.b.ins().isub(x, y),
                                _ => self.b.ins().imul(x, y),
                            };
                            self.def_int(dst, v, st, Val::Int);
                            return;
                        }
                        // One operand in a small range on one side of zero: overflow needs the
                        // other one near an end of the int range, and one comparison of it
                        // against a limit rules that out. An operand past the limit takes the
                        // overflow exit even when the sum itself fits: the interpreter then
                        // does the operation exactly.
                        if let Some((other, limit, above)) = Self::one_sided_overflow_limit(op, ra, rb) {
                            let other = if other == 0 { x } else { y };
                            let cc = if above { IntCC::SignedGreaterThan } else { IntCC::SignedLessThan };
                            let of = self.b.ins().icmp_imm_s(cc, other, limit);
                            self.side_exit_if(of, pc, rt_no_pred(), DeoptReason::Overflow, &st.clone(), live);
                            let v = if op == BinOp::Add { self.b.ins().iadd(x, y) } else { self.b.ins().isub(x, y) };
                            self.def_int(dst, v, st, Val::Int);
                            return;
                        }
                        let (v, of) = match op {
                            BinOp::Add => self.b.ins().sadd_overflow(x, y),
                            BinOp::Sub => self.b.ins().ssub_overflow(x, y),
                            _ => self.b.ins().smul_overflow(x, y),
                        };
                        self.side_exit_if(of, pc, rt_no_pred(), DeoptReason::Overflow, &st.clone(), live);
                        self.def_int(dst, v, st, Val::Int);
                        return;
                    }
                    BinOp::Div | BinOp::Mod => {
                        // Zero divisor and MIN / -1 go to the interpreter, which raises them. A
                        // constant divisor other than 0 and -1 needs neither check.
                        let divisor = self.const_int_operand(b, st);
                        if !matches!(divisor, Some(c) if c != 0 && c != -1) {
                            let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                            let m1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                            let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                            let ovf = self.b.ins().band(m1, min);
                            let bad = self.b.ins().bor(zero, ovf);
                            self.side_exit_if(bad, pc, rt_no_pred(), DeoptReason::Overflow, &st.clone(), live);
                        }
                        let q = self.b.ins().sdiv(x, y);
                        let rem = self.b.ins().srem(x, y);
                        // Floor: adjust when the remainder is nonzero and its sign differs from
                        // the divisor's. With a constant divisor that is one comparison of the
                        // remainder (whose sign is the dividend's), and none when the dividend's
                        // range facts give it the divisor's sign.
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
                        let v = self.b.ins().uextend(types::I64, c);
                        self.def_int(dst, v, st, Val::Bool);
                        return;
                    }
                };
                self.def_int(dst, r, st, Val::Int);
            }
            Spec::Float => {
                match op {
                    BinOp::Add | BinOp::Sub | BinOp::Mul => {
                        let v = match op {
                            BinOp::Add => self.b.ins().fadd(x, y),
                            BinOp::Sub => self.b.ins().fsub(x, y),
                            _ => self.b.ins().fmul(x, y),
                        };
                        self.def_float(dst, v, st);
                    }
                    BinOp::Div => {
                        let zero = self.b.ins().f64const(0.0);
                        let z = self.b.ins().fcmp(FloatCC::Equal, y, zero);
                        self.side_exit_if(z, pc, rt_no_pred(), DeoptReason::Overflow, &st.clone(), live);
                        let v = self.b.ins().fdiv(x, y);
                        self.def_float(dst, v, st);
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
                        self.def_int(dst, v, st, Val::Bool);
                    }
                }
            }
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
                self.def_int(dst, v, st, Val::Bool);
            }
            Spec::Generic | Spec::Str => unreachable!(),
        }
    }

    /// For `a + b` or `a - b` with operand ranges `ra` and `rb`, when one operand's range is
    /// small (within +-2^32) and on one side of zero: (which operand must be compared, 0 for
    /// `a` and 1 for `b`; the limit; true if overflow needs that operand above the limit,
    /// false if below it). Otherwise None.
    fn one_sided_overflow_limit(op: BinOp, ra: (i64, i64), rb: (i64, i64)) -> Option<(u8, i64, bool)> {
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

    /// For `x + y` or `x - y` with a constant operand that the operation can use as an
    /// addend: (the other operand, the constant). `x - MIN` is excluded (its addend overflows).
    fn const_operand(&self, op: BinOp, x: ClifValue, y: ClifValue) -> Option<(ClifValue, i64)> {
        let konst = |v: ClifValue| {
            let inst = self.b.func.dfg.value_def(v).inst()?;
            match self.b.func.dfg.insts[inst] {
                cranelift_codegen::ir::InstructionData::UnaryImm { opcode: cranelift_codegen::ir::Opcode::Iconst, imm } => {
                    Some(imm.bits())
                }
                _ => None,
            }
        };
        match op {
            BinOp::Add => konst(y).map(|c| (x, c)).or_else(|| konst(x).map(|c| (y, c))),
            BinOp::Sub => konst(y).filter(|&c| c != i64::MIN).map(|c| (x, c)),
            _ => None,
        }
    }

    fn emit_unary(&mut self, pc: u32, plan: &Plan, st: &mut State, live: RegSet) {
        let Plan::Unary { spec, dst, src, o } = *plan else { unreachable!() };
        let is_not = matches!(self.l.m.code[pc as usize], Instr::NotR { .. });
        if spec == Spec::Generic {
            self.emit_generic(pc, Some(dst), &[src], st, live);
            return;
        }
        let x = self.get_operand(src, spec, o, (pc, 0), st, live);
        match (spec, is_not) {
            (Spec::Int | Spec::Bool, true) => {
                let c = self.b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                let v = self.b.ins().uextend(types::I64, c);
                self.def_int(dst, v, st, Val::Bool);
            }
            (Spec::Float, true) => {
                // not truthy: 0.0 and NaN are false.
                let zero = self.b.ins().f64const(0.0);
                let c = self.b.ins().fcmp(FloatCC::UnorderedOrEqual, x, zero);
                let v = self.b.ins().uextend(types::I64, c);
                self.def_int(dst, v, st, Val::Bool);
            }
            (Spec::Int, false) => {
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                self.side_exit_if(min, pc, rt_no_pred(), DeoptReason::Overflow, &st.clone(), live);
                let v = self.b.ins().ineg(x);
                self.def_int(dst, v, st, Val::Int);
            }
            (Spec::Float, false) => {
                let v = self.b.ins().fneg(x);
                self.def_float(dst, v, st);
            }
            _ => unreachable!(),
        }
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
                let nonempty = !matches!(&self.l.m.constants[k as usize], Constant::Str(s) if s.is_empty());
                self.b.ins().iconst(types::I8, (nonempty == truth) as i64)
            }
            // An array is true when it has elements.
            Val::Array => {
                let len = self.b.use_var(self.views[cond as usize].len);
                self.b.ins().icmp_imm_s(icc, len, 0)
            }
            Val::Mem => {
                let rr = self.b.ins().iconst(types::I32, cond as i64);
                let f = self.iconst(rt::mdvm_truthy as *const () as usize as i64);
                let (ctx, base) = (self.ctx, self.base);
                let call = self.b.ins().call_indirect(self.sigs.truthy, f, &[ctx, base, rr]);
                let t = self.b.inst_results(call)[0];
                self.b.ins().icmp_imm_s(icc, t, 0)
            }
        }
    }

    /// Returns from the function with the value of `src` (or none), clearing the window.
    fn emit_return(&mut self, src: Option<u8>, st: &State) {
        let (tag, payload) = match src {
            None => (self.iconst(RET_NONE as i64), self.iconst(0)),
            Some(r) => {
                let mut reg = st[r as usize];
                if let Val::Fn(..) = reg.val {
                    self.spill(r, reg);
                    reg = Reg { val: Val::Mem, slot: Slot::Owned };
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
                self.store_tag(r, Tag::Empty as u64);
            } else {
                self.clear_slot(r, reg.slot);
            }
        }
        if matches!(self.l.req.entry, Entry::Osr { .. }) {
            // Typed callees leave `ctx.depth` as their deepest callee wrote it; the interpreter
            // that entered this loop counts frames there.
            let depth = self.depth;
            self.store_depth(depth);
        }
        self.b.ins().return_(&[tag, payload]);
    }

    /// Charges `cost` instructions of fuel, side-exiting to `pc` when not enough is left.
    fn charge_fuel(&mut self, cost: u32, pc: u32, pred: u32, st: &State, live: RegSet) {
        if !self.l.req.metered || cost == 0 {
            return;
        }
        let fuel = self.b.ins().load(types::I64, flags(), self.ctx, rt::OFF_FUEL);
        let short = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, fuel, cost as i64);
        self.side_exit_if(short, pc, pred, DeoptReason::Fuel, st, live);
        let left = self.b.ins().iadd_imm_s(fuel, -(cost as i64));
        self.b.ins().store(flags(), left, self.ctx, rt::OFF_FUEL);
    }

    /// The fuel cost of the segment starting at the head of block `blk`.
    fn head_cost(&self, blk: u32) -> u32 {
        let b = &self.l.cfg.blocks[blk as usize];
        let segs = segments(self.l.m, b.start, b.end);
        segs[0].1 - segs[0].0
    }

    /// Chooses the counted loops ([`counted`]) whose accumulators this function adds without a
    /// check: those whose counter, limit and accumulator are unboxed ints at the header (the
    /// plan's comparison and additions are then exact int operations), and that the compiled
    /// entry (block `entry_blk`) does not enter other than at their header.
    fn plan_counted_loops(&mut self, entry_blk: u32) {
        let loops = counted::counted_loops(self.l.m, &self.l.cfg, &self.l.entry_facts, self.l.req.unbounded_loops);
        for mut c in loops {
            let Some(head) = self.l.head[c.header as usize].as_ref() else { continue };
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
    /// Its stress guard is id `4 * pc + 3` of the first accumulator update's `ADD_R`/`SUB_R`,
    /// an id none of that instruction's own guards (`4 * pc + 0..=2`) uses.
    fn check_trip_bound(&mut self, i: usize, pred: u32, st: &State) {
        let c = self.counted[i].clone();
        let header_pc = self.l.cfg.blocks[c.header as usize].start;
        let live = self.l.live_in(header_pc);
        let saved = std::mem::replace(&mut self.uncharged_exits, true);
        let regs = [c.counter, c.limit].into_iter().chain(c.accumulators.iter().map(|a| a.reg));
        let fail = if regs.clone().all(|r| st[r as usize].val == Val::Int) {
            self.stress_guard(c.accumulators[0].updates[0] * 4 + 3, header_pc, st, live);
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
        self.side_exit_if(fail, header_pc, pred, DeoptReason::LoopBound, st, live);
        self.uncharged_exits = saved;
    }

    /// An edge from the current position (state `st`, predecessor id `pred`) into `blk`.
    fn emit_edge(&mut self, mut st: State, blk: u32, pred: u32) {
        if let Some(i) = self.counted.iter().position(|c| c.header == blk) {
            if self.entering_osr || self.counted[i].enters_from(&self.l.cfg, pred) {
                self.check_trip_bound(i, pred, &st);
            }
        }
        let start = self.l.cfg.blocks[blk as usize].start;
        let live = self.l.live_in(start);
        let cost = self.head_cost(blk);
        self.charge_fuel(cost, start, pred, &st, live);
        for (dst, src) in self.l.phi_moves(blk, pred) {
            self.emit_move(dst, src, &mut st);
        }
        let target = self.l.head[blk as usize].clone().expect("edge into a reachable block");
        for r in (0..st.len()).map(|r| r as u8) {
            let (have, want) = (st[r as usize], target[r as usize]);
            if want.val.in_slot() && !have.val.in_slot() {
                self.spill(r, have);
            }
        }
        self.b.ins().jump(self.blocks[blk as usize], &[]);
    }

    /// A return without a value from the current position.
    fn emit_exit_none(&mut self, st: &State) {
        self.emit_return(None, st);
    }

    fn emit_call(&mut self, pc: u32, plan: &Plan, st: &mut State, live_after: RegSet) {
        let Plan::Call { callee, func, dst, ref args, expect } = *plan else { unreachable!() };
        let args = args.clone();
        let live_before = self.l.live_in(pc);
        let (ctx, base) = (self.ctx, self.base);
        let Some(callee) = callee else {
            // Dynamic callee: the runtime performs the whole call on the slots.
            let mut regs = args.clone();
            regs.push(func);
            regs.push(dst);
            self.spill_regs(&regs, st);
            let body = self.b.ins().iconst(types::I32, self.l.req.body as i64);
            let pcv = self.b.ins().iconst(types::I32, pc as i64);
            let f = self.iconst(rt::mdvm_call_dynamic as *const () as usize as i64);
            // The runtime checks and counts the callee's frame itself.
            let depth = self.depth;
            self.store_depth(depth);
            let call = self.b.ins().call_indirect(self.sigs.call_dynamic, f, &[ctx, body, pcv, base]);
            let status = self.b.inst_results(call)[0];
            self.unwind_if(status, None);
            st[dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
            return;
        };
        let cb = &self.l.req.program.bodies[callee as usize];
        let (callee_nregs, callee_live) = (cb.nregs, cb.entry_live);
        let typed = self.typed_call(callee, &args, st);
        // Depth limit: the interpreter raises the error at this call.
        let depth = self.depth;
        let max = self.b.ins().load(types::I64, flags(), ctx, rt::OFF_MAX_DEPTH);
        let full = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, depth, max);
        self.side_exit_if(full, pc, rt_no_pred(), DeoptReason::Depth, &st.clone(), live_before);
        // The callee's window (the stack was made large enough for it at entry, and only grows).
        let nregs = self.l.nregs as i64;
        let new_base = self.b.ins().iadd_imm_s(base, nregs);
        // Arguments the callee reads (its other slots must stay empty); a typed entry takes
        // its typed parameters unboxed instead.
        let typed_regs: Vec<u8> = typed.as_ref().map(|(_, p, _)| p.iter().map(|&(r, _)| r).collect()).unwrap_or_default();
        for (i, &r) in args.iter().enumerate() {
            if i as u32 >= callee_nregs || !callee_live.contains(i as u8) || typed_regs.contains(&(i as u8)) {
                continue;
            }
            let off = (self.l.nregs as i32 + i as i32) * VALUE_SIZE;
            let reg = st[r as usize];
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
        if self.l.req.metered {
            let counts = self.b.ins().load(self.ptr, flags(), ctx, rt::OFF_CALL_COUNTS);
            let c = self.b.ins().load(types::I64, flags(), counts, callee as i32 * 8);
            let c1 = self.b.ins().iadd_imm_s(c, 1);
            self.b.ins().store(flags(), c1, counts, callee as i32 * 8);
        }
        let joined = self.b.create_block();
        self.b.append_block_param(joined, types::I64);
        self.b.append_block_param(joined, types::I64);
        // No native stack check here: a callee with calls of its own checks at its typed
        // entry (and a generic entry only calls its typed entry), and the interpreter checks
        // for itself.
        if let Some((fref, _, values)) = typed {
            // The callee's typed entry, directly.
            let mut call_args = vec![ctx, new_base, d1];
            call_args.extend(values.iter().copied());
            let call = self.b.ins().call(fref, &call_args);
            self.jump_with_results(call, joined);
        } else {
            // Compiled callee (its generic entry), or the interpreter.
            self.store_depth(d1);
            let entries = self.b.ins().load(self.ptr, flags(), ctx, rt::OFF_ENTRIES);
            let entry = self.b.ins().load(self.ptr, flags(), entries, callee as i32 * 8);
            let native = self.b.create_block();
            let interp = self.b.create_block();
            self.b.ins().brif(entry, native, &[], interp, &[]);
            self.b.switch_to_block(native);
            self.b.seal_block(native);
            let call = self.b.ins().call_indirect(self.sigs.entry, entry, &[ctx, new_base]);
            self.jump_with_results(call, joined);
            self.b.switch_to_block(interp);
            self.b.seal_block(interp);
            let cbody = self.b.ins().iconst(types::I32, callee as i64);
            let f = self.iconst(rt::mdvm_call_interp as *const () as usize as i64);
            let call = self.b.ins().call_indirect(self.sigs.call_interp, f, &[ctx, cbody, new_base]);
            self.jump_with_results(call, joined);
        }
        self.b.switch_to_block(joined);
        self.b.seal_block(joined);
        let tag = self.b.block_params(joined)[0];
        let payload = self.b.block_params(joined)[1];
        let unwinding = self.b.ins().icmp_imm_s(IntCC::Equal, tag, RET_UNWIND as i64);
        self.unwind_if(unwinding, Some((tag, payload)));
        match expect {
            Some(t) => {
                // Anything else than the expected type: store it (or keep dst for no value)
                // and let the interpreter go on after the call.
                let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, tag, t as i64);
                let exit = self.b.create_block();
                let cont = self.b.create_block();
                self.b.set_cold_block(exit);
                self.b.ins().brif(bad, exit, &[], cont, &[]);
                self.b.switch_to_block(exit);
                self.b.seal_block(exit);
                self.store_result(dst, tag, payload, st);
                let mut after = st.clone();
                after[dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
                let mut live = live_after;
                live.remove(dst);
                self.deopt_here(pc + 1, rt_no_pred(), DeoptReason::ResultType, &after, live);
                self.b.switch_to_block(cont);
                self.b.seal_block(cont);
                match t {
                    Tag::Float => {
                        let f = self.b.ins().bitcast(types::F64, MemFlags::new(), payload);
                        self.def_float(dst, f, st);
                    }
                    Tag::Bool => {
                        let v = self.b.ins().band_imm_s(payload, 1);
                        self.def_int(dst, v, st, Val::Bool);
                    }
                    _ => self.def_int(dst, payload, st, Val::Int),
                }
            }
            None => {
                self.store_result(dst, tag, payload, st);
                st[dst as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
            }
        }
    }

    /// The callee's typed entry when it has one and this call's arguments fit it: every typed
    /// parameter's argument is unboxed here with that type (an `Empty` parameter: known empty or
    /// not passed). Returns the imported function, its parameters and the argument values.
    #[allow(clippy::type_complexity)]
    fn typed_call(&mut self, callee: u32, args: &[u8], st: &State) -> Option<(FuncRef, Vec<(u8, Tag)>, Vec<ClifValue>)> {
        let te = self.l.req.typed.get(&callee)?.clone();
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
                let f = import_module_function(self.b.func, te.func, sig);
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
    fn switch_stack_if_low(&mut self, generic: u32, params: &[(u8, Tag)], values: &[ClifValue]) {
        let sp = self.b.ins().get_stack_pointer(self.ptr);
        let limit = self.b.ins().load(types::I64, flags(), self.ctx, rt::OFF_STACK_LIMIT);
        let low = self.b.ins().icmp(IntCC::UnsignedLessThan, sp, limit);
        let switch = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(switch);
        self.b.ins().brif(low, switch, &[], cont, &[]);
        self.b.switch_to_block(switch);
        self.b.seal_block(switch);
        let mut next = values.iter();
        for &(r, t) in params {
            if t == Tag::Empty {
                continue;
            }
            let v = *next.next().expect("typed argument");
            let payload = if t == Tag::Float { self.b.ins().bitcast(types::I64, MemFlags::new(), v) } else { v };
            let tag = self.iconst(t as i64);
            let fp = self.fp();
            self.store_words_at(fp, r as i32 * VALUE_SIZE, tag, payload);
        }
        let depth = self.depth;
        self.store_depth(depth);
        let sig = entry_signature(self.b.func.signature.call_conv);
        let fref = import_module_function(self.b.func, generic, sig);
        let entry = self.b.ins().func_addr(self.ptr, fref);
        let f = self.iconst(rt::mdvm_call_on_new_stack as *const () as usize as i64);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.b.ins().call_indirect(self.sigs.call_switch, f, &[ctx, entry, base]);
        let res = self.b.inst_results(call).to_vec();
        self.b.ins().return_(&res);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// Jumps to `joined` passing the results of `call` (a call's (tag, payload)).
    fn jump_with_results(&mut self, call: cranelift_codegen::ir::Inst, joined: Block) {
        let r = self.b.inst_results(call).to_vec();
        let args: Vec<cranelift_codegen::ir::BlockArg> = r.iter().map(|v| (*v).into()).collect();
        self.b.ins().jump(joined, &args);
    }

    /// Writes a call result (tag, payload) into the slot of `dst` (no value: `dst` keeps its
    /// value, made visible in its slot).
    fn store_result(&mut self, dst: u8, tag: ClifValue, payload: ClifValue, st: &State) {
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, tag, RET_NONE as i64);
        let keep = self.b.create_block();
        let write = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(none, keep, &[], write, &[]);
        self.b.switch_to_block(keep);
        self.b.seal_block(keep);
        self.spill(dst, st[dst as usize]);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(write);
        self.b.seal_block(write);
        if st[dst as usize].slot == Slot::Owned {
            self.release_slot(dst);
        }
        let fp = self.fp();
        self.store_words_at(fp, dst as i32 * VALUE_SIZE, tag, payload);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.seal_block(done);
    }

    /// Returns `RET_UNWIND` at once when `cond` holds. `ret` is a (tag, payload) pair known
    /// to be (`RET_UNWIND`, anything) when `cond` holds (a callee's result), returned as is;
    /// `None` returns fresh constants. (Returning the callee's own words keeps a constant from
    /// being shared by every call site and held in a callee-saved register across calls.)
    fn unwind_if(&mut self, cond: ClifValue, ret: Option<(ClifValue, ClifValue)>) {
        let out = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(out);
        self.b.ins().brif(cond, out, &[], cont, &[]);
        self.b.switch_to_block(out);
        self.b.seal_block(out);
        let (t, z) = match ret {
            Some(words) => words,
            None => (self.iconst(RET_UNWIND as i64), self.iconst(0)),
        };
        self.b.ins().return_(&[t, z]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// Code for block `blk` from its head state.
    fn emit_block(&mut self, blk: u32) {
        let clif = self.blocks[blk as usize];
        self.b.switch_to_block(clif);
        let mut st = self.l.head[blk as usize].clone().expect("reachable block");
        let b = self.l.cfg.blocks[blk as usize].clone();
        let start = self.l.first_non_phi(blk);
        let segs = segments(self.l.m, b.start, b.end);
        // The facts after the phis, which write their registers on the edge.
        self.ranges = self.l.entry_facts[blk as usize].clone();
        for bc in start..b.end {
            let plan = self.l.plan(bc, &st);
            let live_in = self.l.live_in(bc);
            let live_out = self.l.live_out[(bc - self.l.cfg.start) as usize];
            let ins = self.l.m.code[bc as usize].clone();
            match &plan {
                Plan::Nop | Plan::Phi => {}
                Plan::ConstInt(d, v) => {
                    let c = self.iconst(*v);
                    self.def_int(*d, c, &mut st, Val::Int);
                }
                Plan::ConstBool(d, v) => {
                    let c = self.iconst(*v as i64);
                    self.def_int(*d, c, &mut st, Val::Bool);
                }
                Plan::ConstFloat(d, v) => {
                    let c = self.b.ins().f64const(*v);
                    self.def_float(*d, c, &mut st);
                }
                Plan::ConstEmpty(d) => {
                    self.prepare_unboxed_def(*d, &st);
                    let reg = &mut st[*d as usize];
                    reg.slot = if reg.slot == Slot::Owned { Slot::Plain } else { reg.slot };
                    reg.val = Val::Empty;
                }
                Plan::ConstStr(d, _) => self.emit_generic(bc, Some(*d), &[], &mut st, live_in),
                Plan::ConstFn(d, f, k) => {
                    self.prepare_unboxed_def(*d, &st);
                    let reg = &mut st[*d as usize];
                    reg.slot = if reg.slot == Slot::Owned { Slot::Plain } else { reg.slot };
                    reg.val = Val::Fn(*f, *k);
                }
                Plan::Move(d, s) => self.emit_move(*d, *s, &mut st),
                Plan::Binary { .. } => self.emit_binary(bc, &plan, &mut st, live_in),
                Plan::Unary { .. } => self.emit_unary(bc, &plan, &mut st, live_in),
                Plan::Generic { dst, uses } => self.emit_generic(bc, *dst, uses, &mut st, live_in),
                Plan::ArrayGet { .. } => self.emit_array_get(bc, &plan, &mut st, live_in),
                Plan::ArrayLen { .. } => self.emit_array_len(bc, &plan, &mut st, live_in),
                Plan::ArraySet { .. } => self.emit_array_set(bc, &plan, &mut st, live_in),
                Plan::Call { .. } => {
                    self.emit_call(bc, &plan, &mut st, live_out);
                    // A new fuel segment starts after a call inside the block.
                    if let Some(&(s, e)) = segs.iter().find(|(s, _)| *s == bc + 1) {
                        let live = self.l.live_in(s);
                        self.charge_fuel(e - s, s, rt_no_pred(), &st, live);
                    }
                }
                Plan::Return(src) => {
                    self.emit_return(*src, &st);
                    return;
                }
                Plan::Halt => {
                    let f = self.iconst(rt::mdvm_halt as *const () as usize as i64);
                    let ctx = self.ctx;
                    self.b.ins().call_indirect(self.sigs.halt, f, &[ctx]);
                    let t = self.iconst(RET_UNWIND as i64);
                    let z = self.iconst(0);
                    self.b.ins().return_(&[t, z]);
                    return;
                }
                Plan::Jump => {
                    let target = (bc as i64 + 1 + ins.jump_offset().unwrap() as i64) as u32;
                    self.emit_goto(target, bc, st);
                    return;
                }
                Plan::Branch { cond, when } => {
                    let c = self.truth_is(*cond, &st, *when);
                    let target = (bc as i64 + 1 + ins.jump_offset().unwrap() as i64) as u32;
                    let taken = self.b.create_block();
                    let fall = self.b.create_block();
                    // The fall-through edge goes second: Cranelift lays out the last successor
                    // first after the branch, so a loop header's body (the frontend's
                    // fall-through) follows it and the loop exit is the taken jump.
                    self.b.ins().brif(c, taken, &[], fall, &[]);
                    self.b.switch_to_block(taken);
                    self.b.seal_block(taken);
                    self.emit_goto(target, bc, st.clone());
                    self.b.switch_to_block(fall);
                    self.b.seal_block(fall);
                    self.emit_goto(bc + 1, bc, st);
                    return;
                }
            }
            self.ranges.step(self.l.m, &ins);
        }
        // Falling through to the next block (or off the end of the body).
        self.emit_goto(b.end, b.end - 1, st);
    }

    /// The one int register `r` can hold here, when it is a known constant of unboxed int
    /// type (see [`single_constants`]).
    fn const_int_operand(&self, r: u8, st: &State) -> Option<i64> {
        match (self.l.int_consts[r as usize], st[r as usize].val) {
            (Some(c), Val::Int) => Some(c),
            _ => None,
        }
    }

    /// The bounds within which int register `r` lies here (a register that only ever holds
    /// one int constant: that constant), from the range analysis ([`crate::ranges`]).
    fn int_range(&self, r: u8) -> (i64, i64) {
        match self.l.int_consts[r as usize] {
            Some(c) => (c, c),
            None => {
                let b = self.ranges.bound(r);
                (b.lo, b.hi)
            }
        }
    }

    /// Control to bytecode index `target` from the instruction `from` (its predecessor id).
    fn emit_goto(&mut self, target: u32, from: u32, st: State) {
        if target >= self.l.cfg.end {
            self.emit_exit_none(&st);
        } else {
            let blk = self.l.cfg.block_at(target);
            self.emit_edge(st, blk, from);
        }
    }
}

fn rt_no_pred() -> u32 {
    u32::MAX
}

/// The parameters a body's typed entry takes unboxed, as (register, type): every register live
/// at the body's start that some call may pass and whose callers (argument feedback) always
/// passed one type among empty, bool, int and float. A register no caller ever passed is
/// `Empty`, once some call has recorded argument types; with none recorded (a body compiled
/// before its first interpreted call, as `--tier jit` does) every candidate is guessed int,
/// like operands without feedback, and a wrong guess is a misspeculation of the entry guard.
/// None after an entry guard misspeculated (the start is then generic).
pub(crate) fn typed_params(program: &Program, feedback: &Feedback, body: u32, generic: &HashSet<u32>) -> Vec<(u8, Tag)> {
    let bi = &program.bodies[body as usize];
    let start = program.layout.bodies[body as usize].start;
    if generic.contains(&start) {
        return Vec::new();
    }
    let types = &feedback.entry_types[body as usize];
    let max_argc = program.max_argc[body as usize] as usize;
    let recorded = types.iter().any(|&m| m != 0);
    (0..(bi.nregs as usize).min(max_argc))
        .filter(|&r| bi.entry_live.contains(r as u8))
        .filter_map(|r| {
            let mask = types.get(r).copied().unwrap_or(0);
            let tag = match (mask, recorded) {
                (0, true) => Some(Tag::Empty),
                (0, false) => Some(Tag::Int),
                _ => Lowerer::expected(mask),
            };
            match tag {
                Some(t @ (Tag::Empty | Tag::Int | Tag::Float | Tag::Bool)) => Some((r as u8, t)),
                _ => None,
            }
        })
        .collect()
}

/// For each register of the body `start..end`: the constant it always holds once defined, when
/// every instruction that writes it loads the same int, float or bool constant and it is not
/// live at the body's start (so no parameter or earlier value reaches a read).
fn single_constants(m: &mdbc::Module, start: u32, end: u32, entry_live: RegSet) -> Vec<Option<Constant>> {
    let mut out: Vec<Option<Option<Constant>>> = vec![None; 256];
    for ins in &m.code[start as usize..end as usize] {
        if matches!(ins, Instr::DefineR { .. }) {
            continue;
        }
        let Some(r) = ins.def() else { continue };
        let this = match ins {
            Instr::LoadConstR { k, .. } => match &m.constants[k.0 as usize] {
                c @ (Constant::Int(_) | Constant::Bool(_)) => Some(c.clone()),
                Constant::Float(f) if !f.is_nan() => Some(Constant::Float(*f)),
                _ => None,
            },
            _ => None,
        };
        let slot = &mut out[r as usize];
        *slot = match (slot.take(), this) {
            (None, t) => Some(t),
            (Some(Some(a)), Some(b)) if constant_bits(&a) == constant_bits(&b) => Some(Some(a)),
            _ => Some(None),
        };
    }
    out.into_iter()
        .enumerate()
        .map(|(r, c)| c.flatten().filter(|_| !entry_live.contains(r as u8)))
        .collect()
}

/// A constant's kind and bits, for exact comparison (floats by bit pattern).
fn constant_bits(c: &Constant) -> Option<(u8, u64)> {
    match c {
        Constant::Int(i) => Some((0, *i as u64)),
        Constant::Float(f) => Some((1, f.to_bits())),
        Constant::Bool(b) => Some((2, *b as u64)),
        _ => None,
    }
}

/// The CLIF type a typed parameter of type `t` is passed as (`None` for `Empty`).
fn param_type(t: Tag) -> Option<Type> {
    match t {
        Tag::Empty => None,
        Tag::Float => Some(types::F64),
        _ => Some(types::I64),
    }
}

/// The signature of a typed entry with `params` (see [`Entry::Typed`]).
pub(crate) fn typed_signature(call_conv: CallConv, params: &[(u8, Tag)]) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.push(AbiParam::new(types::I64));
    s.params.push(AbiParam::new(types::I64));
    s.params.push(AbiParam::new(types::I64));
    s.params.extend(params.iter().filter_map(|&(_, t)| param_type(t)).map(AbiParam::new));
    s.returns.push(AbiParam::new(types::I64));
    s.returns.push(AbiParam::new(types::I64));
    s
}

/// The signature of a generic entry and OSR entry: [`rt::NativeEntry`].
pub(crate) fn entry_signature(call_conv: CallConv) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.push(AbiParam::new(types::I64));
    s.params.push(AbiParam::new(types::I64));
    s.returns.push(AbiParam::new(types::I64));
    s.returns.push(AbiParam::new(types::I64));
    s
}

/// Imports function `id` of the JIT module (already declared there with `sig`) into `func`,
/// as `cranelift_module::Module::declare_func_in_func` does for a local function.
fn import_module_function(func: &mut Function, id: u32, sig: Signature) -> FuncRef {
    let signature = func.import_signature(sig);
    let name = func.declare_imported_user_function(UserExternalName { namespace: 0, index: id });
    func.import_function(ExtFuncData { name: ExternalName::user(name), signature, colocated: true, patchable: false })
}

/// Builds the CLIF function for `req` into `func`.
pub(crate) fn build_function(
    req: &Request<'_>,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    call_conv: CallConv,
    ptr: Type,
    frontend: TargetFrontendConfig,
) -> Result<(), String> {
    let program = req.program;
    let bi = &program.bodies[req.body as usize];
    let lb = &program.layout.bodies[req.body as usize];
    if lb.start == lb.end {
        return Err("empty body".into());
    }
    let m = &program.module;
    let cfg = Cfg::build(m, lb);
    let live_out = cfg.live_out(m);
    let nregs = bi.nregs as usize;
    let nblocks = cfg.blocks.len();
    let mut l = Lowerer {
        req,
        m,
        cfg,
        live_out,
        nregs,
        code_start: bi.code_start,
        bc_start: bi.bc_start,
        reachable: vec![false; nblocks],
        head: Vec::new(),
        int_consts: single_constants(m, lb.start, lb.end, bi.entry_live)
            .into_iter()
            .map(|c| match c {
                Some(Constant::Int(i)) => Some(i),
                _ => None,
            })
            .collect(),
        view_forms: Vec::new(),
        entry_facts: Vec::new(),
    };
    l.view_forms = l.view_forms(lb.start, lb.end);
    l.entry_facts = ranges::block_entry_facts(m, &l.cfg, nregs, &|blk, pred| l.phi_moves(blk, pred));

    // Entry state and edge. Parameters whose callers always passed one type arrive unboxed in
    // the typed entry (the generic entry guards them); an OSR entry guards the frame's live
    // registers to the types they have now.
    let mut entry_guards: Vec<(u8, Tag)> = Vec::new();
    let params = match req.entry {
        Entry::Typed { .. } | Entry::Generic { .. } => typed_params(program, req.feedback, req.body, req.generic),
        Entry::Osr { .. } => Vec::new(),
    };
    let (entry_blk, entry_state, entry_pred) = match req.entry {
        Entry::Typed { .. } | Entry::Generic { .. } => {
            let max_argc = program.max_argc[req.body as usize] as usize;
            let st: State = (0..nregs)
                .map(|r| {
                    if let Some(&(_, t)) = params.iter().find(|(p, _)| *p as usize == r) {
                        Reg { val: Val::unboxed(t), slot: Slot::Empty }
                    } else if bi.entry_live.contains(r as u8) && r < max_argc {
                        Reg { val: Val::Mem, slot: Slot::Owned }
                    } else {
                        // Not read before written, or beyond every call's arguments: empty.
                        Reg { val: Val::Empty, slot: Slot::Empty }
                    }
                })
                .collect();
            (0u32, st, u32::MAX)
        }
        Entry::Osr { header, latch, tags } => {
            if header < lb.start || header >= lb.end {
                return Err("OSR header outside the body".into());
            }
            // Registers live at the header are guarded to the types they have now, so the
            // loop's steady state (unboxed) is its state from the first iteration.
            let live = l.live_in(header);
            let st: State = (0..nregs)
                .map(|r| {
                    let tag = tags.get(r).copied().filter(|_| live.contains(r as u8) && !req.generic.contains(&header));
                    match tag {
                        Some(t @ (Tag::Int | Tag::Float | Tag::Bool | Tag::Empty)) => {
                            entry_guards.push((r as u8, t));
                            // The slot may still hold a plain value (or be empty).
                            Reg { val: Val::unboxed(t), slot: Slot::Plain }
                        }
                        // Dead at the header: released at entry (below), never read.
                        _ if !live.contains(r as u8) => Reg { val: Val::Dead, slot: Slot::Plain },
                        _ => Reg { val: Val::Mem, slot: Slot::Owned },
                    }
                })
                .collect();
            if l.cfg.blocks[l.cfg.block_at(header) as usize].start != header {
                return Err("OSR header is not a block start".into());
            }
            (l.cfg.block_at(header), st, latch)
        }
    };
    if !matches!(req.entry, Entry::Generic { .. }) {
        l.analyze(entry_blk, entry_state.clone(), entry_pred);
    }

    // Signatures.
    func.signature = match req.entry {
        Entry::Typed { .. } => typed_signature(call_conv, &params),
        _ => entry_signature(call_conv),
    };
    func.name = UserFuncName::user(0, req.body);
    let sig = |params: &[Type], returns: &[Type]| {
        let mut s = Signature::new(call_conv);
        s.params.extend(params.iter().map(|t| AbiParam::new(*t)));
        s.returns.extend(returns.iter().map(|t| AbiParam::new(*t)));
        s
    };
    let (i32t, i64t) = (types::I32, types::I64);

    let mut b = FunctionBuilder::new(func, fctx);
    let sigs = Sigs {
        entry: b.import_signature(entry_signature(call_conv)),
        exec: b.import_signature(sig(&[i64t, i32t, i32t, i64t], &[i32t])),
        call_interp: b.import_signature(sig(&[i64t, i32t, i64t], &[i64t, i64t])),
        deopt: b.import_signature(sig(&[i64t, i32t, i32t, i64t, i32t, i32t], &[i64t, i64t])),
        release: b.import_signature(sig(&[i64t, i64t, i32t], &[])),
        copy: b.import_signature(sig(&[i64t, i64t, i32t, i64t, i32t], &[])),
        truthy: b.import_signature(sig(&[i64t, i64t, i32t], &[i32t])),
        halt: b.import_signature(sig(&[i64t], &[])),
        reserve: b.import_signature(sig(&[i64t, i64t], &[])),
        call_dynamic: b.import_signature(sig(&[i64t, i32t, i32t, i64t], &[i32t])),
        load_const: b.import_signature(sig(&[i64t, i64t, i32t, i32t], &[])),
        call_switch: b.import_signature(sig(&[i64t, i64t, i64t], &[i64t, i64t])),
        array_set: b.import_signature(sig(&[i64t, i64t, i32t, i64t, i64t, i64t], &[i32t])),
    };
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let ctx = b.block_params(entry)[0];
    let base = b.block_params(entry)[1];
    // The frame count: an argument of the typed entry; `ctx.depth` in the others (which are
    // entered from the interpreter, or by a caller that wrote it).
    let (depth, typed_args) = match req.entry {
        Entry::Typed { .. } => (b.block_params(entry)[2], b.block_params(entry)[3..].to_vec()),
        _ => (b.ins().load(types::I64, flags(), ctx, rt::OFF_DEPTH), Vec::new()),
    };
    let ivars: Vec<Variable> = (0..nregs).map(|_| b.declare_var(types::I64)).collect();
    let fvars: Vec<Variable> = (0..nregs).map(|_| b.declare_var(types::F64)).collect();
    let views: Vec<View> = (0..nregs)
        .map(|_| View { len: b.declare_var(types::I64), kind: b.declare_var(types::I64), data: b.declare_var(ptr), bound: b.declare_var(types::I64) })
        .collect();
    let nblocks = if matches!(req.entry, Entry::Generic { .. }) { 0 } else { nblocks };
    let blocks: Vec<Block> = (0..nblocks).map(|_| b.create_block()).collect();
    let mut g = Gen {
        l,
        b,
        sigs,
        ptr,
        ctx,
        base,
        depth,
        ivars,
        fvars,
        views,
        blocks,
        uncharged_exits: false,
        callees: HashMap::new(),
        ranges: Facts::top(nregs),
        counted: Vec::new(),
        unchecked_updates: HashSet::new(),
        entering_osr: false,
    };
    if !matches!(req.entry, Entry::Generic { .. }) {
        g.plan_counted_loops(entry_blk);
    }
    if let Entry::Generic { fast } = req.entry {
        // Guard the typed parameters in their slots (nothing charged yet: the typed entry
        // charges the first segment), unbox them, empty their slots, call the typed entry.
        let start = lb.start;
        let live = g.l.live_in(start);
        let st: State = vec![Reg { val: Val::Mem, slot: Slot::Owned }; nregs];
        g.uncharged_exits = true;
        let mut args = vec![ctx, base, depth];
        for &(r, t) in &params {
            let v = g.guard_unbox(r, t, 3, start, &st, live);
            if t != Tag::Empty {
                args.push(v);
            }
        }
        for &(r, t) in &params {
            if t != Tag::Empty {
                g.store_tag(r, Tag::Empty as u64);
            }
        }
        let fref = import_module_function(g.b.func, fast, typed_signature(call_conv, &params));
        let call = g.b.ins().call(fref, &args);
        let res = g.b.inst_results(call).to_vec();
        // The typed entry leaves `ctx.depth` as its deepest callee wrote it: restore it for
        // the caller (the interpreter counts frames there).
        g.store_depth(depth);
        g.b.ins().return_(&res);
        g.b.seal_all_blocks();
        g.b.finalize(frontend);
        return Ok(());
    }
    // Calls write the callee's window at base + nregs: make sure the stack holds it (it only
    // grows, so one check here covers every call of this activation).
    let has_calls = (lb.start..lb.end).any(|i| matches!(m.code[i as usize], Instr::CallR { .. }));
    if let (Entry::Typed { generic }, true) = (req.entry, has_calls) {
        g.switch_stack_if_low(generic, &params, &typed_args);
    }
    if has_calls {
        let need = g.b.ins().iadd_imm_s(base, nregs as i64 + 256);
        let len = g.b.ins().load(types::I64, flags(), ctx, rt::OFF_STACK_LEN);
        let short = g.b.ins().icmp(IntCC::UnsignedGreaterThan, need, len);
        let grow = g.b.create_block();
        let ready = g.b.create_block();
        g.b.set_cold_block(grow);
        g.b.ins().brif(short, grow, &[], ready, &[]);
        g.b.switch_to_block(grow);
        g.b.seal_block(grow);
        let f = g.iconst(rt::mdvm_reserve as *const () as usize as i64);
        g.b.ins().call_indirect(g.sigs.reserve, f, &[ctx, need]);
        g.b.ins().jump(ready, &[]);
        g.b.switch_to_block(ready);
        g.b.seal_block(ready);
    }
    // Unboxed registers start defined (the analysis never reads them before a def).
    let zero = g.b.ins().iconst(types::I64, 0);
    let fzero = g.b.ins().f64const(0.0);
    for r in 0..nregs {
        g.b.def_var(g.ivars[r], zero);
        g.b.def_var(g.fvars[r], fzero);
        let v = g.views[r];
        for var in [v.len, v.kind, v.data, v.bound] {
            g.b.def_var(var, zero);
        }
    }
    match req.entry {
        Entry::Typed { .. } => {
            let mut next = typed_args.iter();
            for &(r, t) in &params {
                match t {
                    Tag::Empty => {}
                    Tag::Float => g.b.def_var(g.fvars[r as usize], *next.next().expect("typed argument")),
                    _ => g.b.def_var(g.ivars[r as usize], *next.next().expect("typed argument")),
                }
            }
            // Charges the first segment (no phi of the entry block can match: the entry has
            // no predecessor).
            g.emit_edge(entry_state, entry_blk, entry_pred);
        }
        Entry::Osr { header, latch, .. } => {
            // Guard the frame's registers (nothing charged yet: exits refund nothing), then
            // enter along the back-edge the interpreter just took.
            let live = g.l.live_in(header);
            let mut st = entry_state.clone();
            for &(r, _) in &entry_guards {
                st[r as usize] = Reg { val: Val::Mem, slot: Slot::Owned };
            }
            g.uncharged_exits = true;
            let consts = single_constants(m, lb.start, lb.end, bi.entry_live);
            for &(r, t) in &entry_guards {
                let v = g.osr_guard(r, t, header, latch, &st, live);
                // A register whose every definition loads one constant holds that constant
                // (it is live here, so it was defined): the loop sees the value, not a load.
                let v = match (t, consts[r as usize].clone()) {
                    (Tag::Int, Some(Constant::Int(c))) => g.iconst(c),
                    (Tag::Bool, Some(Constant::Bool(c))) => g.iconst(c as i64),
                    (Tag::Float, Some(Constant::Float(c))) => g.b.ins().f64const(c),
                    _ => v,
                };
                match t {
                    Tag::Float => g.b.def_var(g.fvars[r as usize], v),
                    Tag::Empty => {}
                    _ => g.b.def_var(g.ivars[r as usize], v),
                }
                st[r as usize] = entry_state[r as usize];
            }
            g.uncharged_exits = false;
            for r in (0..nregs).map(|r| r as u8) {
                if !live.contains(r) {
                    g.release_slot(r);
                }
            }
            g.entering_osr = true;
            g.emit_edge(st, entry_blk, entry_pred);
            g.entering_osr = false;
        }
        Entry::Generic { .. } => unreachable!("built above"),
    }
    for blk in 0..nblocks as u32 {
        if g.l.reachable[blk as usize] {
            g.emit_block(blk);
        }
    }
    g.b.seal_all_blocks();
    g.b.finalize(frontend);
    Ok(())
}
