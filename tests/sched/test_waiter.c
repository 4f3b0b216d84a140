/* tests/sched/test_waiter.c — coalesced wake-ups: a notify while running
 * costs no wake, one sleep gets at most one wake however many notifies, and
 * no notify is ever lost (ping-pong between two threads). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched/loop.h"
#include "sched/waiter.h"

/* A loop that records what the waiter asked of it and never blocks. */
struct fake_loop {
  int run_once_calls;
  int64_t last_timeout;
  _Atomic int wake_calls;
};

static int fake_run_once(void *ctx, int64_t timeout_ns) {
  struct fake_loop *l = ctx;
  l->run_once_calls++;
  l->last_timeout = timeout_ns;
  return 0;
}

static void fake_wake(void *ctx) {
  struct fake_loop *l = ctx;
  atomic_fetch_add(&l->wake_calls, 1);
}

static const twe_shard_loop_ops_t fake_ops = {fake_run_once, fake_wake};

static void test_waiter_notify_while_running_does_not_wake(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe__waiter_begin(&w);
  twe__waiter_notify(&w);
  twe__waiter_notify(&w);
  assert_int_equal(atomic_load(&l.wake_calls), 0);
  /* Notified since begin: park returns at once without sleeping. */
  assert_int_equal(twe__waiter_park(&w, -1), 0);
  assert_int_equal(l.run_once_calls, 0);
  assert_int_equal(w.sleeps, 0);
  /* The next round sees the notification. */
  assert_true(twe__waiter_begin(&w));
  assert_false(twe__waiter_begin(&w));
}

/* Parked (the fake loop returns at once, leaving the state SLEEPING as a
 * real loop would while blocked): the first notify wakes, the rest do not,
 * until the owner begins and parks again. */
static void test_waiter_notify_wakes_once_per_sleep(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe__waiter_begin(&w);
  twe__waiter_park(&w, 123);
  assert_int_equal(l.run_once_calls, 1);
  assert_int_equal(l.last_timeout, 123);
  for (int i = 0; i < 10; i++) twe__waiter_notify(&w);
  assert_int_equal(atomic_load(&l.wake_calls), 1);
  assert_int_equal(atomic_load(&w.wakes), 1);
  assert_true(twe__waiter_begin(&w));
  twe__waiter_park(&w, -1);
  twe__waiter_notify(&w);
  assert_int_equal(atomic_load(&l.wake_calls), 2);
}

/* A loop switched in (the reactor taking over) is the one used. */
static void test_waiter_set_loop(void **state) {
  (void)state;
  struct fake_loop a = {0}, b = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, NULL, NULL);
  twe__waiter_set_loop(&w, &fake_ops, &a);
  twe__waiter_begin(&w);
  twe__waiter_park(&w, 0);
  twe__waiter_set_loop(&w, &fake_ops, &b);
  twe__waiter_begin(&w);
  twe__waiter_park(&w, 0);
  twe__waiter_notify(&w);
  assert_int_equal(a.run_once_calls, 1);
  assert_int_equal(b.run_once_calls, 1);
  assert_int_equal(atomic_load(&b.wake_calls), 1);
}

/* Ping-pong: each side publishes a counter and notifies the other, then
 * sleeps until it sees the other's answer. A lost wake-up would hang. */
struct side {
  twe_eventfd_loop_t loop;
  twe_waiter_t w;
};

static struct side sides[2];
static _Atomic uint64_t ball[2];
enum { ROUNDS = 20000 };

static void *player(void *arg) {
  int me = (int)(intptr_t)arg, other = 1 - me;
  for (uint64_t i = 1; i <= ROUNDS; i++) {
    /* Relaxed: the notify's release publishes it. */
    atomic_store_explicit(&ball[me], i, memory_order_relaxed);
    twe__waiter_notify(&sides[other].w);
    for (;;) {
      twe__waiter_begin(&sides[me].w);
      if (atomic_load_explicit(&ball[other], memory_order_relaxed) >= i) break;
      twe__waiter_park(&sides[me].w, -1);
    }
  }
  return NULL;
}

static void test_waiter_ping_pong_loses_nothing(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(twe__eventfd_loop_init(&sides[i].loop), 0);
    twe__waiter_init(&sides[i].w, &twe__eventfd_loop_ops, &sides[i].loop);
    atomic_store(&ball[i], 0);
  }
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, player, (void *)(intptr_t)i), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(atomic_load(&ball[0]), ROUNDS);
  assert_int_equal(atomic_load(&ball[1]), ROUNDS);
  /* Never more wakes than sleeps on either side. */
  for (int i = 0; i < 2; i++) {
    assert_true(atomic_load(&sides[i].w.wakes) <= sides[i].w.sleeps);
    twe__eventfd_loop_destroy(&sides[i].loop);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_waiter_notify_while_running_does_not_wake),
    cmocka_unit_test(test_waiter_notify_wakes_once_per_sleep),
    cmocka_unit_test(test_waiter_set_loop),
    cmocka_unit_test(test_waiter_ping_pong_loses_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
