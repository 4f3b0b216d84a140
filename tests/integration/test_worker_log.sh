#!/usr/bin/env bash
# tests/integration/test_worker_log.sh SCENARIO_WORKER — the worker's log as
# an operator reads it (TWE_LOG_FORMAT=json, one object per line):
#   - a workflow task that fails (a workflow type the worker does not know)
#     is an error line with the cause, the shard and the workflow's type, id
#     and run id;
#   - evictions forced by the cache size (--cache 1, three runs at once) are
#     said, held back when they repeat;
#   - the workflow code's own lines (twe_workflow_log, with no hook) come in
#     the same format with their level, once each although the evicted runs
#     replay.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_worker_log.sh SCENARIO_WORKER}
q=$(unique wlog)
# One shard: the cache is split over the shards, and with more (say
# TWE_SHARD_THREADS=4) the three runs could each have a shard's share.
TWE_SHARD_THREADS=1 TWE_LOG_FORMAT=json start_worker w "$sw" worker --task-queue "$q" --cache 1

bad=$(unique nosuch)
t workflow start --type NoSuchType --task-queue "$q" --workflow-id "$bad" >/dev/null
ids=()
for i in 1 2 3; do
  ids+=("$(unique chatty)")
  t workflow start --type Chatty --task-queue "$q" --workflow-id "${ids[-1]}" \
    --input '{"sleep_ms": 2000}' >/dev/null
done
for id in "${ids[@]}"; do
  r=$(t workflow result --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
  [ "$r" = chatted ] || fail "Chatty $id: $r"
done
t workflow terminate --workflow-id "$bad" --reason "test done" >/dev/null
stop_worker w "$WORKER_PID"

python3 - "$TWE_IT_TMP/w.err" "$bad" "${ids[@]}" <<'PY' || fail "the worker's log: $(tail -30 "$TWE_IT_TMP/w.err")"
import json, sys
path, bad, chatty = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = []
for raw in open(path).read().splitlines():
    if not raw.startswith("{"):
        continue  # the scenario worker's own lines
    lines.append(json.loads(raw))  # every twe line is one JSON object
assert lines, "no JSON lines"
for l in lines:
    assert l["level"] in ("debug", "info", "warn", "error") and l["time"].endswith("Z"), l

failed = [l for l in lines if l.get("workflow_id") == bad and "workflow task failed" in l["msg"]]
assert failed, "no line for the failed workflow task"
f = failed[0]
assert f["level"] == "error" and f["workflow_type"] == "NoSuchType" and f["run_id"], f
assert "shard" in f and "NoSuchType" in f["msg"] and "not registered" in f["msg"], f
print("task failure:", json.dumps(f))

evicted = [l for l in lines if "the workflow cache is full" in l["msg"]]
assert evicted and evicted[0]["level"] == "info", evicted
print("forced eviction:", json.dumps(evicted[0]))

for id in chatty:
    mine = [l for l in lines if l.get("workflow_id") == id and l.get("workflow_type") == "Chatty"]
    steps = [(l["level"], l["msg"]) for l in mine if l["msg"].startswith("step")]
    assert steps == [("info", "step 1"), ("warn", "step 2")], (id, steps)
print("workflow lines: step 1 (info) and step 2 (warn) once for each of %d runs" % len(chatty))
PY
ok "the log has the task failure, the forced evictions and the workflow's own lines, in JSON"
