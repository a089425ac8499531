//! Random valid modules under a small fuel budget, memory limit, time limit or interrupt, in
//! the interpreter and the compiled tier: every run ends cleanly, and what it printed is a
//! prefix of the unlimited interpreter run's output (`mdvm_fuzzgen::limits`).
#![no_main]
use libfuzzer_sys::fuzz_target;

/// Counts the heap exactly, as the `mdvm` command does, so the memory limit is exact.
#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let case = mdvm_fuzzgen::LimitCase::from_unstructured(&mut u);
    if let Ok(m) = mdvm_fuzzgen::generate(&mut u) {
        if let Err(e) = mdvm_fuzzgen::check_limits(&m.encode(), &case) {
            panic!("{e}\n{}", mdbc::disassemble(&m));
        }
    }
});
