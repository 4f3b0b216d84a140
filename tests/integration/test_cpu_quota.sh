#!/usr/bin/env bash
# tests/integration/test_cpu_quota.sh FANOUT_BIN — a worker in a cgroup
# (v1 cpu controller) with a CPU quota of half a CPU, under a heavy healthy
# load (3 Fanout workflows x 60 inputs), is throttled but never preempts a
# healthy workflow task: time spent throttled counts for neither watchdog
# budget (defaults here). Every workflow completes, watchdog_preemptions
# stays 0, and cpu.stat shows the quota really throttled the worker (else
# the test did not test what it claims, and fails).
# Skips (exit 77) when it cannot create the cgroup (not root, no v1 cpu
# controller, read-only).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_cpu_quota.sh FANOUT_BIN}
q=$(unique cpuquota)
cgroup_quota "$q" 50000

cpu_stat() { awk -v k="$1" '$1 == k {print $2}' "$cg/cpu.stat"; }
thr0=$(cpu_stat nr_throttled)
tt0=$(cpu_stat throttled_time)

# The worker moves itself into the cgroup before exec: all its threads are
# created inside it and its CPU plan sees the quota.
start_worker w "${launcher[@]}" "$fanout" --worker-only --task-queue "$q"
pid=$WORKER_PID
grep -qx "$pid" "$cg/cgroup.procs" || fail "worker $pid is not in $cg"
grep '^twe:' "$TWE_IT_TMP/w.err" || true

input='{"inputs":60,"block_min_ms":50,"block_max_ms":300,"burn_ms":50}'
ids=()
t0=$(date +%s%N)
for i in 0 1 2; do
  ids+=("$q-$i")
  t workflow start --type Fanout --task-queue "$q" --workflow-id "${ids[-1]}" --input "$input" >/dev/null ||
    fail "start ${ids[-1]}"
done
for id in "${ids[@]}"; do
  "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 240s workflow result \
    --workflow-id "$id" -o json >"$TWE_IT_TMP/$id.result.json" ||
    { tail -20 "$TWE_IT_TMP/w.err" >&2; fail "$id did not complete: $(cat "$TWE_IT_TMP/$id.result.json")"; }
  h=$(history "$id")
  [ "$(count_events "$h" WORKFLOW_TASK_FAILED)" = 0 ] || fail "$id: a workflow task failed"
  [ "$(count_events "$h" WORKFLOW_TASK_TIMED_OUT)" = 0 ] || fail "$id: a workflow task timed out"
  [ "$(count_events "$h" ACTIVITY_TASK_COMPLETED)" = 244 ] || fail "$id: not 244 activities"
  echo "$id completed after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done
ok "3 Fanout workflows x 60 inputs completed under half a CPU, no workflow task failed or timed out"

stop_worker w "$pid"
thr=$(( $(cpu_stat nr_throttled) - thr0 ))
tt=$(( $(cpu_stat throttled_time) - tt0 ))
echo "cpu.stat: nr_periods $(cpu_stat nr_periods), nr_throttled +$thr, throttled_time +$((tt / 1000000)) ms"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "watchdog under a CPU quota"
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("worker stats:", json.dumps(s))
assert s["watchdog_preemptions"] == 0, "a healthy workflow task was preempted under the quota"
PY
[ "$thr" -gt 0 ] && [ "$tt" -gt 0 ] ||
  fail "the quota never throttled the worker (nr_throttled +$thr): this run did not test a throttled worker"
ok "throttled $thr times ($((tt / 1000000)) ms) and no workflow task was preempted"
