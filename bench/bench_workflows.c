/* bench/bench_workflows.c — the benchmark workflow and activity types
 * (bench/bench_workflows.h; what they do: bench/peers/README.md). Public API
 * (twe/twe.h) and jansson only. */
#include "bench_workflows.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define SEC 1000000000ull
#define MS 1000000ull
#define FANOUT 100

/* Every activity of every workflow here: the README's options, nothing
 * else, so the commands (and the histories) match the other SDKs'. */
static const twe_activity_options_t activity_opts = {.start_to_close_timeout_ns = 10 * SEC};

static void fail_with(twe_workflow_t *wf, const char *type, const char *message) {
  twe_error_info_t e = {.type = type, .message = message, .non_retryable = true};
  twe_workflow_fail(wf, &e);
}

/* Completes wf with the JSON number n. */
static void complete_count(twe_workflow_t *wf, int n) {
  char text[16];
  snprintf(text, sizeof text, "%d", n);
  twe_payload_t r = twe_payload_json(text);
  twe_workflow_complete(wf, &r);
}

/* --- the peers' types ---------------------------------------------------- */

static void noop(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t r = twe_payload_null();
  twe_activity_complete(act, &r);
}

/* Noop n times, one after the other; completes with n. */
static void sequential(twe_workflow_t *wf, int n) {
  twe_error_info_t err;
  for (int i = 0; i < n; i++) {
    int rc = twe_workflow_execute_activity(wf, "Noop", &activity_opts, NULL, 0, NULL, &err);
    if (rc == TWE_EFAILED) {
      twe_workflow_fail(wf, &err);
      return;
    }
    if (rc < 0) {
      fail_with(wf, "StartFailed", twe_strerror(rc));
      return;
    }
  }
  complete_count(wf, n);
}

static void one_activity(twe_workflow_t *wf, void *user) {
  (void)user;
  sequential(wf, 1);
}

static void ten_sequential(twe_workflow_t *wf, void *user) {
  (void)user;
  sequential(wf, 10);
}

static void fan_out_100(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_future_t *fs[FANOUT]; /* 800 bytes of the fiber's stack */
  for (int i = 0; i < FANOUT; i++) {
    int rc = twe_workflow_start_activity(wf, "Noop", &activity_opts, NULL, 0, &fs[i]);
    if (rc < 0) {
      fail_with(wf, "StartFailed", twe_strerror(rc));
      return;
    }
  }
  if (twe_future_wait_all(wf, fs, FANOUT) != 0) {
    twe_error_info_t err;
    for (int i = 0; i < FANOUT; i++)
      if (twe_future_error(fs[i], &err) == 0) {
        twe_workflow_fail(wf, &err);
        return;
      }
    fail_with(wf, "NoopFailed", "a Noop activity failed");
    return;
  }
  complete_count(wf, FANOUT);
}

static void fifty_timers(twe_workflow_t *wf, void *user) {
  (void)user;
  for (int i = 0; i < 50; i++) {
    int rc = twe_workflow_sleep(wf, 1 * MS);
    if (rc < 0) {
      fail_with(wf, "SleepFailed", twe_strerror(rc));
      return;
    }
  }
  complete_count(wf, 50);
}

/* Park: one durable 1-hour timer, then 1. While it waits, the run is a
 * suspended fiber in the cache: the unit RSS per cached workflow. */
static void park(twe_workflow_t *wf, void *user) {
  (void)user;
  int rc = twe_workflow_sleep(wf, 3600 * SEC);
  if (rc < 0) fail_with(wf, "SleepFailed", twe_strerror(rc));
  else complete_count(wf, 1);
}

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
  json_t *result = json_object(), *seq = json_array(), *par = json_array();
  json_object_set_new(result, "sequential", seq);
  json_object_set_new(result, "parallel", par);
  static const char *const greetings[3] = {"\"Hello\"", "\"Bonjour\"", "\"Hallo\""};
  twe_payload_t r;
  twe_error_info_t err;
  for (int i = 0; i < 3; i++) {
    twe_payload_t args[2] = {twe_payload_json(greetings[i]), name};
    if (twe_workflow_execute_activity(wf, "Greet", &activity_opts, args, 2, &r, &err) != 0) {
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
    int rc = twe_workflow_start_activity(wf, "Greet", &activity_opts, args, 2, &fs[i]);
    if (rc < 0) {
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

/* --- the tables ---------------------------------------------------------- */

const bench_workflow_type_t bench_workflow_types[] = {
    {"OneActivity", one_activity}, {"TenSequential", ten_sequential},
    {"FanOut100", fan_out_100},    {"FiftyTimers", fifty_timers},
    {"Park", park},                {"Hello", hello},
};
const size_t bench_workflow_type_count =
    sizeof bench_workflow_types / sizeof bench_workflow_types[0];

const bench_activity_type_t bench_activity_types[] = {
    {"Noop", noop},
    {"Greet", greet},
};
const size_t bench_activity_type_count =
    sizeof bench_activity_types / sizeof bench_activity_types[0];

int bench_register(twe_worker_t *w, bool activities) {
  int rc;
  for (size_t i = 0; i < bench_workflow_type_count; i++)
    if ((rc = twe_worker_register_workflow(w, bench_workflow_types[i].name,
                                           bench_workflow_types[i].fn, NULL)) < 0)
      return rc;
  for (size_t i = 0; activities && i < bench_activity_type_count; i++)
    if ((rc = twe_worker_register_activity(w, bench_activity_types[i].name,
                                           bench_activity_types[i].fn, NULL)) < 0)
      return rc;
  return 0;
}
