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
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: DEFAULT_MAX_DEPTH, fuel: None }
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
        let r = if self.feedback.profiling { self.interpret::<true>(out) } else { self.interpret::<false>(out) };
        // Drop whatever the run left in registers (on error or HALT frames are still live).
        self.stack.clear();
        self.frames.clear();
        r
    }

    fn interpret<const PROFILE: bool>(&mut self, out: &mut dyn Write) -> Result<Value, RuntimeError> {
        let Machine { program, stack, frames, globals, call_cache, feedback, limits, executed } = self;
        let program: &Program = program;
        let code: &[Op] = &program.code;
        let max_callers = limits.max_depth.saturating_sub(1);
        let fuel_start = limits.fuel.unwrap_or(u64::MAX);
        let mut fuel = fuel_start;

        let mut body = program.entry_body;
        let entry = &program.bodies[body as usize];
        feedback.call_counts[body as usize] += 1;
        let mut pc = entry.code_start;
        let mut base: usize = 0;
        let mut nregs: u32 = entry.nregs;
        let mut rec_from = NO_JUMP;
        let mut rec_to = NO_JUMP;
        let mut regs = window(stack, base);

        macro_rules! bail {
            ($e:expr) => {{
                *executed += fuel_start - fuel;
                return Err(fault(program, body, pc, $e));
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
                    let s = &mut feedback.site_types[pc as usize];
                    s.a |= 1 << (r!($a).tag() as u16);
                    s.b |= 1 << (r!($b).tag() as u16);
                }
            };
        }
        macro_rules! profile1 {
            ($a:expr) => {
                if PROFILE {
                    feedback.site_types[pc as usize].a |= 1 << (r!($a).tag() as u16);
                }
            };
        }
        macro_rules! profile_out {
            ($v:expr) => {
                if PROFILE {
                    feedback.site_types[pc as usize].out |= 1 << ($v.tag() as u16);
                }
            };
        }
        macro_rules! arith {
            ($dst:expr, $a:expr, $b:expr, $checked:ident, $fop:tt, $slow:path) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => match x.$checked(*y) {
                        Some(v) => Value::Int(v),
                        None => tryop!($slow(&r!($a), &r!($b))),
                    },
                    (Value::Float(x), Value::Float(y)) => Value::Float(*x $fop *y),
                    (x, y) => tryop!($slow(x, y)),
                };
                r!($dst) = v;
            }};
        }
        macro_rules! compare {
            ($dst:expr, $a:expr, $b:expr, $op:tt, $cmp:expr) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => *x $op *y,
                    (Value::Float(x), Value::Float(y)) => *x $op *y,
                    (x, y) => tryop!(ops::compare($cmp, x, y)),
                };
                r!($dst) = Value::Bool(v);
            }};
        }
        macro_rules! jump {
            ($target:expr) => {{
                let t = $target;
                if PROFILE && t <= pc {
                    feedback.backedges[t as usize] = feedback.backedges[t as usize].saturating_add(1);
                }
                rec_from = pc;
                rec_to = t;
                pc = t;
                continue;
            }};
        }
        // Returns from the current frame with `$v: Option<Value>`.
        macro_rules! ret {
            ($v:expr) => {{
                let v: Option<Value> = $v;
                for slot in &mut regs[..nregs as usize] {
                    *slot = Value::Empty;
                }
                match frames.pop() {
                    None => {
                        *executed += fuel_start - fuel;
                        return Ok(v.unwrap_or(Value::Empty));
                    }
                    Some(f) => {
                        body = f.body;
                        base = f.base as usize;
                        nregs = f.nregs;
                        rec_from = f.rec_from;
                        rec_to = f.rec_to;
                        pc = f.ret_pc;
                        regs = window(stack, base);
                        if let Some(v) = v {
                            r!(f.dst) = v;
                        }
                        continue;
                    }
                }
            }};
        }

        loop {
            let op = code[pc as usize];
            if fuel == 0 && !matches!(op, Op::FallOffEnd) {
                bail!(OpError::new(ErrorKind::FuelExhausted, format!("fuel exhausted after {fuel_start} instructions")));
            }
            fuel = fuel.wrapping_sub(1);
            match op {
                Op::LoadConst { dst, k } => r!(dst) = program.constants[k as usize].clone(),
                Op::Move { dst, src } => {
                    if dst != src {
                        r!(dst) = r!(src).clone();
                    }
                }
                Op::LoadGlobal { dst, slot } => r!(dst) = globals[slot as usize].clone(),
                Op::StoreGlobal { src, slot } => globals[slot as usize] = r!(src).clone(),
                Op::CheckType { dst, src, ty } => r!(dst) = Value::Bool(ops::check_type(&r!(src), ty)),
                Op::Cast { dst, src, ty } => r!(dst) = tryop!(cast(program, &r!(src), ty)),
                Op::Add { dst, a, b } => arith!(dst, a, b, checked_add, +, ops::add),
                Op::Sub { dst, a, b } => arith!(dst, a, b, checked_sub, -, ops::sub),
                Op::Mul { dst, a, b } => arith!(dst, a, b, checked_mul, *, ops::mul),
                Op::Div { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => Value::Int(tryop!(ops::int_div(*x, *y))),
                        (x, y) => tryop!(ops::div(x, y)),
                    };
                    r!(dst) = v;
                }
                Op::Mod { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => Value::Int(tryop!(ops::int_mod(*x, *y))),
                        (x, y) => tryop!(ops::rem(x, y)),
                    };
                    r!(dst) = v;
                }
                Op::Neg { dst, src } => {
                    profile1!(src);
                    let v = tryop!(ops::neg(&r!(src)));
                    r!(dst) = v;
                }
                Op::Not { dst, src } => r!(dst) = Value::Bool(!truthy(&r!(src))),
                Op::And { dst, a, b } => r!(dst) = Value::Bool(truthy(&r!(a)) && truthy(&r!(b))),
                Op::Or { dst, a, b } => r!(dst) = Value::Bool(truthy(&r!(a)) || truthy(&r!(b))),
                Op::Eq { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => x == y,
                        (x, y) => x.equals(y),
                    };
                    r!(dst) = Value::Bool(v);
                }
                Op::Neq { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => x != y,
                        (x, y) => !x.equals(y),
                    };
                    r!(dst) = Value::Bool(v);
                }
                Op::Lt { dst, a, b } => compare!(dst, a, b, <, Cmp::Lt),
                Op::Gt { dst, a, b } => compare!(dst, a, b, >, Cmp::Gt),
                Op::Le { dst, a, b } => compare!(dst, a, b, <=, Cmp::Le),
                Op::Ge { dst, a, b } => compare!(dst, a, b, >=, Cmp::Ge),
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
                Op::Call { site } => {
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
                    let new_base = base + nregs as usize;
                    if stack.len() < new_base + WINDOW {
                        let want = (new_base + WINDOW).max(stack.len() * 2);
                        stack.resize(want, Value::Empty);
                    }
                    let n = cs.args.len().min(cb.nregs as usize);
                    for i in 0..n {
                        stack[new_base + i] = stack[base + cs.args[i] as usize].clone();
                    }
                    frames.push(Frame { body, ret_pc: pc + 1, base: base as u32, nregs, dst: cs.dst, rec_from, rec_to });
                    body = callee;
                    base = new_base;
                    nregs = cb.nregs;
                    pc = cb.code_start;
                    rec_from = NO_JUMP;
                    rec_to = NO_JUMP;
                    regs = window(stack, base);
                    continue;
                }
                Op::Return { src } => {
                    let v = std::mem::take(&mut r!(src));
                    ret!(Some(v))
                }
                Op::ReturnNone => ret!(None),
                Op::FallOffEnd => {
                    fuel = fuel.wrapping_add(1);
                    ret!(None)
                }
                Op::Phi { id } => {
                    let ph = &program.phis[id as usize];
                    let pred = if rec_to == ph.head {
                        program.bc_index[rec_from as usize]
                    } else if ph.head > program.bodies[body as usize].code_start {
                        program.bc_index[ph.head as usize - 1]
                    } else {
                        NO_JUMP
                    };
                    if let Some(&(src, _)) = ph.sources.iter().find(|s| s.1 as u32 == pred) {
                        r!(ph.dst) = r!(src).clone();
                    }
                }
                Op::Assert { reg, id } => {
                    let a = &program.asserts[id as usize];
                    let v = &r!(reg);
                    let ok = match a.kind {
                        mdbc::operand::AssertKind::Truthy => v.truthy(),
                        mdbc::operand::AssertKind::NonEmpty => !matches!(v, Value::Empty),
                        mdbc::operand::AssertKind::Range { min, max } => {
                            matches!(v, Value::Int(i) if (min..=max).contains(i))
                        }
                    };
                    if !ok {
                        bail!(OpError::new(ErrorKind::Assertion, a.message.to_string()));
                    }
                }
                Op::ConcatStr { dst, a, b } => {
                    let v = tryop!(ops::concat_display(&r!(a), &r!(b)));
                    r!(dst) = v;
                }
                Op::StrLen { dst, src } => {
                    let v = tryop!(ops::str_len(&r!(src)));
                    r!(dst) = v;
                }
                Op::NewArray { dst, size } => {
                    let v = tryop!(ops::new_array(&r!(size)));
                    r!(dst) = v;
                }
                Op::ArrayGet { dst, arr, idx } => {
                    profile2!(arr, idx);
                    let v = match (&r!(arr), &r!(idx)) {
                        (Value::Array(a), Value::Int(i)) if (*i as u64) < a.len() as u64 => a[*i as usize].clone(),
                        (a, i) => tryop!(ops::array_get(a, i)),
                    };
                    profile_out!(v);
                    r!(dst) = v;
                }
                Op::ArraySet { arr, idx, val } => {
                    profile2!(arr, idx);
                    let v = r!(val).clone();
                    let i = r!(idx).clone();
                    tryop!(ops::array_set(&mut r!(arr), &i, v));
                }
                Op::ArrayLen { dst, arr } => {
                    let v = tryop!(ops::array_len(&r!(arr)));
                    r!(dst) = v;
                }
                Op::Print { src } => {
                    let v = &r!(src);
                    if !matches!(v, Value::Empty) {
                        let res = match v {
                            Value::Str(s) => out.write_all(s.as_str().as_bytes()).and_then(|_| out.write_all(b"\n")),
                            v => writeln!(out, "{v}"),
                        };
                        if let Err(e) = res {
                            bail!(OpError::new(ErrorKind::Output, format!("cannot write output: {e}")));
                        }
                    }
                }
                Op::Halt => {
                    *executed += fuel_start - fuel;
                    return Ok(Value::Empty);
                }
                Op::Nop => {}
                Op::DictNew { dst } => r!(dst) = ops::dict_new(),
                Op::DictGet { dst, dict, key } => {
                    let v = tryop!(ops::dict_get(&r!(dict), &r!(key)));
                    profile_out!(v);
                    r!(dst) = v;
                }
                Op::DictSet { dict, key, val } => {
                    let v = r!(val).clone();
                    let k = r!(key).clone();
                    tryop!(ops::dict_set(&mut r!(dict), &k, v));
                }
                Op::DictRemove { dict, key } => {
                    let k = r!(key).clone();
                    tryop!(ops::dict_remove(&mut r!(dict), &k));
                }
                Op::DictContains { dst, dict, key } => {
                    let v = tryop!(ops::dict_contains(&r!(dict), &r!(key)));
                    r!(dst) = v;
                }
                Op::DictKeys { dst, dict } => {
                    let v = tryop!(ops::dict_keys(&r!(dict)));
                    r!(dst) = v;
                }
                Op::DictValues { dst, dict } => {
                    let v = tryop!(ops::dict_values(&r!(dict)));
                    r!(dst) = v;
                }
                Op::DictClear { dict } => tryop!(ops::dict_clear(&mut r!(dict))),
                Op::DictLen { dst, dict } => {
                    let v = tryop!(ops::dict_len(&r!(dict)));
                    r!(dst) = v;
                }
            }
            pc += 1;
        }
    }
}
