#!/usr/bin/env python3
"""bench/peers/python/fanout_worker.py — the field's Fanout workflow on the
official Python SDK (temporalio), for bench/run_fanout_bench.sh.

The same workflow as examples/fanout.c: "Init" then "Prepare", then N
inputs at once, each a group of four parallel activities ("Download",
"Lookup", "Transform", "Score"), then "Aggregate" and "Notify"; the same
activity inputs ({"i":i,"ms":ms}; i = -1 for the four fixed ones) and
results ({"i":i,"v":v}: v = ms for the blocking ones, 2i+1 Transform, 3i+1
Score, 0 the fixed ones). Only the blocking times differ: each SDK's
deterministic random draws its own sequence in [a, b]. The
activities are `async def` that call blocking code (time.sleep, a blocking
recv() on a UDP socket, a CPU loop): the mistake of the field report
(boto3 called from async activities), so they run on the worker's asyncio
event loop, the loop that also polls and completes the workflow tasks.
Do not "fix" that here: it is what is being measured.

--sync-activities is the other shape, for bench/run_blocking_bench.sh: the
same activity bodies as plain `def` (synchronous) activities, run on a
concurrent.futures.ThreadPoolExecutor of --activity-threads workers (100
unless given) passed to the Worker as activity_executor: the Python SDK
worker written correctly for blocking activities. The workflow is the same.

    fanout_worker.py --task-queue Q [--address HOST:PORT] [--namespace NS]
                     [--max-concurrent-activities N] [--max-cached-workflows N]
                     [--max-concurrent-workflow-tasks N]
                     [--sync-activities [--activity-threads T]]

Unset options keep the SDK's defaults (the field ran with them). Prints
"ready" once a poller of this worker shows up on the task queue, runs until
SIGTERM or SIGINT, then prints "stats {json}" (activities run, how long
the event loop was seen blocked, CPU, peak RSS; with --sync-activities
also "activity_threads" and "activities_running_peak", the most activities
seen running at once) and shuts down.
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from peer import exit_now, sdk_version, shut_down, stop_event, wait_polling, wait_stopped

# --- the workflow (deterministic: replayed from history) ----------------------

START_TO_CLOSE = timedelta(minutes=5)
# The fixed activities burn about this much CPU each.
FIXED_MS = 5


@workflow.defn(name="Fanout")
class Fanout:
    @workflow.run
    async def run(self, arg: dict) -> dict:
        # Missing fields: examples/fanout.c's defaults.
        n = int(arg.get("inputs", 120))
        lo = int(arg.get("block_min_ms", 500))
        hi = max(lo, int(arg.get("block_max_ms", 5000)))
        burn = int(arg.get("burn_ms", 50))
        activities = 0

        async def one(name: str, i: int, ms: int) -> dict:
            return await workflow.execute_activity(
                name, {"i": i, "ms": ms}, start_to_close_timeout=START_TO_CLOSE
            )

        for name in ("Init", "Prepare"):
            await one(name, -1, FIXED_MS)
            activities += 1

        # Every group at once; the blocking times come from the workflow's
        # deterministic random, one draw per blocking activity, in order.
        rng = workflow.random()
        pending = []
        for i in range(n):
            pending.append(one("Download", i, rng.randint(lo, hi)))
            pending.append(one("Lookup", i, rng.randint(lo, hi)))
            pending.append(one("Transform", i, burn))
            pending.append(one("Score", i, burn))
        results = await asyncio.gather(*pending)
        activities += len(results)
        total = sum(r.get("v", 0) for r in results)

        for name in ("Aggregate", "Notify"):
            await one(name, -1, FIXED_MS)
            activities += 1
        return {"inputs": n, "activities": activities, "sum": total}


# --- the activities: async, and blocking (on purpose) -------------------------
# Each body is plain blocking code. By default it is registered as an
# `async def` that calls it on the event loop (the field's mistake); with
# --sync-activities as a plain `def` the SDK runs on the activity executor.

counts = {}
_counts_lock = threading.Lock()
running = {"now": 0, "peak": 0}


def _count(name: str) -> None:
    with _counts_lock:
        counts[name] = counts.get(name, 0) + 1


def _burn(ms: int) -> int:
    """Spins until this thread has used ms of CPU (not wall time, as in the
    C worker: on a busy machine it takes longer)."""
    end = time.thread_time() + ms / 1000.0
    x = 1
    while time.thread_time() < end:
        for _ in range(500):
            x = (x * 31 + 7) % 1000003
    return x


def _download(arg: dict) -> dict:
    time.sleep(arg["ms"] / 1000.0)  # blocks the event loop (async shape)
    return {"i": arg["i"], "v": arg["ms"]}


def _lookup(arg: dict) -> dict:
    ms = int(arg["ms"])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        # A blocking socket with SO_RCVTIMEO, as the C worker does; nothing
        # is ever sent to it, so recv() returns EAGAIN after ms.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                     struct.pack("ll", ms // 1000, (ms % 1000) * 1000))
        try:
            s.recv(1)  # blocks the event loop (async shape)
        except (BlockingIOError, socket.timeout):
            pass
    finally:
        s.close()
    return {"i": arg["i"], "v": ms}


def _transform(arg: dict) -> dict:
    _burn(int(arg["ms"]))  # holds the loop (async shape) and the GIL
    return {"i": arg["i"], "v": 2 * arg["i"] + 1}


def _score(arg: dict) -> dict:
    _burn(int(arg["ms"]))
    return {"i": arg["i"], "v": 3 * arg["i"] + 1}


def _fixed(arg: dict) -> dict:
    _burn(int(arg.get("ms", FIXED_MS)))
    return {"i": arg.get("i", -1), "v": 0}


BODIES = {"Download": _download, "Lookup": _lookup, "Transform": _transform,
          "Score": _score, "Init": _fixed, "Prepare": _fixed, "Aggregate": _fixed,
          "Notify": _fixed}


def _async_activity(name: str, body):
    @activity.defn(name=name)
    async def run(arg: dict) -> dict:
        _count(name)
        return body(arg)  # blocking code on the event loop, on purpose
    return run


def _sync_activity(name: str, body):
    @activity.defn(name=name)
    def run(arg: dict) -> dict:
        _count(name)
        with _counts_lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        try:
            return body(arg)
        finally:
            with _counts_lock:
                running["now"] -= 1
    return run


ASYNC_ACTIVITIES = [_async_activity(n, b) for n, b in BODIES.items()]
SYNC_ACTIVITIES = [_sync_activity(n, b) for n, b in BODIES.items()]


# --- the worker ---------------------------------------------------------------

class LoopLag:
    """How late a 100 ms sleep on the event loop wakes up: how long the loop
    was blocked (by the activities above, as in the field)."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self.total_s = 0.0
        self.over_1s = 0
        self.over_2s = 0

    async def run(self) -> None:
        period = 0.1
        while True:
            t = time.monotonic()
            await asyncio.sleep(period)
            lag = time.monotonic() - t - period
            if lag > 0:
                self.total_s += lag
                self.max_s = max(self.max_s, lag)
                self.over_1s += lag > 1.0
                self.over_2s += lag > 2.0


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task-queue", required=True)
    p.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    p.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    p.add_argument("--max-concurrent-activities", type=int)
    p.add_argument("--max-concurrent-workflow-tasks", type=int)
    p.add_argument("--max-cached-workflows", type=int)
    p.add_argument("--sync-activities", action="store_true",
                   help="plain def activities on a thread pool (activity_executor)")
    p.add_argument("--activity-threads", type=int, default=100,
                   help="with --sync-activities: the thread pool's max_workers (100)")
    args = p.parse_args()

    client = await Client.connect(args.address, namespace=args.namespace)
    identity = f"fanout-py-{os.getpid()}@{socket.gethostname()}"
    opts = {}
    for k in ("max_concurrent_activities", "max_concurrent_workflow_tasks", "max_cached_workflows"):
        if getattr(args, k) is not None:
            opts[k] = getattr(args, k)
    activities = ASYNC_ACTIVITIES
    if args.sync_activities:
        activities = SYNC_ACTIVITIES
        opts["activity_executor"] = ThreadPoolExecutor(max_workers=args.activity_threads)
    worker = Worker(client, task_queue=args.task_queue, workflows=[Fanout],
                    activities=activities, identity=identity, **opts)

    stop = stop_event()
    lag = LoopLag()
    lag_task = asyncio.create_task(lag.run())
    run = asyncio.create_task(worker.run())
    if not await wait_polling("fanout_worker", client, args.namespace, args.task_queue,
                              identity, run):
        return 1
    print(f"fanout_worker: temporalio {sdk_version()}, Python {sys.version.split()[0]}, "
          f"task queue {args.task_queue}, "
          + (f"sync activities on {args.activity_threads} threads, " if args.sync_activities else "")
          + f"options {({k: v for k, v in opts.items() if k != 'activity_executor'}) or 'SDK defaults'}",
          file=sys.stderr)
    print("ready", flush=True)

    await wait_stopped(run, stop)
    # Stats first: a worker whose loop is still blocked may take long to shut down.
    ru = resource.getrusage(resource.RUSAGE_SELF)
    stats = {
        "sdk": "temporalio", "version": sdk_version(), "python": sys.version.split()[0],
        "activities": dict(sorted(counts.items())), "activities_total": sum(counts.values()),
        "loop_lag_max_s": round(lag.max_s, 3), "loop_lag_total_s": round(lag.total_s, 3),
        "loop_blocked_over_1s": lag.over_1s, "loop_blocked_over_2s": lag.over_2s,
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3), "max_rss_kib": ru.ru_maxrss,
        "worker_failed": bool(run.done() and run.exception() is not None),
    }
    if args.sync_activities:
        stats.update(sync_activities=True, activity_threads=args.activity_threads,
                     activities_running_peak=running["peak"])
    print("stats " + json.dumps(stats), flush=True)
    lag_task.cancel()
    return await shut_down("fanout_worker", worker, run)


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
