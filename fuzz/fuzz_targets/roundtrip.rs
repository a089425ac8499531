//! decode, encode, decode: equal. The first byte picks raw bytes (odd) or a generated module
//! (even), so valid modules are common.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let bytes = if first % 2 == 1 {
        rest.to_vec()
    } else {
        match mdvm_fuzzgen::generate(&mut arbitrary::Unstructured::new(rest)) {
            Ok(m) => m.encode(),
            Err(_) => return,
        }
    };
    if let Err(e) = mdvm_fuzzgen::check_roundtrip(&bytes) {
        panic!("{e}");
    }
});
