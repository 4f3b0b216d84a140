#!/usr/bin/env bash
# tests/integration/test_fanout.sh FANOUT_BIN — the field's failure
# (FIELD.md, "The reported failure") does not happen here: 5 Fanout
# workflows x 120 inputs x 4 parallel activities (two blocking in system
# calls, two burning CPU) on one worker process whose activities keep both
# cores busy. Every workflow completes with its 484 activities and no
# workflow task timed out or failed. The test also checks that the CPUs
# really were saturated during the run: the machine's CPUs were busy (from
# /proc/stat) and the worker's activity threads wanted more CPU than they
# got (their run-queue wait from /proc/PID/task/*/schedstat) while allowed
# on every CPU the process may use, so it cannot pass without the load it
# claims. (On a shared machine other processes may take part of the CPUs;
# that only makes the load heavier.) Prints the worst workflow task latency
# seen in the histories.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_fanout.sh FANOUT_BIN}
q=$(unique fanout)
workflows=5
inputs=120
# Saturated: the CPUs >= 85 % busy over the run, and on average at least
# one activity thread of the worker ready to run but waiting for a CPU.
min_busy=0.85
min_act_waiting=1.0

start_worker w "$fanout" --worker-only --task-queue "$q" --activity-threads 32
pid=$WORKER_PID
grep '^twe:' "$TWE_IT_TMP/w.err" || true

# CPU time of the worker process in clock ticks (utime + stime; the fields
# after the command name, which is in parentheses).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
hz=$(getconf CLK_TCK)
# Nanoseconds the worker's activity threads (twe-act-*) spent runnable but
# waiting for a CPU (schedstat's second field).
act_wait_ns() {
  local sum=0 t
  for t in /proc/"$1"/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in twe-act*) ;; *) continue ;; esac
    sum=$((sum + $(awk '{print $2}' "$t/schedstat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}
# The distinct CPU lists (Cpus_allowed_list) of the worker's activity threads.
act_cpus() {
  local t
  for t in /proc/"$1"/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in twe-act*) ;; *) continue ;; esac
    awk '$1 == "Cpus_allowed_list:" {print $2}' "$t/status"
  done | sort -u | paste -sd' '
}
# The CPUs this process may use, and their busy and total ticks from
# /proc/stat (busy: all but idle and iowait).
cpus=$(nproc)
machine_ticks() {
  python3 - <<'PY'
import os
mine = os.sched_getaffinity(0)
busy = total = 0
for line in open("/proc/stat"):
    f = line.split()
    if f[0].startswith("cpu") and f[0] != "cpu" and int(f[0][3:]) in mine:
        v = list(map(int, f[1:9]))
        total += sum(v)
        busy += sum(v) - v[3] - v[4]
print(busy, total)
PY
}

input="{\"inputs\":$inputs,\"block_min_ms\":50,\"block_max_ms\":500,\"burn_ms\":50}"
ids=()
t0=$(date +%s%N)
c0=$(cpu_ticks "$pid")
read -r mb0 mt0 < <(machine_ticks)
w0=$(act_wait_ns "$pid")
for i in $(seq 0 $((workflows - 1))); do
  ids+=("$q-$i")
  t workflow start --type Fanout --task-queue "$q" --workflow-id "${ids[-1]}" --input "$input" >/dev/null ||
    fail "start ${ids[-1]}"
done
for id in "${ids[@]}"; do
  "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 240s workflow result --workflow-id "$id" -o json >"$TWE_IT_TMP/$id.result.json" ||
    { cat "$TWE_IT_TMP/w.err" >&2; fail "$id did not complete: $(cat "$TWE_IT_TMP/$id.result.json")"; }
  echo "$id done after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done
c1=$(cpu_ticks "$pid")
read -r mb1 mt1 < <(machine_ticks)
w1=$(act_wait_ns "$pid")
acpus=$(act_cpus "$pid")
wcpus=$(awk '$1 == "Cpus_allowed_list:" {print $2}' "/proc/$pid/status")
t1=$(date +%s%N)
wall_ms=$(( (t1 - t0) / 1000000 ))
cores=$(python3 -c "print('%.2f' % ((($c1 - $c0) / $hz) / ($wall_ms / 1000.0)))")
busy=$(python3 -c "print('%.3f' % (($mb1 - $mb0) / max(1, $mt1 - $mt0)))")
waiting=$(python3 -c "print('%.2f' % (($w1 - $w0) / 1e6 / $wall_ms))")
echo "wall time ${wall_ms} ms; worker CPU $(( (c1 - c0) * 1000 / hz )) ms = $cores cores on average;" \
  "the $cpus CPUs were ${busy} busy; activity threads waiting for a CPU: $waiting on average"
echo "worker may use CPUs $wcpus; its activity threads may use: $acpus"
[ "$acpus" = "$wcpus" ] ||
  fail "the activity threads may run only on CPUs '$acpus' of the worker's '$wcpus': they cannot load every CPU, so this run does not test the scenario"
python3 -c "import sys; sys.exit(0 if $busy >= $min_busy else 1)" ||
  fail "the CPUs were only ${busy} busy (< $min_busy): not saturated, so this run does not test the scenario"
python3 -c "import sys; sys.exit(0 if $waiting >= $min_act_waiting else 1)" ||
  fail "on average only $waiting activity threads waited for a CPU (< $min_act_waiting): the activities did not oversubscribe the CPUs, so this run does not test the scenario"
ok "the CPUs were saturated: ${busy} busy, $waiting activity threads waiting for a CPU on average, the worker used $cores cores, over ${wall_ms} ms"

hs=()
for id in "${ids[@]}"; do hs+=("$(history "$id")"); done
python3 - "$inputs" "${hs[@]}" <<'PY' || fail "histories"
import base64, json, sys
from datetime import datetime, timezone

def ns(ts):
    # RFC 3339 with up to 9 fraction digits; datetime only takes 6.
    base, _, frac = ts.rstrip("Z").partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(t.timestamp()) * 10**9 + int((frac + "000000000")[:9])

def kind(e):
    return str(e.get("eventType", "")).replace("EVENT_TYPE_", "")

inputs = int(sys.argv[1])
worst_start = worst_run = 0
for path in sys.argv[2:]:
    ev = json.load(open(path))["events"]
    kinds = [kind(e) for e in ev]
    name = path.rsplit("/", 1)[-1].replace(".history.json", "")
    to, failed = kinds.count("WORKFLOW_TASK_TIMED_OUT"), kinds.count("WORKFLOW_TASK_FAILED")
    acts = kinds.count("ACTIVITY_TASK_COMPLETED")
    assert to == 0, "%s: %d WORKFLOW_TASK_TIMED_OUT" % (name, to)
    assert failed == 0, "%s: %d WORKFLOW_TASK_FAILED" % (name, failed)
    assert kinds[-1] == "WORKFLOW_EXECUTION_COMPLETED", "%s ends with %s" % (name, kinds[-1])
    assert acts == 4 * inputs + 4, "%s: %d activities completed, want %d" % (name, acts, 4 * inputs + 4)
    assert kinds.count("ACTIVITY_TASK_TIMED_OUT") == 0 and kinds.count("ACTIVITY_TASK_FAILED") == 0, name
    res = ev[-1]["workflowExecutionCompletedEventAttributes"]["result"]["payloads"][0]["data"]
    res = json.loads(base64.b64decode(res))  # payload bytes come base64-encoded
    assert res["inputs"] == inputs and res["activities"] == 4 * inputs + 4, res
    # How long workflow tasks waited for the worker and how long it took
    # to answer them, while the activities kept the CPUs busy.
    sched = start = None
    for e in ev:
        k = kind(e)
        if k == "WORKFLOW_TASK_SCHEDULED":
            sched = ns(e["eventTime"])
        elif k == "WORKFLOW_TASK_STARTED" and sched is not None:
            start = ns(e["eventTime"])
            worst_start = max(worst_start, start - sched)
        elif k == "WORKFLOW_TASK_COMPLETED" and start is not None:
            worst_run = max(worst_run, ns(e["eventTime"]) - start)
    fan = 4 * inputs
    print("%s: completed, %d activities (%d in the fan-out), %d workflow tasks, "
          "0 timed out, 0 failed, result %s" % (name, acts, fan, kinds.count("WORKFLOW_TASK_COMPLETED"),
                                               json.dumps(res)))
print("worst workflow task: %.1f ms scheduled->started, %.1f ms started->completed"
      % (worst_start / 1e6, worst_run / 1e6))
PY
ok "$workflows Fanout workflows x $inputs inputs: all completed, $((4 * inputs)) fan-out activities each, no workflow task timed out or failed"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "worker stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("worker stats:", json.dumps(s))
assert s["workflow_tasks_failed"] == 0, s
assert s["activities_failed"] == 0, s
PY
ok "worker stopped cleanly; no workflow task or activity failed"
