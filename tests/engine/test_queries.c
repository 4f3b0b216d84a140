/* tests/engine/test_queries.c — queries without a server: handlers set by
 * workflow code answered from runs built from synthetic histories; the
 * read-only rule; the built-ins; the query_results of a task that carries
 * queries (engine/workflow_query.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/workflow/run.h"
#include "engine/workflow_query.h"
#include "tests/engine/hist.h"
#include "twe/error.h"
#include "twe/workflow.h"

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};

typedef struct state {
  int signals;
  uint64_t first_random;
} state_t;

/* --- handlers -------------------------------------------------------------------------- */

static int q_count(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                   twe_error_info_t *error) {
  (void)wf, (void)error;
  state_t *st = user;
  char *text = twe_query_alloc(q, 64); /* lives until the answer is sent */
  snprintf(text, 64, "{\"signals\":%d,\"args\":%zu}", st->signals, q->nargs);
  *result = twe_payload_json(text);
  return 0;
}

/* Tries every call a query may not make; answers with what they returned. */
static int q_naughty(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                     twe_error_info_t *error) {
  (void)q, (void)user, (void)error;
  twe_future_t *f = NULL;
  int a = twe_workflow_start_activity(wf, "A", &opts, NULL, 0, &f);
  int b = twe_workflow_start_timer(wf, NS, &f);
  int c = twe_workflow_sleep(wf, NS);
  twe_payload_t done = twe_payload_null();
  int d = twe_workflow_complete(wf, &done);
  static char text[128];
  snprintf(text, sizeof text, "[%d,%d,%d,%d]", a, b, c, d);
  *result = twe_payload_json(text);
  return 0;
}

static int q_random(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                    twe_error_info_t *error) {
  (void)q, (void)user, (void)error;
  static char text[64];
  snprintf(text, sizeof text, "%llu", (unsigned long long)twe_workflow_random(wf));
  *result = twe_payload_json(text);
  return 0;
}

static int q_fail(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                  twe_error_info_t *error) {
  (void)wf, (void)user, (void)result;
  (void)q;
  char *msg = twe_query_alloc(q, 32);
  snprintf(msg, 32, "not today");
  error->message = msg;
  return 1;
}

static void on_ping(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)sig;
  state_t *st = user;
  st->signals++;
  /* A handler that waits: it shows in the stack trace. */
  twe_workflow_sleep(wf, 30 * NS);
}

/* Sets the handlers, starts activity A and waits for it. */
static void wf_queried(twe_workflow_t *wf, void *user) {
  (void)user;
  state_t *st = twe_workflow_alloc(wf, sizeof *st);
  memset(st, 0, sizeof *st);
  assert_int_equal(twe_workflow_set_query_handler(wf, "count", q_count, st), 0);
  assert_int_equal(twe_workflow_set_query_handler(wf, "naughty", q_naughty, st), 0);
  assert_int_equal(twe_workflow_set_query_handler(wf, "random", q_random, st), 0);
  assert_int_equal(twe_workflow_set_query_handler(wf, "fail", q_fail, st), 0);
  assert_int_equal(twe_workflow_set_query_handler(wf, "__mine", q_fail, st), -EINVAL);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "ping", on_ping, st), 0);
  twe_workflow_execute_activity(wf, "A", &opts, NULL, 0, NULL, NULL);
}

/* --- fixture ------------------------------------------------------------------------ */

static int setup(void **state) {
  fixture_t *fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Queried", wf_queried, NULL), 0);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

/* Queried after its first task (the activity scheduled), and a ping
 * signal handled in its second (the handler sleeping). */
static void queried_run(fixture_t *fx, bool with_signal) {
  hist_t *h = &fx->h;
  h_started(h, "Queried", NULL);
  h_task(h);
  if (with_signal) {
    h_task_completed(h);
    h_act_scheduled(h, "1", "A");
    h_signal(h, "ping", NULL);
    h_task(h);
  }
  fx->run = new_run(fx);
  assert_int_equal(twe__run_apply(fx->run, h->ev, h->n, &fx->out_arena, &fx->out), 0);
}

static twe_run_query_result_t ask(fixture_t *fx, const char *name, const char *arg_json) {
  twe_run_query_result_t res;
  twe_payloads_pb_t *args = arg_json ? json_payloads(&fx->h, arg_json) : NULL;
  assert_int_equal(twe__run_answer_query(fx->run, name, args, &fx->out_arena, &res), 0);
  return res;
}

static void assert_answer(const twe_run_query_result_t *res, const char *json) {
  assert_false(res->failed);
  assert_non_null(res->answer);
  assert_int_equal(res->answer->n_payloads, 1);
  const ProtobufCBinaryData *d = &res->answer->payloads[0]->data;
  if (d->len != strlen(json) || memcmp(d->data, json, d->len) != 0)
    fail_msg("answer %.*s, want %s", (int)d->len, (const char *)d->data, json);
}

/* --- tests ------------------------------------------------------------------------------ */

static void test_query_answers_from_state(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, true);
  twe_run_query_result_t res = ask(fx, "count", "[1,2]");
  assert_answer(&res, "{\"signals\":1,\"args\":1}");
}

static void test_query_is_read_only(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, false);
  twe_run_query_result_t res = ask(fx, "naughty", NULL);
  assert_true(res.failed);
  assert_non_null(strstr(res.message, "query handler \"naughty\" called "
                                      "twe_workflow_start_activity: query handlers are read-only"));
  /* Nothing changed: the next task's answer has no command from the query. */
  hist_t *h = &fx->h;
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  h_act_done(h, s, "1");
  h_task(h);
  size_t from = 3;
  assert_int_equal(twe__run_apply(fx->run, h->ev + from, h->n - from, &fx->out_arena, &fx->out),
                   0);
  assert_int_equal(fx->out.n_commands, 1);
  assert_int_equal(fx->out.commands[0]->command_type,
                   TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
}

static void test_query_random_moves_nothing(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, false);
  twe_run_query_result_t a = ask(fx, "random", NULL);
  twe_run_query_result_t b = ask(fx, "random", NULL);
  assert_false(a.failed);
  assert_int_equal(a.answer->payloads[0]->data.len, b.answer->payloads[0]->data.len);
  assert_memory_equal(a.answer->payloads[0]->data.data, b.answer->payloads[0]->data.data,
                      a.answer->payloads[0]->data.len);
}

static void test_query_failure_and_unknown(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, false);
  twe_run_query_result_t res = ask(fx, "fail", NULL);
  assert_true(res.failed);
  assert_string_equal(res.message, "not today");
  res = ask(fx, "nope", NULL);
  assert_true(res.failed);
  assert_non_null(strstr(res.message, "unknown query type \"nope\" for workflow \"Queried\" "
                                      "(known: __stack_trace, __temporal_workflow_metadata, "));
  assert_non_null(strstr(res.message, "count"));
}

/* The answer of __stack_trace, as text. */
static void stack_trace_text(fixture_t *fx, char *text, size_t cap) {
  twe_run_query_result_t res = ask(fx, "__stack_trace", NULL);
  assert_false(res.failed);
  const ProtobufCBinaryData *d = &res.answer->payloads[0]->data;
  snprintf(text, cap, "%.*s", (int)d->len, (const char *)d->data);
}

static void test_stack_trace(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, true);
  char text[1024];
  stack_trace_text(fx, text, sizeof text);
  assert_non_null(strstr(text, "coroutine 1 (workflow function): waiting on activity A (id 1)"));
  assert_non_null(strstr(text, "coroutine 2 (signal handler \\\"ping\\\" (signal 1)): waiting on "
                               "timer 2 (30.000 s)"));
}

/* A stowed run (its fibers' stacks off their pages, engine/fiber.h) is put
 * back before the query reads it: the waits and the handler's state are
 * as they were. */
static void test_stack_trace_of_stowed_run(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, true);
  assert_true(twe__run_stow(fx->run));
  char text[1024];
  stack_trace_text(fx, text, sizeof text);
  assert_non_null(strstr(text, "coroutine 1 (workflow function): waiting on activity A (id 1)"));
  assert_non_null(strstr(text, "waiting on timer 2 (30.000 s)"));
  assert_true(twe__run_stow(fx->run));
  twe_run_query_result_t res = ask(fx, "count", NULL);
  assert_answer(&res, "{\"signals\":1,\"args\":0}");
}

static void test_metadata(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, false);
  twe_run_query_result_t res = ask(fx, "__temporal_workflow_metadata", NULL);
  assert_false(res.failed);
  const twe_payload_pb_t *p = res.answer->payloads[0];
  assert_int_equal(twe__payload_encoding(p), TWE_PAYLOAD_JSON_PROTOBUF);
  const char *want =
      "{\"definition\":{\"type\":\"Queried\",\"queryDefinitions\":[{\"name\":\"count\"},"
      "{\"name\":\"fail\"},{\"name\":\"naughty\"},{\"name\":\"random\"}],"
      "\"signalDefinitions\":[{\"name\":\"ping\"}],\"updateDefinitions\":[]}}";
  assert_int_equal(p->data.len, strlen(want));
  assert_memory_equal(p->data.data, want, strlen(want));
}

/* The queries a workflow task carries become the completion's results. */
static void test_task_queries_results(void **state) {
  fixture_t *fx = *state;
  queried_run(fx, false);
  twe_arena_t *a = &fx->h.arena;
  Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse t;
  temporal__api__workflowservice__v1__poll_workflow_task_queue_response__init(&t);
  Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse__QueriesEntry *qs[2];
  const char *keys[2] = {"q-1", "q-2"}, *types[2] = {"count", "nope"};
  for (int i = 0; i < 2; i++) {
    qs[i] = twe__arena_alloc(a, sizeof *qs[i]);
    temporal__api__workflowservice__v1__poll_workflow_task_queue_response__queries_entry__init(
        qs[i]);
    Temporal__Api__Query__V1__WorkflowQuery *wq = twe__arena_alloc(a, sizeof *wq);
    temporal__api__query__v1__workflow_query__init(wq);
    wq->query_type = (char *)types[i];
    qs[i]->key = (char *)keys[i];
    qs[i]->value = wq;
  }
  t.queries = qs;
  t.n_queries = 2;
  twe__query_result_entry_t **out;
  size_t n;
  assert_int_equal(twe__query_answer_task_queries(fx->run, &t, &fx->out_arena, &out, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(out[0]->key, "q-1");
  assert_int_equal(out[0]->value->result_type,
                   TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_ANSWERED);
  assert_memory_equal(out[0]->value->answer->payloads[0]->data.data, "{\"signals\":0,\"args\":0}",
                      22);
  assert_string_equal(out[1]->key, "q-2");
  assert_int_equal(out[1]->value->result_type,
                   TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_FAILED);
  assert_non_null(strstr(out[1]->value->error_message, "unknown query type \"nope\""));
  assert_non_null(out[1]->value->failure);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_query_answers_from_state), T(test_query_is_read_only),
      T(test_query_random_moves_nothing), T(test_query_failure_and_unknown),
      T(test_stack_trace), T(test_stack_trace_of_stowed_run), T(test_metadata), T(test_task_queries_results),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
