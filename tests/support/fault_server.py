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
  paused-wft-respond
                   the first workflow poll hands out a complete task of a
                   Timer workflow (workflow task timeout 30 s); the first
                   RespondWorkflowTaskCompleted hangs 12 s, later ones answer
                   at once.
  reissued-task    task A (attempt 1) of a run comes with a next_page_token
                   whose page, 2 s later, has no new events; meanwhile a
                   second poll hands out task B of the same run (attempt 2,
                   as after a timeout), whose own page completes its history.
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
        self.polls_out = 0
        self.activity_out = False
        self.responds = 0
        self.wft_responds = 0
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

    @staticmethod
    def first_events(queue):
        started = history.HistoryEvent(
            event_id=1, event_type=event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            workflow_execution_started_event_attributes=history.WorkflowExecutionStartedEventAttributes(
                workflow_type=common.WorkflowType(name="Timer"),
                task_queue=taskqueue.TaskQueue(name=queue),
                workflow_task_timeout=duration_pb2.Duration(seconds=30)))
        scheduled = history.HistoryEvent(
            event_id=2, event_type=event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
        return [started, scheduled]

    @staticmethod
    def task_started():
        return history.HistoryEvent(
            event_id=3, event_type=event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            workflow_task_started_event_attributes=history.WorkflowTaskStartedEventAttributes(
                scheduled_event_id=2))

    def task(self, token, attempt, events, page_token=b""):
        return ws.PollWorkflowTaskQueueResponse(
            task_token=token,
            workflow_execution=common.WorkflowExecution(workflow_id="fault-wf", run_id="fault-run"),
            workflow_type=common.WorkflowType(name="Timer"),
            started_event_id=3, attempt=attempt,
            history=history.History(events=events), next_page_token=page_token)

    def PollWorkflowTaskQueue(self, req, ctx):
        with self.lock:
            normal = req.task_queue.kind != 2  # not sticky
            n = 0
            if normal and self.polls_out < 2:
                self.polls_out += 1
                n = self.polls_out
            first = n == 1
            second = n == 2 and self.scenario == "reissued-task"
        events = self.first_events(req.task_queue.name)
        if first and self.scenario == "reissued-task":
            self.log("PollWorkflowTaskQueue", handed_out="A")
            return self.task(b"fault-task-A", 1, events, b"a-page")
        if second:
            time.sleep(0.5)  # while A's page is being fetched
            self.log("PollWorkflowTaskQueue", handed_out="B")
            return self.task(b"fault-task-B", 2, events, b"b-page")
        if first and self.scenario == "paused-wft-respond":
            self.log("PollWorkflowTaskQueue", handed_out=True)
            return self.task(b"fault-task-1", 1, events + [self.task_started()])
        if first and self.scenario == "endless-history":
            self.log("PollWorkflowTaskQueue", handed_out=True)
            return self.task(b"fault-task-1", 1, events, b"page-1")
        time.sleep(1)
        return ws.PollWorkflowTaskQueueResponse()

    def GetWorkflowExecutionHistory(self, req, ctx):
        with self.lock:
            self.pages += 1
            n = self.pages
        token = req.next_page_token.decode(errors="replace")
        self.log("GetWorkflowExecutionHistory", token=token)
        if token == "a-page":
            time.sleep(2)
            return ws.GetWorkflowExecutionHistoryResponse(
                history=history.History(), next_page_token=b"a-page")
        if token == "b-page":
            return ws.GetWorkflowExecutionHistoryResponse(
                history=history.History(events=[self.task_started()]))
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
        self.log("RespondWorkflowTaskFailed", token=req.task_token.decode(errors="replace"),
                 cause=req.cause, message=req.failure.message)
        return ws.RespondWorkflowTaskFailedResponse()

    def RespondWorkflowTaskCompleted(self, req, ctx):
        with self.lock:
            self.wft_responds += 1
            n = self.wft_responds
        self.log("RespondWorkflowTaskCompleted", n=n, token=req.task_token.decode(errors="replace"),
                 commands=len(req.commands))
        if n == 1 and self.scenario == "paused-wft-respond":
            time.sleep(12)
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
