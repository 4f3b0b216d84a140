# tests/fault/lib.sh — shared by the fault scenarios (tests/fault/test_*.sh):
# each test's own dev server (persistent, in $TWE_IT_TMP/server.db, so it
# can be killed and started again on the same port with its workflows),
# the fault workers, the load (Steps workflows) and the account after the
# fault (tests/fault/fault_client.py check). Source it from a test; it
# picks the server's port, sets TEMPORAL_ADDRESS and TEMPORAL_CLI, sources
# tests/integration/lib.sh (t, fail, ok, start_worker, stop_worker,
# unique, json_get, $TWE_IT_TMP) and, at exit, stops the servers and
# workers (a guard stops a server if the test dies without its trap) and,
# when the test failed, prints the tails of the server's and the workers'
# logs.
#
# FAULT_IP: the server's address (default 127.0.0.1); FAULT_LISTEN_IP: the
# address it listens on (default FAULT_IP).
# Load: FAULT_WORKFLOWS workflows of FAULT_STEPS steps of FAULT_MS ms;
# each worker runs FAULT_THREADS activities at once.
_fault_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$_fault_dir/../../scripts/lib/common.sh"
source "$_fault_dir/../../scripts/lib/devserver.sh"

FAULT_IP=${FAULT_IP:-127.0.0.1}
FAULT_LISTEN_IP=${FAULT_LISTEN_IP:-$FAULT_IP}
FAULT_PORT=$(twe_free_port)
export TEMPORAL_ADDRESS="$FAULT_IP:$FAULT_PORT"
export TEMPORAL_CLI="$TWE_TEMPORAL_CLI"
source "$_fault_dir/../integration/lib.sh"
[ -x "$TEMPORAL_CLI" ] || fail "no Temporal CLI at $TEMPORAL_CLI: run scripts/bootstrap"

FAULT_WORKFLOWS=${FAULT_WORKFLOWS:-60}
FAULT_STEPS=${FAULT_STEPS:-8}
FAULT_MS=${FAULT_MS:-150}
FAULT_THREADS=${FAULT_THREADS:-8}
FAULT_STATE="$TWE_IT_TMP/server"
FAULT_DB="$TWE_IT_TMP/server.db"
STEP_LOG="$TWE_IT_TMP/steps.log"
: >"$STEP_LOG"
FAULT_T0=$SECONDS
FAULT_STARTS=0
FAULT_WORKER_PREFIX=()

fault_cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for f in "$TWE_IT_TMP"/server-*.log; do
      [ -f "$f" ] && { echo "---- last 20 lines of $(basename "$f") ----" >&2; tail -20 "$f" >&2; }
    done
    for f in "$TWE_IT_TMP"/*.err; do
      [ -f "$f" ] && { echo "---- last 20 lines of $(basename "$f") ----" >&2; tail -20 "$f" >&2; }
    done
  fi
  # A server the test left stopped (SIGSTOP) takes the stop's SIGTERM at once.
  [ -f "$FAULT_STATE/pid" ] && kill -CONT -- "-$(cat "$FAULT_STATE/pid")" 2>/dev/null
  devserver_stop "$FAULT_STATE" >/dev/null 2>&1
  cleanup
}
trap fault_cleanup EXIT

# elapsed: seconds since the test began.
elapsed() { echo $((SECONDS - FAULT_T0)); }

# server_start: starts the test's server (again) on its port and database;
# sets SERVER_PID. Each start's log is kept (server-N.log).
server_start() {
  FAULT_STARTS=$((FAULT_STARTS + 1))
  rm -f "$FAULT_STATE/server.log" # the last start's stays as server-N.log
  WATCH_PID=$$ TWE_DEVSERVER_PORT=$FAULT_PORT TWE_DEVSERVER_IP=$FAULT_LISTEN_IP \
    devserver_start "$FAULT_STATE" --db-filename "$FAULT_DB" ||
    fail "the dev server did not start (start $FAULT_STARTS)"
  SERVER_PID=$(cat "$FAULT_STATE/pid")
  ln -f "$FAULT_STATE/server.log" "$TWE_IT_TMP/server-$FAULT_STARTS.log"
}

# server_kill: SIGKILL to the server's process group (nothing flushed,
# nothing said to the clients: their connections are reset).
server_kill() {
  kill -KILL -- "-$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  rm -f "$FAULT_STATE/pid"
}

# start_fault_worker NAME [VAR=VALUE...]: a fault_worker ($FAULT_WORKER)
# on $QUEUE with FAULT_THREADS activity threads, waiting for the server
# forever, the variables added to its environment; as start_worker
# (WORKER_PID). FAULT_WORKER_PREFIX (an array) goes before it (ip netns
# exec ...).
start_fault_worker() {
  local name=$1; shift
  start_worker "$name" "${FAULT_WORKER_PREFIX[@]}" env FAULT_STEP_LOG="$STEP_LOG" \
    TWE_WAIT_FOR_SERVER=forever "$@" "$FAULT_WORKER" --task-queue "$QUEUE" \
    --activity-threads "$FAULT_THREADS"
}

# load_start: FAULT_WORKFLOWS Steps workflows on $QUEUE, ids $QUEUE-N.
load_start() {
  "$TWE_TEST_PYTHON" "$_fault_dir/fault_client.py" start "$QUEUE" "$FAULT_WORKFLOWS" \
    "$FAULT_STEPS" "$FAULT_MS" "$QUEUE" || fail "could not start the load"
}

# executions: activity executions so far (the step log's "start" lines).
executions() { grep -c ' start$' "$STEP_LOG" || true; }

# wait_executions N: until N activities have started (60 s at most).
wait_executions() {
  for _ in $(seq 1 600); do [ "$(executions)" -ge "$1" ] && return 0; sleep 0.1; done
  fail "fewer than $1 activity executions after 60 s ($(executions))"
}

# snapshot_take NAME: a copy of the step log now, as NAME (right at a
# fault: a copy costs the worker no CPU at that moment); snapshot_say NAME
# WHAT: a line saying when WHAT happened, how many activities had started
# by then and how many of them had not finished; snapshot WHAT: both.
snapshot_take() {
  cp "$STEP_LOG" "$TWE_IT_TMP/snapshot-$1.log"
  elapsed >"$TWE_IT_TMP/snapshot-$1.at"
}
snapshot_say() {
  local n
  n=$("$TWE_TEST_PYTHON" "$_fault_dir/fault_client.py" in-flight "$TWE_IT_TMP/snapshot-$1.log")
  echo "$2 at $(cat "$TWE_IT_TMP/snapshot-$1.at") s: ${n% *} activity executions so far, ${n#* } of them in flight"
}
snapshot() { snapshot_take now && snapshot_say now "$1"; }

# check MAX_EXTRA TIMEOUT: the account (fault_client.py check): every
# workflow completed with its result within TIMEOUT s, no workflow task
# failed, every step executed, at most MAX_EXTRA executions beyond one per
# step. Prints the counts and the test's time so far.
check() {
  "$TWE_TEST_PYTHON" "$_fault_dir/fault_client.py" check "$QUEUE" "$FAULT_WORKFLOWS" \
    "$FAULT_STEPS" "$STEP_LOG" "$1" "$2" | tee "$TWE_IT_TMP/check.out"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail "the account after the fault does not hold (above)"
  echo "wall time so far: $(elapsed) s"
}

# stats_get NAME KEY: a counter of worker NAME's stats line (after stop_worker).
stats_get() { json_get "$TWE_IT_TMP/$1.stats" "d['$2']"; }

# check_stopped NAME PID: stops worker NAME gracefully (stop_worker) and
# checks that it failed no workflow task.
check_stopped() {
  stop_worker "$1" "$2"
  echo "worker $1 stats: $(cat "$TWE_IT_TMP/$1.stats")"
  [ "$(stats_get "$1" workflow_tasks_failed)" = 0 ] || fail "worker $1 failed workflow tasks"
}
