#!/usr/bin/env bash
# tests/integration/test_watchdog_cpu.sh FANOUT_BIN — workflow code in an
# endless CPU loop (RunawayCpu: no twe call, no libc call) is preempted by
# the watchdog at its CPU budget (300 ms here, warning at 100 ms):
# - its workflow task fails with a message naming the watchdog, the type
#   and the budget, while 100 healthy Quick workflows started beside it all
#   complete;
# - the worker counts the warning and the preemption;
# - once the runaway is terminated, nothing is left behind: no workflow task
#   slot in use, no cached run, no extra thread, and at most 16 MiB more
#   resident memory than after a warm-up of the same healthy load.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_watchdog_cpu.sh FANOUT_BIN}
q=$(unique wdcpu)
cli=("$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 60s)

start_worker w "$fanout" --worker-only --task-queue "$q" --cpu-budget-ms 300 --cpu-warning-ms 100
pid=$WORKER_PID

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

start_quick "$q-warm" 100
wait_quick "$q-warm" 100
sleep 1
stats "$TWE_IT_TMP/base.json"
base_threads=$(status_field Threads)
base_rss=$(status_field VmRSS)
echo "baseline after 100 Quick: threads $base_threads, VmRSS $base_rss kB, stats $(cat "$TWE_IT_TMP/base.json")"

rw="$q-runaway-cpu"
t workflow start --type RunawayCpu --task-queue "$q" --workflow-id "$rw" >/dev/null
start_quick "$q-q" 100

for _ in $(seq 1 100); do
  h=$(history "$rw")
  [ "$(count_events "$h" WORKFLOW_TASK_FAILED)" -ge 1 ] && break
  sleep 0.2
done
python3 - "$h" <<'PY' || { tail -20 "$TWE_IT_TMP/w.err" >&2; fail "RunawayCpu was not preempted (history $h)"; }
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
f = [e["workflowTaskFailedEventAttributes"] for e in ev if "workflowTaskFailedEventAttributes" in e]
assert f, "no WORKFLOW_TASK_FAILED in 20 s"
msg = f[0].get("failure", {}).get("message", "")
print("preemption message:", msg)
print("cause:", f[0].get("cause"))
for want in ("preempted by the twe watchdog", "RunawayCpu", "budget"):
    assert want in msg, "message lacks %r" % want
assert f[0].get("cause") == "WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE", f[0].get("cause")
PY
ok "RunawayCpu: workflow task failed by the watchdog"

wait_quick "$q-q" 100
ok "100 Quick workflows started beside the runaway all completed"

t workflow terminate --workflow-id "$rw" --reason "test done" >/dev/null
# The preempted run was evicted and its slot returned; a retry attempt may
# still be running when the terminate lands: give it its budget to end.
for _ in $(seq 1 50); do
  sleep 0.2
  stats "$TWE_IT_TMP/after.json"
  [ "$(sget "$TWE_IT_TMP/after.json" workflow_tasks_in_flight)" = "$(sget "$TWE_IT_TMP/base.json" workflow_tasks_in_flight)" ] &&
    [ "$(sget "$TWE_IT_TMP/after.json" cached_workflows)" = "$(sget "$TWE_IT_TMP/base.json" cached_workflows)" ] &&
    [ "$(status_field Threads)" = "$base_threads" ] && break
done
threads=$(status_field Threads)
rss=$(status_field VmRSS)
echo "after the runaway: threads $threads (baseline $base_threads), VmRSS $rss kB (baseline $base_rss kB)"
echo "stats: $(cat "$TWE_IT_TMP/after.json")"
python3 - "$TWE_IT_TMP/base.json" "$TWE_IT_TMP/after.json" "$base_threads" "$threads" "$base_rss" "$rss" <<'PY' || fail "state after the runaway"
import json, sys
b, a = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bt, at, br, ar = map(int, sys.argv[3:7])
print("watchdog_preemptions %d, watchdog_cpu_warnings %d, workflow_tasks_in_flight %d (baseline %d), "
      "cached_workflows %d (baseline %d), threads %d (baseline %d), RSS +%d kB"
      % (a["watchdog_preemptions"], a["watchdog_cpu_warnings"], a["workflow_tasks_in_flight"],
         b["workflow_tasks_in_flight"], a["cached_workflows"], b["cached_workflows"], at, bt, ar - br))
assert a["watchdog_preemptions"] >= 1, "no preemption counted"
assert a["watchdog_cpu_warnings"] >= 1, "no CPU warning counted"
assert a["workflow_tasks_in_flight"] == b["workflow_tasks_in_flight"], "a workflow task slot leaked"
assert a["cached_workflows"] == b["cached_workflows"], "the preempted run stayed cached"
assert at == bt, "thread count changed"
assert ar <= br + 16 * 1024, "RSS grew by more than 16 MiB"
PY
ok "after the runaway was terminated: no slot, cached run or thread left behind; RSS within 16 MiB"

grep -i 'watchdog' "$TWE_IT_TMP/w.err" | head -5 || true
stop_worker w "$pid"
ok "worker stopped cleanly"
