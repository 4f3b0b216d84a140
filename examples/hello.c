/* examples/hello.c — the hello worker: a workflow that runs 3 activities in
 * sequence and then 10 in parallel, and returns what they said.
 *
 *   hello [--task-queue Q] [--cache N]     run the worker until SIGINT/SIGTERM
 *
 * Run the workflow with the temporal CLI (scripts/demo does all of this):
 *   temporal workflow execute --type Hello --task-queue hello --input '"World"'
 * Result: {"sequential":["Hello, World!","Bonjour, World!","Hallo, World!"],
 *          "parallel":["Hi 0, World!", ..., "Hi 9, World!"]}
 *
 * Connection settings come from the TEMPORAL_* environment variables
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key), as for the CLI. */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twe/twe.h"

/* Activity Greet(greeting, name) -> "<greeting>, <name>!". Runs on an
 * activity thread; it may block. What twe_activity_unpack_arg hands out
 * and what twe_activity_pack makes live until the attempt ends. */
static void greet(twe_activity_t *act, void *user) {
  (void)user;
  const char *greeting, *name;
  twe_error_info_t e;
  if (twe_activity_arg_count(act) != 2 ||
      twe_activity_unpack_arg(act, 0, &e, "s", &greeting) < 0 ||
      twe_activity_unpack_arg(act, 1, &e, "s", &name) < 0) {
    e = (twe_error_info_t){.type = "BadArguments",
                           .message = "Greet takes two JSON strings: greeting and name",
                           .non_retryable = true};
    twe_activity_fail(act, &e);
    return;
  }
  twe_payload_t r;
  if (twe_activity_pack(act, &r, &e, "s+++", greeting, ", ", name, "!") < 0) {
    twe_activity_fail(act, &e);
    return;
  }
  twe_activity_complete(act, &r);
}

/* The workflow's input is a JSON string (the name); anything else fails the
 * workflow with a clear error instead of guessing. Everything it keeps
 * across its waits is the run's (unpacked values, packed payloads), so
 * nothing leaks if the run is evicted while it waits. */
static void hello(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *name;
  twe_error_info_t e;
  if (twe_workflow_unpack_arg(wf, 0, &e, "s", &name) < 0) {
    e = (twe_error_info_t){.type = "BadInput", .message = "Hello takes one JSON string: a name",
                           .non_retryable = true};
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_payload_t name_arg;
  if (twe_workflow_pack(wf, &name_arg, &e, "s", name) < 0) {
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_activity_options_t opts = {.start_to_close_timeout_ns = 10ull * 1000000000ull};

  /* Three in sequence. */
  static const char *const greetings[3] = {"Hello", "Bonjour", "Hallo"};
  json_t *seq[3]; /* borrowed from documents the run keeps */
  for (int i = 0; i < 3; i++) {
    twe_payload_t args[2], r;
    if (twe_workflow_pack(wf, &args[0], &e, "s", greetings[i]) < 0) goto failed;
    args[1] = name_arg;
    if (twe_workflow_execute_activity(wf, "Greet", &opts, args, 2, &r, &e) != 0 ||
        twe_workflow_unpack(wf, &r, &e, "o", &seq[i]) < 0)
      goto failed;
  }

  /* Ten at once. */
  twe_future_t *futures[10];
  for (int i = 0; i < 10; i++) {
    char greeting[16];
    snprintf(greeting, sizeof greeting, "Hi %d", i);
    twe_payload_t args[2];
    if (twe_workflow_pack(wf, &args[0], &e, "s", greeting) < 0) goto failed;
    args[1] = name_arg;
    int rc = twe_workflow_start_activity(wf, "Greet", &opts, args, 2, &futures[i]);
    if (rc < 0) {
      e = (twe_error_info_t){.type = "StartFailed", .message = twe_strerror(rc)};
      goto failed;
    }
  }
  twe_future_wait_all(wf, futures, 10);
  json_t *par[10];
  for (int i = 0; i < 10; i++) {
    twe_payload_t r;
    if (twe_future_error(futures[i], &e) == 0) goto failed;
    twe_future_result(futures[i], &r);
    if (twe_workflow_unpack(wf, &r, &e, "o", &par[i]) < 0) goto failed;
  }
  twe_payload_t out;
  if (twe_workflow_pack(wf, &out, &e, "{s:[OOO],s:[OOOOOOOOOO]}", "sequential", seq[0], seq[1],
                        seq[2], "parallel", par[0], par[1], par[2], par[3], par[4], par[5],
                        par[6], par[7], par[8], par[9]) < 0)
    goto failed;
  twe_workflow_complete(wf, &out);
  return;
failed:
  twe_workflow_fail(wf, &e);
}

static twe_worker_t *g_worker;
static void on_signal(int sig) {
  (void)sig;
  if (g_worker) twe_worker_stop(g_worker);
}

int main(int argc, char **argv) {
  const char *task_queue = "hello";
  long cache = -1; /* --cache N; not given: the default; 0: no cache */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--task-queue") == 0 && i + 1 < argc) task_queue = argv[++i];
    else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc) cache = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--task-queue Q] [--cache N]\n", argv[0]);
      return 2;
    }
  }
  char err[512];
  twe_client_t *client;
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "hello: cannot connect: %s\n", err);
    return 1;
  }
  twe_worker_options_t opts;
  twe_worker_options_init(&opts);
  opts.task_queue = task_queue;
  opts.max_cached_workflows = cache < 0 ? TWE_CACHE_DEFAULT : cache == 0 ? TWE_CACHE_OFF : cache;
  /* Metrics on, on a free port (the line "metrics endpoint on port N"
   * says which) unless TWE_METRICS_ADDRESS names one. */
  if (!getenv("TWE_METRICS_ADDRESS")) opts.metrics_address = "127.0.0.1:0";
  if ((rc = twe_worker_create(client, &opts, &g_worker)) < 0 ||
      (rc = twe_worker_register_workflow(g_worker, "Hello", hello, NULL)) < 0 ||
      (rc = twe_worker_register_activity(g_worker, "Greet", greet, NULL)) < 0) {
    fprintf(stderr, "hello: %s\n", twe_strerror(rc));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if ((rc = twe_worker_start(g_worker)) < 0) {
    fprintf(stderr, "hello: cannot start the worker: %s\n", twe_strerror(rc));
    return 1;
  }
  fprintf(stderr, "hello: worker running on task queue \"%s\"; Ctrl-C stops it\n", task_queue);
  if ((rc = twe_worker_wait(g_worker)) == TWE_ESTUCK) {
    /* A shard thread is stuck in workflow code (the reason is on stderr):
     * leave without freeing what it may still touch. */
    fprintf(stderr, "hello: stopped with a worker thread stuck in workflow code\n");
    return 3;
  }
  twe_worker_stats_t st;
  twe_worker_stats(g_worker, &st);
  fprintf(stderr,
          "hello: stopped: %llu workflow tasks, %llu activities, cache %llu hits / %llu misses\n",
          (unsigned long long)st.workflow_tasks_completed,
          (unsigned long long)st.activities_completed, (unsigned long long)st.cache_hits,
          (unsigned long long)st.cache_misses);
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  return 0;
}
