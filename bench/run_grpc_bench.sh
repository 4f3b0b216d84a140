#!/usr/bin/env bash
# bench/run_grpc_bench.sh [SECONDS] — build, start a local dev server, and
# measure twe's gRPC client with GetSystemInfo (bench/grpc_bench.c) at 1, 16
# and 128 calls in flight on one connection, on each io backend. The server
# runs on the same machine and shares its CPUs: the figures bound the client
# and this server together, they are not the client's limit alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
seconds=${1:-5}
cd "$root"
scripts/bootstrap >/dev/null
cmake -S . -B build -G Ninja -DTWE_CACHE_DIR="$TWE_CACHE_DIR" -DTWE_PROTO_DIR="$TWE_PROTO_DIR" >/dev/null
cmake --build build --target grpc_bench >/dev/null
state=$(mktemp -d)
trap 'devserver_stop "$state"; rm -rf "$state"' EXIT
# The dev server rate-limits its frontend (RESOURCE_EXHAUSTED, which the
# client retries after 1 s): lift the limits, or the table measures them.
WATCH_PID=$$ devserver_start "$state" --dynamic-config-value frontend.rps=1000000 \
  --dynamic-config-value frontend.namespaceRPS=1000000 \
  --dynamic-config-value frontend.globalNamespaceRPS=1000000 || twe_die "dev server did not start"
export TEMPORAL_ADDRESS
TEMPORAL_ADDRESS=$(cat "$state/address")
echo "machine: $(nproc) CPUs, $(uname -r); server: temporal dev server $TWE_TEMPORAL_SERVER_VERSION"
for backend in io_uring epoll; do
  echo
  TWE_IO_BACKEND=$backend build/bench/grpc_bench --seconds "$seconds" --concurrency 1 \
    --concurrency 16 --concurrency 128 2>/dev/null
done
