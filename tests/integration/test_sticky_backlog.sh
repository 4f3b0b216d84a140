#!/usr/bin/env bash
# tests/integration/test_sticky_backlog.sh SCENARIO_WORKER — runs under way go
# first. One shard is kept busier than the server: 40 Busy workflows (6
# steps, each 15 ms of CPU in workflow code and an activity) give its sticky
# queue a backlog, and 10 more workflows are started while it lasts. While
# the sticky queue reports a backlog the worker does not renew its normal
# queue's polls (twe_worker_stats normal_polls_held counts each time it held
# them back), and once the backlog is gone it polls the normal queue again:
# every workflow completes, and in the histories read (the first and last
# of each batch) no task failed or timed out. How long their first tasks
# waited is printed, not judged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_sticky_backlog.sh SCENARIO_WORKER}
q=$(unique backlog)

TWE_SHARD_THREADS=1 start_worker w "$sw" worker --task-queue "$q" --cache 1000
pid=$WORKER_PID

# Started through the Python client, many at once (the CLI takes a process
# per workflow).
start_many() { # PREFIX COUNT INPUT
  "$TWE_TEST_PYTHON" - "$q" "$1" "$2" "$3" <<'PY'
import asyncio, json, os, sys
from temporalio.client import Client
async def main():
    q, prefix, n, inp = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    c = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    await asyncio.gather(*(c.start_workflow("Busy", inp, id=f"{prefix}-{i}", task_queue=q)
                           for i in range(n)))
asyncio.run(main())
sys.stdout.flush()
os._exit(0)  # see test_slot_accounting.sh: the SDK's runtime thread at teardown
PY
}

start_many "$q-early" 40 '{"steps":6,"burn_ms":15}'
sleep 1
start_many "$q-late" 10 '{"steps":1,"burn_ms":1}'

closed=0
for _ in $(seq 1 240); do
  closed=$(t workflow count --query "WorkflowId STARTS_WITH '$q-' AND ExecutionStatus != 'Running'" |
    awk '{print $NF}')
  [ "$closed" -ge 50 ] && break
  sleep 0.5
done
[ "$closed" -ge 50 ] || fail "only $closed of 50 workflows closed within 120 s"
done_n=$(t workflow count --query "WorkflowId STARTS_WITH '$q-' AND ExecutionStatus = 'Completed'" |
  awk '{print $NF}')
[ "$done_n" = 50 ] || fail "$done_n of 50 workflows completed"
ok "50 Busy workflows completed"

# Four histories: no task failed or timed out; the first tasks' waits printed.
for who in early-0 early-39 late-0 late-9; do history "$q-$who" >/dev/null; done
python3 - "$TWE_IT_TMP" "$q" <<'PY' || fail "workflow tasks"
import glob, json, sys
from datetime import datetime
tmp, q = sys.argv[1], sys.argv[2]
def when(e):
    t = e["eventTime"].rstrip("Z")
    head, _, frac = t.partition(".")
    return datetime.fromisoformat(head).timestamp() + float("0." + (frac or "0"))
for path in sorted(glob.glob(f"{tmp}/{q}-*.history.json")):
    events = json.load(open(path))["events"]
    kinds = [e["eventType"] for e in events]
    for bad in ("EVENT_TYPE_WORKFLOW_TASK_FAILED", "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT"):
        assert bad not in kinds, f"{path}: {bad}"
    sched = next(when(e) for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED")
    start = next(when(e) for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_STARTED")
    print(f"{path.split('/')[-1].split('.')[0]}: first task waited {1000 * (start - sched):.0f} ms")
PY
ok "no workflow task failed or timed out in the four histories read"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "the worker's figures"
import json, sys
s = json.load(open(sys.argv[1]))
print("worker:", json.dumps(s))
assert s["workflow_tasks_completed"] >= 40 * 7 + 10 * 2, "too few workflow tasks"
assert s["normal_polls_held"] >= 1, "the normal queue's polls were never held back"
PY
ok "the normal queue's polls were held back for the sticky backlog, and taken up again"
