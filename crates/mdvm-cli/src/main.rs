//! `mdvm`: run, disassemble, assemble and check Machine Dialect bytecode.
//!
//! Exit status: 0 on success, 1 when loading or running the program fails (the error goes to
//! stderr; what the program printed stays printed), 2 on bad usage, and 128 + the signal's
//! number when SIGINT, SIGTERM or SIGHUP stopped a run (130, 143, 129).
//!
//! **Signals.** During `run`, SIGINT, SIGTERM or SIGHUP ends the process at once with what the
//! program printed flushed (the output buffer is shared with the signal thread, which waits for
//! a write in progress), `mdvm: stopped by SIGINT` on stderr, and exit status 128 + the signal.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The heap is counted, so `--max-memory` is exact.
#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mdvm::{Tier, Vm};

/// `eprintln!` without its panic: a write to a closed stderr (the reader of a pipe gone) is
/// dropped, so the run, its exit status and a signal's exit are not lost to a panic. Shadows
/// std's macro in this crate.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` without its panic (see `eprintln!`).
macro_rules! eprint {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod debug;

#[derive(Parser)]
#[command(name = "mdvm", version, about = "A JIT-compiling virtual machine for Machine Dialect bytecode (.mdbc)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum TierArg {
    /// The interpreter only.
    Interp,
    /// Compile every function before its first call.
    Jit,
    /// Interpret, profile, and compile what gets hot.
    Auto,
}

/// The options of a run, shared by `run` and `debug`.
#[derive(Args)]
struct RunArgs {
    /// Execution tier.
    #[arg(long, value_enum, default_value = "auto")]
    tier: TierArg,
    /// Stop with an error after this many bytecode instructions.
    #[arg(long)]
    fuel: Option<u64>,
    /// Maximum number of live frames, main's included (per process).
    #[arg(long, default_value_t = mdvm::DEFAULT_MAX_DEPTH, value_parser = clap::value_parser!(u64).range(1..).map(|v| v as usize))]
    max_depth: usize,
    /// Instructions a process runs per slice while other processes are runnable.
    #[arg(long, default_value_t = mdvm::DEFAULT_REDUCTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    reductions: u32,
    /// Print execution statistics to stderr.
    #[arg(long)]
    stats: bool,
    /// With --tier auto: compile a function after this many calls (and, without
    /// --osr-threshold, enter loops by OSR after at most this many back-edges).
    #[arg(long, default_value_t = mdvm::DEFAULT_JIT_THRESHOLD, value_parser = clap::value_parser!(u64).range(1..))]
    jit_threshold: u64,
    /// Enter a loop by OSR once its header has been reached by this many back-edges
    /// [default: 2000, or --jit-threshold when that is smaller].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    osr_threshold: Option<u32>,
    /// Enter every loop the interpreter runs by OSR at its first back-edge (testing; the
    /// same as --osr-threshold 1).
    #[arg(long, conflicts_with = "osr_threshold")]
    always_osr: bool,
    /// Make every guard of compiled code side-exit the first time it runs (testing).
    #[arg(long)]
    stress_deopt: bool,
    /// Compile every function with its registers written through to their slots, the code
    /// large bodies get (testing).
    #[arg(long)]
    write_through: bool,
    /// Stop with an error when the run has taken this many seconds (wall clock; a
    /// fraction such as 0.5 is allowed).
    #[arg(long, value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Stop with an "out of memory" error when the program's heap would pass this many
    /// bytes (K, M, G suffixes allowed) [default: 3/4 of the machine's or the cgroup's
    /// memory, or half of `ulimit -v`, whichever is least].
    #[arg(long, value_parser = mdvm::parse_bytes)]
    max_memory: Option<usize>,
    /// Trace to stderr: a comma-separated list of `tiers` (compiles, OSR entries, deopts with
    /// their reasons), `calls` (every call and return, with values) and `instructions` (every
    /// instruction with its operands' values), or `all`; `--trace` alone is `tiers`. The
    /// `MDVM_LOG` environment variable takes the same list. `calls` and `instructions` run
    /// the program in the interpreter.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "tiers", value_name = "LIST")]
    trace: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program; its output goes to stdout, errors to stderr (exit status 1).
    Run {
        /// The .mdbc file.
        file: PathBuf,
        #[command(flatten)]
        options: RunArgs,
    },
    /// Debug a program: breakpoints, stepping, backtraces and registers (commands from the
    /// terminal, or one per line from stdin or --commands; `help` lists them). The program's
    /// output goes to stdout, the debugger's to stderr.
    Debug {
        /// The .mdbc file.
        file: PathBuf,
        /// Read the debugger's commands from this file instead of stdin.
        #[arg(long)]
        commands: Option<PathBuf>,
        #[command(flatten)]
        options: RunArgs,
    },
    /// Disassemble a program to .mdasm text on stdout.
    Dis {
        /// The .mdbc file.
        file: PathBuf,
    },
    /// Assemble .mdasm text into a .mdbc file.
    Asm {
        /// The .mdasm file.
        input: PathBuf,
        /// Where to write the .mdbc file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Load and verify a program; report its functions, registers and constants.
    Check {
        /// The .mdbc file.
        file: PathBuf,
    },
    /// List the natives programs can call by name: name, arity and what each does.
    Natives,
}

/// A `--timeout` value: positive seconds, fractions allowed.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number of seconds: {s:?}"))?;
    if v.is_nan() || v <= 0.0 || v.is_infinite() {
        return Err(format!("the timeout must be a positive number of seconds, not {s:?}"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{s:?}: {e}"))
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Why `main` exits other than with 0: a message for stderr and the exit status.
struct Failure {
    message: String,
    status: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { message, status: 1 }
    }
}

/// The program's output: stdout behind a buffer (by lines on a terminal, 64 KiB otherwise),
/// shared with the signal thread so that it can flush what was printed before the process
/// exits.
#[derive(Clone)]
struct SharedOut(Arc<Mutex<Box<dyn Write + Send>>>);

impl SharedOut {
    fn stdout() -> SharedOut {
        let stdout = io::stdout();
        let w: Box<dyn Write + Send> = if stdout.is_terminal() {
            Box::new(io::LineWriter::new(stdout))
        } else {
            Box::new(io::BufWriter::with_capacity(1 << 16, stdout))
        };
        SharedOut(Arc::new(Mutex::new(w)))
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        // A panic while writing leaves the buffer usable: keep going.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.lock().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

/// Ends the process on SIGINT, SIGTERM and SIGHUP with the program's output flushed (see the
/// crate documentation).
#[cfg(unix)]
mod signals {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::{Handle, Signals};

    use super::SharedOut;

    /// Signal handling for one run; dropping it restores the default handling.
    pub struct Guard {
        handle: Handle,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            self.handle.close();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Installs the handlers: a signal flushes `out` (waiting for a write in progress to
    /// finish, so no line is cut) and exits with 128 + the signal. The run is not interrupted
    /// first: compiled code then needs no safepoints, and nothing it printed is lost.
    pub fn install(out: SharedOut) -> Option<Guard> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).ok()?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("mdvm-signals".to_string())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let mut out = out;
                    let _ = std::io::Write::flush(&mut out);
                    let name = match sig {
                        SIGINT => "SIGINT",
                        SIGTERM => "SIGTERM",
                        _ => "SIGHUP",
                    };
                    eprintln!("mdvm: stopped by {name}");
                    std::process::exit(128 + sig);
                }
            })
            .ok()?;
        Some(Guard { handle, thread: Some(thread) })
    }
}

/// A VM for `file` configured by `o`; `count` makes it count instructions whatever `--stats`
/// says (the debugger reports them).
fn build_vm(file: &PathBuf, o: &RunArgs, count: bool) -> Result<Vm, Failure> {
    let tier = match o.tier {
        TierArg::Interp => Tier::Interp,
        TierArg::Jit => Tier::Jit,
        TierArg::Auto => Tier::Auto,
    };
    let mut builder = Vm::builder();
    let osr_threshold = if o.always_osr { Some(1) } else { o.osr_threshold };
    if let Some(n) = osr_threshold {
        builder = builder.osr_threshold(n);
    }
    if let Some(m) = o.max_memory {
        builder = builder.max_memory(Some(m));
    }
    let mut vm = builder
        .tier(tier)
        .fuel(o.fuel)
        .max_depth(o.max_depth)
        .reductions(o.reductions)
        .count_instructions(o.stats || count)
        .jit_threshold(o.jit_threshold)
        .stress_deopt(o.stress_deopt)
        .write_through(o.write_through)
        .timeout(o.timeout)
        .load_file(file)
        .map_err(|e| e.to_string())?;
    let list = o.trace.clone().or_else(|| std::env::var("MDVM_LOG").ok().filter(|s| !s.trim().is_empty()));
    if let Some(list) = list {
        let (calls, instructions) = install_trace(&list)?;
        vm.set_trace(calls, instructions);
    }
    Ok(vm)
}

/// Writes the trace categories in `list` (see `--trace`) to stderr; returns whether `calls`
/// and `instructions` are among them (they need the interpreter's tracer).
fn install_trace(list: &str) -> Result<(bool, bool), String> {
    use tracing_subscriber::util::SubscriberInitExt;
    let c = mdvm::TraceCategories::parse(list)?;
    // A second installation (none in this program) would keep the first.
    let _ = c.subscriber(io::stderr).try_init();
    Ok((c.calls, c.instructions))
}

fn run(file: PathBuf, o: RunArgs) -> Result<(), Failure> {
    let mut vm = build_vm(&file, &o, false)?;
    let mut out = SharedOut::stdout();
    #[cfg(unix)]
    let _signals = signals::install(out.clone());
    // `Vm::run` flushes the output before it returns, whatever ended the run.
    let result = vm.run(&mut out);
    if o.stats {
        eprint!("{}", vm.stats());
    }
    result.map(|_| ()).map_err(|e| Failure::from(e.to_string()))
}

/// `mdvm debug`: the session's exit status is the last run's (see [`debug::session`]).
fn debug(file: PathBuf, commands: Option<PathBuf>, o: RunArgs) -> Result<(), Failure> {
    let vm = build_vm(&file, &o, true)?;
    let commands: Option<Box<dyn io::BufRead>> = match commands {
        Some(p) => Some(Box::new(io::BufReader::new(
            std::fs::File::open(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ))),
        None => None,
    };
    let mut out = SharedOut::stdout();
    // As under `run`: SIGINT, SIGTERM and SIGHUP end the session with the output flushed (the
    // line editor takes Ctrl-C at the prompt itself).
    #[cfg(unix)]
    let _signals = signals::install(out.clone());
    let mut flusher = out.clone();
    let status = debug::session(vm, &mut out, Box::new(move || {
        let _ = flusher.flush();
    }), commands);
    match status {
        0 => Ok(()),
        s => Err(Failure { message: String::new(), status: s }),
    }
}

fn check(file: PathBuf) -> Result<(), String> {
    let bytes = read(&file)?;
    let (m, layout) = mdbc::Module::load(&bytes).map_err(|e| e.to_string())?;
    let mut out = String::new();
    out.push_str(&format!("{}: ok\n", file.display()));
    out.push_str(&format!("module: {}\n", m.name));
    out.push_str(&format!("instructions: {}", m.code.len()));
    if m.header_count as usize != m.code.len() {
        out.push_str(&format!(" (header says {}: frontend serializer miscount, repaired)", m.header_count));
    }
    out.push('\n');
    out.push_str(&format!("constants: {}\n", m.constants.len()));
    out.push_str(&format!("functions: {}\n", layout.bodies.len()));
    for b in &layout.bodies {
        let entry_mark = if layout.bodies.get(layout.entry_body).is_some_and(|e| e == b) { " (entry)" } else { "" };
        out.push_str(&format!(
            "  {}: instructions {}..{} ({}), registers {}{}\n",
            b.name,
            b.start,
            b.end,
            b.end - b.start,
            b.nregs,
            entry_mark
        ));
    }
    io::stdout().write_all(out.as_bytes()).map_err(|e| e.to_string())
}

fn natives() -> Result<(), String> {
    let builder = Vm::builder();
    let list = builder.natives();
    let width = list.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for n in list.iter() {
        out.push_str(&format!("{:width$}  {:>2}  {}\n", n.name, n.arity.to_string(), n.summary));
    }
    io::stdout().write_all(out.as_bytes()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let r = match cli.command {
        Command::Run { file, options } => run(file, options),
        Command::Debug { file, commands, options } => debug(file, commands, options),
        Command::Dis { file } => read(&file).and_then(|b| {
            let m = mdbc::Module::decode(&b).map_err(|e| e.to_string())?;
            io::stdout().write_all(mdbc::disassemble(&m).as_bytes()).map_err(|e| e.to_string())
        })
        .map_err(Failure::from),
        Command::Asm { input, output } => std::fs::read_to_string(&input)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))
            .and_then(|src| {
                let m = mdbc::assemble(&src).map_err(|e| format!("{}: {e}", input.display()))?;
                mdbc::verify(&m).map_err(|e| e.to_string())?;
                std::fs::write(&output, m.encode()).map_err(|e| format!("cannot write {}: {e}", output.display()))
            })
            .map_err(Failure::from),
        Command::Check { file } => check(file).map_err(Failure::from),
        Command::Natives => natives().map_err(Failure::from),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("mdvm: {}", f.message);
            }
            ExitCode::from(f.status)
        }
    }
}
