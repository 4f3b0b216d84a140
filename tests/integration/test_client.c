/* tests/integration/test_client.c — the client against a real dev server
 * (TEMPORAL_ADDRESS): connect, start (and a duplicate start), wait for a
 * result with a timeout, read every kind of close (terminated, completed
 * and failed — the last two by answering the workflow task by hand, as a
 * worker would, through twe__client_call), unknown namespaces and
 * workflows, and arguments that travel unchecked. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/client_internal.h"
#include "engine/values.h"
#include "io/grpc_retry.h"
#include "io/grpc_status.h"
#include "temporal/api/command/v1/message.pb-c.h"
#include "temporal/api/enums/v1/command_type.pb-c.h"
#include "temporal/api/enums/v1/task_queue.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"
#include "tests/support/workflow_task.h"

#define WS "/temporal.api.workflowservice.v1.WorkflowService/"
#define SEC 1000000000ull

static twe_client_t *client;
static char prefix[64];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static int setup(void **state) {
  (void)state;
  if (!getenv("TEMPORAL_ADDRESS")) {
    fprintf(stderr, "TEMPORAL_ADDRESS is not set: skipped\n");
    exit(77);
  }
  char err[512] = "";
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) fprintf(stderr, "connect: %s (%s)\n", err, twe_strerror(rc));
  assert_int_equal(rc, 0);
  snprintf(prefix, sizeof prefix, "twe-it-client-%ld-%lld", (long)getpid(), (long long)time(NULL));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  twe_client_close(client);
  return 0;
}

static void start(const char *id, const char *queue, const twe_payload_t *args, size_t n,
                  char *run_id, size_t run_id_len) {
  twe_start_workflow_options_t so = {.workflow_id = id, .task_queue = queue};
  char err[512] = "";
  int rc = twe_client_start_workflow(client, "TweClientTest", &so, args, n, run_id, run_id_len, err,
                                     sizeof err);
  if (rc < 0) fprintf(stderr, "start %s: %s\n", id, err);
  assert_int_equal(rc, 0);
}

static void terminate(const char *id, const char *reason) {
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Workflowservice__V1__TerminateWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__TERMINATE_WORKFLOW_EXECUTION_REQUEST__INIT;
  Temporal__Api__Common__V1__WorkflowExecution ex =
      TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  ex.workflow_id = (char *)id;
  r.namespace_ = (char *)twe_client_namespace(client);
  r.workflow_execution = &ex;
  r.reason = (char *)reason;
  r.identity = (char *)twe__client_identity(client);
  twe_grpc_request_t req = {
    .path = WS "TerminateWorkflowExecution",
    .request = &r.base,
    .response_type =
        &temporal__api__workflowservice__v1__terminate_workflow_execution_response__descriptor,
    .arena = &arena,
    .namespaced = true,
  };
  assert_int_equal(twe__client_call(client, &req), 0);
  if (req.status.code) fprintf(stderr, "terminate: %s\n", req.status.message);
  assert_int_equal(req.status.code, TWE_GRPC_OK);
  twe__arena_destroy(&arena);
}

static void test_twe_client_namespace_default(void **state) {
  (void)state;
  const char *ns = getenv("TEMPORAL_NAMESPACE");
  assert_string_equal(twe_client_namespace(client), ns && *ns ? ns : "default");
}

static void test_twe_client_start_workflow_duplicate_and_timeout_and_terminate(void **state) {
  (void)state;
  char id[128], queue[128], run_id[64] = "", run_id2[64] = "", err[512] = "";
  snprintf(id, sizeof id, "%s-terminate", prefix);
  snprintf(queue, sizeof queue, "%s-noworker", prefix);
  twe_payload_t arg = twe_payload_json("{\"n\": 1}");
  start(id, queue, &arg, 1, run_id, sizeof run_id);
  assert_int_equal(strlen(run_id), 36); /* a UUID */

  twe_start_workflow_options_t so = {.workflow_id = id, .task_queue = queue};
  int rc = twe_client_start_workflow(client, "TweClientTest", &so, &arg, 1, run_id2, sizeof run_id2,
                                     err, sizeof err);
  assert_int_equal(rc, -EEXIST);
  assert_non_null(strstr(err, "ALREADY_EXISTS"));
  assert_string_equal(run_id2, "");

  /* Nobody works on the queue: the wait ends with the timeout. */
  twe_workflow_result_t r;
  uint64_t t0 = now_ns();
  rc = twe_client_workflow_result(client, id, run_id, 2 * SEC, &r, err, sizeof err);
  uint64_t took = now_ns() - t0;
  assert_int_equal(rc, -ETIMEDOUT);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_UNKNOWN);
  assert_true(took >= 2 * SEC - SEC / 10 && took < 6 * SEC);

  terminate(id, "twe test terminates it");
  rc = twe_client_workflow_result(client, id, NULL, 10 * SEC, &r, err, sizeof err);
  assert_int_equal(rc, TWE_EWORKFLOW);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_TERMINATED);
  assert_false(r.has_result);
  assert_string_equal(r.error.type, "TerminatedError");
  assert_string_equal(r.error.message, "twe test terminates it");
  assert_non_null(strstr(err, "TERMINATED"));
  twe_workflow_result_free(&r);
  assert_null(r.internal_);

  /* With the run id, the same answer (the run is closed: no wait). */
  rc = twe_client_workflow_result(client, id, run_id, 5 * SEC, &r, err, sizeof err);
  assert_int_equal(rc, TWE_EWORKFLOW);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_TERMINATED);
  twe_workflow_result_free(&r);
}

static void test_twe_client_connect_unknown_namespace(void **state) {
  (void)state;
  twe_connection_options_t opts;
  char err[512] = "";
  assert_int_equal(twe_connection_options_from_env(&opts, err, sizeof err), 0);
  char ns[96];
  snprintf(ns, sizeof ns, "%s-no-such-namespace", prefix);
  opts.namespace_name = ns;
  twe_client_t *c = NULL;
  int rc = twe_client_connect(&opts, &c, err, sizeof err);
  assert_int_equal(rc, -ENOENT);
  assert_null(c);
  assert_non_null(strstr(err, ns));
}

static void test_twe_client_workflow_result_unknown_workflow(void **state) {
  (void)state;
  char id[128], err[512] = "";
  snprintf(id, sizeof id, "%s-never-started", prefix);
  twe_workflow_result_t r;
  int rc = twe_client_workflow_result(client, id, NULL, 5 * SEC, &r, err, sizeof err);
  assert_int_equal(rc, -ENOENT);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_UNKNOWN);
  assert_non_null(strstr(err, "NOT_FOUND"));
}

/* The first event of the run's history (WorkflowExecutionStarted), in arena. */
static Temporal__Api__History__V1__HistoryEvent *first_event(const char *id, twe_arena_t *arena) {
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_WORKFLOW_EXECUTION_HISTORY_REQUEST__INIT;
  Temporal__Api__Common__V1__WorkflowExecution ex =
      TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  ex.workflow_id = (char *)id;
  r.namespace_ = (char *)twe_client_namespace(client);
  r.execution = &ex;
  twe_grpc_request_t req = {
    .path = WS "GetWorkflowExecutionHistory",
    .request = &r.base,
    .response_type =
        &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
    .arena = arena,
    .namespaced = true,
  };
  assert_int_equal(twe__client_call(client, &req), 0);
  assert_int_equal(req.status.code, TWE_GRPC_OK);
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *resp =
      (void *)req.response;
  assert_non_null(resp->history);
  assert_true(resp->history->n_events >= 1);
  return resp->history->events[0];
}

static void test_twe_client_start_workflow_args_unchecked(void **state) {
  (void)state;
  char id[128], queue[128];
  snprintf(id, sizeof id, "%s-badjson", prefix);
  snprintf(queue, sizeof queue, "%s-noworker", prefix);
  twe_payload_t args[2] = {twe_payload_json("{not json"), twe_payload_binary("\0\1\2", 3)};
  start(id, queue, args, 2, NULL, 0);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__History__V1__HistoryEvent *ev = first_event(id, &arena);
  assert_int_equal(
      ev->attributes_case,
      TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES);
  const Temporal__Api__Common__V1__Payloads *in =
      ev->workflow_execution_started_event_attributes->input;
  assert_non_null(in);
  assert_int_equal(in->n_payloads, 2);
  assert_int_equal(in->payloads[0]->data.len, strlen("{not json"));
  assert_memory_equal(in->payloads[0]->data.data, "{not json", strlen("{not json"));
  const ProtobufCBinaryData *enc = twe__payload_metadata(in->payloads[0], "encoding");
  assert_non_null(enc);
  assert_memory_equal(enc->data, "json/plain", enc->len);
  assert_int_equal(in->payloads[1]->data.len, 3);
  assert_memory_equal(in->payloads[1]->data.data, "\0\1\2", 3);
  /* The identity went along. */
  assert_string_equal(ev->workflow_execution_started_event_attributes->identity,
                      twe__client_identity(client));
  twe__arena_destroy(&arena);
  terminate(id, "done");
}

/* Plays the worker for one workflow task on queue: polls it and answers
 * with the single command cmd. */
static void answer_task(const char *queue, Temporal__Api__Command__V1__Command *cmd) {
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  const test_wf_task_t *task = test_poll_workflow_task(client, queue, 1, &arena);
  test_respond_workflow_task(client, task, &cmd, 1, &arena);
  twe__arena_destroy(&arena);
}

static void test_twe_client_workflow_result_completed(void **state) {
  (void)state;
  char id[128], queue[128], run_id[64], err[512] = "";
  snprintf(id, sizeof id, "%s-completed", prefix);
  snprintf(queue, sizeof queue, "%s-completed-q", prefix);
  start(id, queue, NULL, 0, run_id, sizeof run_id);

  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_payload_t value = twe_payload_json("{\"greeting\":\"hello\"}");
  Temporal__Api__Command__V1__CompleteWorkflowExecutionCommandAttributes a =
      TEMPORAL__API__COMMAND__V1__COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES__INIT;
  assert_int_equal(twe__values_to_payloads(&arena, &value, 1, &a.result), 0);
  Temporal__Api__Command__V1__Command cmd = TEMPORAL__API__COMMAND__V1__COMMAND__INIT;
  cmd.command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
  cmd.attributes_case =
      TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
  cmd.complete_workflow_execution_command_attributes = &a;
  answer_task(queue, &cmd);
  twe__arena_destroy(&arena);

  twe_workflow_result_t r;
  int rc = twe_client_workflow_result(client, id, run_id, 10 * SEC, &r, err, sizeof err);
  if (rc) fprintf(stderr, "result: %s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_COMPLETED);
  assert_true(r.has_result);
  assert_string_equal(r.result.encoding, "json/plain");
  assert_int_equal(r.result.len, strlen("{\"greeting\":\"hello\"}"));
  assert_memory_equal(r.result.data, "{\"greeting\":\"hello\"}", r.result.len);
  twe_workflow_result_free(&r);
}

/* A result wait on the latest run, on a thread of its own (a wait holds
 * its client: this one has its own). */
typedef struct waiter {
  const char *id;
  twe_workflow_result_t r;
  int rc;
  char err[512];
} waiter_t;

static void *wait_result(void *arg) {
  waiter_t *w = arg;
  twe_client_t *own = NULL;
  w->rc = twe_client_connect(NULL, &own, w->err, sizeof w->err);
  if (w->rc == 0)
    w->rc = twe_client_workflow_result(own, w->id, NULL, 30 * SEC, &w->r, w->err, sizeof w->err);
  twe_client_close(own);
  return NULL;
}

/* Two continue-as-new runs, then a completion: a result wait begun on the
 * first run follows the chain to its end; on the first run id it stops at
 * that run's CONTINUED_AS_NEW. */
static void test_twe_client_workflow_result_follows_continue_as_new(void **state) {
  (void)state;
  char id[128], queue[128], first_run[64], err[512] = "";
  snprintf(id, sizeof id, "%s-chain", prefix);
  snprintf(queue, sizeof queue, "%s-chain-q", prefix);
  start(id, queue, NULL, 0, first_run, sizeof first_run);
  waiter_t w = {.id = id};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_result, &w), 0);
  usleep(500000); /* its long poll is on the first run now */

  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Common__V1__WorkflowType wt = TEMPORAL__API__COMMON__V1__WORKFLOW_TYPE__INIT;
  Temporal__Api__Taskqueue__V1__TaskQueue tq = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  wt.name = "TweClientTest";
  tq.name = queue;
  tq.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  for (int i = 0; i < 2; i++) {
    Temporal__Api__Command__V1__ContinueAsNewWorkflowExecutionCommandAttributes a =
        TEMPORAL__API__COMMAND__V1__CONTINUE_AS_NEW_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES__INIT;
    a.workflow_type = &wt;
    a.task_queue = &tq;
    Temporal__Api__Command__V1__Command cmd = TEMPORAL__API__COMMAND__V1__COMMAND__INIT;
    cmd.command_type =
        TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION;
    cmd.attributes_case =
        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CONTINUE_AS_NEW_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
    cmd.continue_as_new_workflow_execution_command_attributes = &a;
    answer_task(queue, &cmd);
  }
  twe_payload_t value = twe_payload_json("\"third run\"");
  Temporal__Api__Command__V1__CompleteWorkflowExecutionCommandAttributes done =
      TEMPORAL__API__COMMAND__V1__COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES__INIT;
  assert_int_equal(twe__values_to_payloads(&arena, &value, 1, &done.result), 0);
  Temporal__Api__Command__V1__Command cmd = TEMPORAL__API__COMMAND__V1__COMMAND__INIT;
  cmd.command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
  cmd.attributes_case =
      TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
  cmd.complete_workflow_execution_command_attributes = &done;
  answer_task(queue, &cmd);
  twe__arena_destroy(&arena);

  pthread_join(th, NULL);
  if (w.rc) fprintf(stderr, "result: %s\n", w.err);
  assert_int_equal(w.rc, 0);
  assert_int_equal(w.r.status, TWE_WORKFLOW_STATUS_COMPLETED);
  assert_memory_equal(w.r.result.data, "\"third run\"", w.r.result.len);
  assert_true(w.r.run_id[0] != 0); /* followed: the chain's last run */
  assert_string_not_equal(w.r.run_id, first_run);
  twe_workflow_result_free(&w.r);

  twe_workflow_result_t r;
  int rc = twe_client_workflow_result(client, id, first_run, 10 * SEC, &r, err, sizeof err);
  assert_int_equal(rc, TWE_EWORKFLOW);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_CONTINUED_AS_NEW);
  assert_string_equal(r.run_id, first_run);
  assert_string_equal(twe_workflow_status_name(r.status), "CONTINUED_AS_NEW");
  twe_workflow_result_free(&r);
}

static void test_twe_client_workflow_result_failed(void **state) {
  (void)state;
  char id[128], queue[128], err[512] = "";
  snprintf(id, sizeof id, "%s-failed", prefix);
  snprintf(queue, sizeof queue, "%s-failed-q", prefix);
  start(id, queue, NULL, 0, NULL, 0);

  /* The workflow fails with what an activity failed with: an activity
   * failure wrapping an application error. */
  Temporal__Api__Failure__V1__ApplicationFailureInfo app =
      TEMPORAL__API__FAILURE__V1__APPLICATION_FAILURE_INFO__INIT;
  app.type = "InsufficientFunds";
  app.non_retryable = true;
  Temporal__Api__Failure__V1__Failure cause = TEMPORAL__API__FAILURE__V1__FAILURE__INIT;
  cause.message = "balance 3 < 10";
  cause.failure_info_case =
      TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO;
  cause.application_failure_info = &app;
  Temporal__Api__Failure__V1__ActivityFailureInfo act =
      TEMPORAL__API__FAILURE__V1__ACTIVITY_FAILURE_INFO__INIT;
  Temporal__Api__Failure__V1__Failure top = TEMPORAL__API__FAILURE__V1__FAILURE__INIT;
  top.message = "payment failed";
  top.failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_ACTIVITY_FAILURE_INFO;
  top.activity_failure_info = &act;
  top.cause = &cause;
  Temporal__Api__Command__V1__FailWorkflowExecutionCommandAttributes a =
      TEMPORAL__API__COMMAND__V1__FAIL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES__INIT;
  a.failure = &top;
  Temporal__Api__Command__V1__Command cmd = TEMPORAL__API__COMMAND__V1__COMMAND__INIT;
  cmd.command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION;
  cmd.attributes_case =
      TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_FAIL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
  cmd.fail_workflow_execution_command_attributes = &a;
  answer_task(queue, &cmd);

  twe_workflow_result_t r;
  int rc = twe_client_workflow_result(client, id, NULL, 10 * SEC, &r, err, sizeof err);
  assert_int_equal(rc, TWE_EWORKFLOW);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_FAILED);
  assert_false(r.has_result);
  assert_string_equal(r.error.type, "InsufficientFunds");
  assert_string_equal(r.error.message, "payment failed");
  assert_true(r.error.non_retryable);
  assert_non_null(strstr(err, "InsufficientFunds"));
  twe_workflow_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_twe_client_namespace_default),
    cmocka_unit_test(test_twe_client_start_workflow_duplicate_and_timeout_and_terminate),
    cmocka_unit_test(test_twe_client_connect_unknown_namespace),
    cmocka_unit_test(test_twe_client_workflow_result_unknown_workflow),
    cmocka_unit_test(test_twe_client_start_workflow_args_unchecked),
    cmocka_unit_test(test_twe_client_workflow_result_completed),
    cmocka_unit_test(test_twe_client_workflow_result_failed),
    cmocka_unit_test(test_twe_client_workflow_result_follows_continue_as_new),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
