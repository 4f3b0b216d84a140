"""bench/peers/python/peer.py — the start and stop both Python SDK peers
(worker.py for bench/run, fanout_worker.py for bench/run_fanout_bench.sh)
share: wait until the server sees the worker poll, print `ready`, run until
SIGTERM or SIGINT, shut down, and leave without interpreter teardown.
Imported from the peer's own directory (the script's, first on sys.path)."""

import asyncio
import os
import signal
import sys

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


def sdk_version() -> str:
    try:
        from importlib.metadata import version
        return version("temporalio")
    except Exception:
        return "?"


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call from the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def wait_polling(who: str, client: Client, namespace: str, task_queue: str,
                       identity: str, run: asyncio.Task) -> bool:
    """True once the server lists a workflow poller with `identity` on the
    task queue (about 30 s at most); False, said on stderr, if the worker
    failed first or never showed up. `who` prefixes the messages."""
    req = DescribeTaskQueueRequest(
        namespace=namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    for _ in range(300):
        if run.done():
            break
        try:
            resp = await client.workflow_service.describe_task_queue(req)
            if any(p.identity == identity for p in resp.pollers):
                return True
        except Exception as e:  # the server may not list it yet
            print(f"{who}: describe_task_queue: {e}", file=sys.stderr)
        await asyncio.sleep(0.1)
    if run.done() and run.exception():
        print(f"{who}: worker failed: {run.exception()!r}", file=sys.stderr)
    else:
        print(f"{who}: no poller seen on the task queue", file=sys.stderr)
    return False


async def wait_stopped(run: asyncio.Task, stop: asyncio.Event) -> None:
    """Returns when the worker's run ended or a stop signal came."""
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([run, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()


async def shut_down(who: str, worker, run: asyncio.Task) -> int:
    """Graceful shutdown of a running worker; 0, or 1 if it had failed."""
    if not run.done():
        await worker.shutdown()
    try:
        await run
    except Exception as e:
        print(f"{who}: worker failed: {e!r}", file=sys.stderr)
        return 1
    return 0


def exit_now(rc: int) -> None:
    """Exits without interpreter teardown: the SDK's Rust threads can call
    into Python while it finalizes and abort the process
    ("PyGILState_Release: thread state ... must be current",
    temporalio/sdk-python#300; seen with fanout_worker.py on 3.11)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
