/* sched/cpu_group.h — a CPU group of the activity threads' own: a child of
 * the process's cgroup v1 cpu group, with a CFS quota that is a share of the
 * process's (0.9 by default).
 *
 * Why: a CPU quota is the group's. Activities that burn CPU on several CPUs
 * use up a period's quota early (a 1-CPU quota on 2 CPUs: in 50 ms of the
 * 100 ms period), and the kernel then stops every thread of the group until
 * the next period, the shard threads with them (SCHED_IDLE gives no share of
 * a quota). A poll answer then sits unread and the next poll goes out late:
 * workflow tasks waited up to the rest of the period (bench/
 * run_blocking_bench.sh: sticky schedule-to-start p99 66-75 ms, the late
 * reads lined up on the 100 ms period). With the activities in a child
 * whose quota is 90% of the group's, it is the child that runs out and
 * stops, and the shard threads keep the rest of each period (at 95% the
 * group was still throttled in 101 of 173 periods, the shard's own use and
 * the kernel's 5 ms runtime slices per CPU going over the rest; at 90% in
 * 15 of 177, and the activities finished as soon).
 *
 * Only where the kernel allows it: a cgroup v1 cpu controller (cgroup v2
 * would need a threaded subtree, not done), a quota on the process's group
 * or above it, and a group directory this process may write (root on the
 * host; a delegated or privileged container). Otherwise create says why and
 * the activity threads stay where they are. The child is named
 * "twe-activities" and shared by every twe worker in the group (each sets
 * the same quota); it is removed at destroy when no thread is left in it,
 * and reused when a worker killed earlier left it behind.
 *
 * Thread: create and destroy on the owner's thread; join on any thread (the
 * calling one moves), concurrently. */
#ifndef TWE_SCHED_CPU_GROUP_H
#define TWE_SCHED_CPU_GROUP_H

#include <stdint.h>

#include "sched/cgroup.h"

#define TWE_CPU_GROUP_NAME "twe-activities"
#define TWE_CPU_GROUP_SHARE 0.9

typedef struct twe_cpu_group twe_cpu_group_t;

/* Creates (or takes over) the child of cg's cpu group (cg as
 * twe__cgroup_discover filled it) with share (in (0, 1)) of its effective
 * quota, in the child's own period (the group's). Returns 0 and *out;
 * -ENOTSUP (no v1 cpu controller, or no quota), -EINVAL (a share outside
 * (0, 1)), the negative errno of the mkdir or write that was refused
 * (-EACCES, -EROFS, -EPERM ...), or -ENOMEM. On failure nothing is left
 * behind that this call made. */
int twe__cpu_group_create(const twe_cgroup_t *cg, double share, twe_cpu_group_t **out);

/* Moves the calling thread into the group. Threads it starts later start
 * there too. Returns 0 or a negative errno. */
int twe__cpu_group_join(twe_cpu_group_t *g);

/* The child's directory, and its quota per period in microseconds. */
const char *twe__cpu_group_dir(const twe_cpu_group_t *g);
int64_t twe__cpu_group_quota_us(const twe_cpu_group_t *g);
int64_t twe__cpu_group_period_us(const twe_cpu_group_t *g);

/* Removes the child if no thread is left in it (threads that exited leave
 * it; threads still running, another worker's or abandoned ones, keep it),
 * and frees g. NULL is fine. */
void twe__cpu_group_destroy(twe_cpu_group_t *g);

#endif
