//! `bench-compare`: the comparison harness. Runs the same algorithms, at the same sizes, side by
//! side and in alternation on mdvm's interpreter, mdvm's compiled tier, the reference VM wheel
//! (`machine-dialect-vm` 0.1.0a2), CPython, Lua 5.4, LuaJIT and C (`gcc -O2`), checks that every
//! implementation prints the same result, and writes a Markdown section (machine, versions,
//! medians, ratios to C) and an SVG plot into `BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release -p mdvm-benches --bin bench-compare -- --write BENCHMARKS.md
//!     [--runs N] [--budget SECONDS] [--timeout SECONDS] [--filter NAME]... [--peers a,b,...]
//!     [--no-install]
//! ```
//!
//! The programs: mdvm and the reference VM run bytecode assembled from the `bench-asm` corpus
//! programs (and `benches/peers/fib.mdasm`) with their size parameters set by
//! [`mdvm_benches::resize_asm`]; the other peers run the files in `benches/peers/` (`NAME.c`,
//! `NAME.lua` for both Lua 5.4 and LuaJIT, `NAME.py`), which take the same sizes as
//! command-line arguments.
//!
//! Missing peers are installed: `lua5.4`, `luajit` (and `gcc`) with `apt-get`, CPython's venv
//! with the reference VM wheel by `python3 -m venv` and `pip` into `target/bench-peers/venv`.
//!
//! Timing: external peers are timed as a whole process (start-up included; the start-up of
//! each peer with an empty program is measured and reported). mdvm runs in this process
//! through the library: a fresh VM per run, timed from loading the bytes (decode, verify) to the
//! end of the run, so compilation is included for the compiled tier; load and compile times
//! are reported beside it.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mdvm::{Tier, Vm};
use mdvm_benches::{calls_in_fib, count_iterations, machine, on_path, output_of, read_corpus_text, resize_asm};

const START: &str = "<!-- bench-compare:start -->";
const END: &str = "<!-- bench-compare:end -->";
const SVG_NAME: &str = "benches/peers/comparison.svg";

/// One program of the comparison.
struct Bench {
    /// Short name (the peers' file stem in `benches/peers/`).
    name: &'static str,
    /// The `.mdasm` source for mdvm and the reference VM: `corpus:bench-asm/X.mdasm` or
    /// `peers:X.mdasm`.
    source: &'static str,
    /// Size parameters, in the order the peers take them on their command line.
    sizes: &'static [(&'static str, i64)],
    /// What one unit of work is (`call`, `iteration`).
    unit: &'static str,
    /// Why the reference VM does not run it (`None`: it does).
    refvm_skip: Option<&'static str>,
    /// One line on what it does.
    what: &'static str,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "fib",
        source: "peers:fib.mdasm",
        sizes: &[("N", 32)],
        unit: "call",
        refvm_skip: None,
        what: "naive recursive fib(N)",
    },
    Bench {
        name: "while_sum",
        source: "corpus:bench-asm/while_sum.mdasm",
        sizes: &[("N", 100_000_000)],
        unit: "iteration",
        refvm_skip: None,
        what: "sum = 1 + ... + N in a while loop",
    },
    Bench {
        name: "nested_mod",
        source: "corpus:bench-asm/nested_mod.mdasm",
        sizes: &[("A", 5_000), ("B", 5_000), ("M", 5_000)],
        unit: "iteration",
        refvm_skip: Some("its MOD_R truncates, so the total differs"),
        what: "acc += (i * j) % 7 (floor modulo), i in [-A, B), j in [1, M]",
    },
    Bench {
        name: "float_loop",
        source: "corpus:bench-asm/float_loop.mdasm",
        sizes: &[("K", 50_000_000)],
        unit: "iteration",
        refvm_skip: None,
        what: "x = x * 1.0000001 + 0.5, K times",
    },
    Bench {
        name: "array_sum",
        source: "corpus:bench-asm/array_sum.mdasm",
        sizes: &[("N", 1_000_000), ("R", 100)],
        unit: "iteration",
        refvm_skip: Some("it prints lists in Rust Debug form"),
        what: "fill an N-element array, then sum it R times",
    },
    Bench {
        name: "call_small",
        source: "corpus:bench-asm/call_small.mdasm",
        sizes: &[("N", 10_000_000)],
        unit: "call",
        refvm_skip: None,
        what: "acc = step(acc, i), N calls of a small function",
    },
    Bench {
        name: "callchain",
        source: "peers:callchain.mdasm",
        sizes: &[("N", 10_000_000)],
        unit: "iteration",
        refvm_skip: None,
        what: "a main loop calling f(i) = g(i % 100) + h(i), callee names loaded at each call",
    },
    Bench {
        name: "isort",
        source: "peers:isort.mdasm",
        sizes: &[("N", 3_000), ("R", 20)],
        unit: "round",
        refvm_skip: Some("a run takes longer than the 180 s timeout (0.05 s at N=300, R=3: it grows faster than the work)"),
        what: "insertion sort of N pseudo-random ints, R times (array reads and writes)",
    },
    Bench {
        name: "sieve",
        source: "peers:sieve.mdasm",
        sizes: &[("N", 2_000_000), ("R", 5)],
        unit: "round",
        refvm_skip: Some("it takes 8.9 s at N=20,000, R=3, growing faster than N"),
        what: "sieve of Eratosthenes over N bools, R times",
    },
    Bench {
        name: "wordcount",
        source: "peers:wordcount.mdasm",
        sizes: &[("K", 5_000), ("N", 10_000_000)],
        unit: "step",
        refvm_skip: Some("about 20 µs a step (0.39 s at K=500, N=20,000): minutes at these sizes"),
        what: "count N words drawn from K built strings in a dict",
    },
    Bench {
        name: "strbuild",
        source: "peers:strbuild.mdasm",
        sizes: &[("N", 1_000), ("R", 5_000)],
        unit: "word",
        refvm_skip: None,
        what: "append N words (\"x\" and a number) to a string, wrapped at 60 characters, R times",
    },
    Bench {
        name: "floatgrid",
        source: "peers:floatgrid.mdasm",
        sizes: &[("W", 500), ("H", 400), ("K", 200)],
        unit: "cell update",
        refvm_skip: Some("its CAST_R of a float to int is a type error; without the casts, 4.7 s at W=100, H=100, K=20 and 135 s at W=200, H=200, K=20, 29x the time for 4x the work: hours at these sizes"),
        what: "K relaxation sweeps over a W x H grid of floats in a flat array (each cell the average of its four neighbours)",
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    C,
    LuaJit,
    MdvmJit,
    MdvmAuto,
    Lua,
    MdvmInterp,
    CPython,
    RefVm,
}

const ALL_PEERS: [Peer; 8] = [
    Peer::C,
    Peer::LuaJit,
    Peer::MdvmJit,
    Peer::MdvmAuto,
    Peer::Lua,
    Peer::MdvmInterp,
    Peer::CPython,
    Peer::RefVm,
];

/// Every peer: the default tier (`mdvm-auto`) is what users run, so it is always in the table.
const DEFAULT_PEERS: [Peer; 8] = [
    Peer::C,
    Peer::LuaJit,
    Peer::MdvmJit,
    Peer::MdvmAuto,
    Peer::Lua,
    Peer::MdvmInterp,
    Peer::CPython,
    Peer::RefVm,
];

impl Peer {
    fn key(self) -> &'static str {
        match self {
            Peer::C => "c",
            Peer::LuaJit => "luajit",
            Peer::MdvmJit => "mdvm-jit",
            Peer::MdvmAuto => "mdvm-auto",
            Peer::Lua => "lua",
            Peer::MdvmInterp => "mdvm-interp",
            Peer::CPython => "cpython",
            Peer::RefVm => "refvm",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Peer::C => "C gcc -O2",
            Peer::LuaJit => "LuaJIT",
            Peer::MdvmJit => "mdvm jit",
            Peer::MdvmAuto => "mdvm auto",
            Peer::Lua => "Lua 5.4",
            Peer::MdvmInterp => "mdvm interp",
            Peer::CPython => "CPython",
            Peer::RefVm => "reference VM",
        }
    }
    fn color(self) -> &'static str {
        match self {
            Peer::C => "#4d4d4d",
            Peer::LuaJit => "#1f77b4",
            Peer::MdvmJit => "#d62728",
            Peer::MdvmAuto => "#ff9896",
            Peer::Lua => "#9ecae1",
            Peer::MdvmInterp => "#ff7f0e",
            Peer::CPython => "#2ca02c",
            Peer::RefVm => "#9467bd",
        }
    }
    fn mdvm_tier(self) -> Option<Tier> {
        match self {
            Peer::MdvmJit => Some(Tier::Jit),
            Peer::MdvmAuto => Some(Tier::Auto),
            Peer::MdvmInterp => Some(Tier::Interp),
            _ => None,
        }
    }
}

struct Options {
    runs: usize,
    budget: f64,
    timeout: f64,
    filters: Vec<String>,
    peers: Vec<Peer>,
    write: Option<String>,
    install: bool,
}

const USAGE: &str = "usage: bench-compare [--runs N] [--budget SECONDS] [--timeout SECONDS] [--filter NAME]...
                     [--peers c,luajit,mdvm-jit,mdvm-auto,lua,mdvm-interp,cpython,refvm]
                     [--no-install] [--write FILE]

Runs each comparison program on each peer, in alternation, up to N times (default 5); a peer
stops taking runs of a program once they add up to SECONDS (default 10; at least one run is
always taken); a single run longer than --timeout (default 180 s) fails the harness. Checks that
every run of every peer prints the same output. --write FILE replaces the part of FILE between
<!-- bench-compare:start --> and <!-- bench-compare:end --> and writes the plot to
benches/peers/comparison.svg. Default peers: all of them.";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 5,
        budget: 10.0,
        timeout: 180.0,
        filters: Vec::new(),
        peers: DEFAULT_PEERS.to_vec(),
        write: None,
        install: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => {
                o.runs = value("--runs")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--runs needs a positive integer")?
            }
            "--budget" => {
                o.budget = value("--budget")?
                    .parse()
                    .map_err(|_| "--budget needs a number of seconds")?
            }
            "--timeout" => {
                o.timeout = value("--timeout")?
                    .parse()
                    .map_err(|_| "--timeout needs a number of seconds")?
            }
            "--filter" => o.filters.push(value("--filter")?),
            "--peers" => {
                o.peers = value("--peers")?
                    .split(',')
                    .map(|k| {
                        ALL_PEERS
                            .iter()
                            .copied()
                            .find(|p| p.key() == k.trim())
                            .ok_or_else(|| format!("unknown peer {k:?}"))
                    })
                    .collect::<Result<_, _>>()?;
                // Report order is the fixed order of ALL_PEERS.
                o.peers = ALL_PEERS.iter().copied().filter(|p| o.peers.contains(p)).collect();
            }
            "--no-install" => o.install = false,
            "--write" => o.write = Some(value("--write")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Where the harness keeps what it builds: compiled C peers, assembled `.mdbc` files, the venv.
fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("target"));
    target.join("bench-peers")
}

fn venv_python() -> PathBuf {
    work_dir().join("venv").join("bin").join("python")
}

fn log(msg: impl AsRef<str>) {
    eprintln!("bench-compare: {}", msg.as_ref());
}



fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    log(format!("{what}: {cmd:?}"));
    let st = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({st})"))
    }
}

/// Installs what the selected peers need and is missing: Debian packages by `apt-get`, the
/// venv with the reference VM wheel by `python3 -m venv` and `pip`.
fn install(peers: &[Peer], allowed: bool) -> Result<(), String> {
    let mut debs = Vec::new();
    if peers.contains(&Peer::C) && !on_path("gcc") {
        debs.push("gcc");
    }
    if peers.contains(&Peer::Lua) && !on_path("lua5.4") {
        debs.push("lua5.4");
    }
    if peers.contains(&Peer::LuaJit) && !on_path("luajit") {
        debs.push("luajit");
    }
    let need_python = peers.contains(&Peer::CPython) || peers.contains(&Peer::RefVm);
    if need_python && !on_path("python3") {
        debs.push("python3");
        debs.push("python3-venv");
    }
    if !debs.is_empty() {
        if !allowed {
            return Err(format!("missing {} (and --no-install)", debs.join(", ")));
        }
        run_checked(Command::new("apt-get").arg("update").arg("-qq"), "apt-get update")?;
        run_checked(
            Command::new("apt-get")
                .args(["install", "-y", "-qq"])
                .args(&debs)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install",
        )?;
    }
    if need_python {
        let py = venv_python();
        let has_wheel = |py: &Path| {
            Command::new(py)
                .args(["-c", "import machine_dialect_vm"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !py.exists() || (peers.contains(&Peer::RefVm) && !has_wheel(&py)) {
            if !allowed {
                return Err(format!("no venv with machine-dialect-vm at {} (and --no-install)", py.display()));
            }
            let venv = work_dir().join("venv");
            if !py.exists() {
                let made = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv)
                    .status()
                    .is_ok_and(|s| s.success());
                if !made {
                    // Debian's python3 needs python3-venv for `-m venv`.
                    run_checked(Command::new("apt-get").arg("update").arg("-qq"), "apt-get update")?;
                    run_checked(
                        Command::new("apt-get")
                            .args(["install", "-y", "-qq", "python3-venv"])
                            .env("DEBIAN_FRONTEND", "noninteractive"),
                        "apt-get install",
                    )?;
                    let _ = std::fs::remove_dir_all(&venv);
                    run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv")?;
                }
            }
            run_checked(
                Command::new(&py).args(["-m", "pip", "install", "-q", "machine-dialect-vm==0.1.0a2"]),
                "pip install",
            )?;
            if !has_wheel(&py) {
                return Err("machine_dialect_vm does not import after pip install".into());
            }
        }
    }
    Ok(())
}

/// A prepared program: bytes for mdvm, a `.mdbc` file for the reference VM, C binary, args.
struct Prepared {
    bench: &'static Bench,
    bytes: Vec<u8>,
    mdbc_path: PathBuf,
    c_binary: PathBuf,
    args: Vec<String>,
    work: u64,
}

fn prepare(b: &'static Bench, peers: &[Peer]) -> Result<Prepared, String> {
    let src = if let Some(rel) = b.source.strip_prefix("corpus:") {
        read_corpus_text(rel).map_err(|e| e.to_string())?
    } else {
        let rel = b.source.strip_prefix("peers:").unwrap_or(b.source);
        std::fs::read_to_string(peers_dir().join(rel))
            .map_err(|e| format!("cannot read benches/peers/{rel}: {e}"))?
    };
    let s = resize_asm(&src, b.sizes).map_err(|e| format!("{}: {e}", b.name))?;
    let dir = work_dir();
    std::fs::create_dir_all(dir.join("bin")).map_err(|e| e.to_string())?;
    let mdbc_path = dir.join(format!("{}.mdbc", b.name));
    std::fs::write(&mdbc_path, &s.bytes).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("{}.mdasm", b.name)), &s.source).map_err(|e| e.to_string())?;
    let c_binary = dir.join("bin").join(b.name);
    if peers.contains(&Peer::C) {
        let c_src = peers_dir().join(format!("{}.c", b.name));
        run_checked(
            Command::new("gcc")
                .args(["-O2", "-ffp-contract=off", "-Wall", "-o"])
                .arg(&c_binary)
                .arg(&c_src),
            "gcc",
        )?;
    }
    let work = if b.name == "fib" {
        calls_in_fib(b.sizes[0].1 as u32)
    } else {
        count_iterations(b.name, &s.params).ok_or_else(|| format!("no work count for {}", b.name))?
    };
    Ok(Prepared {
        bench: b,
        bytes: s.bytes,
        mdbc_path,
        c_binary,
        args: b.sizes.iter().map(|(_, v)| v.to_string()).collect(),
        work,
    })
}

/// The command line an external peer runs for a program.
fn peer_command(peer: Peer, p: &Prepared) -> Command {
    let lua = |bin: &str| {
        let mut c = Command::new(bin);
        c.arg(peers_dir().join(format!("{}.lua", p.bench.name))).args(&p.args);
        c
    };
    match peer {
        Peer::C => {
            let mut c = Command::new(&p.c_binary);
            c.args(&p.args);
            c
        }
        Peer::Lua => lua("lua5.4"),
        Peer::LuaJit => lua("luajit"),
        Peer::CPython => {
            let mut c = Command::new(venv_python());
            c.arg(peers_dir().join(format!("{}.py", p.bench.name))).args(&p.args);
            c
        }
        Peer::RefVm => {
            let mut c = Command::new(venv_python());
            c.arg(peers_dir().join("refvm.py")).arg(&p.mdbc_path);
            c
        }
        _ => unreachable!("mdvm runs in process"),
    }
}

/// One timed run.
struct Run {
    seconds: f64,
    output: Vec<u8>,
    /// mdvm only: seconds spent loading (decode + verify) and compiling.
    load: Option<f64>,
    compile: Option<f64>,
}

fn run_external(mut cmd: Command, timeout: f64) -> Result<Run, String> {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{desc}: cannot start: {e}"))?;
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if t0.elapsed().as_secs_f64() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{desc}: killed after the {timeout} s timeout"));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let seconds = t0.elapsed().as_secs_f64();
    let output = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "{desc}: {status}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output),
            String::from_utf8_lossy(&err)
        ));
    }
    Ok(Run { seconds, output, load: None, compile: None })
}

fn run_mdvm(tier: Tier, bytes: &[u8]) -> Result<Run, String> {
    let mut output = Vec::new();
    let t0 = Instant::now();
    let mut vm = Vm::builder()
        .tier(tier)
        .fuel(None)
        .count_instructions(false)
        .load_bytes(bytes)
        .map_err(|e| e.to_string())?;
    let t1 = Instant::now();
    vm.run(&mut output).map_err(|e| format!("mdvm ({tier}): {e}"))?;
    let t2 = Instant::now();
    let compile = vm.stats().jit.map(|j| j.compiled.compile_nanos as f64 / 1e9);
    drop(vm);
    Ok(Run {
        seconds: (t2 - t0).as_secs_f64(),
        output,
        load: Some((t1 - t0).as_secs_f64()),
        compile,
    })
}

struct Cell {
    peer: Peer,
    runs: Vec<Run>,
    skipped: Option<&'static str>,
}

impl Cell {
    fn spent(&self) -> f64 {
        self.runs.iter().map(|r| r.seconds).sum()
    }
    fn median_of(&self, f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
        let mut v: Vec<f64> = self.runs.iter().filter_map(f).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
    }
    fn median(&self) -> Option<f64> {
        self.median_of(|r| Some(r.seconds))
    }
    fn min_max(&self) -> Option<(f64, f64)> {
        let v = self.runs.iter().map(|r| r.seconds);
        let min = v.clone().fold(f64::INFINITY, f64::min);
        let max = v.fold(0.0, f64::max);
        (!self.runs.is_empty()).then_some((min, max))
    }
}

struct Measured {
    prepared: Prepared,
    cells: Vec<Cell>,
    output: String,
}

fn measure(p: Prepared, o: &Options) -> Result<Measured, String> {
    let mut cells: Vec<Cell> = o
        .peers
        .iter()
        .map(|&peer| Cell {
            peer,
            runs: Vec::new(),
            skipped: if peer == Peer::RefVm { p.bench.refvm_skip } else { None },
        })
        .collect();
    let mut reference: Option<(Peer, Vec<u8>)> = None;
    let n = cells.len();
    for round in 0..o.runs {
        // Alternation: every peer once per round, the order rotated from round to round.
        for k in 0..n {
            let idx = (k + round) % n;
            let cell = &mut cells[idx];
            if cell.skipped.is_some() || (!cell.runs.is_empty() && cell.spent() >= o.budget) {
                continue;
            }
            let run = match cell.peer.mdvm_tier() {
                Some(tier) => run_mdvm(tier, &p.bytes),
                None => run_external(peer_command(cell.peer, &p), o.timeout),
            }
            .map_err(|e| format!("{} on {}: {e}", p.bench.name, cell.peer.label()))?;
            match &reference {
                None => reference = Some((cell.peer, run.output.clone())),
                Some((ref_peer, ref_out)) => {
                    if &run.output != ref_out {
                        return Err(format!(
                            "OUTPUT MISMATCH on {}: {} printed\n{}\nbut {} printed\n{}",
                            p.bench.name,
                            cell.peer.label(),
                            String::from_utf8_lossy(&run.output),
                            ref_peer.label(),
                            String::from_utf8_lossy(ref_out)
                        ));
                    }
                }
            }
            log(format!(
                "{} {} run {}: {:.3} s",
                p.bench.name,
                cell.peer.key(),
                cell.runs.len() + 1,
                run.seconds
            ));
            cell.runs.push(run);
        }
    }
    let output = reference
        .map(|(_, o)| String::from_utf8_lossy(&o).into_owned())
        .unwrap_or_default();
    Ok(Measured { prepared: p, cells, output })
}

/// Start-up of each external peer: the median wall time of an empty program.
fn startup_times(peers: &[Peer], o: &Options) -> Vec<(Peer, f64)> {
    let dir = work_dir();
    let empty_c = dir.join("empty.c");
    let empty_bin = dir.join("bin").join("empty");
    let empty_lua = dir.join("empty.lua");
    let empty_py = dir.join("empty.py");
    let empty_asm = dir.join("empty.mdbc");
    let _ = std::fs::write(&empty_c, "int main(void) { return 0; }\n");
    let _ = std::fs::write(&empty_lua, "");
    let _ = std::fs::write(&empty_py, "");
    if let Ok(m) = mdbc::assemble("RETURN_R\n") {
        let _ = std::fs::write(&empty_asm, m.encode());
    }
    if peers.contains(&Peer::C) {
        let _ = Command::new("gcc").args(["-O2", "-o"]).arg(&empty_bin).arg(&empty_c).status();
    }
    let mut v = Vec::new();
    for &peer in peers {
        let cmd = || -> Option<Command> {
            let mut c;
            match peer {
                Peer::C => c = Command::new(&empty_bin),
                Peer::Lua => {
                    c = Command::new("lua5.4");
                    c.arg(&empty_lua);
                }
                Peer::LuaJit => {
                    c = Command::new("luajit");
                    c.arg(&empty_lua);
                }
                Peer::CPython => {
                    c = Command::new(venv_python());
                    c.arg(&empty_py);
                }
                Peer::RefVm => {
                    c = Command::new(venv_python());
                    c.arg(peers_dir().join("refvm.py")).arg(&empty_asm);
                }
                _ => return None,
            }
            Some(c)
        };
        let mut times = Vec::new();
        for _ in 0..5 {
            let Some(c) = cmd() else { break };
            if let Ok(r) = run_external(c, o.timeout) {
                times.push(r.seconds);
            }
        }
        if !times.is_empty() {
            times.sort_by(f64::total_cmp);
            v.push((peer, times[times.len() / 2]));
        }
    }
    v
}

fn versions(peers: &[Peer]) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(s) = output_of("rustc", &["-V"]) {
        v.push(format!("mdvm: built with {s}"));
    }
    for &peer in peers {
        let line = match peer {
            Peer::C => output_of("gcc", &["--version"]).map(|s| format!("C: {s}, `gcc -O2 -ffp-contract=off`")),
            Peer::Lua => output_of("lua5.4", &["-v"]).map(|s| format!("Lua 5.4: {s}")),
            Peer::LuaJit => output_of("luajit", &["-v"]).map(|s| format!("LuaJIT: {s}")),
            Peer::CPython => {
                let py = venv_python();
                output_of(py.to_str().unwrap_or("python3"), &["-VV"]).map(|s| format!("CPython: {s}"))
            }
            Peer::RefVm => {
                let py = venv_python();
                output_of(
                    py.to_str().unwrap_or("python3"),
                    &["-c", "import importlib.metadata as m; print(m.version('machine-dialect-vm'))"],
                )
                .map(|s| format!("reference VM: machine-dialect-vm {s} (PyPI wheel, through its Python API)"))
            }
            _ => None,
        };
        if let Some(l) = line {
            v.push(l);
        }
    }
    v
}


fn revision() -> String {
    let dir = repo_dir();
    let d = dir.to_str().unwrap_or(".");
    let rev = output_of("git", &["-C", d, "rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["-C", d, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{rev} (with uncommitted changes in the work tree)")
    } else {
        rev
    }
}

fn today() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let hm = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", hm / 3600, hm % 3600 / 60)
}

fn ms(s: f64) -> String {
    let m = s * 1e3;
    if m >= 1000.0 {
        format!("{m:.0}")
    } else if m >= 100.0 {
        format!("{m:.0}")
    } else if m >= 10.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}

fn ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn ns(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn sizes_text(b: &Bench) -> String {
    b.sizes
        .iter()
        .map(|(n, v)| format!("{n}={}", thousands(*v as u64)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn command_line(o: &Options) -> String {
    let mut s = String::from("cargo run --release -p mdvm-benches --bin bench-compare --");
    if o.runs != 5 {
        let _ = write!(s, " --runs {}", o.runs);
    }
    if o.budget != 10.0 {
        let _ = write!(s, " --budget {}", o.budget);
    }
    for f in &o.filters {
        let _ = write!(s, " --filter {f}");
    }
    if o.peers != DEFAULT_PEERS {
        let keys: Vec<_> = o.peers.iter().map(|p| p.key()).collect();
        let _ = write!(s, " --peers {}", keys.join(","));
    }
    if let Some(w) = &o.write {
        let _ = write!(s, " --write {w}");
    }
    s
}

fn c_median(m: &Measured) -> Option<f64> {
    m.cells.iter().find(|c| c.peer == Peer::C).and_then(Cell::median)
}

fn render(results: &[Measured], startup: &[(Peer, f64)], o: &Options, elapsed: f64) -> String {
    let mut s = String::new();
    let peers = &o.peers;
    let _ = writeln!(s, "Measured {} with:\n", today());
    let _ = writeln!(s, "```\n{}\n```\n", command_line(o));
    let _ = writeln!(s, "- machine: {}", machine());
    let _ = writeln!(s, "- source: mdvm commit {}", revision());
    for v in versions(peers) {
        let _ = writeln!(s, "- {v}");
    }
    let _ = writeln!(
        s,
        "- each figure is the median wall time of up to {} runs per peer (fewer where runs add up to more than {} s; the run count is in the second table), peers alternating run by run; the whole harness took {:.1} minutes",
        o.runs,
        o.budget,
        elapsed / 60.0
    );
    let _ = writeln!(
        s,
        "- C, Lua, LuaJIT, CPython and the reference VM are timed as whole processes, start-up included (empty program: {}); mdvm runs in the harness's process through the library, from loading the bytes (decode, verify) to the end of the run, compilation included for `mdvm jit`",
        startup
            .iter()
            .map(|(p, t)| format!("{} {} ms", p.label(), ms(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "- every run of every peer printed the same output (checked by the harness, which stops on a mismatch)\n"
    );

    // Summary table: median ms and ratio to C.
    let _ = write!(s, "| benchmark | sizes |");
    for p in peers {
        let _ = write!(s, " {} |", p.label());
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|---|");
    for _ in peers {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    for m in results {
        let b = m.prepared.bench;
        let c = c_median(m);
        let _ = write!(s, "| `{}` | {} |", b.name, sizes_text(b));
        for p in peers {
            let cell = m.cells.iter().find(|c| c.peer == *p).unwrap();
            match (cell.skipped, cell.median()) {
                (Some(_), _) => {
                    let _ = write!(s, " not run |");
                }
                (None, Some(t)) => match c {
                    Some(c) => {
                        let _ = write!(s, " {} ms ({}x) |", ms(t), ratio(t / c));
                    }
                    None => {
                        let _ = write!(s, " {} ms |", ms(t));
                    }
                },
                _ => {
                    let _ = write!(s, " - |");
                }
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nEach cell: median wall time, and in brackets the ratio to C's median in the same run. The reference VM does not run {}.\n",
        results
            .iter()
            .filter_map(|m| m.prepared.bench.refvm_skip.map(|why| format!("`{}` ({why})", m.prepared.bench.name)))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let _ = writeln!(s, "![median wall time per benchmark and peer, log scale]({SVG_NAME})\n");

    // Detail table.
    let _ = writeln!(
        s,
        "| benchmark | work per run | peer | runs | median ms | min-max ms | ns per unit | / C | mdvm load ms | mdvm compile ms |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in results {
        let b = m.prepared.bench;
        let c = c_median(m);
        let mut first = true;
        for cell in &m.cells {
            let (name, work) = if first {
                (format!("`{}`", b.name), format!("{} {}s", thousands(m.prepared.work), b.unit))
            } else {
                (String::new(), String::new())
            };
            first = false;
            if let Some(why) = cell.skipped {
                let _ = writeln!(s, "| {name} | {work} | {} | 0 | not run: {why} | | | | | |", cell.peer.label());
                continue;
            }
            let Some(t) = cell.median() else { continue };
            let (lo, hi) = cell.min_max().unwrap();
            let per = t * 1e9 / m.prepared.work as f64;
            let load = cell.median_of(|r| r.load).map(|x| format!("{:.3}", x * 1e3)).unwrap_or_default();
            let compile = cell.median_of(|r| r.compile).map(|x| format!("{:.2}", x * 1e3)).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {name} | {work} | {} | {} | {} | {}-{} | {} per {} | {} | {load} | {compile} |",
                cell.peer.label(),
                cell.runs.len(),
                ms(t),
                ms(lo),
                ms(hi),
                ns(per),
                b.unit,
                c.map(|c| ratio(t / c)).unwrap_or_default()
            );
        }
    }
    let _ = writeln!(s, "\nThe programs (each peer's version is in `benches/peers/`; mdvm and the reference VM run the bytecode assembled from the `.mdasm` named, with the sizes set; the harness leaves the assembled files in `target/bench-peers/`):\n");
    for m in results {
        let b = m.prepared.bench;
        let src = b.source.replace("corpus:", "tests/corpus/").replace("peers:", "benches/peers/");
        let out: Vec<&str> = m.output.lines().collect();
        let _ = writeln!(
            s,
            "- `{}`: {} ({}); `{src}`; prints `{}`",
            b.name,
            b.what,
            sizes_text(b),
            out.join(" / ")
        );
    }
    s
}

fn svg_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A horizontal bar chart, one group per benchmark, one bar per peer, log-scale time axis.
fn render_svg(results: &[Measured], peers: &[Peer]) -> String {
    let bar_h = 11.0;
    let gap = 2.0;
    let group_gap = 16.0;
    let left = 120.0;
    let right = 110.0;
    let plot_w = 560.0;
    let top = 60.0;
    let width = left + plot_w + right;
    let times: Vec<f64> = results
        .iter()
        .flat_map(|m| m.cells.iter().filter_map(Cell::median))
        .collect();
    let lo = times.iter().copied().fold(f64::INFINITY, f64::min).max(1e-6);
    let hi = times.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let d0 = (lo * 1e3).log10().floor() as i32;
    let d1 = (hi * 1e3).log10().ceil() as i32;
    let x_of = |sec: f64| left + ((sec * 1e3).log10() - d0 as f64) / (d1 - d0) as f64 * plot_w;
    let group_h = peers.len() as f64 * (bar_h + gap);
    let height = top + results.len() as f64 * (group_h + group_gap) + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="16" font-size="13" font-weight="bold">Median wall time per run (ms, log scale; shorter is faster)</text>"#
    );
    // Legend.
    let mut lx = left;
    for p in peers {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="26" width="10" height="10" fill="{}"/><text x="{}" y="35">{}</text>"#,
            p.color(),
            lx + 13.0,
            svg_escape(p.label())
        );
        lx += 14.0 + p.label().len() as f64 * 6.2 + 10.0;
    }
    // Grid lines at every decade.
    let bottom = height - 30.0;
    for d in d0..=d1 {
        let x = left + (d - d0) as f64 / (d1 - d0) as f64 * plot_w;
        let label = if d >= 0 { format!("{}", 10f64.powi(d) as u64) } else { format!("{}", 10f64.powi(d)) };
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#cccccc"/><text x="{x:.1}" y="{}" text-anchor="middle">{label} ms</text>"##,
            bottom + 14.0
        );
    }
    let mut y = top;
    for m in results {
        let name = m.prepared.bench.name;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end" font-weight="bold">{}</text>"#,
            left - 6.0,
            y + group_h / 2.0 + 4.0,
            svg_escape(name)
        );
        let c = c_median(m);
        for p in peers {
            let cell = m.cells.iter().find(|c| c.peer == *p).unwrap();
            match cell.median() {
                Some(t) if cell.skipped.is_none() => {
                    let x1 = x_of(t);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{left}" y="{y:.1}" width="{:.1}" height="{bar_h}" fill="{}"><title>{} {}: {} ms</title></rect>"#,
                        (x1 - left).max(1.0),
                        p.color(),
                        svg_escape(name),
                        svg_escape(p.label()),
                        ms(t)
                    );
                    let r = c.map(|c| format!(" ({}x)", ratio(t / c))).unwrap_or_default();
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" font-size="9">{} ms{r}</text>"#,
                        x1 + 3.0,
                        y + bar_h - 2.0,
                        ms(t)
                    );
                }
                _ => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#888888">{}: not run</text>"##,
                        left + 3.0,
                        y + bar_h - 2.0,
                        svg_escape(p.label())
                    );
                }
            }
            y += bar_h + gap;
        }
        y += group_gap;
    }
    let _ = writeln!(s, "</svg>");
    s
}

fn write_into(path: &str, section: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{START}\n{section}{}", &old[..a], &old[b..])
        }
        (None, None) => format!("{old}\n{START}\n{section}{END}\n"),
        _ => return Err(format!("{path}: the markers {START} and {END} are missing or out of order")),
    };
    std::fs::write(path, new).map_err(|e| format!("cannot write {path}: {e}"))
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                log(&e);
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        log("warning: built without optimizations; use --release for real figures");
    }
    let t0 = Instant::now();
    if let Err(e) = install(&o.peers, o.install) {
        log(format!("installing the peers: {e}"));
        return ExitCode::FAILURE;
    }
    let benches: Vec<&'static Bench> = BENCHES
        .iter()
        .filter(|b| o.filters.is_empty() || o.filters.iter().any(|f| b.name.contains(f.as_str())))
        .collect();
    if benches.is_empty() {
        log("no benchmark matches the filters");
        return ExitCode::from(2);
    }
    let mut results = Vec::new();
    for b in benches {
        let measured = prepare(b, &o.peers).and_then(|p| measure(p, &o));
        match measured {
            Ok(m) => results.push(m),
            Err(e) => {
                log(format!("FAILED: {e}"));
                return ExitCode::FAILURE;
            }
        }
    }
    let startup = startup_times(&o.peers, &o);
    let elapsed = t0.elapsed().as_secs_f64();
    let section = render(&results, &startup, &o, elapsed);
    print!("{section}");
    if let Some(path) = &o.write {
        if let Err(e) = write_into(path, &section) {
            log(e);
            return ExitCode::FAILURE;
        }
        let svg_path = repo_dir().join(SVG_NAME);
        if let Err(e) = std::fs::write(&svg_path, render_svg(&results, &o.peers)) {
            log(format!("cannot write {}: {e}", svg_path.display()));
            return ExitCode::FAILURE;
        }
        log(format!("wrote the comparison into {path} and the plot into {SVG_NAME}"));
    }
    log(format!("done in {:.1} minutes", elapsed / 60.0));
    ExitCode::SUCCESS
}
