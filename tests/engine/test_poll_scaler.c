/* tests/engine/test_poll_scaler.c — poll counts: fixed stays put whatever
 * the server says; autoscaling follows the server's decisions within
 * [min, max], takes one away per empty poll only once a decision was seen,
 * and halves on RESOURCE_EXHAUSTED. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/poll_scaler.h"
#include "io/grpc_status.h"

static void test_fixed_stays(void **state) {
  (void)state;
  twe__poll_scaler_t s;
  twe__poll_scaler_init(&s, false, 2, 2, 2);
  twe__poll_scaler_task(&s, true, 5);
  twe__poll_scaler_empty(&s);
  twe__poll_scaler_failed(&s, TWE_GRPC_RESOURCE_EXHAUSTED);
  assert_int_equal(s.target, 2);
  assert_int_equal(s.ups + s.downs, 0);
}

static void test_autoscaling_follows_decisions(void **state) {
  (void)state;
  twe__poll_scaler_t s;
  twe__poll_scaler_init(&s, true, 2, 1, 6);
  assert_int_equal(s.target, 2);
  /* Empty polls before any decision: the server may not scale; keep 2. */
  twe__poll_scaler_empty(&s);
  twe__poll_scaler_task(&s, false, 0);
  assert_int_equal(s.target, 2);
  twe__poll_scaler_task(&s, true, 1);
  twe__poll_scaler_task(&s, true, 1);
  assert_int_equal(s.target, 4);
  twe__poll_scaler_task(&s, true, 10); /* capped */
  assert_int_equal(s.target, 6);
  twe__poll_scaler_task(&s, true, -1);
  assert_int_equal(s.target, 5);
  twe__poll_scaler_empty(&s); /* a decision was seen: one fewer */
  assert_int_equal(s.target, 4);
  twe__poll_scaler_failed(&s, TWE_GRPC_UNAVAILABLE); /* not a request to slow down */
  assert_int_equal(s.target, 4);
  twe__poll_scaler_failed(&s, TWE_GRPC_RESOURCE_EXHAUSTED);
  assert_int_equal(s.target, 2);
  twe__poll_scaler_failed(&s, TWE_GRPC_RESOURCE_EXHAUSTED);
  twe__poll_scaler_failed(&s, TWE_GRPC_RESOURCE_EXHAUSTED);
  assert_int_equal(s.target, 1); /* min */
  for (int i = 0; i < 5; i++) twe__poll_scaler_empty(&s);
  assert_int_equal(s.target, 1);
  assert_true(s.ups >= 2 && s.downs >= 4);
}

static void test_init_clamps(void **state) {
  (void)state;
  twe__poll_scaler_t s;
  twe__poll_scaler_init(&s, true, 40, 0, 16);
  assert_int_equal(s.min, 1);
  assert_int_equal(s.target, 16);
  twe__poll_scaler_init(&s, true, 1, 3, 2); /* max below min: min wins */
  assert_int_equal(s.max, 3);
  assert_int_equal(s.target, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixed_stays),
    cmocka_unit_test(test_autoscaling_follows_decisions),
    cmocka_unit_test(test_init_clamps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
