#!/usr/bin/env bash
# tests/integration/test_children.sh SCENARIO_WORKER [cache0] — child
# workflows against the dev server (the workshop's exercise 7):
#   - a parent with 3 children, one of which fails: the parent cancels the
#     other two (they end CANCELED) and fails with the child's cause
#     (KidFailed, "kid 1 failed");
#   - parent close policy TERMINATE: terminating the parent terminates its
#     running children;
#   - children on a Python SDK worker's task queue (interop).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_children.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique children)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID
status() { t workflow describe --workflow-id "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workflowExecutionInfo"]["status"][len("WORKFLOW_EXECUTION_STATUS_"):])'; }
wait_closed() { for _ in $(seq 1 150); do [ "$(status "$1")" != RUNNING ] && break; sleep 0.1; done; }

id=$(unique parent)
t workflow start --type Parent --task-queue "$q" --workflow-id "$id" --input '{"fail":1}' >/dev/null
wait_closed "$id"
[ "$(status "$id")" = FAILED ] || fail "parent: $(status "$id")"
h=$(history "$id")
python3 - "$h" <<'PY' || fail "parent's history: $(python3 -c 'import json,sys; print([e["eventType"][11:] for e in json.load(open(sys.argv[1]))["events"]])' "$h")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
types = [e["eventType"][11:] for e in ev]
assert types.count("START_CHILD_WORKFLOW_EXECUTION_INITIATED") == 3, types
assert types.count("CHILD_WORKFLOW_EXECUTION_FAILED") == 1, types
assert types.count("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED") == 2, types
assert types.count("CHILD_WORKFLOW_EXECUTION_CANCELED") == 2, types
f = ev[-1]["workflowExecutionFailedEventAttributes"]["failure"]
app = f.get("applicationFailureInfo") or {}
assert f["message"] == "kid 1 failed" and app.get("type") == "KidFailed", f
PY
for i in 0 2; do
  [ "$(status "$id-child-$((i + 1))")" = CANCELED ] || fail "kid $i: $(status "$id-child-$((i + 1))")"
done
ok "a parent whose child failed cancelled the other two (CANCELED) and failed with KidFailed: kid 1 failed"

id=$(unique closing-parent)
t workflow start --type Parent --task-queue "$q" --workflow-id "$id" --input '{"fail":-1}' >/dev/null
for _ in $(seq 1 100); do
  [ "$(t workflow describe --workflow-id "$id-child-3" -o json 2>/dev/null | grep -c '"status"')" -gt 0 ] && break
  sleep 0.1
done
t workflow terminate --workflow-id "$id" --reason "test: parent close policy" >/dev/null
for i in 1 2 3; do
  wait_closed "$id-child-$i"
  [ "$(status "$id-child-$i")" = TERMINATED ] || fail "kid $i after the parent's termination: $(status "$id-child-$i")"
done
ok "terminating a parent (parent close policy TERMINATE) terminated its 3 running children"

# Children on a task queue a Python SDK worker serves: one result, one
# failure with its type and message.
pq=$(unique children-py)
start_py_worker "$pq"
pyw=$PY_WORKER_PID
id=$(unique py-parent)
r=$(t workflow execute --type PyParent --task-queue "$q" --workflow-id "$id" --input "{\"queue\":\"$pq\"}" -o json |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"], sort_keys=True))')
kill -TERM "$pyw"; wait "$pyw" 2>/dev/null || true
[ "$r" = '{"err": "PyKidFailed: py kid 2 failed", "ok": 10}' ] || fail "PyParent: $r"
ok "children on a Python SDK worker: a result and a failure with its cause ($r)"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["nondeterminism_errors"] == 0 and s["workflow_tasks_failed"] == 0, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
