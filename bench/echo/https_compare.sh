#!/usr/bin/env bash
# bench/echo/https_compare.sh — https_hello vs nginx with TLS (one worker) under wrk.
#
# DESIGN.md's budget: "HTTPS at least nginx with TLS".
# Makes one self-signed P-256 certificate (openssl req) and starts, on
# 127.0.0.1 and pinned to CPU 0, both with that certificate and key:
#   ringlet  examples/net/https_hello (one task per keep-alive connection,
#            OpenSSL driven over ringlet's sockets by net::TlsStream)
#   nginx    worker_processes 1, `listen ... ssl`, access_log off, keep-alive,
#            answering GET / with the same 14-byte body from its config
#            (`return 200`, nginx's cheapest path)
# Both run OpenSSL's defaults (TLS 1.3, TLS_AES_256_GCM_SHA384 with wrk's
# OpenSSL). Then `taskset -c 1 wrk -t1 -cN -dDs https://...` against each for
# N = 50 and 200 (interleaved, REPEAT times, best kept); prints requests/s,
# the ratio ringlet/nginx and each server's CPU time per request. Handshakes
# happen once per connection (keep-alive): this measures the record path.
#
# Builds nothing:
#   bench/echo/https_compare.sh [BUILD_DIR]       # default: build-bench, else build
# THREADS=N (default 1): https_hello --threads N against nginx with N workers.
# Environment: DURATION (seconds per run, default 5), CONNECTIONS ("50 200"),
# REPEAT (1), PORT_BASE (17300), NICE (e.g. -10).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-}
if [[ -z $build ]]; then
    if [[ -d $root/build-bench ]]; then build=$root/build-bench; else build=$root/build; fi
fi
[[ $build = /* ]] || build=$PWD/$build

duration=${DURATION:-5}
connections=(${CONNECTIONS:-50 200})
repeat=${REPEAT:-1}
threads=${THREADS:-1}
if [[ $threads -gt 1 ]]; then
    server_cpus=0-$((threads - 1))
    client=(taskset -c "$server_cpus" wrk -t"$threads")
else
    server_cpus=0
    client=(taskset -c 1 wrk -t1)
fi
port_base=${PORT_BASE:-17300}
http_hello=$build/examples/net/https_hello
run=()
[[ -z ${NICE:-} ]] || run=(nice -n "$NICE")
if [[ ! -x $http_hello ]]; then
    echo "https_compare: $http_hello is missing; build first: ninja -C $build" >&2
    exit 1
fi

install_packages() {  # apt-get install "$@", refreshing the package lists once if needed
    local sudo=
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
    $sudo apt-get update -q >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >/dev/null
}
command -v wrk >/dev/null || install_packages wrk
nginx=$(command -v nginx || true)
[[ -n $nginx || ! -x /usr/sbin/nginx ]] || nginx=/usr/sbin/nginx
if [[ -z $nginx ]]; then
    install_packages nginx-light || install_packages nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
fi

ulimit -n "$(ulimit -Hn | sed 's/unlimited/65536/')" 2>/dev/null || true

tmp=$(mktemp -d)
ringlet_port=$port_base
nginx_port=$((port_base + 1))
declare -A pid
cleanup() {
    for n in "${!pid[@]}"; do kill "${pid[$n]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1

cat >"$tmp/nginx.conf" <<EOF
worker_processes $threads;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 10000000;   # as http_hello: never close a busy connection
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        location = / {
            default_type text/plain;
            return 200 "Hello, World!\n";
        }
    }
}
EOF

"${run[@]}" taskset -c "$server_cpus" "$http_hello" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --port "$ringlet_port" --threads "$threads" >/dev/null &
pid[ringlet]=$!
"${run[@]}" taskset -c "$server_cpus" "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" -g 'daemon off;' &
pid[nginx]=$!

wait_for_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "https_compare: nothing listens on port $1" >&2
    [[ ! -f $tmp/error.log ]] || cat "$tmp/error.log" >&2
    return 1
}
wait_for_port "$ringlet_port"
wait_for_port "$nginx_port"

declare -A port=([ringlet]=$ringlet_port [nginx]=$nginx_port)
# Same answer from both (body and status), checked before measuring.
for n in ringlet nginx; do
    body=$(curl -sS -i --max-time 10 --cacert "$tmp/cert.pem" "https://localhost:${port[$n]}/" || true)
    if ! grep -q '^HTTP/1.1 200' <<<"$body" || [[ ${body##*$'\r\n\r\n'} != 'Hello, World!'* ]]; then
        echo "https_compare: $n does not answer GET / with 200 \"Hello, World!\" over TLS" >&2
        echo "$body" >&2
        exit 1
    fi
done

# CPU ticks of a process and its children (nginx's worker is its master's child).
cpu_ticks() {
    local total=0 p
    for p in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$total"
}
hz=$(getconf CLK_TCK)

declare -A rps cpu_us
echo "https_compare: $threads server thread(s)/worker(s) on CPU $server_cpus, ${client[*]} ${duration}s per run, best of $repeat"
echo "  $("$nginx" -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), build: $build"
for conns in "${connections[@]}"; do
    for r in $(seq "$repeat"); do
        for n in ringlet nginx; do
            before=$(cpu_ticks "${pid[$n]}")
            out=$("${run[@]}" "${client[@]}" -c"$conns" -d"${duration}s" "https://127.0.0.1:${port[$n]}/")
            after=$(cpu_ticks "${pid[$n]}")
            value=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
            total=$(awk '/requests in/ { print $1 }' <<<"$out")
            errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' || true)
            latency=$(awk '/^ +Latency/ { print $2 }' <<<"$out")
            printf '  %-7s -c%-4s run %s: %12s requests/s, avg latency %s%s\n' "$n" "$conns" "$r" \
                "$value" "$latency" "${errors:+, $errors}"
            if [[ -z $value ]]; then
                echo "https_compare: could not parse wrk's output:" >&2
                echo "$out" >&2
                exit 1
            fi
            if [[ -z ${rps[$n,$conns]:-} ]] ||
                awk -v a="$value" -v b="${rps[$n,$conns]}" 'BEGIN { exit !(a > b) }'; then
                rps[$n,$conns]=$value
                cpu_us[$n,$conns]=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$total" \
                    'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
            fi
        done
    done
done

echo
echo "HTTPS requests per second (higher is better); ratio >= 1.00 means ringlet is at least as fast"
printf '%-12s %14s %14s %14s %22s\n' connections ringlet nginx ringlet/nginx "CPU us/req (ringlet/nginx)"
for conns in "${connections[@]}"; do
    printf '%-12s %14s %14s %14s %22s\n' "$conns" "${rps[ringlet,$conns]}" "${rps[nginx,$conns]}" \
        "$(awk -v a="${rps[ringlet,$conns]}" -v b="${rps[nginx,$conns]}" 'BEGIN { printf "%.2f", a / b }')" \
        "${cpu_us[ringlet,$conns]}/${cpu_us[nginx,$conns]}"
done
