#!/usr/bin/env bash
# Same-run comparison of two mdvm binaries on one program: whole processes, alternating old and
# new run by run, each timed by `perf stat -e task-clock` (CPU time of the process, less
# sensitive than wall time to the other core's load). Prints the median of each in ms and their
# ratio. This is the loop BENCHMARKS.md calls `abm.sh`.
#
#   bash scripts/bench-task-clock.sh OLD_MDVM NEW_MDVM FILE.mdbc [RUNS] [TIER]
#
# RUNS defaults to 15, TIER (interp, jit, auto) to auto. The programs of bench-compare are left
# in target/bench-peers/ by `cargo run --release -p mdvm-benches --bin bench-compare`.
set -euo pipefail
old=$1 new=$2 f=$3 n=${4:-15} t=${5:-auto}
for i in $(seq 1 "$n"); do
  for w in old new; do
    b=${!w}
    ms=$(perf stat -x, -e task-clock "$b" run --tier "$t" "$f" 2>&1 >/dev/null | grep task-clock | cut -d, -f1)
    echo "$w $ms"
  done
done | python3 -c "
import sys, statistics
d = {'old': [], 'new': []}
for line in sys.stdin:
    w, v = line.split()
    d[w].append(float(v))
o, n = statistics.median(d['old']), statistics.median(d['new'])
print('$f', '$t', 'old %.1f new %.1f ms  new/old %.3f' % (o, n, n / o))
"
