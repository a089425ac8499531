//! # mdvm
//!
//! A virtual machine for Machine Dialect bytecode (`.mdbc`), the one public API that the
//! command-line tool, the Python module, the benchmarks and the fuzzers use.
//!
//! ```no_run
//! use mdvm::{Tier, Vm};
//! let mut vm = Vm::builder().tier(Tier::Auto).fuel(Some(100_000_000)).load_file("examples/hello.mdbc")?;
//! let outcome = vm.run_captured();
//! print!("{}", String::from_utf8_lossy(&outcome.output));
//! let result = outcome.result?;
//! # Ok::<(), mdvm::Error>(())
//! ```
//!
//! Tiers: the interpreter ([`Tier::Interp`]) runs everything and records feedback; the
//! Cranelift tier (`mdvm-jit`) plugs in through the runtime's `CompiledTier` interface:
//! [`Tier::Auto`] compiles hot functions and loops (OSR), [`Tier::Jit`] compiles every function
//! before its first call. Both tiers give the same output, result, error and instruction count.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub mod trace;

pub use mdbc::LoadError;
pub use trace::TraceCategories;
pub use mdvm_runtime::debug::{
    instruction_texts, DebugState, DebugStop, Debugger, FrameView, ProcessState, ProcessView, Resume, StopReason,
};
pub use mdvm_runtime::native::{DeoptReason, TierStats};
pub use mdvm_runtime::natives::{Arity, Builtin, Native, NativeCall, Natives};
pub use mdvm_runtime::memory::{
    default_limit as default_memory_limit, in_use as memory_in_use, is_counting as memory_is_counted, parse_bytes,
    CountingAllocator, DECODE_BYTES_PER_INSTRUCTION, PREPARE_BYTES_PER_BLOCK, PREPARE_BYTES_PER_INSTRUCTION,
};
pub use mdvm_runtime::{ErrorKind, InterruptHandle, Limits, RuntimeError, Value, DEFAULT_MAX_DEPTH};
pub use mdvm_runtime::process::{ProcessFailure, DEFAULT_REDUCTIONS};
use mdvm_runtime::native::TierPolicy;
use mdvm_runtime::Machine;
pub use mdvm_runtime::Program;
use thiserror::Error;

/// Which execution tier runs the program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tier {
    /// The interpreter only.
    Interp,
    /// Compile every function before its first call.
    Jit,
    /// Interpret, profile, and compile what gets hot.
    #[default]
    Auto,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Interp => "interp",
            Tier::Jit => "jit",
            Tier::Auto => "auto",
        })
    }
}

/// Anything that can go wrong loading or running a program.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The bytes are not a valid module.
    #[error("load error: {0}")]
    Load(#[from] LoadError),
    /// The program faulted (or ran out of a budget).
    #[error("runtime error: {0}")]
    Runtime(#[from] RuntimeError),
    /// Loading the module would pass the memory limit ([`VmBuilder::max_memory`]): checked
    /// before loading starts, from the module's size, and after each step of it.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
}

/// Default number of calls after which [`Tier::Auto`] compiles a function.
pub const DEFAULT_JIT_THRESHOLD: u64 = 1_000;
/// Default number of back-edges after which [`Tier::Auto`] enters a loop by OSR.
pub const DEFAULT_OSR_THRESHOLD: u32 = 2_000;

/// Configures and creates a [`Vm`].
#[derive(Clone, Debug)]
pub struct VmBuilder {
    tier: Tier,
    limits: Limits,
    jit_threshold: u64,
    /// Set by [`VmBuilder::osr_threshold`]; otherwise derived from the defaults and
    /// `jit_threshold`.
    osr_threshold: Option<u32>,
    stress_deopt: bool,
    write_through: bool,
    /// The natives calls resolve to: the standard library and the host's functions.
    natives: Natives,
}

impl Default for VmBuilder {
    fn default() -> Self {
        VmBuilder {
            tier: Tier::default(),
            limits: Limits::default(),
            jit_threshold: DEFAULT_JIT_THRESHOLD,
            osr_threshold: None,
            stress_deopt: false,
            write_through: false,
            natives: Natives::standard(),
        }
    }
}

impl VmBuilder {
    /// Selects the tier (default [`Tier::Auto`]).
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }

    /// [`Tier::Auto`] compiles a function once it has been called `n` times (default 1,000),
    /// and, unless [`VmBuilder::osr_threshold`] says otherwise, enters a loop by OSR once its
    /// header has been reached by `n` back-edges (default 2,000, or `n` when that is smaller).
    pub fn jit_threshold(mut self, n: u64) -> Self {
        self.jit_threshold = n.max(1);
        self
    }

    /// Enters a loop by OSR (compiles its function with an entry at the loop header and
    /// continues there with the interpreter frame's registers) once the header has been reached
    /// by `n` back-edges; `n` = 1 enters every loop the interpreter runs at its first back-edge
    /// (the CLI's `--always-osr`, a stress mode). `n` is clamped to at least 1. This holds in
    /// every compiling tier wherever the interpreter runs a loop: in [`Tier::Auto`] before a
    /// function is hot, in [`Tier::Jit`] after a deoptimization.
    pub fn osr_threshold(mut self, n: u32) -> Self {
        self.osr_threshold = Some(n.max(1));
        self
    }

    /// The back-edge count at which a loop is entered by OSR: the one set by
    /// [`VmBuilder::osr_threshold`], else the smaller of [`DEFAULT_OSR_THRESHOLD`] and the
    /// call threshold.
    fn effective_osr_threshold(&self) -> u32 {
        self.osr_threshold
            .unwrap_or_else(|| DEFAULT_OSR_THRESHOLD.min(self.jit_threshold.clamp(1, u32::MAX as u64) as u32))
    }

    /// Makes every guard of compiled code take its side exit the first time it runs, so that
    /// every deoptimization path is exercised (for tests; off by default).
    pub fn stress_deopt(mut self, on: bool) -> Self {
        self.stress_deopt = on;
        self
    }

    /// Compiles every function with its registers written through to their frame slots: the
    /// code the compiled tier gives bodies with many registers live across many guards (whose
    /// side exits would otherwise dominate compile time), for every body. A test mode (off by
    /// default); with [`VmBuilder::stress_deopt`] every side exit of that code runs.
    pub fn write_through(mut self, on: bool) -> Self {
        self.write_through = on;
        self
    }

    /// Sets the fuel budget in bytecode instructions (`None`, the default, for no limit).
    pub fn fuel(mut self, fuel: Option<u64>) -> Self {
        self.limits.fuel = fuel;
        self
    }

    /// Counts executed instructions exactly (default on). Off, [`Vm::instruction_count`] stays
    /// 0 unless a fuel budget is set, and the interpreter skips a per-instruction count.
    pub fn count_instructions(mut self, on: bool) -> Self {
        self.limits.metered = on;
        self
    }

    /// Limits the wall-clock time of each run (`None`, the default, for no limit). A run that
    /// passes it stops at its next safepoint (a loop back-edge or a call, in either tier) with
    /// an [`ErrorKind::Interrupted`] error; output printed before stays printed. A thread
    /// watches the time while a run with a limit is in progress.
    pub fn timeout(mut self, limit: Option<std::time::Duration>) -> Self {
        self.limits.timeout = limit;
        self
    }

    /// Limits the heap bytes a run may have in use (`None`: no limit). The default is
    /// [`default_memory_limit`]: what this machine, its cgroup and the address-space limit
    /// (`ulimit -v`) leave, with room to spare. Reaching it ends the run with an
    /// [`ErrorKind::OutOfMemory`] error naming the function and position (output printed
    /// before stays printed) instead of an abort. The count is exact when the process's
    /// `#[global_allocator]` is [`CountingAllocator`] (the `mdvm` command and the Python module
    /// install it); otherwise only large allocations (copies of shared arrays and dicts,
    /// strings being built) are checked, on their sizes.
    pub fn max_memory(mut self, bytes: Option<usize>) -> Self {
        self.limits.max_memory = bytes;
        self
    }

    /// Sets the maximum number of live frames, main's included (default 10,000); with
    /// processes, each process has this many ([`mdvm_runtime::process`]).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth;
        self
    }

    /// Sets the length of a process's slice in instructions while other processes are
    /// runnable (default 2,000, [`mdvm_runtime::process::DEFAULT_REDUCTIONS`]; 0 counts as
    /// 1). Scheduling depends only on these counts, so a program's output is the same in
    /// every tier.
    pub fn reductions(mut self, n: u32) -> Self {
        self.limits.reductions = n.max(1);
        self
    }

    /// Registers a host function programs can call by `name` with `CALL_R`, replacing a
    /// standard-library native of that name (a function of the module with that name still
    /// wins). `arity` is a count (`2`) or an [`Arity`]; a call with another count is a type
    /// error. `f` receives the arguments (the callers' values; a string or array is shared,
    /// not copied) and returns the result, or an error whose message becomes a runtime
    /// error of kind [`ErrorKind::Host`] naming the native, the function and the bytecode
    /// position. A call counts as one instruction and takes no frame.
    ///
    /// ```
    /// use mdvm::{Value, Vm};
    /// let vm = Vm::builder().native("twice", 1, |args: &[Value]| match &args[0] {
    ///     Value::Int(i) => i.checked_mul(2).map(Value::Int).ok_or("overflow"),
    ///     _ => Err("twice takes an int"),
    /// });
    /// # let _ = vm;
    /// ```
    pub fn native<F, E>(mut self, name: &str, arity: impl Into<Arity>, f: F) -> Self
    where
        F: Fn(&[Value]) -> Result<Value, E> + 'static,
        E: fmt::Display,
    {
        self.natives.register(Native::host(name, arity, "host function", f));
        self
    }

    /// Registers a [`Native`] as built (name, arity, summary and function), replacing one of
    /// the same name.
    pub fn register_native(mut self, native: Native) -> Self {
        self.natives.register(native);
        self
    }

    /// The natives calls will resolve to (the standard library and what was registered), for
    /// listing them (`mdvm natives`).
    pub fn natives(&self) -> &Natives {
        &self.natives
    }

    /// Loads a module from `.mdbc` bytes.
    ///
    /// Errors: [`Error::Load`] for a malformed or invalid module; [`Error::OutOfMemory`] when
    /// loading it would pass the memory limit (estimated from its size before decoding starts,
    /// see [`mdvm_runtime::memory::check_load`], and from its instructions and blocks before
    /// preparing it, [`mdvm_runtime::memory::check_prepare`]; checked after each step).
    pub fn load_bytes(self, bytes: &[u8]) -> Result<Vm, Error> {
        let limit = self.limits.max_memory;
        let within = |what: &str| limit.map_or(Ok(()), |l| mdvm_runtime::memory::check_loaded(what, l).map_err(Error::OutOfMemory));
        if let Some(l) = limit {
            let declared = mdbc::Module::declared_instruction_count(bytes).unwrap_or(0) as usize;
            // A header declaring more instructions than the file has bytes is malformed:
            // decoding reports it, so it is not taken at its word here.
            let instructions = declared.min(bytes.len());
            mdvm_runtime::memory::check_load(bytes.len(), instructions, l).map_err(Error::OutOfMemory)?;
        }
        let module = mdbc::Module::decode(bytes)?;
        within("while decoding the module")?;
        if let Some(l) = limit {
            let blocks = mdbc::cfg::max_blocks(&module);
            mdvm_runtime::memory::check_prepare(module.code.len(), blocks, l).map_err(Error::OutOfMemory)?;
        }
        let program = Rc::new(Program::with_natives(module, self.natives.clone())?);
        within("while preparing the program")?;
        let mut machine = Machine::new(program, self.limits);
        within("while preparing the machine")?;
        let mut jit_target = None;
        if self.tier != Tier::Interp {
            let options = mdvm_jit::JitOptions {
                metered: machine.limits().is_metered(),
                stress_deopt: self.stress_deopt,
                write_through: self.write_through,
                ..Default::default()
            };
            match mdvm_jit::CraneliftTier::new(options) {
                Ok(jit) => {
                    jit_target = Some(jit.target());
                    let policy = TierPolicy {
                        eager: self.tier == Tier::Jit,
                        call_threshold: self.jit_threshold,
                        backedge_threshold: self.effective_osr_threshold(),
                        stress_deopt: self.stress_deopt,
                    };
                    machine.set_tier(Box::new(jit), policy);
                }
                // A host Cranelift cannot target: the interpreter runs everything.
                Err(_) => machine.set_profiling(true),
            }
        }
        // A time limit needs compiled loops and calls to test the interrupt word.
        if self.limits.timeout.is_some() {
            machine.enable_safepoints();
        }
        Ok(Vm { machine, tier: self.tier, jit_target })
    }

    /// Loads a module from a `.mdbc` file.
    ///
    /// Errors: [`Error::Io`] if the file cannot be read, [`Error::Load`] if it is not valid.
    pub fn load_file(self, path: impl AsRef<Path>) -> Result<Vm, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        self.load_bytes(&bytes)
    }
}

/// The result of a run whose output was captured.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the program printed, also when it failed.
    pub output: Vec<u8>,
    /// The program's return value, or the error that ended it.
    pub result: Result<Value, Error>,
}

/// Counters of one VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The tier the VM was built for.
    pub tier: Tier,
    /// Bytecode instructions executed.
    pub instructions: u64,
    /// Calls per function (name, count), the main program first, in function-table order.
    pub calls: Vec<(String, u64)>,
    /// The compiled tier's counters, when it is attached.
    pub jit: Option<JitStats>,
    /// The target triple the compiled tier emits machine code for (e.g.
    /// `aarch64-unknown-linux-gnu`), when it is attached.
    pub jit_target: Option<String>,
    /// The processes of the last run ([`mdvm_runtime::process`]).
    pub processes: ProcessStats,
}

/// Counters of a run's processes.
pub use mdvm_runtime::process::ProcessStats;

/// Counters of the compiled tier.
pub type JitStats = mdvm_runtime::native::TierReport;

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tier: {}", self.tier)?;
        writeln!(f, "instructions executed: {}", self.instructions)?;
        writeln!(f, "calls per function:")?;
        for (name, n) in &self.calls {
            writeln!(f, "  {name}: {n}")?;
        }
        // The process counters, for a run that spawned or sent anything.
        let p = &self.processes;
        if p.spawned > 0 || p.messages > 0 {
            writeln!(f, "processes spawned: {}", p.spawned)?;
            writeln!(f, "messages sent: {}", p.messages)?;
            writeln!(f, "slices: {}", p.slices)?;
            writeln!(f, "context switches: {}", p.context_switches)?;
        }
        if let Some(target) = &self.jit_target {
            writeln!(f, "JIT target: {target}")?;
        }
        if let Some(j) = &self.jit {
            let c = &j.compiled;
            writeln!(f, "functions compiled: {}", c.functions_compiled)?;
            writeln!(f, "OSR entries compiled: {}", c.osr_compiled)?;
            writeln!(f, "compile time: {:.3} ms", c.compile_nanos as f64 / 1e6)?;
            writeln!(f, "recompilations: {}", c.recompilations)?;
            writeln!(f, "compile failures: {}", c.compile_failures)?;
            if c.written_through > 0 {
                writeln!(f, "functions with registers written through: {}", c.written_through)?;
            }
            if c.over_budget > 0 {
                writeln!(f, "bodies over the compile budget (interpreted): {}", c.over_budget)?;
            }
            if let Some(why) = &c.last_failure {
                writeln!(f, "last compile failure: {why}")?;
            }
            writeln!(f, "native entries: {}", j.native_entries)?;
            writeln!(f, "OSR entries: {}", j.osr_entries)?;
            writeln!(f, "deopts: {}", j.deopts.iter().map(|(_, n)| n).sum::<u64>())?;
            for (r, n) in &j.deopts {
                writeln!(f, "  {}: {n}", r.name())?;
            }
            if !j.deopts_by_function.is_empty() {
                writeln!(f, "deopts by function:")?;
                for (name, r, n) in &j.deopts_by_function {
                    writeln!(f, "  {name}: {}: {n}", r.name())?;
                }
            }
        }
        Ok(())
    }
}

/// A loaded program ready to run.
pub struct Vm {
    machine: Machine,
    tier: Tier,
    /// The compiled tier's target triple, when it is attached.
    jit_target: Option<String>,
}

impl Vm {
    /// A builder with the defaults: [`Tier::Auto`], no fuel limit, depth limit 10,000.
    pub fn builder() -> VmBuilder {
        VmBuilder::default()
    }

    /// Runs the program, writing its output to `out` as it goes (`out` is flushed before
    /// returning, also on error).
    ///
    /// Returns the program's result (empty if it returned nothing). Errors:
    /// [`Error::Runtime`] naming the function and bytecode position.
    pub fn run(&mut self, out: &mut dyn Write) -> Result<Value, Error> {
        let r = self.machine.run(out);
        let flushed = out.flush();
        let v = r?;
        flushed.map_err(|e| {
            Error::Runtime(RuntimeError {
                kind: ErrorKind::Output,
                message: format!("cannot write output: {e}"),
                function: mdbc::MAIN_NAME.to_string(),
                index: 0,
                offset: 0,
            })
        })?;
        Ok(v)
    }

    /// Runs the program, capturing its output.
    pub fn run_captured(&mut self) -> Outcome {
        let mut output = Vec::new();
        let result = self.run(&mut output);
        Outcome { output, result }
    }

    /// Fuel used by all runs so far: bytecode instructions executed, plus the work charges of
    /// instructions whose work grows with their operands (one per 64 bytes, ARCHITECTURE.md,
    /// *Budgets*).
    pub fn instruction_count(&self) -> u64 {
        self.machine.instruction_count()
    }

    /// The tier this VM was built for.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Counters for `--stats`.
    pub fn stats(&self) -> Stats {
        let p = self.machine.program();
        let calls = p
            .bodies
            .iter()
            .zip(&self.machine.feedback().call_counts)
            .map(|(b, &n)| (b.name.to_string(), n))
            .collect();
        let jit = self.machine.tier_stats();
        Stats {
            tier: self.tier,
            instructions: self.machine.instruction_count(),
            calls,
            jit,
            jit_target: self.jit_target.clone(),
            processes: self.machine.process_stats(),
        }
    }

    /// The failures of processes whose error no link carried on, in the last run, in the
    /// order they happened: each process's pid and its error (function and bytecode
    /// position). Main's error is the run's result, never here. Empty without processes.
    pub fn process_failures(&self) -> &[ProcessFailure] {
        self.machine.process_failures()
    }

    /// Whether a failure of a process no link carries on is also written to stderr when it
    /// happens, as `mdvm: process P failed: ERROR` after the output so far is flushed (default
    /// true). Either way it is recorded for [`Vm::process_failures`]; an embedder that shows
    /// them itself turns this off.
    pub fn set_report_process_failures(&mut self, on: bool) {
        self.machine.set_report_failures(on);
    }

    /// Clears globals, feedback and counters.
    pub fn reset(&mut self) {
        self.machine.reset();
    }

    /// A handle that stops this VM's runs from any thread: [`InterruptHandle::interrupt`] ends
    /// the run in progress within a loop iteration or a call, in either tier, with an
    /// [`ErrorKind::Interrupted`] error (output printed before stays printed). Requested while
    /// no run is in progress, it stops the next run at its start.
    ///
    /// Compiled code tests the handle only once one was taken (or a time limit or poll hook
    /// set): each loop back-edge and function entry then costs a load and a branch, and code
    /// compiled before is discarded. Take the handle before running.
    ///
    /// ```
    /// # use mdvm::Vm;
    /// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.mdbc")).unwrap();
    /// let mut vm = Vm::builder().load_bytes(&bytes)?;
    /// let stop = vm.interrupt_handle();
    /// stop.interrupt();
    /// let err = vm.run_captured().result.unwrap_err();
    /// assert!(err.to_string().contains("interrupted"));
    /// assert!(vm.run_captured().result.is_ok(), "the next run is not interrupted");
    /// # Ok::<(), mdvm::Error>(())
    /// ```
    pub fn interrupt_handle(&mut self) -> InterruptHandle {
        self.machine.interrupt_handle()
    }

    /// Calls `hook` about every `interval` while a run is in progress, at a safepoint, after
    /// flushing the program's output to the run's writer. Returning `Err(message)` ends the run
    /// with an [`ErrorKind::Interrupted`] error carrying `message`. The Python module uses it
    /// to deliver output as the program runs and to notice Ctrl-C.
    pub fn set_poll(&mut self, interval: std::time::Duration, hook: impl FnMut() -> Result<(), String> + 'static) {
        self.machine.set_poll(interval, Box::new(hook));
    }

    /// Sets what `read_line` reads (default: the process's standard input).
    pub fn set_input(&mut self, input: impl io::BufRead + 'static) {
        self.machine.set_input(Box::new(input));
    }

    /// Attaches a debugger: the run stops at its breakpoints (set through
    /// [`Vm::debug_state`]), at `BREAKPOINT` instructions and where its steps end, and calls
    /// [`Debugger::stop`] there (the `mdvm_runtime::debug` module documentation says how the
    /// tiers cooperate). Functions with breakpoints run in the interpreter; the others keep
    /// their compiled code.
    pub fn set_debugger(&mut self, debugger: impl Debugger + 'static) {
        self.machine.set_debugger(Box::new(debugger));
    }

    /// Turns the interpreter's `calls` and `instructions` traces on or off (`tracing` events
    /// with targets `mdvm::calls` and `mdvm::instructions`; the `mdvm::tiers` events of
    /// compiles, OSR entries and deopts need no switch, only a subscriber). Either trace runs
    /// the whole program in the interpreter, so that every call and instruction is seen.
    pub fn set_trace(&mut self, calls: bool, instructions: bool) {
        self.machine.set_trace(calls, instructions);
    }

    /// The attached debugger's breakpoints and watch (`None` without a debugger).
    pub fn debug_state(&mut self) -> Option<&mut DebugState> {
        self.machine.debug_state()
    }

    /// The loaded program in the interpreter's form (function names and ranges, constants),
    /// for tools such as the debugger.
    pub fn program(&self) -> &Program {
        self.machine.program()
    }

    /// The loaded module.
    pub fn module(&self) -> &mdbc::Module {
        &self.machine.program().module
    }
}
