/* tests/integration/scenario_worker.c — a twe worker with the workflows the
 * integration tests drive through the `temporal` CLI, plus the replayer and
 * a raw starter for inputs the CLI would refuse to send.
 *
 *   scenario_worker worker --task-queue Q [--cache N] [--old] [--no-watchdog]
 *                          [--no-eager]
 *       Runs until SIGTERM/SIGINT, then prints one line
 *       "stats {json}" with twe_worker_stats to stdout. --old: Patched runs
 *       its code from before its patch. --no-watchdog: every budget off (a
 *       Wedge workflow then holds its shard thread). --no-eager: no eager
 *       activities (disable_eager_activities).
 *   scenario_worker replay FILE [--changed]
 *       Replays an exported history; --changed registers a version of
 *       "Sequential" that schedules a different activity at step 3, and of
 *       "Approval" that waits for its signal with no timeout.
 *       Exit 0 when it matches; 3 on non-determinism (message on stderr).
 *   scenario_worker start-raw TYPE QUEUE WORKFLOW_ID TEXT
 *       Starts TYPE with one json/plain argument holding TEXT unchecked.
 *
 * Workflows: RetryOnce, NonRetryable, HeartbeatResume, Sequential, Timer,
 * Approval and Collect (signals, condition waits and queries), Counter
 * (updates), Cancellable (cancellation), Chain (continue-as-new), Locals
 * (local activities), Fields (memo and search attributes), Busy (a shard
 * kept busy) ...: see below.
 * Activities: FailFirstAttempt, FailHard, CountWithHeartbeat, Echo,
 * EchoChanged, WaitForCancel, Inc, Slow, Flaky. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twe/twe.h"

#define SEC 1000000000ull

static bool g_changed;
/* worker --old: Patched runs its code from before the patch. */
static bool g_old;

/* --- activities --------------------------------------------------------- */

static void complete_json(twe_activity_t *act, json_t *v) {
  char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  twe_payload_t p = twe_payload_json(text);
  twe_activity_complete(act, &p);
  free(text);
  json_decref(v);
}

static void echo(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t a;
  if (twe_activity_arg(act, 0, &a) == 0) twe_activity_complete(act, &a);
}

/* Fails with a retryable error on attempt 1, succeeds after. */
static void fail_first_attempt(twe_activity_t *act, void *user) {
  (void)user;
  int attempt = twe_activity_info(act)->attempt;
  if (attempt == 1) {
    twe_error_info_t e = {.type = "Transient", .message = "first attempt fails on purpose"};
    twe_activity_fail(act, &e);
    return;
  }
  complete_json(act, json_pack("{s:i}", "attempt", attempt));
}

static void fail_hard(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t d = twe_payload_json("{\"balance\":3}");
  twe_error_info_t e = {.type = "InsufficientFunds",
                        .message = "balance too low for the transfer",
                        .non_retryable = true,
                        .details = &d,
                        .details_count = 1};
  twe_activity_fail(act, &e);
}

/* Counts to 25 in steps of 200 ms, heartbeating each step, resuming from
 * the last heartbeat a previous attempt recorded. */
static void count_with_heartbeat(twe_activity_t *act, void *user) {
  (void)user;
  long start = 0;
  twe_payload_t d;
  if (twe_activity_heartbeat_details_count(act) > 0 &&
      twe_activity_heartbeat_details(act, 0, &d) == 0 && twe_payload_is_json(&d)) {
    json_t *v = json_loadb(d.data, d.len, JSON_DECODE_ANY, NULL);
    if (json_is_integer(v)) start = (long)json_integer_value(v);
    json_decref(v);
  }
  int attempt = twe_activity_info(act)->attempt;
  for (long step = start + 1; step <= 25; step++) {
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    printf("step %ld attempt %d\n", step, attempt);
    fflush(stdout);
    char text[32];
    snprintf(text, sizeof text, "%ld", step);
    twe_payload_t hb = twe_payload_json(text);
    if (twe_activity_heartbeat(act, &hb, 1) == TWE_ECANCELED_ACTIVITY) return;
  }
  complete_json(act, json_pack("{s:i,s:i,s:i}", "resumed_from", (int)start, "attempt", attempt,
                               "count", 25));
}

/* Heartbeats every 100 ms until it is cancelled (then returns without a
 * result: the worker reports it cancelled) or 30 s pass. */
static void wait_for_cancel(twe_activity_t *act, void *user) {
  (void)user;
  for (int i = 0; i < 300; i++) {
    twe_payload_t beat = twe_payload_json("1");
    twe_activity_heartbeat(act, &beat, 1);
    if (twe_activity_cancelled(act)) return;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  twe_payload_t r = twe_payload_json("\"not cancelled\"");
  twe_activity_complete(act, &r);
}

/* --- workflows ---------------------------------------------------------- */

static void fail_with(twe_workflow_t *wf, const twe_error_info_t *err) {
  twe_workflow_fail(wf, err);
}

static void retry_once(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_retry_policy_t rp = {.initial_interval_ns = SEC / 10, .backoff_coefficient = 2,
                           .maximum_attempts = 3};
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC, .retry_policy = &rp};
  twe_payload_t r;
  twe_error_info_t e;
  if (twe_workflow_execute_activity(wf, "FailFirstAttempt", &o, NULL, 0, &r, &e) == 0)
    twe_workflow_complete(wf, &r);
  else
    fail_with(wf, &e);
}

static void non_retryable(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC};
  twe_payload_t r;
  twe_error_info_t e;
  if (twe_workflow_execute_activity(wf, "FailHard", &o, NULL, 0, &r, &e) == 0)
    twe_workflow_complete(wf, &r);
  else
    fail_with(wf, &e);
}

static void heartbeat_resume(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_retry_policy_t rp = {.initial_interval_ns = SEC, .backoff_coefficient = 1};
  twe_activity_options_t o = {.start_to_close_timeout_ns = 120 * SEC,
                              .heartbeat_timeout_ns = 2 * SEC,
                              .retry_policy = &rp};
  twe_payload_t r;
  twe_error_info_t e;
  if (twe_workflow_execute_activity(wf, "CountWithHeartbeat", &o, NULL, 0, &r, &e) == 0)
    twe_workflow_complete(wf, &r);
  else
    fail_with(wf, &e);
}

/* Runs n (the input, default 20) Echo activities one after the other and
 * returns how many ran. */
static void sequential(twe_workflow_t *wf, void *user) {
  (void)user;
  long n = 20;
  twe_payload_t in;
  if (twe_workflow_arg_count(wf) > 0 && twe_workflow_arg(wf, 0, &in) == 0 &&
      twe_payload_is_json(&in)) {
    json_t *v = json_loadb(in.data, in.len, JSON_DECODE_ANY, NULL);
    if (json_is_integer(v)) n = (long)json_integer_value(v);
    json_decref(v);
  }
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC};
  for (long i = 0; i < n; i++) {
    char text[32];
    snprintf(text, sizeof text, "%ld", i);
    twe_payload_t arg = twe_payload_json(text);
    const char *type = (g_changed && i == 2) ? "EchoChanged" : "Echo";
    twe_payload_t r;
    twe_error_info_t e;
    if (twe_workflow_execute_activity(wf, type, &o, &arg, 1, &r, &e) != 0) {
      fail_with(wf, &e);
      return;
    }
  }
  char text[32];
  snprintf(text, sizeof text, "%ld", n);
  twe_payload_t out = twe_payload_json(text);
  twe_workflow_complete(wf, &out);
}

static void timer_wf(twe_workflow_t *wf, void *user) {
  (void)user;
  int64_t before = twe_workflow_now(wf);
  twe_workflow_sleep(wf, SEC);
  int64_t after = twe_workflow_now(wf);
  char text[64];
  snprintf(text, sizeof text, "{\"slept_ms\":%lld}", (long long)((after - before) / 1000000));
  twe_payload_t out = twe_payload_json(text);
  twe_workflow_complete(wf, &out);
}

/* --- signals and conditions ------------------------------------------------ */

/* An integer field of the first argument (a JSON object), or def. */
static long arg_field(twe_workflow_t *wf, const char *field, long def) {
  twe_payload_t in;
  long v = def;
  if (twe_workflow_arg_count(wf) > 0 && twe_workflow_arg(wf, 0, &in) == 0 &&
      twe_payload_is_json(&in)) {
    json_t *o = json_loadb(in.data, in.len, JSON_DECODE_ANY, NULL);
    json_t *f = json_object_get(o, field);
    if (json_is_integer(f)) v = (long)json_integer_value(f);
    json_decref(o);
  }
  return v;
}

/* Workflow state in the run's arena (never malloc across a wait). */
typedef struct signal_state {
  int count, want;
  char values[2048]; /* the signals' first arguments, JSON, comma-separated */
  char error[512];   /* the first input_error seen */
} signal_state_t;

static void on_value(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)wf;
  signal_state_t *st = user;
  size_t n = strlen(st->values);
  if (sig->input_error && !st->error[0])
    snprintf(st->error, sizeof st->error, "%s", sig->input_error);
  else if (!sig->input_error)
    snprintf(st->values + n, sizeof st->values - n, "%s%.*s", n ? "," : "",
             sig->nargs ? (int)sig->args[0].len : 4,
             sig->nargs ? (const char *)sig->args[0].data : "null");
  st->count++;
}

static bool got_one(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return ((signal_state_t *)arg)->count >= 1;
}

static bool got_want(twe_workflow_t *wf, void *arg) {
  (void)wf;
  const signal_state_t *st = arg;
  return st->count >= st->want;
}

static void complete_text(twe_workflow_t *wf, const char *json) {
  twe_payload_t out = twe_payload_json(json);
  twe_workflow_complete(wf, &out);
}

/* Query "status": {"count": N, "values": [the signals' arguments]}. */
static int q_status(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                    twe_error_info_t *error) {
  (void)error;
  (void)wf;
  signal_state_t *st = user;
  size_t len = sizeof st->values + 64;
  char *text = twe_query_alloc(q, len); /* lives until the answer is sent */
  if (!text) return -1;
  snprintf(text, len, "{\"count\":%d,\"values\":[%s]}", st->count, st->values);
  *result = twe_payload_json(text);
  return 0;
}

/* Query "sneaky": tries to sleep (refused: the query fails). */
static int q_sneaky(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                    twe_error_info_t *error) {
  (void)q, (void)user, (void)result, (void)error;
  twe_workflow_sleep(wf, SEC);
  return 0;
}

/* Query "fail": fails with the message given as its argument. */
static int q_fail(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                  twe_error_info_t *error) {
  (void)wf, (void)user, (void)result;
  error->message = q->nargs ? "failed as asked" : "failed";
  return -1;
}

static void set_queries(twe_workflow_t *wf, signal_state_t *st) {
  twe_workflow_set_query_handler(wf, "status", q_status, st);
  twe_workflow_set_query_handler(wf, "sneaky", q_sneaky, st);
  twe_workflow_set_query_handler(wf, "fail", q_fail, st);
}

/* Approval {"timeout_ms": N}: waits up to N ms (default 30 s) for the
 * "approve" signal. Result {"approved": <its argument>}, {"timeout": true},
 * or {"error": "<what was wrong with its input>"}; cancelled while it waits,
 * it ends CANCELED (as its Python twin in py_client.py does). */
static void approval(twe_workflow_t *wf, void *user) {
  (void)user;
  signal_state_t *st = twe_workflow_alloc(wf, sizeof *st);
  char *text = twe_workflow_alloc(wf, sizeof st->values + 600);
  if (!st || !text) return;
  memset(st, 0, sizeof *st);
  twe_workflow_set_signal_handler(wf, "approve", on_value, st);
  set_queries(wf, st);
  long ms = g_changed ? 0 : arg_field(wf, "timeout_ms", 30000);
  int rc = twe_workflow_wait_condition(wf, got_one, st, (uint64_t)ms * 1000000u);
  if (rc == -ECANCELED) {
    twe_workflow_end_canceled(wf);
    return;
  }
  if (rc == -ETIMEDOUT) {
    snprintf(text, sizeof st->values + 600, "{\"timeout\":true}");
  } else if (st->error[0]) {
    json_t *o = json_pack("{s:s}", "error", st->error);
    char *d = json_dumps(o, JSON_COMPACT);
    snprintf(text, sizeof st->values + 600, "%s", d);
    free(d);
    json_decref(o);
  } else {
    snprintf(text, sizeof st->values + 600, "{\"approved\":%s}", st->values);
  }
  complete_text(wf, text);
}

/* Collect {"sleep_ms": N, "want": K}: sleeps N ms (default 3 s) before it
 * sets its "add" handler, then waits for K (default 3) signals. Result: the
 * signals' arguments in the order the handler got them, a JSON array.
 * Both workflows answer the queries "status", "sneaky" and "fail". */
static void collect(twe_workflow_t *wf, void *user) {
  (void)user;
  signal_state_t *st = twe_workflow_alloc(wf, sizeof *st);
  char *text = twe_workflow_alloc(wf, sizeof st->values + 4);
  if (!st || !text) return;
  memset(st, 0, sizeof *st);
  set_queries(wf, st);
  twe_workflow_sleep(wf, (uint64_t)arg_field(wf, "sleep_ms", 3000) * 1000000u);
  twe_workflow_set_signal_handler(wf, "add", on_value, st);
  st->want = (int)arg_field(wf, "want", 3);
  twe_workflow_wait_condition(wf, got_want, st, 0);
  snprintf(text, sizeof st->values + 4, "[%s]", st->values);
  complete_text(wf, text);
}

/* --- cancellation ------------------------------------------------------------- */

/* Cancellable {"ctype": "try"|"wait"|"abandon"}: runs WaitForCancel (that
 * cancellation type) and waits for it. Cancelled, it runs Echo("cleanup")
 * in a shielded scope and ends CANCELED; else it completes. */
static void cancellable(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *ctype = "try";
  twe_workflow_unpack_arg(wf, 0, NULL, "{s?s}", "ctype", &ctype);
  twe_retry_policy_t rp = {.maximum_attempts = 1};
  twe_activity_options_t o = {.start_to_close_timeout_ns = 60 * SEC,
                              .heartbeat_timeout_ns = 2 * SEC,
                              .retry_policy = &rp,
                              .cancellation_type = strcmp(ctype, "wait") == 0 ? TWE_CANCEL_WAIT
                                                   : strcmp(ctype, "abandon") == 0
                                                       ? TWE_CANCEL_ABANDON
                                                       : TWE_CANCEL_TRY};
  twe_future_t *f;
  if (twe_workflow_start_activity(wf, "WaitForCancel", &o, NULL, 0, &f) < 0) return;
  twe_future_wait(wf, f);
  if (!twe_workflow_cancel_requested(wf)) {
    complete_text(wf, "\"not cancelled\"");
    return;
  }
  twe_scope_t *shield;
  twe_workflow_scope_open(wf, true, &shield);
  twe_payload_t arg = twe_payload_json("\"cleanup\"");
  twe_activity_options_t c = {.start_to_close_timeout_ns = 10 * SEC};
  twe_workflow_execute_activity(wf, "Echo", &c, &arg, 1, NULL, NULL);
  twe_workflow_scope_close(wf, shield);
  twe_workflow_end_canceled(wf);
}

/* --- continue-as-new ------------------------------------------------------------ */

/* Chain {"n": n, "left": k}: continues as new with {"n": n+1, "left": k-1}
 * while k > 0; the last run returns {"n": n, "from": the run it continued
 * from, "first": the chain's first run}. */
static void chain(twe_workflow_t *wf, void *user) {
  (void)user;
  int n = 0, left = 0;
  twe_error_info_t e;
  if (twe_workflow_unpack_arg(wf, 0, &e, "{s:i,s:i}", "n", &n, "left", &left) < 0) {
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_payload_t p;
  if (left > 0) {
    if (twe_workflow_pack(wf, &p, &e, "{s:i,s:i}", "n", n + 1, "left", left - 1) == 0)
      twe_workflow_continue_as_new(wf, NULL, &p, 1);
    return;
  }
  const twe_workflow_info_t *info = twe_workflow_info(wf);
  if (twe_workflow_pack(wf, &p, &e, "{s:i,s:s,s:s}", "n", n, "from",
                        info->continued_from_run_id, "first", info->first_execution_run_id) == 0)
    twe_workflow_complete(wf, &p);
}

/* --- versioning --------------------------------------------------------------- */

/* Patched: the new code (patch "my-patch") sleeps 100 ms and returns
 * "new"; the old code (worker --old) returns "old" at once. The Python
 * twin in py_client.py is the new code. */
static void patched_wf(twe_workflow_t *wf, void *user) {
  (void)user;
  bool p = false;
  if (!g_old) twe_workflow_patched(wf, "my-patch", &p);
  if (p) {
    twe_workflow_sleep(wf, SEC / 10);
    complete_text(wf, "\"new\"");
  } else {
    complete_text(wf, "\"old\"");
  }
}

/* Tagged {"tag": t}: upserts the keyword search attribute TweTag
 * (tests/support/devserver defines it) to t, then completes. */
static void tagged(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *tag = "";
  twe_error_info_t e;
  twe_payload_t v;
  if (twe_workflow_unpack_arg(wf, 0, &e, "{s:s}", "tag", &tag) < 0 ||
      twe_workflow_pack(wf, &v, &e, "s", tag) < 0) {
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_workflow_upsert_search_attribute(wf, "TweTag", "Keyword", &v);
  complete_text(wf, "\"tagged\"");
}

/* --- other workflows ------------------------------------------------------------ */

/* Sender {"target": id, "action": "signal"|"cancel"}: signals the target's
 * "approve" with "from twe", or asks it to cancel; returns {"ok": true} or
 * {"error": <the failure's message>}. */
static void sender(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *target = "", *action = "signal";
  twe_error_info_t e;
  if (twe_workflow_unpack_arg(wf, 0, &e, "{s:s,s:s}", "target", &target, "action", &action) < 0) {
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_future_t *f = NULL;
  twe_payload_t arg = twe_payload_json("\"from twe\"");
  int rc = strcmp(action, "cancel") == 0
               ? twe_workflow_cancel_external(wf, target, NULL, "asked by Sender", &f)
               : twe_workflow_signal_external(wf, target, NULL, "approve", &arg, 1, &f);
  twe_payload_t out;
  if (rc == 0 && twe_future_wait(wf, f) == 0) {
    complete_text(wf, "{\"ok\":true}");
  } else if (twe_future_error(f, &e) == 0 &&
             twe_workflow_pack(wf, &out, NULL, "{s:s}", "error", e.message) == 0) {
    twe_workflow_complete(wf, &out);
  }
}

/* --- side effects -------------------------------------------------------------- */

/* The wall clock in ns: a value no replay could compute again. */
static int now_value(twe_workflow_t *wf, void *arg, twe_payload_t *value) {
  (void)arg;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char text[32];
  snprintf(text, sizeof text, "%lld", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  /* twe_workflow_side_effect copies it into the run. */
  return twe_workflow_pack(wf, value, NULL, "s", text) < 0 ? -1 : 0;
}

/* Sided: takes the wall clock as a side effect, sleeps 1 s (a second
 * task, replayed from history when the worker has no cache), and returns
 * the value it holds then. */
static void sided(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t v;
  if (twe_workflow_side_effect(wf, now_value, NULL, &v) < 0) return;
  twe_workflow_sleep(wf, SEC);
  twe_workflow_complete(wf, &v);
}

/* --- child workflows ------------------------------------------------------------ */

/* Kid {"i": i, "fail": b}: fails (KidFailed, "kid <i> failed") when asked;
 * else waits 60 s for its cancellation: ends CANCELED when cancelled,
 * else completes with i. */
static void kid(twe_workflow_t *wf, void *user) {
  (void)user;
  int i = 0, fail = 0;
  twe_workflow_unpack_arg(wf, 0, NULL, "{s:i,s?b}", "i", &i, "fail", &fail);
  if (fail) {
    char *msg = twe_workflow_alloc(wf, 32);
    snprintf(msg, 32, "kid %d failed", i);
    twe_error_info_t e = {.type = "KidFailed", .message = msg, .non_retryable = true};
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_future_t *fs[2];
  twe_workflow_cancellation(wf, &fs[0]);
  twe_workflow_start_timer(wf, 60 * SEC, &fs[1]);
  if (twe_future_wait_any(wf, fs, 2) == 0) {
    twe_workflow_end_canceled(wf);
    return;
  }
  twe_payload_t out;
  if (twe_workflow_pack(wf, &out, NULL, "i", i) == 0) twe_workflow_complete(wf, &out);
}

/* Parent {"fail": k, "wait_ms": w}: starts Kids 0, 1, 2 (Kid k fails) in
 * a scope; when one fails, cancels the scope (the others), waits for them,
 * and fails with the failed kid's own error. With no failure it waits w ms
 * (default 60 s) and completes: a parent to terminate (its kids are
 * terminated with it: parent close policy TERMINATE). */
static void parent(twe_workflow_t *wf, void *user) {
  (void)user;
  int fail = -1, wait_ms = 60000;
  twe_workflow_unpack_arg(wf, 0, NULL, "{s?i,s?i}", "fail", &fail, "wait_ms", &wait_ms);
  twe_scope_t *kids;
  twe_workflow_scope_open(wf, false, &kids);
  twe_future_t *results[3];
  for (int i = 0; i < 3; i++) {
    twe_payload_t in;
    twe_workflow_pack(wf, &in, NULL, "{s:i,s:b}", "i", i, "fail", i == fail);
    twe_child_options_t o = {.parent_close_policy = 1 /* TERMINATE */};
    if (twe_workflow_start_child(wf, "Kid", &o, &in, 1, NULL, &results[i]) < 0) return;
  }
  twe_workflow_scope_close(wf, kids);
  if (fail < 0) {
    twe_workflow_sleep(wf, (uint64_t)wait_ms * 1000000u);
    complete_text(wf, "\"kids left running\"");
    return;
  }
  twe_future_t *left[3] = {results[0], results[1], results[2]};
  size_t n = 3;
  while (n) {
    size_t k = twe_future_wait_any(wf, left, n);
    twe_error_info_t e;
    if (twe_future_error(left[k], &e) == 0) {
      twe_workflow_scope_cancel(wf, kids);
      twe_future_wait_all(wf, results, 3);
      twe_workflow_fail(wf, &e);
      return;
    }
    left[k] = left[--n];
  }
  complete_text(wf, "\"all kids done\"");
}

/* PyParent {"queue": q}: children PyKid {"i": 1} and {"i": 2, "fail": true}
 * on queue q (a Python SDK worker's); returns {"ok": the first's result,
 * "err": "<type>: <message>" of the second's failure}. */
static void py_parent(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *queue = "";
  twe_error_info_t e;
  if (twe_workflow_unpack_arg(wf, 0, &e, "{s:s}", "queue", &queue) < 0) {
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_child_options_t o = {.task_queue = queue};
  twe_future_t *r[2];
  for (int i = 0; i < 2; i++) {
    twe_payload_t in;
    twe_workflow_pack(wf, &in, NULL, "{s:i,s:b}", "i", i + 1, "fail", i == 1);
    if (twe_workflow_start_child(wf, "PyKid", &o, &in, 1, NULL, &r[i]) < 0) return;
  }
  twe_future_wait_all(wf, r, 2);
  twe_payload_t ok = twe_payload_null(), out;
  twe_future_result(r[0], &ok);
  char *err = twe_workflow_alloc(wf, 512);
  snprintf(err, 512, "none");
  if (twe_future_error(r[1], &e) == 0) snprintf(err, 512, "%s: %s", e.type, e.message);
  json_t *okv = json_loadb(ok.data, ok.len, JSON_DECODE_ANY, NULL);
  twe_workflow_pack(wf, &out, NULL, "{s:o,s:s}", "ok", okv ? okv : json_null(), "err", err);
  twe_workflow_complete(wf, &out);
}

/* --- updates ------------------------------------------------------------------ */

/* Counter: updates "add" (an integer; the validator rejects negative
 * ones; returns the new total), "fail" (fails with the message it was
 * given) and "finish" (ends the workflow, which completes with the total);
 * query "total". */
typedef struct counter {
  long total;
  bool finished;
} counter_t;

static long int_arg(const twe_update_t *u) {
  if (!u->nargs || u->input_error) return 0;
  json_t *v = json_loadb(u->args[0].data, u->args[0].len, JSON_DECODE_ANY, NULL);
  long n = json_is_integer(v) ? (long)json_integer_value(v) : 0;
  json_decref(v);
  return n;
}

static int v_add(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_error_info_t *error) {
  (void)wf, (void)user;
  if (u->input_error) {
    error->message = "add takes an integer";
    return 1;
  }
  if (int_arg(u) < 0) {
    error->message = "negative numbers cannot be added";
    return 1;
  }
  return 0;
}

static int u_add(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_payload_t *result,
                 twe_error_info_t *error) {
  (void)error;
  counter_t *c = user;
  c->total += int_arg(u);
  char *text = twe_workflow_alloc(wf, 32); /* outlives the handler */
  if (!text) return 1;
  snprintf(text, 32, "%ld", c->total);
  *result = twe_payload_json(text);
  return 0;
}

static int u_fail(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_payload_t *result,
                  twe_error_info_t *error) {
  (void)wf, (void)user, (void)result;
  error->type = "CounterError";
  error->message = u->nargs ? "failed as asked" : "failed";
  return 1;
}

static int u_finish(twe_workflow_t *wf, const twe_update_t *u, void *user, twe_payload_t *result,
                    twe_error_info_t *error) {
  (void)wf, (void)u, (void)result, (void)error;
  ((counter_t *)user)->finished = true;
  return 0;
}

static int q_total(twe_workflow_t *wf, const twe_query_t *q, void *user, twe_payload_t *result,
                   twe_error_info_t *error) {
  (void)wf, (void)error;
  char *text = twe_query_alloc(q, 32);
  if (!text) return 1;
  snprintf(text, 32, "%ld", ((counter_t *)user)->total);
  *result = twe_payload_json(text);
  return 0;
}

static bool finished(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return ((counter_t *)arg)->finished;
}

static void counter_wf(twe_workflow_t *wf, void *user) {
  (void)user;
  counter_t *c = twe_workflow_alloc(wf, sizeof *c);
  if (!c) return;
  memset(c, 0, sizeof *c);
  twe_workflow_set_update_handler(wf, "add", u_add, v_add, c);
  twe_workflow_set_update_handler(wf, "fail", u_fail, NULL, c);
  twe_workflow_set_update_handler(wf, "finish", u_finish, NULL, c);
  twe_workflow_set_query_handler(wf, "total", q_total, c);
  twe_workflow_wait_condition(wf, finished, c, 0);
  char text[32];
  snprintf(text, sizeof text, "%ld", c->total);
  complete_text(wf, text);
}

/* --- local activities ---------------------------------------------------------- */

/* Inc n: n + 1. */
static void inc(twe_activity_t *act, void *user) {
  (void)user;
  json_int_t n = 0;
  if (twe_activity_unpack_arg(act, 0, NULL, "I", &n) < 0) return;
  complete_json(act, json_integer(n + 1));
}

/* Slow {"ms": n}: sleeps n ms in 50 ms steps, returning early (no outcome)
 * when cancelled; "slept" otherwise. */
static void slow(twe_activity_t *act, void *user) {
  (void)user;
  int ms = 0;
  if (twe_activity_unpack_arg(act, 0, NULL, "{s:i}", "ms", &ms) < 0) return;
  for (int t = 0; t < ms; t += 50) {
    if (twe_activity_cancelled(act)) return;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
  }
  complete_json(act, json_string("slept"));
}

/* Flaky {"until": n}: attempts before n fail (retryable); attempt n
 * returns its number. */
static void flaky(twe_activity_t *act, void *user) {
  (void)user;
  int until = 1;
  if (twe_activity_unpack_arg(act, 0, NULL, "{s:i}", "until", &until) < 0) return;
  int attempt = twe_activity_info(act)->attempt;
  if (attempt < until) {
    twe_error_info_t e = {.type = "Flaky", .message = "not yet"};
    twe_activity_fail(act, &e);
    return;
  }
  complete_json(act, json_integer(attempt));
}

/* Locals {"mode": m, ...}: local activities.
 *   seq: 20 x Inc in a row, from 0; returns 20.
 *   long {"ms": n}: one Slow of n ms; returns "slept".
 *   retry: Flaky until attempt 3, 100 ms apart (inside the task); returns 3.
 *   backoff: Flaky until attempt 2, 2 s apart, threshold 1 s (a durable
 *     timer between them); returns 2.
 *   cancel {"type": t}: a 30 s Slow cancelled after a 1 s timer, cancellation
 *     type t (0 try, 1 wait, 2 abandon); returns the error type it got. */
static void locals(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *mode = "";
  int ms = 0, type = 0;
  twe_error_info_t err;
  if (twe_workflow_unpack_arg(wf, 0, &err, "{s:s,s?i,s?i}", "mode", &mode, "ms", &ms, "type",
                              &type) < 0) {
    twe_workflow_fail(wf, &err);
    return;
  }
  twe_local_activity_options_t o = {.start_to_close_timeout_ns = 60 * SEC};
  twe_payload_t r = twe_payload_null(), arg;
  int rc = 0;
  if (strcmp(mode, "seq") == 0) {
    for (int i = 0; i < 20 && rc == 0; i++) {
      arg = i ? r : twe_payload_json("0");
      rc = twe_workflow_execute_local_activity(wf, "Inc", &o, &arg, 1, &r, &err);
    }
  } else if (strcmp(mode, "long") == 0) {
    twe_workflow_pack(wf, &arg, NULL, "{s:i}", "ms", ms);
    rc = twe_workflow_execute_local_activity(wf, "Slow", &o, &arg, 1, &r, &err);
  } else if (strcmp(mode, "retry") == 0 || strcmp(mode, "backoff") == 0) {
    bool backoff = strcmp(mode, "backoff") == 0;
    twe_retry_policy_t rp = {.initial_interval_ns = backoff ? 2 * SEC : SEC / 10,
                             .backoff_coefficient = 1};
    o.retry_policy = &rp;
    o.local_retry_threshold_ns = backoff ? SEC : 0;
    twe_workflow_pack(wf, &arg, NULL, "{s:i}", "until", backoff ? 2 : 3);
    rc = twe_workflow_execute_local_activity(wf, "Flaky", &o, &arg, 1, &r, &err);
  } else if (strcmp(mode, "cancel") == 0) {
    o.cancellation_type = (twe_cancellation_type_t)type;
    twe_future_t *f;
    twe_workflow_pack(wf, &arg, NULL, "{s:i}", "ms", 30000);
    if (twe_workflow_start_local_activity(wf, "Slow", &o, &arg, 1, &f) < 0) return;
    twe_workflow_sleep(wf, SEC);
    twe_future_cancel(wf, f);
    if (twe_future_wait(wf, f) == TWE_EFAILED) {
      twe_future_error(f, &err);
      twe_workflow_pack(wf, &r, NULL, "s", err.type);
    } else {
      twe_future_result(f, &r);
    }
  } else {
    err = (twe_error_info_t){.type = "BadMode", .message = mode, .non_retryable = true};
    rc = TWE_EFAILED;
  }
  if (rc == TWE_EFAILED) {
    twe_workflow_fail(wf, &err);
    return;
  }
  twe_workflow_complete(wf, &r);
}

/* Wedge {"fifo": path}: blocks its shard thread reading the FIFO at path
 * (what workflow code must never do), then completes with what it read.
 * With --no-watchdog nothing stops it: the shard's loop stands still. */
static void wedge(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *path = "";
  twe_workflow_unpack_arg(wf, 0, NULL, "{s:s}", "fifo", &path);
  char got[64] = "";
  FILE *f = fopen(path, "r");
  if (f) {
    if (!fgets(got, sizeof got, f)) got[0] = 0;
    fclose(f);
  }
  got[strcspn(got, "\n")] = 0;
  twe_payload_t r;
  twe_workflow_pack(wf, &r, NULL, "s", got);
  twe_workflow_complete(wf, &r);
}

/* Chatty {"sleep_ms": n}: logs "step 1", sleeps, logs "step 2" at warn
 * and completes: each line is said once, however often the run replays. */
static void chatty(twe_workflow_t *wf, void *user) {
  (void)user;
  int ms = 200;
  twe_workflow_unpack_arg(wf, 0, NULL, "{s?i}", "sleep_ms", &ms);
  twe_workflow_log(wf, TWE_LOG_INFO, "step %d", 1);
  if (twe_workflow_sleep(wf, (int64_t)ms * 1000000) < 0) return;
  twe_workflow_log(wf, TWE_LOG_WARN, "step %d", 2);
  complete_text(wf, "\"chatted\"");
}

/* Busy {"steps": n, "burn_ms": m}: n times, burns m ms of its thread's CPU
 * in workflow code, then runs Echo; completes with n. Many at once keep
 * the shard busier than the server: its sticky queue gets a backlog. */
static void busy(twe_workflow_t *wf, void *user) {
  (void)user;
  int steps = 5, burn_ms = 10;
  twe_workflow_unpack_arg(wf, 0, NULL, "{s?i s?i}", "steps", &steps, "burn_ms", &burn_ms);
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC};
  for (int i = 0; i < steps; i++) {
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) <
           (long long)burn_ms * 1000000ll);
    twe_payload_t arg = twe_payload_json("1"), r;
    twe_error_info_t e;
    if (twe_workflow_execute_activity(wf, "Echo", &o, &arg, 1, &r, &e) != 0) {
      fail_with(wf, &e);
      return;
    }
  }
  char text[32];
  snprintf(text, sizeof text, "%d", steps);
  complete_text(wf, text);
}

/* --- the Go SDK's twins (tests/support/go_worker) ------------------------------------ */

/* Versioned: get_version("step", -1, 1); version 1 sleeps 100 ms and
 * returns "new", the default version "old". */
static void versioned(twe_workflow_t *wf, void *user) {
  (void)user;
  int v = 0;
  if (twe_workflow_get_version(wf, "step", TWE_DEFAULT_VERSION, 1, &v) < 0) return;
  if (v == 1) {
    twe_workflow_sleep(wf, SEC / 10);
    complete_text(wf, "\"new\"");
  } else {
    complete_text(wf, "\"old\"");
  }
}

static int forty_two(twe_workflow_t *wf, void *arg, twe_payload_t *value) {
  (void)wf, (void)arg;
  *value = twe_payload_json("42");
  return 0;
}

/* GoSided: a side effect of 42, a 100 ms sleep; returns the side effect. */
static void go_sided(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t v;
  if (twe_workflow_side_effect(wf, forty_two, NULL, &v) < 0) return;
  twe_workflow_sleep(wf, SEC / 10);
  twe_workflow_complete(wf, &v);
}

static int mutable_value(twe_workflow_t *wf, void *arg, twe_payload_t *value) {
  (void)wf;
  *value = twe_payload_json(arg);
  return 0;
}

/* GoMutable: mutable side effect "m" of 7, 7 again, a 100 ms sleep, then
 * 8; returns 100 a + 10 b + c (778). */
static void go_mutable(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *vals[3] = {"7", "7", "8"};
  int got[3] = {0};
  for (int i = 0; i < 3; i++) {
    if (i == 2) twe_workflow_sleep(wf, SEC / 10);
    twe_payload_t v;
    if (twe_workflow_mutable_side_effect(wf, "m", mutable_value, (void *)vals[i], &v) < 0) return;
    char text[16];
    snprintf(text, sizeof text, "%.*s", (int)v.len, (const char *)v.data);
    got[i] = atoi(text);
  }
  char *r = twe_workflow_alloc(wf, 16);
  snprintf(r, 16, "%d", 100 * got[0] + 10 * got[1] + got[2]);
  complete_text(wf, r);
}

/* --- memo and search attributes ---------------------------------------------------- */

/* A JSON value of a payload the run owns (NULL when missing). */
static json_t *value_of(int rc, const twe_payload_t *p) {
  return rc == 0 ? json_loadb(p->data, p->len, JSON_DECODE_ANY, NULL) : json_null();
}

/* Fields {"child": b, "can": n}: returns {"memo": its memo "note", "tag":
 * its search attribute TweTag, "after": TweTag after upserting "changed",
 * "kid": a child Fields' result (started with memo note "from parent" and
 * TweTag "kid") when child is set}. With can > 0 it first continues as new
 * (can - 1), giving no memo or search attributes: the next run has this
 * run's. */
static void fields(twe_workflow_t *wf, void *user) {
  (void)user;
  int child = 0, can = 0;
  twe_workflow_unpack_arg(wf, 0, NULL, "{s?b,s?i}", "child", &child, "can", &can);
  twe_payload_t memo, tag, after;
  json_t *m = value_of(twe_workflow_memo(wf, "note", &memo), &memo);
  json_t *t = value_of(twe_workflow_search_attribute(wf, "TweTag", &tag, NULL), &tag);
  twe_payload_t changed = twe_payload_json("\"changed\"");
  twe_workflow_upsert_search_attribute(wf, "TweTag", "Keyword", &changed);
  const char *type = NULL;
  json_t *a = value_of(twe_workflow_search_attribute(wf, "TweTag", &after, &type), &after);
  if (can > 0) {
    twe_payload_t next;
    twe_workflow_pack(wf, &next, NULL, "{s:i}", "can", can - 1);
    twe_workflow_continue_as_new(wf, NULL, &next, 1);
    json_decref(m), json_decref(t), json_decref(a);
    return;
  }
  json_t *kid = json_null();
  if (child) {
    twe_field_t kid_memo = {"note", NULL, twe_payload_json("\"from parent\"")};
    twe_field_t kid_sa = {"TweTag", "Keyword", twe_payload_json("\"kid\"")};
    twe_child_options_t co = {.memo = &kid_memo, .memo_count = 1,
                              .search_attributes = &kid_sa, .search_attributes_count = 1};
    twe_payload_t in = twe_payload_json("{}"), r;
    twe_future_t *res;
    if (twe_workflow_start_child(wf, "Fields", &co, &in, 1, NULL, &res) == 0 &&
        twe_future_wait(wf, res) == 0 && twe_future_result(res, &r) == 0) {
      json_decref(kid);
      kid = json_loadb(r.data, r.len, 0, NULL);
    }
  }
  twe_payload_t out;
  twe_workflow_pack(wf, &out, NULL, "{s:o,s:o,s:o,s:s,s:o}", "memo", m, "tag", t, "after", a,
                    "type", type ? type : "", "kid", kid ? kid : json_null());
  twe_workflow_complete(wf, &out);
}

static int register_all(twe_worker_t *w) {
  int rc = 0;
  if ((rc = twe_worker_register_workflow(w, "RetryOnce", retry_once, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "NonRetryable", non_retryable, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "HeartbeatResume", heartbeat_resume, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Sequential", sequential, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Timer", timer_wf, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Approval", approval, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Collect", collect, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Counter", counter_wf, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Cancellable", cancellable, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Chain", chain, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Patched", patched_wf, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Tagged", tagged, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Sender", sender, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Sided", sided, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Kid", kid, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Parent", parent, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Locals", locals, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Fields", fields, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Versioned", versioned, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Wedge", wedge, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Chatty", chatty, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "Busy", busy, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "GoSided", go_sided, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "GoMutable", go_mutable, NULL)) < 0 ||
      (rc = twe_worker_register_workflow(w, "PyParent", py_parent, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "Inc", inc, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "Slow", slow, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "Flaky", flaky, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "WaitForCancel", wait_for_cancel, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "FailFirstAttempt", fail_first_attempt, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "FailHard", fail_hard, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "CountWithHeartbeat", count_with_heartbeat, NULL)) <
          0 ||
      (rc = twe_worker_register_activity(w, "Echo", echo, NULL)) < 0 ||
      (rc = twe_worker_register_activity(w, "EchoChanged", echo, NULL)) < 0)
    return rc;
  return 0;
}

/* --- commands ----------------------------------------------------------- */

static twe_worker_t *g_worker;
static void on_signal(int sig) {
  (void)sig;
  if (g_worker) twe_worker_stop(g_worker);
}

static int run_worker(int argc, char **argv) {
  const char *queue = NULL;
  long cache = -1; /* --cache N; not given: the default; 0: no cache */
  bool no_watchdog = false, no_eager = false;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--task-queue") == 0 && i + 1 < argc) queue = argv[++i];
    else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc) cache = atol(argv[++i]);
    else if (strcmp(argv[i], "--old") == 0) g_old = true;
    else if (strcmp(argv[i], "--no-watchdog") == 0) no_watchdog = true;
    else if (strcmp(argv[i], "--no-eager") == 0) no_eager = true;
  }
  if (!queue) {
    fprintf(stderr, "worker: --task-queue is required\n");
    return 2;
  }
  char err[512];
  twe_client_t *client;
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "worker: connect: %s\n", err);
    return 1;
  }
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = queue;
  o.max_cached_workflows = cache < 0 ? TWE_CACHE_DEFAULT : cache == 0 ? TWE_CACHE_OFF : cache;
  o.disable_eager_activities = no_eager;
  if (no_watchdog) {
    o.workflow_cpu_warning_ns = o.workflow_cpu_budget_ns = TWE_WATCHDOG_OFF;
    o.workflow_blocked_warning_ns = o.workflow_blocked_budget_ns = TWE_WATCHDOG_OFF;
    o.workflow_time_slice_ns = TWE_WATCHDOG_OFF;
  }
  if ((rc = twe_worker_create(client, &o, &g_worker)) < 0 || (rc = register_all(g_worker)) < 0) {
    fprintf(stderr, "worker: %s\n", twe_strerror(rc));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if ((rc = twe_worker_start(g_worker)) < 0) {
    fprintf(stderr, "worker: start: %s\n", twe_strerror(rc));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  twe_worker_wait(g_worker);
  twe_worker_stats_t s;
  twe_worker_stats(g_worker, &s);
  printf("stats {\"workflow_tasks_completed\":%llu,\"workflow_tasks_failed\":%llu,"
         "\"nondeterminism_errors\":%llu,\"cache_hits\":%llu,\"cache_misses\":%llu,"
         "\"cache_evictions\":%llu,\"cached_workflows\":%llu,\"history_pages_fetched\":%llu,"
         "\"activities_completed\":%llu,\"activities_failed\":%llu,"
         "\"activities_running\":%llu,\"heartbeats_sent\":%llu,"
         "\"local_activity_attempts\":%llu,\"workflow_task_heartbeats\":%llu,"
         "\"watchdog_preemptions\":%llu,\"connection_losses\":%llu,\"reconnects\":%llu,"
         "\"calls_failed\":%llu,\"polls_failed\":%llu,\"history_events_held_max\":%llu,"
         "\"activities_eager\":%llu,\"activity_slots_in_use\":%llu,"
         "\"activity_slots_peak\":%llu,\"activity_threads_peak\":%llu,"
         "\"workflow_task_slots_in_use\":%llu,\"cache_forced_evictions\":%llu,"
         "\"cache_stows\":%llu,\"normal_polls_held\":%llu}\n",
         (unsigned long long)s.workflow_tasks_completed,
         (unsigned long long)s.workflow_tasks_failed, (unsigned long long)s.nondeterminism_errors,
         (unsigned long long)s.cache_hits, (unsigned long long)s.cache_misses,
         (unsigned long long)s.cache_evictions, (unsigned long long)s.cached_workflows,
         (unsigned long long)s.history_pages_fetched, (unsigned long long)s.activities_completed,
         (unsigned long long)s.activities_failed, (unsigned long long)s.activities_running,
         (unsigned long long)s.heartbeats_sent, (unsigned long long)s.local_activity_attempts,
         (unsigned long long)s.workflow_task_heartbeats,
         (unsigned long long)s.watchdog_preemptions, (unsigned long long)s.connection_losses,
         (unsigned long long)s.reconnects, (unsigned long long)s.calls_failed,
         (unsigned long long)s.polls_failed, (unsigned long long)s.history_events_held_max,
         (unsigned long long)s.activities_eager, (unsigned long long)s.activity_slots_in_use,
         (unsigned long long)s.activity_slots_peak, (unsigned long long)s.activity_threads_peak,
         (unsigned long long)s.workflow_task_slots_in_use,
         (unsigned long long)s.cache_forced_evictions, (unsigned long long)s.cache_stows,
         (unsigned long long)s.normal_polls_held);
  fflush(stdout);
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  return 0;
}

static int run_replay(int argc, char **argv) {
  if (argc < 1) return 2;
  g_changed = argc > 1 && strcmp(argv[1], "--changed") == 0;
  FILE *f = fopen(argv[0], "rb");
  if (!f) {
    perror(argv[0]);
    return 1;
  }
  static char buf[8 << 20];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = "replay";
  twe_worker_t *w;
  if (twe_worker_create(NULL, &o, &w) < 0 || register_all(w) < 0) return 1;
  char err[1024];
  int rc = twe_worker_replay_json(w, buf, len, err, sizeof err);
  twe_worker_destroy(w);
  if (rc == 0) {
    printf("replay ok\n");
    return 0;
  }
  fprintf(stderr, "replay failed (%s): %s\n", twe_err_name(rc), err);
  return rc == TWE_ENONDETERMINISM ? 3 : 1;
}

static int run_start_raw(int argc, char **argv) {
  if (argc < 4) return 2;
  char err[512];
  twe_client_t *client;
  if (twe_client_connect(NULL, &client, err, sizeof err) < 0) {
    fprintf(stderr, "start-raw: connect: %s\n", err);
    return 1;
  }
  twe_start_workflow_options_t o = {.workflow_id = argv[2], .task_queue = argv[1]};
  twe_payload_t arg = {"json/plain", argv[3], strlen(argv[3])};
  char run_id[64];
  int rc = twe_client_start_workflow(client, argv[0], &o, &arg, 1, run_id, sizeof run_id, err,
                                     sizeof err);
  twe_client_close(client);
  if (rc < 0) {
    fprintf(stderr, "start-raw: %s\n", err);
    return 1;
  }
  printf("%s\n", run_id);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "worker") == 0) return run_worker(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "replay") == 0) return run_replay(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "start-raw") == 0) return run_start_raw(argc - 2, argv + 2);
  fprintf(stderr, "usage: %s worker|replay|start-raw ...\n", argv[0]);
  return 2;
}
