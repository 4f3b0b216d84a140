#!/usr/bin/env bash
# tests/io/test_grpc_tls_proxy.sh TWE_CLI — TLS against a real TLS-terminating
# HTTP/2 proxy (nghttpx) in front of the fixture's dev server
# (TEMPORAL_ADDRESS). The test makes its CA and certificates with openssl:
#   1. server verified against our CA: `twe ping` succeeds;
#   2. a different CA: fails, and says the certificate is not trusted;
#   3. a proxy requiring client certificates: succeeds with one (mTLS),
#      fails without, saying a client certificate is required.
set -euo pipefail
twe=${1:?usage: test_grpc_tls_proxy.sh TWE_CLI}
: "${TEMPORAL_ADDRESS:?set by tests/support/run_integration}"
command -v nghttpx >/dev/null || { echo "nghttpx not installed (nghttp2-proxy): skip"; exit 77; }

d=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$d"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- a CA, a server certificate for localhost, a client certificate, a wrong CA
mkca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$d/$1.key" -out "$d/$1.crt" 2>/dev/null
}
mkcert() { # name cn ca ext
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
  printf '%s\n' "$4" >"$d/$1.ext"
  openssl x509 -req -in "$d/$1.csr" -CA "$d/$3.crt" -CAkey "$d/$3.key" -CAcreateserial \
    -days 2 -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
}
mkca ca "twe test CA"
mkca wrongca "some other CA"
mkcert server localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1"
mkcert client twe-client ca "extendedKeyUsage=clientAuth"

backend_host=${TEMPORAL_ADDRESS%:*}
backend_port=${TEMPORAL_ADDRESS##*:}
proxy() { # port [extra nghttpx flags]
  local port=$1; shift
  nghttpx --frontend="127.0.0.1,$port" --backend="$backend_host,$backend_port;;proto=h2" \
    --workers=1 --no-ocsp --log-level=WARN --errorlog-file="$d/nghttpx-$port.log" \
    --accesslog-file=/dev/null --conf=/dev/null "$@" "$d/server.key" "$d/server.crt" \
    </dev/null >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$d/nghttpx-$port.log" >&2
  fail "nghttpx did not start on $port"
}
tls_port=$(free_port)
proxy "$tls_port"
mtls_port=$(free_port)
proxy "$mtls_port" --verify-client --verify-client-cacert="$d/ca.crt"

ping() { # port [env...]
  local port=$1; shift
  env -u TEMPORAL_ADDRESS "$@" TEMPORAL_TLS=true "$twe" ping --address "localhost:$port" \
    --count 3 --timeout 4 >"$d/out" 2>"$d/err"
}

ping "$tls_port" TEMPORAL_TLS_CA_PATH="$d/ca.crt" || { cat "$d/out" "$d/err"; fail "TLS through nghttpx"; }
grep -q "server version: " "$d/out" || fail "no server version over TLS"
grep -q "(TLS," "$d/out" || fail "not reported as TLS"
echo "ok: TLS through nghttpx: $(grep 'round trip' "$d/out")"

if ping "$tls_port" TEMPORAL_TLS_CA_PATH="$d/wrongca.crt"; then fail "a server signed by another CA was accepted"; fi
grep -qi "not trusted\|unknown CA" "$d/err" || { cat "$d/err"; fail "wrong-CA failure is not clear"; }
echo "ok: wrong CA refused: $(tail -1 "$d/err" | cut -c1-240)"

ping "$mtls_port" TEMPORAL_TLS_CA_PATH="$d/ca.crt" TEMPORAL_TLS_CLIENT_CERT_PATH="$d/client.crt" \
  TEMPORAL_TLS_CLIENT_KEY_PATH="$d/client.key" || { cat "$d/out" "$d/err"; fail "mTLS"; }
grep -q "server version: " "$d/out" || fail "no server version over mTLS"
echo "ok: mTLS with a client certificate"

if ping "$mtls_port" TEMPORAL_TLS_CA_PATH="$d/ca.crt"; then fail "mTLS proxy accepted a client without a certificate"; fi
grep -qi "certificate required\|client certificate" "$d/err" || { cat "$d/err"; fail "missing client certificate not explained"; }
echo "ok: mTLS without a client certificate refused: $(tail -1 "$d/err" | cut -c1-240)"
