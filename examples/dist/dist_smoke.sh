#!/bin/sh
# examples/dist/dist_smoke.sh — task_master with task_worker and pool_worker over a
# redis-server of its own.
#
#   sh dist_smoke.sh TASK_MASTER TASK_WORKER POOL_WORKER [--smoke]
#
# The meson test "dist_task_master_worker" (suite examples). Starts
# redis-server on a Unix socket in a temporary directory (exit 77 = skipped
# when there is no redis-server), one task_worker and one pool_worker, then
# the master, which submits 200 squares and checks every result. The
# programs' connect retries with backoff until the server is up, so nothing
# here sleeps. Exit status non-zero if anything is wrong.
set -eu
master=$1
worker=$2
pool_worker=$3
smoke=${4:-}

if ! command -v redis-server >/dev/null 2>&1; then
    echo "dist_smoke.sh: redis-server not installed: skipped" >&2
    exit 77
fi
dir=$(mktemp -d)
sock="$dir/redis.sock"
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" &
redis_pid=$!
worker_pid=
pool_pid=
cleanup() {
    [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null || true
    [ -n "$pool_pid" ] && kill "$pool_pid" 2>/dev/null || true
    kill "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

"$worker" --unix "$sock" --concurrency 8 $smoke > "$dir/worker.log" 2>&1 &
worker_pid=$!
"$pool_worker" --unix "$sock" $smoke > "$dir/pool_worker.log" 2>&1 &
pool_pid=$!
status=0
"$master" --unix "$sock" --tasks 200 $smoke || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- worker log"; cat "$dir/worker.log"
    echo "--- pool_worker log"; cat "$dir/pool_worker.log"
    echo "--- redis log"; cat "$dir/redis.log"
fi
exit "$status"
