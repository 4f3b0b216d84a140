/* tests/proto/test_payload.c — the standard payload encodings, read and
 * written the way other Temporal SDKs do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proto/codec.h"
#include "proto/payload.h"
#include "twe/error.h"

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

static void assert_meta(const twe_payload_pb_t *p, const char *key, const char *value) {
  const ProtobufCBinaryData *m = twe__payload_metadata(p, key);
  assert_non_null(m);
  assert_int_equal(m->len, strlen(value));
  assert_memory_equal(m->data, value, m->len);
}

static void test_payload_json_roundtrip(void **state) {
  twe_arena_t *arena = *state;
  const char *text = "{\"patch\":\"CVE-2026-1\",\"hosts\":[1,2,3]}";
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_json(arena, text, strlen(text), &p), 0);
  assert_meta(p, "encoding", "json/plain");
  assert_int_equal(twe__payload_encoding(p), TWE_PAYLOAD_JSON);
  assert_int_equal(p->data.len, strlen(text));
  json_t *v;
  assert_int_equal(twe__payload_read_json(p, &v), 0);
  assert_string_equal(json_string_value(json_object_get(v, "patch")), "CVE-2026-1");
  assert_int_equal(json_array_size(json_object_get(v, "hosts")), 3);
  json_decref(v);
}

static void test_payload_json_scalars_and_invalid(void **state) {
  twe_arena_t *arena = *state;
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_json(arena, "42", 2, &p), 0);
  assert_int_equal(twe__payload_new_json(arena, "\"hi\"", 4, &p), 0);
  assert_int_equal(twe__payload_new_json(arena, "null", 4, &p), 0);
  assert_int_equal(twe__payload_new_json(arena, "{\"a\":", 5, &p), TWE_EJSON);
  assert_int_equal(twe__payload_new_json(arena, "", 0, &p), TWE_EJSON);
  assert_int_equal(twe__payload_new_json(arena, "1 2", 3, &p), TWE_EJSON);
}

/* Serialised compactly, as the Go SDK's json.Marshal writes it. */
static void test_payload_json_value_is_compact(void **state) {
  twe_arena_t *arena = *state;
  json_t *v = json_pack("{s:i}", "n", 5);
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_json_value(arena, v, &p), 0);
  json_decref(v);
  assert_int_equal(p->data.len, 7);
  assert_memory_equal(p->data.data, "{\"n\":5}", 7);
  json_t *s = json_string("x");
  assert_int_equal(twe__payload_new_json_value(arena, s, &p), 0);
  assert_memory_equal(p->data.data, "\"x\"", 3);
  json_decref(s);
}

static void test_payload_null(void **state) {
  twe_arena_t *arena = *state;
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_null(arena, &p), 0);
  assert_meta(p, "encoding", "binary/null");
  assert_int_equal(p->data.len, 0);
  json_t *v;
  assert_int_equal(twe__payload_read_json(p, &v), 0);
  assert_true(json_is_null(v));
}

static void test_payload_binary_roundtrip_and_wrong_reader(void **state) {
  twe_arena_t *arena = *state;
  const uint8_t bytes[] = {0, 1, 2, 0xff};
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_binary(arena, bytes, sizeof bytes, &p), 0);
  assert_meta(p, "encoding", "binary/plain");
  const uint8_t *data;
  size_t len;
  assert_int_equal(twe__payload_read_binary(p, &data, &len), 0);
  assert_int_equal(len, sizeof bytes);
  assert_memory_equal(data, bytes, len);
  json_t *v;
  assert_int_equal(twe__payload_read_json(p, &v), TWE_EENCODING);
  twe_payload_pb_t *j;
  assert_int_equal(twe__payload_new_json(arena, "1", 1, &j), 0);
  assert_int_equal(twe__payload_read_binary(j, &data, &len), TWE_EENCODING);
}

static void test_payload_protobuf_roundtrip(void **state) {
  twe_arena_t *arena = *state;
  Temporal__Api__Common__V1__WorkflowExecution exec =
      TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  exec.workflow_id = "patch-42";
  exec.run_id = "r1";
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_protobuf(arena, &exec.base, &p), 0);
  assert_meta(p, "encoding", "binary/protobuf");
  assert_meta(p, "messageType", "temporal.api.common.v1.WorkflowExecution");
  ProtobufCMessage *msg;
  assert_int_equal(twe__payload_read_protobuf(p, &temporal__api__common__v1__workflow_execution__descriptor,
                                              arena, &msg),
                   0);
  assert_string_equal(((Temporal__Api__Common__V1__WorkflowExecution *)msg)->workflow_id, "patch-42");
  /* Asking for another type is an encoding error, not a garbage decode. */
  assert_int_equal(twe__payload_read_protobuf(p, &temporal__api__common__v1__workflow_type__descriptor,
                                              arena, &msg),
                   TWE_EENCODING);
}

static void test_payload_encoding_missing_or_unknown(void **state) {
  twe_arena_t *arena = *state;
  Temporal__Api__Common__V1__Payload bare = TEMPORAL__API__COMMON__V1__PAYLOAD__INIT;
  assert_int_equal(twe__payload_encoding(&bare), TWE_EENCODING);
  json_t *v;
  assert_int_equal(twe__payload_read_json(&bare, &v), TWE_EENCODING);
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_binary(arena, "x", 1, &p), 0);
  p->metadata[0]->value.data = (uint8_t *)"binary/encrypted";
  p->metadata[0]->value.len = strlen("binary/encrypted");
  assert_int_equal(twe__payload_encoding(p), TWE_EENCODING);
  /* A prefix of a known name is not that name. */
  p->metadata[0]->value.len = strlen("binary");
  assert_int_equal(twe__payload_encoding(p), TWE_EENCODING);
}

/* Bytes laid out by hand from the protobuf wire format, as any SDK sends a
 * json/plain "hello": Payload{metadata{"encoding": "json/plain"}, data}. */
static void test_payload_decodes_foreign_wire_bytes(void **state) {
  twe_arena_t *arena = *state;
  const uint8_t wire[] = {
    0x0a, 0x16,                                        /* field 1 (metadata entry), 22 bytes */
    0x0a, 0x08, 'e', 'n', 'c', 'o', 'd', 'i', 'n', 'g', /* key */
    0x12, 0x0a, 'j', 's', 'o', 'n', '/', 'p', 'l', 'a', 'i', 'n', /* value */
    0x12, 0x07, '"', 'h', 'e', 'l', 'l', 'o', '"',     /* field 2 (data) */
  };
  ProtobufCMessage *msg;
  assert_int_equal(twe__proto_decode(&temporal__api__common__v1__payload__descriptor, arena, wire,
                                     sizeof wire, &msg),
                   0);
  json_t *v;
  assert_int_equal(twe__payload_read_json((twe_payload_pb_t *)msg, &v), 0);
  assert_string_equal(json_string_value(v), "hello");
  json_decref(v);

  /* And ours encode to exactly those bytes. */
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_json(arena, "\"hello\"", 7, &p), 0);
  uint8_t *out;
  size_t len;
  assert_int_equal(twe__proto_encode(&p->base, arena, &out, &len), 0);
  assert_int_equal(len, sizeof wire);
  assert_memory_equal(out, wire, len);
}

static void test_payloads_list(void **state) {
  twe_arena_t *arena = *state;
  twe_payload_pb_t *items[2];
  assert_int_equal(twe__payload_new_json(arena, "1", 1, &items[0]), 0);
  assert_int_equal(twe__payload_new_null(arena, &items[1]), 0);
  twe_payloads_pb_t *list;
  assert_int_equal(twe__payloads_new(arena, items, 2, &list), 0);
  uint8_t *wire;
  size_t len;
  assert_int_equal(twe__proto_encode(&list->base, arena, &wire, &len), 0);
  ProtobufCMessage *msg;
  assert_int_equal(twe__proto_decode(&temporal__api__common__v1__payloads__descriptor, arena, wire,
                                     len, &msg),
                   0);
  twe_payloads_pb_t *back = (twe_payloads_pb_t *)msg;
  assert_int_equal(back->n_payloads, 2);
  assert_int_equal(twe__payload_encoding(back->payloads[0]), TWE_PAYLOAD_JSON);
  assert_int_equal(twe__payload_encoding(back->payloads[1]), TWE_PAYLOAD_NULL);
  assert_int_equal(twe__payloads_new(arena, NULL, 0, &list), 0);
  assert_int_equal(list->n_payloads, 0);
}

static void test_payload_builders_respect_budget(void **state) {
  (void)state;
  twe_arena_t small;
  twe__arena_init(&small, 1024);
  static char big[4096];
  memset(big, 'a', sizeof big);
  twe_payload_pb_t *p;
  assert_int_equal(twe__payload_new_binary(&small, big, sizeof big, &p), TWE_ELIMIT);
  twe__arena_destroy(&small);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_arena, teardown_arena)
int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_payload_json_roundtrip),
    T(test_payload_json_scalars_and_invalid),
    T(test_payload_json_value_is_compact),
    T(test_payload_null),
    T(test_payload_binary_roundtrip_and_wrong_reader),
    T(test_payload_protobuf_roundtrip),
    T(test_payload_encoding_missing_or_unknown),
    T(test_payload_decodes_foreign_wire_bytes),
    T(test_payloads_list),
    cmocka_unit_test(test_payload_builders_respect_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
