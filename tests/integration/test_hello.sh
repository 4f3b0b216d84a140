#!/usr/bin/env bash
# tests/integration/test_hello.sh HELLO_BIN — the quick-start worker:
# `temporal workflow execute` of Hello completes with the expected result
# (3 sequential and 10 parallel activities), the worker stops cleanly on
# SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hello=${1:?usage: test_hello.sh HELLO_BIN}
q=$(unique hello)

"$hello" --task-queue "$q" >"$TWE_IT_TMP/hello.out" 2>"$TWE_IT_TMP/hello.err" &
pid=$!
TWE_IT_PIDS+=("$pid")
for _ in $(seq 1 100); do grep -q "worker running" "$TWE_IT_TMP/hello.err" && break; sleep 0.1; done
grep -q "worker running" "$TWE_IT_TMP/hello.err" || { cat "$TWE_IT_TMP/hello.err"; fail "hello worker did not start"; }

wf=$(unique hello-wf)
t workflow execute --type Hello --task-queue "$q" --workflow-id "$wf" --input '"World"' \
  --output json >"$TWE_IT_TMP/result.json" || { cat "$TWE_IT_TMP/hello.err"; fail "workflow execute"; }
python3 - "$TWE_IT_TMP/result.json" <<'PY' || fail "unexpected result: $(cat "$TWE_IT_TMP/result.json")"
import json, sys
d = json.load(open(sys.argv[1]))
r = d.get("result", d)
if isinstance(r, list): r = r[0]
want = {"sequential": ["Hello, World!", "Bonjour, World!", "Hallo, World!"],
        "parallel": ["Hi %d, World!" % i for i in range(10)]}
assert r == want, r
PY
ok "Hello completed with 3 sequential + 10 parallel greetings"

h=$(history "$wf")
[ "$(count_events "$h" ACTIVITY_TASK_COMPLETED)" = 13 ] || fail "expected 13 completed activities"
[ "$(count_events "$h" WORKFLOW_TASK_FAILED)" = 0 ] || fail "workflow task failures in $h"
ok "history: 13 activities completed, no workflow task failure"

kill -TERM "$pid"
wait "$pid" || fail "hello exited with $?"
grep -q "stopped:" "$TWE_IT_TMP/hello.err" || fail "hello did not report its stop"
ok "hello stopped on SIGTERM: $(grep 'stopped:' "$TWE_IT_TMP/hello.err")"
