/* engine/workflow/machine_activity.c — the activity machine: a
 * SCHEDULE_ACTIVITY_TASK command, its ACTIVITY_TASK_SCHEDULED event, then
 * STARTED and COMPLETED / FAILED, or TIMED_OUT; and the workflow calls that
 * make one (twe_workflow_start_activity, twe_workflow_execute_activity).
 *
 *   CREATED --SENT--> SCHEDULE_SENT --ACTIVITY_TASK_SCHEDULED--> SCHEDULED
 *   CREATED --ACTIVITY_TASK_SCHEDULED--> SCHEDULED          (replay)
 *   SCHEDULED --ACTIVITY_TASK_STARTED--> STARTED
 *   STARTED --ACTIVITY_TASK_COMPLETED--> COMPLETED, or FAILED when the result
 *     claims JSON and is not (the activity's fault, the same on every replay)
 *   STARTED --ACTIVITY_TASK_FAILED--> FAILED
 *   SCHEDULED | STARTED --ACTIVITY_TASK_TIMED_OUT--> TIMED_OUT
 *
 * Cancellation (twe_future_cancel, or its scope cancelled), by the
 * activity's cancellation type:
 *   CREATED --CANCEL--> CANCELED          (never sent: nothing goes out)
 *   SCHEDULED | STARTED --CANCEL--> ABANDONED (abandon: no request; later
 *     events of the activity are taken and change nothing), or
 *     CANCEL_CREATED (try, wait: REQUEST_CANCEL_ACTIVITY_TASK queued; try
 *     fails the future now)
 *   CANCEL_CREATED --SENT--> CANCEL_SENT
 *   CANCEL_CREATED | CANCEL_SENT --ACTIVITY_TASK_CANCEL_REQUESTED-->
 *     CANCEL_REQUESTED
 *   CANCEL_REQUESTED --ACTIVITY_TASK_CANCELED--> CANCELED (wait: the future
 *     fails now), or --STARTED--> itself, or --COMPLETED / FAILED /
 *     TIMED_OUT--> as without a cancel (the activity ended first; a try's
 *     future already failed and stays so)
 *
 * The server writes STARTED only when the last attempt ends, just before
 * COMPLETED / FAILED / CANCELED; a timeout may come without it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define ATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

enum {
  CREATED,
  SCHEDULE_SENT,
  SCHEDULED,
  STARTED,
  COMPLETED,
  FAILED,
  TIMED_OUT,
  CANCELED,
  ABANDONED,
  CANCEL_CREATED,
  CANCEL_SENT,
  CANCEL_REQUESTED,
  N_STATES
};
static const char *const state_names[N_STATES] = {
    "CREATED",  "SCHEDULE_SENT", "SCHEDULED",      "STARTED",     "COMPLETED",       "FAILED",
    "TIMED_OUT", "CANCELED",     "ABANDONED",      "CANCEL_CREATED", "CANCEL_SENT",
    "CANCEL_REQUESTED"};

typedef struct activity_machine {
  twe__machine_t m; /* first: the common part */
  twe_future_t *future;
  const char *type; /* in the run arena */
  twe_cancellation_type_t cancellation_type;
} activity_machine_t;

/* --- actions ------------------------------------------------------------------ */

static int act_completed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  activity_machine_t *am = (activity_machine_t *)m;
  twe__machine_unindex(run, m->initiated_event_id);
  if (am->future->ready) return 0; /* a try-cancel failed it already */
  const Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a =
      e->activity_task_completed_event_attributes;
  /* The code is promised that json/plain values are JSON. A bad result is
   * the activity's fault; the workflow sees it as the activity failing, the
   * same way on every replay. */
  if (a->result && a->result->n_payloads) {
    char why[256], msg[512];
    if (twe__value_check(a->result->payloads[0], why, sizeof why) < 0) {
      snprintf(msg, sizeof msg, "activity \"%s\" returned a result that is not valid JSON: %s",
               am->type, why);
      *to = FAILED;
      return twe__run_resolve_error(run, am->future, "twe.InvalidArgument", msg);
    }
  }
  return twe__run_resolve_ok(run, am->future, a->result);
}

static int resolve_failure(twe_run_t *run, twe__machine_t *m, const twe_failure_pb_t *f,
                           const char *fallback_type, const char *fallback_message) {
  activity_machine_t *am = (activity_machine_t *)m;
  twe__machine_unindex(run, m->initiated_event_id);
  if (am->future->ready) return 0; /* a try-cancel failed it already */
  if (f) return twe__run_resolve_failed(run, am->future, f);
  return twe__run_resolve_error(run, am->future, fallback_type, fallback_message);
}

static int act_failed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  return resolve_failure(run, m, e->activity_task_failed_event_attributes->failure, "Error",
                         "activity failed");
}

static int act_timed_out(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  return resolve_failure(run, m, e->activity_task_timed_out_event_attributes->failure,
                         "TimeoutError", "activity timed out");
}

static int resolve_canceled(twe_run_t *run, activity_machine_t *am) {
  return am->future->ready ? 0
                           : twe__run_resolve_error(run, am->future, "CanceledError",
                                                    "activity canceled");
}

/* Cancelled before the schedule went out: nothing reaches the server. */
static int act_cancel_unsent(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_drop_command(run, m);
  return resolve_canceled(run, (activity_machine_t *)m);
}

/* Cancelled once scheduled: by the cancellation type. */
static int act_cancel(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e;
  activity_machine_t *am = (activity_machine_t *)m;
  if (am->cancellation_type == TWE_CANCEL_ABANDON) {
    *to = ABANDONED;
    return resolve_canceled(run, am);
  }
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__RequestCancelActivityTaskCommandAttributes *r =
      twe__arena_alloc(a, sizeof *r);
  if (!c || !r) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__request_cancel_activity_task_command_attributes__init(r);
  r->scheduled_event_id = m->initiated_event_id;
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK;
  c->attributes_case = CATTR(REQUEST_CANCEL_ACTIVITY_TASK);
  c->request_cancel_activity_task_command_attributes = r;
  if (twe__machine_command(run, m, c) < 0) return twe__run_oom(run);
  return am->cancellation_type == TWE_CANCEL_TRY ? resolve_canceled(run, am) : 0;
}

static int act_canceled(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  return resolve_canceled(run, (activity_machine_t *)m);
}

/* An abandoned activity's events: it ran on; nobody waits for it. */
static int act_abandoned_end(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e,
                             int *to) {
  (void)e, (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  return 0;
}

static int cancel(twe_run_t *run, twe__machine_t *m) {
  switch (m->state) {
    case CREATED:
    case SCHEDULED:
    case STARTED:
      return twe__machine_input(run, m, TWE__IN_CANCEL, NULL);
    default: /* done, or its cancellation is under way */
      return 0;
  }
}

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, SCHEDULE_SENT, NULL},
    {CREATED, EV(ACTIVITY_TASK_SCHEDULED), SCHEDULED, twe__machine_act_initiated},
    {SCHEDULE_SENT, EV(ACTIVITY_TASK_SCHEDULED), SCHEDULED, twe__machine_act_initiated},
    {SCHEDULED, EV(ACTIVITY_TASK_STARTED), STARTED, NULL},
    {STARTED, EV(ACTIVITY_TASK_COMPLETED), COMPLETED, act_completed},
    {STARTED, EV(ACTIVITY_TASK_FAILED), FAILED, act_failed},
    {SCHEDULED, EV(ACTIVITY_TASK_TIMED_OUT), TIMED_OUT, act_timed_out},
    {STARTED, EV(ACTIVITY_TASK_TIMED_OUT), TIMED_OUT, act_timed_out},
    {CREATED, TWE__IN_CANCEL, CANCELED, act_cancel_unsent},
    {SCHEDULED, TWE__IN_CANCEL, CANCEL_CREATED, act_cancel},
    {STARTED, TWE__IN_CANCEL, CANCEL_CREATED, act_cancel},
    {ABANDONED, EV(ACTIVITY_TASK_STARTED), ABANDONED, NULL},
    {ABANDONED, EV(ACTIVITY_TASK_COMPLETED), ABANDONED, act_abandoned_end},
    {ABANDONED, EV(ACTIVITY_TASK_FAILED), ABANDONED, act_abandoned_end},
    {ABANDONED, EV(ACTIVITY_TASK_TIMED_OUT), ABANDONED, act_abandoned_end},
    {CANCEL_CREATED, TWE__IN_SENT, CANCEL_SENT, NULL},
    {CANCEL_CREATED, EV(ACTIVITY_TASK_CANCEL_REQUESTED), CANCEL_REQUESTED, NULL},
    {CANCEL_SENT, EV(ACTIVITY_TASK_CANCEL_REQUESTED), CANCEL_REQUESTED, NULL},
    {CANCEL_REQUESTED, EV(ACTIVITY_TASK_STARTED), CANCEL_REQUESTED, NULL},
    {CANCEL_REQUESTED, EV(ACTIVITY_TASK_CANCELED), CANCELED, act_canceled},
    {CANCEL_REQUESTED, EV(ACTIVITY_TASK_COMPLETED), COMPLETED, act_completed},
    {CANCEL_REQUESTED, EV(ACTIVITY_TASK_FAILED), FAILED, act_failed},
    {CANCEL_REQUESTED, EV(ACTIVITY_TASK_TIMED_OUT), TIMED_OUT, act_timed_out},
};
TWE__MKIND_HITS(hits, rows);

/* --- events ------------------------------------------------------------------- */

static int64_t ref_started(const twe_event_pb_t *e) {
  return e->activity_task_started_event_attributes->scheduled_event_id;
}
static int64_t ref_completed(const twe_event_pb_t *e) {
  return e->activity_task_completed_event_attributes->scheduled_event_id;
}
static int64_t ref_failed(const twe_event_pb_t *e) {
  return e->activity_task_failed_event_attributes->scheduled_event_id;
}
static int64_t ref_timed_out(const twe_event_pb_t *e) {
  return e->activity_task_timed_out_event_attributes->scheduled_event_id;
}
static int64_t ref_canceled(const twe_event_pb_t *e) {
  return e->activity_task_canceled_event_attributes->scheduled_event_id;
}

static const twe__mfollow_up_t follow_ups[] = {
    {EV(ACTIVITY_TASK_STARTED), ATTR(ACTIVITY_TASK_STARTED), ref_started, "scheduled"},
    {EV(ACTIVITY_TASK_COMPLETED), ATTR(ACTIVITY_TASK_COMPLETED), ref_completed, "scheduled"},
    {EV(ACTIVITY_TASK_FAILED), ATTR(ACTIVITY_TASK_FAILED), ref_failed, "scheduled"},
    {EV(ACTIVITY_TASK_TIMED_OUT), ATTR(ACTIVITY_TASK_TIMED_OUT), ref_timed_out, "scheduled"},
    {EV(ACTIVITY_TASK_CANCELED), ATTR(ACTIVITY_TASK_CANCELED), ref_canceled, "scheduled"},
};

/* An id twe generated is only a position (its sequence number), and
 * commands are already matched to events in order, so it is not compared:
 * that adds no check, and lets a history recorded by another SDK replay
 * (the Go SDK numbers ids by the event id it expects, sdk-core by a
 * sequence per command type). An id the code chose must match. */
static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  if (c->attributes_case == CATTR(REQUEST_CANCEL_ACTIVITY_TASK))
    return c->request_cancel_activity_task_command_attributes->scheduled_event_id ==
           e->activity_task_cancel_requested_event_attributes->scheduled_event_id;
  const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
      c->schedule_activity_task_command_attributes;
  const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *b =
      e->activity_task_scheduled_event_attributes;
  return (m->id_generated || twe__str_eq(a->activity_id, b->activity_id)) &&
         twe__str_eq(a->activity_type ? a->activity_type->name : NULL,
                b->activity_type ? b->activity_type->name : NULL);
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const twe_command_pb_t *c = m->origin;
  snprintf(buf, len, "activity %s (id %s)", ((const activity_machine_t *)m)->type,
           c->schedule_activity_task_command_attributes->activity_id);
}

const twe__mkind_t twe__mk_activity = {
    .name = "activity",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .follow_ups = follow_ups,
    .n_follow_ups = sizeof follow_ups / sizeof follow_ups[0],
    .same_key = same_key,
    .cancel = cancel,
    .describe = describe,
    .hits = hits,
};

/* --- the command and the workflow calls ------------------------------------------- */

/* A non-zero duration as a Duration message; *ok false when out of memory. */
static Google__Protobuf__Duration *duration(twe_arena_t *a, uint64_t ns, bool *ok) {
  if (!ns) return NULL;
  Google__Protobuf__Duration *d = twe__duration_pb(a, ns);
  if (!d) *ok = false;
  return d;
}

/* The SCHEDULE_ACTIVITY_TASK command for type, in the run arena. */
static int build_command(twe_run_t *run, const char *type, const char *activity_id,
                         const twe_activity_options_t *options, const twe_payload_t *args,
                         size_t nargs, twe_command_pb_t **out) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *s =
      twe__arena_alloc(a, sizeof *s);
  Temporal__Api__Common__V1__ActivityType *at = twe__arena_alloc(a, sizeof *at);
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = twe__arena_alloc(a, sizeof *tq);
  if (!c || !s || !at || !tq) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__schedule_activity_task_command_attributes__init(s);
  temporal__api__common__v1__activity_type__init(at);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  s->activity_id = twe__str(a, activity_id);
  at->name = twe__str(a, type);
  tq->name = twe__str(a, options->task_queue && *options->task_queue ? options->task_queue
                                                                       : run->info.task_queue);
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  if (!s->activity_id || !at->name || !tq->name) return twe__arena_error(a);
  s->activity_type = at;
  s->task_queue = tq;
  int rc = twe__values_to_payloads(a, args, nargs, &s->input);
  if (rc < 0) return rc;
  bool ok = true;
  s->schedule_to_close_timeout = duration(a, options->schedule_to_close_timeout_ns, &ok);
  s->schedule_to_start_timeout = duration(a, options->schedule_to_start_timeout_ns, &ok);
  s->start_to_close_timeout = duration(a, options->start_to_close_timeout_ns, &ok);
  s->heartbeat_timeout = duration(a, options->heartbeat_timeout_ns, &ok);
  if (!ok) return twe__arena_error(a);
  if (options->retry_policy) {
    rc = twe__retry_policy_to_pb(a, options->retry_policy, &s->retry_policy);
    if (rc < 0) return rc;
  }
  s->request_eager_execution = false;
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK;
  c->attributes_case = CATTR(SCHEDULE_ACTIVITY_TASK);
  c->schedule_activity_task_command_attributes = s;
  *out = c;
  return 0;
}

int twe_workflow_start_activity(twe_workflow_t *wf, const char *type,
                                const twe_activity_options_t *options, const twe_payload_t *args,
                                size_t nargs, twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (out) *out = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!type || !*type || !options || (nargs && !args)) return -EINVAL;
  if (!options->schedule_to_close_timeout_ns && !options->start_to_close_timeout_ns)
    return -EINVAL;
  if (run->closed) return -EINVAL;

  /* One sequence for activity and timer ids ("1", "2", ...); a call that
   * fails does not use a number. Replay compares only ids the code chose
   * (same_key). */
  uint32_t seq = run->seq + 1;
  char idbuf[16];
  snprintf(idbuf, sizeof idbuf, "%u", seq);
  twe_command_pb_t *c;
  rc = build_command(run, type, options->activity_id ? options->activity_id : idbuf, options,
                         args, nargs, &c);
  if (rc < 0) return rc;
  twe_future_t *f = twe__future_new(run);
  activity_machine_t *am = twe__machine_new(run, &twe__mk_activity, sizeof *am);
  if (!f || !am) return twe__arena_error(&run->arena);
  am->type = c->schedule_activity_task_command_attributes->activity_type->name;
  am->future = f;
  am->m.id_generated = options->activity_id == NULL;
  am->cancellation_type = options->cancellation_type;
  f->machine = &am->m;
  if ((rc = twe__machine_command(run, &am->m, c)) < 0) return rc;
  run->seq = seq;
  if ((rc = twe__scope_adopt(run, &am->m)) < 0) return rc;
  if (out) *out = f;
  return 0;
}

int twe_workflow_execute_activity(twe_workflow_t *wf, const char *type,
                                  const twe_activity_options_t *options,
                                  const twe_payload_t *args, size_t nargs, twe_payload_t *result,
                                  twe_error_info_t *error) {
  TWE__WATCH_API_GUARD();
  int rc = twe__run_refuse_in_query(twe__run_of(wf, __func__), __func__);
  if (rc < 0) return rc;
  twe_future_t *f;
  rc = twe_workflow_start_activity(wf, type, options, args, nargs, &f);
  if (rc < 0) return rc;
  rc = twe_future_wait(wf, f);
  if (rc == 0 && result) twe_future_result(f, result);
  if (rc == TWE_EFAILED && error) twe_future_error(f, error);
  return rc;
}
