"""tests/integration/py_client.py — the Python SDK's client (temporalio)
driving twe workflows, as a Python user would. Run with the tests' venv
(scripts/bootstrap makes it; lib.sh's `py` runs it).

  py_client.py signal WORKFLOW_ID NAME JSON
      handle.signal(NAME, <JSON decoded>)
  py_client.py signal-with-start TYPE QUEUE WORKFLOW_ID START_JSON NAME JSON
      client.start_workflow(..., start_signal=NAME, start_signal_args=[...]),
      then prints the workflow's result as JSON
  py_client.py signal-raw WORKFLOW_ID NAME BYTES
      SignalWorkflowExecution with one payload marked json/plain holding
      BYTES unchecked (input a Python user's converter would refuse)
  py_client.py query WORKFLOW_ID NAME
      handle.query(NAME): prints the answer as JSON, or "error: <message>"
      (exit 3) when the query failed
  py_client.py update WORKFLOW_ID NAME JSON
      handle.execute_update(NAME, <JSON decoded>): prints the result as
      JSON, or "error: <message>" (exit 3) when the update failed or was
      rejected
  py_client.py worker QUEUE
      A Python SDK worker with the Python twins of twe's test workflows
      (Approval, Counter, Patched, Locals below) and PyKid (a child of
      twe's PyParent), until SIGTERM; prints "ready" once polling. The
      twins' histories replay on twe (test_signals.sh and others).

Address: TEMPORAL_ADDRESS; namespace "default".
"""
import asyncio
import json
import os
import signal
import sys
from datetime import timedelta

from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.client import Client


@workflow.defn(name="Approval")
class Approval:
    """The twin of scenario_worker.c's Approval: waits up to timeout_ms for
    the "approve" signal."""

    def __init__(self) -> None:
        self.values: list = []

    @workflow.signal(name="approve")
    def approve(self, value) -> None:
        self.values.append(value)

    @workflow.run
    async def run(self, args: dict) -> dict:
        try:
            await workflow.wait_condition(
                lambda: len(self.values) >= 1,
                timeout=timedelta(milliseconds=args.get("timeout_ms", 30000)))
        except asyncio.TimeoutError:
            return {"timeout": True}
        return {"approved": self.values[0]}


@workflow.defn(name="Counter")
class Counter:
    """The twin of scenario_worker.c's Counter: updates add (validated),
    fail, finish; query total."""

    def __init__(self) -> None:
        self.total = 0
        self.finished = False

    @workflow.update(name="add")
    def add(self, n: int) -> int:
        self.total += n
        return self.total

    @add.validator
    def validate_add(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative numbers cannot be added")

    @workflow.update(name="fail")
    def fail(self, arg) -> None:
        raise ApplicationError("failed as asked")

    @workflow.update(name="finish")
    def finish(self, arg=None) -> None:
        self.finished = True

    @workflow.query(name="total")
    def total_query(self) -> int:
        return self.total

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.finished)
        return self.total


@workflow.defn(name="Patched")
class Patched:
    """The twin of scenario_worker.c's Patched (its new code)."""

    @workflow.run
    async def run(self) -> str:
        if workflow.patched("my-patch"):
            await asyncio.sleep(0.1)
            return "new"
        return "old"


@workflow.defn(name="PyKid")
class PyKid:
    """A child for twe's PyParent: {"i": n} returns 10 n; {"fail": true}
    fails with PyKidFailed."""

    @workflow.run
    async def run(self, args: dict) -> int:
        if args.get("fail"):
            raise ApplicationError("py kid %d failed" % args["i"], type="PyKidFailed",
                                   non_retryable=True)
        return 10 * args["i"]


@workflow.defn(name="Locals")
class Locals:
    """The twin of scenario_worker.c's Locals in mode "seq": 20 local
    activities Inc in a row, from 0."""

    @workflow.run
    async def run(self, args: dict) -> int:
        n = 0
        for _ in range(20):
            n = await workflow.execute_local_activity(
                "Inc", n, start_to_close_timeout=timedelta(seconds=60))
        return n


async def run_worker(client, queue):
    # Imported here: the client commands exit cleanly without the worker's
    # machinery loaded.
    from temporalio.worker import Worker

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    from temporalio import activity

    @activity.defn(name="Inc")
    async def inc(n: int) -> int:
        return n + 1

    async with Worker(client, task_queue=queue, workflows=[Approval, Counter, Patched, PyKid, Locals],
                      activities=[inc]):
        print("ready", flush=True)
        await stop.wait()


async def main(argv):
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], namespace="default")
    cmd = argv[0]
    if cmd == "signal":
        wid, name, arg = argv[1], argv[2], json.loads(argv[3])
        await client.get_workflow_handle(wid).signal(name, arg)
    elif cmd == "signal-with-start":
        wtype, queue, wid, start, name, arg = argv[1:7]
        handle = await client.start_workflow(
            wtype, json.loads(start), id=wid, task_queue=queue,
            start_signal=name, start_signal_args=[json.loads(arg)])
        print(json.dumps(await handle.result()))
    elif cmd == "signal-raw":
        wid, name, data = argv[1], argv[2], argv[3].encode()
        await client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=WorkflowExecution(workflow_id=wid),
                signal_name=name,
                input=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=data)]),
                identity="py_client signal-raw"))
    elif cmd == "query":
        from temporalio.client import WorkflowQueryFailedError
        try:
            print(json.dumps(await client.get_workflow_handle(argv[1]).query(argv[2])))
        except WorkflowQueryFailedError as e:
            print("error: " + str(e))
            sys.stdout.flush()
            os._exit(3)
    elif cmd == "update":
        from temporalio.client import WorkflowUpdateFailedError
        try:
            print(json.dumps(await client.get_workflow_handle(argv[1]).execute_update(
                argv[2], json.loads(argv[3]))))
        except WorkflowUpdateFailedError as e:
            print("error: " + str(e.cause.message if e.cause else e))
            sys.stdout.flush()
            os._exit(3)
    elif cmd == "worker":
        await run_worker(client, argv[1])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    # Done: leave without the interpreter's finalisation, during which the
    # SDK's native runtime threads sometimes abort the process ("Fatal
    # Python error: PyGILState_Release", seen here with temporalio 1.35.0).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
