"""mdvm, a JIT-compiling VM for Machine Dialect™ bytecode (drop-in ``machine_dialect_vm``)."""

import os
from typing import Any, Callable, Literal, TypedDict

__version__: str

Tier = Literal["auto", "interp", "jit"]

class JitStats(TypedDict):
    functions_compiled: int
    osr_compiled: int
    compile_seconds: float
    recompilations: int
    compile_failures: int
    over_budget: int
    written_through: int
    native_entries: int
    osr_entries: int
    deopts: dict[str, int]

class ProcessStats(TypedDict):
    spawned: int
    messages: int
    slices: int
    context_switches: int
    failures: list[tuple[int, str]]

class Stats(TypedDict):
    tier: Tier
    fuel: int | None
    max_depth: int
    timeout: float | None
    max_memory: int | None
    loaded: bool
    instructions: int
    calls: dict[str, int]
    jit: JitStats | None
    processes: ProcessStats

class RustVM:
    """The mdvm virtual machine, with the reference VM's interface.

    Unset arguments come from the environment (``MDVM_TIER``, ``MDVM_FUEL``,
    ``MDVM_MAX_DEPTH``, ``MDVM_TIMEOUT``, ``MDVM_MAX_MEMORY``) or the defaults: tier ``"auto"``,
    no fuel limit, 10,000 frames, no time limit (``timeout``, in seconds, per ``execute()``),
    and a heap limit (``max_memory``, bytes) from the machine's memory, the cgroup and
    ``ulimit -v``; reaching it raises ``RuntimeError`` (out of memory).
    Every mdvm error is raised as ``RuntimeError``; bad arguments as ``ValueError``.
    ``jit_threshold`` is the call count at which ``"auto"`` compiles a function,
    ``osr_threshold`` the back-edge count at which a loop is entered by on-stack replacement
    (1: every loop at its first back-edge); both at least 1.
    ``trace`` (or ``MDVM_LOG``) writes traces to ``sys.stderr``: a comma-separated list of
    ``tiers`` (compiles, OSR entries, deopts with reasons), ``calls`` (calls and returns with
    values), ``instructions`` (each instruction with its operands) or ``all``; ``calls`` and
    ``instructions`` run the program in the interpreter.
    """

    def __init__(
        self,
        tier: Tier | None = None,
        *,
        fuel: int | None = None,
        max_depth: int | None = None,
        jit_threshold: int | None = None,
        osr_threshold: int | None = None,
        timeout: float | None = None,
        max_memory: int | None = None,
        trace: str | None = None,
    ) -> None: ...
    @property
    def max_memory(self) -> int | None: ...
    @property
    def tier(self) -> Tier: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def debug(self) -> bool: ...
    def set_debug(self, enabled: bool) -> None:
        """Trace every instruction executed, with its operands, to ``sys.stderr``, and after
        each ``execute()`` write mdvm's counters there (the program runs in the interpreter)."""
    def instruction_count(self) -> int:
        """Instructions executed since creation or the last ``reset()``."""
    def load_bytecode(self, path: str | os.PathLike[str]) -> None:
        """Load a ``.mdbc`` file (``RuntimeError`` if unreadable or invalid)."""
    def load_bytes(self, data: bytes | bytearray) -> None:
        """Load a module from ``.mdbc`` bytes (``RuntimeError`` if invalid)."""
    def execute(self) -> None | bool | int | float | str | list[Any] | dict[str, Any]:
        """Run the loaded program from its start; ``Say`` output goes to ``sys.stdout``.

        The GIL is released while the program runs; its output reaches ``sys.stdout`` as it
        goes (at least every 50 ms). Returns the program's result. Ctrl-C stops the program
        within about 50 ms and raises ``KeyboardInterrupt``; a passed ``timeout`` raises
        ``RuntimeError``. The VM may be used from any thread, one call at a time.
        """
    def reset(self) -> None:
        """Clear globals, feedback and counters; the program stays loaded."""
    def register_function(self, name: str, callable: Callable[..., Any], arity: int | None = None) -> None:
        """Let programs call ``callable`` by ``name`` (replacing a standard native of that name).

        Arguments and the result convert as ``execute()``'s result does (``None`` is empty);
        an exception, or a result of another type or an int outside 64 bits, ends the run with
        a ``RuntimeError`` naming it and the call's position. ``arity`` fixes the argument
        count. A program already loaded is loaded again. ``TypeError`` if not callable.
        """
    def stats(self) -> Stats:
        """Counters of the loaded program."""
