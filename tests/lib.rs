//! Shared helpers for mdvm's workspace-level tests (`tests/tests/*.rs`).
//!
//! * the conformance corpus: [`corpus_dir`], [`manifest`] (one [`Case`] per `MANIFEST.tsv` row),
//!   each case's bytecode, expected stdout and expected exit status;
//! * running a program through the library ([`run_bytes`], [`run_case`]) or through the `mdvm`
//!   binary ([`mdvm_bin`], [`run_cli`], [`run_case_cli`]), both reduced to stdout bytes and an
//!   exit status (0 or 1) so the two can be compared with the corpus the same way;
//! * small utilities: [`TempDir`], [`hex`], [`describe_mismatch`], [`assert_no_failures`].
//!
//! Fuel: the corpus' expected files were made with a budget of 100,000,000 instructions
//! ([`CORPUS_FUEL`]), which only the `nonterminating` cases use up. Every case except the
//! `bench-asm/` ones runs under that budget here (so a regression that makes a program loop
//! cannot hang the tests); the conformance tests check that no other case comes near it, which
//! is what makes the budget invisible in their output. `bench-asm/` cases (up to 5.4e9
//! instructions) run without a budget.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mdvm::{Error, Vm};

/// Every test binary counts its heap, as the `mdvm` command does, so memory limits are exact.
#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;
pub use mdvm::{ErrorKind, Tier};

/// The fuel budget the corpus' expected files were computed with.
pub const CORPUS_FUEL: u64 = 100_000_000;

/// All tiers, in the order the tests run them.
pub const TIERS: [Tier; 3] = [Tier::Interp, Tier::Jit, Tier::Auto];

/// The corpus used by the tests: `tests/corpus` in this repository.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The shared corpus `tests/corpus` is copied from (`../shared/corpus` beside the checkout).
/// It may be absent.
pub fn shared_corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("shared").join("corpus")
}

/// The workspace root (the directory holding the workspace `Cargo.toml`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// One row of `MANIFEST.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Case name with its folder prefix (`asm/while_sum`, `bench/bench_call_heavy`, `hello_world`).
    pub name: String,
    /// basic, arith, compare, ... (see the corpus README).
    pub category: String,
    /// The `expected_exit` column (0 or 1).
    pub expected_exit: i32,
    /// The `reference_vm_agrees` column (`yes` / `no`).
    pub reference_vm_agrees: String,
    /// The `reference_vm_seconds` column (a number or `timeout`).
    pub reference_vm_seconds: String,
    /// The `cause` column split at commas (`ok`, `fe-codegen`, `nonterminating`, ...).
    pub causes: Vec<String>,
    /// The `notes` column.
    pub notes: String,
}

impl Case {
    /// True for the benchmark-size assembly programs (`bench-asm/`), which run without fuel
    /// and take seconds each even in release mode.
    pub fn is_bench_asm(&self) -> bool {
        self.name.starts_with("bench-asm/")
    }

    /// True when the bytecode never stops and the expected output ends in fuel exhaustion.
    pub fn is_nonterminating(&self) -> bool {
        self.causes.iter().any(|c| c == "nonterminating")
    }

    /// The fuel budget to run this case with: none for `bench-asm/`, [`CORPUS_FUEL`] otherwise.
    pub fn fuel(&self) -> Option<u64> {
        if self.is_bench_asm() {
            None
        } else {
            Some(CORPUS_FUEL)
        }
    }

    /// `corpus/NAME.EXT`.
    pub fn path(&self, ext: &str) -> PathBuf {
        corpus_dir().join(format!("{}.{ext}", self.name))
    }

    /// The `.mdbc` file.
    pub fn mdbc_path(&self) -> PathBuf {
        self.path("mdbc")
    }

    /// The bytecode.
    pub fn bytes(&self) -> Vec<u8> {
        read(&self.mdbc_path())
    }

    /// The expected stdout (`NAME.expected`).
    pub fn expected_stdout(&self) -> Vec<u8> {
        read(&self.path("expected"))
    }

    /// The expected exit status (`NAME.status`).
    pub fn expected_status(&self) -> i32 {
        let p = self.path("status");
        let s = String::from_utf8(read(&p)).unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", p.display()));
        s.trim().parse().unwrap_or_else(|e| panic!("{}: bad exit status {s:?}: {e}", p.display()))
    }
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Every row of `corpus/MANIFEST.tsv`, in file order. Panics on a malformed manifest.
pub fn manifest() -> Vec<Case> {
    let p = corpus_dir().join("MANIFEST.tsv");
    let text = String::from_utf8(read(&p)).expect("MANIFEST.tsv is UTF-8");
    let mut lines = text.lines();
    let header = lines.next().expect("MANIFEST.tsv has a header row");
    let expected_header =
        ["name", "category", "expected_exit", "reference_vm_agrees", "reference_vm_seconds", "cause", "notes"];
    assert_eq!(header.split('\t').collect::<Vec<_>>(), expected_header, "MANIFEST.tsv header");
    let mut cases = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 7, "MANIFEST.tsv line {}: {} columns, expected 7: {line:?}", i + 2, cols.len());
        cases.push(Case {
            name: cols[0].to_string(),
            category: cols[1].to_string(),
            expected_exit: cols[2]
                .parse()
                .unwrap_or_else(|e| panic!("MANIFEST.tsv line {}: expected_exit {:?}: {e}", i + 2, cols[2])),
            reference_vm_agrees: cols[3].to_string(),
            reference_vm_seconds: cols[4].to_string(),
            causes: cols[5].split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect(),
            notes: cols[6].to_string(),
        });
    }
    cases
}

/// The cases the conformance tests run on every tier: all but `bench-asm/`.
pub fn conformance_cases() -> Vec<Case> {
    manifest().into_iter().filter(|c| !c.is_bench_asm()).collect()
}

/// The `bench-asm/` cases.
pub fn bench_asm_cases() -> Vec<Case> {
    manifest().into_iter().filter(Case::is_bench_asm).collect()
}

/// Every file under `dir`, as paths relative to `dir` (sorted), with its bytes.
pub fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for e in entries {
            let e = e.expect("directory entry");
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).expect("under root").to_path_buf(), read(&p));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What a run produced, reduced to what the corpus compares plus what the tests inspect.
#[derive(Debug)]
pub struct Run {
    /// Everything printed on stdout.
    pub stdout: Vec<u8>,
    /// 0 for success, 1 for a load or runtime error (as the CLI would exit).
    pub status: i32,
    /// The error, if any, as the CLI would print it.
    pub error: Option<String>,
    /// The runtime error's kind, if it was one.
    pub error_kind: Option<ErrorKind>,
    /// True when the module failed to load.
    pub load_error: bool,
    /// `vm.instruction_count()` after the run (0 when loading failed).
    pub instructions: u64,
    /// Bodies the compiled tier failed to compile or found over its compile budget, and the
    /// last failure (a compiler error or panic, such as a failed debug assertion of the code
    /// generator).
    pub compile_failures: (u64, Option<String>),
}

/// How a program is run: the tier, and for the compiled tier its threshold and stress mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// The tier.
    pub tier: Tier,
    /// `--jit-threshold`, when not the default.
    pub jit_threshold: Option<u64>,
    /// `--osr-threshold` (1 is `--always-osr`), when not the default.
    pub osr_threshold: Option<u32>,
    /// `--stress-deopt`.
    pub stress: bool,
    /// `--write-through`: every function compiled with its registers written through to their
    /// slots (the code large bodies get).
    pub write_through: bool,
}

impl Mode {
    /// The interpreter only.
    pub const INTERP: Mode = Mode { tier: Tier::Interp, jit_threshold: None, osr_threshold: None, stress: false, write_through: false };
    /// Every function compiled before its first call.
    pub const JIT: Mode = Mode { tier: Tier::Jit, jit_threshold: None, osr_threshold: None, stress: false, write_through: false };
    /// Default thresholds.
    pub const AUTO: Mode = Mode { tier: Tier::Auto, jit_threshold: None, osr_threshold: None, stress: false, write_through: false };
    /// Tier-up (and OSR) after the first call (back-edge), so tier-up and deopt happen mid-run.
    pub const AUTO_T1: Mode = Mode { tier: Tier::Auto, jit_threshold: Some(1), osr_threshold: None, stress: false, write_through: false };
    /// Eager compilation, every guard side-exits once.
    pub const JIT_STRESS: Mode = Mode { tier: Tier::Jit, jit_threshold: None, osr_threshold: None, stress: true, write_through: false };
    /// Tier-up after one call, every guard side-exits once.
    pub const AUTO_T1_STRESS: Mode = Mode { tier: Tier::Auto, jit_threshold: Some(1), osr_threshold: None, stress: true, write_through: false };
    /// Functions tier up at the default call count, but every loop the interpreter runs is
    /// entered by OSR at its first back-edge (`--always-osr`).
    pub const ALWAYS_OSR: Mode = Mode { tier: Tier::Auto, jit_threshold: None, osr_threshold: Some(1), stress: false, write_through: false };
    /// `--always-osr --stress-deopt`: every loop entered by OSR, every guard side-exits once.
    pub const ALWAYS_OSR_STRESS: Mode =
        Mode { tier: Tier::Auto, jit_threshold: None, osr_threshold: Some(1), stress: true, write_through: false };
    /// `--tier jit --write-through --stress-deopt`: every function written through, every
    /// guard side-exits once.
    pub const JIT_WRITE_THROUGH_STRESS: Mode =
        Mode { tier: Tier::Jit, jit_threshold: None, osr_threshold: None, stress: true, write_through: true };
    /// `--always-osr --write-through --stress-deopt`: every loop entered by OSR into
    /// written-through code, every guard side-exits once.
    pub const ALWAYS_OSR_WRITE_THROUGH_STRESS: Mode =
        Mode { tier: Tier::Auto, jit_threshold: None, osr_threshold: Some(1), stress: true, write_through: true };
    /// Every mode, for conformance.
    pub const ALL: [Mode; 8] = [
        Mode::INTERP,
        Mode::JIT,
        Mode::AUTO,
        Mode::AUTO_T1,
        Mode::JIT_STRESS,
        Mode::AUTO_T1_STRESS,
        Mode::ALWAYS_OSR,
        Mode::ALWAYS_OSR_STRESS,
    ];
    /// [`Mode::ALL`] and the written-through stress modes: every way a function can run.
    pub const EVERY: [Mode; 10] = {
        let mut every = [Mode::INTERP; 10];
        let mut i = 0;
        while i < Mode::ALL.len() {
            every[i] = Mode::ALL[i];
            i += 1;
        }
        every[8] = Mode::JIT_WRITE_THROUGH_STRESS;
        every[9] = Mode::ALWAYS_OSR_WRITE_THROUGH_STRESS;
        every
    };

    /// A builder configured for this mode.
    pub fn builder(self) -> mdvm::VmBuilder {
        let mut b = Vm::builder().tier(self.tier).stress_deopt(self.stress).write_through(self.write_through);
        if let Some(t) = self.jit_threshold {
            b = b.jit_threshold(t);
        }
        if let Some(t) = self.osr_threshold {
            b = b.osr_threshold(t);
        }
        b
    }

    /// The `mdvm run` flags for this mode.
    pub fn cli_args(self) -> Vec<String> {
        let mut v = vec!["--tier".to_string(), self.tier.to_string()];
        if let Some(t) = self.jit_threshold {
            v.push("--jit-threshold".into());
            v.push(t.to_string());
        }
        match self.osr_threshold {
            Some(1) => v.push("--always-osr".into()),
            Some(t) => {
                v.push("--osr-threshold".into());
                v.push(t.to_string());
            }
            None => {}
        }
        if self.stress {
            v.push("--stress-deopt".into());
        }
        if self.write_through {
            v.push("--write-through".into());
        }
        v
    }
}

impl From<Tier> for Mode {
    fn from(tier: Tier) -> Mode {
        Mode { tier, jit_threshold: None, osr_threshold: None, stress: false, write_through: false }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cli_args().join(" "))
    }
}

/// Loads `bytes` through the library with `tier`, `fuel` and (if given) `max_depth`, and runs
/// the program with its output captured.
pub fn run_bytes(bytes: &[u8], tier: Tier, fuel: Option<u64>, max_depth: Option<usize>) -> Run {
    run_bytes_mode(bytes, tier.into(), fuel, max_depth)
}

/// As [`run_bytes`], in `mode`.
pub fn run_bytes_mode(bytes: &[u8], mode: Mode, fuel: Option<u64>, max_depth: Option<usize>) -> Run {
    let mut b = mode.builder().fuel(fuel);
    if let Some(d) = max_depth {
        b = b.max_depth(d);
    }
    let mut vm = match b.load_bytes(bytes) {
        Ok(vm) => vm,
        Err(e) => {
            return Run {
                stdout: Vec::new(),
                status: 1,
                error: Some(e.to_string()),
                error_kind: None,
                load_error: true,
                instructions: 0,
                compile_failures: (0, None),
            }
        }
    };
    let outcome = vm.run_captured();
    let (status, error, error_kind) = match &outcome.result {
        Ok(_) => (0, None, None),
        Err(e) => {
            let kind = match e {
                Error::Runtime(r) => Some(r.kind),
                _ => None,
            };
            (1, Some(e.to_string()), kind)
        }
    };
    // A corpus body over the compile budget would leave code the corpus means to test
    // uncompiled: it counts as a failure here.
    let compile_failures = vm.stats().jit.map_or((0, None), |j| {
        let over = (j.compiled.over_budget > 0).then(|| format!("{} bodies over the compile budget", j.compiled.over_budget));
        (j.compiled.compile_failures + j.compiled.over_budget, j.compiled.last_failure.or(over))
    });
    Run { stdout: outcome.output, status, error, error_kind, load_error: false, instructions: vm.instruction_count(), compile_failures }
}

/// Runs a corpus case through the library with `tier` and the case's fuel ([`Case::fuel`]).
pub fn run_case(case: &Case, tier: Tier) -> Run {
    run_bytes(&case.bytes(), tier, case.fuel(), None)
}

/// Runs a corpus case through the library in `mode` with the case's fuel.
pub fn run_case_mode(case: &Case, mode: Mode) -> Run {
    run_bytes_mode(&case.bytes(), mode, case.fuel(), None)
}

/// Compares a run's stdout and exit status with the case's expected files; `None` when both
/// match, else a description of the difference (`detail` is appended, e.g. the error message).
pub fn check_case(case: &Case, stdout: &[u8], status: i32, detail: &str) -> Option<String> {
    let expected = case.expected_stdout();
    let expected_status = case.expected_status();
    let mut problems = Vec::new();
    if status != expected_status {
        problems.push(format!("exit status {status}, expected {expected_status}"));
    }
    if stdout != expected.as_slice() {
        problems.push(describe_mismatch(&expected, stdout));
    }
    if problems.is_empty() {
        None
    } else {
        let mut s = format!("{}: {}", case.name, problems.join("; "));
        if !detail.is_empty() {
            s.push_str(&format!("\n    ({})", detail.trim_end().replace('\n', "\n     ")));
        }
        Some(s)
    }
}

/// A short description of where `got` first differs from `expected`.
pub fn describe_mismatch(expected: &[u8], got: &[u8]) -> String {
    let at = expected.iter().zip(got).position(|(a, b)| a != b).unwrap_or(expected.len().min(got.len()));
    let line = expected[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let window = |s: &[u8]| {
        let start = s[..at.min(s.len())].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let end = (at + 60).min(s.len());
        format!("{:?}", String::from_utf8_lossy(&s[start..end]))
    };
    format!(
        "stdout differs at byte {at} (line {line}; expected {} bytes, got {}): expected {} got {}",
        expected.len(),
        got.len(),
        window(expected),
        window(got)
    )
}

/// Panics with every failure in one message, or does nothing when `failures` is empty.
pub fn assert_no_failures(what: &str, total: usize, failures: &[String]) {
    assert!(failures.is_empty(), "{what}: {} of {total} failed:\n  {}", failures.len(), failures.join("\n  "));
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The `mdvm` binary.

/// The `mdvm` binary of the same profile as the running test, built once per process.
///
/// `MDVM_BIN`, when set, names the binary to use (nothing is built). Otherwise the binary is
/// `target/<profile>/mdvm` next to the test executable (`target/<profile>/deps/...`), and
/// `cargo build -p mdvm-cli --bin mdvm` (with the test's profile and target directory) runs once
/// per process first: `cargo test -p mdvm-tests` does not build other packages' binaries, so
/// the binary could be missing or older than the library under test. Building is a no-op when
/// it is up to date. If cargo cannot be started (e.g. the tests run on another machine or under
/// an emulator) an existing binary is used as is.
pub fn mdvm_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate_or_build_mdvm)
}

fn locate_or_build_mdvm() -> PathBuf {
    if let Some(p) = std::env::var_os("MDVM_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "MDVM_BIN={} is not a file", p.display());
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable location {}", exe.display()))
        .to_path_buf();
    let bin = profile_dir.join(format!("mdvm{}", std::env::consts::EXE_SUFFIX));
    let profile = profile_dir.file_name().and_then(OsStr::to_str).unwrap_or("debug").to_string();
    let above = profile_dir.parent().expect("profile directory has a parent").to_path_buf();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_dir()).args(["build", "--quiet", "-p", "mdvm-cli", "--bin", "mdvm"]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // target/<profile> or, when cross-compiling, target/<triple>/<profile>.
    if above.join("CACHEDIR.TAG").exists() {
        cmd.arg("--target-dir").arg(&above);
    } else if let (Some(target_dir), Some(triple)) = (above.parent(), above.file_name()) {
        cmd.arg("--target-dir").arg(target_dir).arg("--target").arg(triple);
    }
    match cmd.output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "building the mdvm binary failed ({:?}, {}):\n{}{}",
                cmd,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(e) if bin.is_file() => {
            eprintln!("note: cannot run {cargo:?} ({e}); using the existing {}", bin.display());
        }
        Err(e) => panic!("the mdvm binary {} is missing and cargo cannot be run: {e}", bin.display()),
    }
    assert!(bin.is_file(), "the mdvm binary is not at {} after building it", bin.display());
    bin
}

/// What a run of the `mdvm` binary produced.
#[derive(Debug)]
pub struct CliOutput {
    /// The exit code; `None` when the process was killed by a signal (or timed out).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// The arguments, for messages.
    pub args: Vec<String>,
}

impl CliOutput {
    /// stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The exit code as the corpus' status (`-1` for a signal or timeout).
    pub fn status(&self) -> i32 {
        self.code.unwrap_or(-1)
    }

    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "mdvm {} -> exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            truncate(&self.stdout_text(), 2000),
            truncate(&self.stderr_text(), 2000)
        )
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &s[..end], s.len())
    }
}

/// How long one run of the binary may take before it is killed.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether the binary runs under an emulator (`MDVM_BIN_EMULATED=1`, set by
/// `scripts/test-aarch64.sh`, where this test process and the `mdvm` it spawns both run under
/// qemu-aarch64).
fn cli_emulated() -> bool {
    std::env::var_os("MDVM_BIN_EMULATED").is_some_and(|v| v == "1")
}

/// Runs the `mdvm` binary with `args` (stdin empty), killing it after [`CLI_TIMEOUT`].
///
/// Under emulation ([`cli_emulated`]) the first run is killed after 120 s, and one killed
/// without having printed anything is run once more (the slowest CLI test takes about 20 s
/// there). qemu-user can leave a child forked from a multi-threaded emulated process stuck
/// before `exec` (seen once in CI: `mdvm run --tier` killed after 300 s with no output, a run
/// that takes milliseconds). On the host, a hang is always a failure.
pub fn run_cli<S: AsRef<OsStr>>(args: &[S]) -> CliOutput {
    if !cli_emulated() {
        return run_cli_once(args, CLI_TIMEOUT).0;
    }
    let (first, silent_hang) = run_cli_once(args, Duration::from_secs(120));
    if !silent_hang {
        return first;
    }
    eprintln!("note: {} printed nothing and was killed under emulation; running it again", first.args.join(" "));
    run_cli_once(args, CLI_TIMEOUT).0
}

/// One run; also says whether it was killed by the timeout without having printed anything.
fn run_cli_once<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> (CliOutput, bool) {
    let bin = mdvm_bin();
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut out_pipe = child.stdout.take().expect("stdout piped");
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait for mdvm") {
            Some(s) => break Some(s),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let stdout = out_thread.join().expect("stdout reader");
    let mut stderr = err_thread.join().expect("stderr reader");
    let silent_hang = status.is_none() && stdout.is_empty() && stderr.is_empty();
    if status.is_none() {
        stderr.extend_from_slice(format!("\n[killed after {timeout:?}]").as_bytes());
    }
    let out = CliOutput {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        args: args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect(),
    };
    (out, silent_hang)
}

/// Runs a corpus case with `mdvm run --tier TIER [--fuel N] FILE`.
pub fn run_case_cli(case: &Case, tier: Tier) -> CliOutput {
    run_case_cli_mode(case, tier.into())
}

/// Runs a corpus case with `mdvm run MODE-FLAGS [--fuel N] FILE`.
pub fn run_case_cli_mode(case: &Case, mode: Mode) -> CliOutput {
    let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
    args.extend(mode.cli_args().into_iter().map(Into::into));
    if let Some(f) = case.fuel() {
        args.push("--fuel".into());
        args.push(f.to_string().into());
    }
    args.push(case.mdbc_path().into());
    run_cli(&args)
}

// ---------------------------------------------------------------------------------------------
// Temporary directories.

/// A fresh directory under [`std::env::temp_dir`], removed (with its content) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMP/mdvm-tests-<label>-<pid>-<n>-<nanos>`.
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "mdvm-tests-{label}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `NAME` in the directory and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Assembles `.mdasm` text and encodes it (panics on an assembly error).
pub fn assemble_bytes(src: &str) -> Vec<u8> {
    mdbc::assemble(src).unwrap_or_else(|e| panic!("assembly failed: {e}\n{src}")).encode()
}
