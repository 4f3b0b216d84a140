/* tests/io/test_grpc_retry.c — which statuses are retried and how long the
 * backoff waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "io/grpc_retry.h"
#include "io/grpc_status.h"

#define MS 1000000ull
#define MID_RANDOM 0x7fffffffu /* jitter factor ~1.0 */

static void test_retry_should_by_code(void **state) {
  (void)state;
  const twe_rpc_retry_policy_t *p = &twe__retry_policy_call;
  assert_true(twe__retry_should(p, TWE_GRPC_UNAVAILABLE, NULL, 1));
  assert_true(twe__retry_should(p, TWE_GRPC_INTERNAL, NULL, 1));
  assert_true(twe__retry_should(p, TWE_GRPC_UNKNOWN, NULL, 1));
  assert_true(twe__retry_should(p, TWE_GRPC_ABORTED, NULL, 1));
  assert_true(twe__retry_should(p, TWE_GRPC_OUT_OF_RANGE, NULL, 1));
  assert_true(twe__retry_should(p, TWE_GRPC_DATA_LOSS, NULL, 1));
  assert_true(twe__retry_should(p, TWE_GRPC_RESOURCE_EXHAUSTED, "namespace rps limit", 1));
  assert_false(twe__retry_should(p, TWE_GRPC_RESOURCE_EXHAUSTED,
                                 "grpc: received message larger than max (5000000 vs. 4194304)", 1));
  assert_false(twe__retry_should(p, TWE_GRPC_NOT_FOUND, NULL, 1));
  assert_false(twe__retry_should(p, TWE_GRPC_ALREADY_EXISTS, NULL, 1));
  assert_false(twe__retry_should(p, TWE_GRPC_INVALID_ARGUMENT, NULL, 1));
  assert_false(twe__retry_should(p, TWE_GRPC_PERMISSION_DENIED, NULL, 1));
  assert_false(twe__retry_should(p, TWE_GRPC_OK, NULL, 1));
}

static void test_retry_should_attempt_limits(void **state) {
  (void)state;
  assert_true(twe__retry_should(&twe__retry_policy_call, TWE_GRPC_UNAVAILABLE, NULL, 9));
  assert_false(twe__retry_should(&twe__retry_policy_call, TWE_GRPC_UNAVAILABLE, NULL, 10));
  /* Polls never give up on a retryable status. */
  assert_true(twe__retry_should(&twe__retry_policy_poll, TWE_GRPC_UNAVAILABLE, NULL, 100000));
  assert_false(twe__retry_should(&twe__retry_policy_poll, TWE_GRPC_NOT_FOUND, NULL, 1));
}

static void test_retry_backoff_schedule(void **state) {
  (void)state;
  const twe_rpc_retry_policy_t *call = &twe__retry_policy_call;
  uint64_t first = twe__retry_backoff_ns(call, TWE_GRPC_UNAVAILABLE, 1, MID_RANDOM);
  assert_in_range(first, 99 * MS, 101 * MS);
  uint64_t second = twe__retry_backoff_ns(call, TWE_GRPC_UNAVAILABLE, 2, MID_RANDOM);
  assert_in_range(second, 169 * MS, 171 * MS);
  /* Capped at 5 s however many attempts. */
  assert_true(twe__retry_backoff_ns(call, TWE_GRPC_UNAVAILABLE, 50, 0xffffffffu) <= 5000 * MS);
  /* Jitter stays within +-20%. */
  assert_in_range(twe__retry_backoff_ns(call, TWE_GRPC_UNAVAILABLE, 1, 0), 80 * MS, 81 * MS);
  assert_in_range(twe__retry_backoff_ns(call, TWE_GRPC_UNAVAILABLE, 1, 0xffffffffu), 119 * MS,
                  120 * MS);
  /* RESOURCE_EXHAUSTED: 1 s, x2, max 10 s. */
  assert_in_range(twe__retry_backoff_ns(call, TWE_GRPC_RESOURCE_EXHAUSTED, 1, MID_RANDOM),
                  999 * MS, 1001 * MS);
  assert_in_range(twe__retry_backoff_ns(call, TWE_GRPC_RESOURCE_EXHAUSTED, 3, MID_RANDOM),
                  3999 * MS, 4001 * MS);
  assert_true(twe__retry_backoff_ns(call, TWE_GRPC_RESOURCE_EXHAUSTED, 30, 0xffffffffu) <= 10000 * MS);
  /* Polls: 200 ms x2 up to 10 s. */
  const twe_rpc_retry_policy_t *poll = &twe__retry_policy_poll;
  assert_in_range(twe__retry_backoff_ns(poll, TWE_GRPC_UNAVAILABLE, 1, MID_RANDOM), 199 * MS, 201 * MS);
  assert_in_range(twe__retry_backoff_ns(poll, TWE_GRPC_UNAVAILABLE, 3, MID_RANDOM), 799 * MS, 801 * MS);
  assert_true(twe__retry_backoff_ns(poll, TWE_GRPC_UNAVAILABLE, 1000, 0xffffffffu) <= 10000 * MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_retry_should_by_code),
    cmocka_unit_test(test_retry_should_attempt_limits),
    cmocka_unit_test(test_retry_backoff_schedule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
