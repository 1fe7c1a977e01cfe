#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh — one fuzz target for a fixed time (the meson test).
#   run_fuzz.sh BINARY SEED_DIR WORK_DIR SECONDS [libFuzzer flags...]
# WORK_DIR (in the build tree) is emptied and receives the inputs libFuzzer
# finds; SEED_DIR (in the source tree) is only read. Crash, leak, OOM and
# timeout artifacts go to WORK_DIR/artifacts/. Exits non-zero on any of them.
set -euo pipefail
binary=$1 seeds=$2 work=$3 seconds=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
exec "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
