"""tests/integration/py_system_patch.py — the System Patching workshop's
client in Python, driving the C workflow (examples/system_patch) as the
workshop's own client would: the workflow input is a dataclass with the
fields of the workshop's SystemPatchWorkflowInput, serialised by the SDK's
default converter; the approval is its signal; progress is its query.

  py_system_patch.py WORKFLOW_TYPE WORKFLOW_ID QUEUE

Prints "progress: [...]" whenever the completed steps change, then
"result: <JSON>" (exit 0) or "failed: <message>" (exit 1).
Address: TEMPORAL_ADDRESS; namespace "default".
"""
import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from typing import List

from temporalio.client import Client, WorkflowFailureError


@dataclass
class SystemPatchWorkflowInput:
    # The workshop's field names and defaults (types.py).
    targetClusters: List[str] = field(default_factory=list)
    pilotHostCount: int = 0
    approverEmails: List[str] = field(default_factory=list)
    requesterEmail: str = "default@example.com"
    vaultAddress: str = "https://vault.example.com:8200"
    vaultToken: str = "default-token"
    secretPathPrefix: str = "default-prefix"
    updateCommand: str = "default-update-command"
    serviceList: List[str] = field(default_factory=list)


async def main(wtype, wid, queue):
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], namespace="default")
    handle = await client.start_workflow(
        wtype,
        SystemPatchWorkflowInput(targetClusters=["cluster1", "cluster2"], pilotHostCount=1,
                                 approverEmails=["approver@example.com"],
                                 requesterEmail="python@example.com",
                                 serviceList=["nginx"]),
        id=wid, task_queue=queue)
    await handle.signal("approve_request")
    result_task = asyncio.ensure_future(handle.result())
    last = None
    while not result_task.done():
        steps = await handle.query("get_completed_steps")
        if steps != last:
            print("progress: " + json.dumps(steps), flush=True)
            last = steps
        await asyncio.wait([result_task], timeout=0.3)
    try:
        print("result: " + json.dumps(result_task.result()), flush=True)
        return 0
    except WorkflowFailureError as e:
        print("failed: %s" % (e.cause,), flush=True)
        return 1


if __name__ == "__main__":
    rc = asyncio.run(main(*sys.argv[1:4]))
    sys.stdout.flush()
    os._exit(rc)
