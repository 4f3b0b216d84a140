/* tests/support/reactor_test.h — what every reactor-level test needs:
 * create a reactor (on the backend TWE_IO_BACKEND names), run it until a
 * condition holds, and end it asserting nothing was left live.
 * Header-only, for cmocka test files that include <cmocka.h> first. */
#ifndef TWE_TESTS_SUPPORT_REACTOR_TEST_H
#define TWE_TESTS_SUPPORT_REACTOR_TEST_H

#include "io/reactor.h"

#define MS 1000000LL

/* Runs iterations until cond holds; the bound (about 20 s of idle waits)
 * only stops a broken test from hanging. */
#define RUN_UNTIL(r, cond)                                   \
  do {                                                       \
    for (int i_ = 0; i_ < 2000 && !(cond); i_++)             \
      assert_true(twe__reactor_run_once((r), 10 * MS) >= 0); \
    assert_true(cond);                                       \
  } while (0)

static inline twe_reactor_t *reactor_new(void) {
  twe_reactor_t *r = NULL;
  assert_int_equal(twe__reactor_create(&r, NULL), 0);
  assert_non_null(r);
  return r;
}

/* Asserts that nothing is left live (async tests count what they start),
 * then destroys r. */
static inline void reactor_end(twe_reactor_t *r) {
  twe_reactor_stats_t st;
  twe__reactor_stats(r, &st);
  assert_int_equal(st.pending_ops, 0);
  assert_int_equal(st.active_timers, 0);
  assert_int_equal(st.open_socks, 0);
  assert_int_equal(st.wake_handles, 0);
  twe__reactor_destroy(r);
}

#endif /* TWE_TESTS_SUPPORT_REACTOR_TEST_H */
