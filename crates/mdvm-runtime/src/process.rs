//! Processes: lightweight threads of one run, each with its own frames and registers, that
//! share the program, its globals and its compiled code, and talk by messages.
//!
//! Programs reach them through natives (`spawn`, `self`, `send`, `receive`, `try_receive`,
//! `wait`, `link`, `process_count`; [`crate::natives::stdlib`]). One machine runs every process
//! of a run on one thread, one at a time, under a deterministic scheduler
//! ([`crate::interp::Machine::run`]):
//!
//! - A pid is an int, unique in the run: main is 0, each `spawn` takes the next one.
//! - The run queue is first in, first out. A spawned process and a woken one go to its back.
//! - A process runs one **slice** at a time. While the run queue is empty the slice is
//!   unbounded; otherwise it is at most `reductions` instructions ([`crate::interp::Limits`],
//!   default [`DEFAULT_REDUCTIONS`]), counted exactly as fuel counts them (work charges
//!   included, [`crate::work`]). When a `spawn` or `send` makes the queue non-empty during an
//!   unbounded slice, the slice becomes bounded from the next instruction with the full
//!   count. A slice ends when its count is used up (the process goes to the back of the queue
//!   and resumes at the instruction that did not run), when the process blocks, or when it
//!   ends. Work that a slice cannot cover is taken from the rest of the run's fuel, and the
//!   slice ends after that instruction.
//! - `receive` with an empty mailbox and `wait` for a live process block: the instruction does
//!   not count, and runs again (counted) when the process is woken and scheduled. A message to
//!   a process blocked in `receive` wakes it; the end of a process wakes those waiting for it.
//! - Main's end ends the run with main's result; other processes are dropped. `HALT` in any
//!   process ends the run. An error in main ends the run with that error. An error in another
//!   process ends that process; linked processes then fail too (their errors say which pid it
//!   came from), and a process whose error no link carries on is reported on stderr with its
//!   pid. When the run queue is empty and main is blocked, the run fails with a deadlock error
//!   listing the blocked processes.
//! - Globals are shared by all processes; fuel, the memory limit, the time limit and the
//!   interrupt cover the whole run; the depth limit applies to each process.
//!
//! A suspended process is interpreter frames only. When a slice ends or a native blocks inside
//! compiled code, the compiled activations on the native stack side-exit one by one
//! ([`crate::native::DeoptReason::Suspend`]) and become interpreter frames, so that suspending
//! needs no native stack of its own: an idle process is its frames, its registers, its
//! mailbox and a few words.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::error::{ErrorKind, OpError, RuntimeError};
use crate::native::NativeContext;
use crate::program::{Callee, Program};
use crate::value::Value;

/// Default slice length in instructions (the BEAM's reduction count per slice).
pub const DEFAULT_REDUCTIONS: u32 = 2000;

/// A suspended caller of a process, as the interpreter keeps it ([`crate::interp`]).
pub(crate) use crate::interp::Frame;

/// What the process natives see: the scheduler and the program (for `spawn`'s callee).
pub(crate) struct ProcessCall<'a> {
    pub procs: &'a mut Processes,
    pub program: &'a Program,
}

/// Where a suspended process goes on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Resume {
    /// Not started: enter `body` (its arguments in the first slots).
    Enter { body: u32 },
    /// Continue `body`, whose window is at `base`, at internal index `pc` with the phi record
    /// `rec_from` (the last jump taken).
    At { body: u32, base: u32, pc: u32, rec_from: u32 },
}

/// Why a process is not runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// In `receive`, on an empty mailbox.
    Receive,
    /// In `wait` for this pid.
    Wait(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Runnable,
    Blocked(Blocked),
}

/// A live process.
pub(crate) struct Process {
    pub state: State,
    /// Its suspended frames, bottom first (empty while it runs: they are the machine's).
    pub frames: Vec<Frame>,
    /// Its value stack up to the top window's end (empty while it runs).
    pub slots: Vec<Value>,
    pub resume: Resume,
    pub mailbox: VecDeque<Value>,
    /// Processes linked to this one.
    pub links: Vec<u64>,
    /// Processes blocked in `wait` for this one.
    pub waiters: Vec<u64>,
}

/// How an ended process ended: its result, or its error.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Returned(Value),
    Failed(Rc<RuntimeError>),
}

/// A process that ended with an error no link carried on (reported on stderr by default;
/// `Machine::process_failures`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessFailure {
    /// The pid of the process that failed (never 0: main's error ends the run).
    pub pid: u64,
    /// Its error, naming the function and the bytecode position where it was raised.
    pub error: RuntimeError,
}

/// Counters for `--stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Processes started by `spawn` (main not included).
    pub spawned: u64,
    /// Messages sent (to live processes and to ended ones).
    pub messages: u64,
    /// Slices run (each time a process was scheduled, main's first included).
    pub slices: u64,
    /// Slices that ran another process than the one before.
    pub context_switches: u64,
}

/// The scheduler's state: every process of the run but the running one's frames.
pub struct Processes {
    /// By pid (pids are dense from 0): a live process or the outcome of an ended one.
    pub(crate) table: Vec<Slot>,
    pub(crate) queue: VecDeque<u64>,
    pub(crate) current: u64,
    pub(crate) live: usize,
    /// Set by a native that blocked the running process (the call did nothing).
    pub(crate) blocked: Option<Blocked>,
    /// Set by a native that made the run queue non-empty during an unbounded slice.
    pub(crate) bound_slice: bool,
    /// The running slice is bounded.
    pub(crate) bounded: bool,
    pub(crate) stats: ProcessStats,
    /// Slices are bounded only when instructions are counted.
    pub(crate) metered: bool,
    /// The program names `spawn` ([`crate::Program::uses_processes`]): its compiled code
    /// handles suspension. Otherwise `spawn` is an error.
    pub(crate) enabled: bool,
    /// Instructions per bounded slice.
    pub(crate) reductions: u64,
    /// The run's fuel between slices.
    pub(crate) budget: Budget,
}

/// The fuel of a run split into slices: between slices all of it is in `left` (`u64::MAX`:
/// no budget); a running slice has [`NativeContext::fuel`] and [`NativeContext::reserve`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub left: u64,
    /// What the running slice was given: (fuel, reserve).
    pub given: (u64, u64),
    /// Instructions (and work units) executed by slices that ended.
    pub used: u64,
}

impl Budget {
    /// The budget of a run with `fuel` (`u64::MAX`: none), no slice running.
    pub(crate) fn new(fuel: u64) -> Budget {
        Budget { left: fuel, given: (0, 0), used: 0 }
    }

    /// Ends the running slice: takes back what it did not use.
    pub(crate) fn fold(&mut self, ctx: &NativeContext) {
        let (f, r) = self.given;
        let used = f.wrapping_sub(ctx.fuel) + if r == u64::MAX { 0 } else { r - ctx.reserve };
        if self.left != u64::MAX {
            self.left -= used;
        }
        self.used = self.used.wrapping_add(used);
        self.given = (0, 0);
    }

    /// Starts a slice: at most `bound` instructions, or all the fuel left.
    pub(crate) fn unfold(&mut self, ctx: &mut NativeContext, bound: Option<u64>) {
        match bound {
            None => {
                ctx.fuel = self.left;
                ctx.reserve = 0;
            }
            Some(n) => {
                ctx.fuel = n.min(self.left);
                ctx.reserve = if self.left == u64::MAX { u64::MAX } else { self.left - ctx.fuel };
            }
        }
        self.given = (ctx.fuel, ctx.reserve);
    }
}

/// Takes `units` of work from a slice's `fuel`, the rest from its `reserve` (which covers
/// it: the meter was opened with both, [`crate::work`]); the slice then ends after this
/// instruction.
#[inline]
pub(crate) fn spend(fuel: &mut u64, reserve: &mut u64, units: u64) {
    if units <= *fuel {
        *fuel -= units;
    } else {
        if *reserve != u64::MAX {
            *reserve -= units - *fuel;
        }
        *fuel = 0;
    }
}

pub(crate) enum Slot {
    Live(Box<Process>),
    Ended(Outcome),
}

impl Default for Processes {
    fn default() -> Self {
        Processes::new()
    }
}

impl Processes {
    /// Main (pid 0) running, nothing else.
    pub(crate) fn new() -> Processes {
        Processes {
            metered: false,
            enabled: false,
            reductions: DEFAULT_REDUCTIONS as u64,
            budget: Budget::new(u64::MAX),
            table: vec![Slot::Live(Box::new(Process::new(Resume::Enter { body: 0 }, Vec::new())))],
            queue: VecDeque::new(),
            current: 0,
            live: 1,
            blocked: None,
            bound_slice: false,
            bounded: false,
            stats: ProcessStats { slices: 1, ..ProcessStats::default() },
        }
    }

    /// The live process `pid`.
    pub(crate) fn get(&mut self, pid: u64) -> Option<&mut Process> {
        match self.table.get_mut(pid as usize) {
            Some(Slot::Live(p)) => Some(p),
            _ => None,
        }
    }

    /// Makes `pid` runnable at the back of the queue (a bounded slice now, if the running
    /// slice was unbounded).
    fn enqueue(&mut self, pid: u64) {
        if let Some(p) = self.get(pid) {
            p.state = State::Runnable;
        }
        self.queue.push_back(pid);
        if !self.bounded && self.metered {
            self.bound_slice = true;
        }
    }

    /// True when the native call just made blocked the process or must bound its slice
    /// ([`Processes::after_native`]).
    #[inline(always)]
    pub(crate) fn signalled(&self) -> bool {
        self.blocked.is_some() | self.bound_slice
    }

    /// After a native call that [`Processes::signalled`], with the slice's fuel in `ctx`:
    /// returns true when the call blocked (it did nothing; its unit of fuel, charged by a
    /// `metered` interpreter, goes back, as it runs again when the process is woken), else
    /// bounds the slice.
    #[cold]
    #[inline(never)]
    pub(crate) fn after_native(&mut self, ctx: &mut NativeContext, metered: bool) -> bool {
        if self.blocked.is_some() {
            if metered {
                ctx.fuel += 1;
            }
            return true;
        }
        self.rebound(ctx);
        false
    }

    /// Bounds the running slice ([`Processes::bound_slice`]): `reductions` instructions from
    /// the next one.
    pub(crate) fn rebound(&mut self, ctx: &mut NativeContext) {
        self.bound_slice = false;
        self.bounded = true;
        self.budget.fold(ctx);
        self.budget.unfold(ctx, Some(self.reductions));
    }

    /// The pid argument of native `what`.
    fn pid_arg(&self, v: &Value, what: &str) -> Result<u64, OpError> {
        match v {
            Value::Int(n) if *n >= 0 && (*n as usize) < self.table.len() => Ok(*n as u64),
            Value::Int(n) => Err(OpError::new(ErrorKind::Value, format!("no process {n}"))),
            v => Err(OpError::type_error(format!("{what} takes a pid (an int), got {}", v.type_name()))),
        }
    }

    /// `spawn(f, args...)`: a new process entering `f` (a function name or value) with `args`.
    pub(crate) fn spawn(&mut self, program: &Program, args: &mut [Value]) -> Result<Value, OpError> {
        if !self.enabled {
            return Err(OpError::new(
                ErrorKind::Value,
                "call it by its name, a string constant, so that the program is prepared for processes",
            ));
        }
        let body = match &args[0] {
            Value::Str(s) => match program.resolve_name(s.as_str()) {
                Some(Callee::Body(b)) => b,
                Some(Callee::Native(_)) => {
                    return Err(OpError::type_error(format!("`{}` is a native, not a function of the program", s.as_str())))
                }
                None => return Err(OpError::new(ErrorKind::UndefinedFunction, format!("undefined function `{}`", s.as_str()))),
            },
            Value::Function(f) => f.index,
            v => return Err(OpError::type_error(format!("cannot start a process from a value of type {}", v.type_name()))),
        };
        let nregs = program.bodies[body as usize].nregs as usize;
        let slots: Vec<Value> = args[1..].iter_mut().take(nregs).map(std::mem::take).collect();
        let pid = self.table.len() as u64;
        self.table.push(Slot::Live(Box::new(Process::new(Resume::Enter { body }, slots))));
        self.live += 1;
        self.stats.spawned += 1;
        self.enqueue(pid);
        Ok(Value::Int(pid as i64))
    }

    /// `send(pid, v)`.
    pub(crate) fn send(&mut self, args: &mut [Value]) -> Result<Value, OpError> {
        let pid = self.pid_arg(&args[0], "`send`")?;
        self.stats.messages += 1;
        let v = std::mem::take(&mut args[1]);
        if let Some(p) = self.get(pid) {
            p.mailbox.push_back(v);
            if p.state == State::Blocked(Blocked::Receive) {
                self.enqueue(pid);
            }
        }
        Ok(Value::Empty)
    }

    /// `receive()` (blocks on an empty mailbox) and `try_receive()` (`block` false: empty).
    pub(crate) fn receive(&mut self, block: bool) -> Result<Value, OpError> {
        let cur = self.current;
        let p = self.get(cur).expect("the running process is live");
        match p.mailbox.pop_front() {
            Some(v) => Ok(v),
            None => {
                if block {
                    self.blocked = Some(Blocked::Receive);
                }
                Ok(Value::Empty)
            }
        }
    }

    /// `wait(pid)`.
    pub(crate) fn wait(&mut self, args: &[Value]) -> Result<Value, OpError> {
        let pid = self.pid_arg(&args[0], "`wait`")?;
        if pid == self.current {
            return Err(OpError::new(ErrorKind::Value, format!("process {pid} cannot wait for itself")));
        }
        match &self.table[pid as usize] {
            Slot::Ended(Outcome::Returned(v)) => Ok(v.clone()),
            Slot::Ended(Outcome::Failed(e)) => Err(OpError::new(
                e.kind,
                format!("process {pid} failed: {} (in function `{}` at instruction {})", e.message, e.function, e.index),
            )),
            Slot::Live(_) => {
                let cur = self.current;
                let target = self.get(pid).expect("live");
                if !target.waiters.contains(&cur) {
                    target.waiters.push(cur);
                }
                self.blocked = Some(Blocked::Wait(pid));
                Ok(Value::Empty)
            }
        }
    }

    /// `link(pid)`.
    pub(crate) fn link(&mut self, args: &[Value]) -> Result<Value, OpError> {
        let pid = self.pid_arg(&args[0], "`link`")?;
        let cur = self.current;
        if pid == cur {
            return Ok(Value::Empty);
        }
        match &self.table[pid as usize] {
            Slot::Ended(Outcome::Failed(e)) => Err(OpError::new(
                e.kind,
                format!("linked process {pid} failed: {} (in function `{}` at instruction {})", e.message, e.function, e.index),
            )),
            Slot::Ended(Outcome::Returned(_)) => Ok(Value::Empty),
            Slot::Live(_) => {
                let p = self.get(pid).expect("live");
                if !p.links.contains(&cur) {
                    p.links.push(cur);
                }
                let me = self.get(cur).expect("the running process is live");
                if !me.links.contains(&pid) {
                    me.links.push(pid);
                }
                Ok(Value::Empty)
            }
        }
    }

    /// The running process ended with `outcome`: wakes those waiting for it. Returns its
    /// links (for a failure to carry on).
    pub(crate) fn end(&mut self, pid: u64, outcome: Outcome) -> Vec<u64> {
        let slot = std::mem::replace(&mut self.table[pid as usize], Slot::Ended(outcome));
        let Slot::Live(p) = slot else { return Vec::new() };
        self.live -= 1;
        if p.state == State::Runnable {
            // Only a process failing through a link can be queued (the one that ended by
            // itself was running): the queue holds exactly the runnable processes.
            self.queue.retain(|&q| q != pid);
        }
        for w in p.waiters {
            if self.get(w).is_some_and(|q| q.state == State::Blocked(Blocked::Wait(pid))) {
                self.enqueue(w);
            }
        }
        p.links
    }

    /// The blocked processes, for a deadlock error: `pid (receive)`, `pid (wait for q)`.
    pub(crate) fn blocked_list(&self) -> String {
        let mut parts = Vec::new();
        for (pid, s) in self.table.iter().enumerate() {
            if let Slot::Live(p) = s {
                match p.state {
                    State::Blocked(Blocked::Receive) => parts.push(format!("{pid} (receive)")),
                    State::Blocked(Blocked::Wait(q)) => parts.push(format!("{pid} (wait for {q})")),
                    _ => {}
                }
            }
        }
        parts.join(", ")
    }

    /// The live processes, by pid, for the debugger ([`crate::debug::DebugStop::processes`]).
    pub(crate) fn views(&self, program: &Program) -> Vec<crate::debug::ProcessView> {
        use crate::debug::{ProcessState, ProcessView};
        let mut v = Vec::new();
        if !self.enabled {
            return v;
        }
        for (pid, s) in self.table.iter().enumerate() {
            if let Slot::Live(p) = s {
                let state = match p.state {
                    _ if pid as u64 == self.current => ProcessState::Running,
                    State::Running => ProcessState::Running,
                    State::Runnable => ProcessState::Runnable,
                    State::Blocked(Blocked::Receive) => ProcessState::Receiving,
                    State::Blocked(Blocked::Wait(q)) => ProcessState::Waiting(q),
                };
                let at = match (state, p.resume) {
                    (ProcessState::Running, _) => None,
                    (_, Resume::Enter { body }) => Some((body, None)),
                    (_, Resume::At { body, pc, .. }) => Some((body, Some(program.bc_index[pc as usize]))),
                };
                v.push(ProcessView { pid: pid as u64, state, mailbox: p.mailbox.len(), at });
            }
        }
        v
    }

    /// The counters of the run so far.
    pub fn stats(&self) -> ProcessStats {
        self.stats
    }
}

impl Process {
    fn new(resume: Resume, slots: Vec<Value>) -> Process {
        Process {
            state: State::Runnable,
            frames: Vec::new(),
            slots,
            resume,
            mailbox: VecDeque::new(),
            links: Vec::new(),
            waiters: Vec::new(),
        }
    }
}
