/* tests/integration/client_calls.c — the client's calls against a real dev
 * server (TEMPORAL_ADDRESS) and twe workflows: a scenario_worker polls
 * TWE_TEST_QUEUE (tests/integration/test_client_calls.sh starts it).
 * Signal, signal-with-start, start with memo and search attributes, query, update (execute, rejected, the same id
 * twice, start then result), describe, list with a visibility query and
 * pages, a history fetched page by page, cancel and terminate; and, with
 * `history-json ID`, a history as the CLI's JSON. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "twe/twe.h"

#define SEC 1000000000ull

static twe_client_t *client;
static const char *queue;
static char prefix[96];

static int setup(void **state) {
  (void)state;
  queue = getenv("TWE_TEST_QUEUE");
  if (!getenv("TEMPORAL_ADDRESS") || !queue) {
    fprintf(stderr, "TEMPORAL_ADDRESS and TWE_TEST_QUEUE must be set\n");
    return -1;
  }
  char err[512] = "";
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) fprintf(stderr, "connect: %s\n", err);
  assert_int_equal(rc, 0);
  snprintf(prefix, sizeof prefix, "twe-it-calls-%ld-%lld", (long)getpid(), (long long)time(NULL));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  twe_client_close(client);
  return 0;
}

static void start(const char *type, const char *id, const char *input_json) {
  twe_start_workflow_options_t so = {.workflow_id = id, .task_queue = queue};
  twe_payload_t arg = twe_payload_json(input_json ? input_json : "null");
  char err[512] = "";
  int rc = twe_client_start_workflow(client, type, &so, &arg, input_json ? 1 : 0, NULL, 0, err,
                                     sizeof err);
  if (rc < 0) fprintf(stderr, "start %s: %s\n", id, err);
  assert_int_equal(rc, 0);
}

static void assert_value(const twe_payload_t *v, const char *json) {
  if (v->len != strlen(json) || memcmp(v->data, json, v->len) != 0)
    fail_msg("value %.*s, want %s", (int)v->len, (const char *)v->data, json);
}

static void expect_result(const char *id, const char *json) {
  twe_workflow_result_t r;
  char err[512] = "";
  int rc = twe_client_workflow_result(client, id, NULL, 30 * SEC, &r, err, sizeof err);
  if (rc) fprintf(stderr, "result %s: %s\n", id, err);
  assert_int_equal(rc, 0);
  assert_value(&r.result, json);
  twe_workflow_result_free(&r);
}

/* --- signals ------------------------------------------------------------------------- */

static void test_signal(void **state) {
  (void)state;
  char id[160], err[512] = "";
  snprintf(id, sizeof id, "%s-approval", prefix);
  start("Approval", id, "{\"timeout_ms\":60000}");
  twe_payload_t yes = twe_payload_json("\"from C\"");
  int rc = twe_client_signal_workflow(client, id, NULL, "approve", &yes, 1, err, sizeof err);
  if (rc) fprintf(stderr, "signal: %s\n", err);
  assert_int_equal(rc, 0);
  expect_result(id, "{\"approved\":\"from C\"}");
  /* A closed workflow takes no signal. */
  assert_int_equal(twe_client_signal_workflow(client, id, NULL, "approve", &yes, 1, err, sizeof err),
                   -ENOENT);
}

static void test_signal_with_start(void **state) {
  (void)state;
  char id[160], run_id[64], err[512] = "";
  snprintf(id, sizeof id, "%s-sws", prefix);
  twe_start_workflow_options_t so = {.workflow_id = id, .task_queue = queue};
  twe_payload_t in = twe_payload_json("{\"timeout_ms\":60000}");
  twe_payload_t sig = twe_payload_json("\"with start\"");
  int rc = twe_client_signal_with_start(client, "Approval", &so, &in, 1, "approve", &sig, 1,
                                        run_id, sizeof run_id, err, sizeof err);
  if (rc) fprintf(stderr, "signal with start: %s\n", err);
  assert_int_equal(rc, 0);
  assert_true(run_id[0] != 0);
  expect_result(id, "{\"approved\":\"with start\"}");
}

/* Memo and search attributes given by the C client reach the workflow
 * (the Fields workflow reads them back). */
static void test_start_with_fields(void **state) {
  (void)state;
  char id[160], err[512] = "";
  snprintf(id, sizeof id, "%s-fields", prefix);
  twe_field_t memo = {"note", NULL, twe_payload_json("\"from C\"")};
  twe_field_t sa = {"TweTag", "Keyword", twe_payload_json("\"c\"")};
  twe_start_workflow_options_t so = {.workflow_id = id, .task_queue = queue, .memo = &memo,
                                     .memo_count = 1, .search_attributes = &sa,
                                     .search_attributes_count = 1};
  twe_payload_t in = twe_payload_json("{}");
  int rc = twe_client_start_workflow(client, "Fields", &so, &in, 1, NULL, 0, err, sizeof err);
  if (rc) fprintf(stderr, "start: %s\n", err);
  assert_int_equal(rc, 0);
  expect_result(id, "{\"memo\":\"from C\",\"tag\":\"c\",\"after\":\"changed\","
                    "\"type\":\"Keyword\",\"kid\":null}");
  /* A search attribute type that does not exist is refused here. */
  twe_field_t bad = {"TweTag", "Keywords", twe_payload_json("\"x\"")};
  so.search_attributes = &bad;
  snprintf(id, sizeof id, "%s-fields-bad", prefix);
  so.workflow_id = id;
  assert_int_equal(twe_client_start_workflow(client, "Fields", &so, &in, 1, NULL, 0, err, sizeof err),
                   -EINVAL);
  assert_non_null(strstr(err, "search attribute"));
}

/* --- queries and updates ------------------------------------------------------------- */

static void test_query_and_updates(void **state) {
  (void)state;
  char id[160], err[512] = "", uid[64];
  snprintf(id, sizeof id, "%s-counter", prefix);
  start("Counter", id, NULL);
  twe_client_value_t v;

  twe_payload_t five = twe_payload_json("5");
  int rc = twe_client_update_workflow(client, id, NULL, "add", NULL, &five, 1,
                                      TWE_UPDATE_WAIT_COMPLETED, &v, uid, sizeof uid, err,
                                      sizeof err);
  if (rc) fprintf(stderr, "update: %s\n", err);
  assert_int_equal(rc, 0);
  assert_true(v.has_value);
  assert_value(&v.value, "5");
  assert_true(uid[0] != 0);
  twe_client_value_free(&v);

  twe_payload_t minus = twe_payload_json("-1");
  rc = twe_client_update_workflow(client, id, NULL, "add", NULL, &minus, 1,
                                  TWE_UPDATE_WAIT_COMPLETED, &v, NULL, 0, err, sizeof err);
  assert_int_equal(rc, TWE_EFAILED);
  assert_string_equal(v.error.message, "negative numbers cannot be added");
  twe_client_value_free(&v);

  /* The same id twice: one outcome. */
  twe_payload_t seven = twe_payload_json("7");
  for (int i = 0; i < 2; i++) {
    rc = twe_client_update_workflow(client, id, NULL, "add", "same", &seven, 1,
                                    TWE_UPDATE_WAIT_COMPLETED, &v, NULL, 0, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_value(&v.value, "12");
    twe_client_value_free(&v);
  }

  /* Start (accepted), then wait for the result. */
  twe_payload_t three = twe_payload_json("3");
  rc = twe_client_update_workflow(client, id, NULL, "add", "later", &three, 1,
                                  TWE_UPDATE_WAIT_ACCEPTED, &v, NULL, 0, err, sizeof err);
  assert_int_equal(rc, 0);
  twe_client_value_free(&v);
  rc = twe_client_update_result(client, id, NULL, "later", 30 * SEC, &v, err, sizeof err);
  if (rc) fprintf(stderr, "update result: %s\n", err);
  assert_int_equal(rc, 0);
  assert_value(&v.value, "15");
  twe_client_value_free(&v);

  /* A handler's failure. */
  rc = twe_client_update_workflow(client, id, NULL, "fail", NULL, &five, 1,
                                  TWE_UPDATE_WAIT_COMPLETED, &v, NULL, 0, err, sizeof err);
  assert_int_equal(rc, TWE_EFAILED);
  assert_string_equal(v.error.message, "failed as asked");
  assert_string_equal(v.error.type, "CounterError");
  twe_client_value_free(&v);

  rc = twe_client_query_workflow(client, id, NULL, "total", NULL, 0, &v, err, sizeof err);
  if (rc) fprintf(stderr, "query: %s\n", err);
  assert_int_equal(rc, 0);
  assert_value(&v.value, "15");
  twe_client_value_free(&v);

  rc = twe_client_query_workflow(client, id, NULL, "nope", NULL, 0, &v, err, sizeof err);
  assert_int_equal(rc, TWE_EFAILED);
  assert_non_null(strstr(v.error.message, "unknown query type \"nope\""));
  assert_non_null(strstr(v.error.message, "total"));
  twe_client_value_free(&v);

  /* Describe while running, then the workflow ends by an update. */
  twe_workflow_description_t d;
  assert_int_equal(twe_client_describe_workflow(client, id, NULL, &d, err, sizeof err), 0);
  assert_int_equal(d.status, TWE_WORKFLOW_STATUS_RUNNING);
  assert_string_equal(d.type, "Counter");
  assert_string_equal(d.workflow_id, id);
  assert_string_equal(d.task_queue, queue);
  assert_true(d.history_length > 5);
  assert_true(d.start_time_ns > 0 && d.close_time_ns == 0);
  rc = twe_client_update_workflow(client, id, NULL, "finish", NULL, NULL, 0,
                                  TWE_UPDATE_WAIT_COMPLETED, &v, NULL, 0, err, sizeof err);
  assert_int_equal(rc, 0);
  twe_client_value_free(&v);
  expect_result(id, "15");
  assert_int_equal(twe_client_describe_workflow(client, id, NULL, &d, err, sizeof err), 0);
  assert_int_equal(d.status, TWE_WORKFLOW_STATUS_COMPLETED);
  assert_true(d.close_time_ns >= d.start_time_ns);
}

/* --- history, list, cancel, terminate ------------------------------------------------- */

static void test_history_pages(void **state) {
  (void)state;
  char id[160], err[512] = "";
  snprintf(id, sizeof id, "%s-counter", prefix); /* closed by the test above */
  twe_workflow_description_t d;
  assert_int_equal(twe_client_describe_workflow(client, id, NULL, &d, err, sizeof err), 0);
  /* The server's page size is large; walk the pages it gives and check
   * they join up to the whole history. */
  uint8_t token[1024];
  size_t token_len = 0, events = 0, pages = 0;
  int64_t next = 1;
  do {
    twe_history_page_t p;
    int rc = twe_client_fetch_history(client, id, NULL, token_len ? token : NULL, token_len, &p,
                                      err, sizeof err);
    if (rc) fprintf(stderr, "history: %s\n", err);
    assert_int_equal(rc, 0);
    Temporal__Api__History__V1__History *h = temporal__api__history__v1__history__unpack(
        NULL, p.len, p.data);
    assert_non_null(h);
    assert_int_equal(h->n_events, p.n_events);
    for (size_t i = 0; i < h->n_events; i++) assert_int_equal(h->events[i]->event_id, next++);
    if (p.n_events) assert_int_equal(p.first_event_id, h->events[0]->event_id);
    temporal__api__history__v1__history__free_unpacked(h, NULL);
    events += p.n_events;
    pages++;
    assert_true(p.next_page_token_len <= sizeof token);
    token_len = p.next_page_token_len;
    if (token_len) memcpy(token, p.next_page_token, token_len);
    twe_history_page_free(&p);
  } while (token_len && pages < 100);
  assert_int_equal((int64_t)events, d.history_length);
}

static void test_list_cancel_terminate(void **state) {
  (void)state;
  /* ids[0] is cancelled, then terminated: which lands first is a race, so
   * it is kept out of the list below (its own name); ids[1..3] are
   * terminated and listed. */
  char ids[4][160], err[512] = "", query[512];
  for (int i = 0; i < 4; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%s-%d", prefix, i ? "listed" : "cancelled", i);
    start("Approval", ids[i], "{\"timeout_ms\":600000}");
  }
  /* Cancel is recorded (the workflow sees it once cancellation lands in
   * the engine); terminate ends it at once. */
  assert_int_equal(twe_client_cancel_workflow(client, ids[0], NULL, "test", err, sizeof err), 0);
  twe_workflow_description_t d;
  for (int i = 0; i < 4; i++) {
    int rc = twe_client_terminate_workflow(client, ids[i], NULL, "listed", err, sizeof err);
    /* The cancelled one may have ended on its own first (the worker took
     * the cancellation, and Approval ends CANCELED when its wait is
     * cancelled): then it is not running, and it says how it ended. */
    if (i == 0 && rc == -ENOENT) {
      assert_int_equal(twe_client_describe_workflow(client, ids[0], NULL, &d, err, sizeof err), 0);
      if (d.status != TWE_WORKFLOW_STATUS_CANCELED)
        fprintf(stderr, "cancelled workflow ended with status %d\n", (int)d.status);
      assert_int_equal(d.status, TWE_WORKFLOW_STATUS_CANCELED);
      continue;
    }
    assert_int_equal(rc, 0);
  }
  assert_int_equal(twe_client_describe_workflow(client, ids[1], NULL, &d, err, sizeof err), 0);
  assert_int_equal(d.status, TWE_WORKFLOW_STATUS_TERMINATED);
  assert_int_equal(twe_client_terminate_workflow(client, ids[1], NULL, "again", err, sizeof err),
                   -ENOENT);

  /* Visibility is eventually consistent: list until all three show, in
   * pages of two. */
  snprintf(query, sizeof query,
           "WorkflowType = 'Approval' AND ExecutionStatus = 'Terminated' AND WorkflowId "
           "STARTS_WITH '%s-listed-'",
           prefix);
  size_t found = 0, pages = 0;
  for (int attempt = 0; attempt < 50 && found < 3; attempt++) {
    found = pages = 0;
    uint8_t token[1024];
    size_t token_len = 0;
    do {
      twe_workflow_list_t l;
      int rc = twe_client_list_workflows(client, query, 2, token_len ? token : NULL, token_len,
                                         &l, err, sizeof err);
      if (rc) fprintf(stderr, "list: %s\n", err);
      assert_int_equal(rc, 0);
      assert_true(l.n <= 2);
      for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.items[i].status, TWE_WORKFLOW_STATUS_TERMINATED);
        assert_non_null(strstr(l.items[i].workflow_id, "-listed-"));
        found++;
      }
      pages++;
      token_len = l.next_page_token_len <= sizeof token ? l.next_page_token_len : 0;
      if (token_len) memcpy(token, l.next_page_token, token_len);
      twe_workflow_list_free(&l);
    } while (token_len);
    if (found < 3) usleep(200000);
  }
  assert_int_equal(found, 3);
  assert_true(pages >= 2);

  /* A bad query is the caller's error, with the server's reason. */
  twe_workflow_list_t l;
  assert_int_equal(twe_client_list_workflows(client, "NoSuchField = 1", 0, NULL, 0, &l, err,
                                             sizeof err),
                   -EINVAL);
  assert_true(err[0] != 0);

  /* The cancel request is in the first workflow's history. */
  twe_history_page_t p;
  assert_int_equal(twe_client_fetch_history(client, ids[0], NULL, NULL, 0, &p, err, sizeof err),
                   0);
  Temporal__Api__History__V1__History *h =
      temporal__api__history__v1__history__unpack(NULL, p.len, p.data);
  bool cancel_requested = false;
  for (size_t i = 0; i < h->n_events; i++)
    cancel_requested |= h->events[i]->event_type ==
                        TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED;
  temporal__api__history__v1__history__free_unpacked(h, NULL);
  twe_history_page_free(&p);
  assert_true(cancel_requested);
}

/* client_calls history-json WORKFLOW_ID: prints twe_client_history_json's
 * output (test_client_calls.sh compares it with the CLI's). */
static int history_json(const char *id) {
  char err[512] = "", *json = NULL;
  twe_client_t *c = NULL;
  int rc = twe_client_connect(NULL, &c, err, sizeof err);
  if (rc == 0) rc = twe_client_history_json(c, id, NULL, &json, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "history json: %s (%s)\n", err, twe_strerror(rc));
  } else {
    fputs(json, stdout);
    fputc('\n', stdout);
  }
  free(json);
  twe_client_close(c);
  return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "history-json") == 0) return history_json(argv[2]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signal),
      cmocka_unit_test(test_signal_with_start),
      cmocka_unit_test(test_start_with_fields),
      cmocka_unit_test(test_query_and_updates),
      cmocka_unit_test(test_history_pages),
      cmocka_unit_test(test_list_cancel_terminate),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
