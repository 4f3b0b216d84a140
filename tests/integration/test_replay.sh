#!/usr/bin/env bash
# tests/integration/test_replay.sh SCENARIO_WORKER — a history exported from
# the dev server (`temporal workflow show --output json`) replays without
# error against the code that made it, and a deliberately changed workflow
# (a different activity type at step 3) fails to replay with a
# NON_DETERMINISTIC error that names the event.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_replay.sh SCENARIO_WORKER}
q=$(unique replay)
start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID
wf=$(unique seq5)
t workflow execute --type Sequential --task-queue "$q" --workflow-id "$wf" --input 5 >/dev/null ||
  fail "Sequential 5"
stop_worker w "$pid"
h=$(history "$wf")

"$sw" replay "$h" >"$TWE_IT_TMP/replay.out" 2>&1 || { cat "$TWE_IT_TMP/replay.out"; fail "replay of an unchanged workflow"; }
ok "replayed $(count_events "$h" ACTIVITY_TASK_COMPLETED) activities from the exported history"

set +e
"$sw" replay "$h" --changed >"$TWE_IT_TMP/changed.out" 2>&1
rc=$?
set -e
[ $rc -eq 3 ] || { cat "$TWE_IT_TMP/changed.out"; fail "changed workflow: exit $rc, want 3 (non-determinism)"; }
msg=$(cat "$TWE_IT_TMP/changed.out")
# The third activity is scheduled by the command events after task 3.
ev=$(python3 - "$h" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
s = [e for e in ev if "activityTaskScheduledEventAttributes" in e]
print(s[2]["eventId"])
PY
)
echo "$msg" | grep -q "event $ev " || fail "message does not name event $ev: $msg"
echo "$msg" | grep -q "ACTIVITY_TASK_SCHEDULED" || fail "message does not name the event type: $msg"
echo "$msg" | grep -q "EchoChanged" || fail "message does not name the command: $msg"
ok "changed workflow: $msg"
