/* tests/sched/test_slots_resource.c — the resource-based slot supplier:
 * min always granted; above min only with headroom, one per ramp, up to
 * max; refused while the CPU or memory is over its target, so the slots in
 * use fall back to min as tasks finish; a refused watcher notified when a
 * sample shows headroom again; a fixed kind beside elastic ones; and the
 * sampler thread reading fixture counters (CPU used against a quota, PSI,
 * memory against a limit). */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/loop.h"
#include "sched/slots_resource.h"

static const int64_t MS = 1000000;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * MS};
  nanosleep(&ts, NULL);
}

static twe_resource_sample_t sample(double cpu, double memory) {
  return (twe_resource_sample_t){.cpu = cpu, .cpu_usage = cpu, .throttled = -1, .pressure = -1,
                                 .memory = memory, .at_ns = mono_ns()};
}

/* Fed samples (no sampler thread), activities elastic 2..6, ramp 1 ns. */
static twe_slots_t *make(twe_resource_t **res, int64_t ramp_ns) {
  twe_resource_options_t o = {.min = {0, 2, 1}, .max = {3, 6, 4}, .elastic = {false, true, true},
                              .ramp_ns = ramp_ns, .tick_ns = -1};
  twe_slots_t *slots;
  assert_int_equal(twe__slots_create_resource(&o, &slots, res), 0);
  return slots;
}

static void test_min_granted_without_samples(void **state) {
  (void)state;
  twe_resource_t *res;
  twe_slots_t *slots = make(&res, 1);
  twe_slot_t s[4];
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[0]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[1]), 0);
  /* No sample yet: nothing above min. */
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[2]), -EAGAIN);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_ACTIVITY), 0);
  assert_true(twe__resource_refused(res, TWE_SLOT_ACTIVITY) >= 1);
  /* The fixed kind: its max, whatever the samples. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_WORKFLOW_TASK, &s[3]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_WORKFLOW_TASK, &s[3]), -EAGAIN);
  twe__slots_destroy(slots);
}

static void test_grows_with_headroom_up_to_max_and_falls_back_when_saturated(void **state) {
  (void)state;
  twe_resource_t *res;
  twe_slots_t *slots = make(&res, 1);
  twe_slot_t s[7];
  twe__resource_feed(res, &(twe_resource_sample_t){0});
  twe_resource_sample_t idle = sample(0.2, 0.3);
  twe__resource_feed(res, &idle);
  for (int i = 0; i < 6; i++) {
    sleep_ms(1); /* past the ramp */
    assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[i]), 0);
  }
  sleep_ms(1);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[6]), -EAGAIN); /* max */
  assert_int_equal(twe__resource_peak(res, TWE_SLOT_ACTIVITY), 6);
  /* The CPU saturates: what is released is not granted again above min. */
  twe_resource_sample_t busy = sample(0.97, 0.3);
  twe__resource_feed(res, &busy);
  for (int i = 5; i >= 1; i--) {
    assert_int_equal(twe__slot_release(&s[i], TWE_SLOT_COMPLETED), 0);
    sleep_ms(1);
    int r = twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[i]);
    if (i < 2) {
      assert_int_equal(r, 0); /* below min: granted anyway */
      assert_int_equal(twe__slot_release(&s[i], TWE_SLOT_COMPLETED), 0);
    } else {
      assert_int_equal(r, -EAGAIN);
    }
  }
  assert_int_equal(twe__slots_outstanding(slots, TWE_SLOT_ACTIVITY), 1);
  /* Memory over its target refuses as well. */
  twe_resource_sample_t full = sample(0.1, 0.85);
  twe__resource_feed(res, &full);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[1]), 0); /* min */
  sleep_ms(1);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[2]), -EAGAIN);
  twe__resource_last(res, &full);
  assert_true(full.memory > 0.8);
  twe__slot_release(&s[0], TWE_SLOT_COMPLETED);
  twe__slot_release(&s[1], TWE_SLOT_COMPLETED);
  twe__slots_destroy(slots);
}

static void test_ramp_one_grant_at_a_time(void **state) {
  (void)state;
  twe_resource_t *res;
  twe_slots_t *slots = make(&res, 10000 * MS);
  twe_slot_t s[4];
  twe_resource_sample_t idle = sample(0.1, 0.1);
  twe__resource_feed(res, &idle);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[0]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[1]), 0);
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[2]), 0); /* first above min */
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[3]), -EAGAIN); /* ramp */
  for (int i = 0; i < 3; i++) twe__slot_release(&s[i], TWE_SLOT_COMPLETED);
  twe__slots_destroy(slots);
}

static void test_refused_watcher_notified_by_sample(void **state) {
  (void)state;
  twe_eventfd_loop_t loop;
  twe_waiter_t waiter;
  assert_int_equal(twe__eventfd_loop_init(&loop), 0);
  twe__waiter_init(&waiter, &twe__eventfd_loop_ops, &loop);
  twe_resource_t *res;
  twe_slots_t *slots = make(&res, 1);
  int id = twe__slots_add_watcher(slots, &waiter);
  assert_true(id >= 0);
  twe_slot_t s[3];
  twe_resource_sample_t busy = sample(0.95, 0.1);
  twe__resource_feed(res, &busy);
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, id, &s[0]), 0);
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, id, &s[1]), 0);
  twe__waiter_begin(&waiter);
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, id, &s[2]), -EAGAIN);
  /* Still saturated: nobody is told. */
  twe__resource_feed(res, &busy);
  assert_false(twe__waiter_begin(&waiter));
  /* Headroom: the watcher is told, and gets its slot. */
  twe_resource_sample_t idle = sample(0.3, 0.1);
  twe__resource_feed(res, &idle);
  assert_true(twe__waiter_begin(&waiter));
  sleep_ms(1);
  assert_int_equal(twe__slots_try_take_or_watch(slots, TWE_SLOT_ACTIVITY, id, &s[2]), 0);
  for (int i = 0; i < 3; i++) twe__slot_release(&s[i], TWE_SLOT_COMPLETED);
  twe__slots_destroy(slots);
  twe__eventfd_loop_destroy(&loop);
}

static void test_invalid_options(void **state) {
  (void)state;
  twe_slots_t *slots;
  twe_resource_t *res;
  twe_resource_options_t o = {.min = {0, 5, 0}, .max = {0, 4, 0}, .tick_ns = -1};
  assert_int_equal(twe__slots_create_resource(&o, &slots, &res), -EINVAL);
  o = (twe_resource_options_t){.max = {1, 1, 1}, .cpu_target = 1.5, .tick_ns = -1};
  assert_int_equal(twe__slots_create_resource(&o, &slots, &res), -EINVAL);
}

/* --- the sampler on fixture counters ---------------------------------------- */

static char root[256];

static void put(const char *rel, const char *fmt, ...) {
  char path[512], tmp[520];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  assert_non_null(f);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fclose(f);
  assert_int_equal(rename(tmp, path), 0); /* the sampler never sees half a file */
}

/* Writes usage growing at rate CPUs (of a 1-CPU quota) for ms. */
static void burn_counters(int64_t *usage, double rate, int ms) {
  int64_t t = mono_ns(), end = t + ms * MS;
  while (t < end) {
    sleep_ms(2);
    int64_t now = mono_ns();
    *usage += (int64_t)((double)(now - t) * rate);
    t = now;
    put("cpu/cpuacct.usage", "%lld\n", (long long)*usage);
  }
}

/* A fixture under a new root: the directories subs, the quota's group's
 * counters at 0 (cpu and cpuacct mounted together at cpu/), 200 of 1000
 * bytes of memory used, no CPU pressure; its cgroup (a 1-CPU v1 quota). */
static twe_cgroup_t fixture_make(const char *const *subs, size_t n) {
  snprintf(root, sizeof root, "/tmp/twe-slots-res-XXXXXX");
  assert_non_null(mkdtemp(root));
  char dir[300];
  for (size_t i = 0; i < n; i++) {
    snprintf(dir, sizeof dir, "%s/%s", root, subs[i]);
    assert_int_equal(mkdir(dir, 0755), 0);
  }
  put("cpu/cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
  put("cpu/cpuacct.usage", "0\n");
  put("mem/memory.usage_in_bytes", "%d\n", 300);
  put("mem/memory.stat", "total_inactive_file 100\n");
  put("proc/pressure/cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                           "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  twe_cgroup_t cg = {.cpu_version = 1, .cpu_quota_us = 100000, .cpu_period_us = 100000,
                     .memory_version = 1, .memory_limit = 1000};
  snprintf(cg.cpu_dir, sizeof cg.cpu_dir, "%s/cpu", root);
  snprintf(cg.cpu_limit_dir, sizeof cg.cpu_limit_dir, "%s/cpu", root);
  snprintf(cg.cpuacct_dir, sizeof cg.cpuacct_dir, "%s/cpu", root);
  snprintf(cg.memory_dir, sizeof cg.memory_dir, "%s/mem", root);
  return cg;
}

static void fixture_remove(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  assert_int_equal(system(cmd), 0);
}

static void test_sampler_reads_quota_usage_and_memory(void **state) {
  (void)state;
  const char *const subs[] = {"cpu", "mem", "proc", "proc/pressure"};
  twe_cgroup_t cg = fixture_make(subs, sizeof subs / sizeof *subs);
  twe_resource_options_t o = {.min = {0, 1, 0}, .max = {0, 100, 0}, .elastic = {false, true, false},
                              .tick_ns = 5 * MS, .idle_tick_ns = 5 * MS, .window_ns = 100 * MS,
                              .cgroup = &cg,
                              .root = root};
  twe_slots_t *slots;
  twe_resource_t *res;
  assert_int_equal(twe__slots_create_resource(&o, &slots, &res), 0);
  int64_t usage = 0;
  twe_resource_sample_t s;
  /* Each phase writes its counters for 400 ms, then on in steps of 100 ms
   * (up to 3 s more) until the sample and the grant show it: on a loaded
   * machine the writer and the sampler run late, and a window may see a
   * gap in the writes (a sample of 0.82 where 1.0 was written). */
  int64_t psi = 0, psi_t = 0;
  /* 10% of the quota: headroom; memory (300 - 100 inactive) / 1000. */
  burn_counters(&usage, 0.1, 400);
  for (int i = 0; i < 30; i++) {
    twe__resource_last(res, &s);
    if (s.cpu_usage > 0.02 && s.cpu_usage < 0.3 && twe__slots_available(slots, TWE_SLOT_ACTIVITY) > 1)
      break;
    burn_counters(&usage, 0.1, 100);
  }
  printf("# at 0.1 CPU: cpu %.3f usage %.3f pressure %.3f memory %.3f\n", s.cpu, s.cpu_usage,
         s.pressure, s.memory);
  assert_true(s.at_ns > 0);
  assert_true(s.cpu_usage > 0.02 && s.cpu_usage < 0.3);
  assert_true(s.memory > 0.19 && s.memory < 0.21);
  assert_true(twe__slots_available(slots, TWE_SLOT_ACTIVITY) > 1);
  /* The whole quota: saturated. */
  burn_counters(&usage, 1.0, 400);
  for (int i = 0; i < 30; i++) {
    twe__resource_last(res, &s);
    if (s.cpu_usage > 0.9 && twe__slots_available(slots, TWE_SLOT_ACTIVITY) == 1) break;
    burn_counters(&usage, 1.0, 100);
  }
  printf("# at 1.0 CPU: cpu %.3f usage %.3f\n", s.cpu, s.cpu_usage);
  assert_true(s.cpu_usage > 0.9);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_ACTIVITY), 1); /* min only */
  /* Idle CPU, but PSI says tasks waited for a CPU 95% of the time. */
  psi_t = mono_ns();
  for (int i = 0; i < 200 + 1500; i++) {
    sleep_ms(2);
    int64_t now = mono_ns();
    psi += (now - psi_t) / 1000 * 95 / 100;
    psi_t = now;
    put("proc/pressure/cpu", "some avg10=95.00 avg60=0.00 avg300=0.00 total=%lld\n",
        (long long)psi);
    if (i < 200 || i % 50) continue;
    twe__resource_last(res, &s);
    if (s.pressure > 0.9 && s.cpu >= s.pressure &&
        twe__slots_available(slots, TWE_SLOT_ACTIVITY) == 1)
      break;
  }
  twe__resource_last(res, &s);
  printf("# PSI 95%%: cpu %.3f usage %.3f pressure %.3f\n", s.cpu, s.cpu_usage, s.pressure);
  assert_true(s.pressure > 0.9);
  assert_true(s.cpu >= s.pressure);
  assert_int_equal(twe__slots_available(slots, TWE_SLOT_ACTIVITY), 1);
  twe__slots_destroy(slots);
  fixture_remove();
}

/* With throttle_dir (the activity CPU group, a child of the quota's group),
 * throttled periods come from the child's cpu.stat, and usage still from
 * the quota's group (its cpuacct.usage), not from this process's CPU time
 * (near 0 here: the test mostly sleeps). */
static void test_sampler_throttle_dir(void **state) {
  (void)state;
  const char *const subs[] = {"cpu", "cpu/child", "mem", "proc", "proc/pressure"};
  twe_cgroup_t cg = fixture_make(subs, sizeof subs / sizeof *subs);
  put("cpu/child/cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
  char child[300];
  snprintf(child, sizeof child, "%s/cpu/child", root);
  twe_resource_options_t o = {.min = {0, 1, 0}, .max = {0, 100, 0}, .elastic = {false, true, false},
                              .tick_ns = 5 * MS, .idle_tick_ns = 5 * MS, .window_ns = 100 * MS,
                              .cgroup = &cg, .root = root, .throttle_dir = child};
  twe_slots_t *slots;
  twe_resource_t *res;
  assert_int_equal(twe__slots_create_resource(&o, &slots, &res), 0);
  /* 0.6 CPU used in the quota's group; a period every 10 ms, the child
   * throttled in every other one, the quota's group in none. Up to 3 s,
   * until the sample shows both (a loaded machine runs the writer late). */
  int64_t usage = 0, periods = 0, t = mono_ns(), next_period = t;
  twe_resource_sample_t smp = {0};
  for (int i = 0; i < 1500; i++) {
    sleep_ms(2);
    int64_t now = mono_ns();
    usage += (int64_t)((double)(now - t) * 0.6);
    t = now;
    put("cpu/cpuacct.usage", "%lld\n", (long long)usage);
    if (now >= next_period) {
      periods++;
      next_period = now + 10 * MS;
      put("cpu/cpu.stat", "nr_periods %lld\nnr_throttled 0\nthrottled_time 0\n", (long long)periods);
      put("cpu/child/cpu.stat", "nr_periods %lld\nnr_throttled %lld\nthrottled_time 0\n",
          (long long)periods, (long long)(periods / 2));
    }
    if (i < 100 || i % 10) continue;
    twe__resource_last(res, &smp);
    if (smp.cpu_usage > 0.4 && smp.cpu_usage < 0.8 && smp.throttled > 0.3 && smp.throttled < 0.7)
      break;
  }
  printf("# child throttled half the periods, 0.6 CPU used: usage %.3f throttled %.3f cpu %.3f\n",
         smp.cpu_usage, smp.throttled, smp.cpu);
  assert_true(smp.cpu_usage > 0.4 && smp.cpu_usage < 0.8);
  assert_true(smp.throttled > 0.3 && smp.throttled < 0.7);
  twe__slots_destroy(slots);
  fixture_remove();
}

/* Distinct samples seen while polling the last one every ms for ms. */
static int samples_during(twe_resource_t *res, int ms) {
  int64_t last = -1;
  int n = 0;
  for (int i = 0; i < ms; i++) {
    twe_resource_sample_t s;
    twe__resource_last(res, &s);
    if (s.at_ns != last) n++;
    last = s.at_ns;
    sleep_ms(1);
  }
  return n;
}

/* The sampler (real counters) ticks at idle_tick_ns while nothing asks for
 * a slot above min, at tick_ns for a window after something does. */
static void test_sampler_idles_until_asked_above_min(void **state) {
  (void)state;
  twe_resource_options_t o = {.min = {0, 1, 0}, .max = {0, 10, 0}, .elastic = {false, true, false},
                              .tick_ns = 5 * MS, .idle_tick_ns = 100 * MS,
                              .window_ns = 400 * MS};
  twe_slots_t *slots;
  twe_resource_t *res;
  assert_int_equal(twe__slots_create_resource(&o, &slots, &res), 0);
  sleep_ms(50);
  int idle = samples_during(res, 300);
  twe_slot_t s[2];
  assert_int_equal(twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[0]), 0); /* the min */
  int rc = twe__slots_try_take(slots, TWE_SLOT_ACTIVITY, &s[1]); /* above it: asked */
  sleep_ms(110); /* the idle tick under way ends */
  int asked = samples_during(res, 200);
  printf("# samples in 300 ms idle: %d; in 200 ms after a slot above min was asked for: %d\n",
         idle, asked);
  assert_true(idle <= 8);   /* about 3 at 100 ms */
  assert_true(asked >= 12); /* about 40 at 5 ms */
  twe__slot_release(&s[0], TWE_SLOT_COMPLETED);
  if (rc == 0) twe__slot_release(&s[1], TWE_SLOT_COMPLETED);
  twe__slots_destroy(slots);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_min_granted_without_samples),
    cmocka_unit_test(test_grows_with_headroom_up_to_max_and_falls_back_when_saturated),
    cmocka_unit_test(test_ramp_one_grant_at_a_time),
    cmocka_unit_test(test_refused_watcher_notified_by_sample),
    cmocka_unit_test(test_invalid_options),
    cmocka_unit_test(test_sampler_reads_quota_usage_and_memory),
      cmocka_unit_test(test_sampler_throttle_dir),
    cmocka_unit_test(test_sampler_idles_until_asked_above_min),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
