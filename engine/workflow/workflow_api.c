/* engine/workflow/workflow_api.c — what workflow code calls (include/twe/workflow.h):
 * info, arguments, deterministic time and randomness, activities, timers,
 * futures, and how the workflow ends. Builds the commands in the run's
 * arena and hands them to the run (engine/workflow/run_internal.h).
 *
 * Every function taking a twe_workflow_t must be called by the workflow
 * code of that run, on its fiber, during an activation: anything else is a
 * programming error and aborts with a message naming the function (there
 * is no sensible value to return, and carrying on would break determinism
 * silently). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/workflow/machines.h"
#include "engine/workflow/run_internal.h"
#include "engine/values.h"
#include "engine/watchdog.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

static int arena_error(const twe_run_t *run) {
  return twe__arena_error(&run->arena);
}

/* --- context ------------------------------------------------------------------------ */

const twe_workflow_info_t *twe_workflow_info(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return &twe__run_of(wf, __func__)->info;
}

size_t twe_workflow_arg_count(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->nargs;
}

int twe_workflow_arg(twe_workflow_t *wf, size_t i, twe_payload_t *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (i >= run->nargs) return -ERANGE;
  *out = run->args[i];
  return 0;
}

int64_t twe_workflow_now(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->now_ns;
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t twe_workflow_random(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  /* xoshiro256**, seeded in run.c from the original run id. */
  uint64_t *s = twe__run_of(wf, __func__)->rng;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

bool twe_workflow_is_replaying(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->replaying;
}

void *twe_workflow_alloc(twe_workflow_t *wf, size_t size) {
  TWE__WATCH_API_GUARD();
  return twe__arena_alloc(&twe__run_of(wf, __func__)->arena, size);
}

/* --- commands ------------------------------------------------------------------------- */

static twe_future_t *fail_with(int *err, int rc) {
  if (err) *err = rc;
  return NULL;
}

static twe_future_t *new_future(twe_run_t *run) {
  twe_future_t *f = twe__arena_alloc(&run->arena, sizeof *f);
  if (f) {
    memset(f, 0, sizeof *f);
    f->run = run;
  }
  return f;
}

/* A non-zero duration as a Duration message; *ok false when out of memory. */
static Google__Protobuf__Duration *duration(twe_run_t *run, uint64_t ns, bool *ok) {
  if (!ns) return NULL;
  Google__Protobuf__Duration *d = twe__duration_pb(&run->arena, ns);
  if (!d) *ok = false;
  return d;
}

/* The bodies of twe_workflow_start_activity / _start_timer: the future, or
 * NULL with the reason in *err. */
static twe_future_t *start_activity(twe_workflow_t *wf, const char *type,
                                    const twe_activity_options_t *options,
                                    const twe_payload_t *args, size_t nargs, int *err) {
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!type || !*type || !options || (nargs && !args)) return fail_with(err, -EINVAL);
  if (!options->schedule_to_close_timeout_ns && !options->start_to_close_timeout_ns)
    return fail_with(err, -EINVAL);
  if (run->closed) return fail_with(err, -EINVAL);

  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *s =
      twe__arena_alloc(a, sizeof *s);
  Temporal__Api__Common__V1__ActivityType *at = twe__arena_alloc(a, sizeof *at);
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = twe__arena_alloc(a, sizeof *tq);
  twe_future_t *f = new_future(run);
  if (!c || !s || !at || !tq || !f) return fail_with(err, arena_error(run));
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__schedule_activity_task_command_attributes__init(s);
  temporal__api__common__v1__activity_type__init(at);
  temporal__api__taskqueue__v1__task_queue__init(tq);

  /* One sequence for activity and timer ids ("1", "2", ...); a call that
   * fails does not use a number. Replay compares only ids the code chose
   * (machines.c). */
  uint32_t seq = run->seq + 1;
  char idbuf[16];
  snprintf(idbuf, sizeof idbuf, "%u", seq);
  s->activity_id = twe__str(a, options->activity_id ? options->activity_id : idbuf);
  at->name = twe__str(a, type);
  tq->name = twe__str(a, options->task_queue && *options->task_queue ? options->task_queue
                                                                       : run->info.task_queue);
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  if (!s->activity_id || !at->name || !tq->name) return fail_with(err, arena_error(run));
  s->activity_type = at;
  s->task_queue = tq;
  int rc = twe__values_to_payloads(a, args, nargs, &s->input);
  if (rc < 0) return fail_with(err, rc);
  bool ok = true;
  s->schedule_to_close_timeout = duration(run, options->schedule_to_close_timeout_ns, &ok);
  s->schedule_to_start_timeout = duration(run, options->schedule_to_start_timeout_ns, &ok);
  s->start_to_close_timeout = duration(run, options->start_to_close_timeout_ns, &ok);
  s->heartbeat_timeout = duration(run, options->heartbeat_timeout_ns, &ok);
  if (!ok) return fail_with(err, arena_error(run));
  if (options->retry_policy) {
    rc = twe__retry_policy_to_pb(a, options->retry_policy, &s->retry_policy);
    if (rc < 0) return fail_with(err, rc);
  }
  s->request_eager_execution = false;
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK;
  c->attributes_case = CATTR(SCHEDULE_ACTIVITY_TASK);
  c->schedule_activity_task_command_attributes = s;
  twe__machine_t *m = twe__run_add_command(run, TWE__MK_ACTIVITY, c, f);
  if (!m) return fail_with(err, arena_error(run));
  m->id_generated = options->activity_id == NULL;
  run->seq = seq;
  if (err) *err = 0;
  return f;
}

static twe_future_t *start_timer(twe_workflow_t *wf, uint64_t duration_ns, int *err) {
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!duration_ns || run->closed) return fail_with(err, -EINVAL);
  /* The server counts timers in whole milliseconds: round up, never down
   * (a timer must not fire early). */
  uint64_t ms = duration_ns / 1000000u + (duration_ns % 1000000u != 0);
  if (ms > UINT64_MAX / 1000000u) ms = UINT64_MAX / 1000000u;
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__StartTimerCommandAttributes *t = twe__arena_alloc(a, sizeof *t);
  twe_future_t *f = new_future(run);
  if (!c || !t || !f) return fail_with(err, arena_error(run));
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__start_timer_command_attributes__init(t);
  uint32_t seq = run->seq + 1;
  char idbuf[16];
  snprintf(idbuf, sizeof idbuf, "%u", seq);
  t->timer_id = twe__str(a, idbuf);
  t->start_to_fire_timeout = twe__duration_pb(a, ms * 1000000u);
  if (!t->timer_id || !t->start_to_fire_timeout) return fail_with(err, arena_error(run));
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_TIMER;
  c->attributes_case = CATTR(START_TIMER);
  c->start_timer_command_attributes = t;
  twe__machine_t *m = twe__run_add_command(run, TWE__MK_TIMER, c, f);
  if (!m) return fail_with(err, arena_error(run));
  m->id_generated = true;
  run->seq = seq;
  if (err) *err = 0;
  return f;
}

/* --- futures ----------------------------------------------------------------------------- */

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
  twe__run_wait(run, TWE__WAIT_ANY, fs, n);
  for (size_t i = 0; i < n; i++)
    if (fs[i]->ready) return i;
  return 0; /* not reached: the wait ends only when one is ready */
}

int twe_future_wait_all(twe_workflow_t *wf, twe_future_t *const *fs, size_t n) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  for (size_t i = 0; i < n; i++) check_future(run, fs[i], __func__);
  if (n) twe__run_wait(run, TWE__WAIT_ALL, fs, n);
  for (size_t i = 0; i < n; i++)
    if (fs[i]->failed) return TWE_EFAILED;
  return 0;
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

int twe_workflow_start_activity(twe_workflow_t *wf, const char *type,
                                const twe_activity_options_t *options, const twe_payload_t *args,
                                size_t nargs, twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  int rc = 0;
  twe_future_t *f = start_activity(wf, type, options, args, nargs, &rc);
  if (out) *out = f;
  return f ? 0 : rc;
}

int twe_workflow_start_timer(twe_workflow_t *wf, uint64_t duration_ns, twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  int rc = 0;
  twe_future_t *f = start_timer(wf, duration_ns, &rc);
  if (out) *out = f;
  return f ? 0 : rc;
}

int twe_workflow_execute_activity(twe_workflow_t *wf, const char *type,
                                  const twe_activity_options_t *options,
                                  const twe_payload_t *args, size_t nargs, twe_payload_t *result,
                                  twe_error_info_t *error) {
  TWE__WATCH_API_GUARD();
  twe_future_t *f;
  int rc = twe_workflow_start_activity(wf, type, options, args, nargs, &f);
  if (rc < 0) return rc;
  rc = twe_future_wait(wf, f);
  if (rc == 0 && result) twe_future_result(f, result);
  if (rc == TWE_EFAILED && error) twe_future_error(f, error);
  return rc;
}

int twe_workflow_sleep(twe_workflow_t *wf, uint64_t duration_ns) {
  TWE__WATCH_API_GUARD();
  twe_future_t *f;
  int rc = twe_workflow_start_timer(wf, duration_ns, &f);
  if (rc < 0) return rc;
  twe_future_wait(wf, f);
  return 0;
}

/* --- the end ------------------------------------------------------------------------------- */

int twe_workflow_complete(twe_workflow_t *wf, const twe_payload_t *result) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  twe_payload_t null_value = twe_payload_null();
  twe_payload_pb_t *pb;
  int rc = twe__value_to_payload(&run->arena, result ? result : &null_value, &pb);
  if (rc < 0) return rc;
  run->result = pb;
  return 0;
}

int twe_workflow_fail(twe_workflow_t *wf, const twe_error_info_t *err) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!err) return -EINVAL;
  twe_failure_pb_t *f;
  int rc = twe__failure_from_error(&run->arena, err, &f);
  if (rc < 0) return rc;
  run->failure = f;
  return 0;
}
