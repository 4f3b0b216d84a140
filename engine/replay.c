/* engine/replay.c — twe_worker_replay_json: replays an exported history
 * against the worker's registered workflows, with no server, to check that
 * the code still makes the calls its history records (before deploying a
 * change, or in tests).
 *
 * The history runs through the same engine/workflow/run.c as live tasks: every
 * workflow task the history shows is replayed and its commands matched. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/workflow/run.h"
#include "engine/worker_internal.h"
#include "proto/json.h"
#include "twe/error.h"

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
  rc = twe__fiber_pool_create(w->opts.fiber_stack_size, &fibers);
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
  twe__fiber_pool_destroy(fibers);
  twe__arena_destroy(&arena);
  return rc;
}
