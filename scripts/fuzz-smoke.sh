#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets: differential, load, roundtrip) for
# FUZZ_SECONDS seconds (default 60), installing cargo-fuzz if it is missing. Uses the nightly
# toolchain when rustup has one, else the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs
# -Zsanitizer). A crash or a tier disagreement fails the script; libFuzzer leaves the input in
# fuzz/artifacts/TARGET/. Run from anywhere; builds go to fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

for target in differential load roundtrip; do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "corpus/$target"
    # -rss_limit_mb: generated programs are small; -timeout: one input may take at most 10s.
    nice cargo "${toolchain[@]}" fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
