#!/usr/bin/env python3
"""Writes a generated .mdasm program with many registers live across many guards, the shape
whose side exits used to dominate compile time (BENCHMARKS.md, *Compile time linear in the
body*).

    python3 scripts/gen-wide-program.py FUNCTIONS PAIRS REGISTERS > wide.mdasm
    mdvm asm wide.mdasm -o wide.mdbc
    /usr/bin/time -f "%e s %M KB" mdvm run --tier jit wide.mdbc

`main` calls FUNCTIONS functions once each; each sets REGISTERS-1 int registers from its
argument, then runs PAIRS `ADD_R`/`SUB_R` pairs across them (each an overflow guard with all of
them live) and returns one. `250 500 8` gives the 1 MB program of the figures.
"""
import sys

functions, pairs, registers = (int(a) for a in sys.argv[1:4])
out = [".module wide", "        LOAD_CONST_R r1, int 1"]
for f in range(functions):
    out.append(f'        LOAD_CONST_R r0, str "f{f}"')
    out.append("        CALL_R r0, r2, r1")
out += ["        DEBUG_PRINT r2", "        RETURN_R"]
for f in range(functions):
    out += ["", f".func f{f}"]
    for r in range(1, registers):
        out.append(f"        ADD_R r{r}, r0, r0")
    for i in range(pairs):
        a = 1 + i % (registers - 1)
        b = 1 + (i * 7 + 3) % (registers - 1)
        out.append(f"        ADD_R r{a}, r{a}, r{b}")
        out.append(f"        SUB_R r{a}, r{a}, r{b}")
    out.append("        RETURN_R r1")
print("\n".join(out))
