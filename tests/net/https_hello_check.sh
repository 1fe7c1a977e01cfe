#!/usr/bin/env bash
# tests/net/https_hello_check.sh — examples/net/https_hello checked by real
# TLS clients: curl --cacert (GET, keep-alive reuse, HTTP/1.0, 404), openssl
# s_client (verification, SNI, ALPN http/1.1, the answer), then a plaintext
# client and an untrusting curl, after which the server must still answer.
#   https_hello_check.sh PATH/TO/https_hello      (exit 77 = skipped)
set -euo pipefail
exe=${1:?usage: https_hello_check.sh PATH/TO/https_hello}
for tool in curl openssl; do
    command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done
tmp=$(mktemp -d)
pid=
cleanup() {
    [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$exe" --self-signed "$tmp/pki" --port 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$tmp/out")
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; echo "https_hello exited"; exit 1; }
    sleep 0.05
done
[[ -n $port ]] || { echo "https_hello did not report its port"; exit 1; }
ca=$tmp/pki/cert.pem
url=https://localhost:$port/
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "  ok  $*"; }

body=$(curl -sS --max-time 10 --cacert "$ca" "$url")
[[ $body == "Hello, World!" ]] || fail "curl GET / gave '$body'"
ok "curl --cacert GET / answers Hello, World!"

verbose=$(curl -sS -v --max-time 10 --cacert "$ca" "$url" "$url" 2>&1 >/dev/null)
grep -qi "re-using existing connection\|reusing existing connection" <<<"$verbose" ||
    fail "curl did not keep the connection alive: $verbose"
grep -q "ALPN.*http/1.1" <<<"$verbose" || fail "curl saw no ALPN http/1.1: $verbose"
ok "two GETs over one kept-alive connection, ALPN http/1.1"

code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$ca" "${url}nothing")
[[ $code == 404 ]] || fail "GET /nothing gave $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' --http1.0 --max-time 10 --cacert "$ca" "$url")
[[ $code == 200 ]] || fail "HTTP/1.0 GET gave $code"
ok "404 for other paths, HTTP/1.0 answered"

out=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
      timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
          -verify_hostname localhost -CAfile "$ca" -alpn http/1.1 -ign_eof 2>&1) ||
    fail "openssl s_client failed: $out"
grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "s_client could not verify: $out"
grep -q "ALPN protocol: http/1.1" <<<"$out" || fail "s_client saw no ALPN: $out"
grep -q "^Hello, World!" <<<"$out" || fail "s_client got no answer: $out"
ok "openssl s_client: verified (hostname localhost), ALPN http/1.1, answered"

if out=$(curl -sS --max-time 10 "http://127.0.0.1:$port/" 2>&1); then
    fail "plaintext HTTP got an answer: $out"
fi
if out=$(curl -sS --max-time 10 "$url" 2>&1); then  # no --cacert: must refuse
    fail "curl accepted the self-signed certificate without --cacert"
fi
grep -qi "certificate" <<<"$out" || fail "untrusting curl failed for another reason: $out"
ok "plaintext HTTP refused; curl without the CA refuses the certificate"

body=$(curl -sS --max-time 10 --cacert "$ca" "$url")
[[ $body == "Hello, World!" ]] || fail "after the failures: '$body'"
kill -0 "$pid" || fail "https_hello died"
ok "still serving after the failures"
echo "https_hello_check: all checks passed"
