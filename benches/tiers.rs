//! Criterion benchmarks: one group per program, one function per tier (`interp`, `jit`, `auto`),
//! for every program of the corpus' `bench/` and `bench-asm/` folders (and `examples/fib`).
//!
//! ```text
//! cargo bench -p mdvm-benches --bench tiers                      # everything, a few minutes
//! cargo bench -p mdvm-benches --bench tiers -- --quick           # quicker, rougher
//! cargo bench -p mdvm-benches --bench tiers -- 'asm/while_sum/interp'   # criterion's name filter
//! ```
//!
//! An iteration loads the program into a fresh VM and runs it from the start to the end with
//! its output written to `std::io::sink()` (loading takes microseconds; a fresh VM means a
//! compiling tier pays its compile time in every iteration, as a user running the program
//! would). The programs and their sizes are those of [`mdvm_benches::suite`]; the throughput
//! is the calls or loop iterations of one run, so criterion also prints a rate per call or
//! iteration.
//!
//! The frontend programs of `bench/` that end with an error (the frontend miscompiled them; see
//! [`mdvm_benches::FAILING_FRONTEND_PROGRAMS`]) are measured too, in groups named
//! `failing/bench/NAME`, tiers `interp` and `jit`: a run goes up to the error (with the corpus'
//! fuel budget of 10^8 instructions, which `bench/while_sum` uses up).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mdvm::Tier;
use mdvm_benches::{check, failing_programs, suite, TIERS};

fn tiers(c: &mut Criterion) {
    let programs = suite().unwrap_or_else(|e| panic!("preparing the benchmark programs: {e}"));
    for p in &programs {
        let mut group = c.benchmark_group(p.name.as_str());
        // Each run takes tens of milliseconds: flat sampling with few samples keeps the suite at
        // a few minutes.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(p.elements));
        for tier in TIERS {
            let mut checked = false;
            group.bench_function(tier.to_string(), |b| {
                // Once, and only when this function passes criterion's filter: the program must
                // end without error (and print its .expected output when run as stored).
                if !checked {
                    check(p, tier).unwrap_or_else(|e| panic!("{e}"));
                    checked = true;
                }
                b.iter(|| {
                    let r = p.run(tier, &mut std::io::sink());
                    black_box(r.expect("the program ran without error"))
                });
            });
        }
        group.finish();
    }
    let failing = failing_programs().unwrap_or_else(|e| panic!("loading the failing programs: {e}"));
    for p in &failing {
        let mut group = c.benchmark_group(format!("failing/{}", p.name));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for tier in [Tier::Interp, Tier::Jit] {
            let mut checked = false;
            group.bench_function(tier.to_string(), |b| {
                if !checked {
                    p.check(tier).unwrap_or_else(|e| panic!("{e}"));
                    checked = true;
                }
                b.iter(|| black_box(p.run(tier, &mut std::io::sink()).expect("ends with its error")));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, tiers);
criterion_main!(benches);
