//! Planning: the specialization of each instruction, from the frame state before it and the
//! interpreter's feedback.
//!
//! An operand whose type is not known from the state is speculated to have the one type its
//! site's feedback saw (an int when the site never ran: a wrong guess costs one side exit) and
//! is then **guarded** ([`Operand::Guard`]). A site that misspeculated before is compiled
//! generically (the request's `generic` set): through the runtime's `mdvm_exec`, with the
//! interpreter's semantics.

use std::collections::HashSet;

use mdbc::{Constant, Instr, Module};
use mdvm_runtime::array::KIND_VALUES;
use mdvm_runtime::feedback::{Feedback, SiteTypes, VALUES_ARRAY};
use mdvm_runtime::natives::Builtin;
use mdvm_runtime::program::{Callee, Op, Program};
use mdvm_runtime::value::Tag;

use crate::analysis::ops::{binop_of, BinOp};
use crate::spec::state::{State, Val};

/// Which types an operation is specialised to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spec {
    Int,
    Float,
    Bool,
    /// Both operands strings (guarded), the operation itself through the generic path.
    Str,
    Generic,
}

/// How one operand is obtained in a specialised operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    /// Already unboxed with the needed type (or, for `Spec::Str`, a known function name).
    Ready,
    /// In its slot: guard that its tag is this one, then unbox.
    Guard(Tag),
    /// Unboxed int used as a float.
    IntToFloat,
    /// In its slot: guard that it is an int, unbox, use as float.
    GuardIntToFloat,
}

/// Which dict instruction a [`Plan::Dict`] is, with its other register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DictAccess {
    /// `DICT_GET_R` into `dst`: in its slot (any type), or, when `expect` is an int, float
    /// or bool (the only type the site's feedback saw, or an int when it never ran:
    /// [`expected`]), that value unboxed, guarded to have
    /// that type (an absent key or another type side-exits, and the interpreter reads it).
    Get { dst: u8, expect: Option<Tag> },
    /// `DICT_CONTAINS_R` into `dst` (an unboxed bool).
    Contains { dst: u8 },
    /// `DICT_SET_R` of `val`.
    Set { val: u8 },
}

impl DictAccess {
    /// The registers the helper reads from their slots (`dict`, `key` and a set's value).
    pub fn reads(self, dict: u8, key: u8) -> Vec<u8> {
        match self {
            DictAccess::Set { val } => vec![dict, key, val],
            DictAccess::Get { .. } | DictAccess::Contains { .. } => vec![dict, key],
        }
    }
}

/// The decision for one instruction.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// No effect (`DEFINE_R`, scopes, `BREAKPOINT`, `NOP`).
    Nop,
    ConstInt(u8, i64),
    ConstFloat(u8, f64),
    ConstBool(u8, bool),
    ConstEmpty(u8),
    /// A string constant that names no function (through the generic path).
    ConstStr(u8),
    /// A string constant naming callee `.1` (constant `.2`), a function or a native: known
    /// statically, written to the slot only when something reads the slot.
    ConstFn(u8, Callee, u16),
    /// `dst = src`.
    Move(u8, u8),
    /// `dst = src` where `src` owns a value in its slot and is dead after the move: the value
    /// moves (no reference is added or dropped; a known array keeps its view in `dst`), and
    /// `src`'s slot is left empty ([`crate::spec::dataflow::Speculation::plan`]). A swap
    /// through a temporary then leaves each array held once, so its next write is in place
    /// rather than a copy.
    MoveOut(u8, u8),
    /// Binary arithmetic, comparison or logic specialised to `spec`; `oa` and `ob` say how
    /// each operand is obtained.
    Binary { spec: Spec, dst: u8, a: u8, b: u8, oa: Operand, ob: Operand },
    /// `NEG_R` or `NOT_R` specialised to `spec`.
    Unary { spec: Spec, dst: u8, src: u8, o: Operand },
    /// `CAST_R` of an int, float or bool (`from`, obtained as `o` says) to an int or a float
    /// (`to`), unboxed: a float converted to an int is truncated, and one out of the 64-bit
    /// range (or NaN) leaves through an `Overflow` exit so the interpreter raises its error.
    Cast { from: Spec, to: Tag, dst: u8, src: u8, o: Operand },
    /// Executed by `mdvm_exec` (operands written to their slots first; `dst` ends in its slot).
    Generic { dst: Option<u8>, uses: Vec<u8> },
    /// `DICT_GET_R`, `DICT_CONTAINS_R` or `DICT_SET_R` on `dict` and `key`, through the
    /// instruction's own helper rather than `mdvm_exec` (the operands written to their slots
    /// first): it needs no dispatch, and `DICT_CONTAINS_R`'s result stays an unboxed bool. A
    /// dict or key of another type makes the helper fail without effects, and the code
    /// side-exits so the interpreter raises the error; nothing is speculated.
    Dict { access: DictAccess, dict: u8, key: u8 },
    /// `ARRAY_GET_R` read in machine code through the array's view ([`Val::Array`]; the slot of
    /// `arr` guarded to hold an array when it is not known to), the index an int (operand
    /// `oi`), bounds checked (out of range side-exits so the interpreter raises the error),
    /// the element guarded to have tag `elem` (int, float or bool) and unboxed into `dst`.
    /// `packed`: the array is expected packed ([`mdvm_runtime::array`]) with `elem` elements.
    ArrayGet { dst: u8, arr: u8, idx: u8, oi: Operand, elem: Tag, packed: bool },
    /// `ARRAY_GET_R` of an element of any type from an array of values, at an int index
    /// (operand `oi`): the element's two words copied into the slot of `dst`, a heap element
    /// gaining its reference in machine code (no helper, no instruction decoding). For reads
    /// whose feedback saw strings, lists or dicts, or mixed types.
    ArrayGetValue { dst: u8, arr: u8, idx: u8, oi: Operand },
    /// `CONCAT_STR_R` (`dst = a + b` of any two values' display texts) through `mdvm_concat`,
    /// the operands in their slots and the result in the slot of `dst`. `ADD_R` of two
    /// guarded strings is [`Plan::Binary`] with [`Spec::Str`], lowered through it too.
    Concat { dst: u8, a: u8, b: u8 },
    /// `ARRAY_LEN_R` read in machine code (the slot of `arr` guarded to hold an array).
    ArrayLen { dst: u8, arr: u8 },
    /// `ARRAY_SET_R` of an unboxed empty, bool, int or float `val` at an int index (operand
    /// `oi`), through `mdvm_array_set_plain` (no spills, no instruction decoding).
    ArraySet { arr: u8, idx: u8, oi: Operand, val: u8 },
    /// `CALL_R`: `callee` when known statically (else the runtime performs the whole call);
    /// `expect` the result type the call is compiled for (guarded after the call).
    Call { callee: Option<u32>, func: u8, dst: u8, args: Vec<u8>, expect: Option<Tag> },
    /// `CALL_R` of native `native`, known statically, run by `mdvm_call_native` on its
    /// arguments' slots (no frame, no depth check); `expect` as for [`Plan::Call`].
    Native { native: u32, dst: u8, args: Vec<u8>, expect: Option<Tag> },
    /// `CALL_R` of a pure standard-library native computed in machine code: `f` on operand
    /// `a` (and `b` for `min`/`max`, else `b == a`) specialised to `spec` (int or float),
    /// obtained as `oa` and `ob`. Arguments that break the speculation side-exit to the call.
    Inline { f: Inline, spec: Spec, dst: u8, a: u8, b: u8, oa: Operand, ob: Operand },
    /// The length of a string (characters, read from the string in machine code) or a dict
    /// (entries, `mdvm_dict_len`) in the slot of `src`, whose tag is guarded to be `tag`:
    /// `STR_LEN_R`, `DICT_LEN_R` and the native `len`.
    Len { dst: u8, src: u8, tag: Tag },
    /// `CALL_R` of a type test (`is_int`, ...): true when the tag of `src` is in `mask` (a bit
    /// per [`Tag`]), from the state or read from its slot.
    TypeTest { dst: u8, src: u8, mask: u16 },
    Jump,
    /// A conditional jump, taken when `truthy(cond) == when`.
    Branch { cond: u8, when: bool },
    Return(Option<u8>),
    Halt,
    /// Phis are resolved on the edges into their block.
    Phi,
}

/// A standard-library native compiled inline ([`Plan::Inline`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inline {
    /// `abs`: int (overflow side-exits) or float.
    Abs,
    /// `min` of two ints or two floats.
    Min,
    /// `max` of two ints or two floats.
    Max,
    /// `sqrt`: float result (an int operand converted).
    Sqrt,
    /// `floor`, `ceil`, `round`, and `int` (truncation): int result; a float out of the int
    /// range (or NaN) side-exits; an int operand is the result.
    Floor,
    #[allow(missing_docs)]
    Ceil,
    #[allow(missing_docs)]
    Round,
    #[allow(missing_docs)]
    Trunc,
    /// `float`: float result (an int converted, a float itself).
    ToFloat,
}

impl Inline {
    /// The inline form of builtin `b` called with `argc` arguments, if it has one.
    fn of(b: Builtin, argc: usize) -> Option<Inline> {
        Some(match (b, argc) {
            (Builtin::Abs, 1) => Inline::Abs,
            (Builtin::Min, 2) => Inline::Min,
            (Builtin::Max, 2) => Inline::Max,
            (Builtin::Sqrt, 1) => Inline::Sqrt,
            (Builtin::Floor, 1) => Inline::Floor,
            (Builtin::Ceil, 1) => Inline::Ceil,
            (Builtin::Round, 1) => Inline::Round,
            (Builtin::Int, 1) => Inline::Trunc,
            (Builtin::Float, 1) => Inline::ToFloat,
            _ => return None,
        })
    }

    /// The type of the result when the operands are `spec`.
    pub fn result(self, spec: Spec) -> Val {
        match self {
            Inline::Abs | Inline::Min | Inline::Max if spec == Spec::Float => Val::Float,
            Inline::Sqrt | Inline::ToFloat => Val::Float,
            _ => Val::Int,
        }
    }
}

/// The tag feedback says an operand has, if it names exactly one (or nothing was seen: then
/// `Int` is assumed, and a wrong guess costs one side exit).
pub(crate) fn expected(mask: u16) -> Option<Tag> {
    if mask == 0 {
        return Some(Tag::Int);
    }
    if mask.count_ones() == 1 {
        Tag::from_u8(mask.trailing_zeros() as u8)
    } else {
        None
    }
}

/// How to get an operand in state `val` as type `want` given the tag feedback expects
/// (`exp`); `None` if it cannot be done without the generic path.
fn operand(val: Val, want: Spec, exp: Option<Tag>) -> Option<Operand> {
    match (want, val) {
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

/// The type a register would have after its guard, for choosing a specialisation: its known
/// type, or (in its slot) the one feedback expects. A dead register is never read (liveness);
/// it would read as empty.
fn likely(val: Val, exp: Option<Tag>) -> Option<Tag> {
    match val {
        Val::Mem => exp,
        Val::Dead => Some(Tag::Empty),
        v => v.known_tag(),
    }
}

/// What planning one body needs: the program, its feedback, the sites to compile
/// generically, and per register the array form its element reads agree on.
pub(crate) struct Planner<'a> {
    pub program: &'a Program,
    pub feedback: &'a Feedback,
    pub m: &'a Module,
    /// The body's first internal code index and first bytecode index.
    code_start: u32,
    bc_start: u32,
    /// Bytecode indices to compile without speculation.
    pub generic: &'a HashSet<u32>,
    /// See [`Planner::view_forms`].
    pub view_forms: Vec<Option<u8>>,
    /// Bytecode indices whose array form guard failed once ([`Planner::with_form_misses`]).
    pub form_misses: HashSet<u32>,
}

impl<'a> Planner<'a> {
    /// A planner for `body` of `program`, with the bytecode indices in `generic` compiled
    /// without speculation.
    pub fn new(program: &'a Program, feedback: &'a Feedback, body: u32, generic: &'a HashSet<u32>) -> Planner<'a> {
        let bi = &program.bodies[body as usize];
        let lb = &program.layout.bodies[body as usize];
        let mut p = Planner {
            program,
            feedback,
            m: &program.module,
            code_start: bi.code_start,
            bc_start: bi.bc_start,
            generic,
            view_forms: Vec::new(),
            form_misses: HashSet::new(),
        };
        p.view_forms = p.view_forms(lb.start, lb.end, bi.nregs as usize);
        p
    }

    /// This planner with no form guard on the views of the arrays operated on at the sites
    /// in `misses` (bytecode indices whose form guard failed): their element reads check the
    /// form each time, and handle both the packed form and values.
    pub fn with_form_misses(mut self, misses: &HashSet<u32>) -> Planner<'a> {
        for &bc in misses {
            let arr = match self.m.code.get(bc as usize) {
                Some(Instr::ArrayGetR { arr, .. } | Instr::ArraySetR { arr, .. } | Instr::ArrayLenR { arr, .. }) => arr.0,
                _ => continue,
            };
            if let Some(f) = self.view_forms.get_mut(arr as usize) {
                *f = None;
            }
        }
        self.form_misses = misses.clone();
        self
    }

    /// The internal code index of bytecode index `bc` of the body (where its feedback is).
    pub fn ipc(&self, bc: u32) -> usize {
        (self.code_start + (bc - self.bc_start)) as usize
    }

    /// The feedback of the site at bytecode index `bc`.
    pub fn site(&self, bc: u32) -> SiteTypes {
        self.feedback.site_types[self.ipc(bc)]
    }

    /// For the `ARRAY_GET_R` at `bc`, the element type its feedback saw (int, float or bool)
    /// and whether to read it packed: all three are, unless the site saw an array of values
    /// ([`VALUES_ARRAY`]). `None` when the site has not run yet or saw other types.
    fn seen_array_get_elem(&self, bc: u32) -> Option<(Tag, bool)> {
        let out = self.site(bc).out;
        if out == 0 {
            return None;
        }
        let elem = expected(out & !VALUES_ARRAY).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool))?;
        Some((elem, out & VALUES_ARRAY == 0))
    }

    /// For the `ARRAY_GET_R` at `bc` reading register `arr`, the element type to read in
    /// machine code and whether packed ([`Planner::seen_array_get_elem`]). A read that has not
    /// run yet reads the form the other reads of `arr` agree on ([`Planner::view_forms`]), or
    /// packed ints. `None`: read generically.
    fn array_get_elem(&self, bc: u32, arr: u8) -> Option<(Tag, bool)> {
        if self.site(bc).out != 0 {
            return self.seen_array_get_elem(bc);
        }
        Some(match self.view_forms[arr as usize] {
            Some(KIND_VALUES) => (Tag::Int, false),
            Some(k) => (Tag::from_u8(k).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool))?, true),
            None => (Tag::Int, true),
        })
    }

    /// Per register, the array kind ([`mdvm_runtime::array::Array::kind`]) every element
    /// read of it in `start..end` that has run is compiled for, when they all agree: its view
    /// then guards that kind once, where it is read, instead of at every element read (reads
    /// that have not run adopt it). A register none of whose reads has run yet takes the kind
    /// its writes that have run agree on (ints, floats or bools written: that packed kind),
    /// which is what a loop filling an array before reading it makes.
    fn view_forms(&self, start: u32, end: u32, nregs: usize) -> Vec<Option<u8>> {
        // None: no read yet; Some(Some(k)): all reads want k; Some(None): they differ.
        let mut forms: Vec<Option<Option<u8>>> = vec![None; nregs];
        let mut written: Vec<Option<Option<u8>>> = vec![None; nregs];
        let agree = |f: &mut Option<Option<u8>>, k: Option<u8>| {
            *f = match *f {
                None => Some(k),
                Some(j) if j == k => Some(k),
                _ => Some(None),
            };
        };
        for bc in start..end {
            match &self.m.code[bc as usize] {
                Instr::ArrayGetR { arr, .. } => {
                    let Some((elem, packed)) = self.seen_array_get_elem(bc) else { continue };
                    agree(&mut forms[arr.0 as usize], Some(if packed { elem as u8 } else { KIND_VALUES }));
                }
                Instr::ArraySetR { arr, .. } => {
                    let out = self.site(bc).out;
                    if out == 0 {
                        continue;
                    }
                    let k = expected(out).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool)).map(|t| t as u8);
                    agree(&mut written[arr.0 as usize], k);
                }
                _ => {}
            }
        }
        forms.into_iter().zip(written).map(|(read, wrote)| read.unwrap_or_else(|| wrote.flatten())).collect()
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

    /// The callee of the `CALL_R` at `bc` when it is known statically: the call site's own
    /// load-time resolution, or a callee name the state knows `func` to hold.
    fn callee(&self, bc: u32, func: u8, st: &State) -> Option<Callee> {
        let resolved = match self.program.code[self.ipc(bc)] {
            Op::CallR { args: s, .. } | Op::LoadCall { site: s } => self.program.call_sites[s as usize].target.map(Callee::Body),
            Op::CallNative { site: s } => self.program.call_sites[s as usize].native.map(Callee::Native),
            _ => None,
        };
        resolved.or(match st[func as usize].val {
            Val::Fn(c, _) => Some(c),
            _ => None,
        })
    }

    /// [`Plan::Len`] of register `src` (in its slot) when feedback (`seen`) saw only strings or
    /// only dicts there, or nothing yet and `natural` names the type the instruction is for.
    fn plan_len(&self, dst: u8, src: u8, seen: u16, natural: Option<Tag>, st: &State) -> Option<Plan> {
        if st[src as usize].val != Val::Mem {
            return None;
        }
        let tag = match seen {
            0 => natural?,
            m if m == 1 << Tag::Str as u16 => Tag::Str,
            m if m == 1 << Tag::Dict as u16 => Tag::Dict,
            _ => return None,
        };
        if tag == Tag::Str && mdvm_runtime::value::str_layout().is_none() {
            return None;
        }
        Some(Plan::Len { dst, src, tag })
    }

    /// The plan for a `CALL_R` of native `native`: inline for the pure builtins whose
    /// arguments' types the state or feedback knows, else through `mdvm_call_native`.
    fn plan_native(&self, bc: u32, native: u32, dst: u8, args: &[u8], generic_site: bool, st: &State) -> Plan {
        let site = self.site(bc);
        let expect = if generic_site {
            None
        } else {
            expected(site.out).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool))
        };
        let call = Plan::Native { native, dst, args: args.to_vec(), expect };
        let builtin = self.program.natives.get(native).builtin;
        let (Some(b), false, Some(&a)) = (builtin, generic_site, args.first()) else { return call };
        if args.len() == 1 {
            if let Some(mask) = b.type_mask() {
                return Plan::TypeTest { dst, src: a, mask };
            }
            if b == Builtin::Len {
                if self.native_array(false, a, site.a, st) {
                    return Plan::ArrayLen { dst, arr: a };
                }
                if let Some(p) = self.plan_len(dst, a, site.a, None, st) {
                    return p;
                }
            }
        }
        let Some(f) = Inline::of(b, args.len()) else { return call };
        let bb = args.get(1).copied().unwrap_or(a);
        let (va, vb) = (st[a as usize].val, st[bb as usize].val);
        let (ea, eb) = (expected(site.a), if args.len() == 2 { expected(site.b) } else { expected(site.a) });
        let (ta, tb) = (likely(va, ea), likely(vb, eb));
        let spec = match (f, ta, tb) {
            (Inline::Min | Inline::Max, Some(Tag::Int), Some(Tag::Int)) => Spec::Int,
            (Inline::Min | Inline::Max, Some(Tag::Float), Some(Tag::Float)) => Spec::Float,
            (Inline::Min | Inline::Max, _, _) => return call,
            (Inline::Sqrt, Some(Tag::Int | Tag::Float), _) => Spec::Float,
            (_, Some(Tag::Int), _) => Spec::Int,
            (_, Some(Tag::Float), _) => Spec::Float,
            _ => return call,
        };
        match (operand(va, spec, ea), operand(vb, spec, eb)) {
            (Some(oa), Some(ob)) if args.len() == 2 || oa == ob => Plan::Inline { f, spec, dst, a, b: bb, oa, ob },
            _ => call,
        }
    }

    /// The plan for the instruction at bytecode index `bc` in state `st`.
    pub fn plan(&self, bc: u32, st: &State) -> Plan {
        let ins = &self.m.code[bc as usize];
        let generic_site = self.generic.contains(&bc);
        let generic = |ins: &Instr| {
            let mut uses = Vec::new();
            ins.for_each_use(|r| uses.push(r));
            Plan::Generic { dst: ins.def(), uses }
        };
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
                Constant::Str(s) => match self.program.resolve_name(s.as_str()) {
                    Some(c) => Plan::ConstFn(dst.0, c, k.0),
                    None => Plan::ConstStr(dst.0),
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
                let oi = operand(st[idx.0 as usize].val, Spec::Int, expected(site.b));
                match (self.native_array(generic_site, arr.0, site.a, st) && arr.0 != idx.0, oi, self.array_get_elem(bc, arr.0)) {
                    (true, Some(oi), Some((elem, packed))) => {
                        Plan::ArrayGet { dst: dst.0, arr: arr.0, idx: idx.0, oi, elem, packed }
                    }
                    // Elements of other types, seen in arrays of values.
                    (true, Some(oi), None) if site.out & VALUES_ARRAY != 0 => {
                        Plan::ArrayGetValue { dst: dst.0, arr: arr.0, idx: idx.0, oi }
                    }
                    _ => generic(ins),
                }
            }
            Instr::ArrayLenR { dst, arr } if self.native_array(generic_site, arr.0, 0, st) => {
                Plan::ArrayLen { dst: dst.0, arr: arr.0 }
            }
            Instr::StrLenR { dst, s } if !generic_site => {
                self.plan_len(dst.0, s.0, self.site(bc).a, Some(Tag::Str), st).unwrap_or_else(|| generic(ins))
            }
            Instr::DictLenR { dst, dict } if !generic_site => {
                self.plan_len(dst.0, dict.0, self.site(bc).a, Some(Tag::Dict), st).unwrap_or_else(|| generic(ins))
            }
            Instr::CastR { dst, src, ty } if !generic_site => {
                self.plan_cast(bc, dst.0, src.0, ty.0, st).unwrap_or_else(|| generic(ins))
            }
            Instr::ConcatStrR { dst, a, b } if !generic_site => Plan::Concat { dst: dst.0, a: a.0, b: b.0 },
            Instr::DictGetR { dst, dict, key } => {
                // As elsewhere, an int when the site never ran (a wrong guess costs one exit).
                let expect = expected(self.site(bc).out).filter(|t| !generic_site && matches!(t, Tag::Int | Tag::Float | Tag::Bool));
                Plan::Dict { access: DictAccess::Get { dst: dst.0, expect }, dict: dict.0, key: key.0 }
            }
            Instr::DictContainsR { dst, dict, key } => {
                Plan::Dict { access: DictAccess::Contains { dst: dst.0 }, dict: dict.0, key: key.0 }
            }
            Instr::DictSetR { dict, key, val } => Plan::Dict { access: DictAccess::Set { val: val.0 }, dict: dict.0, key: key.0 },
            Instr::ArraySetR { arr, idx, val } => {
                let site = self.site(bc);
                let oi = operand(st[idx.0 as usize].val, Spec::Int, expected(site.b));
                let plain = matches!(st[val.0 as usize].val, Val::Empty | Val::Bool | Val::Int | Val::Float);
                match (self.native_array(generic_site, arr.0, site.a, st) && arr.0 != idx.0 && plain, oi) {
                    (true, Some(oi)) => Plan::ArraySet { arr: arr.0, idx: idx.0, oi, val: val.0 },
                    _ => generic(ins),
                }
            }
            Instr::CallR { func, dst, args } => {
                let callee = match self.callee(bc, func.0, st) {
                    Some(Callee::Native(n)) => return self.plan_native(bc, n, dst.0, &args.0, generic_site, st),
                    Some(Callee::Body(b)) => Some(b),
                    None => None,
                };
                // The result type feedback saw (an int when the call never ran yet; a wrong
                // guess costs one side exit after the call and makes the site generic).
                let expect = if generic_site || callee.is_none() {
                    None
                } else {
                    expected(self.site(bc).out).filter(|t| matches!(t, Tag::Int | Tag::Float | Tag::Bool))
                };
                Plan::Call { callee, func: func.0, dst: dst.0, args: args.0.to_vec(), expect }
            }
            Instr::NegR { dst, src } | Instr::NotR { dst, src } => self.plan_unary(bc, ins, dst.0, src.0, generic_site, st),
            _ => match binop_of(ins) {
                Some((op, dst, a, b)) => self.plan_binary(bc, op, dst, a, b, generic_site, st),
                None => generic(ins),
            },
        }
    }

    fn plan_unary(&self, bc: u32, ins: &Instr, dst: u8, src: u8, generic_site: bool, st: &State) -> Plan {
        let generic = Plan::Unary { spec: Spec::Generic, dst, src, o: Operand::Ready };
        if generic_site {
            return generic;
        }
        let val = st[src as usize].val;
        let seen = self.site(bc).a;
        let is_not = matches!(ins, Instr::NotR { .. });
        // `NOT_R` speculates only on what feedback saw (no int guess).
        let exp = if is_not && seen == 0 { None } else { expected(seen) };
        let spec = match likely(val, exp) {
            Some(Tag::Int) => Spec::Int,
            Some(Tag::Float) => Spec::Float,
            Some(Tag::Bool) if is_not => Spec::Bool,
            _ => return generic,
        };
        match operand(val, spec, exp) {
            Some(o) => Plan::Unary { spec, dst, src, o },
            None => generic,
        }
    }

    /// `CAST_R` of `src` to type `ty`: [`Plan::Cast`] for an int or float target from an
    /// operand that is, or feedback says is, an int, float or bool; `None` (generic) otherwise.
    fn plan_cast(&self, bc: u32, dst: u8, src: u8, ty: u16, st: &State) -> Option<Plan> {
        let to = match Tag::from_u8(ty as u8).filter(|_| ty <= Tag::Dict as u16)? {
            t @ (Tag::Int | Tag::Float) => t,
            _ => return None,
        };
        let val = st[src as usize].val;
        let exp = expected(self.site(bc).a);
        let from = match likely(val, exp) {
            Some(Tag::Int) => Spec::Int,
            Some(Tag::Float) => Spec::Float,
            Some(Tag::Bool) => Spec::Bool,
            _ => return None,
        };
        operand(val, from, exp).map(|o| Plan::Cast { from, to, dst, src, o })
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_binary(&self, bc: u32, op: BinOp, dst: u8, a: u8, b: u8, generic_site: bool, st: &State) -> Plan {
        let generic = Plan::Binary { spec: Spec::Generic, dst, a, b, oa: Operand::Ready, ob: Operand::Ready };
        if generic_site {
            return generic;
        }
        let site = self.site(bc);
        let (va, vb) = (st[a as usize].val, st[b as usize].val);
        let (ea, eb) = (expected(site.a), expected(site.b));
        // And/Or speculate only on what feedback saw (no int guess).
        let (ea, eb) = match matches!(op, BinOp::And | BinOp::Or) {
            true => (ea.filter(|_| site.a != 0), eb.filter(|_| site.b != 0)),
            false => (ea, eb),
        };
        let spec = match (op, likely(va, ea), likely(vb, eb)) {
            (BinOp::And | BinOp::Or, Some(Tag::Bool), Some(Tag::Bool)) => Spec::Bool,
            (BinOp::And | BinOp::Or, _, _) => Spec::Generic,
            (BinOp::Eq | BinOp::Ne, Some(Tag::Bool), Some(Tag::Bool)) => Spec::Bool,
            (_, Some(Tag::Int), Some(Tag::Int)) => Spec::Int,
            (_, Some(Tag::Int | Tag::Float), Some(Tag::Int | Tag::Float)) => Spec::Float,
            (o, Some(Tag::Str), Some(Tag::Str)) if o == BinOp::Add || o.is_compare() => Spec::Str,
            _ => Spec::Generic,
        };
        // Float remainder has no native instruction.
        if spec == Spec::Generic || (spec == Spec::Float && op == BinOp::Mod) {
            return generic;
        }
        match (operand(va, spec, ea), operand(vb, spec, eb)) {
            (Some(oa), Some(ob)) => Plan::Binary { spec, dst, a, b, oa, ob },
            _ => generic,
        }
    }
}

/// The `ARRAY_GET_R` and `DICT_GET_R` sites of `body` (bytecode indices) that have not run
/// yet: compiled now, they read on a guess ([`Planner::array_get_elem`], [`DictAccess::Get`]),
/// and a guard failing there teaches the next compile the value's type rather than condemning
/// the site (see `CraneliftTier`'s `guessed`).
pub(crate) fn unseen_reads(program: &Program, feedback: &Feedback, body: u32) -> Vec<u32> {
    let lb = &program.layout.bodies[body as usize];
    (lb.start..lb.end)
        .filter(|&bc| matches!(program.module.code[bc as usize], Instr::ArrayGetR { .. } | Instr::DictGetR { .. }))
        .filter(|&bc| feedback.site_types[program.internal_pc(body, bc) as usize].out == 0)
        .collect()
}

/// The parameters a body's typed entry takes unboxed, as (register, type): every register live
/// at the body's start that some call may pass and whose callers (argument feedback) always
/// passed one type among empty, bool, int and float. A register no caller ever passed is
/// `Empty`, once some call has recorded argument types; with none recorded (a body compiled
/// before its first interpreted call, as `--tier jit` does) every candidate is guessed int,
/// like operands without feedback, and a wrong guess is a misspeculation of the entry guard.
/// None after an entry guard misspeculated (the start is then in `generic`).
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
                _ => expected(mask),
            };
            match tag {
                Some(t @ (Tag::Empty | Tag::Int | Tag::Float | Tag::Bool)) => Some((r as u8, t)),
                _ => None,
            }
        })
        .collect()
}
