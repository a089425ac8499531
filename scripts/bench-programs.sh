#!/usr/bin/env bash
# Same-run comparison of programs on one mdvm binary (whole processes, the programs alternating
# run by run), for claims of the form "program A runs within X of program B".
#
#   bash scripts/bench-programs.sh MDVM RUNS "RUN OPTIONS" PROGRAM.mdbc...
#
# Prints each program's median wall time over RUNS runs in ms and its ratio to the first
# program's. Every run's output must equal the program's first run's; a difference fails.
# Example (the `len` native against ARRAY_LEN_R under the default tier):
#   cargo build --release -p mdvm-cli
#   bash scripts/bench-programs.sh target/release/mdvm 21 "--tier auto" \
#       tests/corpus/bench-asm/len_array.mdbc tests/corpus/bench-asm/len_native.mdbc
set -euo pipefail
mdvm=$1 runs=$2 opts=$3
shift 3
progs=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for ((r = 0; r < runs; r++)); do
    for i in "${!progs[@]}"; do
        s=$(date +%s%N)
        # shellcheck disable=SC2086
        "$mdvm" run $opts "${progs[$i]}" >"$tmp/out" 2>&1 || true
        e=$(date +%s%N)
        echo $(( (e - s) / 1000 )) >>"$tmp/t$i"
        if [ -f "$tmp/first$i" ]; then
            cmp -s "$tmp/out" "$tmp/first$i" || { echo "output of ${progs[$i]} changed between runs" >&2; exit 1; }
        else
            cp "$tmp/out" "$tmp/first$i"
        fi
    done
done
base=$(median <"$tmp/t0")
printf '%-48s %10s %8s\n' program median_ms ratio
for i in "${!progs[@]}"; do
    m=$(median <"$tmp/t$i")
    awk -v p="${progs[$i]}" -v m="$m" -v b="$base" 'BEGIN { printf "%-48s %10.2f %8.3f\n", p, m / 1000, m / b }'
done
