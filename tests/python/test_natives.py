"""Host functions from Python: `RustVM.register_function(name, callable, arity=None)` on programs
built by `mdbc.py` (from ARCHITECTURE.md, *The format*), in each tier: calls, value conversion
both ways, exceptions and unconvertible results as `RuntimeError`, registration before and after
loading, overriding a standard-library native, arity."""

from __future__ import annotations

import math

import pytest

from machine_dialect_vm import RustVM

from mdbc import ADD_R, ARRAY_SET_R, DICT_NEW_R, DICT_SET_R, EQ_R, NEW_ARRAY_R, Asm

TIERS = ["auto", "interp", "jit"]


def call_program(name: str, *args: object, say_before: str | None = None) -> bytes:
    """Main: optionally prints `say_before`, loads `args` (constants) into r1.., calls `name`
    with them (the name loaded just before the call) and returns the result."""
    a = Asm()
    if say_before is not None:
        a.load(0, say_before)
        a.say(0)
    for i, v in enumerate(args):
        a.load(1 + i, v)
    a.load(20, name)
    a.call(20, 0, *range(1, 1 + len(args)))
    a.ret(0)
    return a.bytes()


def loop_program(name: str, n: int) -> bytes:
    """sum = 0; for i in 0..n: sum += name(i); print sum; return sum (a hot call site)."""
    a = Asm()
    a.load(0, 0)  # i
    a.load(1, n)
    a.load(2, 1)
    a.load(3, 0)  # sum
    a.op3(EQ_R, 4, 0, 1)  # 4: loop head
    a.jump_if_not(4, 1)  # -> body
    a.jump(5)  # -> end
    a.load(9, name)  # 7: body
    a.call(9, 5, 0)
    a.op3(ADD_R, 3, 3, 5)
    a.op3(ADD_R, 0, 0, 2)
    a.jump(-8)  # -> 4
    a.say(3)  # 12: end
    a.ret(3)
    return a.bytes()


def run(data: bytes, tier: str = "auto", register: dict | None = None) -> object:
    vm = RustVM(tier)
    for name, f in (register or {}).items():
        vm.register_function(name, f)
    vm.load_bytes(data)
    return vm.execute()


@pytest.mark.parametrize("tier", TIERS)
def test_python_function_called_from_a_hot_loop(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[int] = []

    def twice(x: int) -> int:
        seen.append(x)
        return 2 * x

    assert run(loop_program("twice", 3000), tier, {"twice": twice}) == 8997000
    assert seen == list(range(3000))
    assert capsys.readouterr().out == "8997000\n"


@pytest.mark.parametrize("tier", TIERS)
def test_raising_callable_is_a_runtime_error(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    def check(x: object) -> None:
        raise ValueError(f"no good: {x!r}")

    vm = RustVM(tier)
    vm.register_function("check", check)
    vm.load_bytes(call_program("check", 41, say_before="before"))
    with pytest.raises(RuntimeError) as e:
        vm.execute()
    msg = str(e.value)
    assert "ValueError" in msg and "no good: 41" in msg, msg
    assert "check" in msg, msg  # the native's name
    assert capsys.readouterr().out == "before\n"  # output before the error stays
    # The VM is still usable.
    vm.register_function("check", lambda x: x + 1)
    assert vm.execute() == 42


@pytest.mark.parametrize("tier", TIERS)
def test_exception_in_a_hot_loop(tier: str) -> None:
    def twice(x: int) -> int:
        if x == 2500:
            raise KeyError("at 2500")
        return 2 * x

    with pytest.raises(RuntimeError, match="KeyError") as e:
        run(loop_program("twice", 3000), tier, {"twice": twice})
    assert "at 2500" in str(e.value)


class Opaque:
    pass


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize(
    "result",
    [object(), {1, 2}, Opaque(), b"bytes", 1 + 2j, {1: "int key"}, [1, object()], {"k": {2.5}}],
    ids=["object", "set", "class", "bytes", "complex", "int-key", "nested-object", "nested-set"],
)
def test_unsupported_result_is_a_runtime_error(result: object, tier: str) -> None:
    with pytest.raises(RuntimeError) as e:
        run(call_program("give", 1), tier, {"give": lambda _x: result})
    assert "give" in str(e.value)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("big", [2**63, -(2**63) - 1, 2**100])
def test_int_outside_64_bits_is_an_error(big: int, tier: str) -> None:
    with pytest.raises(RuntimeError) as e:
        run(call_program("give", 1), tier, {"give": lambda _x: big})
    assert "give" in str(e.value)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("edge", [2**63 - 1, -(2**63), 0, -0.0, math.inf, True])
def test_ints_at_the_64_bit_edges_and_other_scalars_pass(edge: object, tier: str) -> None:
    got = run(call_program("give", 1), tier, {"give": lambda _x: edge})
    assert type(got) is type(edge) and got == edge
    if isinstance(edge, float):
        assert math.copysign(1.0, got) == math.copysign(1.0, edge)


@pytest.mark.parametrize("tier", TIERS)
def test_none_is_empty(tier: str) -> None:
    # r0 = nothing(); r1 = is_empty(r0); return [r0 is empty] via the native is_empty.
    a = Asm()
    a.load(0, 5)
    a.load(10, "nothing")
    a.call(10, 0, 0)  # r0 = nothing(5): None -> empty, written over the 5
    a.load(11, "is_empty")
    a.call(11, 1, 0)
    a.ret(1)
    assert run(a.bytes(), tier, {"nothing": lambda _x: None}) is True
    assert run(call_program("nothing"), tier, {"nothing": lambda: None}) is None


@pytest.mark.parametrize("tier", TIERS)
def test_values_round_trip(tier: str) -> None:
    received: list[tuple] = []

    def echo(*args: object) -> object:
        received.append(args)
        return list(args)

    # echo([1, "a", empty, 2.5, false], {"k": [1, 2], "e": {}}, 7, -0.0, "héllo", true, empty)
    a = Asm()
    a.load(30, 5)
    a.op2(NEW_ARRAY_R, 1, 30)  # r1 = 5 empties
    for i, v in enumerate([1, "a", None, 2.5, False]):
        if v is None:
            continue  # element stays empty
        a.load(31, i)
        a.load(32, v)
        a.op3(ARRAY_SET_R, 1, 31, 32)
    a.code.append(bytes([DICT_NEW_R, 2]))
    a.load(30, 2)
    a.op2(NEW_ARRAY_R, 3, 30)  # r3 = [empty, empty]
    for i in range(2):
        a.load(31, i)
        a.load(32, i + 1)
        a.op3(ARRAY_SET_R, 3, 31, 32)  # r3 = [1, 2]
    a.load(31, "k")
    a.op3(DICT_SET_R, 2, 31, 3)  # r2["k"] = r3
    a.code.append(bytes([DICT_NEW_R, 4]))  # r4 = {}
    a.load(31, "e")
    a.op3(DICT_SET_R, 2, 31, 4)
    a.load(3, 7)
    a.load(4, -0.0)
    a.load(5, "héllo")
    a.load(6, True)
    a.load(20, "echo")
    a.call(20, 0, 1, 2, 3, 4, 5, 6, 7)  # r7 was never written: empty
    a.ret(0)
    expected = [[1, "a", None, 2.5, False], {"k": [1, 2], "e": {}}, 7, -0.0, "héllo", True, None]
    got = run(a.bytes(), tier, {"echo": echo})
    assert got == expected
    assert math.copysign(1.0, got[3]) == -1.0
    assert received == [tuple(expected)]
    assert [type(x) for x in received[0]] == [list, dict, int, float, str, bool, type(None)]
    # A tuple comes back as a list, a dict keeps its order.
    got = run(call_program("give", 1), tier, {"give": lambda _x: (1, ("a", None), {"z": 1, "a": 2})})
    assert got == [1, ["a", None], {"z": 1, "a": 2}]
    assert list(got[2]) == ["z", "a"]


@pytest.mark.parametrize("tier", TIERS)
def test_register_before_and_after_load_bytes(tier: str) -> None:
    prog = call_program("plus_one", 41)
    before = RustVM(tier)
    before.register_function("plus_one", lambda x: x + 1)
    before.load_bytes(prog)
    assert before.execute() == 42

    after = RustVM(tier)
    after.load_bytes(prog)
    with pytest.raises(RuntimeError, match="(?i)undefined function"):
        after.execute()
    after.register_function("plus_one", lambda x: x + 1)
    assert after.execute() == 42
    # A second registration replaces the first, also after loading.
    after.register_function("plus_one", lambda x: x + 100)
    assert after.execute() == 141


def test_non_callable_is_a_type_error() -> None:
    vm = RustVM()
    for bad in [42, "len", None, [len]]:
        with pytest.raises(TypeError):
            vm.register_function("f", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("tier", TIERS)
def test_python_function_overrides_a_builtin(tier: str) -> None:
    prog = call_program("len", "abc")
    assert run(prog, tier) == 3
    assert run(prog, tier, {"len": lambda s: -len(s)}) == -3
    # In a hot loop too (the compiled tier must not inline the builtin len).
    assert run(loop_program("len", 3000), tier, {"len": lambda x: 1}) == 3000


@pytest.mark.parametrize("tier", TIERS)
def test_arity(tier: str) -> None:
    vm = RustVM(tier)
    vm.register_function("pair", lambda a, b: [a, b], arity=2)
    vm.load_bytes(call_program("pair", 1, 2))
    assert vm.execute() == [1, 2]
    vm.load_bytes(call_program("pair", 1))
    with pytest.raises(RuntimeError, match="pair"):
        vm.execute()
    # Without an arity any count is passed on.
    vm.register_function("count", lambda *a: len(a))
    for n in [0, 1, 5]:
        vm.load_bytes(call_program("count", *range(n)))
        assert vm.execute() == n


def say_shout_say() -> bytes:
    """A program that says "a", calls shout("b") (which prints from Python), says "c"."""
    a = Asm()
    a.load(0, "a")
    a.say(0)
    a.load(1, "b")
    a.load(10, "shout")
    a.call(10, 2, 1)
    a.load(3, "c")
    a.say(3)
    a.ret()
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_callable_may_print(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(say_shout_say(), tier, {"shout": lambda s: print(s)})
    assert sorted(capsys.readouterr().out.splitlines()) == ["a", "b", "c"]


@pytest.mark.parametrize("tier", TIERS)
def test_callable_output_keeps_its_place(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(say_shout_say(), tier, {"shout": lambda s: print(s)})
    assert capsys.readouterr().out == "a\nb\nc\n"


def test_callable_reentering_the_vm_is_an_error_not_a_crash() -> None:
    vm = RustVM()

    def again(_x: object) -> int:
        vm.execute()
        return 1

    vm.register_function("again", again)
    vm.load_bytes(call_program("again", 1))
    with pytest.raises(RuntimeError):
        vm.execute()
    vm.register_function("again", lambda x: x)
    assert vm.execute() == 1


def _nested(depth: int, leaf: object) -> list:
    """`[[...[leaf]...]]`, `depth` lists deep, built without recursion."""
    root: list = []
    cur = root
    for _ in range(depth - 1):
        inner: list = []
        cur.append(inner)
        cur = inner
    cur.append(leaf)
    return root


def _depth_and_leaf(x: object) -> tuple[int, object]:
    """How many lists deep `x` is along first elements, and what is at the bottom."""
    n = 0
    while isinstance(x, list):
        n += 1
        x = x[0]
    return n, x


@pytest.mark.parametrize("tier", TIERS)
def test_deep_values_cross_between_python_and_programs_without_recursion(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A host function returns a value 200,000 lists deep, another receives it, and execute()
    # returns it: each conversion walks it without recursing on the native stack.
    deep = _nested(200_000, 7)
    a = Asm()
    a.load(0, "make")
    a.call(0, 1)
    a.load(2, "measure")
    a.call(2, 3, 1)
    a.say(3)
    a.ret(1)
    vm = RustVM(tier)
    vm.register_function("make", lambda: deep)
    vm.register_function("measure", lambda x: "%d %r" % _depth_and_leaf(x))
    vm.load_bytes(a.bytes())
    got = vm.execute()
    assert capsys.readouterr().out == "200000 7\n"
    assert _depth_and_leaf(got) == (200_000, 7)


@pytest.mark.parametrize("tier", TIERS)
def test_a_value_that_contains_itself_is_refused(tier: str) -> None:
    loop: list = [1]
    loop.append(loop)
    d: dict = {"a": [2]}
    d["a"].append(d)
    for bad in (loop, d):
        a = Asm()
        a.load(0, "make")
        a.call(0, 1)
        a.ret(1)
        vm = RustVM(tier)
        vm.register_function("make", lambda: bad)
        vm.load_bytes(a.bytes())
        with pytest.raises(RuntimeError, match="contains itself"):
            vm.execute()


def process_program(n: int) -> bytes:
    """Main spawns `worker(i)` for i in 0..n-1, each calling the host function `twice` on its
    argument and sending the result to main; main prints and adds up what it receives."""
    a = Asm()
    a.load(0, 0)  # i
    a.load(1, n)
    a.load(2, 1)
    a.load(3, 0)  # sum
    a.op3(EQ_R, 4, 0, 1)  # 4: spawn loop head
    a.jump_if_not(4, 1)  # -> body
    a.jump(5)  # -> receive loop
    a.load(5, "worker")  # 7: body
    a.load(9, "spawn")
    a.call(9, 6, 5, 0)
    a.op3(ADD_R, 0, 0, 2)
    a.jump(-8)  # -> 4
    a.load(0, 0)  # 12: receive loop
    a.op3(EQ_R, 4, 0, 1)  # 13: head
    a.jump_if_not(4, 1)  # -> body
    a.jump(6)  # -> end
    a.load(9, "receive")  # 16: body
    a.call(9, 7)
    a.say(7)
    a.op3(ADD_R, 3, 3, 7)
    a.op3(ADD_R, 0, 0, 2)
    a.jump(-9)  # -> 13
    a.ret(3)  # 22: end
    a.func("worker")  # r0: its number
    a.load(9, "twice")
    a.call(9, 1, 0)
    a.load(2, 0)
    a.load(9, "send")
    a.call(9, 3, 2, 1)
    a.ret()
    return a.bytes()


@pytest.mark.parametrize("tier", TIERS)
def test_host_functions_are_called_from_every_process(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[int] = []

    def twice(x: int) -> int:
        seen.append(x)
        return 2 * x

    # execute() runs the scheduler until main ends: the workers run in the order they were
    # spawned, each to its end (main blocks in `receive` before any of them runs).
    assert run(process_program(5), tier, {"twice": twice}) == 20
    assert seen == [0, 1, 2, 3, 4]
    assert capsys.readouterr().out == "0\n2\n4\n6\n8\n"


@pytest.mark.parametrize("tier", TIERS)
def test_stats_count_processes_and_list_failures_of_unlinked_ones(tier: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Five workers: the third's host function raises, which ends that worker only (no link);
    # main then waits for four messages, not five.
    def twice(x: int) -> int:
        if x == 2:
            raise ValueError("two is not allowed")
        return 2 * x

    vm = RustVM(tier)
    vm.register_function("twice", twice)
    data = process_program(5)
    vm.load_bytes(data)
    with pytest.raises(RuntimeError, match="deadlock|every process is blocked"):
        vm.execute()
    stats = vm.stats()["processes"]
    assert stats["spawned"] == 5
    assert stats["messages"] == 4
    assert stats["slices"] >= 6 and stats["context_switches"] >= 5
    failures = stats["failures"]
    assert [pid for pid, _ in failures] == [3]
    assert "two is not allowed" in failures[0][1] and "worker" in failures[0][1]
    out = capsys.readouterr().out
    assert sorted(out.split()) == ["0", "2", "6", "8"]
