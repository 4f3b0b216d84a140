/* sched/cpu_group.c — the activity threads' CPU group of sched/cpu_group.h. */
#define _GNU_SOURCE /* gettid, PATH_MAX in sched/cgroup.h under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sched/cpu_group.h"

/* The kernel refuses a quota under 1 ms. */
#define MIN_QUOTA_US 1000

struct twe_cpu_group {
  char dir[PATH_MAX];
  int tasks_fd;
  int64_t quota_us, period_us;
};

static int write_file(const char *dir, const char *file, const char *text) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = strlen(text);
  ssize_t w = write(fd, text, n);
  int rc = w == (ssize_t)n ? 0 : w < 0 ? -errno : -EIO;
  close(fd);
  return rc;
}

static int64_t read_i64(const char *dir, const char *file) {
  char path[PATH_MAX + 32], buf[64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *end;
  long long v = strtoll(buf, &end, 10);
  return end == buf ? -1 : (int64_t)v;
}

int twe__cpu_group_create(const twe_cgroup_t *cg, double share, twe_cpu_group_t **out) {
  *out = NULL;
  if (!(share > 0 && share < 1)) return -EINVAL;
  if (cg->cpu_version != 1 || !cg->cpu_dir[0] || cg->cpu_quota_us <= 0 || cg->cpu_period_us <= 0)
    return -ENOTSUP;
  twe_cpu_group_t *g = calloc(1, sizeof *g);
  if (!g) return -ENOMEM;
  g->tasks_fd = -1;
  int rc = 0;
  bool made = false;
  if ((size_t)snprintf(g->dir, sizeof g->dir, "%s/%s", cg->cpu_dir, TWE_CPU_GROUP_NAME) >=
      sizeof g->dir) {
    rc = -ENAMETOOLONG;
    goto out;
  }
  if (mkdir(g->dir, 0755) == 0)
    made = true;
  else if (errno != EEXIST) {
    rc = -errno;
    goto out;
  }
  /* The child's own period (the kernel gives it the default, 100 ms), and
   * the share of the effective quota's rate within it. */
  g->period_us = read_i64(g->dir, "cpu.cfs_period_us");
  if (g->period_us <= 0) g->period_us = 100000;
  double rate = (double)cg->cpu_quota_us / (double)cg->cpu_period_us;
  g->quota_us = (int64_t)(share * rate * (double)g->period_us);
  if (g->quota_us < MIN_QUOTA_US) g->quota_us = MIN_QUOTA_US;
  char text[32];
  snprintf(text, sizeof text, "%" PRId64, g->quota_us);
  if ((rc = write_file(g->dir, "cpu.cfs_quota_us", text)) < 0) goto out;
  char tasks[PATH_MAX + 8];
  snprintf(tasks, sizeof tasks, "%s/tasks", g->dir);
  if ((g->tasks_fd = open(tasks, O_WRONLY | O_CLOEXEC)) < 0) rc = -errno;
out:
  if (rc < 0) {
    if (made) rmdir(g->dir);
    free(g);
    return rc;
  }
  *out = g;
  return 0;
}

int twe__cpu_group_join(twe_cpu_group_t *g) {
  char text[24];
  int n = snprintf(text, sizeof text, "%d", (int)gettid());
  /* One write per thread: cgroupfs takes the whole id from each. */
  ssize_t w = write(g->tasks_fd, text, (size_t)n);
  return w == n ? 0 : w < 0 ? -errno : -EIO;
}

const char *twe__cpu_group_dir(const twe_cpu_group_t *g) { return g->dir; }
int64_t twe__cpu_group_quota_us(const twe_cpu_group_t *g) { return g->quota_us; }
int64_t twe__cpu_group_period_us(const twe_cpu_group_t *g) { return g->period_us; }

void twe__cpu_group_destroy(twe_cpu_group_t *g) {
  if (!g) return;
  close(g->tasks_fd);
  /* EBUSY while a thread is still in it: it stays. */
  rmdir(g->dir);
  free(g);
}
