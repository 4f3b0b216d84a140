/* bench/mailbox_bench.c — how fast messages cross between two pinned
 * threads: the sched/ mailbox (ck_ring SPSC, coalesced wake-ups) beside a
 * bounded queue behind a mutex and two condition variables, in the same run,
 * with the same capacity and batch sizes.
 *
 *   mailbox_bench [messages [capacity...]]   (defaults: 10000000; 1023 4095)
 *
 * The mailbox rounds a capacity up to a power of two minus one; the queue
 * gets the mailbox's actual capacity, so both hold the same number.
 *
 * The producer runs on the first CPU of the affinity mask, the consumer on
 * the second; both block when they must (empty or full), neither spins. Both
 * carry the same 24-byte twe_msg_t, with a sequence number the consumer
 * checks. Prints a Markdown
 * table: messages/second, nanoseconds/message, and how often the consumer
 * slept and had to be woken. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_* */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/loop.h"
#include "sched/mailbox.h"
#include "sched/waiter.h"

static uint64_t n_messages = 10000000;
static size_t capacity; /* of the current rows */
static int cpu_producer = -1, cpu_consumer = -1;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void die(const char *what, int err) {
  fprintf(stderr, "mailbox_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
  exit(1);
}

struct result {
  double seconds;
  uint64_t sleeps; /* consumer went to sleep */
  uint64_t wakes;  /* producer had to wake it */
  uint64_t full;   /* producer found the queue full */
};

/* --- the mailbox ------------------------------------------------------------- */

struct mb_run {
  twe_mailbox_t *mb;
  twe_waiter_t *consumer, *producer;
  size_t batch;
  _Atomic int ready;
  int64_t start, end;
  uint64_t bad;
};

static void *mb_producer(void *arg) {
  struct mb_run *r = arg;
  pin(cpu_producer);
  atomic_fetch_add(&r->ready, 1);
  while (atomic_load(&r->ready) < 2) {
  }
  r->start = now_ns();
  uint64_t seq = 0;
  twe_msg_t batch[64];
  while (seq < n_messages) {
    size_t b = r->batch;
    if (b > n_messages - seq) b = (size_t)(n_messages - seq);
    for (size_t i = 0; i < b; i++) batch[i] = (twe_msg_t){.type = 1, .u64 = seq + i};
    /* One publish and at most one wake-up for the batch; what does not fit
     * waits for room. */
    size_t sent = twe__mailbox_try_send_batch_spsc(r->mb, batch, b);
    for (size_t i = sent; i < b; i++) twe__mailbox_send_wait_spsc(r->mb, &batch[i]);
    seq += b;
  }
  return NULL;
}

static void *mb_consumer(void *arg) {
  struct mb_run *r = arg;
  pin(cpu_consumer);
  atomic_fetch_add(&r->ready, 1);
  while (atomic_load(&r->ready) < 2) {
  }
  twe_msg_t buf[256];
  uint64_t expect = 0;
  while (expect < n_messages) {
    twe__waiter_begin(r->consumer);
    size_t n = twe__mailbox_recv_batch_spsc(r->mb, buf, 256);
    for (size_t i = 0; i < n; i++, expect++)
      if (buf[i].u64 != expect) r->bad++;
    if (n == 0) twe__waiter_park(r->consumer, -1);
  }
  r->end = now_ns();
  return NULL;
}

static struct result run_mailbox(size_t batch) {
  twe_eventfd_loop_t lc, lp;
  twe_waiter_t wc, wp;
  int e;
  if ((e = twe__eventfd_loop_init(&lc)) || (e = twe__eventfd_loop_init(&lp))) die("eventfd", e);
  twe__waiter_init(&wc, &twe__eventfd_loop_ops, &lc);
  twe__waiter_init(&wp, &twe__eventfd_loop_ops, &lp);
  struct mb_run r = {.consumer = &wc, .producer = &wp, .batch = batch};
  if ((e = twe__mailbox_create(capacity, &wc, &wp, &r.mb))) die("mailbox", e);
  pthread_t tp, tc;
  pthread_create(&tc, NULL, mb_consumer, &r);
  pthread_create(&tp, NULL, mb_producer, &r);
  pthread_join(tp, NULL);
  pthread_join(tc, NULL);
  if (r.bad) die("messages out of order", EPROTO);
  struct result res = {(double)(r.end - r.start) / 1e9, wc.sleeps, atomic_load(&wc.wakes),
                       r.mb->full_hits};
  twe__mailbox_destroy(r.mb);
  twe__eventfd_loop_destroy(&lc);
  twe__eventfd_loop_destroy(&lp);
  return res;
}

/* --- mutex + condition variables ---------------------------------------------- */

struct cv_queue {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  twe_msg_t *ring; /* the same 24-byte messages as the mailbox */
  size_t cap, head, len;
  bool consumer_waiting, producer_waiting;
  uint64_t sleeps, wakes, full;
};

struct cv_run {
  struct cv_queue q;
  size_t batch;
  _Atomic int ready;
  int64_t start, end;
  uint64_t bad;
};

static void *cv_producer(void *arg) {
  struct cv_run *r = arg;
  struct cv_queue *q = &r->q;
  pin(cpu_producer);
  atomic_fetch_add(&r->ready, 1);
  while (atomic_load(&r->ready) < 2) {
  }
  r->start = now_ns();
  uint64_t seq = 0;
  while (seq < n_messages) {
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < r->batch && seq < n_messages; i++, seq++) {
      while (q->len == q->cap) {
        q->full++;
        if (q->consumer_waiting) {
          q->consumer_waiting = false;
          q->wakes++;
          pthread_cond_signal(&q->not_empty);
        }
        q->producer_waiting = true;
        pthread_cond_wait(&q->not_full, &q->lock);
      }
      q->producer_waiting = false;
      q->ring[(q->head + q->len++) % q->cap] = (twe_msg_t){.type = 1, .u64 = seq};
    }
    /* One signal per batch, and only to a consumer that waits and has not
     * been signalled yet: the same coalescing the mailbox does. */
    if (q->consumer_waiting) {
      q->consumer_waiting = false;
      q->wakes++;
      pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
  }
  return NULL;
}

static void *cv_consumer(void *arg) {
  struct cv_run *r = arg;
  struct cv_queue *q = &r->q;
  pin(cpu_consumer);
  atomic_fetch_add(&r->ready, 1);
  while (atomic_load(&r->ready) < 2) {
  }
  twe_msg_t buf[256];
  uint64_t expect = 0;
  while (expect < n_messages) {
    pthread_mutex_lock(&q->lock);
    while (q->len == 0) {
      q->sleeps++;
      q->consumer_waiting = true;
      pthread_cond_wait(&q->not_empty, &q->lock);
    }
    q->consumer_waiting = false;
    size_t n = q->len < 256 ? q->len : 256;
    for (size_t i = 0; i < n; i++) buf[i] = q->ring[(q->head + i) % q->cap];
    q->head = (q->head + n) % q->cap;
    q->len -= n;
    if (q->producer_waiting) {
      q->producer_waiting = false;
      pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < n; i++, expect++)
      if (buf[i].u64 != expect) r->bad++;
  }
  r->end = now_ns();
  return NULL;
}

static struct result run_condvar(size_t batch) {
  struct cv_run r = {.batch = batch};
  pthread_mutex_init(&r.q.lock, NULL);
  pthread_cond_init(&r.q.not_empty, NULL);
  pthread_cond_init(&r.q.not_full, NULL);
  r.q.cap = capacity;
  r.q.ring = calloc(capacity, sizeof *r.q.ring);
  if (!r.q.ring) die("calloc", ENOMEM);
  pthread_t tp, tc;
  pthread_create(&tc, NULL, cv_consumer, &r);
  pthread_create(&tp, NULL, cv_producer, &r);
  pthread_join(tp, NULL);
  pthread_join(tc, NULL);
  if (r.bad) die("messages out of order", EPROTO);
  struct result res = {(double)(r.end - r.start) / 1e9, r.q.sleeps, r.q.wakes, r.q.full};
  free(r.q.ring);
  pthread_mutex_destroy(&r.q.lock);
  pthread_cond_destroy(&r.q.not_empty);
  pthread_cond_destroy(&r.q.not_full);
  return res;
}

/* ------------------------------------------------------------------------------ */

static void row(const char *name, size_t batch, struct result r) {
  double rate = (double)n_messages / r.seconds;
  printf("| %-28s | %8zu | %5zu | %7.3f | %12.0f | %7.1f | %9llu | %9llu | %9llu |\n", name,
         capacity, batch, r.seconds, rate, r.seconds * 1e9 / (double)n_messages,
         (unsigned long long)r.sleeps, (unsigned long long)r.wakes, (unsigned long long)r.full);
  fflush(stdout);
}

/* The mailbox's real capacity for a requested one. */
static size_t mailbox_capacity(size_t want) {
  twe_waiter_t w;
  twe_mailbox_t *mb;
  twe__waiter_init(&w, NULL, NULL);
  int e = twe__mailbox_create(want, &w, NULL, &mb);
  if (e) die("mailbox", e);
  size_t got = twe__mailbox_capacity(mb);
  twe__mailbox_destroy(mb);
  return got;
}

int main(int argc, char **argv) {
  if (argc > 1) n_messages = strtoull(argv[1], NULL, 10);
  size_t caps[16] = {1023, 4095};
  size_t n_caps = 2;
  if (argc > 2) {
    n_caps = 0;
    for (int i = 2; i < argc && n_caps < 16; i++) caps[n_caps++] = strtoull(argv[i], NULL, 10);
  }
  bool ok = n_messages > 0 && n_caps > 0;
  for (size_t i = 0; i < n_caps; i++)
    if (caps[i] == 0) ok = false;
  if (!ok) {
    fprintf(stderr, "usage: %s [messages [capacity...]]\n", argv[0]);
    return 2;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; c++) {
      if (!CPU_ISSET(c, &set)) continue;
      if (cpu_producer < 0)
        cpu_producer = c;
      else if (cpu_consumer < 0)
        cpu_consumer = c;
    }
  }
  if (cpu_consumer < 0) cpu_producer = -1; /* one CPU: do not pin both to it */
  printf("mailbox_bench: %llu messages per row, producer on CPU %d, consumer on CPU %d\n\n",
         (unsigned long long)n_messages, cpu_producer, cpu_consumer);
  printf("| %-28s | %8s | %5s | %7s | %12s | %7s | %9s | %9s | %9s |\n", "queue", "capacity",
         "batch", "seconds", "messages/s", "ns/msg", "sleeps", "wakes", "full");
  printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------", "---------:",
         "------:", "--------:", "-------------:", "--------:", "----------:", "----------:",
         "----------:");
  static const size_t batches[] = {1, 64};
  for (size_t c = 0; c < n_caps; c++) {
    capacity = mailbox_capacity(caps[c]);
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
      row("twe mailbox (ck_ring SPSC)", batches[i], run_mailbox(batches[i]));
      row("mutex + condvar queue", batches[i], run_condvar(batches[i]));
    }
  }
  return 0;
}
