/* tests/proto/test_codec.c — decoding into the arena and encoding out of it,
 * on real Temporal API messages, plus the malformed-input paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/codec.h"
#include "temporal/api/worker/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

typedef Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse poll_response_t;
typedef Temporal__Api__History__V1__HistoryEvent history_event_t;

/* A poll response carrying n ACTIVITY_TASK_SCHEDULED events, packed with
 * protobuf-c's own (malloc) path so decode is checked against an encoder
 * that is not ours. The caller free()s *out. */
static size_t pack_poll_response(size_t n, uint8_t **out) {
  poll_response_t resp = TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_WORKFLOW_TASK_QUEUE_RESPONSE__INIT;
  Temporal__Api__Common__V1__WorkflowExecution exec =
      TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  exec.workflow_id = "wf-1";
  exec.run_id = "0193a3c0-0000-7000-8000-000000000001";
  resp.workflow_execution = &exec;
  resp.task_token.data = (uint8_t *)"token";
  resp.task_token.len = 5;
  resp.started_event_id = (int64_t)n;
  Temporal__Api__History__V1__History history = TEMPORAL__API__HISTORY__V1__HISTORY__INIT;
  history_event_t *events = calloc(n, sizeof *events);
  history_event_t **slots = calloc(n, sizeof *slots);
  Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *attrs =
      calloc(n, sizeof *attrs);
  Temporal__Api__Common__V1__ActivityType type = TEMPORAL__API__COMMON__V1__ACTIVITY_TYPE__INIT;
  type.name = "Greet";
  char(*ids)[16] = calloc(n, sizeof *ids);
  assert_non_null(events);
  for (size_t i = 0; i < n; i++) {
    temporal__api__history__v1__history_event__init(&events[i]);
    temporal__api__history__v1__activity_task_scheduled_event_attributes__init(&attrs[i]);
    snprintf(ids[i], sizeof ids[i], "%zu", i + 1);
    attrs[i].activity_id = ids[i];
    attrs[i].activity_type = &type;
    events[i].event_id = (int64_t)i + 1;
    events[i].event_type = TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_ACTIVITY_TASK_SCHEDULED;
    events[i].attributes_case =
        TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_SCHEDULED_EVENT_ATTRIBUTES;
    events[i].activity_task_scheduled_event_attributes = &attrs[i];
    slots[i] = &events[i];
  }
  history.n_events = n;
  history.events = slots;
  resp.history = &history;
  size_t len = protobuf_c_message_get_packed_size(&resp.base);
  *out = malloc(len);
  assert_int_equal(protobuf_c_message_pack(&resp.base, *out), len);
  free(events);
  free(slots);
  free(attrs);
  free(ids);
  return len;
}

static void test_proto_decode_history_page(void **state) {
  (void)state;
  uint8_t *wire;
  size_t len = pack_poll_response(5000, &wire);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  ProtobufCMessage *msg = NULL;
  assert_int_equal(twe__proto_decode(&temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
                                     &arena, wire, len, &msg),
                   0);
  poll_response_t *resp = (poll_response_t *)msg;
  assert_string_equal(resp->workflow_execution->workflow_id, "wf-1");
  assert_int_equal(resp->task_token.len, 5);
  assert_int_equal(resp->started_event_id, 5000);
  assert_int_equal(resp->history->n_events, 5000);
  for (size_t i = 0; i < 5000; i++) {
    history_event_t *e = resp->history->events[i];
    char id[16];
    snprintf(id, sizeof id, "%zu", i + 1);
    assert_int_equal(e->event_id, (int64_t)i + 1);
    assert_string_equal(e->activity_task_scheduled_event_attributes->activity_id, id);
    assert_string_equal(e->activity_task_scheduled_event_attributes->activity_type->name, "Greet");
  }
  /* The whole page lives in a few blocks, not one malloc per message. */
  assert_true(arena.reserved_bytes > len);
  assert_true(arena.reserved_bytes < 40 * len);

  /* Encoding it again from the arena gives the same bytes. */
  uint8_t *again;
  size_t again_len;
  assert_int_equal(twe__proto_encode(msg, &arena, &again, &again_len), 0);
  assert_int_equal(again_len, len);
  assert_memory_equal(again, wire, len);
  twe__arena_destroy(&arena);
  free(wire);
}

static void test_proto_decode_truncated_is_decode_error(void **state) {
  (void)state;
  uint8_t *wire;
  size_t len = pack_poll_response(10, &wire);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  ProtobufCMessage *msg = NULL;
  int rc = twe__proto_decode(&temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
                             &arena, wire, len - 3, &msg);
  assert_int_equal(rc, TWE_EDECODE);
  assert_null(msg);
  twe__arena_destroy(&arena);
  free(wire);
}

static void test_proto_decode_garbage_is_decode_error(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  /* Wire type 7 does not exist; a length that runs past the end; a varint
   * that never ends. */
  const uint8_t bad_wire_type[] = {0x0f, 0x01};
  const uint8_t bad_length[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 'a'};
  const uint8_t endless_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const struct { const uint8_t *p; size_t n; } cases[] = {
    {bad_wire_type, sizeof bad_wire_type},
    {bad_length, sizeof bad_length},
    {endless_varint, sizeof endless_varint},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ProtobufCMessage *msg = NULL;
    assert_int_equal(twe__proto_decode(&temporal__api__common__v1__workflow_execution__descriptor,
                                       &arena, cases[i].p, cases[i].n, &msg),
                     TWE_EDECODE);
    assert_null(msg);
  }
  /* Random bytes: never a crash, either an error or a message. */
  srand(7);
  uint8_t noise[512];
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(rand() % (int)sizeof noise);
    for (size_t i = 0; i < n; i++) noise[i] = (uint8_t)rand();
    ProtobufCMessage *msg = NULL;
    int rc = twe__proto_decode(&temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
                               &arena, noise, n, &msg);
    assert_true(rc == 0 || rc == TWE_EDECODE);
    twe__arena_reset(&arena);
  }
  twe__arena_destroy(&arena);
}

/* A page bigger than the task's budget fails with TWE_ELIMIT, not a crash and
 * not a misleading "malformed". */
static void test_proto_decode_over_budget_is_limit_error(void **state) {
  (void)state;
  uint8_t *wire;
  size_t len = pack_poll_response(2000, &wire);
  twe_arena_t arena;
  twe__arena_init(&arena, 16 * 1024);
  ProtobufCMessage *msg = NULL;
  assert_int_equal(twe__proto_decode(&temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
                                     &arena, wire, len, &msg),
                   TWE_ELIMIT);
  assert_true(arena.reserved_bytes <= 16 * 1024);
  twe__arena_destroy(&arena);
  free(wire);
}

static void test_proto_encode_uninitialised_message(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Common__V1__WorkflowExecution exec;
  memset(&exec, 0, sizeof exec);
  uint8_t *out;
  size_t len;
  assert_int_equal(twe__proto_encode(&exec.base, &arena, &out, &len), TWE_EENCODE);
  assert_int_equal(twe__proto_encode(NULL, &arena, &out, &len), TWE_EENCODE);
  twe__arena_destroy(&arena);
}

/* worker.v1 has a field named `linux`: this file compiles only because the
 * project builds with -std=c11 (GNU mode predefines linux as 1). */
static void test_proto_field_named_linux_roundtrips(void **state) {
  (void)state;
  Temporal__Api__Worker__V1__EnvironmentInfo__Platform platform =
      TEMPORAL__API__WORKER__V1__ENVIRONMENT_INFO__PLATFORM__INIT;
  Temporal__Api__Worker__V1__EnvironmentInfo__LinuxPlatform lx =
      TEMPORAL__API__WORKER__V1__ENVIRONMENT_INFO__LINUX_PLATFORM__INIT;
  lx.libc = TEMPORAL__API__WORKER__V1__ENVIRONMENT_INFO__LINUX_PLATFORM__LIBC__LIBC_GLIBC;
  platform.variant_case = TEMPORAL__API__WORKER__V1__ENVIRONMENT_INFO__PLATFORM__VARIANT_LINUX;
  platform.linux = &lx;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  uint8_t *wire;
  size_t len;
  assert_int_equal(twe__proto_encode(&platform.base, &arena, &wire, &len), 0);
  ProtobufCMessage *msg;
  assert_int_equal(twe__proto_decode(&temporal__api__worker__v1__environment_info__platform__descriptor,
                                     &arena, wire, len, &msg),
                   0);
  Temporal__Api__Worker__V1__EnvironmentInfo__Platform *back = (void *)msg;
  assert_int_equal(back->variant_case, TEMPORAL__API__WORKER__V1__ENVIRONMENT_INFO__PLATFORM__VARIANT_LINUX);
  assert_int_equal(back->linux->libc, TEMPORAL__API__WORKER__V1__ENVIRONMENT_INFO__LINUX_PLATFORM__LIBC__LIBC_GLIBC);
  twe__arena_destroy(&arena);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_proto_decode_history_page),
    cmocka_unit_test(test_proto_decode_truncated_is_decode_error),
    cmocka_unit_test(test_proto_decode_garbage_is_decode_error),
    cmocka_unit_test(test_proto_decode_over_budget_is_limit_error),
    cmocka_unit_test(test_proto_encode_uninitialised_message),
    cmocka_unit_test(test_proto_field_named_linux_roundtrips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
