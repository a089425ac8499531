//! `MDVM_JIT_CODE_DIR`: the Cranelift tier writes each compiled function's machine code to
//! the directory (for `scripts/jit-annotate.sh`). In a test binary of its own: the variable is
//! read by every compile of the process.

use mdvm::{Tier, Vm};
use mdvm_tests::{workspace_dir, TempDir};

#[test]
fn every_compiled_function_has_its_machine_code_written() {
    let dir = TempDir::new("jit-code");
    std::env::set_var("MDVM_JIT_CODE_DIR", dir.path());
    let bytes = std::fs::read(workspace_dir().join("examples/fib.mdbc")).expect("examples/fib.mdbc");
    let mut vm = Vm::builder().tier(Tier::Jit).load_bytes(&bytes).expect("loads");
    let out = vm.run_captured();
    std::env::remove_var("MDVM_JIT_CODE_DIR");
    assert!(out.result.is_ok(), "{:?}", out.result);
    let compiled = vm.stats().jit.expect("the compiled tier is attached").compiled.functions_compiled;
    assert!(compiled >= 2, "fib compiles main and fib: {compiled}");
    let mut names: Vec<(String, u64)> = std::fs::read_dir(dir.path())
        .expect("the code directory")
        .map(|e| {
            let e = e.expect("an entry");
            (e.file_name().into_string().expect("a UTF-8 name"), e.metadata().expect("metadata").len())
        })
        .collect();
    names.sort();
    // One typed body per compiled function (and entry stubs beside them), each non-empty and
    // named as `perf` sees it.
    let typed = names.iter().filter(|(n, _)| n.contains("_typed")).count();
    assert_eq!(typed as u64, compiled, "{names:?}");
    for (n, len) in &names {
        let stem = n.strip_suffix(".bin").unwrap_or_else(|| panic!("{n}: not a .bin file"));
        let rest = stem.strip_prefix("mdvm_body").unwrap_or_else(|| panic!("{n}: not a compiled body's name"));
        assert!(rest.split('_').next().is_some_and(|b| b.parse::<u32>().is_ok()), "{n}");
        assert!(*len > 0, "{n} is empty");
    }
}
