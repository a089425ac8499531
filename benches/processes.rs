//! `bench-processes`: mdvm's processes against the BEAM (Erlang/OTP's `escript`), the same
//! algorithms side by side and in alternation, and the memory of an idle process.
//!
//! ```text
//! cargo run --release -p mdvm-benches --bin bench-processes -- [--runs N] [--write BENCHMARKS.md]
//!     [--no-install]
//! ```
//!
//! The programs are `benches/peers/{pingpong,spawn_many,ring_token,idle_memory}.mdasm` for
//! mdvm and `benches/peers/processes.erl` for the BEAM:
//! - `pingpong`: 10^6 round trips between main and one process;
//! - `spawn_many`: 10^5 processes, each sending one message back;
//! - `ring_token`: main and 1,000 processes in a ring pass a token 10^6 times.
//!
//! Timing: mdvm runs in this process through the library, a fresh VM per run, timed from loading
//! the bytes to the end of the run (compilation included), under `interp` and under the default
//! tier `auto`. The BEAM reports the microseconds of the work alone (`erlang:monotonic_time`
//! around it, the VM's start-up and the module's compilation excluded). Each result is the
//! median of `--runs` (default 5) alternating runs; every run's output is checked.
//!
//! Memory: `idle_memory` leaves 10^5 processes blocked in `receive` and reports the bytes
//! per process: for mdvm the counting allocator's growth (this binary installs it), for the
//! BEAM the growth of `erlang:memory(processes)`.
//!
//! `erlang-base` is installed with `apt-get` when `escript` is missing (unless `--no-install`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use mdvm::{Tier, Value, Vm};
use mdvm_benches::{machine, on_path, output_of};

#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;

const START: &str = "<!-- bench-processes:start -->";
const END: &str = "<!-- bench-processes:end -->";

/// One program: its name (the `.mdasm` stem and the Erlang entry), the BEAM's arguments, the
/// output both must print, and what it does.
struct Program {
    name: &'static str,
    beam_args: &'static [&'static str],
    output: &'static str,
    what: &'static str,
}

const PROGRAMS: &[Program] = &[
    Program { name: "pingpong", beam_args: &["1000000"], output: "1000000", what: "10^6 round trips between main and one process" },
    Program { name: "spawn_many", beam_args: &["100000"], output: "100000", what: "10^5 processes, each sending one message back" },
    Program {
        name: "ring_token",
        beam_args: &["1000", "1000000"],
        output: "-999",
        what: "a ring of main and 1,000 processes passes a token 10^6 times",
    },
];

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn assemble(name: &str) -> Result<Vec<u8>, String> {
    let path = peers_dir().join(format!("{name}.mdasm"));
    let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(mdbc::assemble(&src).map_err(|e| format!("{}: {e}", path.display()))?.encode())
}

/// One mdvm run: seconds from loading to the end, after checking the output.
fn run_mdvm(bytes: &[u8], tier: Tier, output: &str) -> Result<f64, String> {
    let t = Instant::now();
    let mut vm = Vm::builder().tier(tier).count_instructions(false).load_bytes(bytes).map_err(|e| e.to_string())?;
    let out = vm.run_captured();
    let secs = t.elapsed().as_secs_f64();
    out.result.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.output);
    if text.trim() != output {
        return Err(format!("mdvm {tier} printed {text:?}, not {output:?}"));
    }
    Ok(secs)
}

/// One BEAM run of program `name` with `args`: the seconds of the work it reports, after checking the output.
fn run_beam(name: &str, args: &[&str], output: &str) -> Result<f64, String> {
    let out = Command::new("escript")
        .arg(peers_dir().join("processes.erl"))
        .arg(name)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("escript: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    if !out.status.success() || lines.next().map(str::trim) != Some(output) {
        return Err(format!("the BEAM printed {text:?} ({}), not {output:?}", String::from_utf8_lossy(&out.stderr)));
    }
    let us: f64 = lines.find_map(|l| l.strip_prefix("us=")).and_then(|v| v.trim().parse().ok()).ok_or("no us= line")?;
    Ok(us / 1e6)
}

/// mdvm's bytes per idle process: `idle_memory.mdasm` with `heap_bytes` as a host function.
fn mdvm_idle_bytes() -> Result<i64, String> {
    let bytes = assemble("idle_memory")?;
    let mut vm = Vm::builder()
        .native("heap_bytes", 0, |_: &[Value]| Ok::<Value, String>(Value::Int(mdvm::memory_in_use() as i64)))
        .load_bytes(&bytes)
        .map_err(|e| e.to_string())?;
    let out = vm.run_captured();
    out.result.map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.output).trim().parse().map_err(|e| format!("idle_memory: {e}"))
}

fn beam_idle_bytes() -> Result<i64, String> {
    let out = Command::new("escript")
        .arg(peers_dir().join("processes.erl"))
        .args(["idle_memory", "100000"])
        .output()
        .map_err(|e| format!("escript: {e}"))?;
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().parse().map_err(|e| format!("idle_memory: {e}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-processes: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut runs = 5usize;
    let mut write = None;
    let mut install = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0).ok_or("--runs takes a count")?,
            "--write" => write = Some(args.next().ok_or("--write takes a file")?),
            "--no-install" => install = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !on_path("escript") {
        if !install {
            return Err("escript missing (and --no-install)".into());
        }
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-qq", "erlang-base"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("apt-get install erlang-base failed".into());
        }
    }
    let otp = output_of("erl", &["-noshell", "-eval", "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."]).unwrap_or_default();
    let mut table = String::new();
    writeln!(table, "| program | mdvm interp (s) | mdvm auto (s) | BEAM (s) | interp / BEAM | auto / BEAM |").ok();
    writeln!(table, "|---|---:|---:|---:|---:|---:|").ok();
    for p in PROGRAMS {
        let bytes = assemble(p.name)?;
        let (mut interp, mut auto, mut beam) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            interp.push(run_mdvm(&bytes, Tier::Interp, p.output)?);
            auto.push(run_mdvm(&bytes, Tier::Auto, p.output)?);
            beam.push(run_beam(p.name, p.beam_args, p.output)?);
            eprintln!("bench-processes: {} run {}/{runs}", p.name, i + 1);
        }
        let (i, a, b) = (median(interp), median(auto), median(beam));
        writeln!(table, "| `{}`: {} | {i:.3} | {a:.3} | {b:.3} | {:.2} | {:.2} |", p.name, p.what, i / b, a / b).ok();
    }
    let (m, b) = (mdvm_idle_bytes()?, beam_idle_bytes()?);
    writeln!(table).ok();
    writeln!(table, "Memory per idle process (10^5 blocked in `receive`): mdvm {m} bytes, BEAM {b} bytes ({:.2}x).", m as f64 / b as f64).ok();
    let section = format!(
        "Machine: {}. Erlang/OTP {otp}. Medians of {runs} alternating runs; mdvm from load to end \
         (compilation included), the BEAM the work alone. Command: `cargo run --release -p \
         mdvm-benches --bin bench-processes -- --runs {runs}`.\n\n{table}",
        machine()
    );
    print!("{section}");
    if let Some(path) = write {
        let old = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let new = match (old.find(START), old.find(END)) {
            (Some(a), Some(b)) if a < b => format!("{}{START}\n{section}{}", &old[..a], &old[b..]),
            (None, None) => format!("{old}\n{START}\n{section}{END}\n"),
            _ => return Err(format!("{path}: the markers are out of order")),
        };
        std::fs::write(&path, new).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}
