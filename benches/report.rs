//! `bench-report`: runs every benchmark program in every tier a few times in one process and
//! prints a Markdown report (machine, command, table of medians), ready to paste into
//! `BENCHMARKS.md` or to write there between the markers
//! `<!-- bench-report:start -->` and `<!-- bench-report:end -->` with `--write FILE`.
//!
//! ```text
//! cargo run --release -p mdvm-benches --bin bench-report -- [--runs N] [--tiers interp,jit,auto]
//!     [--filter SUBSTRING]... [--write FILE]
//! ```
//!
//! Each run loads the program into a fresh VM and runs it to the end with output discarded;
//! the runs of the tiers are interleaved (interp, jit, auto, interp, ...) so that slow drifts of
//! a noisy machine hit every tier alike. Before timing, every program runs once per tier
//! untimed, which checks that it ends without error and, for programs run as stored, prints
//! exactly its `.expected` output.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mdvm::Tier;
use mdvm_benches::{check, suite, BenchProgram, TIERS};

const START: &str = "<!-- bench-report:start -->";
const END: &str = "<!-- bench-report:end -->";

struct Options {
    runs: usize,
    tiers: Vec<Tier>,
    filters: Vec<String>,
    write: Option<String>,
}

const USAGE: &str = "usage: bench-report [--runs N] [--tiers interp,jit,auto] [--filter SUBSTRING]... [--write FILE]

Runs each benchmark program N times (default 5) in each tier and prints a Markdown report of the
median wall times. --filter keeps programs whose name contains SUBSTRING (repeatable);
--write FILE replaces the part of FILE between <!-- bench-report:start --> and
<!-- bench-report:end --> with the report (appending it when the markers are missing).";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 5,
        tiers: TIERS.to_vec(),
        filters: Vec::new(),
        write: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => {
                o.runs = value("--runs")?
                    .parse()
                    .map_err(|_| "--runs needs a positive integer".to_string())?;
                if o.runs == 0 {
                    return Err("--runs needs a positive integer".into());
                }
            }
            "--tiers" => {
                o.tiers = value("--tiers")?
                    .split(',')
                    .map(|t| match t.trim() {
                        "interp" => Ok(Tier::Interp),
                        "jit" => Ok(Tier::Jit),
                        "auto" => Ok(Tier::Auto),
                        other => Err(format!("unknown tier {other:?} (interp, jit, auto)")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--filter" => o.filters.push(value("--filter")?),
            "--write" => o.write = Some(value("--write")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// The CPU model from /proc/cpuinfo and the number of logical CPUs.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    let cpus = if cpus > 0 {
        cpus
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut s = format!(
        "{model}, {cpus} logical CPUs, {} {}",
        std::env::consts::OS,
        kernel
    );
    if let Some(v) = command_output("rustc", &["-V"]) {
        let _ = write!(s, "; {v}");
    }
    s
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The source revision measured: the commit, and whether the tree had uncommitted changes.
fn revision() -> Option<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let commit = command_output("git", &["-C", dir, "rev-parse", "--short", "HEAD"])?;
    let dirty = command_output(
        "git",
        &[
            "-C",
            dir,
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "crates",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit} with uncommitted changes under crates/")
    } else {
        commit
    })
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = digits[..first].to_string();
    for group in digits.as_bytes()[first..].chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

fn ns_figure(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else if ns >= 10.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.2}")
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

struct Row {
    tier: Tier,
    median: Duration,
    min: Duration,
    max: Duration,
}

struct Measured {
    program: BenchProgram,
    instructions: u64,
    rows: Vec<Row>,
}

fn measure(p: BenchProgram, o: &Options) -> Result<Measured, String> {
    // One untimed checking run per tier (also the warm-up).
    let mut instructions = 0;
    for &tier in &o.tiers {
        let n = check(&p, tier).map_err(|e| e.to_string())?;
        if tier == Tier::Interp || instructions == 0 {
            instructions = n;
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(o.runs); o.tiers.len()];
    for _ in 0..o.runs {
        for (i, &tier) in o.tiers.iter().enumerate() {
            let t = Instant::now();
            let r = p.run(tier, &mut std::io::sink());
            let dt = t.elapsed();
            r.map_err(|e| format!("{} ({tier}): {e}", p.name))?;
            times[i].push(dt);
        }
    }
    let rows = o
        .tiers
        .iter()
        .zip(&mut times)
        .map(|(&tier, t)| {
            let median = median(t);
            Row {
                tier,
                median,
                min: t[0],
                max: t[t.len() - 1],
            }
        })
        .collect();
    Ok(Measured {
        program: p,
        instructions,
        rows,
    })
}

fn command_line(o: &Options) -> String {
    let mut c = String::from("cargo run --release -p mdvm-benches --bin bench-report --");
    let _ = write!(c, " --runs {}", o.runs);
    if o.tiers != TIERS {
        let t: Vec<String> = o.tiers.iter().map(Tier::to_string).collect();
        let _ = write!(c, " --tiers {}", t.join(","));
    }
    for f in &o.filters {
        let _ = write!(c, " --filter {f}");
    }
    if let Some(w) = &o.write {
        let _ = write!(c, " --write {w}");
    }
    c
}

fn render(results: &[Measured], o: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{START}");
    let _ = writeln!(s, "Measured {} with:", today());
    let _ = writeln!(s);
    let _ = writeln!(s, "```");
    let _ = writeln!(s, "{}", command_line(o));
    let _ = writeln!(s, "```");
    let _ = writeln!(s);
    let _ = writeln!(s, "- machine: {}", machine());
    if let Some(r) = revision() {
        let _ = writeln!(s, "- source: mdvm commit {r}");
    }
    let _ = writeln!(
        s,
        "- each figure is the median of {} runs (min-max beside it); a run loads the program into a fresh VM and runs it to the end, output discarded; tiers interleaved",
        o.runs
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| program | sizing | work per run | instructions per run | tier | median ms | min-max ms | ns per unit | ns per instruction | interp / tier |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for m in results {
        let p = &m.program;
        let interp = m
            .rows
            .iter()
            .find(|r| r.tier == Tier::Interp)
            .map(|r| r.median);
        for (i, r) in m.rows.iter().enumerate() {
            let ns = r.median.as_nanos() as f64;
            let (name, sizing, work, instr) = if i == 0 {
                (
                    format!("`{}`", p.name),
                    p.sizing.clone(),
                    format!("{} {}s", thousands(p.elements), p.unit.name()),
                    thousands(m.instructions),
                )
            } else {
                Default::default()
            };
            let ratio = interp.map_or_else(
                || "-".to_string(),
                |i| format!("{:.2}", i.as_secs_f64() / r.median.as_secs_f64()),
            );
            let _ = writeln!(
                s,
                "| {name} | {sizing} | {work} | {instr} | {} | {:.1} | {:.1}-{:.1} | {} per {} | {} | {ratio} |",
                r.tier,
                r.median.as_secs_f64() * 1e3,
                r.min.as_secs_f64() * 1e3,
                r.max.as_secs_f64() * 1e3,
                ns_figure(ns / p.elements as f64),
                p.unit.name(),
                ns_figure(ns / m.instructions.max(1) as f64),
            );
        }
    }
    // The targets, when their programs were measured in the tier they are about.
    let per_unit = |name: &str, tier: Tier| {
        results.iter().find(|m| m.program.name == name).and_then(|m| {
            m.rows
                .iter()
                .find(|r| r.tier == tier)
                .map(|r| r.median.as_nanos() as f64 / m.program.elements as f64)
        })
    };
    // (what, program, tier, target in ns per unit, reference points measured elsewhere).
    let targets = [
        (
            "`bench/fib_recursive`: ns per call",
            "bench/fib_recursive",
            Tier::Interp,
            15.0,
            "Lua 5.4 14.5, CPython 32, reference VM 1,020",
        ),
        ("`asm/while_sum`: ns per iteration", "asm/while_sum", Tier::Interp, 7.0, "-"),
        (
            "`bench/fib_recursive` (fib(27), 635,621 calls): ns per call, whole run with warm-up and compilation",
            "bench/fib_recursive",
            Tier::Auto,
            2.5,
            "LuaJIT 1.93, C -O1 1.17 (goal 1.8)",
        ),
        (
            "`examples/fib` (7.3 million calls): ns per call, whole run",
            "examples/fib",
            Tier::Auto,
            2.5,
            "LuaJIT 1.93, C -O1 1.17 (goal 1.8)",
        ),
    ];
    let measured: Vec<_> = targets
        .iter()
        .filter_map(|&(what, name, tier, t, refs)| per_unit(name, tier).map(|v| (what, tier, v, t, refs)))
        .collect();
    if !measured.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| target | tier | target (ns) | measured (median) | met | for comparison (not measured by this command) |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---|---|");
        for (what, tier, v, t, refs) in measured {
            let _ = writeln!(
                s,
                "| {what} | {tier} | <= {t} | {} | {} | {refs} |",
                ns_figure(v),
                if v <= t { "yes" } else { "no" }
            );
        }
    }
    // Compile time: one eager (`jit`) run of every program, counted by the tier.
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| compile time (tier jit, one run) | functions compiled | OSR entries compiled | total ms | us per function |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let (mut all_fns, mut all_ns) = (0u64, 0u64);
    for m in results {
        if let Some(j) = mdvm_benches::jit_stats(&m.program, Tier::Jit) {
            let n = j.compiled.functions_compiled + j.compiled.osr_compiled;
            all_fns += n;
            all_ns += j.compiled.compile_nanos;
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {:.2} | {:.0} |",
                m.program.name,
                j.compiled.functions_compiled,
                j.compiled.osr_compiled,
                j.compiled.compile_nanos as f64 / 1e6,
                j.compiled.compile_nanos as f64 / 1e3 / n.max(1) as f64
            );
        }
    }
    if all_fns > 0 {
        let _ = writeln!(
            s,
            "| all | {all_fns} | | {:.2} | {:.0} |",
            all_ns as f64 / 1e6,
            all_ns as f64 / 1e3 / all_fns as f64
        );
    }
    let _ = writeln!(s, "{END}");
    s
}

fn write_into(path: &str, section: &str) -> Result<(), String> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {path}: {e}")),
    };
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!(
            "{}{}{}",
            &old[..a],
            section.trim_end(),
            &old[b + END.len()..]
        ),
        (None, None) => {
            let sep = if old.is_empty() || old.ends_with("\n\n") {
                ""
            } else if old.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{old}{sep}{section}")
        }
        _ => {
            return Err(format!(
                "{path}: the markers {START} and {END} are not in order"
            ))
        }
    };
    std::fs::write(path, new).map_err(|e| format!("cannot write {path}: {e}"))
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench-report: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "bench-report: warning: built without optimizations; use --release for real figures"
        );
    }
    let programs = match suite() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench-report: {e}");
            return ExitCode::FAILURE;
        }
    };
    let programs: Vec<_> = programs
        .into_iter()
        .filter(|p| o.filters.is_empty() || o.filters.iter().any(|f| p.name.contains(f.as_str())))
        .collect();
    if programs.is_empty() {
        eprintln!("bench-report: no program matches the filters");
        return ExitCode::FAILURE;
    }
    let mut results = Vec::new();
    for p in programs {
        eprint!("{} ...", p.name);
        match measure(p, &o) {
            Ok(m) => {
                let times: Vec<String> = m
                    .rows
                    .iter()
                    .map(|r| format!("{} {:.1} ms", r.tier, r.median.as_secs_f64() * 1e3))
                    .collect();
                eprintln!(" {}", times.join(", "));
                results.push(m);
            }
            Err(e) => {
                eprintln!(" failed");
                eprintln!("bench-report: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let report = render(&results, &o);
    print!("{report}");
    if let Some(path) = &o.write {
        if let Err(e) = write_into(path, &report) {
            eprintln!("bench-report: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("bench-report: wrote the report into {path}");
    }
    ExitCode::SUCCESS
}
