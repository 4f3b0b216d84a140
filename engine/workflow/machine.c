/* engine/workflow/machine.c — what every state machine of a run shares:
 * the row engine, the pending command queue and its pairing with command
 * events, the index of open machines, the classification and description
 * of history events, and row coverage. See engine/workflow/machine.h; the
 * kinds are in machine_<kind>.c. */
#include "engine/workflow/machine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/workflow/run_internal.h"
#include "temporal/api/enums/v1/command_type.pb-c.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x
#define ATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES
#define CAUSE(x) \
  TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_##x

static const twe__mkind_t *const all_kinds[] = {
    &twe__mk_activity,
    &twe__mk_timer,
    &twe__mk_complete_workflow,
    &twe__mk_fail_workflow,
    &twe__mk_update,
    &twe__mk_cancel_workflow,
    &twe__mk_continue_as_new,
    &twe__mk_upsert_search_attributes,
    &twe__mk_patch,
    &twe__mk_signal_external,
    &twe__mk_cancel_external,
    &twe__mk_side_effect,
    &twe__mk_child,
    &twe__mk_local_activity,
    &twe__mk_version,
    &twe__mk_mutable_side_effect,
};
#define N_KINDS (sizeof all_kinds / sizeof all_kinds[0])

/* --- names ------------------------------------------------------------------ */

static const char *enum_name(const ProtobufCEnumDescriptor *desc, int value, const char *prefix) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
  if (!v) return NULL;
  size_t n = strlen(prefix);
  return strncmp(v->name, prefix, n) == 0 ? v->name + n : v->name;
}

const char *twe__event_type_name(int type) {
  const char *s = enum_name(&temporal__api__enums__v1__event_type__descriptor, type, "EVENT_TYPE_");
  return s ? s : "UNKNOWN_EVENT_TYPE";
}

const char *twe__command_type_name(int type) {
  const char *s =
      enum_name(&temporal__api__enums__v1__command_type__descriptor, type, "COMMAND_TYPE_");
  return s ? s : "UNKNOWN_COMMAND_TYPE";
}

static const char *state_name(const twe__mkind_t *k, int state) {
  return state >= 0 && state < k->n_states ? k->states[state] : "?";
}

static const char *input_name(int input) {
  switch (input) {
    case TWE__IN_SENT:
      return "SENT";
    case TWE__IN_CANCEL:
      return "CANCEL";
    case TWE__IN_ACCEPT:
      return "ACCEPT";
    case TWE__IN_REJECT:
      return "REJECT";
    case TWE__IN_COMPLETE:
      return "COMPLETE";
    case TWE__IN_RESULT:
      return "RESULT";
    case TWE__IN_EXECUTE:
      return "EXECUTE";
    default:
      return twe__event_type_name(input);
  }
}

/* --- commands and the events recorded for them -------------------------------- */

/* Every command type and the event the server records for it, whichever
 * kinds exist: a command event no pending command pairs with is
 * non-determinism, as it must be. */
static const struct recorded {
  int command_type, event_type, attributes_case;
} recorded_events[] = {
    {CMD(SCHEDULE_ACTIVITY_TASK), EV(ACTIVITY_TASK_SCHEDULED), ATTR(ACTIVITY_TASK_SCHEDULED)},
    {CMD(REQUEST_CANCEL_ACTIVITY_TASK), EV(ACTIVITY_TASK_CANCEL_REQUESTED),
     ATTR(ACTIVITY_TASK_CANCEL_REQUESTED)},
    {CMD(START_TIMER), EV(TIMER_STARTED), ATTR(TIMER_STARTED)},
    {CMD(CANCEL_TIMER), EV(TIMER_CANCELED), ATTR(TIMER_CANCELED)},
    {CMD(COMPLETE_WORKFLOW_EXECUTION), EV(WORKFLOW_EXECUTION_COMPLETED),
     ATTR(WORKFLOW_EXECUTION_COMPLETED)},
    {CMD(FAIL_WORKFLOW_EXECUTION), EV(WORKFLOW_EXECUTION_FAILED), ATTR(WORKFLOW_EXECUTION_FAILED)},
    {CMD(CANCEL_WORKFLOW_EXECUTION), EV(WORKFLOW_EXECUTION_CANCELED),
     ATTR(WORKFLOW_EXECUTION_CANCELED)},
    {CMD(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION),
     EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
     ATTR(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)},
    {CMD(RECORD_MARKER), EV(MARKER_RECORDED), ATTR(MARKER_RECORDED)},
    {CMD(CONTINUE_AS_NEW_WORKFLOW_EXECUTION), EV(WORKFLOW_EXECUTION_CONTINUED_AS_NEW),
     ATTR(WORKFLOW_EXECUTION_CONTINUED_AS_NEW)},
    {CMD(START_CHILD_WORKFLOW_EXECUTION), EV(START_CHILD_WORKFLOW_EXECUTION_INITIATED),
     ATTR(START_CHILD_WORKFLOW_EXECUTION_INITIATED)},
    {CMD(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION), EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
     ATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)},
    {CMD(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), EV(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
     ATTR(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)},
    {CMD(MODIFY_WORKFLOW_PROPERTIES), EV(WORKFLOW_PROPERTIES_MODIFIED),
     ATTR(WORKFLOW_PROPERTIES_MODIFIED)},
    {CMD(SCHEDULE_NEXUS_OPERATION), EV(NEXUS_OPERATION_SCHEDULED), ATTR(NEXUS_OPERATION_SCHEDULED)},
    {CMD(REQUEST_CANCEL_NEXUS_OPERATION), EV(NEXUS_OPERATION_CANCEL_REQUESTED),
     ATTR(NEXUS_OPERATION_CANCEL_REQUESTED)},
    /* A protocol message's command: an update accepted, or completed. */
    {CMD(PROTOCOL_MESSAGE), EV(WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
     ATTR(WORKFLOW_EXECUTION_UPDATE_ACCEPTED)},
    {CMD(PROTOCOL_MESSAGE), EV(WORKFLOW_EXECUTION_UPDATE_COMPLETED),
     ATTR(WORKFLOW_EXECUTION_UPDATE_COMPLETED)},
};
#define N_RECORDED (sizeof recorded_events / sizeof recorded_events[0])

static const struct recorded *recorded_for_event(int event_type) {
  for (size_t i = 0; i < N_RECORDED; i++)
    if (recorded_events[i].event_type == event_type) return &recorded_events[i];
  return NULL;
}

/* Whether the server records command_type as event_type. */
static bool records_as(int command_type, int event_type) {
  for (size_t i = 0; i < N_RECORDED; i++)
    if (recorded_events[i].command_type == command_type &&
        recorded_events[i].event_type == event_type)
      return true;
  return false;
}

/* --- descriptions ------------------------------------------------------------------ */

static const char *or_empty(const char *s) {
  return s ? s : "";
}

void twe__command_describe(const twe_command_pb_t *c, char *buf, size_t len) {
  const char *name = twe__command_type_name((int)c->command_type);
  if (c->attributes_case == CATTR(SCHEDULE_ACTIVITY_TASK) &&
      c->schedule_activity_task_command_attributes) {
    const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
        c->schedule_activity_task_command_attributes;
    snprintf(buf, len, "%s (activity id \"%s\", type \"%s\")", name, or_empty(a->activity_id),
             a->activity_type ? or_empty(a->activity_type->name) : "");
  } else if (c->attributes_case == CATTR(START_TIMER) && c->start_timer_command_attributes) {
    snprintf(buf, len, "%s (timer id \"%s\")", name,
             or_empty(c->start_timer_command_attributes->timer_id));
  } else if (c->attributes_case == CATTR(CANCEL_TIMER) && c->cancel_timer_command_attributes) {
    snprintf(buf, len, "%s (timer id \"%s\")", name,
             or_empty(c->cancel_timer_command_attributes->timer_id));
  } else {
    snprintf(buf, len, "%s", name);
  }
}

void twe__event_describe(const twe_event_pb_t *e, char *buf, size_t len) {
  const char *name = twe__event_type_name((int)e->event_type);
  if (e->attributes_case == ATTR(ACTIVITY_TASK_SCHEDULED) &&
      e->activity_task_scheduled_event_attributes) {
    const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *a =
        e->activity_task_scheduled_event_attributes;
    snprintf(buf, len, "%s (activity id \"%s\", type \"%s\")", name, or_empty(a->activity_id),
             a->activity_type ? or_empty(a->activity_type->name) : "");
  } else if (e->attributes_case == ATTR(TIMER_STARTED) && e->timer_started_event_attributes) {
    snprintf(buf, len, "%s (timer id \"%s\")", name,
             or_empty(e->timer_started_event_attributes->timer_id));
  } else if (e->attributes_case == ATTR(TIMER_CANCELED) && e->timer_canceled_event_attributes) {
    snprintf(buf, len, "%s (timer id \"%s\")", name,
             or_empty(e->timer_canceled_event_attributes->timer_id));
  } else if (e->attributes_case == ATTR(MARKER_RECORDED) && e->marker_recorded_event_attributes) {
    snprintf(buf, len, "%s (marker \"%s\")", name,
             or_empty(e->marker_recorded_event_attributes->marker_name));
  } else if (e->attributes_case == ATTR(START_CHILD_WORKFLOW_EXECUTION_INITIATED) &&
             e->start_child_workflow_execution_initiated_event_attributes) {
    const Temporal__Api__History__V1__StartChildWorkflowExecutionInitiatedEventAttributes *s =
        e->start_child_workflow_execution_initiated_event_attributes;
    snprintf(buf, len, "%s (workflow id \"%s\", type \"%s\")", name, or_empty(s->workflow_id),
             s->workflow_type ? or_empty(s->workflow_type->name) : "");
  } else if (e->attributes_case == ATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED) &&
             e->signal_external_workflow_execution_initiated_event_attributes) {
    snprintf(buf, len, "%s (signal \"%s\")", name,
             or_empty(e->signal_external_workflow_execution_initiated_event_attributes->signal_name));
  } else {
    snprintf(buf, len, "%s", name);
  }
}

static bool takes_input(const twe__mkind_t *k, int input) {
  for (size_t i = 0; i < k->n_rows; i++)
    if (k->rows[i].input == input) return true;
  return false;
}

/* --- the row engine ------------------------------------------------------------------- */

int twe__machine_input(twe_run_t *run, twe__machine_t *m, int input, const twe_event_pb_t *e) {
  const twe__mkind_t *k = m->kind;
  for (size_t i = 0; i < k->n_rows; i++) {
    const twe__mrow_t *r = &k->rows[i];
    if (r->from != m->state || r->input != input) continue;
#ifdef TWE_MACHINE_COVERAGE
    /* Relaxed: a count for the test report, read after the runs are done. */
    __atomic_fetch_add(&k->hits[i], 1, __ATOMIC_RELAXED);
#endif
    int to = r->to;
    int rc = r->action ? r->action(run, m, e, &to) : 0;
    m->state = to;
    return rc;
  }
  char cmd[256];
  if (m->origin)
    twe__command_describe(m->origin, cmd, sizeof cmd);
  else if (k->describe)
    k->describe(m, cmd, sizeof cmd);
  else
    snprintf(cmd, sizeof cmd, "%s", k->name);
  if (e)
    return twe__run_nondeterminism(
        run,
        "history event %" PRId64 " %s is not valid in state %s of the %s machine of %s "
        "(event %" PRId64 ")",
        e->event_id, twe__event_type_name((int)e->event_type), state_name(k, m->state), k->name,
        cmd, m->initiated_event_id);
  return twe__run_fail(run, -EPROTO, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                       "workflow run %s: input %s is not valid in state %s of the %s machine "
                       "of %s (a bug in twe)",
                       run->info.run_id, input_name(input), state_name(k, m->state), k->name,
                       cmd);
}

int twe__machine_act_initiated(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e,
                               int *to) {
  (void)to;
  m->initiated_event_id = e->event_id;
  return twe__machine_index(run, e->event_id, m);
}

/* --- machines and their commands -------------------------------------------------------- */

void *twe__machine_new(twe_run_t *run, const twe__mkind_t *kind, size_t size) {
  twe__machine_t *m = twe__arena_alloc(&run->arena, size);
  if (!m) return NULL;
  memset(m, 0, size);
  m->kind = kind;
  return m;
}

int twe__machine_command(twe_run_t *run, twe__machine_t *m, twe_command_pb_t *pb) {
  twe__command_t *c = twe__arena_alloc(&run->arena, sizeof *c);
  if (!c) return twe__arena_error(&run->arena);
  memset(c, 0, sizeof *c);
  c->pb = pb;
  c->machine = m;
  c->prev = run->pending_tail;
  if (run->pending_tail)
    run->pending_tail->next = c;
  else
    run->pending_head = c;
  run->pending_tail = c;
  run->pending_count++;
  m->command = c;
  if (!m->origin) m->origin = pb;
  return 0;
}

static void unlink_command(twe_run_t *run, twe__command_t *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    run->pending_head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    run->pending_tail = c->prev;
  c->prev = c->next = NULL;
  run->pending_count--;
  if (c->machine->command == c) c->machine->command = NULL;
}

void twe__machine_drop_command(twe_run_t *run, twe__machine_t *m) {
  /* Only before it went out: once sent, the server records it. */
  if (m->command && !m->command->sent) unlink_command(run, m->command);
}

/* Whether some kind lets e go unpaired (skippable). */
static bool skipped(const twe_event_pb_t *e) {
  for (size_t i = 0; i < N_KINDS; i++)
    if (all_kinds[i]->skippable && all_kinds[i]->skippable(e)) return true;
  return false;
}

/* The unordered kind that claims e, or NULL. */
static const twe__mkind_t *claimed_by(const twe_event_pb_t *e) {
  for (size_t i = 0; i < N_KINDS; i++)
    if (all_kinds[i]->claims && all_kinds[i]->claims(e)) return all_kinds[i];
  return NULL;
}

int twe__machine_record(twe_run_t *run, const twe_event_pb_t *e) {
  char ev[256], cmd[256];
  const twe__mkind_t *k = claimed_by(e);
  twe__command_t *c = run->pending_head;
  if (k) {
    while (c && !(c->machine->kind == k && records_as((int)c->pb->command_type, (int)e->event_type) &&
                  k->same_key(c->machine, c->pb, e)))
      c = c->next;
    if (!c) {
      if (k->skippable && k->skippable(e)) return 0;
      twe__event_describe(e, ev, sizeof ev);
      return twe__run_nondeterminism(
          run, "history has event %" PRId64 " %s but the code produced no such %s", e->event_id,
          ev, k->name);
    }
    unlink_command(run, c);
    return twe__machine_input(run, c->machine, (int)e->event_type, e);
  }
  while (c && c->machine->kind->claims) c = c->next;
  twe__machine_t *m0 = c ? c->machine : NULL;
  if ((!c || !records_as((int)c->pb->command_type, (int)e->event_type) ||
       !m0->kind->same_key(m0, c->pb, e)) &&
      skipped(e))
    return 0;
  if (!c) {
    twe__event_describe(e, ev, sizeof ev);
    return twe__run_nondeterminism(
        run, "history has event %" PRId64 " %s but the code produced no command", e->event_id,
        ev);
  }
  twe__machine_t *m = c->machine;
  if (!records_as((int)c->pb->command_type, (int)e->event_type) ||
      !m->kind->same_key(m, c->pb, e)) {
    twe__event_describe(e, ev, sizeof ev);
    twe__command_describe(c->pb, cmd, sizeof cmd);
    return twe__run_nondeterminism(
        run, "history event %" PRId64 " %s does not match the command the code produced: %s",
        e->event_id, ev, cmd);
  }
  unlink_command(run, c);
  return twe__machine_input(run, m, (int)e->event_type, e);
}

int twe__machine_send_all(twe_run_t *run, twe_arena_t *out_arena, twe_command_pb_t ***cmds,
                          size_t *n) {
  size_t count = run->pending_count;
  twe_command_pb_t **out = twe__arena_alloc(out_arena, (count ? count : 1) * sizeof *out);
  if (!out)
    return twe__run_fail(run, twe__arena_error(out_arena),
                         CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                         "workflow run %s: out of memory for the task's answer", run->info.run_id);
  size_t i = 0;
  for (twe__command_t *c = run->pending_head; c; c = c->next) {
    out[i++] = c->pb;
    if (c->sent) continue;
    c->sent = true;
    /* Kinds whose states do not track sending (the update's) take no SENT. */
    if (!takes_input(c->machine->kind, TWE__IN_SENT)) continue;
    int rc = twe__machine_input(run, c->machine, TWE__IN_SENT, NULL);
    if (rc < 0) return rc;
  }
  *cmds = out;
  *n = count;
  return 0;
}

/* --- markers -------------------------------------------------------------------------- */

int twe__marker_command_new(twe_run_t *run, const char *name, const char *const *keys,
                            twe_payloads_pb_t *const *values, size_t n, twe_failure_pb_t *failure,
                            twe_command_pb_t **out) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__RecordMarkerCommandAttributes *r = twe__arena_alloc(a, sizeof *r);
  Temporal__Api__Command__V1__RecordMarkerCommandAttributes__DetailsEntry *d =
      twe__arena_alloc(a, (n ? n : 1) * sizeof *d);
  Temporal__Api__Command__V1__RecordMarkerCommandAttributes__DetailsEntry **ds =
      twe__arena_alloc(a, (n ? n : 1) * sizeof *ds);
  if (!c || !r || !d || !ds) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__record_marker_command_attributes__init(r);
  for (size_t i = 0; i < n; i++) {
    temporal__api__command__v1__record_marker_command_attributes__details_entry__init(&d[i]);
    d[i].key = (char *)keys[i];
    d[i].value = values[i];
    ds[i] = &d[i];
  }
  r->marker_name = (char *)name;
  r->n_details = n;
  r->details = ds;
  r->failure = failure;
  c->command_type = CMD(RECORD_MARKER);
  c->attributes_case = CATTR(RECORD_MARKER);
  c->record_marker_command_attributes = r;
  *out = c;
  return 0;
}

int twe__json_payloads_new(twe_run_t *run, const char *text, twe_payloads_pb_t **out) {
  twe_payload_t v = twe_payload_json(text);
  return twe__values_to_payloads(&run->arena, &v, 1, out);
}

const ProtobufCBinaryData *twe__marker_detail(const twe_event_pb_t *e, const char *key) {
  if (e->attributes_case != ATTR(MARKER_RECORDED) || !e->marker_recorded_event_attributes)
    return NULL;
  const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a =
      e->marker_recorded_event_attributes;
  for (size_t i = 0; i < a->n_details; i++) {
    const Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        a->details[i];
    if (d->key && strcmp(d->key, key) == 0 && d->value && d->value->n_payloads)
      return &d->value->payloads[0]->data;
  }
  return NULL;
}

/* --- the index of open machines ---------------------------------------------------------- */

/* Open machines by their initiating event id: linear probing with
 * backward-shift deletion, slots in the run arena. */
static size_t slot_of(int64_t key, size_t cap) {
  uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

static int index_grow(twe_run_t *run) {
  twe__machine_index_t *ix = &run->index;
  size_t cap = ix->cap ? ix->cap * 2 : 16;
  int64_t *keys = twe__arena_alloc(&run->arena, cap * sizeof *keys);
  twe__machine_t **vals = twe__arena_alloc(&run->arena, cap * sizeof *vals);
  if (!keys || !vals) return twe__run_oom(run);
  memset(keys, 0, cap * sizeof *keys);
  for (size_t i = 0; i < ix->cap; i++) {
    if (!ix->keys[i]) continue;
    size_t j = slot_of(ix->keys[i], cap);
    while (keys[j]) j = (j + 1) & (cap - 1);
    keys[j] = ix->keys[i];
    vals[j] = ix->vals[i];
  }
  /* The old slots stay in the arena until the run ends: growth doubles, so
   * the waste is at most the size of the final table. */
  ix->keys = keys;
  ix->vals = vals;
  ix->cap = cap;
  return 0;
}

int twe__machine_index(twe_run_t *run, int64_t event_id, twe__machine_t *m) {
  twe__machine_index_t *ix = &run->index;
  if ((ix->count + 1) * 4 > ix->cap * 3) {
    int rc = index_grow(run);
    if (rc < 0) return rc;
  }
  size_t j = slot_of(event_id, ix->cap);
  while (ix->keys[j] && ix->keys[j] != event_id) j = (j + 1) & (ix->cap - 1);
  if (!ix->keys[j]) ix->count++;
  ix->keys[j] = event_id;
  ix->vals[j] = m;
  return 0;
}

twe__machine_t *twe__machine_find(const twe_run_t *run, int64_t event_id) {
  const twe__machine_index_t *ix = &run->index;
  if (!ix->cap || event_id <= 0) return NULL;
  for (size_t j = slot_of(event_id, ix->cap); ix->keys[j]; j = (j + 1) & (ix->cap - 1))
    if (ix->keys[j] == event_id) return ix->vals[j];
  return NULL;
}

void twe__machine_unindex(twe_run_t *run, int64_t event_id) {
  twe__machine_index_t *ix = &run->index;
  if (!ix->cap || event_id <= 0) return;
  size_t mask = ix->cap - 1, j = slot_of(event_id, ix->cap);
  while (ix->keys[j] && ix->keys[j] != event_id) j = (j + 1) & mask;
  if (!ix->keys[j]) return;
  /* Backward-shift deletion: pull later members of the probe run into the
   * hole so lookups never stop early, with no tombstones. */
  size_t hole = j;
  for (size_t k = (j + 1) & mask; ix->keys[k]; k = (k + 1) & mask) {
    size_t home = slot_of(ix->keys[k], ix->cap);
    bool movable = hole <= k ? (home <= hole || home > k) : (home <= hole && home > k);
    if (movable) {
      ix->keys[hole] = ix->keys[k];
      ix->vals[hole] = ix->vals[k];
      hole = k;
    }
  }
  ix->keys[hole] = 0;
  ix->count--;
}

/* --- events -------------------------------------------------------------------------------- */

void twe__machine_classify(const twe_event_pb_t *e, twe__event_class_t *out) {
  memset(out, 0, sizeof *out);
  int type = (int)e->event_type;
  const struct recorded *r = recorded_for_event(type);
  if (r) {
    out->role = TWE__EVENT_COMMAND;
    /* Every member of the oneof is a pointer: a NULL one is missing. */
    out->malformed = (int)e->attributes_case != r->attributes_case ||
                     !e->workflow_execution_started_event_attributes;
    return;
  }
  for (size_t k = 0; k < N_KINDS; k++) {
    const twe__mkind_t *kind = all_kinds[k];
    for (size_t i = 0; i < kind->n_follow_ups; i++) {
      const twe__mfollow_up_t *f = &kind->follow_ups[i];
      if (f->event_type != type) continue;
      out->role = TWE__EVENT_FOLLOW_UP;
      out->kind = kind;
      out->ref_name = f->ref_name;
      out->malformed = (int)e->attributes_case != f->attributes_case ||
                       !e->workflow_execution_started_event_attributes;
      out->ref_event_id = out->malformed ? 0 : f->ref(e);
      return;
    }
  }
  out->role = TWE__EVENT_OTHER;
}

int twe__machine_follow_up(twe_run_t *run, const twe_event_pb_t *e, const twe__event_class_t *c) {
  twe__machine_t *m = twe__machine_find(run, c->ref_event_id);
  if (!m || m->kind != c->kind)
    return twe__run_nondeterminism(run,
                                   "history event %" PRId64 " %s refers to %s event %" PRId64
                                   ", which is not an open %s of this run",
                                   e->event_id, twe__event_type_name((int)e->event_type),
                                   c->ref_name, c->ref_event_id, c->kind->name);
  return twe__machine_input(run, m, (int)e->event_type, e);
}

/* --- coverage ------------------------------------------------------------------------------- */

int twe__machine_rows_unreached(FILE *out, const char *const *kinds, size_t n_kinds) {
#ifdef TWE_MACHINE_COVERAGE
  for (size_t j = 0; j < n_kinds; j++) {
    size_t k = 0;
    while (k < N_KINDS && strcmp(all_kinds[k]->name, kinds[j]) != 0) k++;
    if (k == N_KINDS) return -EINVAL;
  }
  int n = 0;
  for (size_t k = 0; k < N_KINDS; k++) {
    const twe__mkind_t *kind = all_kinds[k];
    bool listed = n_kinds == 0;
    for (size_t j = 0; j < n_kinds && !listed; j++) listed = strcmp(kind->name, kinds[j]) == 0;
    if (!listed) continue;
    for (size_t i = 0; i < kind->n_rows; i++) {
      if (__atomic_load_n(&kind->hits[i], __ATOMIC_RELAXED)) continue;
      const twe__mrow_t *r = &kind->rows[i];
      fprintf(out, "%s: %s --%s--> %s\n", kind->name, state_name(kind, r->from),
              input_name(r->input), state_name(kind, r->to));
      n++;
    }
  }
  return n;
#else
  (void)out, (void)kinds, (void)n_kinds;
  return -ENOTSUP;
#endif
}
