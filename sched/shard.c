/* sched/shard.c — the shard thread of sched/shard.h: its loop, pollers, run
 * queue and blocked outboxes. */
#define _GNU_SOURCE /* pthread_setname_np, pthread_attr_setaffinity_np, CPU_* */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/shard.h"

#define DEFAULT_BATCH 64

struct poller {
  twe_shard_poll_cb cb; /* a plain poller, or */
  void *arg;
  twe_mailbox_t *mb;    /* an inbox: drained into msgbuf and handed to inbox_cb */
  twe_inbox_cb inbox_cb;
};

struct twe_shard {
  /* Producers touch only the waiter and the stop flag. */
  twe_waiter_t waiter;
  _Atomic bool stop;

  /* Shard-private (or before start). */
  twe_shard_options_t opt;
  twe_eventfd_loop_t default_loop;
  struct poller *pollers;
  size_t n_pollers, cap_pollers;
  twe_msg_t *msgbuf;            /* opt.batch messages */
  twe_task_t *runq_head, *runq_tail;
  size_t runq_len;
  twe_mailbox_t *blocked;       /* outboxes waiting for room */
  uint64_t rounds;
  /* The thread running the loop. A replacement (twe__shard_replace_thread)
   * swaps it under thread_lock; finished (set by whichever thread ends the
   * loop) tells twe__shard_join which thread to join. */
  pthread_mutex_t thread_lock;
  pthread_cond_t finished_cond;
  pthread_t thread;
  bool finished;
  bool started, joined;
};

/* What a replacement thread starts with. */
struct takeover {
  twe_shard_t *shard;
  twe_shard_hook_cb hook;
  void *arg;
};

static _Thread_local twe_shard_t *current_shard;

int twe__shard_create(const twe_shard_options_t *options, twe_shard_t **out) {
  if (!options || !out || options->cpu < -1) return -EINVAL;
  size_t bytes = (sizeof(twe_shard_t) + 63) & ~(size_t)63;
  twe_shard_t *s = aligned_alloc(64, bytes);
  if (!s) return -ENOMEM;
  memset(s, 0, sizeof *s);
  s->opt = *options;
  if (s->opt.batch == 0) s->opt.batch = DEFAULT_BATCH;
  s->default_loop.fd = -1;
  s->msgbuf = calloc(s->opt.batch, sizeof *s->msgbuf);
  if (!s->msgbuf) {
    free(s);
    return -ENOMEM;
  }
  if (!s->opt.loop_ops) {
    int r = twe__eventfd_loop_init(&s->default_loop);
    if (r < 0) {
      free(s->msgbuf);
      free(s);
      return r;
    }
    s->opt.loop_ops = &twe__eventfd_loop_ops;
    s->opt.loop_ctx = &s->default_loop;
  }
  twe__waiter_init(&s->waiter, s->opt.loop_ops, s->opt.loop_ctx);
  atomic_init(&s->stop, false);
  pthread_mutex_init(&s->thread_lock, NULL);
  pthread_condattr_t ca; /* monotonic: twe__shard_join_until's deadline */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->finished_cond, &ca);
  pthread_condattr_destroy(&ca);
  *out = s;
  return 0;
}

static int add_poller(twe_shard_t *s, const struct poller *p) {
  if (s->n_pollers == s->cap_pollers) {
    size_t cap = s->cap_pollers ? 2 * s->cap_pollers : 4;
    struct poller *np = realloc(s->pollers, cap * sizeof *np);
    if (!np) return -ENOMEM;
    s->pollers = np;
    s->cap_pollers = cap;
  }
  s->pollers[s->n_pollers++] = *p;
  return 0;
}

int twe__shard_add_poller(twe_shard_t *shard, twe_shard_poll_cb cb, void *arg) {
  if (!cb) return -EINVAL;
  return add_poller(shard, &(struct poller){.cb = cb, .arg = arg});
}

int twe__shard_add_inbox_spsc(twe_shard_t *shard, twe_mailbox_t *mb, twe_inbox_cb cb,
                              void *arg) {
  if (!mb || !cb || mb->consumer != &shard->waiter) return -EINVAL;
  return add_poller(shard, &(struct poller){.mb = mb, .inbox_cb = cb, .arg = arg});
}

twe_waiter_t *twe__shard_waiter(twe_shard_t *shard) {
  return &shard->waiter;
}

void twe__shard_set_loop(twe_shard_t *shard, const twe_shard_loop_ops_t *ops, void *ctx) {
  twe__waiter_set_loop(&shard->waiter, ops, ctx);
}

twe_shard_t *twe__shard_self(void) {
  return current_shard;
}

unsigned twe__shard_index(const twe_shard_t *shard) {
  return shard->opt.index;
}

uint64_t twe__shard_rounds(const twe_shard_t *shard) {
  return shard->rounds;
}

uint64_t twe__shard_sleeps(const twe_shard_t *shard) {
  return shard->waiter.sleeps;
}

void twe__shard_schedule(twe_shard_t *shard, twe_task_t *task) {
  if (task->queued) return;
  task->queued = true;
  task->next = NULL;
  if (shard->runq_tail)
    shard->runq_tail->next = task;
  else
    shard->runq_head = task;
  shard->runq_tail = task;
  shard->runq_len++;
}

int twe__shard_wait_space_spsc(twe_shard_t *shard, twe_mailbox_t *mb, twe_task_t *task) {
  if (!mb || !task || mb->producer != &shard->waiter) return -EINVAL;
  if (mb->blocked_task) return -EALREADY;
  if (twe__mailbox_want_space_spsc(mb) == 0) {
    /* Room appeared meanwhile: no need to wait for a notification. */
    twe__shard_schedule(shard, task);
    return 0;
  }
  mb->blocked_task = task;
  mb->blocked_next = shard->blocked;
  shard->blocked = mb;
  return 0;
}

/* Outboxes with room again get their task scheduled. A consumer that frees
 * room notifies our waiter (want_space), so a round always follows. */
static void check_blocked(twe_shard_t *s) {
  twe_mailbox_t **pp = &s->blocked;
  while (*pp) {
    twe_mailbox_t *mb = *pp;
    if (twe__mailbox_full_spsc(mb)) {
      /* Still full: ask again (the consumer took the flag when it last
       * notified us, or we were woken for something else). */
      if (twe__mailbox_want_space_spsc(mb) == -EAGAIN) {
        pp = &mb->blocked_next;
        continue;
      }
    }
    *pp = mb->blocked_next;
    twe_task_t *task = mb->blocked_task;
    mb->blocked_task = NULL;
    mb->blocked_next = NULL;
    twe__shard_schedule(s, task);
  }
}

/* Runs the pollers once. Returns true if any of them may have more. */
static bool run_pollers(twe_shard_t *s) {
  bool more = false;
  /* By index: a callback may add pollers (and move the array). */
  for (size_t i = 0; i < s->n_pollers; i++) {
    struct poller p = s->pollers[i];
    size_t n;
    if (p.mb) {
      n = twe__mailbox_recv_batch_spsc(p.mb, s->msgbuf, s->opt.batch);
      if (n) p.inbox_cb(p.arg, s->msgbuf, n);
    } else {
      n = p.cb(p.arg, s->opt.batch);
    }
    if (n >= s->opt.batch) more = true;
  }
  return more;
}

/* Runs the tasks that were queued when the round started; tasks they queue
 * wait for the next round, so pollers and I/O get their turn in between. */
static void run_tasks(twe_shard_t *s) {
  size_t n = s->runq_len;
  while (n-- > 0) {
    twe_task_t *t = s->runq_head;
    s->runq_head = t->next;
    if (!s->runq_head) s->runq_tail = NULL;
    s->runq_len--;
    t->next = NULL;
    t->queued = false;
    t->run(t);
  }
}

/* The loop, on whichever thread runs the shard: its first thread after
 * on_start, or a replacement after its takeover hook. */
static void run_loop(twe_shard_t *s) {
  for (;;) {
    /* begin() before the stop check: a stop notified after this point makes
     * the park below return at once, one notified before it is visible here
     * (acquire in begin, release in twe__shard_stop's notify). */
    twe__waiter_begin(&s->waiter);
    if (atomic_load_explicit(&s->stop, memory_order_relaxed)) break;
    s->rounds++;
    bool more = run_pollers(s);
    if (s->blocked) check_blocked(s);
    run_tasks(s);
    if (more || s->runq_len > 0)
      s->waiter.ops->run_once(s->waiter.ctx, 0);
    else
      twe__waiter_park(&s->waiter, -1);
  }
  if (s->opt.on_stop) s->opt.on_stop(s, s->opt.hook_arg);
  current_shard = NULL;
  pthread_mutex_lock(&s->thread_lock);
  s->finished = true;
  pthread_cond_broadcast(&s->finished_cond);
  pthread_mutex_unlock(&s->thread_lock);
}

static void name_thread(const twe_shard_t *s) {
  char name[16];
  snprintf(name, sizeof name, "twe-shard-%u", s->opt.index);
  pthread_setname_np(pthread_self(), name);
}

static void *shard_main(void *arg) {
  twe_shard_t *s = arg;
  current_shard = s;
  name_thread(s);
  if (s->opt.on_start) s->opt.on_start(s, s->opt.hook_arg);
  run_loop(s);
  return NULL;
}

static void *takeover_main(void *arg) {
  struct takeover t = *(struct takeover *)arg;
  free(arg);
  current_shard = t.shard;
  name_thread(t.shard);
  if (t.hook) t.hook(t.shard, t.arg);
  run_loop(t.shard);
  return NULL;
}

/* Creates a thread for the shard, pinned like its first. */
static int create_thread(twe_shard_t *shard, void *(*fn)(void *), void *arg, pthread_t *out) {
  pthread_attr_t attr;
  int r = pthread_attr_init(&attr);
  if (r) return -r;
  cpu_set_t *set = NULL;
  if (shard->opt.cpu >= 0) {
    int ncpu = shard->opt.cpu + 1;
    set = CPU_ALLOC(ncpu);
    if (!set) {
      pthread_attr_destroy(&attr);
      return -ENOMEM;
    }
    size_t sz = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(sz, set);
    CPU_SET_S((size_t)shard->opt.cpu, sz, set);
    r = pthread_attr_setaffinity_np(&attr, sz, set);
  }
  if (!r) r = pthread_create(out, &attr, fn, arg);
  if (set) CPU_FREE(set);
  pthread_attr_destroy(&attr);
  return -r;
}

int twe__shard_replace_thread(twe_shard_t *shard, twe_shard_hook_cb on_takeover, void *arg,
                              pthread_t *old) {
  struct takeover *t = malloc(sizeof *t);
  if (!t) return -ENOMEM;
  *t = (struct takeover){shard, on_takeover, arg};
  pthread_mutex_lock(&shard->thread_lock);
  pthread_t previous = shard->thread, next;
  int r = create_thread(shard, takeover_main, t, &next);
  if (r == 0) {
    shard->thread = next;
    if (old) *old = previous;
  }
  pthread_mutex_unlock(&shard->thread_lock);
  if (r) free(t);
  return r;
}

int twe__shard_start(twe_shard_t *shard) {
  if (shard->started) return -EALREADY;
  pthread_mutex_lock(&shard->thread_lock);
  int r = create_thread(shard, shard_main, shard, &shard->thread);
  pthread_mutex_unlock(&shard->thread_lock);
  if (r) return r;
  shard->started = true;
  return 0;
}

void twe__shard_stop(twe_shard_t *shard) {
  /* Relaxed: the release of the notify below publishes it to the begin()
   * that precedes the shard's check. */
  atomic_store_explicit(&shard->stop, true, memory_order_relaxed);
  twe__waiter_notify(&shard->waiter);
}

int twe__shard_join(twe_shard_t *shard) {
  return twe__shard_join_until(shard, -1);
}

int twe__shard_join_until(twe_shard_t *shard, int64_t deadline_ns) {
  if (!shard->started || shard->joined) return 0;
  if (current_shard == shard) return -EDEADLK;
  /* Join the thread that ended the loop: a retired thread (replaced) is
   * its replacer's to join, and may never end. */
  struct timespec until = {(time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000)};
  pthread_mutex_lock(&shard->thread_lock);
  while (!shard->finished) {
    if (deadline_ns < 0) {
      pthread_cond_wait(&shard->finished_cond, &shard->thread_lock);
    } else if (pthread_cond_timedwait(&shard->finished_cond, &shard->thread_lock, &until) ==
               ETIMEDOUT) {
      pthread_mutex_unlock(&shard->thread_lock);
      return -ETIMEDOUT;
    }
  }
  pthread_t t = shard->thread;
  pthread_mutex_unlock(&shard->thread_lock);
  int r = pthread_join(t, NULL);
  if (r) return -r;
  shard->joined = true;
  return 0;
}

void twe__shard_destroy(twe_shard_t *shard) {
  if (!shard) return;
  if (shard->default_loop.fd >= 0) twe__eventfd_loop_destroy(&shard->default_loop);
  free(shard->pollers);
  free(shard->msgbuf);
  pthread_cond_destroy(&shard->finished_cond);
  pthread_mutex_destroy(&shard->thread_lock);
  free(shard);
}
