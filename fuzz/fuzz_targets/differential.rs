//! Random valid modules (mdvm-fuzzgen), the interpreter against the compiled tier.
//!
//! The first byte picks one compiled configuration (`mdvm_fuzzgen::compiled_config`: each of
//! the seven for about a seventh of the inputs); the rest generates the module, which runs in
//! the interpreter and in that configuration. Compiling dominates a run, so this is about six
//! times the programs per second of running every configuration on every input, each
//! configuration still running about as many programs per second as before
//! (`fuzz/README.md`, *Speed*). `cargo test -p mdvm-fuzzgen` runs the regression files in every
//! configuration.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let config = mdvm_fuzzgen::compiled_config(selector);
    let mut u = arbitrary::Unstructured::new(rest);
    if let Ok(m) = mdvm_fuzzgen::generate(&mut u) {
        if let Err(mismatch) = mdvm_fuzzgen::check_bytes_in(&m.encode(), [config]) {
            panic!("{mismatch}\n{}", mdbc::disassemble(&m));
        }
    }
});
