//! Benchmark programs for mdvm's tiers, loaded from the conformance corpus (`tests/corpus`).
//!
//! Two kinds of program are measured:
//!
//! * the frontend benchmarks in `tests/corpus/bench/` that run to completion (exit status 0):
//!   real `.mdbc` files from the `machine-dialect` 0.1.0a2 frontend, run as they are;
//! * the hand-written loop programs in `tests/corpus/bench-asm/`. They are sized to execute
//!   0.4-5.4 billion instructions (10-30 s each in the interpreter), far too long for repeated
//!   sampling, so [`rescale_asm`] rewrites their size parameters (the `(N=..., ...)` list on the
//!   first comment line) divided by a factor and assembles the result with [`mdbc::assemble`].
//!
//! Every [`BenchProgram`] carries the amount of work one run does ([`BenchProgram::elements`],
//! in calls or loop iterations, see [`Unit`]) so that times can be reported per call or per
//! iteration, the way the targets in `BENCHMARKS.md` are stated.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mdvm::{Tier, Vm};

/// The three tiers, in the order they are reported.
pub const TIERS: [Tier; 3] = [Tier::Interp, Tier::Jit, Tier::Auto];

/// Anything that can go wrong preparing a benchmark program.
#[derive(Debug)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

fn fail<T>(msg: impl Into<String>) -> Result<T, BenchError> {
    Err(BenchError(msg.into()))
}

/// The corpus directory, `tests/corpus` beside this package.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("corpus")
}

/// Reads a corpus file given relative to [`corpus_dir`] (for example `bench/bench_fib_recursive.mdbc`).
pub fn read_corpus(rel: &str) -> Result<Vec<u8>, BenchError> {
    let path = corpus_dir().join(rel);
    std::fs::read(&path).map_err(|e| BenchError(format!("cannot read {}: {e}", path.display())))
}

/// Reads a corpus text file (`.mdasm`, `.expected`).
pub fn read_corpus_text(rel: &str) -> Result<String, BenchError> {
    String::from_utf8(read_corpus(rel)?).map_err(|_| BenchError(format!("{rel} is not UTF-8")))
}

/// Number of calls the naive recursive Fibonacci makes to compute `fib(n)`, the first call
/// included: `calls(0) = calls(1) = 1`, `calls(n) = calls(n-1) + calls(n-2) + 1`
/// (`= 2 * F(n+1) - 1`; `calls(27) = 635,621`).
pub fn calls_in_fib(n: u32) -> u64 {
    let (mut a, mut b) = (1u64, 1u64); // calls(k), calls(k+1) for k = 0
    for _ in 0..n {
        (a, b) = (b, a + b + 1);
    }
    a
}

/// The size parameters on the first comment line of a `bench-asm` program, in order:
/// `; large variant (A=25000, B=25000, M=10000)` gives `[("A", 25000), ("B", 25000), ("M", 10000)]`.
pub fn asm_params(src: &str) -> Result<Vec<(String, i64)>, BenchError> {
    let first = src.lines().next().unwrap_or("");
    let (Some(open), Some(close)) = (first.find('('), first.rfind(')')) else {
        return fail(format!(
            "no `(NAME=VALUE, ...)` list on the first line: {first:?}"
        ));
    };
    if close < open {
        return fail(format!(
            "malformed parameter list on the first line: {first:?}"
        ));
    }
    let mut params = Vec::new();
    for item in first[open + 1..close].split(',') {
        let Some((name, value)) = item.split_once('=') else {
            return fail(format!("malformed parameter {item:?} on the first line"));
        };
        let value: i64 = value
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| BenchError(format!("parameter {item:?} is not an integer")))?;
        params.push((name.trim().to_string(), value));
    }
    Ok(params)
}

/// A `bench-asm` program with its size parameters divided by a factor.
#[derive(Clone, Debug)]
pub struct ScaledAsm {
    /// The divisor applied to the scaled parameters (1: the program as stored; 0: resized to
    /// given sizes by [`resize_asm`]).
    pub divisor: u64,
    /// Every parameter of the header with its value after scaling (unscaled ones unchanged).
    pub params: Vec<(String, i64)>,
    /// The rewritten assembly text.
    pub source: String,
    /// The assembled module, encoded as `.mdbc` bytes.
    pub bytes: Vec<u8>,
}

impl ScaledAsm {
    /// The value of parameter `name` after scaling.
    pub fn param(&self, name: &str) -> Option<i64> {
        self.params.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

/// The part of a line before its comment (`;` or `#` outside a string literal).
fn code_part(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_str = true,
                ';' | '#' => return &line[..i],
                _ => {}
            }
        }
    }
    line
}

/// Whether `c` (`None`: the line's start or end) separates operand tokens.
fn separates(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c.is_whitespace() || c == ',',
    }
}

/// Rewrites the `int <value>` operands (outside comments and strings) whose magnitude is in
/// `map` (old magnitude -> new magnitude), keeping the sign. Returns the new line and the
/// magnitudes replaced.
fn rewrite_ints(line: &str, map: &[(i64, i64)], hits: &mut Vec<i64>) -> String {
    let code = code_part(line);
    let mut out = String::with_capacity(line.len());
    let mut rest = code;
    let mut in_str = false;
    let mut escaped = false;
    // Scan token by token outside string literals.
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap();
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let at_word_start = separates(out.chars().last());
        if at_word_start && rest.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("int")) {
            let after = &rest[3..];
            let ws = after.len() - after.trim_start().len();
            if ws > 0 {
                let num = &after[ws..];
                let neg = num.starts_with('-');
                let digits_start = usize::from(neg);
                let digits_len = num[digits_start..]
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count();
                let end = digits_start + digits_len;
                let ends_token = separates(num[end..].chars().next());
                if digits_len > 0 && ends_token {
                    if let Ok(mag) = num[digits_start..end].parse::<i64>() {
                        if let Some(&(_, new)) = map.iter().find(|&&(old, _)| old == mag) {
                            hits.push(mag);
                            out.push_str(&rest[..3 + ws]);
                            if neg {
                                out.push('-');
                            }
                            out.push_str(&new.to_string());
                            rest = &num[end..];
                            continue;
                        }
                    }
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&line[code.len()..]);
    out
}

/// Divides the size parameters of a `bench-asm` program by `divisor` and assembles it.
///
/// The parameters are the `NAME=VALUE` list on the first comment line (see [`asm_params`]);
/// `scaled` names the ones to divide (empty: all of them), so that ratios between them (P1/P2
/// in `type_change`) stay the same. Every `int V` or `int -V` operand whose magnitude `V` equals
/// a scaled parameter's value is replaced by `int V/divisor` (integer division, sign kept);
/// comments and strings are left alone, except that a line recording the scaling is added after
/// the header. `divisor` 1 gives the program as stored.
///
/// Errors: no parameter list, an unknown name in `scaled`, a parameter that would become 0, a
/// value shared by a scaled and an unscaled parameter, a scaled value that no `int` operand
/// uses, or an assembly error.
pub fn rescale_asm(src: &str, divisor: u64, scaled: &[&str]) -> Result<ScaledAsm, BenchError> {
    if divisor == 0 {
        return fail("divisor 0");
    }
    let params = asm_params(src)?;
    for name in scaled {
        if !params.iter().any(|(n, _)| n == name) {
            return fail(format!("no parameter {name} in the header"));
        }
    }
    let is_scaled = |n: &str| scaled.is_empty() || scaled.contains(&n);
    let div = i64::try_from(divisor).map_err(|_| BenchError("divisor too large".into()))?;
    let mut map: Vec<(i64, i64)> = Vec::new();
    let mut new_params = Vec::new();
    for (name, value) in &params {
        let mag = value.unsigned_abs() as i64;
        if is_scaled(name) {
            let new = mag / div;
            if new == 0 {
                return fail(format!("{name}={value} divided by {divisor} is 0"));
            }
            if !map.iter().any(|&(old, _)| old == mag) {
                map.push((mag, new));
            }
            new_params.push((name.clone(), value.signum() * new));
        } else {
            new_params.push((name.clone(), *value));
        }
    }
    for (name, value) in &params {
        if !is_scaled(name)
            && divisor != 1
            && map
                .iter()
                .any(|&(old, _)| old == value.unsigned_abs() as i64)
        {
            return fail(format!(
                "unscaled parameter {name}={value} has the value of a scaled one"
            ));
        }
    }

    let mut hits = Vec::new();
    let mut source = String::with_capacity(src.len() + 100);
    for (i, line) in src.lines().enumerate() {
        source.push_str(&rewrite_ints(line, &map, &mut hits));
        source.push('\n');
        if i == 0 && divisor != 1 {
            let list: Vec<String> = new_params.iter().map(|(n, v)| format!("{n}={v}")).collect();
            source.push_str(&format!(
                "; rescaled for benchmarking: divided by {divisor}: ({})\n",
                list.join(", ")
            ));
        }
    }
    for &(old, _) in &map {
        if !hits.contains(&old) {
            return fail(format!("no `int {old}` operand to rescale"));
        }
    }
    let module = mdbc::assemble(&source)
        .map_err(|e| BenchError(format!("assembling the rescaled program: {e}")))?;
    Ok(ScaledAsm {
        divisor,
        params: new_params,
        source,
        bytes: module.encode(),
    })
}

/// Sets size parameters of a `bench-asm`-style program to the given values and assembles it
/// (the comparison harness uses this to run every peer at the same sizes).
///
/// `sizes` gives (name, new value) for some of the parameters on the first comment line (see
/// [`asm_params`]); the others keep their values. Every `int V` or `int -V` operand whose
/// magnitude `V` is the old value of a resized parameter becomes `int NEW` (sign kept), as in
/// [`rescale_asm`], and a line recording the new sizes is added after the header. The result's
/// `divisor` is 0 (not a division).
///
/// Errors: no parameter list, an unknown name, a size that is not positive, two parameters
/// that share an old value but are given different new ones, an unchanged parameter whose
/// value is that of a resized one, an old value that no `int` operand uses, or an assembly
/// error.
pub fn resize_asm(src: &str, sizes: &[(&str, i64)]) -> Result<ScaledAsm, BenchError> {
    let params = asm_params(src)?;
    let mut map: Vec<(i64, i64)> = Vec::new();
    for &(name, value) in sizes {
        let Some(&(_, old)) = params.iter().find(|(n, _)| n == name) else {
            return fail(format!("no parameter {name} in the header"));
        };
        if value <= 0 {
            return fail(format!("{name}={value}: sizes must be positive"));
        }
        let (old_mag, new_mag) = (old.unsigned_abs() as i64, value);
        match map.iter().find(|&&(o, _)| o == old_mag) {
            Some(&(_, n)) if n != new_mag => {
                return fail(format!(
                    "{name} shares its value {old} with another parameter given another size"
                ))
            }
            Some(_) => {}
            None => map.push((old_mag, new_mag)),
        }
    }
    let mut new_params = Vec::new();
    for (name, value) in &params {
        match sizes.iter().find(|(n, _)| n == name) {
            Some(&(_, v)) => new_params.push((name.clone(), value.signum() * v)),
            None => {
                if map.iter().any(|&(old, _)| old == value.unsigned_abs() as i64) {
                    return fail(format!(
                        "unchanged parameter {name}={value} has the value of a resized one"
                    ));
                }
                new_params.push((name.clone(), *value));
            }
        }
    }
    let mut hits = Vec::new();
    let mut source = String::with_capacity(src.len() + 100);
    for (i, line) in src.lines().enumerate() {
        source.push_str(&rewrite_ints(line, &map, &mut hits));
        source.push('\n');
        if i == 0 {
            let list: Vec<String> = new_params.iter().map(|(n, v)| format!("{n}={v}")).collect();
            source.push_str(&format!("; resized for benchmarking: ({})\n", list.join(", ")));
        }
    }
    for &(old, _) in &map {
        if !hits.contains(&old) {
            return fail(format!("no `int {old}` operand to resize"));
        }
    }
    let module = mdbc::assemble(&source)
        .map_err(|e| BenchError(format!("assembling the resized program: {e}")))?;
    Ok(ScaledAsm {
        divisor: 0,
        params: new_params,
        source,
        bytes: module.encode(),
    })
}

/// Loop iterations one run of a `bench-asm` program performs, from its (scaled) parameters:
/// the main loop's trip count (for `fib_calls` and `call_small`, the number of calls; for
/// `nested_mod`, inner iterations `(A + B) * M`; for `array_sum`, fill plus sum iterations
/// `N * (R + 1)`; for the comparison programs `isort` and `sieve`, rounds `R`; `callchain`'s
/// `N`; `wordcount`'s counting steps `N`; `strbuild`'s words `N * R`; `floatgrid`'s interior
/// cell updates `(W - 2) * (H - 2) * K`). `None` for an unknown program or missing parameter.
pub fn count_iterations(program: &str, params: &[(String, i64)]) -> Option<u64> {
    let p = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k == n)
            .and_then(|&(_, v)| u64::try_from(v).ok())
    };
    let name = program.rsplit('/').next().unwrap_or(program);
    match name {
        "while_sum" | "fib_calls" | "call_small" | "phi_loop" | "string_build"
        | "dict_workload" | "type_change" | "callchain" | "wordcount" => p("N"),
        "isort" | "sieve" => p("R"),
        "float_loop" => p("K"),
        "nested_mod" => Some((p("A")? + p("B")?) * p("M")?),
        "array_sum" => Some(p("N")? * (p("R")? + 1)),
        "strbuild" => Some(p("N")? * p("R")?),
        "floatgrid" => Some(p("W")?.checked_sub(2)? * p("H")?.checked_sub(2)? * p("K")?),
        _ => None,
    }
}

/// What [`BenchProgram::elements`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Calls of functions other than main.
    Call,
    /// Iterations of the program's main loop (see [`count_iterations`]).
    Iteration,
}

impl Unit {
    /// `call` or `iteration`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Call => "call",
            Unit::Iteration => "iteration",
        }
    }
}

/// A program ready to benchmark.
#[derive(Clone, Debug)]
pub struct BenchProgram {
    /// Short name used for criterion groups and report rows, e.g. `bench/fib_recursive`,
    /// `asm/while_sum`.
    pub name: String,
    /// The corpus file it comes from, relative to [`corpus_dir`].
    pub file: String,
    /// The `.mdbc` bytes to load.
    pub bytes: Vec<u8>,
    /// Work done by one run, in [`BenchProgram::unit`]s.
    pub elements: u64,
    /// What `elements` counts.
    pub unit: Unit,
    /// How the program was sized: `as stored`, or the divisor and the scaled parameters.
    pub sizing: String,
    /// The expected stdout when the program runs as stored (`None` for rescaled programs).
    pub expected: Option<Vec<u8>>,
}

impl BenchProgram {
    /// A fresh VM for `tier`, without a fuel budget and without instruction counting (as
    /// `mdvm run` runs programs): what the benchmarks time.
    pub fn vm(&self, tier: Tier) -> Result<Vm, mdvm::Error> {
        Vm::builder().tier(tier).fuel(None).count_instructions(false).load_bytes(&self.bytes)
    }

    /// A fresh VM for `tier` that counts executed instructions (for checking runs).
    pub fn counting_vm(&self, tier: Tier) -> Result<Vm, mdvm::Error> {
        Vm::builder().tier(tier).fuel(None).load_bytes(&self.bytes)
    }

    /// Loads the program into a fresh VM and runs it once, output to `out`.
    pub fn run(
        &self,
        tier: Tier,
        out: &mut dyn std::io::Write,
    ) -> Result<mdvm::Value, mdvm::Error> {
        self.vm(tier)?.run(out)
    }
}

/// The frontend benchmark programs that run to completion (`tests/corpus/bench/`, exit 0), with
/// the short names used in reports.
pub const FRONTEND_PROGRAMS: [&str; 6] = [
    "bench_fib_recursive",
    "bench_call_heavy",
    "bench_nested_recursion",
    "bench_sum_divide_conquer",
    "bench_float_integrate",
    "bench_string_build",
];

/// How each `bench-asm` program is sized for benchmarking: (name, divisor, parameters to divide;
/// empty = all). The divisors bring one run of the first interpreter (commit 00a34bf, about
/// 5-11 ns per instruction) to 50-100 ms on the benchmark machine (20-60 ms at 30d9d12), so
/// that a much faster interpreter still runs each for several milliseconds. `dict_workload`
/// keeps its 1,000 keys (K is a table size, not a trip count) and divides only the step count;
/// `nested_mod` divides all three bounds, so its work shrinks by the square of the divisor.
pub const ASM_PROGRAMS: [(&str, u64, &[&str]); 10] = [
    ("while_sum", 350, &[]),
    ("fib_calls", 280, &[]),
    ("call_small", 1, &[]),
    ("nested_mod", 20, &[]),
    ("float_loop", 250, &[]),
    ("phi_loop", 150, &[]),
    ("array_sum", 25, &[]),
    ("string_build", 50, &[]),
    ("dict_workload", 400, &["N"]),
    ("type_change", 50, &[]),
];

/// Calls (of functions other than main) one run of `bytes` makes, counted by running it once in
/// the interpreter with output discarded.
pub fn count_calls(bytes: &[u8]) -> Result<u64, BenchError> {
    let mut vm = Vm::builder()
        .tier(Tier::Interp)
        .fuel(None)
        .load_bytes(bytes)
        .map_err(|e| BenchError(e.to_string()))?;
    vm.run(&mut std::io::sink())
        .map_err(|e| BenchError(e.to_string()))?;
    Ok(vm.stats().calls.iter().skip(1).map(|&(_, n)| n).sum())
}

/// A frontend benchmark program (`tests/corpus/bench/NAME.mdbc`), run as stored. Its work is
/// counted in calls: [`calls_in_fib`]`(27)` for `bench_fib_recursive`, otherwise measured with
/// [`count_calls`].
pub fn frontend_program(name: &str) -> Result<BenchProgram, BenchError> {
    let file = format!("bench/{name}.mdbc");
    let bytes = read_corpus(&file)?;
    let expected = read_corpus(&format!("bench/{name}.expected"))?;
    let elements = if name == "bench_fib_recursive" {
        calls_in_fib(27)
    } else {
        count_calls(&bytes)?
    };
    Ok(BenchProgram {
        name: format!("bench/{}", name.strip_prefix("bench_").unwrap_or(name)),
        file,
        bytes,
        elements,
        unit: Unit::Call,
        sizing: "as stored".into(),
        expected: Some(expected),
    })
}

/// The bundled example `examples/NAME.mdbc` (compiled by the real frontend), run as stored,
/// its work counted in calls.
pub fn example_program(name: &str) -> Result<BenchProgram, BenchError> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let read = |ext: &str| {
        std::fs::read(dir.join(format!("{name}.{ext}")))
            .map_err(|e| BenchError(format!("cannot read examples/{name}.{ext}: {e}")))
    };
    let bytes = read("mdbc")?;
    let expected = read("expected")?;
    let elements = count_calls(&bytes)?;
    Ok(BenchProgram {
        name: format!("examples/{name}"),
        file: format!("../examples/{name}.mdbc"),
        bytes,
        elements,
        unit: Unit::Call,
        sizing: "as stored".into(),
        expected: Some(expected),
    })
}

/// A `bench-asm` program divided by `divisor` (see [`rescale_asm`]), its work counted in
/// iterations by [`count_iterations`].
pub fn asm_program(name: &str, divisor: u64, scaled: &[&str]) -> Result<BenchProgram, BenchError> {
    let file = format!("bench-asm/{name}.mdasm");
    let src = read_corpus_text(&file)?;
    let s = rescale_asm(&src, divisor, scaled)?;
    let elements = count_iterations(name, &s.params)
        .ok_or_else(|| BenchError(format!("no iteration count for bench-asm/{name}")))?;
    let unit = if matches!(name, "fib_calls" | "call_small") {
        Unit::Call
    } else {
        Unit::Iteration
    };
    let list: Vec<String> = s.params.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let (sizing, expected) = if divisor == 1 {
        (
            "as stored".to_string(),
            Some(read_corpus(&format!("bench-asm/{name}.expected"))?),
        )
    } else {
        (format!("1/{divisor}: {}", list.join(", ")), None)
    };
    Ok(BenchProgram {
        name: format!("asm/{name}"),
        file,
        bytes: s.bytes,
        elements,
        unit,
        sizing,
        expected,
    })
}

/// The whole suite in report order: recursive fib first (fib(27), and the bundled example's
/// fib(10), fib(25) and fib(32): long enough to show compiled code's steady state), then the
/// `bench-asm` loops (scaled by [`ASM_PROGRAMS`]), then the other frontend programs.
pub fn suite() -> Result<Vec<BenchProgram>, BenchError> {
    let mut v = vec![frontend_program("bench_fib_recursive")?, example_program("fib")?];
    for (name, divisor, scaled) in ASM_PROGRAMS {
        v.push(asm_program(name, divisor, scaled)?);
    }
    for name in &FRONTEND_PROGRAMS[1..] {
        v.push(frontend_program(name)?);
    }
    Ok(v)
}

/// The frontend benchmark programs of `tests/corpus/bench/` that end with an error (exit
/// status 1): the frontend 0.1.0a2 miscompiled them (no phis for `While` loops, a dropped loop
/// test, a miscounted file), so what they do is fail early, or, for `bench_while_sum`, loop
/// until the corpus' fuel budget of 100,000,000 instructions runs out.
pub const FAILING_FRONTEND_PROGRAMS: [&str; 7] = [
    "bench_array_fill_sum_O0",
    "bench_call_loop_O0",
    "bench_dict_workload",
    "bench_float_while_O0",
    "bench_string_while_O0",
    "bench_while_sum",
    "bench_while_sum_O0",
];

/// The fuel budget the corpus runs frontend programs with (`tests/corpus/README.md`, rule 9).
pub const CORPUS_FUEL: u64 = 100_000_000;

/// A frontend benchmark program that ends with an error, run as stored with the corpus' fuel
/// budget: what is timed is the run up to that error.
#[derive(Clone, Debug)]
pub struct FailingProgram {
    /// Short name, e.g. `bench/while_sum` (its error is part of what is measured).
    pub name: String,
    /// The `.mdbc` bytes.
    pub bytes: Vec<u8>,
    /// The `.expected` stdout (printed before the error).
    pub expected: Vec<u8>,
}

impl FailingProgram {
    /// Loads the program into a fresh VM for `tier` with the corpus fuel budget and runs it;
    /// `Ok(())` when it ends with an error, as its `.status` says it must.
    pub fn run(&self, tier: Tier, out: &mut dyn std::io::Write) -> Result<(), BenchError> {
        let mut vm = Vm::builder()
            .tier(tier)
            .fuel(Some(CORPUS_FUEL))
            .load_bytes(&self.bytes);
        let r = match &mut vm {
            Ok(vm) => vm.run(out).map(|_| ()),
            Err(_) => Ok(()), // a load error is an error exit too
        };
        match (vm.is_err(), r) {
            (true, _) | (false, Err(_)) => Ok(()),
            (false, Ok(())) => fail(format!("{} ({tier}) ended without the error its .status expects", self.name)),
        }
    }

    /// Runs it once and checks the output against `.expected`.
    pub fn check(&self, tier: Tier) -> Result<(), BenchError> {
        let mut out = Vec::new();
        self.run(tier, &mut out)?;
        if out != self.expected {
            return fail(format!(
                "{} ({tier}): output differs from .expected:\n{}",
                self.name,
                String::from_utf8_lossy(&out)
            ));
        }
        Ok(())
    }
}

/// [`FAILING_FRONTEND_PROGRAMS`], loaded.
pub fn failing_programs() -> Result<Vec<FailingProgram>, BenchError> {
    FAILING_FRONTEND_PROGRAMS
        .iter()
        .map(|name| {
            Ok(FailingProgram {
                name: format!("bench/{}", name.strip_prefix("bench_").unwrap_or(name)),
                bytes: read_corpus(&format!("bench/{name}.mdbc"))?,
                expected: read_corpus(&format!("bench/{name}.expected"))?,
            })
        })
        .collect()
}

/// The compiled tier's counters after one run of `p` in `tier` (`None` for the interpreter or
/// a failed run).
pub fn jit_stats(p: &BenchProgram, tier: Tier) -> Option<mdvm::JitStats> {
    let mut vm = p.vm(tier).ok()?;
    vm.run(&mut std::io::sink()).ok()?;
    vm.stats().jit
}

/// Runs `p` once in `tier` and checks it: it must end without error and, when it runs as
/// stored, print exactly its `.expected` output. Returns the instructions it executed.
pub fn check(p: &BenchProgram, tier: Tier) -> Result<u64, BenchError> {
    let mut vm = p
        .counting_vm(tier)
        .map_err(|e| BenchError(format!("{}: {e}", p.name)))?;
    let mut out = Vec::new();
    vm.run(&mut out)
        .map_err(|e| BenchError(format!("{} ({tier}): {e}", p.name)))?;
    if let Some(exp) = &p.expected {
        if &out != exp {
            return fail(format!(
                "{} ({tier}): output differs from {}.expected:\n{}",
                p.name,
                p.file.trim_end_matches(".mdbc"),
                String::from_utf8_lossy(&out)
            ));
        }
    }
    Ok(vm.instruction_count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_calls_count() {
        assert_eq!(calls_in_fib(0), 1);
        assert_eq!(calls_in_fib(1), 1);
        assert_eq!(calls_in_fib(2), 3);
        assert_eq!(calls_in_fib(5), 15);
        assert_eq!(calls_in_fib(27), 635_621);
    }

    #[test]
    fn params_parse() {
        let src = read_corpus_text("bench-asm/type_change.mdasm").unwrap();
        let p = asm_params(&src).unwrap();
        let names: Vec<_> = p.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(
            names,
            [("N", 60_000_000), ("P1", 20_000_000), ("P2", 40_000_000)]
        );
    }

    #[test]
    fn divisor_one_reproduces_the_stored_bytecode() {
        for (name, _, _) in ASM_PROGRAMS {
            let src = read_corpus_text(&format!("bench-asm/{name}.mdasm")).unwrap();
            let s = rescale_asm(&src, 1, &[]).unwrap();
            assert_eq!(s.source.trim_end(), src.trim_end(), "{name}");
            let stored = read_corpus(&format!("bench-asm/{name}.mdbc")).unwrap();
            assert_eq!(s.bytes, stored, "{name}");
        }
    }

    #[test]
    fn every_suite_divisor_applies() {
        for (name, divisor, scaled) in ASM_PROGRAMS {
            let src = read_corpus_text(&format!("bench-asm/{name}.mdasm")).unwrap();
            let s = rescale_asm(&src, divisor, scaled).unwrap();
            assert!(count_iterations(name, &s.params).unwrap() > 0);
        }
    }

    #[test]
    fn rescaling_keeps_signs_and_ratios() {
        let src = read_corpus_text("bench-asm/nested_mod.mdasm").unwrap();
        let s = rescale_asm(&src, 10, &[]).unwrap();
        assert!(s.source.contains("int -2500 "));
        assert!(s.source.contains("int 2500 "));
        assert!(s.source.contains("int 1000 "));
        assert!(s.source.contains("int -7 "), "unrelated constants stay");
        assert_eq!(count_iterations("nested_mod", &s.params), Some(5_000_000));

        let src = read_corpus_text("bench-asm/type_change.mdasm").unwrap();
        let s = rescale_asm(&src, 100, &[]).unwrap();
        assert_eq!(
            (s.param("N"), s.param("P1"), s.param("P2")),
            (Some(600_000), Some(200_000), Some(400_000))
        );

        let src = read_corpus_text("bench-asm/dict_workload.mdasm").unwrap();
        let s = rescale_asm(&src, 100, &["N"]).unwrap();
        assert_eq!((s.param("K"), s.param("N")), (Some(1000), Some(800_000)));
        assert!(s.source.contains("int 1000 "));
    }

    #[test]
    fn rescaled_while_sum_computes_the_scaled_sum() {
        let src = read_corpus_text("bench-asm/while_sum.mdasm").unwrap();
        let s = rescale_asm(&src, 7000, &[]).unwrap();
        let n = s.param("N").unwrap();
        assert_eq!(n, 100_000);
        let mut vm = Vm::builder()
            .tier(Tier::Interp)
            .fuel(None)
            .load_bytes(&s.bytes)
            .unwrap();
        let out = vm.run_captured();
        out.result.unwrap();
        assert_eq!(
            String::from_utf8(out.output).unwrap(),
            format!("{}\n{}\n", n * (n + 1) / 2, n + 1)
        );
    }

    #[test]
    fn resize_sets_the_given_sizes() {
        let src = read_corpus_text("bench-asm/nested_mod.mdasm").unwrap();
        let s = resize_asm(&src, &[("A", 30), ("B", 30), ("M", 40)]).unwrap();
        assert!(s.source.contains("int -30 ") && s.source.contains("int 40 "));
        assert_eq!(count_iterations("nested_mod", &s.params), Some(2400));
        assert!(resize_asm(&src, &[("A", 30), ("B", 31)]).is_err(), "A and B share a value");
        assert!(resize_asm(&src, &[("Q", 3)]).is_err());
        let src = read_corpus_text("bench-asm/while_sum.mdasm").unwrap();
        let s = resize_asm(&src, &[("N", 1000)]).unwrap();
        let mut vm = Vm::builder().tier(Tier::Interp).load_bytes(&s.bytes).unwrap();
        let out = vm.run_captured();
        out.result.unwrap();
        assert_eq!(String::from_utf8(out.output).unwrap(), "500500\n1001\n");
    }

    #[test]
    fn failing_programs_fail_as_expected() {
        for p in failing_programs().unwrap() {
            if p.name != "bench/while_sum" {
                p.check(Tier::Interp).unwrap();
            }
        }
    }

    #[test]
    fn fib_recursive_makes_the_counted_calls() {
        let p = frontend_program("bench_fib_recursive").unwrap();
        assert_eq!(count_calls(&p.bytes).unwrap(), calls_in_fib(27));
        check(&p, Tier::Interp).unwrap();
    }
}

/// The first line of `cmd args`' output (stdout, then stderr), when it ran successfully.
pub fn output_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).stdin(Stdio::null()).output().ok()?;
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    let s = s.lines().next().unwrap_or("").trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// True when `cmd` is on the `PATH`.
pub fn on_path(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// The machine, for a benchmark's header: CPU model, logical CPUs, memory and kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = output_of("uname", &["-sr"]).unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!(", {:.0} GiB memory", kb / 1048576.0))
        .unwrap_or_default();
    format!("{model}, {cpus} logical CPUs{mem}, {kernel}")
}
