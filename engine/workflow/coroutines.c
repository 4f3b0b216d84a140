/* engine/workflow/coroutines.c — twe_workflow_go: a coroutine of the
 * workflow's own, for work that runs beside the workflow function (the
 * SDKs' workflow.Go, asyncio tasks, promises run at once): a sequence of
 * activities per host, all hosts at once, each waited for by its future.
 *
 * Order: the new coroutine is queued ready behind those already ready and
 * first runs when the calling one waits or returns, so a replay runs them
 * in the same order as the live run. It starts in the caller's current
 * cancellation scope: cancelling that scope cancels what the coroutine
 * started there. Its future resolves when its function returns.
 *
 * Memory: the coroutine's record and its future live in the run arena. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

typedef struct coroutine {
  twe_coroutine_fn fn;
  void *arg;
  twe_future_t *future;
} coroutine_t;

static void coroutine_body(twe__wfiber_t *w) {
  coroutine_t *c = w->body_arg;
  twe_run_t *run = w->run;
  twe_payload_t result = twe_payload_null();
  twe_error_info_t error;
  memset(&error, 0, sizeof error);
  int rc = c->fn(&run->wf, c->arg, &result, &error);
  /* Copied into the run's arena: the function's stack goes with it. */
  if (rc == 0) {
    twe__run_resolve_value(run, c->future, &result);
  } else {
    if (!error.message || !*error.message) error.message = "coroutine failed";
    twe__run_resolve_error_info(run, c->future, &error);
  }
}

int twe_workflow_go(twe_workflow_t *wf, const char *name, twe_coroutine_fn fn, void *arg,
                    twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (out) *out = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!fn || !out) return -EINVAL;
  coroutine_t *c = twe__arena_alloc(&run->arena, sizeof *c);
  twe_future_t *f = twe__future_new(run);
  char label[200];
  snprintf(label, sizeof label, "coroutine \"%s\"", name && *name ? name : "(unnamed)");
  const char *kept = twe__str(&run->arena, label);
  if (!c || !f || !kept) return twe__run_oom(run);
  *c = (coroutine_t){fn, arg, f};
  twe_scope_t *scope = run->current->scope;
  rc = twe__run_spawn(run, coroutine_body, c, kept);
  if (rc < 0) return rc;
  run->all_fibers_tail->scope = scope;
  *out = f;
  return 0;
}
