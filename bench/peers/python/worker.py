#!/usr/bin/env python3
"""bench/peers/python/worker.py — the Python SDK (temporalio) peer of
bench/run: the workload types of bench/peers/README.md, written the way the
SDK's documentation writes them, on a worker with the SDK's defaults.

    run-worker --task-queue Q [--cache N]

Server and namespace from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (plain TCP).
--cache N is max_cached_workflows; everything else is the SDK's default
(pollers, task slots, the sandboxed workflow runner, eager activities).
Prints "ready" once a poller of this worker shows up on the task queue;
logs on stderr. SIGTERM or SIGINT: graceful shutdown, exit 0.
"""

import argparse
import asyncio
import os
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from peer import exit_now, sdk_version, shut_down, stop_event, wait_polling, wait_stopped

# The README's activity options: start-to-close 10 s, the workflow's own task
# queue, the default retry policy; nothing else.
START_TO_CLOSE = timedelta(seconds=10)


@activity.defn(name="Noop")
async def noop() -> None:
    return None


async def _noop() -> None:
    await workflow.execute_activity(noop, start_to_close_timeout=START_TO_CLOSE)


@workflow.defn(name="OneActivity")
class OneActivity:
    @workflow.run
    async def run(self) -> int:
        await _noop()
        return 1


@workflow.defn(name="TenSequential")
class TenSequential:
    @workflow.run
    async def run(self) -> int:
        for _ in range(10):
            await _noop()
        return 10


@workflow.defn(name="FanOut100")
class FanOut100:
    @workflow.run
    async def run(self) -> int:
        await asyncio.gather(*(_noop() for _ in range(100)))
        return 100


@workflow.defn(name="FiftyTimers")
class FiftyTimers:
    @workflow.run
    async def run(self) -> int:
        for _ in range(50):
            await workflow.sleep(0.001)
        return 50


@workflow.defn(name="Park")
class Park:
    @workflow.run
    async def run(self) -> int:
        await workflow.sleep(3600)
        return 1


WORKFLOWS = [OneActivity, TenSequential, FanOut100, FiftyTimers, Park]


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task-queue", required=True)
    p.add_argument("--cache", type=int, help="max_cached_workflows (default: the SDK's)")
    args = p.parse_args()
    address = os.environ.get("TEMPORAL_ADDRESS") or "localhost:7233"
    namespace = os.environ.get("TEMPORAL_NAMESPACE") or "default"

    client = await Client.connect(address, namespace=namespace)
    opts = {}
    if args.cache is not None:
        opts["max_cached_workflows"] = args.cache
    worker = Worker(client, task_queue=args.task_queue, workflows=WORKFLOWS,
                    activities=[noop], **opts)

    stop = stop_event()
    run = asyncio.create_task(worker.run())
    if not await wait_polling("worker.py", client, namespace, args.task_queue,
                              client.identity, run):
        return 1
    print(f"worker.py: temporalio {sdk_version()}, Python {sys.version.split()[0]}, "
          f"task queue {args.task_queue}, {address} ({namespace}), "
          f"options {opts or 'SDK defaults'}", file=sys.stderr)
    print("ready", flush=True)
    await wait_stopped(run, stop)
    return await shut_down("worker.py", worker, run)


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
