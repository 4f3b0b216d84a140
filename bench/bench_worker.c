/* bench/bench_worker.c — twe's worker for the benchmarks: the workload
 * types every peer worker registers (bench/peers/README.md: activity Noop;
 * workflows OneActivity, TenSequential, FanOut100, FiftyTimers, Park), plus
 * Hello and its Greet activity (examples/hello.c) for
 * bench/run_worker_bench.sh. The types themselves are in
 * bench/bench_workflows.c, shared with the replayer (replay_histories.c).
 *
 *   bench_worker [--task-queue Q] [--cache N] [--fiber-stack BYTES]
 *                [--workflow-pollers N] [--activity-pollers N]
 *                [--activity-priority idle|nice|normal]
 *
 * (0 or absent: the engine's defaults; the task queue defaults to "bench".)
 * This is the README's worker command (`run-worker --task-queue Q [--cache
 * N]`): server and namespace from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE
 * (and the other TEMPORAL_* variables, twe/connection.h); prints "ready" on
 * stdout (flushed) once the client has connected and the worker's shards
 * have started (each opens its connection and polls at once); logs on stderr;
 * SIGTERM or SIGINT stops it gracefully, then it prints a last stats line
 * and exits 0. SIGUSR1 prints the current twe_worker_stats as one line of
 * JSON on stdout (bench/run_worker_bench.sh reads them).
 * Public API (twe/twe.h) only. */
#define _POSIX_C_SOURCE 200809L /* sigaction, nanosleep */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_workflows.h"
#include "twe/twe.h"

/* --- signals and the stats line ------------------------------------------ */

static twe_worker_t *g_worker;
/* Set by the SIGUSR1 handler, cleared by the stats thread; lock-free atomics
 * are async-signal-safe. */
static atomic_int g_stats_wanted;
static atomic_int g_exiting;

static void on_stop_signal(int sig) {
  (void)sig;
  if (g_worker) twe_worker_stop(g_worker);
}
static void on_usr1(int sig) {
  (void)sig;
  atomic_store(&g_stats_wanted, 1);
}

static void print_stats(const char *event) {
  twe_worker_stats_t s;
  twe_worker_stats(g_worker, &s);
  /* One printf per line: stdio's lock keeps lines from two threads whole. */
  printf("{\"event\":\"%s\",\"workflow_tasks_completed\":%llu,\"workflow_tasks_failed\":%llu,"
         "\"nondeterminism_errors\":%llu,\"cache_hits\":%llu,\"cache_misses\":%llu,"
         "\"cache_evictions\":%llu,\"cached_workflows\":%llu,\"history_pages_fetched\":%llu,"
         "\"activities_completed\":%llu,\"activities_failed\":%llu,"
         "\"activities_running\":%llu,\"heartbeats_sent\":%llu,\"cached_bytes\":%llu,"
         "\"cached_runs_stowed\":%llu,\"cache_stows\":%llu,\"cache_forced_evictions\":%llu,"
         "\"normal_polls_held\":%llu}\n",
         event, (unsigned long long)s.workflow_tasks_completed,
         (unsigned long long)s.workflow_tasks_failed, (unsigned long long)s.nondeterminism_errors,
         (unsigned long long)s.cache_hits, (unsigned long long)s.cache_misses,
         (unsigned long long)s.cache_evictions, (unsigned long long)s.cached_workflows,
         (unsigned long long)s.history_pages_fetched, (unsigned long long)s.activities_completed,
         (unsigned long long)s.activities_failed, (unsigned long long)s.activities_running,
         (unsigned long long)s.heartbeats_sent, (unsigned long long)s.cached_bytes,
         (unsigned long long)s.cached_runs_stowed, (unsigned long long)s.cache_stows,
         (unsigned long long)s.cache_forced_evictions, (unsigned long long)s.normal_polls_held);
  fflush(stdout);
}

/* Polls the SIGUSR1 flag every 100 ms (stdio is not for signal handlers). */
static void *stats_thread(void *arg) {
  (void)arg;
  const struct timespec tick = {0, 100 * 1000 * 1000};
  while (!atomic_load(&g_exiting)) {
    if (atomic_exchange(&g_stats_wanted, 0)) print_stats("stats");
    nanosleep(&tick, NULL);
  }
  return NULL;
}

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--task-queue Q] [--cache N] [--fiber-stack BYTES]\n"
          "          [--workflow-pollers N] [--activity-pollers N]\n"
          "          [--activity-priority idle|nice|normal]\n",
          argv0);
  return 2;
}

int main(int argc, char **argv) {
  const char *task_queue = "bench";
  long cache = -1; /* --cache N; not given: the default; 0: no cache */
  size_t fiber_stack = 0;
  unsigned wf_pollers = 0, act_pollers = 0;
  int act_priority = TWE_ACTIVITY_PRIORITY_IDLE;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--task-queue") == 0 && i + 1 < argc) task_queue = argv[++i];
    else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc) cache = atol(argv[++i]);
    else if (strcmp(argv[i], "--fiber-stack") == 0 && i + 1 < argc)
      fiber_stack = (size_t)strtoull(argv[++i], NULL, 0);
    else if (strcmp(argv[i], "--workflow-pollers") == 0 && i + 1 < argc)
      wf_pollers = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--activity-pollers") == 0 && i + 1 < argc)
      act_pollers = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--activity-priority") == 0 && i + 1 < argc) {
      const char *p = argv[++i];
      if (strcmp(p, "idle") == 0) act_priority = TWE_ACTIVITY_PRIORITY_IDLE;
      else if (strcmp(p, "nice") == 0) act_priority = TWE_ACTIVITY_PRIORITY_NICE;
      else if (strcmp(p, "normal") == 0) act_priority = TWE_ACTIVITY_PRIORITY_NORMAL;
      else return usage(argv[0]);
    } else return usage(argv[0]);
  }
  char err[512];
  twe_client_t *client;
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "bench_worker: cannot connect: %s\n", err);
    return 1;
  }
  twe_worker_options_t opts;
  twe_worker_options_init(&opts);
  opts.task_queue = task_queue;
  opts.max_cached_workflows = cache < 0 ? TWE_CACHE_DEFAULT : cache == 0 ? TWE_CACHE_OFF : cache;
  opts.fiber_stack_size = fiber_stack;
  opts.workflow_pollers = wf_pollers;
  opts.activity_pollers = act_pollers;
  opts.activity_priority = (enum twe_activity_priority)act_priority;
  if ((rc = twe_worker_create(client, &opts, &g_worker)) < 0 ||
      (rc = bench_register(g_worker, true)) < 0) {
    fprintf(stderr, "bench_worker: %s\n", twe_strerror(rc));
    return 1;
  }
  /* Signals go to whichever thread does not block them: block them around
   * start so the worker's threads inherit the mask, and only this thread
   * takes them. */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  pthread_t stats;
  if ((rc = twe_worker_start(g_worker)) < 0) {
    fprintf(stderr, "bench_worker: cannot start the worker: %s\n", twe_strerror(rc));
    return 1;
  }
  if (pthread_create(&stats, NULL, stats_thread, NULL) != 0) {
    fprintf(stderr, "bench_worker: cannot start the stats thread\n");
    twe_worker_stop(g_worker);
    twe_worker_wait(g_worker);
    return 1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  fprintf(stderr, "bench_worker: task queue \"%s\", cache %ld, fiber stack %zu bytes%s\n",
          task_queue, cache, fiber_stack, fiber_stack ? "" : " (engine default)");
  printf("ready\n");
  fflush(stdout);
  if (twe_worker_wait(g_worker) == TWE_ESTUCK) return 3; /* a thread stuck in workflow code */
  atomic_store(&g_exiting, 1);
  pthread_join(stats, NULL);
  print_stats("stopped");
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  return 0;
}
