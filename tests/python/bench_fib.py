"""Recursive fib(30) through `python -m machine_dialect run` on mdvm and on the reference VM,
side by side in one run (alternating, so both see the same machine state).

    python tests/python/bench_fib.py --mdvm-python VENV1/bin/python --ref-python VENV2/bin/python

Both interpreters must have `machine-dialect==0.1.0a2`; the first with our wheel, the second
with the reference `machine-dialect-vm==0.1.0a2`. Prints a Markdown table of wall-clock times
(Python start-up and the frontend's import included, as a user sees it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "bench" / "fib30.md"
EXPECTED = b"fib(30) =\n832040\n"


def vm_version(python: str) -> str:
    code = "import importlib.metadata as m; print(m.version('machine-dialect-vm'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def timed_run(python: str, mdbc: Path, env_extra: dict[str, str] | None = None) -> float:
    import os

    env = dict(os.environ, **(env_extra or {}))
    t0 = time.perf_counter()
    r = subprocess.run([python, "-m", "machine_dialect", "run", str(mdbc)], capture_output=True, env=env)
    t = time.perf_counter() - t0
    if r.returncode != 0 or r.stdout != EXPECTED:
        sys.exit(f"{python}: exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mdvm-python", required=True)
    ap.add_argument("--ref-python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        mdbc = Path(tmp) / "fib30.mdbc"
        subprocess.run([args.ref_python, "-m", "machine_dialect", "compile", str(SOURCE), "-o", str(mdbc)],
                       check=True, capture_output=True)
        rows = [
            (f"reference VM ({vm_version(args.ref_python)})", args.ref_python, None),
            (f"mdvm, tier auto ({vm_version(args.mdvm_python)})", args.mdvm_python, {"MDVM_TIER": "auto"}),
            ("mdvm, tier interp", args.mdvm_python, {"MDVM_TIER": "interp"}),
            ("mdvm, tier jit", args.mdvm_python, {"MDVM_TIER": "jit"}),
        ]
        # Python start-up plus importing the frontend: the floor under every row.
        floor = []
        times: dict[str, list[float]] = {name: [] for name, _, _ in rows}
        for _ in range(args.runs):
            for name, py, env in rows:
                times[name].append(timed_run(py, mdbc, env))
            t0 = time.perf_counter()
            subprocess.run([args.mdvm_python, "-c", "import machine_dialect.__main__, machine_dialect_vm"], check=True)
            floor.append(time.perf_counter() - t0)

    ref = statistics.median(times[rows[0][0]])
    print(f"| VM | median of {args.runs} (s) | min (s) | reference / this |")
    print("|---|---:|---:|---:|")
    for name, _, _ in rows:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.3f} | {min(times[name]):.3f} | {ref / med:.1f}x |")
    print(f"| (start-up floor: python + import of frontend and module) | {statistics.median(floor):.3f} | {min(floor):.3f} | |")


if __name__ == "__main__":
    main()
