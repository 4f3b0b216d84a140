/* tests/io/test_grpc_channel_server.c — the gRPC channel against the real
 * Temporal dev server (TEMPORAL_ADDRESS, from the ctest fixture), on the
 * io backend TWE_IO_BACKEND names: system info, namespaces, workflow start /
 * describe / terminate, ALREADY_EXISTS with its decoded details, an empty
 * long poll re-issued, 1,000 concurrent calls on one connection, and the
 * server's PINGs (Go gRPC's bandwidth probes) answered late but all. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/grpc_channel.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"

#define WS "/temporal.api.workflowservice.v1.WorkflowService/"
#define SEC 1000000000ull

typedef struct fixture {
  twe_reactor_t *reactor;
  twe_grpc_channel_t *ch;
  twe_arena_t arena;
} fixture_t;

static int setup(void **state) {
  static fixture_t f;
  int rc = twe__reactor_create(&f.reactor, NULL);
  if (rc < 0) {
    /* A forced io_uring that this kernel or sandbox refuses: skip. */
    fprintf(stderr, "io backend unavailable: %s\n", twe_strerror(rc));
    exit(77);
  }
  twe_connection_options_t opts;
  char err[256];
  assert_int_equal(twe_connection_options_from_env(&opts, err, sizeof err), 0);
  assert_int_equal(twe__grpc_channel_create(f.reactor, &opts, &f.ch, err, sizeof err), 0);
  twe__arena_init(&f.arena, 0);
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  twe_grpc_channel_stats_t st;
  twe__grpc_channel_stats(f->ch, &st);
  assert_int_equal(st.requests_live, 0);
  twe__grpc_channel_destroy(f->ch);
  twe__reactor_destroy(f->reactor);
  twe__arena_destroy(&f->arena);
  return 0;
}

static void call(fixture_t *f, twe_grpc_request_t *req, const char *method,
                 const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *response_type) {
  char *path = twe__arena_alloc(&f->arena, strlen(WS) + strlen(method) + 1);
  strcpy(path, WS);
  strcat(path, method);
  req->path = path;
  req->request = msg;
  req->response_type = response_type;
  req->arena = &f->arena;
  req->namespaced = true;
  assert_int_equal(twe__grpc_channel_call_blocking(f->ch, req), 0);
}

static void test_channel_system_info_and_namespace(void **state) {
  fixture_t *f = *state;
  Temporal__Api__Workflowservice__V1__GetSystemInfoRequest in =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_request_t req = {0};
  call(f, &req, "GetSystemInfo", &in.base,
       &temporal__api__workflowservice__v1__get_system_info_response__descriptor);
  assert_int_equal(req.status.code, TWE_GRPC_OK);
  Temporal__Api__Workflowservice__V1__GetSystemInfoResponse *info = (void *)req.response;
  assert_non_null(info->capabilities);
  assert_true(info->capabilities->sdk_metadata);

  Temporal__Api__Workflowservice__V1__DescribeNamespaceRequest ns =
      TEMPORAL__API__WORKFLOWSERVICE__V1__DESCRIBE_NAMESPACE_REQUEST__INIT;
  ns.namespace_ = "default";
  twe_grpc_request_t nreq = {0};
  call(f, &nreq, "DescribeNamespace", &ns.base,
       &temporal__api__workflowservice__v1__describe_namespace_response__descriptor);
  assert_int_equal(nreq.status.code, TWE_GRPC_OK);
  Temporal__Api__Workflowservice__V1__DescribeNamespaceResponse *d = (void *)nreq.response;
  assert_string_equal(d->namespace_info->name, "default");
  assert_int_equal(d->namespace_info->state,
                   TEMPORAL__API__ENUMS__V1__NAMESPACE_STATE__NAMESPACE_STATE_REGISTERED);

  /* A namespace that does not exist: NOT_FOUND, not retried, with details. */
  ns.namespace_ = "twe-no-such-namespace";
  twe_grpc_request_t missing = {0};
  call(f, &missing, "DescribeNamespace", &ns.base,
       &temporal__api__workflowservice__v1__describe_namespace_response__descriptor);
  assert_int_equal(missing.status.code, TWE_GRPC_NOT_FOUND);
  assert_int_equal(missing.attempts, 1);
  assert_ptr_equal(missing.status.detail_type,
                   &temporal__api__errordetails__v1__namespace_not_found_failure__descriptor);
}

static void start_request(Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *r,
                          const char *workflow_id, const char *request_id) {
  static Temporal__Api__Common__V1__WorkflowType type = TEMPORAL__API__COMMON__V1__WORKFLOW_TYPE__INIT;
  static Temporal__Api__Taskqueue__V1__TaskQueue queue = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  type.name = "TweChannelTest";
  queue.name = "twe-channel-test";
  temporal__api__workflowservice__v1__start_workflow_execution_request__init(r);
  r->namespace_ = "default";
  r->workflow_id = (char *)workflow_id;
  r->workflow_type = &type;
  r->task_queue = &queue;
  r->identity = "twe-test";
  r->request_id = (char *)request_id;
}

static void test_channel_workflow_start_describe_terminate(void **state) {
  fixture_t *f = *state;
  char wid[64], rid1[96], rid2[96];
  snprintf(wid, sizeof wid, "twe-channel-%d-%s", (int)getpid(), getenv("TWE_IO_BACKEND") ? getenv("TWE_IO_BACKEND") : "auto");
  snprintf(rid1, sizeof rid1, "%s-req-1", wid);
  snprintf(rid2, sizeof rid2, "%s-req-2", wid);
  Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest start;
  start_request(&start, wid, rid1);
  twe_grpc_request_t s1 = {0};
  call(f, &s1, "StartWorkflowExecution", &start.base,
       &temporal__api__workflowservice__v1__start_workflow_execution_response__descriptor);
  assert_int_equal(s1.status.code, TWE_GRPC_OK);
  const char *run_id = ((Temporal__Api__Workflowservice__V1__StartWorkflowExecutionResponse *)s1.response)->run_id;
  assert_true(strlen(run_id) > 0);

  /* Same workflow id, new request id: ALREADY_EXISTS, details decoded. */
  start_request(&start, wid, rid2);
  twe_grpc_request_t s2 = {0};
  call(f, &s2, "StartWorkflowExecution", &start.base,
       &temporal__api__workflowservice__v1__start_workflow_execution_response__descriptor);
  assert_int_equal(s2.status.code, TWE_GRPC_ALREADY_EXISTS);
  assert_int_equal(s2.attempts, 1);
  assert_ptr_equal(s2.status.detail_type,
                   &temporal__api__errordetails__v1__workflow_execution_already_started_failure__descriptor);
  Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure *already = (void *)s2.status.detail;
  assert_string_equal(already->run_id, run_id);

  Temporal__Api__Common__V1__WorkflowExecution exec = TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  exec.workflow_id = wid;
  exec.run_id = (char *)run_id;
  Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionRequest desc =
      TEMPORAL__API__WORKFLOWSERVICE__V1__DESCRIBE_WORKFLOW_EXECUTION_REQUEST__INIT;
  desc.namespace_ = "default";
  desc.execution = &exec;
  twe_grpc_request_t d1 = {0};
  call(f, &d1, "DescribeWorkflowExecution", &desc.base,
       &temporal__api__workflowservice__v1__describe_workflow_execution_response__descriptor);
  assert_int_equal(d1.status.code, TWE_GRPC_OK);
  Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionResponse *info = (void *)d1.response;
  assert_int_equal(info->workflow_execution_info->status,
                   TEMPORAL__API__ENUMS__V1__WORKFLOW_EXECUTION_STATUS__WORKFLOW_EXECUTION_STATUS_RUNNING);
  assert_string_equal(info->workflow_execution_info->type->name, "TweChannelTest");

  Temporal__Api__Workflowservice__V1__TerminateWorkflowExecutionRequest term =
      TEMPORAL__API__WORKFLOWSERVICE__V1__TERMINATE_WORKFLOW_EXECUTION_REQUEST__INIT;
  term.namespace_ = "default";
  term.workflow_execution = &exec;
  term.reason = "twe integration test";
  twe_grpc_request_t t1 = {0};
  call(f, &t1, "TerminateWorkflowExecution", &term.base,
       &temporal__api__workflowservice__v1__terminate_workflow_execution_response__descriptor);
  assert_int_equal(t1.status.code, TWE_GRPC_OK);
  twe_grpc_request_t d2 = {0};
  call(f, &d2, "DescribeWorkflowExecution", &desc.base,
       &temporal__api__workflowservice__v1__describe_workflow_execution_response__descriptor);
  assert_int_equal(d2.status.code, TWE_GRPC_OK);
  info = (void *)d2.response;
  assert_int_equal(info->workflow_execution_info->status,
                   TEMPORAL__API__ENUMS__V1__WORKFLOW_EXECUTION_STATUS__WORKFLOW_EXECUTION_STATUS_TERMINATED);
}

/* The fixture's server answers an idle poll after a few seconds (its
 * long-poll expiry is shortened by dynamic config) with OK and an empty
 * message: not an error, and the poller asks again. */
static void test_channel_long_poll_empty_and_reissued(void **state) {
  fixture_t *f = *state;
  Temporal__Api__Taskqueue__V1__TaskQueue queue = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  queue.name = "twe-empty-queue";
  queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest poll =
      TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_WORKFLOW_TASK_QUEUE_REQUEST__INIT;
  poll.namespace_ = "default";
  poll.task_queue = &queue;
  poll.identity = "twe-test";
  for (int round = 0; round < 3; round++) {
    twe_grpc_request_t req = {.timeout_ns = 70 * SEC, .retry = &twe__retry_policy_poll};
    call(f, &req, "PollWorkflowTaskQueue", &poll.base,
         &temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor);
    assert_int_equal(req.status.code, TWE_GRPC_OK);
    Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse *resp = (void *)req.response;
    assert_int_equal(resp->task_token.len, 0);
    twe__arena_reset(&f->arena);
  }
}

static int cancel_done;
static void count_cancel(twe_grpc_request_t *req) {
  (void)req;
  cancel_done++;
}

/* A long poll in flight is cancelled: its callback fires at once with
 * CANCELLED, exactly once, and is not retried. */
static void test_channel_cancel_long_poll(void **state) {
  fixture_t *f = *state;
  Temporal__Api__Taskqueue__V1__TaskQueue queue = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  queue.name = "twe-cancel-queue";
  Temporal__Api__Workflowservice__V1__PollActivityTaskQueueRequest poll =
      TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_ACTIVITY_TASK_QUEUE_REQUEST__INIT;
  poll.namespace_ = "default";
  poll.task_queue = &queue;
  twe_grpc_request_t req = {
    .path = WS "PollActivityTaskQueue",
    .request = &poll.base,
    .response_type = &temporal__api__workflowservice__v1__poll_activity_task_queue_response__descriptor,
    .arena = &f->arena,
    .timeout_ns = 70 * SEC,
    .retry = &twe__retry_policy_poll,
    .namespaced = true,
    .done = count_cancel,
  };
  cancel_done = 0;
  assert_int_equal(twe__grpc_channel_start(f->ch, &req), 0);
  /* Let it reach the server. */
  uint64_t until = twe__reactor_now(f->reactor) + SEC / 2;
  while (twe__reactor_now(f->reactor) < until) twe__reactor_run_once(f->reactor, SEC / 10);
  assert_int_equal(cancel_done, 0);
  twe__grpc_channel_cancel(f->ch, &req);
  assert_int_equal(cancel_done, 1);
  assert_int_equal(req.status.code, TWE_GRPC_CANCELLED);
  assert_int_equal(req.attempts, 1);
  for (int i = 0; i < 5; i++) twe__reactor_run_once(f->reactor, SEC / 20);
  assert_int_equal(cancel_done, 1);
}

/* A request's callback destroys the channel while another request (a long
 * poll) is in flight on the same connection: the poll completes CANCELLED,
 * every callback runs once, nothing hangs (ASan checks the rest). */
static int destroy_cb_count, poll_cb_count, poll_cb_code;
static twe_grpc_channel_t *destroy_me;
static void destroy_in_callback(twe_grpc_request_t *req) {
  (void)req;
  destroy_cb_count++;
  twe__grpc_channel_destroy(destroy_me);
}
static void poll_callback(twe_grpc_request_t *req) {
  poll_cb_count++;
  poll_cb_code = req->status.code;
}

static void test_channel_destroy_from_callback(void **state) {
  fixture_t *f = *state;
  twe_connection_options_t opts;
  char err[128];
  assert_int_equal(twe_connection_options_from_env(&opts, err, sizeof err), 0);
  assert_int_equal(twe__grpc_channel_create(f->reactor, &opts, &destroy_me, err, sizeof err), 0);
  Temporal__Api__Taskqueue__V1__TaskQueue queue = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  queue.name = "twe-destroy-queue";
  Temporal__Api__Workflowservice__V1__PollActivityTaskQueueRequest poll =
      TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_ACTIVITY_TASK_QUEUE_REQUEST__INIT;
  poll.namespace_ = "default";
  poll.task_queue = &queue;
  twe_grpc_request_t preq = {
    .path = WS "PollActivityTaskQueue", .request = &poll.base,
    .response_type = &temporal__api__workflowservice__v1__poll_activity_task_queue_response__descriptor,
    .arena = &f->arena, .timeout_ns = 70 * SEC, .retry = &twe__retry_policy_poll,
    .namespaced = true, .done = poll_callback,
  };
  Temporal__Api__Workflowservice__V1__GetSystemInfoRequest in =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_request_t ireq = {
    .path = WS "GetSystemInfo", .request = &in.base,
    .response_type = &temporal__api__workflowservice__v1__get_system_info_response__descriptor,
    .arena = &f->arena, .done = destroy_in_callback,
  };
  destroy_cb_count = poll_cb_count = 0;
  assert_int_equal(twe__grpc_channel_start(destroy_me, &preq), 0);
  uint64_t until = twe__reactor_now(f->reactor) + SEC / 2;
  while (twe__reactor_now(f->reactor) < until) twe__reactor_run_once(f->reactor, SEC / 10);
  assert_int_equal(twe__grpc_channel_start(destroy_me, &ireq), 0);
  until = twe__reactor_now(f->reactor) + 5 * SEC;
  while (destroy_cb_count == 0 && twe__reactor_now(f->reactor) < until)
    twe__reactor_run_once(f->reactor, SEC / 10);
  assert_int_equal(destroy_cb_count, 1);
  assert_int_equal(poll_cb_count, 1);
  assert_int_equal(poll_cb_code, TWE_GRPC_CANCELLED);
  for (int i = 0; i < 5; i++) twe__reactor_run_once(f->reactor, SEC / 20);
  assert_int_equal(destroy_cb_count + poll_cb_count, 2);
}

static int concurrent_done;
static void count_done(twe_grpc_request_t *req) {
  (void)req;
  concurrent_done++;
}

static void test_channel_1000_concurrent_calls_one_connection(void **state) {
  fixture_t *f = *state;
  enum { N = 1000 };
  twe_grpc_request_t *reqs = calloc(N, sizeof *reqs);
  Temporal__Api__Workflowservice__V1__GetSystemInfoRequest in =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_channel_stats_t before;
  twe__grpc_channel_stats(f->ch, &before);
  concurrent_done = 0;
  for (int i = 0; i < N; i++) {
    reqs[i].path = WS "GetSystemInfo";
    reqs[i].request = &in.base;
    reqs[i].response_type = &temporal__api__workflowservice__v1__get_system_info_response__descriptor;
    reqs[i].arena = &f->arena;
    reqs[i].timeout_ns = 60 * SEC;
    reqs[i].done = count_done;
    assert_int_equal(twe__grpc_channel_start(f->ch, &reqs[i]), 0);
  }
  while (concurrent_done < N) assert_true(twe__reactor_run_once(f->reactor, -1) >= 0);
  int ok = 0;
  for (int i = 0; i < N; i++) ok += reqs[i].status.code == TWE_GRPC_OK;
  assert_int_equal(ok, N);
  twe_grpc_channel_stats_t after;
  twe__grpc_channel_stats(f->ch, &after);
  /* One connection carried them all (opened here only if no earlier test did). */
  assert_true(after.connects_succeeded - before.connects_succeeded <= 1);
  assert_int_equal(after.connections_open, 1);
  printf("1000 concurrent GetSystemInfo: %d OK, %llu retries, %llu connection(s) opened in all\n", ok,
         (unsigned long long)(after.retries - before.retries),
         (unsigned long long)after.connects_succeeded);
  free(reqs);
}

static void one_done(twe_grpc_request_t *req) {
  *(bool *)req->data = true;
}

/* Calls one after another, about a millisecond apart, for 0.6 s (2,000
 * calls at most: past about 3,000 in a row the dev server stalls a call for
 * a second, however PINGs are answered). The dev server (gRPC in Go) probes
 * the bandwidth with a PING on a request's DATA once its last probe was
 * answered; answered at once, that is a PING per call. Each is answered
 * 50 ms later here (io/grpc_conn.c): a second PING shows the late answer
 * reached the server, there is at most one per 50 ms, and the connection
 * stays (no GOAWAY, no reconnect). */
static void test_channel_server_pings_answered(void **state) {
  fixture_t *f = *state;
  Temporal__Api__Workflowservice__V1__GetSystemInfoRequest in =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_channel_stats_t before, after;
  twe__grpc_channel_stats(f->ch, &before);
  twe__reactor_run_once(f->reactor, 0); /* the reactor's clock, fresh */
  uint64_t start = twe__reactor_now(f->reactor);
  int calls = 0;
  while (twe__reactor_now(f->reactor) - start < 6 * SEC / 10 && calls < 2000) {
    bool done = false;
    twe_grpc_request_t req = {.path = WS "GetSystemInfo",
                              .request = &in.base,
                              .response_type =
                                  &temporal__api__workflowservice__v1__get_system_info_response__descriptor,
                              .arena = &f->arena,
                              .timeout_ns = 10 * SEC,
                              .done = one_done,
                              .data = &done};
    assert_int_equal(twe__grpc_channel_start(f->ch, &req), 0);
    while (!done) assert_true(twe__reactor_run_once(f->reactor, -1) >= 0);
    assert_int_equal(req.status.code, TWE_GRPC_OK);
    twe__arena_reset(&f->arena);
    calls++;
    twe__reactor_run_once(f->reactor, SEC / 1000);
  }
  uint64_t elapsed_ms = (twe__reactor_now(f->reactor) - start) / 1000000;
  twe__grpc_channel_stats(f->ch, &after);
  uint64_t received = after.pings_received - before.pings_received;
  uint64_t answered = after.pings_answered - before.pings_answered;
  printf("%d sequential calls in %llu ms: %llu PINGs from the server, %llu answered by the last "
         "call\n",
         calls, (unsigned long long)elapsed_ms, (unsigned long long)received,
         (unsigned long long)answered);
  assert_true(received >= 2);
  assert_true(received <= elapsed_ms / 50 + 2);
  assert_true(answered + 1 >= received); /* at most one held */
  /* The held one goes out within 50 ms. */
  uint64_t until = twe__reactor_now(f->reactor) + SEC / 5;
  while (twe__reactor_now(f->reactor) < until) twe__reactor_run_once(f->reactor, SEC / 20);
  twe__grpc_channel_stats(f->ch, &after);
  assert_int_equal(after.pings_answered, after.pings_received);
  assert_int_equal(after.goaways, before.goaways);
  assert_int_equal(after.connects_started, before.connects_started);
  assert_int_equal(after.connections_open, 1);
}

int main(void) {
  if (!getenv("TEMPORAL_ADDRESS")) {
    fprintf(stderr, "TEMPORAL_ADDRESS is not set (run through ctest's dev server fixture)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_channel_system_info_and_namespace),
    cmocka_unit_test(test_channel_workflow_start_describe_terminate),
    cmocka_unit_test(test_channel_long_poll_empty_and_reissued),
    cmocka_unit_test(test_channel_cancel_long_poll),
    cmocka_unit_test(test_channel_destroy_from_callback),
    cmocka_unit_test(test_channel_1000_concurrent_calls_one_connection),
    cmocka_unit_test(test_channel_server_pings_answered),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
