/* tests/sched/test_cgroup.c — cgroup discovery against fixture trees laid out
 * like /proc/self and /sys/fs/cgroup in a temporary directory (v1, v2,
 * nested, "max", missing, unreadable and garbled files), the cpu.stat
 * counters, one run on the real machine, and the activity threads' CPU
 * group (sched/cpu_group.h) on fixture directories: when it is refused, its
 * quota from the share, a thread joining it, and what a failed create
 * leaves (tests/integration/test_activity_cpu_group.sh runs it in a real
 * cgroup). */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/cgroup.h"
#include "sched/cpu_group.h"

/* --- fixture helpers --------------------------------------------------------- */

static char root[256];

static void mkdirs(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(tmp, 0755);
    *p = '/';
  }
  mkdir(tmp, 0755);
}

/* Writes content to root/rel, creating directories on the way. */
static void put(const char *rel, const char *content) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = '\0';
  mkdirs(dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

/* Makes root/rel a directory: where a file is expected, reading it fails
 * (EISDIR). Tests run as root, so permissions cannot make a file
 * unreadable. */
static void put_dir(const char *rel) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  mkdirs(path);
}

static char *in_root(const char *rel) {
  static char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s%s", root, rel);
  return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/twe-cgroup-XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define V2_MOUNT                                                                       \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

/* --- v2 -------------------------------------------------------------------------- */

static void test_cgroup_discover_v2_quota_and_memory(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/app\n");
  put("proc/self/mountinfo", "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n" V2_MOUNT);
  put("sys/fs/cgroup/app/cpu.max", "150000 100000\n");
  put("sys/fs/cgroup/app/memory.max", "536870912\n");
  twe_cgroup_t cg;
  assert_int_equal(twe__cgroup_discover(root, &cg), 0);
  assert_int_equal(cg.cpu_version, 2);
  assert_string_equal(cg.cpu_dir, in_root("/sys/fs/cgroup/app"));
  assert_string_equal(cg.cpu_limit_dir, in_root("/sys/fs/cgroup/app"));
  assert_int_equal(cg.cpu_quota_us, 150000);
  assert_int_equal(cg.cpu_period_us, 100000);
  assert_int_equal(cg.memory_version, 2);
  assert_int_equal(cg.memory_limit, 536870912);
  assert_int_equal(cg.cpu_err, 0);
  assert_int_equal(cg.memory_err, 0);
}

/* The tightest limit anywhere between the process's cgroup and the mount
 * wins, whatever the level. */
static void test_cgroup_discover_v2_nested_tightest_wins(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/a/b/c\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/a/cpu.max", "200000 100000\n");
  put("sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
  put("sys/fs/cgroup/a/b/c/cpu.max", "300000 100000\n");
  put("sys/fs/cgroup/a/memory.max", "max\n");
  put("sys/fs/cgroup/a/b/memory.max", "1073741824\n");
  put("sys/fs/cgroup/a/b/c/memory.max", "max\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_string_equal(cg.cpu_dir, in_root("/sys/fs/cgroup/a/b/c"));
  assert_string_equal(cg.cpu_limit_dir, in_root("/sys/fs/cgroup/a"));
  assert_int_equal(cg.cpu_quota_us, 200000);
  assert_int_equal(cg.memory_limit, 1073741824);
}

/* Different periods compare as CPUs: 50ms/50ms (1 CPU) is tighter than
 * 150ms/100ms (1.5 CPUs). */
static void test_cgroup_discover_v2_compares_by_ratio(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/a/b\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/a/cpu.max", "50000 50000\n");
  put("sys/fs/cgroup/a/b/cpu.max", "150000 100000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_quota_us, 50000);
  assert_int_equal(cg.cpu_period_us, 50000);
}

static void test_cgroup_discover_v2_max_is_no_limit(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/svc\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/svc/cpu.max", "max 100000\n");
  put("sys/fs/cgroup/svc/memory.max", "max\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_version, 2);
  assert_int_equal(cg.cpu_quota_us, -1);
  assert_string_equal(cg.cpu_limit_dir, "");
  assert_int_equal(cg.memory_limit, -1);
  assert_int_equal(cg.cpu_err, 0);
  assert_int_equal(cg.memory_err, 0);
}

/* A missing file is no limit, not an error (the root cgroup has no cpu.max
 * at all). */
static void test_cgroup_discover_v2_missing_files(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put_dir("sys/fs/cgroup");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_version, 2);
  assert_string_equal(cg.cpu_dir, in_root("/sys/fs/cgroup"));
  assert_int_equal(cg.cpu_quota_us, -1);
  assert_int_equal(cg.memory_limit, -1);
  assert_int_equal(cg.cpu_err, 0);
  assert_int_equal(cg.memory_err, 0);
}

/* Unreadable where it matters: the leaf's files are directories. The error
 * is kept, and the readable parent's limits still apply. */
static void test_cgroup_discover_v2_unreadable_file_keeps_parent_limit(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/a/b\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/a/cpu.max", "400000 100000\n");
  put_dir("sys/fs/cgroup/a/b/cpu.max");
  put("sys/fs/cgroup/a/memory.max", "2147483648\n");
  put_dir("sys/fs/cgroup/a/b/memory.max");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_err, -EISDIR);
  assert_int_equal(cg.memory_err, -EISDIR);
  assert_int_equal(cg.cpu_quota_us, 400000);
  assert_string_equal(cg.cpu_limit_dir, in_root("/sys/fs/cgroup/a"));
  assert_int_equal(cg.memory_limit, 2147483648);
}

static void test_cgroup_discover_v2_garbled_contents(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/x/cpu.max", "lots of cpu\n");
  put("sys/fs/cgroup/x/memory.max", "12abc\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_err, -EBADMSG);
  assert_int_equal(cg.memory_err, -EBADMSG);
  assert_int_equal(cg.cpu_quota_us, -1);
  assert_int_equal(cg.memory_limit, -1);
}

/* Zero or negative quotas are nonsense, not "no CPU". */
static void test_cgroup_discover_v2_zero_quota_rejected(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/x/cpu.max", "0 100000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_err, -EBADMSG);
  assert_int_equal(cg.cpu_quota_us, -1);
}

/* A cpu.max without a period uses the kernel's default of 100 ms. */
static void test_cgroup_discover_v2_quota_without_period(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/x/cpu.max", "250000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_quota_us, 250000);
  assert_int_equal(cg.cpu_period_us, 100000);
}

/* mountinfo escapes spaces in mount points as \040. */
static void test_cgroup_discover_mountinfo_escapes(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put("proc/self/mountinfo", "30 23 0:26 / /my\\040cgroups rw - cgroup2 cgroup2 rw\n");
  put("my cgroups/x/cpu.max", "100000 100000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_string_equal(cg.cpu_dir, in_root("/my cgroups/x"));
  assert_int_equal(cg.cpu_quota_us, 100000);
}

/* --- v1 -------------------------------------------------------------------------- */

#define V1_MOUNTS                                                                          \
  "25 22 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"                     \
  "26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"                          \
  "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n"   \
  "29 25 0:26 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"                      \
  "30 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"

#define V1_PROC                                                                            \
  "5:memory:/docker/abc\n4:cpuset:/docker/abc\n3:cpu,cpuacct:/docker/abc\n"                \
  "1:name=systemd:/docker/abc\n0::/docker/abc\n"

/* On a hybrid system (v2 mounted too, controllers in v1), v1 is used; a
 * parent's "unlimited" memory does not hide the child's limit. */
static void test_cgroup_discover_v1_quota_and_memory(void **state) {
  (void)state;
  put("proc/self/cgroup", V1_PROC);
  put("proc/self/mountinfo", V1_MOUNTS);
  put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  put("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n");
  put("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
  put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "268435456\n");
  put("sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "9223372036854771712\n");
  put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_version, 1);
  assert_string_equal(cg.cpu_dir, in_root("/sys/fs/cgroup/cpu,cpuacct/docker/abc"));
  assert_string_equal(cg.cpuacct_dir, in_root("/sys/fs/cgroup/cpu,cpuacct/docker/abc"));
  assert_int_equal(cg.cpu_quota_us, 50000);
  assert_int_equal(cg.cpu_period_us, 100000);
  assert_int_equal(cg.memory_version, 1);
  assert_int_equal(cg.memory_limit, 268435456);
  assert_int_equal(cg.cpu_err, 0);
  assert_int_equal(cg.memory_err, 0);
}

static void test_cgroup_discover_v1_nested_parent_binds(void **state) {
  (void)state;
  put("proc/self/cgroup", V1_PROC);
  put("proc/self/mountinfo", V1_MOUNTS);
  put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
  put("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "25000\n");
  put("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_quota_us, 25000);
  assert_string_equal(cg.cpu_limit_dir, in_root("/sys/fs/cgroup/cpu,cpuacct/docker"));
  assert_int_equal(cg.memory_limit, -1);
}

/* Inside a container the hierarchy is mounted from the container's own
 * cgroup (mount root /docker/abc): the process's path maps to the mount
 * point itself, and the walk stops there. */
static void test_cgroup_discover_v1_container_mount_root(void **state) {
  (void)state;
  put("proc/self/cgroup", "3:cpu,cpuacct:/docker/abc\n2:memory:/docker/abc\n");
  put("proc/self/mountinfo",
      "40 30 0:25 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpuacct,cpu\n"
      "41 30 0:27 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  put("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "200000\n");
  put("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  put("sys/fs/cgroup/memory/memory.limit_in_bytes", "1048576\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_version, 1);
  assert_string_equal(cg.cpu_dir, in_root("/sys/fs/cgroup/cpu"));
  assert_int_equal(cg.cpu_quota_us, 200000);
  assert_int_equal(cg.memory_limit, 1048576);
}

/* "cpu" must match a whole controller name, not cpuset or cpuacct. */
static void test_cgroup_discover_v1_controller_names_exact(void **state) {
  (void)state;
  put("proc/self/cgroup", "4:cpuset:/a\n3:cpuacct:/b\n0::/c\n");
  put("proc/self/mountinfo",
      "29 25 0:26 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
      "28 25 0:25 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n" V2_MOUNT);
  put("sys/fs/cgroup/c/cpu.max", "100000 100000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  /* No v1 cpu hierarchy: the v2 one is used. */
  assert_int_equal(cg.cpu_version, 2);
  assert_int_equal(cg.cpu_quota_us, 100000);
}

static void test_cgroup_discover_v1_quota_without_period_is_error(void **state) {
  (void)state;
  put("proc/self/cgroup", V1_PROC);
  put("proc/self/mountinfo", V1_MOUNTS);
  put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_err, -EBADMSG);
  assert_int_equal(cg.cpu_quota_us, -1);
}

/* --- no cgroups, unreadable proc files ------------------------------------------ */

static void test_cgroup_discover_no_proc_files(void **state) {
  (void)state;
  twe_cgroup_t cg;
  assert_int_equal(twe__cgroup_discover(root, &cg), 0);
  assert_int_equal(cg.cpu_version, 0);
  assert_int_equal(cg.memory_version, 0);
  assert_int_equal(cg.cpu_quota_us, -1);
  assert_int_equal(cg.memory_limit, -1);
  /* No cgroups at all is not an error. */
  assert_int_equal(cg.cpu_err, 0);
}

static void test_cgroup_discover_unreadable_mountinfo(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put_dir("proc/self/mountinfo");
  twe_cgroup_t cg;
  assert_int_equal(twe__cgroup_discover(root, &cg), 0);
  assert_int_equal(cg.cpu_version, 0);
  assert_int_equal(cg.cpu_err, -EISDIR);
  assert_int_equal(cg.memory_err, -EISDIR);
}

/* A hierarchy listed in /proc/self/cgroup but not mounted. */
static void test_cgroup_discover_not_mounted(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put("proc/self/mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  assert_int_equal(cg.cpu_version, 0);
  assert_int_equal(cg.cpu_quota_us, -1);
}

/* --- cpu.stat -------------------------------------------------------------------- */

static void test_cgroup_cpu_stat_v2(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/a/b\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put("sys/fs/cgroup/a/cpu.max", "100000 100000\n");
  put("sys/fs/cgroup/a/cpu.stat",
      "usage_usec 999\nuser_usec 1\nsystem_usec 1\nnr_periods 10\nnr_throttled 3\n"
      "throttled_usec 4500\nnr_bursts 0\nburst_usec 0\n");
  put("sys/fs/cgroup/a/b/cpu.stat", "usage_usec 123\nnr_periods 0\nnr_throttled 0\n"
                                    "throttled_usec 0\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  twe_cpu_stat_t st;
  assert_int_equal(twe__cgroup_cpu_stat(&cg, NULL, NULL, &st), 0);
  /* Throttling where the quota binds, usage of our own cgroup. */
  assert_int_equal(st.nr_periods, 10);
  assert_int_equal(st.nr_throttled, 3);
  assert_int_equal(st.throttled_ns, 4500000);
  assert_int_equal(st.usage_ns, 123000);
}

static void test_cgroup_cpu_stat_v1(void **state) {
  (void)state;
  put("proc/self/cgroup", V1_PROC);
  put("proc/self/mountinfo", V1_MOUNTS);
  put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.stat",
      "nr_periods 7\nnr_throttled 2\nthrottled_time 123456\n");
  put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "987654321\n");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  twe_cpu_stat_t st;
  assert_int_equal(twe__cgroup_cpu_stat(&cg, NULL, NULL, &st), 0);
  assert_int_equal(st.nr_periods, 7);
  assert_int_equal(st.nr_throttled, 2);
  assert_int_equal(st.throttled_ns, 123456);
  assert_int_equal(st.usage_ns, 987654321);
}

static void test_cgroup_cpu_stat_missing(void **state) {
  (void)state;
  put("proc/self/cgroup", "0::/x\n");
  put("proc/self/mountinfo", V2_MOUNT);
  put_dir("sys/fs/cgroup/x");
  twe_cgroup_t cg;
  twe__cgroup_discover(root, &cg);
  twe_cpu_stat_t st;
  assert_int_equal(twe__cgroup_cpu_stat(&cg, NULL, NULL, &st), -ENOENT);
  assert_int_equal(st.nr_throttled, -1);
  cg.cpu_version = 0;
  assert_int_equal(twe__cgroup_cpu_stat(&cg, NULL, NULL, &st), -ENOENT);
}

/* --- the real machine ---------------------------------------------------------- */

static void test_cgroup_discover_real_machine(void **state) {
  (void)state;
  twe_cgroup_t cg;
  assert_int_equal(twe__cgroup_discover(NULL, &cg), 0);
  print_message("real cgroup: cpu v%d dir '%s' quota %lld/%lld (err %d); memory v%d dir '%s' "
                "limit %lld (err %d)\n",
                cg.cpu_version, cg.cpu_dir, (long long)cg.cpu_quota_us,
                (long long)cg.cpu_period_us, cg.cpu_err, cg.memory_version, cg.memory_dir,
                (long long)cg.memory_limit, cg.memory_err);
  if (cg.cpu_version == 0) {
    print_message("no cgroup cpu controller here\n");
    skip();
  }
  struct stat st;
  assert_int_equal(stat(cg.cpu_dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_true(cg.cpu_quota_us == -1 || cg.cpu_quota_us > 0);
  twe_cpu_stat_t cs;
  int r = twe__cgroup_cpu_stat(&cg, NULL, NULL, &cs);
  /* The root cgroup of v2 has a cpu.stat; a v1 cpu directory always has. */
  assert_true(r == 0 || r == -ENOENT);
  if (r == 0) {
    print_message("real cpu.stat: nr_periods %lld nr_throttled %lld throttled_ns %lld "
                  "usage_ns %lld\n",
                  (long long)cs.nr_periods, (long long)cs.nr_throttled,
                  (long long)cs.throttled_ns, (long long)cs.usage_ns);
    assert_true(cs.nr_periods == -1 || cs.nr_throttled <= cs.nr_periods);
  }
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* Counter files kept open: a kernel file is opened once and read again
 * with fresh figures; a fixture file (not a kernel file) is read anew each
 * time, so a replaced one shows its new contents. */
static void test_counter_files(void **state) {
  (void)state;
  twe_counter_files_t *cf;
  assert_int_equal(twe__counter_files_create(&cf), 0);
  put("proc/stat", "cpu  10 0 10 100 5 0 0 0 0 0\ncpu0 1 1 1 1\n");
  int64_t busy, total;
  assert_int_equal(twe__host_cpu_ticks(cf, root, &busy, &total), 0);
  assert_int_equal(busy, 20);
  assert_int_equal(total, 125);
  put("proc/stat", "cpu  30 0 10 200 5 0 0 0 0 0\n");
  assert_int_equal(twe__host_cpu_ticks(cf, root, &busy, &total), 0);
  assert_int_equal(busy, 40);
  assert_int_equal(total, 245);
  /* The real /proc/stat: one more open file after the first read, none
   * after the next ones, and the counters move forward. */
  int before = open_fds();
  int64_t b1, t1, b2 = 0, t2 = 0;
  assert_int_equal(twe__host_cpu_ticks(cf, NULL, &b1, &t1), 0);
  int after_first = open_fds();
  assert_int_equal(after_first, before + 1);
  for (int i = 0; i < 5; i++) {
    usleep(20000);
    assert_int_equal(twe__host_cpu_ticks(cf, NULL, &b2, &t2), 0);
  }
  assert_int_equal(open_fds(), after_first);
  print_message("real /proc/stat through the cache: busy %lld -> %lld, total %lld -> %lld\n",
                (long long)b1, (long long)b2, (long long)t1, (long long)t2);
  assert_true(t2 > t1); /* 100 ms later: ticks passed */
  assert_true(b2 >= b1);
  twe__counter_files_destroy(cf);
  assert_int_equal(open_fds(), before);
}

/* --- the activity threads' CPU group ------------------------------------------ */

static twe_cgroup_t v1_group(const char *rel, int64_t quota, int64_t period) {
  twe_cgroup_t cg;
  memset(&cg, 0, sizeof cg);
  cg.cpu_version = 1;
  snprintf(cg.cpu_dir, sizeof cg.cpu_dir, "%s/%s", root, rel);
  cg.cpu_quota_us = quota;
  cg.cpu_period_us = period;
  return cg;
}

static void test_cpu_group_refused(void **state) {
  (void)state;
  twe_cpu_group_t *g = (void *)1;
  twe_cgroup_t cg = v1_group("sys/fs/cgroup/cpu/app", 50000, 100000);
  assert_int_equal(twe__cpu_group_create(&cg, 0, &g), -EINVAL);
  assert_null(g);
  assert_int_equal(twe__cpu_group_create(&cg, 1, &g), -EINVAL);
  cg.cpu_quota_us = -1; /* no quota: nothing to keep a share of */
  assert_int_equal(twe__cpu_group_create(&cg, 0.9, &g), -ENOTSUP);
  cg = v1_group("sys/fs/cgroup/app", 50000, 100000);
  cg.cpu_version = 2; /* not done for v2 */
  assert_int_equal(twe__cpu_group_create(&cg, 0.9, &g), -ENOTSUP);
  cg.cpu_version = 0;
  assert_int_equal(twe__cpu_group_create(&cg, 0.9, &g), -ENOTSUP);
}

/* A child left by an earlier worker, with a period of its own: the quota is
 * the share of the effective rate (1.5 CPUs) in that period, and a thread
 * that joins writes its id to tasks. */
static void test_cpu_group_quota_and_join(void **state) {
  (void)state;
  put("sys/fs/cgroup/cpu/app/twe-activities/cpu.cfs_period_us", "50000\n");
  put("sys/fs/cgroup/cpu/app/twe-activities/cpu.cfs_quota_us", "-1\n");
  put("sys/fs/cgroup/cpu/app/twe-activities/tasks", "");
  twe_cgroup_t cg = v1_group("sys/fs/cgroup/cpu/app", 150000, 100000);
  twe_cpu_group_t *g = NULL;
  assert_int_equal(twe__cpu_group_create(&cg, 0.5, &g), 0);
  assert_int_equal(twe__cpu_group_quota_us(g), 37500);
  assert_int_equal(twe__cpu_group_period_us(g), 50000);
  char path[PATH_MAX], buf[64] = "";
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/cpu/app/twe-activities", root);
  assert_string_equal(twe__cpu_group_dir(g), path);
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/cpu/app/twe-activities/cpu.cfs_quota_us", root);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "37500");
  assert_int_equal(twe__cpu_group_join(g), 0);
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/cpu/app/twe-activities/tasks", root);
  f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_int_equal(atoi(buf), (int)gettid());
  /* Its files keep it (a real cgroup's go with it): destroy leaves it. */
  twe__cpu_group_destroy(g);
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/cpu/app/twe-activities", root);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  /* A tiny share still gets the kernel's least quota, 1 ms. */
  cg.cpu_quota_us = 1000;
  assert_int_equal(twe__cpu_group_create(&cg, 0.01, &g), 0);
  assert_int_equal(twe__cpu_group_quota_us(g), 1000);
  twe__cpu_group_destroy(g);
}

/* A directory that takes a mkdir but is no cgroup (no quota file): the
 * write is refused, and the child the call made is removed again. */
static void test_cpu_group_failed_create_leaves_nothing(void **state) {
  (void)state;
  put_dir("sys/fs/cgroup/cpu/app");
  twe_cgroup_t cg = v1_group("sys/fs/cgroup/cpu/app", 50000, 100000);
  twe_cpu_group_t *g = (void *)1;
  assert_int_equal(twe__cpu_group_create(&cg, 0.9, &g), -ENOENT);
  assert_null(g);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/cpu/app/twe-activities", root);
  struct stat st;
  assert_int_equal(stat(path, &st), -1);
  /* No parent directory at all: the mkdir's error. */
  cg = v1_group("sys/fs/cgroup/cpu/gone", 50000, 100000);
  assert_int_equal(twe__cpu_group_create(&cg, 0.9, &g), -ENOENT);
  twe__cpu_group_destroy(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_cgroup_discover_v2_quota_and_memory),
    T(test_counter_files),
    T(test_cgroup_discover_v2_nested_tightest_wins),
    T(test_cgroup_discover_v2_compares_by_ratio),
    T(test_cgroup_discover_v2_max_is_no_limit),
    T(test_cgroup_discover_v2_missing_files),
    T(test_cgroup_discover_v2_unreadable_file_keeps_parent_limit),
    T(test_cgroup_discover_v2_garbled_contents),
    T(test_cgroup_discover_v2_zero_quota_rejected),
    T(test_cgroup_discover_v2_quota_without_period),
    T(test_cgroup_discover_mountinfo_escapes),
    T(test_cgroup_discover_v1_quota_and_memory),
    T(test_cgroup_discover_v1_nested_parent_binds),
    T(test_cgroup_discover_v1_container_mount_root),
    T(test_cgroup_discover_v1_controller_names_exact),
    T(test_cgroup_discover_v1_quota_without_period_is_error),
    T(test_cgroup_discover_no_proc_files),
    T(test_cgroup_discover_unreadable_mountinfo),
    T(test_cgroup_discover_not_mounted),
    T(test_cgroup_cpu_stat_v2),
    T(test_cgroup_cpu_stat_v1),
    T(test_cgroup_cpu_stat_missing),
    cmocka_unit_test(test_cgroup_discover_real_machine),
    T(test_cpu_group_refused),
    T(test_cpu_group_quota_and_join),
    T(test_cpu_group_failed_create_leaves_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
