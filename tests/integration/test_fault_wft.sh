#!/usr/bin/env bash
# tests/integration/test_fault_wft.sh SCENARIO_WORKER — a workflow task's
# answer under a misbehaving server (tests/support/fault_server.py, a fault
# injector):
#   - paused-wft-respond: the server holds the first
#     RespondWorkflowTaskCompleted for 12 s. The task's timeout is 30 s, so
#     the answer still matters: the worker gives the attempt up after 5 s
#     and sends it again (before: one 10 s deadline, then the answer and
#     the cached run were dropped, and the server would have timed the task
#     out and run it again);
#   - reissued-task: task B of a run arrives while the run's task A waits
#     for a history page. B waits (parked) until A is over; A's page does
#     not move on, so A is answered as failed, and only then is B taken:
#     its first call (a history page) goes out after A's
#     RespondWorkflowTaskFailed, and B completes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_fault_wft.sh SCENARIO_WORKER}

log=$TWE_IT_TMP/calls.log
start_fault_server paused-wft-respond "$log"
TEMPORAL_ADDRESS=$FAULT_ADDRESS start_worker w "$sw" worker --task-queue fq
for _ in $(seq 1 250); do grep -q '"RespondWorkflowTaskCompleted", "n": 2' "$log" 2>/dev/null && break; sleep 0.1; done
grep RespondWorkflowTaskCompleted "$log" || true
grep -q '"RespondWorkflowTaskCompleted", "n": 2, "token": "fault-task-1", "commands": 1' "$log" ||
  fail "the completion was not sent again after the held attempt: $(cat "$log"; cat "$TWE_IT_TMP/w.err")"
grep -q "answer is dropped" "$TWE_IT_TMP/w.err" && fail "the worker dropped the answer: $(cat "$TWE_IT_TMP/w.err")"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || fail "the worker exited with $?"
ok "the workflow task's completion got through on the attempt after the server held one for 12 s"

log=$TWE_IT_TMP/calls2.log
start_fault_server reissued-task "$log"
TEMPORAL_ADDRESS=$FAULT_ADDRESS start_worker w2 "$sw" worker --task-queue fq
for _ in $(seq 1 150); do grep -q '"RespondWorkflowTaskCompleted"' "$log" 2>/dev/null && break; sleep 0.1; done
cat "$log"
# The calls in the order the injector saw them, one name (and token) a line.
order=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["method"] in ("GetWorkflowExecutionHistory", "RespondWorkflowTaskFailed",
                       "RespondWorkflowTaskCompleted"):
        print(d["method"], d.get("token", ""))' "$log")
expected="GetWorkflowExecutionHistory a-page
RespondWorkflowTaskFailed fault-task-A
GetWorkflowExecutionHistory b-page
RespondWorkflowTaskCompleted fault-task-B"
[ "$order" = "$expected" ] || fail "the calls went out as
$order
instead of
$expected
$(cat "$TWE_IT_TMP/w2.err")"
grep -q "no new events" "$TWE_IT_TMP/w2.err" || fail "A's failure not in the log: $(cat "$TWE_IT_TMP/w2.err")"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || fail "the worker exited with $?"
ok "the re-issued task waited for the first one's failure to go out, then completed"
