"""The frontend's own integration path: `VMRunner(...).execute(source)` compiles in-process,
writes a temporary `.mdbc`, and calls `RustVM().load_bytecode(path)` and `execute()`."""

from __future__ import annotations

import pytest
from machine_dialect.compiler.vm_runner import VMRunner

import machine_dialect_vm
from conftest import CORPUS

# VMRunner(optimize=False) skips the MIR optimizer, as `compile --opt-level 0` does: the
# corpus' -O0 cases are the programs it must reproduce.
O0_OK = ["say_literals_O0", "recursion_fib_small_O0", "func_chained_calls_O0",
         "if_nested_main_O0", "variables_reassign_O0", "recursion_power_hanoi_O0"]


def test_vmrunner_uses_our_module() -> None:
    runner = VMRunner()
    assert isinstance(runner.vm, machine_dialect_vm.RustVM)


@pytest.mark.parametrize("name", O0_OK)
def test_vmrunner_execute(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (CORPUS / f"{name}.status").read_text().strip() == "0"
    source = (CORPUS / f"{name}.md").read_text()
    result = VMRunner(optimize=False).execute(source)
    assert result is None
    assert capsys.readouterr().out == (CORPUS / f"{name}.expected").read_text()


def test_vmrunner_execute_error(capsys: pytest.CaptureFixture[str]) -> None:
    source = (CORPUS / "err_div_zero_int.md").read_text()
    with pytest.raises(RuntimeError, match="(?i)zero"):
        VMRunner(optimize=True).execute(source)
    assert capsys.readouterr().out == (CORPUS / "err_div_zero_int.expected").read_text()


def test_vmrunner_execute_bytecode_and_reset(capsys: pytest.CaptureFixture[str]) -> None:
    runner = VMRunner()
    runner.execute_bytecode((CORPUS / "hello_world.mdbc").read_bytes())
    runner.reset()
    runner.execute_bytecode((CORPUS / "hello_world.mdbc").read_bytes())
    assert capsys.readouterr().out == (CORPUS / "hello_world.expected").read_text() * 2
