#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages ringlet needs, only those missing.
# Works as root on a fresh Debian 12 (uses sudo when not root).
#   bash scripts/deps.sh              what ringlet's library build needs
#   bash scripts/deps.sh --test       also what the test suite needs: the real
#                                     servers (redis, PostgreSQL, nginx), the real
#                                     clients (libcurl, libpq, psutil), clang for
#                                     the fuzzers, wrk and curl
#   bash scripts/deps.sh --compare    also what bench/compare needs for its chart
#   bash scripts/deps.sh --peers      also the peers bench/compare measures ringlet against
set -euo pipefail

packages=(g++ meson ninja-build pkg-config liburing-dev libboost-context-dev
          libgtest-dev libbenchmark-dev libssl-dev libhiredis-dev)
for arg in "$@"; do
    case $arg in
        --test) packages+=(redis-server redis-tools postgresql libpq-dev nginx-light
                           libcurl4-openssl-dev curl wrk openssl python3 python3-psutil
                           clang libclang-rt-dev) ;;
        --compare) packages+=(python3 gnuplot-nox) ;;
        --peers) packages+=(golang-go python3-gevent libboost-fiber-dev) ;;
        *) echo "usage: $0 [--test] [--compare] [--peers]" >&2; exit 2 ;;
    esac
done
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} > 0)); then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo=sudo
    echo "ringlet: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
