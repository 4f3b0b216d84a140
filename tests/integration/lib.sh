# tests/integration/lib.sh — shared by the engine's integration tests:
# the CLI against the fixture's server, starting and stopping a worker
# process, reading histories, a cgroup with a CPU quota, the fault
# injector. Source it; needs TEMPORAL_ADDRESS and TEMPORAL_CLI
# (tests/support/run_integration sets both).
: "${TEMPORAL_ADDRESS:?set by tests/support/run_integration}"
: "${TEMPORAL_CLI:?set by tests/support/run_integration}"

t() { "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 60s "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# json_get FILE EXPR: evaluates a Python expression on the JSON document d.
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# py ARGS...: the tests' Python client (tests/integration/py_client.py) on
# the venv scripts/bootstrap made.
TWE_TEST_PYTHON=${TWE_TEST_PYTHON:-${TWE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/twe}/venv-tests/bin/python}
py() { "$TWE_TEST_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/py_client.py" "$@"; }
# The tests' Go SDK worker (tests/support/go_worker; scripts/bootstrap builds it).
TWE_CACHE_DIR=${TWE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/twe}
source "$(dirname "${BASH_SOURCE[0]}")/../support/go_worker/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/cgroup.sh"
TWE_GO_WORKER=${TWE_GO_WORKER:-$(goworker_dir)/worker}

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

# start_fault_server SCENARIO LOG: the fault injector
# (tests/support/fault_server.py) playing SCENARIO, one JSON line per call
# in LOG; sets FAULT_ADDRESS (127.0.0.1:port) once it listens.
start_fault_server() {
  local port_file="$TWE_IT_TMP/fault-$1.port"
  rm -f "$port_file"
  "$TWE_TEST_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/../support/fault_server.py" "$1" \
    "$port_file" "$2" 2>"$TWE_IT_TMP/fault-$1.err" &
  TWE_IT_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.1; done
  [ -s "$port_file" ] || fail "the fault injector did not start: $(cat "$TWE_IT_TMP/fault-$1.err")"
  FAULT_ADDRESS="127.0.0.1:$(cat "$port_file")"
}

# start_py_worker QUEUE: the Python SDK worker of py_client.py (the twins
# of twe's workflows) on QUEUE, output in $TWE_IT_TMP/pyw.out and .err;
# waits for its "ready" line. Sets PY_WORKER_PID.
start_py_worker() {
  "$TWE_TEST_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/py_client.py" worker "$1" \
    >"$TWE_IT_TMP/pyw.out" 2>"$TWE_IT_TMP/pyw.err" &
  PY_WORKER_PID=$!
  TWE_IT_PIDS+=("$PY_WORKER_PID")
  for _ in $(seq 1 150); do grep -q '^ready' "$TWE_IT_TMP/pyw.out" && return 0; sleep 0.1; done
  fail "Python worker not ready: $(cat "$TWE_IT_TMP/pyw.err")"
}

# stop_worker NAME PID: SIGTERM, wait (must exit 0 within 30 s), then the
# stats line's JSON is in $TWE_IT_TMP/NAME.stats, and no activity or workflow
# task slot is left taken (a leak fails the test).
stop_worker() {
  local name=$1 pid=$2
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { cat "$TWE_IT_TMP/$name.err" >&2; fail "worker $name did not stop within 30 s"; }
  wait "$pid" || { cat "$TWE_IT_TMP/$name.err" >&2; fail "worker $name exited with $?"; }
  sed -n 's/^stats //p' "$TWE_IT_TMP/$name.out" >"$TWE_IT_TMP/$name.stats"
  [ -s "$TWE_IT_TMP/$name.stats" ] || fail "worker $name printed no stats"
  # Every activity slot is back once the worker has stopped (polls,
  # activities, eager promises and local attempts all give theirs back).
  local left
  left=$(python3 -c 'import json,sys; s = json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(s.get("activity_slots_in_use", 0), s.get("workflow_task_slots_in_use", 0))' "$TWE_IT_TMP/$name.stats")
  [ "$left" = "0 0" ] || fail "worker $name: activity and workflow task slots still taken after it stopped: $left: a slot leaked"
}

# history WORKFLOW_ID: the workflow's history as JSON in $TWE_IT_TMP/WORKFLOW_ID.history.json
history() {
  t workflow show --workflow-id "$1" --output json >"$TWE_IT_TMP/$1.history.json" ||
    fail "workflow show $1"
  echo "$TWE_IT_TMP/$1.history.json"
}

# closed_status WORKFLOW_ID: the workflow's status (WORKFLOW_EXECUTION_STATUS_...)
# once it is no longer running, or RUNNING after 10 s.
closed_status() {
  local st=WORKFLOW_EXECUTION_STATUS_RUNNING
  for _ in $(seq 1 100); do
    st=$(t workflow describe --workflow-id "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workflowExecutionInfo"]["status"])')
    [ "$st" = WORKFLOW_EXECUTION_STATUS_RUNNING ] || break
    sleep 0.1
  done
  echo "$st"
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

# cgroup_quota NAME QUOTA_US: a cgroup (v1 cpu controller) with a CPU quota
# of QUOTA_US per 100 ms period, removed at exit (after lib.sh's cleanup
# killed the workers, and whatever is left in it). Sets cg (its directory)
# and launcher (a command prefix that moves the command into it before it
# execs, so every thread it makes is created inside and its CPU plan sees
# the quota). Skips the test (exit 77) when it cannot be made: not root, no
# v1 cpu controller, read-only.
cgroup_quota() {
  local root=/sys/fs/cgroup/cpu
  [ "$(id -u)" = 0 ] || { echo "SKIP: not root: cannot create a cgroup"; exit 77; }
  [ -f "$root/cpu.cfs_quota_us" ] || { echo "SKIP: no cgroup v1 cpu controller at $root"; exit 77; }
  cg="$root/twe-it-$1"
  mkdir "$cg" 2>/dev/null || { echo "SKIP: cannot create $cg (read-only?)"; exit 77; }
  echo 100000 >"$cg/cpu.cfs_period_us" && echo "$2" >"$cg/cpu.cfs_quota_us" ||
    { rmdir "$cg"; echo "SKIP: cannot set the quota in $cg"; exit 77; }
  trap cgroup_remove EXIT
  launcher=(bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg")
}
cgroup_remove() {
  cleanup
  twe_cgroup_remove "$cg" || echo "warning: could not remove $cg" >&2
}
