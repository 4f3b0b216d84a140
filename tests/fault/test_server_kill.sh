#!/usr/bin/env bash
# tests/fault/test_server_kill.sh FAULT_WORKER — the dev server (persistent,
# --db-filename) killed with SIGKILL under load and started again on the
# same port 6 s later: the worker finds it again by itself, and every
# workflow completes with its result, no workflow task failed, every step
# ran, and the extra executions are at most what the worker could have had
# in flight when the server went (2 x its activity threads: one running
# and one being reported per thread; those the server timed out run again).
set -euo pipefail
FAULT_WORKER=${1:?usage: test_server_kill.sh FAULT_WORKER}
source "$(dirname "$0")/lib.sh"

server_start
echo "server up at $(elapsed) s"
QUEUE=$(unique server-kill)
start_fault_worker w
pid=$WORKER_PID
load_start
echo "load started at $(elapsed) s"
wait_executions 100
server_kill
snapshot "server killed (SIGKILL)"
sleep 6
server_start
snapshot "server back"
check $((2 * FAULT_THREADS)) 120
grep -q "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" ||
  fail "the worker did not log the connection loss"
check_stopped w "$pid"
ok "server SIGKILL under load: all completed ($(elapsed) s)"
