#!/usr/bin/env bash
# tests/integration/test_watchdog_block.sh FANOUT_BIN — workflow code blocked
# in a system call (RunawayBlock: read() on a pipe nobody writes) is
# preempted by the watchdog at its blocked budget (300 ms here, warning at
# 100 ms; at most 4 retired threads):
# - its workflow task fails with a message naming the watchdog, the type
#   and the blocked time, while 50 healthy Quick workflows started beside
#   it all complete;
# - the shard thread stuck in read() is retired (counted, at most 4 alive)
#   and a new one serves the shard;
# - once the runaway is terminated and the reads are woken up (SIGUSR2
#   writes into the pipe), the retired threads exit: the thread count comes
#   back to the baseline and the worker still serves workflows.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_watchdog_block.sh FANOUT_BIN}
q=$(unique wdblock)
start_worker w "$fanout" --worker-only --task-queue "$q" --blocked-budget-ms 300 \
  --blocked-warning-ms 100 --max-retired 4
pid=$WORKER_PID

source "$(dirname "$0")/fanout_lib.sh"

start_quick "$q-warm" 50
wait_quick "$q-warm" 50
sleep 1
stats "$TWE_IT_TMP/base.json"
base_threads=$(core_threads)
echo "baseline after 50 Quick: threads $base_threads, stats $(cat "$TWE_IT_TMP/base.json")"

rw="$q-runaway-block"
t workflow start --type RunawayBlock --task-queue "$q" --workflow-id "$rw" >/dev/null
start_quick "$q-q" 50

expect_preempted "$rw" RunawayBlock blocked
ok "RunawayBlock: workflow task failed by the watchdog"

wait_quick "$q-q" 50
ok "50 Quick workflows started beside the blocked runaway all completed"

stats "$TWE_IT_TMP/during.json"
echo "stats with the runaway blocked: $(cat "$TWE_IT_TMP/during.json"), threads $(status_field Threads)"
python3 - "$TWE_IT_TMP/during.json" <<'PY' || fail "retired threads"
import json, sys
s = json.load(open(sys.argv[1]))
print("threads_retired %d, retired_threads_alive %d, watchdog_preemptions %d, watchdog_blocked_warnings %d"
      % (s["threads_retired"], s["retired_threads_alive"], s["watchdog_preemptions"], s["watchdog_blocked_warnings"]))
assert s["threads_retired"] >= 1, "no shard thread retired"
assert s["retired_threads_alive"] <= 4, "more retired threads alive than --max-retired 4"
assert s["watchdog_preemptions"] >= 1, "no preemption counted"
assert s["watchdog_blocked_warnings"] >= 1, "no blocked warning counted"
PY
ok "the stuck shard thread was retired and replaced"

t workflow terminate --workflow-id "$rw" --reason "test done" >/dev/null
wake_retired "$base_threads"
[ "$(sget "$TWE_IT_TMP/after.json" workflow_tasks_in_flight)" = "$(sget "$TWE_IT_TMP/base.json" workflow_tasks_in_flight)" ] ||
  fail "workflow task slots in use: $(sget "$TWE_IT_TMP/after.json" workflow_tasks_in_flight)"
ok "the retired threads exited once woken: thread count back to $base_threads"

start_quick "$q-late" 20
wait_quick "$q-late" 20
ok "20 more Quick workflows completed: the worker survived"

grep -i 'watchdog\|retire' "$TWE_IT_TMP/w.err" | head -5 || true
stop_worker w "$pid"
ok "worker stopped cleanly"
