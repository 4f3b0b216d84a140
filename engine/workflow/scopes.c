/* engine/workflow/scopes.c — cancellation scopes and the workflow's own
 * cancellation: every coroutine has a current scope (the root scope to
 * begin with); what a coroutine starts (timers, activities) joins it;
 * cancelling a scope cancels what joined it and its scopes that are not
 * shielded. A WORKFLOW_EXECUTION_CANCEL_REQUESTED event cancels the root
 * scope at the next activation (a job, as in the SDKs: the commands it
 * causes belong to the task that saw the request), and resolves the
 * cancellation future. */
#include <errno.h>
#include <string.h>

#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

static twe_scope_t *current(twe_run_t *run) {
  return run->current && run->current->scope ? run->current->scope : &run->root_scope;
}

/* Cancels s, what joined it, and its scopes that are not shielded (s itself
 * is cancelled even when shielded: the caller asked for it). */
static int cancel_scope(twe_run_t *run, twe_scope_t *s) {
  if (s->cancelled) return 0;
  s->cancelled = true;
  for (twe__machine_t *m = s->machines; m; m = m->scope_next) {
    if (!m->kind->cancel) continue;
    int rc = m->kind->cancel(run, m);
    if (rc < 0) return rc;
  }
  for (twe_scope_t *c = s->children; c; c = c->next_child) {
    if (c->shielded) continue;
    int rc = cancel_scope(run, c);
    if (rc < 0) return rc;
  }
  return 0;
}

int twe__scope_adopt(twe_run_t *run, twe__machine_t *m) {
  return twe__scope_adopt_in(run, NULL, m);
}

int twe__scope_adopt_in(twe_run_t *run, twe_scope_t *s, twe__machine_t *m) {
  if (!s) s = current(run);
  m->scope = s;
  m->scope_next = s->machines;
  s->machines = m;
  /* Started in a cancelled scope: cancelled before it goes out. */
  return s->cancelled && m->kind->cancel ? m->kind->cancel(run, m) : 0;
}

void twe__scope_cancel_requested(twe_run_t *run) {
  if (run->cancel_requested) return; /* a second request changes nothing */
  run->cancel_requested = true;
  run->cancel_pending = true;
}

int twe__scope_apply_cancel_request(twe_run_t *run) {
  if (!run->cancel_pending) return 0;
  run->cancel_pending = false;
  int rc = 0;
  if (run->cancellation && !run->cancellation->ready)
    rc = twe__run_resolve_ok(run, run->cancellation, NULL);
  return rc < 0 ? rc : cancel_scope(run, &run->root_scope);
}

/* --- the calls ---------------------------------------------------------------------- */

bool twe_workflow_cancel_requested(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  /* As the code sees it: from the activation that applied the request. */
  return run->cancel_requested && !run->cancel_pending;
}

int twe_workflow_cancellation(twe_workflow_t *wf, twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!out) return -EINVAL;
  if (!run->cancellation) {
    twe_future_t *f = twe__future_new(run);
    if (!f) return twe__arena_error(&run->arena);
    run->cancellation = f;
    if (run->cancel_requested && !run->cancel_pending) {
      int rc = twe__run_resolve_ok(run, f, NULL);
      if (rc < 0) return rc;
    }
  }
  *out = run->cancellation;
  return 0;
}

int twe_workflow_end_canceled(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  run->end_canceled = true;
  return 0;
}

int twe_workflow_scope_open(twe_workflow_t *wf, bool shielded, twe_scope_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!out) return -EINVAL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  twe_scope_t *s = twe__arena_alloc(&run->arena, sizeof *s);
  if (!s) return twe__arena_error(&run->arena);
  memset(s, 0, sizeof *s);
  twe_scope_t *parent = current(run);
  s->run = run;
  s->parent = parent;
  s->shielded = shielded;
  /* A scope opened inside a cancelled one starts cancelled, unless it is
   * shielded. */
  s->cancelled = parent->cancelled && !shielded;
  s->next_child = parent->children;
  parent->children = s;
  run->current->scope = s;
  *out = s;
  return 0;
}

int twe_workflow_scope_close(twe_workflow_t *wf, twe_scope_t *s) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!s || s->run != run || current(run) != s || !s->parent) return -EINVAL;
  run->current->scope = s->parent;
  return 0;
}

int twe_workflow_scope_cancel(twe_workflow_t *wf, twe_scope_t *s) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!s || s->run != run) return -EINVAL;
  int rc = twe__run_refuse_in_query(run, __func__);
  return rc < 0 ? rc : cancel_scope(run, s);
}

bool twe_workflow_scope_cancelled(const twe_scope_t *s) {
  return s && s->cancelled;
}
