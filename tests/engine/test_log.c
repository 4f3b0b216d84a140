/* tests/engine/test_log.c — the worker's own log (engine/log.c): records
 * to the hook with their level, shard and workflow; the same message (text
 * and workflow) within 10 s held back and counted in the next one (records
 * written as they are: never); text, logfmt and JSON lines on stderr. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/log.h"
#include "engine/worker_internal.h"
#include "twe/twe.h"

static char got[4096];
static int records;
static void hook(void *user, const twe_log_record_t *r) {
  (void)user;
  size_t n = strlen(got);
  snprintf(got + n, sizeof got - n, "%d|%d|%s|%s|%s|%s\n", (int)r->level, r->shard,
           r->workflow_type ? r->workflow_type : "-", r->workflow_id ? r->workflow_id : "-",
           r->run_id ? r->run_id : "-", r->message);
  records++;
}

static twe_worker_t *worker(twe_log_fn fn, twe_log_format_t format) {
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = "q";
  o.log = fn;
  o.log_format = format;
  twe_worker_t *w;
  assert_int_equal(twe_worker_create(NULL, &o, &w), 0);
  return w;
}

static void test_hook_and_repeats(void **state) {
  (void)state;
  twe_worker_t *w = worker(hook, TWE_LOG_TEXT);
  got[0] = 0;
  records = 0;
  for (int i = 0; i < 3; i++)
    twe__log(w, TWE_LOG_WARN, 1, NULL, NULL, NULL, "poll failed: %s", "UNAVAILABLE");
  /* The same text about two workflows: two messages. */
  twe__log(w, TWE_LOG_ERROR, 0, "Greet", "wf-1", "run-1", "task failed");
  twe__log(w, TWE_LOG_ERROR, 0, "Greet", "wf-2", "run-2", "task failed");
  twe__log(w, TWE_LOG_ERROR, 0, "Greet", "wf-2", "run-2", "task failed");
  /* Another text: another message. */
  twe__log(w, TWE_LOG_WARN, 1, NULL, NULL, NULL, "poll failed: %s", "NOT_FOUND");
  assert_int_equal(records, 4);
  assert_string_equal(got, "2|1|-|-|-|poll failed: UNAVAILABLE\n"
                           "3|0|Greet|wf-1|run-1|task failed\n"
                           "3|0|Greet|wf-2|run-2|task failed\n"
                           "2|1|-|-|-|poll failed: NOT_FOUND\n");
  /* The window over: the next one says how many were held back. */
  for (size_t i = 0; i < TWE__LOG_REPEATS; i++) w->log_repeats[i].last_ns -= 11000000000ll;
  got[0] = 0;
  twe__log(w, TWE_LOG_WARN, 1, NULL, NULL, NULL, "poll failed: %s", "UNAVAILABLE");
  assert_string_equal(
      got, "2|1|-|-|-|poll failed: UNAVAILABLE (2 more like it in the last 10 s not shown)\n");
  twe_worker_destroy(w);
}

/* What w writes to stderr for one record (at level, about workflow type
 * if not NULL). */
static void capture(twe_log_format_t format, twe_log_level_t level, const char *type, char *out,
                    size_t len) {
  twe_worker_t *w = worker(NULL, format);
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  dup2(fileno(tmp), 2);
  twe__log(w, level, 0, type, type ? "wf \"1\"" : NULL, "run-1", "back after %.1f s", 61.5);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(out, 1, len - 1, tmp);
  out[n] = 0;
  fclose(tmp);
  twe_worker_destroy(w);
}

static void test_formats(void **state) {
  (void)state;
  char line[1024];
  capture(TWE_LOG_TEXT, TWE_LOG_INFO, "Greet", line, sizeof line);
  assert_string_equal(line, "twe: shard 0: workflow Greet wf \"1\" run run-1: back after 61.5 s\n");
  /* Text lines above info say their level; a run known only by its id. */
  capture(TWE_LOG_TEXT, TWE_LOG_WARN, NULL, line, sizeof line);
  assert_string_equal(line, "twe: shard 0: workflow run run-1: warning: back after 61.5 s\n");
  capture(TWE_LOG_LOGFMT, TWE_LOG_INFO, "Greet", line, sizeof line);
  assert_non_null(strstr(line, " level=info shard=0 workflow_type=\"Greet\" workflow_id=\"wf \\\"1\\\"\" "
                               "run_id=\"run-1\" msg=\"back after 61.5 s\"\n"));
  assert_true(strncmp(line, "time=", 5) == 0);
  capture(TWE_LOG_JSON, TWE_LOG_INFO, "Greet", line, sizeof line);
  assert_non_null(strstr(line, "\"level\":\"info\",\"shard\":0,\"workflow_type\":\"Greet\","
                               "\"workflow_id\":\"wf \\\"1\\\"\",\"run_id\":\"run-1\","
                               "\"msg\":\"back after 61.5 s\"}\n"));
}

/* twe__log_record (the workflow code's own lines) is never held back. */
static void test_records_not_held(void **state) {
  (void)state;
  twe_worker_t *w = worker(hook, TWE_LOG_TEXT);
  got[0] = 0;
  records = 0;
  twe_log_record_t r = {TWE_LOG_INFO, 2, "Greet", "wf-1", "run-1", "step"};
  for (int i = 0; i < 3; i++) twe__log_record(w, &r);
  assert_int_equal(records, 3);
  twe_worker_destroy(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hook_and_repeats),
      cmocka_unit_test(test_formats),
      cmocka_unit_test(test_records_not_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
