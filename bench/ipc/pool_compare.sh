#!/usr/bin/env bash
# bench/ipc/pool_compare.sh — ProcessPool vs Python's multiprocessing.Pool vs
# ringlet::blocking() threads: small-task throughput, round-trip latency, and
# map over 100 000 items with and without chunking, in one run.
#   bash bench/ipc/pool_compare.sh [build-dir] [--quick]
# Build first: meson setup build-bench --buildtype=release -Dtests=disabled && ninja -C build-bench
set -euo pipefail
build=${1:-build-bench}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/ipc/pool_bench
[[ -x $bin ]] || { echo "pool_compare: $bin not built (ninja -C $build bench/ipc/pool_bench)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "pool_compare: python3 is missing (apt-get install python3)" >&2; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(uname -r), $(nproc) CPUs; ringlet ProcessPool, blocking() threads, Python $(python3 -c 'import sys; print(sys.version.split()[0])') multiprocessing.Pool"
"$bin" "$@" | tee -a "$out"
python3 "$here/pool_bench.py" "$@" | tee -a "$out"

# Ratios: ProcessPool against each baseline (higher is better for ringlet).
awk '
  /^#/ { next }
  { v[$1 "," $2] = $3; u[$1] = $4; if (!seen[$1]++) order[n++] = $1 }
  END {
    printf "\n%-24s %12s %12s %12s %10s %10s\n", "workload", "pool", "blocking", "python", "vs python", "vs blocking"
    for (i = 0; i < n; i++) {
      w = order[i]; p = v[w ",pool"]; b = v[w ",blocking"]; y = v[w ",python"]
      better_high = (u[w] == "tasks/s")
      rp = (y == "" || p == 0) ? "-" : sprintf("%.1fx", better_high ? p / y : y / p)
      rb = (b == "" || p == 0) ? "-" : sprintf("%.1fx", better_high ? p / b : b / p)
      printf "%-24s %12s %12s %12s %10s %10s   (%s)\n", w, p, b, (y == "" ? "-" : y), rp, rb, u[w]
    }
  }' "$out"
