#!/usr/bin/env bash
# tests/integration/test_heartbeat_kill.sh SCENARIO_WORKER — a heartbeating
# activity whose worker process is killed with SIGKILL is retried after the
# heartbeat timeout (2 s) on a restarted worker, and resumes from the last
# heartbeat details the first worker recorded.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_heartbeat_kill.sh SCENARIO_WORKER}
q=$(unique hbkill)
start_worker first "$sw" worker --task-queue "$q"
first=$WORKER_PID

wf=$(unique hb)
t workflow start --type HeartbeatResume --task-queue "$q" --workflow-id "$wf" >/dev/null
for _ in $(seq 1 200); do
  grep -q '^step 12 ' "$TWE_IT_TMP/first.out" && break
  sleep 0.1
done
grep -q '^step 12 ' "$TWE_IT_TMP/first.out" || { cat "$TWE_IT_TMP/first.err"; fail "activity did not reach step 12"; }
kill -KILL "$first"
wait "$first" 2>/dev/null || true
ok "first worker killed at step $(grep -c '^step' "$TWE_IT_TMP/first.out")"

start_worker second "$sw" worker --task-queue "$q"
second=$WORKER_PID
t workflow result --workflow-id "$wf" -o json >"$TWE_IT_TMP/hb.json" || fail "HeartbeatResume did not complete"
python3 - "$TWE_IT_TMP/hb.json" <<'PY' || fail "result: $(cat "$TWE_IT_TMP/hb.json")"
import json, sys
d = json.load(open(sys.argv[1]))
r = d.get("result", d)
if isinstance(r, list): r = r[0]
assert r["count"] == 25, r
assert r["attempt"] == 2, r
assert 1 <= r["resumed_from"] <= 12, r
print("resumed_from", r["resumed_from"], "on attempt", r["attempt"])
PY
grep -q "attempt 2" "$TWE_IT_TMP/second.out" || fail "second worker did not run attempt 2"
first_resumed=$(grep '^step' "$TWE_IT_TMP/second.out" | head -1)
ok "restarted worker resumed from the last heartbeat: first step it ran: $first_resumed"
stop_worker second "$second"
