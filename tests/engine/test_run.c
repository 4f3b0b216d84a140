/* tests/engine/test_run.c — workflow runs without a server: synthetic
 * histories built in C are applied to runs of small registered workflows,
 * and the commands, replays and non-determinism reports are checked. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/workflow/run.h"
#include "engine/values.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x
#define CAUSE(x) \
  TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_##x
#define FAILURE_INFO(x) TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_##x##_FAILURE_INFO
#define NS 1000000000LL

#include "tests/engine/hist.h"

/* --- workflows ---------------------------------------------------------------------- */

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};
static int invocations; /* how many times a workflow function began */

static void complete_json(twe_workflow_t *wf, const char *fmt, ...) {
  char *buf = twe_workflow_alloc(wf, 256);
  assert_non_null(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, 256, fmt, ap);
  va_end(ap);
  twe_payload_t p = twe_payload_json(buf);
  assert_int_equal(twe_workflow_complete(wf, &p), 0);
}

/* Greet(input) and completes with its result. */
static void wf_one_activity(twe_workflow_t *wf, void *user) {
  (void)user;
  invocations++;
  twe_payload_t arg, result;
  assert_int_equal(twe_workflow_arg(wf, 0, &arg), 0);
  int rc = twe_workflow_execute_activity(wf, "Greet", &opts, &arg, 1, &result, NULL);
  assert_int_equal(rc, 0);
  twe_workflow_complete(wf, &result);
}

/* 3 activities in sequence, then 10 at once; completes with the count of
 * successes and the last sequential result. */
static void wf_fanout(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t last = twe_payload_null();
  for (int i = 0; i < 3; i++)
    assert_int_equal(twe_workflow_execute_activity(wf, "Step", &opts, NULL, 0, &last, NULL), 0);
  twe_future_t *fs[10];
  for (int i = 0; i < 10; i++) {
    fs[i] = NULL;
    assert_int_equal(twe_workflow_start_activity(wf, "Par", &opts, NULL, 0, &fs[i]), 0);
    assert_non_null(fs[i]);
  }
  assert_int_equal(twe_future_wait_all(wf, fs, 10), 0);
  int ok = 0;
  for (int i = 0; i < 10; i++) ok += twe_future_ready(fs[i]) && twe_future_result(fs[i], NULL) == 0;
  complete_json(wf, "{\"ok\":%d,\"last\":%.*s}", ok, (int)last.len, (const char *)last.data);
}

/* Starts A and B, completes with the index wait_any gives. */
static void wf_any(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *fs[2];
  assert_int_equal(twe_workflow_start_activity(wf, "A", &opts, NULL, 0, &fs[0]), 0);
  assert_int_equal(twe_workflow_start_activity(wf, "B", &opts, NULL, 0, &fs[1]), 0);
  size_t i = twe_future_wait_any(wf, fs, 2);
  assert_true(twe_future_ready(fs[i]));
  complete_json(wf, "%zu", i);
}

/* Sleeps 1.5 s (a 1500 ms timer), completes with the time it woke up. */
static void wf_timer(twe_workflow_t *wf, void *user) {
  (void)user;
  assert_int_equal(twe_workflow_sleep(wf, 1500000000ull), 0);
  complete_json(wf, "%lld", (long long)twe_workflow_now(wf));
}

/* Runs "Risky" and fails the workflow with the error it gets. */
static void wf_fail_on_activity(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_error_info_t err;
  int rc = twe_workflow_execute_activity(wf, "Risky", &opts, NULL, 0, NULL, &err);
  assert_int_equal(rc, TWE_EFAILED);
  twe_workflow_fail(wf, &err);
}

/* The same workflow type, changed: what the user passes says what it runs. */
typedef enum variant {
  V_ACTIVITY_A,
  V_ACTIVITY_B,
  V_ACTIVITY_A_OWN_ID, /* A with the activity id "mine" chosen by the code */
  V_TIMER,
  V_TWO,
  V_NOTHING
} variant_t;
static variant_t variant;
static void wf_variant(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *f = NULL, *g = NULL;
  switch (variant) {
    case V_ACTIVITY_A: twe_workflow_start_activity(wf, "A", &opts, NULL, 0, &f); break;
    case V_ACTIVITY_B: twe_workflow_start_activity(wf, "B", &opts, NULL, 0, &f); break;
    case V_ACTIVITY_A_OWN_ID: {
      twe_activity_options_t own = opts;
      own.activity_id = "mine";
      twe_workflow_start_activity(wf, "A", &own, NULL, 0, &f);
      break;
    }
    case V_TIMER: twe_workflow_start_timer(wf, NS, &f); break;
    case V_TWO:
      twe_workflow_start_activity(wf, "A", &opts, NULL, 0, &f);
      twe_workflow_start_activity(wf, "B", &opts, NULL, 0, &g);
      break;
    case V_NOTHING: break;
  }
  if (f) twe_future_wait(wf, f);
  if (g) twe_future_wait(wf, g);
}

/* Time and randomness, before and after an activity. */
static void wf_clock(twe_workflow_t *wf, void *user) {
  (void)user;
  int64_t t1 = twe_workflow_now(wf);
  uint64_t r1 = twe_workflow_random(wf);
  assert_int_equal(twe_workflow_execute_activity(wf, "A", &opts, NULL, 0, NULL, NULL), 0);
  int64_t t2 = twe_workflow_now(wf);
  uint64_t r2 = twe_workflow_random(wf);
  complete_json(wf, "[%lld,%llu,%lld,%llu,%d]", (long long)t1, (unsigned long long)r1,
                (long long)t2, (unsigned long long)r2, (int)twe_workflow_is_replaying(wf));
}

/* Checks what a start_activity call refuses, then ends. */
static int validation_rc[4];
static void wf_validation(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_activity_options_t none = {0};
  /* A failed call sets *out to NULL: start each from something else. */
  static char not_null;
  twe_future_t *const poison = (twe_future_t *)(void *)&not_null;
  twe_future_t *f = poison;
  validation_rc[0] = twe_workflow_start_activity(wf, "", &opts, NULL, 0, &f);
  assert_null(f);
  f = poison;
  validation_rc[1] = twe_workflow_start_activity(wf, "A", &none, NULL, 0, &f);
  assert_null(f);
  f = poison;
  validation_rc[2] = twe_workflow_start_activity(wf, "A", NULL, NULL, 0, &f);
  assert_null(f);
  f = poison;
  validation_rc[3] = twe_workflow_start_timer(wf, 0, &f);
  assert_null(f);
  /* Failed calls use no sequence number: this one is "1". */
  twe_activity_options_t s2c = {.schedule_to_close_timeout_ns = NS, .heartbeat_timeout_ns = NS};
  assert_int_equal(twe_workflow_start_activity(wf, "A", &s2c, NULL, 0, &f), 0);
  assert_non_null(f);
}

/* --- fixture ------------------------------------------------------------------------ */

static int setup(void **state) {
  fixture_t *fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "OneActivity", wf_one_activity, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Fanout", wf_fanout, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Any", wf_any, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Timer", wf_timer, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "FailOnActivity", wf_fail_on_activity,
                                              NULL),
                   0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Variant", wf_variant, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Clock", wf_clock, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Validation", wf_validation, NULL), 0);
  invocations = 0;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

/* The OneActivity history up to its second task: events 1..9. */
static void one_activity_history(hist_t *h, const char *input, const char *result) {
  h_started(h, "OneActivity", input); /* 1 */
  h_task(h);                          /* 2, 3 */
  h_task_completed(h);                /* 4 */
  int64_t s = h_act_scheduled(h, "1", "Greet"); /* 5 */
  h_act_done(h, s, result);                     /* 6, 7 */
  h_task(h);                                    /* 8, 9 */
}

/* --- tests: the happy paths ------------------------------------------------------------ */

static void test_twe__run_apply_one_activity(void **state) {
  fixture_t *fx = *state;
  one_activity_history(&fx->h, "\"Ann\"", "\"Hello, Ann\"");
  fx->run = new_run(fx);

  /* Task 1 (events 1-3): the activity is scheduled. */
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  assert_false(fx->out.replay_only);
  assert_false(fx->out.closes_workflow);
  assert_int_equal(fx->out.n_commands, 1);
  const twe_command_pb_t *c = cmd(&fx->out, 0);
  assert_schedules(c, "1", "Greet");
  const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
      c->schedule_activity_task_command_attributes;
  assert_string_equal(a->task_queue->name, "tq");
  assert_int_equal(a->task_queue->kind,
                   TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL);
  assert_payload_json(a->input, "\"Ann\"");
  assert_non_null(a->start_to_close_timeout);
  assert_int_equal(a->start_to_close_timeout->seconds, 10);
  assert_null(a->schedule_to_close_timeout);
  assert_false(a->request_eager_execution);
  assert_int_equal(twe__run_last_started_event_id(fx->run), 3);
  assert_int_equal(twe__run_next_event_id(fx->run), 4);
  assert_string_equal(twe__run_workflow_type(fx->run), "OneActivity");
  assert_string_equal(twe__run_id(fx->run), "run-1");
  assert_true(twe__run_memory(fx->run) > 0);

  /* Task 2 (events 4-9): the result comes back, the workflow completes. */
  assert_int_equal(apply(fx, fx->run, 3, 9, &fx->out), 0);
  assert_completes_with(&fx->out, "\"Hello, Ann\"");
  assert_int_equal(invocations, 1);
}

static void test_twe__run_apply_full_replay_same_outcome(void **state) {
  fixture_t *fx = *state;
  one_activity_history(&fx->h, "\"Ann\"", "\"Hello, Ann\"");
  h_task_completed(&fx->h);     /* 10 */
  h_workflow_completed(&fx->h); /* 11 */

  /* The closed workflow's whole history: nothing to answer, no error. */
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, fx->h.n, &fx->out), 0);
  assert_true(fx->out.replay_only);
  assert_int_equal(fx->out.n_commands, 0);
  assert_int_equal(twe__run_next_event_id(fx->run), 12);

  /* Up to the last task in one apply: the same answer as task by task. */
  twe_run_t *fresh = new_run(fx);
  twe_run_outcome_t out;
  assert_int_equal(apply(fx, fresh, 0, 9, &out), 0);
  assert_completes_with(&out, "\"Hello, Ann\"");
  twe__run_destroy(fresh);
}

static void test_twe__run_apply_sticky_equals_fresh(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  /* Fanout: 3 sequential activities (a task each), then 10 in parallel. */
  h_started(h, "Fanout", NULL);
  size_t task_ends[16], nt = 0;
  h_task(h);
  task_ends[nt++] = h->n;
  char result[16];
  for (int i = 0; i < 3; i++) {
    h_task_completed(h);
    char id[8];
    snprintf(id, sizeof id, "%d", i + 1);
    int64_t s = h_act_scheduled(h, id, "Step");
    snprintf(result, sizeof result, "%d", 100 + i);
    h_act_done(h, s, result);
    h_task(h);
    task_ends[nt++] = h->n;
  }
  h_task_completed(h);
  int64_t sched[10];
  for (int i = 0; i < 10; i++) {
    char id[8];
    snprintf(id, sizeof id, "%d", i + 4);
    sched[i] = h_act_scheduled(h, id, "Par");
  }
  /* Results arrive out of order, over two tasks. */
  for (int i = 9; i >= 5; i--) h_act_done(h, sched[i], "true");
  h_task(h);
  task_ends[nt++] = h->n;
  h_task_completed(h);
  for (int i = 0; i < 5; i++) h_act_done(h, sched[i], "true");
  h_task(h);
  task_ends[nt++] = h->n;

  /* Sticky: fed task by task, like a cached run. */
  fx->run = new_run(fx);
  size_t from = 0;
  twe_run_outcome_t outs[16];
  for (size_t t = 0; t < nt; t++) {
    assert_int_equal(apply(fx, fx->run, from, task_ends[t], &outs[t]), 0);
    from = task_ends[t];
  }
  for (int t = 0; t < 3; t++) {
    assert_int_equal(outs[t].n_commands, 1);
    char id[8];
    snprintf(id, sizeof id, "%d", t + 1);
    assert_schedules(cmd(&outs[t], 0), id, "Step");
  }
  assert_int_equal(outs[3].n_commands, 10);
  for (int i = 0; i < 10; i++) {
    char id[8];
    snprintf(id, sizeof id, "%d", i + 4);
    assert_schedules(cmd(&outs[3], (size_t)i), id, "Par");
  }
  assert_int_equal(outs[4].n_commands, 0); /* half the results: still waiting */
  assert_false(outs[4].closes_workflow);
  assert_completes_with(&outs[5], "{\"ok\":10,\"last\":102}");

  /* Stowed between its tasks (as the cache does to an idle run), a run
   * gives the same answers: wf_fanout's futures array is on its stack, and
   * the stack is back where it was when the results come. */
  twe_run_t *stowed = new_run(fx);
  from = 0;
  for (size_t t = 0; t < nt; t++) {
    twe_run_outcome_t out;
    assert_int_equal(apply(fx, stowed, from, task_ends[t], &out), 0);
    from = task_ends[t];
    assert_true(same_commands(&out, &outs[t]));
    assert_int_equal(out.closes_workflow, outs[t].closes_workflow);
    if (out.closes_workflow) break;
    size_t before = twe__run_memory(stowed);
    assert_true(twe__run_stow(stowed));
    assert_true(twe__run_stow(stowed)); /* again: nothing more to do */
    size_t after = twe__run_memory(stowed);
    assert_true(after < before && before - after >= 2048);
  }
  twe__run_destroy(stowed);

  /* Fresh runs fed everything up to each task give the same answers. */
  for (size_t t = 0; t < nt; t++) {
    twe_run_t *fresh = new_run(fx);
    twe_run_outcome_t out;
    assert_int_equal(apply(fx, fresh, 0, task_ends[t], &out), 0);
    assert_true(same_commands(&out, &outs[t]));
    assert_int_equal(out.closes_workflow, outs[t].closes_workflow);
    twe__run_destroy(fresh);
  }
}

static void test_twe_future_wait_any_first_completed(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Any", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t a = h_act_scheduled(h, "1", "A");
  int64_t b = h_act_scheduled(h, "2", "B");
  h_act_done(h, b, "\"b\""); /* B first */
  h_task(h);
  size_t first_task = h->n;
  h_task_completed(h);
  h_act_done(h, a, "\"a\""); /* later: not applied */

  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 2);
  assert_schedules(cmd(&fx->out, 0), "1", "A");
  assert_schedules(cmd(&fx->out, 1), "2", "B");
  assert_int_equal(apply(fx, fx->run, 3, first_task, &fx->out), 0);
  assert_completes_with(&fx->out, "1");
}

static void test_twe_workflow_sleep_timer(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Timer", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t t = h_timer_started(h, "1");
  h_timer_fired(h, t, "1");
  int64_t last = h_task(h);

  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 1);
  const twe_command_pb_t *c = cmd(&fx->out, 0);
  assert_int_equal(c->command_type, CMD(START_TIMER));
  assert_string_equal(c->start_timer_command_attributes->timer_id, "1");
  assert_int_equal(c->start_timer_command_attributes->start_to_fire_timeout->seconds, 1);
  assert_int_equal(c->start_timer_command_attributes->start_to_fire_timeout->nanos, 500000000);
  assert_int_equal(apply(fx, fx->run, 3, h->n, &fx->out), 0);
  char expect[32];
  snprintf(expect, sizeof expect, "%lld", (long long)(T0 + last * NS));
  assert_completes_with(&fx->out, expect);
}

static void test_twe__run_apply_activity_failure_fails_workflow(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "FailOnActivity", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "Risky");
  /* As the server records it when wrapped: an ActivityFailure whose cause
   * is what the activity raised. */
  twe_failure_pb_t *outer = app_failure(h, "", "activity error", false);
  Temporal__Api__Failure__V1__ActivityFailureInfo *info = halloc(h, sizeof *info);
  temporal__api__failure__v1__activity_failure_info__init(info);
  outer->failure_info_case = FAILURE_INFO(ACTIVITY);
  outer->activity_failure_info = info;
  outer->cause = app_failure(h, "Bad", "no good", true);
  h_act_failed(h, s, outer);
  h_task(h);

  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 1);
  assert_true(fx->out.closes_workflow);
  const twe_command_pb_t *c = cmd(&fx->out, 0);
  assert_int_equal(c->command_type, CMD(FAIL_WORKFLOW_EXECUTION));
  const twe_failure_pb_t *f = c->fail_workflow_execution_command_attributes->failure;
  assert_string_equal(f->message, "no good");
  assert_int_equal(f->failure_info_case,
                   FAILURE_INFO(APPLICATION));
  assert_string_equal(f->application_failure_info->type, "Bad");
  assert_true(f->application_failure_info->non_retryable);
}

static void test_twe__run_apply_deterministic_time_and_random(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Clock", NULL);
  int64_t t1 = h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  h_act_done(h, s, "null");
  int64_t t2 = h_task(h);

  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  assert_int_equal(apply(fx, fx->run, 3, h->n, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 1);
  const Temporal__Api__Common__V1__Payloads *r =
      cmd(&fx->out, 0)->complete_workflow_execution_command_attributes->result;
  char first[256];
  snprintf(first, sizeof first, "%.*s", (int)r->payloads[0]->data.len,
           (const char *)r->payloads[0]->data.data);
  long long a1, a2;
  unsigned long long r1, r2;
  int replaying;
  assert_int_equal(sscanf(first, "[%lld,%llu,%lld,%llu,%d]", &a1, &r1, &a2, &r2, &replaying), 5);
  assert_int_equal(a1, T0 + t1 * NS); /* the time of each task's WORKFLOW_TASK_STARTED */
  assert_int_equal(a2, T0 + t2 * NS);
  assert_true(r1 != r2);
  assert_int_equal(replaying, 0);

  /* Replayed from scratch (another run id, same original run id): the
   * same values. */
  twe_run_t *fresh = NULL;
  assert_int_equal(twe__run_create(&fx->env, "wf-1", "another-run", &fresh), 0);
  twe_run_outcome_t out;
  assert_int_equal(apply(fx, fresh, 0, h->n, &out), 0);
  assert_true(same_commands(&out, &fx->out));
  twe__run_destroy(fresh);
}

static void test_twe__run_apply_task_failed_is_skipped(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "OneActivity", "\"x\"");
  h_task(h);          /* 2, 3 */
  h_task_failed(h);   /* 4 */
  int64_t last = h_task(h); /* 5, 6 */
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), 0);
  assert_int_equal(invocations, 1); /* the failed task did not run the code */
  assert_int_equal(fx->out.n_commands, 1);
  assert_schedules(cmd(&fx->out, 0), "1", "Greet");
  assert_int_equal(twe__run_last_started_event_id(fx->run), last);
}

static void test_twe_workflow_start_activity_validation(void **state) {
  fixture_t *fx = *state;
  h_started(&fx->h, "Validation", NULL);
  h_task(&fx->h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, fx->h.n, &fx->out), 0);
  assert_int_equal(validation_rc[0], -EINVAL); /* empty type */
  assert_int_equal(validation_rc[1], -EINVAL); /* no timeout */
  assert_int_equal(validation_rc[2], -EINVAL); /* no options */
  assert_int_equal(validation_rc[3], -EINVAL); /* zero timer */
  assert_int_equal(fx->out.n_commands, 2);
  assert_schedules(cmd(&fx->out, 0), "1", "A");
  const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
      cmd(&fx->out, 0)->schedule_activity_task_command_attributes;
  assert_int_equal(a->schedule_to_close_timeout->seconds, 1);
  assert_int_equal(a->heartbeat_timeout->seconds, 1);
  assert_null(a->start_to_close_timeout);
  /* The function returned without a result: completes with binary/null. */
  const twe_command_pb_t *c = cmd(&fx->out, 1);
  assert_int_equal(c->command_type, CMD(COMPLETE_WORKFLOW_EXECUTION));
  const twe_payload_pb_t *p =
      c->complete_workflow_execution_command_attributes->result->payloads[0];
  assert_int_equal(twe__payload_encoding(p), TWE_PAYLOAD_NULL);
  assert_true(fx->out.closes_workflow);
}

/* --- tests: what fails the task ---------------------------------------------------------- */

static void assert_nondeterminism(const twe_run_outcome_t *out, int rc) {
  assert_int_equal(rc, TWE_ENONDETERMINISM);
  assert_int_equal(out->status, TWE_ENONDETERMINISM);
  assert_int_equal(out->cause,
                   CAUSE(NON_DETERMINISTIC_ERROR));
  assert_int_equal(out->n_commands, 0);
  assert_non_null(strstr(out->message, "non-deterministic workflow \"Variant\" (run run-1): "));
}

/* History of Variant recorded by V_ACTIVITY_A: A scheduled as event 5. */
static void variant_a_history(hist_t *h) {
  h_started(h, "Variant", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "A");
  h_act_done(h, s, "1");
  h_task(h);
}

static void test_twe__run_apply_nondeterminism_activity_type(void **state) {
  fixture_t *fx = *state;
  variant_a_history(&fx->h);
  variant = V_ACTIVITY_B;
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_string_equal(fx->out.message,
                      "non-deterministic workflow \"Variant\" (run run-1): history event 5 "
                      "ACTIVITY_TASK_SCHEDULED (activity id \"1\", type \"A\") does not match the "
                      "command the code produced: SCHEDULE_ACTIVITY_TASK (activity id \"1\", type "
                      "\"B\")");
  /* The run stays failed. */
  twe_run_outcome_t again;
  assert_int_equal(apply(fx, fx->run, 0, 0, &again), TWE_ENONDETERMINISM);
}

/* History of Variant with one activity A (id `id`) or one timer (id `id`),
 * as another SDK may have numbered them. */
static void variant_one_command_history(hist_t *h, bool timer, const char *id) {
  h_started(h, "Variant", NULL);
  h_task(h);
  h_task_completed(h);
  if (timer) {
    int64_t t = h_timer_started(h, id);
    h_timer_fired(h, t, id);
  } else {
    int64_t s = h_act_scheduled(h, id, "A");
    h_act_done(h, s, "1");
  }
  h_task(h);
}

/* An id twe generated is a position, not a key: a history whose SDK
 * numbered activities and timers otherwise (the Go SDK uses the event id
 * it expects: "5") replays. */
static void test_twe__run_apply_generated_ids_not_compared(void **state) {
  fixture_t *fx = *state;
  variant_one_command_history(&fx->h, false, "5");
  variant = V_ACTIVITY_A;
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, fx->h.n, &fx->out), 0);
  assert_int_equal(fx->out.status, 0);
  twe__run_destroy(fx->run);
  fx->run = NULL;

  hist_t *h = &fx->h;
  h->n = 0;
  variant_one_command_history(h, true, "5");
  variant = V_TIMER;
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), 0);
  assert_int_equal(fx->out.status, 0);
}

/* An activity id the code chose is a key: another id in the history is
 * non-determinism; the same id replays. */
static void test_twe__run_apply_nondeterminism_own_activity_id(void **state) {
  fixture_t *fx = *state;
  variant_one_command_history(&fx->h, false, "other");
  variant = V_ACTIVITY_A_OWN_ID;
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_non_null(strstr(fx->out.message, "(activity id \"other\", type \"A\") does not match"));
  assert_non_null(strstr(fx->out.message, "(activity id \"mine\", type \"A\")"));
  twe__run_destroy(fx->run);
  fx->run = NULL;

  hist_t *h = &fx->h;
  h->n = 0;
  variant_one_command_history(h, false, "mine");
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), 0);
  assert_int_equal(fx->out.status, 0);
}

static void test_twe__run_apply_nondeterminism_timer_for_activity(void **state) {
  fixture_t *fx = *state;
  variant_a_history(&fx->h);
  variant = V_TIMER;
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_non_null(strstr(fx->out.message, "history event 5 ACTIVITY_TASK_SCHEDULED"));
  assert_non_null(strstr(fx->out.message, "START_TIMER (timer id \"1\")"));
}

static void test_twe__run_apply_nondeterminism_missing_command(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  /* Recorded by V_TWO: A and B scheduled in one task. */
  h_started(h, "Variant", NULL);
  h_task(h);
  h_task_completed(h);
  h_act_scheduled(h, "1", "A");
  h_act_scheduled(h, "2", "B");
  h_task(h);
  variant = V_ACTIVITY_A; /* the code no longer schedules B */
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, h->n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_string_equal(fx->out.message,
                      "non-deterministic workflow \"Variant\" (run run-1): history has event 6 "
                      "ACTIVITY_TASK_SCHEDULED (activity id \"2\", type \"B\") but the code "
                      "produced no command");
}

static void test_twe__run_apply_nondeterminism_code_completes_instead(void **state) {
  fixture_t *fx = *state;
  variant_a_history(&fx->h);
  variant = V_NOTHING; /* the code no longer schedules A: it just returns */
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_non_null(strstr(fx->out.message, "history event 5 ACTIVITY_TASK_SCHEDULED (activity id "
                                          "\"1\", type \"A\") does not match the command the "
                                          "code produced: COMPLETE_WORKFLOW_EXECUTION"));
}

static void test_twe__run_apply_nondeterminism_extra_command(void **state) {
  fixture_t *fx = *state;
  variant_a_history(&fx->h);
  variant = V_TWO; /* the code now also schedules B */
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_string_equal(fx->out.message,
                      "non-deterministic workflow \"Variant\" (run run-1): the code produced "
                      "SCHEDULE_ACTIVITY_TASK (activity id \"2\", type \"B\") but the history has "
                      "no matching event after event 5");
}

static void test_twe__run_apply_nondeterminism_sticky(void **state) {
  fixture_t *fx = *state;
  variant_a_history(&fx->h);
  /* The cached run answered task 1 with A; the history then says B. */
  fx->h.ev[4]->activity_task_scheduled_event_attributes->activity_type->name = "B";
  variant = V_ACTIVITY_A;
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  int rc = apply(fx, fx->run, 3, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_non_null(strstr(fx->out.message, "type \"B\") does not match"));
}

static void test_twe__run_apply_nondeterminism_unknown_follow_up(void **state) {
  fixture_t *fx = *state;
  variant_a_history(&fx->h);
  /* ACTIVITY_TASK_STARTED (event 6) names a scheduled event that is not
   * an activity. */
  fx->h.ev[5]->activity_task_started_event_attributes->scheduled_event_id = 4;
  variant = V_ACTIVITY_A;
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_non_null(strstr(fx->out.message,
                         "history event 6 ACTIVITY_TASK_STARTED refers to scheduled event 4, "
                         "which is not an open activity of this run"));
}

static void test_twe__run_apply_nondeterminism_bad_transition(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Variant", NULL);
  h_task(h);
  h_task_completed(h);
  h_act_scheduled(h, "1", "A");
  /* Completed with no ACTIVITY_TASK_STARTED before it. */
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_COMPLETED));
  Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_completed_event_attributes__init(a);
  a->scheduled_event_id = 5;
  e->attributes_case = HATTR(ACTIVITY_TASK_COMPLETED);
  e->activity_task_completed_event_attributes = a;
  h_task(h);
  variant = V_ACTIVITY_A;
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, h->n, &fx->out);
  assert_nondeterminism(&fx->out, rc);
  assert_non_null(strstr(fx->out.message,
                         "history event 6 ACTIVITY_TASK_COMPLETED is not valid in state "
                         "SCHEDULED of the activity machine"));
}

static void test_twe__run_apply_unregistered_type(void **state) {
  fixture_t *fx = *state;
  h_started(&fx->h, "Foo", NULL);
  h_task(&fx->h);
  fx->run = new_run(fx);
  int rc = apply(fx, fx->run, 0, fx->h.n, &fx->out);
  assert_int_equal(rc, TWE_ENOTREGISTERED);
  assert_int_equal(fx->out.cause,
                   CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE));
  assert_string_equal(fx->out.message,
                      "workflow type \"Foo\" is not registered on this worker (registered: Any, "
                      "Clock, FailOnActivity, Fanout, OneActivity, Timer, Validation, Variant)");
}

static void test_twe__run_apply_invalid_json_input_fails_workflow(void **state) {
  fixture_t *fx = *state;
  h_started(&fx->h, "OneActivity", "{\"name\": ");
  h_task(&fx->h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, fx->h.n, &fx->out), 0);
  assert_int_equal(invocations, 0); /* the code never ran */
  assert_int_equal(fx->out.n_commands, 1);
  assert_true(fx->out.closes_workflow);
  const twe_command_pb_t *c = cmd(&fx->out, 0);
  assert_int_equal(c->command_type, CMD(FAIL_WORKFLOW_EXECUTION));
  const twe_failure_pb_t *f = c->fail_workflow_execution_command_attributes->failure;
  assert_string_equal(f->application_failure_info->type, "twe.InvalidArgument");
  assert_true(f->application_failure_info->non_retryable);
  assert_non_null(strstr(f->message, "workflow input 1 is not valid JSON: "));

  /* Replayed: the history shows the failure; the same command pairs with it. */
  hist_t *h = &fx->h;
  h_task_completed(h);
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_FAILED));
  Temporal__Api__History__V1__WorkflowExecutionFailedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_failed_event_attributes__init(a);
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_FAILED);
  e->workflow_execution_failed_event_attributes = a;
  twe_run_t *fresh = new_run(fx);
  twe_run_outcome_t out;
  assert_int_equal(apply(fx, fresh, 0, h->n, &out), 0);
  assert_true(out.replay_only);
  twe__run_destroy(fresh);
}

static void test_twe__run_apply_non_contiguous_ids(void **state) {
  fixture_t *fx = *state;
  one_activity_history(&fx->h, "\"Ann\"", "\"hi\"");
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  /* Event 4 is missing. */
  int rc = apply(fx, fx->run, 4, 9, &fx->out);
  assert_int_equal(rc, TWE_EDECODE);
  assert_int_equal(fx->out.status, TWE_EDECODE);
  assert_non_null(strstr(fx->out.message, "expected event 4, got event 5"));
}

static void test_twe__run_apply_must_begin_with_started(void **state) {
  fixture_t *fx = *state;
  one_activity_history(&fx->h, "\"Ann\"", "\"hi\"");
  fx->h.ev[0]->event_type = EV(WORKFLOW_TASK_SCHEDULED);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), TWE_EDECODE);
  assert_non_null(strstr(fx->out.message, "must begin with WORKFLOW_EXECUTION_STARTED"));
}

static void test_twe__run_apply_stale_after_failed_answer(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "OneActivity", "\"x\"");
  h_task(h);        /* answered by the cached run */
  h_task_failed(h); /* ... but the server failed that task */
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, 3, &fx->out), 0);
  assert_int_equal(apply(fx, fx->run, 3, h->n, &fx->out), -ESTALE);
  assert_int_equal(fx->out.cause,
                   CAUSE(RESET_STICKY_TASK_QUEUE));
}

static void test_twe__run_apply_ignores_update_admitted(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "OneActivity", "\"x\"");
  add(h, EV(WORKFLOW_EXECUTION_UPDATE_ADMITTED));
  add(h, EV(WORKFLOW_EXECUTION_UPDATE_ADMITTED));
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 1);
  assert_int_equal(twe__run_ignored_events(fx->run), 2);
}

/* An event type the engine does not know fails the task, naming it;
 * marked worker_may_ignore, it is passed by. */
static void test_twe__run_apply_unknown_event_type(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "OneActivity", "\"x\"");
  twe_event_pb_t *odd = add(h, 9999);
  h_task(h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), TWE_EDECODE);
  assert_int_equal(fx->out.cause, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE));
  assert_non_null(strstr(fx->out.message, "event 2 has type"));
  assert_non_null(strstr(fx->out.message, "(9999)"));
  assert_non_null(strstr(fx->out.message, "not marked worker_may_ignore"));
  twe__run_destroy(fx->run);

  odd->worker_may_ignore = true;
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, h->n, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 1);
  assert_int_equal(twe__run_ignored_events(fx->run), 1);
}

static void test_twe__run_destroy_abandons_suspended_fiber(void **state) {
  fixture_t *fx = *state;
  one_activity_history(&fx->h, "\"Ann\"", "\"hi\"");
  twe_run_t *run = new_run(fx);
  assert_int_equal(apply(fx, run, 0, 3, &fx->out), 0);
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(fx->pool, &st);
  assert_int_equal(st.stacks_in_use, 1); /* suspended in execute_activity */
  twe__run_destroy(run);
  twe__fiber_pool_stats(fx->pool, &st);
  assert_int_equal(st.stacks_in_use, 0);
  twe__run_destroy(NULL);

  /* Stowed, it is destroyed the same way, and its stack slot is reused. */
  run = new_run(fx);
  assert_int_equal(apply(fx, run, 0, 3, &fx->out), 0);
  assert_true(twe__run_stow(run));
  twe__run_destroy(run);
  twe__fiber_pool_stats(fx->pool, &st);
  assert_int_equal(st.stacks_in_use, 0);
  run = new_run(fx);
  assert_int_equal(apply(fx, run, 0, 9, &fx->out), 0);
  assert_completes_with(&fx->out, "\"hi\"");
  twe__run_destroy(run);
}

/* Ends a FailOnActivity history (whose activity events the caller added)
 * with a task, runs it, and returns the failure the workflow fails with. */
static const twe_failure_pb_t *fail_on_activity_outcome(fixture_t *fx) {
  h_task(&fx->h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, fx->h.n, &fx->out), 0);
  assert_int_equal(fx->out.n_commands, 1);
  const twe_command_pb_t *c = cmd(&fx->out, 0);
  assert_int_equal(c->command_type, CMD(FAIL_WORKFLOW_EXECUTION));
  return c->fail_workflow_execution_command_attributes->failure;
}

static void test_twe__run_apply_activity_timeout_is_timeout_error(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "FailOnActivity", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "Risky");
  /* Timed out before any worker started it: no ACTIVITY_TASK_STARTED. */
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_TIMED_OUT));
  Temporal__Api__History__V1__ActivityTaskTimedOutEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_timed_out_event_attributes__init(a);
  a->scheduled_event_id = s;
  twe_failure_pb_t *f = halloc(h, sizeof *f);
  temporal__api__failure__v1__failure__init(f);
  f->message = hstr(h, "activity ScheduleToStart timeout");
  Temporal__Api__Failure__V1__TimeoutFailureInfo *ti = halloc(h, sizeof *ti);
  temporal__api__failure__v1__timeout_failure_info__init(ti);
  f->failure_info_case = FAILURE_INFO(TIMEOUT);
  f->timeout_failure_info = ti;
  a->failure = f;
  e->attributes_case = HATTR(ACTIVITY_TASK_TIMED_OUT);
  e->activity_task_timed_out_event_attributes = a;
  const twe_failure_pb_t *out = fail_on_activity_outcome(fx);
  assert_string_equal(out->application_failure_info->type, "TimeoutError");
  assert_string_equal(out->message, "activity ScheduleToStart timeout");
}

static void test_twe__run_apply_activity_bad_json_result_fails_future(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "FailOnActivity", NULL);
  h_task(h);
  h_task_completed(h);
  int64_t s = h_act_scheduled(h, "1", "Risky");
  h_act_done(h, s, "{oops");
  const twe_failure_pb_t *out = fail_on_activity_outcome(fx);
  assert_string_equal(out->application_failure_info->type, "twe.InvalidArgument");
  assert_non_null(
      strstr(out->message, "activity \"Risky\" returned a result that is not valid JSON"));
}

/* Workflow calls outside the run's fiber abort: checked in a child. */
static twe_workflow_t *kept_wf;
static void wf_keep(twe_workflow_t *wf, void *user) {
  (void)user;
  kept_wf = wf;
}

static void test_twe__run_of_outside_fiber_aborts(void **state) {
  fixture_t *fx = *state;
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Keep", wf_keep, NULL), 0);
  h_started(&fx->h, "Keep", NULL);
  h_task(&fx->h);
  fx->run = new_run(fx);
  assert_int_equal(apply(fx, fx->run, 0, fx->h.n, &fx->out), 0);
  assert_non_null(kept_wf);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    (void)twe_workflow_now(kept_wf);
    _exit(0); /* not reached if it aborts */
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_twe__run_apply_one_activity),
      T(test_twe__run_apply_full_replay_same_outcome),
      T(test_twe__run_apply_sticky_equals_fresh),
      T(test_twe_future_wait_any_first_completed),
      T(test_twe_workflow_sleep_timer),
      T(test_twe__run_apply_activity_failure_fails_workflow),
      T(test_twe__run_apply_deterministic_time_and_random),
      T(test_twe__run_apply_task_failed_is_skipped),
      T(test_twe_workflow_start_activity_validation),
      T(test_twe__run_apply_generated_ids_not_compared),
      T(test_twe__run_apply_nondeterminism_own_activity_id),
      T(test_twe__run_apply_nondeterminism_activity_type),
      T(test_twe__run_apply_nondeterminism_timer_for_activity),
      T(test_twe__run_apply_nondeterminism_missing_command),
      T(test_twe__run_apply_nondeterminism_code_completes_instead),
      T(test_twe__run_apply_nondeterminism_extra_command),
      T(test_twe__run_apply_nondeterminism_sticky),
      T(test_twe__run_apply_nondeterminism_unknown_follow_up),
      T(test_twe__run_apply_nondeterminism_bad_transition),
      T(test_twe__run_apply_unregistered_type),
      T(test_twe__run_apply_invalid_json_input_fails_workflow),
      T(test_twe__run_apply_non_contiguous_ids),
      T(test_twe__run_apply_must_begin_with_started),
      T(test_twe__run_apply_stale_after_failed_answer),
      T(test_twe__run_apply_ignores_update_admitted),
      T(test_twe__run_apply_unknown_event_type),
      T(test_twe__run_destroy_abandons_suspended_fiber),
      T(test_twe__run_apply_activity_timeout_is_timeout_error),
      T(test_twe__run_apply_activity_bad_json_result_fails_future),
      T(test_twe__run_of_outside_fiber_aborts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
