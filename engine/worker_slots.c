/* engine/worker_slots.c — the worker's slots: how many activities and
 * local activities run at once, and how many workflow tasks (a fixed count;
 * and whether poll counts autoscale, read here with the rest of the
 * worker's concurrency settings) (include/twe/worker.h, activity_threads
 * and what follows it). Fixed when the count was given (the option or
 * TWE_ACTIVITY_THREADS); otherwise resource-based
 * (sched/slots_resource.h): the CPU plan's activity threads always, more
 * while the worker's CPU and memory have headroom, up to a maximum. The
 * slots are the worker's, shared by its shards; each shard's pool may grow
 * to the maximum, so the slots alone decide where the work runs. The
 * activity threads' own CPU group (sched/cpu_group.h) is made here too,
 * where the worker's cgroup allows it, and its start-up line says what
 * became of it.
 *
 * Thread: the owner's, in twe_worker_start (before the shards) and
 * twe_worker_destroy (after them). */
#define _GNU_SOURCE /* PATH_MAX in sched/cgroup.h under -std=c11 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "engine/worker_internal.h"
#include "sched/cpu_group.h"
#include "sched/cpu_plan.h"
#include "sched/slots_resource.h"
#include "twe/error.h"

#define DEFAULT_MAX_THREADS 500u
#define MAX_THREADS_CAP 100000u

/* An option, else the environment's, else 0 (the default). Returns 0, or
 * -EINVAL for an environment value that is not one. */
static int env_unsigned(const char *name, unsigned opt, unsigned *out) {
  *out = opt;
  const char *e = opt ? NULL : getenv(name);
  if (!e || !*e) return 0;
  char *end;
  unsigned long v = strtoul(e, &end, 10);
  if (*end || v == 0 || v > MAX_THREADS_CAP) return -EINVAL;
  *out = (unsigned)v;
  return 0;
}

static int env_share(const char *name, double opt, double *out) {
  *out = opt;
  const char *e = opt ? NULL : getenv(name);
  if (!e || !*e) return 0;
  char *end;
  double v = strtod(e, &end);
  if (*end || !(v > 0 && v <= 1)) return -EINVAL;
  *out = v;
  return 0;
}

/* The activity threads' CPU group: the option (< 0 off), else
 * TWE_ACTIVITY_CPU_GROUP ("off", or a share in (0, 1)), else the default
 * share. Logs one line either way; a group that cannot be made is not an
 * error (the threads stay in the worker's group). Returns 0 or -EINVAL. */
static int cpu_group_start(twe_worker_t *w, const twe_cpu_plan_t *plan) {
  double share = w->opts.activity_cpu_group_share;
  const char *e = share ? NULL : getenv("TWE_ACTIVITY_CPU_GROUP");
  if (e && *e && strcmp(e, "off") == 0) {
    share = -1;
  } else if (e && *e) {
    char *end;
    share = strtod(e, &end);
    if (*end || !(share > 0 && share < 1)) {
      twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL,
               "TWE_ACTIVITY_CPU_GROUP is not valid (\"off\", or a share in (0, 1))");
      return -EINVAL;
    }
  }
  if (share >= 1) {
    twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL,
             "activity_cpu_group_share is %.2f: a share in (0, 1), or < 0 for off", share);
    return -EINVAL;
  }
  if (share < 0) {
    twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL, "activity cpu group: off");
    return 0;
  }
  if (!share) share = TWE_CPU_GROUP_SHARE;
  int rc = twe__cpu_group_create(&plan->cgroup, share, &w->act_group);
  if (rc == 0)
    twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL,
             "activity cpu group: %s, %lld/%lld us (%.2f of the worker's quota)",
             twe__cpu_group_dir(w->act_group), (long long)twe__cpu_group_quota_us(w->act_group),
             (long long)twe__cpu_group_period_us(w->act_group), share);
  else
    twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL,
             "activity cpu group: none (%s); activity threads share the worker's CPU group",
             rc == -ENOTSUP ? "no cgroup v1 CPU quota" : strerror(-rc));
  return 0;
}

int twe__worker_slots_start(twe_worker_t *w, const twe_cpu_plan_t *plan) {
  const twe_worker_options_t *o = &w->opts;
  if (w->slots) twe__worker_slots_destroy(w); /* a start that failed before */
  unsigned floor = plan->activity_threads ? plan->activity_threads : 1;
  bool elastic = !plan->activity_threads_fixed;
  /* Every shard's activity polls hold a slot each. Resource-based, they
   * come on top of the plan's activity threads: the floor keeps them all
   * polling and that many activities running (or promised to the server,
   * eager) whatever the samples say. With the polls inside a floor of 4,
   * a shard's 2 polls left 2 slots: on a host busy with the server,
   * TenSequential got 47-49% of its activities eagerly, 81-83% with the
   * polls on top (2026-12-07; README, "Activity slots"). */
  unsigned shards = plan->shard_threads ? plan->shard_threads : 1;
  unsigned polls = shards * (o->activity_pollers ? o->activity_pollers : 2);
  if (elastic) floor += polls;
  unsigned max = floor;
  double cpu = 0, mem = 0;
  if (elastic) {
    const char *bad = NULL;
    if (env_unsigned("TWE_ACTIVITY_THREADS_MAX", o->activity_threads_max, &max) < 0)
      bad = "TWE_ACTIVITY_THREADS_MAX (a count from 1)";
    else if (env_share("TWE_ACTIVITY_CPU_TARGET", o->activity_cpu_target, &cpu) < 0)
      bad = "TWE_ACTIVITY_CPU_TARGET (a share in (0, 1])";
    else if (env_share("TWE_ACTIVITY_MEMORY_TARGET", o->activity_memory_target, &mem) < 0)
      bad = "TWE_ACTIVITY_MEMORY_TARGET (a share in (0, 1])";
    if (bad || cpu < 0 || cpu > 1 || mem < 0 || mem > 1) {
      twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL, "activity slots: %s is not valid",
               bad ? bad : "activity_cpu_target / activity_memory_target (shares in (0, 1])");
      return -EINVAL;
    }
    if (!max) max = DEFAULT_MAX_THREADS;
    if (max < floor) max = floor;
  }
  /* The group first: its throttling is what saturated activities show. */
  int rc = cpu_group_start(w, plan);
  if (rc < 0) return rc;
  twe_resource_options_t ro = {.cpu_target = cpu, .memory_target = mem, .cgroup = &plan->cgroup,
                               .tick_ns = elastic ? 0 : -1,
                               .throttle_dir = w->act_group ? twe__cpu_group_dir(w->act_group)
                                                            : NULL};
  const twe_slot_kind_t kinds[] = {TWE_SLOT_ACTIVITY, TWE_SLOT_LOCAL_ACTIVITY};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    ro.min[kinds[i]] = elastic ? floor : max;
    ro.max[kinds[i]] = max;
    ro.elastic[kinds[i]] = elastic;
  }
  /* Workflow tasks: a fixed count. They run on the shard threads, which
   * the activity threads yield to, so the CPU they need is there; a cap
   * from the CPU sample would only hold them back behind activities. */
  int64_t wft = o->max_concurrent_workflow_tasks ? o->max_concurrent_workflow_tasks
                                                 : (int64_t)shards * TWE__WFT_SLOTS_PER_SHARD;
  /* With a cache, a sticky poll holds a slot: one more keeps the normal
   * queue polled (new workflows, and tasks the server moves off a sticky
   * queue), as the SDKs require. */
  if (wft < 2 && o->max_cached_workflows >= 0) {
    twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL,
             "max_concurrent_workflow_tasks is %lld: at least 2 with the workflow cache on "
             "(a sticky poll and a normal one)",
             (long long)wft);
    twe__worker_slots_destroy(w);
    return -EINVAL;
  }
  ro.min[TWE_SLOT_WORKFLOW_TASK] = ro.max[TWE_SLOT_WORKFLOW_TASK] = wft;
  rc = twe__slots_create_resource(&ro, &w->slots, &w->resource);
  if (rc < 0) {
    twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL, "activity slots: %s", twe_strerror(rc));
    twe__worker_slots_destroy(w);
    return rc;
  }
  w->act_slots_max = max;
  const char *pa = getenv("TWE_POLLER_AUTOSCALING");
  w->poller_autoscaling = o->poller_autoscaling || (pa && strcmp(pa, "1") == 0);
  if (elastic)
    twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL,
             "activity slots: resource-based, %u to %u, more while CPU < %.2f and memory < "
             "%.2f of what the worker may use",
             floor, max, cpu ? cpu : TWE_RESOURCE_CPU_TARGET,
             mem ? mem : TWE_RESOURCE_MEMORY_TARGET);
  else
    twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL, "activity slots: fixed, %u", max);
  twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL, "workflow task slots: fixed, %lld",
           (long long)wft);
  return 0;
}

void twe__worker_slots_destroy(twe_worker_t *w) {
  /* After the shards: the pools' threads have left it or are abandoned. */
  twe__cpu_group_destroy(w->act_group);
  w->act_group = NULL;
  twe__slots_destroy(w->slots);
  w->slots = NULL;
  w->resource = NULL;
}
