#!/usr/bin/env bash
# tests/integration/test_wait_for_server.sh SCENARIO_WORKER — a worker started
# before its server is up: by default it exits at once saying why; with
# TWE_WAIT_FOR_SERVER=forever it keeps trying (a line per attempt, backing
# off) and serves once the server is there (a TCP forwarder to the dev
# server, started late).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_wait_for_server.sh SCENARIO_WORKER}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
q=$(unique waiting)

# Not waiting: it fails at once.
if TEMPORAL_ADDRESS="127.0.0.1:$port" "$sw" worker --task-queue "$q" >"$TWE_IT_TMP/now.out" 2>&1; then
  fail "a worker with no server ran"
fi
grep -q "Connection refused\|refused" "$TWE_IT_TMP/now.out" || fail "no reason given: $(cat "$TWE_IT_TMP/now.out")"

# Waiting: attempts are said, and it serves once the server is reachable.
TEMPORAL_ADDRESS="127.0.0.1:$port" TWE_WAIT_FOR_SERVER=forever "$sw" worker --task-queue "$q" \
  >"$TWE_IT_TMP/w.out" 2>"$TWE_IT_TMP/w.err" &
pid=$!
TWE_IT_PIDS+=("$pid")
for _ in $(seq 1 100); do grep -q "cannot reach the server yet (attempt 3" "$TWE_IT_TMP/w.err" && break; sleep 0.1; done
grep -q "cannot reach the server yet (attempt 3" "$TWE_IT_TMP/w.err" ||
  fail "no attempts said: $(cat "$TWE_IT_TMP/w.err")"
kill -0 "$pid" || fail "the waiting worker exited"
python3 "$(dirname "$0")/../support/tcp_forward.py" "$port" "$TEMPORAL_ADDRESS" >"$TWE_IT_TMP/fwd.out" 2>&1 &
TWE_IT_PIDS+=($!)
for _ in $(seq 1 300); do grep -q '^ready' "$TWE_IT_TMP/w.out" && break; sleep 0.1; done
grep -q '^ready' "$TWE_IT_TMP/w.out" || fail "the worker did not start once the server was up: $(cat "$TWE_IT_TMP/w.err")"
r=$(t workflow execute --type Timer --task-queue "$q" --workflow-id "$(unique waited)" -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["slept_ms"])')
[ "$r" -ge 1000 ] || fail "Timer: $r"
attempts=$(grep -c "cannot reach the server yet" "$TWE_IT_TMP/w.err")
kill -TERM "$pid"
wait "$pid" || fail "the worker exited with $?"
ok "without the option: exits at once; with TWE_WAIT_FOR_SERVER=forever: $attempts attempts said, then it served a workflow"
