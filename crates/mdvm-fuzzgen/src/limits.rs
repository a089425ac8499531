//! The `limits` property: budgets and interrupts end runs cleanly and only cut them short.
//!
//! [`check_limits`] runs a module once in the interpreter with a large fuel budget
//! ([`REFERENCE_FUEL`], the reference) and once under a [`LimitCase`]: one of the [`CONFIGS`]
//! (interpreter or compiled tier), a small fuel budget, on some cases a small memory limit
//! (bytes above what the process has in use), and on some a time limit or an interrupt from
//! another thread ([`mdvm::Vm::interrupt_handle`]). The limited run must return (a panic or an
//! abort is the failure the fuzzer catches), and:
//!
//! * if it ended with a budget's error (`FuelExhausted`, `OutOfMemory`, `Interrupted`), that
//!   budget was set (or the reference ended the same way), and what it printed is a prefix of
//!   the reference's output: a limit may cut the output short, never change it;
//! * otherwise (a result or an ordinary runtime error) it agrees with the reference exactly,
//!   as in the differential oracle: output, result, error kind and position, instruction count,
//!   failures of unlinked processes (neither run writes them to stderr);
//! * no configuration failed to compile a body.
//!
//! A module with processes runs, both times, with its short slice length
//! ([`crate::oracle::short_reductions`]), so that limits also stop runs between slices and
//! inside slices that end in compiled code.
//!
//! Time limits and interrupts make a case's outcome depend on timing, so a failing input may
//! need a few runs to reproduce; the property holds whenever the limit fires.

use std::sync::mpsc;
use std::time::Duration;

use arbitrary::Unstructured;
use mdvm::{Error, ErrorKind, Vm};

use crate::oracle::{short_reductions, uses_processes, Config, CONFIGS, MAX_DEPTH};

/// The reference run's fuel budget: far above [`LimitCase::fuel`]'s range, so the limited run
/// meets its own budget first.
pub const REFERENCE_FUEL: u64 = 1_000_000;

/// What stops a limited run from outside, besides its budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Nothing.
    None,
    /// [`mdvm::VmBuilder::timeout`] with this limit.
    Timeout(Duration),
    /// [`mdvm::InterruptHandle::interrupt`] from another thread this long after the run starts
    /// (about: the thread starts just before the run).
    Interrupt(Duration),
}

/// The limits of one run.
#[derive(Clone, Copy, Debug)]
pub struct LimitCase {
    /// The tier configuration.
    pub config: Config,
    /// The fuel budget (instructions), at most 19,000.
    pub fuel: u64,
    /// When set, the memory limit is this many bytes above what the process has in use when
    /// the VM is built.
    pub memory_headroom: Option<usize>,
    /// A time limit or an interrupt, or neither.
    pub stop: Stop,
}

impl LimitCase {
    /// Reads a case from the front of `u` (5 bytes at most; zeros when `u` runs out).
    pub fn from_unstructured(u: &mut Unstructured<'_>) -> LimitCase {
        let mut byte = || u.arbitrary::<u8>().unwrap_or(0);
        let config = CONFIGS[byte() as usize % CONFIGS.len()];
        // Fuel: 0..=19,000, below 80 on most cases (most generated programs run a few dozen
        // instructions, so those end mid-program).
        let f = byte() as u64;
        let fuel = if f < 160 { f / 2 } else { (f - 160) * 200 };
        // Memory: none on a quarter of the cases, else 4 KiB to 8 MiB above what is in use.
        let m = byte();
        let memory_headroom = if m < 64 { None } else { Some(4096usize << ((m - 64) % 12)) };
        let s = byte();
        let delay = Duration::from_micros(u64::from(byte()) * 8);
        let stop = match s % 4 {
            0 => Stop::Timeout(delay),
            1 => Stop::Interrupt(delay),
            _ => Stop::None,
        };
        LimitCase { config, fuel, memory_headroom, stop }
    }
}

/// What the limited run did.
#[derive(Clone, Debug)]
pub struct LimitRun {
    /// Everything printed.
    pub output: Vec<u8>,
    /// The error kind that ended the run (`None` for a result; `load out of memory` for a load
    /// refused by the memory limit).
    pub ended_by: Option<String>,
}

fn builder(cfg: &Config, reductions: Option<u32>) -> mdvm::VmBuilder {
    let mut b = Vm::builder();
    if let Some(n) = cfg.osr_threshold {
        b = b.osr_threshold(n);
    }
    if let Some(n) = reductions {
        b = b.reductions(n);
    }
    b.tier(cfg.tier)
        .jit_threshold(cfg.jit_threshold)
        .stress_deopt(cfg.stress_deopt)
        .write_through(cfg.write_through)
        .max_depth(MAX_DEPTH)
}

/// A run reduced to what must agree: result debug form or (kind, function, index, offset).
type Outcome = Result<String, (ErrorKind, String, u32, usize)>;

fn reduce(r: Result<mdvm::Value, Error>) -> Result<Outcome, String> {
    match r {
        Ok(v) => Ok(Ok(format!("{v:?}"))),
        Err(Error::Runtime(e)) => Ok(Err((e.kind, e.function, e.index, e.offset))),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `bytes` under `case` and checks it against the reference run (see the module
/// documentation). `bytes` must be a valid module.
///
/// Errors: a description of the violation, with both runs.
pub fn check_limits(bytes: &[u8], case: &LimitCase) -> Result<LimitRun, String> {
    let reductions = uses_processes(bytes).then(|| short_reductions(bytes));
    // The reference: the interpreter, a large fuel budget, the default memory limit.
    let mut reference = builder(&CONFIGS[0], reductions)
        .fuel(Some(REFERENCE_FUEL))
        .load_bytes(bytes)
        .map_err(|e| format!("the module does not load: {e}"))?;
    reference.set_report_process_failures(false);
    let ref_outcome = reference.run_captured();
    let ref_instructions = reference.instruction_count();
    let ref_failures = reference.process_failures().to_vec();
    drop(reference);
    let ref_result = reduce(ref_outcome.result).map_err(|e| format!("reference run: unexpected error {e}"))?;
    let ref_output = ref_outcome.output;

    let mut b = builder(&case.config, reductions).fuel(Some(case.fuel));
    if let Some(h) = case.memory_headroom {
        b = b.max_memory(Some(mdvm::memory_in_use().saturating_add(h)));
    }
    if let Stop::Timeout(d) = case.stop {
        b = b.timeout(Some(d));
    }
    let mut vm = match b.load_bytes(bytes) {
        Ok(vm) => vm,
        Err(Error::OutOfMemory(_)) if case.memory_headroom.is_some() => {
            return Ok(LimitRun { output: Vec::new(), ended_by: Some("load out of memory".into()) })
        }
        Err(e) => return Err(format!("{case:?}: the module does not load: {e}")),
    };
    vm.set_report_process_failures(false);
    let outcome = match case.stop {
        Stop::Interrupt(d) => {
            let handle = vm.interrupt_handle();
            let (done, wait) = mpsc::channel::<()>();
            let stopper = std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(d) {
                    handle.interrupt();
                }
            });
            let outcome = vm.run_captured();
            let _ = done.send(());
            stopper.join().map_err(|_| "the interrupting thread panicked".to_string())?;
            outcome
        }
        _ => vm.run_captured(),
    };
    let instructions = vm.instruction_count();
    let compile_failures = vm.stats().jit.map_or(0, |j| j.compiled.compile_failures);
    let failures = vm.process_failures().to_vec();
    drop(vm);
    let output = outcome.output;
    let result = reduce(outcome.result).map_err(|e| format!("{case:?}: unexpected error {e}"))?;
    let report = |what: &str| {
        format!(
            "{case:?}: {what}\n  reference: {ref_result:?}, {ref_instructions} instructions, stdout {:?}\n  limited: \
             {result:?}, {instructions} instructions, stdout {:?}",
            String::from_utf8_lossy(&ref_output),
            String::from_utf8_lossy(&output),
        )
    };
    if compile_failures > 0 {
        return Err(report(&format!("{compile_failures} bodies failed to compile")));
    }
    let budget = match &result {
        Err((k @ (ErrorKind::FuelExhausted | ErrorKind::OutOfMemory | ErrorKind::Interrupted), ..)) => Some(*k),
        _ => None,
    };
    let ref_kind = ref_result.as_ref().err().map(|e| e.0);
    match budget {
        Some(kind) => {
            let set = match kind {
                ErrorKind::FuelExhausted => true,
                ErrorKind::OutOfMemory => case.memory_headroom.is_some(),
                _ => case.stop != Stop::None,
            };
            if !set && ref_kind != Some(kind) {
                return Err(report(&format!("ended by `{kind}`, a limit this run did not set")));
            }
            if !ref_output.starts_with(&output) {
                return Err(report("the output before the limit is not a prefix of the reference's output"));
            }
            if kind == ErrorKind::FuelExhausted && instructions > case.fuel {
                return Err(report("ran out of fuel after more instructions than its budget"));
            }
        }
        None => {
            if result != ref_result || output != ref_output || instructions != ref_instructions || failures != ref_failures {
                return Err(report("ended without reaching a limit but differs from the reference"));
            }
        }
    }
    Ok(LimitRun { output, ended_by: budget.map(|k| k.name().to_string()) })
}
