#!/usr/bin/env bash
# bench/run_all.sh — run every Google Benchmark program of bench/ and sum up.
#
#   bench/run_all.sh [BUILD_DIR] [extra --benchmark_* flags...]
#
# BUILD_DIR defaults to build-bench (meson setup build-bench --buildtype=release
# -Dtests=disabled -Dexamples=disabled). Each program runs REPS repetitions
# (default 3) of MIN_TIME seconds (default 0.2) and prints its own table and
# comparisons (medians of the repetitions); this script keeps each full output
# in BUILD_DIR/bench/<name>.txt and ends with every comparison line together.
# Exit status: 1 if a program failed, else 0 (missed targets are reported,
# not fatal: timings on a shared machine are noisy).
set -euo pipefail

build=build-bench
if [[ $# -gt 0 && $1 != --* ]]; then
    build=$1
    shift
fi
reps=${REPS:-3}
min_time=${MIN_TIME:-0.2}

programs=(task_switch_bench spawn_join_bench sleep_many_bench channel_bench threads/cross_thread_bench
          ipc/ipc_queue_bench)

summary=""
failed=0
for name in "${programs[@]}"; do
    exe=$build/bench/$name
    if [[ ! -x $exe ]]; then
        echo "run_all: $exe not built, skipped" >&2
        continue
    fi
    log=$build/bench/$(basename "$name").txt
    echo "=== $name"
    if ! "$exe" --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
            --benchmark_display_aggregates_only=true "$@" 2>&1 | tee "$log"; then
        echo "run_all: $name FAILED" >&2
        failed=1
        continue
    fi
    lines=$(sed -n '/^== ringlet: comparisons/,$p' "$log" | tail -n +2)
    summary+="$name"$'\n'"${lines:-  (no comparison lines; see $log)}"$'\n'
done

echo
echo "=== summary (medians of $reps repetitions; full output in $build/bench/*.txt)"
printf '%s' "$summary"
missed=$(printf '%s' "$summary" | grep -c 'MISSED' || true)
echo "targets missed: $missed"
exit $failed
