#!/usr/bin/env bash
# tests/io/test_grpc_restart.sh LOAD_CLIENT — a Temporal dev server is killed
# (SIGKILL) and restarted on the same port while the client keeps 20 calls in
# flight: every call must still end OK (failed over as UNAVAILABLE, retried,
# reconnected), the client must reconnect, and nothing may hang.
# Uses its own dev server, not the shared fixture's.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
client=${1:?usage: test_grpc_restart.sh LOAD_CLIENT}

state=$(mktemp -d)
cleanup() { devserver_stop "$state"; rm -rf "$state"; }
trap cleanup EXIT
export TWE_DEVSERVER_PORT
TWE_DEVSERVER_PORT=$(twe_free_port)
WATCH_PID=$$ devserver_start "$state" || twe_die "dev server did not start"
export TEMPORAL_ADDRESS
TEMPORAL_ADDRESS=$(cat "$state/address")

timeout 120 "$client" --seconds 12 --concurrency 20 >"$state/client.out" 2>"$state/client.err" &
client_pid=$!
sleep 3
echo "killing the dev server (SIGKILL) with calls in flight"
kill -KILL -- "-$(cat "$state/pid")"
sleep 3
echo "restarting it on port $TWE_DEVSERVER_PORT"
devserver_start "$state" || twe_die "dev server did not restart"
rc=0
wait "$client_pid" || rc=$?
cat "$state/client.out"
if [ $rc -ne 0 ]; then
  echo "FAIL: client exited $rc (124 = hung)"; tail -20 "$state/client.err"; exit 1
fi
succeeded=$(sed -n 's/.*connections: [0-9]* started, \([0-9]*\) succeeded.*/\1/p' "$state/client.out")
[ "${succeeded:-0}" -ge 2 ] || { echo "FAIL: the client never reconnected"; exit 1; }
echo "ok: every call ended OK across the restart"
