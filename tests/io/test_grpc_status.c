/* tests/io/test_grpc_status.c — statuses from trailers (with Temporal error
 * details), from HTTP answers that are not gRPC, and from HTTP/2 resets;
 * invalid base64 and garbage details never lose the code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "io/grpc_status.h"
#include "proto/codec.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"
#include "twe/error.h"

#define S(str) (str), (sizeof(str) - 1)

static int setup(void **state) {
  static twe_arena_t arena;
  twe__arena_init(&arena, 0);
  *state = &arena;
  return 0;
}
static int teardown(void **state) {
  twe__arena_destroy(*state);
  return 0;
}

static twe_grpc_response_meta_t ok_meta(void) {
  twe_grpc_response_meta_t m = {0};
  m.http_status = 200;
  m.content_type = "application/grpc";
  m.content_type_len = strlen(m.content_type);
  return m;
}

/* Base64 with the standard alphabet and no padding, as gRPC sends it. */
static char *b64(const uint8_t *in, size_t len, char *out) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
                 (i + 2 < len ? in[i + 2] : 0);
    out[o++] = abc[v >> 18 & 63];
    out[o++] = abc[v >> 12 & 63];
    if (i + 1 < len) out[o++] = abc[v >> 6 & 63];
    if (i + 2 < len) out[o++] = abc[v & 63];
  }
  out[o] = 0;
  return out;
}

static void test_grpc_status_already_started_details(void **state) {
  twe_arena_t *arena = *state;
  Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure f =
      TEMPORAL__API__ERRORDETAILS__V1__WORKFLOW_EXECUTION_ALREADY_STARTED_FAILURE__INIT;
  f.start_request_id = "req-1";
  f.run_id = "run-1";
  uint8_t *fbytes;
  size_t flen;
  assert_int_equal(twe__proto_encode(&f.base, arena, &fbytes, &flen), 0);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure";
  any.value.data = fbytes;
  any.value.len = flen;
  Google__Protobuf__Any *details[] = {&any};
  Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
  st.code = 6;
  st.message = "Workflow execution is already running";
  st.n_details = 1;
  st.details = details;
  uint8_t *sbytes;
  size_t slen;
  assert_int_equal(twe__proto_encode(&st.base, arena, &sbytes, &slen), 0);
  char encoded[1024];
  b64(sbytes, slen, encoded);

  twe_grpc_response_meta_t m = ok_meta();
  m.grpc_status = "6";
  m.grpc_status_len = 1;
  m.grpc_message = "Workflow%20execution is already running";
  m.grpc_message_len = strlen(m.grpc_message);
  m.details_bin = encoded;
  m.details_bin_len = strlen(encoded);
  twe_grpc_status_t out;
  assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_ALREADY_EXISTS);
  assert_string_equal(out.message, "Workflow execution is already running");
  assert_null(out.details_error);
  assert_ptr_equal(out.detail_type,
                   &temporal__api__errordetails__v1__workflow_execution_already_started_failure__descriptor);
  assert_string_equal(((Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure *)out.detail)->run_id,
                      "run-1");
  assert_string_equal(twe__grpc_code_name(out.code), "ALREADY_EXISTS");
}

static void test_grpc_status_invalid_base64_keeps_code(void **state) {
  twe_arena_t *arena = *state;
  twe_grpc_response_meta_t m = ok_meta();
  m.grpc_status = "5";
  m.grpc_status_len = 1;
  m.grpc_message = "Workflow task not found.";
  m.grpc_message_len = strlen(m.grpc_message);
  m.details_bin = "!!not*base64";
  m.details_bin_len = strlen(m.details_bin);
  twe_grpc_status_t out;
  assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_NOT_FOUND);
  assert_string_equal(out.message, "Workflow task not found.");
  assert_non_null(out.details_error);
  assert_non_null(strstr(out.details_error, "base64"));
  assert_null(out.detail);
}

static void test_grpc_status_garbage_details_keeps_code(void **state) {
  twe_arena_t *arena = *state;
  twe_grpc_response_meta_t m = ok_meta();
  m.grpc_status = "14";
  m.grpc_status_len = 2;
  m.details_bin = "/////w"; /* valid base64, invalid protobuf */
  m.details_bin_len = strlen(m.details_bin);
  twe_grpc_status_t out;
  assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_UNAVAILABLE);
  assert_string_equal(out.message, "");
  assert_non_null(strstr(out.details_error, "google.rpc.Status"));
}

static void test_grpc_status_not_grpc_answers(void **state) {
  twe_arena_t *arena = *state;
  const struct { int http; int code; } cases[] = {
    {401, TWE_GRPC_UNAUTHENTICATED}, {403, TWE_GRPC_PERMISSION_DENIED},
    {404, TWE_GRPC_UNIMPLEMENTED},   {429, TWE_GRPC_UNAVAILABLE},
    {502, TWE_GRPC_UNAVAILABLE},     {503, TWE_GRPC_UNAVAILABLE},
    {504, TWE_GRPC_UNAVAILABLE},     {400, TWE_GRPC_INTERNAL},
    {500, TWE_GRPC_UNKNOWN},         {0, TWE_GRPC_UNKNOWN},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    twe_grpc_response_meta_t m = ok_meta();
    m.http_status = cases[i].http;
    m.grpc_status = "0"; /* ignored: not a gRPC answer */
    m.grpc_status_len = 1;
    twe_grpc_status_t out;
    assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
    assert_int_equal(out.code, cases[i].code);
    assert_non_null(strstr(out.message, "HTTP status"));
  }
  twe_grpc_response_meta_t html = ok_meta();
  html.content_type = "text/html";
  html.content_type_len = 9;
  twe_grpc_status_t out;
  assert_int_equal(twe__grpc_status_from_meta(&html, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_UNKNOWN);
  assert_non_null(strstr(out.message, "content-type"));
  /* application/grpcfoo is not gRPC; application/grpc+proto is. */
  html.content_type = "application/grpcfoo";
  html.content_type_len = strlen(html.content_type);
  assert_int_equal(twe__grpc_status_from_meta(&html, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_UNKNOWN);
  twe_grpc_response_meta_t plus = ok_meta();
  plus.content_type = "application/grpc+proto";
  plus.content_type_len = strlen(plus.content_type);
  plus.grpc_status = "0";
  plus.grpc_status_len = 1;
  assert_int_equal(twe__grpc_status_from_meta(&plus, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_OK);
}

static void test_grpc_status_missing_or_invalid_code(void **state) {
  twe_arena_t *arena = *state;
  twe_grpc_response_meta_t m = ok_meta();
  twe_grpc_status_t out;
  assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_INTERNAL);
  assert_non_null(strstr(out.message, "without grpc-status"));
  const char *bad[] = {"", "x", "-1", "1a", "1234"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    m.grpc_status = bad[i];
    m.grpc_status_len = strlen(bad[i]);
    assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
    assert_int_equal(out.code, TWE_GRPC_UNKNOWN);
  }
  /* A number outside 0-16: UNKNOWN, the server's message kept, or one
   * that names the number. */
  m.grpc_status = "42";
  m.grpc_status_len = 2;
  m.grpc_message = "shard%20moved";
  m.grpc_message_len = strlen(m.grpc_message);
  assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_UNKNOWN);
  assert_string_equal(out.message, "shard moved");
  assert_string_equal(twe__grpc_code_name(out.code), "UNKNOWN");
  m.grpc_message = NULL;
  m.grpc_message_len = 0;
  assert_int_equal(twe__grpc_status_from_meta(&m, arena, &out), 0);
  assert_int_equal(out.code, TWE_GRPC_UNKNOWN);
  assert_string_equal(out.message, "grpc-status 42 is not a gRPC code (0-16): taken as UNKNOWN");
}

static void test_grpc_percent_decode_malformed_kept(void **state) {
  twe_arena_t *arena = *state;
  assert_string_equal(twe__grpc_percent_decode(S("a%20b%zz%4"), arena), "a b%zz%4");
  assert_string_equal(twe__grpc_percent_decode(S("%E2%9C%93"), arena), "\xe2\x9c\x93");
  assert_string_equal(twe__grpc_percent_decode(S("%"), arena), "%");
}

static void test_grpc_base64_decode_padding_and_errors(void **state) {
  twe_arena_t *arena = *state;
  uint8_t *out;
  assert_int_equal(twe__grpc_base64_decode(S("aGVsbG8"), arena, &out), 5);
  assert_memory_equal(out, "hello", 5);
  assert_int_equal(twe__grpc_base64_decode(S("aGVsbG8="), arena, &out), 5);
  assert_int_equal(twe__grpc_base64_decode(S(""), arena, &out), 0);
  assert_int_equal(twe__grpc_base64_decode(S("a"), arena, &out), TWE_EDECODE);
  assert_int_equal(twe__grpc_base64_decode(S("aG Vs"), arena, &out), TWE_EDECODE);
  assert_int_equal(twe__grpc_base64_decode(S("aG-s"), arena, &out), TWE_EDECODE);
}

static void test_grpc_code_from_rst_stream(void **state) {
  (void)state;
  assert_int_equal(twe__grpc_code_from_rst_stream(0x7), TWE_GRPC_UNAVAILABLE);
  assert_int_equal(twe__grpc_code_from_rst_stream(0x8), TWE_GRPC_CANCELLED);
  assert_int_equal(twe__grpc_code_from_rst_stream(0xb), TWE_GRPC_RESOURCE_EXHAUSTED);
  assert_int_equal(twe__grpc_code_from_rst_stream(0x2), TWE_GRPC_INTERNAL);
  assert_int_equal(twe__grpc_code_from_rst_stream(0x0), TWE_GRPC_INTERNAL);
  assert_string_equal(twe__grpc_code_name(99), "UNKNOWN_CODE");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_grpc_status_already_started_details),
    T(test_grpc_status_invalid_base64_keeps_code),
    T(test_grpc_status_garbage_details_keeps_code),
    T(test_grpc_status_not_grpc_answers),
    T(test_grpc_status_missing_or_invalid_code),
    T(test_grpc_percent_decode_malformed_kept),
    T(test_grpc_base64_decode_padding_and_errors),
    T(test_grpc_code_from_rst_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
