#!/usr/bin/env bash
# bench/ps/ps_compare.sh — listing every process: ringlet::ps vs python3-psutil.
#
# DESIGN.md's budget: "ps process listing at least 5x psutil". Both sides list
# every process with name, exe, cwd, ppid, status, rss and thread count (the
# columns of the Python processInfo() table): ringlet through bench/ps/ps_list
# (process_iter() and the accessors), Python through
# psutil.process_iter(attrs=[...]) (which reads the fields under oneshot()).
# Each side runs REPEAT listings in one process and keeps the best; the two
# alternate ROUNDS times so that background load hits both alike. Prints
# seconds per listing and the ratio psutil / ringlet.
#
# It builds nothing: build first (ninja -C BUILD bench/ps/ps_list), then
#   bench/ps/ps_compare.sh [BUILD_DIR]      # default: build
# Environment: REPEAT (listings per run, default 20), ROUNDS (default 3),
# PYTHON (a python3 with psutil; default: the first of python3, /usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
list=$build/bench/ps/ps_list
repeat=${REPEAT:-20}
rounds=${ROUNDS:-3}
[ -x "$list" ] || { echo "no $list: build it first" >&2; exit 1; }
python=${PYTHON:-}
if [ -z "$python" ]; then
    for p in python3 /usr/bin/python3; do
        if "$p" -c 'import psutil' 2>/dev/null; then python=$p; break; fi
    done
fi
[ -n "$python" ] || { echo "no python3 with psutil (apt-get install python3-psutil)" >&2; exit 77; }

psutil_list() {
    "$python" - "$repeat" <<'PY'
import sys, time, psutil
attrs = ["name", "exe", "cwd", "ppid", "status", "memory_info", "num_threads"]
best, n = 1e9, 0
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    n = sum(1 for p in psutil.process_iter(attrs))
    best = min(best, time.perf_counter() - t0)
print("psutil listings=%s processes=%d seconds_per_listing=%.6f" % (sys.argv[1], n, best))
PY
}

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
best_r=; best_p=
for _ in $(seq "$rounds"); do
    r=$("$list" "$repeat")
    p=$(psutil_list)
    rs=$(echo "$r" | field seconds_per_listing)
    ps=$(echo "$p" | field seconds_per_listing)
    [ -z "$best_r" ] || [ "$(echo "$rs < $best_r" | bc -l)" = 1 ] && best_r=$rs
    [ -z "$best_p" ] || [ "$(echo "$ps < $best_p" | bc -l)" = 1 ] && best_p=$ps
    nr=$(echo "$r" | field processes); np=$(echo "$p" | field processes)
done
printf '%-10s %10s %14s\n' side processes 'ms/listing'
printf '%-10s %10s %14.3f\n' ringlet "$nr" "$(echo "$best_r * 1000" | bc -l)"
printf '%-10s %10s %14.3f\n' psutil "$np" "$(echo "$best_p * 1000" | bc -l)"
printf 'ratio psutil/ringlet: %.1fx (target >= 5x)\n' "$(echo "$best_p / $best_r" | bc -l)"
