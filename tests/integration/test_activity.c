/* tests/integration/test_activity.c — the activity side of a twe worker
 * against a real dev server (TEMPORAL_ADDRESS), apart from twe's workflow
 * engine: the test plays the workflow itself (it polls the workflow task
 * queue through twe__client_call and answers with ScheduleActivityTask /
 * RequestCancelActivityTask commands), and a twe worker runs the activities
 * on another task queue. Covered: result and info, application failure,
 * unregistered type, invalid JSON input, heartbeat details carried to the
 * next attempt, throttled heartbeats delivering a cancellation, and the
 * graceful stop cancelling running code after the grace period. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#define MS 1000000ull
#define SEC 1000000000ull

typedef Temporal__Api__History__V1__HistoryEvent event_t;
typedef Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse wf_task_t;

static twe_client_t *client;
static twe_worker_t *worker;
static char prefix[64], act_queue[96];
static atomic_int hb_loops;      /* HeartbeatUntilCancel iterations */
static atomic_int hb_saw_cancel; /* it saw TWE_ECANCELED_ACTIVITY and cancelled() */
static atomic_int sleeper_running, sleeper_saw_cancel;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* --- activities ------------------------------------------------------------ */

static void complete_json(twe_activity_t *act, json_t *v) {
  char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  twe_payload_t p = twe_payload_json(text);
  twe_activity_complete(act, &p);
  free(text);
  json_decref(v);
}

/* Echo(x) -> {"arg": x, "info": {...}}. */
static void act_echo(twe_activity_t *act, void *user) {
  (void)user;
  const twe_activity_info_t *i = twe_activity_info(act);
  json_t *arg = json_null();
  twe_payload_t p;
  if (twe_activity_arg(act, 0, &p) == 0 && twe_payload_is_json(&p)) {
    json_decref(arg);
    arg = json_loadb(p.data, p.len, JSON_DECODE_ANY, NULL);
  }
  /* No assertions here: this runs on a pool thread, not the test's. */
  bool range = twe_activity_arg(act, twe_activity_arg_count(act), &p) == -ERANGE;
  complete_json(
      act, json_pack("{s:o, s:b, s:{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:b}}", "arg", arg,
                     "arg_out_of_range", range, "info", "activity_id", i->activity_id,
                     "activity_type", i->activity_type, "workflow_id", i->workflow_id, "task_queue",
                     i->task_queue, "namespace", i->namespace_name, "attempt", (int)i->attempt,
                     "start_to_close_ms", (json_int_t)(i->start_to_close_timeout_ns / MS),
                     "times_set", i->scheduled_time_ns > 0 && i->started_time_ns > 0));
}

static void act_fail(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t detail = twe_payload_json("{\"balance\":3}");
  twe_error_info_t e = {.type = "InsufficientFunds",
                        .message = "balance 3 < 10",
                        .non_retryable = true,
                        .details = &detail,
                        .details_count = 1};
  /* A completion set first is overridden by the failure. */
  twe_payload_t r = twe_payload_json("1");
  twe_activity_complete(act, &r);
  assert_int_equal(twe_activity_fail(act, &e), 0);
}

/* Heartbeats (details: the loop count) every 20 ms until cancelled, then
 * returns without an outcome: the worker answers Canceled. */
static void act_heartbeat_until_cancel(twe_activity_t *act, void *user) {
  (void)user;
  for (int n = 1; n < 5000; n++) {
    char text[32];
    snprintf(text, sizeof text, "%d", n);
    twe_payload_t d = twe_payload_json(text);
    atomic_store(&hb_loops, n);
    if (twe_activity_heartbeat(act, &d, 1) == TWE_ECANCELED_ACTIVITY) {
      if (twe_activity_cancelled(act)) atomic_store(&hb_saw_cancel, 1);
      return;
    }
    sleep_ms(20);
  }
}

/* Attempt 1 records details 6 then 7 (the second one within the throttle
 * interval, so only the failure carries it) and fails retryably; attempt 2
 * completes with what it found. */
static void act_resume(twe_activity_t *act, void *user) {
  (void)user;
  const twe_activity_info_t *i = twe_activity_info(act);
  if (i->attempt == 1) {
    twe_payload_t d6 = twe_payload_json("6"), d7 = twe_payload_json("7");
    twe_activity_heartbeat(act, &d6, 1);
    twe_activity_heartbeat(act, &d7, 1);
    twe_error_info_t e = {.type = "Transient", .message = "try again"};
    twe_activity_fail(act, &e);
    return;
  }
  twe_payload_t d = {0};
  json_t *found = json_null();
  if (twe_activity_heartbeat_details_count(act) == 1 &&
      twe_activity_heartbeat_details(act, 0, &d) == 0) {
    json_decref(found);
    found = json_loadb(d.data, d.len, JSON_DECODE_ANY, NULL);
  }
  complete_json(act, json_pack("{s:i, s:o}", "attempt", (int)i->attempt, "details", found));
}

/* Runs until cancelled (no heartbeats): for the graceful stop. */
static void act_sleeper(twe_activity_t *act, void *user) {
  (void)user;
  atomic_store(&sleeper_running, 1);
  for (int i = 0; i < 3000 && !twe_activity_cancelled(act); i++) sleep_ms(10);
  if (twe_activity_cancelled(act)) atomic_store(&sleeper_saw_cancel, 1);
}

/* --- playing the workflow ---------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  if (!getenv("TEMPORAL_ADDRESS")) {
    fprintf(stderr, "TEMPORAL_ADDRESS is not set: skipped\n");
    exit(77);
  }
  char err[512] = "";
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) fprintf(stderr, "connect: %s\n", err);
  assert_int_equal(rc, 0);
  snprintf(prefix, sizeof prefix, "twe-it-act-%ld-%lld", (long)getpid(), (long long)time(NULL));
  snprintf(act_queue, sizeof act_queue, "%s-activities", prefix);
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = act_queue;
  o.shard_threads = 1;
  o.activity_threads = 4;
  o.graceful_stop_timeout_ns = 1 * SEC;
  assert_int_equal(twe_worker_create(client, &o, &worker), 0);
  assert_int_equal(twe_worker_register_activity(worker, "Echo", act_echo, NULL), 0);
  assert_int_equal(twe_worker_register_activity(worker, "Fail", act_fail, NULL), 0);
  assert_int_equal(twe_worker_register_activity(worker, "HeartbeatUntilCancel",
                                                act_heartbeat_until_cancel, NULL),
                   0);
  assert_int_equal(twe_worker_register_activity(worker, "Resume", act_resume, NULL), 0);
  assert_int_equal(twe_worker_register_activity(worker, "Sleeper", act_sleeper, NULL), 0);
  assert_int_equal(twe_worker_start(worker), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (worker) {
    twe_worker_stop(worker);
    twe_worker_wait(worker);
    twe_worker_destroy(worker);
  }
  twe_client_close(client);
  return 0;
}

/* Starts workflow id on its own workflow queue (nobody but the test polls
 * it) and returns the queue name in queue. */
static void start_driver(const char *name, char *id, size_t id_len, char *queue, size_t q_len) {
  snprintf(id, id_len, "%s-%s", prefix, name);
  snprintf(queue, q_len, "%s-%s-wf", prefix, name);
  twe_start_workflow_options_t so = {.workflow_id = id, .task_queue = queue};
  char err[512] = "";
  int rc = twe_client_start_workflow(client, "Driver", &so, NULL, 0, NULL, 0, err, sizeof err);
  if (rc) fprintf(stderr, "start: %s\n", err);
  assert_int_equal(rc, 0);
}

static const wf_task_t *poll_workflow(const char *queue, twe_arena_t *arena) {
  return test_poll_workflow_task(client, queue, 3, arena);
}

static void respond(const wf_task_t *t, Temporal__Api__Command__V1__Command **cmds, size_t n,
                    twe_arena_t *arena) {
  test_respond_workflow_task(client, t, cmds, n, arena);
}

/* A ScheduleActivityTask command for the worker's queue (in arena). */
static Temporal__Api__Command__V1__Command *schedule(twe_arena_t *a, const char *type,
                                                     const twe_payload_t *input, size_t n,
                                                     uint64_t heartbeat_ns, int max_attempts) {
  Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *s =
      twe__arena_alloc(a, sizeof *s);
  Temporal__Api__Common__V1__ActivityType *at = twe__arena_alloc(a, sizeof *at);
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = twe__arena_alloc(a, sizeof *tq);
  Temporal__Api__Common__V1__RetryPolicy *rp = twe__arena_alloc(a, sizeof *rp);
  Temporal__Api__Command__V1__Command *cmd = twe__arena_alloc(a, sizeof *cmd);
  temporal__api__command__v1__schedule_activity_task_command_attributes__init(s);
  temporal__api__common__v1__activity_type__init(at);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  temporal__api__common__v1__retry_policy__init(rp);
  temporal__api__command__v1__command__init(cmd);
  at->name = (char *)type;
  tq->name = act_queue;
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  rp->maximum_attempts = max_attempts;
  rp->initial_interval = twe__duration_pb(a, 1 * SEC);
  s->activity_id = "a1";
  s->activity_type = at;
  s->task_queue = tq;
  s->start_to_close_timeout = twe__duration_pb(a, 30 * SEC);
  s->heartbeat_timeout = twe__duration_pb(a, heartbeat_ns);
  s->retry_policy = rp;
  if (n) assert_int_equal(twe__values_to_payloads(a, input, n, &s->input), 0);
  cmd->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK;
  cmd->attributes_case =
      TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SCHEDULE_ACTIVITY_TASK_COMMAND_ATTRIBUTES;
  cmd->schedule_activity_task_command_attributes = s;
  return cmd;
}

static Temporal__Api__Command__V1__Command *complete_cmd(twe_arena_t *a) {
  Temporal__Api__Command__V1__CompleteWorkflowExecutionCommandAttributes *c =
      twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__Command *cmd = twe__arena_alloc(a, sizeof *cmd);
  temporal__api__command__v1__complete_workflow_execution_command_attributes__init(c);
  temporal__api__command__v1__command__init(cmd);
  cmd->command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
  cmd->attributes_case =
      TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
  cmd->complete_workflow_execution_command_attributes = c;
  return cmd;
}

/* The last event of a type in the task's history, or NULL. */
static const event_t *last_event(const wf_task_t *t, int attributes_case) {
  if (!t->history) return NULL;
  for (size_t i = t->history->n_events; i-- > 0;)
    if ((int)t->history->events[i]->attributes_case == attributes_case)
      return t->history->events[i];
  return NULL;
}

#define EV(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES

/* Schedules one activity and returns the workflow task that follows its
 * close (in arena). */
static const wf_task_t *run_one(const char *name, const char *type, const twe_payload_t *input,
                                size_t n, uint64_t heartbeat_ns, int max_attempts,
                                twe_arena_t *arena, char *queue, size_t q_len) {
  char id[160];
  start_driver(name, id, sizeof id, queue, q_len);
  const wf_task_t *t = poll_workflow(queue, arena);
  Temporal__Api__Command__V1__Command *cmd =
      schedule(arena, type, input, n, heartbeat_ns, max_attempts);
  respond(t, &cmd, 1, arena);
  return poll_workflow(queue, arena);
}

static void finish(const wf_task_t *t, twe_arena_t *arena) {
  Temporal__Api__Command__V1__Command *cmd = complete_cmd(arena);
  respond(t, &cmd, 1, arena);
}

static json_t *payload_json(const Temporal__Api__Common__V1__Payloads *p) {
  assert_non_null(p);
  assert_true(p->n_payloads >= 1);
  json_t *v = json_loadb((const char *)p->payloads[0]->data.data, p->payloads[0]->data.len,
                         JSON_DECODE_ANY, NULL);
  assert_non_null(v);
  return v;
}

/* --- tests ----------------------------------------------------------------------- */

static void test_activity_completes_with_result_and_info(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char queue[160];
  twe_payload_t in = twe_payload_json("{\"x\":[1,2]}");
  const wf_task_t *t = run_one("echo", "Echo", &in, 1, 0, 1, &a, queue, sizeof queue);
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_COMPLETED));
  assert_non_null(ev);
  json_t *r = payload_json(ev->activity_task_completed_event_attributes->result);
  assert_int_equal(
      json_integer_value(json_array_get(json_object_get(json_object_get(r, "arg"), "x"), 1)), 2);
  assert_true(json_is_true(json_object_get(r, "arg_out_of_range")));
  json_t *info = json_object_get(r, "info");
  assert_string_equal(json_string_value(json_object_get(info, "activity_id")), "a1");
  assert_string_equal(json_string_value(json_object_get(info, "activity_type")), "Echo");
  assert_string_equal(json_string_value(json_object_get(info, "task_queue")), act_queue);
  assert_string_equal(json_string_value(json_object_get(info, "namespace")),
                      twe_client_namespace(client));
  assert_non_null(strstr(json_string_value(json_object_get(info, "workflow_id")), "-echo"));
  assert_int_equal(json_integer_value(json_object_get(info, "attempt")), 1);
  assert_int_equal(json_integer_value(json_object_get(info, "start_to_close_ms")), 30000);
  assert_true(json_is_true(json_object_get(info, "times_set")));
  assert_string_equal(ev->activity_task_completed_event_attributes->identity,
                      twe__client_identity(client));
  json_decref(r);
  finish(t, &a);
  twe__arena_destroy(&a);
}

static void test_activity_fails_with_application_error(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char queue[160];
  const wf_task_t *t = run_one("fail", "Fail", NULL, 0, 0, 3, &a, queue, sizeof queue);
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_FAILED));
  assert_non_null(ev);
  const Temporal__Api__Failure__V1__Failure *f = ev->activity_task_failed_event_attributes->failure;
  assert_string_equal(f->message, "balance 3 < 10");
  assert_non_null(f->application_failure_info);
  assert_string_equal(f->application_failure_info->type, "InsufficientFunds");
  assert_true(f->application_failure_info->non_retryable);
  json_t *d = payload_json(f->application_failure_info->details);
  assert_int_equal(json_integer_value(json_object_get(d, "balance")), 3);
  json_decref(d);
  /* Non-retryable: one attempt although three were allowed. */
  assert_null(last_event(t, EV(ACTIVITY_TASK_COMPLETED)));
  finish(t, &a);
  twe__arena_destroy(&a);
}

static void test_activity_unregistered_type(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char queue[160];
  const wf_task_t *t =
      run_one("unregistered", "NoSuchActivity", NULL, 0, 0, 1, &a, queue, sizeof queue);
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_FAILED));
  assert_non_null(ev);
  const Temporal__Api__Failure__V1__Failure *f = ev->activity_task_failed_event_attributes->failure;
  assert_string_equal(f->application_failure_info->type, "twe.ActivityNotRegistered");
  assert_false(f->application_failure_info->non_retryable);
  assert_non_null(strstr(f->message, "\"NoSuchActivity\" is not registered"));
  assert_non_null(strstr(f->message, "Echo"));
  finish(t, &a);
  twe__arena_destroy(&a);
}

static void test_activity_invalid_json_input(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char queue[160];
  twe_payload_t in[2] = {twe_payload_json("1"), twe_payload_json("{broken")};
  const wf_task_t *t = run_one("badjson", "Echo", in, 2, 0, 3, &a, queue, sizeof queue);
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_FAILED));
  assert_non_null(ev);
  const Temporal__Api__Failure__V1__Failure *f = ev->activity_task_failed_event_attributes->failure;
  assert_string_equal(f->application_failure_info->type, "twe.InvalidArgument");
  assert_true(f->application_failure_info->non_retryable);
  assert_non_null(strstr(f->message, "activity input 2 is not valid JSON"));
  finish(t, &a);
  twe__arena_destroy(&a);
}

static void test_activity_heartbeat_details_reach_next_attempt(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char queue[160];
  const wf_task_t *t = run_one("resume", "Resume", NULL, 0, 10 * SEC, 2, &a, queue, sizeof queue);
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_COMPLETED));
  assert_non_null(ev);
  json_t *r = payload_json(ev->activity_task_completed_event_attributes->result);
  assert_int_equal(json_integer_value(json_object_get(r, "attempt")), 2);
  /* 7 was throttled (sent within 8 s of 6): the failure carried it. */
  assert_int_equal(json_integer_value(json_object_get(r, "details")), 7);
  json_decref(r);
  finish(t, &a);
  twe__arena_destroy(&a);
}

static void test_activity_heartbeat_delivers_cancel(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char id[160], queue[160];
  twe_worker_stats_t before, after;
  twe_worker_stats(worker, &before);
  start_driver("cancel", id, sizeof id, queue, sizeof queue);
  const wf_task_t *t = poll_workflow(queue, &a);
  Temporal__Api__Command__V1__Command *cmd =
      schedule(&a, "HeartbeatUntilCancel", NULL, 0, 1 * SEC, 1);
  respond(t, &cmd, 1, &a);
  for (int i = 0; i < 200 && atomic_load(&hb_loops) < 10; i++) sleep_ms(10);
  assert_true(atomic_load(&hb_loops) >= 10);

  /* A signal gives the workflow a task; it answers with the cancel. */
  Temporal__Api__Workflowservice__V1__SignalWorkflowExecutionRequest sig =
      TEMPORAL__API__WORKFLOWSERVICE__V1__SIGNAL_WORKFLOW_EXECUTION_REQUEST__INIT;
  Temporal__Api__Common__V1__WorkflowExecution ex =
      TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  ex.workflow_id = id;
  sig.namespace_ = (char *)twe_client_namespace(client);
  sig.workflow_execution = &ex;
  sig.signal_name = "cancel-it";
  sig.identity = "test-driver";
  twe_grpc_request_t sreq = {
    .path = WS "SignalWorkflowExecution",
    .request = &sig.base,
    .response_type =
        &temporal__api__workflowservice__v1__signal_workflow_execution_response__descriptor,
    .arena = &a,
    .namespaced = true,
  };
  assert_int_equal(twe__client_call(client, &sreq), 0);
  assert_int_equal(sreq.status.code, TWE_GRPC_OK);
  t = poll_workflow(queue, &a);
  const event_t *sched = last_event(t, EV(ACTIVITY_TASK_SCHEDULED));
  assert_non_null(sched);
  Temporal__Api__Command__V1__RequestCancelActivityTaskCommandAttributes rc =
      TEMPORAL__API__COMMAND__V1__REQUEST_CANCEL_ACTIVITY_TASK_COMMAND_ATTRIBUTES__INIT;
  rc.scheduled_event_id = sched->event_id;
  Temporal__Api__Command__V1__Command ccmd = TEMPORAL__API__COMMAND__V1__COMMAND__INIT;
  ccmd.command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK;
  ccmd.attributes_case =
      TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_ACTIVITY_TASK_COMMAND_ATTRIBUTES;
  ccmd.request_cancel_activity_task_command_attributes = &rc;
  Temporal__Api__Command__V1__Command *cp = &ccmd;
  uint64_t t0 = now_ns();
  respond(t, &cp, 1, &a);

  t = poll_workflow(queue, &a);
  uint64_t took = now_ns() - t0;
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_CANCELED));
  assert_non_null(ev);
  assert_true(atomic_load(&hb_saw_cancel));
  /* The next heartbeat (at most 0.8 x 1 s later) carried the cancel. */
  assert_true(took < 3 * SEC);
  /* The details are the last ones the code recorded. */
  json_t *d = payload_json(ev->activity_task_canceled_event_attributes->details);
  assert_int_equal(json_integer_value(d), atomic_load(&hb_loops));
  json_decref(d);
  twe_worker_stats(worker, &after);
  uint64_t sent = after.heartbeats_sent - before.heartbeats_sent;
  /* Throttled: ~50 calls a second, at most one send per 0.8 s (+ the first). */
  fprintf(stderr, "heartbeat calls %d, sent %llu in %.1f s\n", atomic_load(&hb_loops),
          (unsigned long long)sent, (double)took / 1e9);
  assert_true(sent >= 2);
  assert_true(sent * 5 < (uint64_t)atomic_load(&hb_loops));
  finish(t, &a);
  twe__arena_destroy(&a);
}

/* Last: stops the worker. */
static void test_activity_graceful_stop_cancels_running_code(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  char id[160], queue[160];
  start_driver("stop", id, sizeof id, queue, sizeof queue);
  const wf_task_t *t = poll_workflow(queue, &a);
  Temporal__Api__Command__V1__Command *cmd = schedule(&a, "Sleeper", NULL, 0, 0, 1);
  respond(t, &cmd, 1, &a);
  for (int i = 0; i < 500 && !atomic_load(&sleeper_running); i++) sleep_ms(10);
  assert_true(atomic_load(&sleeper_running));
  uint64_t t0 = now_ns();
  twe_worker_stop(worker);
  assert_int_equal(twe_worker_wait(worker), 0);
  uint64_t took = now_ns() - t0;
  fprintf(stderr, "worker stopped in %.2f s (grace 1 s)\n", (double)took / 1e9);
  assert_true(atomic_load(&sleeper_saw_cancel));
  assert_true(took >= 900 * MS && took < 5 * SEC);
  twe_worker_stats_t st;
  twe_worker_stats(worker, &st);
  assert_int_equal(st.activities_running, 0);
  /* Completed: Echo, Resume (attempt 2). Failed: Fail, the unregistered
   * type, the bad input, Resume attempt 1, the cancelled one (answered
   * Canceled) and the sleeper. */
  assert_int_equal(st.activities_completed, 2);
  assert_int_equal(st.activities_failed, 6);
  twe_worker_destroy(worker);
  worker = NULL;

  /* The attempt was handed back as a retryable failure. */
  t = poll_workflow(queue, &a);
  const event_t *ev = last_event(t, EV(ACTIVITY_TASK_FAILED));
  assert_non_null(ev);
  const Temporal__Api__Failure__V1__Failure *f = ev->activity_task_failed_event_attributes->failure;
  assert_string_equal(f->application_failure_info->type, "twe.WorkerStopping");
  assert_false(f->application_failure_info->non_retryable);
  finish(t, &a);
  twe__arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_activity_completes_with_result_and_info),
    cmocka_unit_test(test_activity_fails_with_application_error),
    cmocka_unit_test(test_activity_unregistered_type),
    cmocka_unit_test(test_activity_invalid_json_input),
    cmocka_unit_test(test_activity_heartbeat_details_reach_next_attempt),
    cmocka_unit_test(test_activity_heartbeat_delivers_cancel),
    cmocka_unit_test(test_activity_graceful_stop_cancels_running_code),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
