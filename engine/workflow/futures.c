/* engine/workflow/futures.c — futures and the fibers that wait on them:
 * resolution (a machine's outcome copied into the run), the ready queue the
 * activation runs fibers from, waits, and the twe_future_* calls
 * (include/twe/workflow.h), and waiting on a condition
 * (twe_workflow_wait_condition: the fiber looks at its predicate each time
 * the scheduler rechecks it, run.c).
 *
 * Order: a resolution makes the fibers whose wait it ends ready, in their
 * creation order; across resolutions, in the order of resolution. The
 * queue is FIFO. Replay sees the same order, so the code does too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

/* --- the ready queue ---------------------------------------------------------------- */

void twe__run_ready_push(twe_run_t *run, twe__wfiber_t *w) {
  if (w->in_ready) return;
  w->in_ready = true;
  w->next_ready = NULL;
  if (run->ready_tail)
    run->ready_tail->next_ready = w;
  else
    run->ready_head = w;
  run->ready_tail = w;
}

void twe__run_ready_push_front(twe_run_t *run, twe__wfiber_t *w) {
  w->in_ready = true;
  w->next_ready = run->ready_head;
  run->ready_head = w;
  if (!run->ready_tail) run->ready_tail = w;
}

twe__wfiber_t *twe__run_ready_pop(twe_run_t *run) {
  twe__wfiber_t *w = run->ready_head;
  if (!w) return NULL;
  run->ready_head = w->next_ready;
  if (!run->ready_head) run->ready_tail = NULL;
  w->in_ready = false;
  w->next_ready = NULL;
  return w;
}

/* --- waits ----------------------------------------------------------------------------- */

static bool wait_satisfied(twe__wfiber_t *w) {
  switch (w->wait_mode) {
    case TWE__WAIT_ANY:
      for (size_t i = 0; i < w->wait_n; i++)
        if (w->wait_fs[i]->ready) return true;
      return false;
    case TWE__WAIT_ALL:
      /* Futures never become unready: the index only moves forward. */
      while (w->wait_next < w->wait_n && w->wait_fs[w->wait_next]->ready) w->wait_next++;
      return w->wait_next == w->wait_n;
    case TWE__WAIT_CONDITION:
      /* Only its timeout wakes it here; the predicate is rechecked by the
       * scheduler. */
      return w->wait_n && w->wait_fs[0]->ready;
    default:
      return true;
  }
}

/* A future resolved: fibers whose wait is now over become ready. */
static void wake(twe_run_t *run) {
  for (twe__wfiber_t *w = run->all_fibers; w; w = w->next_all) {
    if (w->wait_mode == TWE__WAIT_NONE || w->in_ready) continue;
    if (wait_satisfied(w)) {
      w->wait_mode = TWE__WAIT_NONE;
      twe__run_ready_push(run, w);
    }
  }
}

/* Yields until whoever queues w (wake, or a condition recheck) has
 * cleared its wait_mode: the scheduler resumes a fiber only from the ready
 * queue. */
static void suspend(twe__wfiber_t *w) {
  while (w->wait_mode != TWE__WAIT_NONE) {
    int depth = twe__watch_depth_save();
    twe__fiber_yield();
    twe__watch_depth_restore(depth);
  }
}

void twe__run_wait(twe_run_t *run, twe__wait_mode_t mode, twe_future_t *const *fs, size_t n) {
  twe__wfiber_t *w = run->current;
  w->wait_mode = mode;
  w->wait_fs = fs;
  w->wait_n = n;
  w->wait_next = 0;
  if (wait_satisfied(w)) {
    w->wait_mode = TWE__WAIT_NONE;
    return;
  }
  suspend(w);
}

/* The predicate is the workflow's own code, called from inside an API
 * call: run it as user code (outside the call's nesting), so the watchdog
 * may stop a predicate that spins like any other workflow code. */
static bool evaluate(twe_workflow_t *wf, twe_condition_fn cond, void *arg) {
  int depth = twe__watch_depth_save();
  twe__watch_depth_restore(0);
  twe__watch_user_enter();
  bool ok = cond(wf, arg);
  twe__watch_user_leave();
  twe__watch_depth_restore(depth);
  return ok;
}

int twe_workflow_wait_condition(twe_workflow_t *wf, twe_condition_fn cond, void *arg,
                                uint64_t timeout_ns) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!cond) return -EINVAL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (evaluate(wf, cond, arg)) return 0;
  twe_future_t *timer = NULL;
  if (timeout_ns) {
    rc = twe__run_start_timer(run, timeout_ns, &timer);
    if (rc < 0) return rc;
  }
  twe__wfiber_t *w = run->current;
  for (;;) {
    /* Queued by a recheck and still false, nothing else done: say so, so
     * the activation can end (run.c, recheck_conditions). */
    if (w->rechecking) w->recheck_idle = true;
    w->wait_mode = TWE__WAIT_CONDITION;
    w->wait_fs = timer ? &timer : NULL;
    w->wait_n = timer ? 1 : 0;
    suspend(w);
    /* The condition first: true wins over a timer that fired meanwhile. */
    if (evaluate(wf, cond, arg)) {
      if (timer) twe__future_cancel(run, timer);
      return 0;
    }
    /* The timer fired, or its scope was cancelled. */
    if (timer && timer->ready) return timer->failed ? -ECANCELED : -ETIMEDOUT;
  }
}

/* --- resolution ------------------------------------------------------------------------ */

twe_future_t *twe__future_new(twe_run_t *run) {
  twe_future_t *f = twe__arena_alloc(&run->arena, sizeof *f);
  if (f) {
    memset(f, 0, sizeof *f);
    f->run = run;
  }
  return f;
}

/* f's outcome is in: its hook, if any. */
static int resolved(twe_run_t *run, twe_future_t *f) {
  return f->on_resolve ? f->on_resolve(run, f, f->on_resolve_arg) : 0;
}

int twe__run_resolve_ok(twe_run_t *run, twe_future_t *f, const twe_payloads_pb_t *result) {
  if (!f) return 0;
  if (result && result->n_payloads) {
    twe_payload_pb_t *copy = twe__run_copy_msg(run, &result->payloads[0]->base);
    if (!copy || twe__value_from_payload(&run->arena, copy, &f->result) < 0)
      return twe__run_oom(run);
  } else {
    f->result = twe_payload_null();
  }
  f->ready = true;
  wake(run);
  return resolved(run, f);
}

int twe__run_resolve_failed(twe_run_t *run, twe_future_t *f, const twe_failure_pb_t *failure) {
  if (!f) return 0;
  twe_failure_pb_t *copy = twe__run_copy_msg(run, &failure->base);
  if (!copy || twe__error_from_failure(&run->arena, copy, &f->error) < 0)
    return twe__run_oom(run);
  f->failed = true;
  f->ready = true;
  wake(run);
  return resolved(run, f);
}

int twe__run_resolve_value(twe_run_t *run, twe_future_t *f, const twe_payload_t *value) {
  twe_payload_pb_t *pb;
  if (twe__value_to_payload(&run->arena, value, &pb) < 0 ||
      twe__value_from_payload(&run->arena, pb, &f->result) < 0)
    return twe__run_oom(run);
  f->ready = true;
  wake(run);
  return resolved(run, f);
}

int twe__run_resolve_error_info(twe_run_t *run, twe_future_t *f, const twe_error_info_t *error) {
  twe_failure_pb_t *failure;
  if (twe__failure_from_error(&run->arena, error, &failure) < 0) return twe__run_oom(run);
  return twe__run_resolve_failed(run, f, failure);
}

int twe__run_resolve_error(twe_run_t *run, twe_future_t *f, const char *type,
                           const char *message) {
  if (!f) return 0;
  memset(&f->error, 0, sizeof f->error);
  f->error.type = twe__str(&run->arena, type);
  f->error.message = twe__str(&run->arena, message);
  if (!f->error.type || !f->error.message) return twe__run_oom(run);
  f->failed = true;
  f->ready = true;
  wake(run);
  return resolved(run, f);
}

int twe__future_cancel(twe_run_t *run, twe_future_t *f) {
  twe__machine_t *m = f->machine;
  if (f->ready) return 0;
  if (!m || !m->kind->cancel) return -ENOTSUP;
  return m->kind->cancel(run, m);
}

/* --- the calls ---------------------------------------------------------------------------- */

/* A future from another run is a programming error like a foreign wf. */
static void check_future(twe_run_t *run, const twe_future_t *f, const char *fn) {
  if (!f || f->run != run) {
    fprintf(stderr, "twe: %s: future %p does not belong to workflow run %s\n", fn,
            (const void *)f, run->info.run_id);
    abort();
  }
}

bool twe_future_ready(const twe_future_t *f) {
  return f && f->ready;
}

int twe_future_wait(twe_workflow_t *wf, twe_future_t *f) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  check_future(run, f, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  twe__run_wait(run, TWE__WAIT_ALL, &f, 1);
  return f->failed ? TWE_EFAILED : 0;
}

size_t twe_future_wait_any(twe_workflow_t *wf, twe_future_t *const *fs, size_t n) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (n == 0 || !fs) {
    fprintf(stderr, "twe: %s: no futures to wait for (n must be >= 1)\n", __func__);
    abort();
  }
  for (size_t i = 0; i < n; i++) check_future(run, fs[i], __func__);
  /* In a query: no wait; the query fails whatever this returns. */
  if (twe__run_refuse_in_query(run, __func__) < 0) return 0;
  twe__run_wait(run, TWE__WAIT_ANY, fs, n);
  for (size_t i = 0; i < n; i++)
    if (fs[i]->ready) return i;
  return 0; /* not reached: the wait ends only when one is ready */
}

int twe_future_wait_all(twe_workflow_t *wf, twe_future_t *const *fs, size_t n) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  for (size_t i = 0; i < n; i++) check_future(run, fs[i], __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (n) twe__run_wait(run, TWE__WAIT_ALL, fs, n);
  for (size_t i = 0; i < n; i++)
    if (fs[i]->failed) return TWE_EFAILED;
  return 0;
}

int twe_future_cancel(twe_workflow_t *wf, twe_future_t *f) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  check_future(run, f, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  return rc < 0 ? rc : twe__future_cancel(run, f);
}

int twe_future_result(const twe_future_t *f, twe_payload_t *out) {
  if (!f || !f->ready) return -EAGAIN;
  if (f->failed) return TWE_EFAILED;
  if (out) *out = f->result;
  return 0;
}

int twe_future_error(const twe_future_t *f, twe_error_info_t *out) {
  if (!f || !f->ready) return -EAGAIN;
  if (!f->failed) return -ENOENT;
  if (out) *out = f->error;
  return 0;
}
