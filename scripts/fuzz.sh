#!/usr/bin/env bash
# scripts/fuzz.sh — build the libFuzzer targets with clang and run each one.
#   bash scripts/fuzz.sh [SECONDS]     # SECONDS per target, default 30
# Configures build-fuzz (clang++, ASan+UBSan, -Dfuzz=enabled) if it does not
# exist, builds only the fuzz targets, runs every target of suite 'fuzz' for
# SECONDS, and ends with "N passed, N failed". Crash inputs are in
# build-fuzz/tests/fuzz/corpus-<target>/artifacts/. Installs nothing itself
# beyond scripts/deps.sh --test (clang, libclang-rt-dev).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi
bash scripts/deps.sh --test || exit 1
dir=build-fuzz
if [[ ! -f $dir/build.ninja ]]; then
    CXX=clang++ meson setup "$dir" --buildtype=debugoptimized -Dsanitize=address,undefined \
        -Dtests=disabled -Dexamples=disabled -Dbenchmarks=disabled -Dfuzz=enabled \
        -Dfuzz_seconds="$seconds" || exit 1
else
    meson configure "$dir" -Dfuzz=enabled -Dfuzz_seconds="$seconds" || exit 1
fi
targets=$(meson introspect "$dir" --targets |
    python3 -c 'import json,sys; print(" ".join(t["filename"][0] for t in json.load(sys.stdin) if t["name"].startswith("fuzz_") and t["type"] == "executable"))')
if [[ -z $targets ]]; then
    echo "fuzz.sh: no fuzz targets configured in $dir" >&2
    exit 1
fi
# Build only the fuzz targets (and the instrumented library they link).
ninja -C "$dir" -j"${JOBS:-2}" $(for t in $targets; do realpath --relative-to="$dir" "$t"; done) || exit 1
passed=0 failed=0 failed_names=()
for name in $(meson test -C "$dir" --list --suite fuzz --no-rebuild 2>/dev/null | sed 's/.* \/ //'); do
    if meson test -C "$dir" --no-rebuild --suite fuzz --print-errorlogs "$name" >/dev/null 2>&1; then
        passed=$((passed + 1))
        stats=$(grep -h "stat::number_of_executed_units\|stat::average_exec_per_sec" \
            "$dir/meson-logs/testlog.txt" | awk '{print $2}' | paste -sd' ')
        echo "fuzz: $name passed (executions, execs/s: ${stats:-?})"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "fuzz: $name FAILED (see $dir/meson-logs/testlog.txt and $dir/tests/fuzz/corpus-${name#fuzz_}/artifacts/)"
        tail -40 "$dir/meson-logs/testlog.txt"
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
