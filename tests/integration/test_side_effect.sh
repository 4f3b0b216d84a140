#!/usr/bin/env bash
# tests/integration/test_side_effect.sh SCENARIO_WORKER [cache0] — a side
# effect (the wall clock) recorded in the first task comes back, the same,
# in the second; with cache0 the second task replays the first from
# history, so the value must come from the SideEffect marker, not a new
# reading.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_side_effect.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique sided)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID
id=$(unique sided)
r=$(t workflow execute --type Sided --task-queue "$q" --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
h=$(history "$id")
python3 - "$h" "$r" <<'PY' || fail "Sided: result $r, history $(cat "$h" | head -c 2000)"
import base64, json, sys
ev, result = json.load(open(sys.argv[1]))["events"], sys.argv[2]
m = [e["markerRecordedEventAttributes"] for e in ev if e["eventType"].endswith("MARKER_RECORDED")]
assert len(m) == 1 and m[0]["markerName"] == "SideEffect", m
d = m[0]["details"]
assert json.loads(base64.b64decode(d["side-effect-id"]["payloads"][0]["data"])) == 1, d
recorded = json.loads(base64.b64decode(d["data"]["payloads"][0]["data"]))
assert recorded == result, (recorded, result)
assert sum(e["eventType"].endswith("WORKFLOW_TASK_COMPLETED") for e in ev) == 2
PY
stop_worker w "$pid"
ok "the side effect recorded in the first task ($r) came back in the second (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
