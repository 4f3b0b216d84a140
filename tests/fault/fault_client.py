"""tests/fault/fault_client.py — the fault suite's load and its account,
with the Python SDK's client (run on the tests' venv; TEMPORAL_ADDRESS,
namespace "default").

  fault_client.py start PREFIX COUNT STEPS MS QUEUE
      Starts COUNT workflows Steps (tests/fault/fault_worker.c), ids
      PREFIX-0 .. PREFIX-<COUNT-1>, each {"n": STEPS, "tag": <its id>,
      "ms": MS}, on QUEUE.
  fault_client.py in-flight STEP_LOG
      Prints the executions so far and how many of them have not finished
      (a "start" line without its "done"): "<executions> <in flight>".
  fault_client.py check PREFIX COUNT STEPS STEP_LOG MAX_EXTRA TIMEOUT
      Waits up to TIMEOUT s for every one of them to complete, then checks
      and prints (one line "counts ..." to read back, and a line per
      finding):
        - every workflow completed with {"tag": <its id>, "sum":
          STEPS(STEPS+1)/2};
        - no workflow task failed (no WorkflowTaskFailed event in any
          history; timed-out workflow tasks are counted by timeout type,
          not refused);
        - no activity failed or timed out for good;
        - STEP_LOG (a line "<workflow id> <step> <attempt> <pid> start"
          per execution of Step, and one with "done" once it finished) has
          every (workflow, step) at least once and no other, and at most
          MAX_EXTRA executions beyond one each.
      Also counted: attempts the server started again (an ActivityTaskStarted
      with attempt > 1), attempts started but run by no worker (their
      attempt number missing from the log) and executions per worker pid.
      Exit 0 when all holds, 1 with the reasons otherwise. When workflows
      are still open at TIMEOUT it says what each is waiting for (its
      pending activity and workflow task, from DescribeWorkflowExecution).
"""
import asyncio
import collections
import json
import os
import sys
import time

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client


async def connect():
    return await Client.connect(os.environ["TEMPORAL_ADDRESS"], namespace="default")


async def start(prefix, count, steps, ms, queue):
    client = await connect()
    sem = asyncio.Semaphore(16)

    async def one(i):
        wid = "%s-%d" % (prefix, i)
        async with sem:
            await client.start_workflow("Steps", {"n": steps, "tag": wid, "ms": ms},
                                        id=wid, task_queue=queue)

    await asyncio.gather(*(one(i) for i in range(count)))
    print("started %d Steps workflows (%d steps of %d ms each) on %s" % (count, steps, ms, queue))


async def explain_open(client, wids):
    """What each open workflow waits for."""
    for wid in wids:
        try:
            d = await client.get_workflow_handle(wid).describe()
            raw = d.raw_description
            pend = ["%s attempt %d state %s%s" % (
                a.activity_type.name, a.attempt, a.state,
                (" last failure: " + a.last_failure.message) if a.last_failure.message else "")
                for a in raw.pending_activities]
            wft = raw.pending_workflow_task
            print("  open: %s status %s history length %d pending activities [%s]%s" % (
                wid, d.status.name if d.status else "?", d.history_length, "; ".join(pend),
                " pending workflow task (state %s, attempt %d)" % (wft.state, wft.attempt)
                if wft.attempt else ""))
        except Exception as e:  # noqa: BLE001 — a report, not a check
            print("  open: %s (describe failed: %s)" % (wid, e))


async def check(prefix, count, steps, step_log, max_extra, timeout):
    client = await connect()
    wids = ["%s-%d" % (prefix, i) for i in range(count)]
    want_sum = steps * (steps + 1) // 2
    problems = []
    t0 = time.monotonic()
    tasks = {wid: asyncio.ensure_future(client.get_workflow_handle(wid).result()) for wid in wids}
    done, pending = await asyncio.wait(tasks.values(), timeout=timeout)
    waited = time.monotonic() - t0
    completed = 0
    for wid, task in tasks.items():
        if task in pending:
            continue
        try:
            r = task.result()
        except Exception as e:  # noqa: BLE001 — reported as a finding
            problems.append("%s did not complete: %s" % (wid, e))
            continue
        if r != {"tag": wid, "sum": want_sum}:
            problems.append("%s returned %r, not %r" % (wid, r, {"tag": wid, "sum": want_sum}))
            continue
        completed += 1
    open_wids = [wid for wid, task in tasks.items() if task in pending]
    for task in pending:
        task.cancel()
    print("results: %d/%d workflows completed with the expected result (waited %.1f s)" % (
        completed, count, waited))
    if open_wids:
        problems.append("%d workflow(s) still open after %d s: %s" % (
            len(open_wids), timeout, " ".join(open_wids[:10])))
        await explain_open(client, open_wids[:10])

    # Histories: failed and timed-out workflow tasks, activities ended for
    # good, attempts the server started again.
    wft_failed, act_ended_badly, restarted = [], [], 0
    wft_timed_out = collections.Counter()  # by timeout type
    sem = asyncio.Semaphore(16)

    async def read(wid):
        nonlocal restarted
        async with sem:
            h = await client.get_workflow_handle(wid).fetch_history()
        for e in h.events:
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                a = e.workflow_task_failed_event_attributes
                wft_failed.append("%s event %d: cause %d: %s" % (
                    wid, e.event_id, a.cause, a.failure.message))
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                t = e.workflow_task_timed_out_event_attributes.timeout_type
                wft_timed_out[TimeoutType.Name(t).replace("TIMEOUT_TYPE_", "").lower()] += 1
            elif e.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                                  EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
                act_ended_badly.append("%s event %d: %s" % (wid, e.event_id,
                                                            EventType.Name(e.event_type)))
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                restarted += e.activity_task_started_event_attributes.attempt - 1

    await asyncio.gather(*(read(wid) for wid in wids))
    if wft_failed:
        problems.append("%d workflow task(s) failed: %s" % (len(wft_failed),
                                                           "; ".join(wft_failed[:5])))
    if act_ended_badly:
        problems.append("%d activit(ies) failed or timed out for good: %s" % (
            len(act_ended_badly), "; ".join(act_ended_badly[:5])))

    # The step log: executions per (workflow, step).
    runs = collections.defaultdict(list)
    by_pid = collections.Counter()
    with open(step_log) as f:
        for line in f:
            wid, step, attempt, pid, what = line.split()
            if what != "start":
                continue
            runs[(wid, int(step))].append(int(attempt))
            by_pid[pid] += 1
    expected = {(wid, i) for wid in wids for i in range(steps)}
    missing = sorted(expected - runs.keys())
    unexpected = sorted(runs.keys() - expected)
    executions = sum(len(v) for v in runs.values())
    extras = sum(len(v) - 1 for k, v in runs.items() if k in expected)
    # Attempts the server started that no worker ran: numbers below the
    # highest one logged that are not logged.
    unrun = sum(max(v) - len(set(v)) for v in runs.values())
    if missing:
        problems.append("%d step(s) never executed: %s" % (len(missing), missing[:5]))
    if unexpected:
        problems.append("%d execution(s) of steps no workflow has: %s" % (
            len(unexpected), unexpected[:5]))
    if extras > max_extra:
        dups = sorted((k, v) for k, v in runs.items() if len(v) > 1)
        problems.append("%d extra execution(s), at most %d allowed: %s" % (
            extras, max_extra, dups[:10]))
    print("activities: %d expected, %d executions, %d extra (at most %d allowed), "
          "%d attempt(s) started again by the server, %d started but run by no worker" % (
              len(expected), executions, extras, max_extra, restarted, unrun))
    print("executions per worker pid: %s" % json.dumps(dict(sorted(by_pid.items()))))
    print("histories: %d workflow task(s) failed, %d timed out %s" % (
        len(wft_failed), sum(wft_timed_out.values()), json.dumps(dict(wft_timed_out))))
    print("counts workflows=%d completed=%d activities=%d executions=%d extras=%d "
          "max_extras=%d restarted=%d unrun=%d wft_failed=%d wft_timed_out=%d waited_s=%.1f" % (
              count, completed, len(expected), executions, extras, max_extra, restarted, unrun,
              len(wft_failed), sum(wft_timed_out.values()), waited))
    for p in problems:
        print("FAIL: " + p)
    return 0 if not problems else 1


def in_flight(step_log):
    lines = open(step_log).read().splitlines()
    started = {tuple(l.split()[:4]) for l in lines if l.endswith(" start")}
    done = {tuple(l.split()[:4]) for l in lines if l.endswith(" done")}
    print(len(started), len(started - done))


def main(argv):
    cmd = argv[0] if argv else ""
    if cmd == "in-flight" and len(argv) == 2:
        return in_flight(argv[1])
    if cmd == "start" and len(argv) == 6:
        return asyncio.run(start(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5]))
    if cmd == "check" and len(argv) == 7:
        return asyncio.run(check(argv[1], int(argv[2]), int(argv[3]), argv[4], int(argv[5]),
                                 float(argv[6])))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    rc = main(sys.argv[1:]) or 0
    # Leave without the interpreter's finalisation, during which the SDK's
    # native runtime threads may crash the process (as py_client.py says).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
