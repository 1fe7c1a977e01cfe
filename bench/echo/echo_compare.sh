#!/usr/bin/env bash
# bench/echo/echo_compare.sh — TCP echo on loopback: ringlet vs hand-written servers.
#
# DESIGN.md's budget: "TCP echo on loopback: at least the throughput of a
# hand-written single-thread epoll server and of a hand-written liburing
# server, at 1 to 500 connections." In one run this starts three servers on
# 127.0.0.1, each pinned to CPU 0:
#   ringlet  examples/net/echo_server     (one task per connection, serve())
#   epoll    bench/echo/epoll_echo        (baselines/epoll_echo.cpp)
#   uring    bench/echo/uring_echo        (baselines/uring_echo.cpp)
# and drives each with the load generator pinned to CPU 1, for 1, 50 and 500
# connections x 64 B and 4 KiB messages. The runs are interleaved (every
# server at one point, then the next point; REPEAT times, best run kept) so
# that drifting background load hits all three alike. It prints round trips/s
# with the ratios ringlet/epoll and ringlet/uring, then each server's CPU time
# per round trip: what the server spends, whether or not the client (which
# needs about as much CPU per round trip as the server) is the limit.
#
# It builds nothing: build first (ninja -C BUILD), then
#   bench/echo/echo_compare.sh [BUILD_DIR]        # default: build-bench, else build
# THREADS=N (default 1): ringlet's server runs --threads N (run_threads, one
# SO_REUSEPORT listener per thread) and every server and the client share CPUs
# 0..N-1; the baselines stay single-threaded, so run the script with THREADS=1
# and THREADS=2 to compare ringlet on one and two threads.
# Environment: DURATION (seconds per point, default 3), CONNECTIONS ("1 50 500"),
# SIZES ("64 4096"), REPEAT (runs per point, best kept; default 1), PORT_BASE
# (17100), CLIENT (path of the load generator; default examples/net/echo_client
# of the build; bench/echo/echo_load is a leaner one on raw liburing), NICE (e.g.
# -10: run servers and client at that priority, for a machine others share).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-}
if [[ -z $build ]]; then
    if [[ -d $root/build-bench ]]; then build=$root/build-bench; else build=$root/build; fi
fi
[[ $build = /* ]] || build=$PWD/$build

duration=${DURATION:-3}
connections=(${CONNECTIONS:-1 50 500})
sizes=(${SIZES:-64 4096})
repeat=${REPEAT:-1}
threads=${THREADS:-1}
server_cpus=0
client_cpus=1
if [[ $threads -gt 1 ]]; then
    server_cpus=0-$((threads - 1))
    client_cpus=$server_cpus
fi
port_base=${PORT_BASE:-17100}
client=${CLIENT:-$build/examples/net/echo_client}
run=()
[[ -z ${NICE:-} ]] || run=(nice -n "$NICE")

names=(ringlet epoll uring)
declare -A exe=(
    [ringlet]=$build/examples/net/echo_server
    [epoll]=$build/bench/echo/epoll_echo
    [uring]=$build/bench/echo/uring_echo
)
for f in "${exe[@]}" "$client"; do
    if [[ ! -x $f ]]; then
        echo "echo_compare: $f is missing; build first: ninja -C $build" >&2
        exit 1
    fi
done
if [[ $(nproc) -lt 2 ]]; then
    echo "echo_compare: needs 2 CPUs (server on CPU 0, client on CPU 1)" >&2
    exit 1
fi

# 500 connections need 500 fds in the client and the server: raise the limit.
hard=$(ulimit -Hn)
want=4096
if [[ $hard != unlimited && $hard -lt $want ]]; then want=$hard; fi
ulimit -n "$want"

declare -A pid port
times_file=$(mktemp)
cleanup() {
    for n in "${!pid[@]}"; do kill "${pid[$n]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$times_file" "$times_file".[01]
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {  # until something accepts on 127.0.0.1:$1
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "echo_compare: nothing listens on port $1" >&2
    return 1
}

i=0
for n in "${names[@]}"; do
    port[$n]=$((port_base + i))
    i=$((i + 1))
    extra=()
    [[ $n != ringlet || $threads -le 1 ]] || extra=(--threads "$threads")
    "${run[@]}" taskset -c "$server_cpus" "${exe[$n]}" --port "${port[$n]}" "${extra[@]}" >/dev/null &
    pid[$n]=$!
done
for n in "${names[@]}"; do wait_for_port "${port[$n]}"; done

cpu_ticks() {  # utime + stime of process $1, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)
children_cpu() {  # user + system seconds of this shell's waited-for children
    times >"$times_file"  # the builtin, in this shell: $(times) would ask a subshell
    awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } print s }' \
        "$times_file"
}

declare -A rate cpu_us client_cpu
echo "echo_compare: servers on CPU 0, $(basename "$client") on CPU 1, ${duration}s per run," \
     "best of $repeat"
echo "  build: $build"
for size in "${sizes[@]}"; do
    for conns in "${connections[@]}"; do
        for _ in $(seq "$repeat"); do
            for n in "${names[@]}"; do
                before=$(cpu_ticks "${pid[$n]}")
                children_cpu >"$times_file.0"
                line=$("${run[@]}" taskset -c "$client_cpus" "$client" --port "${port[$n]}" --connections "$conns" \
                           --size "$size" --seconds "$duration")
                after=$(cpu_ticks "${pid[$n]}")
                children_cpu >"$times_file.1"
                c0=$(<"$times_file.0") c1=$(<"$times_file.1")
                r=$(sed -n 's/.* \([0-9][0-9]*\) round trips\/s.*/\1/p' <<<"$line")
                trips=$(sed -n 's/.*: \([0-9][0-9]*\) round trips,.*/\1/p' <<<"$line")
                if [[ -z $r || -z $trips ]]; then
                    echo "echo_compare: could not parse the client's output: $line" >&2
                    exit 1
                fi
                printf '  %-7s %5s B x %3s conns: %s\n' "$n" "$size" "$conns" "${line#*: }"
                if [[ -n ${rate[$n,$size,$conns]:-} && $r -le ${rate[$n,$size,$conns]} ]]; then
                    continue  # keep the best run
                fi
                rate[$n,$size,$conns]=$r
                cpu_us[$n,$size,$conns]=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$trips" \
                    'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
                client_cpu[$n,$size,$conns]=$(awk -v a="$c0" -v b="$c1" -v n="$trips" \
                    'BEGIN { printf "%.2f", n ? (b - a) * 1e6 / n : 0 }')
            done
        done
    done
done

echo
echo "Round trips per second (higher is better); ratio >= 1.00 means ringlet is at least as fast"
printf '%-8s %6s %12s %12s %12s %14s %14s\n' size conns ringlet epoll uring ringlet/epoll ringlet/uring
for size in "${sizes[@]}"; do
    for conns in "${connections[@]}"; do
        ri=${rate[ringlet,$size,$conns]} ep=${rate[epoll,$size,$conns]} ur=${rate[uring,$size,$conns]}
        printf '%-8s %6s %12s %12s %12s %14s %14s\n' "$size B" "$conns" "$ri" "$ep" "$ur" \
            "$(awk -v a="$ri" -v b="$ep" 'BEGIN { printf "%.2f", a / b }')" \
            "$(awk -v a="$ri" -v b="$ur" 'BEGIN { printf "%.2f", a / b }')"
    done
done
echo
echo "CPU time per round trip, microseconds: each server (lower is better), and the client"
echo "driving it (when client us x rate ~ 1 s/s, the client's core was the limit, not the server)"
printf '%-8s %6s %12s %12s %12s %26s\n' size conns ringlet epoll uring "client(ringlet/epoll/uring)"
for size in "${sizes[@]}"; do
    for conns in "${connections[@]}"; do
        printf '%-8s %6s %12s %12s %12s %26s\n' "$size B" "$conns" "${cpu_us[ringlet,$size,$conns]}" \
            "${cpu_us[epoll,$size,$conns]}" "${cpu_us[uring,$size,$conns]}" \
            "${client_cpu[ringlet,$size,$conns]}/${client_cpu[epoll,$size,$conns]}/${client_cpu[uring,$size,$conns]}"
    done
done
