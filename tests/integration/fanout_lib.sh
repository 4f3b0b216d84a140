# tests/integration/fanout_lib.sh — helpers of the tests that drive
# `fanout --worker-only` (the watchdog tests): Quick workflows in bulk, the
# worker's stats on SIGUSR1, /proc fields, and the check that a runaway's
# workflow task was failed by the watchdog. Source it after lib.sh, once the
# test has set q (the task queue) and pid (the worker started as "w").

cli=("$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 60s)

# start_quick PREFIX N / wait_quick PREFIX N: N Quick workflows PREFIX-0..,
# 8 CLI processes at a time.
start_quick() {
  seq 0 $(($2 - 1)) | xargs -P 8 -I{} "${cli[@]}" workflow start --type Quick --task-queue "$q" \
    --workflow-id "$1-{}" --input '"{}"' >/dev/null || fail "starting $2 Quick workflows $1-*"
}
wait_quick() {
  seq 0 $(($2 - 1)) | xargs -P 8 -I{} "${cli[@]}" workflow result --workflow-id "$1-{}" >/dev/null ||
    { tail -20 "$TWE_IT_TMP/w.err" >&2; fail "not all $2 Quick workflows $1-* completed"; }
}
# stats FILE: asks the worker for its stats (SIGUSR1) and writes the JSON.
stats() {
  local n
  n=$(grep -c '^stats ' "$TWE_IT_TMP/w.out" || true)
  kill -USR1 "$pid"
  for _ in $(seq 1 50); do
    [ "$(grep -c '^stats ' "$TWE_IT_TMP/w.out" || true)" -gt "$n" ] && break
    sleep 0.1
  done
  grep '^stats ' "$TWE_IT_TMP/w.out" | tail -1 | sed 's/^stats //' >"$1"
  [ -s "$1" ] || fail "the worker printed no stats on SIGUSR1"
}
status_field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
sget() { json_get "$1" "d[\"$2\"]"; }

# expect_preempted WORKFLOW_ID WORD...: waits (20 s at most) for the
# workflow's first WORKFLOW_TASK_FAILED and checks its cause and that its
# message has "preempted by the twe watchdog" and every WORD.
expect_preempted() {
  local id=$1 h
  shift
  for _ in $(seq 1 100); do
    h=$(history "$id")
    [ "$(count_events "$h" WORKFLOW_TASK_FAILED)" -ge 1 ] && break
    sleep 0.2
  done
  python3 - "$h" "preempted by the twe watchdog" "$@" <<'PY' ||
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
f = [e["workflowTaskFailedEventAttributes"] for e in ev if "workflowTaskFailedEventAttributes" in e]
assert f, "no WORKFLOW_TASK_FAILED in 20 s"
msg = f[0].get("failure", {}).get("message", "")
print("preemption message:", msg)
print("cause:", f[0].get("cause"))
for want in sys.argv[2:]:
    assert want in msg, "message lacks %r" % want
assert f[0].get("cause") == "WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE", f[0].get("cause")
PY
    { tail -20 "$TWE_IT_TMP/w.err" >&2; fail "$id was not preempted (history $h)"; }
}
