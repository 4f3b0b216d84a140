/* sched/cgroup.h — what the cgroup of this process allows: the CPU quota
 * (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us), the memory limit
 * (v2 memory.max, v1 memory.limit_in_bytes), and the counters that metrics
 * and the resource-based slot supplier read: throttling (cpu.stat), memory
 * in use, CPU pressure (PSI), and the host's CPU time and memory.
 *
 * The cgroup is found the way the kernel describes it: the process's path in
 * each hierarchy from /proc/self/cgroup, the hierarchy's mount point and root
 * from /proc/self/mountinfo (so a container that sees only its own subtree
 * works too). Limits are read at the process's cgroup and at every ancestor
 * up to the mount point: a nested cgroup is bound by the tightest of them.
 *
 * Nothing here fails because a limit is absent: a missing file means no
 * limit there. A file that exists but cannot be read or parsed is skipped
 * too, and its error kept (cpu_err, memory_err) so the plan's log line can
 * say so. Every path is read under a root prefix so that tests can lay out a
 * fake /proc and /sys/fs/cgroup in a temporary directory.
 *
 * Thread: everything here may be called from any thread; it reads files
 * and keeps no state, but for a twe_counter_files_t a caller may keep.
 */
#ifndef TWE_SCHED_CGROUP_H
#define TWE_SCHED_CGROUP_H

#include <limits.h>
#include <stdint.h>

typedef struct twe_cgroup {
  /* Hierarchy the cpu controller was found in: 1, 2, or 0 (none). */
  int cpu_version;
  /* The process's cgroup directory for the cpu controller ("" if none). */
  char cpu_dir[PATH_MAX];
  /* The directory whose quota is the effective one ("" when no quota). */
  char cpu_limit_dir[PATH_MAX];
  /* The effective (tightest) quota: quota_us of CPU time per period_us;
   * quota_us is -1 when there is no limit. */
  int64_t cpu_quota_us;
  int64_t cpu_period_us;
  /* v1 only: the cpuacct directory, for usage ("" if none). */
  char cpuacct_dir[PATH_MAX];
  /* Hierarchy and directory of the memory controller (0 and "" if none). */
  int memory_version;
  char memory_dir[PATH_MAX];
  /* The tightest memory limit in bytes, -1 for none. */
  int64_t memory_limit;
  /* First error met while looking for the CPU quota / the memory limit (a
   * negative errno: -EISDIR, -EACCES, -EBADMSG for unparsable contents...),
   * or 0. The limits above are still the tightest readable ones. */
  int cpu_err;
  int memory_err;
} twe_cgroup_t;

/* Fills *out for the calling process. root: prefix of every path read (NULL
 * or "" for the real /proc and /sys; tests pass a fixture directory). The
 * directories in *out include the prefix. Returns 0; what could not be found
 * is reported inside *out (versions 0, limits -1, errors), never as a
 * failure. */
int twe__cgroup_discover(const char *root, twe_cgroup_t *out);

/* Counter files kept open, for a reader that reads the same counters again
 * and again (the resource sampler, every tick): a kernel file (procfs,
 * cgroupfs, sysfs) is opened once, and each read is one pread from offset
 * 0, which the kernel answers with fresh figures. The sampler's ticks had
 * gone mostly to path lookups, opens and closes. A file on any other
 * filesystem (a test's fixture, which may be replaced by a rename) is
 * opened for each read as before, and so is one that could not be opened
 * (it is tried again next time). Wherever the functions below take one,
 * NULL means no cache. Thread: one thread at a time per cache. */
typedef struct twe_counter_files twe_counter_files_t;
/* Returns 0 or -ENOMEM. */
int twe__counter_files_create(twe_counter_files_t **out);
/* Closes the files. NULL: nothing. */
void twe__counter_files_destroy(twe_counter_files_t *cf);

/* CPU time and throttling counters; -1 where the kernel does not say. */
typedef struct twe_cpu_stat {
  int64_t nr_periods;   /* quota periods that had runnable tasks */
  int64_t nr_throttled; /* periods in which the quota ran out */
  int64_t throttled_ns; /* time spent throttled */
  int64_t usage_ns;     /* CPU time used by the process's cgroup */
} twe_cpu_stat_t;

/* Reads the counters now. Throttling comes from throttle_dir's cpu.stat
 * when given (a child group of the quota's: sched/cpu_group.h), else from
 * the cgroup whose quota binds (cpu_limit_dir), or the process's own when
 * there is no quota; usage from the process's own cgroup. Returns 0,
 * -ENOENT when there is no cpu controller, or the error of reading
 * cpu.stat. Thread: any (for metrics). */
int twe__cgroup_cpu_stat(const twe_cgroup_t *cg, twe_counter_files_t *cf, const char *throttle_dir,
                         twe_cpu_stat_t *out);

/* Memory the cgroup uses now, in bytes (v2 memory.current, v1
 * memory.usage_in_bytes, less inactive file pages, which the kernel
 * reclaims first). Returns 0, -ENOENT without a memory controller, or the
 * error of reading. Thread: any. */
int twe__cgroup_memory_used(const twe_cgroup_t *cg, twe_counter_files_t *cf, int64_t *out);

/* CPU pressure (PSI): the total microseconds in which some task waited for
 * a CPU: the cgroup's cpu.pressure on v2, else root/proc/pressure/cpu (the
 * whole host). Returns 0, or the error of reading (-ENOENT: no PSI).
 * Thread: any. */
int twe__cgroup_cpu_pressure_us(const twe_cgroup_t *cg, twe_counter_files_t *cf, const char *root,
                                int64_t *out);

/* The host's CPU time from root/proc/stat (all CPUs, in ticks): busy (all
 * but idle and iowait) and total. Thread: any. */
int twe__host_cpu_ticks(twe_counter_files_t *cf, const char *root, int64_t *busy, int64_t *total);

/* The host's memory from root/proc/meminfo, in bytes: MemTotal and
 * MemAvailable. Thread: any. */
int twe__host_memory(twe_counter_files_t *cf, const char *root, int64_t *total,
                      int64_t *available);

#endif /* TWE_SCHED_CGROUP_H */
