/* tests/engine/test_coroutines.c — twe_workflow_go: coroutines of the
 * workflow's own run beside each other, each in its own sequence, their
 * futures carry their results and failures, and a replay from scratch gives
 * the same commands at every task (synthetic histories, no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twe/error.h"
#include "twe/workflow.h"
#include "tests/engine/hist.h"

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};

/* A coroutine (twe_workflow_go): Step1 then Step2 with its name as the
 * argument; "bad" fails at once with HostFailed. */
static int co_host(twe_workflow_t *wf, void *arg, twe_payload_t *result, twe_error_info_t *error) {
  const char *name = arg;
  if (strcmp(name, "bad") == 0) {
    *error = (twe_error_info_t){.type = "HostFailed", .message = "bad host"};
    return -1;
  }
  twe_payload_t in = twe_payload_json(name[0] == 'a' ? "\"a\"" : "\"b\"");
  if (twe_workflow_execute_activity(wf, "Step1", &opts, &in, 1, NULL, error) != 0) return -1;
  return twe_workflow_execute_activity(wf, "Step2", &opts, &in, 1, result, error) ? -1 : 0;
}

/* Two hosts at once on coroutines, then "bad": completes with
 * [result a, result b, "type: message" of bad's failure]. */
static void wf_coroutines(twe_workflow_t *wf, void *user) {
  (void)user;
  static char a[] = "a", b[] = "b", bad[] = "bad";
  twe_future_t *fs[3];
  assert_int_equal(twe_workflow_go(wf, "host a", co_host, a, &fs[0]), 0);
  assert_int_equal(twe_workflow_go(wf, "host b", co_host, b, &fs[1]), 0);
  assert_int_equal(twe_future_wait_all(wf, fs, 2), 0);
  assert_int_equal(twe_workflow_go(wf, NULL, co_host, bad, &fs[2]), 0);
  assert_int_equal(twe_future_wait(wf, fs[2]), TWE_EFAILED);
  twe_payload_t ra, rb;
  twe_error_info_t e;
  assert_int_equal(twe_future_result(fs[0], &ra), 0);
  assert_int_equal(twe_future_result(fs[1], &rb), 0);
  assert_int_equal(twe_future_error(fs[2], &e), 0);
  char *text = twe_workflow_alloc(wf, 256);
  assert_non_null(text);
  snprintf(text, 256, "[%.*s,%.*s,\"%s: %s\"]", (int)ra.len, (const char *)ra.data,
           (int)rb.len, (const char *)rb.data, e.type, e.message);
  twe_payload_t out = twe_payload_json(text);
  assert_int_equal(twe_workflow_complete(wf, &out), 0);
}

static int setup(void **state) {
  fixture_t *fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Coroutines", wf_coroutines, NULL), 0);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

/* Coroutines run beside each other, each in its own sequence; their
 * futures carry their results and failures; a replay from scratch gives
 * the same commands at every task. */
static void test_twe_workflow_go_coroutines(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Coroutines", NULL);
  h_task(h);
  h_task_completed(h);
  size_t ends[4];
  ends[0] = 3;
  int64_t a1 = h_act_scheduled(h, "1", "Step1");
  int64_t b1 = h_act_scheduled(h, "2", "Step1");
  h_act_done(h, b1, "\"b1\""); /* b first: b goes on alone */
  h_task(h);
  ends[1] = h->n;
  h_task_completed(h);
  int64_t b2 = h_act_scheduled(h, "3", "Step2");
  h_act_done(h, a1, "\"a1\"");
  h_act_done(h, b2, "\"b2\"");
  h_task(h);
  ends[2] = h->n;
  h_task_completed(h);
  int64_t a2 = h_act_scheduled(h, "4", "Step2");
  h_act_done(h, a2, "\"a2\"");
  h_task(h);
  ends[3] = h->n;

  fx->run = new_run(fx);
  twe_run_outcome_t outs[4];
  size_t from = 0;
  for (int t = 0; t < 4; t++) {
    assert_int_equal(apply(fx, fx->run, from, ends[t], &outs[t]), 0);
    from = ends[t];
  }
  assert_int_equal(outs[0].n_commands, 2);
  assert_schedules(cmd(&outs[0], 0), "1", "Step1");
  assert_schedules(cmd(&outs[0], 1), "2", "Step1");
  assert_int_equal(outs[1].n_commands, 1);
  assert_schedules(cmd(&outs[1], 0), "3", "Step2");
  assert_int_equal(outs[2].n_commands, 1);
  assert_schedules(cmd(&outs[2], 0), "4", "Step2");
  assert_completes_with(&outs[3], "[\"a2\",\"b2\",\"HostFailed: bad host\"]");
  for (int t = 0; t < 4; t++) {
    twe_run_t *fresh = new_run(fx);
    twe_run_outcome_t out;
    assert_int_equal(apply(fx, fresh, 0, ends[t], &out), 0);
    assert_true(same_commands(&out, &outs[t]));
    twe__run_destroy(fresh);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_twe_workflow_go_coroutines, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
