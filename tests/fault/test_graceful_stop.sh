#!/usr/bin/env bash
# tests/fault/test_graceful_stop.sh FAULT_WORKER — the only worker stopped
# gracefully (SIGTERM) under load, then a new worker finishes the rest. A
# graceful stop finishes what it took (the activities in flight complete
# and are reported, the workflow tasks in flight are answered, the sticky
# queue is handed back), so: the worker exits 0 within its deadline having
# failed no workflow task, every workflow completes with its result, no
# workflow task failed, and every step ran exactly once (zero extra
# executions).
#
# What a stop cannot promise against this server (Temporal 1.29, whose
# namespaces do not offer worker_poll_complete_on_shutdown): a poll the stop
# cancels may have been handed a task by the server a moment before, which
# then waits for its timeout (10 s) and runs elsewhere — an activity
# attempt started but run by no worker, or a workflow task timed out
# start-to-close; and workflow tasks already waiting on the sticky queue
# when it is handed back wait out the sticky schedule-to-start timeout
# (ShutdownWorker redirects only tasks added after it). Those are printed;
# the attempts run by no worker are bounded by the activity polls the
# worker had in flight (2 per shard).
set -euo pipefail
FAULT_WORKER=${1:?usage: test_graceful_stop.sh FAULT_WORKER}
source "$(dirname "$0")/lib.sh"

server_start
QUEUE=$(unique graceful)
start_fault_worker w1
pid1=$WORKER_PID
load_start
wait_executions 100
snapshot_take stop
t0=$SECONDS
check_stopped w1 "$pid1"
snapshot_say stop "worker stopping (SIGTERM)"
snapshot "worker stopped after $((SECONDS - t0)) s"
start_fault_worker w2
pid2=$WORKER_PID
check 0 120
unrun=$(sed -n 's/^counts .* unrun=\([0-9]*\) .*/\1/p' "$TWE_IT_TMP/check.out")
shards=$(sed -n 's/^twe: worker on task queue .*: \([0-9]*\) shard(s).*/\1/p' "$TWE_IT_TMP/w1.err")
[ "$unrun" -le $((2 * ${shards:-1})) ] ||
  fail "$unrun attempt(s) started by the server were run by no worker (at most $((2 * ${shards:-1})): the activity polls in flight)"
check_stopped w2 "$pid2"
ok "graceful stop under load, a new worker: all completed, nothing ran twice ($(elapsed) s)"
