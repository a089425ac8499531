#!/usr/bin/env bash
# The whole test suite: unit and integration tests (debug build), the benchmark-size
# conformance programs in release mode with no fuel limit, and a build of the benchmarks.
# Installs nothing beyond the Rust toolchain it finds; run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's wall time is printed as it ends (CI's budget is judged on the total).
started=$SECONDS
step_started=$SECONDS
step_name=
step() {
    if [ -n "$step_name" ]; then
        echo "== [$((SECONDS - step_started)) s, $((SECONDS - started)) s total] done: $step_name"
    fi
    step_name="$1"
    step_started=$SECONDS
    [ -z "$1" ] || echo "== $1"
}

step "cargo test (debug): format, runtime, conformance, CLI, malformed files"
cargo test --locked

step "bench-asm conformance (release, no fuel limit)"
MDVM_BENCH_ASM=1 cargo test --locked --release -p mdvm-tests --test bench_asm_conformance -- --ignored

step "benchmarks build"
cargo build --locked --release -p mdvm-benches --benches --bins

step "fuzz targets, 60 seconds each"
bash scripts/fuzz-smoke.sh
step "Python module: build the wheel, frontend end-to-end tests"
bash scripts/test-python.sh
# The VM's crates and the generator's tests; under emulation a program costs about seven times
# what it does natively, so the generator checks the first 400 of its 2,000 seeded programs
# there (all 2,000 run natively above). The Python module and the benchmarks stay native.
step "aarch64: the Rust tests cross-built, run under qemu-aarch64"
MDVM_SEEDED_PROGRAMS=400 bash scripts/test-aarch64.sh \
    -p mdbc -p mdvm-runtime -p mdvm-jit -p mdvm -p mdvm-cli -p mdvm-tests -p mdvm-fuzzgen
step ""
