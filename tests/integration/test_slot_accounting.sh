#!/usr/bin/env bash
# tests/integration/test_slot_accounting.sh FANOUT_BIN — slots are given back
# on every path. One worker (a cache of 3 runs, so nearly every task evicts
# or replays; a CPU budget of 300 ms) takes more than 5,000 workflow tasks:
# 150 Fanout workflows of 30 inputs (4 activities each, blocking 1-5 ms), a
# RunawayCpu beside them whose every task is preempted and failed by the
# watchdog, then a second batch of 40 Fanouts that is still running when the
# worker is stopped (SIGTERM: polls, history fetches, activities and tasks
# in flight). After the stop, no workflow task slot and no activity slot may
# be left taken (stop_worker checks both in the worker's stats).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_slot_accounting.sh FANOUT_BIN}
q=$(unique slots-acct)

start_worker a "$fanout" --worker-only --task-queue "$q" --cache 3 --cpu-budget-ms 300 \
  --cpu-warning-ms 100
pid=$WORKER_PID

input='{"inputs":30,"block_min_ms":1,"block_max_ms":5,"burn_ms":0}'
# Started through the Python client, 100 at a time (the CLI would take a
# process per workflow).
start_many() { # PREFIX COUNT
  "$TWE_TEST_PYTHON" - "$q" "$1" "$2" "$input" <<'PY'
import asyncio, json, sys
from temporalio.client import Client
async def main():
    q, prefix, n, inp = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    c = await Client.connect(__import__("os").environ["TEMPORAL_ADDRESS"])
    await asyncio.gather(*(c.start_workflow("Fanout", inp, id=f"{prefix}-{i}", task_queue=q)
                           for i in range(n)))
asyncio.run(main())
# Leave without the interpreter's teardown: the SDK's runtime thread has
# crashed it there (PyGILState_Release) after many calls at once.
sys.stdout.flush()
__import__("os")._exit(0)
PY
}
# wait_many PREFIX COUNT: waits (up to 240 s) until COUNT workflows of
# PREFIX are closed; prints how many completed, then checks one result.
wait_many() {
  local n=0 closed=0
  for _ in $(seq 1 480); do
    closed=$(t workflow count --query "WorkflowId STARTS_WITH '$1-' AND ExecutionStatus != 'Running'" |
      awk '{print $NF}')
    [ "$closed" -ge "$2" ] && break
    sleep 0.5
  done
  n=$(t workflow count --query "WorkflowId STARTS_WITH '$1-' AND ExecutionStatus = 'Completed'" |
    awk '{print $NF}')
  local r
  r=$(t workflow result --workflow-id "$1-0" -o json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["activities"])')
  [ "$r" = $((4 + 4 * 30)) ] || fail "$1-0: $r activities, not $((4 + 4 * 30))"
  echo "$n"
}

t workflow start --type RunawayCpu --task-queue "$q" --workflow-id "$q-runaway" >/dev/null
start_many "$q-a" 150
done_a=$(wait_many "$q-a" 150)
[ "$done_a" = 150 ] || fail "first batch: $done_a of 150 completed right"
ok "first batch: 150 Fanout workflows completed beside a RunawayCpu"

start_many "$q-b" 40
sleep 1.5 # the second batch in full flight
stop_worker a "$pid"
python3 - "$TWE_IT_TMP/a.stats" <<'PY' || fail "the first worker's figures"
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("worker a:", json.dumps(s))
done = s["workflow_tasks_completed"] + s["workflow_tasks_failed"]
assert done >= 5000, f"only {done} workflow tasks: fewer than the test needs"
assert s["workflow_tasks_failed"] >= 1 and s["watchdog_preemptions"] >= 1, "nothing preempted"
assert s["cache_evictions"] >= 1000, f"only {s['cache_evictions']} evictions"
PY
ok "worker a stopped after 5,000+ tasks with failures, preemptions, evictions and work in flight; no slot left taken"

# The second batch is left to the server (terminated here): what a stop
# leaves of it is the fault suite's subject (tests/fault/graceful_stop.sh),
# and a poll the stop cancelled just as the server handed it an activity
# (Temporal 1.29) would hold one for the activity's 300 s start-to-close.
for i in $(seq 0 39); do
  t workflow terminate --workflow-id "$q-b-$i" --reason "test over" >/dev/null 2>&1 || true
done
t workflow terminate --workflow-id "$q-runaway" --reason "test over" >/dev/null || true
