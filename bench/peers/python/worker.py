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
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Worker

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


async def wait_polling(client: Client, namespace: str, task_queue: str,
                       run: asyncio.Task) -> bool:
    """True once the server lists a workflow poller with the client's
    identity (the worker's, by default) on the task queue."""
    req = DescribeTaskQueueRequest(
        namespace=namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    for _ in range(300):
        if run.done():
            return False
        try:
            resp = await client.workflow_service.describe_task_queue(req)
            if any(p.identity == client.identity for p in resp.pollers):
                return True
        except Exception as e:  # the server may not list it yet
            print(f"worker.py: describe_task_queue: {e}", file=sys.stderr)
        await asyncio.sleep(0.1)
    return False


def sdk_version() -> str:
    try:
        from importlib.metadata import version
        return version("temporalio")
    except Exception:
        return "?"


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

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.run())
    if not await wait_polling(client, namespace, args.task_queue, run):
        if run.done() and run.exception():
            print(f"worker.py: worker failed: {run.exception()!r}", file=sys.stderr)
        else:
            print("worker.py: no poller seen on the task queue", file=sys.stderr)
        return 1
    print(f"worker.py: temporalio {sdk_version()}, Python {sys.version.split()[0]}, "
          f"task queue {args.task_queue}, {address} ({namespace}), "
          f"options {opts or 'SDK defaults'}", file=sys.stderr)
    print("ready", flush=True)

    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([run, stopper], return_when=asyncio.FIRST_COMPLETED)
    if not run.done():
        await worker.shutdown()
    try:
        await run
    except Exception as e:
        print(f"worker.py: worker failed: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    rc = asyncio.run(main())
    # Skip interpreter teardown: the SDK's Rust threads can call into Python
    # while it finalizes and abort the process (temporalio/sdk-python#300,
    # seen with fanout_worker.py on 3.11).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
