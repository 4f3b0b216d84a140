/* engine/workflow/machine_side_effect.c — side effects
 * (twe_workflow_side_effect): a value the code computes once, outside
 * determinism (a random id, the time, a setting), recorded as a marker
 * under the Go SDK's marker name and keys — MARKER_RECORDED "SideEffect"
 * with details {"side-effect-id": <n>, "data": <the value>}, n counting
 * from 1 (replaying a Go-recorded history is untested) —
 * and read back from the marker on replay instead of computed again.
 *
 *   CREATED --SENT--> COMMAND_SENT --MARKER_RECORDED--> RECORDED
 *   CREATED --MARKER_RECORDED--> RECORDED   (replay)
 *
 * On replay the values come from the markers of the task being replayed
 * (twe__side_effects_lookahead, before its code runs); replay compares the
 * marker name and the id. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
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
#define MARKER "SideEffect"
#define ID_KEY "side-effect-id"
#define DATA_KEY "data"

enum { CREATED, COMMAND_SENT, RECORDED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "RECORDED"};

typedef struct side_effect_machine {
  twe__machine_t m; /* first: the common part */
  int64_t id;
} side_effect_machine_t;

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(MARKER_RECORDED), RECORDED, NULL},
    {COMMAND_SENT, EV(MARKER_RECORDED), RECORDED, NULL},
};
TWE__MKIND_HITS(hits, rows);

/* A SideEffect marker's id and data (NULL data: not such a marker). */
static const twe_payloads_pb_t *marker_data(const twe_event_pb_t *e, int64_t *id) {
  if (e->attributes_case != HATTR(MARKER_RECORDED)) return NULL;
  const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a =
      e->marker_recorded_event_attributes;
  if (!a || !a->marker_name || strcmp(a->marker_name, MARKER) != 0) return NULL;
  const twe_payloads_pb_t *data = NULL;
  bool have_id = false;
  for (size_t i = 0; i < a->n_details; i++) {
    const Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        a->details[i];
    if (!d->key || !d->value) continue;
    if (strcmp(d->key, DATA_KEY) == 0) data = d->value;
    if (strcmp(d->key, ID_KEY) == 0 && d->value->n_payloads) {
      const ProtobufCBinaryData *b = &d->value->payloads[0]->data;
      json_t *v = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, NULL);
      if (json_is_integer(v)) {
        *id = json_integer_value(v);
        have_id = true;
      }
      json_decref(v);
    }
  }
  return have_id ? data : NULL;
}

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)c;
  int64_t id = 0;
  return marker_data(e, &id) && id == ((const side_effect_machine_t *)m)->id;
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  snprintf(buf, len, "side effect %" PRId64, ((const side_effect_machine_t *)m)->id);
}

const twe__mkind_t twe__mk_side_effect = {
    .name = "side effect",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .describe = describe,
    .hits = hits,
};

int twe__side_effects_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from,
                                size_t n) {
  run->task_side_effects = NULL;
  for (size_t j = from; j < n; j++) {
    int type = (int)events[j]->event_type;
    if (type == EV(WORKFLOW_TASK_SCHEDULED) || type == EV(WORKFLOW_TASK_STARTED)) break;
    int64_t id = 0;
    const twe_payloads_pb_t *data = type == EV(MARKER_RECORDED) ? marker_data(events[j], &id) : NULL;
    if (!data) continue;
    twe__side_effect_t *s = twe__arena_alloc(&run->arena, sizeof *s);
    if (!s) return twe__run_oom(run);
    s->id = id;
    s->value = twe_payload_null();
    if (data->n_payloads &&
        twe__value_from_payload(&run->arena, data->payloads[0], &s->value) < 0)
      return twe__run_oom(run);
    s->next = run->task_side_effects;
    run->task_side_effects = s;
  }
  return 0;
}

/* The RECORD_MARKER command for side effect id with value. */
static int record(twe_run_t *run, int64_t id, const twe_payload_t *value) {
  static const char *const keys[2] = {ID_KEY, DATA_KEY};
  side_effect_machine_t *sm = twe__machine_new(run, &twe__mk_side_effect, sizeof *sm);
  if (!sm) return twe__arena_error(&run->arena);
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%" PRId64, id);
  twe_payloads_pb_t *vals[2];
  twe_command_pb_t *c;
  int rc = twe__json_payloads_new(run, idtext, &vals[0]);
  if (rc == 0) rc = twe__values_to_payloads(&run->arena, value, 1, &vals[1]);
  if (rc == 0) rc = twe__marker_command_new(run, MARKER, keys, vals, 2, NULL, &c);
  if (rc < 0) return rc;
  sm->id = id;
  return twe__machine_command(run, &sm->m, c);
}

int twe_workflow_side_effect(twe_workflow_t *wf, twe_side_effect_fn fn, void *arg,
                             twe_payload_t *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!fn || !out || run->closed) return -EINVAL;
  int64_t id = ++run->side_effect_seq;
  twe_payload_t value = twe_payload_null();
  if (run->replaying) {
    const twe__side_effect_t *s = run->task_side_effects;
    while (s && s->id != id) s = s->next;
    if (!s)
      return twe__run_nondeterminism(run,
                                     "side effect %" PRId64
                                     " has no SideEffect marker in the history of this task",
                                     id);
    value = s->value;
  } else {
    /* The code's own function, run once, as workflow code. */
    twe_payload_t computed = twe_payload_null();
    int depth = twe__watch_depth_save();
    twe__watch_depth_restore(0);
    twe__watch_user_enter();
    rc = fn(wf, arg, &computed);
    twe__watch_user_leave();
    twe__watch_depth_restore(depth);
    /* A value that is not there cannot be recorded, and a replay could not
     * tell it was missing: the task fails (and is retried, fn with it). */
    if (rc != 0)
      return twe__run_fail(run, -EIO,
                           TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                           "workflow run %s: side effect %" PRId64 " failed (%d): the task is "
                           "retried",
                           run->info.run_id, id, rc);
    /* Into the run's memory: computed may point anywhere. */
    twe_payload_pb_t *pb;
    if ((rc = twe__value_to_payload(&run->arena, &computed, &pb)) < 0 ||
        (rc = twe__value_from_payload(&run->arena, pb, &value)) < 0)
      return rc;
  }
  if ((rc = record(run, id, &value)) < 0) return rc;
  *out = value;
  return 0;
}
