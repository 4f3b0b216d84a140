#!/usr/bin/env bash
# tests/fault/test_two_workers.sh FAULT_WORKER — two workers on one task
# queue, one of them killed (SIGKILL) under load and not restarted: the
# other finishes everything (the dead one's sticky queue and workflow tasks
# time out to it). Checks that every workflow completes with its result,
# no workflow task failed, every step ran, the extra executions are at
# most 2 x the dead worker's activity threads, and nothing ran on the dead
# worker after its death.
set -euo pipefail
FAULT_WORKER=${1:?usage: test_two_workers.sh FAULT_WORKER}
source "$(dirname "$0")/lib.sh"

server_start
QUEUE=$(unique two-workers)
start_fault_worker w1
pid1=$WORKER_PID
start_fault_worker w2
pid2=$WORKER_PID
load_start
wait_executions 100
kill -KILL "$pid1"
wait "$pid1" 2>/dev/null || true
snapshot "worker 1 of 2 killed (SIGKILL)"
dead=$(grep -c " $pid1 start\$" "$TWE_IT_TMP/snapshot-now.log" || true)
[ "$dead" -ge 1 ] || fail "the killed worker had run no activity: no load shared"
check $((2 * FAULT_THREADS)) 120
after=$(grep -c " $pid1 start\$" "$STEP_LOG" || true)
[ "$after" = "$dead" ] || fail "executions by the killed worker went from $dead to $after"
echo "the killed worker ran $dead executions, the other $(grep -c " $pid2 start\$" "$STEP_LOG")"
check_stopped w2 "$pid2"
ok "two workers, one SIGKILLed under load: the other finished all ($(elapsed) s)"
