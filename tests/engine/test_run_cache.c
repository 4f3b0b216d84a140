/* tests/engine/test_run_cache.c — a shard's workflow cache (engine/run_cache.c)
 * with real runs parked on an activity: the byte bound evicts least recently
 * used runs (forced evictions counted) but never a busy one; idle runs are
 * stowed oldest first once idle long enough, the sweep going on where it
 * stopped, and a stowed run's next task completes it; stowing at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/run_cache.h"
#include "engine/workflow/run.h"
#include "tests/engine/hist.h"
#include "twe/workflow.h"

#define N_RUNS 10

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};

/* Waits on activity "A" with a frame of its own on the stack; completes
 * with what came back. */
static void wf_wait(twe_workflow_t *wf, void *user) {
  (void)user;
  char frame[512];
  memset(frame, 'x', sizeof frame);
  twe_payload_t r;
  assert_int_equal(twe_workflow_execute_activity(wf, "A", &opts, NULL, 0, &r, NULL), 0);
  assert_int_equal(frame[0] + frame[511], 2 * 'x');
  twe_workflow_complete(wf, &r);
}

typedef struct cfx {
  fixture_t *fx;
  twe__shard_counters_t counters;
  twe__run_cache_t cache;
  twe__cached_run_t *e[N_RUNS];
} cfx_t;

static int setup(void **state) {
  cfx_t *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&c->fx->reg, "Wait", wf_wait, NULL), 0);
  hist_t *h = &c->fx->h;
  h_started(h, "Wait", NULL); /* 1 */
  h_task(h);                  /* 2, 3 */
  h_task_completed(h);        /* 4 */
  int64_t s = h_act_scheduled(h, "1", "A");
  h_act_done(h, s, "\"done\""); /* 6, 7 */
  h_task(h);                    /* 8, 9 */
  c->cache.counters = &c->counters;
  *state = c;
  return 0;
}

static int teardown(void **state) {
  cfx_t *c = *state;
  twe__run_cache_destroy(&c->cache);
  assert_int_equal(c->cache.n_cached, 0);
  assert_int_equal(c->cache.bytes, 0);
  assert_int_equal(c->cache.n_stowed, 0);
  fixture_close(c->fx);
  free(c);
  return 0;
}

/* N_RUNS runs after their first task, cached and idle at second i. */
static void fill(cfx_t *c) {
  for (int i = 0; i < N_RUNS; i++) {
    char wid[16], rid[16];
    snprintf(wid, sizeof wid, "wf-%d", i);
    snprintf(rid, sizeof rid, "run-%d", i);
    twe_run_t *run = NULL;
    assert_int_equal(twe__run_create(&c->fx->env, wid, rid, &run), 0);
    twe_run_outcome_t out;
    assert_int_equal(twe__run_apply(run, c->fx->h.ev, 3, &c->fx->out_arena, &out), 0);
    assert_int_equal(out.n_commands, 1);
    c->e[i] = twe__run_cache_insert(&c->cache, run);
    assert_non_null(c->e[i]);
    twe__run_cache_idle(&c->cache, c->e[i], i * NS);
  }
}

/* The task that completes e's run. */
static void complete(cfx_t *c, twe__cached_run_t *e) {
  e->busy = true;
  twe_run_outcome_t out;
  assert_int_equal(twe__run_apply(e->run, c->fx->h.ev + 3, 6, &c->fx->out_arena, &out), 0);
  assert_true(out.closes_workflow);
}

static void test_byte_bound_evicts_least_recently_used(void **state) {
  cfx_t *c = *state;
  c->cache.stow_after_ns = -1;
  fill(c);
  size_t per_run = c->e[0]->bytes;
  printf("# a parked run of Wait, not stowed: %zu bytes\n", per_run);
  assert_true(per_run >= 2048 + 4096); /* its allocation and one stack page at least */
  assert_int_equal(c->cache.bytes, N_RUNS * per_run);
  assert_int_equal(c->counters.cached_bytes, N_RUNS * per_run);

  /* The oldest (run-0) is busy: it stays (and counts), the next ones go
   * until the rest fit. */
  c->e[0]->busy = true;
  twe__run_cache_trim(&c->cache, 1000, 6 * per_run);
  assert_int_equal(c->cache.n_cached, 6);
  assert_int_equal(c->cache.bytes, 6 * per_run);
  assert_int_equal(c->counters.cache_forced_evictions, 4);
  assert_int_equal(c->counters.cache_evictions, 4);
  for (int i = 1; i <= 4; i++) {
    char rid[16];
    snprintf(rid, sizeof rid, "run-%d", i);
    assert_null(twe__run_cache_find(&c->cache, rid));
  }
  assert_non_null(twe__run_cache_find(&c->cache, "run-0"));
  assert_non_null(twe__run_cache_find(&c->cache, "run-5"));
  /* Within the bound: nothing more. No bound: nothing either. */
  twe__run_cache_trim(&c->cache, 1000, 6 * per_run);
  twe__run_cache_trim(&c->cache, 1000, 0);
  assert_int_equal(c->cache.n_cached, 6);
  /* The count bound still works beside it. */
  twe__run_cache_trim(&c->cache, 4, 6 * per_run);
  assert_int_equal(c->cache.n_cached, 4);
  assert_non_null(twe__run_cache_find(&c->cache, "run-0"));
  assert_null(twe__run_cache_find(&c->cache, "run-6"));
  c->e[0]->busy = false;
}

static void test_idle_runs_stowed_oldest_first(void **state) {
  cfx_t *c = *state;
  c->cache.stow_after_ns = NS;
  fill(c);
  size_t before = c->cache.bytes, unstowed = c->e[0]->bytes;
  /* At 5.5 s the runs idle since 0..4 s are due. */
  assert_int_equal(twe__run_cache_stow_idle(&c->cache, 5 * NS + NS / 2), 5);
  assert_int_equal(c->cache.n_stowed, 5);
  assert_int_equal(c->counters.cached_runs_stowed, 5);
  assert_int_equal(c->counters.cache_stows, 5);
  size_t stowed = c->e[0]->bytes;
  printf("# a parked run of Wait: %zu bytes, stowed %zu\n", unstowed, stowed);
  assert_true(unstowed - stowed >= 2 * 1024); /* its stack page, less its copy */
  assert_int_equal(c->cache.bytes, before - 5 * (unstowed - stowed));
  for (int i = 0; i < N_RUNS; i++) assert_int_equal(c->e[i]->stowed, i < 5);
  /* Again at once: nothing new is due, and the stowed ones are not looked at twice. */
  assert_int_equal(twe__run_cache_stow_idle(&c->cache, 5 * NS + NS / 2), 0);

  /* run-2 is queried (touched, busy, unstowed to answer) and is idle
   * again at 6 s: the most recent now. The sweep goes on from run-4. */
  twe__run_cache_touch(&c->cache, c->e[2]);
  c->e[2]->busy = true;
  twe_run_query_result_t res;
  assert_int_equal(
      twe__run_answer_query(c->e[2]->run, "__stack_trace", NULL, &c->fx->out_arena, &res), 0);
  assert_false(res.failed);
  twe__run_cache_idle(&c->cache, c->e[2], 6 * NS);
  assert_false(c->e[2]->stowed);
  assert_int_equal(c->cache.n_stowed, 4);
  assert_int_equal(twe__run_cache_stow_idle(&c->cache, 6 * NS + NS / 2), 1); /* run-5 */
  assert_true(c->e[5]->stowed);
  assert_int_equal(twe__run_cache_stow_idle(&c->cache, 20 * NS), 5); /* 6..9, then run-2 */
  assert_int_equal(c->cache.n_stowed, N_RUNS);

  /* A stowed run's next task completes it: its stack came back. */
  for (int i = 0; i < N_RUNS; i++) complete(c, c->e[i]);
}

static void test_stow_at_once(void **state) {
  cfx_t *c = *state;
  /* Never: nothing is stowed however long they wait. */
  c->cache.stow_after_ns = -1;
  fill(c);
  assert_int_equal(twe__run_cache_stow_idle(&c->cache, 1000 * NS), 0);
  assert_int_equal(c->cache.n_stowed, 0);
  size_t never = c->cache.bytes;
  twe__run_cache_destroy(&c->cache);
  /* At once: each as it goes idle. */
  c->cache.stow_after_ns = 0;
  fill(c);
  assert_int_equal(c->cache.n_stowed, N_RUNS);
  assert_int_equal(c->counters.cache_stows, N_RUNS);
  assert_true(c->cache.bytes + N_RUNS * 2048 <= never);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_byte_bound_evicts_least_recently_used, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_runs_stowed_oldest_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stow_at_once, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
