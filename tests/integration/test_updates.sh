#!/usr/bin/env bash
# tests/integration/test_updates.sh SCENARIO_WORKER [cache0] — updates of a
# twe workflow (Counter) against the dev server, from the `temporal` CLI
# and the Python SDK's client; with cache0 every task replays.
#   - `workflow update execute` returns the handler's result.
#   - A validator's rejection reaches the CLI with its message and leaves no
#     event; an unknown update name is rejected naming the known ones.
#   - The same update id twice returns one outcome (one ACCEPTED event).
#   - A handler's failure completes the update with it; the workflow goes on.
#   - `update start` (wait for acceptance) then `update result`.
#   - An update from the Python client; the workflow ends by an update.
#   - Interop: the history of the Python SDK's twin of Counter (updates
#     accepted, rejected, failed, completed) replays on twe's Counter.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_updates.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
[ -x "$TWE_TEST_PYTHON" ] || fail "no Python client venv at $TWE_TEST_PYTHON (run scripts/bootstrap)"

q=$(unique updates)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID
assert_eq() { [ "$1" = "$2" ] || fail "$3: got $1, want $2"; }
assert_has() { case "$1" in *"$2"*) ;; *) fail "$3: $1 lacks $2" ;; esac; }
update() { # WORKFLOW_ID NAME INPUT [FLAGS...] -> the CLI's output; fails if the update fails
  local id=$1 name=$2 input=$3; shift 3
  t workflow update execute --workflow-id "$id" --name "$name" --input "$input" "$@" 2>&1
}
update_error() { # as update, but the update must fail; its output on stdout
  local out
  if out=$(update "$@"); then fail "update $2 of $1 succeeded: $out"; fi
  echo "$out"
}
result_of() { sed -n 's/^ *Result *//p' <<<"$1" | tr -d ' '; }
updates_in() { # HISTORY -> "accepted completed"
  echo "$(count_events "$1" WORKFLOW_EXECUTION_UPDATE_ACCEPTED) $(count_events "$1" WORKFLOW_EXECUTION_UPDATE_COMPLETED)"
}

id=$(unique counter)
t workflow start --type Counter --task-queue "$q" --workflow-id "$id" >/dev/null

out=$(update "$id" add 5) || fail "update add 5: $out"
assert_eq "$(result_of "$out")" 5 "update add 5"
ok "update execute returned the handler's result (total 5)"

out=$(update_error "$id" add -1)
assert_has "$out" "negative numbers cannot be added" "validator rejection"
h=$(history "$id")
assert_eq "$(updates_in "$h")" "1 1" "events after the rejection ($id)"
ok "a validator's rejection reached the CLI and left no event"

out=$(update_error "$id" nosuch 1)
assert_has "$out" 'unknown update \"nosuch\" for workflow \"Counter\" (known: add, fail, finish)' "unknown update"
ok "an unknown update is rejected naming the known ones"

out1=$(update "$id" add 7 --update-id same-id) || fail "update add 7: $out1"
out2=$(update "$id" add 7 --update-id same-id) || fail "update add 7 again: $out2"
assert_eq "$(result_of "$out1")" 12 "first same-id update"
assert_eq "$(result_of "$out2")" 12 "second same-id update"
h=$(history "$id")
assert_eq "$(updates_in "$h")" "2 2" "events after the same id twice ($id)"
ok "the same update id twice returned one outcome (12) and was recorded once"

out=$(update_error "$id" fail '"please"')
assert_has "$out" "failed as asked" "handler failure"
got=$(py query "$id" total)
assert_eq "$got" 12 "total after a failed update"
ok "a handler's failure completed the update with it; the workflow went on"

t workflow update start --workflow-id "$id" --name add --input 3 --update-id started-1 \
  --wait-for-stage accepted >/dev/null || fail "update start"
out=$(t workflow update result --workflow-id "$id" --update-id started-1 2>&1) || fail "update result: $out"
assert_eq "$(result_of "$out")" 15 "update start then result"
ok "update start (accepted) then update result: 15"

got=$(py update "$id" add 5)
assert_eq "$got" 20 "Python update"
ok "an update from the Python client: 20"

update "$id" finish null >/dev/null || fail "update finish"
r=$(t workflow result --workflow-id "$id" 2>&1) || fail "Counter result: $r"
assert_has "$r" 20 "Counter's result"
h=$(history "$id")
[ "$(count_events "$h" WORKFLOW_TASK_FAILED)" = 0 ] ||
  fail "a workflow task failed ($id); the worker said: $(grep 'workflow task failed' "$TWE_IT_TMP/w.err")"
ok "the workflow ended by an update with its total; no task failed"

# The Python SDK's Counter, driven the same way; its history replays on twe.
pq=$(unique updates-py)
start_py_worker "$pq"
pyw=$PY_WORKER_PID
pid2=$(unique py-counter)
t workflow start --type Counter --task-queue "$pq" --workflow-id "$pid2" >/dev/null
update "$pid2" add 5 >/dev/null || fail "Python Counter: add 5"
update_error "$pid2" add -1 >/dev/null
update_error "$pid2" fail '"x"' >/dev/null
update "$pid2" add 2 --update-id py-same >/dev/null || fail "Python Counter: add 2"
update "$pid2" finish null >/dev/null || fail "Python Counter: finish"
t workflow result --workflow-id "$pid2" >/dev/null || fail "Python Counter did not complete"
kill -TERM "$pyw"; wait "$pyw" 2>/dev/null || true
h=$(history "$pid2")
assert_eq "$(updates_in "$h")" "4 4" "the Python Counter's updates in history"
"$sw" replay "$h" >"$TWE_IT_TMP/replay.out" 2>&1 ||
  fail "the Python SDK's Counter history does not replay on twe: $(cat "$TWE_IT_TMP/replay.out")"
ok "the Python SDK's Counter history (4 updates accepted and completed, one a failure; one rejected) replays on twe"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["nondeterminism_errors"] == 0 and s["workflow_tasks_failed"] == 0, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
