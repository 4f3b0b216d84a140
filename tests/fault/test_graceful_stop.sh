#!/usr/bin/env bash
# tests/fault/test_graceful_stop.sh FAULT_WORKER — the only worker stopped
# gracefully (SIGTERM) under load, then a new worker finishes the rest. A
# graceful stop finishes what it took (the activities in flight complete
# and are reported, the workflow tasks in flight are answered, the sticky
# queue is handed back), so: the worker exits 0 within its deadline having
# failed no workflow task, every workflow completes with its result, no
# workflow task failed, every step ran exactly once (zero extra
# executions), and no attempt was started by the server but run by no
# worker (a task taken during the stop and dropped).
set -euo pipefail
FAULT_WORKER=${1:?usage: test_graceful_stop.sh FAULT_WORKER}
source "$(dirname "$0")/lib.sh"

server_start
QUEUE=$(unique graceful)
start_fault_worker w1
pid1=$WORKER_PID
load_start
wait_executions 100
snapshot "worker stopping (SIGTERM)"
t0=$SECONDS
check_stopped w1 "$pid1"
snapshot "worker stopped after $((SECONDS - t0)) s"
start_fault_worker w2
pid2=$WORKER_PID
check 0 120
unrun=$(sed -n 's/^counts .* unrun=\([0-9]*\) .*/\1/p' "$TWE_IT_TMP/check.out")
[ "$unrun" = 0 ] || fail "$unrun attempt(s) started by the server were run by no worker"
check_stopped w2 "$pid2"
ok "graceful stop under load, a new worker: all completed, nothing ran twice ($(elapsed) s)"
