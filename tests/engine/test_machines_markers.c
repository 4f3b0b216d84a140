/* tests/engine/test_machines_markers.c — the rows of the marker kinds that
 * came with local activities and the Go SDK's versioning (local activity,
 * version, mutable side effect), and the workflow info and logger, driven
 * from synthetic histories as in test_machines.c: live (the task answered,
 * then the next events applied to the cached run) and replayed. The last
 * test fails when a row of these kinds was reached by no test (built with
 * TWE_MACHINE_COVERAGE, as scripts/test does). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/values.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run.h"
#include "temporal/api/update/v1/message.pb-c.h"
#include "tests/engine/hist.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x

/* --- workflows ---------------------------------------------------------------------- */

/* Sleeps 1 s. */
static void wf_sleep(twe_workflow_t *wf, void *user) {
  (void)user;
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
}

/* What a cancelled future said: the wait's return and the error type. */
static int cancel_wait_rc;
static char cancel_error_type[64];
static void record_cancel(twe_workflow_t *wf, twe_future_t *t) {
  cancel_wait_rc = twe_future_wait(wf, t);
  twe_error_info_t e;
  assert_int_equal(twe_future_error(t, &e), 0);
  snprintf(cancel_error_type, sizeof cancel_error_type, "%s", e.type);
}

/* Logs "hello" with its info and history figures, sleeps 1 s, logs
 * "after". */
static char info_seen[512];
static void wf_info(twe_workflow_t *wf, void *user) {
  (void)user;
  const twe_workflow_info_t *i = twe_workflow_info(wf);
  snprintf(info_seen, sizeof info_seen, "%s/%s/%s cron %s len %lld size %lld suggest %d",
           i->parent_namespace, i->parent_workflow_id, i->parent_run_id, i->cron_schedule,
           (long long)twe_workflow_history_length(wf),
           (long long)twe_workflow_history_size_bytes(wf),
           (int)twe_workflow_continue_as_new_suggested(wf));
  twe_workflow_log(wf, TWE_LOG_INFO, "hello %d", 1);
  twe_workflow_log(wf, TWE_LOG_DEBUG, "below the level");
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
  twe_workflow_log(wf, TWE_LOG_WARN, "after");
}

/* GetVersion("step", version_min, 1): the version seen; 1 sleeps 1 s. */
static int version_min, version_seen;
static void wf_version(twe_workflow_t *wf, void *user) {
  (void)user;
  version_seen = -99;
  int again = -99;
  if (twe_workflow_get_version(wf, "step", version_min, 1, &version_seen) < 0) return;
  assert_int_equal(twe_workflow_get_version(wf, "step", version_min, 1, &again), 0);
  assert_int_equal(again, version_seen);
  if (version_seen == 1) assert_int_equal(twe_workflow_sleep(wf, NS), 0);
}

/* Mutable side effect "m": 7, 7, a 1 s sleep, 8 (fn counts its calls);
 * records what it got. */
static int mutable_calls;
static char mutable_got[16];
static int mutable_fn(twe_workflow_t *wf, void *arg, twe_payload_t *value) {
  (void)wf;
  mutable_calls++;
  *value = twe_payload_json(arg);
  return 0;
}
static void wf_mutable(twe_workflow_t *wf, void *user) {
  (void)user;
  const char *vals[3] = {"7", "7", "8"};
  for (int i = 0; i < 3; i++) {
    if (i == 2) assert_int_equal(twe_workflow_sleep(wf, NS), 0);
    twe_payload_t v;
    assert_int_equal(twe_workflow_mutable_side_effect(wf, "m", mutable_fn, (void *)vals[i], &v), 0);
    mutable_got[i] = v.len == 1 ? *(const char *)v.data : '?';
  }
  mutable_got[3] = 0;
}

/* --- local activities ---------------------------------------------------------------- */

static const twe_local_activity_options_t lopts = {.start_to_close_timeout_ns = 10 * NS};
static twe_cancellation_type_t la_ctype;

/* Runs local activity L("1"), sleeps 1 s, completes with L's result (or
 * fails with its error). */
static void wf_la(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t arg = twe_payload_json("1"), r;
  twe_error_info_t e;
  int rc = twe_workflow_execute_local_activity(wf, "L", &lopts, &arg, 1, &r, &e);
  assert_int_equal(twe_workflow_sleep(wf, NS), 0);
  if (rc == 0) twe_workflow_complete(wf, &r);
  else twe_workflow_fail(wf, &e);
}

/* Local activity L (cancellation type la_ctype) beside a 1 s timer; when
 * the timer fires first, L is cancelled; L's error is recorded. */
static void wf_la_cancel(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_local_activity_options_t o = lopts;
  o.cancellation_type = la_ctype;
  twe_future_t *fs[2];
  assert_int_equal(twe_workflow_start_local_activity(wf, "L", &o, NULL, 0, &fs[0]), 0);
  assert_int_equal(twe_workflow_start_timer(wf, NS, &fs[1]), 0);
  if (twe_future_wait_any(wf, fs, 2) == 1) assert_int_equal(twe_future_cancel(wf, fs[0]), 0);
  record_cancel(wf, fs[0]);
}

/* --- fixture ------------------------------------------------------------------------ */

static int setup(void **state) {
  fixture_t *fx = fixture_open();
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Sleep", wf_sleep, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "La", wf_la, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "LaCancel", wf_la_cancel, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Info", wf_info, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Version", wf_version, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Mutable", wf_mutable, NULL), 0);
  cancel_wait_rc = 0;
  cancel_error_type[0] = 0;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

/* --- Go's GetVersion ---------------------------------------------------------------------- */

/* Started, a task, then (marker) a Version marker for "step" at version
 * 1 and its TemporalChangeVersion upsert, a 1 s timer, a task. */
static void version_history(hist_t *h, const char *type, bool marker) {
  memset(h->ev, 0, sizeof h->ev);
  h->n = 0;
  h_started(h, type, NULL);
  h_task(h);
  h_task_completed(h);
  if (marker) {
    h_version_marker(h, "step", 1);
    h_upsert(h, "TemporalChangeVersion");
  }
  int64_t t = h_timer_started(h, "1");
  h_timer_fired(h, t, "1");
  h_task(h);
}

/* Live: version 1 with the marker and the upsert, the marker's event pairs
 * in the next task. Replayed: 1 from a marker, -1 without one (the old
 * code's history: no timer then), a failure when the code no longer
 * supports -1, and a history with the marker replays on code without the
 * call. */
static void test_version(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  version_min = TWE_DEFAULT_VERSION;
  version_history(h, "Version", true);
  fx->run = new_run(fx);
  /* CREATED --SENT--> COMMAND_SENT --MARKER_RECORDED--> RECORDED */
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_int_equal(version_seen, 1);
  assert_commands(&fx->out, 3, CMD(RECORD_MARKER), CMD(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
                  CMD(START_TIMER));
  const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *m =
      fx->out.commands[0]->record_marker_command_attributes;
  assert_string_equal(m->marker_name, "Version");
  assert_string_equal(m->details[0]->key, "change-id");
  assert_memory_equal(m->details[0]->value->payloads[0]->data.data, "\"step\"", 6);
  assert_string_equal(m->details[1]->key, "version");
  assert_memory_equal(m->details[1]->value->payloads[0]->data.data, "1", 1);
  assert_int_equal(fx_apply(fx, 3, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));

  /* CREATED --MARKER_RECORDED--> RECORDED */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  version_seen = -99;
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_int_equal(version_seen, 1);

  /* The old code's history (no marker, no timer). */
  memset(h->ev, 0, sizeof h->ev);
  h->n = 0;
  h_started(h, "Version", NULL);
  h_task(h);
  h_task_completed(h);
  h_workflow_completed(h);
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_int_equal(version_seen, TWE_DEFAULT_VERSION);
  /* ... on code that dropped the old branch. */
  version_min = 1;
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), TWE_ENONDETERMINISM);
  assert_non_null(strstr(fx->out.message, "version -1 of change \"step\" is not supported"));

  /* A marker the code no longer asks for: skipped, with its upsert. */
  version_history(h, "Sleep", true);
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
}

/* --- mutable side effects ----------------------------------------------------------------- */

/* Live: a marker for the first value and one for the changed third (the
 * second, equal, records nothing). Replayed: the same values, fn never
 * called. */
static void test_mutable_side_effect(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Mutable", NULL); /* 1 */
  h_task(h);                     /* 2, 3 */
  fx->run = new_run(fx);
  mutable_calls = 0;
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(START_TIMER));
  const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *m =
      fx->out.commands[0]->record_marker_command_attributes;
  assert_string_equal(m->marker_name, "MutableSideEffect");
  assert_memory_equal(m->details[0]->value->payloads[0]->data.data, "\"m_5\"", 5);
  h_task_completed(h);                   /* 4 */
  h_marker_from(h, fx->out.commands[0]); /* 5 */
  int64_t t = h_timer_started(h, "1");   /* 6 */
  h_timer_fired(h, t, "1");              /* 7 */
  h_task(h);                             /* 8, 9 */
  assert_int_equal(fx_apply(fx, 3, 9), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_string_equal(mutable_got, "778");
  assert_int_equal(mutable_calls, 3);
  h_task_completed(h);                   /* 10 */
  h_marker_from(h, fx->out.commands[0]); /* 11 */
  h_workflow_completed(h);               /* 12 */

  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  mutable_calls = 0;
  memset(mutable_got, 0, sizeof mutable_got);
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_true(fx->out.replay_only);
  assert_string_equal(mutable_got, "778");
  assert_int_equal(mutable_calls, 0);
  twe_run_outcome_t check;
  assert_int_equal(twe__run_check_replayed(fx->run, &check), 0);
}

/* --- info and the logger ------------------------------------------------------------------ */

static char log_lines[1024];
static void capture_log(void *user, const twe_workflow_log_record_t *r) {
  (void)user;
  size_t n = strlen(log_lines);
  snprintf(log_lines + n, sizeof log_lines - n, "%d %s %s %s %s;", (int)r->level,
           r->workflow_type, r->workflow_id, r->run_id, r->message);
}

/* The info of a child with a cron schedule and the task's history figures;
 * log lines live (at INFO and up), none while replaying. */
static void test_info_and_logger(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "Info", NULL); /* 1 */
  Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a =
      h->ev[0]->workflow_execution_started_event_attributes;
  Temporal__Api__Common__V1__WorkflowExecution *parent = halloc(h, sizeof *parent);
  temporal__api__common__v1__workflow_execution__init(parent);
  parent->workflow_id = "pwf";
  parent->run_id = "prun";
  a->parent_workflow_execution = parent;
  a->parent_workflow_namespace = "pns";
  a->cron_schedule = "*/5 * * * *";
  h_task(h); /* 2, 3 */
  h->ev[2]->workflow_task_started_event_attributes->history_size_bytes = 1234;
  h->ev[2]->workflow_task_started_event_attributes->suggest_continue_as_new = true;
  h_task_completed(h);                 /* 4 */
  int64_t t = h_timer_started(h, "1"); /* 5 */
  h_timer_fired(h, t, "1");            /* 6 */
  h_task(h);                           /* 7, 8 */
  fx->env.log = capture_log;
  fx->env.log_level = TWE_LOG_INFO;
  log_lines[0] = 0;
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), 0);
  assert_string_equal(info_seen, "pns/pwf/prun cron */5 * * * * len 3 size 1234 suggest 1");
  assert_string_equal(log_lines, "1 Info wf-1 run-1 hello 1;");
  assert_int_equal(fx_apply(fx, 3, 8), 0);
  assert_string_equal(log_lines, "1 Info wf-1 run-1 hello 1;2 Info wf-1 run-1 after;");

  /* Replayed: the first task's line is not said again. */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  log_lines[0] = 0;
  assert_int_equal(fx_apply(fx, 0, 8), 0);
  assert_string_equal(log_lines, "2 Info wf-1 run-1 after;");
}


/* --- local activities ---------------------------------------------------------------- */

/* The marker command's data JSON contains text. */
static void assert_marker(const twe_command_pb_t *c, const char *text) {
  assert_int_equal(c->command_type, CMD(RECORD_MARKER));
  const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *m =
      c->record_marker_command_attributes;
  assert_string_equal(m->marker_name, "core_local_activity");
  assert_string_equal(m->details[0]->key, "data");
  const ProtobufCBinaryData *d = &m->details[0]->value->payloads[0]->data;
  char buf[512];
  snprintf(buf, sizeof buf, "%.*s", (int)d->len, (const char *)d->data);
  if (!strstr(buf, text)) fail_msg("marker data %s lacks %s", buf, text);
}

/* The one request the run made: a start of seq's attempt. */
static void assert_start(twe_run_t *run, uint32_t seq, uint32_t attempt) {
  twe_local_request_t *rq = twe__run_take_local_requests(run);
  assert_non_null(rq);
  assert_null(rq->next);
  assert_false(rq->cancel);
  assert_int_equal(rq->seq, seq);
  assert_int_equal(rq->attempt, attempt);
  assert_string_equal(rq->activity_type, "L");
}

static void give(twe_run_t *run, uint32_t seq, uint32_t attempt, twe_local_status_t st,
                 const char *json, const twe_failure_pb_t *f, uint64_t backoff_ns) {
  twe_payload_t v = twe_payload_json(json ? json : "null");
  twe_local_result_t r = {.seq = seq, .attempt = attempt, .status = st, .result = &v,
                          .failure = f, .backoff_ns = backoff_ns,
                          .original_schedule_time_ns = T0};
  assert_int_equal(twe__run_local_result(run, &r), 0);
}

static void assert_result(const twe_run_outcome_t *out, const char *json) {
  const twe_payloads_pb_t *r =
      out->commands[out->n_commands - 1]->complete_workflow_execution_command_attributes->result;
  assert_memory_equal(r->payloads[0]->data.data, json, strlen(json));
}

/* Live: the task waits for L, its result makes a marker; the next task's
 * history pairs it. Replayed: the marker's result, nothing requested. Then
 * the code without L meets the marker: non-determinism. */
static void test_local_live_and_replayed(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "La", NULL); /* 1 */
  h_task(h);                /* 2, 3 */
  fx->run = new_run(fx);
  /* REQUESTED --RESULT--> MARKER_CREATED --SENT--> MARKER_SENT */
  assert_int_equal(fx_apply(fx, 0, 3), TWE__RUN_WAITING);
  assert_start(fx->run, 1, 1);
  assert_int_equal(twe__run_locals_in_flight(fx->run), 1);
  give(fx->run, 1, 1, TWE_LOCAL_COMPLETED, "5", NULL, 0);
  assert_int_equal(twe__run_locals_in_flight(fx->run), 0);
  assert_int_equal(twe__run_resume(fx->run, &fx->out), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(START_TIMER));
  assert_marker(fx->out.commands[0], "\"seq\":1");
  h_task_completed(h);                   /* 4 */
  h_marker_from(h, fx->out.commands[0]); /* 5 */
  int64_t t = h_timer_started(h, "1");   /* 6 */
  h_timer_fired(h, t, "1");              /* 7 */
  h_task(h);                             /* 8, 9 */
  /* MARKER_SENT --MARKER_RECORDED--> RECORDED */
  assert_int_equal(fx_apply(fx, 3, 9), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_result(&fx->out, "5");

  /* WAITING_MARKER --RESULT--> MARKER_CREATED --MARKER_RECORDED--> RECORDED */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 9), 0);
  assert_commands(&fx->out, 1, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_result(&fx->out, "5");
  assert_null(twe__run_take_local_requests(fx->run));

  /* Code that sleeps where the history has the marker. */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  h->ev[0]->workflow_execution_started_event_attributes->workflow_type->name = "Sleep";
  assert_int_equal(fx_apply(fx, 0, 9), TWE_ENONDETERMINISM);
  assert_non_null(strstr(fx->out.message, "event 5 MARKER_RECORDED"));
  assert_non_null(strstr(fx->out.message, "no such local activity"));
}

/* Live: the task is answered before L is back (a heartbeat); the result
 * waits for the next task. Replayed without a marker up to a live task: L
 * runs again (WAITING_MARKER --EXECUTE--> REQUESTED). */
static void test_local_heartbeat_and_execute(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "La", NULL); /* 1 */
  h_task(h);                /* 2, 3 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), TWE__RUN_WAITING);
  assert_start(fx->run, 1, 1);
  assert_int_equal(twe__run_answer_now(fx->run, &fx->out), 0);
  assert_commands(&fx->out, 0);
  give(fx->run, 1, 1, TWE_LOCAL_COMPLETED, "7", NULL, 0);
  h_task_completed(h); /* 4 */
  h_task(h);           /* 5, 6 */
  assert_int_equal(fx_apply(fx, 3, 6), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(START_TIMER));

  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 6), TWE__RUN_WAITING);
  assert_start(fx->run, 1, 1);
}

/* L cancelled when the timer fires: its history (live), then replayed. */
static void la_cancel_history(fixture_t *fx, twe_cancellation_type_t type) {
  hist_t *h = &fx->h;
  la_ctype = type;
  h_started(h, "LaCancel", NULL); /* 1 */
  h_task(h);                      /* 2, 3 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), TWE__RUN_WAITING);
  assert_start(fx->run, 1, 1);
  assert_int_equal(twe__run_answer_now(fx->run, &fx->out), 0);
  assert_commands(&fx->out, 1, CMD(START_TIMER));
  h_task_completed(h);                 /* 4 */
  int64_t t = h_timer_started(h, "1"); /* 5 */
  h_timer_fired(h, t, "1");            /* 6 */
  h_task(h);                           /* 7, 8 */
}

static void la_cancel_replay(fixture_t *fx) {
  hist_t *h = &fx->h;
  h_task_completed(h);                   /* 9 */
  h_marker_from(h, fx->out.commands[0]); /* 10 */
  h_workflow_completed(h);               /* 11 */
  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  cancel_error_type[0] = 0;
  assert_int_equal(fx_apply(fx, 0, h->n), 0);
  assert_true(fx->out.replay_only);
  assert_string_equal(cancel_error_type, "CanceledError");
}

static void test_local_cancel_try(void **state) {
  fixture_t *fx = *state;
  la_cancel_history(fx, TWE_CANCEL_TRY);
  /* REQUESTED --CANCEL--> MARKER_CREATED: over at once, the code told. */
  assert_int_equal(fx_apply(fx, 3, 8), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_string_equal(cancel_error_type, "CanceledError");
  twe_local_request_t *rq = twe__run_take_local_requests(fx->run);
  assert_true(rq && rq->cancel && rq->seq == 1 && !rq->next);
  /* WAITING_MARKER --CANCEL--> MARKER_CREATED */
  la_cancel_replay(fx);
}

static void test_local_cancel_wait(void **state) {
  fixture_t *fx = *state;
  la_cancel_history(fx, TWE_CANCEL_WAIT);
  /* REQUESTED --CANCEL--> CANCEL_WAIT --RESULT--> MARKER_CREATED */
  assert_int_equal(fx_apply(fx, 3, 8), TWE__RUN_WAITING);
  twe_local_request_t *rq = twe__run_take_local_requests(fx->run);
  assert_true(rq && rq->cancel && rq->seq == 1 && !rq->next);
  twe_failure_pb_t *f;
  assert_int_equal(twe__failure_new(&fx->h.arena, "CanceledError", "stopped", true, &f), 0);
  give(fx->run, 1, 1, TWE_LOCAL_FAILED, NULL, f, 0);
  assert_int_equal(twe__run_resume(fx->run, &fx->out), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_string_equal(cancel_error_type, "CanceledError");
  /* Replayed: the cancellation waits for the marker. */
  la_cancel_replay(fx);
}

/* A backoff past the threshold: a marker, a timer, then attempt 2 (a new
 * seq) whose result completes it; replayed from the history. */
static void test_local_backoff(void **state) {
  fixture_t *fx = *state;
  hist_t *h = &fx->h;
  h_started(h, "La", NULL); /* 1 */
  h_task(h);                /* 2, 3 */
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 3), TWE__RUN_WAITING);
  assert_start(fx->run, 1, 1);
  twe_failure_pb_t *f;
  assert_int_equal(twe__failure_new(&h->arena, "Flaky", "not yet", false, &f), 0);
  give(fx->run, 1, 1, TWE_LOCAL_BACKOFF, NULL, f, 5 * NS);
  assert_int_equal(twe__run_resume(fx->run, &fx->out), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(START_TIMER));
  assert_marker(fx->out.commands[0], "\"backoff\":{\"seconds\":5");
  assert_int_equal(fx->out.commands[1]->start_timer_command_attributes->start_to_fire_timeout->seconds,
                   5);
  h_task_completed(h);                   /* 4 */
  h_marker_from(h, fx->out.commands[0]); /* 5 */
  int64_t t = h_timer_started(h, "1");   /* 6 */
  h_timer_fired(h, t, "1");              /* 7 */
  h_task(h);                             /* 8, 9 */
  assert_int_equal(fx_apply(fx, 3, 9), TWE__RUN_WAITING);
  twe_local_request_t *rq = twe__run_take_local_requests(fx->run);
  assert_true(rq && !rq->cancel && rq->seq == 2 && rq->attempt == 2);
  assert_int_equal(rq->original_schedule_time_ns, T0);
  give(fx->run, 2, 2, TWE_LOCAL_COMPLETED, "9", NULL, 0);
  assert_int_equal(twe__run_resume(fx->run, &fx->out), 0);
  assert_commands(&fx->out, 2, CMD(RECORD_MARKER), CMD(START_TIMER));
  assert_marker(fx->out.commands[0], "\"attempt\":2");
  h_task_completed(h);                   /* 10 */
  h_marker_from(h, fx->out.commands[0]); /* 11 */
  t = h_timer_started(h, "2");           /* 12 */
  h_timer_fired(h, t, "2");              /* 13 */
  h_task(h);                             /* 14, 15 */
  assert_int_equal(fx_apply(fx, 9, 15), 0);
  assert_result(&fx->out, "9");

  twe__run_destroy(fx->run);
  fx->run = new_run(fx);
  assert_int_equal(fx_apply(fx, 0, 15), 0);
  assert_result(&fx->out, "9");
  assert_null(twe__run_take_local_requests(fx->run));
}

/* --- coverage ------------------------------------------------------------------------- */

static const char *const kinds[] = {"local activity", "version", "mutable side effect"};

static void test_every_row_reached(void **state) {
  (void)state;
  int n = twe__machine_rows_unreached(stderr, kinds, sizeof kinds / sizeof kinds[0]);
  if (n == -ENOTSUP) {
    fprintf(stderr, "built without TWE_MACHINE_COVERAGE: rows not counted\n");
    skip();
  }
  if (n > 0) fprintf(stderr, "%d row(s) above were reached by no test\n", n);
  assert_int_equal(n, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_local_live_and_replayed),
      T(test_local_heartbeat_and_execute),
      T(test_local_cancel_try),
      T(test_local_cancel_wait),
      T(test_local_backoff),
      T(test_version),
      T(test_mutable_side_effect),
      T(test_info_and_logger),
      /* Last: after every other test ran its rows. */
      cmocka_unit_test(test_every_row_reached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
