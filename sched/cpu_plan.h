/* sched/cpu_plan.h — how many CPUs the worker may use, where that number
 * came from, and how it splits them between workflow shard threads and
 * activity threads.
 *
 * Effective CPUs = the affinity mask, capped by the cgroup CPU quota
 * (rounded up: 1.5 CPUs of quota gives 2 threads, each throttled as the
 * kernel sees fit). An override replaces it: the worker options first, then
 * the environment (TWE_CPUS). Nothing is sized from the host's core count;
 * online CPUs are used only when the affinity mask cannot be read, and are
 * still capped by the quota.
 *
 * The split (overridable by options, then TWE_SHARD_THREADS and
 * TWE_ACTIVITY_THREADS):
 *   shards           = 1 for 1-3 CPUs, else CPUs / 2, at most 16
 *   activity threads = 4 per CPU not given to a shard (at least 1 CPU's
 *                      worth), between 4 and 256
 * so 1 CPU -> 1 + 4, 2 -> 1 + 4, 4 -> 2 + 8, 64 -> 16 + 192. Activities may
 * block, so their threads outnumber their CPUs; shards are CPU-bound and
 * never outnumber theirs.
 *
 * Shards are pinned (to the first CPUs of the mask, one each) when those
 * cores are dedicated: the number came from the affinity mask itself (not a
 * quota, which is time-sliced over all CPUs, nor an override) and at least
 * one CPU is left for the activity threads, which then get the rest of the
 * mask. TWE_PIN_SHARDS=1/0 or the pin option force it either way.
 *
 * Thread: every function may be called from any thread; discover and make
 * read the environment (getenv), so not while another thread changes it.
 */
#ifndef TWE_SCHED_CPU_PLAN_H
#define TWE_SCHED_CPU_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/cgroup.h"
#include "sched/cpumask.h"

typedef enum twe_cpu_source {
  TWE_CPU_FROM_AFFINITY = 0, /* the affinity mask; no lower quota */
  TWE_CPU_FROM_CGROUP,       /* the cgroup quota (below the mask) */
  TWE_CPU_FROM_OPTION,       /* twe_cpu_plan_options_t.cpus */
  TWE_CPU_FROM_ENV,          /* TWE_CPUS */
  TWE_CPU_FROM_ONLINE,       /* online CPUs: the mask was unreadable */
} twe_cpu_source_t;

typedef enum twe_pin_mode {
  TWE_PIN_AUTO = 0, /* pin when cores are dedicated (see above) */
  TWE_PIN_ON,
  TWE_PIN_OFF,
} twe_pin_mode_t;

typedef struct twe_cpu_plan_options {
  unsigned cpus;             /* 0: discover (or TWE_CPUS) */
  unsigned shard_threads;    /* 0: default (or TWE_SHARD_THREADS) */
  unsigned activity_threads; /* 0: default (or TWE_ACTIVITY_THREADS) */
  twe_pin_mode_t pin;        /* AUTO: TWE_PIN_SHARDS, else the rule */
  const char *cgroup_root;   /* NULL: the real /proc and /sys; tests: a fixture */
  bool ignore_env;           /* do not read TWE_* (tests) */
} twe_cpu_plan_options_t;

typedef struct twe_cpu_plan {
  unsigned cpus;                /* effective CPUs, >= 1 */
  twe_cpu_source_t source;
  unsigned discovered_cpus;     /* what discovery alone gave (before overrides) */
  unsigned affinity_cpus;       /* CPUs in the mask; 0 when unreadable */
  int64_t quota_millicpus;      /* cgroup quota in 1/1000 CPU; -1: none */
  int64_t memory_limit;         /* bytes; -1: none */
  twe_cgroup_t cgroup;          /* where the limits were found, and errors */
  unsigned shard_threads;
  unsigned activity_threads;
  /* activity_threads came from an override (option or TWE_ACTIVITY_THREADS):
   * the worker keeps exactly that many activity slots, rather than growing
   * from there with the resource-based supplier (sched/slots_resource.h). */
  bool activity_threads_fixed;
  bool shards_pinned;
  twe_cpumask_t affinity;       /* the mask (CPU ids below TWE_CPUMASK_MAX) */
  twe_cpumask_t activity_cpus;  /* where activity threads may run */
} twe_cpu_plan_t;

/* The default split for a number of CPUs (see the top of this file). */
void twe__cpu_plan_split(unsigned cpus, unsigned *shard_threads, unsigned *activity_threads);

/* Discovers the affinity mask and the cgroup limits, applies overrides and
 * splits. Returns 0, or -EINVAL when an override (option or environment) is
 * not a positive integer, or a pinned plan cannot be made. */
int twe__cpu_plan_discover(const twe_cpu_plan_options_t *options, twe_cpu_plan_t *plan);

/* Builds a plan from facts already known (tests, or a caller that discovered
 * them itself): mask (NULL: affinity unknown, online_cpus used), cgroup
 * (NULL: none). Same overrides and rules as discover. */
int twe__cpu_plan_make(const twe_cpumask_t *mask, unsigned online_cpus, const twe_cgroup_t *cgroup,
                       const twe_cpu_plan_options_t *options, twe_cpu_plan_t *plan);

/* The CPU shard index should be pinned to, or -1 when shards are not
 * pinned. */
int twe__cpu_plan_shard_cpu(const twe_cpu_plan_t *plan, unsigned index);

/* One log line describing the plan (no trailing newline): CPUs, where the
 * number came from, shard and activity thread counts, pinning, memory limit
 * and cgroup read errors. Returns what snprintf returns (the untruncated
 * length). */
int twe__cpu_plan_format(const twe_cpu_plan_t *plan, char *buf, size_t size);

#endif /* TWE_SCHED_CPU_PLAN_H */
