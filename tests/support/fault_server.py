"""tests/support/fault_server.py — a FAULT INJECTOR, not a Temporal server:
a gRPC server (grpcio) that answers the WorkflowService calls a worker makes
the way a broken or hostile server would, for the hardening tests. It is never
used for a correctness claim; the real dev server is.

  fault_server.py SCENARIO PORT_FILE LOG_FILE

Listens on a free loopback port, writes it to PORT_FILE, and appends one JSON
line per call to LOG_FILE ({"method": ..., plus what the scenario notes}).
Connecting (GetSystemInfo, DescribeNamespace) works; polls with nothing to
hand out wait a second and come back empty. Scenarios:

  endless-history  the first workflow poll hands out a task whose history
                   has a next_page_token; every GetWorkflowExecutionHistory
                   answers with no events and a new token, forever.
  paused-respond   the first activity poll hands out an Echo activity (60 s
                   start-to-close); the first RespondActivityTaskCompleted
                   hangs 12 s (past the worker's 10 s per call), later ones
                   answer at once.
  silent-respond   the same activity; every RespondActivityTaskCompleted
                   hangs 30 s (a server that takes calls and never answers).
"""
import json
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import event_type_pb2
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.namespace.v1 import message_pb2 as namespace
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

SERVICE = "temporal.api.workflowservice.v1.WorkflowService"


class Faults:
    def __init__(self, scenario, log_path):
        self.scenario = scenario
        self.log_path = log_path
        self.lock = threading.Lock()
        self.handed_out = False
        self.activity_out = False
        self.responds = 0
        self.pages = 0

    def log(self, method, **extra):
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(dict(method=method, **extra)) + "\n")

    def GetSystemInfo(self, req, ctx):
        self.log("GetSystemInfo")
        return ws.GetSystemInfoResponse(server_version="fault-injector")

    def DescribeNamespace(self, req, ctx):
        self.log("DescribeNamespace")
        return ws.DescribeNamespaceResponse(
            namespace_info=namespace.NamespaceInfo(name=req.namespace, state=1))

    def PollWorkflowTaskQueue(self, req, ctx):
        with self.lock:
            first = not self.handed_out and req.task_queue.kind != 2  # not sticky
            self.handed_out = self.handed_out or first
        if not first:
            time.sleep(1)
            return ws.PollWorkflowTaskQueueResponse()
        self.log("PollWorkflowTaskQueue", handed_out=True)
        started = history.HistoryEvent(
            event_id=1, event_type=event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            workflow_execution_started_event_attributes=history.WorkflowExecutionStartedEventAttributes(
                workflow_type=common.WorkflowType(name="Timer"),
                task_queue=taskqueue.TaskQueue(name=req.task_queue.name)))
        scheduled = history.HistoryEvent(
            event_id=2, event_type=event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
        return ws.PollWorkflowTaskQueueResponse(
            task_token=b"fault-task-1",
            workflow_execution=common.WorkflowExecution(workflow_id="fault-wf", run_id="fault-run"),
            workflow_type=common.WorkflowType(name="Timer"),
            started_event_id=3, attempt=1,
            history=history.History(events=[started, scheduled]),
            next_page_token=b"page-1")

    def GetWorkflowExecutionHistory(self, req, ctx):
        with self.lock:
            self.pages += 1
            n = self.pages
        self.log("GetWorkflowExecutionHistory", token=req.next_page_token.decode(errors="replace"))
        return ws.GetWorkflowExecutionHistoryResponse(
            history=history.History(), next_page_token=("page-%d" % (n + 1)).encode())

    def PollActivityTaskQueue(self, req, ctx):
        with self.lock:
            first = self.scenario.endswith("-respond") and not self.activity_out
            self.activity_out = True
        if not first:
            time.sleep(1)
            return ws.PollActivityTaskQueueResponse()
        self.log("PollActivityTaskQueue", handed_out=True)
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        return ws.PollActivityTaskQueueResponse(
            task_token=b"fault-activity-1", activity_id="1",
            activity_type=common.ActivityType(name="Echo"),
            workflow_type=common.WorkflowType(name="Sequential"), workflow_namespace="default",
            workflow_execution=common.WorkflowExecution(workflow_id="fault-wf", run_id="fault-run"),
            scheduled_time=now, started_time=now, current_attempt_scheduled_time=now,
            start_to_close_timeout=duration_pb2.Duration(seconds=60),
            schedule_to_close_timeout=duration_pb2.Duration(seconds=60), attempt=1,
            input=common.Payloads(payloads=[common.Payload(
                metadata={"encoding": b"json/plain"}, data=b'"echoed"')]))

    def RespondActivityTaskCompleted(self, req, ctx):
        with self.lock:
            self.responds += 1
            n = self.responds
        self.log("RespondActivityTaskCompleted", n=n,
                 result=req.result.payloads[0].data.decode() if req.result.payloads else None)
        if n == 1 or self.scenario == "silent-respond":
            time.sleep(12 if self.scenario == "paused-respond" else 30)
        return ws.RespondActivityTaskCompletedResponse()

    def RespondWorkflowTaskFailed(self, req, ctx):
        self.log("RespondWorkflowTaskFailed", cause=req.cause, message=req.failure.message)
        return ws.RespondWorkflowTaskFailedResponse()

    def RespondWorkflowTaskCompleted(self, req, ctx):
        self.log("RespondWorkflowTaskCompleted")
        return ws.RespondWorkflowTaskCompletedResponse()

    def ShutdownWorker(self, req, ctx):
        self.log("ShutdownWorker")
        return ws.ShutdownWorkerResponse()


def main(scenario, port_file, log_file):
    faults = Faults(scenario, log_file)
    handlers = {}
    for name in ("GetSystemInfo", "DescribeNamespace", "PollWorkflowTaskQueue",
                 "GetWorkflowExecutionHistory", "PollActivityTaskQueue",
                 "RespondActivityTaskCompleted",
                 "RespondWorkflowTaskFailed", "RespondWorkflowTaskCompleted", "ShutdownWorker"):
        req_type = getattr(ws, name + "Request")
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            getattr(faults, name), request_deserializer=req_type.FromString,
            response_serializer=lambda m: m.SerializeToString())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(port_file, "w") as f:
        f.write(str(port))
    server.wait_for_termination()


if __name__ == "__main__":
    main(*sys.argv[1:4])
