#!/usr/bin/env bash
# Recursive fib(30) through `python -m machine_dialect run` on mdvm and on the reference VM,
# side by side in one run (the figures in BENCHMARKS.md, "Python: fib(30) ...").
#
# Uses the venv scripts/test-python.sh built (target/python/venv: the frontend on our release
# wheel) and creates target/python/ref-venv with `machine-dialect==0.1.0a2` and the reference
# `machine-dialect-vm==0.1.0a2` from PyPI.  bash scripts/bench-python.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MDVM_PY=target/python/venv/bin/python
REF_VENV=target/python/ref-venv
[ -x "$MDVM_PY" ] || { echo "run scripts/test-python.sh first (it builds $MDVM_PY)" >&2; exit 2; }
if [ ! -x "$REF_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$REF_VENV"
    "$REF_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "machine-dialect==0.1.0a2"
fi
exec "$MDVM_PY" tests/python/bench_fib.py --mdvm-python "$MDVM_PY" --ref-python "$REF_VENV/bin/python" "$@"
