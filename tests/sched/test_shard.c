/* tests/sched/test_shard.c — shard threads: name and pinning, hooks, inboxes
 * fed by another thread, the run queue's fairness, outboxes that block and
 * resume, a pluggable loop, and stop/join. Async tests count callbacks and
 * check that nothing is left queued or undelivered. */
#define _GNU_SOURCE /* pthread_getname_np, sched_getcpu, CPU_* */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sched/loop.h"
#include "sched/mailbox.h"
#include "sched/shard.h"

static int first_cpu(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) return c;
  return -1;
}

/* --- start, name, pin, hooks -------------------------------------------------- */

struct hooks {
  char name[16];
  int cpu_seen;
  int allowed;
  int started, stopped;
  twe_shard_t *self;
};

static void on_start(twe_shard_t *shard, void *arg) {
  struct hooks *h = arg;
  pthread_getname_np(pthread_self(), h->name, sizeof h->name);
  h->cpu_seen = sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  pthread_getaffinity_np(pthread_self(), sizeof set, &set);
  h->allowed = CPU_COUNT(&set);
  h->self = twe__shard_self();
  h->started++;
  (void)shard;
}

static void on_stop(twe_shard_t *shard, void *arg) {
  struct hooks *h = arg;
  h->stopped++;
  (void)shard;
}

static void test_shard_start_named_pinned_hooks(void **state) {
  (void)state;
  int cpu = first_cpu();
  assert_true(cpu >= 0);
  struct hooks h = {0};
  twe_shard_options_t o = {
    .index = 3, .cpu = cpu, .on_start = on_start, .on_stop = on_stop, .hook_arg = &h};
  twe_shard_t *s;
  assert_int_equal(twe__shard_create(&o, &s), 0);
  assert_int_equal(twe__shard_index(s), 3);
  assert_null(twe__shard_self());
  assert_int_equal(twe__shard_start(s), 0);
  assert_int_equal(twe__shard_start(s), -EALREADY);
  twe__shard_stop(s);
  twe__shard_stop(s);
  assert_int_equal(twe__shard_join(s), 0);
  assert_string_equal(h.name, "twe-shard-3");
  assert_int_equal(h.cpu_seen, cpu);
  assert_int_equal(h.allowed, 1);
  assert_ptr_equal(h.self, s);
  assert_int_equal(h.started, 1);
  assert_int_equal(h.stopped, 1);
  twe__shard_destroy(s);
}

static void test_shard_start_bad_cpu(void **state) {
  (void)state;
  cpu_set_t set;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  int outside = -1;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (!CPU_ISSET(c, &set)) {
      outside = c;
      break;
    }
  if (outside < 0) skip();
  twe_shard_options_t o = {.index = 0, .cpu = outside};
  twe_shard_t *s;
  assert_int_equal(twe__shard_create(&o, &s), 0);
  assert_int_equal(twe__shard_start(s), -EINVAL);
  twe__shard_destroy(s);
  o.cpu = -2;
  assert_int_equal(twe__shard_create(&o, &s), -EINVAL);
}

/* A shard that was never started is destroyed cleanly. */
static void test_shard_destroy_unstarted(void **state) {
  (void)state;
  twe_shard_options_t o = {.index = 1, .cpu = -1};
  twe_shard_t *s;
  assert_int_equal(twe__shard_create(&o, &s), 0);
  assert_int_equal(twe__shard_join(s), 0);
  twe__shard_destroy(s);
}

/* --- inboxes --------------------------------------------------------------- */

enum { INBOX_MESSAGES = 200000, INBOX_PRODUCERS = 2 };

struct inbox_state {
  uint64_t expect[INBOX_PRODUCERS];
  uint64_t received, bad, on_wrong_thread, batches, max_batch;
  twe_shard_t *shard;
};

static void on_messages(void *arg, twe_msg_t *msgs, size_t n) {
  struct inbox_state *st = arg;
  if (twe__shard_self() != st->shard) st->on_wrong_thread++;
  st->batches++;
  if (n > st->max_batch) st->max_batch = n;
  for (size_t i = 0; i < n; i++) {
    unsigned p = msgs[i].u32;
    if (p >= INBOX_PRODUCERS || msgs[i].u64 != st->expect[p]) st->bad++;
    if (p < INBOX_PRODUCERS) st->expect[p]++;
    st->received++;
  }
}

struct feeder {
  twe_mailbox_t *mb;
  twe_eventfd_loop_t loop;
  twe_waiter_t w;
  unsigned id;
};

static void *feed(void *arg) {
  struct feeder *f = arg;
  for (uint64_t i = 0; i < INBOX_MESSAGES; i++) {
    twe_msg_t m = {.type = 1, .u32 = f->id, .u64 = i};
    if (twe__mailbox_try_send_spsc(f->mb, &m) != 0) twe__mailbox_send_wait_spsc(f->mb, &m);
    if (i % 32 == 31) twe__mailbox_flush_spsc(f->mb);
  }
  twe__mailbox_flush_spsc(f->mb);
  return NULL;
}

/* Two threads feed one shard through one inbox each; the shard gets every
 * message in order, in batches no larger than its batch option, on its own
 * thread. */
static void test_shard_add_inbox_spsc_delivers_in_order(void **state) {
  (void)state;
  struct inbox_state st = {0};
  twe_shard_options_t o = {.index = 0, .cpu = -1, .batch = 16};
  assert_int_equal(twe__shard_create(&o, &st.shard), 0);
  struct feeder f[INBOX_PRODUCERS];
  for (unsigned i = 0; i < INBOX_PRODUCERS; i++) {
    f[i].id = i;
    assert_int_equal(twe__eventfd_loop_init(&f[i].loop), 0);
    twe__waiter_init(&f[i].w, &twe__eventfd_loop_ops, &f[i].loop);
    assert_int_equal(twe__mailbox_create(64, twe__shard_waiter(st.shard), &f[i].w, &f[i].mb), 0);
    assert_int_equal(twe__shard_add_inbox_spsc(st.shard, f[i].mb, on_messages, &st), 0);
  }
  /* An inbox whose consumer is someone else is refused. */
  assert_int_equal(twe__shard_add_inbox_spsc(st.shard, f[0].mb, NULL, &st), -EINVAL);
  twe_waiter_t other;
  twe__waiter_init(&other, NULL, NULL);
  twe_mailbox_t *foreign;
  assert_int_equal(twe__mailbox_create(4, &other, NULL, &foreign), 0);
  assert_int_equal(twe__shard_add_inbox_spsc(st.shard, foreign, on_messages, &st), -EINVAL);
  twe__mailbox_destroy(foreign);

  assert_int_equal(twe__shard_start(st.shard), 0);
  pthread_t t[INBOX_PRODUCERS];
  for (unsigned i = 0; i < INBOX_PRODUCERS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, feed, &f[i]), 0);
  for (unsigned i = 0; i < INBOX_PRODUCERS; i++) pthread_join(t[i], NULL);
  /* Everything is sent; let the shard drain, then stop it. Waiting on the
   * mailboxes' own counters keeps this free of timing. */
  for (unsigned i = 0; i < INBOX_PRODUCERS; i++)
    while (!twe__mailbox_empty_spsc(f[i].mb)) sched_yield();
  twe__shard_stop(st.shard);
  assert_int_equal(twe__shard_join(st.shard), 0);
  assert_int_equal(st.bad, 0);
  assert_int_equal(st.on_wrong_thread, 0);
  assert_int_equal(st.received, INBOX_PRODUCERS * INBOX_MESSAGES);
  assert_true(st.max_batch <= 16);
  for (unsigned i = 0; i < INBOX_PRODUCERS; i++) {
    assert_int_equal(st.expect[i], INBOX_MESSAGES);
    twe__mailbox_destroy(f[i].mb);
    twe__eventfd_loop_destroy(&f[i].loop);
  }
  print_message("inbox: %llu messages in %llu batches, %llu rounds, %llu sleeps\n",
                (unsigned long long)st.received, (unsigned long long)st.batches,
                (unsigned long long)twe__shard_rounds(st.shard),
                (unsigned long long)twe__shard_sleeps(st.shard));
  twe__shard_destroy(st.shard);
}

/* --- run queue -------------------------------------------------------------- */

struct ticker {
  twe_task_t task;
  twe_shard_t *shard;
  int runs, limit;
  uint64_t last_round;
  int same_round;
  _Atomic int *done;
};

static void tick(twe_task_t *task) {
  struct ticker *tk = (struct ticker *)task;
  uint64_t round = twe__shard_rounds(tk->shard);
  if (tk->runs > 0 && round == tk->last_round) tk->same_round++;
  tk->last_round = round;
  if (++tk->runs < tk->limit) {
    twe__shard_schedule(tk->shard, task);
    twe__shard_schedule(tk->shard, task); /* queued already: no-op */
  } else {
    atomic_fetch_add(tk->done, 1);
  }
}

struct kick {
  twe_task_t task;
  struct ticker *tickers;
  int n;
};

static void start_tickers(twe_shard_t *shard, void *arg) {
  struct kick *k = arg;
  for (int i = 0; i < k->n; i++) twe__shard_schedule(shard, &k->tickers[i].task);
}

/* Tasks that requeue themselves run once per round (the others and the
 * pollers get their turn between), and each one runs exactly `limit`
 * times. */
static void test_shard_schedule_one_run_per_round(void **state) {
  (void)state;
  enum { N = 5, LIMIT = 1000 };
  _Atomic int done = 0;
  struct ticker tk[N];
  struct kick k = {.tickers = tk, .n = N};
  twe_shard_options_t o = {.index = 0, .cpu = -1, .on_start = start_tickers, .hook_arg = &k};
  twe_shard_t *s;
  assert_int_equal(twe__shard_create(&o, &s), 0);
  for (int i = 0; i < N; i++)
    tk[i] = (struct ticker){.task = {.run = tick}, .shard = s, .limit = LIMIT, .done = &done};
  assert_int_equal(twe__shard_start(s), 0);
  /* The shard never sleeps while tasks are queued; wait for them. */
  while (atomic_load(&done) < N) sched_yield();
  twe__shard_stop(s);
  assert_int_equal(twe__shard_join(s), 0);
  for (int i = 0; i < N; i++) {
    assert_int_equal(tk[i].runs, LIMIT);
    assert_int_equal(tk[i].same_round, 0);
    assert_false(tk[i].task.queued);
  }
  twe__shard_destroy(s);
}

/* --- outboxes that fill up ---------------------------------------------------- */

enum { OUT_MESSAGES = 50000 };

struct sender {
  twe_task_t task;
  twe_shard_t *shard;
  twe_mailbox_t *mb;
  uint64_t next;
  int waits, wait_errors;
};

static void send_more(twe_task_t *task) {
  struct sender *sd = (struct sender *)task;
  while (sd->next < OUT_MESSAGES) {
    twe_msg_t m = {.type = 1, .u64 = sd->next};
    if (twe__mailbox_try_send_spsc(sd->mb, &m) != 0) {
      /* Full: never block a shard; come back when there is room. */
      sd->waits++;
      if (twe__shard_wait_space_spsc(sd->shard, sd->mb, task) != 0) sd->wait_errors++;
      twe__mailbox_flush_spsc(sd->mb);
      return;
    }
    sd->next++;
  }
  twe__mailbox_flush_spsc(sd->mb);
}

static void start_sender(twe_shard_t *shard, void *arg) {
  struct sender *sd = arg;
  twe__shard_schedule(shard, &sd->task);
}

/* A shard sends more than fits to a slow consumer thread: it parks the
 * sending task on the full outbox, is notified when room frees, and every
 * message arrives in order. */
static void test_shard_wait_space_spsc_resumes_sender(void **state) {
  (void)state;
  struct sender sd = {.task = {.run = send_more}};
  twe_shard_options_t o = {.index = 0, .cpu = -1, .on_start = start_sender, .hook_arg = &sd};
  assert_int_equal(twe__shard_create(&o, &sd.shard), 0);
  twe_eventfd_loop_t lc;
  assert_int_equal(twe__eventfd_loop_init(&lc), 0);
  twe_waiter_t wc;
  twe__waiter_init(&wc, &twe__eventfd_loop_ops, &lc);
  assert_int_equal(twe__mailbox_create(8, &wc, twe__shard_waiter(sd.shard), &sd.mb), 0);
  /* Wrong producer waiter: refused. */
  twe_mailbox_t *other;
  assert_int_equal(twe__mailbox_create(8, &wc, &wc, &other), 0);
  assert_int_equal(twe__shard_wait_space_spsc(sd.shard, other, &sd.task), -EINVAL);
  twe__mailbox_destroy(other);

  assert_int_equal(twe__shard_start(sd.shard), 0);
  uint64_t expect = 0, bad = 0;
  twe_msg_t buf[3];
  while (expect < OUT_MESSAGES) {
    twe__waiter_begin(&wc);
    /* Small batches: the consumer is the slow side. */
    size_t n = twe__mailbox_recv_batch_spsc(sd.mb, buf, 3);
    for (size_t i = 0; i < n; i++, expect++)
      if (buf[i].u64 != expect) bad++;
    if (n == 0) twe__waiter_park(&wc, -1);
  }
  twe__shard_stop(sd.shard);
  assert_int_equal(twe__shard_join(sd.shard), 0);
  assert_int_equal(bad, 0);
  assert_int_equal(sd.next, OUT_MESSAGES);
  assert_int_equal(sd.wait_errors, 0);
  assert_true(twe__mailbox_empty_spsc(sd.mb));
  print_message("outbox: %d waits for room over %d messages\n", sd.waits, OUT_MESSAGES);
  twe__mailbox_destroy(sd.mb);
  twe__eventfd_loop_destroy(&lc);
  twe__shard_destroy(sd.shard);
}

/* --- a pluggable loop ------------------------------------------------------------ */

/* A stand-in for the io reactor: the default eventfd loop underneath, with
 * counters, plugged in through the options or from on_start. */
struct counting_loop {
  twe_eventfd_loop_t inner;
  _Atomic int run_once_calls, blocking_calls, wake_calls;
};

static int counting_run_once(void *ctx, int64_t timeout_ns) {
  struct counting_loop *l = ctx;
  atomic_fetch_add(&l->run_once_calls, 1);
  if (timeout_ns != 0) atomic_fetch_add(&l->blocking_calls, 1);
  return twe__eventfd_loop_ops.run_once(&l->inner, timeout_ns);
}

static void counting_wake(void *ctx) {
  struct counting_loop *l = ctx;
  atomic_fetch_add(&l->wake_calls, 1);
  twe__eventfd_loop_ops.wake(&l->inner);
}

static const twe_shard_loop_ops_t counting_ops = {counting_run_once, counting_wake};

static void plug_loop(twe_shard_t *shard, void *arg) {
  twe__shard_set_loop(shard, &counting_ops, arg);
}

static void poke(void *arg, twe_msg_t *msgs, size_t n) {
  (void)msgs;
  *(uint64_t *)arg += n;
}

static void check_pluggable_loop(bool from_on_start) {
  struct counting_loop l;
  memset(&l, 0, sizeof l);
  assert_int_equal(twe__eventfd_loop_init(&l.inner), 0);
  twe_shard_options_t o = {.index = 9, .cpu = -1};
  if (from_on_start) {
    o.on_start = plug_loop;
    o.hook_arg = &l;
  } else {
    o.loop_ops = &counting_ops;
    o.loop_ctx = &l;
  }
  twe_shard_t *s;
  assert_int_equal(twe__shard_create(&o, &s), 0);
  twe_eventfd_loop_t lp;
  assert_int_equal(twe__eventfd_loop_init(&lp), 0);
  twe_waiter_t wp;
  twe__waiter_init(&wp, &twe__eventfd_loop_ops, &lp);
  twe_mailbox_t *mb;
  uint64_t got = 0;
  assert_int_equal(twe__mailbox_create(4, twe__shard_waiter(s), &wp, &mb), 0);
  assert_int_equal(twe__shard_add_inbox_spsc(s, mb, poke, &got), 0);
  assert_int_equal(twe__shard_start(s), 0);
  /* Each message waits until the shard sleeps in the plugged loop: every one
   * must come through its wake(). */
  for (uint64_t i = 0; i < 100; i++) {
    while (atomic_load(&twe__shard_waiter(s)->state) != TWE_WAITER_SLEEPING) sched_yield();
    twe_msg_t m = {.type = 1, .u64 = i};
    twe__mailbox_send_wait_spsc(mb, &m);
  }
  while (!twe__mailbox_empty_spsc(mb)) sched_yield();
  twe__shard_stop(s);
  assert_int_equal(twe__shard_join(s), 0);
  assert_int_equal(got, 100);
  assert_true(atomic_load(&l.wake_calls) >= 100);
  assert_true(atomic_load(&l.blocking_calls) >= 100);
  twe__mailbox_destroy(mb);
  twe__shard_destroy(s);
  twe__eventfd_loop_destroy(&lp);
  twe__eventfd_loop_destroy(&l.inner);
}

static void test_shard_create_pluggable_loop(void **state) {
  (void)state;
  check_pluggable_loop(false);
}

static void test_shard_set_loop_from_on_start(void **state) {
  (void)state;
  check_pluggable_loop(true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_shard_start_named_pinned_hooks),
    cmocka_unit_test(test_shard_start_bad_cpu),
    cmocka_unit_test(test_shard_destroy_unstarted),
    cmocka_unit_test(test_shard_add_inbox_spsc_delivers_in_order),
    cmocka_unit_test(test_shard_schedule_one_run_per_round),
    cmocka_unit_test(test_shard_wait_space_spsc_resumes_sender),
    cmocka_unit_test(test_shard_create_pluggable_loop),
    cmocka_unit_test(test_shard_set_loop_from_on_start),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
