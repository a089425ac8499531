#!/usr/bin/env bash
# Same-run comparison of two mdvm binaries on the corpus' bench-asm programs (whole processes,
# alternating old and new run by run), and the size of the machine code each compiles.
#
#   bash scripts/bench-ab.sh OLD_MDVM NEW_MDVM [RUNS] [TIERS...]
#
# RUNS (default 7) runs of each binary per program and tier; TIERS default to `jit auto`.
# Prints, per program and tier, the median wall time of each binary in ms, their ratio, and the
# machine code instructions each dumped (MDVM_JIT_DUMP; every compiled function summed).
# Both binaries must print the same output; a difference is reported and the script fails.
# PROGRAMS="while_sum fib_calls" limits the run to those programs (dict_workload alone takes
# about 15 s a run). NEW_ARGS="--timeout 10000" passes extra `mdvm run` flags to the new binary
# only (for example, to measure it with the safepoints of compiled code on).
# Build the old binary from another checkout, e.g.
#   git worktree add /tmp/old OLD_COMMIT && cargo build --release -p mdvm-cli --manifest-path /tmp/old/Cargo.toml
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 runs=${3:-7}
shift $(( $# < 3 ? $# : 3 ))
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(jit auto)
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
code_size() {
    MDVM_JIT_DUMP=1 "$1" run --tier "$2" "$3" 2>&1 >/dev/null |
        awk '/^; ---- machine code/{m=1; next} /^; ----/{m=0} m && /^  [a-z]/{c++} END{print c+0}'
}
status=0
printf '%-16s %-5s %9s %9s %6s %8s %8s\n' program tier old_ms new_ms new/old old_code new_code
for f in tests/corpus/bench-asm/*.mdbc; do
    name=$(basename "$f" .mdbc)
    if [ -n "${PROGRAMS:-}" ] && [[ " $PROGRAMS " != *" $name "* ]]; then
        continue
    fi
    for tier in "${tiers[@]}"; do
        # shellcheck disable=SC2086 # NEW_ARGS is a list of flags
        if ! cmp -s <("$old" run --tier "$tier" "$f" 2>&1) <("$new" run --tier "$tier" ${NEW_ARGS:-} "$f" 2>&1); then
            echo "$name $tier: the binaries print different output" >&2
            status=1
            continue
        fi
        a=() b=()
        for _ in $(seq "$runs"); do
            a+=("$(ms "$old" run --tier "$tier" "$f")")
            # shellcheck disable=SC2086
            b+=("$(ms "$new" run --tier "$tier" ${NEW_ARGS:-} "$f")")
        done
        ma=$(printf '%s\n' "${a[@]}" | median)
        mb=$(printf '%s\n' "${b[@]}" | median)
        printf '%-16s %-5s %9s %9s %6s %8s %8s\n' "$name" "$tier" "$ma" "$mb" \
            "$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", (a > 0 ? b / a : 0)}')" \
            "$(code_size "$old" "$tier" "$f")" "$(code_size "$new" "$tier" "$f")"
    done
done
exit $status
