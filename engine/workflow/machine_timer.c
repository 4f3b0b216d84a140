/* engine/workflow/machine_timer.c — the timer machine: a START_TIMER
 * command, its TIMER_STARTED event, then TIMER_FIRED; or a cancellation by
 * the code (a CANCEL_TIMER command and its TIMER_CANCELED event, or no
 * command at all when the start never went out); and the workflow calls
 * that make one (twe_workflow_start_timer, twe_workflow_sleep).
 *
 *   CREATED --SENT--> START_SENT --TIMER_STARTED--> STARTED
 *   CREATED --TIMER_STARTED--> STARTED                     (replay)
 *   STARTED --TIMER_FIRED--> FIRED
 *   CREATED --CANCEL--> CANCELED         (the start is dropped, unsent)
 *   STARTED --CANCEL--> CANCEL_CREATED   (CANCEL_TIMER queued)
 *   CANCEL_CREATED --SENT--> CANCEL_SENT --TIMER_CANCELED--> CANCELED
 *   CANCEL_CREATED --TIMER_CANCELED--> CANCELED            (replay)
 *
 * The code cancels a timer with twe_future_cancel (futures.c).
 *
 * A cancelled timer's future fails at once with a CanceledError, as in the
 * SDKs; the code does not wait for TIMER_CANCELED. A timer that fired while
 * its CANCEL_TIMER was on the way: the server drops the buffered
 * TIMER_FIRED and records TIMER_CANCELED, so the history stays as above. */
#include <errno.h>
#include <stdint.h>
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
#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x

enum { CREATED, START_SENT, STARTED, FIRED, CANCEL_CREATED, CANCEL_SENT, CANCELED, N_STATES };
static const char *const state_names[N_STATES] = {
    "CREATED", "START_SENT", "STARTED", "FIRED", "CANCEL_CREATED", "CANCEL_SENT", "CANCELED"};

typedef struct timer_machine {
  twe__machine_t m; /* first: the common part */
  twe_future_t *future;
  const char *timer_id; /* in the run arena */
  uint64_t duration_ns; /* as sent: whole milliseconds */
} timer_machine_t;

/* --- actions ------------------------------------------------------------------ */

static int act_fired(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  return twe__run_resolve_ok(run, ((timer_machine_t *)m)->future, NULL);
}

static int resolve_canceled(twe_run_t *run, timer_machine_t *tm) {
  return twe__run_resolve_error(run, tm->future, "CanceledError", "timer canceled");
}

/* Cancelled before the start went out: nothing reaches the server. */
static int act_cancel_unsent(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_drop_command(run, m);
  return resolve_canceled(run, (timer_machine_t *)m);
}

static int act_cancel(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  timer_machine_t *tm = (timer_machine_t *)m;
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__CancelTimerCommandAttributes *t = twe__arena_alloc(a, sizeof *t);
  if (!c || !t) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__cancel_timer_command_attributes__init(t);
  t->timer_id = (char *)tm->timer_id;
  c->command_type = CMD(CANCEL_TIMER);
  c->attributes_case = CATTR(CANCEL_TIMER);
  c->cancel_timer_command_attributes = t;
  if (twe__machine_command(run, m, c) < 0) return twe__run_oom(run);
  return resolve_canceled(run, tm);
}

static int act_canceled(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  return 0;
}

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, START_SENT, NULL},
    {CREATED, EV(TIMER_STARTED), STARTED, twe__machine_act_initiated},
    {START_SENT, EV(TIMER_STARTED), STARTED, twe__machine_act_initiated},
    {STARTED, EV(TIMER_FIRED), FIRED, act_fired},
    {CREATED, TWE__IN_CANCEL, CANCELED, act_cancel_unsent},
    {STARTED, TWE__IN_CANCEL, CANCEL_CREATED, act_cancel},
    {CANCEL_CREATED, TWE__IN_SENT, CANCEL_SENT, NULL},
    {CANCEL_CREATED, EV(TIMER_CANCELED), CANCELED, act_canceled},
    {CANCEL_SENT, EV(TIMER_CANCELED), CANCELED, act_canceled},
};
TWE__MKIND_HITS(hits, rows);

/* --- events ------------------------------------------------------------------- */

static int64_t ref_fired(const twe_event_pb_t *e) {
  return e->timer_fired_event_attributes->started_event_id;
}

/* Fired or cancelled already: nothing to do. */
static int cancel(twe_run_t *run, twe__machine_t *m) {
  if (m->state != CREATED && m->state != STARTED) return 0;
  return twe__machine_input(run, m, TWE__IN_CANCEL, NULL);
}

static const twe__mfollow_up_t follow_ups[] = {
    {EV(TIMER_FIRED), ATTR(TIMER_FIRED), ref_fired, "started"},
};

/* Timer ids are twe's sequence numbers (positions, not compared: see the
 * activity machine) unless the code chose one. */
static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  if (m->id_generated) return true;
  if (c->attributes_case == CATTR(START_TIMER))
    return twe__str_eq(c->start_timer_command_attributes->timer_id,
                  e->timer_started_event_attributes->timer_id);
  return twe__str_eq(c->cancel_timer_command_attributes->timer_id,
                e->timer_canceled_event_attributes->timer_id);
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const timer_machine_t *tm = (const timer_machine_t *)m;
  snprintf(buf, len, "timer %s (%.3f s)", tm->timer_id, (double)tm->duration_ns / 1e9);
}

const twe__mkind_t twe__mk_timer = {
    .name = "timer",
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

int twe__run_start_timer(twe_run_t *run, uint64_t duration_ns, twe_future_t **out) {
  return twe__run_start_timer_in(run, duration_ns, NULL, out);
}

int twe__run_start_timer_in(twe_run_t *run, uint64_t duration_ns, twe_scope_t *scope,
                            twe_future_t **out) {
  *out = NULL;
  if (!duration_ns || run->closed) return -EINVAL;
  /* The server counts timers in whole milliseconds: round up, never down
   * (a timer must not fire early). */
  uint64_t ms = duration_ns / 1000000u + (duration_ns % 1000000u != 0);
  if (ms > UINT64_MAX / 1000000u) ms = UINT64_MAX / 1000000u;
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__StartTimerCommandAttributes *t = twe__arena_alloc(a, sizeof *t);
  twe_future_t *f = twe__future_new(run);
  timer_machine_t *tm = twe__machine_new(run, &twe__mk_timer, sizeof *tm);
  if (!c || !t || !f || !tm) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__start_timer_command_attributes__init(t);
  uint32_t seq = run->seq + 1;
  char idbuf[16];
  snprintf(idbuf, sizeof idbuf, "%u", seq);
  t->timer_id = twe__str(a, idbuf);
  t->start_to_fire_timeout = twe__duration_pb(a, ms * 1000000u);
  if (!t->timer_id || !t->start_to_fire_timeout) return twe__arena_error(a);
  c->command_type = CMD(START_TIMER);
  c->attributes_case = CATTR(START_TIMER);
  c->start_timer_command_attributes = t;
  tm->future = f;
  tm->timer_id = t->timer_id;
  tm->duration_ns = ms * 1000000u;
  tm->m.id_generated = true;
  f->machine = &tm->m;
  int rc = twe__machine_command(run, &tm->m, c);
  if (rc < 0) return rc;
  run->seq = seq;
  *out = f;
  return twe__scope_adopt_in(run, scope, &tm->m);
}

int twe_workflow_start_timer(twe_workflow_t *wf, uint64_t duration_ns, twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (out) *out = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  twe_future_t *f;
  rc = twe__run_start_timer(run, duration_ns, &f);
  if (out) *out = f;
  return rc;
}

int twe_workflow_sleep(twe_workflow_t *wf, uint64_t duration_ns) {
  TWE__WATCH_API_GUARD();
  int rc = twe__run_refuse_in_query(twe__run_of(wf, __func__), __func__);
  if (rc < 0) return rc;
  twe_future_t *f;
  rc = twe_workflow_start_timer(wf, duration_ns, &f);
  if (rc < 0) return rc;
  twe_future_wait(wf, f);
  return 0;
}
