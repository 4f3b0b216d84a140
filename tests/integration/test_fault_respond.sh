#!/usr/bin/env bash
# tests/integration/test_fault_respond.sh SCENARIO_WORKER — a server that
# pauses past the worker's 10 s per call while an activity's result is
# being delivered (tests/support/fault_server.py paused-respond, a fault
# injector). The result still matters (60 s start-to-close), so the worker
# tries again and the result gets through, instead of being dropped after
# one deadline (when the server would run the activity again); and a stop
# while the server never answers gives the outcome up after the grace period.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_fault_respond.sh SCENARIO_WORKER}
start_fault_server paused-respond "$TWE_IT_TMP/calls.log"
TEMPORAL_ADDRESS=$FAULT_ADDRESS start_worker w "$sw" worker --task-queue fq
for _ in $(seq 1 250); do grep -q '"RespondActivityTaskCompleted", "n": 2' "$TWE_IT_TMP/calls.log" 2>/dev/null && break; sleep 0.1; done
grep RespondActivityTaskCompleted "$TWE_IT_TMP/calls.log" || true
grep -q '"RespondActivityTaskCompleted", "n": 2, "result": "\\"echoed\\""' "$TWE_IT_TMP/calls.log" ||
  fail "the result was not sent again after the paused attempt: $(cat "$TWE_IT_TMP/calls.log"; cat "$TWE_IT_TMP/w.err")"
grep -q "outcome is dropped" "$TWE_IT_TMP/w.err" && fail "the worker dropped the result: $(cat "$TWE_IT_TMP/w.err")"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || fail "the worker exited with $?"
ok "the activity's result got through on the attempt after the server's 12 s pause"

# A stop while the server never answers: the outcome is not waited for past
# the grace period (10 s); the worker stops on its own, before its stop
# deadline, saying the outcome was dropped because it stopped.
: >"$TWE_IT_TMP/calls2.log"
start_fault_server silent-respond "$TWE_IT_TMP/calls2.log"
TEMPORAL_ADDRESS=$FAULT_ADDRESS start_worker w2 "$sw" worker --task-queue fq
for _ in $(seq 1 100); do grep -q RespondActivityTaskCompleted "$TWE_IT_TMP/calls2.log" && break; sleep 0.1; done
t0=$(date +%s%N)
kill -TERM "$WORKER_PID"
rc=0
wait "$WORKER_PID" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || fail "the stop ended with $rc after $ms ms: $(tail -5 "$TWE_IT_TMP/w2.err")"
grep -q "the outcome is dropped after .*the worker stopped before the server took it" "$TWE_IT_TMP/w2.err" ||
  fail "no line for the dropped outcome: $(cat "$TWE_IT_TMP/w2.err")"
ok "a stop while the server never answers: stopped in $ms ms, the outcome dropped and said so"
