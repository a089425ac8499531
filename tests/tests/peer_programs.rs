//! The comparison programs bench-compare runs from `benches/peers/` (`NAME.mdasm` beside its C,
//! Lua and Python versions) print what their Python versions print, in every mode, at the small
//! sizes their headers give: the harness compares the implementations at its own sizes, and
//! this keeps the bytecode versions right between its runs.

use std::process::Command;

use mdvm_tests::{assemble_bytes, run_bytes_mode, workspace_dir, Mode};

/// Each program with the command-line arguments of its Python version: the header's sizes, in
/// order.
const PROGRAMS: &[(&str, &[&str])] = &[
    ("callchain", &["20000"]),
    ("floatgrid", &["40", "30", "20"]),
    ("isort", &["300", "3"]),
    ("sieve", &["20000", "3"]),
    ("strbuild", &["500", "4"]),
    ("wordcount", &["500", "20000"]),
];

#[test]
fn peer_programs_print_what_their_python_versions_print_in_every_mode() {
    let dir = workspace_dir().join("benches/peers");
    for (name, args) in PROGRAMS {
        let src = std::fs::read_to_string(dir.join(format!("{name}.mdasm"))).unwrap_or_else(|e| panic!("{name}.mdasm: {e}"));
        // The header's sizes are the arguments given to the Python version.
        let header = src.lines().next().unwrap_or_default();
        let sizes: Vec<&str> = header
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list.split(", ").filter_map(|p| p.split_once('=').map(|(_, v)| v)).collect())
            .unwrap_or_default();
        assert_eq!(&sizes, args, "{name}: header {header:?}");
        let py = Command::new("python3")
            .arg(dir.join(format!("{name}.py")))
            .args(*args)
            .output()
            .unwrap_or_else(|e| panic!("python3 is needed to run {name}.py: {e}"));
        assert!(py.status.success(), "{name}.py failed: {}", String::from_utf8_lossy(&py.stderr));
        let bytes = assemble_bytes(&src);
        for mode in Mode::ALL {
            let run = run_bytes_mode(&bytes, mode, None, None);
            assert_eq!(run.error, None, "{name} {mode}");
            assert_eq!(String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&py.stdout), "{name} {mode}");
        }
    }
}
