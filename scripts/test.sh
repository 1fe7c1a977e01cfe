#!/usr/bin/env bash
# scripts/test.sh — install what is missing, build ringlet, run the whole test
# suite: every test on io_uring, then again on the epoll fallback, then the
# runtime suites under AddressSanitizer + UBSan. Ends with "N passed, N failed".
#   bash scripts/test.sh            all of the above
#   bash scripts/test.sh --quick    default build and backend only
#   bash scripts/test.sh --tsan     also a ThreadSanitizer pass
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
tsan=0
for arg in "$@"; do
    case $arg in
        --quick) quick=1 ;;
        --tsan) tsan=1 ;;
        *) echo "usage: $0 [--quick] [--tsan]" >&2; exit 2 ;;
    esac
done

bash scripts/deps.sh --test || exit 1

passed=0
failed=0
skipped=0
status=0

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
    if configure build-tsan --buildtype=debug -Dsanitize=thread -Dtests=enabled \
            -Dexamples=disabled -Dbenchmarks=disabled; then
        run_suite "ThreadSanitizer" build-tsan
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
    status=1
    failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
