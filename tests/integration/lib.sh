# tests/integration/lib.sh — shared by the engine's integration tests:
# the CLI against the fixture's server, starting and stopping a worker
# process, reading histories. Source it; needs TEMPORAL_ADDRESS and
# TEMPORAL_CLI (tests/support/run_integration sets both).
: "${TEMPORAL_ADDRESS:?set by tests/support/run_integration}"
: "${TEMPORAL_CLI:?set by tests/support/run_integration}"

t() { "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 60s "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# json_get FILE EXPR: evaluates a Python expression on the JSON document d.
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

TWE_IT_TMP=$(mktemp -d)
TWE_IT_PIDS=()
cleanup() {
  for p in "${TWE_IT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$TWE_IT_TMP"
}
trap cleanup EXIT

# start_worker NAME CMD...: starts a worker in the background, output in
# $TWE_IT_TMP/NAME.out (stdout) and NAME.err; waits for its "ready" line.
# Sets WORKER_PID.
start_worker() {
  local name=$1; shift
  "$@" >"$TWE_IT_TMP/$name.out" 2>"$TWE_IT_TMP/$name.err" &
  WORKER_PID=$!
  TWE_IT_PIDS+=("$WORKER_PID")
  for _ in $(seq 1 100); do
    grep -q '^ready' "$TWE_IT_TMP/$name.out" 2>/dev/null && return 0
    kill -0 "$WORKER_PID" 2>/dev/null || { cat "$TWE_IT_TMP/$name.err" >&2; fail "worker $name exited at start"; }
    sleep 0.1
  done
  cat "$TWE_IT_TMP/$name.err" >&2
  fail "worker $name not ready after 10 s"
}

# stop_worker NAME PID: SIGTERM, wait (must exit 0 within 30 s), then the
# stats line's JSON is in $TWE_IT_TMP/NAME.stats.
stop_worker() {
  local name=$1 pid=$2
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { cat "$TWE_IT_TMP/$name.err" >&2; fail "worker $name did not stop within 30 s"; }
  wait "$pid" || { cat "$TWE_IT_TMP/$name.err" >&2; fail "worker $name exited with $?"; }
  sed -n 's/^stats //p' "$TWE_IT_TMP/$name.out" >"$TWE_IT_TMP/$name.stats"
  [ -s "$TWE_IT_TMP/$name.stats" ] || fail "worker $name printed no stats"
}

# history WORKFLOW_ID: the workflow's history as JSON in $TWE_IT_TMP/WORKFLOW_ID.history.json
history() {
  t workflow show --workflow-id "$1" --output json >"$TWE_IT_TMP/$1.history.json" ||
    fail "workflow show $1"
  echo "$TWE_IT_TMP/$1.history.json"
}

# count_events FILE TYPE: how many events of TYPE (e.g. WORKFLOW_TASK_FAILED).
count_events() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = sys.argv[2]
n = 0
for e in d.get("events", []):
    et = str(e.get("eventType", ""))
    if et in ("EVENT_TYPE_" + t, t) or et.replace("_", "").lower() == t.replace("_", "").lower():
        n += 1
print(n)
PY
}

# unique NAME: a name no other test run uses.
unique() { echo "$1-$$-$RANDOM"; }
