/* tests/proto/test_json.c — proto3 JSON into protobuf-c messages: each
 * mapping rule on small inline documents, the error paths with their
 * messages, histories exported from a dev server with `temporal workflow
 * show --output json` (tests/proto/data), and random mutations of one. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "proto/codec.h"
#include "proto/json.h"
#include "proto/payload.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

typedef Temporal__Api__History__V1__History history_t;
typedef Temporal__Api__History__V1__HistoryEvent event_t;
typedef Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes started_t;
typedef Temporal__Api__Common__V1__Payload payload_t;
typedef Temporal__Api__Common__V1__RetryPolicy retry_t;

/* The descriptors the tests use, by short names. */
#define D_HISTORY (&temporal__api__history__v1__history__descriptor)
#define D_EVENT (&temporal__api__history__v1__history_event__descriptor)
#define D_STARTED \
  (&temporal__api__history__v1__workflow_execution_started_event_attributes__descriptor)
#define D_SIGNALED \
  (&temporal__api__history__v1__workflow_execution_signaled_event_attributes__descriptor)
#define D_WFT_STARTED \
  (&temporal__api__history__v1__workflow_task_started_event_attributes__descriptor)
#define D_RETRY (&temporal__api__common__v1__retry_policy__descriptor)
#define D_PAYLOAD (&temporal__api__common__v1__payload__descriptor)
#define D_PRIORITY (&temporal__api__common__v1__priority__descriptor)
#define D_MEMO (&temporal__api__common__v1__memo__descriptor)
#define D_EXECUTION (&temporal__api__common__v1__workflow_execution__descriptor)
#define D_TASK_QUEUE (&temporal__api__taskqueue__v1__task_queue__descriptor)
#define D_PROTOCOL_MSG (&temporal__api__protocol__v1__message__descriptor)
#define D_TIMESTAMP (&google__protobuf__timestamp__descriptor)
#define D_DURATION (&google__protobuf__duration__descriptor)
#define D_ANY (&google__protobuf__any__descriptor)
#define D_STRUCT (&google__protobuf__struct__descriptor)
#define D_VALUE (&google__protobuf__value__descriptor)
#define D_LIST_VALUE (&google__protobuf__list_value__descriptor)
#define D_FIELD_MASK (&google__protobuf__field_mask__descriptor)
#define D_EMPTY (&google__protobuf__empty__descriptor)
#define D_INT64_VALUE (&google__protobuf__int64_value__descriptor)
#define D_UINT64_VALUE (&google__protobuf__uint64_value__descriptor)
#define D_UINT32_VALUE (&google__protobuf__uint32_value__descriptor)
#define D_BOOL_VALUE (&google__protobuf__bool_value__descriptor)
#define D_STRING_VALUE (&google__protobuf__string_value__descriptor)
#define D_BYTES_VALUE (&google__protobuf__bytes_value__descriptor)
#define D_DOUBLE_VALUE (&google__protobuf__double_value__descriptor)
#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define ATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES

static int setup_arena(void **state) {
  static twe_arena_t arena;
  twe__arena_init(&arena, 0);
  *state = &arena;
  return 0;
}

static int teardown_arena(void **state) {
  twe__arena_destroy(*state);
  return 0;
}

static char last_err[512];

/* Parses text as desc; fails the test, showing the error, unless it works. */
static void *ok(twe_arena_t *arena, const ProtobufCMessageDescriptor *desc, const char *text) {
  ProtobufCMessage *m = NULL;
  int rc = twe__proto_from_json_text(desc, text, strlen(text), arena, &m, last_err,
                                     sizeof last_err);
  if (rc != 0) fail_msg("rc %d: %s (input %s)", rc, last_err, text);
  assert_non_null(m);
  assert_ptr_equal(m->descriptor, desc);
  return m;
}

/* Parses text as desc expecting failure; returns rc, the message in last_err. */
static int bad(twe_arena_t *arena, const ProtobufCMessageDescriptor *desc, const char *text) {
  ProtobufCMessage *m = NULL;
  int rc = twe__proto_from_json_text(desc, text, strlen(text), arena, &m, last_err,
                                     sizeof last_err);
  assert_int_not_equal(rc, 0);
  assert_null(m);
  return rc;
}

static void assert_bytes(ProtobufCBinaryData b, const char *want) {
  assert_int_equal(b.len, strlen(want));
  assert_memory_equal(b.data, want, b.len);
}

static void assert_encoding(const payload_t *p, const char *want) {
  const ProtobufCBinaryData *m = twe__payload_metadata(p, "encoding");
  assert_non_null(m);
  assert_bytes(*m, want);
}

/* ---- field names, scalars ------------------------------------------------ */

static void test_proto_from_json_camel_and_snake_names(void **state) {
  started_t *a = ok(*state, D_STARTED,
                    "{\"workflowType\":{\"name\":\"Greet\"},\"task_queue\":{\"name\":\"tq\"},"
                    "\"parentWorkflowNamespace\":\"ns\",\"first_execution_run_id\":\"r1\"}");
  assert_string_equal(a->workflow_type->name, "Greet");
  assert_string_equal(a->task_queue->name, "tq");
  assert_string_equal(a->parent_workflow_namespace, "ns");
  assert_string_equal(a->first_execution_run_id, "r1");
  assert_null(a->input); /* absent message: not set */
}

static void test_proto_from_json_integers(void **state) {
  const ProtobufCMessageDescriptor *d = D_EVENT;
  event_t *e = ok(*state, d, "{\"eventId\":\"9007199254740993\",\"taskId\":42,\"version\":\"-7\"}");
  assert_int_equal(e->event_id, 9007199254740993LL); /* beyond double precision */
  assert_int_equal(e->task_id, 42);
  assert_int_equal(e->version, -7);
  e = ok(*state, d, "{\"eventId\":\"1e3\",\"taskId\":5.0}");
  assert_int_equal(e->event_id, 1000);
  assert_int_equal(e->task_id, 5);
  /* int32 from a number and from a numeric string */
  retry_t *r = ok(*state, D_RETRY,
                  "{\"maximumAttempts\":\"12\"}");
  assert_int_equal(r->maximum_attempts, 12);
  r = ok(*state, D_RETRY, "{\"maximumAttempts\":-3}");
  assert_int_equal(r->maximum_attempts, -3);
  Google__Protobuf__UInt64Value *u64 =
      ok(*state, D_UINT64_VALUE, "\"18446744073709551615\"");
  assert_true(u64->value == UINT64_MAX);
  Google__Protobuf__UInt32Value *u32 =
      ok(*state, D_UINT32_VALUE, "4294967295");
  assert_true(u32->value == UINT32_MAX);
}

static void test_proto_from_json_integer_errors(void **state) {
  const ProtobufCMessageDescriptor *r = D_RETRY;
  assert_int_equal(bad(*state, r, "{\"maximumAttempts\":2147483648}"), TWE_EJSON);
  assert_string_equal(last_err, "maximumAttempts: integer out of range: 2147483648");
  assert_int_equal(bad(*state, r, "{\"maximumAttempts\":1.5}"), TWE_EJSON);
  assert_string_equal(last_err, "maximumAttempts: not an integer: 1.5");
  assert_int_equal(bad(*state, r, "{\"maximumAttempts\":\"12abc\"}"), TWE_EJSON);
  assert_string_equal(last_err, "maximumAttempts: invalid number \"12abc\"");
  assert_int_equal(bad(*state, r, "{\"maximumAttempts\":\" 12\"}"), TWE_EJSON);
  assert_int_equal(bad(*state, D_UINT32_VALUE, "-1"), TWE_EJSON);
  assert_string_equal(last_err, "negative value for unsigned field");
  assert_int_equal(bad(*state, D_UINT64_VALUE, "\"18446744073709551616\""),
                   TWE_EJSON);
  assert_string_equal(last_err, "integer out of range \"18446744073709551616\"");
  assert_int_equal(bad(*state, D_EVENT,
                       "{\"eventId\":true}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "eventId: expected number, got boolean");
}

static void test_proto_from_json_bool_float_double_string(void **state) {
  retry_t *r = ok(*state, D_RETRY,
                  "{\"backoffCoefficient\":2.5,\"nonRetryableErrorTypes\":[\"A\",\"B\"]}");
  assert_true(r->backoff_coefficient == 2.5);
  assert_int_equal(r->n_non_retryable_error_types, 2);
  assert_string_equal(r->non_retryable_error_types[1], "B");
  r = ok(*state, D_RETRY, "{\"backoffCoefficient\":\"NaN\"}");
  assert_true(isnan(r->backoff_coefficient));
  r = ok(*state, D_RETRY,
         "{\"backoffCoefficient\":\"-Infinity\"}");
  assert_true(isinf(r->backoff_coefficient) && r->backoff_coefficient < 0);
  r = ok(*state, D_RETRY, "{\"backoffCoefficient\":\"1.25\"}");
  assert_true(r->backoff_coefficient == 1.25);
  Temporal__Api__Common__V1__Priority *p =
      ok(*state, D_PRIORITY,
         "{\"fairnessWeight\":\"Infinity\",\"priorityKey\":3,\"fairnessKey\":\"t\\u00e9\"}");
  assert_true(isinf(p->fairness_weight));
  assert_int_equal(p->priority_key, 3);
  assert_string_equal(p->fairness_key, "t\xc3\xa9");
  assert_int_equal(bad(*state, D_PRIORITY,
                       "{\"fairnessWeight\":1e300}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "fairnessWeight: float out of range: 1e+300");
  Temporal__Api__History__V1__WorkflowTaskStartedEventAttributes *w =
      ok(*state, D_WFT_STARTED,
         "{\"suggestContinueAsNew\":true,\"identity\":\"me\"}");
  assert_true(w->suggest_continue_as_new);
  assert_string_equal(w->identity, "me");
  assert_int_equal(bad(*state, D_WFT_STARTED,
                       "{\"suggestContinueAsNew\":\"true\"}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "suggestContinueAsNew: expected boolean, got string");
  assert_int_equal(bad(*state, D_SIGNALED,
                       "{\"signalName\":7}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "signalName: expected string, got number");
}

static void test_proto_from_json_bytes_base64(void **state) {
  const ProtobufCMessageDescriptor *d = D_PAYLOAD;
  payload_t *p = ok(*state, d, "{\"data\":\"aGVsbG8/Pz4+\"}"); /* standard alphabet */
  assert_bytes(p->data, "hello?" "?>>");
  p = ok(*state, d, "{\"data\":\"aGVsbG8_Pz4-\"}"); /* URL-safe */
  assert_bytes(p->data, "hello?" "?>>");
  p = ok(*state, d, "{\"data\":\"aGk\"}"); /* padding left out */
  assert_bytes(p->data, "hi");
  p = ok(*state, d, "{\"data\":\"aGk=\"}");
  assert_bytes(p->data, "hi");
  p = ok(*state, d, "{\"data\":\"\"}");
  assert_int_equal(p->data.len, 0);
  assert_int_equal(bad(*state, d, "{\"data\":\"aGk*\"}"), TWE_EJSON);
  assert_string_equal(last_err, "data: invalid base64");
  assert_int_equal(bad(*state, d, "{\"data\":\"a\"}"), TWE_EJSON);
  assert_int_equal(bad(*state, d, "{\"data\":\"aG==k\"}"), TWE_EJSON);
  assert_int_equal(bad(*state, d, "{\"data\":\"aGk===\"}"), TWE_EJSON);
  assert_int_equal(bad(*state, d, "{\"data\":12}"), TWE_EJSON);
  assert_string_equal(last_err, "data: expected base64 string, got number");
}

/* ---- enums ------------------------------------------------------------- */

static void test_proto_from_json_enum_forms(void **state) {
  const ProtobufCMessageDescriptor *d = D_EVENT;
  event_t *e = ok(*state, d, "{\"eventType\":\"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED\"}");
  assert_int_equal(e->event_type, EV(WORKFLOW_EXECUTION_STARTED));
  e = ok(*state, d, "{\"eventType\":\"WorkflowExecutionStarted\"}");
  assert_int_equal(e->event_type, EV(WORKFLOW_EXECUTION_STARTED));
  e = ok(*state, d, "{\"eventType\":\"ActivityTaskTimedOut\"}");
  assert_int_equal(e->event_type, EV(ACTIVITY_TASK_TIMED_OUT));
  e = ok(*state, d, "{\"eventType\":10}");
  assert_int_equal(e->event_type, 10);
  Temporal__Api__Taskqueue__V1__TaskQueue *q =
      ok(*state, D_TASK_QUEUE,
         "{\"name\":\"q\",\"kind\":\"Sticky\"}");
  assert_int_equal(q->kind, TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_STICKY);
  q = ok(*state, D_TASK_QUEUE, "{\"kind\":\"Normal\"}");
  assert_int_equal(q->kind, TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL);
}

static void test_proto_from_json_enum_unknown(void **state) {
  const ProtobufCMessageDescriptor *d = D_EVENT;
  assert_int_equal(bad(*state, d, "{\"eventType\":\"EVENT_TYPE_NOPE\"}"), TWE_EJSON);
  assert_string_equal(last_err,
                      "eventType: unknown enum value \"EVENT_TYPE_NOPE\" for "
                      "temporal.api.enums.v1.EventType");
  /* Shorthand is exact PascalCase, not any spelling. */
  assert_int_equal(bad(*state, d, "{\"eventType\":\"workflowExecutionStarted\"}"), TWE_EJSON);
  assert_int_equal(bad(*state, d, "{\"eventType\":2147483648}"), TWE_EJSON);
  /* Numbers must be JSON numbers, as in Go's protojson. */
  assert_int_equal(bad(*state, d, "{\"eventType\":\"5\"}"), TWE_EJSON);
  assert_int_equal(bad(*state, d, "{\"eventType\":[]}"), TWE_EJSON);
  assert_string_equal(last_err, "eventType: expected enum name or number, got array");
}

/* ---- structure: nesting, repeated, oneof, maps, null ---------------------- */

static void test_proto_from_json_oneof_and_repeated(void **state) {
  history_t *h = ok(*state, D_HISTORY,
                    "{\"events\":[{\"eventId\":\"1\",\"timerFiredEventAttributes\":"
                    "{\"timerId\":\"t1\",\"startedEventId\":\"5\"}},"
                    "{\"eventId\":\"2\",\"workflowExecutionSignaledEventAttributes\":"
                    "{\"signalName\":\"s\"}}]}");
  assert_int_equal(h->n_events, 2);
  assert_int_equal(h->events[0]->attributes_case, ATTR(TIMER_FIRED));
  assert_string_equal(h->events[0]->timer_fired_event_attributes->timer_id, "t1");
  assert_int_equal(h->events[0]->timer_fired_event_attributes->started_event_id, 5);
  assert_int_equal(h->events[1]->attributes_case, ATTR(WORKFLOW_EXECUTION_SIGNALED));
  assert_string_equal(h->events[1]->workflow_execution_signaled_event_attributes->signal_name, "s");
  /* Two members of one oneof: an error, with the path of the second. */
  assert_int_equal(bad(*state, D_EVENT,
                       "{\"timerFiredEventAttributes\":{},\"timerStartedEventAttributes\":{}}"),
                   TWE_EJSON);
  assert_string_equal(last_err,
                      "timerStartedEventAttributes: more than one member of a oneof is set");
  /* A oneof of scalars (protocol Message's sequencing_id). */
  Temporal__Api__Protocol__V1__Message *m =
      ok(*state, D_PROTOCOL_MSG, "{\"eventId\":\"17\"}");
  assert_int_equal(m->sequencing_id_case,
                   TEMPORAL__API__PROTOCOL__V1__MESSAGE__SEQUENCING_ID_EVENT_ID);
  assert_int_equal(m->event_id, 17);
  assert_int_equal(bad(*state, D_HISTORY, "{\"events\":{}}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "events: expected array, got object");
  assert_int_equal(bad(*state, D_HISTORY,
                       "{\"events\":[{},null]}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "events[1]: null in array");
}

static void test_proto_from_json_maps(void **state) {
  Temporal__Api__Common__V1__Memo *memo =
      ok(*state, D_MEMO,
         "{\"fields\":{\"a\":{\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\"},\"data\":\"MQ==\"},"
         "\"b\":{}}}");
  assert_int_equal(memo->n_fields, 2);
  const Temporal__Api__Common__V1__Memo__FieldsEntry *a = memo->fields[0], *b = memo->fields[1];
  if (strcmp(a->key, "a") != 0) {
    a = memo->fields[1];
    b = memo->fields[0];
  }
  assert_string_equal(a->key, "a");
  assert_string_equal(b->key, "b");
  assert_encoding(a->value, "json/plain");
  assert_bytes(a->value->data, "1");
  assert_non_null(b->value);
  assert_int_equal(b->value->n_metadata, 0);
  /* A map may also be written as the list of entries. */
  payload_t *p = ok(*state, D_PAYLOAD,
                    "{\"metadata\":[{\"key\":\"encoding\",\"value\":\"YmluYXJ5L251bGw=\"}]}");
  assert_encoding(p, "binary/null");
  assert_int_equal(bad(*state, D_MEMO,
                       "{\"fields\":{\"x\":null}}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "fields[\"x\"]: null map value");
  assert_int_equal(bad(*state, D_PAYLOAD,
                       "{\"metadata\":{\"encoding\":\"%%%\"}}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "metadata[\"encoding\"]: invalid base64");
}

static void test_proto_from_json_null_is_unset(void **state) {
  started_t *a = ok(*state, D_STARTED,
                    "{\"workflowType\":null,\"attempt\":null,\"identity\":null,\"input\":null,"
                    "\"workflowTaskTimeout\":null}");
  assert_null(a->workflow_type);
  assert_int_equal(a->attempt, 0);
  assert_string_equal(a->identity, ""); /* protobuf-c's empty default */
  assert_null(a->input);
  assert_null(a->workflow_task_timeout);
  assert_int_equal(bad(*state, D_HISTORY, "null"), TWE_EJSON);
  assert_string_equal(last_err, "expected object, got null");
}

static void test_proto_from_json_unknown_fields(void **state) {
  twe__json_opts_t opts = {0};
  json_t *j = json_loads("{\"eventId\":\"3\",\"newThing\":{\"x\":[1]},\"alsoNew\":1}", 0, NULL);
  assert_non_null(j);
  ProtobufCMessage *m = NULL;
  char err[128];
  assert_int_equal(twe__proto_from_json_opts(D_EVENT,
                                             j, *state, &opts, &m, err, sizeof err),
                   0);
  assert_int_equal(((event_t *)m)->event_id, 3);
  assert_int_equal(opts.unknown_fields, 2);
  opts.reject_unknown = true;
  m = NULL;
  assert_int_equal(twe__proto_from_json_opts(D_EVENT,
                                             j, *state, &opts, &m, err, sizeof err),
                   TWE_EJSON);
  assert_null(m);
  assert_non_null(strstr(err, ": unknown field of temporal.api.history.v1.HistoryEvent"));
  json_decref(j);
}

/* ---- well-known types ----------------------------------------------------- */

static void test_proto_from_json_timestamp(void **state) {
  const ProtobufCMessageDescriptor *d = D_TIMESTAMP;
  Google__Protobuf__Timestamp *t = ok(*state, d, "\"2024-05-01T10:00:00.123456789Z\"");
  assert_int_equal(t->seconds, 1714557600);
  assert_int_equal(t->nanos, 123456789);
  t = ok(*state, d, "\"2024-05-01T10:00:00+02:00\"");
  assert_int_equal(t->seconds, 1714550400);
  assert_int_equal(t->nanos, 0);
  t = ok(*state, d, "\"2024-05-01T05:30:00.5-02:30\"");
  assert_int_equal(t->seconds, 1714550400); /* 05:30 at -02:30 is 08:00Z */
  assert_int_equal(t->nanos, 500000000);
  t = ok(*state, d, "\"2024-02-29T23:59:59Z\"");
  assert_int_equal(t->seconds, 1709251199);
  t = ok(*state, d, "\"0001-01-01T00:00:00Z\"");
  assert_int_equal(t->seconds, -62135596800LL);
  t = ok(*state, d, "\"1969-12-31T23:59:59.999Z\"");
  assert_int_equal(t->seconds, -1);
  assert_int_equal(t->nanos, 999000000);
}

static void test_proto_from_json_timestamp_errors(void **state) {
  const ProtobufCMessageDescriptor *d = D_EVENT;
  static const char *const cases[] = {
      "2023-02-29T00:00:00Z", "2024-05-01 10:00:00Z", "2024-05-01T10:00:00",
      "2024-05-01T24:00:00Z", "2024-05-01T10:00:00.Z", "2024-05-01T10:00:00.1234567890Z",
      "2024-05-01T10:00:00+0200", "0000-12-31T00:00:00Z", "2024-13-01T00:00:00Z",
      "2024-05-01T10:00:00Zjunk",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char doc[128], want[160];
    snprintf(doc, sizeof doc, "{\"eventTime\":\"%s\"}", cases[i]);
    snprintf(want, sizeof want, "eventTime: invalid timestamp \"%s\"", cases[i]);
    assert_int_equal(bad(*state, d, doc), TWE_EJSON);
    assert_string_equal(last_err, want);
  }
  assert_int_equal(bad(*state, d, "{\"eventTime\":1714557600}"), TWE_EJSON);
  assert_string_equal(last_err, "eventTime: expected RFC 3339 timestamp string, got number");
}

static void test_proto_from_json_duration(void **state) {
  const ProtobufCMessageDescriptor *d = D_DURATION;
  Google__Protobuf__Duration *du = ok(*state, d, "\"1.5s\"");
  assert_int_equal(du->seconds, 1);
  assert_int_equal(du->nanos, 500000000);
  du = ok(*state, d, "\"3600s\"");
  assert_int_equal(du->seconds, 3600);
  assert_int_equal(du->nanos, 0);
  du = ok(*state, d, "\"-0.000000001s\"");
  assert_int_equal(du->seconds, 0);
  assert_int_equal(du->nanos, -1);
  du = ok(*state, d, "\"-2.25s\"");
  assert_int_equal(du->seconds, -2);
  assert_int_equal(du->nanos, -250000000);
  static const char *const bads[] = {"\"1.5\"", "\"s\"", "\"1.s\"", "\"1m\"", "\"315576000001s\"",
                                     "\" 1s\"", "\"1s \""};
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
    assert_int_equal(bad(*state, d, bads[i]), TWE_EJSON);
  retry_t *r = ok(*state, D_RETRY,
                  "{\"initialInterval\":\"0.25s\",\"maximumInterval\":\"100s\"}");
  assert_int_equal(r->initial_interval->nanos, 250000000);
  assert_int_equal(r->maximum_interval->seconds, 100);
  assert_int_equal(bad(*state, D_RETRY,
                       "{\"initialInterval\":\"1h\"}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "initialInterval: invalid duration \"1h\"");
}

static void test_proto_from_json_wrappers_empty_fieldmask(void **state) {
  Google__Protobuf__Int64Value *i64 =
      ok(*state, D_INT64_VALUE, "\"-9223372036854775808\"");
  assert_true(i64->value == INT64_MIN);
  Google__Protobuf__BoolValue *bv = ok(*state, D_BOOL_VALUE, "true");
  assert_true(bv->value);
  Google__Protobuf__StringValue *sv = ok(*state, D_STRING_VALUE, "\"x\"");
  assert_string_equal(sv->value, "x");
  Google__Protobuf__BytesValue *byv = ok(*state, D_BYTES_VALUE, "\"eHk=\"");
  assert_bytes(byv->value, "xy");
  Google__Protobuf__DoubleValue *dv = ok(*state, D_DOUBLE_VALUE, "0.5");
  assert_true(dv->value == 0.5);
  ok(*state, D_EMPTY, "{}");
  Google__Protobuf__FieldMask *fm =
      ok(*state, D_FIELD_MASK, "\"fooBar,baz.quxQuux,a\"");
  assert_int_equal(fm->n_paths, 3);
  assert_string_equal(fm->paths[0], "foo_bar");
  assert_string_equal(fm->paths[1], "baz.qux_quux");
  assert_string_equal(fm->paths[2], "a");
  fm = ok(*state, D_FIELD_MASK, "\"\"");
  assert_int_equal(fm->n_paths, 0);
  assert_int_equal(bad(*state, D_INT64_VALUE, "{\"value\":1}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "expected number, got object");
}

static void test_proto_from_json_struct_value_list(void **state) {
  Google__Protobuf__Struct *s =
      ok(*state, D_STRUCT,
         "{\"n\":1.5,\"s\":\"x\",\"b\":false,\"z\":null,"
         "\"l\":[1,\"two\",null,{\"k\":[]}],\"o\":{}}");
  assert_int_equal(s->n_fields, 6);
  int seen = 0;
  for (size_t i = 0; i < s->n_fields; i++) {
    const char *k = s->fields[i]->key;
    const Google__Protobuf__Value *v = s->fields[i]->value;
    assert_non_null(v);
    if (!strcmp(k, "n")) {
      assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
      assert_true(v->number_value == 1.5);
      seen |= 1;
    } else if (!strcmp(k, "s")) {
      assert_string_equal(v->string_value, "x");
      seen |= 2;
    } else if (!strcmp(k, "b")) {
      assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE);
      assert_false(v->bool_value);
      seen |= 4;
    } else if (!strcmp(k, "z")) {
      assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
      seen |= 8;
    } else if (!strcmp(k, "l")) {
      assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
      assert_int_equal(v->list_value->n_values, 4);
      assert_string_equal(v->list_value->values[1]->string_value, "two");
      Google__Protobuf__Value **items = v->list_value->values;
      assert_int_equal(items[2]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
      assert_int_equal(items[3]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
      seen |= 16;
    } else if (!strcmp(k, "o")) {
      assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
      assert_int_equal(v->struct_value->n_fields, 0);
      seen |= 32;
    }
  }
  assert_int_equal(seen, 63);
  Google__Protobuf__Value *v = ok(*state, D_VALUE, "null");
  assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
  Google__Protobuf__ListValue *l = ok(*state, D_LIST_VALUE, "[true]");
  assert_int_equal(l->n_values, 1);
  assert_true(l->values[0]->bool_value);
  assert_int_equal(bad(*state, D_STRUCT, "[1]"), TWE_EJSON);
  assert_string_equal(last_err, "expected object, got array");
}

static void test_proto_from_json_any(void **state) {
  Temporal__Api__Protocol__V1__Message *m = ok(
      *state, D_PROTOCOL_MSG,
      "{\"id\":\"m1\",\"body\":{"
      "\"@type\":\"type.googleapis.com/temporal.api.common.v1.WorkflowExecution\","
      "\"workflowId\":\"wf\",\"runId\":\"r\"}}");
  assert_string_equal(m->body->type_url,
                      "type.googleapis.com/temporal.api.common.v1.WorkflowExecution");
  ProtobufCMessage *inner;
  assert_int_equal(twe__proto_decode(D_EXECUTION, *state,
                                     m->body->value.data, m->body->value.len, &inner),
                   0);
  assert_string_equal(((Temporal__Api__Common__V1__WorkflowExecution *)inner)->workflow_id, "wf");
  assert_string_equal(((Temporal__Api__Common__V1__WorkflowExecution *)inner)->run_id, "r");
  /* A well-known type inside an Any sits under "value". */
  Google__Protobuf__Any *any = ok(*state, D_ANY,
                                  "{\"@type\":\"type.googleapis.com/google.protobuf.Duration\","
                                  "\"value\":\"2.5s\"}");
  assert_int_equal(twe__proto_decode(D_DURATION, *state, any->value.data,
                                     any->value.len, &inner),
                   0);
  assert_int_equal(((Google__Protobuf__Duration *)inner)->seconds, 2);
  assert_int_equal(((Google__Protobuf__Duration *)inner)->nanos, 500000000);
  assert_int_equal(bad(*state, D_PROTOCOL_MSG,
                       "{\"body\":{\"@type\":\"type.googleapis.com/no.such.Type\"}}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "body: unknown Any type \"type.googleapis.com/no.such.Type\"");
  assert_int_equal(bad(*state, D_ANY, "{\"workflowId\":\"x\"}"), TWE_EJSON);
  assert_string_equal(last_err, "Any without \"@type\"");
  assert_int_equal(bad(*state, D_ANY,
                       "{\"@type\":\"x/temporal.api.common.v1.WorkflowExecution\",\"runId\":5}"),
                   TWE_EJSON);
  assert_string_equal(last_err, "runId: expected string, got number");
}

/* ---- errors in general ------------------------------------------------------- */

static void test_proto_from_json_error_path(void **state) {
  assert_int_equal(bad(*state, D_HISTORY,
                       "{\"events\":[{\"eventId\":\"1\"},{\"eventId\":\"2\","
                       "\"activityTaskScheduledEventAttributes\":{\"input\":{\"payloads\":"
                       "[{\"data\":\"!!\"}]}}}]}"),
                   TWE_EJSON);
  assert_string_equal(last_err,
                      "events[1].activityTaskScheduledEventAttributes.input.payloads[0].data: "
                      "invalid base64");
  assert_int_equal(bad(*state, D_HISTORY, "{\"events\": [1,"),
                   TWE_EJSON);
  assert_non_null(strstr(last_err, "invalid JSON at line 1"));
  assert_int_equal(bad(*state, D_HISTORY, "\"events\""),
                   TWE_EJSON);
  assert_string_equal(last_err, "expected object, got string");
  /* A short buffer gets a truncated, terminated message. */
  char err[12];
  ProtobufCMessage *m;
  const char *text = "{\"events\":7}";
  assert_int_equal(twe__proto_from_json_text(D_HISTORY, text,
                                             strlen(text), *state, &m, err, sizeof err),
                   TWE_EJSON);
  assert_string_equal(err, "events: exp");
  /* A NULL err with err_len 0 is allowed. */
  assert_int_equal(twe__proto_from_json_text(D_HISTORY, text,
                                             strlen(text), *state, &m, NULL, 0),
                   TWE_EJSON);
}

static void test_proto_from_json_depth_limit(void **state) {
  /* ListValue in ListValue: each level is a message. */
  char doc[2 * 300 + 1];
  for (int i = 0; i < 300; i++) doc[i] = '[';
  for (int i = 0; i < 300; i++) doc[300 + i] = ']';
  doc[600] = '\0';
  assert_int_equal(bad(*state, D_LIST_VALUE, doc), TWE_EJSON);
  assert_non_null(strstr(last_err, "nesting too deep"));
  doc[40] = '\0';
  for (int i = 0; i < 20; i++) doc[20 + i] = ']';
  ok(*state, D_LIST_VALUE, doc);
}

static void test_proto_from_json_arena_limit(void **state) {
  (void)state;
  twe_arena_t small;
  twe__arena_init(&small, 4096);
  char doc[8192];
  size_t n = (size_t)snprintf(doc, sizeof doc, "{\"nonRetryableErrorTypes\":[");
  for (int i = 0; i < 500; i++)
    n += (size_t)snprintf(doc + n, sizeof doc - n, "%s\"error%d\"", i ? "," : "", i);
  snprintf(doc + n, sizeof doc - n, "]}");
  ProtobufCMessage *m = NULL;
  char err[128];
  assert_int_equal(twe__proto_from_json_text(D_RETRY, doc,
                                             strlen(doc), &small, &m, err, sizeof err),
                   TWE_ELIMIT);
  assert_null(m);
  assert_non_null(strstr(err, "arena budget exhausted"));
  twe__arena_destroy(&small);
}

/* ---- real histories from the dev server ---------------------------------------- */

static char *read_fixture(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", TWE_TEST_DATA_DIR, name);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  assert_true(size > 0);
  rewind(f);
  char *buf = malloc((size_t)size);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  *len = (size_t)size;
  return buf;
}

static history_t *load_history(twe_arena_t *arena, const char *name) {
  size_t len;
  char *text = read_fixture(name, &len);
  history_t *h = NULL;
  char err[256];
  int rc = twe__history_from_json_text(text, len, arena, &h, err, sizeof err);
  free(text);
  if (rc) fail_msg("%s: rc %d: %s", name, rc, err);
  assert_non_null(h);
  for (size_t i = 0; i < h->n_events; i++) assert_int_equal(h->events[i]->event_id, (int64_t)i + 1);
  return h;
}

static void assert_event_types(const history_t *h, const int *types, size_t n) {
  assert_int_equal(h->n_events, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(h->events[i]->event_type, types[i]);
}

/* Started with two JSON inputs and a memo, signalled, terminated. */
static void test_history_from_json_text_signal_terminate(void **state) {
  history_t *h = load_history(*state, "history_signal_terminate.json");
  static const int types[] = {EV(WORKFLOW_EXECUTION_STARTED), EV(WORKFLOW_TASK_SCHEDULED),
                              EV(WORKFLOW_EXECUTION_SIGNALED), EV(WORKFLOW_EXECUTION_TERMINATED)};
  assert_event_types(h, types, 4);
  const event_t *e = h->events[0];
  assert_int_equal(e->attributes_case, ATTR(WORKFLOW_EXECUTION_STARTED));
  const started_t *a = e->workflow_execution_started_event_attributes;
  assert_string_equal(a->workflow_type->name, "Greet");
  assert_string_equal(a->task_queue->name, "json-tq");
  assert_int_equal(a->task_queue->kind,
                   TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL);
  assert_int_equal(a->input->n_payloads, 2);
  assert_encoding(a->input->payloads[0], "json/plain");
  assert_bytes(a->input->payloads[0]->data, "{\"name\":\"Ada\",\"n\":3}");
  assert_bytes(a->input->payloads[1]->data, "\"second\"");
  assert_int_equal(a->workflow_execution_timeout->seconds, 3600);
  assert_int_equal(a->workflow_task_timeout->seconds, 10);
  assert_int_equal(a->attempt, 1);
  assert_int_equal(a->memo->n_fields, 1);
  assert_string_equal(a->memo->fields[0]->key, "note");
  assert_bytes(a->memo->fields[0]->value->data, "\"hello\"");
  assert_non_null(a->header);
  assert_string_equal(a->workflow_id, "wf-json-1");
  assert_int_equal(e->event_time->seconds, 1795340592); /* 2026-11-22T09:43:12Z */
  assert_int_equal(e->event_time->nanos, 782888551);
  assert_int_equal(e->task_id, 1048587);
  const Temporal__Api__History__V1__WorkflowExecutionSignaledEventAttributes *s =
      h->events[2]->workflow_execution_signaled_event_attributes;
  assert_string_equal(s->signal_name, "poke");
  assert_bytes(s->input->payloads[0]->data, "[1,2,3]");
  assert_string_equal(h->events[3]->workflow_execution_terminated_event_attributes->reason,
                      "fixture done");
}

/* Driven by a scripted worker: an activity and a timer, then completion. */
static void test_history_from_json_text_activity_timer(void **state) {
  history_t *h = load_history(*state, "history_activity_timer.json");
  static const int types[] = {
      EV(WORKFLOW_EXECUTION_STARTED), EV(WORKFLOW_TASK_SCHEDULED), EV(WORKFLOW_TASK_STARTED),
      EV(WORKFLOW_TASK_COMPLETED),    EV(ACTIVITY_TASK_SCHEDULED), EV(TIMER_STARTED),
      EV(ACTIVITY_TASK_STARTED),      EV(ACTIVITY_TASK_COMPLETED), EV(WORKFLOW_TASK_SCHEDULED),
      EV(WORKFLOW_TASK_STARTED),      EV(WORKFLOW_TASK_COMPLETED), EV(TIMER_FIRED),
      EV(WORKFLOW_TASK_SCHEDULED),    EV(WORKFLOW_TASK_STARTED),   EV(WORKFLOW_TASK_COMPLETED),
      EV(WORKFLOW_EXECUTION_COMPLETED)};
  assert_event_types(h, types, 16);
  const started_t *a = h->events[0]->workflow_execution_started_event_attributes;
  assert_encoding(a->input->payloads[0], "json/plain");
  assert_bytes(a->input->payloads[0]->data, "{\"name\":\"Ada\"}");
  assert_int_equal(h->events[0]->event_time->seconds, 1795340624);
  assert_int_equal(h->events[0]->event_time->nanos, 7641630);
  const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *sched =
      h->events[4]->activity_task_scheduled_event_attributes;
  assert_int_equal(h->events[4]->attributes_case, ATTR(ACTIVITY_TASK_SCHEDULED));
  assert_string_equal(sched->activity_id, "act-1");
  assert_string_equal(sched->activity_type->name, "Greet");
  assert_int_equal(sched->workflow_task_completed_event_id, 4);
  assert_int_equal(sched->start_to_close_timeout->seconds, 10);
  assert_encoding(sched->input->payloads[0], "json/plain");
  assert_bytes(sched->input->payloads[0]->data, "\"Ada\"");
  assert_int_equal(h->events[5]->timer_started_event_attributes->start_to_fire_timeout->seconds, 1);
  assert_string_equal(h->events[5]->timer_started_event_attributes->timer_id, "timer-1");
  const Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *done =
      h->events[7]->activity_task_completed_event_attributes;
  assert_int_equal(done->scheduled_event_id, 5);
  assert_bytes(done->result->payloads[0]->data, "\"Hello, Ada!\"");
  assert_int_equal(h->events[11]->timer_fired_event_attributes->started_event_id, 6);
  const Temporal__Api__History__V1__WorkflowExecutionCompletedEventAttributes *fin =
      h->events[15]->workflow_execution_completed_event_attributes;
  assert_encoding(fin->result->payloads[0], "json/plain");
  assert_bytes(fin->result->payloads[0]->data, "{\"greeting\":\"Hello, Ada!\"}");
}

static void test_history_from_json_text_other_shapes(void **state) {
  const char *resp = "{\"history\":{\"events\":["
                     "{\"eventId\":\"1\",\"eventType\":\"WorkflowExecutionStarted\"},"
                     "{\"eventId\":\"2\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED\"}]},"
                     "\"nextPageToken\":\"\",\"archived\":false}";
  history_t *h = NULL;
  char err[256];
  assert_int_equal(twe__history_from_json_text(resp, strlen(resp), *state, &h, err, sizeof err), 0);
  assert_int_equal(h->n_events, 2);
  assert_int_equal(h->events[0]->event_type, EV(WORKFLOW_EXECUTION_STARTED));
  assert_int_equal(h->events[1]->event_type, EV(WORKFLOW_TASK_SCHEDULED));
  const char *arr = "[{\"eventId\":\"1\"},{\"eventId\":\"2\"},{\"eventId\":\"3\"}]";
  h = NULL;
  assert_int_equal(twe__history_from_json_text(arr, strlen(arr), *state, &h, err, sizeof err), 0);
  assert_int_equal(h->n_events, 3);
  assert_int_equal(h->events[2]->event_id, 3);
  h = NULL;
  assert_int_equal(twe__history_from_json_text("{}", 2, *state, &h, err, sizeof err), 0);
  assert_non_null(h);
  assert_int_equal(h->n_events, 0);
  h = NULL;
  const char *null_history = "{\"history\":null}";
  assert_int_equal(twe__history_from_json_text(null_history, strlen(null_history), *state, &h, err,
                                               sizeof err),
                   0);
  assert_non_null(h);
  assert_int_equal(h->n_events, 0);
  const char *badresp = "{\"history\":{\"events\":[{\"eventTime\":\"yesterday\"}]}}";
  h = NULL;
  assert_int_equal(twe__history_from_json_text(badresp, strlen(badresp), *state, &h, err,
                                               sizeof err),
                   TWE_EJSON);
  assert_null(h);
  assert_string_equal(err, "history.events[0].eventTime: invalid timestamp \"yesterday\"");
  assert_int_equal(twe__history_from_json_text("[1", 2, *state, &h, err, sizeof err), TWE_EJSON);
  assert_non_null(strstr(err, "invalid JSON"));
}

/* Random edits of a real export: the reader must reject or accept, never
 * crash, leak or read out of bounds (run under ASan in build-json-asan). */
static void test_history_from_json_text_mutations(void **state) {
  (void)state;
  size_t len;
  char *orig = read_fixture("history_activity_timer.json", &len);
  char *buf = malloc(len * 2 + 64);
  assert_non_null(buf);
  static const char alphabet[] = "{}[]\":,0123456789-+.eE tfnul\\aZ=_/sT";
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  int accepted = 0, rejected = 0, semantic = 0; /* semantic: valid JSON, wrong shape */
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  for (int iter = 0; iter < 2000; iter++) {
    memcpy(buf, orig, len);
    size_t n = len;
    int edits = 1 + (int)(x % 4);
    for (int k = 0; k < edits; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
      size_t at = (size_t)(x >> 16) % n;
      switch (x % 5) {
      case 0: /* overwrite one byte */
        buf[at] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
        break;
      case 1: { /* delete a short run */
        size_t cut = 1 + (x >> 48) % 8;
        if (at + cut > n) cut = n - at;
        memmove(buf + at, buf + at + cut, n - at - cut);
        n -= cut;
        break;
      }
      case 2: /* insert one byte */
        if (n + 1 < len * 2 + 64) {
          memmove(buf + at + 1, buf + at, n - at);
          buf[at] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
          n++;
        }
        break;
      case 3: { /* duplicate a short run */
        size_t run = 1 + (x >> 48) % 16;
        if (at + run > n) run = n - at;
        if (n + run < len * 2 + 64) {
          memmove(buf + at + run, buf + at, n - at);
          n += run;
        }
        break;
      }
      default: /* flip a bit */
        buf[at] = (char)(buf[at] ^ (1 << ((x >> 32) % 7)));
        break;
      }
      if (n == 0) break;
    }
    history_t *h = NULL;
    char err[256];
    err[0] = 'x';
    int rc = twe__history_from_json_text(buf, n, &arena, &h, err, sizeof err);
    if (rc == 0) {
      assert_non_null(h);
      accepted++;
    } else {
      if (rc != TWE_EJSON) fail_msg("iteration %d: rc %d (%s)", iter, rc, err);
      assert_true(strlen(err) > 0 && strlen(err) < sizeof err);
      rejected++;
      semantic += strncmp(err, "invalid JSON", 12) != 0;
    }
    twe__arena_reset(&arena);
  }
  twe__arena_destroy(&arena);
  free(buf);
  free(orig);
  print_message("mutations: %d accepted, %d rejected (%d of them valid JSON)\n", accepted,
                rejected, semantic);
  assert_int_equal(accepted + rejected, 2000);
  assert_true(rejected > 0);
  assert_true(semantic > 0); /* the walk itself was exercised, not only jansson */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_arena, teardown_arena)
int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_proto_from_json_camel_and_snake_names),
      T(test_proto_from_json_integers),
      T(test_proto_from_json_integer_errors),
      T(test_proto_from_json_bool_float_double_string),
      T(test_proto_from_json_bytes_base64),
      T(test_proto_from_json_enum_forms),
      T(test_proto_from_json_enum_unknown),
      T(test_proto_from_json_oneof_and_repeated),
      T(test_proto_from_json_maps),
      T(test_proto_from_json_null_is_unset),
      T(test_proto_from_json_unknown_fields),
      T(test_proto_from_json_timestamp),
      T(test_proto_from_json_timestamp_errors),
      T(test_proto_from_json_duration),
      T(test_proto_from_json_wrappers_empty_fieldmask),
      T(test_proto_from_json_struct_value_list),
      T(test_proto_from_json_any),
      T(test_proto_from_json_error_path),
      T(test_proto_from_json_depth_limit),
      cmocka_unit_test(test_proto_from_json_arena_limit),
      T(test_history_from_json_text_signal_terminate),
      T(test_history_from_json_text_activity_timer),
      T(test_history_from_json_text_other_shapes),
      cmocka_unit_test(test_history_from_json_text_mutations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
