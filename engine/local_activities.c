/* engine/local_activities.c — the worker side of local activities: the
 * attempts a workflow run asks for (twe__run_take_local_requests, handed
 * over by the workflow poller) run on the shard's activity pool like
 * polled tasks, and their outcome goes back to the run
 * (twe__wfp_local_result) instead of to the server.
 *
 * Retries happen here, as in the SDKs: a failed attempt is retried by its
 * retry policy (1 s x2 up to 100 s, forever, unless it says otherwise)
 * after a backoff on a reactor timer while that backoff is at most the
 * local retry threshold; a longer one goes back to the run as
 * TWE_LOCAL_BACKOFF, which waits on a durable timer and asks for the next
 * attempt then. An attempt is timed out at its start-to-close timeout, or
 * at the schedule-to-close deadline counted from the first attempt's
 * schedule time (the code is told through twe_activity_cancelled and its
 * outcome is taken when it returns, as for polled tasks).
 *
 * Stop: attempts the worker cancels because it stops are not reported:
 * the run waiting for them gives its workflow task up unanswered, and the
 * server hands the task to another worker, which runs them again.
 *
 * Thread: the shard thread. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/activity_internal.h"
#include "engine/metrics.h"
#include "engine/values.h"
#include "engine/workflow/run.h"
#include "engine/workflow_poller_internal.h"
#include "twe/error.h"

#define SEC 1000000000ull

struct twe__local {
  twe_wshard_t *s;
  struct twe__local *prev, *next; /* the shard's list */
  twe_arena_t arena;              /* the request's copies */
  char *run_id, *workflow_id, *workflow_type, *activity_id, *activity_type;
  uint32_t seq, attempt;
  twe_payload_t *args;
  size_t nargs;
  uint64_t start_to_close_ns, threshold_ns;
  twe_retry_policy_t retry;
  int64_t original_schedule_time_ns; /* Unix ns */
  int64_t schedule_deadline_ns;      /* Unix ns; 0: none */
  twe_activity_t *act;               /* the attempt on the pool, or waiting for a thread */
  twe_timer_t backoff_timer;         /* between attempts */
  bool stop_asked;                   /* the run cancelled it */
};
typedef struct twe__local local_t;

static size_t label(const local_t *l) {
  return l->s->metrics ? twe__m_activity_type(l->s->metrics->layout, l->activity_type) : 0;
}

static void local_free(local_t *l) {
  twe_wshard_t *s = l->s;
  twe__timer_stop(&l->backoff_timer);
  if (l->prev) l->prev->next = l->next;
  else s->locals = l->next;
  if (l->next) l->next->prev = l->prev;
  twe__arena_destroy(&l->arena);
  free(l);
}

/* Hands the outcome to the run (which copies it) and forgets l. */
static void deliver(local_t *l, const twe_local_result_t *r) {
  twe__wfp_local_result(l->s, l->run_id, r);
  local_free(l);
}

/* A failure with only a message and an application type. */
static void deliver_error(local_t *l, const char *type, const char *message, bool non_retryable) {
  twe_arena_t a;
  twe__arena_init(&a, 0);
  twe_failure_pb_t *f = NULL;
  twe__failure_new(&a, type, message, non_retryable, &f);
  twe_local_result_t r = {.seq = l->seq, .attempt = l->attempt, .status = TWE_LOCAL_FAILED,
                          .failure = f, .original_schedule_time_ns = l->original_schedule_time_ns};
  deliver(l, &r);
  twe__arena_destroy(&a);
}

/* --- attempts -------------------------------------------------------------------------- */

static void start_attempt(local_t *l);

static void on_backoff_timer(twe_timer_t *t) {
  local_t *l = t->data;
  if (l->s->draining) { /* the worker stops: another one runs it again */
    twe__wfp_local_result(l->s, l->run_id, NULL);
    local_free(l);
    return;
  }
  start_attempt(l);
}

/* Copies l's arguments into the attempt's own arena: the code may outlive
 * l (a worker that stops abandons it on its thread). */
static int copy_args(twe_arena_t *a, const local_t *l, twe_payload_t **out) {
  *out = NULL;
  if (!l->nargs) return 0;
  twe_payloads_pb_t *pbs;
  twe_payload_t *items = twe__arena_alloc(a, l->nargs * sizeof *items);
  if (!items || twe__values_to_payloads(a, l->args, l->nargs, &pbs) < 0) return -ENOMEM;
  for (size_t i = 0; i < l->nargs; i++)
    if (twe__value_from_payload(a, pbs->payloads[i], &items[i]) < 0) return -ENOMEM;
  *out = items;
  return 0;
}

static void start_attempt(local_t *l) {
  twe_wshard_t *s = l->s;
  twe_worker_t *w = s->worker;
  const twe_registered_activity_t *reg = twe__registry_activity(&w->registry, l->activity_type);
  if (!reg) {
    char names[1024], msg[1400];
    twe__registry_activity_names(&w->registry, names, sizeof names);
    snprintf(msg, sizeof msg,
             "local activity type \"%s\" is not registered on this worker (registered: %s)",
             l->activity_type, names[0] ? names : "none");
    deliver_error(l, "twe.ActivityNotRegistered", msg, true);
    return;
  }
  twe_arena_t *a = malloc(sizeof *a);
  if (a) twe__arena_init(a, 0);
  twe_payload_t *args = NULL;
  twe_activity_t *act = NULL;
  if (!a || copy_args(a, l, &args) < 0 || !(act = twe__act_new(s->act, a))) {
    if (a) {
      twe__arena_destroy(a);
      free(a);
    }
    deliver_error(l, "twe.WorkerError", "local activity not started: out of memory", false);
    return;
  }
  twe_activity_info_t *info = &act->info;
  char *strs[] = {twe__str(a, l->activity_id), twe__str(a, l->activity_type),
                  twe__str(a, l->workflow_id), twe__str(a, l->run_id),
                  twe__str(a, l->workflow_type)};
  info->namespace_name = w->namespace_name;
  info->task_queue = w->task_queue;
  info->activity_id = strs[0];
  info->activity_type = strs[1];
  info->workflow_id = strs[2];
  info->workflow_run_id = strs[3];
  info->workflow_type = strs[4];
  info->attempt = (int32_t)l->attempt;
  info->is_local = true;
  info->scheduled_time_ns = l->original_schedule_time_ns;
  int64_t now = twe__wall_ns();
  info->started_time_ns = now;
  /* The attempt's deadline: its own timeout, or what is left of all of
   * them, whichever comes first. */
  uint64_t limit = l->start_to_close_ns;
  if (l->schedule_deadline_ns) {
    uint64_t left = l->schedule_deadline_ns > now ? (uint64_t)(l->schedule_deadline_ns - now) : 1;
    if (!limit || left < limit) limit = left;
  }
  info->start_to_close_timeout_ns = limit;
  act->args = args;
  act->nargs = l->nargs;
  act->reg = reg;
  act->local = l;
  l->act = act;
  twe__count(&s->counters.local_activity_attempts, 1);
  twe__m_add(s->metrics, TWE_M_LOCAL_ACTIVITY_TOTAL, label(l), 1);
  twe__act_submit(act);
}

/* The backoff before attempt `attempt + 1` by l's policy. */
static uint64_t backoff_ns(const local_t *l) {
  const twe_retry_policy_t *p = &l->retry;
  double initial = p->initial_interval_ns ? (double)p->initial_interval_ns : (double)SEC;
  double coef = p->backoff_coefficient >= 1.0 ? p->backoff_coefficient : 2.0;
  double max = p->maximum_interval_ns ? (double)p->maximum_interval_ns : 100.0 * initial;
  double b = initial;
  for (uint32_t i = 1; i < l->attempt && b < max; i++) b *= coef;
  return (uint64_t)(b < max ? b : max);
}

static bool non_retryable_type(const local_t *l, const char *type) {
  for (size_t i = 0; type && i < l->retry.non_retryable_error_types_count; i++)
    if (strcmp(l->retry.non_retryable_error_types[i], type) == 0) return true;
  return false;
}

/* A Failure for a timeout of the given kind. */
static int timeout_failure(twe_arena_t *a, bool schedule_to_close, twe_failure_pb_t **out) {
  twe_failure_pb_t *f = twe__arena_alloc(a, sizeof *f);
  Temporal__Api__Failure__V1__TimeoutFailureInfo *t = twe__arena_alloc(a, sizeof *t);
  if (!f || !t) return -ENOMEM;
  temporal__api__failure__v1__failure__init(f);
  temporal__api__failure__v1__timeout_failure_info__init(t);
  t->timeout_type = schedule_to_close
                        ? TEMPORAL__API__ENUMS__V1__TIMEOUT_TYPE__TIMEOUT_TYPE_SCHEDULE_TO_CLOSE
                        : TEMPORAL__API__ENUMS__V1__TIMEOUT_TYPE__TIMEOUT_TYPE_START_TO_CLOSE;
  f->message = schedule_to_close ? "local activity ScheduleToClose timeout"
                                 : "local activity StartToClose timeout";
  f->source = "twe";
  f->failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_TIMEOUT_FAILURE_INFO;
  f->timeout_failure_info = t;
  *out = f;
  return 0;
}

static int canceled_failure(twe_arena_t *a, twe_failure_pb_t **out) {
  twe_failure_pb_t *f = twe__arena_alloc(a, sizeof *f);
  Temporal__Api__Failure__V1__CanceledFailureInfo *c = twe__arena_alloc(a, sizeof *c);
  if (!f || !c) return -ENOMEM;
  temporal__api__failure__v1__failure__init(f);
  temporal__api__failure__v1__canceled_failure_info__init(c);
  f->message = "local activity canceled";
  f->source = "twe";
  f->failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CANCELED_FAILURE_INFO;
  f->canceled_failure_info = c;
  *out = f;
  return 0;
}

void twe__local_attempt_done(twe_activity_t *act) {
  local_t *l = act->local;
  l->act = NULL;
  twe_wshard_t *s = l->s;
  int cancel = atomic_load_explicit(&act->cancel, memory_order_relaxed);
  twe_arena_t a;
  twe__arena_init(&a, 0);
  twe_local_result_t r = {.seq = l->seq, .attempt = l->attempt,
                          .original_schedule_time_ns = l->original_schedule_time_ns};
  twe_failure_pb_t *f = NULL;
  bool retryable = false, lost = false;
  int rc = 0;
  int64_t now = twe__wall_ns();
  bool past_deadline = l->schedule_deadline_ns && now >= l->schedule_deadline_ns;
  if ((cancel == TWE__ACT_CANCEL_WORKER || s->draining) && act->outcome != TWE__ACT_COMPLETED) {
    lost = true; /* the worker stops: another one runs it again */
  } else if (act->engine_fail_type) {
    rc = twe__failure_new(&a, act->engine_fail_type, act->engine_fail_message,
                          act->engine_fail_non_retryable, &f);
    retryable = !act->engine_fail_non_retryable;
  } else if (act->outcome == TWE__ACT_COMPLETED) {
    r.status = TWE_LOCAL_COMPLETED;
    r.result = &act->result;
  } else if (act->outcome == TWE__ACT_FAILED) {
    rc = twe__failure_from_error(&a, &act->error, &f);
    retryable = !act->error.non_retryable && !non_retryable_type(l, act->error.type);
  } else if (act->deadline_hit) {
    rc = timeout_failure(&a, past_deadline, &f);
    retryable = !past_deadline;
  } else if (l->stop_asked) {
    rc = canceled_failure(&a, &f);
  } else { /* returned without an outcome: completed with null */
    r.status = TWE_LOCAL_COMPLETED;
  }
  if (rc < 0 && !lost) {
    /* No failure to tell: try the attempt again rather than lose it. */
    retryable = true;
    f = NULL;
  }
  if (f || (rc < 0 && !lost)) {
    r.status = TWE_LOCAL_FAILED;
    r.failure = f;
    if (retryable && !l->stop_asked &&
        !(l->retry.maximum_attempts > 0 && l->attempt >= (uint32_t)l->retry.maximum_attempts)) {
      uint64_t b = backoff_ns(l);
      if (l->schedule_deadline_ns && now + (int64_t)b >= l->schedule_deadline_ns) {
        /* The next attempt could not start in time: the last failure
         * stands. */
      } else if (b <= l->threshold_ns) {
        l->attempt++;
        twe__act_free(act);
        twe__arena_destroy(&a);
        twe__timer_start(&l->backoff_timer, b);
        return;
      } else {
        r.status = TWE_LOCAL_BACKOFF;
        r.backoff_ns = b;
      }
    }
  }
  if (!lost && r.status == TWE_LOCAL_COMPLETED && now > l->original_schedule_time_ns)
    twe__m_observe(s->metrics, TWE_M_LOCAL_ACTIVITY_SUCCEED_ENDTOEND_LATENCY, label(l),
                   (uint64_t)(now - l->original_schedule_time_ns));
  else if (!lost)
    twe__m_add(s->metrics,
               l->stop_asked ? TWE_M_LOCAL_ACTIVITY_EXECUTION_CANCELLED
                             : TWE_M_LOCAL_ACTIVITY_EXECUTION_FAILED,
               label(l), 1);
  if (lost) {
    twe__wfp_local_result(s, l->run_id, NULL);
    local_free(l);
  } else {
    deliver(l, &r);
  }
  twe__act_free(act);
  twe__arena_destroy(&a);
}

/* --- requests from runs ----------------------------------------------------------------- */

static local_t *find(twe_wshard_t *s, const char *run_id, uint32_t seq) {
  for (local_t *l = s->locals; l; l = l->next)
    if (l->seq == seq && strcmp(l->run_id, run_id) == 0) return l;
  return NULL;
}

static void stop(twe_wshard_t *s, const char *run_id, uint32_t seq) {
  local_t *l = find(s, run_id, seq);
  if (!l) return;
  l->stop_asked = true;
  if (l->act) {
    twe__act_cancel(l->act);
    return;
  }
  /* Between attempts: over now. */
  twe_arena_t a;
  twe__arena_init(&a, 0);
  twe_failure_pb_t *f = NULL;
  canceled_failure(&a, &f);
  twe_local_result_t r = {.seq = l->seq, .attempt = l->attempt, .status = TWE_LOCAL_FAILED,
                          .failure = f, .original_schedule_time_ns = l->original_schedule_time_ns};
  deliver(l, &r);
  twe__arena_destroy(&a);
}

static local_t *local_new(twe_wshard_t *s, const char *run_id, const char *workflow_id,
                          const char *workflow_type, const twe_local_request_t *rq) {
  local_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->s = s;
  twe__arena_init(&l->arena, 0);
  twe_arena_t *a = &l->arena;
  l->run_id = twe__str(a, run_id);
  l->workflow_id = twe__str(a, workflow_id);
  l->workflow_type = twe__str(a, workflow_type);
  l->activity_id = twe__str(a, rq->activity_id);
  l->activity_type = twe__str(a, rq->activity_type);
  bool ok = l->run_id && l->workflow_id && l->workflow_type && l->activity_id && l->activity_type;
  l->retry = rq->retry;
  size_t k = rq->retry.non_retryable_error_types_count;
  const char **types = k ? twe__arena_alloc(a, k * sizeof *types) : NULL;
  ok = ok && (!k || types);
  for (size_t i = 0; ok && i < k; i++)
    ok = (types[i] = twe__str(a, rq->retry.non_retryable_error_types[i])) != NULL;
  l->retry.non_retryable_error_types = types;
  l->nargs = rq->nargs;
  if (ok && rq->nargs) ok = copy_args(a, &(local_t){.args = (twe_payload_t *)rq->args,
                                                    .nargs = rq->nargs},
                                      &l->args) == 0;
  if (!ok) {
    twe__arena_destroy(a);
    free(l);
    return NULL;
  }
  l->seq = rq->seq;
  l->attempt = rq->attempt ? rq->attempt : 1;
  l->start_to_close_ns = rq->start_to_close_timeout_ns;
  l->threshold_ns = rq->local_retry_threshold_ns;
  l->original_schedule_time_ns =
      rq->original_schedule_time_ns ? rq->original_schedule_time_ns : twe__wall_ns();
  if (rq->schedule_to_close_timeout_ns)
    l->schedule_deadline_ns =
        l->original_schedule_time_ns + (int64_t)rq->schedule_to_close_timeout_ns;
  twe__timer_init(s->reactor, &l->backoff_timer, on_backoff_timer);
  l->backoff_timer.data = l;
  l->next = s->locals;
  if (s->locals) s->locals->prev = l;
  s->locals = l;
  return l;
}

void twe__local_dispatch(twe_wshard_t *s, const char *run_id, const char *workflow_id,
                         const char *workflow_type, const twe_local_request_t *reqs) {
  for (const twe_local_request_t *rq = reqs; rq; rq = rq->next) {
    if (rq->cancel) {
      stop(s, run_id, rq->seq);
      continue;
    }
    if (!s->act || !s->pool) {
      twe_local_result_t r = {.seq = rq->seq, .attempt = rq->attempt, .status = TWE_LOCAL_FAILED};
      twe_arena_t a;
      twe__arena_init(&a, 0);
      twe__failure_new(&a, "twe.WorkerError", "local activity not started: no activity threads",
                       true, (twe_failure_pb_t **)&r.failure);
      twe__wfp_local_result(s, run_id, &r);
      twe__arena_destroy(&a);
      continue;
    }
    local_t *l = local_new(s, run_id, workflow_id, workflow_type, rq);
    if (!l) {
      /* Out of memory: the run's task is given up, and the server retries
       * it (with this activity) later. */
      twe__log(s->worker, TWE_LOG_ERROR, (int)s->index, workflow_type, workflow_id, run_id,
               "local activity %s not started: out of memory", rq->activity_type);
      twe__wfp_local_result(s, run_id, NULL);
      continue;
    }
    start_attempt(l);
  }
}

void twe__local_shard_destroy(twe_wshard_t *s) {
  while (s->locals) {
    local_t *l = s->locals;
    if (l->act) l->act->local = NULL; /* the activity side frees or detaches it */
    local_free(l);
  }
}
