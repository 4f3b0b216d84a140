#!/usr/bin/env bash
# tests/integration/test_cancel.sh SCENARIO_WORKER [cache0] — `temporal
# workflow cancel` on a twe workflow waiting on a heartbeating activity,
# once per activity cancellation type: the workflow sees the request, its
# activity is cancelled as the type says, a cleanup activity runs in a
# shielded scope, and the workflow ends CANCELED. With cache0 every task
# replays.
#   try:     ACTIVITY_TASK_CANCEL_REQUESTED; the cleanup does not wait for
#            the activity
#   wait:    ACTIVITY_TASK_CANCEL_REQUESTED, then ACTIVITY_TASK_CANCELED
#            (the activity's heartbeat saw the cancel), then the cleanup
#   abandon: no request at all; the cleanup at once
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_cancel.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique cancel)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID

for ctype in try wait abandon; do
  id=$(unique "cancel-$ctype")
  t workflow start --type Cancellable --task-queue "$q" --workflow-id "$id" --input "{\"ctype\":\"$ctype\"}" >/dev/null
  # Cancel once the activity runs (its first heartbeat is in).
  for _ in $(seq 1 100); do
    t workflow describe --workflow-id "$id" -o json | grep -q '"lastHeartbeatTime"' && break
    sleep 0.1
  done
  t workflow cancel --workflow-id "$id" >/dev/null
  st=$(closed_status "$id")
  [ "$st" = WORKFLOW_EXECUTION_STATUS_CANCELED ] || fail "$ctype: the workflow ended $st, not CANCELED"
  h=$(history "$id")
  python3 - "$h" "$ctype" <<'PY' || fail "$ctype: history: $(python3 -c 'import json,sys; print([e["eventType"][11:] for e in json.load(open(sys.argv[1]))["events"]])' "$h")"
import json, sys
events = json.load(open(sys.argv[1]))["events"]
ctype = sys.argv[2]
types = [e["eventType"].replace("EVENT_TYPE_", "") for e in events]
def idx(t):
    return types.index(t) if t in types else -1
sched = [i for i, e in enumerate(events) if e["eventType"].endswith("ACTIVITY_TASK_SCHEDULED")]
assert len(sched) == 2, types                      # WaitForCancel, then the cleanup
cleanup = sched[1]
assert events[cleanup]["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "Echo"
assert idx("WORKFLOW_EXECUTION_CANCEL_REQUESTED") >= 0 and types[-1] == "WORKFLOW_EXECUTION_CANCELED", types
assert types.count("WORKFLOW_TASK_FAILED") == 0, types
if ctype == "abandon":
    assert idx("ACTIVITY_TASK_CANCEL_REQUESTED") < 0, types
else:
    assert 0 <= idx("ACTIVITY_TASK_CANCEL_REQUESTED") < cleanup, types
if ctype == "wait":
    assert 0 <= idx("ACTIVITY_TASK_CANCELED") < cleanup, types
PY
  ok "$ctype: CANCELED; $(python3 -c 'import json,sys; print(" ".join(e["eventType"][11:] for e in json.load(open(sys.argv[1]))["events"] if "ACTIVITY" in e["eventType"] or "CANCEL" in e["eventType"]))' "$h")"
done

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["nondeterminism_errors"] == 0 and s["workflow_tasks_failed"] == 0, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
