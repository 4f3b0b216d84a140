#!/usr/bin/env bash
# tests/integration/test_external.sh SCENARIO_WORKER [cache0] — one twe
# workflow (Sender) signals another (Approval) and asks a third
# (Cancellable) to cancel, against the dev server; a signal to a workflow
# that does not exist fails in the sender with the server's cause.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_external.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique external)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID
result() { t workflow result --workflow-id "$1" -o json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"], separators=(",", ":")))'; }

rx=$(unique receiver)
t workflow start --type Approval --task-queue "$q" --workflow-id "$rx" --input '{"timeout_ms":60000}' >/dev/null
tx=$(unique sender)
t workflow start --type Sender --task-queue "$q" --workflow-id "$tx" --input "{\"target\":\"$rx\",\"action\":\"signal\"}" >/dev/null
[ "$(result "$tx")" = '{"ok":true}' ] || fail "Sender (signal): $(result "$tx")"
[ "$(result "$rx")" = '{"approved":"from twe"}' ] || fail "receiver: $(result "$rx")"
h=$(history "$tx")
[ "$(count_events "$h" EXTERNAL_WORKFLOW_EXECUTION_SIGNALED)" = 1 ] || fail "no EXTERNAL_WORKFLOW_EXECUTION_SIGNALED in $tx"
ok "a twe workflow signalled another; the receiver got \"from twe\""

rx=$(unique cancel-receiver)
t workflow start --type Cancellable --task-queue "$q" --workflow-id "$rx" --input '{"ctype":"try"}' >/dev/null
for _ in $(seq 1 100); do
  t workflow describe --workflow-id "$rx" -o json | grep -q '"lastHeartbeatTime"' && break
  sleep 0.1
done
tx=$(unique cancel-sender)
t workflow start --type Sender --task-queue "$q" --workflow-id "$tx" --input "{\"target\":\"$rx\",\"action\":\"cancel\"}" >/dev/null
[ "$(result "$tx")" = '{"ok":true}' ] || fail "Sender (cancel): $(result "$tx")"
st=$(closed_status "$rx")
[ "$st" = WORKFLOW_EXECUTION_STATUS_CANCELED ] || fail "the cancelled receiver ended $st"
ok "a twe workflow asked another to cancel; it ended CANCELED"

tx=$(unique lonely-sender)
t workflow start --type Sender --task-queue "$q" --workflow-id "$tx" --input '{"target":"no-such-workflow","action":"signal"}' >/dev/null
r=$(result "$tx")
case "$r" in *EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND*) ;; *) fail "signal to nobody: $r" ;; esac
ok "a signal to a workflow that does not exist failed in the sender: $r"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["nondeterminism_errors"] == 0 and s["workflow_tasks_failed"] == 0, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
