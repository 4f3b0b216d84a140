/* tests/engine/test_machines.c — every row of every state machine kind,
 * driven from synthetic histories: live (the task answered, then the next
 * events applied to the cached run) and replayed (a whole history at
 * once). The last test prints the rows of this file's kinds that no test
 * reached and fails when there are any (the marker kinds added with local
 * activities and Go's versioning are test_machines_markers.c's) (built with TWE_MACHINE_COVERAGE, as scripts/test does; skipped
 * otherwise). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/values.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run.h"
#include "temporal/api/update/v1/message.pb-c.h"
#include "tests/engine/hist.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x

/* --- workflows ---------------------------------------------------------------------- */

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};

/* Runs activity A: completes with its result, or fails with its error. */
static void wf_act(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t result;
  twe_error_info_t err;
  if (twe_workflow_execute_activity(wf, "A", &opts, NULL, 0, &result, &err) == 0)
    twe_workflow_complete(wf, &result);
  else
    twe_workflow_fail(wf, &err);
}

/* Sleeps 1 s. */
static void wf_sleep(twe_workflow_t *wf, void *user) {
  (void)user;
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
}

/* What the cancelled timer's future said: the wait's return and the error. */
static int cancel_wait_rc;
static char cancel_error_type[64];

static void record_cancel(twe_workflow_t *wf, twe_future_t *t) {
  cancel_wait_rc = twe_future_wait(wf, t);
  twe_error_info_t e;
  assert_int_equal(twe_future_error(t, &e), 0);
  snprintf(cancel_error_type, sizeof cancel_error_type, "%s", e.type);
}

/* Starts a timer and cancels it at once: nothing goes out for it. */
static void wf_cancel_early(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *t;
  assert_int_equal(twe_workflow_start_timer(wf, 60 * NS, &t), 0);
  assert_int_equal(twe_future_cancel(wf, t), 0);
  record_cancel(wf, t);
  assert_int_equal(twe_future_cancel(wf, t), 0); /* again: a no-op */
}

/* Starts a 60 s timer, runs activity A, then cancels the timer. */
static void wf_cancel_later(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *t;
  assert_int_equal(twe_workflow_start_timer(wf, 60 * NS, &t), 0);
  assert_int_equal(twe_workflow_execute_activity(wf, "A", &opts, NULL, 0, NULL, NULL), 0);
  assert_int_equal(twe_future_cancel(wf, t), 0);
  record_cancel(wf, t);
}

/* An activity cancelled before its schedule went out. */
static int activity_cancel_rc;
static void wf_cancel_activity(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *f;
  assert_int_equal(twe_workflow_start_activity(wf, "A", &opts, NULL, 0, &f), 0);
  activity_cancel_rc = twe_future_cancel(wf, f);
  record_cancel(wf, f);
}

/* Activity A (of cancellation type act_ctype) beside a 1 s timer; when the
 * timer fires first, A is cancelled; then A is waited for, a second 1 s
 * timer slept, and the workflow completes. */
static twe_cancellation_type_t act_ctype;
static void wf_cancel_act(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_activity_options_t o = opts;
  o.cancellation_type = act_ctype;
  twe_future_t *fs[2];
  assert_int_equal(twe_workflow_start_activity(wf, "A", &o, NULL, 0, &fs[0]), 0);
  assert_int_equal(twe_workflow_start_timer(wf, NS, &fs[1]), 0);
  if (twe_future_wait_any(wf, fs, 2) == 1) assert_int_equal(twe_future_cancel(wf, fs[0]), 0);
  record_cancel(wf, fs[0]);
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
}

/* Waits for its cancellation with A running and B in a shielded scope;
 * then runs "Cleanup" in a shielded scope and ends CANCELED. */
static void wf_cancel_me(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *a, *b, *c;
  twe_scope_t *s;
  assert_int_equal(twe_workflow_start_activity(wf, "A", &opts, NULL, 0, &a), 0);
  assert_int_equal(twe_workflow_scope_open(wf, true, &s), 0);
  assert_int_equal(twe_workflow_start_activity(wf, "B", &opts, NULL, 0, &b), 0);
  assert_int_equal(twe_workflow_scope_close(wf, s), 0);
  assert_int_equal(twe_workflow_cancellation(wf, &c), 0);
  assert_int_equal(twe_future_wait(wf, c), 0);
  assert_true(twe_workflow_cancel_requested(wf));
  assert_true(twe_future_ready(a) && !twe_future_ready(b) && !twe_workflow_scope_cancelled(s));
  /* The root scope is cancelled: anything started in it is cancelled at
   * once. Cleanup runs in a shielded scope. */
  twe_future_t *late;
  assert_int_equal(twe_workflow_start_timer(wf, NS, &late), 0);
  assert_true(twe_future_ready(late));
  twe_scope_t *cleanup;
  assert_int_equal(twe_workflow_scope_open(wf, true, &cleanup), 0);
  assert_int_equal(twe_workflow_execute_activity(wf, "Cleanup", &opts, NULL, 0, NULL, NULL), 0);
  assert_int_equal(twe_workflow_scope_close(wf, cleanup), 0);
  assert_int_equal(twe_workflow_end_canceled(wf), 0);
}

/* Updates: "add" (validator: rejects negative numbers; returns the new
 * total), "slow" (sleeps 1 s, returns "done"), "boom" (fails); the
 * workflow ends when its total reaches 10. */
typedef struct upd_state {
  long total;
} upd_state_t;

static int v_add(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_error_info_t *error) {
  (void)wf, (void)user;
  if (u->nargs && u->args[0].len && ((const char *)u->args[0].data)[0] == '-') {
    error->message = "negative numbers are not added";
    return 1;
  }
  return 0;
}

static int u_add(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_payload_t *result,
                 twe_error_info_t *error) {
  (void)error;
  upd_state_t *st = user;
  st->total += u->nargs ? strtol((const char *)u->args[0].data, NULL, 10) : 0;
  char *text = twe_workflow_alloc(wf, 32);
  snprintf(text, 32, "%ld", st->total);
  *result = twe_payload_json(text);
  return 0;
}

static int u_slow(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_payload_t *result,
                  twe_error_info_t *error) {
  (void)u, (void)user, (void)error;
  twe_workflow_sleep(wf, NS);
  *result = twe_payload_json("\"done\"");
  return 0;
}

static int u_boom(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_payload_t *result,
                  twe_error_info_t *error) {
  (void)wf, (void)u, (void)user, (void)result;
  error->type = "Boom";
  error->message = "it went boom";
  return 1;
}

static bool total_ten(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return ((upd_state_t *)arg)->total >= 10;
}

static void wf_updated(twe_workflow_t *wf, void *user) {
  (void)user;
  upd_state_t *st = twe_workflow_alloc(wf, sizeof *st);
  st->total = 0;
  assert_int_equal(twe_workflow_set_update_handler(wf, "add", u_add, v_add, st), 0);
  assert_int_equal(twe_workflow_set_update_handler(wf, "slow", u_slow, NULL, st), 0);
  assert_int_equal(twe_workflow_set_update_handler(wf, "boom", u_boom, NULL, st), 0);
  assert_int_equal(twe_workflow_wait_condition(wf, total_ten, st, 0), 0);
}

/* Continues as new with {"left": left - 1} while left > 0; records the
 * run it continued from. */
static char chain_from[64];
static void wf_chain(twe_workflow_t *wf, void *user) {
  (void)user;
  int left = 0;
  twe_workflow_unpack_arg(wf, 0, NULL, "{s:i}", "left", &left);
  snprintf(chain_from, sizeof chain_from, "%s", twe_workflow_info(wf)->continued_from_run_id);
  if (left > 0) {
    twe_payload_t next;
    assert_int_equal(twe_workflow_pack(wf, &next, NULL, "{s:i}", "left", left - 1), 0);
    assert_int_equal(twe_workflow_continue_as_new(wf, NULL, &next, 1), 0);
  }
}

/* Patch "p1": the new code sleeps 1 s; the old one ends at once. */
static int patch_taken = -1;
static void wf_patch(twe_workflow_t *wf, void *user) {
  (void)user;
  bool p = false;
  assert_int_equal(twe_workflow_patched(wf, "p1", &p), 0);
  bool again = !p;
  assert_int_equal(twe_workflow_patched(wf, "p1", &again), 0); /* the same answer */
  assert_int_equal(again, p);
  patch_taken = p;
  if (p) assert_int_equal(twe_workflow_sleep(wf, NS), 0);
}

/* The patch "p1" deprecated, then a 1 s sleep. */
static void wf_deprecated(twe_workflow_t *wf, void *user) {
  (void)user;
  assert_int_equal(twe_workflow_deprecate_patch(wf, "p1"), 0);
  assert_int_equal(twe_workflow_deprecate_patch(wf, "p1"), 0); /* once */
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
}

/* Signals "target" and asks "other" to cancel; records both outcomes. */
static int ext_signal_rc, ext_cancel_rc;
static char ext_signal_msg[256];
static void wf_ext(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *s, *c;
  twe_payload_t arg = twe_payload_json("1");
  assert_int_equal(twe_workflow_signal_external(wf, "target", NULL, "ping", &arg, 1, &s), 0);
  assert_int_equal(twe_workflow_cancel_external(wf, "other", NULL, "done", &c), 0);
  ext_signal_rc = twe_future_wait(wf, s);
  ext_cancel_rc = twe_future_wait(wf, c);
  twe_error_info_t e;
  ext_signal_msg[0] = 0;
  if (twe_future_error(s, &e) == 0) snprintf(ext_signal_msg, sizeof ext_signal_msg, "%s", e.message);
}

/* A side effect whose function hands out side_value (and counts its
 * calls), then a 1 s sleep; completes with the value it got. */
static const char *side_value;
static int side_calls;
static int side_fn(twe_workflow_t *wf, void *arg, twe_payload_t *value) {
  (void)wf, (void)arg;
  side_calls++;
  *value = twe_payload_json(side_value);
  return 0;
}
static void wf_side(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t v;
  assert_int_equal(twe_workflow_side_effect(wf, side_fn, NULL, &v), 0);
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
  assert_int_equal(twe_workflow_complete(wf, &v), 0);
}

/* Starts child "K" (id "kid"), waits for its start and its result;
 * records both outcomes (the error type when one failed). With
 * kid_cancel: cancels it right after starting it, before anything went
 * out; with kid_cancel_started: once it has started. */
static bool kid_cancel, kid_cancel_started;
static enum twe_child_cancellation_type kid_ctype;
static int kid_start_rc, kid_result_rc;
static char kid_error[64];
static void wf_kids(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_child_options_t o = {.workflow_id = "kid", .cancellation_type = kid_ctype};
  twe_future_t *s, *r;
  assert_int_equal(twe_workflow_start_child(wf, "K", &o, NULL, 0, &s, &r), 0);
  if (kid_cancel) assert_int_equal(twe_future_cancel(wf, r), 0);
  kid_start_rc = twe_future_wait(wf, s);
  if (kid_cancel_started) assert_int_equal(twe_future_cancel(wf, r), 0);
  kid_result_rc = twe_future_wait(wf, r);
  twe_error_info_t e;
  kid_error[0] = 0;
  if (twe_future_error(r, &e) == 0) snprintf(kid_error, sizeof kid_error, "%s", e.type);
}

/* --- fixture ------------------------------------------------------------------------ */

static int setup(void **state) {
  fixture_t *fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Act", wf_act, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Sleep", wf_sleep, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "CancelEarly", wf_cancel_early, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "CancelLater", wf_cancel_later, NULL), 0);
  assert_int_equal(
      twe__registry_add_workflow(&fx->reg, "CancelActivity", wf_cancel_activity, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Updated", wf_updated, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "CancelAct", wf_cancel_act, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "CancelMe", wf_cancel_me, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Chain", wf_chain, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Patch", wf_patch, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Ext", wf_ext, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Side", wf_side, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Kids", wf_kids, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Deprecated", wf_deprecated, NULL), 0);
  kid_cancel = kid_cancel_started = false;
  kid_ctype = TWE_CHILD_CANCEL_WAIT_COMPLETED;
  cancel_wait_rc = 0;
  cancel_error_type[0] = 0;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

/* Applies events [from, to) (0-based indexes) to fx->run. */
/* --- activity, complete and fail ---------------------------------------------------- */

static void test_activity_live_completes(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Act", NULL);                   /* 1 */
  h_task(h);                                   /* 2, 3 */
  h_task_completed(h);                         /* 4 */
  int64_t s = h_act_scheduled(h, "1", "A");    /* 5 */
  h_act_done(h, s, "\"ok\"");                  /* 6, 7 */
  h_task(h);                                   /* 8, 9 */
  h_task_completed(h);                         /* 10 */
  h_workflow_completed(h);                     /* 11 */
  fx->run = new_run(fx);
  /* CREATED --SENT--> SCHEDULE_SENT */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 1, CMD(SCHEDULE_ACTIVITY_TASK));
  /* SCHEDULE_SENT --SCHEDULED--> SCHEDULED --STARTED--> --COMPLETED-->; the
   * complete machine: CREATED --SENT--> COMMAND_SENT */
  assert_int_equal(fx_apply(fx, 3, 9), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_true(fx->out.closes_workflow);
  /* COMMAND_SENT --WORKFLOW_EXECUTION_COMPLETED--> COMPLETED */
  assert_int_equal(fx_apply(fx, 9, 11), 0);
  assert_true(fx->out.replay_only);
}

static void test_activity_replay_fails(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Act", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  h_act_failed(h, s, app_failure(h, "Oops", "it broke", true));
  h_task(h);
  h_task_completed(h);
  h_workflow_failed(h);
  /* The whole history at once: CREATED --SCHEDULED--> (replay), STARTED
   * --FAILED-->, and the fail machine's CREATED --FAILED--> FAILED. */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_true(fx->out.replay_only);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

static void test_fail_workflow_live(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Act", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  h_act_failed(h, s, app_failure(h, "Oops", "it broke", true)); /* 6, 7 */
  h_task(h);                                                     /* 8, 9 */
  h_task_completed(h);                                           /* 10 */
  h_workflow_failed(h);                                          /* 11 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 9), 0);
  assert_commands(&fx->out, 1, CMD(FAIL_WORKFLOW_EXECUTION));
  assert_string_equal(
      fx->out.commands[0]->fail_workflow_execution_command_attributes->failure->message,
      "it broke");
  /* COMMAND_SENT --WORKFLOW_EXECUTION_FAILED--> FAILED */
  assert_int_equal(fx_apply(fx, 9, 11), 0);
}

/* A timeout before the activity started, and one after. */
static void timed_out(void **state, bool started) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Act", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  int64_t st = started ? h_act_started(h, s) : 0;
  h_act_timed_out(h, s, st);
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(FAIL_WORKFLOW_EXECUTION));
  assert_string_equal(
      fx->out.commands[0]->fail_workflow_execution_command_attributes->failure->message,
      "activity timed out");
}

static void test_activity_timed_out_scheduled(void **state) {
  timed_out(state, false);
}

static void test_activity_timed_out_started(void **state) {
  timed_out(state, true);
}

/* A TIMED_OUT for an activity that is done is no row's input. */
static void test_activity_event_after_end_is_nondeterminism(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Act", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  int64_t st = h_act_started(h, s);
  h_act_timed_out(h, s, st);
  h_act_timed_out(h, s, st);
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), TWE_ENONDETERMINISM);
  /* The first timeout resolved the machine and took it out of the index. */
  assert_non_null(strstr(fx->out.message, "history event 8 ACTIVITY_TASK_TIMED_OUT refers to "
                                          "scheduled event 5, which is not an open activity"));
}

/* CREATED --CANCEL--> CANCELED: the schedule never goes out. */
static void test_activity_cancel_before_sent(void **state) {
  fixture_t *fx = *state;
  h_started(&fx->h, "CancelActivity", NULL);
  h_task(&fx->h);
  fx->run = new_run(fx);
  activity_cancel_rc = 1;
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_int_equal(activity_cancel_rc, 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(cancel_wait_rc, TWE_EFAILED);
  assert_string_equal(cancel_error_type, "CanceledError");
}

/* The CancelAct history up to the task where A is cancelled (events 1..9):
 * A scheduled (5), timer 1 started (6), [A started (7) when started], timer
 * fired, task. Returns A's scheduled event id. */
static int64_t cancel_act_prefix(hist_t *h, bool started) {
  h_started(h, "CancelAct", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  int64_t t = h_timer_started(h, "2");
  if (started) h_act_started(h, s);
  h_timer_fired(h, t, "2");
  h_task(h);
  return s;
}

/* The tail after the cancelling task: its completion, [cancel requested],
 * then activity events (end), timer 3, a task. */
typedef enum act_end { END_NONE, END_CANCELED, END_COMPLETED, END_FAILED, END_TIMED_OUT } act_end_t;
static void cancel_act_tail(hist_t *h, int64_t s, bool requested, bool started, act_end_t end) {
  h_task_completed(h);
  if (requested) h_act_cancel_requested(h, s);
  int64_t st = started ? h_act_started(h, s) : 0;
  switch (end) {
    case END_CANCELED: h_act_canceled(h, s, st); break;
    case END_COMPLETED: {
      twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_COMPLETED));
      Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a = halloc(h, sizeof *a);
      temporal__api__history__v1__activity_task_completed_event_attributes__init(a);
      a->scheduled_event_id = s;
      a->started_event_id = st;
      e->attributes_case = HATTR(ACTIVITY_TASK_COMPLETED);
      e->activity_task_completed_event_attributes = a;
      break;
    }
    case END_FAILED: {
      twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_FAILED));
      Temporal__Api__History__V1__ActivityTaskFailedEventAttributes *a = halloc(h, sizeof *a);
      temporal__api__history__v1__activity_task_failed_event_attributes__init(a);
      a->scheduled_event_id = s;
      a->started_event_id = st;
      a->failure = app_failure(h, "E", "late failure", true);
      e->attributes_case = HATTR(ACTIVITY_TASK_FAILED);
      e->activity_task_failed_event_attributes = a;
      break;
    }
    case END_TIMED_OUT: h_act_timed_out(h, s, st); break;
    case END_NONE: break;
  }
}

/* Try: the request goes out and the future fails at once; the activity's
 * later events (started, then completed anyway) change nothing. */
static void test_activity_cancel_try(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  act_ctype = TWE_CANCEL_TRY;
  int64_t s = cancel_act_prefix(h, false);
  size_t cut = h->n;
  cancel_act_tail(h, s, true, true, END_COMPLETED);
  int64_t t = h_timer_started(h, "3");
  h_timer_fired(h, t, "3");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  /* SCHEDULED --CANCEL--> CANCEL_CREATED --SENT--> CANCEL_SENT */
  assert_int_equal(fx_apply(fx, 3, cut), 0);
  assert_commands(&fx->out, 2, CMD(REQUEST_CANCEL_ACTIVITY_TASK), CMD(START_TIMER));
  assert_int_equal(
      fx->out.commands[0]->request_cancel_activity_task_command_attributes->scheduled_event_id, s);
  assert_int_equal(cancel_wait_rc, TWE_EFAILED);
  assert_string_equal(cancel_error_type, "CanceledError");
  /* CANCEL_SENT --CANCEL_REQUESTED--> CANCEL_REQUESTED --STARTED--> itself
   * --COMPLETED--> COMPLETED */
  assert_int_equal(fx_apply(fx, cut, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
}

/* Wait: the future fails only when the activity reports it was cancelled.
 * The whole history replayed (CANCEL_CREATED --CANCEL_REQUESTED-->). */
static void test_activity_cancel_wait(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  act_ctype = TWE_CANCEL_WAIT;
  int64_t s = cancel_act_prefix(h, true); /* STARTED --CANCEL--> */
  size_t cut = h->n;
  cancel_act_tail(h, s, true, false, END_CANCELED);
  h_task(h); /* the wait ends here: timer 3 starts */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, cut), 0);
  assert_commands(&fx->out, 1, CMD(REQUEST_CANCEL_ACTIVITY_TASK));
  assert_int_equal(cancel_wait_rc, 0); /* still waiting */
  assert_int_equal(fx_apply(fx, cut, h->n), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  assert_string_equal(cancel_error_type, "CanceledError");

  /* The same history at once, on a new run. */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
}

/* Wait, but the activity finished before the cancel reached it: the future
 * ends as the activity did (failed, timed out). */
static void wait_but_ended(void **state, act_end_t end, bool started, const char *type) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  act_ctype = TWE_CANCEL_WAIT;
  int64_t s = cancel_act_prefix(h, false);
  cancel_act_tail(h, s, true, started, end);
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  assert_string_equal(cancel_error_type, type);
}

static void test_activity_cancel_wait_but_failed(void **state) {
  wait_but_ended(state, END_FAILED, true, "E");
}

static void test_activity_cancel_wait_but_timed_out(void **state) {
  wait_but_ended(state, END_TIMED_OUT, false, "TimeoutError");
}

/* Abandon: nothing goes out; the activity's later events are taken. */
static void abandon(void **state, act_end_t end, bool started) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  act_ctype = TWE_CANCEL_ABANDON;
  int64_t s = cancel_act_prefix(h, false);
  size_t cut = h->n;
  cancel_act_tail(h, s, false, started, end);
  int64_t t = h_timer_started(h, "3");
  h_timer_fired(h, t, "3");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, cut), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  assert_string_equal(cancel_error_type, "CanceledError");
  assert_int_equal(fx_apply(fx, cut, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
}

static void test_activity_abandon_completed(void **state) {
  abandon(state, END_COMPLETED, true);
}

static void test_activity_abandon_failed(void **state) {
  abandon(state, END_FAILED, true);
}

static void test_activity_abandon_timed_out(void **state) {
  abandon(state, END_TIMED_OUT, false);
}

/* The workflow's cancellation: A (root scope) is cancelled, B (shielded)
 * is not; cleanup runs; the workflow ends CANCELED. Live, then replayed. */
static void test_workflow_cancel(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "CancelMe", NULL);               /* 1 */
  h_task(h);                                    /* 2, 3 */
  h_task_completed(h);                          /* 4 */
  int64_t a = h_act_scheduled(h, "1", "A");     /* 5 */
  h_act_scheduled(h, "2", "B");                 /* 6 */
  h_workflow_cancel_requested(h);               /* 7 */
  h_task(h);                                    /* 8, 9 */
  h_task_completed(h);                          /* 10 */
  h_act_cancel_requested(h, a);                 /* 11 */
  int64_t c = h_act_scheduled(h, "3", "Cleanup"); /* 12 */
  h_act_done(h, c, "null");                     /* 13, 14 */
  h_task(h);                                    /* 15, 16 */
  h_task_completed(h);                          /* 17 */
  h_workflow_canceled(h);                       /* 18 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 2, CMD(SCHEDULE_ACTIVITY_TASK), CMD(SCHEDULE_ACTIVITY_TASK));
  assert_int_equal(fx_apply(fx, 3, 9), 0);
  assert_commands(&fx->out, 2, CMD(REQUEST_CANCEL_ACTIVITY_TASK), CMD(SCHEDULE_ACTIVITY_TASK));
  assert_int_equal(
      fx->out.commands[0]->request_cancel_activity_task_command_attributes->scheduled_event_id, a);
  /* CREATED --SENT--> COMMAND_SENT for the cancel workflow machine */
  assert_int_equal(fx_apply(fx, 9, 16), 0);
  assert_commands(&fx->out, 1, CMD(CANCEL_WORKFLOW_EXECUTION));
  assert_true(fx->out.closes_workflow);
  assert_int_equal(fx_apply(fx, 16, 18), 0);

  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

/* --- timer ---------------------------------------------------------------------------- */

static void test_timer_live_fires(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Sleep", NULL);               /* 1 */
  h_task(h);                                 /* 2, 3 */
  h_task_completed(h);                       /* 4 */
  int64_t t = h_timer_started(h, "1");       /* 5 */
  h_timer_fired(h, t, "1");                  /* 6 */
  h_task(h);                                 /* 7, 8 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0); /* CREATED --SENT--> START_SENT */
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  const Temporal__Api__Command__V1__StartTimerCommandAttributes *a =
      fx->out.commands[0]->start_timer_command_attributes;
  assert_string_equal(a->timer_id, "1");
  assert_int_equal(a->start_to_fire_timeout->seconds, 1);
  /* START_SENT --TIMER_STARTED--> STARTED --TIMER_FIRED--> FIRED */
  assert_int_equal(fx_apply(fx, 3, 8), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
}

static void test_timer_replay_fires(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Sleep", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t t = h_timer_started(h, "1");
  h_timer_fired(h, t, "1");
  h_task(h);
  fx->run = new_run(fx);
  /* CREATED --TIMER_STARTED--> STARTED (replay) */
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
}

static void test_timer_cancel_before_sent(void **state) {
  fixture_t *fx = *state;
  h_started(&fx->h, "CancelEarly", NULL);
  h_task(&fx->h);
  fx->run = new_run(fx);
  /* CREATED --CANCEL--> CANCELED: the start is dropped, only the end goes. */
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(cancel_wait_rc, TWE_EFAILED);
  assert_string_equal(cancel_error_type, "CanceledError");
}

/* The CancelLater history up to its second task: events 1..10. */
static void cancel_later_history(hist_t *h) {
  h_started(h, "CancelLater", NULL);         /* 1 */
  h_task(h);                                 /* 2, 3 */
  h_task_completed(h);                       /* 4 */
  int64_t t = h_timer_started(h, "1");       /* 5 */
  int64_t s = h_act_scheduled(h, "2", "A");  /* 6 */
  h_act_done(h, s, "1");                     /* 7, 8 */
  h_task(h);                                 /* 9, 10 */
  h_task_completed(h);                       /* 11 */
  h_timer_canceled(h, t, "1");               /* 12 */
  h_workflow_completed(h);                   /* 13 */
}

static void test_timer_cancel_live(void **state) {
  fixture_t *fx = *state;
  cancel_later_history(&fx->h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 2, CMD(START_TIMER), CMD(SCHEDULE_ACTIVITY_TASK));
  /* STARTED --CANCEL--> CANCEL_CREATED --SENT--> CANCEL_SENT */
  assert_int_equal(fx_apply(fx, 3, 10), 0);
  assert_commands(&fx->out, 2, CMD(CANCEL_TIMER), CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_string_equal(fx->out.commands[0]->cancel_timer_command_attributes->timer_id, "1");
  assert_int_equal(cancel_wait_rc, TWE_EFAILED);
  assert_string_equal(cancel_error_type, "CanceledError");
  /* CANCEL_SENT --TIMER_CANCELED--> CANCELED, then the completion. */
  assert_int_equal(fx_apply(fx, 10, 13), 0);
  assert_true(fx->out.replay_only);
}

static void test_timer_cancel_replay(void **state) {
  fixture_t *fx = *state;
  cancel_later_history(&fx->h);
  fx->run = new_run(fx);
  /* CANCEL_CREATED --TIMER_CANCELED--> CANCELED (replay) */
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_true(fx->out.replay_only);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

/* A history whose timer fired where the code cancels it: the code's
 * CANCEL_TIMER finds the completion's event instead. */
static void test_timer_cancel_missing_is_nondeterminism(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "CancelLater", NULL);
  h_task(h);
  h_task_completed(h);
  h_timer_started(h, "1");
  int64_t s = h_act_scheduled(h, "2", "A");
  h_act_done(h, s, "1");
  h_task(h);
  h_task_completed(h);
  h_workflow_completed(h); /* 12: no TIMER_CANCELED */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), TWE_ENONDETERMINISM);
  assert_non_null(strstr(fx->out.message,
                         "history event 12 WORKFLOW_EXECUTION_COMPLETED does not match the "
                         "command the code produced: CANCEL_TIMER (timer id \"1\")"));
}

/* --- update -------------------------------------------------------------------------- */

/* The protocol message the answer carries at i: its id and body type. */
static void assert_message(const twe_run_outcome_t *out, size_t i, const char *id,
                           const char *type) {
  assert_true(i < out->n_messages);
  assert_string_equal(out->messages[i]->id, id);
  assert_string_equal(out->messages[i]->body->type_url, type);
}
#define ACCEPTANCE "type.googleapis.com/temporal.api.update.v1.Acceptance"
#define REJECTION "type.googleapis.com/temporal.api.update.v1.Rejection"
#define RESPONSE "type.googleapis.com/temporal.api.update.v1.Response"

/* "add 10" accepted and completed in the task that brought it, then the
 * events recorded for both. Events 1..10. */
static void test_update_done_in_one_task(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  Temporal__Api__Update__V1__Request *r = h_update_request(h, "u-1", "add", "10");
  h_started(h, "Updated", NULL);             /* 1 */
  h_task(h);                                 /* 2, 3 */
  h_task_completed(h);                       /* 4 */
  int64_t acc = h_update_accepted(h, "m-1", r); /* 5 */
  h_update_completed(h, "u-1", acc);         /* 6 */
  h_workflow_completed(h);                   /* 7 */
  Temporal__Api__Protocol__V1__Message *msg = h_update_message(h, "m-1", 2, r);
  fx->run = new_run(fx);
  twe__run_set_messages(fx->run, &msg, 1);
  /* REQUESTED --ACCEPT--> ACCEPT_PENDING --COMPLETE--> ACCEPT_PENDING_COMPLETE */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 3, CMD(PROTOCOL_MESSAGE), CMD(PROTOCOL_MESSAGE),
                  CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_string_equal(fx->out.commands[0]->protocol_message_command_attributes->message_id,
                      "m-1/accept");
  assert_string_equal(fx->out.commands[1]->protocol_message_command_attributes->message_id,
                      "m-1/complete");
  assert_int_equal(fx->out.n_messages, 2);
  assert_message(&fx->out, 0, "m-1/accept", ACCEPTANCE);
  assert_message(&fx->out, 1, "m-1/complete", RESPONSE);
  assert_string_equal(fx->out.messages[1]->protocol_instance_id, "u-1");
  Temporal__Api__Update__V1__Response *resp = (void *)protobuf_c_message_unpack(
      &temporal__api__update__v1__response__descriptor, NULL, fx->out.messages[1]->body->value.len,
      fx->out.messages[1]->body->value.data);
  assert_non_null(resp);
  assert_int_equal(resp->outcome->value_case, TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_SUCCESS);
  assert_memory_equal(resp->outcome->success->payloads[0]->data.data, "10", 2);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  /* ACCEPT_PENDING_COMPLETE --ACCEPTED--> COMPLETE_PENDING --COMPLETED--> COMPLETED */
  assert_int_equal(fx_apply(fx, 3, 7), 0);
  assert_true(fx->out.replay_only);
}

/* The same history replayed: the request comes from the ACCEPTED event. */
static void test_update_replayed(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  Temporal__Api__Update__V1__Request *r = h_update_request(h, "u-1", "add", "10");
  h_started(h, "Updated", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t acc = h_update_accepted(h, "m-1", r);
  h_update_completed(h, "u-1", acc);
  h_workflow_completed(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

/* "slow" waits in its handler: accepted in one task, completed in a later
 * one (ACCEPT_PENDING --ACCEPTED--> ACCEPTED --COMPLETE--> COMPLETE_PENDING). */
static void test_update_completed_later(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  Temporal__Api__Update__V1__Request *r = h_update_request(h, "u-2", "slow", NULL);
  h_started(h, "Updated", NULL);             /* 1 */
  h_task(h);                                 /* 2, 3 */
  h_task_completed(h);                       /* 4 */
  int64_t acc = h_update_accepted(h, "m-2", r); /* 5 */
  int64_t t = h_timer_started(h, "1");       /* 6 */
  h_timer_fired(h, t, "1");                  /* 7 */
  h_task(h);                                 /* 8, 9 */
  h_task_completed(h);                       /* 10 */
  h_update_completed(h, "u-2", acc);         /* 11 */
  Temporal__Api__Protocol__V1__Message *msg = h_update_message(h, "m-2", 2, r);
  fx->run = new_run(fx);
  twe__run_set_messages(fx->run, &msg, 1);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 2, CMD(PROTOCOL_MESSAGE), CMD(START_TIMER));
  assert_int_equal(fx->out.n_messages, 1);
  assert_message(&fx->out, 0, "m-2/accept", ACCEPTANCE);
  assert_int_equal(fx_apply(fx, 3, 9), 0);
  assert_commands(&fx->out, 1, CMD(PROTOCOL_MESSAGE));
  assert_message(&fx->out, 0, "m-2/complete", RESPONSE);
  assert_int_equal(fx_apply(fx, 9, 11), 0);
}

/* A validator's rejection and an unknown name: a Rejection message each,
 * no command; a handler's failure completes the update with it. */
static void test_update_rejected_and_failed(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Updated", NULL);
  h_task(h);
  Temporal__Api__Protocol__V1__Message *msgs[3] = {
      h_update_message(h, "m-3", 2, h_update_request(h, "u-3", "add", "-1")),
      h_update_message(h, "m-4", 2, h_update_request(h, "u-4", "nope", NULL)),
      h_update_message(h, "m-5", 2, h_update_request(h, "u-5", "boom", NULL)),
  };
  fx->run = new_run(fx);
  twe__run_set_messages(fx->run, msgs, 3);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 2, CMD(PROTOCOL_MESSAGE), CMD(PROTOCOL_MESSAGE));
  assert_int_equal(fx->out.n_messages, 4);
  assert_message(&fx->out, 0, "m-3/reject", REJECTION);
  assert_message(&fx->out, 1, "m-4/reject", REJECTION);
  assert_message(&fx->out, 2, "m-5/accept", ACCEPTANCE);
  assert_message(&fx->out, 3, "m-5/complete", RESPONSE);
  const char *why[2] = {"negative numbers are not added",
                        "unknown update \"nope\" for workflow \"Updated\" (known: add, slow, boom)"};
  for (int i = 0; i < 2; i++) {
    Temporal__Api__Update__V1__Rejection *rej = (void *)protobuf_c_message_unpack(
        &temporal__api__update__v1__rejection__descriptor, NULL,
        fx->out.messages[i]->body->value.len, fx->out.messages[i]->body->value.data);
    assert_non_null(rej);
    assert_string_equal(rej->failure->message, why[i]);
    protobuf_c_message_free_unpacked(&rej->base, NULL);
  }
  Temporal__Api__Update__V1__Response *resp = (void *)protobuf_c_message_unpack(
      &temporal__api__update__v1__response__descriptor, NULL, fx->out.messages[3]->body->value.len,
      fx->out.messages[3]->body->value.data);
  assert_int_equal(resp->outcome->value_case, TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_FAILURE);
  assert_string_equal(resp->outcome->failure->message, "it went boom");
  protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* --- continue-as-new ------------------------------------------------------------------ */

static void test_continue_as_new(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Chain", "{\"left\":1}");
  h->ev[0]->workflow_execution_started_event_attributes->continued_execution_run_id =
      hstr(h, "previous-run");
  h_task(h);
  h_task_completed(h);
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_CONTINUED_AS_NEW));
  Temporal__Api__History__V1__WorkflowExecutionContinuedAsNewEventAttributes *a =
      halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_continued_as_new_event_attributes__init(a);
  Temporal__Api__Common__V1__WorkflowType *wt = halloc(h, sizeof *wt);
  temporal__api__common__v1__workflow_type__init(wt);
  wt->name = hstr(h, "Chain");
  a->workflow_type = wt;
  a->new_execution_run_id = hstr(h, "next-run");
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
  e->workflow_execution_continued_as_new_event_attributes = a;
  fx->run = new_run(fx);
  /* CREATED --SENT--> COMMAND_SENT --CONTINUED_AS_NEW--> CONTINUED */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 1, CMD(CONTINUE_AS_NEW_WORKFLOW_EXECUTION));
  assert_true(fx->out.closes_workflow);
  const Temporal__Api__Command__V1__ContinueAsNewWorkflowExecutionCommandAttributes *c =
      fx->out.commands[0]->continue_as_new_workflow_execution_command_attributes;
  assert_string_equal(c->workflow_type->name, "Chain");
  assert_string_equal(c->task_queue->name, "tq");
  assert_memory_equal(c->input->payloads[0]->data.data, "{\"left\":0}", 10);
  assert_string_equal(chain_from, "previous-run");
  assert_int_equal(fx_apply(fx, 3, 5), 0);
  /* Replayed at once: CREATED --CONTINUED_AS_NEW--> CONTINUED. */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

/* --- patches --------------------------------------------------------------------------- */

/* The new code's history (events 1..10). */
static void patch_history(hist_t *h) {
  h_started(h, "Patch", NULL);        /* 1 */
  h_task(h);                          /* 2, 3 */
  h_task_completed(h);                /* 4 */
  h_patch_marker(h, "p1");            /* 5 */
  h_upsert(h, "TemporalChangeVersion"); /* 6 */
  int64_t t = h_timer_started(h, "1"); /* 7 */
  h_timer_fired(h, t, "1");           /* 8 */
  h_task(h);                          /* 9, 10 */
}

static void test_patch_live_and_replayed(void **state) {
  fixture_t *fx = *state;
  patch_history(&fx->h);
  fx->run = new_run(fx);
  patch_taken = -1;
  /* CREATED --SENT--> COMMAND_SENT (marker, upsert) */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 3, CMD(RECORD_MARKER), CMD(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
                  CMD(START_TIMER));
  assert_int_equal(patch_taken, 1);
  const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *m =
      fx->out.commands[0]->record_marker_command_attributes;
  assert_string_equal(m->marker_name, "core_patch");
  assert_string_equal(m->details[0]->key, "patch-data");
  const ProtobufCBinaryData *d = &m->details[0]->value->payloads[0]->data;
  assert_memory_equal(d->data, "{\"id\":\"p1\",\"deprecated\":false}", d->len);
  const Temporal__Api__Common__V1__SearchAttributes *sa =
      fx->out.commands[1]->upsert_workflow_search_attributes_command_attributes->search_attributes;
  assert_string_equal(sa->indexed_fields[0]->key, "TemporalChangeVersion");
  assert_memory_equal(sa->indexed_fields[0]->value->data.data, "[\"p1\"]", 6);
  /* COMMAND_SENT --MARKER_RECORDED / UPSERT--> RECORDED */
  assert_int_equal(fx_apply(fx, 3, 10), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));

  /* Replayed: the marker is in the task, so the patch is taken again. */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  patch_taken = -1;
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_int_equal(patch_taken, 1);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
}

/* The old code's history (no marker) on the new code: the old branch. */
static void test_patch_old_history(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Patch", NULL);
  h_task(h);
  h_task_completed(h);
  h_workflow_completed(h);
  fx->run = new_run(fx);
  patch_taken = -1;
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_int_equal(patch_taken, 0);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

/* A deprecated patch: live, it records the marker with "deprecated": true;
 * it replays histories with the patch's marker (patched or deprecated) and
 * without; code that dropped the call replays a history with the
 * deprecated marker (and its TemporalChangeVersion upsert) skipped, but not
 * one with a marker from `patched`. */
static void deprecated_history(hist_t *h, const char *type, int marker) {
  memset(h->ev, 0, sizeof h->ev);
  h->n = 0;
  h_started(h, type, NULL);
  h_task(h);
  h_task_completed(h);
  if (marker) {
    h_patch_marker_as(h, "p1", marker == 2);
    h_upsert(h, "TemporalChangeVersion");
  }
  int64_t t = h_timer_started(h, "1");
  h_timer_fired(h, t, "1");
  h_task(h);
}

static void test_patch_deprecated(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  deprecated_history(h, "Deprecated", 0);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 3, CMD(RECORD_MARKER), CMD(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
                  CMD(START_TIMER));
  const ProtobufCBinaryData *d =
      &fx->out.commands[0]->record_marker_command_attributes->details[0]->value->payloads[0]->data;
  char text[256];
  snprintf(text, sizeof text, "%.*s", (int)d->len, (const char *)d->data);
  assert_non_null(strstr(text, "\"deprecated\":true"));
  const struct {
    const char *type;
    int marker; /* 0 none, 1 patched's, 2 deprecated */
    int rc;
  } cases[] = {{"Deprecated", 0, 0}, {"Deprecated", 1, 0}, {"Deprecated", 2, 0},
               {"Sleep", 2, 0},      {"Sleep", 1, TWE_ENONDETERMINISM}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    deprecated_history(h, cases[i].type, cases[i].marker);
    twe__run_destroy(fx->run);
    fx->run = new_run(fx);
    int rc = fx_apply(fx, 0, h->n);
    if (rc != cases[i].rc) fail_msg("case %zu: %d (%s)", i, rc, fx->out.message);
    if (rc == 0) assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  }
}


static void ext_history(hist_t *h, bool ok) {
  h_started(h, "Ext", NULL);                                  /* 1 */
  h_task(h);                                                  /* 2, 3 */
  h_task_completed(h);                                        /* 4 */
  int64_t s = h_external_initiated(h, true, "target", "ping"); /* 5 */
  int64_t c = h_external_initiated(h, false, "other", NULL);   /* 6 */
  h_external_done(h, true, s, ok);                            /* 7 */
  h_external_done(h, false, c, ok);                           /* 8 */
  h_task(h);                                                  /* 9, 10 */
}

static void test_external_live(void **state) {
  fixture_t *fx = *state;
  ext_history(&fx->h, true);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 2, CMD(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION),
                  CMD(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION));
  const Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *sa =
      fx->out.commands[0]->signal_external_workflow_execution_command_attributes;
  assert_string_equal(sa->execution->workflow_id, "target");
  assert_string_equal(sa->signal_name, "ping");
  assert_string_equal(
      fx->out.commands[1]->request_cancel_external_workflow_execution_command_attributes->workflow_id,
      "other");
  assert_int_equal(fx_apply(fx, 3, 10), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(ext_signal_rc, 0);
  assert_int_equal(ext_cancel_rc, 0);
}

static void test_external_failed_replayed(void **state) {
  fixture_t *fx = *state;
  ext_history(&fx->h, false);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(ext_signal_rc, TWE_EFAILED);
  assert_int_equal(ext_cancel_rc, TWE_EFAILED);
  assert_non_null(strstr(ext_signal_msg, "EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"));
}

/* --- side effects ------------------------------------------------------------------------ */

static void test_side_effect(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Side", NULL);           /* 1 */
  h_task(h);                            /* 2, 3 */
  h_task_completed(h);                  /* 4 */
  h_side_effect_marker(h, 1, "42");     /* 5 */
  int64_t t = h_timer_started(h, "1");  /* 6 */
  h_timer_fired(h, t, "1");             /* 7 */
  h_task(h);                            /* 8, 9 */
  fx->run = new_run(fx);
  side_value = "42";
  side_calls = 0;
  /* CREATED --SENT--> COMMAND_SENT --MARKER_RECORDED--> RECORDED */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(START_TIMER));
  const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *m =
      fx->out.commands[0]->record_marker_command_attributes;
  assert_string_equal(m->marker_name, "SideEffect");
  assert_string_equal(m->details[0]->key, "side-effect-id");
  assert_memory_equal(m->details[0]->value->payloads[0]->data.data, "1", 1);
  assert_string_equal(m->details[1]->key, "data");
  assert_memory_equal(m->details[1]->value->payloads[0]->data.data, "42", 2);
  assert_int_equal(fx_apply(fx, 3, 9), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(side_calls, 1);

  /* Replayed with a function that would give another value: the recorded
   * one comes back, and the function is not called (CREATED --MARKER-->). */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  side_value = "99";
  side_calls = 0;
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_int_equal(side_calls, 0);
  const twe_payloads_pb_t *r =
      fx->out.commands[0]->complete_workflow_execution_command_attributes->result;
  assert_memory_equal(r->payloads[0]->data.data, "42", 2);
}

/* --- child workflows ----------------------------------------------------------------------- */

/* Kids up to the child's start (events 1..6), then end (an event type, or
 * 0), then a task. */
static void kids_history(hist_t *h, int end, bool started) {
  h_started(h, "Kids", NULL);                  /* 1 */
  h_task(h);                                   /* 2, 3 */
  h_task_completed(h);                         /* 4 */
  int64_t i = h_child_initiated(h, "kid", "K"); /* 5 */
  if (started) h_child_event(h, EV(CHILD_WORKFLOW_EXECUTION_STARTED), i); /* 6 */
  if (end) h_child_event(h, end, i);
  h_task(h);
}

static void test_child_live_completed(void **state) {
  fixture_t *fx = *state;
  kids_history(&fx->h, EV(CHILD_WORKFLOW_EXECUTION_COMPLETED), true);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 1, CMD(START_CHILD_WORKFLOW_EXECUTION));
  const Temporal__Api__Command__V1__StartChildWorkflowExecutionCommandAttributes *a =
      fx->out.commands[0]->start_child_workflow_execution_command_attributes;
  assert_string_equal(a->workflow_id, "kid");
  assert_string_equal(a->workflow_type->name, "K");
  assert_string_equal(a->task_queue->name, "tq");
  assert_int_equal(fx_apply(fx, 3, fx->h.n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(kid_start_rc, 0);
  assert_int_equal(kid_result_rc, 0);
}

/* How a child ends, replayed: the result future's error type. */
static void child_ends(void **state, int end, bool started, const char *type) {
  fixture_t *fx = *state;
  kids_history(&fx->h, end, started);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_int_equal(kid_result_rc, TWE_EFAILED);
  assert_string_equal(kid_error, type);
}

static void test_child_failed(void **state) {
  child_ends(state, EV(CHILD_WORKFLOW_EXECUTION_FAILED), true, "KidFailed");
}
static void test_child_canceled(void **state) {
  child_ends(state, EV(CHILD_WORKFLOW_EXECUTION_CANCELED), true, "CanceledError");
}
static void test_child_timed_out(void **state) {
  child_ends(state, EV(CHILD_WORKFLOW_EXECUTION_TIMED_OUT), true, "TimeoutError");
}
static void test_child_terminated(void **state) {
  child_ends(state, EV(CHILD_WORKFLOW_EXECUTION_TERMINATED), true, "TerminatedError");
}
static void test_child_start_failed(void **state) {
  child_ends(state, EV(START_CHILD_WORKFLOW_EXECUTION_FAILED), false, "StartChildWorkflowFailed");
  assert_int_equal(kid_start_rc, TWE_EFAILED);
}

/* Cancelled before its start went out: nothing goes out at all. */
static void test_child_cancel_unsent(void **state) {
  fixture_t *fx = *state;
  h_started(&fx->h, "Kids", NULL);
  h_task(&fx->h);
  kid_cancel = true;
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_string_equal(kid_error, "CanceledError");
}

/* Cancelled once started: a cancel request goes to the child (child only),
 * and the parent waits for how it ends. */
static void test_child_cancel_started(void **state) {
  fixture_t *fx = *state;
  kids_history(&fx->h, 0, true);
  kid_cancel_started = true;
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, fx->h.n), 0);
  assert_commands(&fx->out, 1, CMD(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION));
  const Temporal__Api__Command__V1__RequestCancelExternalWorkflowExecutionCommandAttributes *a =
      fx->out.commands[0]->request_cancel_external_workflow_execution_command_attributes;
  assert_string_equal(a->workflow_id, "kid");
  assert_string_equal(a->run_id, "kid-run");
  assert_true(a->child_workflow_only);
}

/* The other cancellation types of a started child: try and abandon fail
 * the result at once (try asks the child, abandon does not); wait
 * requested fails it once the request reached the child. */
static void test_child_cancel_types(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  kid_cancel_started = true;
  const struct {
    enum twe_child_cancellation_type type;
    bool asks, waits;
  } cases[] = {{TWE_CHILD_CANCEL_TRY, true, false},
               {TWE_CHILD_CANCEL_ABANDON, false, false},
               {TWE_CHILD_CANCEL_WAIT_REQUESTED, true, true}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(h->ev, 0, sizeof h->ev);
    h->n = 0;
    kids_history(h, 0, true);
    kid_ctype = cases[i].type;
    kid_error[0] = 0;
    twe__run_destroy(fx->run);
    fx->run = new_run(fx);
    assert_int_equal(fx_apply(fx, 0, h->n), 0);
    size_t n = (size_t)cases[i].asks + !cases[i].waits;
    assert_int_equal(fx->out.n_commands, n);
    if (cases[i].asks)
      assert_int_equal(fx->out.commands[0]->command_type,
                       CMD(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION));
    if (!cases[i].waits) {
      assert_string_equal(kid_error, "CanceledError");
      continue;
    }
    assert_string_equal(kid_error, "");
    size_t from = h->n;
    h_task_completed(h);
    int64_t init = h_external_initiated(h, false, "kid", NULL);
    h_external_done(h, false, init, true);
    h_task(h);
    assert_int_equal(fx_apply(fx, from, h->n), 0);
    assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
    assert_string_equal(kid_error, "CanceledError");
  }
  kid_ctype = 0;
}

/* Non-determinism across kinds: a child started where the history has an
 * activity is reported naming the event and the command. */
static void test_child_where_activity(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Kids", NULL);
  h_task(h);
  h_task_completed(h);
  h_act_scheduled(h, "1", "A");
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), TWE_ENONDETERMINISM);
  if (!strstr(fx->out.message, "history event 5 ACTIVITY_TASK_SCHEDULED (activity id \"1\", type "
                                 "\"A\") does not match the command the code produced: "
                                 "START_CHILD_WORKFLOW_EXECUTION"))
    fail_msg("message: %s", fx->out.message);
}

/* --- coverage ------------------------------------------------------------------------- */

/* The kinds this file covers (test_machines_markers.c covers the rest). */
static const char *const kinds[] = {
    "activity",      "timer",           "complete workflow", "fail workflow",
    "update",        "cancel workflow", "continue as new",   "upsert search attributes",
    "patch",         "signal external", "cancel external",   "side effect",
    "child workflow",
};

static void test_every_row_reached(void **state) {
  (void)state;
  int n = twe__machine_rows_unreached(stderr, kinds, sizeof kinds / sizeof kinds[0]);
  if (n == -ENOTSUP) {
    fprintf(stderr, "built without TWE_MACHINE_COVERAGE: rows not counted\n");
    skip();
  }
  if (n > 0) fprintf(stderr, "%d row(s) above were reached by no test\n", n);
  assert_int_equal(n, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_activity_live_completes),
      T(test_activity_replay_fails),
      T(test_fail_workflow_live),
      T(test_activity_timed_out_scheduled),
      T(test_activity_timed_out_started),
      T(test_activity_event_after_end_is_nondeterminism),
      T(test_activity_cancel_before_sent),
      T(test_activity_cancel_try),
      T(test_activity_cancel_wait),
      T(test_activity_cancel_wait_but_failed),
      T(test_activity_cancel_wait_but_timed_out),
      T(test_activity_abandon_completed),
      T(test_activity_abandon_failed),
      T(test_activity_abandon_timed_out),
      T(test_workflow_cancel),
      T(test_continue_as_new),
      T(test_patch_live_and_replayed),
      T(test_patch_old_history),
      T(test_patch_deprecated),
      T(test_external_live),
      T(test_external_failed_replayed),
      T(test_side_effect),
      T(test_child_live_completed),
      T(test_child_failed),
      T(test_child_canceled),
      T(test_child_timed_out),
      T(test_child_terminated),
      T(test_child_start_failed),
      T(test_child_cancel_unsent),
      T(test_child_cancel_started),
      T(test_child_cancel_types),
      T(test_child_where_activity),
      T(test_timer_live_fires),
      T(test_timer_replay_fires),
      T(test_timer_cancel_before_sent),
      T(test_timer_cancel_live),
      T(test_timer_cancel_replay),
      T(test_timer_cancel_missing_is_nondeterminism),
      T(test_update_done_in_one_task),
      T(test_update_replayed),
      T(test_update_completed_later),
      T(test_update_rejected_and_failed),
      /* Last: after every other test ran its rows. */
      cmocka_unit_test(test_every_row_reached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
