//! `mdvm`: run, disassemble, assemble and check Machine Dialect bytecode.
//!
//! Exit status: 0 on success, 1 when loading or running the program fails (the error goes to
//! stderr; what the program printed stays printed), 2 on bad usage.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand, ValueEnum};
use mdvm::{Tier, Vm};

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

#[derive(Subcommand)]
enum Command {
    /// Run a program; its output goes to stdout, errors to stderr (exit status 1).
    Run {
        /// The .mdbc file.
        file: PathBuf,
        /// Execution tier.
        #[arg(long, value_enum, default_value = "auto")]
        tier: TierArg,
        /// Stop with an error after this many bytecode instructions.
        #[arg(long)]
        fuel: Option<u64>,
        /// Maximum number of live frames, main's included.
        #[arg(long, default_value_t = mdvm::DEFAULT_MAX_DEPTH, value_parser = clap::value_parser!(u64).range(1..).map(|v| v as usize))]
        max_depth: usize,
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

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

struct RunOptions {
    tier: TierArg,
    fuel: Option<u64>,
    max_depth: usize,
    stats: bool,
    jit_threshold: u64,
    osr_threshold: Option<u32>,
    stress_deopt: bool,
}

fn run(file: PathBuf, o: RunOptions) -> Result<(), String> {
    let RunOptions { tier, fuel, max_depth, stats, jit_threshold, osr_threshold, stress_deopt } = o;
    let tier = match tier {
        TierArg::Interp => Tier::Interp,
        TierArg::Jit => Tier::Jit,
        TierArg::Auto => Tier::Auto,
    };
    let mut builder = Vm::builder();
    if let Some(n) = osr_threshold {
        builder = builder.osr_threshold(n);
    }
    let mut vm = builder
        .tier(tier)
        .fuel(fuel)
        .max_depth(max_depth)
        .count_instructions(stats)
        .jit_threshold(jit_threshold)
        .stress_deopt(stress_deopt)
        .load_file(&file).map_err(|e| e.to_string())?;
    let stdout = io::stdout();
    let result = if stdout.is_terminal() {
        let mut out = io::LineWriter::new(stdout.lock());
        vm.run(&mut out)
    } else {
        let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
        vm.run(&mut out)
    };
    if stats {
        eprint!("{}", vm.stats());
    }
    result.map(|_| ()).map_err(|e| e.to_string())
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
        Command::Run { file, tier, fuel, max_depth, stats, jit_threshold, osr_threshold, always_osr, stress_deopt } => {
            let osr_threshold = if always_osr { Some(1) } else { osr_threshold };
            run(file, RunOptions { tier, fuel, max_depth, stats, jit_threshold, osr_threshold, stress_deopt })
        }
        Command::Dis { file } => read(&file).and_then(|b| {
            let m = mdbc::Module::decode(&b).map_err(|e| e.to_string())?;
            io::stdout().write_all(mdbc::disassemble(&m).as_bytes()).map_err(|e| e.to_string())
        }),
        Command::Asm { input, output } => std::fs::read_to_string(&input)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))
            .and_then(|src| {
                let m = mdbc::assemble(&src).map_err(|e| format!("{}: {e}", input.display()))?;
                mdbc::verify(&m).map_err(|e| e.to_string())?;
                std::fs::write(&output, m.encode()).map_err(|e| format!("cannot write {}: {e}", output.display()))
            }),
        Command::Check { file } => check(file),
        Command::Natives => natives(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mdvm: {e}");
            ExitCode::from(1)
        }
    }
}
