#!/usr/bin/env bash
# tests/integration/test_patched.sh SCENARIO_WORKER — versioning by patches
# against the dev server:
#   - twe's Patched (new code) records the "core_patch" marker and upserts
#     TemporalChangeVersion, as the Python SDK does;
#   - a history recorded by the old code (worker --old: no patch) replays on
#     the new code, which takes the old branch there;
#   - the Python SDK's Patched (workflow.patched) history replays on twe's;
#   - a keyword search attribute a twe workflow upserts is found by
#     `temporal workflow list --query`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_patched.sh SCENARIO_WORKER}
[ -x "$TWE_TEST_PYTHON" ] || fail "no Python client venv at $TWE_TEST_PYTHON (run scripts/bootstrap)"
kinds() { python3 -c 'import json,sys; print(" ".join(e["eventType"][11:] for e in json.load(open(sys.argv[1]))["events"]))' "$1"; }

# New code, live.
q=$(unique patched)
start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID
id=$(unique patched-new)
r=$(t workflow execute --type Patched --task-queue "$q" --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
[ "$r" = new ] || fail "new code: result $r"
h=$(history "$id")
python3 - "$h" <<'PY' || fail "new code's history: $(kinds "$h")"
import base64, json, sys
ev = json.load(open(sys.argv[1]))["events"]
m = [e for e in ev if e["eventType"].endswith("MARKER_RECORDED")]
assert len(m) == 1 and m[0]["markerRecordedEventAttributes"]["markerName"] == "core_patch", m
data = json.loads(base64.b64decode(m[0]["markerRecordedEventAttributes"]["details"]["patch-data"]["payloads"][0]["data"]))
assert data == {"id": "my-patch", "deprecated": False}, data
u = [e for e in ev if e["eventType"].endswith("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES")]
f = u[0]["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"]["indexedFields"]["TemporalChangeVersion"]
assert json.loads(base64.b64decode(f["data"])) == ["my-patch"], f
PY
"$sw" replay "$h" >"$TWE_IT_TMP/replay.out" 2>&1 || fail "the new code's history does not replay: $(cat "$TWE_IT_TMP/replay.out")"
# An upserted keyword, found by a visibility query.
id=$(unique tagged)
tag=$(unique tag)
t workflow execute --type Tagged --task-queue "$q" --workflow-id "$id" --input "{\"tag\":\"$tag\"}" >/dev/null ||
  fail "Tagged did not complete"
found=
for _ in $(seq 1 50); do
  found=$(t workflow list --query "TweTag = '$tag'" -o json |
          python3 -c 'import json,sys; print(" ".join(w["execution"]["workflowId"] for w in json.load(sys.stdin)))')
  [ -n "$found" ] && break
  sleep 0.2
done
[ "$found" = "$id" ] || fail "list by TweTag = '$tag' found: '$found'"
ok "an upserted keyword search attribute is found by workflow list --query"

stop_worker w "$pid"
ok "new code: \"new\", with the core_patch marker and TemporalChangeVersion [\"my-patch\"]; it replays"

# Old code's history, replayed on the new code.
start_worker old "$sw" worker --task-queue "$q" --old
id=$(unique patched-old)
r=$(t workflow execute --type Patched --task-queue "$q" --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
[ "$r" = old ] || fail "old code: result $r"
h=$(history "$id")
"$sw" replay "$h" >"$TWE_IT_TMP/replay.out" 2>&1 ||
  fail "the old code's history does not replay on the new code: $(cat "$TWE_IT_TMP/replay.out")"
stop_worker old "$WORKER_PID"
ok "a history of the old code ($(kinds "$h")) replays on the new code"

# The Python SDK's Patched, replayed on twe.
pq=$(unique patched-py)
start_py_worker "$pq"
pyw=$PY_WORKER_PID
id=$(unique patched-py)
r=$(t workflow execute --type Patched --task-queue "$pq" --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
kill -TERM "$pyw"; wait "$pyw" 2>/dev/null || true
[ "$r" = new ] || fail "Python's Patched: result $r"
h=$(history "$id")
"$sw" replay "$h" >"$TWE_IT_TMP/replay.out" 2>&1 ||
  fail "the Python SDK's Patched history does not replay on twe: $(cat "$TWE_IT_TMP/replay.out")"
ok "the Python SDK's Patched history ($(kinds "$h")) replays on twe"
