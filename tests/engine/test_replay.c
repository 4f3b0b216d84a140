/* tests/engine/test_replay.c — twe_worker_replay_json (engine/replay.c): a
 * history exported as JSON replays against the registered code, again and
 * again on one thread (the thread's fiber pool is kept between calls), on
 * several threads at once, with workers of different stack sizes in turn;
 * a history the code does not match, and text that is not a history, fail
 * saying why. */
#include <pthread.h>

#include "hist.h"
#include "proto/json_write.h"
#include "twe/twe.h"

static const twe_activity_options_t act_opts = {.start_to_close_timeout_ns = 10 * NS};

/* Two activities "Step", one after the other. */
static void wf_two_steps(twe_workflow_t *wf, void *user) {
  (void)user;
  for (int i = 0; i < 2; i++) {
    twe_payload_t r;
    if (twe_workflow_execute_activity(wf, "Step", &act_opts, NULL, 0, &r, NULL) != 0) return;
  }
}

/* The same type name, but a timer first: not what the history says. */
static void wf_changed(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_workflow_sleep(wf, NS);
}

/* wf_two_steps' history as `temporal workflow show --output json` writes
 * it (indented); malloc'd. */
static char *two_steps_json(void) {
  hist_t h;
  memset(&h, 0, sizeof h);
  twe__arena_init(&h.arena, 0);
  h_started(&h, "TwoSteps", NULL);
  h_task(&h);
  h_task_completed(&h);
  for (int i = 0; i < 2; i++) {
    char id[8];
    snprintf(id, sizeof id, "%d", i + 1);
    h_act_done(&h, h_act_scheduled(&h, id, "Step"), "\"ok\"");
    h_task(&h);
    h_task_completed(&h);
  }
  h_workflow_completed(&h);
  Temporal__Api__History__V1__History history;
  temporal__api__history__v1__history__init(&history);
  history.events = h.ev;
  history.n_events = h.n;
  json_t *j = NULL;
  assert_int_equal(twe__json_from_message(&history.base, &j), 0);
  char *text = json_dumps(j, JSON_INDENT(2));
  assert_non_null(text);
  json_decref(j);
  twe__arena_destroy(&h.arena);
  return text;
}

static twe_worker_t *replay_worker(twe_workflow_fn fn, size_t stack_size) {
  twe_worker_options_t opts;
  twe_worker_options_init(&opts);
  opts.task_queue = "tq";
  opts.fiber_stack_size = stack_size;
  twe_worker_t *w = NULL;
  assert_int_equal(twe_worker_create(NULL, &opts, &w), 0);
  assert_int_equal(twe_worker_register_workflow(w, "TwoSteps", fn, NULL), 0);
  return w;
}

static void test_worker_replay_json_again_and_again(void **state) {
  (void)state;
  char *text = two_steps_json();
  twe_worker_t *w = replay_worker(wf_two_steps, 0);
  char err[256];
  for (int i = 0; i < 50; i++)
    if (twe_worker_replay_json(w, text, strlen(text), err, sizeof err) != 0)
      fail_msg("replay %d: %s", i, err);
  twe_worker_destroy(w);
  free(text);
}

static void test_worker_replay_json_stack_sizes(void **state) {
  (void)state;
  char *text = two_steps_json();
  twe_worker_t *small = replay_worker(wf_two_steps, 32 * 1024);
  twe_worker_t *big = replay_worker(wf_two_steps, 256 * 1024);
  char err[256];
  for (int i = 0; i < 6; i++)
    if (twe_worker_replay_json(i % 2 ? big : small, text, strlen(text), err, sizeof err) != 0)
      fail_msg("replay %d: %s", i, err);
  twe_worker_destroy(small);
  twe_worker_destroy(big);
  free(text);
}

static void test_worker_replay_json_nondeterminism(void **state) {
  (void)state;
  char *text = two_steps_json();
  twe_worker_t *w = replay_worker(wf_changed, 0);
  char err[512];
  for (int i = 0; i < 3; i++) { /* the kept pool is clean after a failed replay */
    assert_int_equal(twe_worker_replay_json(w, text, strlen(text), err, sizeof err),
                     TWE_ENONDETERMINISM);
    assert_non_null(strstr(err, "ACTIVITY_TASK_SCHEDULED"));
  }
  twe_worker_destroy(w);
  free(text);
}

static void test_worker_replay_json_not_a_history(void **state) {
  (void)state;
  twe_worker_t *w = replay_worker(wf_two_steps, 0);
  char err[256];
  const char *bad = "{\"events\":[{\"eventId\":\"x\"}]}";
  assert_int_equal(twe_worker_replay_json(w, bad, strlen(bad), err, sizeof err), TWE_EJSON);
  assert_string_equal(err, "cannot read the history: events[0].eventId: invalid number \"x\"");
  assert_int_equal(twe_worker_replay_json(w, "{}", 2, err, sizeof err), TWE_EDECODE);
  assert_string_equal(err, "the history has no events");
  twe_worker_destroy(w);
}

static void *replay_thread(void *arg) {
  const char *text = arg;
  twe_worker_t *w = replay_worker(wf_two_steps, 0);
  char err[256];
  intptr_t failures = 0;
  for (int i = 0; i < 20; i++)
    failures += twe_worker_replay_json(w, text, strlen(text), err, sizeof err) != 0;
  twe_worker_destroy(w);
  return (void *)failures;
}

/* Each thread replays with a pool of its own, freed as the thread exits. */
static void test_worker_replay_json_threads(void **state) {
  (void)state;
  char *text = two_steps_json();
  pthread_t t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, replay_thread, text), 0);
  for (int i = 0; i < 4; i++) {
    void *failures;
    assert_int_equal(pthread_join(t[i], &failures), 0);
    assert_int_equal((intptr_t)failures, 0);
  }
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_worker_replay_json_again_and_again),
      cmocka_unit_test(test_worker_replay_json_stack_sizes),
      cmocka_unit_test(test_worker_replay_json_nondeterminism),
      cmocka_unit_test(test_worker_replay_json_not_a_history),
      cmocka_unit_test(test_worker_replay_json_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
