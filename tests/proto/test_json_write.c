/* tests/proto/test_json_write.c — messages to proto3 JSON
 * (proto/json_write.h): the forms the CLI writes (names, 64-bit integers,
 * enums, bytes, maps, oneofs, Timestamp and Duration digits), and a round
 * trip through the reader (proto/json.h) to the same wire bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/arena.h"
#include "proto/codec.h"
#include "proto/json.h"
#include "proto/json_write.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"

#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES

static char *dump(const ProtobufCMessage *m) {
  json_t *j;
  assert_int_equal(twe__json_from_message(m, &j), 0);
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  return s;
}

/* An ACTIVITY_TASK_SCHEDULED event with a payload (map, bytes), timeouts
 * and a timestamp. */
static void test_event_forms(void **state) {
  (void)state;
  Temporal__Api__History__V1__HistoryEvent e = TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__INIT;
  Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes a =
      TEMPORAL__API__HISTORY__V1__ACTIVITY_TASK_SCHEDULED_EVENT_ATTRIBUTES__INIT;
  Temporal__Api__Common__V1__ActivityType at = TEMPORAL__API__COMMON__V1__ACTIVITY_TYPE__INIT;
  Google__Protobuf__Duration d1 = GOOGLE__PROTOBUF__DURATION__INIT, d2 = d1, d3 = d1;
  Temporal__Api__Common__V1__Payloads ps = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
  Temporal__Api__Common__V1__Payload p = TEMPORAL__API__COMMON__V1__PAYLOAD__INIT;
  Temporal__Api__Common__V1__Payload__MetadataEntry me =
      TEMPORAL__API__COMMON__V1__PAYLOAD__METADATA_ENTRY__INIT;
  Temporal__Api__Common__V1__Payload__MetadataEntry *mes[1] = {&me};
  Temporal__Api__Common__V1__Payload *pp[1] = {&p};
  e.event_id = 5;
  e.event_type = TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_ACTIVITY_TASK_SCHEDULED;
  e.task_id = 1048587;
  t.seconds = 1700000000;
  t.nanos = 16578187;
  e.event_time = &t;
  at.name = "Greet";
  a.activity_id = "1";
  a.activity_type = &at;
  d1.seconds = 10;
  d2.seconds = 1;
  d2.nanos = 500000000;
  d3.seconds = 0; /* set, zero: written as "0s" */
  a.start_to_close_timeout = &d1;
  a.heartbeat_timeout = &d2;
  a.schedule_to_start_timeout = &d3;
  me.key = "encoding";
  me.value.data = (uint8_t *)"json/plain";
  me.value.len = 10;
  p.n_metadata = 1;
  p.metadata = mes;
  p.data.data = (uint8_t *)"\"Ann\"";
  p.data.len = 5;
  ps.n_payloads = 1;
  ps.payloads = pp;
  a.input = &ps;
  e.attributes_case = HATTR(ACTIVITY_TASK_SCHEDULED);
  e.activity_task_scheduled_event_attributes = &a;
  char *s = dump(&e.base);
  assert_string_equal(
      s,
      "{\"activityTaskScheduledEventAttributes\":{\"activityId\":\"1\",\"activityType\":{\"name\":"
      "\"Greet\"},\"heartbeatTimeout\":\"1.500s\",\"input\":{\"payloads\":[{\"data\":\"IkFubiI=\","
      "\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\"}}]},\"scheduleToStartTimeout\":\"0s\","
      "\"startToCloseTimeout\":\"10s\"},\"eventId\":\"5\",\"eventTime\":"
      "\"2023-11-14T22:13:20.016578187Z\",\"eventType\":\"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED\","
      "\"taskId\":\"1048587\"}");

  /* Back through the reader: the same wire bytes. */
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  ProtobufCMessage *back = NULL;
  assert_int_equal(twe__proto_from_json_text(&temporal__api__history__v1__history_event__descriptor,
                                             s, strlen(s), &arena, &back, NULL, 0),
                   0);
  size_t n1 = protobuf_c_message_get_packed_size(&e.base);
  size_t n2 = protobuf_c_message_get_packed_size(back);
  assert_int_equal(n1, n2);
  uint8_t *b1 = malloc(n1), *b2 = malloc(n2);
  protobuf_c_message_pack(&e.base, b1);
  protobuf_c_message_pack(back, b2);
  assert_memory_equal(b1, b2, n1);
  free(b1);
  free(b2);
  free(s);
  twe__arena_destroy(&arena);
}

static void test_timestamp_and_duration_digits(void **state) {
  (void)state;
  Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
  const struct {
    int64_t s;
    int32_t n;
    const char *want;
  } cases[] = {{0, 0, "\"0s\""},           {3, 1000000, "\"3.001s\""},
               {3, 1000, "\"3.000001s\""}, {3, 1, "\"3.000000001s\""},
               {-2, -500000000, "\"-2.500s\""}, {0, -500000000, "\"-0.500s\""}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    d.seconds = cases[i].s;
    d.nanos = cases[i].n;
    json_t *j;
    assert_int_equal(twe__json_from_message(&d.base, &j), 0);
    char *s = json_dumps(j, JSON_ENCODE_ANY);
    assert_string_equal(s, cases[i].want);
    free(s);
    json_decref(j);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_event_forms),
      cmocka_unit_test(test_timestamp_and_duration_digits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
