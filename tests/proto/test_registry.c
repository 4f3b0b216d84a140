/* tests/proto/test_registry.c — finding generated types by name and
 * unpacking google.protobuf.Any. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proto/codec.h"
#include "proto/registry.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"
#include "twe/error.h"

static void test_descriptor_by_name_finds_api_and_imports(void **state) {
  (void)state;
  const char *names[] = {
    "temporal.api.common.v1.Payload",
    "temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure",
    "temporal.api.workflowservice.v1.PollWorkflowTaskQueueResponse",
    "google.rpc.Status",
    "google.protobuf.Duration",
    "grpc.health.v1.HealthCheckResponse",
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const ProtobufCMessageDescriptor *d = twe__proto_descriptor_by_name(names[i], strlen(names[i]));
    assert_non_null(d);
    assert_string_equal(d->name, names[i]);
  }
  assert_ptr_equal(twe__proto_descriptor_by_name("temporal.api.errordetails.v1.NotFoundFailure", 44),
                   &temporal__api__errordetails__v1__not_found_failure__descriptor);
}

static void test_descriptor_by_name_rejects_unknown_and_prefixes(void **state) {
  (void)state;
  assert_null(twe__proto_descriptor_by_name("temporal.api.NoSuchThing", 24));
  assert_null(twe__proto_descriptor_by_name("", 0));
  /* A prefix of a real name, counted short, is not that name. */
  assert_null(twe__proto_descriptor_by_name("temporal.api.common.v1.Payload", 25));
  /* Counted: trailing bytes beyond len are ignored. */
  assert_non_null(twe__proto_descriptor_by_name("google.rpc.StatusXYZ", 17));
}

static void test_any_unpack_errordetails(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure f =
      TEMPORAL__API__ERRORDETAILS__V1__WORKFLOW_EXECUTION_ALREADY_STARTED_FAILURE__INIT;
  f.run_id = "run-1";
  uint8_t *bytes;
  size_t len;
  assert_int_equal(twe__proto_encode(&f.base, &arena, &bytes, &len), 0);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure";
  any.value.data = bytes;
  any.value.len = len;
  ProtobufCMessage *msg;
  const ProtobufCMessageDescriptor *desc;
  assert_int_equal(twe__proto_any_unpack(&any, &arena, &msg, &desc), 0);
  assert_ptr_equal(desc, &temporal__api__errordetails__v1__workflow_execution_already_started_failure__descriptor);
  assert_string_equal(((Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure *)msg)->run_id,
                      "run-1");

  any.type_url = "type.googleapis.com/example.Unknown";
  assert_int_equal(twe__proto_any_unpack(&any, &arena, &msg, &desc), TWE_EENCODING);
  assert_null(desc);

  any.type_url = "temporal.api.errordetails.v1.NotFoundFailure"; /* no host part */
  const uint8_t garbage[] = {0x0a, 0x50, 'x'};
  any.value.data = (uint8_t *)garbage;
  any.value.len = sizeof garbage;
  assert_int_equal(twe__proto_any_unpack(&any, &arena, &msg, &desc), TWE_EDECODE);
  assert_non_null(desc);
  twe__arena_destroy(&arena);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_descriptor_by_name_finds_api_and_imports),
    cmocka_unit_test(test_descriptor_by_name_rejects_unknown_and_prefixes),
    cmocka_unit_test(test_any_unpack_errordetails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
