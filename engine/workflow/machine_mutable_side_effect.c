/* engine/workflow/machine_mutable_side_effect.c — mutable side effects
 * (twe_workflow_mutable_side_effect), as the Go SDK's MutableSideEffect: a
 * value the code computes outside determinism each time it asks (a
 * setting that may change), recorded only when it differs from the last
 * recorded value of the same id; on replay the recorded values come back.
 *
 * Markers are the Go SDK's: MARKER_RECORDED "MutableSideEffect" with
 * details "side-effect-id" ("<id>_<n>", n the event id the Go SDK expects
 * for the command), "data" (two payloads: the id, and the value's Payloads
 * as json/protobuf) and "mutable-side-effect-call-counter" (which call of
 * the id recorded it, from 1). A call finds its value by id and call
 * counter: the recorded value with the greatest counter up to its own.
 *
 *   CREATED --SENT--> COMMAND_SENT --MARKER_RECORDED--> RECORDED
 *   CREATED --MARKER_RECORDED--> RECORDED   (replay)
 *
 * On replay the values come from the markers of the task being replayed
 * (twe__mutables_lookahead, before its code runs); replay compares the
 * marker name, the id and the call counter. */
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
#include "proto/json.h"
#include "proto/json_write.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define MARKER "MutableSideEffect"
#define ID_KEY "side-effect-id"
#define DATA_KEY "data"
#define COUNTER_KEY "mutable-side-effect-call-counter"

enum { CREATED, COMMAND_SENT, RECORDED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "RECORDED"};

/* A recorded value of an id at a call counter (run arena); also a call
 * counter per id (value unused). */
struct twe__mutable {
  const char *id;
  int counter;
  twe_payload_t value;
  struct twe__mutable *next;
};

typedef struct mutable_machine {
  twe__machine_t m; /* first: the common part */
  const char *id;
  int counter;
} mutable_machine_t;

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(MARKER_RECORDED), RECORDED, NULL},
    {COMMAND_SENT, EV(MARKER_RECORDED), RECORDED, NULL},
};
TWE__MKIND_HITS(hits, rows);

/* Reads a MutableSideEffect marker: its id, call counter and (arena
 * non-NULL) value. False when e is not one or cannot be read. */
static bool read_marker(const twe_event_pb_t *e, twe_arena_t *arena, struct twe__mutable *out) {
  if (e->attributes_case != HATTR(MARKER_RECORDED) || !e->marker_recorded_event_attributes ||
      !twe__str_eq(e->marker_recorded_event_attributes->marker_name, MARKER))
    return false;
  const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a =
      e->marker_recorded_event_attributes;
  const twe_payloads_pb_t *data = NULL;
  const ProtobufCBinaryData *counter = twe__marker_detail(e, COUNTER_KEY);
  for (size_t i = 0; i < a->n_details; i++)
    if (twe__str_eq(a->details[i]->key, DATA_KEY)) data = a->details[i]->value;
  if (!data || data->n_payloads != 2 || !counter) return false;
  json_t *id = json_loadb((const char *)data->payloads[0]->data.data, data->payloads[0]->data.len,
                          JSON_DECODE_ANY, NULL);
  json_t *n = json_loadb((const char *)counter->data, counter->len, JSON_DECODE_ANY, NULL);
  twe_arena_t scratch;
  twe__arena_init(&scratch, 0);
  bool ok = json_is_string(id) && json_is_integer(n);
  if (ok) {
    out->counter = (int)json_integer_value(n);
    out->id = twe__str(arena ? arena : &scratch, json_string_value(id));
    ok = out->id != NULL;
  }
  if (ok && arena) {
    /* The value: a Payloads message as proto3 JSON (json/protobuf). */
    const ProtobufCBinaryData *v = &data->payloads[1]->data;
    ProtobufCMessage *msg = NULL;
    ok = twe__proto_from_json_text(&temporal__api__common__v1__payloads__descriptor,
                                   (const char *)v->data, v->len, arena, &msg, NULL, 0) == 0;
    const twe_payloads_pb_t *pbs = (const twe_payloads_pb_t *)msg;
    ok = ok && pbs->n_payloads >= 1 &&
         twe__value_from_payload(arena, pbs->payloads[0], &out->value) == 0;
  }
  json_decref(id);
  json_decref(n);
  twe__arena_destroy(&scratch);
  return ok;
}

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)c;
  const mutable_machine_t *mm = (const mutable_machine_t *)m;
  twe_arena_t scratch;
  twe__arena_init(&scratch, 0);
  struct twe__mutable v;
  bool same = read_marker(e, &scratch, &v) && strcmp(v.id, mm->id) == 0 &&
              v.counter == mm->counter;
  twe__arena_destroy(&scratch);
  return same;
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const mutable_machine_t *mm = (const mutable_machine_t *)m;
  snprintf(buf, len, "mutable side effect \"%s\" (call %d)", mm->id, mm->counter);
}

const twe__mkind_t twe__mk_mutable_side_effect = {
    .name = "mutable side effect",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .describe = describe,
    .hits = hits,
};

int twe__mutables_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from,
                            size_t n) {
  run->task_mutables = NULL;
  for (size_t j = from; j < n; j++) {
    int type = (int)events[j]->event_type;
    if (type == EV(WORKFLOW_TASK_SCHEDULED) || type == EV(WORKFLOW_TASK_STARTED)) break;
    struct twe__mutable v;
    if (type != EV(MARKER_RECORDED) || !read_marker(events[j], &run->arena, &v)) continue;
    struct twe__mutable *copy = twe__arena_alloc(&run->arena, sizeof *copy);
    if (!copy) return twe__run_oom(run);
    *copy = v;
    copy->next = run->task_mutables;
    run->task_mutables = copy;
  }
  return 0;
}

/* The value of id with the greatest call counter up to counter in list
 * (exactly counter when exact), or NULL. */
static const struct twe__mutable *lookup(const struct twe__mutable *list, const char *id,
                                         int counter, bool exact) {
  const struct twe__mutable *best = NULL;
  for (; list; list = list->next)
    if (strcmp(list->id, id) == 0 && (exact ? list->counter == counter : list->counter <= counter) &&
        (!best || list->counter > best->counter))
      best = list;
  return best;
}

/* The event id the Go SDK expects for the next command: the task's
 * WORKFLOW_TASK_COMPLETED comes after its WORKFLOW_TASK_STARTED, then one
 * event per command this task produced so far. */
static int64_t next_event_id(const twe_run_t *run) {
  int64_t n = run->last_started_event_id + 2;
  for (const twe__command_t *c = run->pending_head; c; c = c->next) n += !c->sent;
  return n;
}

/* The marker command for v (its value), remembered as recorded. */
static int record(twe_run_t *run, struct twe__mutable *v) {
  static const char *const keys[3] = {ID_KEY, DATA_KEY, COUNTER_KEY};
  twe_arena_t *a = &run->arena;
  mutable_machine_t *mm = twe__machine_new(run, &twe__mk_mutable_side_effect, sizeof *mm);
  twe_payloads_pb_t *vals[3], *inner = NULL;
  twe_command_pb_t *c;
  if (!mm) return twe__arena_error(a);
  char idtext[600], countext[16];
  json_t *idj = json_string(v->id);
  char *idjson = idj ? json_dumps(idj, JSON_ENCODE_ANY) : NULL;
  json_t *full = NULL;
  char *fulltext = NULL;
  snprintf(idtext, sizeof idtext, "%s_%" PRId64, v->id, next_event_id(run));
  json_t *fullj = json_string(idtext);
  fulltext = fullj ? json_dumps(fullj, JSON_ENCODE_ANY) : NULL;
  json_decref(fullj);
  snprintf(countext, sizeof countext, "%d", v->counter);
  /* The value as a Payloads message in proto3 JSON. */
  int rc = idjson && fulltext ? twe__values_to_payloads(a, &v->value, 1, &inner) : -ENOMEM;
  if (rc == 0) rc = twe__json_from_message(&inner->base, &full);
  char *valtext = full ? json_dumps(full, JSON_COMPACT) : NULL;
  json_decref(full);
  json_decref(idj);
  if (rc == 0 && !valtext) rc = -ENOMEM;
  if (rc == 0) rc = twe__json_payloads_new(run, fulltext, &vals[0]);
  if (rc == 0) {
    twe_payload_t data[2] = {twe_payload_json(idjson),
                             {"json/protobuf", valtext, strlen(valtext)}};
    rc = twe__values_to_payloads(a, data, 2, &vals[1]);
  }
  if (rc == 0) rc = twe__json_payloads_new(run, countext, &vals[2]);
  free(idjson);
  free(fulltext);
  free(valtext);
  if (rc == 0) rc = twe__marker_command_new(run, MARKER, keys, vals, 3, NULL, &c);
  if (rc < 0) return rc;
  /* The json/protobuf payload names its message type, as the Go SDK's. */
  twe_payload_pb_t *p = vals[1]->payloads[1];
  Temporal__Api__Common__V1__Payload__MetadataEntry *me = twe__arena_alloc(a, sizeof *me);
  Temporal__Api__Common__V1__Payload__MetadataEntry **mes =
      twe__arena_alloc(a, (p->n_metadata + 1) * sizeof *mes);
  if (!me || !mes) return twe__arena_error(a);
  temporal__api__common__v1__payload__metadata_entry__init(me);
  me->key = "messageType";
  me->value.data = (uint8_t *)"temporal.api.common.v1.Payloads";
  me->value.len = strlen("temporal.api.common.v1.Payloads");
  memcpy(mes, p->metadata, p->n_metadata * sizeof *mes);
  mes[p->n_metadata] = me;
  p->metadata = mes;
  p->n_metadata++;
  mm->id = v->id;
  mm->counter = v->counter;
  v->next = run->mutables;
  run->mutables = v;
  return twe__machine_command(run, &mm->m, c);
}

static bool same_value(const twe_payload_t *a, const twe_payload_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0) &&
         twe__str_eq(a->encoding, b->encoding);
}

int twe_workflow_mutable_side_effect(twe_workflow_t *wf, const char *id, twe_side_effect_fn fn,
                                     void *arg, twe_payload_t *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!id || !*id || !fn || !out || run->closed) return -EINVAL;
  /* This call's counter for id. */
  struct twe__mutable *calls = run->mutable_calls;
  while (calls && strcmp(calls->id, id) != 0) calls = calls->next;
  if (!calls) {
    if (!(calls = twe__arena_alloc(&run->arena, sizeof *calls)) ||
        !(calls->id = twe__str(&run->arena, id)))
      return twe__arena_error(&run->arena);
    calls->counter = 0;
    calls->next = run->mutable_calls;
    run->mutable_calls = calls;
  }
  int counter = ++calls->counter;
  const struct twe__mutable *last = lookup(run->mutables, id, counter, false);
  if (run->replaying) {
    /* The value this call recorded, if it recorded one; else the last. */
    const struct twe__mutable *here = lookup(run->task_mutables, id, counter, true);
    if (here && (!last || here->counter > last->counter)) {
      struct twe__mutable *v = twe__arena_alloc(&run->arena, sizeof *v);
      if (!v) return twe__arena_error(&run->arena);
      *v = *here;
      v->id = calls->id;
      if ((rc = record(run, v)) < 0) return rc;
      *out = v->value;
      return 0;
    }
    if (!last)
      return twe__run_nondeterminism(run,
                                     "mutable side effect \"%s\" (call %d) has no "
                                     "MutableSideEffect marker in the history",
                                     id, counter);
    *out = last->value;
    return 0;
  }
  /* The code's own function, run as workflow code. */
  twe_payload_t computed = twe_payload_null();
  int depth = twe__watch_depth_save();
  twe__watch_depth_restore(0);
  twe__watch_user_enter();
  rc = fn(wf, arg, &computed);
  twe__watch_user_leave();
  twe__watch_depth_restore(depth);
  if (rc != 0)
    return twe__run_fail(run, -EIO,
                         TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                         "workflow run %s: mutable side effect \"%s\" failed (%d): the task is "
                         "retried",
                         run->info.run_id, id, rc);
  if (last && same_value(&computed, &last->value)) {
    *out = last->value;
    return 0;
  }
  struct twe__mutable *v = twe__arena_alloc(&run->arena, sizeof *v);
  twe_payload_pb_t *pb;
  if (!v || (rc = twe__value_to_payload(&run->arena, &computed, &pb)) < 0 ||
      (rc = twe__value_from_payload(&run->arena, pb, &v->value)) < 0)
    return v ? rc : twe__arena_error(&run->arena);
  v->id = calls->id;
  v->counter = counter;
  if ((rc = record(run, v)) < 0) return rc;
  *out = v->value;
  return 0;
}
