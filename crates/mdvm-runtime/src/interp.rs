//! The interpreter tier: one dispatch loop over [`Op`]s, frames in one contiguous value stack,
//! and feedback for the compiled tier.
//!
//! # Frames
//!
//! Every activation owns a window of the value stack starting at its `base`; register `rN` is
//! `stack[base + N]`. A callee's window starts right after its caller's (`base + nregs`), so a
//! call allocates nothing. Invariant: every slot above the live windows is `Empty`, so a new
//! window is already fresh; a returning function resets its own window to `Empty`. The stack
//! always has at least 256 slots past the current base, so a `u8` register index never leaves it.

use std::io::Write;
use std::rc::Rc;

use crate::error::{ErrorKind, OpError, RuntimeError};
use crate::feedback::Feedback;
use crate::ops::{self, Cmp};
use crate::program::{Op, Program};
use crate::value::Value;

/// Default maximum number of live frames (main's included).
pub const DEFAULT_MAX_DEPTH: usize = 10_000;

/// Budgets that end a run with a clean error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of live frames, the entry frame included; one more call is a
    /// [`ErrorKind::CallDepth`] error.
    pub max_depth: usize,
    /// Maximum number of bytecode instructions to execute; `None` for no limit. Running out is
    /// a [`ErrorKind::FuelExhausted`] error raised at the instruction that could not run.
    pub fuel: Option<u64>,
    /// Count executed instructions exactly (for [`Machine::instruction_count`]). Always on
    /// when `fuel` is set; off, the interpreter skips the per-instruction count and
    /// `instruction_count` stays 0.
    pub metered: bool,
}

impl Limits {
    fn is_metered(&self) -> bool {
        self.metered || self.fuel.is_some()
    }
}

impl Default for Limits {
    /// Depth 10,000, no fuel limit, instructions counted.
    fn default() -> Self {
        Limits { max_depth: DEFAULT_MAX_DEPTH, fuel: None, metered: true }
    }
}

/// A suspended caller.
#[derive(Clone, Copy, Debug)]
struct Frame {
    body: u32,
    ret_pc: u32,
    base: u32,
    nregs: u32,
    dst: u8,
    rec_from: u32,
    rec_to: u32,
}

/// Slots that must exist past the current base (a whole `u8` register window).
const WINDOW: usize = 256;

/// "No jump recorded" marker for the phi predecessor record.
const NO_JUMP: u32 = u32::MAX;

/// The state of one program run: value stack, frames, globals, feedback, budgets.
pub struct Machine {
    program: Rc<Program>,
    stack: Vec<Value>,
    frames: Vec<Frame>,
    globals: Vec<Value>,
    /// Per call site: (address of the callee name string last seen, body it resolved to).
    call_cache: Vec<(usize, u32)>,
    feedback: Feedback,
    limits: Limits,
    executed: u64,
}

#[inline(always)]
fn window(stack: &mut [Value], base: usize) -> &mut [Value; WINDOW] {
    (&mut stack[base..base + WINDOW]).try_into().expect("stack keeps a full window past every base")
}

/// Builds the error for `e` raised at internal `pc` of `body`.
#[cold]
#[inline(never)]
fn fault(program: &Program, body: u32, pc: u32, e: OpError) -> RuntimeError {
    let index = program.bc_index[pc as usize];
    RuntimeError {
        kind: e.kind,
        message: e.message,
        function: program.body_name(body).to_string(),
        index,
        offset: program.module.byte_offset(index),
    }
}

#[cold]
#[inline(never)]
fn resolve_slow(program: &Program, callee: &Value, cache: &mut (usize, u32)) -> Result<u32, OpError> {
    match callee {
        Value::Str(s) => match program.by_name.get(s.as_str()) {
            Some(&b) => {
                *cache = (Rc::as_ptr(s) as usize, b);
                Ok(b)
            }
            None => Err(OpError::new(ErrorKind::UndefinedFunction, format!("undefined function `{}`", s.as_str()))),
        },
        Value::Int(e) => u32::try_from(*e)
            .ok()
            .and_then(|e| program.by_entry.get(&e).copied())
            .ok_or_else(|| OpError::new(ErrorKind::UndefinedFunction, format!("no function starts at instruction {e}"))),
        Value::Function(f) => Ok(f.index),
        v => Err(OpError::type_error(format!("cannot call a value of type {}", v.type_name()))),
    }
}

/// `CAST_R`, including casts to `function`, which need the function table.
fn cast(program: &Program, v: &Value, ty: u16) -> Result<Value, OpError> {
    if ty == 5 && !matches!(v, Value::Function(_)) {
        let mut scratch = (0, 0);
        let body = resolve_slow(program, v, &mut scratch)?;
        return Ok(Value::Function(program.function_values[body as usize].clone().expect("function body")));
    }
    ops::cast(v, ty)
}

#[inline(always)]
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        v => v.truthy(),
    }
}

impl Machine {
    /// A machine ready to run `program` under `limits`.
    pub fn new(program: Rc<Program>, limits: Limits) -> Machine {
        let feedback = Feedback::new(&program);
        Machine {
            stack: Vec::new(),
            frames: Vec::new(),
            globals: vec![Value::Empty; program.global_names.len()],
            call_cache: vec![(0, 0); program.call_sites.len()],
            feedback,
            limits,
            executed: 0,
            program,
        }
    }

    /// The program this machine runs.
    pub fn program(&self) -> &Rc<Program> {
        &self.program
    }

    /// The budgets.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the budgets for later runs.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Turns recording of per-site type feedback and back-edge counts on or off (call counts
    /// are always recorded).
    pub fn set_profiling(&mut self, on: bool) {
        self.feedback.profiling = on;
    }

    /// Feedback gathered so far.
    pub fn feedback(&self) -> &Feedback {
        &self.feedback
    }

    /// Bytecode instructions executed by all runs so far.
    pub fn instruction_count(&self) -> u64 {
        self.executed
    }

    /// Clears globals, feedback and counters, as after [`Machine::new`].
    pub fn reset(&mut self) {
        self.stack.clear();
        self.frames.clear();
        self.globals.iter_mut().for_each(|g| *g = Value::Empty);
        self.call_cache.iter_mut().for_each(|c| *c = (0, 0));
        self.feedback = Feedback::new(&self.program);
        self.executed = 0;
    }

    /// Runs the program from its entry body to the end, writing `DEBUG_PRINT` output to `out`.
    ///
    /// Returns the value the entry body returned (empty for no value or `HALT`). Errors: the
    /// first runtime fault, with the function and bytecode position; output written before it
    /// stays written (the caller flushes `out`).
    pub fn run(&mut self, out: &mut dyn Write) -> Result<Value, RuntimeError> {
        self.stack.clear();
        self.stack.resize(WINDOW * 4, Value::Empty);
        self.frames.clear();
        let r = match (self.feedback.profiling, self.limits.is_metered()) {
            (true, true) => self.interpret::<true, true>(out),
            (true, false) => self.interpret::<true, false>(out),
            (false, true) => self.interpret::<false, true>(out),
            (false, false) => self.interpret::<false, false>(out),
        };
        // Drop whatever the run left in registers (on error or HALT frames are still live).
        self.stack.clear();
        self.frames.clear();
        r
    }

    fn interpret<const PROFILE: bool, const METERED: bool>(&mut self, out: &mut dyn Write) -> Result<Value, RuntimeError> {
        let Machine { program, stack, frames, globals, call_cache, feedback, limits, executed } = self;
        let program: &Program = program;
        let code: &[Op] = &program.code;
        let max_callers = limits.max_depth.saturating_sub(1);
        let fuel_start = limits.fuel.unwrap_or(u64::MAX);
        let mut fuel = fuel_start;

        // Cold frame state lives in `cur`; the loop keeps only pc, fuel and the window hot.
        let entry = &program.bodies[program.entry_body as usize];
        feedback.call_counts[program.entry_body as usize] += 1;
        let mut cur = Frame {
            body: program.entry_body,
            ret_pc: 0,
            base: 0,
            nregs: entry.nregs,
            dst: 0,
            rec_from: NO_JUMP,
            rec_to: NO_JUMP,
        };
        let mut pc = entry.code_start as usize;
        let mut regs = window(stack, 0);

        macro_rules! bail {
            ($e:expr) => {{
                *executed += fuel_start - fuel;
                return Err(fault(program, cur.body, pc as u32, $e));
            }};
        }
        macro_rules! tryop {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => bail!(e),
                }
            };
        }
        macro_rules! r {
            ($r:expr) => {
                regs[$r as usize]
            };
        }
        macro_rules! profile2 {
            ($a:expr, $b:expr) => {
                if PROFILE {
                    let s = &mut feedback.site_types[pc];
                    s.a |= 1 << (r!($a).tag() as u16);
                    s.b |= 1 << (r!($b).tag() as u16);
                }
            };
        }
        macro_rules! profile1 {
            ($a:expr) => {
                if PROFILE {
                    feedback.site_types[pc].a |= 1 << (r!($a).tag() as u16);
                }
            };
        }
        macro_rules! arith {
            ($dst:expr, $a:expr, $b:expr, $checked:ident, $fop:tt) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => match x.$checked(*y) {
                        Some(v) => Value::Int(v),
                        None => tryop!(binary_slow(code[pc], &r!($a), &r!($b))),
                    },
                    (Value::Float(x), Value::Float(y)) => Value::Float(*x $fop *y),
                    (x, y) => tryop!(binary_slow(code[pc], x, y)),
                };
                r!($dst).set(v);
            }};
        }
        macro_rules! compare {
            ($dst:expr, $a:expr, $b:expr, $op:tt) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => *x $op *y,
                    (Value::Float(x), Value::Float(y)) => *x $op *y,
                    (x, y) => tryop!(compare_slow(code[pc], x, y)),
                };
                r!($dst).set(Value::Bool(v));
            }};
        }
        macro_rules! jump {
            ($target:expr) => {{
                let t = $target as usize;
                if PROFILE && t <= pc {
                    feedback.backedges[t] = feedback.backedges[t].saturating_add(1);
                }
                cur.rec_from = pc as u32;
                cur.rec_to = t as u32;
                pc = t;
                continue;
            }};
        }
        // A fused comparison + conditional jump (the jump is the next bytecode instruction).
        macro_rules! cmp_branch {
            ($dst:expr, $a:expr, $b:expr, $target:expr, $op:tt, $when:expr) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => *x $op *y,
                    (x, y) => tryop!(branch_compare_slow(code[pc], x, y)),
                };
                r!($dst).set(Value::Bool(v));
                pc += 1;
                if METERED {
                    if fuel == 0 {
                        continue;
                    }
                    fuel -= 1;
                }
                if v == $when {
                    jump!($target)
                }
            }};
        }
        // Calls site `$site` from the current pc.
        macro_rules! do_call {
            ($site:expr) => {{
                let site = $site;
                    let cs = &program.call_sites[site as usize];
                let callee = match cs.target {
                    Some(t) => t,
                    None => {
                        let cache = &mut call_cache[site as usize];
                        match &r!(cs.func) {
                            Value::Str(s) if Rc::as_ptr(s) as usize == cache.0 => cache.1,
                            v => tryop!(resolve_slow(program, v, cache)),
                        }
                    }
                };
                if frames.len() >= max_callers {
                    bail!(OpError::new(
                        ErrorKind::CallDepth,
                        format!("call depth limit of {} frames reached", limits.max_depth)
                    ));
                }
                feedback.call_counts[callee as usize] += 1;
                let cb = &program.bodies[callee as usize];
                let base = cur.base as usize;
                let new_base = base + cur.nregs as usize;
                if stack.len() < new_base + WINDOW {
                    grow(stack, new_base + WINDOW);
                }
                let (caller, callee_regs) = stack.split_at_mut(new_base);
                let caller = &caller[base..];
                for (slot, &r) in callee_regs.iter_mut().zip(cs.args.iter()).take(cb.nregs as usize) {
                    slot.set(caller[r as usize].clone());
                }
                cur.ret_pc = pc as u32 + 1;
                cur.dst = cs.dst;
                frames.push(cur);
                cur = Frame {
                    body: callee,
                    ret_pc: 0,
                    base: new_base as u32,
                    nregs: cb.nregs,
                    dst: 0,
                    rec_from: NO_JUMP,
                    rec_to: NO_JUMP,
                };
                pc = cb.code_start as usize;
                regs = window(stack, new_base);
                continue;
                }};
        }
        // Returns from the current frame with `$v: Option<Value>`.
        macro_rules! ret {
            ($v:expr) => {{
                let v: Option<Value> = $v;
                clear_window(&mut regs[..cur.nregs as usize]);
                match frames.pop() {
                    None => {
                        *executed += fuel_start - fuel;
                        return Ok(v.unwrap_or(Value::Empty));
                    }
                    Some(f) => {
                        cur = f;
                        pc = f.ret_pc as usize;
                        regs = window(stack, f.base as usize);
                        if let Some(v) = v {
                            r!(f.dst).set(v);
                        }
                        continue;
                    }
                }
            }};
        }

        loop {
            let op = code[pc];
            if METERED {
                if fuel == 0 && !matches!(op, Op::FallOffEnd) {
                    bail!(OpError::new(ErrorKind::FuelExhausted, format!("fuel exhausted after {fuel_start} instructions")));
                }
                fuel = fuel.wrapping_sub(1);
            }
            match op {
                Op::LoadConst { dst, k } => {
                    let v = program.constants[k as usize].clone();
                    r!(dst).set(v);
                }
                Op::Move { dst, src } => {
                    if dst != src {
                        let v = r!(src).clone();
                        r!(dst).set(v);
                    }
                }
                Op::Add { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => match x.checked_add(*y) {
                            Some(v) => Value::Int(v),
                            None => tryop!(binary_slow(op, &r!(a), &r!(b))),
                        },
                        (Value::Float(x), Value::Float(y)) => Value::Float(x + y),
                        (x, y) => tryop!(binary_slow(op, x, y)),
                    };
                    r!(dst).set(v);
                }
                Op::Sub { dst, a, b } => arith!(dst, a, b, checked_sub, -),
                Op::Mul { dst, a, b } => arith!(dst, a, b, checked_mul, *),
                Op::Div { dst, a, b } | Op::Mod { dst, a, b } => {
                    profile2!(a, b);
                    let v = tryop!(binary_slow(op, &r!(a), &r!(b)));
                    r!(dst).set(v);
                }
                Op::Not { dst, src } => {
                    let v = Value::Bool(!truthy(&r!(src)));
                    r!(dst).set(v);
                }
                Op::And { dst, a, b } => {
                    let v = Value::Bool(truthy(&r!(a)) && truthy(&r!(b)));
                    r!(dst).set(v);
                }
                Op::Or { dst, a, b } => {
                    let v = Value::Bool(truthy(&r!(a)) || truthy(&r!(b)));
                    r!(dst).set(v);
                }
                Op::Eq { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => x == y,
                        (x, y) => x.equals(y),
                    };
                    r!(dst).set(Value::Bool(v));
                }
                Op::Neq { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => x != y,
                        (x, y) => !x.equals(y),
                    };
                    r!(dst).set(Value::Bool(v));
                }
                Op::Lt { dst, a, b } => compare!(dst, a, b, <),
                Op::Gt { dst, a, b } => compare!(dst, a, b, >),
                Op::Le { dst, a, b } => compare!(dst, a, b, <=),
                Op::Ge { dst, a, b } => compare!(dst, a, b, >=),
                Op::BrLt { dst, a, b, target } => cmp_branch!(dst, a, b, target, <, true),
                Op::BrLtNot { dst, a, b, target } => cmp_branch!(dst, a, b, target, <, false),
                Op::BrGt { dst, a, b, target } => cmp_branch!(dst, a, b, target, >, true),
                Op::BrGtNot { dst, a, b, target } => cmp_branch!(dst, a, b, target, >, false),
                Op::BrLe { dst, a, b, target } => cmp_branch!(dst, a, b, target, <=, true),
                Op::BrLeNot { dst, a, b, target } => cmp_branch!(dst, a, b, target, <=, false),
                Op::BrGe { dst, a, b, target } => cmp_branch!(dst, a, b, target, >=, true),
                Op::BrGeNot { dst, a, b, target } => cmp_branch!(dst, a, b, target, >=, false),
                Op::BrEq { dst, a, b, target } => cmp_branch!(dst, a, b, target, ==, true),
                Op::BrEqNot { dst, a, b, target } => cmp_branch!(dst, a, b, target, ==, false),
                Op::BrNe { dst, a, b, target } => cmp_branch!(dst, a, b, target, !=, true),
                Op::BrNeNot { dst, a, b, target } => cmp_branch!(dst, a, b, target, !=, false),
                Op::Jump { target } => jump!(target),
                Op::JumpIf { cond, target } => {
                    profile1!(cond);
                    if truthy(&r!(cond)) {
                        jump!(target)
                    }
                }
                Op::JumpIfNot { cond, target } => {
                    profile1!(cond);
                    if !truthy(&r!(cond)) {
                        jump!(target)
                    }
                }
                Op::Call { site } => do_call!(site),
                Op::LoadCall { site } => {
                    // The dead callee-name load (this index) and the call (the next index).
                    pc += 1;
                    if METERED {
                        if fuel == 0 {
                            continue;
                        }
                        fuel -= 1;
                    }
                    do_call!(site)
                }
                Op::Return { src } => {
                    let v = std::mem::take(&mut r!(src));
                    ret!(Some(v))
                }
                Op::ReturnNone => ret!(None),
                Op::FallOffEnd => {
                    if METERED {
                        fuel = fuel.wrapping_add(1);
                    }
                    ret!(None)
                }
                Op::Phi { id } => {
                    let ph = &program.phis[id as usize];
                    let pred = if cur.rec_to == ph.head {
                        program.bc_index[cur.rec_from as usize]
                    } else if ph.head > program.bodies[cur.body as usize].code_start {
                        program.bc_index[ph.head as usize - 1]
                    } else {
                        NO_JUMP
                    };
                    if let Some(&(src, _)) = ph.sources.iter().find(|s| s.1 as u32 == pred) {
                        let v = r!(src).clone();
                        r!(ph.dst).set(v);
                    }
                }
                Op::ArrayGet { dst, arr, idx } => {
                    profile2!(arr, idx);
                    let v = match (&r!(arr), &r!(idx)) {
                        (Value::Array(a), Value::Int(i)) if (*i as u64) < a.len() as u64 => a[*i as usize].clone(),
                        (a, i) => tryop!(ops::array_get(a, i)),
                    };
                    if PROFILE {
                        feedback.site_types[pc].out |= 1 << (v.tag() as u16);
                    }
                    r!(dst).set(v);
                }
                Op::Halt => {
                    *executed += fuel_start - fuel;
                    return Ok(Value::Empty);
                }
                Op::Nop => {}
                _ => {
                    let site = if PROFILE { Some(&mut feedback.site_types[pc]) } else { None };
                    tryop!(exec_cold(program, op, regs, globals, out, site));
                }
            }
            pc += 1;
        }
    }
}

/// Resets a returning frame's window to empty; plain values need only a store.
#[inline(always)]
fn clear_window(window: &mut [Value]) {
    for slot in window {
        slot.set(Value::Empty);
    }
}

#[cold]
#[inline(never)]
fn grow(stack: &mut Vec<Value>, need: usize) {
    let want = need.max(stack.len() * 2);
    stack.resize(want, Value::Empty);
}

/// The generic path of the binary arithmetic ops (`op` is one of them).
#[inline(never)]
fn binary_slow(op: Op, a: &Value, b: &Value) -> Result<Value, OpError> {
    match op {
        Op::Add { .. } => ops::add(a, b),
        Op::Sub { .. } => ops::sub(a, b),
        Op::Mul { .. } => ops::mul(a, b),
        Op::Div { .. } => ops::div(a, b),
        Op::Mod { .. } => ops::rem(a, b),
        _ => unreachable!("binary_slow called with {op:?}"),
    }
}

/// The generic path of the ordering comparisons (`op` is one of them).
#[inline(never)]
fn compare_slow(op: Op, a: &Value, b: &Value) -> Result<bool, OpError> {
    let c = match op {
        Op::Lt { .. } => Cmp::Lt,
        Op::Gt { .. } => Cmp::Gt,
        Op::Le { .. } => Cmp::Le,
        Op::Ge { .. } => Cmp::Ge,
        _ => unreachable!("compare_slow called with {op:?}"),
    };
    ops::compare(c, a, b)
}

/// The generic path of a fused comparison + branch (`op` is one of the `Br*` ops).
#[inline(never)]
fn branch_compare_slow(op: Op, a: &Value, b: &Value) -> Result<bool, OpError> {
    match op {
        Op::BrLt { .. } | Op::BrLtNot { .. } => ops::compare(Cmp::Lt, a, b),
        Op::BrGt { .. } | Op::BrGtNot { .. } => ops::compare(Cmp::Gt, a, b),
        Op::BrLe { .. } | Op::BrLeNot { .. } => ops::compare(Cmp::Le, a, b),
        Op::BrGe { .. } | Op::BrGeNot { .. } => ops::compare(Cmp::Ge, a, b),
        Op::BrEq { .. } | Op::BrEqNot { .. } => Ok(a.equals(b)),
        Op::BrNe { .. } | Op::BrNeNot { .. } => Ok(!a.equals(b)),
        _ => unreachable!("branch_compare_slow called with {op:?}"),
    }
}

/// Executes the operations that are not on the interpreter's hot path (strings, arrays, dicts,
/// globals, casts, assertions, printing). Never called with control-flow ops.
#[inline(never)]
fn exec_cold(
    program: &Program,
    op: Op,
    regs: &mut [Value; WINDOW],
    globals: &mut [Value],
    out: &mut dyn Write,
    site: Option<&mut crate::feedback::SiteTypes>,
) -> Result<(), OpError> {
    macro_rules! r {
        ($r:expr) => {
            regs[$r as usize]
        };
    }
    match op {
        Op::LoadGlobal { dst, slot } => {
            let v = globals[slot as usize].clone();
            r!(dst).set(v);
        }
        Op::StoreGlobal { src, slot } => globals[slot as usize].set(r!(src).clone()),
        Op::CheckType { dst, src, ty } => {
            let v = Value::Bool(ops::check_type(&r!(src), ty));
            r!(dst).set(v);
        }
        Op::Cast { dst, src, ty } => {
            let v = cast(program, &r!(src), ty)?;
            r!(dst).set(v);
        }
        Op::Neg { dst, src } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(src).tag() as u16);
            }
            let v = ops::neg(&r!(src))?;
            r!(dst).set(v);
        }
        Op::Assert { reg, id } => {
            let a = &program.asserts[id as usize];
            let v = &r!(reg);
            let ok = match a.kind {
                mdbc::operand::AssertKind::Truthy => v.truthy(),
                mdbc::operand::AssertKind::NonEmpty => !matches!(v, Value::Empty),
                mdbc::operand::AssertKind::Range { min, max } => matches!(v, Value::Int(i) if (min..=max).contains(i)),
            };
            if !ok {
                return Err(OpError::new(ErrorKind::Assertion, a.message.to_string()));
            }
        }
        Op::ConcatStr { dst, a, b } => {
            let v = ops::concat_display(&r!(a), &r!(b))?;
            r!(dst).set(v);
        }
        Op::StrLen { dst, src } => {
            let v = ops::str_len(&r!(src))?;
            r!(dst).set(v);
        }
        Op::NewArray { dst, size } => {
            let v = ops::new_array(&r!(size))?;
            r!(dst).set(v);
        }
        Op::ArraySet { arr, idx, val } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(arr).tag() as u16);
                s.b |= 1 << (r!(idx).tag() as u16);
            }
            let v = r!(val).clone();
            let i = r!(idx).clone();
            ops::array_set(&mut r!(arr), &i, v)?;
        }
        Op::ArrayLen { dst, arr } => {
            let v = ops::array_len(&r!(arr))?;
            r!(dst).set(v);
        }
        Op::Print { src } => {
            let v = &r!(src);
            if !matches!(v, Value::Empty) {
                let res = match v {
                    Value::Str(s) => out.write_all(s.as_str().as_bytes()).and_then(|_| out.write_all(b"\n")),
                    v => writeln!(out, "{v}"),
                };
                res.map_err(|e| OpError::new(ErrorKind::Output, format!("cannot write output: {e}")))?;
            }
        }
        Op::DictNew { dst } => r!(dst).set(ops::dict_new()),
        Op::DictGet { dst, dict, key } => {
            let v = ops::dict_get(&r!(dict), &r!(key))?;
            if let Some(s) = site {
                s.out |= 1 << (v.tag() as u16);
            }
            r!(dst).set(v);
        }
        Op::DictSet { dict, key, val } => {
            let v = r!(val).clone();
            let k = r!(key).clone();
            ops::dict_set(&mut r!(dict), &k, v)?;
        }
        Op::DictRemove { dict, key } => {
            let k = r!(key).clone();
            ops::dict_remove(&mut r!(dict), &k)?;
        }
        Op::DictContains { dst, dict, key } => {
            let v = ops::dict_contains(&r!(dict), &r!(key))?;
            r!(dst).set(v);
        }
        Op::DictKeys { dst, dict } => {
            let v = ops::dict_keys(&r!(dict))?;
            r!(dst).set(v);
        }
        Op::DictValues { dst, dict } => {
            let v = ops::dict_values(&r!(dict))?;
            r!(dst).set(v);
        }
        Op::DictClear { dict } => ops::dict_clear(&mut r!(dict))?,
        Op::DictLen { dst, dict } => {
            let v = ops::dict_len(&r!(dict))?;
            r!(dst).set(v);
        }
        _ => unreachable!("exec_cold called with {op:?}"),
    }
    Ok(())
}
