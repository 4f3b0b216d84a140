/* engine/workflow/machine_local_activity.c — local activities
 * (twe_workflow_start_local_activity): activity code the worker runs on its
 * own activity threads inside the workflow task, its outcome recorded as a
 * marker in sdk-core's format, so that Python and TypeScript histories
 * replay here and ours there: MARKER_RECORDED "core_local_activity" with
 * details {"data": {"seq", "attempt", "activity_id", "activity_type",
 * "complete_time", "backoff", "original_schedule_time"} as JSON, "result":
 * the result}, and the failure in the marker's failure.
 *
 *   REQUESTED --RESULT--> MARKER_CREATED --SENT--> MARKER_SENT
 *                                        --MARKER_RECORDED--> RECORDED
 *   REQUESTED --CANCEL--> MARKER_CREATED (try, abandon) | CANCEL_WAIT (wait)
 *   CANCEL_WAIT --RESULT--> MARKER_CREATED
 *   WAITING_MARKER --RESULT--> MARKER_CREATED   (replay: the task's marker)
 *   WAITING_MARKER --EXECUTE--> REQUESTED        (live, and no marker came)
 *   WAITING_MARKER --CANCEL--> MARKER_CREATED (try, abandon) | WAITING_MARKER
 *   MARKER_CREATED --MARKER_RECORDED--> RECORDED (replay)
 *
 * Requests go to the worker through twe__run_take_local_requests; results
 * come back through twe__run_local_result and wait, like the markers of a
 * replayed task (twe__locals_lookahead), until the activation has nothing
 * else to run: twe__locals_deliver hands them over one at a time, so the
 * code sees each result at the same point live and on replay, and a marker
 * lands among the commands where the live run put it.
 *
 * Markers pair with their machine by seq wherever they stand among the
 * task's commands (the kind is unordered, machine.h): where a result lands
 * depends on when the activity finished, and other SDKs place them
 * differently.
 *
 * Backoff: when the worker's retries need a wait longer than the local
 * retry threshold, the result is TWE_LOCAL_BACKOFF: its marker is recorded
 * (with the backoff), a durable timer starts in the activity's scope, and
 * when it fires a new machine (a new seq, the next attempt, the same
 * future) requests the next attempt — as sdk-core does. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "proto/payload.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define MARKER "core_local_activity"
#define DEFAULT_THRESHOLD_NS (60ull * 1000000000ull)

enum {
  REQUESTED,
  WAITING_MARKER,
  CANCEL_WAIT,
  MARKER_CREATED,
  MARKER_SENT,
  RECORDED,
  N_STATES
};
static const char *const state_names[N_STATES] = {
    "REQUESTED", "WAITING_MARKER", "CANCEL_WAIT", "MARKER_CREATED", "MARKER_SENT", "RECORDED"};

/* An outcome for a machine: a result from the worker, or a replayed
 * marker. In the run arena. */
struct twe__local_marker {
  uint32_t seq, attempt;
  twe_local_status_t status;
  twe_payload_t result;           /* COMPLETED */
  twe_failure_pb_t *failure;      /* FAILED, BACKOFF */
  uint64_t backoff_ns;
  int64_t original_schedule_time_ns;
  struct twe__local_marker *next;
};

/* The options every attempt of one local activity shares (run arena). */
typedef struct local_call {
  const char *type, *activity_id; /* activity_id NULL: the seq */
  twe_payload_t *args;
  size_t nargs;
  uint64_t schedule_to_close_ns, start_to_close_ns, threshold_ns;
  twe_retry_policy_t retry;
  twe_cancellation_type_t cancellation_type;
  twe_future_t *future;
  twe_scope_t *scope;
  twe_future_t *backoff_timer; /* while a backoff timer runs */
} local_call_t;

struct twe__local_machine {
  twe__machine_t m; /* first: the common part */
  local_call_t *call;
  uint32_t seq, attempt;
  int64_t original_schedule_time_ns;
  const char *activity_id; /* this machine's: the call's, or its seq */
  bool in_flight;          /* requested from the worker, no result back */
  bool cancel_asked;       /* WAIT cancellation asked while replaying */
  twe__local_marker_t *outcome; /* the one RESULT feeds */
  twe__local_machine_t *next_local;
};

static int request(twe_run_t *run, twe__local_machine_t *lm);

/* --- markers ----------------------------------------------------------------- */

static json_t *timestamp_json(int64_t ns) {
  if (ns <= 0) return json_null();
  return json_pack("{s:I, s:i}", "seconds", (json_int_t)(ns / 1000000000),
                   "nanos", (int)(ns % 1000000000));
}

static int64_t timestamp_from_json(json_t *t) {
  json_int_t s = 0, n = 0;
  if (!json_is_object(t) || json_unpack(t, "{s?I, s?I}", "seconds", &s, "nanos", &n) < 0)
    return 0;
  return (int64_t)s * 1000000000 + (int64_t)n;
}

/* The marker's "data" payload, as sdk-core writes LocalActivityMarkerData. */
static int marker_data(twe_run_t *run, const twe__local_machine_t *lm,
                       const twe__local_marker_t *o, twe_payloads_pb_t **out) {
  json_t *j = json_pack("{s:i, s:i, s:s, s:s, s:o, s:o, s:o}", "seq", (int)lm->seq, "attempt",
                        (int)o->attempt, "activity_id", lm->activity_id, "activity_type",
                        lm->call->type, "complete_time", timestamp_json(run->now_ns), "backoff",
                        o->status == TWE_LOCAL_BACKOFF ? timestamp_json((int64_t)o->backoff_ns)
                                                       : json_null(),
                        "original_schedule_time",
                        timestamp_json(o->original_schedule_time_ns));
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text) return -ENOMEM;
  twe_payload_t v = twe_payload_json(text);
  int rc = twe__values_to_payloads(&run->arena, &v, 1, out);
  free(text);
  return rc;
}

/* The RECORD_MARKER command for lm's outcome o. */
static int marker_command(twe_run_t *run, twe__local_machine_t *lm, const twe__local_marker_t *o) {
  static const char *const keys[2] = {"data", "result"};
  twe_payloads_pb_t *vals[2];
  twe_command_pb_t *c;
  bool completed = o->status == TWE_LOCAL_COMPLETED;
  if (marker_data(run, lm, o, &vals[0]) < 0 ||
      (completed && twe__values_to_payloads(&run->arena, &o->result, 1, &vals[1]) < 0) ||
      twe__marker_command_new(run, MARKER, keys, vals, completed ? 2 : 1,
                              completed ? NULL : o->failure, &c) < 0 ||
      twe__machine_command(run, &lm->m, c) < 0)
    return twe__run_oom(run);
  return 0;
}

static bool is_marker(const twe_event_pb_t *e) {
  if (e->attributes_case != HATTR(MARKER_RECORDED) || !e->marker_recorded_event_attributes)
    return false;
  const char *name = e->marker_recorded_event_attributes->marker_name;
  return name && strcmp(name, MARKER) == 0;
}

/* The seq of a core_local_activity marker; false when e is not one or its
 * data cannot be read. */
static bool marker_seq(const twe_event_pb_t *e, uint32_t *seq) {
  if (!is_marker(e)) return false;
  const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a =
      e->marker_recorded_event_attributes;
  for (size_t i = 0; i < a->n_details; i++) {
    const Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        a->details[i];
    if (!d->key || strcmp(d->key, "data") != 0 || !d->value || !d->value->n_payloads) continue;
    const ProtobufCBinaryData *b = &d->value->payloads[0]->data;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, NULL);
    json_int_t v = -1;
    bool ok = j && json_unpack(j, "{s:I}", "seq", &v) == 0 && v >= 0 && v <= UINT32_MAX;
    json_decref(j);
    if (ok) *seq = (uint32_t)v;
    return ok;
  }
  return false;
}

/* Reads a core_local_activity marker into *o (run arena). Returns 1 if e
 * is one, 0 if not, or a fatal status (its data cannot be read). */
static int read_marker(twe_run_t *run, const twe_event_pb_t *e, twe__local_marker_t *o) {
  if (!is_marker(e)) return 0;
  const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a =
      e->marker_recorded_event_attributes;
  memset(o, 0, sizeof *o);
  const twe_payloads_pb_t *data = NULL, *result = NULL;
  for (size_t i = 0; i < a->n_details; i++) {
    const Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        a->details[i];
    if (!d->key || !d->value || !d->value->n_payloads) continue;
    if (strcmp(d->key, "data") == 0) data = d->value;
    if (strcmp(d->key, "result") == 0) result = d->value;
  }
  if (!data)
    return twe__run_fail(run, TWE_EDECODE,
                         TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                         "history of run %s: local activity marker (event %" PRId64
                         ") has no data",
                         run->info.run_id, e->event_id);
  const ProtobufCBinaryData *b = &data->payloads[0]->data;
  json_t *j = json_loadb((const char *)b->data, b->len, 0, NULL);
  json_int_t seq = -1, attempt = 1;
  json_t *backoff = NULL, *orig = NULL;
  int ok = j && json_unpack(j, "{s:I, s?I, s?o, s?o}", "seq", &seq, "attempt", &attempt,
                            "backoff", &backoff, "original_schedule_time", &orig) == 0;
  if (ok) {
    o->seq = (uint32_t)seq;
    o->attempt = (uint32_t)attempt;
    o->original_schedule_time_ns = timestamp_from_json(orig);
    o->backoff_ns = (uint64_t)timestamp_from_json(backoff);
  }
  json_decref(j);
  if (!ok || seq < 0)
    return twe__run_fail(run, TWE_EDECODE,
                         TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                         "history of run %s: local activity marker (event %" PRId64
                         ") has data that is not LocalActivityMarkerData JSON",
                         run->info.run_id, e->event_id);
  if (a->failure) {
    o->status = o->backoff_ns ? TWE_LOCAL_BACKOFF : TWE_LOCAL_FAILED;
    if (!(o->failure = twe__run_copy_msg(run, &a->failure->base))) return twe__run_oom(run);
  } else {
    o->status = TWE_LOCAL_COMPLETED;
    o->result = twe_payload_null();
    twe_payload_pb_t *pb = result ? twe__run_copy_msg(run, &result->payloads[0]->base) : NULL;
    if (result && (!pb || twe__value_from_payload(&run->arena, pb, &o->result) < 0))
      return twe__run_oom(run);
  }
  return 1;
}

/* --- actions ------------------------------------------------------------------- */

static twe__local_machine_t *find(twe_run_t *run, uint32_t seq) {
  for (twe__local_machine_t *lm = run->locals_head; lm; lm = lm->next_local)
    if (lm->seq == seq) return lm;
  return NULL;
}

static void not_in_flight(twe_run_t *run, twe__local_machine_t *lm) {
  if (!lm->in_flight) return;
  lm->in_flight = false;
  run->locals_in_flight--;
}

static int next_attempt(twe_run_t *run, twe_future_t *timer, void *arg);

/* lm's outcome (lm->outcome) is in: the marker, and the future resolved,
 * or the backoff timer started. */
static int act_result(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__local_machine_t *lm = (twe__local_machine_t *)m;
  twe__local_marker_t *o = lm->outcome;
  local_call_t *call = lm->call;
  not_in_flight(run, lm);
  int rc = marker_command(run, lm, o);
  if (rc < 0 || call->future->ready) return rc;
  if (lm->m.state == CANCEL_WAIT && o->status == TWE_LOCAL_BACKOFF)
    return twe__run_resolve_error(run, call->future, "CanceledError", "local activity canceled");
  switch (o->status) {
    case TWE_LOCAL_COMPLETED: {
      twe_payloads_pb_t *pbs;
      if (twe__values_to_payloads(&run->arena, &o->result, 1, &pbs) < 0) return twe__run_oom(run);
      return twe__run_resolve_ok(run, call->future, pbs);
    }
    case TWE_LOCAL_FAILED:
      return twe__run_resolve_failed(run, call->future, o->failure);
    case TWE_LOCAL_BACKOFF:
      break;
  }
  /* The next attempt after a durable timer, in the activity's scope. */
  rc = twe__run_start_timer_in(run, o->backoff_ns ? o->backoff_ns : 1000000, call->scope,
                               &call->backoff_timer);
  if (rc < 0) return rc == -ENOMEM || rc == TWE_ELIMIT ? twe__run_oom(run) : rc;
  call->backoff_timer->on_resolve = next_attempt;
  call->backoff_timer->on_resolve_arg = lm;
  return 0;
}

/* Queues a request to stop seq's attempt (the worker tells the code). */
static int request_stop(twe_run_t *run, uint32_t seq) {
  twe_local_request_t *r = twe__arena_alloc(&run->arena, sizeof *r);
  if (!r) return twe__run_oom(run);
  memset(r, 0, sizeof *r);
  r->cancel = true;
  r->seq = seq;
  if (run->local_req_tail) run->local_req_tail->next = r;
  else run->local_req_head = r;
  run->local_req_tail = r;
  return 0;
}

/* Over at once, cancelled: the marker records the cancellation, so a
 * replay does not wait for a result. */
static int cancel_now(twe_run_t *run, twe__local_machine_t *lm, int *to) {
  twe__local_marker_t *o = twe__arena_alloc(&run->arena, sizeof *o);
  if (!o) return twe__run_oom(run);
  memset(o, 0, sizeof *o);
  o->seq = lm->seq;
  o->attempt = lm->attempt;
  o->status = TWE_LOCAL_FAILED;
  o->original_schedule_time_ns = lm->original_schedule_time_ns;
  twe_error_info_t err = {.type = "CanceledError", .message = "local activity canceled"};
  if (twe__failure_from_error(&run->arena, &err, &o->failure) < 0) return twe__run_oom(run);
  lm->outcome = o;
  *to = MARKER_CREATED;
  return act_result(run, &lm->m, NULL, to);
}

/* Cancelled by the code (or its scope), by the cancellation type. */
static int act_cancel(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e;
  twe__local_machine_t *lm = (twe__local_machine_t *)m;
  bool live = m->state == REQUESTED;
  switch (lm->call->cancellation_type) {
    case TWE_CANCEL_WAIT:
      if (!live) { /* replay: the marker says how it ended */
        lm->cancel_asked = true;
        *to = WAITING_MARKER;
        return 0;
      }
      *to = CANCEL_WAIT;
      return request_stop(run, lm->seq);
    case TWE_CANCEL_TRY:
      if (live) {
        int rc = request_stop(run, lm->seq);
        if (rc < 0) return rc;
      }
      return cancel_now(run, lm, to);
    default: /* abandon: the code runs on, and its result is dropped */
      return cancel_now(run, lm, to);
  }
}

/* Live, and replay left it waiting for a marker that is not there. */
static int act_execute(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e;
  twe__local_machine_t *lm = (twe__local_machine_t *)m;
  /* A WAIT cancellation asked while replaying: nothing to wait for. */
  if (lm->cancel_asked) return cancel_now(run, lm, to);
  return request(run, lm);
}

static const twe__mrow_t rows[] = {
    {REQUESTED, TWE__IN_RESULT, MARKER_CREATED, act_result},
    {REQUESTED, TWE__IN_CANCEL, MARKER_CREATED, act_cancel},
    {CANCEL_WAIT, TWE__IN_RESULT, MARKER_CREATED, act_result},
    {WAITING_MARKER, TWE__IN_RESULT, MARKER_CREATED, act_result},
    {WAITING_MARKER, TWE__IN_EXECUTE, REQUESTED, act_execute},
    {WAITING_MARKER, TWE__IN_CANCEL, MARKER_CREATED, act_cancel},
    {MARKER_CREATED, TWE__IN_SENT, MARKER_SENT, NULL},
    {MARKER_CREATED, EV(MARKER_RECORDED), RECORDED, NULL},
    {MARKER_SENT, EV(MARKER_RECORDED), RECORDED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static int cancel(twe_run_t *run, twe__machine_t *m) {
  twe__local_machine_t *lm = (twe__local_machine_t *)m;
  switch (m->state) {
    case REQUESTED:
    case WAITING_MARKER:
      return lm->cancel_asked ? 0 : twe__machine_input(run, m, TWE__IN_CANCEL, NULL);
    default:
      /* Over; or between attempts: the backoff timer is cancelled, and its
       * hook fails the future. */
      if (lm->call->backoff_timer && !lm->call->backoff_timer->ready &&
          lm->call->backoff_timer->on_resolve_arg == lm)
        return twe__future_cancel(run, lm->call->backoff_timer);
      return 0;
  }
}

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)c;
  uint32_t seq;
  return marker_seq(e, &seq) && seq == ((const twe__local_machine_t *)m)->seq;
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const twe__local_machine_t *lm = (const twe__local_machine_t *)m;
  snprintf(buf, len, "local activity %s (seq %u, attempt %u)", lm->call->type, lm->seq,
           lm->attempt);
}

const twe__mkind_t twe__mk_local_activity = {
    .name = "local activity",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .cancel = cancel,
    .describe = describe,
    .claims = is_marker,
    .hits = hits,
};

/* --- machines and requests ------------------------------------------------------------ */

/* A request for lm's attempt, for the worker. */
static int request(twe_run_t *run, twe__local_machine_t *lm) {
  local_call_t *call = lm->call;
  twe_local_request_t *r = twe__arena_alloc(&run->arena, sizeof *r);
  if (!r) return twe__run_oom(run);
  memset(r, 0, sizeof *r);
  r->seq = lm->seq;
  r->attempt = lm->attempt;
  r->activity_id = lm->activity_id;
  r->activity_type = call->type;
  r->args = call->args;
  r->nargs = call->nargs;
  r->schedule_to_close_timeout_ns = call->schedule_to_close_ns;
  r->start_to_close_timeout_ns = call->start_to_close_ns;
  r->retry = call->retry;
  r->local_retry_threshold_ns = call->threshold_ns;
  r->original_schedule_time_ns = lm->original_schedule_time_ns;
  if (run->local_req_tail) run->local_req_tail->next = r;
  else run->local_req_head = r;
  run->local_req_tail = r;
  lm->in_flight = true;
  run->locals_in_flight++;
  return 0;
}

/* A machine for the next attempt of call (REQUESTED live, WAITING_MARKER
 * on replay). */
static int new_machine(twe_run_t *run, local_call_t *call, uint32_t attempt,
                       int64_t original_schedule_time_ns, twe__local_machine_t **out) {
  twe__local_machine_t *lm = twe__machine_new(run, &twe__mk_local_activity, sizeof *lm);
  if (!lm) return twe__run_oom(run);
  lm->call = call;
  lm->seq = ++run->local_seq;
  lm->attempt = attempt;
  lm->original_schedule_time_ns = original_schedule_time_ns;
  if (call->activity_id) {
    lm->activity_id = call->activity_id;
  } else {
    char id[16];
    snprintf(id, sizeof id, "%u", lm->seq);
    if (!(lm->activity_id = twe__str(&run->arena, id))) return twe__run_oom(run);
  }
  if (run->locals_tail) run->locals_tail->next_local = lm;
  else run->locals_head = lm;
  run->locals_tail = lm;
  call->future->machine = &lm->m;
  /* Requested before it joins its scope: a scope cancelled already
   * cancels it as it would a running one. */
  int rc = 0;
  if (run->replaying) lm->m.state = WAITING_MARKER;
  else rc = request(run, lm);
  if (rc == 0) rc = twe__scope_adopt_in(run, call->scope, &lm->m);
  if (rc < 0) return rc;
  *out = lm;
  return 0;
}

/* The backoff timer fired (or was cancelled): the next attempt. */
static int next_attempt(twe_run_t *run, twe_future_t *timer, void *arg) {
  twe__local_machine_t *prev = arg;
  local_call_t *call = prev->call;
  call->backoff_timer = NULL;
  if (call->future->ready) return 0;
  if (timer->failed)
    return twe__run_resolve_error(run, call->future, "CanceledError", "local activity canceled");
  twe__local_machine_t *lm;
  return new_machine(run, call, prev->outcome->attempt + 1,
                     prev->outcome->original_schedule_time_ns, &lm);
}

twe_local_request_t *twe__run_take_local_requests(twe_run_t *run) {
  twe_local_request_t *r = run->local_req_head;
  run->local_req_head = run->local_req_tail = NULL;
  return r;
}

size_t twe__run_locals_in_flight(const twe_run_t *run) {
  return run->locals_in_flight;
}

int twe__run_local_result(twe_run_t *run, const twe_local_result_t *r) {
  twe__run_unstow(run);
  twe__local_machine_t *lm = find(run, r->seq);
  if (!lm || !lm->in_flight || run->status < 0) return run->status;
  twe__local_marker_t *o = twe__arena_alloc(&run->arena, sizeof *o);
  if (!o) return twe__run_oom(run);
  memset(o, 0, sizeof *o);
  o->seq = r->seq;
  o->attempt = r->attempt;
  o->status = r->status;
  o->backoff_ns = r->backoff_ns;
  o->original_schedule_time_ns = r->original_schedule_time_ns;
  o->result = twe_payload_null();
  if (r->status == TWE_LOCAL_COMPLETED && r->result) {
    twe_payload_pb_t *pb;
    if (twe__value_to_payload(&run->arena, r->result, &pb) < 0 ||
        twe__value_from_payload(&run->arena, pb, &o->result) < 0)
      return twe__run_oom(run);
  }
  if (r->status != TWE_LOCAL_COMPLETED) {
    if (r->failure) o->failure = twe__run_copy_msg(run, &r->failure->base);
    else twe__failure_new(&run->arena, "Error", "local activity failed", false, &o->failure);
    if (!o->failure) return twe__run_oom(run);
  }
  /* Back from the worker: no longer in flight, even before delivery. */
  not_in_flight(run, lm);
  if (run->arrived_tail) run->arrived_tail->next = o;
  else run->arrived_head = o;
  run->arrived_tail = o;
  return 0;
}

/* --- replay and delivery --------------------------------------------------------------- */

int twe__locals_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n) {
  twe__local_marker_t *head = NULL, *tail = NULL;
  run->task_locals = NULL;
  for (size_t j = from; j < n; j++) {
    int type = (int)events[j]->event_type;
    if (type == EV(WORKFLOW_TASK_SCHEDULED) || type == EV(WORKFLOW_TASK_STARTED)) break;
    if (type != EV(MARKER_RECORDED)) continue;
    twe__local_marker_t o;
    int rc = read_marker(run, events[j], &o);
    if (rc < 0) return rc;
    if (rc == 0) continue;
    twe__local_marker_t *copy = twe__arena_alloc(&run->arena, sizeof *copy);
    if (!copy) return twe__run_oom(run);
    *copy = o;
    copy->next = NULL;
    if (tail) tail->next = copy;
    else head = copy;
    tail = copy;
  }
  run->task_locals = head;
  return 0;
}

int twe__locals_deliver(twe_run_t *run) {
  twe__local_marker_t *o;
  twe__local_machine_t *lm;
  if (run->replaying) {
    /* The first of the task's markers whose machine waits for it (one
     * for a machine the code has not made yet stays for later). */
    for (twe__local_marker_t **p = &run->task_locals; (o = *p); p = &o->next) {
      lm = find(run, o->seq);
      if (!lm || lm->m.state != WAITING_MARKER) continue;
      *p = o->next;
      lm->outcome = o;
      int rc = twe__machine_input(run, &lm->m, TWE__IN_RESULT, NULL);
      return rc < 0 ? rc : 1;
    }
    return 0;
  }
  while ((o = run->arrived_head)) {
    run->arrived_head = o->next;
    if (!run->arrived_head) run->arrived_tail = NULL;
    lm = find(run, o->seq);
    /* Nobody waits for it any more (cancelled meanwhile): dropped. */
    if (!lm || (lm->m.state != REQUESTED && lm->m.state != CANCEL_WAIT)) continue;
    lm->outcome = o;
    int rc = twe__machine_input(run, &lm->m, TWE__IN_RESULT, NULL);
    return rc < 0 ? rc : 1;
  }
  return 0;
}

int twe__locals_execute_waiting(twe_run_t *run) {
  run->task_locals = NULL;
  for (twe__local_machine_t *lm = run->locals_head; lm; lm = lm->next_local) {
    if (lm->m.state != WAITING_MARKER) continue;
    int rc = twe__machine_input(run, &lm->m, TWE__IN_EXECUTE, NULL);
    if (rc < 0) return rc;
  }
  return 0;
}

/* --- the workflow calls -------------------------------------------------------------- */

int twe_workflow_start_local_activity(twe_workflow_t *wf, const char *type,
                                      const twe_local_activity_options_t *options,
                                      const twe_payload_t *args, size_t nargs,
                                      twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (out) *out = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!type || !*type || !options || (nargs && !args) || run->closed) return -EINVAL;
  if (!options->schedule_to_close_timeout_ns && !options->start_to_close_timeout_ns)
    return -EINVAL;
  twe_arena_t *a = &run->arena;
  local_call_t *call = twe__arena_alloc(a, sizeof *call);
  twe_future_t *f = twe__future_new(run);
  if (!call || !f) return twe__arena_error(a);
  memset(call, 0, sizeof *call);
  call->type = twe__str(a, type);
  call->activity_id = options->activity_id ? twe__str(a, options->activity_id) : NULL;
  if (!call->type || (options->activity_id && !call->activity_id)) return twe__arena_error(a);
  if (nargs) {
    /* Into the run's memory, as payloads read back (args may be anywhere). */
    twe_payloads_pb_t *pbs;
    call->args = twe__arena_alloc(a, nargs * sizeof *call->args);
    if (!call->args || (rc = twe__values_to_payloads(a, args, nargs, &pbs)) < 0)
      return twe__arena_error(a);
    for (size_t i = 0; i < nargs; i++)
      if (twe__value_from_payload(a, pbs->payloads[i], &call->args[i]) < 0)
        return twe__arena_error(a);
    call->nargs = nargs;
  }
  call->schedule_to_close_ns = options->schedule_to_close_timeout_ns;
  call->start_to_close_ns = options->start_to_close_timeout_ns;
  call->threshold_ns =
      options->local_retry_threshold_ns ? options->local_retry_threshold_ns : DEFAULT_THRESHOLD_NS;
  if (options->retry_policy) {
    call->retry = *options->retry_policy;
    /* The worker copies the types; the run keeps its own. */
    size_t k = call->retry.non_retryable_error_types_count;
    const char **types = k ? twe__arena_alloc(a, k * sizeof *types) : NULL;
    if (k && !types) return twe__arena_error(a);
    for (size_t i = 0; i < k; i++)
      if (!(types[i] = twe__str(a, options->retry_policy->non_retryable_error_types[i])))
        return twe__arena_error(a);
    call->retry.non_retryable_error_types = types;
  }
  call->cancellation_type = options->cancellation_type;
  call->future = f;
  call->scope = run->current && run->current->scope ? run->current->scope : &run->root_scope;
  twe__local_machine_t *lm;
  if ((rc = new_machine(run, call, 1, 0, &lm)) < 0) return rc;
  if (out) *out = f;
  return 0;
}

int twe_workflow_execute_local_activity(twe_workflow_t *wf, const char *type,
                                        const twe_local_activity_options_t *options,
                                        const twe_payload_t *args, size_t nargs,
                                        twe_payload_t *result, twe_error_info_t *error) {
  TWE__WATCH_API_GUARD();
  int rc = twe__run_refuse_in_query(twe__run_of(wf, __func__), __func__);
  if (rc < 0) return rc;
  twe_future_t *f;
  rc = twe_workflow_start_local_activity(wf, type, options, args, nargs, &f);
  if (rc < 0) return rc;
  rc = twe_future_wait(wf, f);
  if (rc == 0 && result) twe_future_result(f, result);
  if (rc == TWE_EFAILED && error) twe_future_error(f, error);
  return rc;
}
