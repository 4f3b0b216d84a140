/* tests/engine/test_signals.c — signals and condition waits without a
 * server: synthetic histories with WORKFLOW_EXECUTION_SIGNALED events
 * applied to runs, live (task by task on a cached run) and replayed. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/workflow/run.h"
#include "tests/engine/hist.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};

/* What a workflow collected, in the run's arena. */
typedef struct state {
  char log[512]; /* handler calls in order, "name:arg;" */
  int count;
  bool done;
} state_t;

static state_t *new_state(twe_workflow_t *wf) {
  state_t *st = twe_workflow_alloc(wf, sizeof *st);
  assert_non_null(st);
  memset(st, 0, sizeof *st);
  return st;
}

static void note(state_t *st, const char *who, const twe_signal_t *sig) {
  size_t n = strlen(st->log);
  if (sig->input_error)
    snprintf(st->log + n, sizeof st->log - n, "%s:error(%s);", who, sig->input_error);
  else if (sig->nargs)
    snprintf(st->log + n, sizeof st->log - n, "%s:%s=%.*s;", who, sig->name,
             (int)sig->args[0].len, (const char *)sig->args[0].data);
  else
    snprintf(st->log + n, sizeof st->log - n, "%s:%s;", who, sig->name);
  st->count++;
}

/* Completes with the log as a JSON string. */
static void complete_log(twe_workflow_t *wf, const state_t *st) {
  char *json = twe_workflow_alloc(wf, 2 * sizeof st->log + 3), *o = json;
  *o++ = '"';
  for (const char *c = st->log; *c; c++) {
    if (*c == '"' || *c == '\\') *o++ = '\\';
    *o++ = *c;
  }
  *o++ = '"';
  *o = 0;
  twe_payload_t p = twe_payload_json(json);
  assert_int_equal(twe_workflow_complete(wf, &p), 0);
}

static void on_named(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)wf;
  note(user, "named", sig);
}

static void on_any(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)wf;
  note(user, "any", sig);
}

static bool is_done(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return ((state_t *)arg)->done;
}

static bool three(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return ((state_t *)arg)->count >= 3;
}

/* --- workflows ---------------------------------------------------------------------- */

static void on_approve(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)wf;
  note(user, "approve", sig);
  ((state_t *)user)->done = true;
}

/* Waits up to 2 s for the "approve" signal. */
static void wf_approve(twe_workflow_t *wf, void *user) {
  (void)user;
  state_t *st = new_state(wf);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "approve", on_approve, st), 0);
  int rc = twe_workflow_wait_condition(wf, is_done, st, 2 * NS);
  if (rc == -ETIMEDOUT) snprintf(st->log, sizeof st->log, "timeout");
  else assert_int_equal(rc, 0);
  complete_log(wf, st);
}

/* Sleeps 1 s, then takes "add" signals (sent meanwhile) until it has 3. */
static void wf_buffered(twe_workflow_t *wf, void *user) {
  (void)user;
  state_t *st = new_state(wf);
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "add", on_named, st), 0);
  assert_int_equal(twe_workflow_wait_condition(wf, three, st, 0), 0);
  complete_log(wf, st);
}

/* A named handler for "a", a catch-all for the rest; 3 signals. */
static void wf_catch_all(twe_workflow_t *wf, void *user) {
  (void)user;
  state_t *st = new_state(wf);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "a", on_named, st), 0);
  assert_int_equal(twe_workflow_set_signal_handler(wf, NULL, on_any, st), 0);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "", on_any, st), -EINVAL);
  assert_int_equal(twe_workflow_wait_condition(wf, three, st, 0), 0);
  complete_log(wf, st);
}

/* The handler of "run" runs activity A and waits for it. */
static void on_run(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  state_t *st = user;
  twe_payload_t result;
  assert_int_equal(twe_workflow_execute_activity(wf, "A", &opts, sig->args, sig->nargs,
                                                 &result, NULL),
                   0);
  snprintf(st->log, sizeof st->log, "A=%.*s", (int)result.len, (const char *)result.data);
  st->done = true;
}

static void wf_handler_waits(twe_workflow_t *wf, void *user) {
  (void)user;
  state_t *st = new_state(wf);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "run", on_run, st), 0);
  assert_int_equal(twe_workflow_wait_condition(wf, is_done, st, 0), 0);
  complete_log(wf, st);
}

/* Takes one "x" signal, whatever it holds. */
static void wf_one_signal(twe_workflow_t *wf, void *user) {
  (void)user;
  state_t *st = new_state(wf);
  assert_int_equal(twe_workflow_set_signal_handler(wf, "x", on_approve, st), 0);
  assert_int_equal(twe_workflow_wait_condition(wf, is_done, st, 0), 0);
  complete_log(wf, st);
}

/* --- fixture ------------------------------------------------------------------------ */

static int setup(void **state) {
  fixture_t *fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Approve", wf_approve, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Buffered", wf_buffered, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "CatchAll", wf_catch_all, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "HandlerWaits", wf_handler_waits, NULL),
                   0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "OneSignal", wf_one_signal, NULL), 0);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

static void assert_result(const twe_run_outcome_t *out, const char *json) {
  const twe_command_pb_t *c = out->commands[out->n_commands - 1];
  assert_int_equal(c->command_type, CMD(COMPLETE_WORKFLOW_EXECUTION));
  const twe_payloads_pb_t *p = c->complete_workflow_execution_command_attributes->result;
  assert_int_equal(p->n_payloads, 1);
  assert_int_equal(p->payloads[0]->data.len, strlen(json));
  assert_memory_equal(p->payloads[0]->data.data, json, strlen(json));
}

/* --- a condition with a timeout: ended by the signal, or by the timer -------------- */

/* Approve: the signal arrives in the second task. Events 1..13. */
static void approve_history(hist_t *h) {
  h_started(h, "Approve", NULL);        /* 1 */
  h_task(h);                            /* 2, 3 */
  h_task_completed(h);                  /* 4 */
  int64_t t = h_timer_started(h, "1");  /* 5 */
  h_signal(h, "approve", "\"yes\"");    /* 6 */
  h_task(h);                            /* 7, 8 */
  h_task_completed(h);                  /* 9 */
  h_timer_canceled(h, t, "1");          /* 10 */
  h_workflow_completed(h);              /* 11 */
}

static void test_condition_ended_by_signal_live(void **state) {
  fixture_t *fx = *state;
  approve_history(&fx->h);
  fx->run = new_run(fx);
  /* The condition is false: its 2 s timer goes out. */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  assert_int_equal(
      fx->out.commands[0]->start_timer_command_attributes->start_to_fire_timeout->seconds, 2);
  /* The signal makes it true: the timer is cancelled, the workflow ends. */
  assert_int_equal(fx_apply(fx, 3, 8), 0);
  assert_commands(&fx->out, 2, CMD(CANCEL_TIMER), CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_result(&fx->out, "\"approve:approve=\\\"yes\\\";\"");
  assert_int_equal(fx_apply(fx, 8, 11), 0);
  assert_true(fx->out.replay_only);
}

static void test_condition_ended_by_signal_replay(void **state) {
  fixture_t *fx = *state;
  approve_history(&fx->h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

static void test_condition_timeout(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Approve", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t t = h_timer_started(h, "1");
  h_timer_fired(h, t, "1");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_result(&fx->out, "\"timeout\"");
}

/* Signal-with-start: the signal is in history before the code first runs;
 * the handler takes it as soon as it is set, and the timer never goes out. */
static void test_signal_before_first_task(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Approve", NULL);
  h_signal(h, "approve", "1");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_result(&fx->out, "\"approve:approve=1;\"");
}

/* --- buffering, order, catch-all ---------------------------------------------------- */

static void test_signals_buffered_until_handler(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Buffered", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t t = h_timer_started(h, "1");
  h_signal(h, "add", "1");
  h_signal(h, "add", "2");
  h_signal(h, "add", "3");
  h_timer_fired(h, t, "1");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  assert_int_equal(fx_apply(fx, 3, h->n), 0);
  assert_result(&fx->out, "\"named:add=1;named:add=2;named:add=3;\"");
}

static void test_catch_all_takes_the_rest(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "CatchAll", NULL);
  h_signal(h, "b", NULL);
  h_signal(h, "a", "1");
  h_signal(h, "c", "2");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  /* "a" was handed over when its handler was set, before the catch-all
   * existed; "b" and "c" then went to the catch-all, in arrival order. */
  assert_result(&fx->out, "\"named:a=1;any:b;any:c=2;\"");
}

static void test_handler_runs_activity(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "HandlerWaits", NULL);     /* 1 */
  h_signal(h, "run", "\"in\"");          /* 2 */
  h_task(h);                              /* 3, 4 */
  h_task_completed(h);                    /* 5 */
  int64_t s = h_act_scheduled(h, "1", "A"); /* 6 */
  h_act_done(h, s, "\"out\"");            /* 7, 8 */
  h_task(h);                              /* 9, 10 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 4), 0);
  assert_commands(&fx->out, 1, CMD(SCHEDULE_ACTIVITY_TASK));
  const twe_payloads_pb_t *in =
      fx->out.commands[0]->schedule_activity_task_command_attributes->input;
  assert_int_equal(in->n_payloads, 1);
  assert_memory_equal(in->payloads[0]->data.data, "\"in\"", 4);
  assert_int_equal(fx_apply(fx, 4, h->n), 0);
  assert_result(&fx->out, "\"A=\\\"out\\\"\"");
}

static void test_signal_with_bad_json_reaches_handler(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "OneSignal", NULL);
  h_signal(h, "x", "{not json");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  const twe_command_pb_t *c = fx->out.commands[0];
  assert_int_equal(c->command_type, CMD(COMPLETE_WORKFLOW_EXECUTION));
  const ProtobufCBinaryData *d =
      &c->complete_workflow_execution_command_attributes->result->payloads[0]->data;
  assert_non_null(memmem(d->data, d->len, "approve:error(signal \\\"x\\\" input 1 is not valid JSON",
                         strlen("approve:error(signal \\\"x\\\" input 1 is not valid JSON")));
}

static void test_signal_without_attributes_is_decode_error(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "OneSignal", NULL);
  add(h, EV(WORKFLOW_EXECUTION_SIGNALED));
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), TWE_EDECODE);
  assert_non_null(strstr(fx->out.message, "event 2 WORKFLOW_EXECUTION_SIGNALED lacks its"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_condition_ended_by_signal_live),
      T(test_condition_ended_by_signal_replay),
      T(test_condition_timeout),
      T(test_signal_before_first_task),
      T(test_signals_buffered_until_handler),
      T(test_catch_all_takes_the_rest),
      T(test_handler_runs_activity),
      T(test_signal_with_bad_json_reaches_handler),
      T(test_signal_without_attributes_is_decode_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
