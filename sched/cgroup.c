/* sched/cgroup.c — cgroup v1/v2 discovery and counters (sched/cgroup.h). */
#define _GNU_SOURCE /* O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "sched/cgroup.h"

/* v1 reports "no limit" as the largest page-aligned 64-bit value; anything
 * this large is no limit. */
#define V1_MEMORY_UNLIMITED ((int64_t)1 << 62)

/* Reads fd from offset 0 to its end into *buf (grown as needed, *cap its
 * size; /proc files report size 0, so it grows as it goes, up to a bound
 * that keeps a runaway file from eating memory), NUL-terminated. Returns
 * the length or a negative errno (-EISDIR for a directory). */
static ssize_t read_fd(int fd, char **buf, size_t *cap) {
  size_t len = 0;
  for (;;) {
    if (len + 1 >= *cap) {
      size_t grown = *cap ? *cap * 2 : 4096;
      if (grown > (16u << 20)) break;
      char *nb = realloc(*buf, grown);
      if (!nb) return -ENOMEM;
      *buf = nb;
      *cap = grown;
    }
    ssize_t n = pread(fd, *buf + len, *cap - 1 - len, (off_t)len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  (*buf)[len] = '\0';
  return (ssize_t)len;
}

/* Reads a whole file into a fresh NUL-terminated buffer. Returns its length
 * or a negative errno (-EISDIR for a directory where a file should be). */
static ssize_t read_all(const char *path, char **out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n = read_fd(fd, &buf, &cap);
  close(fd);
  if (n < 0) free(buf);
  else *out = buf;
  return n;
}

/* --- counter files kept open (sched/cgroup.h) ---------------------------------- */

#define CF_MAX 16

struct twe_counter_files {
  struct {
    char *path;
    int fd;
  } e[CF_MAX];
  size_t n;
  char *buf; /* the text of the last read, reused */
  size_t cap;
};

int twe__counter_files_create(twe_counter_files_t **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : -ENOMEM;
}

void twe__counter_files_destroy(twe_counter_files_t *cf) {
  if (!cf) return;
  for (size_t i = 0; i < cf->n; i++) {
    close(cf->e[i].fd);
    free(cf->e[i].path);
  }
  free(cf->buf);
  free(cf);
}

/* Whether fd's file is one the kernel writes on each read. */
static bool kernel_file(int fd) {
  struct statfs sf;
  if (fstatfs(fd, &sf) != 0) return false;
  switch ((unsigned long)sf.f_type) {
  case PROC_SUPER_MAGIC:
  case CGROUP_SUPER_MAGIC:
  case CGROUP2_SUPER_MAGIC:
  case SYSFS_MAGIC: return true;
  default: return false;
  }
}

/* The text of path: through cf when there is one (the buffer is cf's, good
 * until its next read), else a fresh buffer. Give it back with
 * counter_done. */
static ssize_t counter_read(twe_counter_files_t *cf, const char *path, char **out) {
  if (!cf) return read_all(path, out);
  for (size_t i = 0; i < cf->n; i++) {
    if (strcmp(cf->e[i].path, path) == 0) {
      ssize_t n = read_fd(cf->e[i].fd, &cf->buf, &cf->cap);
      if (n >= 0) *out = cf->buf;
      return n;
    }
  }
  if (cf->n == CF_MAX) return read_all(path, out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char *copy = kernel_file(fd) ? strdup(path) : NULL;
  if (!copy) {
    close(fd);
    return read_all(path, out);
  }
  cf->e[cf->n].path = copy;
  cf->e[cf->n].fd = fd;
  cf->n++;
  ssize_t n = read_fd(fd, &cf->buf, &cf->cap);
  if (n >= 0) *out = cf->buf;
  return n;
}

static void counter_done(twe_counter_files_t *cf, char *buf) {
  if (!cf || buf != cf->buf) free(buf);
}

/* Parses a decimal integer that fills the token [s, end) exactly. */
static int parse_i64(const char *s, const char *end, int64_t *out) {
  bool neg = false;
  if (s < end && *s == '-') {
    neg = true;
    s++;
  }
  if (s == end) return -EBADMSG;
  int64_t v = 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9') return -EBADMSG;
    int d = *s - '0';
    if (v > (INT64_MAX - d) / 10) return -EBADMSG;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  return 0;
}

/* Splits the first whitespace-separated tokens of s: up to max of them.
 * Returns how many, or -EBADMSG when there are more than max. */
static int tokens(const char *s, const char **start, const char **end, int max) {
  int n = 0;
  for (;;) {
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    if (!*s) return n;
    if (n == max) return -EBADMSG;
    start[n] = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n') s++;
    end[n++] = s;
  }
}

/* Reads a file holding one integer, or the word "max" (*out = -1) when
 * allow_max. */
static int read_i64_file(twe_counter_files_t *cf, const char *dir, const char *name, bool allow_max,
                         int64_t *out) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return -ENAMETOOLONG;
  char *buf;
  ssize_t n = counter_read(cf, path, &buf);
  if (n < 0) return (int)n;
  const char *st[1] = {NULL}, *en[1] = {NULL};
  int r = tokens(buf, st, en, 1);
  if (r == 1 && allow_max && en[0] - st[0] == 3 && memcmp(st[0], "max", 3) == 0) {
    *out = -1;
    r = 0;
  } else if (r == 1) {
    r = parse_i64(st[0], en[0], out);
  } else {
    r = -EBADMSG;
  }
  counter_done(cf, buf);
  return r;
}

/* --- finding the directories -------------------------------------------------- */

/* Whether the comma-separated list [s, end) holds name exactly. */
static bool list_has(const char *s, const char *end, const char *name) {
  size_t len = strlen(name);
  while (s < end) {
    const char *c = memchr(s, ',', (size_t)(end - s));
    const char *e = c ? c : end;
    if ((size_t)(e - s) == len && memcmp(s, name, len) == 0) return true;
    s = e + 1;
  }
  return false;
}

/* The process's path in a hierarchy from /proc/self/cgroup: the v2 line
 * ("0::/path") when controller is NULL, else the v1 line that lists it. */
static bool proc_cgroup_path(const char *text, const char *controller, char *out, size_t size) {
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n');
    const char *end = nl ? nl : line + strlen(line);
    const char *c1 = memchr(line, ':', (size_t)(end - line));
    const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
    if (c2) {
      bool match = controller ? list_has(c1 + 1, c2, controller)
                              : (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1);
      size_t plen = (size_t)(end - c2 - 1);
      if (match && plen > 0 && plen < size) {
        memcpy(out, c2 + 1, plen);
        out[plen] = '\0';
        return true;
      }
    }
    line = nl ? nl + 1 : end;
  }
  return false;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* Whether path lies under root (component-wise). */
static bool under(const char *path, const char *root) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return true;
  return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Finds the mount of a hierarchy in mountinfo: fstype cgroup2 (controller
 * NULL) or cgroup with controller among its super options. Among several
 * (bind mounts), the one with the longest root that contains proc_path.
 * Fills the mount point and root; returns false if none. */
static bool find_mount(char *text, const char *controller, const char *proc_path, char *mnt,
                       char *mroot) {
  bool found = false;
  size_t best = 0;
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    /* id parent major:minor root mount-point options [optional...] - fstype
     * source super-options */
    char *f[5] = {0};
    int nf = 0;
    char *save = NULL;
    char *t = strtok_r(line, " ", &save);
    for (; t && nf < 5; t = strtok_r(NULL, " ", &save)) f[nf++] = t;
    /* t is now the mount options; skip them and the optional fields. */
    while (t && strcmp(t, "-") != 0) t = strtok_r(NULL, " ", &save);
    char *fstype = t ? strtok_r(NULL, " ", &save) : NULL;
    char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
    char *super = source ? strtok_r(NULL, " ", &save) : NULL;
    if (nf == 5 && fstype) {
      bool match = controller ? (strcmp(fstype, "cgroup") == 0 && super &&
                                 list_has(super, super + strlen(super), controller))
                              : strcmp(fstype, "cgroup2") == 0;
      if (match) {
        unescape(f[3]);
        unescape(f[4]);
        size_t rlen = strlen(f[3]);
        bool contains = under(proc_path, f[3]);
        if (strlen(f[3]) < PATH_MAX && strlen(f[4]) < PATH_MAX &&
            (!found || (contains && rlen > best))) {
          strcpy(mroot, f[3]);
          strcpy(mnt, f[4]);
          best = contains ? rlen : 0;
          found = true;
        }
      }
    }
    if (!nl) break;
    line = nl + 1;
  }
  return found;
}

/* The directory of the process's cgroup in one hierarchy, and the directory
 * of that hierarchy's mount (where the walk up stops), both with the root
 * prefix. Returns 0, -ENOENT when the hierarchy is not there, or an error. */
static int locate(const char *prefix, const char *proc_cgroup, const char *mountinfo,
                  const char *controller, char *dir, char *top) {
  char path[PATH_MAX], mnt[PATH_MAX], mroot[PATH_MAX];
  if (!proc_cgroup_path(proc_cgroup, controller, path, sizeof path)) return -ENOENT;
  char *mi = strdup(mountinfo); /* find_mount cuts it up */
  if (!mi) return -ENOMEM;
  bool found = find_mount(mi, controller, path, mnt, mroot);
  free(mi);
  if (!found) return -ENOENT;
  /* The path is relative to the hierarchy's root; the mount shows the
   * hierarchy from mroot down. A path outside mroot (a cgroup namespace we
   * cannot see out of) falls back to the mount point itself. */
  const char *rel = "";
  if (strcmp(mroot, "/") == 0)
    rel = path;
  else if (under(path, mroot))
    rel = path + strlen(mroot);
  if (snprintf(top, PATH_MAX, "%s%s", prefix, strcmp(mnt, "/") == 0 ? "" : mnt) >= PATH_MAX ||
      snprintf(dir, PATH_MAX, "%s%s", top, rel) >= PATH_MAX)
    return -ENAMETOOLONG;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
  return 0;
}

/* Climbs from dir to top (inclusive), calling visit at each level. */
static void walk_up(const char *dir, const char *top,
                    void (*visit)(const char *level, void *arg), void *arg) {
  char level[PATH_MAX];
  snprintf(level, sizeof level, "%s", dir);
  size_t tlen = strlen(top);
  for (;;) {
    visit(level, arg);
    if (strlen(level) <= tlen) break;
    char *slash = strrchr(level, '/');
    if (!slash || slash == level || (size_t)(slash - level) < tlen) break;
    *slash = '\0';
  }
}

static void keep_err(int *slot, int err) {
  if (err < 0 && err != -ENOENT && *slot == 0) *slot = err;
}

/* --- limits -------------------------------------------------------------------- */

/* Reads the quota at one level: 0 and quota/period (quota -1: none there),
 * -ENOENT when not set there, or an error. */
static int cpu_quota_at(int version, const char *level, int64_t *quota, int64_t *period) {
  if (version == 2) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/cpu.max", level) >= (int)sizeof path) return -ENAMETOOLONG;
    char *buf;
    ssize_t n = read_all(path, &buf);
    if (n < 0) return (int)n;
    const char *st[2] = {NULL, NULL}, *en[2] = {NULL, NULL};
    int nt = tokens(buf, st, en, 2);
    int r = 0;
    *period = 100000;
    if (nt < 1) {
      r = -EBADMSG;
    } else if (en[0] - st[0] == 3 && memcmp(st[0], "max", 3) == 0) {
      *quota = -1;
    } else {
      r = parse_i64(st[0], en[0], quota);
      if (!r && *quota <= 0) r = -EBADMSG;
    }
    if (!r && nt == 2) {
      r = parse_i64(st[1], en[1], period);
      if (!r && *period <= 0) r = -EBADMSG;
    }
    free(buf);
    return r;
  }
  int r = read_i64_file(NULL, level, "cpu.cfs_quota_us", false, quota);
  if (r) return r;
  if (*quota < 0) {
    *quota = -1;
    return 0;
  }
  if (*quota == 0) return -EBADMSG;
  r = read_i64_file(NULL, level, "cpu.cfs_period_us", false, period);
  if (r == -ENOENT) return -EBADMSG; /* a quota without its period */
  if (!r && *period <= 0) r = -EBADMSG;
  return r;
}

static void visit_cpu(const char *level, void *arg) {
  twe_cgroup_t *cg = arg;
  int64_t q = -1, p = 0;
  int r = cpu_quota_at(cg->cpu_version, level, &q, &p);
  if (r) {
    keep_err(&cg->cpu_err, r);
    return;
  }
  if (q < 0) return;
  /* Tightest = fewest CPUs: q/p smaller. Doubles are exact enough to
   * compare microsecond counts. */
  if (cg->cpu_quota_us < 0 ||
      (double)q / (double)p < (double)cg->cpu_quota_us / (double)cg->cpu_period_us) {
    cg->cpu_quota_us = q;
    cg->cpu_period_us = p;
    snprintf(cg->cpu_limit_dir, sizeof cg->cpu_limit_dir, "%s", level);
  }
}

static void visit_memory(const char *level, void *arg) {
  twe_cgroup_t *cg = arg;
  int64_t v = -1;
  int r = cg->memory_version == 2 ? read_i64_file(NULL, level, "memory.max", true, &v)
                                  : read_i64_file(NULL, level, "memory.limit_in_bytes", false, &v);
  if (!r && v < -1) r = -EBADMSG;
  if (r) {
    keep_err(&cg->memory_err, r);
    return;
  }
  if (v < 0 || v >= V1_MEMORY_UNLIMITED) return;
  if (cg->memory_limit < 0 || v < cg->memory_limit) cg->memory_limit = v;
}

int twe__cgroup_discover(const char *root, twe_cgroup_t *out) {
  memset(out, 0, sizeof *out);
  out->cpu_quota_us = -1;
  out->cpu_period_us = 0;
  out->memory_limit = -1;
  const char *prefix = root ? root : "";
  char path[PATH_MAX];
  char *proc_cgroup = NULL, *mountinfo = NULL;

  snprintf(path, sizeof path, "%s/proc/self/cgroup", prefix);
  ssize_t r = read_all(path, &proc_cgroup);
  if (r < 0) {
    /* No cgroup information at all: no limits, and say why unless the
     * kernel simply has no cgroups. */
    keep_err(&out->cpu_err, (int)r);
    keep_err(&out->memory_err, (int)r);
    return 0;
  }
  snprintf(path, sizeof path, "%s/proc/self/mountinfo", prefix);
  r = read_all(path, &mountinfo);
  if (r < 0) {
    keep_err(&out->cpu_err, (int)r);
    keep_err(&out->memory_err, (int)r);
    free(proc_cgroup);
    return 0;
  }

  char top[PATH_MAX];
  /* A v1 hierarchy that has the controller wins: on hybrid systems the v2
   * tree exists but the controllers are bound to v1. */
  int e = locate(prefix, proc_cgroup, mountinfo, "cpu", out->cpu_dir, top);
  if (e == 0) {
    out->cpu_version = 1;
  } else if ((e = locate(prefix, proc_cgroup, mountinfo, NULL, out->cpu_dir, top)) == 0) {
    out->cpu_version = 2;
  } else {
    out->cpu_dir[0] = '\0';
    keep_err(&out->cpu_err, e);
  }
  if (out->cpu_version) walk_up(out->cpu_dir, top, visit_cpu, out);
  if (out->cpu_version == 1) {
    char acct_top[PATH_MAX];
    if (locate(prefix, proc_cgroup, mountinfo, "cpuacct", out->cpuacct_dir, acct_top) != 0)
      out->cpuacct_dir[0] = '\0';
  }

  e = locate(prefix, proc_cgroup, mountinfo, "memory", out->memory_dir, top);
  if (e == 0) {
    out->memory_version = 1;
  } else if ((e = locate(prefix, proc_cgroup, mountinfo, NULL, out->memory_dir, top)) == 0) {
    out->memory_version = 2;
  } else {
    out->memory_dir[0] = '\0';
    keep_err(&out->memory_err, e);
  }
  if (out->memory_version) walk_up(out->memory_dir, top, visit_memory, out);

  free(proc_cgroup);
  free(mountinfo);
  return 0;
}

/* --- counters ------------------------------------------------------------------ */

/* Looks up "key value" in a flat-keyed file's text. */
static int stat_value(const char *text, const char *key, int64_t *out) {
  size_t klen = strlen(key);
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n');
    const char *end = nl ? nl : line + strlen(line);
    if ((size_t)(end - line) > klen && strncmp(line, key, klen) == 0 && line[klen] == ' ')
      return parse_i64(line + klen + 1, end, out);
    line = nl ? nl + 1 : end;
  }
  return -ENOENT;
}

int twe__cgroup_cpu_stat(const twe_cgroup_t *cg, twe_counter_files_t *cf, const char *throttle_dir,
                         twe_cpu_stat_t *out) {
  out->nr_periods = out->nr_throttled = out->throttled_ns = out->usage_ns = -1;
  if (!cg->cpu_version) return -ENOENT;
  const char *dir = throttle_dir && throttle_dir[0] ? throttle_dir
                    : cg->cpu_limit_dir[0]          ? cg->cpu_limit_dir
                                                    : cg->cpu_dir;
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/cpu.stat", dir) >= (int)sizeof path) return -ENAMETOOLONG;
  char *buf;
  ssize_t n = counter_read(cf, path, &buf);
  if (n < 0) return (int)n;
  int64_t v;
  if (stat_value(buf, "nr_periods", &v) == 0) out->nr_periods = v;
  if (stat_value(buf, "nr_throttled", &v) == 0) out->nr_throttled = v;
  if (cg->cpu_version == 2) {
    if (stat_value(buf, "throttled_usec", &v) == 0) out->throttled_ns = v * 1000;
  } else {
    if (stat_value(buf, "throttled_time", &v) == 0) out->throttled_ns = v;
  }
  counter_done(cf, buf);

  if (cg->cpu_version == 2) {
    /* Usage is the process's own cgroup's, which may differ from the one
     * whose quota binds. */
    if (snprintf(path, sizeof path, "%s/cpu.stat", cg->cpu_dir) < (int)sizeof path &&
        counter_read(cf, path, &buf) >= 0) {
      if (stat_value(buf, "usage_usec", &v) == 0) out->usage_ns = v * 1000;
      counter_done(cf, buf);
    }
  } else if (cg->cpuacct_dir[0]) {
    if (read_i64_file(cf, cg->cpuacct_dir, "cpuacct.usage", false, &v) == 0) out->usage_ns = v;
  }
  return 0;
}

int twe__cgroup_memory_used(const twe_cgroup_t *cg, twe_counter_files_t *cf, int64_t *out) {
  *out = -1;
  if (!cg->memory_version) return -ENOENT;
  int64_t used;
  int r = cg->memory_version == 2 ? read_i64_file(cf, cg->memory_dir, "memory.current", false, &used)
                                  : read_i64_file(cf, cg->memory_dir, "memory.usage_in_bytes", false,
                                                  &used);
  if (r) return r;
  /* Inactive file pages are the first the kernel reclaims: not pressure. */
  char path[PATH_MAX];
  char *buf;
  if (snprintf(path, sizeof path, "%s/memory.stat", cg->memory_dir) < (int)sizeof path &&
      counter_read(cf, path, &buf) >= 0) {
    int64_t inactive;
    if (stat_value(buf, cg->memory_version == 2 ? "inactive_file" : "total_inactive_file",
                   &inactive) == 0 &&
        inactive <= used)
      used -= inactive;
    counter_done(cf, buf);
  }
  *out = used;
  return 0;
}

/* counter_read of root + rel ("/proc/stat" under a test's fixture root). */
static ssize_t read_rooted(twe_counter_files_t *cf, const char *root, const char *rel, char **out) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s%s", root ? root : "", rel) >= (int)sizeof path)
    return -ENAMETOOLONG;
  return counter_read(cf, path, out);
}

/* The "total=" of the "some" line of the PSI file root + rel. */
static int psi_some_total(twe_counter_files_t *cf, const char *root, const char *rel,
                          int64_t *out) {
  char *buf;
  ssize_t n = read_rooted(cf, root, rel, &buf);
  if (n < 0) return (int)n;
  int r = -EBADMSG;
  if (strncmp(buf, "some ", 5) == 0) {
    const char *t = strstr(buf, "total=");
    const char *nl = strchr(buf, '\n');
    if (t && (!nl || t < nl)) {
      const char *e = t + 6;
      while (*e >= '0' && *e <= '9') e++;
      r = parse_i64(t + 6, e, out);
    }
  }
  counter_done(cf, buf);
  return r;
}

int twe__cgroup_cpu_pressure_us(const twe_cgroup_t *cg, twe_counter_files_t *cf, const char *root,
                                int64_t *out) {
  *out = -1;
  if (cg->cpu_version == 2 && psi_some_total(cf, cg->cpu_dir, "/cpu.pressure", out) == 0) return 0;
  return psi_some_total(cf, root, "/proc/pressure/cpu", out);
}

int twe__host_cpu_ticks(twe_counter_files_t *cf, const char *root, int64_t *busy, int64_t *total) {
  char *buf;
  ssize_t n = read_rooted(cf, root, "/proc/stat", &buf);
  if (n < 0) return (int)n;
  int r = -EBADMSG;
  if (strncmp(buf, "cpu ", 4) == 0) {
    /* user nice system idle iowait irq softirq steal (guest time is in
     * user already). */
    int64_t v[8] = {0};
    const char *p = buf + 4;
    int k = 0;
    for (; k < 8; k++) {
      while (*p == ' ') p++;
      const char *e = p;
      while (*e >= '0' && *e <= '9') e++;
      if (e == p || parse_i64(p, e, &v[k]) != 0) break;
      p = e;
    }
    if (k >= 4) {
      *total = 0;
      for (int i = 0; i < k; i++) *total += v[i];
      *busy = *total - v[3] - (k > 4 ? v[4] : 0);
      r = 0;
    }
  }
  counter_done(cf, buf);
  return r;
}

int twe__host_memory(twe_counter_files_t *cf, const char *root, int64_t *total,
                     int64_t *available) {
  char *buf;
  ssize_t n = read_rooted(cf, root, "/proc/meminfo", &buf);
  if (n < 0) return (int)n;
  int r = -EBADMSG;
  const char *t = strstr(buf, "MemTotal:"), *a = strstr(buf, "MemAvailable:");
  long long tk, ak;
  if (t && a && sscanf(t, "MemTotal: %lld kB", &tk) == 1 &&
      sscanf(a, "MemAvailable: %lld kB", &ak) == 1 && tk > 0) {
    *total = tk * 1024;
    *available = ak * 1024;
    r = 0;
  }
  counter_done(cf, buf);
  return r;
}
