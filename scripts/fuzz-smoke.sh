#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets: differential, limits, load, roundtrip) for
# FUZZ_SECONDS seconds (default 45), installing cargo-fuzz if it is missing. Uses the nightly
# toolchain when rustup has one, else the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs
# -Zsanitizer). Each target starts from its seeds (fuzz/seeds/TARGET, copied into the working
# corpus fuzz/corpus/TARGET). A crash or a tier disagreement fails the script; libFuzzer leaves
# the input in fuzz/artifacts/TARGET/. Run from anywhere; builds go to fuzz/target (load,
# roundtrip) and fuzz/target/generated (differential, limits: built without
# -sanitizer-coverage-trace-compares, see fuzz/README.md, *Speed*).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-45}"

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

for target in differential limits load roundtrip; do
    case "$target" in
        # Generated programs: the generator reads at most about 1,500 bytes of an input, and
        # -len_control=0 lets inputs have that size from the start.
        differential | limits)
            build=(--no-trace-compares --target-dir target/generated)
            options=(-max_len=4096 -len_control=0)
            ;;
        # Raw .mdbc bytes: the corpus files are up to 14 KB.
        *)
            build=()
            options=(-max_len=65536)
            ;;
    esac
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "corpus/$target"
    cp -r "seeds/$target/." "corpus/$target/"
    # -rss_limit_mb: ASan's quarantine alone holds 256 MB; -timeout: one input may take at most 10s.
    nice cargo "${toolchain[@]}" fuzz run "${build[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${options[@]}"
done
