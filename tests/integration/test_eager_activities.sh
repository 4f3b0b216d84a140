#!/usr/bin/env bash
# tests/integration/test_eager_activities.sh SCENARIO_WORKER — eager
# activities against a dev server of its own that allows them
# (system.enableActivityEagerExecution=true; the shared fixture's does not,
# so there every completion's request is ignored): a Sequential run of 10
# activities completes with the right result, and its activities came in
# the completions' answers (activities_eager in the worker's stats), not
# from polls. With eager activities disabled (--no-eager), none does.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
state=$(mktemp -d)
WATCH_PID=$$ devserver_start "$state" \
  --dynamic-config-value system.enableActivityEagerExecution=true >/dev/null ||
  { echo "FAIL: the dev server did not start: $(tail -5 "$state/server.log")"; exit 1; }
export TEMPORAL_ADDRESS
TEMPORAL_ADDRESS=$(cat "$state/address")
export TEMPORAL_CLI="$TWE_TEMPORAL_CLI"
source "$(dirname "$0")/lib.sh"
trap 'cleanup; devserver_stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
sw=${1:?usage: test_eager_activities.sh SCENARIO_WORKER}

# run NAME [worker flags]: Sequential(10) on a worker of its own; prints its
# activities_eager.
run() {
  local name=$1 q id r
  shift
  q=$(unique "eager-$name")
  # Fixed activity slots: the resource-based ones would promise none above
  # their floor while the host's CPU is busy (other tests beside this one),
  # and this test is about asking, taking and running eager activities. 32:
  # each shard's activity polls hold a slot too (8 with TWE_SHARD_THREADS=4).
  TWE_ACTIVITY_THREADS=32 start_worker "$name" "$sw" worker --task-queue "$q" "$@"
  id=$(unique "$name")
  r=$(t workflow execute --type Sequential --task-queue "$q" --workflow-id "$id" --input 10 \
        -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
  [ "$r" = 10 ] || fail "$name: Sequential(10) returned $r"
  h=$(history "$id")
  [ "$(count_events "$h" ACTIVITY_TASK_STARTED)" = 10 ] || fail "$name: not 10 activities started"
  stop_worker "$name" "$WORKER_PID"
  json_get "$TWE_IT_TMP/$name.stats" 'd["activities_eager"]'
}
eager=$(run on)
[ "$eager" -ge 8 ] || fail "eager activities on: only $eager of 10 came in completions' answers"
ok "eager on: $eager of 10 activities came in the completions' answers, the run's result right"
none=$(run off --no-eager)
[ "$none" = 0 ] || fail "eager activities off: $none came eagerly"
ok "eager off: every activity came from a poll"
