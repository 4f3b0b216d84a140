#!/usr/bin/env bash
# tests/integration/test_eager_start.sh TEST_EAGER_START — eager workflow
# start (tests/integration/test_eager_start.c) against two dev servers of its
# own: one started with system.enableEagerWorkflowStart=true, where every
# eager start must hand its first task to the local worker (with the
# workflow cache, and again without it), and one with it false, where none
# may and every workflow still completes through a poll.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
prog=${1:?usage: test_eager_start.sh TEST_EAGER_START}
state=$(mktemp -d)
trap 'devserver_stop "$state/on" >/dev/null 2>&1; devserver_stop "$state/off" >/dev/null 2>&1; rm -rf "$state"' EXIT

for mode in on off; do
  mkdir -p "$state/$mode"
  flag=true; expect=1
  [ "$mode" = off ] && { flag=false; expect=0; }
  WATCH_PID=$$ devserver_start "$state/$mode" \
    --dynamic-config-value system.enableEagerWorkflowStart=$flag >/dev/null ||
    { echo "FAIL: the dev server did not start: $(tail -5 "$state/$mode/server.log")"; exit 1; }
  echo "== eager workflow start granted: $flag"
  TEMPORAL_ADDRESS=$(cat "$state/$mode/address") TWE_EXPECT_EAGER=$expect \
    TWE_TEST_ID_FILE="$state/$mode/id" "$prog"
  # The CLI reads an eager-started run's history (EagerDouble: its first
  # task, an activity, the second task, the result) as any other.
  id=$(cat "$state/$mode/id")
  "$TWE_TEMPORAL_CLI" workflow show --address "$(cat "$state/$mode/address")" --workflow-id "$id" \
    --output json >"$state/$mode/show.json" || { echo "FAIL: temporal workflow show $id"; exit 1; }
  python3 - "$state/$mode/show.json" <<'PY' || { echo "FAIL: the CLI's history of $id"; exit 1; }
import json, sys
ev = [e["eventType"] for e in json.load(open(sys.argv[1]))["events"]]
want = ["EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_TASK_STARTED", "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
        "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
assert ev[:5] == want, ev
assert ev[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", ev
print("ok: the CLI shows %s: %d events, from WorkflowExecutionStarted to WorkflowExecutionCompleted" % (sys.argv[1].split("/")[-2], len(ev)))
PY
  if [ "$mode" = on ]; then
    echo "== eager workflow start granted: $flag, workflow cache off"
    TEMPORAL_ADDRESS=$(cat "$state/$mode/address") TWE_EXPECT_EAGER=$expect TWE_TEST_CACHE_OFF=1 "$prog"
  fi
  devserver_stop "$state/$mode" >/dev/null 2>&1
done
