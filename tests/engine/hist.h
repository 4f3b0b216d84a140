/* tests/engine/hist.h — synthetic histories for the unit tests of workflow
 * runs: events built in C, in an arena, numbered from 1, event i stamped
 * T0 + i seconds; and a fixture to apply them to runs. Header-only (static
 * inline), for the unit tests of workflow runs (test_run.c, test_machines.c,
 * test_signals.c, test_queries.c). */
#ifndef TWE_TESTS_ENGINE_HIST_H
#define TWE_TESTS_ENGINE_HIST_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <stdlib.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/values.h"
#include "proto/codec.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/update/v1/message.pb-c.h"
#include "engine/workflow/run.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"

#ifndef EV
#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#endif
#ifndef HATTR
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#endif
#ifndef NS
#define NS 1000000000LL
#endif
#define T0 (1700000000LL * NS) /* event 1's time; event i is i seconds later */

typedef struct hist {
  twe_arena_t arena;
  twe_event_pb_t *ev[512];
  size_t n;
} hist_t;

static inline void *halloc(hist_t *h, size_t size) {
  void *p = twe__arena_alloc(&h->arena, size);
  assert_non_null(p);
  memset(p, 0, size);
  return p;
}

static inline char *hstr(hist_t *h, const char *s) {
  return twe__str(&h->arena, s);
}

static inline twe_event_pb_t *add(hist_t *h, int type) {
  assert_true(h->n < sizeof h->ev / sizeof h->ev[0]);
  twe_event_pb_t *e = halloc(h, sizeof *e);
  temporal__api__history__v1__history_event__init(e);
  e->event_id = (int64_t)h->n + 1;
  e->event_type = (Temporal__Api__Enums__V1__EventType)type;
  Google__Protobuf__Timestamp *t = halloc(h, sizeof *t);
  google__protobuf__timestamp__init(t);
  int64_t ns = T0 + e->event_id * NS;
  t->seconds = ns / NS;
  t->nanos = (int32_t)(ns % NS);
  e->event_time = t;
  h->ev[h->n++] = e;
  return e;
}

static inline twe_payloads_pb_t *json_payloads(hist_t *h, const char *json) {
  if (!json) return NULL;
  twe_payload_t v = {"json/plain", json, strlen(json)};
  twe_payloads_pb_t *p;
  /* twe__values_to_payloads does not check the JSON: bad input on purpose. */
  assert_int_equal(twe__values_to_payloads(&h->arena, &v, 1, &p), 0);
  return p;
}

static inline void h_started(hist_t *h, const char *type, const char *input_json) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_STARTED));
  Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_started_event_attributes__init(a);
  Temporal__Api__Common__V1__WorkflowType *wt = halloc(h, sizeof *wt);
  temporal__api__common__v1__workflow_type__init(wt);
  wt->name = hstr(h, type);
  a->workflow_type = wt;
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = halloc(h, sizeof *tq);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  tq->name = hstr(h, "tq");
  a->task_queue = tq;
  a->input = json_payloads(h, input_json);
  a->attempt = 1;
  a->original_execution_run_id = hstr(h, "original-run-1");
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_STARTED);
  e->workflow_execution_started_event_attributes = a;
}

/* WORKFLOW_TASK_SCHEDULED + WORKFLOW_TASK_STARTED; returns the started id. */
static inline int64_t h_task(hist_t *h) {
  add(h, EV(WORKFLOW_TASK_SCHEDULED));
  twe_event_pb_t *e = add(h, EV(WORKFLOW_TASK_STARTED));
  Temporal__Api__History__V1__WorkflowTaskStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_task_started_event_attributes__init(a);
  a->scheduled_event_id = e->event_id - 1;
  e->attributes_case = HATTR(WORKFLOW_TASK_STARTED);
  e->workflow_task_started_event_attributes = a;
  return e->event_id;
}

static inline void h_task_completed(hist_t *h) {
  add(h, EV(WORKFLOW_TASK_COMPLETED));
}

static inline void h_task_failed(hist_t *h) {
  add(h, EV(WORKFLOW_TASK_FAILED));
}

static inline int64_t h_act_scheduled(hist_t *h, const char *id, const char *type) {
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_SCHEDULED));
  Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_scheduled_event_attributes__init(a);
  a->activity_id = hstr(h, id);
  Temporal__Api__Common__V1__ActivityType *at = halloc(h, sizeof *at);
  temporal__api__common__v1__activity_type__init(at);
  at->name = hstr(h, type);
  a->activity_type = at;
  e->attributes_case = HATTR(ACTIVITY_TASK_SCHEDULED);
  e->activity_task_scheduled_event_attributes = a;
  return e->event_id;
}

static inline int64_t h_act_started(hist_t *h, int64_t scheduled) {
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_STARTED));
  Temporal__Api__History__V1__ActivityTaskStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_started_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  e->attributes_case = HATTR(ACTIVITY_TASK_STARTED);
  e->activity_task_started_event_attributes = a;
  return e->event_id;
}

/* STARTED + COMPLETED with a JSON result. */
static inline void h_act_done(hist_t *h, int64_t scheduled, const char *result_json) {
  int64_t started = h_act_started(h, scheduled);
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_COMPLETED));
  Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_completed_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  a->started_event_id = started;
  a->result = json_payloads(h, result_json);
  e->attributes_case = HATTR(ACTIVITY_TASK_COMPLETED);
  e->activity_task_completed_event_attributes = a;
}

static inline twe_failure_pb_t *app_failure(hist_t *h, const char *type, const char *message,
                                     bool non_retryable) {
  twe_failure_pb_t *f;
  assert_int_equal(twe__failure_new(&h->arena, type, message, non_retryable, &f), 0);
  return f;
}

/* STARTED + FAILED with failure. */
static inline void h_act_failed(hist_t *h, int64_t scheduled, twe_failure_pb_t *failure) {
  int64_t started = h_act_started(h, scheduled);
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_FAILED));
  Temporal__Api__History__V1__ActivityTaskFailedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_failed_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  a->started_event_id = started;
  a->failure = failure;
  e->attributes_case = HATTR(ACTIVITY_TASK_FAILED);
  e->activity_task_failed_event_attributes = a;
}

static inline int64_t h_timer_started(hist_t *h, const char *id) {
  twe_event_pb_t *e = add(h, EV(TIMER_STARTED));
  Temporal__Api__History__V1__TimerStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__timer_started_event_attributes__init(a);
  a->timer_id = hstr(h, id);
  e->attributes_case = HATTR(TIMER_STARTED);
  e->timer_started_event_attributes = a;
  return e->event_id;
}

static inline void h_timer_fired(hist_t *h, int64_t started, const char *id) {
  twe_event_pb_t *e = add(h, EV(TIMER_FIRED));
  Temporal__Api__History__V1__TimerFiredEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__timer_fired_event_attributes__init(a);
  a->timer_id = hstr(h, id);
  a->started_event_id = started;
  e->attributes_case = HATTR(TIMER_FIRED);
  e->timer_fired_event_attributes = a;
}

static inline void h_workflow_completed(hist_t *h) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_COMPLETED));
  Temporal__Api__History__V1__WorkflowExecutionCompletedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_completed_event_attributes__init(a);
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_COMPLETED);
  e->workflow_execution_completed_event_attributes = a;
}

static inline void h_workflow_failed(hist_t *h) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_FAILED));
  Temporal__Api__History__V1__WorkflowExecutionFailedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_failed_event_attributes__init(a);
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_FAILED);
  e->workflow_execution_failed_event_attributes = a;
}

static inline void h_act_timed_out(hist_t *h, int64_t scheduled, int64_t started) {
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_TIMED_OUT));
  Temporal__Api__History__V1__ActivityTaskTimedOutEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_timed_out_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  a->started_event_id = started;
  e->attributes_case = HATTR(ACTIVITY_TASK_TIMED_OUT);
  e->activity_task_timed_out_event_attributes = a;
}

static inline void h_timer_canceled(hist_t *h, int64_t started, const char *id) {
  twe_event_pb_t *e = add(h, EV(TIMER_CANCELED));
  Temporal__Api__History__V1__TimerCanceledEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__timer_canceled_event_attributes__init(a);
  a->timer_id = hstr(h, id);
  a->started_event_id = started;
  e->attributes_case = HATTR(TIMER_CANCELED);
  e->timer_canceled_event_attributes = a;
}

/* A signal name with one JSON argument (none when json is NULL). */
static inline void h_signal(hist_t *h, const char *name, const char *json) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_SIGNALED));
  Temporal__Api__History__V1__WorkflowExecutionSignaledEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_signaled_event_attributes__init(a);
  a->signal_name = hstr(h, name);
  a->input = json_payloads(h, json);
  a->identity = hstr(h, "tester@host");
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_SIGNALED);
  e->workflow_execution_signaled_event_attributes = a;
}

static inline void h_act_cancel_requested(hist_t *h, int64_t scheduled) {
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_CANCEL_REQUESTED));
  Temporal__Api__History__V1__ActivityTaskCancelRequestedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_cancel_requested_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  e->attributes_case = HATTR(ACTIVITY_TASK_CANCEL_REQUESTED);
  e->activity_task_cancel_requested_event_attributes = a;
}

static inline void h_act_canceled(hist_t *h, int64_t scheduled, int64_t started) {
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_CANCELED));
  Temporal__Api__History__V1__ActivityTaskCanceledEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_canceled_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  a->started_event_id = started;
  e->attributes_case = HATTR(ACTIVITY_TASK_CANCELED);
  e->activity_task_canceled_event_attributes = a;
}

static inline void h_workflow_cancel_requested(hist_t *h) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_CANCEL_REQUESTED));
  Temporal__Api__History__V1__WorkflowExecutionCancelRequestedEventAttributes *a =
      halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_cancel_requested_event_attributes__init(a);
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_CANCEL_REQUESTED);
  e->workflow_execution_cancel_requested_event_attributes = a;
}

static inline void h_workflow_canceled(hist_t *h) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_CANCELED));
  Temporal__Api__History__V1__WorkflowExecutionCanceledEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_canceled_event_attributes__init(a);
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_CANCELED);
  e->workflow_execution_canceled_event_attributes = a;
}

/* The marker a patch records (core_patch, as the Python SDK writes it). */
static inline void h_patch_marker_as(hist_t *h, const char *id, bool deprecated);
static inline void h_patch_marker(hist_t *h, const char *id) {
  h_patch_marker_as(h, id, false);
}
static inline void h_patch_marker_as(hist_t *h, const char *id, bool deprecated) {
  twe_event_pb_t *e = add(h, EV(MARKER_RECORDED));
  Temporal__Api__History__V1__MarkerRecordedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__marker_recorded_event_attributes__init(a);
  Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d = halloc(h, sizeof *d);
  temporal__api__history__v1__marker_recorded_event_attributes__details_entry__init(d);
  char json[256];
  snprintf(json, sizeof json, "{\"id\":\"%s\",\"deprecated\":%s}", id,
           deprecated ? "true" : "false");
  d->key = hstr(h, "patch-data");
  d->value = json_payloads(h, json);
  a->marker_name = hstr(h, "core_patch");
  a->n_details = 1;
  a->details = halloc(h, sizeof *a->details);
  a->details[0] = d;
  e->attributes_case = HATTR(MARKER_RECORDED);
  e->marker_recorded_event_attributes = a;
}

/* An upsert of search attribute name (its value "[]"). */
static inline void h_upsert(hist_t *h, const char *name) {
  twe_event_pb_t *e = add(h, EV(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES));
  Temporal__Api__History__V1__UpsertWorkflowSearchAttributesEventAttributes *a =
      halloc(h, sizeof *a);
  temporal__api__history__v1__upsert_workflow_search_attributes_event_attributes__init(a);
  Temporal__Api__Common__V1__SearchAttributes *sa = halloc(h, sizeof *sa);
  temporal__api__common__v1__search_attributes__init(sa);
  Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry *f = halloc(h, sizeof *f);
  temporal__api__common__v1__search_attributes__indexed_fields_entry__init(f);
  f->key = hstr(h, name);
  f->value = json_payloads(h, "[]")->payloads[0];
  sa->n_indexed_fields = 1;
  sa->indexed_fields = halloc(h, sizeof *sa->indexed_fields);
  sa->indexed_fields[0] = f;
  a->search_attributes = sa;
  e->attributes_case = HATTR(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
  e->upsert_workflow_search_attributes_event_attributes = a;
}

/* SIGNAL_EXTERNAL_..._INITIATED or REQUEST_CANCEL_EXTERNAL_..._INITIATED
 * for workflow target (signal name when signalling). Returns its id. */
static inline int64_t h_external_initiated(hist_t *h, bool signal, const char *target,
                                           const char *name) {
  Temporal__Api__Common__V1__WorkflowExecution *ex = halloc(h, sizeof *ex);
  temporal__api__common__v1__workflow_execution__init(ex);
  ex->workflow_id = hstr(h, target);
  if (signal) {
    twe_event_pb_t *e = add(h, EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED));
    Temporal__Api__History__V1__SignalExternalWorkflowExecutionInitiatedEventAttributes *a =
        halloc(h, sizeof *a);
    temporal__api__history__v1__signal_external_workflow_execution_initiated_event_attributes__init(a);
    a->workflow_execution = ex;
    a->signal_name = hstr(h, name);
    e->attributes_case = HATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED);
    e->signal_external_workflow_execution_initiated_event_attributes = a;
    return e->event_id;
  }
  twe_event_pb_t *e = add(h, EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED));
  Temporal__Api__History__V1__RequestCancelExternalWorkflowExecutionInitiatedEventAttributes *a =
      halloc(h, sizeof *a);
  temporal__api__history__v1__request_cancel_external_workflow_execution_initiated_event_attributes__init(a);
  a->workflow_execution = ex;
  e->attributes_case = HATTR(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED);
  e->request_cancel_external_workflow_execution_initiated_event_attributes = a;
  return e->event_id;
}

/* The outcome of an external signal or cancel initiated by event init. */
static inline void h_external_done(hist_t *h, bool signal, int64_t init, bool ok) {
  twe_event_pb_t *e;
  if (signal && ok) {
    e = add(h, EV(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED));
    Temporal__Api__History__V1__ExternalWorkflowExecutionSignaledEventAttributes *a =
        halloc(h, sizeof *a);
    temporal__api__history__v1__external_workflow_execution_signaled_event_attributes__init(a);
    a->initiated_event_id = init;
    e->attributes_case = HATTR(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED);
    e->external_workflow_execution_signaled_event_attributes = a;
  } else if (signal) {
    e = add(h, EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED));
    Temporal__Api__History__V1__SignalExternalWorkflowExecutionFailedEventAttributes *a =
        halloc(h, sizeof *a);
    temporal__api__history__v1__signal_external_workflow_execution_failed_event_attributes__init(a);
    a->initiated_event_id = init;
    a->cause = 1; /* EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND */
    e->attributes_case = HATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED);
    e->signal_external_workflow_execution_failed_event_attributes = a;
  } else if (ok) {
    e = add(h, EV(EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED));
    Temporal__Api__History__V1__ExternalWorkflowExecutionCancelRequestedEventAttributes *a =
        halloc(h, sizeof *a);
    temporal__api__history__v1__external_workflow_execution_cancel_requested_event_attributes__init(a);
    a->initiated_event_id = init;
    e->attributes_case = HATTR(EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
    e->external_workflow_execution_cancel_requested_event_attributes = a;
  } else {
    e = add(h, EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED));
    Temporal__Api__History__V1__RequestCancelExternalWorkflowExecutionFailedEventAttributes *a =
        halloc(h, sizeof *a);
    temporal__api__history__v1__request_cancel_external_workflow_execution_failed_event_attributes__init(a);
    a->initiated_event_id = init;
    a->cause = 1;
    e->attributes_case = HATTR(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED);
    e->request_cancel_external_workflow_execution_failed_event_attributes = a;
  }
}

/* A SideEffect marker (the Go SDK's) for side effect id with JSON data. */
static inline void h_side_effect_marker(hist_t *h, int id, const char *json) {
  twe_event_pb_t *e = add(h, EV(MARKER_RECORDED));
  Temporal__Api__History__V1__MarkerRecordedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__marker_recorded_event_attributes__init(a);
  a->marker_name = hstr(h, "SideEffect");
  a->n_details = 2;
  a->details = halloc(h, 2 * sizeof *a->details);
  char idtext[16];
  snprintf(idtext, sizeof idtext, "%d", id);
  const char *keys[2] = {"side-effect-id", "data"}, *vals[2] = {idtext, json};
  for (int i = 0; i < 2; i++) {
    Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        halloc(h, sizeof *d);
    temporal__api__history__v1__marker_recorded_event_attributes__details_entry__init(d);
    d->key = hstr(h, keys[i]);
    d->value = json_payloads(h, vals[i]);
    a->details[i] = d;
  }
  e->attributes_case = HATTR(MARKER_RECORDED);
  e->marker_recorded_event_attributes = a;
}

/* The MARKER_RECORDED event the server records for RECORD_MARKER command
 * c (copied into the history's arena: c lives in a run that may go). */
static inline void h_marker_from(hist_t *h, const twe_command_pb_t *c) {
  const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *r =
      c->record_marker_command_attributes;
  assert_non_null(r);
  twe_event_pb_t *e = add(h, EV(MARKER_RECORDED));
  Temporal__Api__History__V1__MarkerRecordedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__marker_recorded_event_attributes__init(a);
  a->marker_name = hstr(h, r->marker_name);
  a->n_details = r->n_details;
  a->details = halloc(h, (r->n_details + 1) * sizeof *a->details);
  uint8_t buf[4096];
  for (size_t i = 0; i < r->n_details; i++) {
    Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        halloc(h, sizeof *d);
    temporal__api__history__v1__marker_recorded_event_attributes__details_entry__init(d);
    d->key = hstr(h, r->details[i]->key);
    size_t len = protobuf_c_message_pack(&r->details[i]->value->base, buf);
    assert_true(len < sizeof buf);
    assert_int_equal(twe__proto_decode(&temporal__api__common__v1__payloads__descriptor, &h->arena,
                                       buf, len, (ProtobufCMessage **)&d->value),
                     0);
    a->details[i] = d;
  }
  if (r->failure) {
    size_t len = protobuf_c_message_pack(&r->failure->base, buf);
    assert_true(len < sizeof buf);
    assert_int_equal(twe__proto_decode(&temporal__api__failure__v1__failure__descriptor,
                                       &h->arena, buf, len, (ProtobufCMessage **)&a->failure),
                     0);
  }
  e->attributes_case = HATTR(MARKER_RECORDED);
  e->marker_recorded_event_attributes = a;
}

/* The Go SDK's GetVersion marker: "Version" {"change-id", "version"}. */
static inline void h_version_marker(hist_t *h, const char *change_id, int version) {
  twe_event_pb_t *e = add(h, EV(MARKER_RECORDED));
  Temporal__Api__History__V1__MarkerRecordedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__marker_recorded_event_attributes__init(a);
  a->marker_name = hstr(h, "Version");
  a->n_details = 2;
  a->details = halloc(h, 2 * sizeof *a->details);
  char id[256], v[16];
  snprintf(id, sizeof id, "\"%s\"", change_id);
  snprintf(v, sizeof v, "%d", version);
  const char *keys[2] = {"change-id", "version"}, *vals[2] = {id, v};
  for (int i = 0; i < 2; i++) {
    Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        halloc(h, sizeof *d);
    temporal__api__history__v1__marker_recorded_event_attributes__details_entry__init(d);
    d->key = hstr(h, keys[i]);
    d->value = json_payloads(h, vals[i]);
    a->details[i] = d;
  }
  e->attributes_case = HATTR(MARKER_RECORDED);
  e->marker_recorded_event_attributes = a;
}

/* START_CHILD_WORKFLOW_EXECUTION_INITIATED for child id of type. */
static inline int64_t h_child_initiated(hist_t *h, const char *id, const char *type) {
  twe_event_pb_t *e = add(h, EV(START_CHILD_WORKFLOW_EXECUTION_INITIATED));
  Temporal__Api__History__V1__StartChildWorkflowExecutionInitiatedEventAttributes *a =
      halloc(h, sizeof *a);
  temporal__api__history__v1__start_child_workflow_execution_initiated_event_attributes__init(a);
  Temporal__Api__Common__V1__WorkflowType *wt = halloc(h, sizeof *wt);
  temporal__api__common__v1__workflow_type__init(wt);
  wt->name = hstr(h, type);
  a->workflow_id = hstr(h, id);
  a->workflow_type = wt;
  e->attributes_case = HATTR(START_CHILD_WORKFLOW_EXECUTION_INITIATED);
  e->start_child_workflow_execution_initiated_event_attributes = a;
  return e->event_id;
}

/* A child's follow-up event of type (STARTED, COMPLETED with "1", FAILED
 * with an application failure, CANCELED, TIMED_OUT, TERMINATED, or
 * START_CHILD_WORKFLOW_EXECUTION_FAILED) for the child initiated at init. */
static inline void h_child_event(hist_t *h, int type, int64_t init) {
  twe_event_pb_t *e = add(h, type);
  Temporal__Api__Common__V1__WorkflowExecution *ex = halloc(h, sizeof *ex);
  temporal__api__common__v1__workflow_execution__init(ex);
  ex->workflow_id = hstr(h, "kid");
  ex->run_id = hstr(h, "kid-run");
#define CHILD_EV(T, member, init_fn)        \
  if (type == EV(T)) {                      \
    e->member = halloc(h, sizeof *e->member); \
    init_fn(e->member);                     \
    e->member->initiated_event_id = init;   \
    e->attributes_case = HATTR(T);
  CHILD_EV(CHILD_WORKFLOW_EXECUTION_STARTED, child_workflow_execution_started_event_attributes,
           temporal__api__history__v1__child_workflow_execution_started_event_attributes__init)
    e->child_workflow_execution_started_event_attributes->workflow_execution = ex;
  }
  CHILD_EV(CHILD_WORKFLOW_EXECUTION_COMPLETED, child_workflow_execution_completed_event_attributes,
           temporal__api__history__v1__child_workflow_execution_completed_event_attributes__init)
    e->child_workflow_execution_completed_event_attributes->result = json_payloads(h, "1");
  }
  CHILD_EV(CHILD_WORKFLOW_EXECUTION_FAILED, child_workflow_execution_failed_event_attributes,
           temporal__api__history__v1__child_workflow_execution_failed_event_attributes__init)
    e->child_workflow_execution_failed_event_attributes->failure =
        app_failure(h, "KidFailed", "kid failed", true);
  }
  CHILD_EV(CHILD_WORKFLOW_EXECUTION_CANCELED, child_workflow_execution_canceled_event_attributes,
           temporal__api__history__v1__child_workflow_execution_canceled_event_attributes__init)
  }
  CHILD_EV(CHILD_WORKFLOW_EXECUTION_TIMED_OUT, child_workflow_execution_timed_out_event_attributes,
           temporal__api__history__v1__child_workflow_execution_timed_out_event_attributes__init)
  }
  CHILD_EV(CHILD_WORKFLOW_EXECUTION_TERMINATED,
           child_workflow_execution_terminated_event_attributes,
           temporal__api__history__v1__child_workflow_execution_terminated_event_attributes__init)
  }
  CHILD_EV(START_CHILD_WORKFLOW_EXECUTION_FAILED,
           start_child_workflow_execution_failed_event_attributes,
           temporal__api__history__v1__start_child_workflow_execution_failed_event_attributes__init)
    e->start_child_workflow_execution_failed_event_attributes->cause = 1; /* ALREADY_EXISTS */
  }
#undef CHILD_EV
}

/* An update request for name with one JSON argument (none when json is
 * NULL), id update_id. */
static inline Temporal__Api__Update__V1__Request *h_update_request(hist_t *h, const char *update_id,
                                                                   const char *name,
                                                                   const char *json) {
  Temporal__Api__Update__V1__Request *r = halloc(h, sizeof *r);
  Temporal__Api__Update__V1__Meta *meta = halloc(h, sizeof *meta);
  Temporal__Api__Update__V1__Input *in = halloc(h, sizeof *in);
  temporal__api__update__v1__request__init(r);
  temporal__api__update__v1__meta__init(meta);
  temporal__api__update__v1__input__init(in);
  meta->update_id = hstr(h, update_id);
  meta->identity = hstr(h, "tester@host");
  in->name = hstr(h, name);
  in->args = json_payloads(h, json);
  r->meta = meta;
  r->input = in;
  return r;
}

/* The protocol message that carries an update request in a task. */
static inline Temporal__Api__Protocol__V1__Message *h_update_message(hist_t *h, const char *msg_id,
                                                                     int64_t after_event,
                                                                     Temporal__Api__Update__V1__Request *r) {
  Temporal__Api__Protocol__V1__Message *m = halloc(h, sizeof *m);
  Google__Protobuf__Any *any = halloc(h, sizeof *any);
  temporal__api__protocol__v1__message__init(m);
  google__protobuf__any__init(any);
  any->type_url = hstr(h, "type.googleapis.com/temporal.api.update.v1.Request");
  assert_int_equal(twe__proto_encode(&r->base, &h->arena, &any->value.data, &any->value.len), 0);
  m->id = hstr(h, msg_id);
  m->protocol_instance_id = r->meta->update_id;
  m->body = any;
  m->sequencing_id_case = TEMPORAL__API__PROTOCOL__V1__MESSAGE__SEQUENCING_ID_EVENT_ID;
  m->event_id = after_event;
  return m;
}

static inline int64_t h_update_accepted(hist_t *h, const char *msg_id,
                                        Temporal__Api__Update__V1__Request *r) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_UPDATE_ACCEPTED));
  Temporal__Api__History__V1__WorkflowExecutionUpdateAcceptedEventAttributes *a =
      halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_update_accepted_event_attributes__init(a);
  a->protocol_instance_id = r->meta->update_id;
  a->accepted_request_message_id = hstr(h, msg_id);
  a->accepted_request = r;
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
  e->workflow_execution_update_accepted_event_attributes = a;
  return e->event_id;
}

static inline void h_update_completed(hist_t *h, const char *update_id, int64_t accepted) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_UPDATE_COMPLETED));
  Temporal__Api__History__V1__WorkflowExecutionUpdateCompletedEventAttributes *a =
      halloc(h, sizeof *a);
  Temporal__Api__Update__V1__Meta *meta = halloc(h, sizeof *meta);
  temporal__api__history__v1__workflow_execution_update_completed_event_attributes__init(a);
  temporal__api__update__v1__meta__init(meta);
  meta->update_id = hstr(h, update_id);
  a->meta = meta;
  a->accepted_event_id = accepted;
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  e->workflow_execution_update_completed_event_attributes = a;
}

/* --- a fixture: a registry, fibers, a history, a run ----------------------------- */

typedef struct fixture {
  twe_registry_t reg;
  twe_fiber_pool_t *pool;
  twe_run_env_t env;
  hist_t h;
  twe_arena_t out_arena;
  twe_run_outcome_t out;
  twe_run_t *run;
} fixture_t;

/* An empty fixture: register the workflows, then build the history. */
static inline fixture_t *fixture_open(void) {
  fixture_t *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  twe__registry_init(&fx->reg);
  assert_int_equal(twe__fiber_pool_create(0, &fx->pool), 0);
  fx->env = (twe_run_env_t){.namespace_name = "default", .task_queue = "tq", .registry = &fx->reg, .fibers = fx->pool};
  twe__arena_init(&fx->h.arena, 0);
  twe__arena_init(&fx->out_arena, 0);
  return fx;
}

static inline void fixture_close(fixture_t *fx) {
  twe__run_destroy(fx->run);
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(fx->pool, &st);
  assert_int_equal(st.stacks_in_use, 0); /* destroy gave every stack back */
  twe__fiber_pool_destroy(fx->pool);
  twe__registry_destroy(&fx->reg);
  twe__arena_destroy(&fx->h.arena);
  twe__arena_destroy(&fx->out_arena);
  free(fx);
}

/* A new run "wf-1" / "run-1" of the fixture (not fx->run: the caller keeps it). */
static inline twe_run_t *new_run(fixture_t *fx) {
  twe_run_t *run = NULL;
  assert_int_equal(twe__run_create(&fx->env, "wf-1", "run-1", &run), 0);
  assert_int_equal(twe__run_next_event_id(run), 1);
  return run;
}

/* Applies events [from, to) (0-based indexes) to fx->run; the answer in
 * fx->out. */
static inline int fx_apply(fixture_t *fx, size_t from, size_t to) {
  return twe__run_apply(fx->run, fx->h.ev + from, to - from, &fx->out_arena, &fx->out);
}

#ifndef CMD
#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x
#endif

/* Applies events [from, to) (0-based indexes into the history). */
static inline int apply(fixture_t *fx, twe_run_t *run, size_t from, size_t to, twe_run_outcome_t *out) {
  return twe__run_apply(run, fx->h.ev + from, to - from, &fx->out_arena, out);
}

static inline const twe_command_pb_t *cmd(const twe_run_outcome_t *out, size_t i) {
  assert_true(i < out->n_commands);
  return out->commands[i];
}

static inline void assert_payload_json(const twe_payloads_pb_t *p, const char *json) {
  assert_non_null(p);
  assert_int_equal(p->n_payloads, 1);
  assert_int_equal(p->payloads[0]->data.len, strlen(json));
  assert_memory_equal(p->payloads[0]->data.data, json, strlen(json));
}

static inline void assert_completes_with(const twe_run_outcome_t *out, const char *json) {
  assert_int_equal(out->status, 0);
  assert_int_equal(out->n_commands, 1);
  assert_true(out->closes_workflow);
  const twe_command_pb_t *c = cmd(out, 0);
  assert_int_equal(c->command_type, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_payload_json(c->complete_workflow_execution_command_attributes->result, json);
}

static inline void assert_schedules(const twe_command_pb_t *c, const char *id, const char *type) {
  assert_int_equal(c->command_type, CMD(SCHEDULE_ACTIVITY_TASK));
  const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
      c->schedule_activity_task_command_attributes;
  assert_string_equal(a->activity_id, id);
  assert_string_equal(a->activity_type->name, type);
}

/* Whether two outcomes carry the same commands, byte for byte. */
static inline bool same_commands(const twe_run_outcome_t *a, const twe_run_outcome_t *b) {
  if (a->n_commands != b->n_commands) return false;
  for (size_t i = 0; i < a->n_commands; i++) {
    size_t la = protobuf_c_message_get_packed_size(&a->commands[i]->base);
    size_t lb = protobuf_c_message_get_packed_size(&b->commands[i]->base);
    if (la != lb) return false;
    uint8_t *ba = malloc(la ? la : 1), *bb = malloc(lb ? lb : 1);
    protobuf_c_message_pack(&a->commands[i]->base, ba);
    protobuf_c_message_pack(&b->commands[i]->base, bb);
    bool eq = memcmp(ba, bb, la) == 0;
    free(ba);
    free(bb);
    if (!eq) return false;
  }
  return true;
}

/* out answered with n commands of the types given, in order. */
static inline void assert_commands(const twe_run_outcome_t *out, size_t n, ...) {
  assert_int_equal(out->status, 0);
  assert_int_equal(out->n_commands, n);
  va_list ap;
  va_start(ap, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(out->commands[i]->command_type, va_arg(ap, int));
  va_end(ap);
}

#endif /* TWE_TESTS_ENGINE_HIST_H */
