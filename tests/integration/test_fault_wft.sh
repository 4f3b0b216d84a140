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
#     not move on, so A is answered as failed, then B is taken (its own
#     page) and completes.
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
# The calls as the injector saw them. B waited while A's page was fetched
# (2 s): A's page first, B's completion last. A's failure and B's page
# leave the worker in one loop turn on one connection, and the injector's
# handler threads log them in either order, so their order is not checked
# (it cannot tell B taken at the next round from B taken inside A's
# failure).
python3 - "$log" <<'PY' || fail "the calls: $(cat "$log"; cat "$TWE_IT_TMP/w2.err")"
import json, sys
calls = [(d["method"], d.get("token", "")) for d in map(json.loads, open(sys.argv[1]))
         if d["method"] in ("GetWorkflowExecutionHistory", "RespondWorkflowTaskFailed",
                            "RespondWorkflowTaskCompleted")]
print(calls)
assert calls[0] == ("GetWorkflowExecutionHistory", "a-page"), calls
assert calls[-1] == ("RespondWorkflowTaskCompleted", "fault-task-B"), calls
assert sorted(calls[1:3]) == [("GetWorkflowExecutionHistory", "b-page"),
                              ("RespondWorkflowTaskFailed", "fault-task-A")], calls
PY
grep -q "no new events" "$TWE_IT_TMP/w2.err" || fail "A's failure not in the log: $(cat "$TWE_IT_TMP/w2.err")"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || fail "the worker exited with $?"
ok "the re-issued task waited for the first one to end, then completed"
