//! The bundled examples (compiled by the real frontend) print what `examples/NAME.expected` says,
//! through the library under every tier.

use std::path::PathBuf;

use mdvm::{Tier, Vm};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn bundled_examples_print_their_expected_output() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("examples folder") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "mdbc") {
            continue;
        }
        let expected = std::fs::read(path.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{}: no .expected beside it: {e}", path.display()));
        assert!(path.with_extension("md").exists(), "{}: its .md source is missing", path.display());
        for tier in [Tier::Interp, Tier::Jit, Tier::Auto] {
            let mut vm = Vm::builder().tier(tier).fuel(Some(1_000_000_000)).load_file(&path).unwrap();
            let outcome = vm.run_captured();
            assert!(outcome.result.is_ok(), "{} ({tier}): {:?}", path.display(), outcome.result);
            assert_eq!(
                String::from_utf8_lossy(&outcome.output),
                String::from_utf8_lossy(&expected),
                "{} ({tier})",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "expected at least the fib and hello examples, found {checked}");
}
