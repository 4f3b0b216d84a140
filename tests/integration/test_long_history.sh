#!/usr/bin/env bash
# tests/integration/test_long_history.sh SCENARIO_WORKER — a long history
# replayed page by page: a worker without a cache replays a Sequential run
# of 500 activities (about 3,000 events) from the full history at every
# task, the later ones over several GetWorkflowExecutionHistory pages (the
# dev server's hold about 1,000 events). The
# run completes with the right result and no task failed, and no task held
# the whole history at once: each part was replayed, and its pages freed,
# as the next page came (history_events_held_max in the worker's stats).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_long_history.sh SCENARIO_WORKER}
q=$(unique long-history)
start_worker w "$sw" worker --task-queue "$q" --cache 0
id=$(unique long)
# Up to 4 minutes: 500 tasks each replaying up to 3,000 events take about 45 s
# alone, past the CLI's 60 s of `t` beside the heavier tests (measured: 60.2 s).
r=$("$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 240s workflow execute \
      --type Sequential --task-queue "$q" --workflow-id "$id" --input 500 \
      --execution-timeout 10m -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
[ "$r" = 500 ] || fail "Sequential(500) returned $r"
h=$(history "$id")
events=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["events"]))' "$h")
failed=$(count_events "$h" WORKFLOW_TASK_FAILED)
[ "$failed" = 0 ] || fail "$failed workflow task(s) failed"
stop_worker w "$WORKER_PID"
python3 - "$TWE_IT_TMP/w.stats" "$events" <<'PY' || fail "stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
events = int(sys.argv[2])
print("history events:", events, "pages fetched:", s["history_pages_fetched"],
      "most events held by a task at once:", s["history_events_held_max"])
assert s["workflow_tasks_failed"] == 0, s
assert s["history_pages_fetched"] >= 3, s
assert 0 < s["history_events_held_max"] < events * 0.6, s
PY
ok "a $events-event history replayed page by page; no task held it whole"
