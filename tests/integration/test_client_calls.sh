#!/usr/bin/env bash
# tests/integration/test_client_calls.sh SCENARIO_WORKER CLIENT_CALLS — the
# client's calls (tests/integration/client_calls.c) against twe workflows
# that a scenario_worker runs on a queue of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_client_calls.sh SCENARIO_WORKER CLIENT_CALLS}
calls=${2:?usage: test_client_calls.sh SCENARIO_WORKER CLIENT_CALLS}
q=$(unique client-calls)
start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID
TWE_TEST_QUEUE=$q "$calls" || { tail -20 "$TWE_IT_TMP/w.err" >&2; fail "client calls"; }

# A history as the CLI's JSON: the same document the CLI writes (compared
# as JSON values), and twe replays it.
id=$(unique json-history)
t workflow start --type Approval --task-queue "$q" --workflow-id "$id" --input '{"timeout_ms":60000}' >/dev/null
t workflow signal --workflow-id "$id" --name approve --input '{"ok":true,"n":1.5}' >/dev/null
t workflow result --workflow-id "$id" >/dev/null || fail "$id did not complete"
TWE_TEST_QUEUE=$q "$calls" history-json "$id" >"$TWE_IT_TMP/ours.json" || fail "history-json"
t workflow show --workflow-id "$id" --output json >"$TWE_IT_TMP/cli.json" || fail "workflow show"
python3 - "$TWE_IT_TMP/ours.json" "$TWE_IT_TMP/cli.json" <<'PY' || fail "the JSON history differs from the CLI's"
import json, sys
ours, cli = (json.load(open(p)) for p in sys.argv[1:3])
assert len(ours["events"]) == len(cli["events"]) >= 8, (len(ours["events"]), len(cli["events"]))
for a, b in zip(ours["events"], cli["events"]):
    assert a == b, "event %s:\n ours %s\n cli  %s" % (b.get("eventId"), json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True))
PY
"$sw" replay "$TWE_IT_TMP/ours.json" >"$TWE_IT_TMP/replay.out" 2>&1 ||
  fail "twe does not replay its own JSON history: $(cat "$TWE_IT_TMP/replay.out")"
ok "a history as JSON: equal to the CLI's, event for event ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["events"]))' "$TWE_IT_TMP/ours.json") events), and replayed"

# Approval cancelled by the CLI while it waits ends CANCELED (the race in
# client_calls.c's list test, where terminate may come first, made certain).
id=$(unique cancelled-approval)
t workflow start --type Approval --task-queue "$q" --workflow-id "$id" --input '{"timeout_ms":600000}' >/dev/null
t workflow cancel --workflow-id "$id" >/dev/null
st=$(closed_status "$id")
[ "$st" = WORKFLOW_EXECUTION_STATUS_CANCELED ] || fail "the cancelled Approval ended $st"
ok "Approval cancelled by the CLI ended CANCELED"

stop_worker w "$pid"
ok "client calls against twe workflows: $(cat "$TWE_IT_TMP/w.stats")"
