/* tests/sched/test_loop_eventfd.c — the default loop: wake before or during
 * a wait makes run_once return, and resets; no wake times out. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched/loop.h"

static void test_eventfd_loop_run_once_no_wake_times_out(void **state) {
  (void)state;
  twe_eventfd_loop_t loop;
  assert_int_equal(twe__eventfd_loop_init(&loop), 0);
  assert_int_equal(twe__eventfd_loop_ops.run_once(&loop, 0), 0);
  assert_int_equal(twe__eventfd_loop_ops.run_once(&loop, 1000), 0);
  twe__eventfd_loop_destroy(&loop);
}

/* Wakes before the wait are not lost, and many of them count as one. */
static void test_eventfd_loop_run_once_wake_before(void **state) {
  (void)state;
  twe_eventfd_loop_t loop;
  assert_int_equal(twe__eventfd_loop_init(&loop), 0);
  for (int i = 0; i < 5; i++) twe__eventfd_loop_ops.wake(&loop);
  assert_int_equal(twe__eventfd_loop_ops.run_once(&loop, -1), 1);
  assert_int_equal(twe__eventfd_loop_ops.run_once(&loop, 0), 0);
  twe__eventfd_loop_destroy(&loop);
}

static _Atomic int entered;

static void *waiter_thread(void *arg) {
  twe_eventfd_loop_t *loop = arg;
  atomic_store(&entered, 1);
  return (void *)(intptr_t)twe__eventfd_loop_ops.run_once(loop, -1);
}

/* A wake from another thread ends a wait with no limit. (Whether it lands
 * before or during the wait, run_once returns 1.) */
static void test_eventfd_loop_run_once_wake_from_other_thread(void **state) {
  (void)state;
  twe_eventfd_loop_t loop;
  assert_int_equal(twe__eventfd_loop_init(&loop), 0);
  pthread_t t;
  atomic_store(&entered, 0);
  assert_int_equal(pthread_create(&t, NULL, waiter_thread, &loop), 0);
  while (!atomic_load(&entered)) {
  }
  twe__eventfd_loop_ops.wake(&loop);
  void *ret;
  pthread_join(t, &ret);
  assert_int_equal((intptr_t)ret, 1);
  twe__eventfd_loop_destroy(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_eventfd_loop_run_once_no_wake_times_out),
    cmocka_unit_test(test_eventfd_loop_run_once_wake_before),
    cmocka_unit_test(test_eventfd_loop_run_once_wake_from_other_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
