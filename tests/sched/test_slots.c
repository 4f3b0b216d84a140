/* tests/sched/test_slots.c — slots: the fixed supplier's limits, a permit
 * released exactly once (also when two threads race), watchers notified when
 * a slot frees, a custom supplier seeing every call, and the accounting test:
 * thousands of tasks through an activity pool with random empty polls,
 * failures, cancellations and a shutdown with work in flight; the available
 * count returns to the maximum. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched/loop.h"
#include "sched/pool.h"
#include "sched/slots.h"

static void test_slots_create_fixed_limits(void **state) {
  (void)state;
  const int64_t max[TWE_SLOT_KINDS] = {2, 3, 0};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create_fixed(max, &slots), 0);
  twe_slot_t s[6];
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_WORKFLOW_TASK, &s[0]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_WORKFLOW_TASK, &s[1]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_WORKFLOW_TASK, &s[2]), -EAGAIN);
  for (int i = 2; i < 5; i++)
    assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[i]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[5]), -EAGAIN);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_LOCAL_ACTIVITY, &s[5]), -EAGAIN);
  assert_int_equal(twe__slots_try_take(slots, (twe_slot_kind_t)7, &s[5]), -EINVAL);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_ACTIVITY), 0);
  assert_int_equal(twe__slots_outstanding(slots, TWE_SLOT_ACTIVITY), 3);
  for (int i = 0; i < 5; i++) assert_int_equal(twe__slot_release(&s[i], TWE_SLOT_COMPLETED), 0);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_WORKFLOW_TASK), 2);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_ACTIVITY), 3);
  assert_int_equal(twe__slots_outstanding(slots, TWE_SLOT_ACTIVITY), 0);
  twe__slots_destroy(slots);
  const int64_t bad[TWE_SLOT_KINDS] = {1, -1, 0};
  assert_int_equal(twe__slots_create_fixed(bad, &slots), -EINVAL);
}

static void test_slot_release_exactly_once(void **state) {
  (void)state;
  const int64_t max[TWE_SLOT_KINDS] = {1, 1, 1};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create_fixed(max, &slots), 0);
  twe_slot_t s;
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_LOCAL_ACTIVITY, &s), 0);
  assert_int_equal(twe__slot_mark_used(&s), 0);
  assert_int_equal(twe__slot_mark_used(&s), -EALREADY);
  assert_int_equal(twe__slot_release(&s, TWE_SLOT_FAILED), 0);
  assert_int_equal(twe__slot_release(&s, TWE_SLOT_FAILED), -EALREADY);
  assert_int_equal(twe__slot_release(&s, TWE_SLOT_SHUTDOWN), -EALREADY);
  assert_int_equal(twe__slot_mark_used(&s), -EALREADY);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_LOCAL_ACTIVITY), 1);
  /* A permit that was never taken is refused, not counted. */
  twe_slot_t never;
  memset(&never, 0, sizeof never);
  never.slots = slots;
  assert_int_equal(twe__slot_release(&never, TWE_SLOT_UNUSED), -EINVAL);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_LOCAL_ACTIVITY), 1);
  twe__slots_destroy(slots);
}

/* Completion racing preemption: two threads release the same permit; one
 * wins, every time. */
enum { RACES = 20000 };
static twe_slot_t race_slot;
static pthread_barrier_t race_barrier;
static _Atomic int race_wins;

static void *racer(void *arg) {
  (void)arg;
  for (int i = 0; i < RACES; i++) {
    pthread_barrier_wait(&race_barrier);
    if (twe__slot_release(&race_slot, TWE_SLOT_PREEMPTED) == 0) atomic_fetch_add(&race_wins, 1);
    pthread_barrier_wait(&race_barrier);
  }
  return NULL;
}

static void test_slot_release_race_counts_once(void **state) {
  (void)state;
  const int64_t max[TWE_SLOT_KINDS] = {1, 0, 0};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create_fixed(max, &slots), 0);
  pthread_barrier_init(&race_barrier, NULL, 3);
  atomic_store(&race_wins, 0);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, racer, NULL), 0);
  for (int i = 0; i < RACES; i++) {
    assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_WORKFLOW_TASK, &race_slot), 0);
    pthread_barrier_wait(&race_barrier); /* go */
    pthread_barrier_wait(&race_barrier); /* both released */
    assert_int_equal(atomic_load(&race_wins), i + 1);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&race_barrier);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_WORKFLOW_TASK), 1);
  twe__slots_destroy(slots);
}

/* A loop that never blocks and counts wakes. */
static _Atomic int fake_wakes;
static int fake_run_once(void *ctx, int64_t t) {
  (void)ctx;
  (void)t;
  return 0;
}
static void fake_wake(void *ctx) {
  (void)ctx;
  atomic_fetch_add(&fake_wakes, 1);
}
static const twe_shard_loop_ops_t fake_ops = {fake_run_once, fake_wake};

/* Refused watchers hear about the next release, once; others do not. */
static void test_slots_try_take_or_watch_notifies(void **state) {
  (void)state;
  const int64_t max[TWE_SLOT_KINDS] = {1, 1, 0};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create_fixed(max, &slots), 0);
  twe_waiter_t a, b;
  twe__waiter_init(&a, &fake_ops, NULL);
  twe__waiter_init(&b, &fake_ops, NULL);
  int wa = twe__slots_add_watcher(slots, &a), wb = twe__slots_add_watcher(slots, &b);
  assert_int_equal(wa, 0);
  assert_int_equal(wb, 1);
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, 7, NULL), -EINVAL);
  twe_slot_t held, s;
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, wa, &held), 0);
  /* a is refused and goes to sleep; b wants a workflow slot (free). */
  twe__waiter_begin(&a);
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, wa, &s), -EAGAIN);
  twe__waiter_park(&a, -1);
  twe__waiter_begin(&b);
  twe__waiter_park(&b, -1);
  atomic_store(&fake_wakes, 0);
  assert_int_equal(twe__slot_release(&held, TWE_SLOT_COMPLETED), 0);
  assert_int_equal(atomic_load(&fake_wakes), 1);
  assert_true(twe__waiter_begin(&a));
  assert_false(twe__waiter_begin(&b));
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, wa, &s), 0);
  /* Notified once per refusal: the release of s wakes nobody now. */
  twe__waiter_park(&a, -1);
  assert_int_equal(twe__slot_release(&s, TWE_SLOT_COMPLETED), 0);
  assert_int_equal(atomic_load(&fake_wakes), 1);
  twe__slots_destroy(slots);
}

/* --- a custom supplier ------------------------------------------------------- */

struct counting_supplier {
  int64_t free_slots;
  int reserves, refusals, used, released[TWE_SLOT_REASONS];
  int *destroyed;
};

static int cs_try_reserve(void *ctx, twe_slot_kind_t kind) {
  struct counting_supplier *c = ctx;
  (void)kind;
  if (c->free_slots == 0) {
    c->refusals++;
    return -EAGAIN;
  }
  c->free_slots--;
  c->reserves++;
  return 0;
}
static void cs_mark_used(void *ctx, twe_slot_kind_t kind) {
  (void)kind;
  ((struct counting_supplier *)ctx)->used++;
}
static void cs_release(void *ctx, twe_slot_kind_t kind, twe_slot_release_reason_t reason) {
  struct counting_supplier *c = ctx;
  (void)kind;
  c->free_slots++;
  c->released[reason]++;
}
static void cs_destroy(void *ctx) {
  struct counting_supplier *c = ctx;
  (*c->destroyed)++;
}
static const twe_slot_supplier_ops_t counting_ops = {
  .try_reserve = cs_try_reserve,
  .mark_used = cs_mark_used,
  .release = cs_release,
  .available = NULL,
  .destroy = cs_destroy,
};

/* What a resource-based supplier will see: every reserve, use and release
 * with its reason; it may refuse; it is destroyed with the slots. */
static void test_slots_create_custom_supplier(void **state) {
  (void)state;
  int destroyed = 0;
  struct counting_supplier c = {.free_slots = 2, .destroyed = &destroyed};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create(&counting_ops, &c, &slots), 0);
  twe_slot_t a, b, x;
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &a), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &b), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &x), -EAGAIN);
  twe__slot_mark_used(&a);
  twe__slot_release(&a, TWE_SLOT_CANCELLED);
  twe__slot_release(&b, TWE_SLOT_UNUSED);
  twe__slot_release(&b, TWE_SLOT_UNUSED);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_ACTIVITY), -1);
  assert_int_equal(c.reserves, 2);
  assert_int_equal(c.refusals, 1);
  assert_int_equal(c.used, 1);
  assert_int_equal(c.released[TWE_SLOT_CANCELLED], 1);
  assert_int_equal(c.released[TWE_SLOT_UNUSED], 1);
  twe__slots_destroy(slots);
  assert_int_equal(destroyed, 1);
  /* Invalid ops: refused, and ctx is still destroyed (ownership was
   * taken). */
  static const twe_slot_supplier_ops_t incomplete = {.destroy = cs_destroy};
  assert_int_equal(twe__slots_create(&incomplete, &c, &slots), -EINVAL);
  assert_int_equal(destroyed, 2);
}

/* --- accounting under load ----------------------------------------------------- */

enum { TASKS = 5000, SLOTS = 8, THREADS = 6 };

enum outcome { OK, FAIL, HANG };

struct acct_task {
  twe_job_t job;
  twe_slot_t slot;
  enum outcome outcome;
  bool failed, cancelled_seen, live;
};

struct acct {
  twe_slots_t *slots;
  twe_pool_t *pool;
  bool stopping;
  uint64_t rnd;
  int live, takes, releases, double_release_refused;
  int reasons[TWE_SLOT_REASONS];
  struct acct_task *hanging[THREADS];
  int n_hanging;
};

static struct acct A;
static twe_eventfd_loop_t owner_loop;
static twe_waiter_t owner;

static uint64_t rnd(void) {
  A.rnd ^= A.rnd << 13;
  A.rnd ^= A.rnd >> 7;
  A.rnd ^= A.rnd << 17;
  return A.rnd;
}

static void acct_run(twe_job_t *job) {
  struct acct_task *t = (struct acct_task *)job;
  switch (t->outcome) {
  case OK:
    break;
  case FAIL:
    t->failed = true; /* an activity that raised */
    break;
  case HANG:
    while (!twe__job_cancelled(job)) sched_yield();
    t->cancelled_seen = true;
    break;
  }
}

static void give_back(struct acct_task *t, twe_slot_release_reason_t reason) {
  assert_int_equal(twe__slot_release(&t->slot, reason), 0);
  A.releases++;
  A.reasons[reason]++;
  /* Now and then a buggy path releases twice: refused, not counted. */
  if (rnd() % 20 == 0) {
    assert_int_equal(twe__slot_release(&t->slot, reason), -EALREADY);
    A.double_release_refused++;
  }
  t->live = false;
  A.live--;
  free(t);
}

static void acct_done(twe_job_t *job, int status) {
  struct acct_task *t = (struct acct_task *)job;
  for (int i = 0; i < A.n_hanging; i++)
    if (A.hanging[i] == t) A.hanging[i] = A.hanging[--A.n_hanging];
  twe_slot_release_reason_t reason = TWE_SLOT_COMPLETED;
  if (status == -ECANCELED || t->cancelled_seen)
    reason = A.stopping ? TWE_SLOT_SHUTDOWN : TWE_SLOT_CANCELLED;
  else if (t->failed)
    reason = TWE_SLOT_FAILED;
  give_back(t, reason);
}

static void test_slots_accounting_random_failures_and_cancellation(void **state) {
  (void)state;
  memset(&A, 0, sizeof A);
  A.rnd = 0x9e3779b97f4a7c15ULL;
  assert_int_equal(twe__eventfd_loop_init(&owner_loop), 0);
  twe__waiter_init(&owner, &twe__eventfd_loop_ops, &owner_loop);
  const int64_t max[TWE_SLOT_KINDS] = {0, SLOTS, 0};
  assert_int_equal(twe__slots_create_fixed(max, &A.slots), 0);
  int watcher = twe__slots_add_watcher(A.slots, &owner);
  assert_true(watcher >= 0);
  twe_pool_options_t po = {.threads = THREADS, .id = 0};
  assert_int_equal(twe__pool_create(&po, &owner, &A.pool), 0);

  int started = 0, max_live = 0;
  /* Stop with work in flight: the last tasks are still running at
   * shutdown. */
  while (started < TASKS) {
    twe__waiter_begin(&owner);
    twe__pool_reap(A.pool, 64);
    /* Cancel some of the hanging activities (heartbeat said so). */
    for (int i = 0; i < A.n_hanging; i++)
      if (rnd() % 4 == 0) twe__job_cancel(&A.hanging[i]->job);
    bool refused = false;
    while (started < TASKS) {
      struct acct_task *t = calloc(1, sizeof *t);
      assert_non_null(t);
      /* A slot before polling. */
      if (twe__slots_try_take_or_watch(A.slots, TWE_SLOT_ACTIVITY, watcher, &t->slot) != 0) {
        free(t);
        refused = true;
        break;
      }
      A.takes++;
      A.live++;
      t->live = true;
      started++;
      if (A.live > max_live) max_live = A.live;
      uint64_t r = rnd() % 100;
      if (r < 10) {
        /* The poll came back empty. */
        give_back(t, TWE_SLOT_UNUSED);
        continue;
      }
      assert_int_equal(twe__slot_mark_used(&t->slot), 0);
      t->outcome = r < 60 ? OK : r < 80 ? FAIL : HANG;
      t->job.run = acct_run;
      t->job.done = acct_done;
      if (twe__pool_try_submit(A.pool, &t->job) != 0) {
        /* More slots than threads: could not start it; give it back and
         * wait for a thread. */
        give_back(t, TWE_SLOT_UNUSED);
        refused = true;
        break;
      }
      if (t->outcome == HANG) A.hanging[A.n_hanging++] = t;
    }
    /* Nothing to take: sleep until a result arrives or a slot frees; a
     * short bound lets the random cancellations above make progress when
     * every thread hangs. */
    if (refused || twe__pool_busy(A.pool) == THREADS) twe__waiter_park(&owner, 1000000);
  }
  int in_flight = (int)twe__pool_busy(A.pool);
  A.stopping = true;
  /* Shutdown: no grace, then cancel, with plenty of time to come back. */
  assert_int_equal(twe__pool_stop(A.pool, 0, 60LL * 1000000000), 0);
  assert_int_equal(twe__pool_destroy(A.pool), 0);

  print_message("accounting: %d tasks, %d takes, %d in flight at shutdown, max %d live; "
                "unused %d completed %d failed %d cancelled %d shutdown %d; "
                "%d double releases refused\n",
                TASKS, A.takes, in_flight, max_live, A.reasons[TWE_SLOT_UNUSED],
                A.reasons[TWE_SLOT_COMPLETED], A.reasons[TWE_SLOT_FAILED],
                A.reasons[TWE_SLOT_CANCELLED], A.reasons[TWE_SLOT_SHUTDOWN],
                A.double_release_refused);
  assert_int_equal(A.live, 0);
  assert_int_equal(A.takes, TASKS);
  assert_int_equal(A.releases, A.takes);
  assert_true(max_live <= SLOTS);
  assert_int_equal(twe__slots_available(A.slots, TWE_SLOT_ACTIVITY), SLOTS);
  assert_int_equal(twe__slots_outstanding(A.slots, TWE_SLOT_ACTIVITY), 0);
  /* Every path was taken. */
  assert_true(A.reasons[TWE_SLOT_UNUSED] > 0);
  assert_true(A.reasons[TWE_SLOT_COMPLETED] > 0);
  assert_true(A.reasons[TWE_SLOT_FAILED] > 0);
  assert_true(A.reasons[TWE_SLOT_CANCELLED] > 0);
  twe__slots_destroy(A.slots);
  twe__eventfd_loop_destroy(&owner_loop);
}

/* --- several threads taking and releasing at once ------------------------------- */

enum { CONTENDERS = 4, ROUNDS = 20000, SHARED = 3 };

struct contender {
  twe_slots_t *slots;
  int watcher;
  twe_eventfd_loop_t loop;
  twe_waiter_t w;
  int takes;
  _Atomic int *holding;
  int over_limit;
};

static void *contend(void *arg) {
  struct contender *c = arg;
  for (int i = 0; i < ROUNDS; i++) {
    twe_slot_t s;
    for (;;) {
      twe__waiter_begin(&c->w);
      if (twe__slots_try_take_or_watch(c->slots, TWE_SLOT_WORKFLOW_TASK, c->watcher, &s) == 0)
        break;
      /* Refused: a release will notify us. */
      twe__waiter_park(&c->w, -1);
    }
    if (atomic_fetch_add(c->holding, 1) >= SHARED) c->over_limit++;
    c->takes++;
    atomic_fetch_sub(c->holding, 1);
    twe__slot_release(&s, TWE_SLOT_COMPLETED);
  }
  return NULL;
}

/* No thread ever sleeps on a slot that is free (that would hang), never
 * more than the maximum are held, and all come back. */
static void test_slots_try_take_or_watch_contended(void **state) {
  (void)state;
  const int64_t max[TWE_SLOT_KINDS] = {SHARED, 0, 0};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create_fixed(max, &slots), 0);
  _Atomic int holding = 0;
  struct contender c[CONTENDERS];
  for (int i = 0; i < CONTENDERS; i++) {
    memset(&c[i], 0, sizeof c[i]);
    c[i].slots = slots;
    c[i].holding = &holding;
    assert_int_equal(twe__eventfd_loop_init(&c[i].loop), 0);
    twe__waiter_init(&c[i].w, &twe__eventfd_loop_ops, &c[i].loop);
    c[i].watcher = twe__slots_add_watcher(slots, &c[i].w);
  }
  pthread_t t[CONTENDERS];
  for (int i = 0; i < CONTENDERS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, contend, &c[i]), 0);
  for (int i = 0; i < CONTENDERS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < CONTENDERS; i++) {
    assert_int_equal(c[i].takes, ROUNDS);
    assert_int_equal(c[i].over_limit, 0);
    twe__eventfd_loop_destroy(&c[i].loop);
  }
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_WORKFLOW_TASK), SHARED);
  assert_int_equal(twe__slots_outstanding(slots, TWE_SLOT_WORKFLOW_TASK), 0);
  twe__slots_destroy(slots);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_slots_create_fixed_limits),
    cmocka_unit_test(test_slot_release_exactly_once),
    cmocka_unit_test(test_slot_release_race_counts_once),
    cmocka_unit_test(test_slots_try_take_or_watch_notifies),
    cmocka_unit_test(test_slots_create_custom_supplier),
    cmocka_unit_test(test_slots_accounting_random_failures_and_cancellation),
    cmocka_unit_test(test_slots_try_take_or_watch_contended),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
