# tests/integration/fanout_lib.sh — helpers of the tests that drive
# `fanout --worker-only` (the watchdog tests): Quick workflows in bulk, the
# worker's stats on SIGUSR1, /proc fields, the check that a runaway's
# workflow task was failed by the watchdog, waking retired threads, the
# attempt of a pending
# workflow task, and workflow task latencies from histories. Source it
# after lib.sh, once the test has set q (the task queue) and pid (the
# worker started as "w").

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
# The worker's threads other than its activity pools' (twe-act-*), which
# start and exit with the activity slots (engine/worker_slots.c): what the
# watchdog's retired shard threads are counted against.
core_threads() {
  local n=0 c
  for c in /proc/"$pid"/task/*/comm; do
    case $(cat "$c" 2>/dev/null) in twe-act-*) ;; *) n=$((n + 1)) ;; esac
  done
  echo "$n"
}
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

# attempt WORKFLOW_ID: the attempt of the workflow's pending workflow task
# (0: none pending).
attempt() {
  "${cli[@]}" workflow describe --workflow-id "$1" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(int((d.get("pendingWorkflowTask") or {}).get("attempt", 0)))'
}

# wft_latency HISTORY_FILE...: over every workflow task of the histories,
# as one JSON line: how many tasks; the largest schedule-to-start
# (WorkflowTaskScheduled -> Started: on the normal queue this includes the
# server matching a task to a poll on another partition); the largest
# execution (Started -> Completed: the time the worker held the task); the
# largest scheduled -> completed of tasks on the sticky queue (one
# partition, this worker's own); and the history of the worst execution.
wft_latency() {
  python3 - "$@" <<'PY'
import json, sys
from datetime import datetime
def ts(s):
    s = s.rstrip("Z")
    if "." in s:
        head, frac = s.split(".")
        s = head + "." + frac[:6]
    return datetime.fromisoformat(s).timestamp()
n, s2s, exe, sticky, worst = 0, 0.0, 0.0, 0.0, ""
for path in sys.argv[1:]:
    ev = json.load(open(path))["events"]
    sched, kind, started = {}, {}, {}
    for e in ev:
        eid, t = int(e["eventId"]), ts(e["eventTime"])
        if "workflowTaskScheduledEventAttributes" in e:
            a = e["workflowTaskScheduledEventAttributes"]
            sched[eid] = t
            kind[eid] = str(a.get("taskQueue", {}).get("kind", ""))
        elif "workflowTaskStartedEventAttributes" in e:
            sid = int(e["workflowTaskStartedEventAttributes"]["scheduledEventId"])
            if sid in sched:
                started[sid] = t
                s2s = max(s2s, (t - sched[sid]) * 1000)
        elif "workflowTaskCompletedEventAttributes" in e:
            sid = int(e["workflowTaskCompletedEventAttributes"]["scheduledEventId"])
            if sid in started:
                n += 1
                d = (t - started[sid]) * 1000
                if d > exe:
                    exe, worst = d, path.rsplit("/", 1)[-1]
                if kind[sid].endswith("STICKY"):
                    sticky = max(sticky, (t - sched[sid]) * 1000)
print(json.dumps({"tasks": n, "max_sched_to_start_ms": round(s2s, 1),
                  "max_execution_ms": round(exe, 1),
                  "max_sticky_sched_to_done_ms": round(sticky, 1), "worst": worst}))
PY
}

# wake_retired BASE_THREADS: wakes the reads of RunawayBlock runs (SIGUSR2
# writes 64 bytes into their pipe, which wakes one read) until no retired
# thread is alive and the process is back to BASE_THREADS threads, for 12 s
# at most; the last stats are in $TWE_IT_TMP/after.json. The retired threads
# return into the engine and exit.
wake_retired() {
  for i in $(seq 1 60); do
    [ $((i % 5)) = 1 ] && kill -USR2 "$pid"
    sleep 0.2
    stats "$TWE_IT_TMP/after.json"
    [ "$(sget "$TWE_IT_TMP/after.json" retired_threads_alive)" = 0 ] &&
      [ "$(core_threads)" = "$1" ] && break
  done
  echo "after the wake-ups: threads $(core_threads) besides activity threads (baseline $1), stats $(cat "$TWE_IT_TMP/after.json")"
  [ "$(sget "$TWE_IT_TMP/after.json" retired_threads_alive)" = 0 ] ||
    fail "retired threads still alive after their reads were woken up"
  [ "$(core_threads)" = "$1" ] || fail "thread count besides activity threads $(core_threads), baseline $1"
}
