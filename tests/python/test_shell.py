"""The frontend's interactive shell (`python -m machine_dialect shell`) on mdvm.

The shell compiles each line into the program accumulated so far and runs it on
`machine_dialect_vm.RustVM` ("Rust VM Execution Mode"), so every statement's output appears
again after each later line. Driven through a pipe, as a user's session would be typed.
"""

from __future__ import annotations

import subprocess
import sys

import machine_dialect_vm


def shell(*lines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "machine_dialect", "shell"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_shell_runs_statements_on_mdvm() -> None:
    assert "mdvm" in machine_dialect_vm.__version__
    r = shell("Define `x` as Whole Number.", "Set `x` to 5.", "Say `x` + 2.", 'Say "hi".', "exit")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Mode: Rust VM Execution Mode" in out
    # Each line runs the whole program so far: `Say x + 2` prints 7 once, then again with "hi".
    assert out.count("md> 7\n") == 2, out
    assert "md> 7\nhi\n" in out, out
    assert "Execution Error" not in out, out
    assert out.rstrip().endswith("Goodbye!")


def test_the_shell_reports_mdvm_errors_and_goes_on() -> None:
    r = shell("Define `x` as Whole Number.", "Say 1 / 0.", 'Say "after".', "exit")
    assert r.returncode == 0, r.stderr
    # mdvm's runtime error, naming the function and instruction, then the session goes on.
    assert "Execution Error: runtime error: division by zero" in r.stdout, r.stdout
    assert "instruction" in r.stdout
    assert r.stdout.rstrip().endswith("Goodbye!")
