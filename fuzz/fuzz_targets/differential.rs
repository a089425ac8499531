//! Random valid modules (mdvm-fuzzgen), the interpreter against every compiled configuration.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    if let Ok(m) = mdvm_fuzzgen::generate(&mut u) {
        if let Err(mismatch) = mdvm_fuzzgen::check_module(&m) {
            panic!("{mismatch}\n{}", mdbc::disassemble(&m));
        }
    }
});
