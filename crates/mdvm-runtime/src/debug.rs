//! The debugger's side of the interpreter: breakpoints, stepping and watches, and what a
//! debugger sees of a stopped run.
//!
//! A [`Debugger`] attached with [`crate::Machine::set_debugger`] makes the interpreter run a
//! third form of its loop, which tests [`DebugState::should_stop`] before every instruction
//! (fused instruction pairs run one instruction at a time there). Without a debugger that form
//! is never entered, so the usual loop pays nothing. When the test says stop, the interpreter
//! leaves its loop as at a safepoint, calls [`Debugger::stop`] with a [`DebugStop`] (the
//! frames, their registers, counters), and continues the frame at the same instruction the way
//! the debugger's [`Resume`] says.
//!
//! Stepping always happens in the interpreter: while a step is in progress, and in functions
//! with breakpoints or `BREAKPOINT` instructions, calls do not enter compiled code and loops
//! are not entered by OSR. Other functions keep their compiled code, whose frames the
//! backtrace shows as compiled. Code compiled while a debugger is attached checks, after each
//! call, whether its function has been pinned since
//! ([`crate::native::DeoptReason::Debugger`]), so an activation running compiled when a
//! breakpoint is set in its function goes on in the interpreter once its call returns.
//!
//! Positions are bytecode instruction indices in the module's stream, as `mdvm dis` and
//! runtime errors number them.

use crate::program::{Op, Program};
use crate::value::Value;

/// How the run goes on after a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Run until a breakpoint, a watch or the end.
    Continue,
    /// Execute one instruction, entering calls.
    Step,
    /// Execute one instruction, running calls it makes to their end.
    Next,
    /// Run until the current frame returns to its caller.
    Finish,
    /// End the run at once with [`crate::ErrorKind::Interrupted`] ("stopped by the debugger").
    Quit,
}

/// Why the run stopped.
#[derive(Clone, Debug)]
pub enum StopReason {
    /// The instruction is one of the debugger's breakpoints.
    Breakpoint,
    /// The instruction is a `BREAKPOINT` (opcode 38).
    BreakpointInstruction,
    /// A step, next or finish completed.
    Step,
    /// The watched register changed: its register, old and new value.
    Watch { reg: u8, old: Value, new: Value },
    /// The frame of the watched register returned; the watch is deleted.
    WatchEnded { reg: u8 },
}

/// One frame of a stopped run, innermost last in [`DebugStop::frames`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameView {
    /// A frame the interpreter runs: its body (0 is the main program), the bytecode index of
    /// its current instruction (for a caller, the `CALL_R` it waits in), the stack index of
    /// its register 0 and its register count.
    Interpreted { body: u32, pc: u32, base: u32, nregs: u32 },
    /// `count` consecutive frames running compiled code (their positions are not tracked).
    Compiled { count: u64 },
}

/// What a live process is doing, as [`DebugStop::processes`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// The stopped process (its place is [`DebugStop::frames`]).
    Running,
    /// In the run queue.
    Runnable,
    /// Blocked in `receive` on an empty mailbox.
    Receiving,
    /// Blocked in `wait` for this pid.
    Waiting(u64),
}

/// One live process of a stopped run ([`crate::process`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessView {
    /// Its pid (main is 0).
    pub pid: u64,
    /// What it is doing.
    pub state: ProcessState,
    /// Messages waiting in its mailbox.
    pub mailbox: usize,
    /// Where it goes on, for a suspended process: its innermost function (0 is the main
    /// program) and the bytecode index it resumes at, `None` for one not started yet (it
    /// starts at the function's first instruction). `None` for the running one.
    pub at: Option<(u32, Option<u32>)>,
}

/// What the debugger can see and change while the run is stopped.
pub struct DebugStop<'a> {
    /// Why the run stopped.
    pub reason: StopReason,
    /// The program.
    pub program: &'a Program,
    /// The process that stopped ([`crate::process`]; 0 is main, and the only one of a program
    /// without processes).
    pub process: u64,
    /// The stopped process's frames, outermost (its first function's) first; the last is the
    /// stopped one and is always interpreted. Other processes' frames are not included.
    pub frames: Vec<FrameView>,
    /// Every live process of the run, by pid (empty for a program without processes).
    pub processes: Vec<ProcessView>,
    /// The run's value stack; [`DebugStop::register`] reads it.
    pub(crate) stack: &'a [Value],
    /// Fuel used so far in this run (instructions and work charges; counted while debugging).
    pub instructions: u64,
    /// Calls so far per body (the main program first).
    pub call_counts: &'a [u64],
    /// The debugger's settings: breakpoints and the watch.
    pub state: &'a mut DebugState,
}

impl DebugStop<'_> {
    /// The value of register `r` of frame `frame` (an index into [`DebugStop::frames`]);
    /// `None` for a compiled frame, or a register outside the frame's window.
    pub fn register(&self, frame: usize, r: u8) -> Option<&Value> {
        match self.frames.get(frame)? {
            FrameView::Interpreted { base, nregs, .. } if (r as u32) < *nregs => self.stack.get(*base as usize + r as usize),
            _ => None,
        }
    }

    /// The innermost frame's body, bytecode index, base and register count.
    pub fn current(&self) -> (u32, u32, u32, u32) {
        match self.frames.last() {
            Some(&FrameView::Interpreted { body, pc, base, nregs }) => (body, pc, base, nregs),
            _ => unreachable!("a stop is always in an interpreted frame"),
        }
    }

    /// Sets a watch on register `r` of the stopped frame: the run stops when its value (as
    /// `EQ_R` compares) changes while that frame runs, or when the frame returns (only the
    /// stopped process is watched). Replaces an earlier watch.
    pub fn watch(&mut self, r: u8) -> Result<(), String> {
        let (_, _, base, nregs) = self.current();
        if r as u32 >= nregs {
            return Err(format!("r{r} is not a register of this frame (it has {nregs})"));
        }
        let depth = self.frames.iter().map(|f| match f {
            FrameView::Interpreted { .. } => 1,
            FrameView::Compiled { count } => *count,
        });
        let depth = depth.sum::<u64>();
        let value = self.stack[base as usize + r as usize].clone();
        self.state.watch = Some(Watch { reg: r, base, depth, value, process: self.process });
        Ok(())
    }
}

/// A debugger attached to a machine.
pub trait Debugger {
    /// Called at every stop, with the run's state; returns how to go on. Output the debugger
    /// writes should not go to the program's output.
    fn stop(&mut self, stop: &mut DebugStop<'_>) -> Resume;
}

/// A watched register: the frame (by process, stack base and frame depth), the register and
/// its last value.
#[derive(Clone, Debug)]
pub struct Watch {
    pub reg: u8,
    pub base: u32,
    pub depth: u64,
    pub value: Value,
    /// The process whose frame it is (frames of other processes reuse the same stack).
    pub process: u64,
}

/// What the interpreter tests before each instruction while a debugger is attached.
pub struct DebugState {
    /// Breakpoints by internal code index ([`Program::internal_pc`]).
    breaks: Vec<bool>,
    /// Per body: its name, first internal index, first bytecode index and instruction count.
    bodies: Vec<(String, u32, u32, u32)>,
    /// Bodies that must run in the interpreter: those with breakpoints or `BREAKPOINT`
    /// instructions.
    pinned: Vec<bool>,
    /// Pinned bodies whose compiled code must still be discarded (the machine does it).
    pub(crate) newly_pinned: Vec<u32>,
    /// The step in progress (`Continue`: none), the frame depth and the process it started
    /// in. A step stops at the next instruction any process executes; a next or finish only
    /// in its own process.
    pub(crate) mode: (Resume, u64, u64),
    /// The running process (set by the scheduler at each slice).
    pub(crate) process: u64,
    /// Skip the test once in this process: the instruction the run stopped at is executed
    /// on resuming (the process's slice may end before it, and others run first).
    pub(crate) skip: Option<u64>,
    /// The watch, if any.
    pub watch: Option<Watch>,
    /// A debugger is attached: breakpoints, steps and watches stop the run.
    pub(crate) stops: bool,
    /// The `calls` and `instructions` traces, when on ([`crate::Machine::set_trace`]).
    pub(crate) tracer: Option<Tracer>,
}

impl DebugState {
    /// Settings for `program`: no breakpoints, no watch, stop at nothing but `BREAKPOINT`
    /// instructions (whose bodies are pinned to the interpreter).
    pub(crate) fn new(program: &Program) -> DebugState {
        let mut pinned = vec![false; program.bodies.len()];
        for (pc, op) in program.code.iter().enumerate() {
            if matches!(op, Op::Breakpoint {}) {
                pinned[program.body_of_pc(pc as u32) as usize] = true;
            }
        }
        DebugState {
            breaks: vec![false; program.code.len()],
            bodies: program.bodies.iter().map(|b| (b.name.to_string(), b.code_start, b.bc_start, b.code_end - b.code_start)).collect(),
            newly_pinned: (0..pinned.len() as u32).filter(|&b| pinned[b as usize]).collect(),
            pinned,
            mode: (Resume::Continue, 0, 0),
            process: 0,
            skip: None,
            watch: None,
            stops: false,
            tracer: None,
        }
    }

    /// Adds a breakpoint at bytecode index `pc` of `body`, and pins the body to the
    /// interpreter (its compiled code is discarded when the run goes on). Errors: `pc` is not
    /// an instruction of `body`.
    pub fn set_breakpoint(&mut self, body: u32, pc: u32) -> Result<(), String> {
        let ipc = self.internal(body, pc)?;
        self.breaks[ipc] = true;
        self.pin(body);
        Ok(())
    }

    /// Keeps `body` in the interpreter from now on.
    pub(crate) fn pin(&mut self, body: u32) {
        if !self.pinned[body as usize] {
            self.pinned[body as usize] = true;
            self.newly_pinned.push(body);
        }
    }

    /// Removes the breakpoint at bytecode index `pc` of `body` (its body stays pinned).
    pub fn clear_breakpoint(&mut self, body: u32, pc: u32) -> Result<(), String> {
        let ipc = self.internal(body, pc)?;
        self.breaks[ipc] = false;
        Ok(())
    }

    /// The internal index of bytecode index `pc` of `body`. Errors: `pc` is not an instruction
    /// of `body`.
    fn internal(&self, body: u32, pc: u32) -> Result<usize, String> {
        let (name, code_start, bc_start, n) = self.bodies.get(body as usize).ok_or_else(|| format!("no function {body}"))?;
        if pc < *bc_start || pc >= bc_start + n {
            return Err(format!("instruction {pc} is not in `{name}` (its instructions are {bc_start}..{})", bc_start + n));
        }
        Ok((code_start + (pc - bc_start)) as usize)
    }

    /// True when calls must stay in the interpreter (a step or next is in progress, which
    /// stops in the callee or must count its frames).
    pub(crate) fn stepping(&self) -> bool {
        matches!(self.mode.0, Resume::Step)
    }

    /// Whether to stop before executing `op` at internal index `pc`, in the frame at depth
    /// `depth` (frames counted from the main program's, 1) whose window starts at stack index
    /// `base` and holds `regs`.
    #[inline]
    pub(crate) fn should_stop(&mut self, pc: usize, is_breakpoint_op: bool, depth: u64, base: u32, regs: &[Value]) -> Option<StopReason> {
        if !self.stops {
            return None;
        }
        if self.skip == Some(self.process) {
            self.skip = None;
            return None;
        }
        if let Some(w) = self.watch.as_mut().filter(|w| w.process == self.process) {
            if depth < w.depth {
                let reg = w.reg;
                self.watch = None;
                return Some(StopReason::WatchEnded { reg });
            }
            if depth == w.depth && base == w.base {
                let now = &regs[w.reg as usize];
                if !same_value(now, &w.value) {
                    let old = std::mem::replace(&mut w.value, now.clone());
                    return Some(StopReason::Watch { reg: w.reg, old, new: now.clone() });
                }
            }
        }
        if self.breaks[pc] {
            return Some(StopReason::Breakpoint);
        }
        if is_breakpoint_op {
            return Some(StopReason::BreakpointInstruction);
        }
        let (mode, at, process) = self.mode;
        let stepped = match mode {
            Resume::Step => true,
            Resume::Next => depth <= at && process == self.process,
            Resume::Finish => depth < at && process == self.process,
            Resume::Continue | Resume::Quit => false,
        };
        stepped.then_some(StopReason::Step)
    }
}

/// The `calls` and `instructions` traces of the interpreter, written as `tracing` events
/// (targets `mdvm::calls`, level DEBUG, and `mdvm::instructions`, level TRACE).
pub(crate) struct Tracer {
    pub(crate) calls: bool,
    pub(crate) instructions: bool,
    /// Disassembly text by bytecode index ([`instruction_texts`]).
    texts: Vec<String>,
}

impl Tracer {
    pub(crate) fn new(program: &Program, calls: bool, instructions: bool) -> Tracer {
        Tracer { calls, instructions, texts: if instructions { instruction_texts(&program.module) } else { Vec::new() } }
    }

    /// Traces `op`, about to run at internal index `pc` of `body` on the window `regs`, in the
    /// frame at depth `depth`.
    pub(crate) fn before(&self, program: &Program, pc: usize, op: Op, body: u32, regs: &[Value], depth: u64) {
        let bc = program.bc_index[pc];
        let function = program.body_name(body);
        if self.instructions && !matches!(op, Op::FallOffEnd) {
            let mut operands = Vec::new();
            if let Some(ins) = program.module.code.get(bc as usize) {
                ins.for_each_use(|r| operands.push(format!("r{r}={}", short(&regs[r as usize]))));
            }
            let text = self.texts.get(bc as usize).map_or("?", String::as_str);
            tracing::trace!(target: "mdvm::instructions", function, pc = bc, operands = %operands.join(" "), "{text}");
        }
        if !self.calls {
            return;
        }
        match op {
            Op::CallR { args: site, .. } | Op::CallNative { site } => {
                let cs = &program.call_sites[site as usize];
                let callee = match cs.target {
                    Some(t) => program.body_name(t).to_string(),
                    None => regs[cs.func as usize].display_string_within(80).unwrap_or_default(),
                };
                let args: Vec<String> = cs.args.iter().map(|&r| short(&regs[r as usize])).collect();
                tracing::debug!(target: "mdvm::calls", depth, from = function, pc = bc, "call {callee}({})", args.join(", "));
            }
            Op::ReturnR { value: Some(r) } => {
                tracing::debug!(target: "mdvm::calls", depth, "return from {function}: {}", short(&regs[r as usize]))
            }
            Op::ReturnR { value: None } | Op::FallOffEnd => {
                tracing::debug!(target: "mdvm::calls", depth, "return from {function}")
            }
            _ => {}
        }
    }
}

/// A value for a trace: its display form (texts quoted) up to 80 bytes.
fn short(v: &Value) -> String {
    let s = v.display_string_within(80).unwrap_or_else(|| format!("({} too long to show)", v.type_name()));
    match v {
        Value::Str(_) | Value::Url(_) => format!("{s:?}"),
        _ => s,
    }
}

/// The disassembly text of every instruction of `module`, by instruction index, from the one
/// disassembler (`mdvm dis`: the lines ending in `; N`), a label before it included.
pub fn instruction_texts(module: &mdbc::Module) -> Vec<String> {
    let mut texts = vec![String::new(); module.code.len()];
    for line in mdbc::disassemble(module).lines() {
        if let Some((text, n)) = line.rsplit_once(';') {
            if let Some(slot) = n.trim().parse::<usize>().ok().and_then(|i| texts.get_mut(i)) {
                *slot = text.trim().to_string();
            }
        }
    }
    texts
}

/// Whether a watched value is unchanged: the same type and, as `EQ_R` compares, equal (a
/// float NaN stays NaN).
fn same_value(a: &Value, b: &Value) -> bool {
    if a.tag() != b.tag() {
        return false;
    }
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
        _ => a.equals(b),
    }
}
