/* tests/integration/test_eager_start.c — eager workflow start against a real
 * dev server (TEMPORAL_ADDRESS): a client starts workflows on a task queue
 * its own worker polls, asking for the first workflow task in the start's
 * answer (request_eager_start).
 *
 * TWE_EXPECT_EAGER=1 (a server with system.enableEagerWorkflowStart=true):
 * every such start hands its first task to the worker (workflows_eager),
 * the history shows that task started by the worker right at the start,
 * and the workflows complete with the right results, one with an
 * activity. TWE_EXPECT_EAGER=0 (the server refuses): none is eager, and
 * every workflow still completes, its first task polled.
 * Either way: a start without the option, or for a queue no worker of this
 * client polls, or after the worker's stop, takes no slot and leaves none
 * taken; the worker's slots are all back at its stop. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
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

#include "engine/client_internal.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "twe/twe.h"

#define SEC 1000000000ull
#define STARTS 20

static twe_client_t *client;
static twe_worker_t *worker;
static char prefix[64], queue[96];
static int expect_eager;

/* Activity Double(n) -> 2n. */
static void act_double(twe_activity_t *act, void *user) {
  (void)user;
  long long n;
  twe_error_info_t e;
  twe_payload_t r;
  if (twe_activity_unpack_arg(act, 0, &e, "I", &n) < 0 ||
      twe_activity_pack(act, &r, &e, "I", 2 * n) < 0) {
    twe_activity_fail(act, &e);
    return;
  }
  twe_activity_complete(act, &r);
}

/* EagerEcho(n) -> n; EagerDouble(n) -> Double(n). */
static void wf_echo(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t in;
  if (twe_workflow_arg(wf, 0, &in) < 0) {
    twe_error_info_t e = {.type = "BadInput", .message = "no input", .non_retryable = true};
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_workflow_complete(wf, &in);
}

static void wf_double(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t in, out;
  twe_error_info_t e;
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC};
  if (twe_workflow_arg(wf, 0, &in) < 0) {
    e = (twe_error_info_t){.type = "BadInput", .message = "no input", .non_retryable = true};
    twe_workflow_fail(wf, &e);
    return;
  }
  if (twe_workflow_execute_activity(wf, "Double", &o, &in, 1, &out, &e) != 0) {
    twe_workflow_fail(wf, &e);
    return;
  }
  twe_workflow_complete(wf, &out);
}

static int setup(void **state) {
  (void)state;
  if (!getenv("TEMPORAL_ADDRESS")) {
    fprintf(stderr, "TEMPORAL_ADDRESS is not set: skipped\n");
    exit(77);
  }
  const char *x = getenv("TWE_EXPECT_EAGER");
  expect_eager = x && strcmp(x, "1") == 0;
  char err[512] = "";
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) fprintf(stderr, "connect: %s (%s)\n", err, twe_strerror(rc));
  assert_int_equal(rc, 0);
  snprintf(prefix, sizeof prefix, "twe-it-eager-%ld-%lld", (long)getpid(), (long long)time(NULL));
  snprintf(queue, sizeof queue, "%s-q", prefix);
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = queue;
  /* Room for every start's first task at once, beside the polls (each
   * holds a slot): a start finding none free rightly asks for nothing, and
   * a slow run (TSan) has them all in flight together. */
  o.max_concurrent_workflow_tasks = 64;
  /* TWE_TEST_CACHE_OFF=1: no cache; an eager first task then runs and
   * answers like a polled one without sticky attributes. */
  const char *off = getenv("TWE_TEST_CACHE_OFF");
  if (off && strcmp(off, "1") == 0) o.max_cached_workflows = TWE_CACHE_OFF;
  assert_int_equal(twe_worker_create(client, &o, &worker), 0);
  assert_int_equal(twe_worker_register_workflow(worker, "EagerEcho", wf_echo, NULL), 0);
  assert_int_equal(twe_worker_register_workflow(worker, "EagerDouble", wf_double, NULL), 0);
  assert_int_equal(twe_worker_register_activity(worker, "Double", act_double, NULL), 0);
  assert_int_equal(twe_worker_start(worker), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  twe_worker_destroy(worker);
  twe_client_close(client);
  return 0;
}

static twe_worker_stats_t stats(void) {
  twe_worker_stats_t s;
  twe_worker_stats(worker, &s);
  return s;
}

static void start(const char *type, const char *id, const char *q, long long n, bool eager) {
  twe_start_workflow_options_t so = {
      .workflow_id = id, .task_queue = q, .request_eager_start = eager};
  char arg[32], err[512] = "";
  snprintf(arg, sizeof arg, "%lld", n);
  twe_payload_t p = {.encoding = "json/plain", .data = arg, .len = strlen(arg)};
  int rc = twe_client_start_workflow(client, type, &so, &p, 1, NULL, 0, err, sizeof err);
  if (rc < 0) fprintf(stderr, "start %s: %s\n", id, err);
  assert_int_equal(rc, 0);
}

/* The workflow's result, a JSON integer. */
static long long result(const char *id) {
  twe_workflow_result_t r;
  char err[512] = "";
  int rc = twe_client_workflow_result(client, id, NULL, 30 * SEC, &r, err, sizeof err);
  if (rc != 0) fprintf(stderr, "result %s: %s\n", id, err);
  assert_int_equal(rc, 0);
  assert_true(r.has_result);
  char buf[32];
  size_t len = r.result.len < sizeof buf - 1 ? r.result.len : sizeof buf - 1;
  memcpy(buf, r.result.data, len);
  buf[len] = '\0';
  twe_workflow_result_free(&r);
  return atoll(buf);
}

/* The identity of the worker that started the run's first workflow task
 * (its WorkflowTaskStarted, which must come right after the first
 * WorkflowTaskScheduled: event 3). */
static void first_task_started_by(const char *id, char *out, size_t out_len) {
  twe_history_page_t page;
  char err[512] = "";
  int rc = twe_client_fetch_history(client, id, NULL, NULL, 0, &page, err, sizeof err);
  if (rc < 0) fprintf(stderr, "history %s: %s\n", id, err);
  assert_int_equal(rc, 0);
  Temporal__Api__History__V1__History *h =
      temporal__api__history__v1__history__unpack(NULL, page.len, page.data);
  assert_non_null(h);
  assert_true(h->n_events >= 3);
  const Temporal__Api__History__V1__HistoryEvent *e = h->events[2];
  assert_int_equal(e->event_type,
                   TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_STARTED);
  snprintf(out, out_len, "%s", e->workflow_task_started_event_attributes->identity);
  temporal__api__history__v1__history__free_unpacked(h, NULL);
  twe_history_page_free(&page);
}

static void test_eager_start_hands_first_task_to_local_worker(void **state) {
  (void)state;
  uint64_t before = stats().workflows_eager;
  char ids[STARTS][128];
  for (int i = 0; i < STARTS; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-eager-%d", prefix, i);
    start(i % 2 ? "EagerDouble" : "EagerEcho", ids[i], queue, 100 + i, true);
  }
  for (int i = 0; i < STARTS; i++)
    assert_int_equal(result(ids[i]), i % 2 ? 2 * (100 + i) : 100 + i);
  uint64_t eager = stats().workflows_eager - before;
  fprintf(stderr, "eager starts: %llu of %d first tasks came in the start's answer\n",
          (unsigned long long)eager, STARTS);
  assert_int_equal(eager, expect_eager ? STARTS : 0);
  /* Started by this worker either way (polled or eager). */
  char who[256];
  first_task_started_by(ids[1], who, sizeof who);
  assert_string_equal(who, twe__client_identity(client));
  /* For the script: the CLI reads this one's history too. */
  const char *out = getenv("TWE_TEST_ID_FILE");
  FILE *f = out ? fopen(out, "w") : NULL;
  if (f) {
    fprintf(f, "%s\n", ids[1]);
    fclose(f);
  }
}

static void test_no_eager_without_option_or_local_worker(void **state) {
  (void)state;
  uint64_t before = stats().workflows_eager;
  char id[128];
  snprintf(id, sizeof id, "%s-plain", prefix);
  start("EagerEcho", id, queue, 7, false);
  assert_int_equal(result(id), 7);
  assert_int_equal(stats().workflows_eager, before);
  /* No worker of this client polls the other queue: nothing is reserved,
   * and the workflow waits in that queue. */
  char other_q[128], other[128];
  snprintf(other_q, sizeof other_q, "%s-other", prefix);
  snprintf(other, sizeof other, "%s-other", prefix);
  start("EagerEcho", other, other_q, 8, true);
  assert_int_equal(stats().workflows_eager, before);
  twe_workflow_result_t r;
  char err[256];
  assert_int_equal(twe_client_workflow_result(client, other, NULL, 1 * SEC, &r, err, sizeof err),
                   -ETIMEDOUT);
}

static void test_no_eager_after_stop(void **state) {
  (void)state;
  twe_worker_stop(worker);
  assert_int_equal(twe_worker_wait(worker), 0);
  uint64_t before = stats().workflows_eager;
  char id[128];
  snprintf(id, sizeof id, "%s-stopped", prefix);
  start("EagerEcho", id, queue, 9, true);
  assert_int_equal(stats().workflows_eager, before);
  assert_int_equal(stats().workflow_task_slots_in_use, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_eager_start_hands_first_task_to_local_worker),
    cmocka_unit_test(test_no_eager_without_option_or_local_worker),
    cmocka_unit_test(test_no_eager_after_stop),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
