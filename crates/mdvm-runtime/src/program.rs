//! A loaded program: the verified module turned into the interpreter's compact form.
//!
//! Each body (the main program and every function) is laid out once in [`Program::code`] as
//! fixed-size [`Op`]s with absolute jump targets, followed by an [`Op::FallOffEnd`] so falling
//! off the end of a body returns without a value. Constants are pre-built [`Value`]s, globals are
//! slots, and call sites whose callee name is a constant loaded just before the call are
//! resolved here, once.

use std::collections::HashMap;
use std::rc::Rc;

use mdbc::operand::{Args, AssertCheck, AssertKind, Const, Dst, Jump, Name, PhiSources, RetVal, ScopeId, Src, TypeId};
use mdbc::{Constant, Instr, Layout, LoadError, Module};

use crate::value::{FunctionRef, Str, Value};
use crate::natives::Natives;

/// The internal form of an operand kind of [`mdbc::operand`]: what an [`Op`] holds in place
/// of the bytecode operand, and how it is made at load time ([`LowerCx`] resolves names,
/// targets and side tables).
pub trait Lowered {
    /// The internal form (small and `Copy`: an [`Op`] is 8 bytes).
    type Form: Copy + std::fmt::Debug + PartialEq + Eq;
    /// Lowers the operand of the instruction at `cx.at`.
    fn lower(&self, cx: &mut LowerCx<'_>) -> Self::Form;
}

/// A written register: its index.
impl Lowered for Dst {
    type Form = u8;
    fn lower(&self, _: &mut LowerCx<'_>) -> u8 {
        self.0
    }
}

/// A read register: its index.
impl Lowered for Src {
    type Form = u8;
    fn lower(&self, _: &mut LowerCx<'_>) -> u8 {
        self.0
    }
}

/// A constant: its index in [`Program::constants`].
impl Lowered for Const {
    type Form = u32;
    fn lower(&self, _: &mut LowerCx<'_>) -> u32 {
        self.0 as u32
    }
}

/// A global's name: its slot in the machine's globals ([`Program::global_names`]).
impl Lowered for Name {
    type Form = u32;
    fn lower(&self, cx: &mut LowerCx<'_>) -> u32 {
        let Constant::Str(name) = &cx.module.constants[self.0 as usize] else { unreachable!("verified: a string") };
        let next = cx.global_names.len() as u32;
        *cx.global_slots.entry(name.clone()).or_insert_with(|| {
            cx.global_names.push(name.as_str().into());
            next
        })
    }
}

/// A type id, as is.
impl Lowered for TypeId {
    type Form = u16;
    fn lower(&self, _: &mut LowerCx<'_>) -> u16 {
        self.0
    }
}

/// A scope id, as is.
impl Lowered for ScopeId {
    type Form = u16;
    fn lower(&self, _: &mut LowerCx<'_>) -> u16 {
        self.0
    }
}

/// A jump: the internal code index of its target (absolute).
impl Lowered for Jump {
    type Form = u32;
    fn lower(&self, cx: &mut LowerCx<'_>) -> u32 {
        cx.internal(mdbc::operand::jump_target(cx.at, self.0) as u32)
    }
}

/// Call arguments: the index of the call's [`CallSite`] in [`Program::call_sites`] (its
/// argument registers; its callee and destination are the [`Op::CallR`]'s own fields, copied
/// into the site by [`Program::new`], which also resolves the callee where it can).
impl Lowered for Args {
    type Form = u32;
    fn lower(&self, cx: &mut LowerCx<'_>) -> u32 {
        cx.call_sites.push(CallSite { func: 0, dst: 0, args: self.0.clone(), target: None, native: None, name: 0 });
        cx.call_sites.len() as u32 - 1
    }
}

/// A return value: the register, if any.
impl Lowered for RetVal {
    type Form = Option<u8>;
    fn lower(&self, _: &mut LowerCx<'_>) -> Option<u8> {
        self.0
    }
}

/// Phi sources: the index of the phi's [`PhiInfo`] in [`Program::phis`].
impl Lowered for PhiSources {
    type Form = u32;
    fn lower(&self, cx: &mut LowerCx<'_>) -> u32 {
        let at = cx.at;
        let prev_is_phi = at > cx.start
            && matches!(cx.module.code[at as usize - 1], Instr::PhiR { .. })
            && !cx.targets.contains(&at);
        if !prev_is_phi {
            // Falling through into the run: from the instruction before it, unless the run
            // starts its range (entered only by a jump, or at the body's start).
            let fall_pred = if at > cx.start { at - 1 } else { crate::native::NO_PRED };
            cx.phi_head = (cx.internal(at), fall_pred);
        }
        let (head, fall_pred) = cx.phi_head;
        cx.phis.push(PhiInfo { sources: self.0.clone(), head, fall_pred });
        cx.phis.len() as u32 - 1
    }
}

/// An assertion's check: the index of its [`AssertInfo`] in [`Program::asserts`].
impl Lowered for AssertCheck {
    type Form = u32;
    fn lower(&self, cx: &mut LowerCx<'_>) -> u32 {
        let Constant::Str(msg) = &cx.module.constants[self.msg as usize] else { unreachable!("verified: a string") };
        cx.asserts.push(AssertInfo { kind: *self.kind, message: msg.as_str().into() });
        cx.asserts.len() as u32 - 1
    }
}

/// What lowering one body's instructions needs: the module, the side tables being built, and
/// where in the body the instruction being lowered is.
pub struct LowerCx<'p> {
    module: &'p Module,
    global_slots: &'p mut HashMap<String, u32>,
    global_names: &'p mut Vec<Rc<str>>,
    call_sites: &'p mut Vec<CallSite>,
    phis: &'p mut Vec<PhiInfo>,
    asserts: &'p mut Vec<AssertInfo>,
    /// Bytecode index of the instruction being lowered.
    at: u32,
    /// The body's first bytecode index and first internal index.
    start: u32,
    code_start: u32,
    /// Jump targets within the body (a phi there heads a new run).
    targets: &'p std::collections::HashSet<u32>,
    /// The current phi run: its head's internal index and fall-through predecessor
    /// ([`PhiInfo`]).
    phi_head: (u32, u32),
    /// One past the body's last bytecode index.
    end: u32,
    /// Where every range is laid out ([`Program::ranges`]), for jumps into other ranges.
    ranges: &'p [CodeRange],
}

impl LowerCx<'_> {
    /// The internal index of jump target `bc` of the body: in its own range (its end is the
    /// body's `FallOffEnd`), else in the range holding it ([`internal_in_ranges`]).
    fn internal(&self, bc: u32) -> u32 {
        if self.start <= bc && bc <= self.end {
            self.code_start + (bc - self.start)
        } else {
            internal_in_ranges(self.ranges, bc)
        }
    }
}

/// Where one range of the stream ([`mdbc::Body`]) is laid out in [`Program::code`]: bytecode
/// `start..end` at internal `code..code + (end - start)`, then its `FallOffEnd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeRange {
    /// First bytecode index.
    pub start: u32,
    /// One past the last bytecode index.
    pub end: u32,
    /// Internal index of `start`.
    pub code: u32,
}

/// The internal index of bytecode index `bc` in the range holding it; the end of the stream
/// is the last range's `FallOffEnd` (jumping there returns).
fn internal_in_ranges(ranges: &[CodeRange], bc: u32) -> u32 {
    // `ranges` is sorted by start and the ranges do not overlap.
    let i = ranges.partition_point(|r| r.start <= bc);
    match i.checked_sub(1).map(|i| &ranges[i]).filter(|r| bc < r.end) {
        Some(r) => r.code + (bc - r.start),
        None => {
            let last = ranges.last().expect("a jump target lies in a non-empty stream");
            last.code + (last.end - last.start)
        }
    }
}

/// Generates [`Op`] and [`Op::lower`] from the instruction table ([`mdbc::for_each_instr!`]):
/// one variant per instruction, same name and fields, each field in its internal form
/// ([`Lowered::Form`] of its operand kind). The fused superinstructions are written out below
/// the generated variants.
macro_rules! define_op {
    ($( $(#[doc = $doc:literal])* $code:literal $variant:ident $mnemonic:ident { $($field:ident : $kind:ident),* } ),* $(,)?) => {
        /// One operation of the interpreter's internal form: 8 bytes, registers as `u8`,
        /// targets as internal code indices. One variant per bytecode instruction (generated
        /// from the instruction table; fields in [`Lowered`] form), then the fused
        /// superinstructions the loader makes of some pairs. Produced by [`Program::new`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Op {
            $( $(#[doc = $doc])* $variant { $($field: <$kind as Lowered>::Form),* }, )*
            /// A `LOAD_CONST_R` of a callee name whose register is dead, fused with the
            /// `CALL_R` right after it (which stays in the code at the next index): one
            /// dispatch for both. `site` indexes [`Program::call_sites`].
            LoadCall { site: u32 },
            /// A `CALL_R` whose callee name resolved at load time to a native
            /// ([`CallSite::native`]): the native runs on the arguments, its result goes to the
            /// destination. `site` indexes [`Program::call_sites`].
            CallNative { site: u32 },
            /// A `LOAD_CONST_R` of a native's name whose register is dead, fused with the
            /// [`Op::CallNative`] right after it (which stays in the code at the next index).
            LoadCallNative { site: u32 },
            /// The end of a body: return without a value.
            FallOffEnd,
            /// A `LOAD_CONST_R` of an int constant that fits in 32 bits, its value held here
            /// (not a fusion: it replaces the `LOAD_CONST_R`, and `plain_op` keeps it).
            LoadInt { dst: u8, value: i32 },
            /// A comparison whose result register is tested by the next instruction (a
            /// conditional jump that nothing else jumps to), fused into one dispatch: `BrXx` is
            /// `XX_R` then `JUMP_IF_R`, `BrXxNot` is `XX_R` then `JUMP_IF_NOT_R`. Writes `dst`
            /// like the comparison, then behaves as the jump at the next index (which stays in
            /// the code).
            BrLt { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrLtNot { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrGt { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrGtNot { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrLe { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrLeNot { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrGe { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrGeNot { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrEq { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrEqNot { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrNe { dst: u8, a: u8, b: u8, target: u32 },
            #[allow(missing_docs)]
            BrNeNot { dst: u8, a: u8, b: u8, target: u32 },
            /// `ADD_R dst, a, b` followed by `MOVE_R to, dst` (which stays in the code at the
            /// next index, and nothing jumps to), fused into one dispatch: the frontend
            /// computes into a temporary and then moves it into the variable. Writes `dst`,
            /// then `to`, each counted as an instruction.
            AddMove { dst: u8, a: u8, b: u8, to: u8 },
            /// `SUB_R` then `MOVE_R`, as [`Op::AddMove`].
            SubMove { dst: u8, a: u8, b: u8, to: u8 },
            /// `MUL_R` then `MOVE_R`, as [`Op::AddMove`].
            MulMove { dst: u8, a: u8, b: u8, to: u8 },
            /// `ADD_R dst, a, b` followed by `JUMP_R target` (which stays in the code at the
            /// next index, and nothing else jumps to): a loop's increment and its back-edge.
            AddJump { dst: u8, a: u8, b: u8, target: u32 },
            /// `MOVE_R dst, src` followed by `JUMP_R target` (at the next index, reached no
            /// other way): the last move of a loop-carried value and the back-edge.
            MoveJump { dst: u8, src: u8, target: u32 },
            /// Two `MOVE_R`s in a row (the second at the next index, reached no other way):
            /// `dst = src`, then `dst2 = src2`.
            MoveMove { dst: u8, src: u8, dst2: u8, src2: u8 },
            /// `MOVE_R dst, src` followed by `LOAD_CONST_R kdst, k` (at the next index, reached
            /// no other way).
            MoveLoadConst { dst: u8, src: u8, kdst: u8, k: u32 },
            /// `LOAD_CONST_R dst, k` followed by `MOVE_R to, dst` (at the next index, reached
            /// no other way): a constant assigned to a variable through a temporary.
            LoadConstMove { dst: u8, to: u8, k: u32 },
        }

        impl Op {
            /// The internal form of `ins`, the instruction at `cx.at` (side tables and global
            /// slots are filled in through `cx`).
            pub fn lower(ins: &Instr, cx: &mut LowerCx<'_>) -> Op {
                match ins {
                    $(Instr::$variant { $($field),* } => Op::$variant { $($field: Lowered::lower($field, cx)),* },)*
                }
            }
        }
    };
}

mdbc::for_each_instr!(define_op);

const _: () = assert!(std::mem::size_of::<Op>() == 8);

/// A body (main program or function) as laid out in [`Program::code`].
#[derive(Clone, Debug)]
pub struct BodyInfo {
    /// Name for messages and stats (`<main>` for the main program).
    pub name: Rc<str>,
    /// First internal code index.
    pub code_start: u32,
    /// Internal index of the body's [`Op::FallOffEnd`].
    pub code_end: u32,
    /// First bytecode instruction index.
    pub bc_start: u32,
    /// Register window size.
    pub nregs: u32,
    /// Registers read before being written (the parameters in practice): callers into
    /// native code copy only these arguments.
    pub entry_live: mdbc::cfg::RegSet,
}

/// A `CALL_R` site.
#[derive(Clone, Debug)]
pub struct CallSite {
    /// Register holding the callee (name, entry index or function value).
    pub func: u8,
    /// Register receiving the return value.
    pub dst: u8,
    /// Argument registers, copied to the callee's `r0..`.
    pub args: Box<[u8]>,
    /// The callee body, when resolved at load time (name constant loaded just before).
    pub target: Option<u32>,
    /// The callee native ([`Program::natives`] index), when the name constant loaded just
    /// before names no function but a native (the op is then [`Op::CallNative`]).
    pub native: Option<u32>,
    /// The constant index of the callee name when its `LOAD_CONST_R` was fused into an
    /// [`Op::LoadCall`] or [`Op::LoadCallNative`] (what [`Program::plain_op`] restores).
    pub name: u32,
}

/// What a callee name resolves to: a function of the module (body index), which wins, or a
/// native ([`Program::natives`] index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Callee {
    /// A body of the module.
    Body(u32),
    /// A native.
    Native(u32),
}

/// A `PHI_R` (its destination is the [`Op::PhiR`]'s `dst`).
#[derive(Clone, Debug)]
pub struct PhiInfo {
    /// (source register, block id) pairs.
    pub sources: Box<[(u8, u16)]>,
    /// Internal index of the first phi of the run this phi belongs to (the block head).
    pub head: u32,
    /// The predecessor when the run is entered by falling through: the bytecode index of the
    /// instruction before the head, or `NO_PRED` when the head starts its range.
    pub fall_pred: u32,
}

/// An `ASSERT_R`.
#[derive(Clone, Debug)]
pub struct AssertInfo {
    /// What is checked.
    pub kind: AssertKind,
    /// The failure message.
    pub message: Rc<str>,
}

/// A verified module in executable form, shared by both tiers.
#[derive(Debug)]
pub struct Program {
    /// The decoded module (for errors, disassembly, the JIT).
    pub module: Module,
    /// The verifier's layout.
    pub layout: Layout,
    /// Internal code of every body (one op per bytecode instruction plus each body's
    /// `FallOffEnd`; some ops fused with the next, which stays: [`Program::plain_op`] undoes
    /// the fusion).
    pub code: Vec<Op>,
    /// Bytecode instruction index of each internal op (the body's end for `FallOffEnd`).
    pub bc_index: Vec<u32>,
    /// Bodies: `bodies[0]` is the main program, `bodies[i + 1]` function `i` of the table.
    pub bodies: Vec<BodyInfo>,
    /// Body execution starts in.
    pub entry_body: u32,
    /// Constants as values.
    pub constants: Vec<Value>,
    /// Global variable names, by slot.
    pub global_names: Vec<Rc<str>>,
    /// Call sites.
    pub call_sites: Vec<CallSite>,
    /// Phis.
    pub phis: Vec<PhiInfo>,
    /// Assertions.
    pub asserts: Vec<AssertInfo>,
    /// Function lookup by name (body index).
    pub by_name: HashMap<Box<str>, u32>,
    /// The natives call sites and run-time callee names resolve to when the function table
    /// has no such name.
    pub natives: Natives,
    /// Function lookup by entry index (body index; first in table order).
    pub by_entry: HashMap<u32, u32>,
    /// Function values, by body index (`None` for the main program).
    pub function_values: Vec<Option<Rc<FunctionRef>>>,
    /// Largest register window of any body.
    pub max_nregs: u32,
    /// Every non-empty range of the stream and where it is laid out, in bytecode order.
    pub ranges: Vec<CodeRange>,
    /// Per body: the most arguments any call can pass it (static call sites resolved to it,
    /// and every call site whose callee is only known at run time). Registers at or above
    /// this index are empty when the body is entered.
    pub max_argc: Vec<u32>,
}

fn resolve(by_name: &HashMap<Box<str>, u32>, natives: &Natives, name: &str) -> Option<Callee> {
    match by_name.get(name) {
        Some(&b) => Some(Callee::Body(b)),
        None => natives.lookup(name).map(Callee::Native),
    }
}

fn const_value(c: &Constant) -> Value {
    match c {
        Constant::Int(i) => Value::Int(*i),
        Constant::Float(f) => Value::Float(*f),
        Constant::Str(s) => {
            // Hashed once here: a constant dict key is never hashed again.
            let s = Str::new(s.as_str());
            s.hash_code();
            Value::Str(Rc::new(s))
        }
        Constant::Bool(b) => Value::Bool(*b),
        Constant::Empty => Value::Empty,
    }
}

impl Program {
    /// The bodies `body` calls by a name resolved at load time (its `CALL_R` sites with a
    /// [`CallSite::target`]), each once, in code order, itself excluded.
    pub fn static_callees(&self, body: u32) -> Vec<u32> {
        let b = &self.bodies[body as usize];
        let mut out = Vec::new();
        for op in &self.code[b.code_start as usize..b.code_end as usize] {
            let site = match *op {
                Op::CallR { args, .. } => args,
                Op::LoadCall { site } => site,
                _ => continue,
            };
            if let Some(t) = self.call_sites[site as usize].target {
                if t != body && !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// Decodes, verifies and prepares a `.mdbc` file.
    ///
    /// Errors: the [`LoadError`] of [`Module::decode`] or [`mdbc::verify`].
    pub fn load(bytes: &[u8]) -> Result<Program, LoadError> {
        Program::new(Module::decode(bytes)?)
    }

    /// Verifies and prepares a decoded module.
    ///
    /// Errors: the verifier's [`LoadError::Invalid`].
    pub fn new(module: Module) -> Result<Program, LoadError> {
        Program::with_natives(module, Natives::standard())
    }

    /// Verifies and prepares a decoded module whose calls may resolve to `natives`.
    ///
    /// Errors: the verifier's [`LoadError::Invalid`].
    pub fn with_natives(module: Module, natives: Natives) -> Result<Program, LoadError> {
        let layout = mdbc::verify(&module)?;
        let constants: Vec<Value> = module.constants.iter().map(const_value).collect();
        let mut by_name = HashMap::new();
        let mut by_entry = HashMap::new();
        let mut function_values = vec![None];
        for (i, f) in module.functions.iter().enumerate() {
            let body = i as u32 + 1;
            by_name.entry(f.name.clone().into_boxed_str()).or_insert(body);
            by_entry.entry(f.entry).or_insert(body);
            function_values.push(Some(Rc::new(FunctionRef { index: body, name: f.name.clone().into() })));
        }

        let mut p = Program {
            code: Vec::with_capacity(module.code.len() + layout.bodies.len()),
            bc_index: Vec::with_capacity(module.code.len() + layout.bodies.len()),
            bodies: Vec::with_capacity(layout.bodies.len()),
            entry_body: layout.entry_body as u32,
            constants,
            global_names: Vec::new(),
            call_sites: Vec::new(),
            phis: Vec::new(),
            asserts: Vec::new(),
            by_name,
            natives,
            by_entry,
            function_values,
            max_nregs: 0,
            ranges: Vec::new(),
            max_argc: Vec::new(),
            module,
            layout,
        };
        let mut global_slots: HashMap<String, u32> = HashMap::new();
        // Where each range will be laid out (as the loop below lays them out), known before
        // lowering so that a jump into another function's range can be lowered.
        let mut next = 0u32;
        let mut laid: std::collections::HashSet<u32> = std::collections::HashSet::new();
        for b in &p.layout.bodies {
            if b.start == b.end {
                next += 1;
            } else if laid.insert(b.start) {
                p.ranges.push(CodeRange { start: b.start, end: b.end, code: next });
                next += b.end - b.start + 1;
            }
        }
        p.ranges.sort_by_key(|r| r.start);
        // Every jump target of the stream: a jump from another function's range may enter a
        // body anywhere, so the fusions below must know it.
        let targets: std::collections::HashSet<u32> =
            p.module.code.iter().enumerate().filter_map(|(i, ins)| ins.jump_target(i as u32)).collect();
        // Bodies sharing a start share their code.
        let mut emitted: HashMap<u32, (u32, u32, mdbc::cfg::RegSet)> = HashMap::new();
        for bi in 0..p.layout.bodies.len() {
            let b = p.layout.bodies[bi].clone();
            p.max_nregs = p.max_nregs.max(b.nregs as u32);
            let key = if b.start == b.end { u32::MAX - bi as u32 } else { b.start };
            let (code_start, code_end, entry_live) = match emitted.get(&key) {
                Some(&se) => se,
                None => {
                    let se = p.emit_body(&b, &mut global_slots, &targets);
                    emitted.insert(key, se);
                    se
                }
            };
            p.bodies.push(BodyInfo {
                name: b.name.as_str().into(),
                code_start,
                code_end,
                bc_start: b.start,
                nregs: b.nregs as u32,
                entry_live,
            });
        }
        for r in &p.ranges {
            debug_assert_eq!(p.bc_index[r.code as usize], r.start, "range layout computed before lowering");
        }
        let dynamic = p.call_sites.iter().filter(|c| c.target.is_none()).map(|c| c.args.len() as u32).max().unwrap_or(0);
        p.max_argc = vec![dynamic; p.bodies.len()];
        for c in &p.call_sites {
            if let Some(t) = c.target {
                let m = &mut p.max_argc[t as usize];
                *m = (*m).max(c.args.len() as u32);
            }
        }
        // The entry body is entered with no arguments by the run itself.
        Ok(p)
    }

    fn emit_body(
        &mut self,
        body: &mdbc::Body,
        global_slots: &mut HashMap<String, u32>,
        targets: &std::collections::HashSet<u32>,
    ) -> (u32, u32, mdbc::cfg::RegSet) {
        let (start, end) = (body.start, body.end);
        let code_start = self.code.len() as u32;
        // `targets`: every jump target of the stream, to know where a phi run or a call site can
        // be entered.
        let mut cx = LowerCx {
            module: &self.module,
            global_slots,
            global_names: &mut self.global_names,
            call_sites: &mut self.call_sites,
            phis: &mut self.phis,
            asserts: &mut self.asserts,
            at: start,
            start,
            code_start,
            targets,
            phi_head: (code_start, crate::native::NO_PRED),
            end,
            ranges: &self.ranges,
        };
        for idx in start..end {
            cx.at = idx;
            let ins = &self.module.code[idx as usize];
            let mut op = Op::lower(ins, &mut cx);
            if let Op::LoadConstR { dst, k } = op {
                // An int constant that fits in 32 bits travels in the op: no load from the
                // constant table.
                if let Constant::Int(v) = self.module.constants[k as usize] {
                    if let Ok(value) = i32::try_from(v) {
                        op = Op::LoadInt { dst, value };
                    }
                }
            }
            if let Op::CallR { func, dst, args } = op {
                // Resolve once when the callee name is a constant loaded into `func` by the
                // instruction just before, and the call cannot be reached another way.
                let mut callee = None;
                if idx > start && !targets.contains(&idx) {
                    if let Instr::LoadConstR { dst: d, k } = &self.module.code[idx as usize - 1] {
                        if d.0 == func {
                            if let Constant::Str(name) = &self.module.constants[k.0 as usize] {
                                callee = resolve(&self.by_name, &self.natives, name);
                            }
                        }
                    }
                }
                let site = &mut cx.call_sites[args as usize];
                (site.func, site.dst) = (func, dst);
                match callee {
                    Some(Callee::Body(b)) => site.target = Some(b),
                    Some(Callee::Native(n)) => {
                        site.native = Some(n);
                        op = Op::CallNative { site: args };
                    }
                    None => {}
                }
            }
            self.code.push(op);
            self.bc_index.push(idx);
        }
        // A callee-name constant loaded only for a call resolved above is dead once the call is
        // resolved: when nothing reads the register afterwards (the call's arguments included),
        // the load and the call become one `LoadCall` or `LoadCallNative` (both still count as
        // executed instructions).
        let mut entry_live = mdbc::cfg::RegSet::EMPTY;
        if end > start {
            // Candidates: a resolved call whose callee register was loaded with the name just
            // before it, and is not also an argument (an argument there must see the name).
            let mut candidates: Vec<(usize, u32, u32)> = Vec::new();
            for i in code_start as usize + 1..self.code.len() {
                let (Op::CallR { args: site, .. } | Op::CallNative { site }) = self.code[i] else { continue };
                let cs = &self.call_sites[site as usize];
                if cs.target.is_none() && cs.native.is_none() {
                    continue;
                }
                if matches!(self.code[i - 1], Op::LoadConstR { dst, .. } if dst == cs.func && !cs.args.contains(&dst)) {
                    candidates.push((i, self.bc_index[i], site));
                }
            }
            // Liveness by one backward walk per block: no set per instruction, so a body of
            // any size costs memory per block only.
            let cfg = mdbc::cfg::Cfg::build(&self.module, body);
            let live_in = cfg.live_in_blocks(&self.module);
            entry_live = live_in[cfg.block_at(start) as usize];
            // The candidates whose name register is dead after the call, by call position.
            let mut name_dead: std::collections::HashMap<u32, bool> = candidates
                .iter()
                .map(|&(_, bc, _)| (bc, false))
                .collect();
            if !candidates.is_empty() {
                cfg.for_each_live_out(&self.module, &live_in, |idx, live| {
                    if let Some(dead) = name_dead.get_mut(&idx) {
                        let func = match self.module.code[idx as usize] {
                            Instr::CallR { func, .. } => func.0,
                            _ => unreachable!("a candidate is a call"),
                        };
                        *dead = !live.contains(func);
                    }
                });
            }
            for (i, bc, site) in candidates {
                if !name_dead[&bc] {
                    continue;
                }
                let Op::LoadConstR { k, .. } = self.code[i - 1] else { unreachable!("a candidate follows its name load") };
                let cs = &mut self.call_sites[site as usize];
                cs.name = k;
                self.code[i - 1] = match cs.native {
                    Some(_) => Op::LoadCallNative { site },
                    None => Op::LoadCall { site },
                };
            }
        }
        // Superinstructions: an op fused with the one right after it, which stays in the code
        // at the next index (a resume, a debugger or a fuel stop there runs it alone) and is
        // reached no other way. One greedy scan, left to right: an index fused as the second
        // half of a pair starts no pair of its own. The pairs are the most frequent adjacent
        // pairs executed by the corpus' frontend programs and the benchmarks.
        let mut i = code_start as usize;
        while i + 1 < self.code.len() {
            let (op, next) = (self.code[i], self.code[i + 1]);
            // A fused name load covers its call already; a jump target is no second half.
            let fused = match op {
                Op::LoadCall { .. } | Op::LoadCallNative { .. } => Some(op),
                _ if targets.contains(&self.bc_index[i + 1]) => None,
                _ => fuse_pair(op, next),
            };
            match fused {
                Some(f) => {
                    self.code[i] = f;
                    i += 2;
                }
                None => i += 1,
            }
        }
        let code_end = self.code.len() as u32;
        self.code.push(Op::FallOffEnd);
        self.bc_index.push(end);
        (code_start, code_end, entry_live)
    }

    /// The internal index at which body `body` executes bytecode index `bc`: in its own range
    /// (its end included: the body's `FallOffEnd`), else where the range holding `bc` is laid
    /// out (a jump into another function's range runs there in the same frame; the end of the
    /// stream is the last range's `FallOffEnd`).
    pub fn internal_pc(&self, body: u32, bc: u32) -> u32 {
        let b = &self.bodies[body as usize];
        if b.bc_start <= bc && bc - b.bc_start <= b.code_end - b.code_start {
            b.code_start + (bc - b.bc_start)
        } else {
            internal_in_ranges(&self.ranges, bc)
        }
    }

    /// The body whose internal code range holds internal index `pc` (for messages).
    pub fn body_of_pc(&self, pc: u32) -> u32 {
        self.bodies
            .iter()
            .position(|b| b.code_start <= pc && pc <= b.code_end)
            .unwrap_or(0) as u32
    }

    /// True when a string constant names `spawn`, the native that starts a process: such a
    /// program is scheduled by instruction counts ([`crate::process`]), so its runs count
    /// instructions (a name built at run time is not seen, and its processes then switch
    /// only when they block or end).
    pub fn uses_processes(&self) -> bool {
        self.constants.iter().any(|c| matches!(c, Value::Str(s) if s.as_str() == "spawn"))
    }

    /// What callee name `name` resolves to: a function of the module, else a native.
    pub fn resolve_name(&self, name: &str) -> Option<Callee> {
        resolve(&self.by_name, &self.natives, name)
    }

    /// The op at internal index `pc` as it was before fusion: a fused comparison and branch
    /// gives its comparison, a fused callee-name load its `LOAD_CONST_R` (the op after it is
    /// the branch or call itself). For executing one instruction on behalf of compiled code.
    pub fn plain_op(&self, pc: usize) -> Op {
        match self.code[pc] {
            Op::BrLt { dst, a, b, .. } | Op::BrLtNot { dst, a, b, .. } => Op::LtR { dst, a, b },
            Op::AddMove { dst, a, b, .. } => Op::AddR { dst, a, b },
            Op::SubMove { dst, a, b, .. } => Op::SubR { dst, a, b },
            Op::MulMove { dst, a, b, .. } => Op::MulR { dst, a, b },
            Op::AddJump { dst, a, b, .. } => Op::AddR { dst, a, b },
            Op::MoveJump { dst, src, .. } | Op::MoveMove { dst, src, .. } | Op::MoveLoadConst { dst, src, .. } => {
                Op::MoveR { dst, src }
            }
            Op::LoadConstMove { dst, k, .. } => Op::LoadConstR { dst, k },
            Op::BrGt { dst, a, b, .. } | Op::BrGtNot { dst, a, b, .. } => Op::GtR { dst, a, b },
            Op::BrLe { dst, a, b, .. } | Op::BrLeNot { dst, a, b, .. } => Op::LteR { dst, a, b },
            Op::BrGe { dst, a, b, .. } | Op::BrGeNot { dst, a, b, .. } => Op::GteR { dst, a, b },
            Op::BrEq { dst, a, b, .. } | Op::BrEqNot { dst, a, b, .. } => Op::EqR { dst, a, b },
            Op::BrNe { dst, a, b, .. } | Op::BrNeNot { dst, a, b, .. } => Op::NeqR { dst, a, b },
            Op::LoadCall { site } | Op::LoadCallNative { site } => {
                let cs = &self.call_sites[site as usize];
                Op::LoadConstR { dst: cs.func, k: cs.name }
            }
            op => op,
        }
    }

    /// The function's name for body `body`.
    pub fn body_name(&self, body: u32) -> &str {
        &self.bodies[body as usize].name
    }
}

/// The superinstruction for `op` followed by `next` (its result tested or moved, a move and a
/// back-edge, two moves, ...), if the pair has one. [`Program::plain_op`] undoes it.
fn fuse_pair(op: Op, next: Op) -> Option<Op> {
    Some(match (op, next) {
        (
            Op::LtR { dst, a, b }
            | Op::GtR { dst, a, b }
            | Op::LteR { dst, a, b }
            | Op::GteR { dst, a, b }
            | Op::EqR { dst, a, b }
            | Op::NeqR { dst, a, b },
            Op::JumpIfR { cond, target } | Op::JumpIfNotR { cond, target },
        ) if cond == dst => {
            let jump_if = matches!(next, Op::JumpIfR { .. });
            match (op, jump_if) {
                (Op::LtR { .. }, true) => Op::BrLt { dst, a, b, target },
                (Op::LtR { .. }, false) => Op::BrLtNot { dst, a, b, target },
                (Op::GtR { .. }, true) => Op::BrGt { dst, a, b, target },
                (Op::GtR { .. }, false) => Op::BrGtNot { dst, a, b, target },
                (Op::LteR { .. }, true) => Op::BrLe { dst, a, b, target },
                (Op::LteR { .. }, false) => Op::BrLeNot { dst, a, b, target },
                (Op::GteR { .. }, true) => Op::BrGe { dst, a, b, target },
                (Op::GteR { .. }, false) => Op::BrGeNot { dst, a, b, target },
                (Op::EqR { .. }, true) => Op::BrEq { dst, a, b, target },
                (Op::EqR { .. }, false) => Op::BrEqNot { dst, a, b, target },
                (Op::NeqR { .. }, true) => Op::BrNe { dst, a, b, target },
                (_, _) => Op::BrNeNot { dst, a, b, target },
            }
        }
        (Op::AddR { dst, a, b }, Op::MoveR { dst: to, src }) if src == dst => Op::AddMove { dst, a, b, to },
        (Op::SubR { dst, a, b }, Op::MoveR { dst: to, src }) if src == dst => Op::SubMove { dst, a, b, to },
        (Op::MulR { dst, a, b }, Op::MoveR { dst: to, src }) if src == dst => Op::MulMove { dst, a, b, to },
        (Op::AddR { dst, a, b }, Op::JumpR { target }) => Op::AddJump { dst, a, b, target },
        (Op::MoveR { dst, src }, Op::JumpR { target }) => Op::MoveJump { dst, src, target },
        (Op::MoveR { dst, src }, Op::MoveR { dst: dst2, src: src2 }) => Op::MoveMove { dst, src, dst2, src2 },
        (Op::MoveR { dst, src }, Op::LoadConstR { dst: kdst, k }) => Op::MoveLoadConst { dst, src, kdst, k },
        (Op::LoadConstR { dst, k }, Op::MoveR { dst: to, src }) if src == dst => Op::LoadConstMove { dst, to, k },
        _ => return None,
    })
}
