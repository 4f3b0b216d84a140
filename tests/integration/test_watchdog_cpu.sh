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
# With "cache0" the worker keeps no cache (--cache 0): every workflow task
# replays its run's full history, the runaway's in time slices too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_watchdog_cpu.sh FANOUT_BIN [cache0]}
cache=()
[ "${2:-}" = cache0 ] && cache=(--cache 0)
q=$(unique wdcpu)
start_worker w "$fanout" --worker-only --task-queue "$q" --cpu-budget-ms 300 --cpu-warning-ms 100 \
  "${cache[@]}"
pid=$WORKER_PID

source "$(dirname "$0")/fanout_lib.sh"

start_quick "$q-warm" 100
wait_quick "$q-warm" 100
sleep 1
stats "$TWE_IT_TMP/base.json"
base_threads=$(core_threads)
base_rss=$(status_field VmRSS)
echo "baseline after 100 Quick: threads $base_threads, VmRSS $base_rss kB, stats $(cat "$TWE_IT_TMP/base.json")"

rw="$q-runaway-cpu"
t workflow start --type RunawayCpu --task-queue "$q" --workflow-id "$rw" >/dev/null
start_quick "$q-q" 100

expect_preempted "$rw" RunawayCpu budget
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
    [ "$(core_threads)" = "$base_threads" ] && break
done
threads=$(core_threads)
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
