/* sched/pool.c — the activity thread pool of sched/pool.h. */
#define _GNU_SOURCE /* pthread_setname_np, pthread_attr_setaffinity_np, SCHED_IDLE, gettid */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sched/cpu_group.h"
#include "sched/mailbox.h"
#include "sched/pool.h"

enum { MSG_JOB = 1, MSG_RESULT = 2 };

/* Who reports the job a worker runs: set to RUN by the owner when it hands a
 * job over; then exactly one of two compare-exchanges wins: the worker's
 * (RUN -> DONE, it will send the result) or the owner's at destroy
 * (RUN -> ABANDONED, the worker will report nothing and touch nothing of the
 * owner's again). */
enum { CLAIM_NONE = 0, CLAIM_RUN, CLAIM_DONE, CLAIM_ABANDONED };

struct worker {
  twe_waiter_t waiter; /* consumer of inbox, producer of outbox */
  twe_eventfd_loop_t loop;
  twe_mailbox_t *inbox;  /* owner -> worker: jobs */
  twe_mailbox_t *outbox; /* worker -> owner: results */
  _Atomic int claim;
  twe_pool_t *pool;
  unsigned index;
  pthread_t thread;
  /* Owner -> worker: exit once idle (the pool shrinks). Published by the
   * notify that follows it, as closing. */
  _Atomic bool retire;
  /* Worker -> owner: a retired worker's last touch of this struct (its
   * thread is detached); the owner may then reuse it. Release/acquire. */
  _Atomic bool gone;
  /* Owner-private. */
  bool started, joined, abandoned, busy, retired;
  int64_t idle_since_ns; /* when it last became idle */
  twe_job_t *job;
};

struct twe_pool {
  /* One for the owner, one per started thread; the last to drop it frees. */
  _Atomic unsigned refs;
  /* Owner -> workers: exit when idle. Published by the notify that follows
   * it (release), read after the worker's begin (acquire). */
  _Atomic bool closing;
  /* Worker threads -> anyone: the priority they got (see
   * twe__pool_priority_applied), and whether the one line about a refusal
   * was printed. Relaxed: reports, they order nothing. */
  _Atomic int priority_applied;
  _Atomic bool priority_warned, group_warned;
  twe_waiter_t *owner;
  twe_pool_options_t opt;
  /* Room for opt.threads workers; slots are filled as threads start and
   * may be reused once a retired thread is gone. */
  struct worker **workers;
  unsigned n;
  /* Owner-private. */
  unsigned min;      /* threads kept however long they idle */
  unsigned live;     /* started, not retired */
  unsigned peak;     /* the most live at once */
  unsigned hi;       /* slots [0, hi) were ever used */
  int64_t idle_timeout_ns;
  unsigned *idle;  /* stack of idle worker indices: the last to finish is the
                    * first to get work, its caches are warm */
  unsigned n_idle, n_busy;
  unsigned reap_next;
  bool stopping, stopped;
};

static void free_pool(twe_pool_t *pool) {
  for (unsigned i = 0; i < pool->n; i++) {
    struct worker *w = pool->workers[i];
    if (!w) continue;
    twe__mailbox_destroy(w->inbox);
    twe__mailbox_destroy(w->outbox);
    twe__eventfd_loop_destroy(&w->loop);
    free(w);
  }
  free(pool->workers);
  free(pool->idle);
  free(pool);
}

static void unref(twe_pool_t *pool) {
  /* acq_rel: each thread's last accesses to the pool are released to, and
   * acquired by, the one that frees it. */
  if (atomic_fetch_sub_explicit(&pool->refs, 1, memory_order_acq_rel) == 1) free_pool(pool);
}

/* Lowers the calling pool thread below its creator, as the options say.
 * Returns 0 or the errno of the refusal; *what names what was refused. */
static int lower_priority(const twe_pool_t *pool, const char **what) {
  struct sched_param sp = {.sched_priority = 0};
  if (pool->opt.priority == TWE_POOL_PRIORITY_IDLE) {
    *what = "SCHED_IDLE";
    return pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
  }
  if (pool->opt.priority != TWE_POOL_PRIORITY_NICE) return 0;
  *what = "SCHED_OTHER";
  int policy, r = pthread_getschedparam(pthread_self(), &policy, &sp);
  if (r) return r;
  if (policy == SCHED_FIFO || policy == SCHED_RR) {
    sp.sched_priority = 0;
    r = pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    if (r) return r;
  }
  /* On Linux a nice value belongs to the thread (PRIO_PROCESS with a tid).
   * Raising it back above the creator's would need privileges, and would
   * put the pool above the shard: keep the creator's if it is nicer. */
  *what = "nice";
  pid_t tid = gettid();
  int want = pool->opt.nice ? pool->opt.nice : 10;
  errno = 0;
  int now = getpriority(PRIO_PROCESS, (id_t)tid);
  if (errno == 0 && now > want) want = now;
  return setpriority(PRIO_PROCESS, (id_t)tid, want) == 0 ? 0 : errno;
}

static void apply_priority(twe_pool_t *pool) {
  const char *what = "";
  int err = lower_priority(pool, &what);
  if (!err) return;
  atomic_store_explicit(&pool->priority_applied, TWE_POOL_PRIORITY_NORMAL, memory_order_relaxed);
  if (!atomic_exchange_explicit(&pool->priority_warned, true, memory_order_relaxed))
    fprintf(stderr,
            "twe: activity pool %u: cannot lower its threads' priority (%s: %s); they run at "
            "the shard's priority\n",
            pool->opt.id, what, strerror(err));
}

/* Moves the calling pool thread into the pool's CPU group, if it has one. */
static void join_cpu_group(twe_pool_t *pool) {
  if (!pool->opt.cpu_group) return;
  int rc = twe__cpu_group_join(pool->opt.cpu_group);
  if (rc < 0 && !atomic_exchange_explicit(&pool->group_warned, true, memory_order_relaxed))
    fprintf(stderr,
            "twe: activity pool %u: cannot move its threads into %s (%s); they share the "
            "worker's CPU quota with the shard threads\n",
            pool->opt.id, twe__cpu_group_dir(pool->opt.cpu_group), strerror(-rc));
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  twe_pool_t *pool = w->pool;
  char name[16];
  snprintf(name, sizeof name, "twe-act-%u-%u", pool->opt.id, w->index);
  /* Named before it joins its CPU group (a thread in the group is known by
   * its name there), and in the group before anything else: until then it
   * uses the shard's share. */
  pthread_setname_np(pthread_self(), name);
  join_cpu_group(pool);
  apply_priority(pool);
  for (;;) {
    twe__waiter_begin(&w->waiter);
    twe_msg_t m;
    if (twe__mailbox_recv_batch_spsc(w->inbox, &m, 1) == 1) {
      twe_job_t *job = m.ptr;
      int status = 0;
      /* Relaxed: a cancel that arrives later is seen by run itself. */
      if (atomic_load_explicit(&job->cancel_requested, memory_order_relaxed))
        status = -ECANCELED;
      else
        job->run(job);
      int expected = CLAIM_RUN;
      /* acq_rel/acquire: the winner's view of the job is complete; see the
       * CLAIM_* comment. */
      if (!atomic_compare_exchange_strong_explicit(&w->claim, &expected, CLAIM_DONE,
                                                   memory_order_acq_rel, memory_order_acquire)) {
        if (job->abandoned) job->abandoned(job);
        break;
      }
      twe_msg_t r = {.type = MSG_RESULT, .ptr = job, .u64 = (uint64_t)(int64_t)status};
      twe__mailbox_send_wait_spsc(w->outbox, &r);
      continue;
    }
    if (atomic_load_explicit(&pool->closing, memory_order_relaxed)) break;
    if (atomic_load_explicit(&w->retire, memory_order_relaxed)) {
      /* Detached by the owner: nothing of w is touched after this store. */
      atomic_store_explicit(&w->gone, true, memory_order_release);
      break;
    }
    twe__waiter_park(&w->waiter, -1);
  }
  unref(pool);
  return NULL;
}

static int start_worker(twe_pool_t *pool, struct worker *w) {
  pthread_attr_t attr;
  int r = pthread_attr_init(&attr);
  if (r) return -r;
  if (pool->opt.cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c = 0; c < TWE_CPUMASK_MAX && c < CPU_SETSIZE; c++)
      if (twe__cpumask_has(pool->opt.cpus, c)) CPU_SET(c, &set);
    r = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
  }
  if (!r && pool->opt.stack_size) r = pthread_attr_setstacksize(&attr, pool->opt.stack_size);
  if (!r) {
    atomic_fetch_add_explicit(&pool->refs, 1, memory_order_relaxed);
    r = pthread_create(&w->thread, &attr, worker_main, w);
    if (r) atomic_fetch_sub_explicit(&pool->refs, 1, memory_order_relaxed);
  }
  pthread_attr_destroy(&attr);
  if (r) return -r;
  w->started = true;
  return 0;
}

static int make_worker(twe_pool_t *pool, unsigned i, struct worker **out) {
  size_t bytes = (sizeof(struct worker) + 63) & ~(size_t)63;
  struct worker *w = aligned_alloc(64, bytes);
  if (!w) return -ENOMEM;
  memset(w, 0, sizeof *w);
  w->pool = pool;
  w->index = i;
  atomic_init(&w->claim, CLAIM_NONE);
  int r = twe__eventfd_loop_init(&w->loop);
  if (r < 0) {
    free(w);
    return r;
  }
  twe__waiter_init(&w->waiter, &twe__eventfd_loop_ops, &w->loop);
  /* One job at a time each way: the owner gives a worker a job only when it
   * has its previous result back. */
  r = twe__mailbox_create(1, &w->waiter, NULL, &w->inbox);
  if (!r) r = twe__mailbox_create(1, pool->owner, &w->waiter, &w->outbox);
  *out = w; /* freed with the pool even on failure */
  return r;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void close_workers(twe_pool_t *pool) {
  /* Relaxed store: the release of each notify publishes it. */
  atomic_store_explicit(&pool->closing, true, memory_order_relaxed);
  for (unsigned i = 0; i < pool->hi; i++) {
    struct worker *w = pool->workers[i];
    if (w && w->started && !w->retired) twe__waiter_notify(&w->waiter);
  }
}

/* Joins the threads that are not running a job: they leave once closing.
 * Retired threads are detached: they leave on their own. */
static void join_idle(twe_pool_t *pool) {
  for (unsigned i = 0; i < pool->hi; i++) {
    struct worker *w = pool->workers[i];
    if (!w || !w->started || w->joined || w->abandoned || w->busy || w->retired) continue;
    pthread_join(w->thread, NULL);
    w->joined = true;
  }
}

/* Starts a thread in a free slot (never used, or its retired thread gone)
 * and makes it the top of the idle stack. Returns 0, -EAGAIN when every
 * slot is taken, or the error of making it. */
static int grow(twe_pool_t *pool) {
  unsigned i = 0;
  for (; i < pool->opt.threads; i++) {
    struct worker *w = pool->workers[i];
    if (!w) break;
    /* acquire: the gone thread's last writes to w come before ours. */
    if (w->retired && atomic_load_explicit(&w->gone, memory_order_acquire)) break;
  }
  if (i == pool->opt.threads) return -EAGAIN;
  struct worker *w = pool->workers[i];
  if (!w) {
    int r = make_worker(pool, i, &pool->workers[i]);
    w = pool->workers[i];
    if (i >= pool->hi) pool->hi = i + 1;
    if (r) return r;
  } else {
    /* Its mailboxes are empty: it retired idle. */
    w->retired = w->started = false;
    atomic_store_explicit(&w->retire, false, memory_order_relaxed);
    atomic_store_explicit(&w->gone, false, memory_order_relaxed);
  }
  int r = start_worker(pool, w);
  if (r) return r;
  w->idle_since_ns = now_ns();
  pool->idle[pool->n_idle++] = i;
  if (++pool->live > pool->peak) pool->peak = pool->live;
  return 0;
}

/* Retires the thread idle longest when it has been idle past the timeout
 * and more than min threads live. */
static void shrink(twe_pool_t *pool) {
  if (pool->live <= pool->min || pool->n_idle == 0 || pool->stopping) return;
  /* The bottom of the idle stack went idle first. */
  struct worker *w = pool->workers[pool->idle[0]];
  if (now_ns() - w->idle_since_ns < pool->idle_timeout_ns) return;
  memmove(pool->idle, pool->idle + 1, (pool->n_idle - 1) * sizeof *pool->idle);
  pool->n_idle--;
  pool->live--;
  w->retired = true;
  pthread_detach(w->thread);
  /* Relaxed: published by the notify (as closing). */
  atomic_store_explicit(&w->retire, true, memory_order_relaxed);
  twe__waiter_notify(&w->waiter);
}

int twe__pool_create(const twe_pool_options_t *options, twe_waiter_t *owner, twe_pool_t **out) {
  if (!options || !owner || !out || options->threads == 0) return -EINVAL;
  if (options->min_threads > options->threads) return -EINVAL;
  if (options->cpus && twe__cpumask_count(options->cpus) == 0) return -EINVAL;
  if (options->priority != TWE_POOL_PRIORITY_IDLE && options->priority != TWE_POOL_PRIORITY_NICE &&
      options->priority != TWE_POOL_PRIORITY_NORMAL)
    return -EINVAL;
  if (options->priority == TWE_POOL_PRIORITY_NICE && (options->nice < 0 || options->nice > 19))
    return -EINVAL;
  twe_pool_t *pool = calloc(1, sizeof *pool);
  if (!pool) return -ENOMEM;
  atomic_init(&pool->refs, 1);
  atomic_init(&pool->closing, false);
  atomic_init(&pool->priority_applied, options->priority);
  atomic_init(&pool->priority_warned, false);
  atomic_init(&pool->group_warned, false);
  pool->owner = owner;
  pool->opt = *options;
  pool->n = options->threads;
  pool->min = options->min_threads ? options->min_threads : options->threads;
  pool->idle_timeout_ns =
      options->idle_timeout_ns > 0 ? options->idle_timeout_ns : TWE_POOL_IDLE_TIMEOUT_NS;
  pool->workers = calloc(pool->n, sizeof *pool->workers);
  pool->idle = calloc(pool->n, sizeof *pool->idle);
  if (!pool->workers || !pool->idle) {
    free_pool(pool);
    return -ENOMEM;
  }
  int r = 0;
  while (pool->live < pool->min && r == 0) r = grow(pool);
  if (r) {
    close_workers(pool);
    join_idle(pool);
    unref(pool);
    return r;
  }
  /* grow pushed 0 first: the lowest index ends on top of the stack. */
  for (unsigned i = 0; i < pool->n_idle / 2; i++) {
    unsigned t = pool->idle[i];
    pool->idle[i] = pool->idle[pool->n_idle - 1 - i];
    pool->idle[pool->n_idle - 1 - i] = t;
  }
  *out = pool;
  return 0;
}

int twe__pool_try_submit(twe_pool_t *pool, twe_job_t *job) {
  if (pool->stopping) return -ESHUTDOWN;
  if (pool->n_idle == 0 && grow(pool) != 0) return -EAGAIN;
  unsigned i = pool->idle[pool->n_idle - 1];
  struct worker *w = pool->workers[i];
  atomic_store_explicit(&job->cancel_requested, 0, memory_order_relaxed);
  job->worker = i;
  /* Relaxed: the worker reads it only after it took the job message. */
  atomic_store_explicit(&w->claim, CLAIM_RUN, memory_order_relaxed);
  twe_msg_t m = {.type = MSG_JOB, .ptr = job};
  /* The inbox is empty: the worker took its last job before it sent the
   * result that made it idle. */
  if (twe__mailbox_try_send_spsc(w->inbox, &m) != 0) return -EAGAIN;
  twe__mailbox_flush_spsc(w->inbox);
  pool->n_idle--;
  pool->n_busy++;
  w->busy = true;
  w->job = job;
  return 0;
}

size_t twe__pool_reap(twe_pool_t *pool, size_t budget) {
  size_t done = 0;
  /* Round robin from where the last call stopped, so a budget smaller than
   * the number of threads cannot starve the last ones. */
  unsigned start = pool->reap_next < pool->hi ? pool->reap_next : 0;
  for (unsigned k = 0; k < pool->hi && done < budget && pool->n_busy > 0; k++) {
    unsigned i = (start + k) % pool->hi;
    struct worker *w = pool->workers[i];
    if (!w || !w->busy || w->abandoned) continue;
    twe_msg_t m;
    if (twe__mailbox_recv_batch_spsc(w->outbox, &m, 1) == 0) continue;
    twe_job_t *job = m.ptr;
    w->busy = false;
    w->job = NULL;
    w->idle_since_ns = now_ns();
    pool->n_busy--;
    pool->idle[pool->n_idle++] = i;
    done++;
    pool->reap_next = (i + 1) % pool->hi;
    job->done(job, (int)(int64_t)m.u64);
  }
  if (pool->live > pool->min) shrink(pool);
  return done;
}

size_t twe__pool_poll(void *pool, size_t budget) {
  return twe__pool_reap(pool, budget);
}

unsigned twe__pool_idle(const twe_pool_t *pool) {
  return pool->n_idle;
}

unsigned twe__pool_busy(const twe_pool_t *pool) {
  return pool->n_busy;
}

unsigned twe__pool_capacity(const twe_pool_t *pool) {
  return pool->stopping ? 0 : pool->n_idle + (pool->opt.threads - pool->n_busy - pool->n_idle);
}

unsigned twe__pool_threads(const twe_pool_t *pool) {
  return pool->live;
}

unsigned twe__pool_peak(const twe_pool_t *pool) {
  return pool->peak;
}

int twe__pool_priority_applied(const twe_pool_t *pool) {
  return atomic_load_explicit(&pool->priority_applied, memory_order_relaxed);
}

void twe__job_cancel(twe_job_t *job) {
  /* Relaxed: a request, read by polling; it carries no data. */
  atomic_store_explicit(&job->cancel_requested, 1, memory_order_relaxed);
}

bool twe__job_cancelled(const twe_job_t *job) {
  return atomic_load_explicit(&job->cancel_requested, memory_order_relaxed) != 0;
}

/* Reaps until nothing runs or the deadline passes, sleeping in the owner's
 * loop meanwhile. Sets *consumed if it took notifications from the owner's
 * waiter (they are handed back by the caller). */
static bool wait_idle(twe_pool_t *pool, int64_t deadline, bool *consumed) {
  for (;;) {
    *consumed |= twe__waiter_begin(pool->owner);
    twe__pool_reap(pool, pool->n);
    if (pool->n_busy == 0) return true;
    int64_t now = now_ns();
    if (now >= deadline) return false;
    twe__waiter_park(pool->owner, deadline - now);
  }
}

/* Like wait_idle but for one worker whose result is on its way (no user
 * code left to wait for): no deadline. */
static void wait_result(twe_pool_t *pool, struct worker *w, bool *consumed) {
  while (w->busy) {
    *consumed |= twe__waiter_begin(pool->owner);
    twe__pool_reap(pool, pool->n);
    if (w->busy) twe__waiter_park(pool->owner, -1);
  }
}

int twe__pool_stop(twe_pool_t *pool, int64_t grace_ns, int64_t cancel_wait_ns) {
  bool consumed = false;
  pool->stopping = true;
  if (!wait_idle(pool, now_ns() + (grace_ns > 0 ? grace_ns : 0), &consumed)) {
    for (unsigned i = 0; i < pool->hi; i++)
      if (pool->workers[i] && pool->workers[i]->busy) twe__job_cancel(pool->workers[i]->job);
    wait_idle(pool, now_ns() + (cancel_wait_ns > 0 ? cancel_wait_ns : 0), &consumed);
  }
  close_workers(pool);
  join_idle(pool);
  pool->stopped = true;
  /* The owner may be in the middle of its own round: give back what we took
   * (it is running, so this only marks the waiter NOTIFIED). */
  if (consumed) twe__waiter_notify(pool->owner);
  return pool->n_busy ? -ETIMEDOUT : 0;
}

unsigned twe__pool_destroy(twe_pool_t *pool) {
  if (!pool) return 0;
  if (!pool->stopped) twe__pool_stop(pool, 0, 0);
  unsigned abandoned = 0;
  bool consumed = false;
  for (unsigned i = 0; i < pool->hi; i++) {
    struct worker *w = pool->workers[i];
    if (!w || !w->busy) continue;
    int expected = CLAIM_RUN;
    if (atomic_compare_exchange_strong_explicit(&w->claim, &expected, CLAIM_ABANDONED,
                                                memory_order_acq_rel, memory_order_acquire)) {
      w->abandoned = true;
      pthread_detach(w->thread);
      abandoned++;
    } else {
      /* It finished after all: its result is being sent. */
      wait_result(pool, w, &consumed);
    }
  }
  join_idle(pool);
  if (consumed) twe__waiter_notify(pool->owner);
  unref(pool);
  return abandoned;
}
