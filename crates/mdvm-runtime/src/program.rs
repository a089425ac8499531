//! A loaded program: the verified module turned into the interpreter's compact form.
//!
//! Each body (the main program and every function) is laid out once in [`Program::code`] as
//! fixed-size [`Op`]s with absolute jump targets, followed by an [`Op::FallOffEnd`] so falling
//! off the end of a body returns without a value. Constants are pre-built [`Value`]s, globals are
//! slots, and call sites whose callee name is a constant loaded just before the call are
//! resolved here, once.

use std::collections::HashMap;
use std::rc::Rc;

use mdbc::operand::AssertKind;
use mdbc::{Constant, Instr, Layout, LoadError, Module};


use crate::value::{FunctionRef, Str, Value};

/// One operation of the interpreter's internal form: 8 bytes, registers as `u8`, targets as
/// internal code indices. Produced from [`mdbc::Instr`] by [`Program::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    LoadConst { dst: u8, k: u32 },
    Move { dst: u8, src: u8 },
    LoadGlobal { dst: u8, slot: u32 },
    StoreGlobal { src: u8, slot: u32 },
    CheckType { dst: u8, src: u8, ty: u16 },
    Cast { dst: u8, src: u8, ty: u16 },
    Add { dst: u8, a: u8, b: u8 },
    Sub { dst: u8, a: u8, b: u8 },
    Mul { dst: u8, a: u8, b: u8 },
    Div { dst: u8, a: u8, b: u8 },
    Mod { dst: u8, a: u8, b: u8 },
    Neg { dst: u8, src: u8 },
    Not { dst: u8, src: u8 },
    And { dst: u8, a: u8, b: u8 },
    Or { dst: u8, a: u8, b: u8 },
    Eq { dst: u8, a: u8, b: u8 },
    Neq { dst: u8, a: u8, b: u8 },
    Lt { dst: u8, a: u8, b: u8 },
    Gt { dst: u8, a: u8, b: u8 },
    Le { dst: u8, a: u8, b: u8 },
    Ge { dst: u8, a: u8, b: u8 },
    Jump { target: u32 },
    JumpIf { cond: u8, target: u32 },
    JumpIfNot { cond: u8, target: u32 },
    /// `site` indexes [`Program::call_sites`].
    Call { site: u32 },
    /// A `LOAD_CONST_R` of a callee name whose register is dead, fused with the `CALL_R` right
    /// after it (which stays in the code at the next index): one dispatch for both.
    LoadCall { site: u32 },
    Return { src: u8 },
    ReturnNone,
    /// `id` indexes [`Program::phis`].
    Phi { id: u32 },
    /// `id` indexes [`Program::asserts`].
    Assert { reg: u8, id: u32 },
    ConcatStr { dst: u8, a: u8, b: u8 },
    StrLen { dst: u8, src: u8 },
    NewArray { dst: u8, size: u8 },
    ArrayGet { dst: u8, arr: u8, idx: u8 },
    ArraySet { arr: u8, idx: u8, val: u8 },
    ArrayLen { dst: u8, arr: u8 },
    Print { src: u8 },
    Halt,
    /// `DEFINE_R`, `SCOPE_ENTER_R`, `SCOPE_EXIT_R`, `BREAKPOINT`, `NOP`.
    Nop,
    DictNew { dst: u8 },
    DictGet { dst: u8, dict: u8, key: u8 },
    DictSet { dict: u8, key: u8, val: u8 },
    DictRemove { dict: u8, key: u8 },
    DictContains { dst: u8, dict: u8, key: u8 },
    DictKeys { dst: u8, dict: u8 },
    DictValues { dst: u8, dict: u8 },
    DictClear { dict: u8 },
    DictLen { dst: u8, dict: u8 },
    /// The end of a body: return without a value.
    FallOffEnd,
    /// A comparison whose result register is tested by the next instruction (a conditional
    /// jump that nothing else jumps to), fused into one dispatch: `BrXx` is `XX_R` then
    /// `JUMP_IF_R`, `BrXxNot` is `XX_R` then `JUMP_IF_NOT_R`. Writes `dst` like the comparison,
    /// then behaves as the jump at the next index (which stays in the code).
    BrLt { dst: u8, a: u8, b: u8, target: u32 },
    BrLtNot { dst: u8, a: u8, b: u8, target: u32 },
    BrGt { dst: u8, a: u8, b: u8, target: u32 },
    BrGtNot { dst: u8, a: u8, b: u8, target: u32 },
    BrLe { dst: u8, a: u8, b: u8, target: u32 },
    BrLeNot { dst: u8, a: u8, b: u8, target: u32 },
    BrGe { dst: u8, a: u8, b: u8, target: u32 },
    BrGeNot { dst: u8, a: u8, b: u8, target: u32 },
    BrEq { dst: u8, a: u8, b: u8, target: u32 },
    BrEqNot { dst: u8, a: u8, b: u8, target: u32 },
    BrNe { dst: u8, a: u8, b: u8, target: u32 },
    BrNeNot { dst: u8, a: u8, b: u8, target: u32 },
}

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
}

/// A `PHI_R`.
#[derive(Clone, Debug)]
pub struct PhiInfo {
    /// Register written.
    pub dst: u8,
    /// (source register, block id) pairs.
    pub sources: Box<[(u8, u16)]>,
    /// Internal index of the first phi of the run this phi belongs to (the block head).
    pub head: u32,
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
    /// Internal code of every body.
    pub code: Vec<Op>,
    /// The same code before fusion (one op per bytecode instruction plus `FallOffEnd`), for
    /// executing a single instruction on behalf of native code.
    pub plain_code: Vec<Op>,
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
    /// Function lookup by entry index (body index; first in table order).
    pub by_entry: HashMap<u32, u32>,
    /// Function values, by body index (`None` for the main program).
    pub function_values: Vec<Option<Rc<FunctionRef>>>,
    /// Largest register window of any body.
    pub max_nregs: u32,
    /// Per body: the most arguments any call can pass it (static call sites resolved to it,
    /// and every call site whose callee is only known at run time). Registers at or above
    /// this index are empty when the body is entered.
    pub max_argc: Vec<u32>,
}

fn const_value(c: &Constant) -> Value {
    match c {
        Constant::Int(i) => Value::Int(*i),
        Constant::Float(f) => Value::Float(*f),
        Constant::Str(s) => Value::Str(Rc::new(Str::new(s.as_str()))),
        Constant::Bool(b) => Value::Bool(*b),
        Constant::Empty => Value::Empty,
    }
}

impl Program {
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
            plain_code: Vec::new(),
            bc_index: Vec::with_capacity(module.code.len() + layout.bodies.len()),
            bodies: Vec::with_capacity(layout.bodies.len()),
            entry_body: layout.entry_body as u32,
            constants,
            global_names: Vec::new(),
            call_sites: Vec::new(),
            phis: Vec::new(),
            asserts: Vec::new(),
            by_name,
            by_entry,
            function_values,
            max_nregs: 0,
            max_argc: Vec::new(),
            module,
            layout,
        };
        let mut global_slots: HashMap<String, u32> = HashMap::new();
        // Bodies sharing a start share their code.
        let mut emitted: HashMap<u32, (u32, u32, mdbc::cfg::RegSet)> = HashMap::new();
        for bi in 0..p.layout.bodies.len() {
            let b = p.layout.bodies[bi].clone();
            p.max_nregs = p.max_nregs.max(b.nregs as u32);
            let key = if b.start == b.end { u32::MAX - bi as u32 } else { b.start };
            let (code_start, code_end, entry_live) = match emitted.get(&key) {
                Some(&se) => se,
                None => {
                    let se = p.emit_body(&b, &mut global_slots);
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
    ) -> (u32, u32, mdbc::cfg::RegSet) {
        let (start, end) = (body.start, body.end);
        let code_start = self.code.len() as u32;
        let internal = |t: u32| code_start + (t - start);
        // Jump targets within the body, to know where a phi run or a call site can be entered.
        let mut targets = std::collections::HashSet::new();
        for idx in start..end {
            let ins = &self.module.code[idx as usize];
            if let Some(off) = ins.jump_offset() {
                targets.insert((idx as i64 + 1 + off as i64) as u32);
            }
        }
        let mut phi_head = code_start;
        for idx in start..end {
            let ins = self.module.code[idx as usize].clone();
            let here = internal(idx);
            let jt = |off: i32| internal((idx as i64 + 1 + off as i64) as u32);
            let mut slot_of = |k: u16, p: &mut Program| -> u32 {
                let Constant::Str(name) = &p.module.constants[k as usize] else { unreachable!("verified") };
                let next = p.global_names.len() as u32;
                *global_slots.entry(name.clone()).or_insert_with(|| {
                    p.global_names.push(name.as_str().into());
                    next
                })
            };
            let op = match ins {
                Instr::LoadConstR { dst, k } => Op::LoadConst { dst: dst.0, k: k.0 as u32 },
                Instr::MoveR { dst, src } => Op::Move { dst: dst.0, src: src.0 },
                Instr::LoadGlobalR { dst, name } => Op::LoadGlobal { dst: dst.0, slot: slot_of(name.0, self) },
                Instr::StoreGlobalR { src, name } => Op::StoreGlobal { src: src.0, slot: slot_of(name.0, self) },
                Instr::DefineR { .. } => Op::Nop,
                Instr::CheckTypeR { dst, src, ty } => Op::CheckType { dst: dst.0, src: src.0, ty: ty.0 },
                Instr::CastR { dst, src, ty } => Op::Cast { dst: dst.0, src: src.0, ty: ty.0 },
                Instr::AddR { dst, a, b } => Op::Add { dst: dst.0, a: a.0, b: b.0 },
                Instr::SubR { dst, a, b } => Op::Sub { dst: dst.0, a: a.0, b: b.0 },
                Instr::MulR { dst, a, b } => Op::Mul { dst: dst.0, a: a.0, b: b.0 },
                Instr::DivR { dst, a, b } => Op::Div { dst: dst.0, a: a.0, b: b.0 },
                Instr::ModR { dst, a, b } => Op::Mod { dst: dst.0, a: a.0, b: b.0 },
                Instr::NegR { dst, src } => Op::Neg { dst: dst.0, src: src.0 },
                Instr::NotR { dst, src } => Op::Not { dst: dst.0, src: src.0 },
                Instr::AndR { dst, a, b } => Op::And { dst: dst.0, a: a.0, b: b.0 },
                Instr::OrR { dst, a, b } => Op::Or { dst: dst.0, a: a.0, b: b.0 },
                Instr::EqR { dst, a, b } => Op::Eq { dst: dst.0, a: a.0, b: b.0 },
                Instr::NeqR { dst, a, b } => Op::Neq { dst: dst.0, a: a.0, b: b.0 },
                Instr::LtR { dst, a, b } => Op::Lt { dst: dst.0, a: a.0, b: b.0 },
                Instr::GtR { dst, a, b } => Op::Gt { dst: dst.0, a: a.0, b: b.0 },
                Instr::LteR { dst, a, b } => Op::Le { dst: dst.0, a: a.0, b: b.0 },
                Instr::GteR { dst, a, b } => Op::Ge { dst: dst.0, a: a.0, b: b.0 },
                Instr::JumpR { off } => Op::Jump { target: jt(off.0) },
                Instr::JumpIfR { cond, off } => Op::JumpIf { cond: cond.0, target: jt(off.0) },
                Instr::JumpIfNotR { cond, off } => Op::JumpIfNot { cond: cond.0, target: jt(off.0) },
                Instr::CallR { func, dst, args } => {
                    // Resolve once when the callee name is a constant loaded into `func` by the
                    // instruction just before, and the call cannot be reached another way.
                    let mut target = None;
                    if idx > start && !targets.contains(&idx) {
                        if let Instr::LoadConstR { dst: d, k } = &self.module.code[idx as usize - 1] {
                            if d.0 == func.0 {
                                if let Constant::Str(name) = &self.module.constants[k.0 as usize] {
                                    target = self.by_name.get(name.as_str()).copied();
                                }
                            }
                        }
                    }
                    self.call_sites.push(CallSite { func: func.0, dst: dst.0, args: args.0.into(), target });
                    Op::Call { site: self.call_sites.len() as u32 - 1 }
                }
                Instr::ReturnR { value } => match value.0 {
                    Some(r) => Op::Return { src: r },
                    None => Op::ReturnNone,
                },
                Instr::PhiR { dst, sources } => {
                    let prev_is_phi = idx > start
                        && matches!(self.module.code[idx as usize - 1], Instr::PhiR { .. })
                        && !targets.contains(&idx);
                    if !prev_is_phi {
                        phi_head = here;
                    }
                    self.phis.push(PhiInfo { dst: dst.0, sources: sources.0.into(), head: phi_head });
                    Op::Phi { id: self.phis.len() as u32 - 1 }
                }
                Instr::AssertR { reg, check } => {
                    let Constant::Str(msg) = &self.module.constants[check.msg as usize] else { unreachable!("verified") };
                    self.asserts.push(AssertInfo { kind: check.kind, message: msg.as_str().into() });
                    Op::Assert { reg: reg.0, id: self.asserts.len() as u32 - 1 }
                }
                Instr::ScopeEnterR { .. } | Instr::ScopeExitR { .. } | Instr::Breakpoint {} | Instr::Nop {} => Op::Nop,
                Instr::ConcatStrR { dst, a, b } => Op::ConcatStr { dst: dst.0, a: a.0, b: b.0 },
                Instr::StrLenR { dst, s } => Op::StrLen { dst: dst.0, src: s.0 },
                Instr::NewArrayR { dst, size } => Op::NewArray { dst: dst.0, size: size.0 },
                Instr::ArrayGetR { dst, arr, idx: i } => Op::ArrayGet { dst: dst.0, arr: arr.0, idx: i.0 },
                Instr::ArraySetR { arr, idx: i, val } => Op::ArraySet { arr: arr.0, idx: i.0, val: val.0 },
                Instr::ArrayLenR { dst, arr } => Op::ArrayLen { dst: dst.0, arr: arr.0 },
                Instr::DebugPrint { src } => Op::Print { src: src.0 },
                Instr::Halt {} => Op::Halt,
                Instr::DictNewR { dst } => Op::DictNew { dst: dst.0 },
                Instr::DictGetR { dst, dict, key } => Op::DictGet { dst: dst.0, dict: dict.0, key: key.0 },
                Instr::DictSetR { dict, key, val } => Op::DictSet { dict: dict.0, key: key.0, val: val.0 },
                Instr::DictRemoveR { dict, key } => Op::DictRemove { dict: dict.0, key: key.0 },
                Instr::DictContainsR { dst, dict, key } => Op::DictContains { dst: dst.0, dict: dict.0, key: key.0 },
                Instr::DictKeysR { dst, dict } => Op::DictKeys { dst: dst.0, dict: dict.0 },
                Instr::DictValuesR { dst, dict } => Op::DictValues { dst: dst.0, dict: dict.0 },
                Instr::DictClearR { dict } => Op::DictClear { dict: dict.0 },
                Instr::DictLenR { dst, dict } => Op::DictLen { dst: dst.0, dict: dict.0 },
            };
            self.code.push(op);
            self.plain_code.push(op);
            self.bc_index.push(idx);
        }
        // A callee-name constant loaded only for a call resolved above is dead once the call is
        // resolved: when nothing reads the register afterwards, the load and the call become
        // one `LoadCall` (both still count as executed instructions).
        let mut entry_live = mdbc::cfg::RegSet::EMPTY;
        if end > start {
            let cfg = mdbc::cfg::Cfg::build(&self.module, body);
            let live_out = cfg.live_out(&self.module);
            entry_live = cfg.live_in_at(&self.module, &live_out, start);
            for i in code_start as usize..self.code.len() {
                let Op::Call { site } = self.code[i] else { continue };
                let cs = &self.call_sites[site as usize];
                if cs.target.is_none() || i == code_start as usize {
                    continue;
                }
                let call_bc = self.bc_index[i];
                if let Op::LoadConst { dst, .. } = self.code[i - 1] {
                    if dst == cs.func && !live_out[(call_bc - start) as usize].contains(dst) {
                        self.code[i - 1] = Op::LoadCall { site };
                    }
                }
            }
        }
        // Fuse a comparison with the conditional jump right after it that tests its result,
        // unless the jump can be reached another way.
        for i in code_start as usize..self.code.len().saturating_sub(1) {
            let (cmp, next) = (self.code[i], self.code[i + 1]);
            let (cond, target, jump_if) = match next {
                Op::JumpIf { cond, target } => (cond, target, true),
                Op::JumpIfNot { cond, target } => (cond, target, false),
                _ => continue,
            };
            let (dst, a, b) = match cmp {
                Op::Lt { dst, a, b }
                | Op::Gt { dst, a, b }
                | Op::Le { dst, a, b }
                | Op::Ge { dst, a, b }
                | Op::Eq { dst, a, b }
                | Op::Neq { dst, a, b } => (dst, a, b),
                _ => continue,
            };
            let next_bc = self.bc_index[i + 1];
            if dst != cond || targets.contains(&next_bc) {
                continue;
            }
            self.code[i] = match (cmp, jump_if) {
                (Op::Lt { .. }, true) => Op::BrLt { dst, a, b, target },
                (Op::Lt { .. }, false) => Op::BrLtNot { dst, a, b, target },
                (Op::Gt { .. }, true) => Op::BrGt { dst, a, b, target },
                (Op::Gt { .. }, false) => Op::BrGtNot { dst, a, b, target },
                (Op::Le { .. }, true) => Op::BrLe { dst, a, b, target },
                (Op::Le { .. }, false) => Op::BrLeNot { dst, a, b, target },
                (Op::Ge { .. }, true) => Op::BrGe { dst, a, b, target },
                (Op::Ge { .. }, false) => Op::BrGeNot { dst, a, b, target },
                (Op::Eq { .. }, true) => Op::BrEq { dst, a, b, target },
                (Op::Eq { .. }, false) => Op::BrEqNot { dst, a, b, target },
                (Op::Neq { .. }, true) => Op::BrNe { dst, a, b, target },
                (_, _) => Op::BrNeNot { dst, a, b, target },
            };
        }
        let code_end = self.code.len() as u32;
        self.code.push(Op::FallOffEnd);
        self.plain_code.push(Op::FallOffEnd);
        self.bc_index.push(end);
        (code_start, code_end, entry_live)
    }

    /// The body whose internal code range holds internal index `pc` (for messages).
    pub fn body_of_pc(&self, pc: u32) -> u32 {
        self.bodies
            .iter()
            .position(|b| b.code_start <= pc && pc <= b.code_end)
            .unwrap_or(0) as u32
    }

    /// The function's name for body `body`.
    pub fn body_name(&self, body: u32) -> &str {
        &self.bodies[body as usize].name
    }
}
