//! The compiled tier emits machine code for the machine the tests run on: it reports the host's
//! target triple, every corpus body compiles (no compile failure falls back to the interpreter
//! unnoticed), native code is entered, and the machine code it dumps is the host's instruction
//! set. Under `scripts/test-aarch64.sh` (qemu-aarch64) these tests are what proves that the
//! aarch64 backend, not the interpreter, ran the suite.

use std::process::{Command, Stdio};

use mdvm::{Tier, Vm};
use mdvm_tests::{assemble_bytes, assert_no_failures, check_case, conformance_cases, mdvm_bin, Mode};

/// The architecture part of a target triple (`aarch64` of `aarch64-unknown-linux-gnu`).
fn arch_of(triple: &str) -> &str {
    triple.split('-').next().unwrap_or_default()
}

/// A hot loop in main (entered by OSR in `auto`) calling a function (compiled at entry).
const LOOP_AND_CALL: &str = "
        LOAD_CONST_R r1, str \"twice\"
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r4, int 3000
        LOAD_CONST_R r5, int 1
loop:   LT_R r6, r3, r4
        JUMP_IF_NOT_R r6, done
        CALL_R r1, r7, r3
        ADD_R r2, r2, r7
        ADD_R r3, r3, r5
        JUMP_R loop
done:   DEBUG_PRINT r2
        RETURN_R
.func twice
        ADD_R r1, r0, r0
        RETURN_R r1";

/// 2 * (0 + 1 + ... + 2999).
const LOOP_AND_CALL_OUTPUT: &str = "8997000\n";

#[test]
fn compiled_tier_reports_the_host_target_and_runs_native_code() {
    let bytes = assemble_bytes(LOOP_AND_CALL);
    for mode in [Mode::JIT, Mode::JIT_STRESS, Mode { tier: Tier::Auto, jit_threshold: Some(10), osr_threshold: None, stress: false, write_through: false }] {
        let mut vm = mode.builder().load_bytes(&bytes).unwrap();
        let outcome = vm.run_captured();
        assert!(outcome.result.is_ok(), "{mode}: {:?}", outcome.result);
        assert_eq!(String::from_utf8_lossy(&outcome.output), LOOP_AND_CALL_OUTPUT, "{mode}");
        let stats = vm.stats();
        let target = stats.jit_target.as_deref().unwrap_or_else(|| panic!("{mode}: no compiled tier attached"));
        assert_eq!(arch_of(target), std::env::consts::ARCH, "{mode}: JIT target {target}");
        let jit = stats.jit.as_ref().unwrap_or_else(|| panic!("{mode}: no compiled-tier stats"));
        assert_eq!(jit.compiled.compile_failures, 0, "{mode}: {stats}");
        assert!(jit.compiled.functions_compiled + jit.compiled.osr_compiled >= 2, "{mode}: {stats}");
        assert!(jit.native_entries + jit.osr_entries >= 1, "{mode}: native code never entered\n{stats}");
        assert!(stats.to_string().contains(&format!("JIT target: {target}\n")), "{mode}: {stats}");
    }
    // The interpreter reports no target.
    let mut vm = Vm::builder().tier(Tier::Interp).load_bytes(&bytes).unwrap();
    vm.run_captured().result.unwrap();
    let stats = vm.stats();
    assert_eq!(stats.jit_target, None);
    assert!(!stats.to_string().contains("JIT target"), "{stats}");
}

/// Every conformance case compiles in full on this host, eagerly and with every guard taking
/// its side exit: a backend failure would otherwise only show as a body left to the interpreter
/// (which prints the same output).
#[test]
fn every_corpus_body_compiles_for_the_host() {
    let cases = conformance_cases();
    let mut failures = Vec::new();
    let mut compiled = 0;
    for case in &cases {
        let mut vm = match Mode::JIT_STRESS.builder().fuel(case.fuel()).load_bytes(&case.bytes()) {
            Ok(vm) => vm,
            // Load errors are the malformed cases' expected outcome (checked by conformance.rs).
            Err(_) => continue,
        };
        let outcome = vm.run_captured();
        let status = i32::from(outcome.result.is_err());
        let detail = outcome.result.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        if let Some(f) = check_case(case, &outcome.output, status, &detail) {
            failures.push(f);
        }
        let stats = vm.stats();
        let target = stats.jit_target.clone().unwrap_or_default();
        if arch_of(&target) != std::env::consts::ARCH {
            failures.push(format!("{}: JIT target {target:?} on {}", case.name, std::env::consts::ARCH));
        }
        match &stats.jit {
            None => failures.push(format!("{}: no compiled tier", case.name)),
            Some(j) => {
                if j.compiled.compile_failures != 0 {
                    failures.push(format!("{}: {} bodies failed to compile", case.name, j.compiled.compile_failures));
                }
                if j.native_entries == 0 {
                    failures.push(format!("{}: native code never entered", case.name));
                }
                compiled += j.compiled.functions_compiled;
            }
        }
    }
    assert_no_failures("eager JIT with stress deopt, compile stats", cases.len(), &failures);
    assert!(compiled as usize >= cases.len() / 2, "only {compiled} bodies compiled over {} cases", cases.len());
}

/// Runs `mdvm run ARGS FILE` with `MDVM_JIT_DUMP=1` on the program assembled from `src`, which
/// must succeed; returns (stdout, stderr).
fn run_dumped(src: &str, args: &[&str]) -> (String, String) {
    let dir = mdvm_tests::TempDir::new("jit-target-dump");
    let file = dir.write("program.mdbc", &assemble_bytes(src));
    let bin = mdvm_bin();
    let out = Command::new(bin)
        .arg("run")
        .args(args)
        .arg(&file)
        .env("MDVM_JIT_DUMP", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "mdvm failed:\n{stderr}");
    (stdout, stderr)
}

/// Runs `mdvm run --tier jit` on a program with `MDVM_JIT_DUMP=1`; returns (stdout, stderr).
fn dump_machine_code() -> (String, String) {
    let (stdout, stderr) = run_dumped(LOOP_AND_CALL, &["--tier", "jit", "--stats"]);
    assert_eq!(stdout, LOOP_AND_CALL_OUTPUT);
    assert!(stderr.contains("; ---- machine code of "), "no machine code dumped:\n{stderr}");
    // Functions are named, in the CLIF and in the machine code: the runtime helpers a body
    // calls (every body with a guard calls `mdvm_deopt_exit` from its side exits) and the JIT
    // module's own entries.
    assert!(!stderr.contains("u0:"), "an unnamed function in the dump:\n{stderr}");
    assert!(stderr.contains("= %mdvm_deopt_exit sig"), "no named helper in the CLIF:\n{stderr}");
    assert!(stderr.contains("%mdvm_body"), "no named entry in the dump:\n{stderr}");
    for header in stderr.lines().filter(|l| l.starts_with("; ---- CLIF of body ")) {
        // `; ---- CLIF of body B: NAME ----` is followed by `function %NAME(`.
        let name = header.split(": ").nth(1).and_then(|n| n.strip_suffix(" ----")).unwrap_or_default();
        assert!(name.starts_with("mdvm_body"), "{header}");
        assert!(stderr.contains(&format!("function %{name}(")), "the CLIF of {name} names another function:\n{stderr}");
    }
    let machine_code: String =
        stderr.split("; ---- machine code of ").skip(1).map(|s| s.split("; ---- CLIF").next().unwrap_or("")).collect();
    assert!(machine_code.contains("%mdvm_deopt_exit"), "no named helper in the machine code:\n{machine_code}");
    (stdout, stderr)
}

/// The `mdvm` binary (run through qemu-aarch64 by `scripts/test-aarch64.sh`) compiles for
/// aarch64 and its machine code is AArch64: frame set up with `stp fp, lr`, returns with `ret`,
/// no x86 register names.
#[cfg(target_arch = "aarch64")]
#[test]
fn aarch64_jit_emits_aarch64_code() {
    let (_, stderr) = dump_machine_code();
    assert!(stderr.contains("JIT target: aarch64-"), "{stderr}");
    assert!(stderr.contains("stp fp, lr"), "no AArch64 prologue in the dump:\n{stderr}");
    assert!(stderr.contains("ret"), "{stderr}");
    assert!(!stderr.contains("%rbp") && !stderr.contains("%rsp"), "x86 registers in the dump:\n{stderr}");
    let compiled = stderr
        .lines()
        .find_map(|l| l.strip_prefix("functions compiled: "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no compile count in --stats:\n{stderr}"));
    assert!(compiled >= 2, "{stderr}");
}

/// The same check on x86-64 hosts: the dump is x86-64 code.
#[cfg(target_arch = "x86_64")]
#[test]
fn x86_64_jit_emits_x86_64_code() {
    let (_, stderr) = dump_machine_code();
    assert!(stderr.contains("JIT target: x86_64-"), "{stderr}");
    assert!(stderr.contains("%rbp"), "no x86-64 frame pointer in the dump:\n{stderr}");
    assert!(!stderr.contains("stp fp, lr"), "AArch64 code in the dump:\n{stderr}");
}

/// A loop entered by OSR that calls a function and a native whose names were loaded before
/// the loop: `acc += twice(abs(3 - i))` for i in 0..4000.
const NAMES_BEFORE_THE_LOOP: &str = "
        LOAD_CONST_R r1, str \"twice\"
        LOAD_CONST_R r8, str \"abs\"
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r4, int 4000
        LOAD_CONST_R r5, int 1
        LOAD_CONST_R r9, int 3
loop:   LT_R r6, r3, r4
        JUMP_IF_NOT_R r6, done
        SUB_R r10, r9, r3
        CALL_R r8, r11, r10
        CALL_R r1, r7, r11
        ADD_R r2, r2, r7
        ADD_R r3, r3, r5
        JUMP_R loop
done:   DEBUG_PRINT r2
        RETURN_R
.func twice
        ADD_R r1, r0, r0
        RETURN_R r1
";

/// Code entered by OSR knows a callee name loaded before its loop, as code compiled from the
/// body's entry does: it calls the function and the native directly, never through the dynamic
/// call helper that resolves the name at run time.
#[test]
fn osr_code_calls_callees_named_before_the_loop_directly() {
    let (stdout, stderr) = run_dumped(NAMES_BEFORE_THE_LOOP, &["--tier", "auto", "--always-osr"]);
    // sum over i < 4000 of 2 * |3 - i|: 2 * (3 + 2 + 1 + 0) + 2 * (1 + ... + 3996).
    let expected = 2 * (3 + 2 + 1) + 2 * (3996 * 3997 / 2);
    assert_eq!(stdout, format!("{expected}\n"));
    let osr: Vec<&str> = stderr
        .split("; ---- CLIF of body ")
        .filter(|s| s.lines().next().is_some_and(|l| l.contains("_osr")))
        .map(|s| s.split("; ---- machine code").next().unwrap_or(""))
        .collect();
    assert!(!osr.is_empty(), "main's loop was not entered by OSR:\n{stderr}");
    for clif in osr {
        assert!(!clif.contains("mdvm_call_dynamic"), "OSR code resolves a callee at run time:\n{clif}");
    }
}
