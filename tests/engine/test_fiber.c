/* tests/engine/test_fiber.c — fibers: resume/yield order, values across
 * switches, finishing and abandoning fibers, stack reuse, FP control state,
 * 100,000 suspended fibers within few VMAs, stowing suspended fibers off
 * their pages (values and addresses kept, RSS given back, neighbours still
 * running), and overflow detection (canary, with a stowed neighbour too,
 * and guard pages in debug mode) in forked children. */
#define _GNU_SOURCE /* fork, pipe, setenv, sysconf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/fiber.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(UNDER_TSAN)
#define UNDER_TSAN 1
#endif

/* --- helpers ----------------------------------------------------------------- */
static long maps_lines(void) {
  FILE *fp = fopen("/proc/self/maps", "r");
  if (!fp) return -1;
  long n = 0;
  int c;
  while ((c = fgetc(fp)) != EOF) n += c == '\n';
  fclose(fp);
  return n;
}

static long rss_bytes(void) {
  FILE *fp = fopen("/proc/self/statm", "r");
  if (!fp) return -1;
  long size = 0, resident = 0;
  int n = fscanf(fp, "%ld %ld", &size, &resident);
  fclose(fp);
  return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

/* Rounding control of the FP unit(s): 0 nearest, 1 down, 2 up, 3 toward zero.
 * Inline assembly rather than <fenv.h>: the test links no libm. */
#if defined(__x86_64__)
static unsigned fp_mode_get(void) {
  uint32_t mxcsr;
  uint16_t cw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  unsigned sse = (mxcsr >> 13) & 3, x87 = (cw >> 10) & 3;
  return sse == x87 ? sse : 99; /* 99: the two units disagree */
}
static void fp_mode_set(unsigned mode) {
  uint32_t mxcsr;
  uint16_t cw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  mxcsr = (mxcsr & ~(3u << 13)) | (mode << 13);
  cw = (uint16_t)((cw & ~(3u << 10)) | (mode << 10));
  __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
  __asm__ volatile("fldcw %0" ::"m"(cw));
}
#elif defined(__aarch64__)
/* FPCR.RMode: 0 nearest, 1 +inf, 2 -inf, 3 zero; mapped to the order above. */
static unsigned fp_mode_get(void) {
  uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  static const unsigned from_hw[4] = {0, 2, 1, 3};
  return from_hw[(r >> 22) & 3];
}
static void fp_mode_set(unsigned mode) {
  static const uint64_t to_hw[4] = {0, 2, 1, 3};
  uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  r = (r & ~(UINT64_C(3) << 22)) | (to_hw[mode] << 22);
  __asm__ volatile("msr fpcr, %0" ::"r"(r));
}
#endif

static twe_fiber_pool_t *pool_new(size_t stack) {
  twe_fiber_pool_t *p = NULL;
  assert_int_equal(twe__fiber_pool_create(stack, &p), 0);
  assert_non_null(p);
  return p;
}

static twe_fiber_t *fiber_new(twe_fiber_pool_t *p, twe_fiber_fn fn, void *arg) {
  twe_fiber_t *f = NULL;
  assert_int_equal(twe__fiber_create(p, fn, arg, &f), 0);
  assert_non_null(f);
  return f;
}

/* --- order of resume and yield ---------------------------------------------------- */
struct trace {
  char log[16];
  size_t len;
  twe_fiber_t *seen_current;
};

static void ping_fn(void *arg) {
  struct trace *t = arg;
  t->seen_current = twe__fiber_current();
  t->log[t->len++] = 'a';
  twe__fiber_yield();
  t->log[t->len++] = 'c';
  twe__fiber_yield();
  t->log[t->len++] = 'e';
}

static void test_fiber_resume_ping_pong(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  struct trace t = {0};
  twe_fiber_t *f = fiber_new(p, ping_fn, &t);
  assert_null(twe__fiber_current());
  assert_int_equal(t.len, 0); /* creating does not run it */
  assert_int_equal(twe__fiber_resume(f), 1);
  t.log[t.len++] = 'b';
  assert_int_equal(twe__fiber_resume(f), 1);
  t.log[t.len++] = 'd';
  assert_false(twe__fiber_finished(f));
  assert_int_equal(twe__fiber_resume(f), 0);
  assert_true(twe__fiber_finished(f));
  t.log[t.len] = '\0';
  assert_string_equal(t.log, "abcde");
  assert_ptr_equal(t.seen_current, f);
  assert_null(twe__fiber_current());
  twe__fiber_destroy(f);
  twe__fiber_pool_destroy(p);
}

/* --- values through a shared struct -------------------------------------------- */
struct doubler {
  int in, out;
  long sum;
  int stop;
};

static void doubler_fn(void *arg) {
  struct doubler *d = arg;
  while (!d->stop) {
    d->out = d->in * 2;
    d->sum += d->in;
    twe__fiber_yield();
  }
}

static void test_fiber_yield_shares_struct(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  struct doubler d = {0};
  twe_fiber_t *f = fiber_new(p, doubler_fn, &d);
  for (int i = 1; i <= 1000; i++) {
    d.in = i;
    assert_int_equal(twe__fiber_resume(f), 1);
    assert_int_equal(d.out, 2 * i);
  }
  d.stop = 1;
  assert_int_equal(twe__fiber_resume(f), 0);
  assert_int_equal(d.sum, 1000L * 1001 / 2);
  twe__fiber_destroy(f);
  twe__fiber_pool_destroy(p);
}

/* --- finishing ------------------------------------------------------------------- */
static void count_fn(void *arg) {
  ++*(int *)arg;
}

static void test_fiber_resume_returns_zero_when_finished(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  int runs = 0;
  twe_fiber_t *f = fiber_new(p, count_fn, &runs);
  assert_false(twe__fiber_finished(f));
  assert_int_equal(twe__fiber_resume(f), 0);
  assert_true(twe__fiber_finished(f));
  assert_int_equal(runs, 1);
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_in_use, 1);
  twe__fiber_destroy(f);
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_in_use, 0);
  twe__fiber_pool_destroy(p);
}

/* --- abandoning and reuse ------------------------------------------------------ */
static void park_fn(void *arg) {
  volatile char scratch[2048]; /* leaves frames (and ASan redzones) behind */
  memset((char *)scratch, 0x5a, sizeof scratch);
  ++*(int *)arg;
  for (;;) twe__fiber_yield();
}

static void test_fiber_destroy_suspended_reuses_stack(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  int runs = 0;
  twe_fiber_t *a = fiber_new(p, park_fn, &runs);
  twe_fiber_t *b = fiber_new(p, park_fn, &runs);
  twe_fiber_t *never = fiber_new(p, park_fn, &runs);
  assert_int_equal(twe__fiber_resume(a), 1);
  assert_int_equal(twe__fiber_resume(b), 1);
  assert_int_equal(runs, 2);
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stack_size, 64 * 1024);
  assert_int_equal(st.slabs, 1);
  assert_int_equal(st.stacks_total, 3);
  assert_int_equal(st.stacks_in_use, 3);

  twe__fiber_destroy(a); /* suspended mid-function: abandoned */
  twe__fiber_destroy(never);
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_in_use, 1);

  /* New fibers run on the freed stacks: the pool carves nothing new. */
  for (int i = 0; i < 10; i++) {
    twe_fiber_t *c = fiber_new(p, count_fn, &runs);
    twe_fiber_t *d = fiber_new(p, park_fn, &runs);
    assert_int_equal(twe__fiber_resume(c), 0);
    assert_int_equal(twe__fiber_resume(d), 1);
    twe__fiber_destroy(c);
    twe__fiber_destroy(d);
  }
  assert_int_equal(runs, 2 + 20);
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_total, 3);
  assert_int_equal(st.stacks_in_use, 1);
  assert_int_equal(twe__fiber_resume(b), 1); /* the survivor is intact */
  twe__fiber_destroy(b);
  twe__fiber_pool_destroy(p);
}

static void test_fiber_pool_create_rounds_stack_size(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(1000); /* below the minimum */
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stack_size, 16 * 1024);
  assert_int_equal(st.slabs, 0); /* nothing mapped before the first fiber */
  twe__fiber_pool_destroy(p);
  p = pool_new(100 * 1024 + 1);
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stack_size % (size_t)sysconf(_SC_PAGESIZE), 0);
  assert_true(st.stack_size > 100 * 1024);
  twe__fiber_pool_destroy(p);
  assert_int_equal(twe__fiber_pool_create((size_t)1 << 40, &p), -EINVAL);
}

/* --- deep recursion ------------------------------------------------------------ */
__attribute__((noinline)) static long descend(int depth) {
  volatile unsigned char buf[256];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(depth + i);
  if (depth == 0) {
    twe__fiber_yield(); /* switch out and back with the stack at its deepest */
    return buf[7];
  }
  return descend(depth - 1) + buf[depth % sizeof buf];
}

struct deep {
  int depth;
  long result;
};

static void deep_fn(void *arg) {
  struct deep *d = arg;
  d->result = descend(d->depth);
}

static void test_fiber_resume_deep_recursion(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  /* ~100 frames of 256 bytes and more: about half of the 64 KiB stack, some
   * more under ASan's redzones. */
  struct deep d = {100, 0};
  long expect = 7;
  for (int k = 1; k <= d.depth; k++) expect += (unsigned char)(k + k % 256);
  twe_fiber_t *f = fiber_new(p, deep_fn, &d);
  assert_int_equal(twe__fiber_resume(f), 1);
  assert_int_equal(twe__fiber_resume(f), 0);
  assert_int_equal(d.result, expect);
  twe__fiber_destroy(f);
  twe__fiber_pool_destroy(p);
}

/* --- floating point state ------------------------------------------------------ */
struct fpcheck {
  unsigned mode_at_entry, mode_after_yield;
  double before, after;
  volatile double seed;
};

static void fp_fn(void *arg) {
  struct fpcheck *c = arg;
  c->mode_at_entry = fp_mode_get();
  fp_mode_set(2); /* upward, for this fiber only */
  double x = c->seed * 1.5, y = c->seed / 3.0; /* live across the switch */
  twe__fiber_yield();
  c->mode_after_yield = fp_mode_get();
  c->before = x + y;
  c->after = c->seed * 1.5 + c->seed / 3.0;
}

static void test_fiber_yield_preserves_fp_state(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  struct fpcheck c = {.seed = 7.25};
  unsigned saved = fp_mode_get();
  fp_mode_set(3); /* the scheduler's own mode must not leak into the fiber */
  twe_fiber_t *f = fiber_new(p, fp_fn, &c);
  assert_int_equal(twe__fiber_resume(f), 1);
  unsigned sched_mode_1 = fp_mode_get();
  fp_mode_set(1); /* changed while the fiber is suspended */
  assert_int_equal(twe__fiber_resume(f), 0);
  unsigned sched_mode_2 = fp_mode_get();
  fp_mode_set(saved);
  assert_int_equal(sched_mode_1, 3);
  assert_int_equal(sched_mode_2, 1);
  assert_int_equal(c.mode_at_entry, 0); /* fibers start with IEEE defaults */
  assert_int_equal(c.mode_after_yield, 2);
  assert_true(c.before == c.after);
  twe__fiber_destroy(f);
  twe__fiber_pool_destroy(p);
}

/* --- many suspended fibers ---------------------------------------------------- */
static void touch_fn(void *arg) {
  volatile char buf[512]; /* "a little of its stack" */
  memset((char *)buf, 1, sizeof buf);
  ++*(long *)arg;
  twe__fiber_yield();
  ++*(long *)arg;
}

static void test_fiber_create_many_suspended(void **state) {
  (void)state;
#ifdef UNDER_TSAN
  /* TSan counts each fiber as a thread, capped at 8128 alive. */
  const size_t n = 4000;
#else
  const size_t n = 100000;
#endif
  twe_fiber_pool_t *p = pool_new(0);
  twe_fiber_t **fs = calloc(n, sizeof *fs);
  assert_non_null(fs);
  long runs = 0;
  long maps0 = maps_lines(), rss0 = rss_bytes();
  assert_true(maps0 > 0 && rss0 > 0);
  for (size_t i = 0; i < n; i++) {
    fs[i] = fiber_new(p, touch_fn, &runs);
    assert_int_equal(twe__fiber_resume(fs[i]), 1);
  }
  long maps1 = maps_lines(), rss1 = rss_bytes();
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(p, &st);
  printf("# %zu suspended fibers: VMAs %ld -> %ld (+%ld), slabs %zu, RSS +%ld KiB "
         "(%.0f bytes/fiber)\n",
         n, maps0, maps1, maps1 - maps0, st.slabs, (rss1 - rss0) / 1024,
         (double)(rss1 - rss0) / (double)n);
  assert_int_equal(runs, (long)n);
  assert_int_equal(st.stacks_in_use, n);
  assert_true(st.slabs <= n / 64 + 1);
#ifndef UNDER_TSAN
  assert_true(maps1 - maps0 < 5000);
#else
  /* TSan maps ~4 VMAs and ~900 KB of its own per fiber: only slabs count. */
#endif
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(twe__fiber_resume(fs[i]), 0);
    twe__fiber_destroy(fs[i]);
  }
  assert_int_equal(runs, 2 * (long)n);
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_in_use, 0);
  assert_int_equal(st.stacks_total, n);
  free(fs);
  twe__fiber_pool_destroy(p);
}

/* Freed stacks beyond the warm few go back to the kernel: RSS falls. */
static void heavy_fn(void *arg) {
  volatile char buf[40 * 1024];
  for (size_t i = 0; i < sizeof buf; i += 256) buf[i] = 1;
  (void)arg;
  twe__fiber_yield();
}

static void test_fiber_destroy_releases_memory(void **state) {
  (void)state;
  enum { N = 2000 };
  twe_fiber_pool_t *p = pool_new(0);
  twe_fiber_t **fs = calloc(N, sizeof *fs);
  assert_non_null(fs);
  long rss0 = rss_bytes();
  for (size_t i = 0; i < N; i++) {
    fs[i] = fiber_new(p, heavy_fn, NULL);
    assert_int_equal(twe__fiber_resume(fs[i]), 1);
  }
  long rss1 = rss_bytes();
  for (size_t i = 0; i < N; i++) twe__fiber_destroy(fs[i]);
  long rss2 = rss_bytes();
  printf("# %d fibers touching 40 KiB: RSS +%ld KiB; after destroying them -%ld KiB\n", N,
         (rss1 - rss0) / 1024, (rss1 - rss2) / 1024);
  /* Touched: ~40 KiB each; released: every page of all but 64 (cold). */
  assert_true(rss1 - rss0 > (long)N * 32 * 1024);
  assert_true(rss1 - rss2 > (long)(N - 64) * 32 * 1024);
  free(fs);
  twe__fiber_pool_destroy(p);
}

/* --- stowing ----------------------------------------------------------------------- */
struct stow_probe {
  unsigned id;
  uint64_t *local_at; /* where the fiber's local array is: must not move */
  uint64_t sum;       /* what it found in it after each wake-up */
  int wakes;
};

static void stow_fn(void *arg) {
  struct stow_probe *pr = arg;
  uint64_t local[96]; /* 768 bytes of frame, a pattern only this fiber knows */
  for (size_t i = 0; i < 96; i++) local[i] = (uint64_t)pr->id * 1000003u + i;
  pr->local_at = local;
  for (;;) {
    twe__fiber_yield();
    uint64_t sum = 0;
    for (size_t i = 0; i < 96; i++) sum += local[i] - ((uint64_t)pr->id * 1000003u + i);
    pr->sum = sum; /* 0 when every word came back */
    pr->wakes++;
    if (pr->wakes == 3) return;
  }
}

/* N fibers of stow_fn, each run to its first wait. */
#ifdef UNDER_TSAN
enum { N_STOW = 1000 };
#else
enum { N_STOW = 4000 };
#endif
typedef struct stow_set {
  twe_fiber_pool_t *p;
  twe_fiber_t **fs;
  struct stow_probe *pr;
  twe_fiber_stowed_t **saved;
} stow_set_t;

static stow_set_t stow_set_new(unsigned n) {
  stow_set_t s = {pool_new(0), calloc(n, sizeof(twe_fiber_t *)),
                  calloc(n, sizeof(struct stow_probe)), calloc(n, sizeof(twe_fiber_stowed_t *))};
  assert_true(s.fs && s.pr && s.saved);
  for (unsigned i = 0; i < n; i++) {
    s.pr[i].id = i;
    s.fs[i] = fiber_new(s.p, stow_fn, &s.pr[i]);
    assert_int_equal(twe__fiber_resume(s.fs[i]), 1);
  }
  return s;
}

static void stow_set_free(stow_set_t *s) {
  free(s->saved);
  free(s->pr);
  free(s->fs);
  twe__fiber_pool_destroy(s->p);
}

static void test_fiber_stow_gives_pages_back_and_keeps_the_stack(void **state) {
  (void)state;
  enum { N = N_STOW };
  stow_set_t set = stow_set_new(N);
  twe_fiber_t **fs = set.fs;
  struct stow_probe *pr = set.pr;
  twe_fiber_stowed_t **saved = set.saved;
  long rss0 = rss_bytes();
  size_t copies = 0;
  for (unsigned i = 0; i < N; i++) {
    assert_int_equal(twe__fiber_stow(fs[i], &saved[i]), 0);
    copies += twe__fiber_stowed_bytes(saved[i]);
  }
  long rss1 = rss_bytes();
  printf("# %d suspended fibers stowed: RSS -%ld KiB (%.0f bytes each, net), copies "
         "%.0f bytes each\n",
         N, (rss0 - rss1) / 1024, (double)(rss0 - rss1) / N, (double)copies / N);
  /* A page each given back, less the copy (its 768-byte array and a few
   * frames), which is malloc'd meanwhile. (TSan's shadow of the copies
   * outweighs it.) */
#ifndef UNDER_TSAN
  assert_true(rss0 - rss1 > (long)N * 2 * 1024);
#endif
  assert_true(copies / N > 768 && copies / N < 2048);

  /* Even fibers stay stowed while the odd ones run: the canary of each odd
   * one is in its stowed neighbour's zeroed top page. */
  for (unsigned i = 0; i < N; i++)
    if (i % 2) twe__fiber_unstow(fs[i], saved[i]);
  for (unsigned i = 1; i < N; i += 2) {
    assert_int_equal(twe__fiber_resume(fs[i]), 1);
    assert_int_equal(pr[i].sum, 0);
  }
  /* The rest come back, last first; their arrays are where they were. */
  for (unsigned i = N; i-- > 0;)
    if (i % 2 == 0) twe__fiber_unstow(fs[i], saved[i]);
  for (unsigned i = 0; i < N; i++) {
    uint64_t *at = pr[i].local_at;
    int want = i % 2 ? 2 : 1;
    assert_int_equal(twe__fiber_resume(fs[i]), 1);
    assert_int_equal(pr[i].wakes, want);
    assert_int_equal(pr[i].sum, 0);
    assert_ptr_equal(pr[i].local_at, at);
  }
  /* Stowed again, a second time, then run to the end. */
  for (unsigned i = 0; i < N; i++) {
    if (i % 2) continue; /* the odd ones have one wake-up left after this */
    assert_int_equal(twe__fiber_stow(fs[i], &saved[i]), 0);
    twe__fiber_unstow(fs[i], saved[i]);
    assert_int_equal(twe__fiber_resume(fs[i]), 1);
  }
  for (unsigned i = 0; i < N; i++) {
    assert_int_equal(twe__fiber_resume(fs[i]), 0);
    assert_int_equal(pr[i].wakes, 3);
    assert_int_equal(pr[i].sum, 0);
    assert_int_equal(twe__fiber_stow(fs[i], &saved[i]), -EBUSY); /* finished */
    twe__fiber_destroy(fs[i]);
  }
  stow_set_free(&set);
}

static void yield_fn(void *arg) {
  (void)arg;
  twe__fiber_yield();
}

/* Destroyed while stowed, a fiber's slot stays off its pages (RSS does
 * not come back) and goes cold; new fibers take the cold slots, next to
 * stowed and live ones, and run. */
static void test_fiber_destroy_stowed_stays_off_its_pages(void **state) {
  (void)state;
  enum { N = N_STOW };
  stow_set_t set = stow_set_new(N);
  twe_fiber_pool_t *p = set.p;
  twe_fiber_t **fs = set.fs;
  struct stow_probe *pr = set.pr;
  twe_fiber_stowed_t **saved = set.saved;
  for (unsigned i = 0; i < N; i++) assert_int_equal(twe__fiber_stow(fs[i], &saved[i]), 0);
  long rss0 = rss_bytes();
  /* Every third is destroyed while stowed. */
  for (unsigned i = 0; i < N; i += 3) twe__fiber_destroy_stowed(fs[i], saved[i]);
  long rss1 = rss_bytes();
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_in_use, N - (N + 2) / 3);
  printf("# %d stowed fibers, a third destroyed stowed: RSS %+ld KiB\n", N, (rss1 - rss0) / 1024);
#ifndef UNDER_TSAN
  /* No page put back (4 KiB each): only the cold list grew. */
  assert_true(rss1 - rss0 < (long)(N / 3) * 1024);
#endif
  /* New fibers take the slots; they run beside their stowed neighbours. */
  struct stow_probe np[N / 3 + 1];
  memset(np, 0, sizeof np);
  twe_fiber_t *nf[N / 3 + 1];
  size_t made = 0;
  for (unsigned i = 0; i < N; i += 3) {
    np[made].id = 100000 + i;
    nf[made] = fiber_new(p, stow_fn, &np[made]);
    assert_int_equal(twe__fiber_resume(nf[made]), 1);
    made++;
  }
  twe__fiber_pool_stats(p, &st);
  assert_int_equal(st.stacks_total, N); /* no new slot carved */
  for (size_t k = 0; k < made; k++) {
    for (int r = 0; r < 3; r++) assert_int_equal(twe__fiber_resume(nf[k]), r < 2 ? 1 : 0);
    assert_int_equal(np[k].sum, 0);
    twe__fiber_destroy(nf[k]);
  }
  for (unsigned i = 0; i < N; i++) {
    if (i % 3 == 0) continue;
    twe__fiber_unstow(fs[i], saved[i]);
    for (int r = 0; r < 3; r++) assert_int_equal(twe__fiber_resume(fs[i]), r < 2 ? 1 : 0);
    assert_int_equal(pr[i].sum, 0);
    twe__fiber_destroy(fs[i]);
  }
  stow_set_free(&set);
}

/* A not yet started fiber stows too, and starts after unstowing. */
static void test_fiber_stow_before_first_run(void **state) {
  (void)state;
  twe_fiber_pool_t *p = pool_new(0);
  struct stow_probe pr = {.id = 7};
  twe_fiber_t *f = fiber_new(p, stow_fn, &pr);
  twe_fiber_t *g = fiber_new(p, yield_fn, NULL); /* f's lower neighbour */
  twe_fiber_stowed_t *sf = NULL, *sg = NULL;
  assert_int_equal(twe__fiber_stow(f, &sf), 0);
  assert_int_equal(twe__fiber_stow(g, &sg), 0);
  twe__fiber_unstow(f, sf);
  assert_int_equal(twe__fiber_resume(f), 1); /* g still stowed below it */
  twe__fiber_unstow(g, sg);
  assert_int_equal(twe__fiber_resume(g), 1);
  assert_int_equal(twe__fiber_resume(g), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(twe__fiber_resume(f), i < 2 ? 1 : 0);
  assert_int_equal(pr.sum, 0);
  twe__fiber_destroy(f);
  twe__fiber_destroy(g);
  twe__fiber_pool_destroy(p);
}

/* --- overflow detection --------------------------------------------------------- */
static uintptr_t overflow_floor;

/* Recurses until its frame is below overflow_floor, writing every frame. */
__attribute__((noinline)) static long sink(int depth) {
  volatile unsigned char buf[256];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)i;
  if ((uintptr_t)__builtin_frame_address(0) < overflow_floor || depth > 100000) return buf[1];
  return sink(depth + 1) + buf[2];
}

struct overflow {
  size_t stack_size;
  size_t past_end; /* how far below the stack's low end to reach */
};

static void overflow_fn(void *arg) {
  struct overflow *o = arg;
  uintptr_t top = (uintptr_t)__builtin_frame_address(0);
  overflow_floor = top - o->stack_size - o->past_end;
  volatile long r = sink(0);
  (void)r;
  twe__fiber_yield(); /* the overflow is over; the canary tells */
}

/* Runs an overflowing fiber in a child; returns its wait status and, in msg,
 * what it wrote to stderr. */
static int run_overflow_child(bool guard_pages, bool stowed_neighbour, size_t past_end, char *msg,
                              size_t msg_cap) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    /* Let a fault kill the child outright rather than a sanitizer's
     * handler turning it into an exit code. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    if (guard_pages) setenv("TWE_FIBER_GUARD_PAGES", "1", 1);
    twe_fiber_pool_t *p = NULL;
    if (twe__fiber_pool_create(16 * 1024, &p) != 0) _exit(2);
    long maps0 = maps_lines();
    struct overflow o = {16 * 1024, past_end};
    twe_fiber_t *f = NULL;
    if (twe__fiber_create(p, overflow_fn, &o, &f) != 0) _exit(2);
    if (guard_pages && maps_lines() - maps0 < 64) _exit(3); /* no guard pages? */
    if (stowed_neighbour) {
      /* The next stack carved is f's lower neighbour, whose top page holds
       * f's canary: stowed, it reads as zeros until the overflow writes. */
      twe_fiber_t *g = NULL;
      twe_fiber_stowed_t *sg = NULL;
      if (twe__fiber_create(p, yield_fn, NULL, &g) != 0) _exit(2);
      if (twe__fiber_resume(g) != 1 || twe__fiber_stow(g, &sg) != 0) _exit(4);
    }
    twe__fiber_resume(f);
    twe__fiber_resume(f);
    _exit(0); /* undetected */
  }
  close(fds[1]);
  size_t len = 0;
  ssize_t r;
  while ((r = read(fds[0], msg + len, msg_cap - 1 - len)) > 0) len += (size_t)r;
  msg[len] = '\0';
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void test_fiber_resume_detects_canary_overflow(void **state) {
  (void)state;
  char msg[2048];
  int status = run_overflow_child(false, false, 512, msg, sizeof msg);
  printf("# overflowing child: %s %d; stderr: %s", WIFSIGNALED(status) ? "signal" : "exit",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), msg);
  assert_false(WIFEXITED(status));
  assert_true(WIFSIGNALED(status));
  int sig = WTERMSIG(status);
  assert_true(sig == SIGABRT || sig == SIGSEGV);
  if (sig == SIGABRT) {
    assert_non_null(strstr(msg, "fiber 1 "));
    assert_non_null(strstr(msg, "canary"));
  }
}

/* The lower neighbour stowed: its zeroed top page passes for a canary only
 * while nothing wrote it. */
static void test_fiber_canary_overflow_seen_with_stowed_neighbour(void **state) {
  (void)state;
  char msg[2048];
  int status = run_overflow_child(false, true, 512, msg, sizeof msg);
  printf("# overflowing child, neighbour stowed: %s %d; stderr: %s",
         WIFSIGNALED(status) ? "signal" : "exit",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), msg);
  assert_true(WIFSIGNALED(status));
  int sig = WTERMSIG(status);
  assert_true(sig == SIGABRT || sig == SIGSEGV);
  if (sig == SIGABRT) assert_non_null(strstr(msg, "canary"));
}

static void test_fiber_guard_pages_catch_overflow(void **state) {
  (void)state;
  char msg[2048];
  /* Far past the guard page: a fault, not a canary report. */
  int status = run_overflow_child(true, false, 64 * 1024, msg, sizeof msg);
  if (WIFEXITED(status)) printf("# guard-page child exited %d: %s", WEXITSTATUS(status), msg);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGSEGV);
}

int main(void) {
  /* The slab layout is under test; the guard-page test sets this in a child. */
  unsetenv("TWE_FIBER_GUARD_PAGES");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fiber_resume_ping_pong),
    cmocka_unit_test(test_fiber_yield_shares_struct),
    cmocka_unit_test(test_fiber_resume_returns_zero_when_finished),
    cmocka_unit_test(test_fiber_destroy_suspended_reuses_stack),
    cmocka_unit_test(test_fiber_pool_create_rounds_stack_size),
    cmocka_unit_test(test_fiber_resume_deep_recursion),
    cmocka_unit_test(test_fiber_yield_preserves_fp_state),
    cmocka_unit_test(test_fiber_create_many_suspended),
    cmocka_unit_test(test_fiber_destroy_releases_memory),
    cmocka_unit_test(test_fiber_stow_gives_pages_back_and_keeps_the_stack),
    cmocka_unit_test(test_fiber_stow_before_first_run),
    cmocka_unit_test(test_fiber_destroy_stowed_stays_off_its_pages),
    cmocka_unit_test(test_fiber_resume_detects_canary_overflow),
    cmocka_unit_test(test_fiber_canary_overflow_seen_with_stowed_neighbour),
    cmocka_unit_test(test_fiber_guard_pages_catch_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
