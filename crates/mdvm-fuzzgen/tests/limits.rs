//! The `limits` fuzz target's property on a fixed set of cases: generated programs under small
//! fuel budgets, memory limits, time limits and interrupts from another thread, in every
//! configuration, end cleanly with output the limits only cut short (`mdvm_fuzzgen::limits`).

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use mdvm_fuzzgen::{check_limits, generate, LimitCase, Stop, Xorshift};

/// Counts the heap exactly, as the `limits` fuzz target does, so memory limits are exact.
#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;

const CASES: u64 = 1_000;

#[test]
fn limited_runs_end_cleanly_and_only_cut_output_short() {
    let mut ended_by: BTreeMap<String, u64> = BTreeMap::new();
    let mut stops = [0u64; 3];
    let mut failures = Vec::new();
    for i in 0..CASES {
        let mut r = Xorshift(0x5851_f42d_4c95_7f2d ^ (i.wrapping_mul(0x1000_0000_01b3) + 1));
        let len = 5 + (r.next_u64() % 1200) as usize;
        let data: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
        let mut u = Unstructured::new(&data);
        let case = LimitCase::from_unstructured(&mut u);
        stops[match case.stop {
            Stop::None => 0,
            Stop::Timeout(_) => 1,
            Stop::Interrupt(_) => 2,
        }] += 1;
        let m = generate(&mut u).unwrap_or_else(|e| panic!("case {i}: {e}"));
        match check_limits(&m.encode(), &case) {
            Ok(run) => *ended_by.entry(run.ended_by.unwrap_or_else(|| "no limit".into())).or_default() += 1,
            Err(e) => failures.push(format!("case {i}: {e}\n{}", mdbc::disassemble(&m))),
        }
    }
    assert!(failures.is_empty(), "{} of {CASES} cases failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("outcomes: {ended_by:?}; stops (none, timeout, interrupt): {stops:?}");
    // Each limit fires on some cases and some runs end before any, or the set tests little.
    for kind in ["no limit", "fuel exhausted", "out of memory", "load out of memory"] {
        assert!(ended_by.get(kind).copied().unwrap_or(0) >= 5, "too few runs ended by `{kind}`: {ended_by:?}");
    }
    assert!(stops.iter().all(|&n| n >= CASES / 8), "stops (none, timeout, interrupt): {stops:?}");
}
