#!/usr/bin/env bash
# tests/integration/test_failures.sh SCENARIO_WORKER — activity retries and
# failures, a timer, and bad input, end to end on the dev server:
# - an activity failing on attempt 1 is retried by the server and the
#   workflow completes;
# - a non-retryable failure fails the workflow with the error's type and
#   message;
# - an unregistered workflow type fails its workflow task with a clear
#   message while the worker keeps serving other workflows;
# - malformed JSON input fails the workflow with an application error
#   saying so.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_failures.sh SCENARIO_WORKER}
q=$(unique failures)
start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID

wf=$(unique retry)
t workflow execute --type RetryOnce --task-queue "$q" --workflow-id "$wf" -o json >"$TWE_IT_TMP/r.json" ||
  fail "RetryOnce did not complete: $(cat "$TWE_IT_TMP/r.json")"
grep -q '"attempt": *2\|"attempt":2' "$TWE_IT_TMP/r.json" || fail "RetryOnce result: $(cat "$TWE_IT_TMP/r.json")"
h=$(history "$wf")
python3 - "$h" <<'PY' || fail "RetryOnce history"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
started = [e for e in ev if "activityTaskStartedEventAttributes" in e]
assert started and int(started[-1]["activityTaskStartedEventAttributes"]["attempt"]) == 2, started
assert started[-1]["activityTaskStartedEventAttributes"]["lastFailure"]["message"] == "first attempt fails on purpose"
PY
ok "RetryOnce: attempt 1 failed, the server retried, attempt 2 completed"

wf=$(unique nonretry)
if t workflow execute --type NonRetryable --task-queue "$q" --workflow-id "$wf" -o json >"$TWE_IT_TMP/n.json" 2>&1; then
  fail "NonRetryable completed"
fi
h=$(history "$wf")
python3 - "$h" <<'PY' || fail "NonRetryable history"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
assert sum(1 for e in ev if "activityTaskStartedEventAttributes" in e) == 1, "retried"
f = ev[-1]["workflowExecutionFailedEventAttributes"]["failure"]
assert f["message"] == "balance too low for the transfer", f
assert f["applicationFailureInfo"]["type"] == "InsufficientFunds", f
print("workflow failure:", f["applicationFailureInfo"]["type"], "-", f["message"])
PY
ok "NonRetryable: one attempt, workflow failed with type and message of the activity's error"

wf=$(unique timer)
t workflow execute --type Timer --task-queue "$q" --workflow-id "$wf" -o json >"$TWE_IT_TMP/t.json" ||
  fail "Timer: $(cat "$TWE_IT_TMP/t.json")"
h=$(history "$wf")
[ "$(count_events "$h" TIMER_FIRED)" = 1 ] || fail "no TIMER_FIRED"
ok "Timer: slept 1 s of workflow time ($(tr -d ' \n' <"$TWE_IT_TMP/t.json" | grep -o '"slept_ms":[0-9]*'))"

wf_bad=$(unique nosuchtype)
t workflow start --type NoSuchWorkflow --task-queue "$q" --workflow-id "$wf_bad" >/dev/null
wf=$(unique seq-meanwhile)
t workflow execute --type Sequential --task-queue "$q" --workflow-id "$wf" --input 3 -o json \
  >"$TWE_IT_TMP/s.json" || fail "Sequential beside the unregistered type"
for _ in $(seq 1 50); do
  h=$(history "$wf_bad")
  [ "$(count_events "$h" WORKFLOW_TASK_FAILED)" -ge 1 ] && break
  sleep 0.2
done
python3 - "$h" <<'PY' || fail "NoSuchWorkflow history: $(cat "$h")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
f = [e["workflowTaskFailedEventAttributes"] for e in ev if "workflowTaskFailedEventAttributes" in e]
assert f, "no WorkflowTaskFailed"
msg = f[0]["failure"]["message"]
assert 'workflow type "NoSuchWorkflow" is not registered' in msg, msg
assert "Sequential" in msg, msg
print("message:", msg)
PY
t workflow terminate --workflow-id "$wf_bad" --reason "test done" >/dev/null
ok "unregistered type: workflow task failed with a clear message; Sequential completed meanwhile"

wf=$(unique badjson)
"$sw" start-raw Sequential "$q" "$wf" '{"n": 5' >/dev/null || fail "start-raw"
if t workflow result --workflow-id "$wf" >"$TWE_IT_TMP/b.out" 2>&1; then fail "malformed JSON input completed"; fi
h=$(history "$wf")
python3 - "$h" <<'PY' || fail "bad JSON history: $(cat "$h")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
f = ev[-1]["workflowExecutionFailedEventAttributes"]["failure"]
assert f["applicationFailureInfo"]["type"] == "twe.InvalidArgument", f
assert "not valid JSON" in f["message"], f
print("failure:", f["message"])
PY
ok "malformed JSON input: the workflow failed with an application error saying so"

kill -0 "$pid" || fail "worker died"
stop_worker w "$pid"
ok "worker still serving and stopped cleanly: $(cat "$TWE_IT_TMP/w.stats")"
