/* tests/sched/test_cpu_plan.c — the CPU plan: the split for 1, 2, 4 and 64
 * CPUs, the quota cap, overrides (options, then environment), pinning, the
 * log line, and discovery on a fixture tree and on the real machine. */
#define _GNU_SOURCE /* setenv, mkdtemp, nftw, sched_getaffinity */
#include <errno.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sched/cpu_plan.h"

static twe_cpumask_t mask_of(unsigned n) {
  twe_cpumask_t m = {{0}};
  for (unsigned i = 0; i < n; i++) twe__cpumask_set(&m, i);
  return m;
}

static twe_cgroup_t quota(int64_t q, int64_t p) {
  twe_cgroup_t cg;
  memset(&cg, 0, sizeof cg);
  cg.cpu_version = 2;
  cg.cpu_quota_us = q;
  cg.cpu_period_us = p;
  cg.memory_limit = -1;
  snprintf(cg.cpu_limit_dir, sizeof cg.cpu_limit_dir, "/sys/fs/cgroup/pod");
  return cg;
}

static const twe_cpu_plan_options_t no_env = {.ignore_env = true};

static void clear_env(void) {
  unsetenv("TWE_CPUS");
  unsetenv("TWE_SHARD_THREADS");
  unsetenv("TWE_ACTIVITY_THREADS");
  unsetenv("TWE_PIN_SHARDS");
}

static void test_cpu_plan_split_defaults(void **state) {
  (void)state;
  static const struct {
    unsigned cpus, shards, activity;
  } want[] = {{1, 1, 4},  {2, 1, 4},     {3, 1, 8},       {4, 2, 8},
              {8, 4, 16}, {64, 16, 192}, {1024, 16, 256}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    unsigned s, a;
    twe__cpu_plan_split(want[i].cpus, &s, &a);
    assert_int_equal(s, want[i].shards);
    assert_int_equal(a, want[i].activity);
  }
}

/* Dedicated cores: 4 CPUs from the mask, 2 shards pinned to CPUs 0 and 1,
 * activity threads on 2 and 3. */
static void test_cpu_plan_make_affinity_pins_shards(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(4);
  twe_cpu_plan_t plan;
  assert_int_equal(twe__cpu_plan_make(&m, 64, NULL, &no_env, &plan), 0);
  assert_int_equal(plan.cpus, 4);
  assert_int_equal(plan.source, TWE_CPU_FROM_AFFINITY);
  assert_int_equal(plan.shard_threads, 2);
  assert_int_equal(plan.activity_threads, 8);
  assert_true(plan.shards_pinned);
  assert_int_equal(twe__cpu_plan_shard_cpu(&plan, 0), 0);
  assert_int_equal(twe__cpu_plan_shard_cpu(&plan, 1), 1);
  assert_int_equal(twe__cpumask_count(&plan.activity_cpus), 2);
  assert_true(twe__cpumask_has(&plan.activity_cpus, 2));
  assert_true(twe__cpumask_has(&plan.activity_cpus, 3));
}

/* One CPU: the only core is shared, nothing is pinned. */
static void test_cpu_plan_make_one_cpu_not_pinned(void **state) {
  (void)state;
  twe_cpumask_t m = {{0}};
  twe__cpumask_set(&m, 5);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 64, NULL, &no_env, &plan);
  assert_int_equal(plan.cpus, 1);
  assert_int_equal(plan.shard_threads, 1);
  assert_int_equal(plan.activity_threads, 4);
  assert_false(plan.shards_pinned);
  assert_int_equal(twe__cpu_plan_shard_cpu(&plan, 0), -1);
}

/* A sparse mask pins to the CPUs in it, not to 0..n-1. */
static void test_cpu_plan_make_sparse_mask(void **state) {
  (void)state;
  twe_cpumask_t m = {{0}};
  twe__cpumask_set(&m, 3);
  twe__cpumask_set(&m, 7);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 64, NULL, &no_env, &plan);
  assert_int_equal(plan.cpus, 2);
  assert_true(plan.shards_pinned);
  assert_int_equal(twe__cpu_plan_shard_cpu(&plan, 0), 3);
  assert_true(twe__cpumask_has(&plan.activity_cpus, 7));
  assert_false(twe__cpumask_has(&plan.activity_cpus, 3));
}

/* 1.5 CPUs of quota on a 64-CPU mask: 2 CPUs, not pinned (a quota is time,
 * spread over every CPU). */
static void test_cpu_plan_make_quota_caps_mask(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(64);
  twe_cgroup_t cg = quota(150000, 100000);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 64, &cg, &no_env, &plan);
  assert_int_equal(plan.cpus, 2);
  assert_int_equal(plan.source, TWE_CPU_FROM_CGROUP);
  assert_int_equal(plan.quota_millicpus, 1500);
  assert_int_equal(plan.affinity_cpus, 64);
  assert_false(plan.shards_pinned);
  assert_int_equal(plan.shard_threads, 1);
}

/* A quota under one CPU still gives one. */
static void test_cpu_plan_make_tiny_quota(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(8);
  twe_cgroup_t cg = quota(10000, 100000);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 8, &cg, &no_env, &plan);
  assert_int_equal(plan.cpus, 1);
  assert_int_equal(plan.quota_millicpus, 100);
}

/* A quota above the mask does not bind; the mask does, and pins. */
static void test_cpu_plan_make_quota_above_mask(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(2);
  twe_cgroup_t cg = quota(800000, 100000);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 64, &cg, &no_env, &plan);
  assert_int_equal(plan.cpus, 2);
  assert_int_equal(plan.source, TWE_CPU_FROM_AFFINITY);
  assert_int_equal(plan.quota_millicpus, 8000);
  assert_true(plan.shards_pinned);
}

/* Even a quota of exactly the mask's size in a fraction (1.5 on 2) binds. */
static void test_cpu_plan_make_fractional_quota_binds(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(2);
  twe_cgroup_t cg = quota(150000, 100000);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 2, &cg, &no_env, &plan);
  assert_int_equal(plan.cpus, 2);
  assert_int_equal(plan.source, TWE_CPU_FROM_CGROUP);
  assert_false(plan.shards_pinned);
}

/* No mask: online CPUs, still capped by the quota, never pinned. */
static void test_cpu_plan_make_no_mask_uses_online_capped(void **state) {
  (void)state;
  twe_cgroup_t cg = quota(300000, 100000);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(NULL, 32, &cg, &no_env, &plan);
  assert_int_equal(plan.cpus, 3);
  assert_int_equal(plan.source, TWE_CPU_FROM_CGROUP);
  twe__cpu_plan_make(NULL, 32, NULL, &no_env, &plan);
  assert_int_equal(plan.cpus, 32);
  assert_int_equal(plan.source, TWE_CPU_FROM_ONLINE);
  assert_false(plan.shards_pinned);
}

static void test_cpu_plan_make_option_overrides(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(4);
  twe_cpu_plan_options_t o = {.cpus = 64, .ignore_env = true};
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 4, NULL, &o, &plan);
  assert_int_equal(plan.cpus, 64);
  assert_int_equal(plan.source, TWE_CPU_FROM_OPTION);
  assert_int_equal(plan.discovered_cpus, 4);
  assert_int_equal(plan.shard_threads, 16);
  assert_int_equal(plan.activity_threads, 192);
  assert_false(plan.shards_pinned);
  o = (twe_cpu_plan_options_t){.shard_threads = 3, .activity_threads = 50, .ignore_env = true};
  twe__cpu_plan_make(&m, 4, NULL, &o, &plan);
  assert_int_equal(plan.cpus, 4);
  assert_int_equal(plan.shard_threads, 3);
  assert_int_equal(plan.activity_threads, 50);
  /* 3 shards on 4 dedicated cores: still one left, still pinned. */
  assert_true(plan.shards_pinned);
}

static void test_cpu_plan_make_env_overrides(void **state) {
  (void)state;
  clear_env();
  twe_cpumask_t m = mask_of(4);
  twe_cpu_plan_t plan;
  setenv("TWE_CPUS", "2", 1);
  setenv("TWE_ACTIVITY_THREADS", "10", 1);
  assert_int_equal(twe__cpu_plan_make(&m, 4, NULL, NULL, &plan), 0);
  assert_int_equal(plan.cpus, 2);
  assert_int_equal(plan.source, TWE_CPU_FROM_ENV);
  assert_int_equal(plan.shard_threads, 1);
  assert_int_equal(plan.activity_threads, 10);
  /* Options beat the environment. */
  twe_cpu_plan_options_t o = {.cpus = 8};
  twe__cpu_plan_make(&m, 4, NULL, &o, &plan);
  assert_int_equal(plan.cpus, 8);
  assert_int_equal(plan.source, TWE_CPU_FROM_OPTION);
  /* ignore_env means it. */
  twe__cpu_plan_make(&m, 4, NULL, &no_env, &plan);
  assert_int_equal(plan.cpus, 4);
  assert_int_equal(plan.activity_threads, 8);
  clear_env();
}

static void test_cpu_plan_make_env_invalid(void **state) {
  (void)state;
  static const char *bad[] = {"abc", "0", "-2", "3x", "99999999999"};
  twe_cpumask_t m = mask_of(4);
  twe_cpu_plan_t plan;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clear_env();
    setenv("TWE_CPUS", bad[i], 1);
    assert_int_equal(twe__cpu_plan_make(&m, 4, NULL, NULL, &plan), -EINVAL);
  }
  clear_env();
  setenv("TWE_SHARD_THREADS", "none", 1);
  assert_int_equal(twe__cpu_plan_make(&m, 4, NULL, NULL, &plan), -EINVAL);
  clear_env();
  setenv("TWE_PIN_SHARDS", "maybe", 1);
  assert_int_equal(twe__cpu_plan_make(&m, 4, NULL, NULL, &plan), -EINVAL);
  clear_env();
}

static void test_cpu_plan_make_pin_modes(void **state) {
  (void)state;
  clear_env();
  twe_cpumask_t m = mask_of(4);
  twe_cgroup_t cg = quota(200000, 100000);
  twe_cpu_plan_t plan;
  /* Forced on under a quota: pinned to the first CPUs of the mask. */
  twe_cpu_plan_options_t o = {.pin = TWE_PIN_ON, .ignore_env = true};
  twe__cpu_plan_make(&m, 4, &cg, &o, &plan);
  assert_true(plan.shards_pinned);
  assert_int_equal(twe__cpu_plan_shard_cpu(&plan, 0), 0);
  /* Forced off on dedicated cores. */
  o.pin = TWE_PIN_OFF;
  twe__cpu_plan_make(&m, 4, NULL, &o, &plan);
  assert_false(plan.shards_pinned);
  assert_int_equal(twe__cpumask_count(&plan.activity_cpus), 4);
  /* From the environment. */
  setenv("TWE_PIN_SHARDS", "0", 1);
  twe__cpu_plan_make(&m, 4, NULL, NULL, &plan);
  assert_false(plan.shards_pinned);
  setenv("TWE_PIN_SHARDS", "1", 1);
  twe__cpu_plan_make(&m, 4, &cg, NULL, &plan);
  assert_true(plan.shards_pinned);
  /* Pinning needs CPU ids. */
  o.pin = TWE_PIN_ON;
  assert_int_equal(twe__cpu_plan_make(NULL, 4, NULL, &o, &plan), -EINVAL);
  clear_env();
}

/* More shards than CPUs with pinning forced: they wrap around, and activity
 * threads keep the whole mask. */
static void test_cpu_plan_make_pin_more_shards_than_cpus(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(2);
  twe_cpu_plan_options_t o = {.pin = TWE_PIN_ON, .shard_threads = 3, .ignore_env = true};
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 2, NULL, &o, &plan);
  assert_int_equal(twe__cpu_plan_shard_cpu(&plan, 2), 0);
  assert_int_equal(twe__cpumask_count(&plan.activity_cpus), 2);
}

static void test_cpu_plan_format_says_where_from(void **state) {
  (void)state;
  char line[512];
  twe_cpumask_t m = mask_of(64);
  twe_cgroup_t cg = quota(150000, 100000);
  cg.memory_version = 2;
  cg.memory_limit = 512 * 1024 * 1024;
  cg.cpu_err = -EISDIR;
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 64, &cg, &no_env, &plan);
  int n = twe__cpu_plan_format(&plan, line, sizeof line);
  print_message("%s\n", line);
  assert_int_equal(n, (int)strlen(line));
  assert_non_null(strstr(line, "2 CPUs from the cgroup v2 CPU quota (1.50 CPUs: 150000/100000 us "
                               "in /sys/fs/cgroup/pod; affinity mask 64 CPUs)"));
  assert_non_null(strstr(line, "1 workflow shard thread (not pinned)"));
  assert_non_null(strstr(line, "4 activity threads"));
  assert_non_null(strstr(line, "memory limit 512.0 MiB (cgroup v2)"));
  assert_non_null(strstr(line, "cgroup read errors: cpu EISDIR"));

  m = mask_of(4);
  twe__cpu_plan_make(&m, 4, NULL, &no_env, &plan);
  twe__cpu_plan_format(&plan, line, sizeof line);
  print_message("%s\n", line);
  assert_string_equal(line, "cpu plan: 4 CPUs from the affinity mask (0-3; no cgroup CPU quota); "
                            "2 workflow shard threads pinned to CPUs 0-1, 8 activity threads; "
                            "memory limit none");

  twe_cpu_plan_options_t o = {.cpus = 1, .ignore_env = true};
  twe__cpu_plan_make(&m, 4, NULL, &o, &plan);
  twe__cpu_plan_format(&plan, line, sizeof line);
  assert_non_null(strstr(line, "1 CPU from the worker options (discovered: 4)"));
}

/* A short buffer gets a truncated, terminated line, and the full length. */
static void test_cpu_plan_format_truncates(void **state) {
  (void)state;
  twe_cpumask_t m = mask_of(4);
  twe_cpu_plan_t plan;
  twe__cpu_plan_make(&m, 4, NULL, &no_env, &plan);
  char full[512], small[16];
  int n = twe__cpu_plan_format(&plan, full, sizeof full);
  assert_int_equal(twe__cpu_plan_format(&plan, small, sizeof small), n);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_memory_equal(small, full, sizeof small - 1);
  assert_int_equal(twe__cpu_plan_format(&plan, NULL, 0), n);
}

/* --- discovery: a fixture tree, then the real machine --------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void write_file(const char *root, const char *rel, const char *content) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *p = path + strlen(root) + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

/* A quota of half a CPU caps whatever the mask of this machine is. */
static void test_cpu_plan_discover_fixture(void **state) {
  (void)state;
  char root[] = "/tmp/twe-plan-XXXXXX";
  assert_non_null(mkdtemp(root));
  write_file(root, "proc/self/cgroup", "0::/w\n");
  write_file(root, "proc/self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  write_file(root, "sys/fs/cgroup/w/cpu.max", "50000 100000\n");
  write_file(root, "sys/fs/cgroup/w/memory.max", "1073741824\n");
  twe_cpu_plan_options_t o = {.cgroup_root = root, .ignore_env = true};
  twe_cpu_plan_t plan;
  assert_int_equal(twe__cpu_plan_discover(&o, &plan), 0);
  assert_int_equal(plan.cpus, 1);
  assert_int_equal(plan.source, TWE_CPU_FROM_CGROUP);
  assert_int_equal(plan.quota_millicpus, 500);
  assert_int_equal(plan.memory_limit, 1073741824);
  nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_cpu_plan_discover_real_machine(void **state) {
  (void)state;
  twe_cpu_plan_options_t o = {.ignore_env = true};
  twe_cpu_plan_t plan;
  assert_int_equal(twe__cpu_plan_discover(&o, &plan), 0);
  char line[1024];
  twe__cpu_plan_format(&plan, line, sizeof line);
  print_message("%s\n", line);
  cpu_set_t set;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  /* Never more than the mask allows, at least one. */
  assert_true(plan.cpus >= 1);
  assert_true(plan.cpus <= (unsigned)CPU_COUNT(&set));
  assert_int_equal(plan.affinity_cpus, (unsigned)CPU_COUNT(&set));
  assert_true(plan.shard_threads >= 1 && plan.shard_threads <= plan.cpus);
  assert_true(plan.activity_threads >= 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cpu_plan_split_defaults),
    cmocka_unit_test(test_cpu_plan_make_affinity_pins_shards),
    cmocka_unit_test(test_cpu_plan_make_one_cpu_not_pinned),
    cmocka_unit_test(test_cpu_plan_make_sparse_mask),
    cmocka_unit_test(test_cpu_plan_make_quota_caps_mask),
    cmocka_unit_test(test_cpu_plan_make_tiny_quota),
    cmocka_unit_test(test_cpu_plan_make_quota_above_mask),
    cmocka_unit_test(test_cpu_plan_make_fractional_quota_binds),
    cmocka_unit_test(test_cpu_plan_make_no_mask_uses_online_capped),
    cmocka_unit_test(test_cpu_plan_make_option_overrides),
    cmocka_unit_test(test_cpu_plan_make_env_overrides),
    cmocka_unit_test(test_cpu_plan_make_env_invalid),
    cmocka_unit_test(test_cpu_plan_make_pin_modes),
    cmocka_unit_test(test_cpu_plan_make_pin_more_shards_than_cpus),
    cmocka_unit_test(test_cpu_plan_format_says_where_from),
    cmocka_unit_test(test_cpu_plan_format_truncates),
    cmocka_unit_test(test_cpu_plan_discover_fixture),
    cmocka_unit_test(test_cpu_plan_discover_real_machine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
