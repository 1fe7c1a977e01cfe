#!/usr/bin/env bash
# scripts/test.sh — install what is missing, build ringlet, run the whole test
# suite: every test on io_uring, then again on the epoll fallback, then the
# suites under AddressSanitizer + UBSan, the runtime, threads and ipc suites
# under ThreadSanitizer, every fuzz target for a fixed budget, and the
# comparison's smoke mode. Ends with "N passed, N failed".
#   bash scripts/test.sh                  all of the above
#   bash scripts/test.sh --quick          default build and backend only
#   bash scripts/test.sh --no-tsan        skip the ThreadSanitizer pass
#   bash scripts/test.sh --fuzz-seconds N each fuzz target runs N s (default 30; 0 skips)
#   bash scripts/test.sh --soak MINUTES   also the soak run (tests/soak: echo load,
#                                         pool faults, queue kills and Manager churn
#                                         together; fds, threads, RSS flat)
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
tsan=1
fuzz_seconds=30
soak_minutes=0
usage() {
    echo "usage: $0 [--quick] [--no-tsan] [--fuzz-seconds N] [--soak MINUTES]" >&2
    exit 2
}
while (($# > 0)); do
    case $1 in
        --quick) quick=1 ;;
        --tsan) tsan=1 ;;  # the default now; kept for old command lines
        --no-tsan) tsan=0 ;;
        --fuzz-seconds) (($# > 1)) || usage; fuzz_seconds=$2; shift ;;
        --soak) (($# > 1)) || usage; soak_minutes=$2; shift ;;
        *) usage ;;
    esac
    shift
done
if ((quick)); then
    tsan=0
    fuzz_seconds=0
fi

bash scripts/deps.sh --test || exit 1

passed=0
failed=0
skipped=0
status=0
failures=()  # "label: test" for each failed or timed-out test, printed at the end

# configure BUILD_DIR MESON_ARGS...
configure() {
    local dir=$1
    shift
    if [[ ! -f $dir/build.ninja ]]; then
        meson setup "$dir" "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" || return 1
}

# run_suite LABEL BUILD_DIR MESON_TEST_ARGS...
run_suite() {
    local label=$1 dir=$2
    shift 2
    echo "=== $label"
    local log
    log=$(mktemp)
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local ok fail skip
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -n1)
    fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -n1)
    skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -n1)
    local timeout_count
    timeout_count=$(awk '/^Timeout:/ {print $2}' "$log" | tail -n1)
    local name
    while read -r name; do
        failures+=("$label: $name")
    done < <(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$log" | tr -s ' ' | sed 's/^ //')
    rm -f "$log"
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${fail:-0} + ${timeout_count:-0}))
    skipped=$((skipped + ${skip:-0}))
    if [[ $rc -ne 0 ]]; then
        status=1
        [[ -z $fail || $fail == 0 ]] && failed=$((failed + 1))
    fi
}

if configure build-test --buildtype=debugoptimized -Dtests=enabled -Dexamples=enabled \
        -Dbenchmarks=enabled; then
    run_suite "io_uring backend" build-test
    if [[ $quick -eq 0 ]]; then
        run_suite "epoll backend" build-test --setup=epoll
    fi
else
    echo "build failed" >&2
    status=1
    failed=$((failed + 1))
fi

if [[ $quick -eq 0 ]]; then
    if configure build-asan --buildtype=debug -Dsanitize=address,undefined -Dtests=enabled \
            -Dexamples=disabled -Dbenchmarks=disabled; then
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            run_suite "AddressSanitizer + UBSan" build-asan
    else
        status=1
        failed=$((failed + 1))
    fi
fi

if [[ $tsan -eq 1 ]]; then
    # The runtime, threads and ipc suites only: they are where threads and
    # processes meet; building the rest under TSan would double the run.
    if [[ -f build-tsan/build.ninja ]] ||
            meson setup build-tsan --buildtype=debug -Dsanitize=thread -Dtests=enabled \
                -Dexamples=disabled -Dbenchmarks=disabled >/dev/null; then
        mapfile -t tsan_targets < <(meson introspect build-tsan --tests | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if {s.split(":")[-1] for s in t["suite"]} & {"runtime", "threads", "ipc"}:
        print(os.path.relpath(t["cmd"][0], "build-tsan"))')
        if ninja -C build-tsan "${tsan_targets[@]}"; then
            run_suite "ThreadSanitizer (runtime, threads, ipc)" build-tsan --no-rebuild \
                --suite runtime --suite threads --suite ipc
        else
            status=1
            failed=$((failed + 1))
        fi
    else
        status=1
        failed=$((failed + 1))
    fi
fi

# The fuzz targets (tests/fuzz, clang's libFuzzer), each for a fixed budget.
if ((fuzz_seconds > 0)); then
    echo "=== fuzz targets, ${fuzz_seconds} s each"
    log=$(mktemp)
    bash scripts/fuzz.sh "$fuzz_seconds" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
    while read -r name; do
        failures+=("fuzz: $name")
    done < <(awk '/^fuzz: .* FAILED/ {print $2}' "$log")
    rm -f "$log"
    fuzz_ok=$(awk '{print $1}' <<<"$line")
    fuzz_fail=$(awk '{print $3}' <<<"$line")
    passed=$((passed + ${fuzz_ok:-0}))
    failed=$((failed + ${fuzz_fail:-0}))
    if [[ $rc -ne 0 ]]; then
        status=1
        [[ -z $fuzz_fail || $fuzz_fail == 0 ]] && failed=$((failed + 1))
    fi
fi

if ((soak_minutes > 0)); then
    echo "=== soak, $soak_minutes min"
    if ninja -C build-test tests/soak/soak && build-test/tests/soak/soak "$soak_minutes"; then
        passed=$((passed + 1))
    else
        status=1
        failed=$((failed + 1))
    fi
fi

# The coroutine / thread / process comparison (bench/compare): build it and run
# every model once at tiny sizes (compare.py --smoke: a few seconds).
echo "=== bench/compare --smoke"
if ninja -C build-test bench/compare/compare_models >/dev/null &&
        python3 bench/compare/compare.py --smoke --quiet --build build-test \
            --out build-test/compare-smoke; then
    passed=$((passed + 1))
else
    echo "bench/compare --smoke failed" >&2
    failures+=("bench/compare --smoke")
    status=1
    failed=$((failed + 1))
fi

echo
if ((${#failures[@]} > 0)); then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
