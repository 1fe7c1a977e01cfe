#!/usr/bin/env bash
# scripts/demo.sh — install what is missing, build ringlet, run the demonstration.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build=build-demo
if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" --buildtype=release -Dtests=disabled -Dbenchmarks=disabled -Dexamples=enabled
fi
ninja -C "$build" examples/demo
"$build/examples/demo" "$@"
