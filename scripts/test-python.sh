#!/usr/bin/env bash
# Python end-to-end tests of the `machine_dialect_vm` wheel (crates/mdvm-python).
#
# Builds the wheel with maturin (release profile, sharing target/ with the rest of the
# workspace), installs it into a fresh virtual environment together with the real frontend
# `machine-dialect==0.1.0a2` from PyPI (the wheel satisfies its `machine-dialect-vm==0.1.0a2`
# pin, so pip takes ours instead of the reference VM), and runs pytest on tests/python.
# Needs CPython >= 3.10 with venv and pip, network access to PyPI, and the Rust toolchain.
#
#   PYTHON=python3.11 bash scripts/test-python.sh [pytest args...]
#
# MDVM_PY_PROFILE=dev builds the wheel with the debug profile instead (faster to build when the
# release artifacts are cold; the programs then run slower).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=target/python/venv
WHEELS=target/python/wheels

echo "== fresh venv ($VENV) with maturin"
rm -rf "$VENV" "$WHEELS"
"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"

echo "== build the wheel"
"$VENV/bin/maturin" build --profile "${MDVM_PY_PROFILE:-release}" --locked --quiet -m crates/mdvm-python/Cargo.toml \
    --interpreter "$PY" -o "$WHEELS"
WHEEL=$(ls "$WHEELS"/machine_dialect_vm-*.whl)

echo "== install the frontend on it: pip install machine-dialect==0.1.0a2 $WHEEL"
"$PY" -m pip install --quiet --disable-pip-version-check pytest "machine-dialect==0.1.0a2" "$WHEEL"
"$PY" -m pip check

echo "== pytest tests/python"
cd tests/python
exec "../../$PY" -m pytest -q -p no:cacheprovider "$@"
