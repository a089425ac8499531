"""A tiny `.mdbc` writer for the API tests, written from ARCHITECTURE.md, *The format* (independent of
mdvm's own encoder): enough opcodes to build programs that return each kind of value."""

from __future__ import annotations

import struct

# Opcode numbers (ARCHITECTURE.md, *The format*; crates/mdbc/src/isa.rs).
LOAD_CONST_R = 0
ADD_R, SUB_R, DIV_R = 7, 8, 10
EQ_R = 16
JUMP_R, JUMP_IF_NOT_R = 22, 24
CALL_R, RETURN_R = 25, 26
NEW_ARRAY_R, ARRAY_SET_R = 33, 35
DEBUG_PRINT = 37
HALT = 39
DICT_NEW_R, DICT_SET_R = 41, 43

EMPTY = object()  # the Empty constant


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return _u32(len(b)) + b


def _constant(c: object) -> bytes:
    if c is EMPTY:
        return b"\x05"
    if isinstance(c, bool):
        return b"\x04" + bytes([int(c)])
    if isinstance(c, int):
        return b"\x01" + struct.pack("<q", c)
    if isinstance(c, float):
        return b"\x02" + struct.pack("<d", c)
    if isinstance(c, str):
        return b"\x03" + _string(c)
    raise TypeError(c)


class Asm:
    """Builds one module: call the instruction methods, `func(name)` to start a function,
    then `bytes()`."""

    def __init__(self, name: str = "test") -> None:
        self.name = name
        self.consts: list[object] = []
        self.code: list[bytes] = []
        self.funcs: list[tuple[str, int]] = []

    def k(self, c: object) -> int:
        """The index of a new constant `c`."""
        self.consts.append(c)
        return len(self.consts) - 1

    def func(self, name: str) -> None:
        self.funcs.append((name, len(self.code)))

    def load(self, dst: int, c: object) -> None:
        self.code.append(bytes([LOAD_CONST_R, dst]) + struct.pack("<H", self.k(c)))

    def op3(self, op: int, a: int, b: int, c: int) -> None:
        self.code.append(bytes([op, a, b, c]))

    def op2(self, op: int, a: int, b: int) -> None:
        self.code.append(bytes([op, a, b]))

    def say(self, src: int) -> None:
        self.code.append(bytes([DEBUG_PRINT, src]))

    def ret(self, src: int | None = None) -> None:
        self.code.append(bytes([RETURN_R, 0]) if src is None else bytes([RETURN_R, 1, src]))

    def jump(self, off: int) -> None:
        self.code.append(bytes([JUMP_R]) + struct.pack("<i", off))

    def jump_if_not(self, cond: int, off: int) -> None:
        self.code.append(bytes([JUMP_IF_NOT_R, cond]) + struct.pack("<i", off))

    def call(self, func: int, dst: int, *args: int) -> None:
        self.code.append(bytes([CALL_R, func, dst, len(args), *args]))

    def bytes(self) -> bytes:
        name = _string(self.name)
        consts = _u32(len(self.consts)) + b"".join(_constant(c) for c in self.consts)
        funcs = _u32(len(self.funcs)) + b"".join(_string(n) + _u32(e) for n, e in self.funcs)
        code = _u32(len(self.code)) + b"".join(self.code)
        off = 28
        offsets = []
        for section in (name, consts, funcs):
            offsets.append(off)
            off += len(section)
        offsets.append(off)
        header = b"MDBC" + _u32(1) + _u32(1) + b"".join(_u32(o) for o in offsets)
        return header + name + consts + funcs + code


def returning(value: object) -> bytes:
    """A module whose main program builds `value` (None, bool, int, float, str, and lists and
    dicts of those, nested) in registers and returns it."""
    a = Asm()
    next_reg = [0]

    def reg() -> int:
        r = next_reg[0]
        next_reg[0] += 1
        assert r < 256, "value too large for the register file"
        return r

    def build(v: object) -> int:
        r = reg()
        if isinstance(v, list):
            size = reg()
            a.load(size, len(v))
            a.op2(NEW_ARRAY_R, r, size)
            for i, item in enumerate(v):
                idx = reg()
                a.load(idx, i)
                a.op3(ARRAY_SET_R, r, idx, build(item))
        elif isinstance(v, dict):
            a.code.append(bytes([DICT_NEW_R, r]))
            for key, item in v.items():
                kr = reg()
                a.load(kr, key)
                a.op3(DICT_SET_R, r, kr, build(item))
        else:
            a.load(r, EMPTY if v is None else v)
        return r

    a.ret(build(value))
    return a.bytes()
