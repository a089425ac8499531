//! Processes (`spawn`, `send`, `receive`, `wait`, `link`, ...): the programs of
//! `tests/processes/` give their expected output in every tier and stress mode, and every
//! mode agrees with the interpreter exactly (output, error, instruction count) whatever the
//! slice length and the fuel, because scheduling depends only on instruction counts.

use std::path::PathBuf;

use mdvm::ErrorKind;
use mdvm_tests::{assemble_bytes, workspace_dir, Mode};

/// Every mode of the conformance suite, plus the written-through stress modes.
const MODES: [Mode; 10] = Mode::EVERY;

/// What a run gave: stdout, the error (as the CLI prints it) and its kind, the instruction
/// count, the process counters, and the failures of unlinked processes (pid and error as
/// printed).
#[derive(Debug, PartialEq)]
struct Outcome {
    stdout: String,
    error: Option<String>,
    kind: Option<ErrorKind>,
    instructions: u64,
    stats: mdvm::ProcessStats,
    failures: Vec<(u64, String)>,
}

fn run(bytes: &[u8], mode: Mode, reductions: Option<u32>, fuel: Option<u64>) -> Outcome {
    let mut b = mode.builder().fuel(fuel);
    if let Some(r) = reductions {
        b = b.reductions(r);
    }
    let mut vm = b.load_bytes(bytes).expect("the program loads");
    vm.set_report_process_failures(false);
    let out = vm.run_captured();
    let (error, kind) = match &out.result {
        Ok(_) => (None, None),
        Err(e) => (Some(e.to_string()), if let mdvm::Error::Runtime(r) = e { Some(r.kind) } else { None }),
    };
    Outcome {
        stdout: String::from_utf8(out.output).expect("utf-8 output"),
        error,
        kind,
        instructions: vm.instruction_count(),
        stats: vm.stats().processes,
        failures: vm.process_failures().iter().map(|f| (f.pid, f.error.to_string())).collect(),
    }
}

fn dir() -> PathBuf {
    workspace_dir().join("tests/processes")
}

fn program(name: &str) -> Vec<u8> {
    let src = std::fs::read_to_string(dir().join(format!("{name}.mdasm"))).expect("program source");
    assemble_bytes(&src)
}

/// Runs `bytes` in every mode with `reductions` and `fuel`, checks that each agrees with the
/// interpreter exactly, and returns the interpreter's outcome.
fn agree_in_every_mode(bytes: &[u8], reductions: Option<u32>, fuel: Option<u64>, what: &str) -> Outcome {
    let interp = run(bytes, Mode::INTERP, reductions, fuel);
    // Scheduling is deterministic: the same run again gives the same.
    assert_eq!(run(bytes, Mode::INTERP, reductions, fuel), interp, "{what}: a second interpreter run");
    for mode in &MODES[1..] {
        let r = run(bytes, *mode, reductions, fuel);
        assert_eq!(r, interp, "{what}: {mode} against the interpreter (reductions {reductions:?}, fuel {fuel:?})");
    }
    interp
}

/// Every program with an `.expected` file prints it and exits with its `.status` (0 when
/// absent) in every mode, at the default slice length and at short ones.
#[test]
fn every_process_program_gives_its_expected_output_in_every_mode() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/processes")
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".expected").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for name in &names {
        let bytes = program(name);
        let expected = std::fs::read_to_string(dir().join(format!("{name}.expected"))).expect("expected output");
        let status: i32 = std::fs::read_to_string(dir().join(format!("{name}.status"))).map_or(0, |s| s.trim().parse().expect("a status"));
        // fan_out_in's order of arrival is the one its comment derives for 2,000-instruction
        // slices; the others do not depend on the slice length.
        let lengths: &[Option<u32>] = if name == "fan_out_in" { &[None] } else { &[None, Some(1), Some(7), Some(100)] };
        for &reductions in lengths {
            let r = agree_in_every_mode(&bytes, reductions, None, name);
            assert_eq!(r.stdout, expected, "{name} (reductions {reductions:?}): {:?}", r.error);
            assert_eq!(r.error.is_some() as i32, status, "{name}: {:?}", r.error);
        }
    }
}

#[test]
fn errors_of_processes_name_the_pid_they_come_from() {
    let linked = run(&program("linked_failure"), Mode::JIT, None, None);
    assert_eq!(linked.kind, Some(ErrorKind::DivisionByZero));
    let e = linked.error.expect("main fails");
    assert!(e.contains("linked process 1 failed: division by zero (in function `bad`"), "{e}");
    let waited = run(&program("wait_failed"), Mode::AUTO, None, None);
    let e = waited.error.expect("main fails");
    assert!(e.contains("`wait`: process 1 failed: modulo by zero (in function `bad`"), "{e}");
    let unlinked = run(&program("unlinked_crash"), Mode::ALWAYS_OSR_STRESS, Some(1), None);
    assert_eq!(unlinked.error, None);
    assert_eq!(unlinked.failures.len(), 1, "{:?}", unlinked.failures);
    let (pid, e) = &unlinked.failures[0];
    assert_eq!(*pid, 1);
    assert!(e.contains("division by zero") && e.contains("`bad`"), "{e}");
    let deadlock = run(&program("deadlock"), Mode::INTERP, None, None);
    assert_eq!(deadlock.kind, Some(ErrorKind::Deadlock));
    let e = deadlock.error.expect("a deadlock");
    assert!(e.contains("every process is blocked: 0 (receive), 1 (receive)"), "{e}");
}

/// Slices end deep inside recursion (compiled too), at every slice length: each mode agrees
/// with the interpreter, every value is printed once, each process's in order.
#[test]
fn slices_end_inside_compiled_recursion_and_resume_in_every_mode() {
    let bytes = program("preempt");
    let fib = |n: u64| -> u64 { (0..n).fold((0, 1), |(a, b), _| (b, a + b)).0 };
    for reductions in [1, 3, 97, 2000, 100_000] {
        let r = agree_in_every_mode(&bytes, Some(reductions), None, "preempt");
        assert_eq!(r.error, None);
        let lines: Vec<u64> = r.stdout.lines().map(|l| l.parse().expect("a number")).collect();
        let total: u64 = (8..14).map(fib).sum::<u64>() * 3;
        assert_eq!(lines.last(), Some(&total), "{}", r.stdout);
        for id in 0..3u64 {
            let mine: Vec<u64> = lines[..lines.len() - 1].iter().filter(|&&v| v / 1000 == id).map(|v| v % 1000).collect();
            assert_eq!(mine, (8..14).map(fib).collect::<Vec<_>>(), "process {id}, reductions {reductions}: {}", r.stdout);
        }
        if reductions <= 500 {
            // Short slices interleave the three processes' lines.
            let first_ids: Vec<u64> = lines[..3].iter().map(|v| v / 1000).collect();
            assert_ne!(first_ids, vec![0, 0, 0], "reductions {reductions}: {}", r.stdout);
        }
    }
}

/// Fuel covers the whole run, across processes and slices: with every budget, every mode stops
/// at the same instruction with the same output.
#[test]
fn fuel_runs_out_at_the_same_instruction_in_every_mode_across_processes() {
    let bytes = program("ping_pong");
    let full = run(&bytes, Mode::INTERP, Some(3), None);
    assert_eq!(full.error, None);
    for fuel in (1..=full.instructions).step_by(3).chain([full.instructions]) {
        let r = agree_in_every_mode(&bytes, Some(3), Some(fuel), "ping_pong under fuel");
        if fuel < full.instructions {
            assert_eq!(r.kind, Some(ErrorKind::FuelExhausted), "fuel {fuel}");
            assert_eq!(r.instructions, fuel);
        } else {
            assert_eq!(r.error, None);
        }
    }
}

/// Two processes that print in turn make progress at the rates their slices say: with slices
/// of R instructions and loops of K instructions per line, each slice prints R / K lines (or
/// one more, depending on where the slice starts in the loop).
#[test]
fn a_compute_loop_cannot_starve_another_process() {
    // Each loop iteration is 6 instructions: LT_R, JUMP_IF_NOT_R, DEBUG_PRINT, ADD_R, JUMP_R,
    // and the NOP that pads it; each process prints its id 1,000 times (main then waits for
    // the other: main's end would end the run).
    let src = "
.module fair
        LOAD_CONST_R r1, str \"count\"
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r9, str \"spawn\"
        CALL_R r9, r3, r1, r2
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r9, str \"count\"
        CALL_R r9, r4, r2
        LOAD_CONST_R r9, str \"wait\"
        CALL_R r9, r4, r3
        RETURN_R

.func count
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 1000
        LOAD_CONST_R r3, int 1
loop:   LT_R r4, r1, r2
        JUMP_IF_NOT_R r4, done
        DEBUG_PRINT r0
        ADD_R r1, r1, r3
        NOP
        JUMP_R loop
done:   RETURN_R
";
    let bytes = assemble_bytes(src);
    for (reductions, per_line) in [(60u32, 6usize), (600, 6), (2000, 6)] {
        let r = agree_in_every_mode(&bytes, Some(reductions), None, "fair");
        let ids: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(ids.iter().filter(|&&l| l == "0").count(), 1000, "reductions {reductions}");
        assert_eq!(ids.iter().filter(|&&l| l == "1").count(), 1000, "reductions {reductions}");
        // Runs of one id, but the first (main's slice before the spawn bounded it) and the
        // last two (one process ran out of lines).
        let mut runs = Vec::new();
        let mut i = 0;
        while i < ids.len() {
            let j = ids[i..].iter().position(|l| *l != ids[i]).map_or(ids.len(), |k| i + k);
            runs.push(j - i);
            i = j;
        }
        let rate = reductions as usize / per_line;
        assert!(runs.len() >= 2 * (1000 / (rate + 1)), "reductions {reductions}: runs {runs:?}");
        for &n in &runs[1..runs.len() - 2] {
            assert!(n == rate || n == rate + 1 || n == rate - 1, "reductions {reductions}: a run of {n} lines, {rate} expected: {runs:?}");
        }
    }
}

/// Misuse is a clean error naming the native.
#[test]
fn bad_arguments_to_process_natives_are_errors() {
    let cases = [
        ("LOAD_CONST_R r1, str \"nowhere\"\n        LOAD_CONST_R r9, str \"spawn\"\n        CALL_R r9, r2, r1", ErrorKind::UndefinedFunction, "`spawn`: undefined function `nowhere`"),
        ("LOAD_CONST_R r1, str \"len\"\n        LOAD_CONST_R r9, str \"spawn\"\n        CALL_R r9, r2, r1", ErrorKind::Type, "`spawn`: `len` is a native"),
        ("LOAD_CONST_R r1, int 5\n        LOAD_CONST_R r9, str \"spawn\"\n        CALL_R r9, r2, r1", ErrorKind::Type, "`spawn`: cannot start a process from a value of type int"),
        ("LOAD_CONST_R r1, str \"x\"\n        LOAD_CONST_R r9, str \"send\"\n        CALL_R r9, r2, r1, r1", ErrorKind::Type, "`send`: `send` takes a pid"),
        ("LOAD_CONST_R r1, int 7\n        LOAD_CONST_R r9, str \"send\"\n        CALL_R r9, r2, r1, r1", ErrorKind::Value, "`send`: no process 7"),
        ("LOAD_CONST_R r1, int 0\n        LOAD_CONST_R r9, str \"wait\"\n        CALL_R r9, r2, r1", ErrorKind::Value, "`wait`: process 0 cannot wait for itself"),
        ("LOAD_CONST_R r9, str \"receive\"\n        CALL_R r9, r2", ErrorKind::Deadlock, "every process is blocked: 0 (receive)"),
    ];
    for (code, kind, message) in cases {
        let src = format!(".module bad\n        LOAD_CONST_R r20, str \"spawn\"\n        {code}\n        RETURN_R\n");
        let r = agree_in_every_mode(&assemble_bytes(&src), None, None, message);
        assert_eq!(r.kind, Some(kind), "{code}: {:?}", r.error);
        assert!(r.error.as_deref().is_some_and(|e| e.contains(message)), "{code}: {:?}", r.error);
    }
}

/// Without the name `spawn` among its constants a program is not prepared for processes:
/// `spawn` reached by a name built at run time is an error, not a silent misschedule.
#[test]
fn spawn_by_a_computed_name_is_an_error() {
    let src = "
.module computed
        LOAD_CONST_R r1, str \"spa\"
        LOAD_CONST_R r2, str \"wn\"
        ADD_R r3, r1, r2
        LOAD_CONST_R r4, str \"f\"
        CALL_R r3, r5, r4
        RETURN_R
.func f
        RETURN_R
";
    let r = agree_in_every_mode(&assemble_bytes(src), None, None, "computed spawn");
    assert_eq!(r.kind, Some(ErrorKind::Value));
    assert!(r.error.as_deref().is_some_and(|e| e.contains("by its name")), "{:?}", r.error);
}

/// The depth limit applies to each process: a process may recurse as deep as main.
#[test]
fn the_depth_limit_applies_per_process() {
    let src = "
.module depth
        LOAD_CONST_R r1, str \"down\"
        LOAD_CONST_R r2, int 40
        LOAD_CONST_R r9, str \"spawn\"
        CALL_R r9, r3, r1, r2
        LOAD_CONST_R r9, str \"down\"
        CALL_R r9, r4, r2
        LOAD_CONST_R r9, str \"wait\"
        CALL_R r9, r5, r3
        DEBUG_PRINT r4
        DEBUG_PRINT r5
        LOAD_CONST_R r2, int 60
        LOAD_CONST_R r9, str \"spawn\"
        CALL_R r9, r3, r1, r2
        LOAD_CONST_R r9, str \"wait\"
        CALL_R r9, r5, r3
        RETURN_R
.func down
        LOAD_CONST_R r1, int 0
        EQ_R r2, r0, r1
        JUMP_IF_NOT_R r2, more
        RETURN_R r0
more:   LOAD_CONST_R r3, int 1
        SUB_R r4, r0, r3
        LOAD_CONST_R r9, str \"down\"
        CALL_R r9, r5, r4
        ADD_R r6, r5, r3
        RETURN_R r6
";
    let bytes = assemble_bytes(src);
    for mode in MODES {
        let mut vm = mode.builder().max_depth(50).reductions(5).load_bytes(&bytes).expect("loads");
        vm.set_report_process_failures(false);
        let out = vm.run_captured();
        assert_eq!(String::from_utf8_lossy(&out.output), "40\n40\n", "{mode}");
        let e = out.result.expect_err("the second worker goes too deep");
        assert!(e.to_string().contains("`wait`: process 2 failed: call depth limit of 50 frames reached"), "{mode}: {e}");
        // No link carried the worker's error: it is also a failure of its own.
        let failures: Vec<_> = vm.process_failures().iter().map(|f| (f.pid, f.error.kind)).collect();
        assert_eq!(failures, [(2, ErrorKind::CallDepth)], "{mode}");
    }
}

/// The memory limit covers the whole run: processes that each hold a large array exhaust it
/// together, and the error (raised in whichever process reached the limit) ends the run.
#[test]
fn the_memory_limit_covers_all_processes() {
    // Each hog fills an array of 100,000 ints (about 0.8 MB packed, more while it grows) and
    // blocks; main starts 40 of them and waits for a message that never comes.
    let src = "
.module hogs
        LOAD_CONST_R r1, str \"hog\"
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 40
        LOAD_CONST_R r4, int 1
spawn:  LT_R r5, r2, r3
        JUMP_IF_NOT_R r5, wait
        LOAD_CONST_R r9, str \"spawn\"
        CALL_R r9, r6, r1
        ADD_R r2, r2, r4
        JUMP_R spawn
wait:   LOAD_CONST_R r0, str \"spawned\"
        DEBUG_PRINT r0
        LOAD_CONST_R r9, str \"receive\"
        CALL_R r9, r6
        RETURN_R
.func hog
        LOAD_CONST_R r1, int 0
        NEW_ARRAY_R r2, r1
        LOAD_CONST_R r3, int 100000
        LOAD_CONST_R r4, int 1
fill:   LT_R r5, r1, r3
        JUMP_IF_NOT_R r5, full
        LOAD_CONST_R r9, str \"push\"
        CALL_R r9, r2, r2, r1
        ADD_R r1, r1, r4
        JUMP_R fill
full:   LOAD_CONST_R r9, str \"receive\"
        CALL_R r9, r6
        RETURN_R
";
    let bytes = assemble_bytes(src);
    for mode in [Mode::INTERP, Mode::JIT, Mode::AUTO, Mode::ALWAYS_OSR_STRESS] {
        let mut vm = mode.builder().max_memory(Some(12 << 20)).load_bytes(&bytes).expect("loads");
        let out = vm.run_captured();
        assert_eq!(String::from_utf8_lossy(&out.output), "spawned\n", "{mode}");
        match out.result {
            Err(mdvm::Error::Runtime(e)) => assert_eq!(e.kind, ErrorKind::OutOfMemory, "{mode}: {e}"),
            other => panic!("{mode}: {other:?}"),
        }
    }
}

/// The time limit covers the whole run: two processes computing forever are stopped, in
/// every tier, with the output printed before.
#[test]
fn the_time_limit_stops_every_process() {
    let src = "
.module spin
        LOAD_CONST_R r1, str \"spin\"
        LOAD_CONST_R r9, str \"spawn\"
        CALL_R r9, r2, r1
        LOAD_CONST_R r0, str \"go\"
        DEBUG_PRINT r0
        LOAD_CONST_R r9, str \"spin\"
        CALL_R r9, r3
        RETURN_R
.func spin
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 1
loop:   ADD_R r1, r1, r2
        LOAD_CONST_R r3, int 1000000
        MOD_R r1, r1, r3
        JUMP_R loop
";
    let bytes = assemble_bytes(src);
    for mode in [Mode::INTERP, Mode::JIT, Mode::AUTO] {
        let mut vm = mode.builder().timeout(Some(std::time::Duration::from_millis(200))).load_bytes(&bytes).expect("loads");
        let out = vm.run_captured();
        assert_eq!(String::from_utf8_lossy(&out.output), "go\n", "{mode}");
        match out.result {
            Err(mdvm::Error::Runtime(e)) => assert_eq!(e.kind, ErrorKind::Interrupted, "{mode}: {e}"),
            other => panic!("{mode}: {other:?}"),
        }
        let s = vm.stats().processes;
        assert_eq!(s.spawned, 1);
        assert!(s.context_switches > 10, "{mode}: both processes ran in turn: {s:?}");
    }
}

/// Host functions can be called from any process.
#[test]
fn host_functions_are_called_from_spawned_processes() {
    let src = "
.module host
        LOAD_CONST_R r1, str \"worker\"
        LOAD_CONST_R r2, int 21
        LOAD_CONST_R r9, str \"spawn\"
        CALL_R r9, r3, r1, r2
        LOAD_CONST_R r9, str \"wait\"
        CALL_R r9, r4, r3
        DEBUG_PRINT r4
        RETURN_R
.func worker
        LOAD_CONST_R r9, str \"twice\"
        CALL_R r9, r1, r0
        RETURN_R r1
";
    let bytes = assemble_bytes(src);
    for mode in MODES {
        let mut vm = mode
            .builder()
            .native("twice", 1, |a: &[mdvm::Value]| match a[0] {
                mdvm::Value::Int(i) => Ok(mdvm::Value::Int(2 * i)),
                _ => Err("an int"),
            })
            .load_bytes(&bytes)
            .expect("loads");
        let out = vm.run_captured();
        assert!(out.result.is_ok(), "{mode}: {:?}", out.result);
        assert_eq!(String::from_utf8_lossy(&out.output), "42\n", "{mode}");
    }
}

/// `mdvm run --stats` reports the process counters, and `--reductions` sets the slice length.
#[test]
fn the_cli_reports_processes_and_takes_a_slice_length() {
    let dir = mdvm_tests::TempDir::new("processes");
    let file = dir.write("ping_pong.mdbc", &program("ping_pong"));
    let file = file.to_str().expect("utf-8 path");
    let out = mdvm_tests::run_cli(&["run", "--stats", "--reductions", "3", file]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout_text(), "0\n2\n4\n6\n8\n2\n");
    let err = out.stderr_text();
    let lib = run(&program("ping_pong"), Mode::AUTO, Some(3), None).stats;
    for line in [
        format!("processes spawned: {}", lib.spawned),
        format!("messages sent: {}", lib.messages),
        format!("slices: {}", lib.slices),
        format!("context switches: {}", lib.context_switches),
    ] {
        assert!(err.lines().any(|l| l == line), "no `{line}`\n{err}");
    }
    assert_eq!((lib.spawned, lib.messages), (1, 10));
    assert!(lib.slices > 10, "{lib:?}");
    // An unlinked process's failure is reported on stderr, after what was printed before it.
    let crash = dir.write("unlinked_crash.mdbc", &program("unlinked_crash"));
    let out = mdvm_tests::run_cli(&["run", crash.to_str().expect("utf-8 path")]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout_text(), "42\n1\n");
    let lib = run(&program("unlinked_crash"), Mode::AUTO, None, None).failures;
    assert_eq!(out.stderr_text(), format!("mdvm: process 1 failed: {}\n", lib[0].1), "{}", out.describe());
    let bad = mdvm_tests::run_cli(&["run", "--reductions", "0", file]);
    assert_eq!(bad.code, Some(2), "{}", bad.describe());
}
