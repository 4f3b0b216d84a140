#!/usr/bin/env bash
# tests/integration/test_continue_as_new.sh SCENARIO_WORKER [cache0] — a twe
# workflow that continues as new three times carrying a counter: the result
# wait on the workflow id returns the last run's result, whose info names
# the run it continued from and the chain's first run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_continue_as_new.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique chain)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID
id=$(unique chain)
first=$(t workflow start --type Chain --task-queue "$q" --workflow-id "$id" --input '{"n":0,"left":3}' -o json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["runId"])')
t workflow result --workflow-id "$id" -o json >"$TWE_IT_TMP/r.json" || fail "Chain did not complete: $(cat "$TWE_IT_TMP/r.json")"
last=$(t workflow describe --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workflowExecutionInfo"]["execution"]["runId"])')
python3 - "$TWE_IT_TMP/r.json" "$first" "$last" <<'PY' || fail "Chain result: $(cat "$TWE_IT_TMP/r.json")"
import json, sys
r = json.load(open(sys.argv[1]))["result"]
first, last = sys.argv[2], sys.argv[3]
assert r["n"] == 3, r
assert r["first"] == first, (r, first)
assert r["from"] and r["from"] not in (first, last), (r, first, last)
PY
n=$(t workflow list --query "WorkflowId = '$id'" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 4 ] || fail "runs of $id: $n, want 4"
ok "Chain continued as new 3 times (4 runs): the result wait returned n=3 from the last run, which names its previous and first runs"
stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["nondeterminism_errors"] == 0 and s["workflow_tasks_failed"] == 0, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
