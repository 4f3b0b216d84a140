/* tests/io/test_reactor.c — the reactor, on the backend TWE_IO_BACKEND names
 * (ctest runs this file once per backend; an io_uring run on a machine
 * without io_uring exits 77): timers, wake-ups from other threads, socket
 * operations over loopback TCP (127.0.0.1 and ::1), cancel, close, destroy.
 *
 * Every test counts its callbacks and ends with reactor_end(), which asserts
 * that nothing is left live. Loops are bounded by iteration counts only to
 * keep a broken test from hanging; nothing asserts how long anything takes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/reactor.h"
#include "tests/support/reactor_test.h"
#include "twe/error.h"

/* --- backend choice --------------------------------------------------------- */

static void test_reactor_create_follows_env(void **state) {
  (void)state;
  const char *env = getenv("TWE_IO_BACKEND");
  twe_reactor_t *r = reactor_new();
  if (env && strcmp(env, "epoll") == 0)
    assert_int_equal(twe__reactor_backend(r), TWE_IO_BACKEND_EPOLL);
  if (env && strcmp(env, "io_uring") == 0)
    assert_int_equal(twe__reactor_backend(r), TWE_IO_BACKEND_URING);
  reactor_end(r);

  /* An explicit option wins over the environment. */
  twe_reactor_options_t opts = {.backend = TWE_IO_BACKEND_EPOLL};
  assert_int_equal(twe__reactor_create(&r, &opts), 0);
  assert_int_equal(twe__reactor_backend(r), TWE_IO_BACKEND_EPOLL);
  assert_string_equal(twe__io_backend_name(twe__reactor_backend(r)), "epoll");
  reactor_end(r);
}

static void test_reactor_create_bad_env_value(void **state) {
  (void)state;
  char *saved = getenv("TWE_IO_BACKEND") ? strdup(getenv("TWE_IO_BACKEND")) : NULL;
  setenv("TWE_IO_BACKEND", "kqueue", 1);
  twe_reactor_t *r = (twe_reactor_t *)1;
  assert_int_equal(twe__reactor_create(&r, NULL), -EINVAL);
  assert_null(r);
  if (saved) setenv("TWE_IO_BACKEND", saved, 1);
  else unsetenv("TWE_IO_BACKEND");
  free(saved);
}

/* The child half of test_reactor_auto_choice: a fresh process (so its one
 * log line is not already spent), TWE_IO_BACKEND unset, and with "blocked"
 * a seccomp filter making io_uring_setup fail with EPERM as container
 * profiles do. Prints the backend chosen; the log line goes to stderr. */
#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static int auto_choice_child(bool blocked) {
  unsetenv("TWE_IO_BACKEND");
  if (blocked) {
#ifndef TEST_AUDIT_ARCH
    printf("seccomp filter not written for this architecture\n");
    return 77;
#else
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
      printf("seccomp unavailable\n");
      return 77;
    }
#endif
  }
  twe_reactor_t *r = NULL;
  int rc = twe__reactor_create(&r, NULL);
  if (rc < 0) {
    printf("create failed: %s\n", twe_strerror(rc));
    return 1;
  }
  printf("backend=%s\n", twe__io_backend_name(twe__reactor_backend(r)));
  twe__reactor_destroy(r);
  return 0;
}

/* Runs this binary as auto_choice_child; its stdout and stderr into out. */
static int run_auto_choice_child(const char *mode, char *out, size_t len) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    execl("/proc/self/exe", "test_reactor", "--auto-choice", mode, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  size_t got = 0;
  ssize_t n;
  while (got + 1 < len && (n = read(p[0], out + got, len - 1 - got)) > 0) got += (size_t)n;
  out[got] = '\0';
  close(p[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* AUTO without TWE_IO_BACKEND: io_uring when io_uring_setup works, epoll
 * when it is blocked, each with one line saying so. */
static void test_reactor_auto_choice_and_log_line(void **state) {
  (void)state;
  char out[1024];
  int rc = run_auto_choice_child("blocked", out, sizeof out);
  if (rc == 77) {
    print_message("no seccomp here: skipped\n");
    skip();
  }
  print_message("%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "twe: io backend epoll (io_uring_setup: Operation not permitted)\n"));
  assert_non_null(strstr(out, "backend=epoll\n"));
  assert_int_equal(run_auto_choice_child("free", out, sizeof out), 0);
  print_message("%s", out);
  if (twe__reactor_probe(TWE_IO_BACKEND_URING) == 0) {
    assert_non_null(strstr(out, "twe: io backend io_uring (io_uring_setup works)\n"));
    assert_non_null(strstr(out, "backend=io_uring\n"));
  } else {
    assert_non_null(strstr(out, "backend=epoll\n"));
  }
}

/* --- timers ------------------------------------------------------------------ */

static int fired[16];
static int n_fired;

static void on_timer_record(twe_timer_t *t) { fired[n_fired++] = (int)(intptr_t)t->data; }

static void test_timer_order_by_due_then_start(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  n_fired = 0;
  twe_timer_t t[5];
  /* The same cached now for all, so the order is exact: due time first,
   * start order for equal due times. */
  const uint64_t delay[5] = {30 * MS, 10 * MS, 20 * MS, 10 * MS, 0};
  for (int i = 0; i < 5; i++) {
    t[i].data = (void *)(intptr_t)i;
    twe__timer_init(r, &t[i], on_timer_record);
    assert_false(twe__timer_active(&t[i]));
    assert_int_equal(twe__timer_start(&t[i], delay[i]), 0);
    assert_true(twe__timer_active(&t[i]));
  }
  assert_int_equal(n_fired, 0); /* never from inside start */
  RUN_UNTIL(r, n_fired == 5);
  const int want[5] = {4, 1, 3, 2, 0};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(fired[i], want[i]);
    assert_false(twe__timer_active(&t[i]));
  }
  reactor_end(r);
}

static twe_timer_t *victim;

static void on_timer_stop_victim(twe_timer_t *t) {
  on_timer_record(t);
  twe__timer_stop(victim);
}

static void test_timer_stop_never_fires(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  n_fired = 0;
  twe_timer_t a, b, c;
  a.data = (void *)1;
  b.data = (void *)2;
  c.data = (void *)3;
  twe__timer_init(r, &a, on_timer_record);
  twe__timer_init(r, &b, on_timer_stop_victim);
  twe__timer_init(r, &c, on_timer_record);
  assert_int_equal(twe__timer_start(&a, 0), 0);
  twe__timer_stop(&a);
  twe__timer_stop(&a); /* stopping an inactive timer is a no-op */
  /* b and c are due in the same iteration; b runs first and stops c. */
  assert_int_equal(twe__timer_start(&b, 0), 0);
  assert_int_equal(twe__timer_start(&c, 0), 0);
  victim = &c;
  RUN_UNTIL(r, n_fired == 1);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(n_fired, 1);
  assert_int_equal(fired[0], 2);
  assert_false(twe__timer_active(&c));
  reactor_end(r);
}

static int repeats;

static void on_timer_repeat(twe_timer_t *t) {
  if (++repeats < 3) assert_int_equal(twe__timer_start(t, 0), 0);
}

static void test_timer_restart_fires_once(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  n_fired = 0;
  twe_timer_t t;
  t.data = (void *)7;
  twe__timer_init(r, &t, on_timer_record);
  /* Restarting an active timer moves it; it still fires once. */
  assert_int_equal(twe__timer_start(&t, 3600 * 1000 * MS), 0);
  assert_int_equal(twe__timer_start(&t, 3600 * 1000 * MS), 0);
  assert_int_equal(twe__timer_start(&t, 1 * MS), 0);
  twe_reactor_stats_t st;
  twe__reactor_stats(r, &st);
  assert_int_equal(st.active_timers, 1);
  RUN_UNTIL(r, n_fired == 1);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(n_fired, 1);
  assert_int_equal(fired[0], 7);

  /* Restarted from its own callback: fires again, once per restart. */
  repeats = 0;
  twe__timer_init(r, &t, on_timer_repeat);
  assert_int_equal(twe__timer_start(&t, 0), 0);
  RUN_UNTIL(r, repeats == 3);
  assert_false(twe__timer_active(&t));
  reactor_end(r);
}

static int zero_calls;

static void on_timer_zero_again(twe_timer_t *t) {
  zero_calls++;
  assert_int_equal(twe__timer_start(t, 0), 0);
}

/* Delay 0 fires in the next iteration, never inside start; a timer that
 * keeps restarting itself with 0 fires once per iteration, so the loop is
 * never stuck in the timer pass. */
static void test_timer_zero_delay_next_iteration(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_timer_t t;
  zero_calls = 0;
  twe__timer_init(r, &t, on_timer_zero_again);
  assert_int_equal(twe__timer_start(&t, 0), 0);
  assert_int_equal(zero_calls, 0);
  for (int i = 1; i <= 5; i++) {
    assert_int_equal(twe__reactor_run_once(r, 0), 1);
    assert_int_equal(zero_calls, i);
  }
  twe__timer_stop(&t);
  assert_int_equal(twe__reactor_run_once(r, 0), 0);
  assert_int_equal(zero_calls, 5);
  reactor_end(r);
}

/* --- prepare handles ----------------------------------------------------------- */

static int prepared[16];
static int n_prepared;
static twe_prepare_t *prep_cancel_victim; /* cancelled by the next callback */
static bool prep_again;                    /* the callback queues itself again */

static twe_prepare_t preps[4];
static twe_reactor_t *prep_reactor;

static void on_prepare_record(twe_prepare_t *p) {
  prepared[n_prepared++] = (int)(p - preps);
  if (prep_cancel_victim) {
    twe__prepare_cancel(prep_reactor, prep_cancel_victim);
    prep_cancel_victim = NULL;
  }
  if (prep_again) {
    prep_again = false;
    twe__prepare_queue(prep_reactor, p, on_prepare_record);
  }
}

/* A fresh reactor for these tests, the handles zeroed, nothing recorded. */
static twe_reactor_t *prep_start(void) {
  prep_reactor = reactor_new();
  memset(preps, 0, sizeof preps);
  n_prepared = 0;
  prep_cancel_victim = NULL;
  prep_again = false;
  return prep_reactor;
}

/* Handles run in the order queued, once however often queued, before an
 * iteration that may wait; never inside queue. */
static void test_prepare_runs_before_wait_in_order(void **state) {
  (void)state;
  twe_reactor_t *r = prep_start();
  twe__prepare_queue(r, &preps[2], on_prepare_record);
  twe__prepare_queue(r, &preps[0], on_prepare_record);
  twe__prepare_queue(r, &preps[2], on_prepare_record); /* queued already: nothing */
  twe__prepare_queue(r, &preps[1], on_prepare_record);
  assert_int_equal(n_prepared, 0);
  assert_int_equal(twe__reactor_run_once(r, MS), 3);
  assert_int_equal(n_prepared, 3);
  assert_int_equal(prepared[0], 2);
  assert_int_equal(prepared[1], 0);
  assert_int_equal(prepared[2], 1);
  for (int i = 0; i < 3; i++) assert_false(preps[i].queued);
  assert_int_equal(twe__reactor_run_once(r, 0), 0);
  reactor_end(r);
}

/* An iteration that cannot wait (timeout 0, or a timer due) puts them off
 * once; the next one runs them whatever its timeout. */
static void test_prepare_put_off_once_when_not_waiting(void **state) {
  (void)state;
  twe_reactor_t *r = prep_start();
  twe__prepare_queue(r, &preps[0], on_prepare_record);
  assert_int_equal(twe__reactor_run_once(r, 0), 0);
  assert_int_equal(n_prepared, 0);
  assert_true(preps[0].queued);
  assert_int_equal(twe__reactor_run_once(r, 0), 1);
  assert_int_equal(n_prepared, 1);

  /* A timer due now: the iteration will not wait, so it puts them off too. */
  twe_timer_t t;
  n_fired = 0;
  t.data = (void *)(intptr_t)7;
  twe__timer_init(r, &t, on_timer_record);
  assert_int_equal(twe__timer_start(&t, 0), 0);
  twe__prepare_queue(r, &preps[1], on_prepare_record);
  assert_int_equal(twe__reactor_run_once(r, -1), 1); /* the timer only */
  assert_int_equal(n_fired, 1);
  assert_int_equal(n_prepared, 1);
  assert_int_equal(twe__reactor_run_once(r, MS), 1);
  assert_int_equal(n_prepared, 2);
  assert_int_equal(prepared[1], 1);
  reactor_end(r);
}

/* A callback may cancel a handle still queued (it does not run) and queue
 * itself again (it runs in a later iteration, which does not wait). A
 * cancelled handle may be queued again; one queued at destroy never runs. */
static void test_prepare_cancel_requeue_destroy(void **state) {
  (void)state;
  twe_reactor_t *r = prep_start();
  for (int i = 0; i < 4; i++) twe__prepare_queue(r, &preps[i], on_prepare_record);
  twe__prepare_cancel(r, &preps[1]);
  assert_false(preps[1].queued);
  twe__prepare_cancel(r, &preps[1]); /* not queued: nothing */
  prep_cancel_victim = &preps[3];
  prep_again = true;
  assert_int_equal(twe__reactor_run_once(r, 1000 * MS), 2); /* 0, then 2; 3 cancelled */
  assert_int_equal(n_prepared, 2);
  assert_int_equal(prepared[0], 0);
  assert_int_equal(prepared[1], 2);
  assert_true(preps[0].queued); /* queued itself again */
  assert_false(preps[3].queued);
  assert_int_equal(twe__reactor_run_once(r, MS), 1);
  assert_int_equal(prepared[2], 0);
  twe__prepare_queue(r, &preps[1], on_prepare_record);
  reactor_end(r); /* preps[1] dropped: no callback after this */
  assert_int_equal(n_prepared, 3);
}

static void on_timer_stop_loop(twe_timer_t *t) {
  n_fired++;
  /* The loop is not re-entrant: a nested run_once is refused. */
  assert_int_equal(twe__reactor_run_once(t->data, 0), -EDEADLK);
  twe__reactor_stop(t->data);
}

static void test_reactor_run_until_stopped(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  n_fired = 0;
  twe_timer_t t;
  t.data = r;
  twe__timer_init(r, &t, on_timer_stop_loop);
  assert_int_equal(twe__timer_start(&t, 1 * MS), 0);
  assert_int_equal(twe__reactor_run(r), 0);
  assert_int_equal(n_fired, 1);
  /* Stop before run: run returns at once. */
  twe__reactor_stop(r);
  assert_int_equal(twe__reactor_run(r), 0);
  reactor_end(r);
}

static void test_reactor_now_cached_per_iteration(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  uint64_t a = twe__reactor_now(r);
  usleep(2000);
  assert_true(twe__reactor_now(r) == a); /* cached: no iteration ran */
  assert_true(twe__reactor_run_once(r, 0) >= 0);
  uint64_t b = twe__reactor_now(r);
  assert_true(b > a);
  twe__reactor_update_time(r);
  assert_true(twe__reactor_now(r) >= b);
  reactor_end(r);
}

/* --- wake-ups ----------------------------------------------------------------- */

typedef struct wake_ctx {
  twe_wake_t wake;
  atomic_int calls;
  atomic_int sent; /* sends made by producers */
  int seen;        /* sent, as the last callback saw it */
  int stop_at;     /* stop the loop after this many callbacks (0: never) */
  twe_wake_t *close_other;
} wake_ctx_t;

static void on_wake(twe_wake_t *w) {
  wake_ctx_t *c = w->data;
  int n = atomic_fetch_add(&c->calls, 1) + 1;
  c->seen = atomic_load(&c->sent);
  if (c->close_other) {
    twe__wake_close(c->close_other);
    c->close_other = NULL;
  }
  if (c->stop_at && n == c->stop_at) twe__reactor_stop(w->reactor);
}

static void wake_ctx_init(twe_reactor_t *r, wake_ctx_t *c) {
  memset(c, 0, sizeof *c);
  c->wake.data = c;
  twe__wake_init(r, &c->wake, on_wake);
}

static void *thread_send_1000(void *arg) {
  for (int i = 0; i < 1000; i++) twe__wake_send(arg);
  return NULL;
}

static void test_wake_coalesced_from_thread(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  wake_ctx_t c;
  wake_ctx_init(r, &c);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, thread_send_1000, &c.wake), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  twe_reactor_stats_t st;
  twe__reactor_stats(r, &st);
  assert_int_equal(st.wake_writes, 1); /* 1000 sends, one eventfd write */
  assert_int_equal(atomic_load(&c.calls), 0);
  RUN_UNTIL(r, atomic_load(&c.calls) == 1);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(atomic_load(&c.calls), 1);

  /* The owner may send too; once the callback ran, a send writes again. */
  twe__wake_send(&c.wake);
  twe__wake_send(&c.wake);
  twe__reactor_stats(r, &st);
  assert_int_equal(st.wake_writes, 2);
  RUN_UNTIL(r, atomic_load(&c.calls) == 2);
  twe__wake_close(&c.wake);
  reactor_end(r);
}

enum { PING_PONGS = 200 };

/* Sends, then waits for the callback before sending again. */
static void *thread_ping(void *arg) {
  wake_ctx_t *c = arg;
  for (int i = 0; i < PING_PONGS; i++) {
    twe__wake_send(&c->wake);
    while (atomic_load(&c->calls) <= i) sched_yield();
  }
  return NULL;
}

static void test_wake_counts_one_callback_per_round(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  wake_ctx_t c;
  wake_ctx_init(r, &c);
  c.stop_at = PING_PONGS;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, thread_ping, &c), 0);
  assert_int_equal(twe__reactor_run(r), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(atomic_load(&c.calls), PING_PONGS);
  twe_reactor_stats_t st;
  twe__reactor_stats(r, &st);
  assert_int_equal(st.wake_writes, PING_PONGS);
  twe__wake_close(&c.wake);
  reactor_end(r);
}

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

static void *thread_produce(void *arg) {
  wake_ctx_t *c = arg;
  for (int i = 0; i < PER_PRODUCER; i++) {
    atomic_fetch_add(&c->sent, 1);
    twe__wake_send(&c->wake);
  }
  return NULL;
}

/* No lost wake-up: whatever producers did before their last send is seen
 * by a callback that runs after it. */
static void test_wake_many_producers_none_lost(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  wake_ctx_t c;
  wake_ctx_init(r, &c);
  pthread_t th[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, thread_produce, &c), 0);
  for (int i = 0; i < 50; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  for (int i = 0; i < PRODUCERS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  RUN_UNTIL(r, c.seen == PRODUCERS * PER_PRODUCER);
  twe_reactor_stats_t st;
  twe__reactor_stats(r, &st);
  assert_true(atomic_load(&c.calls) >= 1);
  assert_true(atomic_load(&c.calls) <= PRODUCERS * PER_PRODUCER);
  assert_true(st.wake_writes <= (uint64_t)atomic_load(&c.calls) + 1);
  twe__wake_close(&c.wake);
  reactor_end(r);
}

static atomic_int bare_flag;

static void *thread_bare_wake(void *arg) {
  atomic_store_explicit(&bare_flag, 1, memory_order_relaxed);
  twe__reactor_wake(arg);
  return NULL;
}

/* A bare wake (the shard loop's "look at your mailboxes") makes a waiting
 * run_once return with no callback, and what the waker wrote before is
 * visible afterwards. A lost wake would leave wake_events at 0 (each wait
 * is bounded at 5 s so that a failure fails instead of hanging). */
static void test_reactor_wake_ends_wait(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  atomic_store(&bare_flag, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, thread_bare_wake, r), 0);
  twe_reactor_stats_t st;
  twe__reactor_stats(r, &st);
  for (int i = 0; i < 3 && st.wake_events == 0; i++) {
    assert_int_equal(twe__reactor_run_once(r, 5000 * MS), 0);
    twe__reactor_stats(r, &st);
  }
  assert_int_equal(st.wake_events, 1);
  assert_int_equal(atomic_load_explicit(&bare_flag, memory_order_relaxed), 1);
  assert_int_equal(pthread_join(th, NULL), 0);
  twe__reactor_stats(r, &st);
  assert_int_equal(st.wake_writes, 1);
  reactor_end(r);
}

static void test_wake_close_from_callback(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  wake_ctx_t a, b;
  wake_ctx_init(r, &b);
  wake_ctx_init(r, &a); /* newest first: a's callback runs before b's */
  a.close_other = &b.wake;
  twe__wake_send(&b.wake);
  twe__wake_send(&a.wake);
  RUN_UNTIL(r, atomic_load(&a.calls) == 1);
  for (int i = 0; i < 3; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(atomic_load(&b.calls), 0);
  twe__wake_close(&a.wake);
  reactor_end(r);
}

/* --- sockets over loopback ---------------------------------------------------- */

typedef struct addr {
  struct sockaddr_storage ss;
  socklen_t len;
} addr_t;

/* A listening socket on family's loopback address (port from the kernel),
 * or -1 when the family is not available here. */
static int listen_loopback(int family, int backlog, addr_t *out) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&out->ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out->len = sizeof *in;
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    out->len = sizeof *in6;
  }
  if (bind(fd, (struct sockaddr *)&out->ss, out->len) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, (struct sockaddr *)&out->ss, &out->len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A connected loopback pair made with plain blocking calls. */
static void tcp_pair(int *client, int *server) {
  addr_t a;
  int l = listen_loopback(AF_INET, 4, &a);
  assert_true(l >= 0);
  *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(*client >= 0);
  assert_int_equal(connect(*client, (struct sockaddr *)&a.ss, a.len), 0);
  *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  assert_true(*server >= 0);
  close(l);
}

/* One socket under test and what its callbacks saw. */
typedef struct conn {
  twe_sock_t sock;
  int connect_calls, connect_status;
  int recv_calls, recv_last;
  int send_calls, send_status;
  int close_calls;
  int recv_seq, send_seq, connect_seq, close_seq;
  /* Stream mode: keep receiving until rlen bytes are in rbuf. */
  unsigned char *rbuf;
  size_t rlen, rgot;
  bool rstream;
  bool close_in_recv; /* close the socket from the recv callback */
} conn_t;

static int seq; /* orders callbacks across sockets */

static void on_connect(twe_sock_t *s, int status) {
  conn_t *c = s->data;
  c->connect_calls++;
  c->connect_status = status;
  c->connect_seq = ++seq;
}

static void on_close(twe_sock_t *s) {
  conn_t *c = s->data;
  c->close_calls++;
  c->close_seq = ++seq;
}

static void on_recv(twe_sock_t *s, int n) {
  conn_t *c = s->data;
  c->recv_calls++;
  c->recv_last = n;
  c->recv_seq = ++seq;
  if (c->rstream && n > 0) {
    c->rgot += (size_t)n;
    if (c->rgot < c->rlen)
      assert_int_equal(twe__sock_recv(s, c->rbuf + c->rgot, c->rlen - c->rgot, on_recv), 0);
  }
  if (c->close_in_recv) assert_int_equal(twe__sock_close(s, on_close), 0);
}

static void on_send(twe_sock_t *s, int status) {
  conn_t *c = s->data;
  c->send_calls++;
  c->send_status = status;
  c->send_seq = ++seq;
}

static void conn_init(twe_reactor_t *r, conn_t *c, int fd) {
  memset(c, 0, sizeof *c);
  c->sock.data = c;
  assert_int_equal(twe__sock_init(r, &c->sock, fd), 0);
  assert_int_equal(twe__sock_fd(&c->sock), fd);
}

static unsigned char *pattern(size_t n) {
  unsigned char *p = malloc(n);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 131 + (i >> 13));
  return p;
}

/* Connect through the reactor, stream 4 MiB one way (more than the socket
 * buffers hold, so sends and receives come in pieces), answer back, see
 * end of stream, close both. */
static void roundtrip(int family) {
  addr_t a;
  int l = listen_loopback(family, 4, &a);
  if (l < 0) {
    print_message("no %s loopback here: skipped\n", family == AF_INET6 ? "IPv6" : "IPv4");
    skip();
  }
  twe_reactor_t *r = reactor_new();
  conn_t cl, sv;
  conn_init(r, &cl, socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  assert_int_equal(twe__sock_connect(&cl.sock, (struct sockaddr *)&a.ss, a.len, on_connect), 0);
  assert_int_equal(cl.connect_calls, 0);
  RUN_UNTIL(r, cl.connect_calls == 1);
  assert_int_equal(cl.connect_status, 0);
  int sfd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  assert_true(sfd >= 0);
  conn_init(r, &sv, sfd);

  const size_t n = 4u << 20;
  unsigned char *out = pattern(n);
  unsigned char *in = calloc(1, n);
  assert_non_null(in);
  sv.rstream = true;
  sv.rbuf = in;
  sv.rlen = n;
  assert_int_equal(twe__sock_recv(&sv.sock, in, n, on_recv), 0);
  assert_int_equal(twe__sock_send(&cl.sock, out, n, on_send), 0);
  RUN_UNTIL(r, cl.send_calls == 1 && sv.rgot == n);
  assert_int_equal(cl.send_status, 0);
  assert_memory_equal(in, out, n);
  assert_true(sv.recv_calls >= 1);

  static const char pong[] = "pong";
  char buf[64];
  assert_int_equal(twe__sock_send(&sv.sock, pong, sizeof pong, on_send), 0);
  assert_int_equal(twe__sock_recv(&cl.sock, buf, sizeof buf, on_recv), 0);
  RUN_UNTIL(r, cl.recv_calls == 1 && sv.send_calls == 1);
  assert_int_equal(sv.send_status, 0);
  /* Loopback delivers 5 bytes in one piece. */
  assert_int_equal(cl.recv_last, (int)sizeof pong);
  assert_string_equal(buf, pong);

  /* The server closes: the client's recv sees end of stream (0). */
  assert_int_equal(twe__sock_recv(&cl.sock, buf, sizeof buf, on_recv), 0);
  assert_int_equal(twe__sock_close(&sv.sock, on_close), 0);
  RUN_UNTIL(r, sv.close_calls == 1 && cl.recv_calls == 2);
  assert_int_equal(cl.recv_last, 0);
  assert_int_equal(twe__sock_fd(&sv.sock), -1);
  assert_int_equal(twe__sock_close(&cl.sock, on_close), 0);
  RUN_UNTIL(r, cl.close_calls == 1);
  assert_int_equal(cl.connect_calls, 1);
  assert_int_equal(cl.send_calls, 1);
  assert_int_equal(sv.close_calls, 1);
  close(l);
  free(in);
  free(out);
  reactor_end(r);
}

static void test_sock_roundtrip_ipv4(void **state) {
  (void)state;
  roundtrip(AF_INET);
}

static void test_sock_roundtrip_ipv6(void **state) {
  (void)state;
  roundtrip(AF_INET6);
}

static void test_sock_connect_refused(void **state) {
  (void)state;
  /* Bound, not listening: the kernel answers SYN with RST. Kept open so
   * nobody else takes the port meanwhile. */
  int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  assert_int_equal(bind(b, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(b, (struct sockaddr *)&a, &alen), 0);
  twe_reactor_t *r = reactor_new();
  conn_t c;
  conn_init(r, &c, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  assert_int_equal(twe__sock_connect(&c.sock, (struct sockaddr *)&a, alen, on_connect), 0);
  RUN_UNTIL(r, c.connect_calls == 1);
  assert_int_equal(c.connect_status, -ECONNREFUSED);
  assert_int_equal(twe__sock_close(&c.sock, on_close), 0);
  RUN_UNTIL(r, c.close_calls == 1);
  assert_int_equal(c.connect_calls, 1);
  close(b);
  reactor_end(r);
}

static void test_sock_cancel_reports_once(void **state) {
  (void)state;
  int cfd, sfd;
  tcp_pair(&cfd, &sfd);
  twe_reactor_t *r = reactor_new();
  conn_t c;
  conn_init(r, &c, cfd);
  char buf[64];
  assert_int_equal(twe__sock_recv(&c.sock, buf, sizeof buf, on_recv), 0);
  for (int i = 0; i < 3; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(c.recv_calls, 0);
  assert_int_equal(twe__sock_cancel(&c.sock, TWE_SOCK_OP_SEND), 0); /* nothing to cancel */
  assert_int_equal(twe__sock_cancel(&c.sock, TWE_SOCK_OP_ALL), 1);
  assert_int_equal(twe__sock_cancel(&c.sock, TWE_SOCK_OP_RECV), 1); /* still to report */
  assert_int_equal(c.recv_calls, 0);                               /* not from cancel */
  RUN_UNTIL(r, c.recv_calls == 1);
  assert_int_equal(c.recv_last, -ECANCELED);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(c.recv_calls, 1);
  assert_int_equal(twe__sock_cancel(&c.sock, TWE_SOCK_OP_ALL), 0);

  /* A recv that found nothing consumed nothing: the socket still works. */
  assert_int_equal(write(sfd, "x", 1), 1);
  assert_int_equal(twe__sock_recv(&c.sock, buf, sizeof buf, on_recv), 0);
  RUN_UNTIL(r, c.recv_calls == 2);
  assert_int_equal(c.recv_last, 1);
  assert_int_equal(buf[0], 'x');

  /* Cancel also wins over a result already known but not yet reported
   * (data is there: epoll completes the recv at once). */
  assert_int_equal(write(sfd, "yz", 2), 2);
  assert_int_equal(twe__sock_recv(&c.sock, buf, sizeof buf, on_recv), 0);
  assert_int_equal(twe__sock_cancel(&c.sock, TWE_SOCK_OP_RECV), 1);
  RUN_UNTIL(r, c.recv_calls == 3);
  assert_int_equal(c.recv_last, -ECANCELED);

  assert_int_equal(twe__sock_close(&c.sock, on_close), 0);
  RUN_UNTIL(r, c.close_calls == 1);
  assert_int_equal(c.recv_calls, 3);
  close(sfd);
  reactor_end(r);
}

/* More than loopback buffers take from a peer that never reads. */
#define STUCK_SEND (32u << 20)

static void test_sock_close_reports_ops_then_close(void **state) {
  (void)state;
  int cfd, sfd;
  tcp_pair(&cfd, &sfd);
  twe_reactor_t *r = reactor_new();
  conn_t c;
  conn_init(r, &c, cfd);
  unsigned char *big = pattern(STUCK_SEND);
  char *buf = malloc(64);
  assert_int_equal(twe__sock_recv(&c.sock, buf, 64, on_recv), 0);
  assert_int_equal(twe__sock_send(&c.sock, big, STUCK_SEND, on_send), 0);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  assert_int_equal(c.send_calls, 0);
  assert_int_equal(c.recv_calls, 0);
  assert_int_equal(twe__sock_close(&c.sock, on_close), 0);
  assert_int_equal(twe__sock_close(&c.sock, on_close), -EALREADY);
  assert_int_equal(twe__sock_recv(&c.sock, buf, 64, on_recv), -ESHUTDOWN);
  assert_int_equal(twe__sock_detach(&c.sock), -ESHUTDOWN);
  RUN_UNTIL(r, c.close_calls == 1);
  assert_int_equal(c.recv_calls, 1);
  assert_int_equal(c.recv_last, -ECANCELED);
  assert_int_equal(c.send_calls, 1);
  assert_int_equal(c.send_status, -ECANCELED);
  /* Every operation reports before the close. */
  assert_true(c.recv_seq < c.close_seq);
  assert_true(c.send_seq < c.close_seq);
  /* Only now are the buffers ours again. */
  free(big);
  free(buf);
  close(sfd);
  reactor_end(r);
}

static void test_sock_failed_calls_never_call_back(void **state) {
  (void)state;
  int cfd, sfd;
  tcp_pair(&cfd, &sfd);
  twe_reactor_t *r = reactor_new();
  conn_t c;
  conn_init(r, &c, cfd);
  char buf[16];
  assert_int_equal(twe__sock_recv(&c.sock, buf, 0, on_recv), -EINVAL);
  assert_int_equal(twe__sock_recv(&c.sock, buf, sizeof buf, NULL), -EINVAL);
  assert_int_equal(twe__sock_send(&c.sock, buf, 0, on_send), -EINVAL);
  assert_int_equal(twe__sock_recv(&c.sock, buf, sizeof buf, on_recv), 0);
  assert_int_equal(twe__sock_recv(&c.sock, buf, sizeof buf, on_recv), -EBUSY);
  assert_int_equal(twe__sock_send(&c.sock, "hi", 2, on_send), 0);
  assert_int_equal(twe__sock_send(&c.sock, "hi", 2, on_send), -EBUSY);
  struct sockaddr_in a = {.sin_family = AF_INET};
  assert_int_equal(twe__sock_connect(&c.sock, (struct sockaddr *)&a, sizeof a, on_connect), -EBUSY);
  assert_int_equal(twe__sock_detach(&c.sock), -EBUSY);
  RUN_UNTIL(r, c.send_calls == 1);
  assert_int_equal(c.send_status, 0);
  assert_int_equal(read(sfd, buf, sizeof buf), 2);
  assert_int_equal(twe__sock_cancel(&c.sock, TWE_SOCK_OP_RECV), 1);
  RUN_UNTIL(r, c.recv_calls == 1);
  assert_int_equal(c.recv_last, -ECANCELED);
  /* Idle again: detach hands the fd back, unregistered. */
  assert_int_equal(twe__sock_detach(&c.sock), cfd);
  assert_int_equal(twe__sock_fd(&c.sock), -1);
  for (int i = 0; i < 3; i++) assert_true(twe__reactor_run_once(r, 0) >= 0);
  assert_int_equal(c.recv_calls, 1);
  assert_int_equal(c.send_calls, 1);
  assert_int_equal(c.connect_calls, 0);
  close(cfd);
  close(sfd);
  reactor_end(r);
}

static int close_calls_sum(const conn_t *c, int n) {
  int sum = 0;
  for (int i = 0; i < n; i++) sum += c[i].close_calls;
  return sum;
}

/* io_uring: everything the callbacks of one iteration start goes to the
 * kernel in one submit; epoll: one epoll_wait per iteration. */
static void test_reactor_submits_once_per_iteration(void **state) {
  (void)state;
  enum { N = 8 };
  twe_reactor_t *r = reactor_new();
  conn_t c[N];
  int peer[N];
  char buf[N][16];
  for (int i = 0; i < N; i++) {
    int cfd;
    tcp_pair(&cfd, &peer[i]);
    conn_init(r, &c[i], cfd);
  }
  assert_true(twe__reactor_run_once(r, 0) >= 0);
  twe_reactor_stats_t before, after;
  twe__reactor_stats(r, &before);
  for (int i = 0; i < N; i++)
    assert_int_equal(twe__sock_recv(&c[i].sock, buf[i], sizeof buf[i], on_recv), 0);
  assert_true(twe__reactor_run_once(r, 0) >= 0);
  twe__reactor_stats(r, &after);
  assert_int_equal(after.submit_calls - before.submit_calls, 1);
  if (twe__reactor_backend(r) == TWE_IO_BACKEND_URING)
    assert_int_equal(after.sqes_submitted - before.sqes_submitted, N);
  for (int i = 0; i < N; i++) assert_int_equal(twe__sock_close(&c[i].sock, on_close), 0);
  RUN_UNTIL(r, close_calls_sum(c, N) == N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(c[i].recv_calls, 1);
    assert_int_equal(c[i].recv_last, -ECANCELED);
    close(peer[i]);
  }
  reactor_end(r);
}

static int destroy_timer_calls;
static void on_timer_count(twe_timer_t *t) {
  (void)t;
  destroy_timer_calls++;
}

/* Destroy with everything in flight: a recv and a stuck send, a connect
 * that never completes (full backlog), a recv whose callback closes its
 * socket, a timer and a wake handle. Every operation reports -ECANCELED
 * exactly once, the close started from a callback reports too, the timer
 * stays silent, and the buffers are only freed afterwards (ASan run). */
static void test_reactor_destroy_drains_pending(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  int cfd, sfd, cfd2, sfd2;
  tcp_pair(&cfd, &sfd);
  tcp_pair(&cfd2, &sfd2);
  conn_t busy, closer, hang;
  conn_init(r, &busy, cfd);
  conn_init(r, &closer, cfd2);
  closer.close_in_recv = true;
  unsigned char *big = pattern(STUCK_SEND);
  char *rbuf = malloc(64), *rbuf2 = malloc(64);
  assert_int_equal(twe__sock_recv(&busy.sock, rbuf, 64, on_recv), 0);
  assert_int_equal(twe__sock_send(&busy.sock, big, STUCK_SEND, on_send), 0);
  assert_int_equal(twe__sock_recv(&closer.sock, rbuf2, 64, on_recv), 0);

  addr_t a;
  int l = listen_loopback(AF_INET, 0, &a);
  assert_true(l >= 0);
  int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(filler, (struct sockaddr *)&a.ss, a.len), 0);
  conn_init(r, &hang, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  assert_int_equal(twe__sock_connect(&hang.sock, (struct sockaddr *)&a.ss, a.len, on_connect), 0);

  twe_timer_t t;
  destroy_timer_calls = 0;
  twe__timer_init(r, &t, on_timer_count);
  assert_int_equal(twe__timer_start(&t, 3600 * 1000 * MS), 0);
  wake_ctx_t w;
  wake_ctx_init(r, &w);
  /* Hand everything to the kernel (io_uring: one submit). */
  assert_true(twe__reactor_run_once(r, 0) >= 0);
  twe__wake_send(&w.wake); /* signalled, never run: destroy drops it */
  assert_int_equal(busy.send_calls + busy.recv_calls + closer.recv_calls + hang.connect_calls, 0);

  twe__reactor_destroy(r);

  assert_int_equal(busy.recv_calls, 1);
  assert_int_equal(busy.recv_last, -ECANCELED);
  assert_int_equal(busy.send_calls, 1);
  assert_int_equal(busy.send_status, -ECANCELED);
  assert_int_equal(closer.recv_calls, 1);
  assert_int_equal(closer.recv_last, -ECANCELED);
  assert_int_equal(closer.close_calls, 1);
  assert_true(closer.recv_seq < closer.close_seq);
  assert_int_equal(hang.connect_calls, 1);
  assert_int_equal(hang.connect_status, -ECANCELED);
  assert_int_equal(busy.close_calls + hang.close_calls, 0); /* never closed by us */
  assert_int_equal(destroy_timer_calls, 0);
  assert_int_equal(atomic_load(&w.calls), 0);
  free(big);
  free(rbuf);
  free(rbuf2);
  close(sfd);
  close(sfd2);
  close(filler);
  close(l);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--auto-choice") == 0)
    return auto_choice_child(strcmp(argv[2], "blocked") == 0);
  const char *b = getenv("TWE_IO_BACKEND");
  if (b && strcmp(b, "io_uring") == 0) {
    int rc = twe__reactor_probe(TWE_IO_BACKEND_URING);
    if (rc < 0) {
      printf("io_uring is not available here (%s): skipped\n", twe_strerror(rc));
      return 77;
    }
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reactor_create_follows_env),
      cmocka_unit_test(test_reactor_create_bad_env_value),
      cmocka_unit_test(test_reactor_auto_choice_and_log_line),
      cmocka_unit_test(test_timer_order_by_due_then_start),
      cmocka_unit_test(test_timer_stop_never_fires),
      cmocka_unit_test(test_timer_restart_fires_once),
      cmocka_unit_test(test_timer_zero_delay_next_iteration),
      cmocka_unit_test(test_prepare_runs_before_wait_in_order),
      cmocka_unit_test(test_prepare_put_off_once_when_not_waiting),
      cmocka_unit_test(test_prepare_cancel_requeue_destroy),
      cmocka_unit_test(test_reactor_run_until_stopped),
      cmocka_unit_test(test_reactor_now_cached_per_iteration),
      cmocka_unit_test(test_wake_coalesced_from_thread),
      cmocka_unit_test(test_wake_counts_one_callback_per_round),
      cmocka_unit_test(test_wake_many_producers_none_lost),
      cmocka_unit_test(test_wake_close_from_callback),
      cmocka_unit_test(test_reactor_wake_ends_wait),
      cmocka_unit_test(test_sock_roundtrip_ipv4),
      cmocka_unit_test(test_sock_roundtrip_ipv6),
      cmocka_unit_test(test_sock_connect_refused),
      cmocka_unit_test(test_sock_cancel_reports_once),
      cmocka_unit_test(test_sock_close_reports_ops_then_close),
      cmocka_unit_test(test_sock_failed_calls_never_call_back),
      cmocka_unit_test(test_reactor_submits_once_per_iteration),
      cmocka_unit_test(test_reactor_destroy_drains_pending),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
