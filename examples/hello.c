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
 * activity thread; it may block. */
static void greet(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t a0, a1;
  if (twe_activity_arg_count(act) != 2 || twe_activity_arg(act, 0, &a0) < 0 ||
      twe_activity_arg(act, 1, &a1) < 0 || !twe_payload_is_json(&a0) ||
      !twe_payload_is_json(&a1)) {
    twe_error_info_t e = {.type = "BadArguments",
                          .message = "Greet takes two JSON strings: greeting and name",
                          .non_retryable = true};
    twe_activity_fail(act, &e);
    return;
  }
  json_t *g = json_loadb(a0.data, a0.len, JSON_DECODE_ANY, NULL);
  json_t *n = json_loadb(a1.data, a1.len, JSON_DECODE_ANY, NULL);
  if (json_is_string(g) && json_is_string(n)) {
    json_t *out = json_sprintf("%s, %s!", json_string_value(g), json_string_value(n));
    char *text = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
    twe_payload_t r = twe_payload_json(text);
    twe_activity_complete(act, &r);
    free(text);
    json_decref(out);
  } else {
    twe_error_info_t e = {.type = "BadArguments", .message = "greeting and name must be strings",
                          .non_retryable = true};
    twe_activity_fail(act, &e);
  }
  json_decref(g);
  json_decref(n);
}

/* The workflow's input is a JSON string (the name); anything else fails the
 * workflow with a clear error instead of guessing. */
static void hello(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t in;
  json_t *name = NULL;
  if (twe_workflow_arg_count(wf) >= 1 && twe_workflow_arg(wf, 0, &in) == 0 &&
      twe_payload_is_json(&in))
    name = json_loadb(in.data, in.len, JSON_DECODE_ANY, NULL);
  if (!json_is_string(name)) {
    twe_error_info_t e = {.type = "BadInput", .message = "Hello takes one JSON string: a name",
                          .non_retryable = true};
    twe_workflow_fail(wf, &e);
    json_decref(name);
    return;
  }
  char *name_text = json_dumps(name, JSON_ENCODE_ANY | JSON_COMPACT);
  twe_payload_t name_arg = twe_payload_json(name_text);
  twe_activity_options_t opts = {.start_to_close_timeout_ns = 10ull * 1000000000ull};
  json_t *result = json_object();
  json_t *seq = json_array(), *par = json_array();
  json_object_set_new(result, "sequential", seq);
  json_object_set_new(result, "parallel", par);

  static const char *const greetings[3] = {"\"Hello\"", "\"Bonjour\"", "\"Hallo\""};
  for (int i = 0; i < 3; i++) {
    twe_payload_t args[2] = {twe_payload_json(greetings[i]), name_arg};
    twe_payload_t r;
    twe_error_info_t err;
    if (twe_workflow_execute_activity(wf, "Greet", &opts, args, 2, &r, &err) != 0) {
      twe_workflow_fail(wf, &err);
      goto out;
    }
    json_array_append_new(seq, json_loadb(r.data, r.len, JSON_DECODE_ANY, NULL));
  }

  twe_future_t *futures[10];
  for (int i = 0; i < 10; i++) {
    char greeting[16];
    snprintf(greeting, sizeof greeting, "\"Hi %d\"", i);
    twe_payload_t args[2] = {twe_payload_json(greeting), name_arg};
    int err = twe_workflow_start_activity(wf, "Greet", &opts, args, 2, &futures[i]);
    if (err < 0) {
      twe_error_info_t e = {.type = "StartFailed", .message = twe_strerror(err)};
      twe_workflow_fail(wf, &e);
      goto out;
    }
  }
  if (twe_future_wait_all(wf, futures, 10) != 0) {
    for (int i = 0; i < 10; i++) {
      twe_error_info_t err;
      if (twe_future_error(futures[i], &err) == 0) {
        twe_workflow_fail(wf, &err);
        goto out;
      }
    }
  }
  for (int i = 0; i < 10; i++) {
    twe_payload_t r;
    twe_future_result(futures[i], &r);
    json_array_append_new(par, json_loadb(r.data, r.len, JSON_DECODE_ANY, NULL));
  }
  char *text = json_dumps(result, JSON_COMPACT);
  twe_payload_t out = twe_payload_json(text);
  twe_workflow_complete(wf, &out);
  free(text);
out:
  json_decref(result);
  json_decref(name);
  free(name_text);
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
