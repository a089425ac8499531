"""The module's API, method by method and value type by value type, on programs built by
`mdbc.py` (from ARCHITECTURE.md, *The format*) and on corpus files with their `.expected` output."""

from __future__ import annotations

import contextlib
import io
import math
import sys
import threading
import time

import pytest

import machine_dialect_vm
from machine_dialect_vm import RustVM

from conftest import CORPUS
from mdbc import ADD_R, DIV_R, EQ_R, SUB_R, Asm, returning

TIERS = ["auto", "interp", "jit"]


def run_bytes(data: bytes, tier: str = "auto", **kw: object) -> object:
    vm = RustVM(tier, **kw)
    vm.load_bytes(data)
    return vm.execute()


# ---- execute(): every value type -------------------------------------------------------

VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**63 - 1,
    -(2**63),
    0.5,
    -0.0,
    1e300,
    "",
    "hello",
    "héllo wörld ✓",
    [],
    [1, "a", None, 2.5, False],
    [[1, [2]], []],
    {},
    {"b": 1, "a": "x", "c": None},
    {"list": [1, {"k": True}], "empty": {}},
]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("value", VALUES, ids=[repr(v) for v in VALUES])
def test_execute_returns_each_value_type(value: object, tier: str) -> None:
    got = run_bytes(returning(value), tier)
    assert type(got) is type(value)
    assert got == value
    if isinstance(value, float):
        assert math.copysign(1.0, got) == math.copysign(1.0, value)  # -0.0 stays -0.0
    if isinstance(value, dict):
        assert list(got) == list(value)  # insertion order


def test_execute_returns_nan() -> None:
    a = Asm()
    a.load(0, float("nan"))
    a.ret(0)
    got = run_bytes(a.bytes())
    assert isinstance(got, float) and math.isnan(got)


def test_program_without_return_value_gives_none(capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM()
    vm.load_bytecode(str(CORPUS / "hello_world.mdbc"))
    assert vm.execute() is None
    assert capsys.readouterr().out == (CORPUS / "hello_world.expected").read_text()


def test_return_of_arithmetic_result() -> None:
    a = Asm()
    a.load(0, 40)
    a.load(1, 2)
    a.op3(ADD_R, 2, 0, 1)
    a.ret(2)
    assert run_bytes(a.bytes()) == 42


# ---- Say output goes through sys.stdout --------------------------------------------------

def say_program(*lines: object) -> bytes:
    a = Asm()
    for i, v in enumerate(lines):
        a.load(i, v)
        a.say(i)
    a.ret()
    return a.bytes()


def test_output_is_captured_by_capsys(capsys: pytest.CaptureFixture[str]) -> None:
    print("before")
    run_bytes(say_program("one", 2, 2.5, True))
    print("after")
    assert capsys.readouterr().out == "before\none\n2\n2.5\ntrue\nafter\n"


def test_output_follows_redirect_stdout() -> None:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        run_bytes(say_program("redirected", "ünïcode"))
    assert buf.getvalue() == "redirected\nünïcode\n"


def test_large_output_arrives_complete_and_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    # 20,000 lines: well past the 8 KiB buffer, so it is written in several pieces.
    a = Asm()
    a.load(0, 0)
    a.load(1, 1)
    a.load(2, 20_000)
    # loop: r3 = (r0 == r2); if r3 goto end; say r0; r0 = r0 + 1; goto loop
    a.op3(EQ_R, 3, 0, 2)
    a.code.append(bytes([23, 3]) + (3).to_bytes(4, "little", signed=True))  # JUMP_IF_R +3
    a.say(0)
    a.op3(ADD_R, 0, 0, 1)
    a.jump(-5)
    a.ret()
    run_bytes(a.bytes())
    assert capsys.readouterr().out == "".join(f"{i}\n" for i in range(20_000))


def test_output_before_an_error_stays_printed(capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM()
    vm.load_bytecode(CORPUS / "err_div_zero_int.mdbc")
    with pytest.raises(RuntimeError):
        vm.execute()
    assert capsys.readouterr().out == (CORPUS / "err_div_zero_int.expected").read_text()


def test_failing_stdout_raises_runtime_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def write(self, s: str) -> int:
            raise OSError("disk full")

        def flush(self) -> None:
            raise OSError("disk full")

    monkeypatch.setattr(sys, "stdout", Broken())
    with pytest.raises(RuntimeError) as e:
        run_bytes(say_program("x"))
    assert isinstance(e.value.__cause__, OSError)


def test_stdout_none_discards_output_like_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    assert run_bytes(say_program("nowhere")) is None


# ---- errors are RuntimeError -------------------------------------------------------------

def test_execute_without_program_raises() -> None:
    with pytest.raises(RuntimeError):
        RustVM().execute()


def test_load_missing_file_raises(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="missing.mdbc"):
        RustVM().load_bytecode(str(tmp_path / "missing.mdbc"))


@pytest.mark.parametrize(
    "data",
    [b"", b"MDBC", b"not bytecode at all", say_program("x")[:-1], b"MDBC" + b"\xff" * 40,
     say_program("x")[:20] + b"\x00" * 8],
    ids=["empty", "magic-only", "garbage", "truncated", "bad-offsets", "zeroed-offsets"],
)
def test_malformed_bytes_raise(data: bytes) -> None:
    vm = RustVM()
    with pytest.raises(RuntimeError, match="load error"):
        vm.load_bytes(data)
    with pytest.raises(RuntimeError):  # nothing was loaded
        vm.execute()


def test_every_truncation_is_an_error_not_a_crash() -> None:
    # mdvm decodes to the end of the file (the serializer-miscount repair), so a file cut at an
    # instruction boundary may still load; whatever loads must run or raise RuntimeError.
    data = returning({"a": [1, 2.5, "s"]})
    refused = 0
    for n in range(len(data)):
        vm = RustVM()
        try:
            vm.load_bytes(data[:n])
        except RuntimeError:
            refused += 1
            continue
        try:
            vm.execute()
        except RuntimeError:
            pass
    assert refused >= len(data) - 20


@pytest.mark.parametrize("tier", TIERS)
def test_runtime_error_raises_with_message(tier: str) -> None:
    a = Asm()
    a.load(0, 1)
    a.load(1, 0)
    a.op3(DIV_R, 2, 0, 1)
    a.ret(2)
    with pytest.raises(RuntimeError, match="(?i)zero"):
        run_bytes(a.bytes(), tier)


def test_frontend_compiled_errors_raise(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("err_undefined_function", "string_concat_number_error", "err_int_overflow_add"):
        vm = RustVM()
        vm.load_bytecode(CORPUS / f"{name}.mdbc")
        with pytest.raises(RuntimeError):
            vm.execute()
        assert capsys.readouterr().out == (CORPUS / f"{name}.expected").read_text()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RustVM("fast")
    with pytest.raises(ValueError):
        RustVM(max_depth=0)
    with pytest.raises(OverflowError):
        RustVM(fuel=-1)
    with pytest.raises(TypeError):
        RustVM().load_bytes("not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RustVM(jit_threshold=0)
    with pytest.raises(ValueError):
        RustVM(osr_threshold=0)


# ---- load_bytecode / load_bytes ----------------------------------------------------------

def test_load_bytecode_accepts_str_and_pathlike(capsys: pytest.CaptureFixture[str]) -> None:
    expected = (CORPUS / "recursion_fib_small.expected").read_text()
    for path in (str(CORPUS / "recursion_fib_small.mdbc"), CORPUS / "recursion_fib_small.mdbc"):
        vm = RustVM()
        vm.load_bytecode(path)
        vm.execute()
        assert capsys.readouterr().out == expected


def test_load_bytes_matches_load_bytecode(capsys: pytest.CaptureFixture[str]) -> None:
    data = (CORPUS / "func_actions_interactions.mdbc").read_bytes()
    for buf in (data, bytearray(data)):
        vm = RustVM()
        vm.load_bytes(buf)
        vm.execute()
        assert capsys.readouterr().out == (CORPUS / "func_actions_interactions.expected").read_text()


def test_serializer_miscount_files_load(capsys: pytest.CaptureFixture[str]) -> None:
    # The reference VM refuses these (fe-serializer); mdvm repairs them on load.
    vm = RustVM()
    vm.load_bytecode(CORPUS / "asm" / "dict_workload.mdbc")
    vm.execute()
    assert capsys.readouterr().out == (CORPUS / "asm" / "dict_workload.expected").read_text()


def test_loading_replaces_the_program(capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM()
    vm.load_bytes(returning(1))
    vm.load_bytes(returning("second"))
    assert vm.execute() == "second"


def test_execute_twice_runs_again(capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM()
    vm.load_bytes(say_program("again"))
    vm.execute()
    vm.execute()
    assert capsys.readouterr().out == "again\nagain\n"


# ---- instruction_count / reset / set_debug / stats / tier / budgets ----------------------

def four_instructions() -> bytes:
    a = Asm()
    a.load(0, 1)
    a.load(1, 2)
    a.op3(ADD_R, 2, 0, 1)
    a.ret(2)
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_instruction_count_and_reset(tier: str) -> None:
    vm = RustVM(tier)
    assert vm.instruction_count() == 0
    vm.load_bytes(four_instructions())
    assert vm.execute() == 3
    assert vm.instruction_count() == 4
    vm.execute()
    assert vm.instruction_count() == 8
    # Like the reference VM, the count runs on over a new program.
    vm.load_bytes(four_instructions())
    vm.execute()
    assert vm.instruction_count() == 12
    vm.reset()
    assert vm.instruction_count() == 0
    assert vm.execute() == 3  # the program stays loaded
    assert vm.instruction_count() == 4


def test_set_debug_traces_instructions_and_stats_to_stderr_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM(tier="jit")
    assert vm.debug is False
    vm.set_debug(True)
    assert vm.debug is True
    vm.load_bytes(say_program("dbg"))
    vm.execute()
    out, err = capsys.readouterr()
    assert out == "dbg\n"
    # The reference VM's instruction trace, one line per instruction executed, with operands.
    traced = [l for l in err.splitlines() if l.startswith("TRACE mdvm::instructions:")]
    assert len(traced) == 3, err
    assert 'DEBUG_PRINT r0 function="<main>" pc=1 operands=r0="dbg"' in traced[1]
    assert "instructions executed: 3" in err
    vm.set_debug(False)
    vm.execute()
    assert capsys.readouterr() == ("dbg\n", "")


def test_trace_selects_categories(capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM(trace="calls")
    vm.load_bytes(recursive(3))
    assert vm.execute() == 0
    out, err = capsys.readouterr()
    assert out == ""
    calls = [l for l in err.splitlines() if "mdvm::calls: call f(" in l]
    returns = [l for l in err.splitlines() if "mdvm::calls: return from f: 0" in l]
    assert (len(calls), len(returns)) == (4, 4), err
    assert "mdvm::instructions" not in err
    with pytest.raises(ValueError, match="unknown trace category"):
        RustVM(trace="tiers,nonsense")


def recursive(n: int) -> bytes:
    """main calls f(n); f(k) = k == 0 ? 0 : f(k - 1): n + 2 frames live at the deepest."""
    a = Asm()
    a.load(0, n)
    a.load(1, "f")
    a.call(1, 2, 0)
    a.ret(2)
    a.func("f")
    a.load(1, 0)
    a.op3(EQ_R, 2, 0, 1)
    a.jump_if_not(2, 1)
    a.ret(1)
    a.load(3, 1)
    a.op3(SUB_R, 4, 0, 3)
    a.load(5, "f")
    a.call(5, 6, 4)
    a.ret(6)
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_max_depth_counts_main(tier: str) -> None:
    assert run_bytes(recursive(20), tier, max_depth=22) == 0
    with pytest.raises(RuntimeError):
        run_bytes(recursive(20), tier, max_depth=21)


@pytest.mark.parametrize("tier", TIERS)
def test_default_depth_limit_is_an_error_not_a_crash(tier: str) -> None:
    assert run_bytes(recursive(9_998), tier) == 0  # 10,000 frames
    with pytest.raises(RuntimeError):
        run_bytes(recursive(9_999), tier)


def test_deep_recursion_on_a_python_thread() -> None:
    result: list[object] = []

    def body() -> None:
        try:
            result.append(run_bytes(recursive(100_000), "interp", max_depth=200_000))
        except RuntimeError as e:
            result.append(e)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert result == [0] or isinstance(result[0], RuntimeError)


def infinite_loop() -> bytes:
    a = Asm()
    a.jump(-1)
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_fuel(tier: str) -> None:
    assert run_bytes(four_instructions(), tier, fuel=4) == 3
    with pytest.raises(RuntimeError, match="(?i)fuel"):
        run_bytes(four_instructions(), tier, fuel=3)
    vm = RustVM(tier, fuel=10_000)
    vm.load_bytes(infinite_loop())
    with pytest.raises(RuntimeError, match="(?i)fuel"):
        vm.execute()
    assert vm.instruction_count() == 10_000


def test_options_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDVM_TIER", "interp")
    monkeypatch.setenv("MDVM_FUEL", "1000")
    monkeypatch.setenv("MDVM_MAX_DEPTH", "7")
    vm = RustVM()
    s = vm.stats()
    assert (vm.tier, s["fuel"], s["max_depth"]) == ("interp", 1000, 7)
    assert RustVM("jit", fuel=5, max_depth=9).stats()["fuel"] == 5  # arguments win
    monkeypatch.setenv("MDVM_FUEL", "lots")
    with pytest.raises(ValueError):
        RustVM()


def test_tier_property_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MDVM_TIER", raising=False)
    assert RustVM().tier == "auto"
    for t in TIERS:
        assert RustVM(t).tier == t
        assert RustVM(tier=t).tier == t


def test_stats() -> None:
    vm = RustVM("interp")
    s = vm.stats()
    assert s["loaded"] is False and s["instructions"] == 0 and s["jit"] is None
    vm.load_bytes(recursive(10))
    vm.execute()
    s = vm.stats()
    assert s["tier"] == "interp" and s["loaded"] is True
    assert s["calls"] == {"<main>": 1, "f": 11}
    # main 4; f(k > 0) 8 (its first RETURN_R is jumped over); f(0) 4.
    assert s["instructions"] == vm.instruction_count() == 4 + 10 * 8 + 4
    assert s["jit"] is None

    vm = RustVM("jit")
    vm.load_bytes(recursive(10))
    assert vm.execute() == 0
    j = vm.stats()["jit"]
    assert j is not None and j["functions_compiled"] >= 1
    assert set(j) >= {"osr_compiled", "compile_seconds", "native_entries", "deopts"}


def test_jit_threshold_compiles_hot_function() -> None:
    vm = RustVM("auto", jit_threshold=5)
    vm.load_bytes(recursive(50))
    assert vm.execute() == 0
    assert vm.stats()["jit"]["functions_compiled"] >= 1


@pytest.mark.parametrize("osr_threshold, entered", [(None, True), (1_001, False), (1_000, True), (1, True)])
def test_osr_threshold_decides_when_a_loop_is_entered(osr_threshold: int | None, entered: bool) -> None:
    # A loop of one jump under 1,000 instructions of fuel: 1,000 back-edges, so the loop is
    # entered by OSR exactly when the threshold is at most that (the default follows the call
    # threshold, 1,000, down from 2,000).
    vm = RustVM("auto", fuel=1_000, osr_threshold=osr_threshold)
    vm.load_bytes(infinite_loop())
    with pytest.raises(RuntimeError, match="fuel"):
        vm.execute()
    assert vm.instruction_count() == 1_000
    assert (vm.stats()["jit"]["osr_entries"] >= 1) == entered


def test_repr_and_version() -> None:
    assert isinstance(machine_dialect_vm.__version__, str)
    assert "interp" in repr(RustVM("interp"))


# ---- the GIL is released while the program runs ------------------------------------------

def test_gil_released_during_execute() -> None:
    # Calibrate a fuel-bounded infinite loop to run for about half a second.
    fuel = 1_000_000
    while True:
        vm = RustVM("interp", fuel=fuel)
        vm.load_bytes(infinite_loop())
        t0 = time.perf_counter()
        with pytest.raises(RuntimeError):
            vm.execute()
        if time.perf_counter() - t0 >= 0.1:
            break
        fuel *= 4
    fuel *= 5

    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    vm = RustVM("interp", fuel=fuel)
    vm.load_bytes(infinite_loop())
    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.02)
    start = time.perf_counter()
    with pytest.raises(RuntimeError):
        vm.execute()
    end = time.perf_counter()
    stop.set()
    t.join()
    inside = [x for x in ticks if start + 0.05 < x < end - 0.05]
    # With the GIL held, the ticker could not run at all while execute() ran.
    assert end - start > 0.2
    assert len(inside) >= 5, (end - start, len(inside))


def test_vm_works_from_another_thread() -> None:
    # Created on this thread, used on another, then here again: one call at a time works.
    vm = RustVM("jit")
    vm.load_bytes(returning(1))
    results: list[object] = []
    t = threading.Thread(target=lambda: results.append(vm.execute()))
    t.start()
    t.join()
    assert results == [1]
    assert vm.execute() == 1
    # Created on another thread, used and dropped here.
    made: list[RustVM] = []
    t = threading.Thread(target=lambda: made.append(RustVM("jit")))
    t.start()
    t.join()
    made[0].load_bytes(returning(2))
    assert made[0].execute() == 2
    del made[0]


def test_a_second_thread_during_execute_gets_runtime_error() -> None:
    vm = RustVM("interp", timeout=1)
    vm.load_bytes(printing_then_looping())
    errors: list[BaseException] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            vm.execute()
        except BaseException as e:  # noqa: BLE001 - the test inspects what was raised
            errors.append(e)

    with contextlib.redirect_stdout(io.StringIO()):
        t = threading.Thread(target=run)
        t.start()
        started.wait()
        time.sleep(0.2)
        # The other thread holds the VM inside execute(): a second use is refused cleanly.
        with pytest.raises(RuntimeError, match="(?i)borrow"):
            vm.execute()
        with pytest.raises(RuntimeError, match="(?i)borrow"):
            vm.instruction_count()
        t.join()
    # The running call ended with its time limit, as a RuntimeError.
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), errors
    assert "time limit of 1 s" in str(errors[0])


def printing_then_looping() -> bytes:
    """Prints "before", then loops forever."""
    a = Asm()
    a.load(0, "before")
    a.say(0)
    a.jump(-1)
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_timeout_stops_a_runaway_program_and_keeps_its_output(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM(tier, timeout=0.2)
    assert vm.timeout == 0.2
    vm.load_bytes(printing_then_looping())
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"interrupted: the time limit of 0\.2 s was reached"):
        vm.execute()
    assert time.perf_counter() - t0 < 30
    assert capsys.readouterr().out == "before\n"
    with pytest.raises(ValueError):
        RustVM(timeout=0)
    with pytest.raises(ValueError):
        RustVM(timeout=float("nan"))


def test_mdvm_timeout_applies_to_a_bare_rustvm(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MDVM_TIMEOUT", "0.1")
    vm = RustVM()
    assert vm.timeout == 0.1
    vm.load_bytes(printing_then_looping())
    with pytest.raises(RuntimeError, match="time limit"):
        vm.execute()
    assert capsys.readouterr().out == "before\n"
    monkeypatch.setenv("MDVM_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="MDVM_TIMEOUT"):
        RustVM()


CTRL_C_CHILD = """
import sys
from machine_dialect_vm import RustVM
from mdbc import Asm
a = Asm()
a.load(0, "before")
a.say(0)
a.jump(-1)
vm = RustVM(sys.argv[1], timeout=60)
vm.load_bytes(a.bytes())
try:
    vm.execute()
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(3)
"""


@pytest.mark.parametrize("tier", TIERS)
def test_ctrl_c_during_execute_raises_keyboard_interrupt_after_the_output(tier: str, tmp_path: object) -> None:
    import os
    import signal
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, tier],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=here,
        env={**os.environ, "PYTHONPATH": here},
    )
    assert child.stdout is not None
    # The line printed before the loop reaches sys.stdout while execute() still runs.
    first = child.stdout.readline()
    assert first == b"before\n", (first, child.stderr.read() if child.stderr else b"")
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    rest, err = child.communicate(timeout=60)
    elapsed = time.perf_counter() - sent
    assert rest == b"KeyboardInterrupt\n", err
    assert child.returncode == 3, err
    assert elapsed < 30, elapsed


def growing_dict() -> bytes:
    """Prints "before", then adds keys "k0", "k1", ... to a dict for ever."""
    from mdbc import DICT_NEW_R, DICT_SET_R

    CONCAT_STR_R = 31
    a = Asm()
    a.load(0, "before")
    a.say(0)
    a.code.append(bytes([DICT_NEW_R, 1]))
    a.load(2, 0)
    a.load(4, 1)
    a.load(6, "k")
    a.op3(CONCAT_STR_R, 7, 6, 2)  # loop: k = "k" + i
    a.op3(DICT_SET_R, 1, 7, 2)
    a.op3(ADD_R, 2, 2, 4)
    a.jump(-4)
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_max_memory_stops_a_growing_program_cleanly(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    vm = RustVM(tier, max_memory=32 * 1024 * 1024)
    assert vm.max_memory == 32 * 1024 * 1024
    vm.load_bytes(growing_dict())
    with pytest.raises(RuntimeError, match="out of memory: the memory limit of 32 MiB"):
        vm.execute()
    assert capsys.readouterr().out == "before\n"
    # The memory is given back: the VM runs again (and stops again the same way).
    with pytest.raises(RuntimeError, match="out of memory"):
        vm.execute()


def test_mdvm_max_memory_and_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDVM_MAX_MEMORY", "48M")
    assert RustVM().max_memory == 48 * 1024 * 1024
    monkeypatch.setenv("MDVM_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="MDVM_MAX_MEMORY"):
        RustVM()
    monkeypatch.delenv("MDVM_MAX_MEMORY")
    default = RustVM().max_memory
    assert default is None or default > 0
