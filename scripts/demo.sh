#!/usr/bin/env bash
# scripts/demo.sh — install what is missing, build ringlet, and run the
# comparison of coroutines, threads and processes (bench/compare): the same
# workloads under ringlet tasks on one thread and on N threads, a thread per
# unit, a process per unit, ipc::ProcessPool and N processes of tasks, with
# Go, gevent, multiprocessing and Boost.Fiber alongside when installed. Prints
# the table and writes the chart (build-demo/compare-results/chart.png, .svg).
#
#   bash scripts/demo.sh           short mode: about a minute on 2 cores
#   bash scripts/demo.sh --full    the full sizes (io 10 000, spawn up to 100 000)
#   bash scripts/demo.sh --smoke   every model once at tiny sizes (seconds)
#   bash scripts/demo.sh --peers   install the peers first (golang-go,
#                                  python3-gevent, libboost-fiber-dev)
# Any other argument goes to bench/compare/compare.py (see its --help), e.g.
#   bash scripts/demo.sh --models tasks,threads,processes --workloads io,spawn
# The 10 000-sleeping-tasks demonstration is examples/demo (ninja -C build-demo examples/demo).
set -euo pipefail
cd "$(dirname "$0")/.."

deps=(--compare)
args=()
for arg in "$@"; do
    case $arg in
        --peers) deps+=(--peers) ;;
        *) args+=("$arg") ;;
    esac
done
bash scripts/deps.sh "${deps[@]}"

build=build-demo
if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" --buildtype=release -Dtests=disabled -Dexamples=disabled -Dbenchmarks=auto
elif python3 -c 'import json, sys; sys.exit(0 if any(o["name"] == "benchmarks" and o["value"] == "disabled"
                 for o in json.load(open(sys.argv[1]))) else 1)' "$build/meson-info/intro-buildoptions.json"; then
    meson configure "$build" -Dbenchmarks=auto  # an older build-demo: bench/compare lives under bench/
fi
targets=(bench/compare/compare_models)
if ninja -C "$build" -t query bench/compare/compare_fiber >/dev/null 2>&1; then
    targets+=(bench/compare/compare_fiber)
fi
ninja -C "$build" "${targets[@]}"
exec python3 bench/compare/compare.py --build "$build" --out "$build/compare-results" "${args[@]}"
