//! Criterion benchmarks of what a run costs before and around the program itself: loading
//! (decoding, verifying) and compiling, for every program of [`mdvm_benches::suite`] and the
//! failing frontend programs.
//!
//! ```text
//! cargo bench -p mdvm-benches --bench load
//! cargo bench -p mdvm-benches --bench load -- 'compile/'
//! ```
//!
//! Groups:
//!
//! * `decode/NAME`: `mdbc::Module::decode` of the `.mdbc` bytes; throughput in bytecode
//!   instructions, so criterion prints a rate per instruction;
//! * `verify/NAME`: `mdbc::verify` of the decoded module (control flow, registers, constants);
//! * `load/NAME`: everything `Vm::builder().load_bytes` does for the interpreter (decode,
//!   verify, the runtime's program layout), i.e. the load cost of `mdvm run`;
//! * `compile/NAME/per-function` and `compile/NAME/per-instruction`: Cranelift compile time of
//!   one run under `--tier jit` (which compiles every function before its first call), stopped
//!   by a fuel budget of 10^6 instructions (so the code is the metered variant, with its fuel
//!   check), taken from the compiled tier's own counter (`compile_nanos`, recompilations after
//!   deopts included), so only compilation is timed although each iteration runs; the
//!   throughput is the functions (and OSR entries) compiled, or the bytecode instructions of the
//!   module, so criterion's rate gives the time per function or per instruction.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mdvm::{Tier, Vm};
use mdvm_benches::{failing_programs, suite};

fn programs() -> Vec<(String, Vec<u8>, bool)> {
    let mut v: Vec<(String, Vec<u8>, bool)> = suite()
        .unwrap_or_else(|e| panic!("preparing the benchmark programs: {e}"))
        .into_iter()
        .map(|p| (p.name, p.bytes, true))
        .collect();
    for p in failing_programs().unwrap_or_else(|e| panic!("{e}")) {
        v.push((format!("failing/{}", p.name), p.bytes, false));
    }
    v
}

fn load(c: &mut Criterion) {
    for (name, bytes, _) in programs() {
        let Ok(module) = mdbc::Module::decode(&bytes) else {
            continue; // not loadable: nothing to measure
        };
        let instructions = module.code.len() as u64;
        let mut group = c.benchmark_group(format!("decode/{name}"));
        group.throughput(Throughput::Elements(instructions));
        group.bench_function("decode", |b| b.iter(|| black_box(mdbc::Module::decode(black_box(&bytes)))));
        group.finish();
        let mut group = c.benchmark_group(format!("verify/{name}"));
        group.throughput(Throughput::Elements(instructions));
        group.bench_function("verify", |b| b.iter(|| black_box(mdbc::verify(black_box(&module)).is_ok())));
        group.finish();
        let mut group = c.benchmark_group(format!("load/{name}"));
        group.throughput(Throughput::Elements(instructions));
        group.bench_function("load", |b| {
            b.iter(|| black_box(Vm::builder().tier(Tier::Interp).load_bytes(black_box(&bytes)).is_ok()))
        });
        group.finish();
    }
}

/// The fuel budget of a compile-measuring run: enough for every program to call each of its
/// functions (so that each is compiled), small enough that the run costs little more than its
/// compilation.
const COMPILE_FUEL: u64 = 1_000_000;

/// Compile time of one `--tier jit` run stopped after [`COMPILE_FUEL`] instructions (or at its
/// end), from the compiled tier's counters, and the functions and OSR entries compiled.
fn compile_once(bytes: &[u8]) -> Option<(Duration, u64)> {
    let mut vm = Vm::builder()
        .tier(Tier::Jit)
        .fuel(Some(COMPILE_FUEL))
        .count_instructions(false)
        .load_bytes(bytes)
        .ok()?;
    let _ = vm.run(&mut std::io::sink());
    let j = vm.stats().jit?;
    let units = j.compiled.functions_compiled + j.compiled.osr_compiled;
    Some((Duration::from_nanos(j.compiled.compile_nanos), units))
}

fn compile(c: &mut Criterion) {
    for (name, bytes, _) in programs() {
        let Ok(module) = mdbc::Module::decode(&bytes) else { continue };
        let Some((_, units)) = compile_once(&bytes) else { continue };
        if units == 0 {
            continue;
        }
        let instructions = module.code.len() as u64;
        let mut group = c.benchmark_group(format!("compile/{name}"));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(200));
        group.measurement_time(Duration::from_secs(1));
        for (label, n) in [("per-function", units), ("per-instruction", instructions)] {
            group.throughput(Throughput::Elements(n));
            group.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += compile_once(&bytes).map(|(d, _)| d).unwrap_or_default();
                    }
                    total
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, load, compile);
criterion_main!(benches);
