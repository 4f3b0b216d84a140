/* tests/sched/test_mailbox.c — the SPSC mailbox: capacity, FIFO, batches
 * with one wake-up, back-pressure (want_space, send_wait), ownership of what
 * messages carry; and the stress test (label tsan): millions of messages from
 * two pinned producers to a pinned consumer through small rings, every one
 * delivered exactly once and in order, none lost when a ring is full.
 *
 * TWE_STRESS_MESSAGES sets the messages per producer (default 2000000). */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_* */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "sched/loop.h"
#include "sched/mailbox.h"
#include "sched/waiter.h"

/* A loop that never blocks and counts wakes: to watch coalescing from one
 * thread. */
struct fake_loop {
  _Atomic int wakes;
};
static int fake_run_once(void *ctx, int64_t t) {
  (void)ctx;
  (void)t;
  return 0;
}
static void fake_wake(void *ctx) {
  atomic_fetch_add(&((struct fake_loop *)ctx)->wakes, 1);
}
static const twe_shard_loop_ops_t fake_ops = {fake_run_once, fake_wake};

static twe_msg_t msg(uint64_t v) {
  return (twe_msg_t){.type = 1, .u64 = v};
}

static void test_mailbox_create_capacity(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe_mailbox_t *mb;
  assert_int_equal(twe__mailbox_create(0, &w, NULL, &mb), -EINVAL);
  assert_int_equal(twe__mailbox_create(4, NULL, NULL, &mb), -EINVAL);
  static const size_t want[][2] = {{1, 1}, {2, 3}, {3, 3}, {5, 7}, {1000, 1023}, {1023, 1023}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_int_equal(twe__mailbox_create(want[i][0], &w, NULL, &mb), 0);
    assert_int_equal(twe__mailbox_capacity(mb), want[i][1]);
    twe__mailbox_destroy(mb);
  }
}

/* Fills to capacity, refuses one more, hands them back in order. */
static void test_mailbox_try_send_spsc_fifo_and_full(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe_mailbox_t *mb;
  assert_int_equal(twe__mailbox_create(7, &w, NULL, &mb), 0);
  assert_true(twe__mailbox_empty_spsc(mb));
  for (uint64_t i = 0; i < 7; i++) {
    twe_msg_t m = msg(i);
    assert_int_equal(twe__mailbox_try_send_spsc(mb, &m), 0);
  }
  twe_msg_t extra = msg(99);
  assert_true(twe__mailbox_full_spsc(mb));
  assert_int_equal(twe__mailbox_try_send_spsc(mb, &extra), -EAGAIN);
  assert_int_equal(mb->full_hits, 1);
  twe_msg_t out[16];
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out, 3), 3);
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out + 3, 16), 4);
  for (uint64_t i = 0; i < 7; i++) assert_int_equal(out[i].u64, i);
  assert_true(twe__mailbox_empty_spsc(mb));
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out, 16), 0);
  /* Wraps around the ring correctly. */
  for (uint64_t round = 0; round < 50; round++) {
    for (uint64_t i = 0; i < 5; i++) {
      twe_msg_t m = msg(round * 5 + i);
      assert_int_equal(twe__mailbox_try_send_spsc(mb, &m), 0);
    }
    assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out, 16), 5);
    for (uint64_t i = 0; i < 5; i++) assert_int_equal(out[i].u64, round * 5 + i);
  }
  assert_int_equal(mb->sent, 7 + 250);
  assert_int_equal(mb->received, 7 + 250);
  twe__mailbox_destroy(mb);
}

/* One wake-up per batch, and only when the consumer sleeps: try_send alone
 * notifies nobody; flush notifies once; further batches to a consumer that
 * has not woken yet cost no wake. */
static void test_mailbox_flush_spsc_one_wake_per_batch(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe_mailbox_t *mb;
  assert_int_equal(twe__mailbox_create(64, &w, NULL, &mb), 0);
  /* The consumer goes to sleep (the fake loop leaves it SLEEPING). */
  twe__waiter_begin(&w);
  twe__waiter_park(&w, -1);
  for (uint64_t i = 0; i < 10; i++) {
    twe_msg_t m = msg(i);
    twe__mailbox_try_send_spsc(mb, &m);
  }
  assert_int_equal(atomic_load(&l.wakes), 0);
  twe__mailbox_flush_spsc(mb);
  assert_int_equal(atomic_load(&l.wakes), 1);
  twe__mailbox_flush_spsc(mb); /* nothing new: no-op */
  twe_msg_t batch[8];
  for (int i = 0; i < 8; i++) batch[i] = msg(10 + (uint64_t)i);
  assert_int_equal(twe__mailbox_try_send_batch_spsc(mb, batch, 8), 8);
  assert_int_equal(atomic_load(&l.wakes), 1);
  /* The consumer wakes, drains, sleeps again: the next batch wakes it. */
  assert_true(twe__waiter_begin(&w));
  twe_msg_t out[64];
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out, 64), 18);
  twe__waiter_park(&w, -1);
  assert_int_equal(twe__mailbox_try_send_batch_spsc(mb, batch, 8), 8);
  assert_int_equal(atomic_load(&l.wakes), 2);
  twe__mailbox_destroy(mb);
}

/* A batch larger than the room: the prefix that fits goes, in order. */
static void test_mailbox_try_send_batch_spsc_partial(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe_mailbox_t *mb;
  assert_int_equal(twe__mailbox_create(3, &w, NULL, &mb), 0);
  twe_msg_t batch[5];
  for (int i = 0; i < 5; i++) batch[i] = msg((uint64_t)i);
  assert_int_equal(twe__mailbox_try_send_batch_spsc(mb, batch, 5), 3);
  assert_int_equal(twe__waiter_begin(&w), true);
  twe_msg_t out[5];
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out, 5), 3);
  assert_int_equal(twe__mailbox_try_send_batch_spsc(mb, batch + 3, 2), 2);
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out + 3, 5), 2);
  for (uint64_t i = 0; i < 5; i++) assert_int_equal(out[i].u64, i);
  twe__mailbox_destroy(mb);
}

/* A producer that cannot block asks for room and is notified when the
 * consumer takes something. */
static void test_mailbox_want_space_spsc_notifies_producer(void **state) {
  (void)state;
  struct fake_loop lc = {0}, lp = {0};
  twe_waiter_t wc, wp;
  twe__waiter_init(&wc, &fake_ops, &lc);
  twe__waiter_init(&wp, &fake_ops, &lp);
  twe_mailbox_t *mb, *no_producer;
  assert_int_equal(twe__mailbox_create(1, &wc, &wp, &mb), 0);
  assert_int_equal(twe__mailbox_create(1, &wc, NULL, &no_producer), 0);
  assert_int_equal(twe__mailbox_want_space_spsc(no_producer), -EINVAL);
  /* Room now: no need to wait. */
  assert_int_equal(twe__mailbox_want_space_spsc(mb), 0);
  twe_msg_t m = msg(1);
  assert_int_equal(twe__mailbox_try_send_spsc(mb, &m), 0);
  assert_int_equal(twe__mailbox_try_send_spsc(mb, &m), -EAGAIN);
  /* The producer sleeps after asking. */
  twe__waiter_begin(&wp);
  assert_int_equal(twe__mailbox_want_space_spsc(mb), -EAGAIN);
  twe__waiter_park(&wp, -1);
  /* want_space flushed the pending send: the consumer was told. */
  assert_true(twe__waiter_begin(&wc));
  twe_msg_t out;
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, &out, 1), 1);
  assert_int_equal(atomic_load(&lp.wakes), 1);
  assert_true(twe__waiter_begin(&wp));
  /* Taken once: the next receive does not notify again. */
  assert_int_equal(twe__mailbox_try_send_spsc(mb, &m), 0);
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, &out, 1), 1);
  assert_false(twe__waiter_begin(&wp));
  twe__mailbox_destroy(mb);
  twe__mailbox_destroy(no_producer);
}

/* send_wait blocks on a full mailbox until the consumer (another thread)
 * takes a message, and leaves its caller's own notifications in place. */
struct blocked_producer {
  twe_mailbox_t *mb;
  twe_waiter_t *w;
  _Atomic int done;
  int r1, r2;
};

/* Thread: no cmocka asserts here (they would jump across threads). */
static void *send_two(void *arg) {
  struct blocked_producer *p = arg;
  twe_msg_t a = msg(1), b = msg(2);
  p->r1 = twe__mailbox_send_wait_spsc(p->mb, &a);
  p->r2 = twe__mailbox_send_wait_spsc(p->mb, &b);
  atomic_store(&p->done, 1);
  return NULL;
}

static void test_mailbox_send_wait_spsc_blocks_until_room(void **state) {
  (void)state;
  twe_eventfd_loop_t lc, lp;
  assert_int_equal(twe__eventfd_loop_init(&lc), 0);
  assert_int_equal(twe__eventfd_loop_init(&lp), 0);
  twe_waiter_t wc, wp;
  twe__waiter_init(&wc, &twe__eventfd_loop_ops, &lc);
  twe__waiter_init(&wp, &twe__eventfd_loop_ops, &lp);
  struct blocked_producer p = {.w = &wp};
  assert_int_equal(twe__mailbox_create(1, &wc, &wp, &p.mb), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, send_two, &p), 0);
  /* Wait until the producer sleeps on the full mailbox. */
  while (atomic_load(&wp.state) != TWE_WAITER_SLEEPING) sched_yield();
  assert_int_equal(atomic_load(&p.done), 0);
  twe_msg_t out;
  uint64_t got[2];
  size_t n = 0;
  while (n < 2) {
    twe__waiter_begin(&wc);
    if (twe__mailbox_recv_batch_spsc(p.mb, &out, 1) == 1)
      got[n++] = out.u64;
    else
      twe__waiter_park(&wc, -1);
  }
  pthread_join(t, NULL);
  assert_int_equal(p.r1, 0);
  assert_int_equal(p.r2, 0);
  assert_int_equal(got[0], 1);
  assert_int_equal(got[1], 2);
  twe__mailbox_destroy(p.mb);
  twe__eventfd_loop_destroy(&lc);
  twe__eventfd_loop_destroy(&lp);
}

/* A consumer thread that takes one message once the producer sleeps. */
struct taker {
  twe_mailbox_t *mb;
  twe_waiter_t *producer;
  twe_msg_t got;
};

static void *take_one_when_producer_sleeps(void *arg) {
  struct taker *tk = arg;
  while (atomic_load(&tk->producer->state) != TWE_WAITER_SLEEPING) sched_yield();
  twe__mailbox_recv_batch_spsc(tk->mb, &tk->got, 1);
  return NULL;
}

/* The caller of send_wait may be in the middle of its own round: a
 * notification it had not seen yet survives the wait. */
static void test_mailbox_send_wait_spsc_keeps_caller_notifications(void **state) {
  (void)state;
  twe_eventfd_loop_t lp;
  struct fake_loop lc = {0};
  assert_int_equal(twe__eventfd_loop_init(&lp), 0);
  twe_waiter_t wc, wp;
  twe__waiter_init(&wc, &fake_ops, &lc);
  twe__waiter_init(&wp, &twe__eventfd_loop_ops, &lp);
  struct taker tk = {.producer = &wp};
  assert_int_equal(twe__mailbox_create(1, &wc, &wp, &tk.mb), 0);
  twe_msg_t a = msg(1), b = msg(2);
  assert_int_equal(twe__mailbox_try_send_spsc(tk.mb, &a), 0);
  twe__waiter_begin(&wp);
  twe__waiter_notify(&wp); /* someone posted work for the producer's thread */
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, take_one_when_producer_sleeps, &tk), 0);
  assert_int_equal(twe__mailbox_send_wait_spsc(tk.mb, &b), 0);
  pthread_join(t, NULL);
  assert_int_equal(tk.got.u64, 1);
  assert_true(twe__waiter_begin(&wp));
  twe_msg_t out;
  assert_int_equal(twe__mailbox_recv_batch_spsc(tk.mb, &out, 1), 1);
  assert_int_equal(out.u64, 2);
  twe__mailbox_destroy(tk.mb);
  twe__eventfd_loop_destroy(&lp);
}

/* What ptr points to changes hands: the consumer frees it (ASan sees a leak
 * or a double free otherwise). */
static void test_mailbox_recv_batch_spsc_owns_ptr(void **state) {
  (void)state;
  struct fake_loop l = {0};
  twe_waiter_t w;
  twe__waiter_init(&w, &fake_ops, &l);
  twe_mailbox_t *mb;
  assert_int_equal(twe__mailbox_create(16, &w, NULL, &mb), 0);
  for (int i = 0; i < 10; i++) {
    int *obj = malloc(sizeof *obj);
    *obj = i * 7;
    twe_msg_t m = {.type = 2, .ptr = obj};
    assert_int_equal(twe__mailbox_try_send_spsc(mb, &m), 0);
  }
  twe_msg_t out[16];
  assert_int_equal(twe__mailbox_recv_batch_spsc(mb, out, 16), 10);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(*(int *)out[i].ptr, i * 7);
    free(out[i].ptr);
  }
  twe__mailbox_destroy(mb);
}

/* --- stress ------------------------------------------------------------------ */

enum { PRODUCERS = 2, RING = 64, CHECKPOINTS = 4 };

struct payload {
  uint64_t seq;
  uint64_t check;
};

struct producer {
  twe_mailbox_t *mb;
  twe_eventfd_loop_t loop;
  twe_waiter_t w;
  int cpu;
  unsigned id;
  /* Times a send was refused because the ring was full (producer writes,
   * consumer reads: relaxed, a counter). */
  _Atomic uint64_t refusals;
  _Atomic int finished;
  int pin_err;
};

static struct producer prod[PRODUCERS];
static twe_eventfd_loop_t cons_loop;
static twe_waiter_t cons_w;
static uint64_t per_producer;

static int pin_self(int cpu) {
  if (cpu < 0) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static void *stress_producer(void *arg) {
  struct producer *p = arg;
  p->pin_err = pin_self(p->cpu);
  uint64_t seq = 0, rnd = p->id + 1;
  twe_msg_t batch[16];
  while (seq < per_producer) {
    /* Batches of 1..16; every 8th message carries a heap object the
     * consumer checks and frees (TSan checks that hand-over). */
    rnd = mix(rnd + seq);
    size_t n = 1 + rnd % 16;
    if (n > per_producer - seq) n = (size_t)(per_producer - seq);
    for (size_t i = 0; i < n; i++) {
      uint64_t s = seq + i;
      batch[i] = (twe_msg_t){.type = 7, .u32 = p->id, .u64 = s};
      if (s % 8 == 0) {
        struct payload *pl = malloc(sizeof *pl);
        pl->seq = s;
        pl->check = mix(s ^ p->id);
        batch[i].ptr = pl;
      }
    }
    size_t sent = twe__mailbox_try_send_batch_spsc(p->mb, batch, n);
    if (sent < n) {
      atomic_fetch_add_explicit(&p->refusals, 1, memory_order_relaxed);
      /* Full: the rest waits for room, in order. */
      for (size_t i = sent; i < n; i++) twe__mailbox_send_wait_spsc(p->mb, &batch[i]);
    }
    seq += n;
  }
  atomic_store(&p->finished, 1);
  return NULL;
}

static void test_mailbox_stress_spsc_exactly_once_in_order(void **state) {
  (void)state;
  const char *env = getenv("TWE_STRESS_MESSAGES");
  per_producer = env ? strtoull(env, NULL, 10) : 2000000;
  /* Two CPUs from the mask: producer 0 alone on the first, producer 1 and
   * the consumer on the second (or everything unpinned on one CPU). */
  cpu_set_t set;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  int cpus[2] = {-1, -1}, found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
    if (CPU_ISSET(c, &set)) cpus[found++] = c;
  int cons_cpu = found == 2 ? cpus[1] : -1;

  assert_int_equal(twe__eventfd_loop_init(&cons_loop), 0);
  twe__waiter_init(&cons_w, &twe__eventfd_loop_ops, &cons_loop);
  for (unsigned i = 0; i < PRODUCERS; i++) {
    struct producer *p = &prod[i];
    assert_int_equal(twe__eventfd_loop_init(&p->loop), 0);
    twe__waiter_init(&p->w, &twe__eventfd_loop_ops, &p->loop);
    assert_int_equal(twe__mailbox_create(RING - 1, &cons_w, &p->w, &p->mb), 0);
    p->id = i;
    p->cpu = found == 2 ? cpus[i] : -1;
    atomic_store(&p->refusals, 0);
    atomic_store(&p->finished, 0);
  }
  assert_int_equal(pin_self(cons_cpu), 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t t[PRODUCERS];
  for (unsigned i = 0; i < PRODUCERS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, stress_producer, &prod[i]), 0);

  uint64_t expect[PRODUCERS] = {0}, total = 0, payloads = 0, bad = 0;
  uint64_t next_checkpoint = per_producer * PRODUCERS / (CHECKPOINTS + 1);
  twe_msg_t buf[32];
  while (total < per_producer * PRODUCERS) {
    if (total >= next_checkpoint) {
      /* Checkpoint: stop draining until every producer still running has
       * been refused by a full ring once more, or sleeps in send_wait on
       * its full ring (refused just before). This makes "full" happen for
       * sure, whatever the scheduler does. */
      uint64_t seen[PRODUCERS];
      for (unsigned i = 0; i < PRODUCERS; i++) seen[i] = atomic_load(&prod[i].refusals);
      for (unsigned i = 0; i < PRODUCERS; i++)
        while (atomic_load(&prod[i].refusals) == seen[i] && !atomic_load(&prod[i].finished) &&
               atomic_load(&prod[i].w.state) != TWE_WAITER_SLEEPING)
          sched_yield();
      next_checkpoint += per_producer * PRODUCERS / (CHECKPOINTS + 1);
    }
    twe__waiter_begin(&cons_w);
    size_t got = 0;
    for (unsigned i = 0; i < PRODUCERS; i++) {
      size_t n = twe__mailbox_recv_batch_spsc(prod[i].mb, buf, 32);
      got += n;
      for (size_t k = 0; k < n; k++) {
        if (buf[k].u32 != i || buf[k].u64 != expect[i]) bad++;
        if (buf[k].ptr) {
          struct payload *pl = buf[k].ptr;
          if (pl->seq != buf[k].u64 || pl->check != mix(pl->seq ^ i)) bad++;
          free(pl);
          payloads++;
        } else if (buf[k].u64 % 8 == 0) {
          bad++;
        }
        expect[i]++;
      }
    }
    total += got;
    if (got == 0) twe__waiter_park(&cons_w, -1);
  }
  for (unsigned i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);

  uint64_t sleeps = cons_w.sleeps, wakes = atomic_load(&cons_w.wakes);
  print_message("stress: %u producers x %llu messages through rings of %u in %.2f s; "
                "refused-full %llu/%llu, consumer slept %llu times, woken %llu times\n",
                PRODUCERS, (unsigned long long)per_producer, RING - 1,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                (unsigned long long)atomic_load(&prod[0].refusals),
                (unsigned long long)atomic_load(&prod[1].refusals), (unsigned long long)sleeps,
                (unsigned long long)wakes);
  assert_int_equal(bad, 0);
  for (unsigned i = 0; i < PRODUCERS; i++) {
    assert_int_equal(prod[i].pin_err, 0);
    assert_int_equal(expect[i], per_producer);
    assert_int_equal(prod[i].mb->sent, per_producer);
    assert_int_equal(prod[i].mb->received, per_producer);
    assert_true(twe__mailbox_empty_spsc(prod[i].mb));
    /* The full path was taken (guaranteed by the checkpoints). */
    if (per_producer >= 1000) assert_true(atomic_load(&prod[i].refusals) > 0);
  }
  assert_int_equal(payloads, PRODUCERS * ((per_producer + 7) / 8));
  assert_true(wakes <= sleeps);
  for (unsigned i = 0; i < PRODUCERS; i++) {
    twe__mailbox_destroy(prod[i].mb);
    twe__eventfd_loop_destroy(&prod[i].loop);
  }
  twe__eventfd_loop_destroy(&cons_loop);
  /* Unpin the test thread again. */
  assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof set, &set), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mailbox_create_capacity),
    cmocka_unit_test(test_mailbox_try_send_spsc_fifo_and_full),
    cmocka_unit_test(test_mailbox_flush_spsc_one_wake_per_batch),
    cmocka_unit_test(test_mailbox_try_send_batch_spsc_partial),
    cmocka_unit_test(test_mailbox_want_space_spsc_notifies_producer),
    cmocka_unit_test(test_mailbox_send_wait_spsc_blocks_until_room),
    cmocka_unit_test(test_mailbox_send_wait_spsc_keeps_caller_notifications),
    cmocka_unit_test(test_mailbox_recv_batch_spsc_owns_ptr),
    cmocka_unit_test(test_mailbox_stress_spsc_exactly_once_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
