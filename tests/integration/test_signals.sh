#!/usr/bin/env bash
# tests/integration/test_signals.sh SCENARIO_WORKER [cache0] — signals and
# condition waits on twe against the dev server, sent by the `temporal` CLI
# and by the Python SDK's client; with cache0, the worker has no cache (every
# task replays the whole history, signals included).
#   - Approval: a signal from the CLI, and one from Python, reach the handler
#     and end the condition wait; its 2 s timeout timer is cancelled
#     (TIMER_STARTED then TIMER_CANCELED in history).
#   - Approval with no signal: the wait ends by its 2 s timer (TIMER_FIRED).
#   - Collect: three signals sent before the handler exists are delivered
#     in order once it is set.
#   - signal-with-start from Python starts a twe workflow and delivers it.
#   - A signal whose input claims JSON and is not reaches the handler as an
#     error it can see; the workflow goes on and completes.
#   - Interop: the history of the Python SDK's twin of Approval (signal,
#     cancelled timer) replays on twe's Approval; a changed twe Approval (no
#     timeout) reports non-determinism naming the TIMER_STARTED event.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_signals.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
[ -x "$TWE_TEST_PYTHON" ] || fail "no Python client venv at $TWE_TEST_PYTHON (run scripts/bootstrap)"

q=$(unique signals)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID

result() { # WORKFLOW_ID -> the result's JSON text on stdout
  t workflow result --workflow-id "$1" -o json >"$TWE_IT_TMP/$1.result" || fail "$1 did not complete: $(cat "$TWE_IT_TMP/$1.result")"
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["result"], separators=(",", ":")))' "$TWE_IT_TMP/$1.result"
}
assert_eq() { [ "$1" = "$2" ] || fail "$3: got $1, want $2"; }

# 1. The CLI's signal ends the wait; the timeout timer is cancelled.
id=$(unique approve-cli)
t workflow start --type Approval --task-queue "$q" --workflow-id "$id" --input '{"timeout_ms":60000}' >/dev/null
sleep 1
t workflow signal --workflow-id "$id" --name approve --input '"from-cli"' >/dev/null
assert_eq "$(result "$id")" '{"approved":"from-cli"}' "CLI signal"
h=$(history "$id")
assert_eq "$(count_events "$h" TIMER_STARTED)" 1 "timer started ($id)"
assert_eq "$(count_events "$h" TIMER_CANCELED)" 1 "timer canceled ($id)"
assert_eq "$(count_events "$h" WORKFLOW_TASK_FAILED)" 0 "task failures ($id)"
ok "a signal from the CLI reached the handler; TIMER_STARTED and TIMER_CANCELED in history"

# 2. The same from the Python SDK's client.
id=$(unique approve-py)
t workflow start --type Approval --task-queue "$q" --workflow-id "$id" --input '{"timeout_ms":60000}' >/dev/null
sleep 1
py signal "$id" approve '{"by":"python","n":2}'
assert_eq "$(result "$id")" '{"approved":{"by":"python","n":2}}' "Python signal"
ok "a signal from the Python client reached the handler"

# 3. No signal: the 2 s timeout ends the wait.
id=$(unique approve-timeout)
t workflow start --type Approval --task-queue "$q" --workflow-id "$id" --input '{"timeout_ms":2000}' >/dev/null
assert_eq "$(result "$id")" '{"timeout":true}' "timeout"
h=$(history "$id")
assert_eq "$(count_events "$h" TIMER_FIRED)" 1 "timer fired ($id)"
assert_eq "$(count_events "$h" TIMER_CANCELED)" 0 "no timer canceled ($id)"
ok "with no signal the wait ended by its timer (TIMER_FIRED)"

# 4. Three signals before the handler exists, delivered in order.
id=$(unique collect)
t workflow start --type Collect --task-queue "$q" --workflow-id "$id" --input '{"sleep_ms":4000,"want":3}' >/dev/null
t workflow signal --workflow-id "$id" --name add --input '"one"' >/dev/null
py signal "$id" add '"two"'
t workflow signal --workflow-id "$id" --name add --input '"three"' >/dev/null
assert_eq "$(result "$id")" '["one","two","three"]' "buffered signals"
h=$(history "$id")
assert_eq "$(count_events "$h" WORKFLOW_EXECUTION_SIGNALED)" 3 "signals in history ($id)"
ok "three signals sent before the handler existed were delivered in order"

# 5. Signal-with-start from Python.
id=$(unique sws)
got=$(py signal-with-start Approval "$q" "$id" '{"timeout_ms":60000}' approve '"with-start"')
assert_eq "$got" '{"approved": "with-start"}' "signal-with-start"
h=$(history "$id")
assert_eq "$(count_events "$h" TIMER_STARTED)" 0 "no timer: the signal was there before the code ran ($id)"
ok "signal-with-start from Python started the twe workflow and delivered the signal"

# 6. Invalid JSON: the handler sees the error, the workflow completes.
id=$(unique badjson)
t workflow start --type Approval --task-queue "$q" --workflow-id "$id" --input '{"timeout_ms":60000}' >/dev/null
sleep 1
py signal-raw "$id" approve '{"unclosed": '
r=$(result "$id")
case "$r" in
  *'signal \"approve\" input 1 is not valid JSON'*) ;;
  *) fail "bad JSON signal: result $r" ;;
esac
h=$(history "$id")
assert_eq "$(count_events "$h" WORKFLOW_TASK_FAILED)" 0 "task failures ($id)"
ok "a signal with invalid JSON reached the handler as an error; the workflow completed"

# 7. A history the Python SDK recorded replays on twe.
pq=$(unique signals-py)
start_py_worker "$pq"
pyw=$PY_WORKER_PID
id=$(unique py-approval)
t workflow start --type Approval --task-queue "$pq" --workflow-id "$id" --input '{"timeout_ms":60000}' >/dev/null
sleep 1
t workflow signal --workflow-id "$id" --name approve --input '"py"' >/dev/null
assert_eq "$(result "$id")" '{"approved":"py"}' "Python worker's Approval"
kill -TERM "$pyw"; wait "$pyw" 2>/dev/null || true
h=$(history "$id")
assert_eq "$(count_events "$h" TIMER_CANCELED)" 1 "Python history's cancelled timer ($id)"
"$sw" replay "$h" >"$TWE_IT_TMP/replay.out" 2>&1 || fail "the Python SDK's Approval history does not replay on twe: $(cat "$TWE_IT_TMP/replay.out")"
set +e
"$sw" replay "$h" --changed >"$TWE_IT_TMP/replay-changed.out" 2>&1
rc=$?
set -e
assert_eq "$rc" 3 "changed Approval replay exit ($(cat "$TWE_IT_TMP/replay-changed.out"))"
grep -q 'TIMER_STARTED' "$TWE_IT_TMP/replay-changed.out" ||
  fail "the non-determinism message does not name the event: $(cat "$TWE_IT_TMP/replay-changed.out")"
ok "the Python SDK's history replays on twe; a changed workflow reports: $(grep -o 'history has event.*' "$TWE_IT_TMP/replay-changed.out" | head -1)"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" "$cache" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s, cache = json.load(open(sys.argv[1])), int(sys.argv[2])
assert s["nondeterminism_errors"] == 0, s
if cache == 0:
    assert s["cache_hits"] == 0 and s["cache_misses"] >= 6, s
PY
ok "worker stats (cache $cache): $(cat "$TWE_IT_TMP/w.stats")"
