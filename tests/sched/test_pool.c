/* tests/sched/test_pool.c — activity thread pools: bounded submission, jobs
 * that block, results back on the owner's thread (a plain thread and a
 * shard), cancellation, and stop: finish within the grace period, then
 * cancel, then abandon what ignores cancellation. Every accepted job's done
 * fires exactly once (or its abandoned hook, for an abandoned one). Pool
 * threads run below their creator: SCHED_IDLE, a nice value, or as is. */
#define _GNU_SOURCE /* pthread_getname_np, sched_getcpu, CPU_*, SCHED_IDLE, gettid */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/loop.h"
#include "sched/pool.h"
#include "sched/shard.h"

static const int64_t MS = 1000000;

/* The owner: this test thread, sleeping in an eventfd loop. */
static twe_eventfd_loop_t owner_loop;
static twe_waiter_t owner;

static int setup(void **state) {
  (void)state;
  if (twe__eventfd_loop_init(&owner_loop) != 0) return -1;
  twe__waiter_init(&owner, &twe__eventfd_loop_ops, &owner_loop);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  twe__eventfd_loop_destroy(&owner_loop);
  return 0;
}

enum mode { QUICK, SLEEP_1MS, UNTIL_CANCELLED, UNTIL_RELEASED };

struct task {
  twe_job_t job;
  enum mode mode;
  pthread_t ran_on;
  char thread_name[16];
  int cpu;
  bool saw_cancel;
  int done_calls, status;
  pthread_t done_on;
  _Atomic int started;
  int policy, pthread_policy, nice; /* the thread's, seen from inside run */
};

/* Set by the test to let UNTIL_RELEASED jobs return. */
static _Atomic int release_stubborn;
static _Atomic int abandoned_calls;

static void run_task(twe_job_t *job) {
  struct task *t = (struct task *)job;
  t->ran_on = pthread_self();
  pthread_getname_np(pthread_self(), t->thread_name, sizeof t->thread_name);
  t->cpu = sched_getcpu();
  t->policy = sched_getscheduler(0);
  struct sched_param sp;
  if (pthread_getschedparam(pthread_self(), &t->pthread_policy, &sp) != 0) t->pthread_policy = -1;
  errno = 0;
  t->nice = getpriority(PRIO_PROCESS, (id_t)gettid());
  if (errno) t->nice = 100;
  /* Last of the writes above: a test that waits for started reads them. */
  atomic_store(&t->started, 1);
  switch (t->mode) {
  case QUICK:
    break;
  case SLEEP_1MS: {
    /* Blocking is allowed on a pool thread. */
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    break;
  }
  case UNTIL_CANCELLED:
    while (!twe__job_cancelled(job)) sched_yield();
    t->saw_cancel = true;
    break;
  case UNTIL_RELEASED:
    while (!atomic_load(&release_stubborn)) sched_yield();
    break;
  }
}

static void done_task(twe_job_t *job, int status) {
  struct task *t = (struct task *)job;
  t->done_calls++;
  t->status = status;
  t->done_on = pthread_self();
}

static void abandoned_task(twe_job_t *job) {
  (void)job;
  atomic_fetch_add(&abandoned_calls, 1);
}

static void init_task(struct task *t, enum mode mode) {
  memset(t, 0, sizeof *t);
  t->mode = mode;
  t->job.run = run_task;
  t->job.done = done_task;
  t->job.abandoned = abandoned_task;
}

/* Reaps until nothing runs, sleeping in between. */
static void reap_all(twe_pool_t *pool) {
  while (twe__pool_busy(pool) > 0) {
    twe__waiter_begin(&owner);
    if (twe__pool_reap(pool, 64) == 0) twe__waiter_park(&owner, -1);
  }
}

static void test_pool_try_submit_bounded_and_done_on_owner(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 3, .id = 7};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  assert_int_equal(twe__pool_idle(pool), 3);
  struct task t[4];
  for (int i = 0; i < 4; i++) init_task(&t[i], SLEEP_1MS);
  for (int i = 0; i < 3; i++) assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
  /* No queue: a fourth job is refused, and nothing happens to it. */
  assert_int_equal(twe__pool_try_submit(pool, &t[3].job), -EAGAIN);
  assert_int_equal(twe__pool_busy(pool), 3);
  reap_all(pool);
  assert_int_equal(twe__pool_idle(pool), 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(t[i].done_calls, 1);
    assert_int_equal(t[i].status, 0);
    assert_true(pthread_equal(t[i].done_on, pthread_self()));
    assert_false(pthread_equal(t[i].ran_on, pthread_self()));
    assert_memory_equal(t[i].thread_name, "twe-act-7-", 10);
  }
  assert_int_equal(t[3].done_calls, 0);
  /* Many more jobs through the same threads. */
  for (int round = 0; round < 200; round++) {
    for (int i = 0; i < 3; i++) {
      init_task(&t[i], QUICK);
      assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
    }
    reap_all(pool);
    for (int i = 0; i < 3; i++) assert_int_equal(t[i].done_calls, 1);
  }
  assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
  assert_int_equal(twe__pool_try_submit(pool, &t[0].job), -ESHUTDOWN);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

static void test_pool_create_invalid(void **state) {
  (void)state;
  twe_pool_t *pool;
  twe_pool_options_t o = {.threads = 0};
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
  o.threads = 1;
  assert_int_equal(twe__pool_create(&o, NULL, &pool), -EINVAL);
  twe_cpumask_t empty = {{0}};
  o.cpus = &empty;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
}

/* Threads stay on the CPUs they are given. */
static void test_pool_create_cpus(void **state) {
  (void)state;
  cpu_set_t set;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  int cpu = -1;
  for (int c = CPU_SETSIZE - 1; c >= 0 && cpu < 0; c--)
    if (CPU_ISSET(c, &set)) cpu = c;
  twe_cpumask_t m = {{0}};
  twe__cpumask_set(&m, (unsigned)cpu);
  twe_pool_options_t o = {.threads = 2, .id = 1, .cpus = &m};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task t[2];
  for (int i = 0; i < 2; i++) {
    init_task(&t[i], QUICK);
    assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
  }
  reap_all(pool);
  for (int i = 0; i < 2; i++) assert_int_equal(t[i].cpu, cpu);
  assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

static void test_pool_job_cancel(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 2, .id = 2};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task a, b;
  init_task(&a, UNTIL_CANCELLED);
  init_task(&b, QUICK);
  assert_int_equal(twe__pool_try_submit(pool, &a.job), 0);
  assert_int_equal(twe__pool_try_submit(pool, &b.job), 0);
  /* b comes back by itself; a only once cancelled. */
  while (b.done_calls == 0) {
    twe__waiter_begin(&owner);
    if (twe__pool_reap(pool, 64) == 0) twe__waiter_park(&owner, -1);
  }
  assert_int_equal(a.done_calls, 0);
  /* Cancel it while it runs (a cancel before it starts is another test). */
  while (!atomic_load(&a.started)) sched_yield();
  twe__job_cancel(&a.job);
  reap_all(pool);
  assert_int_equal(a.done_calls, 1);
  assert_true(a.saw_cancel);
  assert_int_equal(a.status, 0);
  assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

/* Jobs that finish within the grace period just finish. */
static void test_pool_stop_within_grace(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 4, .id = 3};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task t[4];
  for (int i = 0; i < 4; i++) {
    init_task(&t[i], SLEEP_1MS);
    assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
  }
  /* A generous grace: the jobs take 1 ms. */
  assert_int_equal(twe__pool_stop(pool, 10000 * MS, 0), 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(t[i].done_calls, 1);
    assert_false(t[i].saw_cancel);
  }
  assert_int_equal(twe__pool_destroy(pool), 0);
}

/* Past the grace period running jobs are cancelled, and they stop. */
static void test_pool_stop_cancels_after_grace(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 2, .id = 4};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task t[2];
  for (int i = 0; i < 2; i++) {
    init_task(&t[i], UNTIL_CANCELLED);
    assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
  }
  for (int i = 0; i < 2; i++)
    while (!atomic_load(&t[i].started)) sched_yield();
  assert_int_equal(twe__pool_stop(pool, 1 * MS, 10000 * MS), 0);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(t[i].done_calls, 1);
    assert_true(t[i].saw_cancel);
  }
  assert_int_equal(twe__pool_destroy(pool), 0);
}

/* A job that ignores cancellation is abandoned, never waited on: stop says
 * -ETIMEDOUT, destroy detaches its thread, its done never fires, and its
 * abandoned hook fires on its own thread once it returns. The other thread
 * (idle) is joined normally. */
static void test_pool_destroy_abandons_stubborn_job(void **state) {
  (void)state;
  atomic_store(&release_stubborn, 0);
  atomic_store(&abandoned_calls, 0);
  twe_pool_options_t o = {.threads = 2, .id = 5};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  static struct task stubborn; /* outlives the pool: its thread still uses it */
  struct task polite;
  init_task(&stubborn, UNTIL_RELEASED);
  init_task(&polite, QUICK);
  assert_int_equal(twe__pool_try_submit(pool, &stubborn.job), 0);
  assert_int_equal(twe__pool_try_submit(pool, &polite.job), 0);
  while (polite.done_calls == 0) {
    twe__waiter_begin(&owner);
    if (twe__pool_reap(pool, 64) == 0) twe__waiter_park(&owner, -1);
  }
  /* Inside user code (cancelled before it started, it would just not
   * run). */
  while (!atomic_load(&stubborn.started)) sched_yield();
  assert_int_equal(twe__pool_stop(pool, 0, 1 * MS), -ETIMEDOUT);
  assert_int_equal(twe__pool_busy(pool), 1);
  assert_int_equal(twe__pool_destroy(pool), 1);
  assert_int_equal(stubborn.done_calls, 0);
  atomic_store(&release_stubborn, 1);
  while (atomic_load(&abandoned_calls) == 0) sched_yield();
  assert_int_equal(stubborn.done_calls, 0);
  assert_int_equal(polite.done_calls, 1);
}

/* A job cancelled before its thread picks it up does not run. */
static void test_pool_cancel_before_start(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 1, .id = 6};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task t;
  init_task(&t, QUICK);
  /* Cancelled between submit and pick-up: racy by nature, so check only
   * the outcome's consistency: either it ran (0) or it did not (-ECANCELED,
   * and run was never called). */
  assert_int_equal(twe__pool_try_submit(pool, &t.job), 0);
  twe__job_cancel(&t.job);
  reap_all(pool);
  assert_int_equal(t.done_calls, 1);
  assert_true(t.status == 0 || (t.status == -ECANCELED && t.thread_name[0] == '\0'));
  assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

/* --- priority ----------------------------------------------------------------- */

/* Runs one job on each of the pool's n threads: all n are submitted before
 * any may return, so each lands on its own thread. */
static void run_on_every_thread(twe_pool_t *pool, struct task *t, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    init_task(&t[i], UNTIL_RELEASED);
    assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
  }
  atomic_store(&release_stubborn, 1);
  reap_all(pool);
  atomic_store(&release_stubborn, 0);
  for (unsigned i = 0; i < n; i++) {
    assert_int_equal(t[i].done_calls, 1);
    for (unsigned j = 0; j < i; j++) assert_false(pthread_equal(t[i].ran_on, t[j].ran_on));
  }
}

static int own_nice(void) {
  errno = 0;
  int n = getpriority(PRIO_PROCESS, (id_t)gettid());
  assert_int_equal(errno, 0);
  return n;
}

/* The default: SCHED_IDLE, seen by both interfaces. */
static void test_pool_create_priority_idle_default(void **state) {
  (void)state;
  int mine = sched_getscheduler(0);
  twe_pool_options_t o = {.threads = 2, .id = 10};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task t[2];
  run_on_every_thread(pool, t, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(t[i].policy, SCHED_IDLE);
    assert_int_equal(t[i].pthread_policy, SCHED_IDLE);
  }
  assert_int_equal(twe__pool_priority_applied(pool), TWE_POOL_PRIORITY_IDLE);
  /* The owner is untouched. */
  assert_int_equal(sched_getscheduler(0), mine);
  assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

/* A nice value, per thread: the owner keeps its own. */
static void test_pool_create_priority_nice(void **state) {
  (void)state;
  int mine = own_nice();
  struct {
    int nice, want;
  } cases[] = {{5, 5}, {0, 10}, {19, 19}};
  for (int c = 0; c < 3; c++) {
    twe_pool_options_t o = {.threads = 2, .id = 11, .priority = TWE_POOL_PRIORITY_NICE,
                            .nice = cases[c].nice};
    twe_pool_t *pool;
    assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
    struct task t[2];
    run_on_every_thread(pool, t, 2);
    /* Never above the creator's: a creator nicer than asked keeps its own. */
    int want = cases[c].want > mine ? cases[c].want : mine;
    for (int i = 0; i < 2; i++) {
      assert_int_equal(t[i].policy, SCHED_OTHER);
      assert_int_equal(t[i].nice, want);
    }
    assert_int_equal(twe__pool_priority_applied(pool), TWE_POOL_PRIORITY_NICE);
    assert_int_equal(own_nice(), mine);
    assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
    assert_int_equal(twe__pool_destroy(pool), 0);
  }
}

/* NORMAL: exactly the creator's policy and nice value. */
static void test_pool_create_priority_normal(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 2, .id = 12, .priority = TWE_POOL_PRIORITY_NORMAL,
                          .nice = 7 /* ignored */};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  struct task t[2];
  run_on_every_thread(pool, t, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(t[i].policy, sched_getscheduler(0));
    assert_int_equal(t[i].nice, own_nice());
  }
  assert_int_equal(twe__pool_priority_applied(pool), TWE_POOL_PRIORITY_NORMAL);
  assert_int_equal(twe__pool_stop(pool, 0, 0), 0);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

static void test_pool_create_priority_invalid(void **state) {
  (void)state;
  twe_pool_t *pool;
  twe_pool_options_t o = {.threads = 1, .priority = 3};
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
  o.priority = -1;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
  o.priority = TWE_POOL_PRIORITY_NICE;
  o.nice = 20;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
  o.nice = -1;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
}

/* --- a shard owns a pool ----------------------------------------------------- */

enum { SHARD_JOBS = 2000 };

struct shard_owner {
  twe_task_t task;
  twe_shard_t *shard;
  twe_pool_t *pool;
  struct task tasks[SHARD_JOBS];
  int submitted, done, done_off_shard;
  _Atomic int finished;
};

static void shard_done(twe_job_t *job, int status) {
  struct task *t = (struct task *)job;
  struct shard_owner *so = job->arg;
  t->done_calls++;
  t->status = status;
  if (twe__shard_self() != so->shard) so->done_off_shard++;
  if (++so->done == SHARD_JOBS) atomic_store(&so->finished, 1);
  /* A freed thread: submit more. */
  twe__shard_schedule(so->shard, &so->task);
}

static void submit_more(twe_task_t *task) {
  struct shard_owner *so = (struct shard_owner *)task;
  while (so->submitted < SHARD_JOBS) {
    struct task *t = &so->tasks[so->submitted];
    init_task(t, so->submitted % 10 == 0 ? SLEEP_1MS : QUICK);
    t->job.done = shard_done;
    t->job.arg = so;
    if (twe__pool_try_submit(so->pool, &t->job) != 0) return; /* all busy */
    so->submitted++;
  }
}

static void owner_start(twe_shard_t *shard, void *arg) {
  struct shard_owner *so = arg;
  twe_pool_options_t o = {.threads = 4, .id = 9};
  if (twe__pool_create(&o, twe__shard_waiter(shard), &so->pool) != 0) return;
  twe__shard_add_poller(shard, twe__pool_poll, so->pool);
  twe__shard_schedule(shard, &so->task);
}

static void owner_stop(twe_shard_t *shard, void *arg) {
  (void)shard;
  struct shard_owner *so = arg;
  if (!so->pool) return;
  twe__pool_stop(so->pool, 1000 * MS, 0);
  twe__pool_destroy(so->pool);
}

static void test_pool_owned_by_shard(void **state) {
  (void)state;
  static struct shard_owner so;
  memset(&so, 0, sizeof so);
  so.task.run = submit_more;
  twe_shard_options_t o = {.index = 0, .cpu = -1, .on_start = owner_start, .on_stop = owner_stop,
                           .hook_arg = &so};
  assert_int_equal(twe__shard_create(&o, &so.shard), 0);
  assert_int_equal(twe__shard_start(so.shard), 0);
  while (!atomic_load(&so.finished)) sched_yield();
  twe__shard_stop(so.shard);
  assert_int_equal(twe__shard_join(so.shard), 0);
  assert_non_null(so.pool);
  assert_int_equal(so.submitted, SHARD_JOBS);
  assert_int_equal(so.done, SHARD_JOBS);
  assert_int_equal(so.done_off_shard, 0);
  for (int i = 0; i < SHARD_JOBS; i++) {
    assert_int_equal(so.tasks[i].done_calls, 1);
    assert_int_equal(so.tasks[i].status, 0);
  }
  twe__shard_destroy(so.shard);
}

/* Elastic: min threads at create; a blocked job gets a new thread up to
 * threads; threads idle past the timeout exit down to min; a retired
 * thread's slot is reused by the next growth. */
static void test_pool_elastic_grows_and_shrinks(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 8, .min_threads = 2, .idle_timeout_ns = 50 * MS, .id = 7};
  twe_pool_t *pool;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), 0);
  assert_int_equal(twe__pool_threads(pool), 2);
  assert_int_equal(twe__pool_idle(pool), 2);
  assert_int_equal(twe__pool_capacity(pool), 8);
  atomic_store(&release_stubborn, 0);
  struct task t[9];
  for (int i = 0; i < 8; i++) {
    init_task(&t[i], UNTIL_RELEASED);
    assert_int_equal(twe__pool_try_submit(pool, &t[i].job), 0);
  }
  assert_int_equal(twe__pool_threads(pool), 8);
  assert_int_equal(twe__pool_capacity(pool), 0);
  init_task(&t[8], QUICK);
  assert_int_equal(twe__pool_try_submit(pool, &t[8].job), -EAGAIN);
  /* Every job runs at once, each on its own thread. */
  for (int i = 0; i < 8; i++)
    while (!atomic_load(&t[i].started)) sched_yield();
  for (int i = 1; i < 8; i++) assert_false(pthread_equal(t[i].ran_on, t[0].ran_on));
  atomic_store(&release_stubborn, 1);
  reap_all(pool);
  assert_int_equal(twe__pool_peak(pool), 8);
  /* Idle past the timeout: down to min, one thread per reap. */
  for (int i = 0; i < 200 && twe__pool_threads(pool) > 2; i++) {
    struct timespec ts = {0, 10 * MS};
    nanosleep(&ts, NULL);
    twe__pool_reap(pool, 64);
  }
  assert_int_equal(twe__pool_threads(pool), 2);
  assert_int_equal(twe__pool_idle(pool), 2);
  assert_int_equal(twe__pool_capacity(pool), 8);
  /* Grows again, in slots whose retired threads are gone. */
  atomic_store(&release_stubborn, 0);
  for (int i = 0; i < 6; i++) {
    init_task(&t[i], UNTIL_RELEASED);
    int r;
    /* A retired thread may not have left yet: its slot is not free. */
    for (int k = 0; (r = twe__pool_try_submit(pool, &t[i].job)) == -EAGAIN && k < 500; k++) {
      struct timespec ts = {0, 1 * MS};
      nanosleep(&ts, NULL);
    }
    assert_int_equal(r, 0);
  }
  assert_int_equal(twe__pool_threads(pool), 6);
  atomic_store(&release_stubborn, 1);
  reap_all(pool);
  for (int i = 0; i < 6; i++) assert_int_equal(t[i].done_calls, 1);
  assert_int_equal(twe__pool_stop(pool, 1000 * MS, 1000 * MS), 0);
  assert_int_equal(twe__pool_destroy(pool), 0);
}

static void test_pool_elastic_invalid_min(void **state) {
  (void)state;
  twe_pool_options_t o = {.threads = 2, .min_threads = 3};
  twe_pool_t *pool = NULL;
  assert_int_equal(twe__pool_create(&o, &owner, &pool), -EINVAL);
  assert_null(pool);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_pool_try_submit_bounded_and_done_on_owner),
    T(test_pool_create_invalid),
    T(test_pool_create_cpus),
    T(test_pool_job_cancel),
    T(test_pool_stop_within_grace),
    T(test_pool_stop_cancels_after_grace),
    T(test_pool_destroy_abandons_stubborn_job),
    T(test_pool_cancel_before_start),
    T(test_pool_create_priority_idle_default),
    T(test_pool_create_priority_nice),
    T(test_pool_create_priority_normal),
    T(test_pool_create_priority_invalid),
    T(test_pool_elastic_grows_and_shrinks),
    T(test_pool_elastic_invalid_min),
    cmocka_unit_test(test_pool_owned_by_shard),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
