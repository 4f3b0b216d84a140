/* bench/bench_worker.c — the worker the benchmarks measure
 * (bench/run_worker_bench.sh): the Hello workflow of examples/hello.c (3
 * Greet activities in sequence, then 10 in parallel) and "Park", a workflow
 * that sleeps on a 1-hour timer and then completes — what a cached,
 * waiting workflow costs.
 *
 *   bench_worker [--task-queue Q] [--cache N] [--fiber-stack BYTES]
 *                [--workflow-pollers N] [--activity-pollers N]
 *
 * (0 or absent: the engine's defaults.)
 * Prints "ready" on stdout once the worker has started. SIGUSR1 prints the
 * current twe_worker_stats as one line of JSON on stdout; SIGTERM or SIGINT
 * stops the worker, which then prints a last stats line and exits.
 * Connection settings come from the TEMPORAL_* environment variables.
 * Public API (twe/twe.h) and jansson only. */
#define _POSIX_C_SOURCE 200809L /* sigaction, nanosleep */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twe/twe.h"

#define SEC 1000000000ull

/* --- Greet and Hello: the semantics of examples/hello.c ------------------- */

/* Greet(greeting, name) -> "<greeting>, <name>!" (JSON strings). */
static void greet(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t a[2];
  json_t *g = NULL, *n = NULL;
  if (twe_activity_arg_count(act) == 2 && twe_activity_arg(act, 0, &a[0]) == 0 &&
      twe_activity_arg(act, 1, &a[1]) == 0 && twe_payload_is_json(&a[0]) &&
      twe_payload_is_json(&a[1])) {
    g = json_loadb(a[0].data, a[0].len, JSON_DECODE_ANY, NULL);
    n = json_loadb(a[1].data, a[1].len, JSON_DECODE_ANY, NULL);
  }
  if (json_is_string(g) && json_is_string(n)) {
    json_t *out = json_sprintf("%s, %s!", json_string_value(g), json_string_value(n));
    char *text = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
    twe_payload_t r = twe_payload_json(text);
    twe_activity_complete(act, &r);
    free(text);
    json_decref(out);
  } else {
    twe_error_info_t e = {.type = "BadArguments",
                          .message = "Greet takes two JSON strings: greeting and name",
                          .non_retryable = true};
    twe_activity_fail(act, &e);
  }
  json_decref(g);
  json_decref(n);
}

static void fail_with(twe_workflow_t *wf, const char *type, const char *message) {
  twe_error_info_t e = {.type = type, .message = message, .non_retryable = true};
  twe_workflow_fail(wf, &e);
}

/* Hello(name): Greet x3 in sequence, then x10 in parallel; returns
 * {"sequential":[...3], "parallel":[...10]}. */
static void hello(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t in;
  /* twe checked the argument is valid JSON, so a leading quote (after any
   * white space) makes it a string; it is passed on to Greet as is. */
  const char *p = NULL, *end = NULL;
  if (twe_workflow_arg_count(wf) >= 1 && twe_workflow_arg(wf, 0, &in) == 0 &&
      twe_payload_is_json(&in)) {
    p = in.data;
    end = p + in.len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  }
  if (!p || p == end || *p != '"') {
    fail_with(wf, "BadInput", "Hello takes one JSON string: a name");
    return;
  }
  twe_payload_t name = in;
  twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * SEC};
  json_t *result = json_object(), *seq = json_array(), *par = json_array();
  json_object_set_new(result, "sequential", seq);
  json_object_set_new(result, "parallel", par);
  static const char *const greetings[3] = {"\"Hello\"", "\"Bonjour\"", "\"Hallo\""};
  twe_payload_t r;
  twe_error_info_t err;
  for (int i = 0; i < 3; i++) {
    twe_payload_t args[2] = {twe_payload_json(greetings[i]), name};
    if (twe_workflow_execute_activity(wf, "Greet", &opts, args, 2, &r, &err) != 0) {
      twe_workflow_fail(wf, &err);
      goto out;
    }
    json_array_append_new(seq, json_loadb(r.data, r.len, JSON_DECODE_ANY, NULL));
  }
  twe_future_t *fs[10];
  for (int i = 0; i < 10; i++) {
    char greeting[16];
    snprintf(greeting, sizeof greeting, "\"Hi %d\"", i);
    twe_payload_t args[2] = {twe_payload_json(greeting), name};
    int rc = 0;
    if (!(fs[i] = twe_workflow_start_activity(wf, "Greet", &opts, args, 2, &rc))) {
      fail_with(wf, "StartFailed", twe_strerror(rc));
      goto out;
    }
  }
  twe_future_wait_all(wf, fs, 10);
  for (int i = 0; i < 10; i++) {
    if (twe_future_result(fs[i], &r) != 0) {
      if (twe_future_error(fs[i], &err) == 0) twe_workflow_fail(wf, &err);
      else fail_with(wf, "GreetFailed", "a parallel Greet failed");
      goto out;
    }
    json_array_append_new(par, json_loadb(r.data, r.len, JSON_DECODE_ANY, NULL));
  }
  char *text = json_dumps(result, JSON_COMPACT);
  twe_payload_t outp = twe_payload_json(text);
  twe_workflow_complete(wf, &outp);
  free(text);
out:
  json_decref(result);
}

/* Park: one durable 1-hour timer, then done. While it waits, the run is
 * a suspended fiber in the cache: the unit RSS per cached workflow. */
static void park(twe_workflow_t *wf, void *user) {
  (void)user;
  int rc = twe_workflow_sleep(wf, 3600 * SEC);
  if (rc < 0) fail_with(wf, "SleepFailed", twe_strerror(rc));
}

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
         "\"activities_running\":%llu,\"heartbeats_sent\":%llu}\n",
         event, (unsigned long long)s.workflow_tasks_completed,
         (unsigned long long)s.workflow_tasks_failed, (unsigned long long)s.nondeterminism_errors,
         (unsigned long long)s.cache_hits, (unsigned long long)s.cache_misses,
         (unsigned long long)s.cache_evictions, (unsigned long long)s.cached_workflows,
         (unsigned long long)s.history_pages_fetched, (unsigned long long)s.activities_completed,
         (unsigned long long)s.activities_failed, (unsigned long long)s.activities_running,
         (unsigned long long)s.heartbeats_sent);
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
          "          [--workflow-pollers N] [--activity-pollers N]\n",
          argv0);
  return 2;
}

int main(int argc, char **argv) {
  const char *task_queue = "bench";
  long cache = TWE_CACHE_DEFAULT;
  size_t fiber_stack = 0;
  unsigned wf_pollers = 0, act_pollers = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--task-queue") == 0 && i + 1 < argc) task_queue = argv[++i];
    else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc) cache = atol(argv[++i]);
    else if (strcmp(argv[i], "--fiber-stack") == 0 && i + 1 < argc)
      fiber_stack = (size_t)strtoull(argv[++i], NULL, 0);
    else if (strcmp(argv[i], "--workflow-pollers") == 0 && i + 1 < argc)
      wf_pollers = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--activity-pollers") == 0 && i + 1 < argc)
      act_pollers = (unsigned)atoi(argv[++i]);
    else return usage(argv[0]);
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
  opts.max_cached_workflows = cache;
  opts.fiber_stack_size = fiber_stack;
  opts.workflow_pollers = wf_pollers;
  opts.activity_pollers = act_pollers;
  if ((rc = twe_worker_create(client, &opts, &g_worker)) < 0 ||
      (rc = twe_worker_register_workflow(g_worker, "Hello", hello, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(g_worker, "Park", park, NULL)) < 0 ||
      (rc = twe_worker_register_activity(g_worker, "Greet", greet, NULL)) < 0) {
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
  twe_worker_wait(g_worker);
  atomic_store(&g_exiting, 1);
  pthread_join(stats, NULL);
  print_stats("stopped");
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  return 0;
}
