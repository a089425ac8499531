//! Raw bytes through the loader and verifier: a result, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mdvm_fuzzgen::check_load(data);
});
