/* tests/engine/test_offenders.c — the table of runs the watchdog stopped
 * (engine/offenders.h): holds that double per blocking offence and end
 * with their retired thread, halved CPU budgets, forgetting, the bound on
 * entries and which entry makes room. The retired thread is a watchdog
 * record the test fills itself (only its `gone` flag and tid are read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/offenders.h"

#define S 1000000000LL
#define T0 (1000 * S)

static void assert_contains(const char *s, const char *part) {
  if (!strstr(s, part)) fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static twe__offenders_t *table(size_t capacity) {
  twe__offenders_options_t o = {.capacity = capacity, .hold_ns = 10 * S, .max_hold_ns = 60 * S};
  twe__offenders_t *t = NULL;
  assert_int_equal(twe__offenders_create(&o, &t), 0);
  return t;
}

static void test_twe__offenders_unknown_run_is_not_held(void **state) {
  (void)state;
  twe__offenders_t *t = table(8);
  twe__offender_verdict_t v;
  assert_false(twe__offenders_check(t, "run-x", 5 * S, T0, &v));
  assert_int_equal(twe__offenders_count(t), 0);
  twe__offenders_record(t, "run-a", "A", TWE__OFFENCE_CPU, NULL, T0);
  assert_false(twe__offenders_check(t, "run-x", 5 * S, T0, &v));
  twe__offenders_destroy(t);
}

/* A CPU offender is never held; its budget halves per offence, down to a
 * sixteenth. */
static void test_twe__offenders_cpu_budget_halves(void **state) {
  (void)state;
  twe__offenders_t *t = table(8);
  twe__offender_verdict_t v;
  const int64_t want[] = {S * 5 / 2, S * 5 / 4, S * 5 / 8, S * 5 / 16, S * 5 / 16, S * 5 / 16};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    twe__offenders_record(t, "run-cpu", "Spin", TWE__OFFENCE_CPU, NULL, T0 + (int64_t)i * S);
    assert_true(twe__offenders_check(t, "run-cpu", 5 * S, T0 + (int64_t)i * S, &v));
    assert_false(v.hold);
    assert_int_equal(v.cpu_budget_ns, want[i]);
  }
  /* No default budget (CPU budget off): nothing to derive from. */
  assert_true(twe__offenders_check(t, "run-cpu", 0, T0, &v));
  assert_int_equal(v.cpu_budget_ns, 0);
  twe__offenders_destroy(t);
}

/* A blocking offence holds the run for 10 s, then 20, 40, capped at 60. */
static void test_twe__offenders_hold_doubles_and_caps(void **state) {
  (void)state;
  twe__offenders_t *t = table(8);
  twe__offender_verdict_t v;
  int64_t now = T0;
  const int64_t holds[] = {10 * S, 20 * S, 40 * S, 60 * S, 60 * S};
  for (size_t i = 0; i < sizeof holds / sizeof holds[0]; i++) {
    twe__offenders_record(t, "run-b", "Block", TWE__OFFENCE_BLOCKED, NULL, now);
    assert_true(twe__offenders_check(t, "run-b", 5 * S, now + holds[i] - 1, &v));
    assert_true(v.hold);
    assert_int_equal(v.cpu_budget_ns, 0);
    assert_contains(v.message, "held back by the twe watchdog");
    assert_contains(v.message, "\"Block\"");
    assert_contains(v.message, "run-b");
    char times[32];
    snprintf(times, sizeof times, "%zu time(s)", i + 1);
    assert_contains(v.message, times);
    assert_contains(v.message, "up to 60 s");
    assert_true(twe__offenders_check(t, "run-b", 5 * S, now + holds[i], &v));
    assert_false(v.hold);
    now += holds[i] + S;
  }
  twe__offenders_destroy(t);
}

/* A run that cost a thread stays held while that thread is alive, however
 * long ago; once it is gone, the hold's own end applies. */
static void test_twe__offenders_held_while_retired_thread_lives(void **state) {
  (void)state;
  twe__offenders_t *t = table(8);
  twe__watched_t rec;
  memset(&rec, 0, sizeof rec);
  rec.tid = 4242;
  atomic_init(&rec.gone, false);
  twe__offenders_record(t, "run-r", "Block", TWE__OFFENCE_RETIRED, &rec, T0);
  twe__offender_verdict_t v;
  assert_true(twe__offenders_check(t, "run-r", 5 * S, T0 + 3600 * S, &v));
  assert_true(v.hold);
  assert_contains(v.message, "retired thread 4242");
  atomic_store(&rec.gone, true);
  assert_true(twe__offenders_check(t, "run-r", 5 * S, T0 + 5 * S, &v));
  assert_true(v.hold); /* the 10 s hold is not over */
  assert_contains(v.message, "(in 5 s)");
  assert_true(twe__offenders_check(t, "run-r", 5 * S, T0 + 10 * S, &v));
  assert_false(v.hold);
  twe__offenders_destroy(t);
}

/* A completed task forgets its run: nothing held, full budget. */
static void test_twe__offenders_forget(void **state) {
  (void)state;
  twe__offenders_t *t = table(8);
  twe__offenders_record(t, "run-f", "F", TWE__OFFENCE_CPU, NULL, T0);
  twe__offenders_record(t, "run-g", "G", TWE__OFFENCE_BLOCKED, NULL, T0);
  assert_int_equal(twe__offenders_count(t), 2);
  twe__offenders_forget(t, "run-f");
  twe__offenders_forget(t, "run-unknown");
  assert_int_equal(twe__offenders_count(t), 1);
  twe__offender_verdict_t v;
  assert_false(twe__offenders_check(t, "run-f", 5 * S, T0, &v));
  assert_true(twe__offenders_check(t, "run-g", 5 * S, T0, &v));
  twe__offenders_destroy(t);
}

/* Bounded: past capacity the entry offended longest ago makes room, but
 * not one whose retired thread is alive while another could go. */
static void test_twe__offenders_bounded(void **state) {
  (void)state;
  twe__offenders_t *t = table(4);
  twe__watched_t rec;
  memset(&rec, 0, sizeof rec);
  atomic_init(&rec.gone, false);
  twe__offenders_record(t, "run-0", "W", TWE__OFFENCE_RETIRED, &rec, T0); /* oldest, alive */
  char id[16];
  for (int i = 1; i < 4; i++) {
    snprintf(id, sizeof id, "run-%d", i);
    twe__offenders_record(t, id, "W", TWE__OFFENCE_CPU, NULL, T0 + i * S);
  }
  assert_int_equal(twe__offenders_count(t), 4);
  twe__offenders_record(t, "run-4", "W", TWE__OFFENCE_CPU, NULL, T0 + 4 * S);
  assert_int_equal(twe__offenders_count(t), 4);
  twe__offender_verdict_t v;
  assert_true(twe__offenders_check(t, "run-0", 5 * S, T0 + 5 * S, &v)); /* kept: alive */
  assert_false(twe__offenders_check(t, "run-1", 5 * S, T0 + 5 * S, &v)); /* made room */
  assert_true(twe__offenders_check(t, "run-4", 5 * S, T0 + 5 * S, &v));
  /* Many more: the table never grows past its capacity, and every lookup
   * still finds what it holds. */
  for (int i = 5; i < 1000; i++) {
    snprintf(id, sizeof id, "run-%d", i);
    twe__offenders_record(t, id, "W", TWE__OFFENCE_BLOCKED, NULL, T0 + i * S);
    assert_true(twe__offenders_check(t, id, 5 * S, T0 + i * S, &v));
  }
  assert_int_equal(twe__offenders_count(t), 4);
  assert_true(twe__offenders_check(t, "run-0", 5 * S, T0, &v));
  twe__offenders_destroy(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_twe__offenders_unknown_run_is_not_held),
      cmocka_unit_test(test_twe__offenders_cpu_budget_halves),
      cmocka_unit_test(test_twe__offenders_hold_doubles_and_caps),
      cmocka_unit_test(test_twe__offenders_held_while_retired_thread_lives),
      cmocka_unit_test(test_twe__offenders_forget),
      cmocka_unit_test(test_twe__offenders_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
