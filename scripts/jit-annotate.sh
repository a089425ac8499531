#!/usr/bin/env bash
# Where compiled code spends its time, instruction by instruction: runs `mdvm run [OPTIONS]
# FILE.mdbc` under `perf record`, with MDVM_JIT_CODE_DIR set so that the Cranelift tier writes
# each compiled function's machine code, and prints for each compiled function with samples
# its share of them and its disassembly (objdump) with the samples per instruction, the
# hottest first or in address order.
#
# Usage: scripts/jit-annotate.sh [--top N] [--mdvm PATH] FILE.mdbc [mdvm run options...]
#   --top N      print only the N hottest instructions of each function (default: all
#                instructions with samples, in address order, with 3 lines of context)
#   --mdvm PATH  the mdvm binary (default: target/release/mdvm, built if missing)
#
# Needs `perf` (linux-perf) and `objdump` (binutils); cranelift-jit writes the
# /tmp/perf-PID.map that names the compiled functions while perf records. Samples are
# attributed by perf to the instruction after a slow one (skid): read a hot line as "the
# instruction before it waits".
set -euo pipefail
cd "$(dirname "$0")/.."

top=0
mdvm=target/release/mdvm
while [[ $# -gt 0 ]]; do
    case "$1" in
        --top) top="$2"; shift 2 ;;
        --mdvm) mdvm="$2"; shift 2 ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
file="$1"; shift
for tool in perf objdump python3; do
    command -v "$tool" >/dev/null || { echo "jit-annotate: $tool is not installed" >&2; exit 1; }
done
if [[ ! -x "$mdvm" ]]; then
    cargo build --release -q -p mdvm-cli
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/code"
MDVM_JIT_CODE_DIR="$work/code" perf record -q -o "$work/perf.data" "$mdvm" run "$@" "$file" >/dev/null
pid_map="$(ls -t /tmp/perf-*.map 2>/dev/null | head -1 || true)"
[[ -n "$pid_map" ]] || { echo "jit-annotate: no /tmp/perf-PID.map was written" >&2; exit 1; }
perf script -i "$work/perf.data" -F ip,sym 2>/dev/null > "$work/samples.txt"

python3 - "$work" "$pid_map" "$top" <<'EOF'
import collections, os, subprocess, sys

work, pid_map, top = sys.argv[1], sys.argv[2], int(sys.argv[3])
starts = {}
for line in open(pid_map):
    addr, size, name = line.split(maxsplit=2)
    starts[name.strip()] = (int(addr, 16), int(size, 16))
total = 0
per_fn = collections.defaultdict(collections.Counter)
for line in open(os.path.join(work, "samples.txt")):
    parts = line.split()
    if not parts:
        continue
    total += 1
    if len(parts) < 2 or parts[1] not in starts:
        continue
    ip = int(parts[0], 16)
    start, _ = starts[parts[1]]
    per_fn[parts[1]][ip - start] += 1
print(f"{total} samples")
for name, hits in sorted(per_fn.items(), key=lambda kv: -sum(kv[1].values())):
    n = sum(hits.values())
    print(f"\n== {name}: {n} samples ({100.0 * n / max(total, 1):.1f}%)")
    code = os.path.join(work, "code", name + ".bin")
    if not os.path.exists(code):
        print("   (no machine code written for it)")
        continue
    dis = subprocess.run(["objdump", "-b", "binary", "-m", "i386:x86-64" if os.uname().machine == "x86_64" else "aarch64",
                          "-D", "--no-show-raw-insn", code], capture_output=True, text=True, check=True).stdout
    lines = []
    for l in dis.splitlines():
        head, _, rest = l.partition(":")
        try:
            lines.append((int(head.strip(), 16), rest.strip()))
        except ValueError:
            pass
    if top:
        for off, text in sorted(lines, key=lambda x: -hits.get(x[0], 0))[:top]:
            print(f"{hits.get(off, 0):6d}  {off:5x}: {text}")
        continue
    keep = set()
    for i, (off, _) in enumerate(lines):
        if hits.get(off):
            keep.update(range(max(0, i - 3), min(len(lines), i + 4)))
    last = None
    for i in sorted(keep):
        if last is not None and i != last + 1:
            print("   ...")
        off, text = lines[i]
        print(f"{hits.get(off, 0):6d}  {off:5x}: {text}")
        last = i
EOF
