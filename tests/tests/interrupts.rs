//! Stopping runs from outside: `Vm::interrupt_handle` from another thread, `VmBuilder::timeout`,
//! the poll hook (`Vm::set_poll`), the CLI's `--timeout`, and its signal handling (the output
//! flushed before it exits). Every case
//! asserts the clean outcome: an `interrupted` error naming a position, exit status, and the
//! output printed before it kept.
//!
//! The programs never end by themselves. In-process runs carry a fuel budget as a backstop, so
//! a broken safepoint fails the test (with `fuel exhausted`) instead of hanging it; the CLI
//! runs are unmetered (the CLI's default) and are killed after a deadline.

use std::time::Duration;

use mdvm::{Error, ErrorKind, RuntimeError, Vm};
use mdvm_tests::{assemble_bytes, Mode, TempDir};

/// Prints `before`, then counts forever in a loop.
const LOOP: &str = "
.module forever
        LOAD_CONST_R r0, str \"before\"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 1
loop:   ADD_R r1, r1, r2
        JUMP_R loop
";

/// Counts forever from the start, printing nothing: no call and no store between the entry's
/// safepoint and the loop's, so nothing may let the compiler reuse the entry's load of the
/// interrupt word in the loop (it did: the loop never saw a stop).
const SILENT_LOOP: &str = "
.module silent
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 1
loop:   ADD_R r1, r1, r2
        JUMP_R loop
";

/// Prints `before`, then computes fib(90) by plain recursion: no loop anywhere, so only the
/// safepoints at function entries can stop it.
const RECURSION: &str = "
.module recursion
        LOAD_CONST_R r0, str \"before\"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, str \"fib\"
        LOAD_CONST_R r2, int 90
        CALL_R r1, r3, r2
        DEBUG_PRINT r3
        RETURN_R

.func fib
        LOAD_CONST_R r1, int 2
        LT_R r2, r0, r1
        JUMP_IF_NOT_R r2, rec
        RETURN_R r0
rec:    LOAD_CONST_R r3, int 1
        SUB_R r4, r0, r3
        LOAD_CONST_R r5, str \"fib\"
        CALL_R r5, r6, r4
        SUB_R r7, r0, r1
        CALL_R r5, r8, r7
        ADD_R r9, r6, r8
        RETURN_R r9
";

/// Sums 0..1000 in a loop and prints the sum (it ends).
const FINITE: &str = "
.module finite
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 1000
        LOAD_CONST_R r3, int 1
loop:   LT_R r4, r1, r2
        JUMP_IF_NOT_R r4, done
        ADD_R r0, r0, r1
        ADD_R r1, r1, r3
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R
";

/// The backstop: far more instructions than the tests let run before stopping the program
/// (compiled code runs the two-instruction loop at a billion iterations a second or more, so
/// 2 * 10^9 could run out before a 0.5 s time limit).
const BACKSTOP_FUEL: u64 = 40_000_000_000;

fn runtime_error(e: Error) -> RuntimeError {
    match e {
        Error::Runtime(r) => r,
        e => panic!("not a runtime error: {e}"),
    }
}

/// Output shared with another thread, which watches it.
#[derive(Clone, Default)]
struct Watched(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Watched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("output lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Watched {
    /// Waits (up to a minute) until the output is not empty: the program has reached its
    /// loop or recursion, whatever the machine's speed (the tests also run under emulation).
    fn wait_for_output(&self) {
        let t0 = std::time::Instant::now();
        while self.0.lock().expect("output lock").is_empty() && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn an_interrupt_from_another_thread_stops_loops_and_recursion_in_every_mode() {
    for (name, src) in [("loop", LOOP), ("recursion", RECURSION)] {
        let bytes = assemble_bytes(src);
        for mode in Mode::ALL {
            let mut vm = mode.builder().fuel(Some(BACKSTOP_FUEL)).load_bytes(&bytes).expect("loads");
            let stop = vm.interrupt_handle();
            let out = Watched::default();
            let watched = out.clone();
            let stopper = std::thread::spawn(move || {
                watched.wait_for_output();
                std::thread::sleep(Duration::from_millis(10));
                stop.interrupt();
            });
            let result = vm.run(&mut out.clone());
            stopper.join().expect("the stopping thread");
            let output = out.0.lock().expect("output lock").clone();
            assert_eq!(String::from_utf8_lossy(&output), "before\n", "{name} in {mode}: output kept");
            let e = runtime_error(result.expect_err("the run was stopped"));
            assert_eq!(e.kind, ErrorKind::Interrupted, "{name} in {mode}: {e}");
            assert_eq!(e.message, "stop requested");
            let expected_fn = if name == "loop" { "<main>" } else { "fib" };
            assert_eq!(e.function, expected_fn, "{name} in {mode}: the error names where the run was");
            // The stop was served: the next run is not interrupted.
            let mut again = mode.builder().load_bytes(&assemble_bytes(FINITE)).expect("loads");
            again.interrupt_handle().interrupt();
            assert!(again.run_captured().result.is_err(), "an interrupt before a run stops it");
            let o = again.run_captured();
            assert_eq!(String::from_utf8_lossy(&o.output), "499500\n", "{mode}: the run after a stop");
            assert!(o.result.is_ok());
        }
    }
}

#[test]
fn a_time_limit_stops_the_run_with_its_value_in_the_message() {
    let bytes = assemble_bytes(LOOP);
    for mode in [Mode::INTERP, Mode::JIT, Mode::ALWAYS_OSR] {
        let mut vm = mode
            .builder()
            .fuel(Some(BACKSTOP_FUEL))
            .timeout(Some(Duration::from_millis(500)))
            .load_bytes(&bytes)
            .expect("loads");
        let o = vm.run_captured();
        // (500 ms leaves time to print first even under emulation.)
        assert_eq!(String::from_utf8_lossy(&o.output), "before\n", "{mode}");
        let e = runtime_error(o.result.expect_err("the time limit stops the loop"));
        assert_eq!(e.kind, ErrorKind::Interrupted, "{mode}: {e}");
        assert_eq!(e.message, "the time limit of 0.5 s was reached", "{mode}");
        // A run within its limit is unaffected, and the limit applies afresh to each run.
        let mut vm = mode.builder().timeout(Some(Duration::from_secs(600))).load_bytes(&assemble_bytes(FINITE)).expect("loads");
        for _ in 0..2 {
            assert_eq!(String::from_utf8_lossy(&vm.run_captured().output), "499500\n");
        }
    }
}

type Shared = std::rc::Rc<std::cell::RefCell<Vec<u8>>>;

/// A writer that keeps what is written in `pending` until it is flushed to `flushed`: an empty
/// `pending` when the poll hook runs proves the machine flushed the output before calling it.
struct Buffered {
    pending: Shared,
    flushed: Shared,
}

impl std::io::Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut p = self.pending.borrow_mut();
        self.flushed.borrow_mut().append(&mut p);
        Ok(())
    }
}

#[test]
fn the_poll_hook_runs_after_a_flush_and_its_error_stops_the_run() {
    for (name, src) in [("loop", LOOP), ("recursion", RECURSION)] {
        for mode in [Mode::INTERP, Mode::JIT, Mode::AUTO] {
            let mut vm = mode.builder().fuel(Some(BACKSTOP_FUEL)).load_bytes(&assemble_bytes(src)).expect("loads");
            let flushed: Shared = Default::default();
            let pending: Shared = Default::default();
            let (seen_pending, seen_flushed) = (pending.clone(), flushed.clone());
            let mut polls = 0;
            vm.set_poll(Duration::from_millis(5), move || {
                // Nothing is left unflushed when the hook runs (the first poll may come before
                // the program printed anything, while it is compiled).
                assert!(seen_pending.borrow().is_empty(), "the output was flushed before the hook");
                polls += 1;
                // Stop only once the line is out, so that the run's output is known.
                if polls >= 3 && !seen_flushed.borrow().is_empty() {
                    Err("KeyboardInterrupt".to_string())
                } else {
                    Ok(())
                }
            });
            let mut out = Buffered { pending, flushed: flushed.clone() };
            let e = runtime_error(vm.run(&mut out).expect_err("the hook stops the run"));
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Interrupted, "KeyboardInterrupt"), "{name} in {mode}");
            assert_eq!(flushed.borrow().as_slice(), b"before\n");
        }
    }
}

#[test]
fn a_vm_without_limits_still_answers_its_handle() {
    // Unmetered, no fuel: the only way out is the safepoints.
    for (tier, src) in [(mdvm::Tier::Interp, LOOP), (mdvm::Tier::Jit, LOOP), (mdvm::Tier::Jit, SILENT_LOOP)] {
        let bytes = assemble_bytes(src);
        let mut vm = Vm::builder().tier(tier).count_instructions(false).load_bytes(&bytes).expect("loads");
        let stop = vm.interrupt_handle();
        // A watchdog of the test's own: if the handle did not work, the process would hang.
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            stop.interrupt();
            std::thread::sleep(Duration::from_secs(120));
            if stop.is_interrupted() {
                eprintln!("the interrupted run never ended");
                std::process::abort();
            }
        });
        let e = runtime_error(vm.run_captured().result.expect_err("stopped"));
        assert_eq!(e.kind, ErrorKind::Interrupted);
        drop(stopper); // detached: it finds the flag cleared and ends with the process
    }
}

#[cfg(unix)]
mod cli {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use mdvm_tests::{mdvm_bin, run_cli};

    use super::*;

    /// Waits up to 60 s for `child` to end and returns its status; kills it and fails the test,
    /// naming `what`, if it does not.
    fn wait_for_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{what}: mdvm did not end");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs `mdvm run ARGS FILE` with stdout to a file, sends `signal` once `before` is in the
    /// file, and returns (exit code, stdout file content, stderr).
    fn signalled(args: &[&str], file: &std::path::Path, signal: &str, dir: &TempDir) -> (Option<i32>, String, String) {
        signalled_with_stdin(args, file, signal, dir, Stdio::null())
    }

    /// As [`signalled`], with `stdin` as the program's input.
    fn signalled_with_stdin(
        args: &[&str],
        file: &std::path::Path,
        signal: &str,
        dir: &TempDir,
        stdin: Stdio,
    ) -> (Option<i32>, String, String) {
        let out_path = dir.path().join(format!("out-{signal}.txt"));
        let err_path = dir.path().join(format!("err-{signal}.txt"));
        let mut child = Command::new(mdvm_bin())
            .arg("run")
            .args(args)
            .arg(file)
            .stdin(stdin)
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("start mdvm");
        // The program prints then loops (or waits): the CLI buffers 64 KiB for a file, so the
        // file stays empty until something flushes it. Wait until the run has surely printed
        // (its stderr says nothing; give it the time a slow or emulated machine needs).
        std::thread::sleep(Duration::from_millis(if cfg!(target_arch = "x86_64") { 300 } else { 3000 }));
        let kill = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().expect("kill");
        assert!(kill.success());
        let status = wait_for_exit(&mut child, &format!("mdvm {args:?} after SIG{signal}"));
        (
            status.code(),
            std::fs::read_to_string(&out_path).expect("stdout"),
            std::fs::read_to_string(&err_path).expect("stderr"),
        )
    }

    #[test]
    fn sigint_sigterm_and_sighup_flush_the_output_and_exit_with_128_plus_the_signal() {
        let dir = TempDir::new("signals");
        for (name, src) in [("loop", LOOP), ("recursion", RECURSION)] {
            let file = dir.write(&format!("{name}.mdbc"), &assemble_bytes(src));
            for tier in ["interp", "jit", "auto"] {
                for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
                    let (status, out, err) = signalled(&["--tier", tier], &file, signal, &dir);
                    assert_eq!(out, "before\n", "{name} --tier {tier} SIG{signal}: the output is kept");
                    assert_eq!(status, Some(code), "{name} --tier {tier} SIG{signal}: {err}");
                    assert!(err.contains(&format!("mdvm: stopped by SIG{signal}")), "{name} --tier {tier} SIG{signal}: {err}");
                }
            }
        }
    }

    #[test]
    fn a_signal_ends_the_run_when_stderr_is_a_closed_pipe() {
        // The reader of stderr is gone (a pipe into `head -1` that has exited): writing the
        // signal's message fails, and the process must still end with 128 + the signal and
        // the output flushed, in every tier, traced or not.
        let dir = TempDir::new("closed-stderr");
        let file = dir.write("loop.mdbc", &assemble_bytes(LOOP));
        for (tier, trace) in [("interp", None), ("jit", None), ("auto", Some("--trace=instructions"))] {
            let out_path = dir.path().join(format!("out-{tier}.txt"));
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            let mut child = Command::new(mdvm_bin())
                .arg("run")
                .args(["--tier", tier])
                .args(trace)
                .arg(&file)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out_path).expect("stdout file"))
                .stderr(writer)
                .spawn()
                .expect("start mdvm");
            std::thread::sleep(Duration::from_millis(if cfg!(target_arch = "x86_64") { 300 } else { 3000 }));
            let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
            assert!(kill.success());
            let status = wait_for_exit(&mut child, &format!("--tier {tier} {trace:?}, SIGTERM with stderr closed"));
            assert_eq!(status.code(), Some(143), "--tier {tier} {trace:?}");
            assert_eq!(std::fs::read_to_string(&out_path).expect("stdout"), "before\n", "--tier {tier} {trace:?}");
        }
    }

    #[test]
    fn a_signal_while_read_line_waits_exits_with_the_prompt_kept() {
        // read_line flushes the output before it blocks (a prompt shows), and the signal ends
        // the process while it waits.
        let dir = TempDir::new("blocked");
        let file = dir.write(
            "ask.mdbc",
            &assemble_bytes(
                "
.module ask
        LOAD_CONST_R r0, str \"prompt\"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, str \"read_line\"
        CALL_R r1, r2
        DEBUG_PRINT r2
        RETURN_R
",
            ),
        );
        // A pipe nobody writes to: read_line waits for ever. The writing end stays open in this
        // process (a child of `sleep` holds it) until the test ends.
        let mut holder = Command::new("sleep").arg("120").stdout(Stdio::piped()).spawn().expect("sleep");
        let pipe = holder.stdout.take().expect("pipe");
        let (status, out, err) = signalled_with_stdin(&["--tier", "jit"], &file, "TERM", &dir, Stdio::from(pipe));
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(out, "prompt\n", "{err}");
        assert_eq!(status, Some(143), "{err}");
        assert!(err.contains("stopped by SIGTERM"), "{err}");
    }

    #[test]
    fn timeout_flag_stops_the_run_and_rejects_bad_values() {
        let dir = TempDir::new("timeout");
        let file = dir.write("loop.mdbc", &assemble_bytes(LOOP));
        for tier in ["interp", "jit", "auto"] {
            let o = run_cli(&["run".as_ref(), "--tier".as_ref(), tier.as_ref(), "--timeout".as_ref(), "1.5".as_ref(), file.as_os_str()]);
            assert_eq!(o.code, Some(1), "{}", o.describe());
            assert_eq!(o.stdout_text(), "before\n", "{}", o.describe());
            assert!(o.stderr_text().contains("interrupted: the time limit of 1.5 s was reached"), "{}", o.describe());
        }
        for bad in ["0", "-1", "soon", "inf", "NaN"] {
            let o = run_cli(&["run".as_ref(), "--timeout".as_ref(), bad.as_ref(), file.as_os_str()]);
            assert_eq!(o.code, Some(2), "--timeout {bad}: {}", o.describe());
        }
    }
}
