#!/usr/bin/env bash
# tests/integration/test_fault_respond.sh SCENARIO_WORKER — a server that
# pauses past the worker's 10 s per call while an activity's result is
# being delivered (tests/support/fault_server.py paused-respond, a fault
# injector). The result still matters (60 s start-to-close), so the worker
# tries again and the result gets through, instead of being dropped after
# one deadline (when the server would run the activity again).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_fault_respond.sh SCENARIO_WORKER}
"$TWE_TEST_PYTHON" "$(dirname "$0")/../support/fault_server.py" paused-respond \
  "$TWE_IT_TMP/port" "$TWE_IT_TMP/calls.log" 2>"$TWE_IT_TMP/fault.err" &
TWE_IT_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$TWE_IT_TMP/port" ] && break; sleep 0.1; done
[ -s "$TWE_IT_TMP/port" ] || fail "the fault injector did not start: $(cat "$TWE_IT_TMP/fault.err")"
TEMPORAL_ADDRESS="127.0.0.1:$(cat "$TWE_IT_TMP/port")" start_worker w "$sw" worker --task-queue fq
for _ in $(seq 1 250); do grep -q '"RespondActivityTaskCompleted", "n": 2' "$TWE_IT_TMP/calls.log" 2>/dev/null && break; sleep 0.1; done
grep RespondActivityTaskCompleted "$TWE_IT_TMP/calls.log" || true
grep -q '"RespondActivityTaskCompleted", "n": 2, "result": "\\"echoed\\""' "$TWE_IT_TMP/calls.log" ||
  fail "the result was not sent again after the paused attempt: $(cat "$TWE_IT_TMP/calls.log"; cat "$TWE_IT_TMP/w.err")"
grep -q "outcome is dropped" "$TWE_IT_TMP/w.err" && fail "the worker dropped the result: $(cat "$TWE_IT_TMP/w.err")"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || fail "the worker exited with $?"
ok "the activity's result got through on the attempt after the server's 12 s pause"
