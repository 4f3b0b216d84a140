/* bench/bench_driver.c — starts workflows for the worker benchmarks
 * (bench/run_worker_bench.sh) through the twe client API, and prints one
 * line of JSON with what happened.
 *
 *   bench_driver rate --count N --rate R [--type Hello] [--input JSON]
 *                     [--starters T] [--waiters W] [--task-queue Q]
 *       Starts N workflows at R per second (T threads keep the schedule:
 *       workflow i is due at i / R s), and waits for every result (W
 *       threads). End-to-end latency = from the moment a workflow was due to
 *       start until its result was read, so a start that falls behind
 *       schedule counts against the latency instead of hiding it.
 *   bench_driver park --count N [--threads K] [--task-queue Q]
 *       Starts N "Park" workflows as fast as the server takes them, with K
 *       threads, and does not wait for them (they sleep for an hour).
 *
 * A client serializes its calls, and a result wait holds it for as long as
 * the workflow runs, so every thread here opens its own client (its own
 * connection). Progress goes to stderr every 5 s; the first errors and the
 * first workflows slower than 5 s end to end too.
 * Connection settings come from the TEMPORAL_* environment variables. */
#define _GNU_SOURCE /* memmem; clock_nanosleep */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "twe/twe.h"

#define SEC 1000000000ull
#define MAX_ERRORS_SHOWN 5
#define SLOW_NS (5 * SEC) /* a latency worth naming on stderr */

typedef struct config {
  const char *mode, *type, *input, *task_queue, *expect;
  long count;
  double rate;
  unsigned starters, waiters, threads;
} config_t;

/* One workflow of a rate run. */
typedef struct item {
  uint64_t due_ns;   /* when it was due to start (monotonic) */
  char run_id[64];
  bool started;
} item_t;

static config_t cfg;
static char id_prefix[64];
static item_t *items;
static uint64_t t0_ns;
static atomic_long next_index;   /* the next workflow to start */
static atomic_long n_started, n_start_errors, n_done, n_result_errors;
static atomic_int errors_shown, slow_shown;

/* Started workflows waiting for a waiter thread: a ring of item indices
 * under a mutex (a few hundred per second: no need for anything finer). */
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static long *q_ring;
static long q_head, q_tail; /* q_tail - q_head items queued */
static long q_max_backlog;  /* most items ever queued with no waiter free */
static bool q_closed;

static uint64_t *latencies;
static atomic_long n_latencies;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns) {
  struct timespec ts = {(time_t)(t_ns / SEC), (long)(t_ns % SEC)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static void show_error(const char *what, long i, int rc, const char *err) {
  if (atomic_fetch_add(&errors_shown, 1) < MAX_ERRORS_SHOWN)
    fprintf(stderr, "bench_driver: %s %s%ld: %s (%s)\n", what, id_prefix, i,
            err && *err ? err : "-", twe_err_name(rc));
}

static twe_client_t *connect_or_die(void) {
  char err[512];
  twe_client_t *c;
  int rc = twe_client_connect(NULL, &c, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "bench_driver: cannot connect: %s\n", err);
    exit(1);
  }
  return c;
}

static int start_one(twe_client_t *c, long i, char *run_id, size_t run_id_len) {
  char id[128], err[512];
  snprintf(id, sizeof id, "%s%ld", id_prefix, i);
  twe_start_workflow_options_t o = {.workflow_id = id, .task_queue = cfg.task_queue};
  twe_payload_t arg = twe_payload_json(cfg.input);
  int rc = twe_client_start_workflow(c, cfg.type, &o, &arg, cfg.input ? 1 : 0, run_id,
                                     run_id_len, err, sizeof err);
  if (rc < 0) show_error("start", i, rc, err);
  return rc;
}

/* --- rate ------------------------------------------------------------------ */

static atomic_uint starters_left;
static uint64_t starts_done_ns;

static void *starter_main(void *arg) {
  twe_client_t *c = arg;
  for (;;) {
    long i = atomic_fetch_add(&next_index, 1);
    if (i >= cfg.count) break;
    item_t *it = &items[i];
    it->due_ns = t0_ns + (uint64_t)((double)i * 1e9 / cfg.rate);
    sleep_until(it->due_ns);
    if (start_one(c, i, it->run_id, sizeof it->run_id) < 0) {
      atomic_fetch_add(&n_start_errors, 1);
      continue;
    }
    it->started = true;
    atomic_fetch_add(&n_started, 1);
    pthread_mutex_lock(&q_mu);
    q_ring[q_tail++ % cfg.count] = i;
    pthread_cond_signal(&q_cv);
    pthread_mutex_unlock(&q_mu);
  }
  /* The last starter out tells the waiters that nothing more comes. */
  if (atomic_fetch_sub(&starters_left, 1) == 1) {
    pthread_mutex_lock(&q_mu);
    starts_done_ns = mono_ns();
    q_closed = true;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
  }
  return NULL;
}

static unsigned waiters_idle;

static void *waiter_main(void *arg) {
  twe_client_t *c = arg;
  char id[128], err[512];
  for (;;) {
    pthread_mutex_lock(&q_mu);
    waiters_idle++;
    while (q_head == q_tail && !q_closed) pthread_cond_wait(&q_cv, &q_mu);
    waiters_idle--;
    if (q_head == q_tail) {
      pthread_mutex_unlock(&q_mu);
      break;
    }
    long i = q_ring[q_head++ % cfg.count];
    /* Items left queued with every waiter busy: their latency is measured
     * late (reported, so a reader can tell). */
    if (waiters_idle == 0 && q_tail - q_head > q_max_backlog) q_max_backlog = q_tail - q_head;
    pthread_mutex_unlock(&q_mu);
    snprintf(id, sizeof id, "%s%ld", id_prefix, i);
    twe_workflow_result_t r;
    int rc = twe_client_workflow_result(c, id, items[i].run_id, 300 * SEC, &r, err, sizeof err);
    uint64_t now = mono_ns();
    bool ok = rc == 0;
    if (ok && cfg.expect &&
        (!r.has_result || !memmem(r.result.data, r.result.len, cfg.expect, strlen(cfg.expect)))) {
      snprintf(err, sizeof err, "result does not contain %s", cfg.expect);
      ok = false;
      rc = -EBADMSG;
    }
    if (ok) {
      uint64_t lat = now - items[i].due_ns;
      latencies[atomic_fetch_add(&n_latencies, 1)] = lat;
      /* Name the outliers, so their histories can be looked at. */
      if (lat > SLOW_NS && atomic_fetch_add(&slow_shown, 1) < MAX_ERRORS_SHOWN)
        fprintf(stderr, "bench_driver: slow: workflow %s run %s took %.0f ms\n", id,
                items[i].run_id, (double)lat / 1e6);
    } else {
      atomic_fetch_add(&n_result_errors, 1);
      show_error("result", i, rc, err);
    }
    twe_workflow_result_free(&r);
    atomic_fetch_add(&n_done, 1);
  }
  return NULL;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double percentile_ms(const uint64_t *v, long n, double p) {
  if (n == 0) return 0;
  long k = (long)(p * (double)(n - 1) + 0.5);
  return (double)v[k] / 1e6;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void progress(const char *what, long total, bool (*finished)(void)) {
  uint64_t last = mono_ns();
  while (!finished()) {
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (mono_ns() - last >= 5 * SEC) {
      last = mono_ns();
      fprintf(stderr, "bench_driver: %.0f s: %ld/%ld started, %ld %s, %ld errors\n",
              (double)(last - t0_ns) / 1e9, atomic_load(&n_started), total,
              atomic_load(&n_done), what,
              atomic_load(&n_start_errors) + atomic_load(&n_result_errors));
    }
  }
}

static bool rate_finished(void) {
  return atomic_load(&n_done) + atomic_load(&n_start_errors) >= cfg.count;
}

static int run_rate(void) {
  items = calloc((size_t)cfg.count, sizeof *items);
  q_ring = calloc((size_t)cfg.count, sizeof *q_ring);
  latencies = calloc((size_t)cfg.count, sizeof *latencies);
  unsigned nthreads = cfg.starters + cfg.waiters;
  pthread_t *th = calloc(nthreads, sizeof *th);
  twe_client_t **clients = calloc(nthreads, sizeof *clients);
  if (!items || !q_ring || !latencies || !th || !clients) return 1;
  for (unsigned i = 0; i < nthreads; i++) clients[i] = connect_or_die();
  double cpu0 = cpu_seconds();
  t0_ns = mono_ns() + SEC / 10;
  atomic_store(&starters_left, cfg.starters);
  for (unsigned i = 0; i < cfg.waiters; i++)
    pthread_create(&th[i], NULL, waiter_main, clients[i]);
  for (unsigned i = 0; i < cfg.starters; i++)
    pthread_create(&th[cfg.waiters + i], NULL, starter_main, clients[cfg.waiters + i]);
  progress("done", cfg.count, rate_finished);
  for (unsigned i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  uint64_t end = mono_ns();
  double cpu = cpu_seconds() - cpu0;
  long n = atomic_load(&n_latencies);
  qsort(latencies, (size_t)n, sizeof *latencies, compare_u64);
  printf("{\"mode\":\"rate\",\"type\":\"%s\",\"count\":%ld,\"rate\":%g,\"started\":%ld,"
         "\"completed\":%ld,\"start_errors\":%ld,\"result_errors\":%ld,"
         "\"start_seconds\":%.3f,\"seconds\":%.3f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
         "\"max_ms\":%.1f,\"waiter_backlog_max\":%ld,\"driver_cpu_s\":%.3f}\n",
         cfg.type, cfg.count, cfg.rate, atomic_load(&n_started), n,
         atomic_load(&n_start_errors), atomic_load(&n_result_errors),
         (double)(starts_done_ns - t0_ns) / 1e9, (double)(end - t0_ns) / 1e9,
         percentile_ms(latencies, n, 0.50), percentile_ms(latencies, n, 0.99),
         n ? (double)latencies[n - 1] / 1e6 : 0.0, q_max_backlog, cpu);
  for (unsigned i = 0; i < nthreads; i++) twe_client_close(clients[i]);
  free(clients);
  free(th);
  return 0;
}

/* --- park ------------------------------------------------------------------ */

static void *parker_main(void *arg) {
  twe_client_t *c = arg;
  char run_id[64];
  for (;;) {
    long i = atomic_fetch_add(&next_index, 1);
    if (i >= cfg.count) break;
    if (start_one(c, i, run_id, sizeof run_id) < 0) atomic_fetch_add(&n_start_errors, 1);
    else atomic_fetch_add(&n_started, 1);
  }
  return NULL;
}

static bool park_finished(void) {
  return atomic_load(&n_started) + atomic_load(&n_start_errors) >= cfg.count;
}

static int run_park(void) {
  pthread_t *th = calloc(cfg.threads, sizeof *th);
  twe_client_t **clients = calloc(cfg.threads, sizeof *clients);
  if (!th || !clients) return 1;
  for (unsigned i = 0; i < cfg.threads; i++) clients[i] = connect_or_die();
  double cpu0 = cpu_seconds();
  t0_ns = mono_ns();
  for (unsigned i = 0; i < cfg.threads; i++)
    pthread_create(&th[i], NULL, parker_main, clients[i]);
  progress("-", cfg.count, park_finished);
  for (unsigned i = 0; i < cfg.threads; i++) pthread_join(th[i], NULL);
  double secs = (double)(mono_ns() - t0_ns) / 1e9;
  printf("{\"mode\":\"park\",\"type\":\"%s\",\"count\":%ld,\"started\":%ld,"
         "\"start_errors\":%ld,\"seconds\":%.3f,\"starts_per_second\":%.1f,"
         "\"driver_cpu_s\":%.3f}\n",
         cfg.type, cfg.count, atomic_load(&n_started), atomic_load(&n_start_errors), secs,
         secs > 0 ? (double)atomic_load(&n_started) / secs : 0.0, cpu_seconds() - cpu0);
  for (unsigned i = 0; i < cfg.threads; i++) twe_client_close(clients[i]);
  free(clients);
  free(th);
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: bench_driver rate --count N --rate R [--type T] [--input JSON]\n"
          "                         [--expect TEXT] [--starters T] [--waiters W]\n"
          "                         [--task-queue Q] [--id-prefix P]\n"
          "       bench_driver park --count N [--threads K] [--task-queue Q] [--id-prefix P]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  cfg = (config_t){.mode = argv[1], .task_queue = "bench", .count = 0, .rate = 10,
                   .starters = 4, .waiters = 64, .threads = 8};
  bool rate = strcmp(cfg.mode, "rate") == 0, park = strcmp(cfg.mode, "park") == 0;
  if (!rate && !park) return usage();
  cfg.type = rate ? "Hello" : "Park";
  if (rate) {
    cfg.input = "\"World\"";
    cfg.expect = "Hi 9, World!";
  }
  snprintf(id_prefix, sizeof id_prefix, "bench-%s-%ld-%ld-", cfg.mode, (long)getpid(),
           (long)time(NULL));
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    i++;
    if (strcmp(a, "--count") == 0) cfg.count = atol(v);
    else if (strcmp(a, "--rate") == 0) cfg.rate = atof(v);
    else if (strcmp(a, "--type") == 0) cfg.type = v;
    else if (strcmp(a, "--input") == 0) cfg.input = *v ? v : NULL;
    else if (strcmp(a, "--expect") == 0) cfg.expect = *v ? v : NULL;
    else if (strcmp(a, "--starters") == 0) cfg.starters = (unsigned)atoi(v);
    else if (strcmp(a, "--waiters") == 0) cfg.waiters = (unsigned)atoi(v);
    else if (strcmp(a, "--threads") == 0) cfg.threads = (unsigned)atoi(v);
    else if (strcmp(a, "--task-queue") == 0) cfg.task_queue = v;
    else if (strcmp(a, "--id-prefix") == 0) snprintf(id_prefix, sizeof id_prefix, "%s", v);
    else return usage();
  }
  if (cfg.count <= 0 || cfg.rate <= 0 || !cfg.starters || !cfg.waiters || !cfg.threads)
    return usage();
  return rate ? run_rate() : run_park();
}
