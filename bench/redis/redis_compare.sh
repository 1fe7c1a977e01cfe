#!/bin/sh
# bench/redis/redis_compare.sh — ringlet::redis vs redis-benchmark and Celery, one run.
#
#   sh bench/redis/redis_compare.sh [BUILD_DIR]       (default: build)
#
# Starts a redis-server of its own (free port, temporary directory, no
# persistence), then against that one server:
#  1. SET/GET, 50 connections, no pipelining: redis-benchmark (-c 50 -n N -t
#     set,get) vs redis_bench on one ringlet thread (50 tasks, one connection
#     each); then the same with pipelines of 16 (-P 16).
#     Reported: requests/s and client CPU (user+system µs) per request; the
#     client CPU of redis-benchmark is measured by /usr/bin/time.
#  2. Trivial tasks: redis::TaskQueue with 2 worker processes vs Celery
#     (prefork, --concurrency 2) with Redis as broker and result backend:
#     tasks/s and the median end-to-end latency of one task.
# Environment: REQUESTS (default 200000), TASKS (default 20000),
# CELERY_TASKS (default 3000).
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
bench="$build/bench/redis/redis_bench"
requests=${REQUESTS:-200000}
tasks=${TASKS:-20000}
celery_tasks=${CELERY_TASKS:-3000}
[ -x "$bench" ] || { echo "build $bench first (ninja -C $build bench/redis/redis_bench)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server not installed" >&2; exit 77; }

dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid"
trap 'kill $(cat "$dir/redis.pid") 2>/dev/null; rm -rf "$dir"' EXIT
# Wait for the server (redis-cli retries the connection itself).
redis-cli -p "$port" --no-raw -r 50 -i 0.1 ping 2>/dev/null | grep -q PONG

echo "# redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), $(nproc) CPUs, $requests requests"
printf '%-34s %12s %16s\n' "client" "requests/s" "client CPU µs/req"

# redis-benchmark: "SET: 123456.79 requests per second"; CPU for both tests.
rb() {  # $1 = pipeline
    /usr/bin/time -f '%U %S' -o "$dir/time" \
        redis-benchmark -p "$port" -c 50 -n "$requests" -t set,get -P "$1" -q > "$dir/rb" 2>/dev/null
    cpu=$(awk '{print $1 + $2}' "$dir/time")
    for op in SET GET; do
        rps=$(tr '\r' '\n' < "$dir/rb" | grep "^$op:" | tail -1 | awk '{print $2}')
        # CPU split between SET and GET in proportion to their time.
        printf '%-34s %12.0f %16.3f\n' "redis-benchmark $op -P $1" "$rps" \
            "$(echo "$cpu $requests" | awk '{print $1 / (2 * $2) * 1e6}')"
    done
}
rl() {  # $1 = pipeline
    "$bench" setget --port "$port" --connections 50 --requests "$requests" --pipeline "$1" |
        while read -r op rps cpu; do
            printf '%-34s %12.0f %16.3f\n' "ringlet (1 thread) $op -P $1" "$rps" "$cpu"
        done
}
rb 1; rl 1; rb 16; rl 16

echo
echo "# trivial tasks, 2 worker processes"
printf '%-34s %12s %16s\n' "task queue" "tasks/s" "1-task latency µs"
"$bench" tasks --port "$port" --tasks "$tasks" --workers 2 --concurrency 16 > "$dir/rt"
printf '%-34s %12.0f %16.0f\n' "ringlet redis::TaskQueue" \
    "$(awk '/^TASKS/ {print $2}' "$dir/rt")" "$(awk '/^LATENCY_US/ {print $2}' "$dir/rt")"
redis-cli -p "$port" flushall > /dev/null
if /usr/bin/python3 -c 'import celery, redis' 2>/dev/null; then
    /usr/bin/python3 "$here/celery_bench.py" "$port" "$celery_tasks" > "$dir/ct"
    printf '%-34s %12.0f %16.0f\n' "Celery 5 (Redis broker, prefork 2)" \
        "$(awk '/^TASKS/ {print $2}' "$dir/ct")" "$(awk '/^LATENCY_US/ {print $2}' "$dir/ct")"
else
    echo "Celery: python3-celery / python3-redis not installed, skipped"
fi
