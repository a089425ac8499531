//! Corpus conformance: every case except `bench-asm/` (see `bench_asm_conformance.rs`) must
//! print exactly `NAME.expected` and exit with `NAME.status`, through the library and through
//! the `mdvm` binary, under every tier.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mdvm_tests::{
    assert_no_failures, check_case, conformance_cases, corpus_dir, files_under, manifest, run_case_cli_mode,
    run_case_mode, shared_corpus_dir, Case, ErrorKind, Mode, CORPUS_FUEL,
};

/// Runs every conformance case through the library with `tier`, comparing output and status,
/// and checks that the fuel budget stops exactly the `nonterminating` cases (so running the
/// others under it cannot change what they print).
fn library_conformance(tier: Mode) {
    let cases = conformance_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let run = run_case_mode(case, tier);
        let detail = run.error.clone().unwrap_or_default();
        if let Some(f) = check_case(case, &run.stdout, run.status, &detail) {
            failures.push(f);
        }
        // A body left to the interpreter prints the same output: check the tier compiled all.
        if run.compile_failures.0 != 0 {
            failures.push(format!("{}: {} bodies failed to compile: {:?}", case.name, run.compile_failures.0, run.compile_failures.1));
        }
        let exhausted = run.error_kind == Some(ErrorKind::FuelExhausted);
        if case.is_nonterminating() {
            if !exhausted {
                failures.push(format!(
                    "{}: marked nonterminating but did not run out of fuel ({} instructions, error {:?})",
                    case.name, run.instructions, run.error
                ));
            } else if run.instructions != CORPUS_FUEL {
                failures.push(format!(
                    "{}: ran out of fuel after {} instructions, budget {CORPUS_FUEL}",
                    case.name, run.instructions
                ));
            }
        } else if exhausted || run.instructions >= CORPUS_FUEL {
            failures.push(format!(
                "{}: not marked nonterminating but used the whole fuel budget ({} instructions)",
                case.name, run.instructions
            ));
        }
    }
    assert_no_failures(&format!("library, tier {tier}"), cases.len(), &failures);
}

/// Runs every conformance case through `mdvm run --tier TIER --fuel 100000000`.
fn cli_conformance(tier: Mode) {
    let cases = conformance_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let out = run_case_cli_mode(case, tier);
        if out.code == Some(101) || out.code.is_none() {
            failures.push(format!("{}: crashed\n{}", case.name, out.describe()));
            continue;
        }
        if let Some(f) = check_case(case, &out.stdout, out.status(), &out.stderr_text()) {
            failures.push(f);
        }
        // An error always comes with a message; success is silent on stderr.
        if out.status() == 1 && out.stderr.is_empty() {
            failures.push(format!("{}: exit status 1 with nothing on stderr", case.name));
        }
        if out.status() == 0 && !out.stderr.is_empty() {
            failures.push(format!("{}: exit status 0 but stderr {:?}", case.name, out.stderr_text()));
        }
    }
    assert_no_failures(&format!("mdvm run {tier}"), cases.len(), &failures);
}

#[test]
fn library_interp() {
    library_conformance(Mode::INTERP);
}

#[test]
fn library_jit() {
    library_conformance(Mode::JIT);
}

#[test]
fn library_auto() {
    library_conformance(Mode::AUTO);
}

#[test]
fn library_auto_threshold_1() {
    library_conformance(Mode::AUTO_T1);
}

#[test]
fn library_jit_stress_deopt() {
    library_conformance(Mode::JIT_STRESS);
}

#[test]
fn library_auto_threshold_1_stress_deopt() {
    library_conformance(Mode::AUTO_T1_STRESS);
}

#[test]
fn library_always_osr() {
    library_conformance(Mode::ALWAYS_OSR);
}

#[test]
fn library_always_osr_stress_deopt() {
    library_conformance(Mode::ALWAYS_OSR_STRESS);
}

#[test]
fn library_jit_write_through_stress_deopt() {
    library_conformance(Mode::JIT_WRITE_THROUGH_STRESS);
}

#[test]
fn library_always_osr_write_through_stress_deopt() {
    library_conformance(Mode::ALWAYS_OSR_WRITE_THROUGH_STRESS);
}

#[test]
fn cli_interp() {
    cli_conformance(Mode::INTERP);
}

#[test]
fn cli_jit() {
    cli_conformance(Mode::JIT);
}

#[test]
fn cli_auto() {
    cli_conformance(Mode::AUTO);
}

#[test]
fn cli_auto_threshold_1() {
    cli_conformance(Mode::AUTO_T1);
}

#[test]
fn cli_jit_stress_deopt() {
    cli_conformance(Mode::JIT_STRESS);
}

#[test]
fn cli_auto_threshold_1_stress_deopt() {
    cli_conformance(Mode::AUTO_T1_STRESS);
}

#[test]
fn cli_always_osr() {
    cli_conformance(Mode::ALWAYS_OSR);
}

#[test]
fn cli_always_osr_stress_deopt() {
    cli_conformance(Mode::ALWAYS_OSR_STRESS);
}

#[test]
fn cli_jit_write_through_stress_deopt() {
    cli_conformance(Mode::JIT_WRITE_THROUGH_STRESS);
}

/// Nothing is skipped: the conformance set is the manifest minus `bench-asm/`, every manifest
/// row has its files, the manifest's `expected_exit` agrees with `NAME.status`, and every
/// `.mdbc` in the corpus has a manifest row.
#[test]
fn manifest_covers_the_corpus() {
    let all = manifest();
    let bench_asm = all.iter().filter(|c| c.name.starts_with("bench-asm/")).count();
    let cases = conformance_cases();
    assert_eq!(cases.len(), all.len() - bench_asm, "conformance cases = manifest rows - bench-asm rows");
    assert!(cases.len() >= 80, "only {} conformance cases: is the corpus complete?", cases.len());
    assert!(bench_asm >= 10, "only {bench_asm} bench-asm cases");

    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for c in &all {
        if !names.insert(c.name.clone()) {
            problems.push(format!("{}: listed twice", c.name));
        }
        for ext in ["mdbc", "expected", "status"] {
            if !c.path(ext).is_file() {
                problems.push(format!("{}: no .{ext} file", c.name));
            }
        }
        if c.path("status").is_file() && c.expected_status() != c.expected_exit {
            problems.push(format!(
                "{}: MANIFEST expected_exit {} but .status says {}",
                c.name,
                c.expected_exit,
                c.expected_status()
            ));
        }
        if ![0, 1].contains(&c.expected_exit) {
            problems.push(format!("{}: expected_exit {}", c.name, c.expected_exit));
        }
        if c.causes.is_empty() {
            problems.push(format!("{}: empty cause", c.name));
        }
    }
    let on_disk: BTreeSet<String> = files_under(&corpus_dir())
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == "mdbc"))
        .map(|p: PathBuf| p.with_extension("").to_string_lossy().replace('\\', "/"))
        .collect();
    for n in on_disk.difference(&names) {
        problems.push(format!("{n}.mdbc has no MANIFEST row"));
    }
    assert!(problems.is_empty(), "corpus problems:\n  {}", problems.join("\n  "));

    // The nonterminating cases are the ones fuel must stop.
    let nonterminating: Vec<&Case> = cases.iter().filter(|c| c.is_nonterminating()).collect();
    assert!(!nonterminating.is_empty(), "the corpus has nonterminating cases");
    for c in nonterminating {
        assert_eq!(c.expected_exit, 1, "{}: nonterminating cases end with status 1", c.name);
    }
}

/// `tests/corpus` holds a copy of `../shared/corpus`: every shared file with the same bytes,
/// except `MANIFEST.tsv`, which keeps every shared row unchanged and in order and adds rows,
/// and `README.md`, which documents the additions. Files only in `tests/corpus` are the
/// project's own cases, each with a MANIFEST row (`manifest_covers_the_corpus`).
#[test]
fn corpus_matches_shared_corpus() {
    let shared = shared_corpus_dir();
    if !shared.is_dir() {
        eprintln!("note: {} is absent; not comparing tests/corpus with the shared corpus", shared.display());
        return;
    }
    let ours = files_under(&corpus_dir());
    let theirs = files_under(&shared);
    let mut problems = Vec::new();
    for (p, bytes) in &theirs {
        let name = p.to_string_lossy();
        match ours.get(p) {
            None => problems.push(format!("only in the shared corpus: {}", p.display())),
            Some(_) if name == "README.md" => {}
            Some(mine) if name == "MANIFEST.tsv" => {
                let (mine, theirs) = (String::from_utf8_lossy(mine), String::from_utf8_lossy(bytes));
                let mut rows = mine.lines();
                for row in theirs.lines() {
                    if !rows.any(|r| r == row) {
                        problems.push(format!("MANIFEST.tsv lacks or reorders the shared row {row:?}"));
                        break;
                    }
                }
            }
            Some(mine) if mine != bytes => problems.push(format!("differs: {}", p.display())),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "tests/corpus differs from {}:\n  {}", shared.display(), problems.join("\n  "));
}

/// The comparison itself reports wrong output and wrong status (so a passing run means something).
#[test]
fn mismatches_are_reported() {
    let case = conformance_cases().into_iter().find(|c| c.name == "hello_world").expect("hello_world case");
    let expected = case.expected_stdout();
    assert!(check_case(&case, &expected, case.expected_status(), "").is_none());
    let mut wrong = expected.clone();
    wrong.pop();
    let msg = check_case(&case, &wrong, 1 - case.expected_status(), "detail").expect("a mismatch");
    assert!(msg.contains("exit status") && msg.contains("stdout differs") && msg.contains("detail"), "{msg}");
}
