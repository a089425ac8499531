//! `mdvm debug` driven by command files: breakpoints in compiled functions, backtraces,
//! stepping, registers, watches, `BREAKPOINT` instructions, and the program's output kept
//! apart from the debugger's and identical to an undebugged run.

use std::path::Path;

use mdvm_tests::{assemble_bytes, run_cli, CliOutput, TempDir};

fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// A recursive function called twice from main: `depth(n)` is 100 + n, computed by n nested
/// calls. Instruction indices (used by the tests): main 0..=10, `depth` 11..=20; the base
/// case returns at 14..=15, the recursive call is at 18, its caller's call at 4 and 8.
const RECURSIVE: &str = r#"
.module debugee
        LOAD_CONST_R r0, str "start"    ; 0
        DEBUG_PRINT r0                  ; 1
        LOAD_CONST_R r1, str "depth"    ; 2
        LOAD_CONST_R r2, int 3          ; 3
        CALL_R r1, r3, r2               ; 4: depth(3)
        DEBUG_PRINT r3                  ; 5
        LOAD_CONST_R r1, str "depth"    ; 6
        LOAD_CONST_R r2, int 4          ; 7
        CALL_R r1, r3, r2               ; 8: depth(4)
        DEBUG_PRINT r3                  ; 9
        RETURN_R                        ; 10
.func depth
        LOAD_CONST_R r1, int 1          ; 11
        LT_R r2, r0, r1                 ; 12
        JUMP_IF_NOT_R r2, rec           ; 13
        LOAD_CONST_R r3, int 100        ; 14
        RETURN_R r3                     ; 15
rec:    SUB_R r4, r0, r1                ; 16
        LOAD_CONST_R r5, str "depth"    ; 17
        CALL_R r5, r6, r4               ; 18
        ADD_R r7, r6, r1                ; 19
        RETURN_R r7                     ; 20
"#;

/// Runs `mdvm debug` on `asm` with `commands` (one per line) and the extra `args`.
fn debug_session(label: &str, asm: &str, commands: &str, args: &[&str]) -> (CliOutput, CliOutput) {
    let dir = TempDir::new(label);
    let file = dir.write("p.mdbc", &assemble_bytes(asm));
    let cmds = dir.write("commands.txt", commands.as_bytes());
    let mut argv = vec!["debug".to_string(), path_str(&file), "--commands".to_string(), path_str(&cmds)];
    argv.extend(args.iter().map(|s| s.to_string()));
    let debugged = run_cli(&argv);
    let mut plain = vec!["run".to_string(), path_str(&file)];
    plain.extend(args.iter().map(|s| s.to_string()));
    (debugged, run_cli(&plain))
}

/// The debugger's answer to command `cmd` (the lines after its echo up to the next prompt),
/// for its `nth` occurrence (0: first).
fn answer(stderr: &str, cmd: &str, nth: usize) -> Vec<String> {
    let echo = format!("(mdvm) {cmd}");
    let mut seen = 0;
    let mut lines = stderr.lines();
    while let Some(l) = lines.next() {
        if l == echo {
            if seen == nth {
                return lines.take_while(|l| !l.starts_with("(mdvm) ")).map(str::to_string).collect();
            }
            seen += 1;
        }
    }
    panic!("no answer to {cmd:?} #{nth} in:\n{stderr}");
}

#[test]
fn breakpoint_in_a_compiled_recursive_function_backtrace_step_registers_finish() {
    let commands = "break <main>:6\nrun\nbreak depth:14\ncontinue\nbacktrace\nstep\nregisters\nprint r0\nfinish\nbacktrace\ndelete 2\ncontinue\n";
    for tier in ["jit", "auto", "interp"] {
        let (out, plain) = debug_session("dbg-rec", RECURSIVE, commands, &["--tier", tier]);
        let err = out.stderr_text();
        assert_eq!(out.code, Some(0), "{}", out.describe());
        // The program's output is that of an undebugged run, and nothing else.
        assert_eq!(out.stdout, plain.stdout, "tier {tier}\n{}", out.describe());
        assert_eq!(plain.stdout_text(), "start\n103\n104\n");
        assert!(answer(&err, "run", 0).contains(&"Breakpoint 1, <main>:6".to_string()), "{err}");
        // depth(4) stops in its base case five frames deep: 4 recursive calls and main.
        assert_eq!(answer(&err, "continue", 0)[0], "Breakpoint 2, depth:14", "{err}");
        let bt = answer(&err, "backtrace", 0);
        let mut want = vec!["#0  depth at 14: LOAD_CONST_R r3, int 100".to_string()];
        for n in 1..=4 {
            want.push(format!("#{n}  depth at 18: CALL_R r5, r6, r4"));
        }
        want.push("#5  <main> at 8: CALL_R r1, r3, r2".to_string());
        assert_eq!(bt, want, "tier {tier}\n{err}");
        assert_eq!(answer(&err, "step", 0), ["depth:15", "=> 15  RETURN_R r3"], "{err}");
        let regs = answer(&err, "registers", 0);
        assert!(regs.contains(&"r0 = 0 (int)".to_string()) && regs.contains(&"r3 = 100 (int)".to_string()), "{regs:?}");
        assert_eq!(answer(&err, "print r0", 0), ["r0 = 0 (int)"]);
        // Finish returns to the caller, which goes on after its call.
        assert_eq!(answer(&err, "finish", 0), ["depth:19", "=> 19  ADD_R r7, r6, r1"], "{err}");
        let bt = answer(&err, "backtrace", 1);
        assert_eq!(bt.len(), 5, "{bt:?}");
        assert_eq!(bt[0], "#0  depth at 19: ADD_R r7, r6, r1");
        assert_eq!(answer(&err, "continue", 1), ["The program ended."], "{err}");
    }
}

#[test]
fn frames_running_compiled_code_show_in_the_backtrace() {
    // Under --tier jit main runs compiled; the function with the breakpoint is interpreted.
    let (out, plain) = debug_session("dbg-compiled", RECURSIVE, "break depth:14\nrun\nbt\nquit\n", &["--tier", "jit"]);
    let err = out.stderr_text();
    let bt = answer(&err, "bt", 0);
    assert_eq!(bt.len(), 5, "{err}");
    assert_eq!(bt[0], "#0  depth at 14: LOAD_CONST_R r3, int 100");
    assert_eq!(bt[3], "#3  depth at 18: CALL_R r5, r6, r4");
    assert_eq!(bt[4], "#4  (1 frame running compiled code)", "{err}");
    // Quitting ends the program where it stood: its output so far, no error.
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout_text(), "start\n");
    assert!(plain.stdout_text().starts_with("start\n"));
}

#[test]
fn next_steps_over_calls_and_watch_stops_on_change() {
    let commands = "break <main>:4\nrun\nnext\nnext\nwatch r3\ncontinue\ncontinue\n";
    let (out, plain) = debug_session("dbg-watch", RECURSIVE, commands, &[]);
    let err = out.stderr_text();
    assert_eq!(out.stdout, plain.stdout, "{}", out.describe());
    // `next` over the call of depth(3) lands on the instruction after it.
    assert_eq!(answer(&err, "next", 0), ["<main>:5", "=> 5  DEBUG_PRINT r3"], "{err}");
    assert_eq!(answer(&err, "watch r3", 0), ["Watching r3 of <main> (now 103)"], "{err}");
    // r3 changes when depth(4) returns into it.
    assert_eq!(answer(&err, "continue", 0)[0], "Watch r3: 103 -> 104, <main>:9", "{err}");
    assert_eq!(answer(&err, "continue", 1), ["The program ended."]);
}

#[test]
fn breakpoint_instructions_stop_the_debugger_and_nothing_else() {
    let asm = r#"
.module bp
        LOAD_CONST_R r0, int 1          ; 0
        BREAKPOINT                      ; 1
        DEBUG_PRINT r0                  ; 2
        RETURN_R                        ; 3
"#;
    let (out, plain) = debug_session("dbg-bp", asm, "run\nprint r0\ncontinue\n", &[]);
    assert_eq!(plain.code, Some(0));
    assert_eq!(plain.stdout_text(), "1\n", "a BREAKPOINT is a no-op under `mdvm run`");
    let err = out.stderr_text();
    assert_eq!(answer(&err, "run", 0), ["BREAKPOINT instruction, <main>:1", "=> 1  BREAKPOINT"], "{err}");
    assert_eq!(answer(&err, "print r0", 0), ["r1 = 1 (int)".replace("r1", "r0")]);
    assert_eq!(out.stdout_text(), "1\n");
}

#[test]
fn bad_commands_are_answered_and_the_session_goes_on() {
    let commands = "break nosuch\nbreak depth:3\nstep\nfrobnicate\ndelete 9\nrun\n";
    let (out, plain) = debug_session("dbg-bad", RECURSIVE, commands, &[]);
    let err = out.stderr_text();
    assert!(answer(&err, "break nosuch", 0)[0].starts_with("no function `nosuch`"), "{err}");
    assert_eq!(answer(&err, "break depth:3", 0), ["instruction 3 is not in `depth` (its instructions are 11..21)"]);
    assert_eq!(answer(&err, "step", 0), ["The program is not running (`run` starts it)."]);
    assert!(answer(&err, "frobnicate", 0)[0].starts_with("unknown command"));
    assert_eq!(answer(&err, "delete 9", 0), ["no breakpoint \"9\""]);
    assert_eq!(out.stdout, plain.stdout);
    assert_eq!(out.code, Some(0));
}

#[test]
fn a_failing_program_reports_its_error_and_exits_1() {
    let asm = r#"
.module fails
        LOAD_CONST_R r0, int 1
        LOAD_CONST_R r1, int 0
        DIV_R r2, r0, r1
        RETURN_R
"#;
    let (out, plain) = debug_session("dbg-fail", asm, "run\n", &[]);
    assert_eq!(plain.code, Some(1));
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let err = out.stderr_text();
    assert!(err.contains("The program failed: ") && err.contains("division by zero"), "{}", out.describe());
}

/// A loop whose step turns from int to float after 2,000 iterations: OSR code compiled for
/// ints deoptimizes at the first float (the ADD_R at instruction 10).
const TURNS_FLOAT: &str = r#"
.module turns
        LOAD_CONST_R r0, int 0          ; 0
        LOAD_CONST_R r1, int 1          ; 1
        LOAD_CONST_R r2, int 3000       ; 2
        LOAD_CONST_R r3, int 0          ; 3
loop:   LT_R r4, r0, r2                 ; 4
        JUMP_IF_NOT_R r4, done          ; 5
        LOAD_CONST_R r5, int 2000       ; 6
        LT_R r6, r0, r5                 ; 7
        JUMP_IF_R r6, inc               ; 8
        LOAD_CONST_R r1, float 0.5      ; 9
inc:    ADD_R r3, r3, r1                ; 10
        ADD_R r0, r0, r1                ; 11
        JUMP_R loop                     ; 12
done:   DEBUG_PRINT r3                  ; 13
        RETURN_R                        ; 14
"#;

/// Runs `mdvm run ARGS FILE` on `asm` with `MDVM_LOG` unset.
fn run_traced(label: &str, asm: &str, args: &[&str]) -> (CliOutput, CliOutput) {
    let dir = TempDir::new(label);
    let file = dir.write("p.mdbc", &assemble_bytes(asm));
    let mut argv = vec!["run".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.push(path_str(&file));
    let plain = run_cli(&["run".to_string(), path_str(&file)]);
    (run_cli(&argv), plain)
}

#[test]
fn trace_tiers_shows_compiles_osr_entries_and_deopts_with_reason_and_pc() {
    let (out, plain) = run_traced("trace-tiers", TURNS_FLOAT, &["--trace=tiers", "--osr-threshold", "100"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, plain.stdout, "tracing changes no output");
    let err = out.stderr_text();
    for needle in [
        "compiled for OSR function=\"<main>\" header=4",
        "OSR entry function=\"<main>\" header=4",
        "deopt function=\"<main>\" pc=10 reason=\"guard: not int\" operands=r3 int, r1 float",
    ] {
        assert!(err.contains(needle), "no {needle:?} in\n{err}");
    }
    // Without --trace nothing is written.
    assert!(plain.stderr.is_empty(), "{}", plain.describe());
}

#[test]
fn trace_instructions_and_calls_see_every_instruction_and_call() {
    let (out, _) = run_traced("trace-ins", RECURSIVE, &["--trace=instructions,calls", "--stats", "--tier", "jit"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout_text(), "start\n103\n104\n");
    let err = out.stderr_text();
    let traced = err.lines().filter(|l| l.starts_with("TRACE mdvm::instructions:")).count();
    let executed: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("instructions executed: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no instruction count in\n{err}"));
    assert_eq!(traced, executed, "one event per instruction executed");
    // depth(3) and depth(4) make 2 + 3 + 4 = 9 calls of depth, each returning.
    let calls = err.lines().filter(|l| l.contains("mdvm::calls: call depth(")).count();
    let returns = err.lines().filter(|l| l.contains("mdvm::calls: return from depth:")).count();
    assert_eq!((calls, returns), (9, 9), "{err}");
    assert!(err.contains("mdvm::calls: call depth(0)"), "{err}");
    assert!(err.contains("SUB_R r4, r0, r1 function=\"depth\" pc=16 operands=r0=4 r1=1"), "{err}");
    // Every function ran in the interpreter: nothing was compiled.
    assert!(err.contains("functions compiled: 0"), "{err}");
}

#[test]
fn unknown_trace_categories_are_refused() {
    let (out, _) = run_traced("trace-bad", RECURSIVE, &["--trace=tiers,everything"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr_text().contains("unknown trace category \"everything\""), "{}", out.describe());
}

/// Drives `mdvm debug` on a pseudo-terminal (util-linux's `script` makes one), typing each
/// command after the debugger's prompt appears, as a person would; returns everything the
/// terminal showed.
fn pty_session(file: &Path, typed: &[&str]) -> String {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let cmd = format!("{} debug {}", mdvm_tests::mdvm_bin().display(), path_str(file));
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux `script` runs (it makes the pseudo-terminal)");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut out = child.stdout.take().expect("piped");
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = |seen: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let mut stdin = child.stdin.take().expect("piped");
    for (i, keys) in typed.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while text(&seen).matches("(mdvm) ").count() < i + 1 {
            assert!(Instant::now() < deadline, "no prompt {} on the terminal:\n{}", i + 1, text(&seen));
            std::thread::sleep(Duration::from_millis(10));
        }
        stdin.write_all(keys.as_bytes()).expect("type into the terminal");
        stdin.flush().expect("flush");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the debugger did not end:\n{}", text(&seen));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let _ = reader.join();
    text(&seen)
}

#[test]
fn interactive_session_on_a_terminal_with_history() {
    let dir = TempDir::new("dbg-pty");
    let file = dir.write("p.mdbc", &assemble_bytes(RECURSIVE));
    // The up arrow (ESC [ A) recalls `bt` from the history.
    let screen = pty_session(&file, &["break depth:14\r", "run\r", "bt\r", "\x1b[A\r", "quit\r"]);
    assert!(screen.contains("Breakpoint 1, depth:14"), "{screen}");
    assert!(screen.contains("start"), "the program's output shows: {screen}");
    let rows = screen.matches("#4  <main> at 4: CALL_R r1, r3, r2").count();
    assert_eq!(rows, 2, "bt, then bt again from the history:\n{screen}");
}

/// main calls outer(3); outer(n) recurses down to outer(0), which calls leaf(). Instruction
/// indices: the recursive call is at 13, the addition after it at 14, leaf's call at 9.
const NESTED: &str = r#"
.module nested
        LOAD_CONST_R r0, str "outer"    ; 0
        LOAD_CONST_R r1, int 3          ; 1
        CALL_R r0, r2, r1               ; 2
        DEBUG_PRINT r2                  ; 3
        RETURN_R                        ; 4
.func outer
        LOAD_CONST_R r1, int 1          ; 5
        LT_R r2, r0, r1                 ; 6
        JUMP_IF_NOT_R r2, rec           ; 7
        LOAD_CONST_R r3, str "leaf"     ; 8
        CALL_R r3, r4                   ; 9
        RETURN_R r4                     ; 10
rec:    SUB_R r5, r0, r1                ; 11
        LOAD_CONST_R r6, str "outer"    ; 12
        CALL_R r6, r7, r5               ; 13
        ADD_R r8, r7, r1                ; 14
        RETURN_R r8                     ; 15
.func leaf
        LOAD_CONST_R r0, int 100        ; 16
        RETURN_R r0                     ; 17
"#;

#[test]
fn compiled_activations_running_when_a_breakpoint_is_set_stop_at_it() {
    // Under --tier jit every activation of `outer` runs compiled; the first stop is in leaf.
    // A breakpoint set then in `outer` must stop the activations already running: each one
    // leaves its compiled code when its call returns (DeoptReason::Debugger).
    let commands = "break leaf\nrun\nbt\nbreak outer:14\ncontinue\nbt\nprint r7\ncontinue\ncontinue\ncontinue\n";
    let (out, plain) = debug_session("dbg-lazy", NESTED, commands, &["--tier", "jit"]);
    let err = out.stderr_text();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, plain.stdout);
    assert_eq!(plain.stdout_text(), "103\n");
    assert_eq!(answer(&err, "bt", 0), ["#0  leaf at 16: LOAD_CONST_R r0, int 100", "#1  (5 frames running compiled code)"], "{err}");
    // outer(1), compiled and waiting for outer(0), stops after its call returns.
    assert_eq!(answer(&err, "continue", 0)[0], "Breakpoint 2, outer:14", "{err}");
    assert_eq!(answer(&err, "bt", 1), ["#0  outer at 14: ADD_R r8, r7, r1", "#1  (3 frames running compiled code)"], "{err}");
    assert_eq!(answer(&err, "print r7", 0), ["r7 = 100 (int)"]);
    // Then outer(2) and outer(3) in turn, and the end.
    assert_eq!(answer(&err, "continue", 1)[0], "Breakpoint 2, outer:14", "{err}");
    assert_eq!(answer(&err, "continue", 2)[0], "Breakpoint 2, outer:14", "{err}");
    assert_eq!(answer(&err, "continue", 3), ["The program ended."], "{err}");
}

/// Main and a worker (pid 1) count in the same registers (r1 at window 0 in both), so a
/// process's registers and frames occupy the same stack slots as the other's. Instruction
/// indices: main 0..=13 (its loop 6..=10 adds 10 to r1 three times), `worker` 14..=22 (adds 1
/// to r1 three times).
const TWO_PROCESSES: &str = r#"
.module two
        LOAD_CONST_R r2, str "worker"   ; 0
        LOAD_CONST_R r9, str "spawn"    ; 1
        CALL_R r9, r3, r2               ; 2: r3 = spawn("worker")
        LOAD_CONST_R r1, int 0          ; 3
        LOAD_CONST_R r4, int 30         ; 4
        LOAD_CONST_R r5, int 10         ; 5
loop:   LT_R r6, r1, r4                 ; 6
        JUMP_IF_NOT_R r6, done          ; 7
        ADD_R r1, r1, r5                ; 8
        DEBUG_PRINT r1                  ; 9
        JUMP_R loop                     ; 10
done:   LOAD_CONST_R r9, str "wait"     ; 11
        CALL_R r9, r7, r3               ; 12
        RETURN_R                        ; 13
.func worker
        LOAD_CONST_R r1, int 0          ; 14
        LOAD_CONST_R r4, int 3          ; 15
        LOAD_CONST_R r5, int 1          ; 16
again:  LT_R r6, r1, r4                 ; 17
        JUMP_IF_NOT_R r6, end           ; 18
        ADD_R r1, r1, r5                ; 19
        DEBUG_PRINT r1                  ; 20
        JUMP_R again                    ; 21
end:    RETURN_R                        ; 22
"#;

/// With processes, stops name the process; a watch and `next` stay in the process they were
/// set in (the other's r1 changes in the same stack slot); a stop whose process's slice ends
/// before the instruction runs goes on past it when resumed. The transcript is the same in
/// every tier, and the output that of an undebugged run.
#[test]
fn stops_name_the_process_and_watch_and_next_stay_in_it() {
    let commands = "break <main>:8\nrun\nwatch r1\ncontinue\ncontinue\ncontinue\ncontinue\nnext\nnext\nnext\nbt\ndelete 1\nbreak worker:20\ncontinue\nbt\nregisters\ninfo processes\ncontinue\n";
    let mut transcripts = Vec::new();
    for tier in ["interp", "jit", "auto"] {
        // Slices of 4 instructions: the two processes alternate inside the loops, and main's
        // slice ends right before instruction 9 once.
        let (out, plain) = debug_session("dbg-procs", TWO_PROCESSES, commands, &["--tier", tier, "--reductions", "4"]);
        let err = out.stderr_text();
        assert_eq!(out.code, Some(0), "{}", out.describe());
        assert_eq!(out.stdout, plain.stdout, "tier {tier}\n{}", out.describe());
        assert_eq!(answer(&err, "run", 0)[0], "Breakpoint 1, <main>:8 in process 0", "{err}");
        // The watch on main's r1 sees main's additions (10, 20, 30), never the worker's.
        assert_eq!(answer(&err, "continue", 0)[0], "Watch r1: 0 -> 10, <main>:9 in process 0", "{err}");
        assert_eq!(answer(&err, "continue", 2)[0], "Watch r1: 10 -> 20, <main>:9 in process 0", "{err}");
        assert_eq!(answer(&err, "next", 0)[0], "Watch r1: 20 -> 30, <main>:9 in process 0", "{err}");
        // `next` goes on from instruction 9 (printing 30) and stays in main.
        let next = answer(&err, "next", 1);
        assert_eq!(next.last().map(String::as_str), Some("=> 10  JUMP_R L6"), "{err}");
        assert!(next.contains(&"<main>:10 in process 0".to_string()), "{err}");
        assert_eq!(answer(&err, "next", 2)[0], "<main>:6 in process 0", "{err}");
        assert_eq!(answer(&err, "bt", 0), ["process 0:", "#0  <main> at 6: L6:     LT_R r6, r1, r4"], "{err}");
        // A breakpoint in the worker stops there, in process 1, with the worker's registers.
        let at = answer(&err, "continue", 4);
        assert!(at.iter().any(|l| l.starts_with("Breakpoint 2, worker:20 in process 1")), "{err}");
        let bt = answer(&err, "bt", 1);
        assert_eq!(bt[0], "process 1:", "{err}");
        assert!(bt[1].starts_with("#0  worker at 20"), "{err}");
        assert!(answer(&err, "registers", 0).iter().any(|l| l.starts_with("r1 = ") && l.ends_with("(int)")), "{err}");
        // Both processes, the stopped one marked, each with where it goes on.
        let ps = answer(&err, "info processes", 0);
        assert_eq!(ps.len(), 2, "{err}");
        assert!(ps[0].starts_with("  0    ") && ps[0].contains("<main>:"), "{err}");
        assert!(ps[1].starts_with("* 1    running") && ps[1].contains("worker:20, 0 messages waiting"), "{err}");
        transcripts.push((tier, err));
    }
    for (tier, t) in &transcripts[1..] {
        assert_eq!(t, &transcripts[0].1, "tier {tier} against the interpreter");
    }
}
