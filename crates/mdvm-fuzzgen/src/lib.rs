//! # mdvm-fuzzgen: differential testing of mdvm's tiers
//!
//! The library half of the fuzzers in `fuzz/` and of the seeded checks in `cargo test`, after
//! wasmtime's split between `crates/fuzzing` and thin `fuzz/fuzz_targets/*`:
//!
//! * [`gen`]: [`generate`] builds a random **valid** module from `arbitrary` bytes
//!   (ARCHITECTURE.md, *Testing and benchmarks*): functions with parameters, bounded recursion,
//!   loops, branches, phis, every value type, type changes at one site, overflow, division by zero,
//!   asserts, calls of the deterministic natives ([`NATIVES`]), and in a share of modules
//!   processes ([`PROCESS_NATIVES`]);
//! * [`oracle`]: [`check_module`] runs a module in the interpreter and in the compiled tier
//!   under several configurations (a module with processes also with a short slice length)
//!   and reports the first disagreement in stdout bytes, result, error (kind and bytecode
//!   position), instruction count or process counters;
//! * [`limits`]: [`check_limits`] runs a module under a small fuel budget, memory limit, time
//!   limit or interrupt and checks that the run ends cleanly with output the limits only cut short;
//! * [`check_load`] and [`check_roundtrip`]: the properties of the `load` and `roundtrip`
//!   targets (no panic, and decode(encode(decode(x))) == decode(x)).

pub mod gen;
pub mod limits;
pub mod oracle;
pub mod seeded;

pub use limits::{check_limits, LimitCase, LimitRun, Stop};
pub use seeded::{seeded_input, Xorshift};
pub use gen::{generate, generate_with, GenConfig, GenError, NATIVES, PROCESS_NATIVES};
pub use oracle::{
    check_bytes, check_bytes_in, check_module, compiled_config, run_config, run_config_with, short_reductions, slice_lengths,
    uses_processes, Config, Mismatch, Run, CONFIGS, FUEL, SHORT_REDUCTIONS,
};

/// The `load` property: the loader and verifier return a result for any bytes. Returns
/// whether the bytes loaded. (A panic is the failure; the fuzzer and the tests catch it.)
pub fn check_load(bytes: &[u8]) -> bool {
    mdbc::Module::load(bytes).is_ok()
}

/// The `roundtrip` property: if `bytes` decode, encoding the module and decoding the result
/// gives an equal module, and encoding that again gives the same bytes.
///
/// Errors: a description of the first difference.
pub fn check_roundtrip(bytes: &[u8]) -> Result<(), String> {
    let Ok(m1) = mdbc::Module::decode(bytes) else { return Ok(()) };
    let e1 = m1.encode();
    let m2 = mdbc::Module::decode(&e1).map_err(|e| format!("re-encoded module does not decode: {e}"))?;
    if !same_module(&m1, &m2) {
        return Err(format!("decode(encode(m)) differs from m:\n{m1:?}\n{m2:?}"));
    }
    let e2 = m2.encode();
    if e1 != e2 {
        return Err("encode(decode(encode(m))) differs from encode(m)".into());
    }
    Ok(())
}

/// Equality of everything a module means (instruction byte offsets aside, which depend on the
/// file's section layout); floats compare by bits.
fn same_module(a: &mdbc::Module, b: &mdbc::Module) -> bool {
    use mdbc::Constant;
    let consts = a.constants.len() == b.constants.len()
        && a.constants.iter().zip(&b.constants).all(|(x, y)| match (x, y) {
            (Constant::Float(x), Constant::Float(y)) => x.to_bits() == y.to_bits(),
            (x, y) => x == y,
        });
    let code_same = a.code.len() == b.code.len()
        && a.code.iter().zip(&b.code).all(|(x, y)| {
            let (mut bx, mut by) = (Vec::new(), Vec::new());
            x.encode(&mut bx);
            y.encode(&mut by);
            bx == by
        });
    consts
        && code_same
        && a.name == b.name
        && a.version == b.version
        && a.flags == b.flags
        && a.functions == b.functions
        && a.header_count == b.header_count
}
