/* engine/replay.c — twe_worker_replay_json: replays an exported history
 * against the worker's registered workflows, with no server, to check that
 * the code still makes the calls its history records (before deploying a
 * change, or in tests).
 *
 * The history runs through the same engine/workflow/run.c as live tasks: every
 * workflow task the history shows is replayed and its commands matched. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/workflow/run.h"
#include "engine/worker_internal.h"
#include "proto/json.h"
#include "twe/error.h"

/* The fiber pool of the calling thread's replays. A pool maps a slab of
 * stacks when its first fiber starts and unmaps it when destroyed: for a
 * short history that cost more than the replay itself (an 11-event history,
 * measured: about 15 of 25 us in mmap, page faults and munmap). So a thread
 * that replays keeps one pool, for the stack size it last asked for, and
 * it is freed when the thread exits. Each replay destroys its fibers, so
 * the pool is idle between calls. */
typedef struct replay_pool {
  twe_fiber_pool_t *fibers;
  size_t stack_size;
} replay_pool_t;

static pthread_key_t pool_key;
static bool pool_key_ok;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static void pool_free(void *p) {
  replay_pool_t *rp = p;
  twe__fiber_pool_destroy(rp->fibers);
  free(rp);
}

static void pool_key_init(void) { pool_key_ok = pthread_key_create(&pool_key, pool_free) == 0; }

/* The thread's pool for stack_size; *kept false when it is the caller's to
 * destroy (no thread key could be had). 0 or the pool's error. */
static int replay_fibers(size_t stack_size, twe_fiber_pool_t **out, bool *kept) {
  pthread_once(&pool_key_once, pool_key_init);
  replay_pool_t *rp = pool_key_ok ? pthread_getspecific(pool_key) : NULL;
  if (rp && rp->stack_size == stack_size) {
    *out = rp->fibers;
    *kept = true;
    return 0;
  }
  twe_fiber_pool_t *fibers = NULL;
  int rc = twe__fiber_pool_create(stack_size, &fibers);
  if (rc < 0) return rc;
  replay_pool_t *fresh = pool_key_ok ? malloc(sizeof *fresh) : NULL;
  if (!fresh || pthread_setspecific(pool_key, fresh) != 0) {
    free(fresh);
    *out = fibers;
    *kept = false;
    return 0;
  }
  if (rp) pool_free(rp); /* another stack size than before */
  fresh->fibers = fibers;
  fresh->stack_size = stack_size;
  *out = fibers;
  *kept = true;
  return 0;
}

int twe_worker_replay_json(twe_worker_t *w, const char *json_text, size_t len, char *err,
                           size_t err_len) {
  char why[512] = "";
  if (err_len) err[0] = 0;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__History__V1__History *history = NULL;
  int rc = twe__history_from_json_text(json_text, len, &arena, &history, why, sizeof why);
  if (rc < 0) {
    if (err_len) snprintf(err, err_len, "cannot read the history: %s", why);
    twe__arena_destroy(&arena);
    return rc;
  }
  if (!history || history->n_events == 0) {
    if (err_len) snprintf(err, err_len, "the history has no events");
    twe__arena_destroy(&arena);
    return TWE_EDECODE;
  }
  const char *workflow_id = "replay", *run_id = "replay";
  twe_fiber_pool_t *fibers = NULL;
  bool kept = false;
  rc = replay_fibers(w->opts.fiber_stack_size, &fibers, &kept);
  if (rc < 0) {
    twe__arena_destroy(&arena);
    return rc;
  }
  twe_run_env_t env = {.namespace_name = w->namespace_name,
                       .task_queue = w->task_queue,
                       .registry = &w->registry,
                       .fibers = fibers,
                       .worker = w,
                       .shard = -1};
  twe_run_t *run = NULL;
  rc = twe__run_create(&env, workflow_id, run_id, &run);
  if (rc == 0) {
    twe_run_outcome_t outcome;
    memset(&outcome, 0, sizeof outcome);
    rc = twe__run_apply(run, history->events, history->n_events, &arena, &outcome);
    if (rc == 0 && outcome.replay_only) rc = twe__run_check_replayed(run, &outcome);
    if (rc < 0 && err_len)
      snprintf(err, err_len, "%s", outcome.message[0] ? outcome.message : twe_strerror(rc));
  }
  twe__run_destroy(run);
  if (!kept) twe__fiber_pool_destroy(fibers);
  twe__arena_destroy(&arena);
  return rc;
}
