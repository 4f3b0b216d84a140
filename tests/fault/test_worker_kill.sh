#!/usr/bin/env bash
# tests/fault/test_worker_kill.sh FAULT_WORKER — the only worker killed
# (SIGKILL) under load and a new worker process started 2 s later on the
# same task queue: the new one takes the runs over (the dead worker's
# sticky queue and workflow tasks time out to it) and every workflow
# completes with its result, no workflow task failed, every step ran, and
# the extra executions are at most 2 x the dead worker's activity threads
# (one running and one being reported per thread: the server times them
# out and they run again).
set -euo pipefail
FAULT_WORKER=${1:?usage: test_worker_kill.sh FAULT_WORKER}
source "$(dirname "$0")/lib.sh"

server_start
QUEUE=$(unique worker-kill)
start_fault_worker w1
pid1=$WORKER_PID
load_start
wait_executions 100
kill -KILL "$pid1"
wait "$pid1" 2>/dev/null || true
snapshot "worker killed (SIGKILL)"
sleep 2
start_fault_worker w2
pid2=$WORKER_PID
snapshot "new worker started"
check $((2 * FAULT_THREADS)) 120
check_stopped w2 "$pid2"
ok "worker SIGKILL under load, a new worker: all completed ($(elapsed) s)"
