/* sched/slots_resource.h — the resource-based slot supplier: grants slots
 * of a kind while the CPU and the memory the worker may use have headroom,
 * so activities that block (a network call, a sleep) get as many threads as
 * the work needs, and activities that burn CPU stop getting more once the
 * CPU is saturated.
 *
 * Per kind: min slots are always granted (a floor that keeps work moving
 * whatever the samples say); above min, a slot is granted while the last
 * sample is under both targets, up to max. Growth past the most slots in
 * use since the last sample over a target (the high-water mark) is ramped:
 * one grant per ramp_ns, as the samples lag the work a new slot brings;
 * below the mark, slots released are granted again at once (a fan-out that
 * starts 20 activities every half second gets its 20 each time, not one per
 * ramp). When the CPU saturates, no slot above min is granted and the mark
 * comes down to what is in use, so the slots in use fall back as tasks
 * finish. A kind that is not elastic is a fixed count (max), as the fixed
 * supplier.
 *
 * The sample (a sampler thread, over the last window_ns; every tick_ns while
 * the samples matter: a slot above min was asked for in the last window, or
 * slots above min are in use; else every idle_tick_ns, so an idle worker's
 * sampler wakes a few times a second, not fifty; the counter files stay
 * open, sched/cgroup.h):
 *   cpu      the highest of: CPU used against the cgroup's quota (the
 *            cgroup's usage when it is the quota's own group, else the
 *            process's CPU time; with no quota, the host's busy share, from
 *            /proc/stat); the share of quota periods that were throttled;
 *            the share of time some task waited for a CPU (PSI: the
 *            cgroup's cpu.pressure on v2, /proc/pressure/cpu otherwise),
 *            where the kernel has it;
 *   memory   memory in use against the cgroup's limit (less inactive file
 *            pages), or with no limit the host's (MemAvailable); read every
 *            250 ms, not every tick (it moves slowly).
 * After each sample, watchers refused a slot of an elastic kind are told
 * to try again (twe__slots_notify) when it is under the targets.
 *
 * Thread: everything may be called from any thread.
 */
#ifndef TWE_SCHED_SLOTS_RESOURCE_H
#define TWE_SCHED_SLOTS_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/cgroup.h"
#include "sched/slots.h"

#define TWE_RESOURCE_CPU_TARGET 0.9
#define TWE_RESOURCE_MEMORY_TARGET 0.8
#define TWE_RESOURCE_RAMP_NS (20ll * 1000000ll)
#define TWE_RESOURCE_TICK_NS (20ll * 1000000ll)
#define TWE_RESOURCE_WINDOW_NS (1000ll * 1000000ll)

typedef struct twe_resource_options {
  /* Per kind: always granted, the most, and whether the kind follows the
   * samples (false: a fixed count of max). min <= max; max 0: no slots. */
  int64_t min[TWE_SLOT_KINDS];
  int64_t max[TWE_SLOT_KINDS];
  bool elastic[TWE_SLOT_KINDS];
  double cpu_target;    /* 0: TWE_RESOURCE_CPU_TARGET; in (0, 1] */
  double memory_target; /* 0: TWE_RESOURCE_MEMORY_TARGET; in (0, 1] */
  int64_t ramp_ns;      /* 0: TWE_RESOURCE_RAMP_NS */
  /* The sampler's period (0: TWE_RESOURCE_TICK_NS); < 0: no sampler thread,
   * the caller feeds samples (twe__resource_feed; tests). */
  int64_t tick_ns;
  /* The period while nothing asks above min (0: ten ticks); at least
   * tick_ns. */
  int64_t idle_tick_ns;
  int64_t window_ns; /* 0: TWE_RESOURCE_WINDOW_NS */
  /* Where to read: the cgroup (NULL: discovered; with no CPU quota the
   * host's busy share stands for usage) and the prefix of /proc paths
   * (NULL: the real ones; tests: a fixture). */
  const twe_cgroup_t *cgroup;
  const char *root;
  /* The cpu group whose throttled periods count (its cpu.stat), where not
   * the quota's own: the activity threads' group (sched/cpu_group.h), which
   * is stopped when they saturate their share while the quota's group is
   * not. NULL: the quota's. */
  const char *throttle_dir;
} twe_resource_options_t;

/* A sample; fractions are in [0, 1] (usage may pass 1 briefly), -1 where
 * the kernel does not say. */
typedef struct twe_resource_sample {
  double cpu;       /* what the decision uses: the highest of the three */
  double cpu_usage; /* used / quota, or the host's busy share */
  double throttled; /* throttled periods / periods (a quota only) */
  double pressure;  /* PSI "some" share of time */
  double memory;    /* used / limit */
  int64_t at_ns;    /* CLOCK_MONOTONIC; 0: no sample yet */
} twe_resource_sample_t;

typedef struct twe_resource twe_resource_t;

/* Creates slots on a resource-based supplier (and its sampler thread).
 * *res is a handle for twe__resource_* below, valid until the slots are
 * destroyed. Returns 0, -EINVAL (min > max, a target outside (0, 1]),
 * -ENOMEM or the error of starting the thread. */
int twe__slots_create_resource(const twe_resource_options_t *o, twe_slots_t **out,
                               twe_resource_t **res);

/* Records a sample as the latest (what the sampler does each tick) and
 * tells refused watchers to try again if it is under the targets. */
void twe__resource_feed(twe_resource_t *r, const twe_resource_sample_t *s);

/* The latest sample. */
void twe__resource_last(twe_resource_t *r, twe_resource_sample_t *out);

/* The most slots of kind granted at once so far. */
int64_t twe__resource_peak(const twe_resource_t *r, twe_slot_kind_t kind);

/* Slots of kind refused while below max because of the samples or the
 * ramp (a count, for metrics and tests). */
int64_t twe__resource_refused(const twe_resource_t *r, twe_slot_kind_t kind);

#endif /* TWE_SCHED_SLOTS_RESOURCE_H */
