#!/usr/bin/env bash
# tests/integration/test_local_activities.sh SCENARIO_WORKER [cache0] —
# local activities (the Locals workflow), each checked in its history:
#   - 20 in a row finish inside the first workflow task: one
#     WORKFLOW_TASK_COMPLETED, 20 core_local_activity markers, no activity
#     task events;
#   - one that runs 3 s with a 2 s workflow task timeout completes without
#     a WORKFLOW_TASK_TIMED_OUT (the task is heartbeated);
#   - retries inside the task (no timer), and a backoff past the local retry
#     threshold as a durable timer between two markers;
#   - the three cancellation types end the future with a CanceledError;
#   - the 20-in-a-row history replays offline, and so does the Python SDK's;
#   - the watchdog (1 s blocked budget) does not charge the waiting.
# With cache0 every task replays the run from history: the results must come
# from the markers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_local_activities.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique locals)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID

# run ID INPUT [CLI options...]: executes Locals, prints its result.
run() {
  local id=$1 input=$2
  shift 2
  t workflow execute --type Locals --task-queue "$q" --workflow-id "$id" --input "$input" "$@" \
    -o json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'
}

# check ID RESULT PYTHON: asserts PYTHON over the history (ev: events,
# m: the markers' attributes, types: event type names, result).
check() {
  local id=$1 result=$2 code=$3 h
  h=$(history "$id")
  python3 - "$h" "$result" "$code" <<'PY' || fail "$id: result $result; history $(head -c 3000 "$h")"
import base64, json, sys
ev = json.load(open(sys.argv[1]))["events"]
result = json.loads(sys.argv[2])
types = [e["eventType"].replace("EVENT_TYPE_", "") for e in ev]
m = [e["markerRecordedEventAttributes"] for e in ev if e["eventType"].endswith("MARKER_RECORDED")]
def data(mk):
    return json.loads(base64.b64decode(mk["details"]["data"]["payloads"][0]["data"]))
assert all(mk["markerName"] == "core_local_activity" for mk in m), m
assert "WORKFLOW_TASK_TIMED_OUT" not in types and "WORKFLOW_TASK_FAILED" not in types, types
exec(sys.argv[3])
PY
}

id=$(unique seq)
r=$(run "$id" '{"mode":"seq"}')
check "$id" "$r" '
assert result == 20, result
assert len(m) == 20, len(m)
assert [data(mk)["seq"] for mk in m] == list(range(1, 21))
assert types.count("WORKFLOW_TASK_COMPLETED") == 1, types
assert not any(t.startswith("ACTIVITY_TASK") for t in types), types
'
seq_id=$id

id=$(unique long)
r=$(run "$id" '{"mode":"long","ms":3000}' --task-timeout 2s)
check "$id" "$r" '
assert result == "slept", result
assert len(m) == 1 and "result" in m[0]["details"], m
assert types.count("WORKFLOW_TASK_COMPLETED") >= 2, types
'

id=$(unique retry)
r=$(run "$id" '{"mode":"retry"}')
check "$id" "$r" '
assert result == 3, result
assert len(m) == 1 and data(m[0])["attempt"] == 3, [data(x) for x in m]
assert "TIMER_STARTED" not in types, types
'

id=$(unique backoff)
r=$(run "$id" '{"mode":"backoff"}')
check "$id" "$r" '
assert result == 2, result
assert len(m) == 2, m
first, second = data(m[0]), data(m[1])
assert "failure" in m[0] and first["backoff"] and first["attempt"] == 1, (m[0], first)
assert second["attempt"] == 2 and "result" in m[1]["details"], second
assert second["original_schedule_time"] == first["original_schedule_time"], (first, second)
assert types.index("TIMER_STARTED") < types.index("TIMER_FIRED"), types
'

for ct in 0 1 2; do
  id=$(unique cancel$ct)
  # The task waits for the running activity (as in the SDKs) until its
  # heartbeat at 80% of the task timeout sends the timer: a short timeout.
  r=$(run "$id" "{\"mode\":\"cancel\",\"type\":$ct}" --task-timeout 2s)
  check "$id" "$r" '
assert result == "CanceledError", result
assert len(m) == 1 and "failure" in m[0], m
'
done

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["workflow_task_heartbeats"] >= 1, s
# Waiting on a 3 s (and a cancelled 30 s) local activity is not the code
# blocking: the watchdog's 1 s blocked budget does not count it.
assert s["watchdog_preemptions"] == 0, s
# 20 + 1 + 3 + 2 + 3 cancelled (each started once)
assert s["local_activity_attempts"] >= 29, s
PY

"$sw" replay "$(history "$seq_id")" || fail "the 20-in-a-row history did not replay"
# The Python SDK's Locals (20 local activities, sdk-core's markers),
# replayed on twe's.
pq=$(unique locals-py)
start_py_worker "$pq"
pyw=$PY_WORKER_PID
id=$(unique locals-py)
r=$(t workflow execute --type Locals --task-queue "$pq" --workflow-id "$id" --input '{"mode":"seq"}' -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
kill -TERM "$pyw"; wait "$pyw" 2>/dev/null || true
[ "$r" = 20 ] || fail "Python's Locals: result $r"
"$sw" replay "$(history "$id")" >"$TWE_IT_TMP/replay.out" 2>&1 ||
  fail "the Python SDK's Locals history does not replay on twe: $(cat "$TWE_IT_TMP/replay.out")"
ok "the Python SDK's 20 local activities replay on twe"

ok "local activities (cache $cache): 20 in one task, a 3 s one past a 2 s task timeout, retries, a backoff timer, three cancellation types, replay: $(cat "$TWE_IT_TMP/w.stats")"
