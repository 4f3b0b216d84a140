#!/usr/bin/env bash
# tests/integration/test_queries.sh SCENARIO_WORKER [cache0] — queries of
# twe workflows against the dev server, from the `temporal` CLI and the
# Python SDK's client; with cache0 the worker keeps no run (every query
# replays the history into a run of its own).
#   - `workflow query` returns in-memory state of a running workflow, the
#     state after a signal, and the state of a completed workflow.
#   - `workflow stack` shows every coroutine and what it waits on.
#   - `workflow metadata` lists the handlers.
#   - An unknown query type fails naming the known ones; a handler that
#     tries to sleep fails naming the call; a handler's own failure reaches
#     the caller with its message.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_queries.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
[ -x "$TWE_TEST_PYTHON" ] || fail "no Python client venv at $TWE_TEST_PYTHON (run scripts/bootstrap)"

q=$(unique queries)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID

query() { # WORKFLOW_ID NAME [ARGS...] -> the answer's JSON (compact) on stdout
  local id=$1 name=$2; shift 2
  t workflow query --workflow-id "$id" --name "$name" -o json "$@" >"$TWE_IT_TMP/q.json" 2>"$TWE_IT_TMP/q.err" ||
    { cat "$TWE_IT_TMP/q.err" >&2; return 1; }
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d.get("queryResult", d); print(json.dumps(r[0] if isinstance(r, list) and len(r) == 1 else r, separators=(",", ":")))' "$TWE_IT_TMP/q.json"
}
query_error() { # WORKFLOW_ID NAME -> the CLI's error text on stdout (the query must fail)
  if t workflow query --workflow-id "$1" --name "$2" >"$TWE_IT_TMP/qe.out" 2>&1; then
    fail "query $2 of $1 succeeded: $(cat "$TWE_IT_TMP/qe.out")"
  fi
  cat "$TWE_IT_TMP/qe.out"
}
assert_eq() { [ "$1" = "$2" ] || fail "$3: got $1, want $2"; }
assert_has() { case "$1" in *"$2"*) ;; *) fail "$3: $1 lacks $2" ;; esac; }

# A Collect that sleeps 10 minutes before taking 2 "add" signals.
id=$(unique collect)
t workflow start --type Collect --task-queue "$q" --workflow-id "$id" --input '{"sleep_ms":600000,"want":2}' >/dev/null
for _ in $(seq 1 50); do
  t workflow describe --workflow-id "$id" -o json | grep -q '"historyLength": *"[5-9]' && break
  sleep 0.2
done

# The CLI prints an empty JSON list as null: compare the count here, the
# whole answer through the Python client below.
assert_eq "$(query "$id" status | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')" 0 "status of a running workflow"
ok "query (CLI): in-memory state of a running workflow"

stack=$(t workflow stack --workflow-id "$id" 2>&1) || fail "workflow stack: $stack"
assert_has "$stack" 'coroutine 1 (workflow function): waiting on timer 1 (600.000 s)' "stack"
ok "stack: $(echo "$stack" | grep -o 'coroutine 1[^\\]*' | head -1)"

md=$(t workflow metadata --workflow-id "$id" 2>&1) || fail "workflow metadata: $md"
for h in status sneaky fail; do assert_has "$md" "$h" "metadata"; done
ok "metadata lists the query handlers"

err=$(query_error "$id" nosuch)
assert_has "$err" 'unknown query type \"nosuch\"' "unknown query"
assert_has "$err" '__stack_trace, __temporal_workflow_metadata, status, sneaky, fail' "known names"
ok "an unknown query type lists the known ones"

err=$(query_error "$id" sneaky)
assert_has "$err" 'query handler \"sneaky\" called twe_workflow_sleep: query handlers are read-only' "read-only"
assert_eq "$(py query "$id" status)" '{"count": 0, "values": []}' "status after the refused sleep"
h=$(history "$id")
assert_eq "$(count_events "$h" TIMER_STARTED)" 1 "timers: the refused sleep left none"
ok "a query handler that tries to sleep fails naming the call, and changes nothing"

err=$(query_error "$id" fail)
assert_has "$err" 'failed' "a handler's failure"
ok "a handler's failure reaches the caller"

got=$(py query "$id" status)
assert_eq "$got" '{"count": 0, "values": []}' "Python client query"
ok "query from the Python client"

# A second Collect with a short sleep: its state after a signal, in a
# condition wait, and once it completed.
id2=$(unique collect-short)
t workflow start --type Collect --task-queue "$q" --workflow-id "$id2" --input '{"sleep_ms":1000,"want":2}' >/dev/null
t workflow signal --workflow-id "$id2" --name add --input '"x"' >/dev/null
sleep 2
assert_eq "$(py query "$id2" status)" '{"count": 1, "values": ["x"]}' "status after a signal"
stack=$(t workflow stack --workflow-id "$id2" 2>&1)
assert_has "$stack" 'coroutine 1 (workflow function): waiting for condition' "stack in a condition wait"
t workflow signal --workflow-id "$id2" --name add --input '"y"' >/dev/null
t workflow result --workflow-id "$id2" >/dev/null || fail "$id2 did not complete"
assert_eq "$(query "$id2" status)" '{"count":2,"values":["x","y"]}' "status of a completed workflow (CLI)"
assert_eq "$(py query "$id2" status)" '{"count": 2, "values": ["x", "y"]}' "status of a completed workflow (Python)"
ok "query: state after a signal, and of a completed workflow (replayed)"

t workflow terminate --workflow-id "$id" --reason "test done" >/dev/null
stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["nondeterminism_errors"] == 0 and s["workflow_tasks_failed"] == 0, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
