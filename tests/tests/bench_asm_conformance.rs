//! Conformance of the benchmark-size assembly programs (`corpus/bench-asm/`).
//!
//! They execute 0.4 to 5.4 billion instructions each (tens of seconds each even in release
//! mode), so the test is ignored by default and must be asked for:
//!
//! ```text
//! MDVM_BENCH_ASM=1 cargo test --release -p mdvm-tests --test bench_asm_conformance -- --ignored
//! ```
//!
//! It refuses to run (fails) in a debug build or without `MDVM_BENCH_ASM=1`, so it is never
//! reported as passed without having run the programs. Cases run without fuel under
//! [`Tier::Auto`], on as many threads as there are cores, longest first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mdvm_tests::{assert_no_failures, bench_asm_cases, check_case, run_bytes, Case, Tier};

/// The instruction count a case's notes announce ("executes about 5.4e+09 instructions").
fn announced_instructions(case: &Case) -> Option<f64> {
    let rest = case.notes.split("executes about ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// One case's verdict: `Ok(None)` passed, `Ok(Some(why))` wrong output, `Err(why)` panicked.
type CaseResult = Result<Option<String>, String>;

#[test]
#[ignore = "run with MDVM_BENCH_ASM=1 in release mode (the test command does)"]
fn bench_asm_cases_under_auto_tier() {
    if cfg!(debug_assertions) {
        panic!(
            "the bench-asm cases take hours in a debug build: run \
             `MDVM_BENCH_ASM=1 cargo test --release -p mdvm-tests --test bench_asm_conformance -- --ignored`"
        );
    }
    assert_eq!(
        std::env::var("MDVM_BENCH_ASM").as_deref(),
        Ok("1"),
        "set MDVM_BENCH_ASM=1 to run the bench-asm cases (tens of seconds each)"
    );

    let mut cases = bench_asm_cases();
    assert!(cases.len() >= 10, "only {} bench-asm cases in the manifest", cases.len());
    let total = cases.len();
    for c in &cases {
        assert!(c.fuel().is_none(), "{}: bench-asm cases run without fuel", c.name);
    }
    // Longest first, so the threads finish together.
    cases.sort_by(|a, b| {
        let (x, y) = (announced_instructions(a).unwrap_or(0.0), announced_instructions(b).unwrap_or(0.0));
        y.total_cmp(&x)
    });

    let queue = Arc::new(Mutex::new(cases.into_iter().collect::<VecDeque<Case>>()));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(total).max(1);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                let mut results: Vec<CaseResult> = Vec::new();
                loop {
                    let Some(case) = queue.lock().expect("queue").pop_front() else { break };
                    // `Vm` is not Send: each thread builds its own from the bytes.
                    let bytes = case.bytes();
                    let t = Instant::now();
                    let outcome = std::panic::catch_unwind(|| run_bytes(&bytes, Tier::Auto, None, None));
                    let elapsed = t.elapsed();
                    let (result, instructions) = match outcome {
                        Ok(run) => {
                            let detail = run.error.clone().unwrap_or_default();
                            (Ok(check_case(&case, &run.stdout, run.status, &detail)), run.instructions)
                        }
                        Err(p) => {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            (Err(format!("{}: panicked: {msg}", case.name)), 0)
                        }
                    };
                    eprintln!(
                        "{:<28} {:>8.2} s  {:>14} instructions (notes: about {:.1e})",
                        case.name,
                        elapsed.as_secs_f64(),
                        instructions,
                        announced_instructions(&case).unwrap_or(f64::NAN)
                    );
                    results.push(result);
                }
                results
            })
        })
        .collect();

    let mut failures = Vec::new();
    let mut ran = 0;
    for h in handles {
        match h.join() {
            Ok(results) => {
                for r in results {
                    ran += 1;
                    match r {
                        Ok(None) => {}
                        Ok(Some(f)) | Err(f) => failures.push(f),
                    }
                }
            }
            Err(_) => failures.push("a worker thread panicked".to_string()),
        }
    }
    eprintln!("{ran} bench-asm cases on {threads} threads in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(ran, total, "every bench-asm case ran");
    assert_no_failures("bench-asm, tier auto, no fuel", total, &failures);
}

/// The parser of the notes (used for ordering) understands every bench-asm row.
#[test]
fn bench_asm_notes_announce_instruction_counts() {
    for c in bench_asm_cases() {
        let n = announced_instructions(&c).unwrap_or_else(|| panic!("{}: no 'executes about N' in notes", c.name));
        assert!(n >= 1e6, "{}: {n}", c.name);
    }
}
