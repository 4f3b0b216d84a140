#!/usr/bin/env bash
# tests/integration/test_watchdog_many_blocked.sh FANOUT_BIN — more blocked
# runs at once than --max-retired (4 RunawayBlock, limit 2): each costs its
# shard thread once, the retirements past the limit are logged as over it
# (the hard cap, 64 by default, is far), and healthy Quick workflows
# started beside them all complete. Their retries are held back (no new
# thread), and once the runaways are terminated and their reads woken up
# (SIGUSR2 writes into the pipe), the retired threads exit and the worker
# is back to its baseline thread count, still serving.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_watchdog_many_blocked.sh FANOUT_BIN}
q=$(unique wdmany)
start_worker w "$fanout" --worker-only --task-queue "$q" --blocked-budget-ms 200 \
  --blocked-warning-ms 100 --max-retired 2
pid=$WORKER_PID
source "$(dirname "$0")/fanout_lib.sh"

start_quick "$q-warm" 20
wait_quick "$q-warm" 20
sleep 1
base_threads=$(core_threads)
stats "$TWE_IT_TMP/base.json"

# Short workflow task timeouts: the server retries the runaways during the
# test (their retries must be held back, not cost threads).
for i in 0 1 2 3; do
  t workflow start --type RunawayBlock --task-queue "$q" --workflow-id "$q-block-$i" \
    --task-timeout 2s >/dev/null
done
start_quick "$q-q" 50
wait_quick "$q-q" 50
ok "50 Quick workflows completed beside 4 blocked runaways"
for i in 0 1 2 3; do expect_preempted "$q-block-$i" RunawayBlock blocked retired; done
ok "each runaway's first workflow task failed, naming the watchdog and the retirement"

# A while longer, with the server retrying: no new thread per retry.
for round in 1 2 3; do
  start_quick "$q-r$round" 10
  wait_quick "$q-r$round" 10
  sleep 3
done
stats "$TWE_IT_TMP/during.json"
echo "stats with 4 runaways blocked: $(cat "$TWE_IT_TMP/during.json")"
python3 - "$TWE_IT_TMP/during.json" <<'PY' || fail "retired threads"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["threads_retired"] == 4, "threads_retired %d: one per blocked run" % s["threads_retired"]
assert s["retired_threads_alive"] == 4, "alive %d" % s["retired_threads_alive"]
assert s["workflow_tasks_held"] >= 4, "held %d: retries were not held back" % s["workflow_tasks_held"]
PY
grep -q 'retired threads alive, over the limit of 2' "$TWE_IT_TMP/w.err" ||
  fail "no retirement logged as over the limit of 2"
ok "4 threads retired in all (2 over the limit, logged), retries held back: $(sget "$TWE_IT_TMP/during.json" workflow_tasks_held)"

for i in 0 1 2 3; do
  t workflow terminate --workflow-id "$q-block-$i" --reason "test done" >/dev/null
done
wake_retired "$base_threads"
ok "the 4 retired threads exited once woken: thread count back to $base_threads"

start_quick "$q-late" 20
wait_quick "$q-late" 20
ok "20 more Quick workflows completed"
stop_worker w "$pid"
ok "worker stopped cleanly"
