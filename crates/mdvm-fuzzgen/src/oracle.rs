//! The oracle: one module, the interpreter against the compiled tier.
//!
//! [`check_module`] runs a module under every [`Config`] in [`CONFIGS`], the interpreter first (it
//! is the specification, ARCHITECTURE.md, *Semantics*), each with the same fuel budget and depth
//! limit, and compares with the interpreter's run: stdout bytes, the result value (by its exact
//! `Debug` form, so `-0.0`, NaN and types count), the error's kind, function and bytecode position
//! (instruction index and byte offset), and the number of instructions executed. Error *messages*
//! are not compared (the position and kind say where and what).
//!
//! A module that uses processes (a string constant `spawn`, [`uses_processes`]) runs in every
//! configuration twice: with the default slice length, and with a short one
//! ([`SHORT_REDUCTIONS`], picked per module by [`short_reductions`]) so that slices end inside
//! compiled code often; the process counters ([`mdvm::ProcessStats`]: processes spawned,
//! messages, slices, context switches) and the failures of processes no link carried on
//! (pid, error kind and position, in order; not written to stderr) must agree too.

use std::fmt;

use mdvm::{Error, Tier, Vm};

/// The fuel budget of every run (instructions).
pub const FUEL: u64 = 10_000;

/// The call-depth limit of every run (frames, main's included).
pub const MAX_DEPTH: usize = 64;

/// The short slice lengths ([`mdvm::VmBuilder::reductions`]) a module with processes also runs
/// with: from every instruction a slice to a few calls' worth.
pub const SHORT_REDUCTIONS: [u32; 8] = [1, 2, 3, 5, 7, 11, 23, 64];

/// Whether `bytes` decode to a module prepared for processes (`mdvm::Program::uses_processes`:
/// a string constant `spawn`).
pub fn uses_processes(bytes: &[u8]) -> bool {
    mdbc::Module::decode(bytes)
        .is_ok_and(|m| m.constants.iter().any(|c| matches!(c, mdbc::Constant::Str(s) if s == "spawn")))
}

/// The short slice length of [`SHORT_REDUCTIONS`] the module `bytes` runs with, picked by a
/// hash of its bytes (so each length is used for some modules).
pub fn short_reductions(bytes: &[u8]) -> u32 {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    SHORT_REDUCTIONS[(h % SHORT_REDUCTIONS.len() as u64) as usize]
}

/// The slice lengths the oracle runs `bytes` with: the default (`None`) and, for a module with
/// processes, [`short_reductions`].
pub fn slice_lengths(bytes: &[u8]) -> Vec<Option<u32>> {
    if uses_processes(bytes) {
        vec![None, Some(short_reductions(bytes))]
    } else {
        vec![None]
    }
}

/// One way of running a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Short name used in reports.
    pub name: &'static str,
    /// The tier.
    pub tier: Tier,
    /// Calls before [`Tier::Auto`] compiles a function (the OSR threshold follows it down
    /// unless `osr_threshold` is set).
    pub jit_threshold: u64,
    /// Back-edges before a loop is entered by OSR, when set (1 is `--always-osr`).
    pub osr_threshold: Option<u32>,
    /// Every guard fails the first time it runs.
    pub stress_deopt: bool,
    /// Every function compiled with its registers written through to their slots (the code
    /// large bodies get).
    pub write_through: bool,
}

/// The configurations [`check_module`] compares; the first is the reference.
pub const CONFIGS: [Config; 10] = [
    Config { name: "interp", tier: Tier::Interp, jit_threshold: 1_000, osr_threshold: None, stress_deopt: false, write_through: false },
    Config { name: "jit", tier: Tier::Jit, jit_threshold: 1_000, osr_threshold: None, stress_deopt: false, write_through: false },
    Config { name: "auto-1", tier: Tier::Auto, jit_threshold: 1, osr_threshold: None, stress_deopt: false, write_through: false },
    Config { name: "auto-3", tier: Tier::Auto, jit_threshold: 3, osr_threshold: None, stress_deopt: false, write_through: false },
    Config { name: "jit-stress-deopt", tier: Tier::Jit, jit_threshold: 1_000, osr_threshold: None, stress_deopt: true, write_through: false },
    Config { name: "auto-1-stress-deopt", tier: Tier::Auto, jit_threshold: 1, osr_threshold: None, stress_deopt: true, write_through: false },
    // Functions stay interpreted (called < 1,000 times) and every loop in them is entered by OSR.
    Config { name: "always-osr", tier: Tier::Auto, jit_threshold: 1_000, osr_threshold: Some(1), stress_deopt: false, write_through: false },
    Config {
        name: "always-osr-stress-deopt",
        tier: Tier::Auto,
        jit_threshold: 1_000,
        osr_threshold: Some(1),
        stress_deopt: true,
        write_through: false,
    },
    Config {
        name: "jit-write-through-stress-deopt",
        tier: Tier::Jit,
        jit_threshold: 1_000,
        osr_threshold: None,
        stress_deopt: true,
        write_through: true,
    },
    Config {
        name: "always-osr-write-through-stress-deopt",
        tier: Tier::Auto,
        jit_threshold: 1_000,
        osr_threshold: Some(1),
        stress_deopt: true,
        write_through: true,
    },
];

/// What one run did, reduced to what must agree between tiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Everything printed.
    pub output: Vec<u8>,
    /// `Ok(debug form of the result)` or `Err(kind, function, instruction index, byte
    /// offset)`; a load error is `Err("load", message, 0, 0)`.
    pub result: Result<String, (String, String, u32, usize)>,
    /// Instructions executed.
    pub instructions: u64,
    /// The error message, if any (reported, not compared).
    pub message: Option<String>,
    /// Bodies the compiled tier failed to compile (a compiler error or panic, such as a
    /// failed debug assertion that the code generator's frame state agrees with the type
    /// analysis): always 0 for a correct tier, so any is a disagreement.
    pub compile_failures: u64,
    /// The run's process counters (all zero but one slice without processes).
    pub processes: mdvm::ProcessStats,
    /// The failures of processes no link carried on ([`mdvm::Vm::process_failures`]), in
    /// order: pid, error kind, function, instruction index, byte offset.
    pub process_failures: Vec<(u64, String, String, u32, usize)>,
}

impl Run {
    fn same_as(&self, other: &Run) -> bool {
        self.output == other.output
            && self.result == other.result
            && self.instructions == other.instructions
            && self.compile_failures == other.compile_failures
            && self.processes == other.processes
            && self.process_failures == other.process_failures
    }
}

/// Runs `bytes` once under `cfg` with [`FUEL`] and [`MAX_DEPTH`].
pub fn run_config(bytes: &[u8], cfg: &Config) -> Run {
    run_config_with(bytes, cfg, None)
}

/// [`run_config`] with slice length `reductions` ([`mdvm::VmBuilder::reductions`]; `None`:
/// the default).
pub fn run_config_with(bytes: &[u8], cfg: &Config, reductions: Option<u32>) -> Run {
    let mut builder = Vm::builder();
    if let Some(n) = cfg.osr_threshold {
        builder = builder.osr_threshold(n);
    }
    if let Some(n) = reductions {
        builder = builder.reductions(n);
    }
    let vm = builder
        .tier(cfg.tier)
        .jit_threshold(cfg.jit_threshold)
        .stress_deopt(cfg.stress_deopt)
        .write_through(cfg.write_through)
        .fuel(Some(FUEL))
        .max_depth(MAX_DEPTH)
        .load_bytes(bytes);
    let mut vm = match vm {
        Ok(vm) => vm,
        Err(e) => {
            return Run {
                output: Vec::new(),
                result: Err(("load".into(), e.to_string(), 0, 0)),
                instructions: 0,
                message: Some(e.to_string()),
                compile_failures: 0,
                processes: mdvm::ProcessStats::default(),
                process_failures: Vec::new(),
            }
        }
    };
    vm.set_report_process_failures(false);
    let outcome = vm.run_captured();
    let (result, message) = match outcome.result {
        Ok(v) => (Ok(format!("{v:?}")), None),
        Err(Error::Runtime(e)) => (Err((e.kind.name().to_string(), e.function.clone(), e.index, e.offset)), Some(e.message)),
        Err(e) => (Err(("other".into(), e.to_string(), 0, 0)), Some(e.to_string())),
    };
    let (compile_failures, last_failure) = vm.stats().jit.map_or((0, None), |j| (j.compiled.compile_failures, j.compiled.last_failure));
    let message = message.or(last_failure.map(|why| format!("compile failure: {why}")));
    let processes = vm.stats().processes;
    let process_failures = vm
        .process_failures()
        .iter()
        .map(|f| (f.pid, f.error.kind.name().to_string(), f.error.function.clone(), f.error.index, f.error.offset))
        .collect();
    Run { output: outcome.output, result, instructions: vm.instruction_count(), message, compile_failures, processes, process_failures }
}

/// A disagreement between the interpreter and one configuration.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The configuration that disagreed.
    pub config: Config,
    /// The slice length both ran with (`None`: the default).
    pub reductions: Option<u32>,
    /// The interpreter's run.
    pub expected: Run,
    /// The configuration's run.
    pub actual: Run,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tier configuration `{}` disagrees with the interpreter", self.config.name)?;
        match self.reductions {
            Some(n) => writeln!(f, " (slices of {n} reductions)")?,
            None => writeln!(f)?,
        }
        for (what, r) in [("interp", &self.expected), (self.config.name, &self.actual)] {
            writeln!(
                f,
                "  {what}: result {:?}, {} instructions, message {:?}, {} compile failures, processes {:?}, process failures {:?}",
                r.result, r.instructions, r.message, r.compile_failures, r.processes, r.process_failures
            )?;
            writeln!(f, "  {what} stdout: {:?}", String::from_utf8_lossy(&r.output))?;
        }
        Ok(())
    }
}

/// Runs `bytes` under every configuration of [`CONFIGS`] and returns the interpreter's run,
/// or the first configuration that disagrees with it.
///
/// Errors: a [`Mismatch`] naming the configuration and both runs.
pub fn check_bytes(bytes: &[u8]) -> Result<Run, Box<Mismatch>> {
    check_bytes_in(bytes, &CONFIGS[1..])
}

/// Runs `bytes` in the interpreter ([`CONFIGS`]`[0]`) and under each of `configs`, and returns
/// the interpreter's run, or the first configuration that disagrees with it. A module with
/// processes runs so with each of its [`slice_lengths`]; the interpreter's run returned is
/// the one with the default slice length.
///
/// Errors: a [`Mismatch`] naming the configuration, the slice length and both runs.
pub fn check_bytes_in<'a>(bytes: &[u8], configs: impl IntoIterator<Item = &'a Config>) -> Result<Run, Box<Mismatch>> {
    let configs: Vec<&Config> = configs.into_iter().collect();
    let mut first = None;
    for reductions in slice_lengths(bytes) {
        let expected = run_config_with(bytes, &CONFIGS[0], reductions);
        for &cfg in &configs {
            let actual = run_config_with(bytes, cfg, reductions);
            if !actual.same_as(&expected) {
                return Err(Box::new(Mismatch { config: *cfg, reductions, expected, actual }));
            }
        }
        first.get_or_insert(expected);
    }
    Ok(first.expect("at least the default slice length"))
}

/// The compiled configuration (one of `CONFIGS[1..]`) that `selector` picks, each for the
/// same share of the 256 values give or take one: the `differential` fuzz target runs each
/// input in the interpreter and in the configuration its first byte picks (see
/// `fuzz/README.md`, *Speed*).
pub fn compiled_config(selector: u8) -> &'static Config {
    let compiled = &CONFIGS[1..];
    &compiled[selector as usize % compiled.len()]
}

/// [`check_bytes`] on the encoding of `m`.
///
/// Errors: a [`Mismatch`] naming the configuration and both runs.
pub fn check_module(m: &mdbc::Module) -> Result<Run, Box<Mismatch>> {
    check_bytes(&m.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compiled configuration is picked by 256 / k or one more of the 256 selector
    /// values (k compiled configurations), the interpreter by none.
    #[test]
    fn selectors_pick_each_compiled_configuration_equally() {
        let k = CONFIGS.iter().filter(|c| c.tier != Tier::Interp).count();
        assert_eq!(k, CONFIGS.len() - 1, "the interpreter is the one reference");
        for cfg in &CONFIGS {
            let n = (0..=255u8).filter(|&s| compiled_config(s) == cfg).count();
            if cfg.tier == Tier::Interp {
                assert_eq!(n, 0, "{}", cfg.name);
            } else {
                assert!((256 / k..=256 / k + 1).contains(&n), "{} picked by {n} selectors", cfg.name);
            }
        }
    }
}
