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

use std::io::{BufRead, Write};
use std::time::Instant;
use std::rc::Rc;

use crate::debug::{DebugState, DebugStop, Debugger, FrameView, Resume, StopReason};
use crate::error::{ErrorKind, OpError, RuntimeError};
use crate::feedback::Feedback;
use crate::native::{
    CompiledTier, DeoptReason, NativeContext, NativeEntry, NativeRet, OutPtr, TierPolicy, TierReport, CALL_BLOCKED,
    CALL_DONE, CALL_SUSPENDED, CALL_UNWIND, RET_BLOCK, RET_NONE, RET_SUSPEND, RET_UNWIND,
};
use crate::ops::{self, Cmp};
use crate::interrupt::{safepoint, InterruptHandle, PollHook, Watchdog};
use crate::natives::NativeCall;
use crate::program::{CallSite, Callee, Op, Program};
use crate::value::Value;

/// Default maximum number of live frames (main's included).
pub const DEFAULT_MAX_DEPTH: usize = 10_000;

/// Budgets that end a run with a clean error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of live frames, the entry frame included; one more call is a
    /// [`ErrorKind::CallDepth`] error.
    pub max_depth: usize,
    /// Maximum number of bytecode instructions to execute, work charges included
    /// ([`crate::work`]); `None` for no limit. Running out is a [`ErrorKind::FuelExhausted`]
    /// error raised at the instruction that could not run.
    pub fuel: Option<u64>,
    /// Count executed instructions exactly (for [`Machine::instruction_count`]). Always on
    /// when `fuel` is set; off, the interpreter skips the per-instruction count and
    /// `instruction_count` stays 0.
    pub metered: bool,
    /// Wall-clock time one run may take; `None` for no limit. Passing it is an
    /// [`ErrorKind::Interrupted`] error at the next safepoint ([`crate::interrupt`]).
    pub timeout: Option<std::time::Duration>,
    /// Heap bytes a run may have in use ([`crate::memory`]); `None` for no limit. Reaching it
    /// is an [`ErrorKind::OutOfMemory`] error.
    pub max_memory: Option<usize>,
    /// Instructions per slice of a process while others are runnable ([`crate::process`];
    /// default [`crate::process::DEFAULT_REDUCTIONS`]); at least 1.
    pub reductions: u32,
}

impl Limits {
    /// True when instructions are counted (fuel set, or counting asked for).
    pub fn is_metered(&self) -> bool {
        self.metered || self.fuel.is_some()
    }
}

impl Default for Limits {
    /// Depth 10,000, no fuel limit, instructions counted, no time limit, the memory limit of
    /// [`crate::memory::default_limit`].
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            fuel: None,
            metered: true,
            timeout: None,
            max_memory: default_memory_limit(),
            reductions: crate::process::DEFAULT_REDUCTIONS,
        }
    }
}

/// [`crate::memory::default_limit`], worked out once per process.
fn default_memory_limit() -> Option<usize> {
    static LIMIT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(crate::memory::default_limit)
}

/// A suspended caller: its body, the internal index it goes on at, its window (`base`,
/// `nregs`), the register the callee's result goes to, and its phi record: the internal index
/// of the last jump it took ([`NO_JUMP`] for none), whose target `PHI_R` compares with its
/// block's head ([`jumped_to`]). Only the jump's index is stored, one store per jump taken;
/// falling into a head cannot follow a jump to it without another jump between.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    body: u32,
    ret_pc: u32,
    base: u32,
    nregs: u32,
    dst: u8,
    rec_from: u32,
}

/// The target of the jump at internal index `from` (the last jump taken), or [`NO_JUMP`].
fn jumped_to(program: &Program, from: u32) -> u32 {
    if from == NO_JUMP {
        return NO_JUMP;
    }
    match program.plain_op(from as usize) {
        Op::JumpR { target } | Op::JumpIfR { target, .. } | Op::JumpIfNotR { target, .. } => target,
        _ => NO_JUMP,
    }
}

/// Slots that must exist past the current base (a whole `u8` register window).
const WINDOW: usize = crate::native::WINDOW_SLOTS;

/// "No jump recorded" marker for the phi predecessor record (the same value as a side exit's
/// "no predecessor", [`crate::native::NO_PRED`]).
const NO_JUMP: u32 = crate::native::NO_PRED;

/// Where the interpreter starts (or continues) a level of execution.
#[derive(Debug)]
enum Start {
    /// Enter `body` with a fresh window at `base` (arguments in place, frame counted).
    Enter { body: u32, base: u32 },
    /// Continue `body` at internal index `pc` with the given phi predecessor record.
    Resume { body: u32, base: u32, pc: u32, rec_from: u32 },
    /// The current frame (run by native code) returned this; continue its caller, the top of
    /// `frames`, or end the level if the frame was its bottom.
    FrameReturned(Option<Value>),
}

/// Why the interpreter loop stopped.
enum Exit {
    /// The level's bottom frame returned.
    Returned(Option<Value>),
    /// The run is ending: an error was recorded in `pending`, or `HALT` ran.
    Unwind,
    /// Call native code for a callee whose window is at `base` (its caller was pushed on
    /// `frames` and the frame counted), or enter a loop of the current frame by OSR (the
    /// current frame was not pushed: native code finishes it). Either way the native result is
    /// the result of the current frame.
    Native { entry: NativeEntry, base: u32 },
    /// A safepoint found a request pending ([`crate::interrupt`]): serve it, then resume the
    /// current frame (`body` at `base`, not on `frames`) at internal index `pc` with the phi
    /// record `rec_from`, or end the run.
    Safepoint { body: u32, base: u32, pc: u32, rec_from: u32 },
    /// The debugger's test said stop before internal index `pc` (a [`crate::debug`] stop):
    /// call the debugger, then resume the current frame there as for `Safepoint`.
    Debug { body: u32, base: u32, pc: u32, rec_from: u32, reason: StopReason },
    /// The process suspends before internal index `pc` of the current frame (a native there
    /// blocked): every frame of the process becomes a suspended one ([`crate::process`]).
    Suspend { body: u32, base: u32, pc: u32, rec_from: u32 },
    /// No fuel is left for internal index `pc` of the current frame: the slice ends there if
    /// the run's reserve has more ([`crate::process`]), else the run is out of fuel.
    OutOfFuel { body: u32, base: u32, pc: u32, rec_from: u32 },
}

/// A process suspending: where its top frame goes on, and where on `frames` the compiled
/// activations still on the native stack, side-exiting one by one, insert theirs (below the
/// frames of the level that suspended, [`DeoptReason::Suspend`]).
#[derive(Clone, Copy, Debug)]
struct Suspension {
    resume: crate::process::Resume,
    insert_at: usize,
}

/// The state of one program run: value stack, frames, globals, feedback, budgets, and the
/// compiled tier if one is attached.
pub struct Machine {
    program: Rc<Program>,
    stack: Vec<Value>,
    frames: Vec<Frame>,
    globals: Vec<Value>,
    /// Per call site whose callee is known only at run time: the callee name string last seen
    /// and the body it resolved to.
    call_cache: Vec<CallCache>,
    feedback: Feedback,
    limits: Limits,
    executed: u64,
    /// Shared with native code; boxed so its address is stable.
    native: Box<NativeContext>,
    /// Native entry per body (null: none). `native.entries` points here; never resized.
    entries: Vec<*const u8>,
    /// Bodies not to compile: the tier failed to compile them (not retried), or a debugger
    /// pinned them to the interpreter ([`crate::debug`]).
    compile_failed: Vec<bool>,
    tier: Option<Box<dyn CompiledTier>>,
    policy: TierPolicy,
    stress_flags: Vec<u8>,
    /// Deopts by reason.
    deopts: [u64; DeoptReason::ALL.len()],
    /// Deopts by (body, reason).
    deopts_by_body: std::collections::BTreeMap<(u32, DeoptReason), u64>,
    native_entries: u64,
    osr_entries: u64,
    /// The first error of the run, recorded while unwinding through native frames.
    pending: Option<RuntimeError>,
    halted: bool,
    /// The output of the run in progress (null outside `run`).
    out: Option<OutPtr>,
    /// What natives use of the machine: input, start time, the argument buffer.
    natives: NativeEnv,
    /// Stop, time-limit and poll requests, tested at safepoints ([`crate::interrupt`]).
    interrupts: InterruptHandle,
    /// The host's poll hook and how often the watchdog asks for it ([`Machine::set_poll`]).
    poll: Option<PollHook>,
    poll_interval: Option<std::time::Duration>,
    /// Compiled code tests the interrupt word ([`Machine::enable_safepoints`]).
    safepoints: bool,
    /// The attached debugger and its settings ([`Machine::set_debugger`]).
    debugger: Option<Box<dyn Debugger>>,
    debug: Option<Box<DebugState>>,
    /// Per body, 1 once a debugger pinned it ([`crate::native::NativeContext::pinned`] points
    /// here; never resized).
    pinned: Vec<u8>,
    /// Per level of interpretation in progress (nested when native code calls back into the
    /// interpreter): the number of frames below it on `frames` and the frame depth of its
    /// bottom frame. Kept for the debugger's backtrace.
    levels: Vec<(usize, u64)>,
    /// Set while a process suspends, from the level that suspended until the run's scheduler
    /// takes it.
    suspension: Option<Suspension>,
    /// The process counters of the last run.
    process_stats: crate::process::ProcessStats,
    /// The failures of processes no link carried on, in the last run, in the order they
    /// happened.
    process_failures: Vec<crate::process::ProcessFailure>,
    /// Whether such a failure is also written to stderr when it happens (default true).
    report_failures: bool,
}

/// The machine's side of native calls.
struct NativeEnv {
    /// The program's standard input (`read_line`): the process's stdin unless the embedder
    /// set another reader; opened at first use.
    input: Option<Box<dyn BufRead>>,
    /// When the machine was made (`clock`).
    started: Instant,
    /// The arguments of the native call in progress (natives cannot call back into the
    /// machine, so one buffer serves every call); empty between calls.
    args: Vec<Value>,
    /// The run's processes and their scheduler state ([`crate::process`]).
    procs: crate::process::Processes,
}
#[inline(always)]
fn window(stack: &mut [Value], base: usize) -> &mut [Value; WINDOW] {
    (&mut stack[base..base + WINDOW]).try_into().expect("stack keeps a full window past every base")
}

/// Runs `op`, one instruction executed for compiled code, with its work charged to the context's
/// fuel `fuel` ([`crate::work`]). That fuel may be short of the interpreter's by what compiled
/// code charged ahead: work it cannot cover fails without effects, and the interpreter executes
/// the instruction again with the exact fuel. Returns true if `op` failed.
fn charged_to_context(fuel: &mut u64, op: impl FnOnce() -> Result<(), OpError>) -> bool {
    let meter = crate::work::begin(*fuel);
    let failed = op().is_err();
    let units = meter.end();
    if !failed {
        *fuel -= units;
    }
    failed
}

/// How deep [`CompileOrder::callees_first`] goes: a body's callees and theirs.
const CALLEES_FIRST_DEPTH: u32 = 2;

/// Compiling bodies callees first: the tier, the program, its feedback and the policy, with a
/// machine's per-body compilation state (native entries, null until compiled, and failures).
struct CompileOrder<'a> {
    tier: &'a mut dyn CompiledTier,
    program: &'a Program,
    feedback: &'a Feedback,
    policy: &'a TierPolicy,
    entries: &'a mut [*const u8],
    compile_failed: &'a mut [bool],
}

impl CompileOrder<'_> {
    /// Compiles `body`, whose calls made it due, after the warm bodies it calls by a resolved
    /// name (called at least half the threshold's times, not compiled, not failed), down to
    /// [`CALLEES_FIRST_DEPTH`] levels. Code compiled for a caller calls a callee that is
    /// already compiled at its typed entry, with unboxed arguments; a callee compiled later is
    /// reached only through the entry table and its generic entry, which boxes and unboxes
    /// every argument. A caller and its callees usually grow hot together (each call of the
    /// caller calls them), and the caller's count crosses the threshold first.
    fn callees_first(&mut self, body: u32, depth: u32) {
        let b = body as usize;
        if depth < CALLEES_FIRST_DEPTH {
            self.warm_callees(body, depth);
        }
        // A cycle of calls may have compiled it already.
        if self.entries[b].is_null() && !self.compile_failed[b] {
            match self.tier.compile(self.program, self.feedback, body) {
                Some(e) => self.entries[b] = e as *const u8,
                None => self.compile_failed[b] = true,
            }
        }
    }

    /// The first half of [`CompileOrder::callees_first`]: compiles the warm bodies `body`
    /// calls by a resolved name (each after its own), before `body` itself is compiled, from
    /// its entry or for a loop by OSR.
    fn warm_callees(&mut self, body: u32, depth: u32) {
        for callee in self.program.static_callees(body) {
            let c = callee as usize;
            let warm = self.policy.eager || self.feedback.call_counts[c].saturating_mul(2) >= self.policy.call_threshold;
            if self.entries[c].is_null() && !self.compile_failed[c] && warm {
                self.callees_first(callee, depth + 1);
            }
        }
    }
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

/// A call site's cache of its last callee name (see `Machine::call_cache`). The hit test
/// compares addresses; the cache holds a reference to the string, so while it is cached no
/// other string can take its address.
#[derive(Clone, Debug)]
struct CallCache {
    /// The name last resolved (kept alive).
    name: Option<Rc<crate::value::Str>>,
    /// What it resolved to.
    callee: Callee,
}

impl Default for CallCache {
    fn default() -> CallCache {
        CallCache { name: None, callee: Callee::Body(0) }
    }
}

impl CallCache {
    /// True if `s` is the cached string (the same object, not just equal text).
    #[inline(always)]
    fn holds(&self, s: &Rc<crate::value::Str>) -> bool {
        self.name.as_ref().is_some_and(|n| Rc::ptr_eq(n, s))
    }
}

#[cold]
#[inline(never)]
fn resolve_slow(program: &Program, callee: &Value, cache: &mut CallCache) -> Result<Callee, OpError> {
    match callee {
        Value::Str(s) => match program.resolve_name(s.as_str()) {
            Some(c) => {
                *cache = CallCache { name: Some(s.clone()), callee: c };
                Ok(c)
            }
            None => Err(OpError::new(ErrorKind::UndefinedFunction, format!("undefined function `{}`", s.as_str()))),
        },
        Value::Int(e) => u32::try_from(*e)
            .ok()
            .and_then(|e| program.by_entry.get(&e).copied())
            .map(Callee::Body)
            .ok_or_else(|| OpError::new(ErrorKind::UndefinedFunction, format!("no function starts at instruction {e}"))),
        Value::Function(f) => Ok(Callee::Body(f.index)),
        v => Err(OpError::type_error(format!("cannot call a value of type {}", v.type_name()))),
    }
}

/// `CAST_R`, including casts to `function`, which need the function table.
fn cast(program: &Program, v: &Value, ty: u16) -> Result<Value, OpError> {
    if ty == 5 && !matches!(v, Value::Function(_)) {
        let mut scratch = CallCache::default();
        let body = match resolve_slow(program, v, &mut scratch)? {
            Callee::Body(b) => b,
            Callee::Native(n) => {
                let name = &program.natives.get(n).name;
                return Err(OpError::type_error(format!("`{name}` is a native, not a function of the module")));
            }
        };
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
    /// A machine ready to run `program` under `limits`, interpreter only.
    pub fn new(program: Rc<Program>, limits: Limits) -> Machine {
        let feedback = Feedback::new(&program);
        let n = program.bodies.len();
        let mut m = Machine {
            stack: Vec::new(),
            frames: Vec::new(),
            globals: vec![Value::Empty; program.global_names.len()],
            call_cache: vec![CallCache::default(); program.call_sites.len()],
            feedback,
            limits,
            executed: 0,
            native: Box::new(NativeContext {
                stack: std::ptr::null_mut(),
                stack_len: 0,
                depth: 0,
                max_depth: limits.max_depth as u64,
                fuel: u64::MAX,
                entries: std::ptr::null(),
                call_counts: std::ptr::null_mut(),
                stress_flags: std::ptr::null_mut(),
                machine: std::ptr::null_mut(),
                stack_limit: 0,
                exit_at: 0,
                exit_pred: 0,
                pinned: std::ptr::null(),
                reserve: 0,
            }),
            entries: vec![std::ptr::null(); n],
            compile_failed: vec![false; n],
            tier: None,
            policy: TierPolicy::default(),
            stress_flags: Vec::new(),
            deopts: [0; DeoptReason::ALL.len()],
            deopts_by_body: std::collections::BTreeMap::new(),
            native_entries: 0,
            osr_entries: 0,
            pending: None,
            halted: false,
            out: None,
            natives: NativeEnv { input: None, started: Instant::now(), args: Vec::new(), procs: crate::process::Processes::new() },
            interrupts: InterruptHandle::new(),
            poll: None,
            poll_interval: None,
            safepoints: false,
            debugger: None,
            debug: None,
            pinned: vec![0; n],
            levels: Vec::new(),
            suspension: None,
            process_stats: crate::process::ProcessStats::default(),
            process_failures: Vec::new(),
            report_failures: true,
            program,
        };
        // Processes are scheduled by instruction counts, so a program that names `spawn`
        // counts instructions ([`crate::process`]).
        if m.program.uses_processes() {
            m.limits.metered = true;
        }
        m.native.entries = m.entries.as_ptr();
        m.native.pinned = m.pinned.as_ptr();
        m.native.call_counts = m.feedback.call_counts.as_mut_ptr();
        m
    }

    /// Sets the program's standard input, what `read_line` reads (default: the process's
    /// stdin, opened at the first `read_line`).
    pub fn set_input(&mut self, input: Box<dyn BufRead>) {
        self.natives.input = Some(input);
    }

    /// A handle that stops this machine's runs from any thread ([`crate::interrupt`]). The
    /// interpreter always tests it; from the first call on, compiled code tests it too (code
    /// compiled before is discarded, and recompiled with the tests when it is hot again).
    pub fn interrupt_handle(&mut self) -> InterruptHandle {
        self.enable_safepoints();
        self.interrupts.clone()
    }

    /// Makes compiled code test the interrupt word at its safepoints (see
    /// [`Machine::interrupt_handle`]); without it, compiled loops and calls test nothing and
    /// cost nothing, and only the interpreter's safepoints (and the helpers' memory checks)
    /// serve requests. Done by taking a handle, a time limit or a poll hook.
    pub fn enable_safepoints(&mut self) {
        if self.safepoints {
            return;
        }
        self.safepoints = true;
        if let Some(tier) = self.tier.as_mut() {
            tier.enable_safepoints(self.interrupts.flag_address());
            for (b, e) in self.entries.iter_mut().enumerate() {
                if !e.is_null() {
                    *e = std::ptr::null();
                    tier.discard(b as u32);
                }
            }
        }
    }

    /// Calls `hook` at a safepoint about every `interval` while a run is in progress, after
    /// flushing the program's output; an `Err` from it ends the run as
    /// [`ErrorKind::Interrupted`] with its message. Replaces an earlier hook. Enables the
    /// safepoints of compiled code.
    pub fn set_poll(&mut self, interval: std::time::Duration, hook: PollHook) {
        self.poll = Some(hook);
        self.poll_interval = Some(interval);
        self.enable_safepoints();
    }

    /// Attaches a compiled tier, used as `policy` says. Turns profiling on.
    pub fn set_tier(&mut self, tier: Box<dyn CompiledTier>, policy: TierPolicy) {
        // Entries of a tier being replaced die with it.
        self.entries.iter_mut().for_each(|e| *e = std::ptr::null());
        self.tier = Some(tier);
        self.policy = policy;
        if self.safepoints {
            let addr = self.interrupts.flag_address();
            if let Some(t) = self.tier.as_mut() {
                t.enable_safepoints(addr);
            }
        }
        if self.debug.as_ref().is_some_and(|d| d.stops) {
            if let Some(t) = self.tier.as_mut() {
                t.enable_debug_checks();
            }
        }
        self.feedback.profiling = true;
        self.stress_flags = if policy.stress_deopt { vec![0; crate::native::stress_flags_len(self.program.module.code.len())] } else { Vec::new() };
        self.native.stress_flags =
            if self.stress_flags.is_empty() { std::ptr::null_mut() } else { self.stress_flags.as_mut_ptr() };
    }

    /// Attaches `debugger` ([`crate::debug`]): from the next instruction on, the interpreter
    /// tests before each instruction whether to stop, and calls the debugger when it does.
    /// Breakpoints are set through [`Machine::debug_state`]. Replaces an earlier debugger.
    pub fn set_debugger(&mut self, debugger: Box<dyn Debugger>) {
        if self.debug.is_none() {
            self.debug = Some(Box::new(DebugState::new(&self.program)));
        }
        self.debug.as_mut().expect("just made").stops = true;
        self.debugger = Some(debugger);
        // Compiled activations of a body pinned later must leave their code when a call
        // returns into them: code compiled from now on checks, code compiled before goes.
        if let Some(tier) = self.tier.as_mut() {
            tier.enable_debug_checks();
            for (b, e) in self.entries.iter_mut().enumerate() {
                if !e.is_null() {
                    *e = std::ptr::null();
                    tier.discard(b as u32);
                }
            }
        }
        self.apply_pins();
    }

    /// Turns the interpreter's `calls` and `instructions` traces on or off: `tracing` events
    /// for every call and return (target `mdvm::calls`) and every instruction with its
    /// operands' values (`mdvm::instructions`), written by whatever subscriber the host
    /// installed. Either trace runs the whole program in the interpreter from then on (its
    /// compiled code is discarded, and nothing is compiled again), so that nothing goes
    /// untraced.
    pub fn set_trace(&mut self, calls: bool, instructions: bool) {
        if !(calls || instructions) {
            // Without a debugger either, the usual loop runs again.
            if let Some(d) = self.debug.as_mut() {
                d.tracer = None;
                if !d.stops {
                    self.debug = None;
                }
            }
            return;
        }
        let d = self.debug.get_or_insert_with(|| Box::new(DebugState::new(&self.program)));
        d.tracer = Some(crate::debug::Tracer::new(&self.program, calls, instructions));
        for b in 0..self.program.bodies.len() as u32 {
            d.pin(b);
        }
        self.apply_pins();
    }

    /// The debugger's settings (breakpoints, watch), when a debugger is attached.
    pub fn debug_state(&mut self) -> Option<&mut DebugState> {
        self.debug.as_deref_mut()
    }

    /// Keeps the bodies the debugger pinned since the last call in the interpreter: discards
    /// their compiled code and never compiles them again. Frames already running their
    /// compiled code finish in it.
    fn apply_pins(&mut self) {
        let Some(d) = self.debug.as_mut() else { return };
        for body in std::mem::take(&mut d.newly_pinned) {
            let b = body as usize;
            self.compile_failed[b] = true;
            self.pinned[b] = 1;
            if !self.entries[b].is_null() {
                self.entries[b] = std::ptr::null();
                if let Some(t) = self.tier.as_mut() {
                    t.discard(body);
                }
            }
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
        if self.program.uses_processes() {
            self.limits.metered = true;
        }
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

    /// Fuel used by all runs so far (counted when metered): instructions executed plus work
    /// charges ([`crate::work`]).
    pub fn instruction_count(&self) -> u64 {
        self.executed
    }

    /// Counters of the compiled tier: its own, plus native entries, OSR entries and deopts by
    /// reason (`None` without a tier).
    pub fn tier_stats(&self) -> Option<TierReport> {
        let t = self.tier.as_ref()?;
        let deopts = DeoptReason::ALL
            .iter()
            .zip(self.deopts.iter())
            .filter(|(_, &n)| n > 0)
            .map(|(&r, &n)| (r, n))
            .collect();
        let deopts_by_function = self
            .deopts_by_body
            .iter()
            .map(|(&(b, r), &n)| (self.program.body_name(b).to_string(), r, n))
            .collect();
        Some(TierReport {
            compiled: t.stats(),
            native_entries: self.native_entries,
            osr_entries: self.osr_entries,
            deopts,
            deopts_by_function,
        })
    }

    /// Clears globals, feedback and counters, as after [`Machine::new`] (compiled code stays).
    pub fn reset(&mut self) {
        self.stack.clear();
        self.frames.clear();
        self.globals.iter_mut().for_each(|g| *g = Value::Empty);
        self.call_cache.iter_mut().for_each(|c| *c = CallCache::default());
        let profiling = self.feedback.profiling;
        self.feedback = Feedback::new(&self.program);
        self.feedback.profiling = profiling;
        self.native.call_counts = self.feedback.call_counts.as_mut_ptr();
        self.executed = 0;
        self.deopts = [0; DeoptReason::ALL.len()];
        self.deopts_by_body.clear();
        self.native_entries = 0;
        self.osr_entries = 0;
    }

    /// Runs the program from its entry body to the end, writing `DEBUG_PRINT` output to `out`.
    ///
    /// Returns the value the entry body returned (empty for no value or `HALT`). Errors: the
    /// first runtime fault, with the function and bytecode position; output written before it
    /// stays written (the caller flushes `out`).
    pub fn run(&mut self, out: &mut dyn Write) -> Result<Value, RuntimeError> {
        // A stop requested between runs ends this one before its first instruction.
        if self.interrupts.is_interrupted() {
            self.interrupts.clear();
            let e = OpError::new(ErrorKind::Interrupted, "stop requested".to_string());
            let body = self.program.entry_body;
            return Err(fault(&self.program, body, self.program.bodies[body as usize].code_start, e));
        }
        self.stack.clear();
        self.stack.resize(WINDOW * 4, Value::Empty);
        self.frames.clear();
        self.levels.clear();
        self.apply_pins();
        self.pending = None;
        if let Some(d) = self.debug.as_deref_mut() {
            d.process = 0;
        }
        self.halted = false;
        let fuel_start = self.limits.fuel.unwrap_or(u64::MAX);
        self.native.depth = 1;
        self.suspension = None;
        self.process_failures.clear();
        let procs = &mut self.natives.procs;
        *procs = crate::process::Processes::new();
        procs.metered = self.limits.is_metered();
        procs.enabled = self.program.uses_processes();
        procs.reductions = self.limits.reductions.max(1) as u64;
        procs.budget = crate::process::Budget::new(fuel_start);
        procs.budget.unfold(&mut self.native, None);
        self.native.max_depth = self.limits.max_depth as u64;
        // SAFETY: only the lifetime is erased. `self.out` is cleared below before `run`
        // returns, and it is used only by code running inside this call.
        let out_ptr: OutPtr = unsafe { std::mem::transmute::<*mut dyn Write, OutPtr>(out as *mut dyn Write) };
        self.out = Some(out_ptr);
        let watchdog = Watchdog::start(&self.interrupts, self.limits.timeout, self.poll_interval);
        let memory_limit = self.limits.max_memory.map(|l| crate::memory::ActiveLimit::enter(l, self.interrupts.word()));

        // The scheduler ([`crate::process`]): main first, then whichever process is next.
        let mut resume = crate::process::Resume::Enter { body: self.program.entry_body };
        let result = loop {
            let r = match resume {
                crate::process::Resume::Enter { body } => self.enter_process(body),
                crate::process::Resume::At { body, base, pc, rec_from } => {
                    self.drive(Start::Resume { body, base, pc, rec_from }, 0)
                }
            };
            match self.end_slice(r) {
                Ok(next) => resume = next,
                Err(result) => break result,
            }
        };
        if self.limits.is_metered() {
            self.executed = self.executed.wrapping_add(self.natives.procs.budget.used);
        }
        drop(watchdog);
        // Drop whatever the run left in registers (on error or HALT frames are still live),
        // and the other processes, before the limit's flag is cleared.
        self.stack.clear();
        self.frames.clear();
        self.process_stats = self.natives.procs.stats;
        self.natives.procs = crate::process::Processes::new();
        drop(memory_limit);
        self.interrupts.clear();
        self.out = None;
        result
    }

    /// Runs a process's first slice: `body` entered with a fresh window at 0 (its arguments
    /// in place). `Some(result)` when it returned, `None` when it unwound or suspended.
    fn enter_process(&mut self, body: u32) -> Option<Option<Value>> {
        self.feedback.call_counts[body as usize] += 1;
        match self.entry_for(body) {
            Some(e) => {
                self.native_entries += 1;
                // Native code expects `Empty` in every slot it does not read first.
                let b = &self.program.bodies[body as usize];
                let live = b.entry_live;
                for (i, slot) in self.stack[..b.nregs as usize].iter_mut().enumerate() {
                    if !live.contains(i as u8) {
                        slot.set(Value::Empty);
                    }
                }
                let r = self.call_native(e, 0);
                self.native_result(r)
            }
            None => self.drive(Start::Enter { body, base: 0 }, 0),
        }
    }

    /// After a slice of the running process ended with `r` (as [`Machine::drive`] returns
    /// it): saves or ends that process, then makes the next runnable one current and returns
    /// where it goes on, or `Err` with the run's result when the run is over (main ended,
    /// `HALT`, an error of main, a deadlock).
    fn end_slice(&mut self, r: Option<Option<Value>>) -> Result<crate::process::Resume, Result<Value, RuntimeError>> {
        use crate::process::{Outcome, State};
        let pid = self.natives.procs.current;
        self.natives.procs.budget.fold(&self.native);
        if let Some(s) = self.suspension.take() {
            let blocked = self.natives.procs.blocked.take();
            self.save_process(pid, s.resume);
            let procs = &mut self.natives.procs;
            let p = procs.get(pid).expect("the running process is live");
            match blocked {
                Some(b) => p.state = State::Blocked(b),
                None => {
                    p.state = State::Runnable;
                    procs.queue.push_back(pid);
                }
            }
        } else {
            self.natives.procs.blocked = None;
            match r {
                Some(v) if pid == 0 => return Err(Ok(v.unwrap_or(Value::Empty))),
                Some(v) => {
                    self.natives.procs.end(pid, Outcome::Returned(v.unwrap_or(Value::Empty)));
                }
                None => {
                    let Some(e) = self.pending.take() else { return Err(Ok(Value::Empty)) }; // HALT
                    if pid == 0 || e.kind.ends_run() {
                        return Err(Err(e));
                    }
                    // Its frames are still live: drop them.
                    self.frames.clear();
                    for v in self.stack.iter_mut() {
                        v.set(Value::Empty);
                    }
                    if let Some(e) = self.process_failed(pid, e) {
                        return Err(Err(e));
                    }
                }
            }
        }
        loop {
            let procs = &mut self.natives.procs;
            let Some(next) = procs.queue.pop_front() else {
                // Nothing runnable, and main has not ended: every live process is blocked.
                let list = procs.blocked_list();
                let e = OpError::new(ErrorKind::Deadlock, format!("every process is blocked: {list}"));
                return Err(Err(self.process_fault(0, e)));
            };
            if !procs.get(next).is_some_and(|p| p.state == State::Runnable) {
                continue;
            }
            procs.stats.slices += 1;
            if next != pid {
                procs.stats.context_switches += 1;
            }
            procs.current = next;
            if let Some(d) = self.debug.as_deref_mut() {
                d.process = next;
            }
            let bounded = !procs.queue.is_empty() && procs.metered;
            procs.bounded = bounded;
            procs.bound_slice = false;
            let n = procs.reductions;
            procs.budget.unfold(&mut self.native, bounded.then_some(n));
            return Ok(self.restore_process(next));
        }
    }

    /// Moves the running process `pid`'s frames and registers into its record; it goes on
    /// at `resume`.
    fn save_process(&mut self, pid: u64, resume: crate::process::Resume) {
        let (top_base, top_body) = match resume {
            crate::process::Resume::At { body, base, .. } => (base as usize, body),
            crate::process::Resume::Enter { body } => (0, body),
        };
        let extent = top_base + self.program.bodies[top_body as usize].nregs as usize;
        let p = self.natives.procs.get(pid).expect("the running process is live");
        p.resume = resume;
        std::mem::swap(&mut p.frames, &mut self.frames);
        self.frames.clear();
        p.slots.clear();
        let extent = extent.min(self.stack.len());
        p.slots.extend(self.stack[..extent].iter_mut().map(std::mem::take));
        debug_assert!(self.stack.iter().all(|v| matches!(v, Value::Empty)), "slots above the top window are empty");
    }

    /// Makes process `pid` current: its frames and registers back on the machine. Returns
    /// where it goes on.
    fn restore_process(&mut self, pid: u64) -> crate::process::Resume {
        let p = self.natives.procs.get(pid).expect("a runnable process is live");
        p.state = crate::process::State::Running;
        std::mem::swap(&mut p.frames, &mut self.frames);
        let need = p.slots.len() + WINDOW;
        let resume = p.resume;
        let mut slots = std::mem::take(&mut p.slots);
        if self.stack.len() < need {
            grow(&mut self.stack, need);
        }
        for (slot, v) in self.stack.iter_mut().zip(slots.drain(..)) {
            *slot = v;
        }
        // The emptied buffer goes back for the next suspension.
        self.natives.procs.get(pid).expect("live").slots = slots;
        self.native.depth = self.frames.len() as u64 + 1;
        resume
    }

    /// Process `pid` (not main) ended with error `e`: its links fail too, with an error naming
    /// it; without links it is recorded in `process_failures` and, when `report_failures`,
    /// written to stderr. Returns main's error when main is linked.
    fn process_failed(&mut self, pid: u64, e: RuntimeError) -> Option<RuntimeError> {
        let e = Rc::new(e);
        let links = self.natives.procs.end(pid, crate::process::Outcome::Failed(e.clone()));
        let links: Vec<u64> = links.into_iter().filter(|&l| self.natives.procs.get(l).is_some()).collect();
        if links.is_empty() {
            self.process_failures.push(crate::process::ProcessFailure { pid, error: (*e).clone() });
            if !self.report_failures {
                return None;
            }
            if let Some(out) = self.out {
                // SAFETY: `out` is the output of the run in progress (see `Machine::run`), and
                // nothing else is writing to it now. Flushed so that the report follows what
                // was printed before it.
                let _ = unsafe { &mut *out }.flush();
            }
            let _ = writeln!(std::io::stderr(), "mdvm: process {pid} failed: {e}");
            return None;
        }
        for l in links {
            let le = OpError::new(
                e.kind,
                format!("linked process {pid} failed: {} (in function `{}` at instruction {})", e.message, e.function, e.index),
            );
            let err = self.process_fault(l, le);
            if l == 0 {
                return Some(err);
            }
            if self.natives.procs.get(l).is_some() {
                if let Some(p) = self.natives.procs.get(l) {
                    p.frames.clear();
                    p.slots.clear();
                    p.mailbox.clear();
                }
                if let Some(m) = self.process_failed(l, err) {
                    return Some(m);
                }
            }
        }
        None
    }

    /// Error `e` raised where the suspended process `pid` goes on.
    fn process_fault(&mut self, pid: u64, e: OpError) -> RuntimeError {
        let (body, pc) = match self.natives.procs.get(pid).map(|p| p.resume) {
            Some(crate::process::Resume::At { body, pc, .. }) => (body, pc),
            Some(crate::process::Resume::Enter { body }) => (body, self.program.bodies[body as usize].code_start),
            None => (self.program.entry_body, self.program.bodies[self.program.entry_body as usize].code_start),
        };
        fault(&self.program, body, pc, e)
    }

    /// The counters of the processes of the last run ([`crate::process`]).
    pub fn process_stats(&self) -> crate::process::ProcessStats {
        self.process_stats
    }

    /// The failures of processes (never main) whose error no link carried on, in the last
    /// run, in the order they happened. Empty for a run without processes.
    pub fn process_failures(&self) -> &[crate::process::ProcessFailure] {
        &self.process_failures
    }

    /// Whether a failure of a process no link carries on is written to stderr when it happens
    /// (`mdvm: process P failed: ERROR`, after flushing the output; default true). Either
    /// way it is recorded for [`Machine::process_failures`].
    pub fn set_report_failures(&mut self, on: bool) {
        self.report_failures = on;
    }

    /// The native entry for `body`, compiling it first when the policy says so.
    fn entry_for(&mut self, body: u32) -> Option<NativeEntry> {
        let b = body as usize;
        if self.debug.as_ref().is_some_and(|d| d.stepping()) {
            return None;
        }
        if self.entries[b].is_null() && !self.compile_failed[b] {
            if let Some(tier) = self.tier.as_mut() {
                let due = self.policy.eager || self.feedback.call_counts[b] >= self.policy.call_threshold;
                if due {
                    CompileOrder {
                        tier: tier.as_mut(),
                        program: &self.program,
                        feedback: &self.feedback,
                        policy: &self.policy,
                        entries: &mut self.entries,
                        compile_failed: &mut self.compile_failed,
                    }
                    .callees_first(body, 0);
                }
            }
        }
        let p = self.entries[b];
        if p.is_null() {
            None
        } else {
            // SAFETY: non-null entries are only ever set from `NativeEntry` values produced by
            // the tier, whose code lives as long as the tier (owned by this machine).
            Some(unsafe { std::mem::transmute::<*const u8, NativeEntry>(p) })
        }
    }

    /// Calls native code for the window at `base` (on a new native stack segment when little
    /// is left of the current one).
    fn call_native(&mut self, entry: NativeEntry, base: u32) -> NativeRet {
        stacker::maybe_grow(crate::native::STACK_RED_ZONE, crate::native::STACK_SEGMENT, || {
            self.call_native_here(entry, base)
        })
    }

    fn call_native_here(&mut self, entry: NativeEntry, base: u32) -> NativeRet {
        let old_limit = self.native.stack_limit;
        self.native.stack_limit = crate::native::current_stack_limit();
        let r = self.call_native_raw(entry, base);
        self.native.stack_limit = old_limit;
        r
    }

    fn call_native_raw(&mut self, entry: NativeEntry, base: u32) -> NativeRet {
        self.native.stack = self.stack.as_mut_ptr();
        self.native.stack_len = self.stack.len() as u64;
        let ctx: *mut NativeContext = &mut *self.native;
        self.native.machine = self as *mut Machine;
        // SAFETY: `entry` is code the tier compiled for this program, following the
        // conventions of `crate::native`: it reads and writes only the window at `base` and
        // above, through `ctx`, and reaches the machine only through helpers, while this
        // function holds no other reference into the machine.
        unsafe { entry(ctx, base as u64) }
    }

    /// Turns a native result into `Some(returned value)` or `None` for unwinding (or
    /// suspending, [`Machine::suspension`]).
    fn native_result(&mut self, r: NativeRet) -> Option<Option<Value>> {
        match r.tag {
            RET_NONE => Some(None),
            RET_UNWIND | RET_SUSPEND => None,
            // SAFETY: native code returns a value it owns, in the layout of `Value`.
            _ => Some(Some(unsafe { Value::from_raw_parts(r.tag, r.payload) })),
        }
    }

    /// Runs interpreter and native code from `start` until the level's bottom frame (the one
    /// above `stop` frames) returns: `Some(its result)`, or `None` when unwinding.
    fn drive(&mut self, start: Start, stop: usize) -> Option<Option<Value>> {
        // Levels nest when native code calls back into the interpreter: keep native stack.
        stacker::maybe_grow(crate::native::STACK_RED_ZONE, crate::native::STACK_SEGMENT, || {
            self.levels.push((stop, self.native.depth));
            let r = self.drive_here(start, stop);
            self.levels.pop();
            r
        })
    }

    fn drive_here(&mut self, mut start: Start, stop: usize) -> Option<Option<Value>> {
        loop {
            // A debugger's loop always counts (what `DebugStop::instructions` reports).
            let exit = match (self.feedback.profiling, self.limits.is_metered(), self.debug.is_some()) {
                (true, _, true) => self.interpret::<true, true, true>(start, stop),
                (false, _, true) => self.interpret::<false, true, true>(start, stop),
                (true, true, false) => self.interpret::<true, true, false>(start, stop),
                (true, false, false) => self.interpret::<true, false, false>(start, stop),
                (false, true, false) => self.interpret::<false, true, false>(start, stop),
                (false, false, false) => self.interpret::<false, false, false>(start, stop),
            };
            // The interpreter may have grown (moved) the stack: native code reloads it.
            self.native.stack = self.stack.as_mut_ptr();
            self.native.stack_len = self.stack.len() as u64;
            match exit {
                Exit::Returned(v) => return Some(v),
                Exit::Unwind => return None,
                Exit::Native { entry, base } => {
                    let r = self.call_native(entry, base);
                    if r.tag == RET_SUSPEND {
                        // The compiled activations above this level's frames are frames now;
                        // those of the levels below go under this level's.
                        if let Some(s) = self.suspension.as_mut() {
                            s.insert_at = stop;
                        }
                        return None;
                    }
                    start = Start::FrameReturned(self.native_result(r)?);
                }
                Exit::Suspend { body, base, pc, rec_from } => {
                    let resume = crate::process::Resume::At { body, base, pc, rec_from };
                    self.suspension = Some(Suspension { resume, insert_at: stop });
                    return None;
                }
                Exit::OutOfFuel { body, base, pc, rec_from } => {
                    if self.native.reserve > 0 {
                        // A process's slice ran out, not the run's fuel.
                        let resume = crate::process::Resume::At { body, base, pc, rec_from };
                        self.suspension = Some(Suspension { resume, insert_at: stop });
                        return None;
                    }
                    let fuel_start = self.limits.fuel.unwrap_or(u64::MAX);
                    let e = OpError::new(ErrorKind::FuelExhausted, format!("fuel exhausted after {fuel_start} instructions"));
                    self.pending.get_or_insert_with(|| fault(&self.program, body, pc, e));
                    return None;
                }
                Exit::Safepoint { body, base, pc, rec_from } => {
                    if !self.serve_safepoint(body, pc) {
                        return None;
                    }
                    start = Start::Resume { body, base, pc, rec_from };
                }
                Exit::Debug { body, base, pc, rec_from, reason } => {
                    if !self.serve_debug_stop(body, base, pc, reason) {
                        return None;
                    }
                    start = Start::Resume { body, base, pc, rec_from };
                }
            }
        }
    }

    /// Calls the debugger for a stop before internal index `pc` of `body`, whose frame (not
    /// on `frames`) has its window at `base`; applies what it changed and how it says to go
    /// on. Returns false, with the error recorded, when it quits.
    fn serve_debug_stop(&mut self, body: u32, base: u32, pc: u32, reason: StopReason) -> bool {
        let (Some(debugger), Some(state)) = (self.debugger.as_mut(), self.debug.as_deref_mut()) else { return true };
        let program = self.program.clone();
        let frames = frame_views(&program, &self.frames, &self.levels, (body, base, pc), self.native.depth);
        let fuel_start = self.limits.fuel.unwrap_or(u64::MAX);
        let mut stop = DebugStop {
            reason,
            program: &program,
            process: state.process,
            frames,
            processes: self.natives.procs.views(&program),
            stack: &self.stack,
            instructions: fuel_start - self.native.fuel,
            call_counts: &self.feedback.call_counts,
            state,
        };
        let resume = debugger.stop(&mut stop);
        stop.state.mode = (resume, self.native.depth, stop.process);
        stop.state.skip = Some(stop.process);
        self.apply_pins();
        if resume == Resume::Quit {
            let e = OpError::new(ErrorKind::Interrupted, "stopped by the debugger".to_string());
            self.pending.get_or_insert_with(|| fault(&program, body, pc, e));
            return false;
        }
        true
    }

    /// `mdvm_call_interp`: runs `body` on the window at `base` as a callee of native code.
    pub(crate) fn run_nested_call(&mut self, body: u32, base: usize) -> NativeRet {
        self.feedback.call_counts[body as usize] += 1;
        let stop = self.frames.len();
        let r = match self.entry_for(body) {
            Some(e) => {
                self.native_entries += 1;
                // Native code expects `Empty` in every slot it does not read first.
                let b = &self.program.bodies[body as usize];
                let live = b.entry_live;
                for (i, slot) in self.stack[base..base + b.nregs as usize].iter_mut().enumerate() {
                    if !live.contains(i as u8) {
                        slot.set(Value::Empty);
                    }
                }
                return self.call_native(e, base as u32);
            }
            None => self.drive(Start::Enter { body, base: base as u32 }, stop),
        };
        self.to_native(r)
    }

    fn to_native(&self, r: Option<Option<Value>>) -> NativeRet {
        match r {
            None if self.suspension.is_some() => NativeRet { tag: RET_SUSPEND, payload: 0 },
            None => NativeRet { tag: RET_UNWIND, payload: 0 },
            Some(None) => NativeRet { tag: RET_NONE, payload: 0 },
            Some(Some(v)) => {
                let (tag, payload) = v.into_raw_parts();
                NativeRet { tag, payload }
            }
        }
    }

    /// `mdvm_deopt_exit`: the interpreter finishes an activation that native code left at bytecode
    /// index `pc`.
    pub(crate) fn resume_after_deopt(&mut self, body: u32, pc: u32, base: usize, pred: u32, reason: u32) -> NativeRet {
        let reason = DeoptReason::from_u32(reason).unwrap_or(DeoptReason::Fault);
        if reason == DeoptReason::Suspend {
            return self.suspend_compiled_frame(body, pc, base);
        }
        if reason == DeoptReason::Blocked {
            return self.suspend_blocked(body, pc, base);
        }
        // A safepoint of compiled code: serve the request before the interpreter goes on.
        if reason == DeoptReason::Interrupt && !self.safepoint_at(body, pc) {
            return NativeRet { tag: RET_UNWIND, payload: 0 };
        }
        self.deopts[reason as usize] += 1;
        *self.deopts_by_body.entry((body, reason)).or_insert(0) += 1;
        // A call's result guard resumes after the call: the site to blame is the call.
        let site = if reason == DeoptReason::ResultType { pc.saturating_sub(1) } else { pc };
        if tracing::enabled!(target: "mdvm::tiers", tracing::Level::DEBUG) {
            let operands = operand_types(&self.program, site, &self.stack[base..]);
            tracing::debug!(
                target: "mdvm::tiers",
                function = self.program.body_name(body),
                pc = site,
                reason = reason.name(),
                operands = %operands,
                "deopt"
            );
        }
        if let Some(tier) = self.tier.as_mut() {
            if tier.note_deopt(body, site, reason) {
                self.entries[body as usize] = std::ptr::null();
                tier.discard(body);
                tracing::debug!(
                    target: "mdvm::tiers",
                    function = self.program.body_name(body),
                    "discarded after repeated deopts; recompiled with their feedback when hot again"
                );
            }
        }
        let ipc = self.program.internal_pc(body, pc);
        let rec_from = if pred == NO_JUMP { NO_JUMP } else { self.program.internal_pc(body, pred) };
        let stop = self.frames.len();
        {
            let r = self.drive(Start::Resume { body, base: base as u32, pc: ipc, rec_from }, stop);
            self.to_native(r)
        }
    }

    /// A [`DeoptReason::Suspend`] exit of compiled code: a callee of the call before bytecode
    /// index `pc` of `body` (window at `base`) suspended its process, so this activation becomes
    /// the interpreter frame that goes on at `pc` with the callee's result, inserted below the
    /// frames of the callee's level. Returns `RET_SUSPEND` for the caller to pass on.
    fn suspend_compiled_frame(&mut self, body: u32, pc: u32, base: usize) -> NativeRet {
        self.deopts[DeoptReason::Suspend as usize] += 1;
        let ret = self.program.internal_pc(body, pc);
        let call = ret.wrapping_sub(1) as usize;
        let dst = match self.program.code.get(call).map(|_| self.program.plain_op(call)) {
            Some(Op::CallR { args: site, .. } | Op::CallNative { site }) => Some(self.program.call_sites[site as usize].dst),
            _ => None,
        };
        let (Some(dst), Some(s)) = (dst, self.suspension) else {
            let e = OpError::new(ErrorKind::Value, "internal: a suspension exit not after a call".to_string());
            self.pending.get_or_insert_with(|| fault(&self.program, body, ret, e));
            self.suspension = None;
            return NativeRet { tag: RET_UNWIND, payload: 0 };
        };
        let nregs = self.program.bodies[body as usize].nregs;
        let f = Frame { body, ret_pc: ret, base: base as u32, nregs, dst, rec_from: NO_JUMP };
        self.frames.insert(s.insert_at.min(self.frames.len()), f);
        NativeRet { tag: RET_SUSPEND, payload: 0 }
    }

    /// A [`DeoptReason::Blocked`] exit of compiled code: the native called at bytecode index
    /// `pc` of `body` (window at `base`) would block and did nothing ([`Processes::blocked`]
    /// says on what), so the process suspends there, this activation its top frame; the call
    /// runs again when the process is next scheduled.
    ///
    /// The loops of `body` lose their back-edge counts: a loop that blocks on every
    /// iteration (a `receive` loop) would otherwise enter its compiled code by OSR after every
    /// message only to leave it at the next call; now it enters after another threshold of
    /// iterations without blocking.
    ///
    /// [`Processes::blocked`]: crate::process::Processes
    fn suspend_blocked(&mut self, body: u32, pc: u32, base: usize) -> NativeRet {
        self.deopts[DeoptReason::Blocked as usize] += 1;
        let b = &self.program.bodies[body as usize];
        for n in &mut self.feedback.backedges[b.code_start as usize..=b.code_end as usize] {
            *n = 0;
        }
        let ipc = self.program.internal_pc(body, pc);
        let resume = crate::process::Resume::At { body, base: base as u32, pc: ipc, rec_from: NO_JUMP };
        self.suspension = Some(Suspension { resume, insert_at: self.frames.len() });
        NativeRet { tag: RET_SUSPEND, payload: 0 }
    }

    /// `mdvm_reserve`: makes the stack hold at least `need` slots.
    pub(crate) fn reserve(&mut self, need: usize) {
        if self.stack.len() < need {
            grow(&mut self.stack, need);
        }
        self.native.stack = self.stack.as_mut_ptr();
        self.native.stack_len = self.stack.len() as u64;
    }

    /// `mdvm_call_dynamic`: performs the `CALL_R` at bytecode index `pc` of `body`, whose
    /// window is at `base`, with the interpreter's semantics (callee from its register,
    /// arguments and destination in their slots). Returns [`CALL_DONE`], [`CALL_UNWIND`] when
    /// the run must unwind, [`CALL_SUSPENDED`] when the callee suspended its process, or
    /// [`CALL_BLOCKED`] when the callee is a native that would block (it did nothing).
    pub(crate) fn call_dynamic(&mut self, body: u32, pc: u32, base: usize) -> u32 {
        let ipc = self.program.internal_pc(body, pc);
        let caller_nregs = self.program.bodies[body as usize].nregs as usize;
        let (Op::CallR { args: site, .. } | Op::CallNative { site }) = self.program.plain_op(ipc as usize) else {
            self.pending.get_or_insert_with(|| {
                fault(&self.program, body, ipc, OpError::type_error("call_dynamic on a non-call"))
            });
            return CALL_UNWIND;
        };
        let program = self.program.clone();
        let cs = &program.call_sites[site as usize];
        let callee = match (cs.target, cs.native) {
            (Some(t), _) => Ok(Callee::Body(t)),
            (_, Some(n)) => Ok(Callee::Native(n)),
            _ => {
                let v = self.stack[base + cs.func as usize].clone();
                match &v {
                    Value::Str(s) if self.call_cache[site as usize].holds(s) => Ok(self.call_cache[site as usize].callee),
                    v => resolve_slow(&program, v, &mut self.call_cache[site as usize]),
                }
            }
        };
        let callee = match callee {
            Ok(Callee::Body(c)) => c,
            Ok(Callee::Native(n)) => {
                let Some(v) = self.run_native(&program, (body, ipc), cs, n, base) else { return CALL_UNWIND };
                if self.natives.procs.blocked.is_some() {
                    return CALL_BLOCKED;
                }
                self.stack[base + cs.dst as usize].set(v);
                return CALL_DONE;
            }
            Err(e) => {
                self.pending.get_or_insert_with(|| fault(&program, body, ipc, e));
                return CALL_UNWIND;
            }
        };
        if self.native.depth >= self.native.max_depth {
            let e = OpError::new(
                ErrorKind::CallDepth,
                format!("call depth limit of {} frames reached", self.limits.max_depth),
            );
            self.pending.get_or_insert_with(|| fault(&program, body, ipc, e));
            return CALL_UNWIND;
        }
        let new_base = base + caller_nregs;
        self.reserve(new_base + WINDOW);
        let cb = &program.bodies[callee as usize];
        for (i, &r) in cs.args.iter().enumerate().take(cb.nregs as usize) {
            let v = self.stack[base + r as usize].clone();
            self.stack[new_base + i].set(v);
        }
        self.native.depth += 1;
        let r = self.run_nested_call(callee, new_base);
        self.native.depth -= 1;
        self.native.stack = self.stack.as_mut_ptr();
        self.native.stack_len = self.stack.len() as u64;
        if r.tag == RET_SUSPEND {
            return CALL_SUSPENDED;
        }
        match self.native_result(r) {
            None => CALL_UNWIND,
            Some(None) => CALL_DONE,
            Some(Some(v)) => {
                if self.feedback.profiling {
                    self.feedback.site_types[ipc as usize].out |= 1 << (v.tag() as u16);
                }
                self.stack[base + cs.dst as usize].set(v);
                CALL_DONE
            }
        }
    }

    /// `mdvm_call_native`: runs native `native` for the `CALL_R` at bytecode index `pc` of
    /// `body` (its callee known to be that native: resolved at load time, or a name constant
    /// the compiled code knows the callee register holds) on the window at `base`, whose
    /// argument registers are in their slots, and returns its result as an owned value; on an
    /// error, records it and returns `RET_UNWIND`.
    pub(crate) fn native_call_at(&mut self, body: u32, pc: u32, base: usize, native: u32) -> NativeRet {
        let ipc = self.program.internal_pc(body, pc);
        let program = self.program.clone();
        if self.over_memory_limit() {
            let e = crate::memory::exceeded(self.limits.max_memory.unwrap_or(0));
            self.pending.get_or_insert_with(|| fault(&program, body, ipc, e));
            return NativeRet { tag: RET_UNWIND, payload: 0 };
        }
        let (Op::CallNative { site } | Op::CallR { args: site, .. }) = program.plain_op(ipc as usize) else {
            self.pending.get_or_insert_with(|| fault(&program, body, ipc, OpError::type_error("call_native on a non-native call")));
            return NativeRet { tag: RET_UNWIND, payload: 0 };
        };
        let v = self.run_native(&program, (body, ipc), &program.call_sites[site as usize], native, base);
        if v.is_some() && self.natives.procs.blocked.is_some() {
            return NativeRet { tag: RET_BLOCK, payload: 0 };
        }
        self.to_native(v.map(Some))
    }

    /// Runs native `n` for call site `cs`, at internal index `ipc` of `body`, on the window at
    /// `base` (for native code); an error is recorded and gives `None` (the run unwinds).
    fn run_native(&mut self, program: &Program, (body, ipc): (u32, u32), cs: &CallSite, n: u32, base: usize) -> Option<Value> {
        let out = self.out.expect("natives run inside Machine::run");
        let site_types = if self.feedback.profiling { Some(&mut self.feedback.site_types[ipc as usize]) } else { None };
        let regs = window(&mut self.stack, base);
        // A call ends its fuel segment, so the context's fuel is exact here ([`crate::work`]),
        // and a bounded slice's reserve may cover the work ([`crate::process`]).
        let meter = crate::work::begin(self.native.fuel.saturating_add(self.native.reserve));
        let r = invoke_native(program, n, cs, regs, out, &mut self.natives, site_types);
        let units = meter.end();
        crate::process::spend(&mut self.native.fuel, &mut self.native.reserve, units);
        if self.natives.procs.bound_slice {
            self.natives.procs.rebound(&mut self.native);
        }
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.pending.get_or_insert_with(|| fault(program, body, ipc, e));
                None
            }
        }
    }

    /// Serves the interrupt requests pending at bytecode index `pc` of `body` (a side exit of
    /// compiled code at a back-edge or a function entry, [`DeoptReason::Interrupt`]). Returns
    /// false, with the error recorded, when the run must stop.
    fn safepoint_at(&mut self, body: u32, pc: u32) -> bool {
        let ipc = self.program.internal_pc(body, pc);
        self.serve_safepoint(body, ipc)
    }

    /// Serves the interrupt requests pending at internal index `ipc` of `body` (both tiers'
    /// safepoints come here). Returns false, with the error recorded, when the run must stop.
    fn serve_safepoint(&mut self, body: u32, ipc: u32) -> bool {
        let out = self.out.expect("safepoints run inside Machine::run");
        // SAFETY: `out` points to the writer `Machine::run` was given, alive for the whole run;
        // no other reference to it is live here (the interpreter loop has been left).
        match safepoint(&self.interrupts, &self.limits, unsafe { &mut *out }, &mut self.poll) {
            Ok(()) => true,
            Err(e) => {
                self.pending.get_or_insert_with(|| fault(&self.program, body, ipc, e));
                false
            }
        }
    }

    /// True once the heap passed the run's memory limit ([`crate::memory`]): helpers that
    /// compiled code calls to allocate refuse then, so that compiled loops, which test the
    /// interrupt word only when safepoints are enabled, stop allocating.
    pub(crate) fn over_memory_limit(&self) -> bool {
        self.interrupts.word().load(std::sync::atomic::Ordering::Relaxed) & crate::interrupt::MEMORY != 0
    }

    /// `mdvm_load_const`.
    pub(crate) fn load_const(&mut self, slot: usize, k: usize) {
        let v = self.program.constants[k].clone();
        self.stack[slot].set(v);
    }

    /// `mdvm_halt`.
    pub(crate) fn note_halt(&mut self) {
        self.halted = true;
    }

    /// `mdvm_exec`: executes the non-control instruction at bytecode index `pc` of `body` on
    /// the window at `base`. Returns true if it raised an error (which is not recorded: the
    /// interpreter raises it when it executes the instruction after the side exit).
    pub(crate) fn exec_one(&mut self, body: u32, pc: u32, base: usize) -> bool {
        // Past the memory limit, compiled code allocates no more: it side-exits here and the
        // interpreter's next safepoint raises the error.
        if self.over_memory_limit() {
            return true;
        }
        let ipc = self.program.internal_pc(body, pc) as usize;
        let op = self.program.plain_op(ipc);
        let out = self.out.expect("exec_one runs inside Machine::run");
        let regs = window(&mut self.stack, base);
        let (program, globals) = (&self.program, &mut self.globals);
        charged_to_context(&mut self.native.fuel, || exec_simple(program, op, regs, globals, out, None))
    }

    /// `mdvm_dict_set`: `DICT_SET_R` (`dict[key] = val`, registers of the window at `base`),
    /// as `mdvm_exec` would execute it. Returns true if it raised an error (not recorded, as
    /// for [`Machine::exec_one`]).
    pub(crate) fn dict_set_from_native(&mut self, base: usize, dict: u8, key: u8, val: u8) -> bool {
        if self.over_memory_limit() {
            return true;
        }
        let regs = window(&mut self.stack, base);
        charged_to_context(&mut self.native.fuel, || {
            let v = regs[val as usize].clone();
            let k = regs[key as usize].clone();
            ops::dict_set(&mut regs[dict as usize], &k, v)
        })
    }

    /// `mdvm_concat`: `dst = a + b` (registers of the window at `base`) of `ADD_R` on two
    /// strings (`display` false) or of `CONCAT_STR_R` (`display` true: the display texts of any
    /// two values), as `mdvm_exec` would execute it, appending in place when `dst` is `a` and
    /// holds its string alone. Returns true if it raised an error (nothing written; not
    /// recorded, as for [`Machine::exec_one`]).
    pub(crate) fn concat_from_native(&mut self, base: usize, dst: u8, a: u8, b: u8, display: bool) -> bool {
        if self.over_memory_limit() {
            return true;
        }
        let regs = window(&mut self.stack, base);
        charged_to_context(&mut self.native.fuel, || {
            let v = if display {
                if let Some(appended) = append_in_place(regs, dst, a, b, true) {
                    return appended;
                }
                ops::concat_display(&regs[a as usize], &regs[b as usize])?
            } else {
                add_slow(regs, dst, a, b)?
            };
            regs[dst as usize].set(v);
            Ok(())
        })
    }

    fn interpret<const PROFILE: bool, const METERED: bool, const DEBUG: bool>(&mut self, start: Start, stop: usize) -> Exit {
        let Machine {
            program,
            stack,
            frames,
            globals,
            call_cache,
            feedback,
            limits,
            native,
            entries,
            compile_failed,
            tier,
            policy,
            pending,
            halted,
            out,
            native_entries,
            osr_entries,
            natives,
            interrupts,
            debug,
            ..
        } = self;
        let program: &Program = program;
        let code: &[Op] = &program.code;
        let out: OutPtr = out.expect("interpret runs inside Machine::run");
        let mut fuel = native.fuel;
        let max_depth = native.max_depth;
        let interrupt_word = interrupts.word();

        // Cold frame state lives in `cur`; the loop keeps only pc, fuel and the window hot.
        let mut cur;
        let mut pc: usize;
        let mut regs;
        let mut returned: Option<Option<Value>> = None;
        match start {
            Start::Enter { body, base } => {
                let b = &program.bodies[body as usize];
                cur = Frame { body, ret_pc: 0, base, nregs: b.nregs, dst: 0, rec_from: NO_JUMP };
                pc = b.code_start as usize;
            }
            Start::Resume { body, base, pc: p, rec_from } => {
                let b = &program.bodies[body as usize];
                cur = Frame { body, ret_pc: 0, base, nregs: b.nregs, dst: 0, rec_from };
                pc = p as usize;
            }
            Start::FrameReturned(v) => {
                // Placeholder frame: replaced by the caller popped below.
                cur = Frame { body: 0, ret_pc: 0, base: 0, nregs: 0, dst: 0, rec_from: NO_JUMP };
                pc = 0;
                returned = Some(v);
            }
        }
        if stack.len() < cur.base as usize + WINDOW {
            grow(stack, cur.base as usize + WINDOW);
        }
        regs = window(stack, cur.base as usize);

        macro_rules! leave {
            ($exit:expr) => {{
                native.fuel = fuel;
                return $exit;
            }};
        }
        macro_rules! bail {
            ($e:expr) => {{
                let e = $e;
                if pending.is_none() {
                    *pending = Some(fault(program, cur.body, pc as u32, e));
                }
                leave!(Exit::Unwind)
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
        // Runs a slow path whose work may charge fuel beyond the instruction's own unit
        // ([`crate::work`]), and subtracts that charge.
        macro_rules! charged {
            ($e:expr) => {{
                if METERED {
                    // A bounded slice's work may take the rest from the run's reserve
                    // ([`crate::process`]).
                    let meter = crate::work::begin(fuel.saturating_add(native.reserve));
                    let r = $e;
                    crate::process::spend(&mut fuel, &mut native.reserve, meter.end());
                    r
                } else {
                    $e
                }
            }};
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
        // `$slow` is the generic path (what is not two ints or two floats).
        macro_rules! arith {
            ($dst:expr, $a:expr, $b:expr, $checked:ident, $fop:tt, $slow:expr) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => match x.$checked(*y) {
                        Some(v) => Value::Int(v),
                        None => tryop!(binary_slow(code[pc], &r!($a), &r!($b))),
                    },
                    (Value::Float(x), Value::Float(y)) => Value::Float(*x $fop *y),
                    _ => tryop!(charged!($slow)),
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
                    (x, y) => tryop!(charged!(compare_slow(code[pc], x, y))),
                };
                r!($dst).set(Value::Bool(v));
            }};
        }
        // A safepoint (a backward jump, a call): with an interrupt request pending, leaves
        // the loop to serve it (`drive` resumes the current frame at `$pc` with the phi record
        // `$from`, or ends the run), so each site costs only a load and a branch.
        macro_rules! safepoint {
            ($pc:expr, $from:expr) => {
                if interrupt_word.load(std::sync::atomic::Ordering::Relaxed) != 0 {
                    leave!(Exit::Safepoint { body: cur.body, base: cur.base, pc: $pc as u32, rec_from: $from });
                }
            };
        }
        macro_rules! jump {
            ($target:expr) => {{
                let t = $target as usize;
                cur.rec_from = pc as u32;
                if t <= pc {
                    // After the jump: resume at its target, as if it had just been taken.
                    safepoint!(t, pc as u32);
                }
                if PROFILE && t <= pc {
                    let n = feedback.backedges[t].saturating_add(1);
                    feedback.backedges[t] = n;
                    let stepping = DEBUG && debug.as_ref().is_some_and(|d| d.mode.0 != Resume::Continue);
                    if n >= policy.backedge_threshold && !compile_failed[cur.body as usize] && !stepping {
                        if let Some(tier) = tier.as_mut() {
                            if n == policy.backedge_threshold {
                                // Once per attempt (later crossings re-enter the cached entry).
                                CompileOrder { tier: tier.as_mut(), program, feedback, policy, entries, compile_failed }
                                    .warm_callees(cur.body, 0);
                            }
                            let tags: Vec<crate::value::Tag> = regs[..cur.nregs as usize].iter().map(|v| v.tag()).collect();
                            match tier.compile_osr(program, feedback, cur.body, t as u32, pc as u32, &tags) {
                                Some(entry) => {
                                    *osr_entries += 1;
                                    tracing::debug!(
                                        target: "mdvm::tiers",
                                        function = program.body_name(cur.body),
                                        header = program.bc_index[t],
                                        "OSR entry"
                                    );
                                    leave!(Exit::Native { entry, base: cur.base });
                                }
                                None => feedback.backedges[t] = 0,
                            }
                        }
                    }
                }
                pc = t;
                continue;
            }};
        }
        // The `MOVE_R $to, $src` that stays at the next index after an arithmetic op fused with
        // it (`AddMove`, ...): counted as its own instruction, which is where fuel runs out if
        // it does.
        macro_rules! move_after {
            ($src:expr, $to:expr) => {{
                second_half!();
                move_value!($to, $src);
            }};
        }
        // Moves to the second instruction of a fused pair (the next index), charging its fuel:
        // with none left, the loop stops there, as it would have without the fusion.
        macro_rules! second_half {
            () => {
                pc += 1;
                if METERED {
                    if fuel == 0 {
                        continue;
                    }
                    fuel -= 1;
                }
            };
        }
        // `MOVE_R $dst, $src`.
        macro_rules! move_value {
            ($dst:expr, $src:expr) => {
                if $dst != $src && !copy_number(&mut regs[..], $dst as usize, $src as usize) {
                    let v = r!($src).clone();
                    r!($dst).set(v);
                }
            };
        }
        // `LOAD_CONST_R $dst, $k`.
        macro_rules! load_const {
            ($dst:expr, $k:expr) => {{
                let v = program.constants[$k as usize].clone();
                r!($dst).set(v);
            }};
        }
        // A fused comparison + conditional jump (the jump is the next bytecode instruction).
        macro_rules! cmp_branch {
            ($dst:expr, $a:expr, $b:expr, $target:expr, $op:tt, $when:expr) => {{
                profile2!($a, $b);
                let v = match (&r!($a), &r!($b)) {
                    (Value::Int(x), Value::Int(y)) => *x $op *y,
                    (x, y) => tryop!(charged!(branch_compare_slow(code[pc], x, y))),
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
                        let c = match &r!(cs.func) {
                            Value::Str(s) if cache.holds(s) => cache.callee,
                            v => tryop!(resolve_slow(program, v, cache)),
                        };
                        match c {
                            Callee::Body(b) => b,
                            Callee::Native(n) => {
                                native_call!(cs, n);
                                pc += 1;
                                continue;
                            }
                        }
                    }
                };
                if native.depth >= max_depth {
                    bail!(OpError::new(
                        ErrorKind::CallDepth,
                        format!("call depth limit of {} frames reached", limits.max_depth)
                    ));
                }
                native.depth += 1;
                let count = feedback.call_counts[callee as usize] + 1;
                feedback.call_counts[callee as usize] = count;
                let cb = &program.bodies[callee as usize];
                let mut entry: Option<NativeEntry> = None;
                if PROFILE {
                    let et = &mut feedback.entry_types[callee as usize];
                    for (t, &r) in et.iter_mut().zip(cs.args.iter()) {
                        *t |= 1 << (regs[r as usize].tag() as u16);
                    }
                }
                if PROFILE {
                    let c = callee as usize;
                    if entries[c].is_null()
                        && !compile_failed[c]
                        && (policy.eager || count >= policy.call_threshold)
                    {
                        if let Some(t) = tier.as_mut() {
                            CompileOrder { tier: t.as_mut(), program, feedback, policy, entries, compile_failed }
                                .callees_first(callee, 0);
                        }
                    }
                    let p = entries[c];
                    let stepping = DEBUG && debug.as_ref().is_some_and(|d| d.stepping());
                    if !p.is_null() && !stepping {
                        // SAFETY: non-null entries hold `NativeEntry` values from the tier.
                        entry = Some(unsafe { std::mem::transmute::<*const u8, NativeEntry>(p) });
                    }
                }
                let base = cur.base as usize;
                let new_base = base + cur.nregs as usize;
                if stack.len() < new_base + WINDOW {
                    grow(stack, new_base + WINDOW);
                }
                for (i, &r) in cs.args.iter().enumerate().take(cb.nregs as usize) {
                    // Native code expects `Empty` in every slot it does not read first.
                    if entry.is_none() || cb.entry_live.contains(i as u8) {
                        let (to, from) = (new_base + i, base + r as usize);
                        if !copy_number(stack, to, from) {
                            let v = stack[from].clone();
                            stack[to].set(v);
                        }
                    }
                }
                cur.ret_pc = pc as u32 + 1;
                cur.dst = cs.dst;
                frames.push(cur);
                if let Some(entry) = entry {
                    *native_entries += 1;
                    leave!(Exit::Native { entry, base: new_base as u32 });
                }
                cur = Frame {
                    body: callee,
                    ret_pc: 0,
                    base: new_base as u32,
                    nregs: cb.nregs,
                    dst: 0,
                    rec_from: NO_JUMP,
                };
                // At the callee's entry, its frame counted and pushed.
                safepoint!(cb.code_start, NO_JUMP);
                pc = cb.code_start as usize;
                regs = window(stack, new_base);
                continue;
            }};
        }
        // After the dead callee-name load of a fused pair (this index), moves to its call (the
        // next index), charging its fuel.
        macro_rules! to_fused_call {
            () => {
                pc += 1;
                if METERED {
                    if fuel == 0 {
                        continue;
                    }
                    fuel -= 1;
                }
            };
        }
        // Calls native `$n` for call site `$cs` from the current pc.
        macro_rules! native_call {
            ($cs:expr, $n:expr) => {{
                let cs: &CallSite = $cs;
                let site_types = if PROFILE { Some(&mut feedback.site_types[pc]) } else { None };
                let v = tryop!(charged!(invoke_native(program, $n, cs, regs, out, natives, site_types)));
                if natives.procs.signalled() {
                    native.fuel = fuel;
                    let blocked = natives.procs.after_native(native, METERED);
                    fuel = native.fuel;
                    if blocked {
                        leave!(Exit::Suspend { body: cur.body, base: cur.base, pc: pc as u32, rec_from: cur.rec_from });
                    }
                }
                r!(cs.dst).set(v);
            }};
        }
        // The native of a site resolved at load time ([`Op::CallNative`]).
        macro_rules! site_native {
            ($site:expr) => {{
                let cs = &program.call_sites[$site as usize];
                native_call!(cs, cs.native.expect("CallNative sites name a native"))
            }};
        }
        // The current frame returned `$v: Option<Value>` (its window already cleared): continue
        // the caller (the top of `frames`), or leave if the frame was the level's bottom.
        // Continues the caller (the top of `frames`, above the level's stop) after its call;
        // evaluates to that frame.
        macro_rules! pop_frame {
            () => {{
                let f = frames.pop().expect("frames above the level's stop");
                native.depth -= 1;
                cur = f;
                pc = f.ret_pc as usize;
                regs = window(stack, f.base as usize);
                f
            }};
        }
        macro_rules! frame_returned {
            ($v:expr) => {{
                let v: Option<Value> = $v;
                if frames.len() == stop {
                    leave!(Exit::Returned(v));
                }
                let f = pop_frame!();
                if let Some(v) = v {
                    if PROFILE {
                        feedback.site_types[pc - 1].out |= 1 << (v.tag() as u16);
                    }
                    r!(f.dst).set(v);
                }
            }};
        }
        macro_rules! ret {
            ($v:expr) => {{
                let v: Option<Value> = $v;
                clear_window(&mut regs[..cur.nregs as usize]);
                frame_returned!(v);
                continue;
            }};
        }

        if let Some(v) = returned {
            frame_returned!(v);
        }
        loop {
            // A debugger sees each instruction of a fused pair by itself.
            let op = if DEBUG { program.plain_op(pc) } else { code[pc] };
            // Out of fuel (or at the end of a slice) before the debugger's test: a stop is
            // for an instruction that runs next, and its skip is not used up by one that
            // does not run.
            if METERED && fuel == 0 && !matches!(op, Op::FallOffEnd) {
                leave!(Exit::OutOfFuel { body: cur.body, base: cur.base, pc: pc as u32, rec_from: cur.rec_from });
            }
            if DEBUG {
                if let Some(d) = debug.as_deref_mut() {
                    let stop = if matches!(op, Op::FallOffEnd) {
                        None
                    } else {
                        d.should_stop(pc, matches!(op, Op::Breakpoint {}), native.depth, cur.base, &regs[..])
                    };
                    if let Some(t) = d.tracer.as_ref().filter(|_| stop.is_none()) {
                        t.before(program, pc, op, cur.body, &regs[..], native.depth);
                    }
                    if let Some(reason) = stop {
                        leave!(Exit::Debug {
                            body: cur.body,
                            base: cur.base,
                            pc: pc as u32,
                            rec_from: cur.rec_from,
                            reason,
                        });
                    }
                }
            }
            if METERED {
                fuel = fuel.wrapping_sub(1);
            }
            match op {
                Op::LoadConstR { dst, k } => load_const!(dst, k),
                Op::LoadInt { dst, value } => write_number(&mut regs[..], dst as usize, (crate::value::Tag::Int as u64, value as i64 as u64)),
                Op::MoveR { dst, src } => move_value!(dst, src),
                Op::AddR { dst, a, b } => arith!(dst, a, b, checked_add, +, add_slow(regs, dst, a, b)),
                Op::SubR { dst, a, b } => arith!(dst, a, b, checked_sub, -, binary_slow(code[pc], &r!(a), &r!(b))),
                Op::MulR { dst, a, b } => arith!(dst, a, b, checked_mul, *, binary_slow(code[pc], &r!(a), &r!(b))),
                Op::AddMove { dst, a, b, to } => {
                    arith!(dst, a, b, checked_add, +, add_slow(regs, dst, a, b));
                    move_after!(dst, to);
                }
                Op::SubMove { dst, a, b, to } => {
                    arith!(dst, a, b, checked_sub, -, binary_slow(code[pc], &r!(a), &r!(b)));
                    move_after!(dst, to);
                }
                Op::MulMove { dst, a, b, to } => {
                    arith!(dst, a, b, checked_mul, *, binary_slow(code[pc], &r!(a), &r!(b)));
                    move_after!(dst, to);
                }
                Op::AddJump { dst, a, b, target } => {
                    arith!(dst, a, b, checked_add, +, add_slow(regs, dst, a, b));
                    second_half!();
                    jump!(target)
                }
                Op::MoveJump { dst, src, target } => {
                    move_value!(dst, src);
                    second_half!();
                    jump!(target)
                }
                Op::MoveMove { dst, src, dst2, src2 } => {
                    move_value!(dst, src);
                    move_after!(src2, dst2);
                }
                Op::MoveLoadConst { dst, src, kdst, k } => {
                    move_value!(dst, src);
                    second_half!();
                    load_const!(kdst, k);
                }
                Op::LoadConstMove { dst, to, k } => {
                    load_const!(dst, k);
                    move_after!(dst, to);
                }
                Op::DivR { dst, a, b } | Op::ModR { dst, a, b } => {
                    profile2!(a, b);
                    let v = tryop!(charged!(binary_slow(op, &r!(a), &r!(b))));
                    r!(dst).set(v);
                }
                Op::NotR { dst, src } => {
                    profile1!(src);
                    let v = Value::Bool(!truthy(&r!(src)));
                    r!(dst).set(v);
                }
                Op::AndR { dst, a, b } => {
                    profile2!(a, b);
                    let v = Value::Bool(truthy(&r!(a)) && truthy(&r!(b)));
                    r!(dst).set(v);
                }
                Op::OrR { dst, a, b } => {
                    profile2!(a, b);
                    let v = Value::Bool(truthy(&r!(a)) || truthy(&r!(b)));
                    r!(dst).set(v);
                }
                Op::EqR { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => x == y,
                        (x, y) => tryop!(charged!(x.try_equals(y))),
                    };
                    r!(dst).set(Value::Bool(v));
                }
                Op::NeqR { dst, a, b } => {
                    profile2!(a, b);
                    let v = match (&r!(a), &r!(b)) {
                        (Value::Int(x), Value::Int(y)) => x != y,
                        (x, y) => !tryop!(charged!(x.try_equals(y))),
                    };
                    r!(dst).set(Value::Bool(v));
                }
                Op::LtR { dst, a, b } => compare!(dst, a, b, <),
                Op::GtR { dst, a, b } => compare!(dst, a, b, >),
                Op::LteR { dst, a, b } => compare!(dst, a, b, <=),
                Op::GteR { dst, a, b } => compare!(dst, a, b, >=),
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
                Op::JumpR { target } => jump!(target),
                Op::JumpIfR { cond, target } => {
                    profile1!(cond);
                    if truthy(&r!(cond)) {
                        jump!(target)
                    }
                }
                Op::JumpIfNotR { cond, target } => {
                    profile1!(cond);
                    if !truthy(&r!(cond)) {
                        jump!(target)
                    }
                }
                Op::CallR { args: site, .. } => do_call!(site),
                Op::LoadCall { site } => {
                    to_fused_call!();
                    do_call!(site)
                }
                Op::CallNative { site } => site_native!(site),
                Op::LoadCallNative { site } => {
                    to_fused_call!();
                    site_native!(site)
                }
                Op::ReturnR { value: Some(src) } => {
                    // An int or float returned to an interpreted caller goes as its two words
                    // (see `number_words`).
                    if frames.len() > stop {
                        if let Some(w) = number_words(&regs[..], src as usize) {
                            clear_window(&mut regs[..cur.nregs as usize]);
                            let f = pop_frame!();
                            if PROFILE {
                                feedback.site_types[pc - 1].out |= 1 << (w.0 as u16);
                            }
                            write_number(&mut regs[..], f.dst as usize, w);
                            continue;
                        }
                    }
                    let v = std::mem::take(&mut r!(src));
                    ret!(Some(v))
                }
                Op::ReturnR { value: None } => ret!(None),
                Op::FallOffEnd => {
                    if METERED {
                        fuel = fuel.wrapping_add(1);
                    }
                    ret!(None)
                }
                Op::PhiR { dst, sources: id } => {
                    let ph = &program.phis[id as usize];
                    let pred = if jumped_to(program, cur.rec_from) == ph.head { program.bc_index[cur.rec_from as usize] } else { ph.fall_pred };
                    if let Some(&(src, _)) = ph.sources.iter().find(|s| s.1 as u32 == pred) {
                        let v = r!(src).clone();
                        r!(dst).set(v);
                    }
                }
                Op::ArrayGetR { dst, arr, idx } => {
                    profile2!(arr, idx);
                    let v = match (&r!(arr), &r!(idx)) {
                        (Value::Array(a), Value::Int(i)) if (*i as u64) < a.len() as u64 => a.get(*i as usize).expect("index checked"),
                        (a, i) => tryop!(ops::array_get(a, i)),
                    };
                    if PROFILE {
                        let site = &mut feedback.site_types[pc];
                        site.out |= 1 << (v.tag() as u16);
                        if let Value::Array(a) = &r!(arr) {
                            if a.kind() == crate::array::KIND_VALUES {
                                site.out |= crate::feedback::VALUES_ARRAY;
                            }
                        }
                    }
                    r!(dst).set(v);
                }
                Op::Halt {} => {
                    *halted = true;
                    leave!(Exit::Unwind)
                }
                Op::DefineR { .. } | Op::ScopeEnterR { .. } | Op::ScopeExitR { .. } | Op::Breakpoint {} | Op::Nop {} => {}
                _ => {
                    let site = if PROFILE { Some(&mut feedback.site_types[pc]) } else { None };
                    tryop!(charged!(exec_cold(program, op, regs, globals, out, site)));
                }
            }
            pc += 1;
        }
    }
}
/// Resets a returning frame's window to empty; plain values need only a store.
#[inline(always)]
/// The registers instruction `pc` (a bytecode index) reads, with the types of their values in
/// the window `regs`: `r1 int, r2 float` (for the `tiers` trace of a deopt).
fn operand_types(program: &Program, pc: u32, regs: &[Value]) -> String {
    let mut v = Vec::new();
    if let Some(ins) = program.module.code.get(pc as usize) {
        ins.for_each_use(|r| {
            let t = regs.get(r as usize).map_or("?", |x| x.type_name());
            v.push(format!("r{r} {t}"));
        });
    }
    v.join(", ")
}

/// The frames of a stopped run for the debugger, outermost first: the interpreter's `frames`
/// of each level in `levels`, the compiled frames between levels (from the frame depths), and
/// the stopped frame `(body, base, internal pc)` at frame depth `depth`.
fn frame_views(program: &Program, frames: &[Frame], levels: &[(usize, u64)], (body, base, pc): (u32, u32, u32), depth: u64) -> Vec<FrameView> {
    let mut v = Vec::new();
    // The depth the next interpreted frame would have if no compiled frame came between.
    let mut next = 1u64;
    for (i, &(stop, bottom)) in levels.iter().enumerate() {
        if bottom > next {
            v.push(FrameView::Compiled { count: bottom - next });
        }
        let end = levels.get(i + 1).map_or(frames.len(), |l| l.0);
        for f in &frames[stop.min(end)..end] {
            let at = program.bc_index[f.ret_pc.saturating_sub(1) as usize];
            v.push(FrameView::Interpreted { body: f.body, pc: at, base: f.base, nregs: f.nregs });
        }
        next = bottom.max(next) + (end - stop.min(end)) as u64;
    }
    if depth > next {
        v.push(FrameView::Compiled { count: depth - next });
    }
    let nregs = program.bodies[body as usize].nregs;
    v.push(FrameView::Interpreted { body, pc: program.bc_index[pc as usize], base, nregs });
    v
}

/// The two words of `values[src]` when it holds an int or a float (tags 2 and 3), the payload
/// read by itself.
///
/// Why not `clone`: a register was usually written just before as two 8-byte stores (tag,
/// payload), and the compiler copies a `Value` with one 16-byte load, which cannot be served
/// from those stores (a store-forwarding stall of about a dozen cycles: half the time of a loop
/// of additions and moves). The payload is read volatile so that the two reads are not merged
/// into that load.
#[inline(always)]
fn number_words(values: &[Value], src: usize) -> Option<(u64, u64)> {
    const _: () = assert!(std::mem::size_of::<Value>() == 16);
    let v = values.get(src)?;
    let words = v as *const Value as *const u64;
    // SAFETY: `Value` is `repr(C, u64)`: the tag word at offset 0 is always initialized, and
    // an int's or a float's payload word at offset 8 is initialized; only those are read.
    unsafe {
        let tag = std::ptr::read(words);
        if !(2..=3).contains(&tag) {
            return None;
        }
        Some((tag, std::ptr::read_volatile(words.add(1))))
    }
}

/// Writes the int or float `(tag, payload)` ([`number_words`]) to `values[dst]` as two 8-byte
/// stores when it holds a plain value (nothing to release); otherwise through `set`.
#[inline(always)]
fn write_number(values: &mut [Value], dst: usize, (tag, payload): (u64, u64)) {
    let d = &mut values[dst];
    if d.is_heap() {
        // SAFETY: `(tag, payload)` are the words of an int or a float (`number_words`).
        d.set(unsafe { Value::from_raw_parts(tag, payload) });
        return;
    }
    let words = d as *mut Value as *mut u64;
    // SAFETY: the destination holds no reference, so overwriting its two words leaks nothing,
    // and an int or float written as its two words is a valid value.
    unsafe {
        std::ptr::write(words, tag);
        std::ptr::write(words.add(1), payload);
    }
}

/// Copies `values[src]` to `values[dst]` when it is an int or a float, as two words
/// ([`number_words`]); returns false, copying nothing, otherwise.
#[inline(always)]
fn copy_number(values: &mut [Value], dst: usize, src: usize) -> bool {
    match number_words(values, src) {
        Some(w) if dst < values.len() => {
            write_number(values, dst, w);
            true
        }
        _ => false,
    }
}

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
        Op::AddR { .. } | Op::AddMove { .. } | Op::AddJump { .. } => ops::add(a, b),
        Op::SubR { .. } | Op::SubMove { .. } => ops::sub(a, b),
        Op::MulR { .. } | Op::MulMove { .. } => ops::mul(a, b),
        Op::DivR { .. } => ops::div(a, b),
        Op::ModR { .. } => ops::rem(a, b),
        _ => unreachable!("binary_slow called with {op:?}"),
    }
}

/// `dst = a + b` where `dst` is `a`, holding a string no other value shares: appends `b` in
/// place ([`ops::append_display`]: the checks, charges and errors of the copy) and returns its
/// outcome; `None` when that does not apply. `b` must be a string too unless `any_tail`
/// (`CONCAT_STR_R` appends any value's display text; `ADD_R` adds only two strings).
fn append_in_place(regs: &mut [Value; WINDOW], dst: u8, a: u8, b: u8, any_tail: bool) -> Option<Result<(), OpError>> {
    if dst != a || a == b {
        return None;
    }
    let tail = match &regs[b as usize] {
        t @ Value::Str(_) => t.clone(),
        t if any_tail => t.clone(),
        _ => return None,
    };
    let Value::Str(s) = &mut regs[a as usize] else { return None };
    Some(ops::append_display(Rc::get_mut(s)?, &tail))
}

/// The generic path of `ADD_R` (what is not two ints or two floats): `s = s + t` of two
/// strings appends in place when it can ([`append_in_place`]; the result is taken out of the
/// register to be set back), else [`ops::add`].
#[inline(never)]
fn add_slow(regs: &mut [Value; WINDOW], dst: u8, a: u8, b: u8) -> Result<Value, OpError> {
    match append_in_place(regs, dst, a, b, false) {
        Some(appended) => appended.map(|()| std::mem::take(&mut regs[a as usize])),
        None => ops::add(&regs[a as usize], &regs[b as usize]),
    }
}

/// The generic path of the ordering comparisons (`op` is one of them).
#[inline(never)]
fn compare_slow(op: Op, a: &Value, b: &Value) -> Result<bool, OpError> {
    let c = match op {
        // A fused pair's comparison runs alone under a debugger.
        Op::LtR { .. } | Op::BrLt { .. } | Op::BrLtNot { .. } => Cmp::Lt,
        Op::GtR { .. } | Op::BrGt { .. } | Op::BrGtNot { .. } => Cmp::Gt,
        Op::LteR { .. } | Op::BrLe { .. } | Op::BrLeNot { .. } => Cmp::Le,
        Op::GteR { .. } | Op::BrGe { .. } | Op::BrGeNot { .. } => Cmp::Ge,
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
        Op::BrEq { .. } | Op::BrEqNot { .. } => a.try_equals(b),
        Op::BrNe { .. } | Op::BrNeNot { .. } => a.try_equals(b).map(|e| !e),
        _ => unreachable!("branch_compare_slow called with {op:?}"),
    }
}

/// Calls native `native` for call site `cs` on the window `regs` (the protocol in
/// [`crate::natives`]) and returns its result, which the caller writes to the destination:
/// arguments are the argument registers' values (reference-count bumps); when the destination
/// is also an argument it gives up its reference first, so the native may change that
/// argument in place. Records the arguments' tags (first two) and the result's in `site`.
///
/// Errors: the native's, its message prefixed with the native's name.
#[inline(never)]
fn invoke_native(
    program: &Program,
    native: u32,
    cs: &CallSite,
    regs: &mut [Value; WINDOW],
    out: OutPtr,
    env: &mut NativeEnv,
    mut site: Option<&mut crate::feedback::SiteTypes>,
) -> Result<Value, OpError> {
    let mut args = std::mem::take(&mut env.args);
    args.extend(cs.args.iter().map(|&r| regs[r as usize].clone()));
    if let Some(s) = site.as_deref_mut() {
        if let Some(a) = args.first() {
            s.a |= 1 << (a.tag() as u16);
        }
        if let Some(b) = args.get(1) {
            s.b |= 1 << (b.tag() as u16);
        }
    }
    if cs.args.contains(&cs.dst) {
        regs[cs.dst as usize].set(Value::Empty);
    }
    let input: &mut dyn BufRead = env.input.get_or_insert_with(|| Box::new(std::io::BufReader::new(std::io::stdin())));
    // SAFETY: `out` is the output of the run in progress (see `Machine::run`), and nothing
    // else is writing to it during this call.
    let out = unsafe { &mut *out };
    let process = Some(crate::process::ProcessCall { procs: &mut env.procs, program });
    let mut call = NativeCall { args: &mut args, out, input, started: env.started, process };
    let r = program.natives.call(native, &mut call);
    if env.procs.blocked.is_some() {
        // A blocked call did nothing: the destination it gave up goes back.
        if let Some(i) = cs.args.iter().position(|&a| a == cs.dst) {
            regs[cs.dst as usize].set(args[i].clone());
        }
    }
    args.clear();
    env.args = args;
    let v = r?;
    if let Some(s) = site {
        s.out |= 1 << (v.tag() as u16);
    }
    Ok(v)
}

/// Executes the operations that are not on the interpreter's hot path (strings, arrays, dicts,
/// globals, casts, assertions, printing). Never called with control-flow ops.
#[inline(never)]
fn exec_cold(
    program: &Program,
    op: Op,
    regs: &mut [Value; WINDOW],
    globals: &mut [Value],
    out: OutPtr,
    site: Option<&mut crate::feedback::SiteTypes>,
) -> Result<(), OpError> {
    macro_rules! r {
        ($r:expr) => {
            regs[$r as usize]
        };
    }
    match op {
        Op::LoadGlobalR { dst, name: slot } => {
            let v = globals[slot as usize].clone();
            r!(dst).set(v);
        }
        Op::StoreGlobalR { src, name: slot } => globals[slot as usize].set(r!(src).clone()),
        Op::CheckTypeR { dst, src, ty } => {
            let v = Value::Bool(ops::check_type(&r!(src), ty));
            r!(dst).set(v);
        }
        Op::CastR { dst, src, ty } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(src).tag() as u16);
            }
            let v = cast(program, &r!(src), ty)?;
            r!(dst).set(v);
        }
        Op::NegR { dst, src } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(src).tag() as u16);
            }
            let v = ops::neg(&r!(src))?;
            r!(dst).set(v);
        }
        Op::AssertR { reg, check: id } => {
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
        Op::ConcatStrR { dst, a, b } => {
            if let Some(appended) = append_in_place(regs, dst, a, b, true) {
                return appended;
            }
            let v = ops::concat_display(&r!(a), &r!(b))?;
            r!(dst).set(v);
        }
        Op::StrLenR { dst, s: src } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(src).tag() as u16);
            }
            let v = ops::str_len(&r!(src))?;
            r!(dst).set(v);
        }
        Op::NewArrayR { dst, size } => {
            let v = ops::new_array(&r!(size))?;
            r!(dst).set(v);
        }
        Op::ArraySetR { arr, idx, val } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(arr).tag() as u16);
                s.b |= 1 << (r!(idx).tag() as u16);
                s.out |= 1 << (r!(val).tag() as u16);
            }
            let v = r!(val).clone();
            let i = r!(idx).clone();
            ops::array_set(&mut r!(arr), &i, v)?;
        }
        Op::ArrayLenR { dst, arr } => {
            let v = ops::array_len(&r!(arr))?;
            r!(dst).set(v);
        }
        Op::DebugPrint { src } => {
            // SAFETY: `out` is the output of the run in progress (see `Machine::run`), and
            // nothing else is writing to it during this call.
            let out = unsafe { &mut *out };
            crate::natives::print_value(out, &r!(src))?;
        }
        Op::DictNewR { dst } => r!(dst).set(ops::dict_new()),
        Op::DictGetR { dst, dict, key } => {
            let v = ops::dict_get(&r!(dict), &r!(key))?;
            if let Some(s) = site {
                s.out |= 1 << (v.tag() as u16);
            }
            r!(dst).set(v);
        }
        Op::DictSetR { dict, key, val } => {
            let v = r!(val).clone();
            let k = r!(key).clone();
            ops::dict_set(&mut r!(dict), &k, v)?;
        }
        Op::DictRemoveR { dict, key } => {
            let k = r!(key).clone();
            ops::dict_remove(&mut r!(dict), &k)?;
        }
        Op::DictContainsR { dst, dict, key } => {
            let v = ops::dict_contains(&r!(dict), &r!(key))?;
            r!(dst).set(v);
        }
        Op::DictKeysR { dst, dict } => {
            let v = ops::dict_keys(&r!(dict))?;
            r!(dst).set(v);
        }
        Op::DictValuesR { dst, dict } => {
            let v = ops::dict_values(&r!(dict))?;
            r!(dst).set(v);
        }
        Op::DictClearR { dict } => ops::dict_clear(&mut r!(dict))?,
        Op::DictLenR { dst, dict } => {
            if let Some(s) = site {
                s.a |= 1 << (r!(dict).tag() as u16);
            }
            let v = ops::dict_len(&r!(dict))?;
            r!(dst).set(v);
        }
        // Every other op is listed, not matched by `_`, so that a new instruction without
        // semantics here does not compile. Control operations reach this only through
        // `exec_simple` (the dispatch loop executes them itself), which refuses them.
        Op::JumpR { .. }
        | Op::JumpIfR { .. }
        | Op::JumpIfNotR { .. }
        | Op::CallR { .. }
        | Op::LoadCall { .. }
        | Op::CallNative { .. }
        | Op::LoadCallNative { .. }
        | Op::ReturnR { .. }
        | Op::FallOffEnd
        | Op::PhiR { .. }
        | Op::Halt {}
        | Op::BrLt { .. }
        | Op::BrLtNot { .. }
        | Op::BrGt { .. }
        | Op::BrGtNot { .. }
        | Op::BrLe { .. }
        | Op::BrLeNot { .. }
        | Op::BrGe { .. }
        | Op::BrGeNot { .. }
        | Op::BrEq { .. }
        | Op::BrEqNot { .. }
        | Op::BrNe { .. }
        | Op::BrNeNot { .. } => return Err(OpError::type_error(format!("{op:?} is a control operation"))),
        // Fused pairs: the dispatch loop runs them; single instructions come in plain form.
        Op::AddMove { .. }
        | Op::SubMove { .. }
        | Op::MulMove { .. }
        | Op::AddJump { .. }
        | Op::MoveJump { .. }
        | Op::MoveMove { .. }
        | Op::MoveLoadConst { .. }
        | Op::LoadConstMove { .. } => {
            return Err(OpError::type_error(format!("{op:?} is a fused pair")))
        }
        // Executed by the dispatch loop and by `exec_simple`.
        Op::LoadConstR { .. }
        | Op::LoadInt { .. }
        | Op::MoveR { .. }
        | Op::AddR { .. }
        | Op::SubR { .. }
        | Op::MulR { .. }
        | Op::DivR { .. }
        | Op::ModR { .. }
        | Op::NotR { .. }
        | Op::AndR { .. }
        | Op::OrR { .. }
        | Op::EqR { .. }
        | Op::NeqR { .. }
        | Op::LtR { .. }
        | Op::GtR { .. }
        | Op::LteR { .. }
        | Op::GteR { .. }
        | Op::ArrayGetR { .. }
        | Op::DefineR { .. }
        | Op::ScopeEnterR { .. }
        | Op::ScopeExitR { .. }
        | Op::Breakpoint {}
        | Op::Nop {} => unreachable!("exec_cold called with {op:?}"),
    }
    Ok(())
}

/// Executes any non-control op with the interpreter's semantics (the generic path of native
/// code, through `mdvm_exec`). Control ops (jumps, calls, returns, phis, `HALT`) are never
/// passed here; they report a type error rather than act.
fn exec_simple(
    program: &Program,
    op: Op,
    regs: &mut [Value; WINDOW],
    globals: &mut [Value],
    out: OutPtr,
    site: Option<&mut crate::feedback::SiteTypes>,
) -> Result<(), OpError> {
    macro_rules! r {
        ($r:expr) => {
            regs[$r as usize]
        };
    }
    match op {
        Op::LoadConstR { dst, k } => {
            let v = program.constants[k as usize].clone();
            r!(dst).set(v);
        }
        Op::LoadInt { dst, value } => r!(dst).set(Value::Int(value.into())),
        Op::MoveR { dst, src } => {
            let v = r!(src).clone();
            r!(dst).set(v);
        }
        Op::AddR { dst, a, b } => {
            let v = add_slow(regs, dst, a, b)?;
            r!(dst).set(v);
        }
        Op::SubR { dst, a, b } | Op::MulR { dst, a, b } | Op::DivR { dst, a, b } | Op::ModR { dst, a, b } => {
            let v = binary_slow(op, &r!(a), &r!(b))?;
            r!(dst).set(v);
        }
        Op::LtR { dst, a, b } | Op::GtR { dst, a, b } | Op::LteR { dst, a, b } | Op::GteR { dst, a, b } => {
            let v = compare_slow(op, &r!(a), &r!(b))?;
            r!(dst).set(Value::Bool(v));
        }
        Op::EqR { dst, a, b } => {
            let v = r!(a).try_equals(&r!(b))?;
            r!(dst).set(Value::Bool(v));
        }
        Op::NeqR { dst, a, b } => {
            let v = !r!(a).try_equals(&r!(b))?;
            r!(dst).set(Value::Bool(v));
        }
        Op::NotR { dst, src } => {
            let v = Value::Bool(!truthy(&r!(src)));
            r!(dst).set(v);
        }
        Op::AndR { dst, a, b } => {
            let v = Value::Bool(truthy(&r!(a)) && truthy(&r!(b)));
            r!(dst).set(v);
        }
        Op::OrR { dst, a, b } => {
            let v = Value::Bool(truthy(&r!(a)) || truthy(&r!(b)));
            r!(dst).set(v);
        }
        Op::ArrayGetR { dst, arr, idx } => {
            let v = ops::array_get(&r!(arr), &r!(idx))?;
            r!(dst).set(v);
        }
        Op::DefineR { .. } | Op::ScopeEnterR { .. } | Op::ScopeExitR { .. } | Op::Breakpoint {} | Op::Nop {} => {}
        _ => exec_cold(program, op, regs, globals, out, site)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::TierStats;
    use std::cell::RefCell;

    /// A tier that compiles nothing and records what it was asked to compile, in order.
    struct Recorder(Rc<RefCell<Vec<String>>>);

    impl CompiledTier for Recorder {
        fn compile(&mut self, program: &Program, _: &Feedback, body: u32) -> Option<NativeEntry> {
            self.0.borrow_mut().push(program.body_name(body).to_string());
            None
        }
        fn compile_osr(&mut self, program: &Program, _: &Feedback, body: u32, _: u32, _: u32, _: &[crate::value::Tag]) -> Option<NativeEntry> {
            self.0.borrow_mut().push(format!("{} (loop)", program.body_name(body)));
            None
        }
        fn note_deopt(&mut self, _: u32, _: u32, _: DeoptReason) -> bool {
            false
        }
        fn discard(&mut self, _: u32) {}
        fn enable_safepoints(&mut self, _: usize) {}
        fn stats(&self) -> TierStats {
            TierStats::default()
        }
    }

    /// The order in which a machine with thresholds of 10 calls and 30 back-edges asks its tier
    /// to compile the bodies of `src`.
    fn compile_order(src: &str) -> Vec<String> {
        let program = Rc::new(Program::new(mdbc::assemble(src).expect("assembles")).expect("loads"));
        let mut machine = Machine::new(program, Limits::default());
        let asked = Rc::new(RefCell::new(Vec::new()));
        let policy = TierPolicy { eager: false, call_threshold: 10, backedge_threshold: 30, stress_deopt: false };
        machine.set_tier(Box::new(Recorder(asked.clone())), policy);
        machine.run(&mut std::io::sink()).expect("runs");
        asked.take()
    }

    /// A caller that grows hot is compiled after the warm bodies it calls by name (and theirs),
    /// so that its code can call their typed entries; a callee called too rarely is not
    /// compiled early, and a loop compiled by OSR has its warm callees compiled first too.
    #[test]
    fn warm_callees_are_compiled_before_their_callers() {
        let src = "
            LOAD_CONST_R r0, int 0
            LOAD_CONST_R r1, int 1
            LOAD_CONST_R r2, int 40
loop:       LT_R r3, r0, r2
            JUMP_IF_NOT_R r3, done
            LOAD_CONST_R r4, str \"f\"
            CALL_R r4, r5, r0
            ADD_R r0, r0, r1
            JUMP_R loop
done:       RETURN_R r5
.func f
            LOAD_CONST_R r1, str \"g\"
            CALL_R r1, r2, r0
            LOAD_CONST_R r3, int 9
            LT_R r4, r3, r0
            JUMP_IF_NOT_R r4, out
            LOAD_CONST_R r5, int 39
            EQ_R r4, r0, r5
            JUMP_IF_NOT_R r4, out
            LOAD_CONST_R r1, str \"rare\"
            CALL_R r1, r2, r0
out:        RETURN_R r2
.func g
            LOAD_CONST_R r1, str \"h\"
            CALL_R r1, r2, r0
            RETURN_R r2
.func h
            RETURN_R r0
.func rare
            RETURN_R r0
";
        // f reaches 10 calls with g and h at 9: h (g's callee) first, then g, then f. `rare`
        // is called once. The loop reaches 30 back-edges with everything it calls tried.
        assert_eq!(compile_order(src), ["h", "g", "f", "<main> (loop)"]);
    }
}
