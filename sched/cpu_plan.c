/* sched/cpu_plan.c — effective CPUs, overrides, the shard/activity split
 * and its log line (sched/cpu_plan.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_* */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/cpu_plan.h"
#include "twe/error.h"

#define MAX_SHARDS 16
#define ACTIVITY_THREADS_PER_CPU 4
#define MIN_ACTIVITY_THREADS 4
#define MAX_ACTIVITY_THREADS 256
/* The largest override accepted: a typo, not a machine. */
#define MAX_OVERRIDE (1u << 16)

void twe__cpu_plan_split(unsigned cpus, unsigned *shard_threads, unsigned *activity_threads) {
  if (cpus == 0) cpus = 1;
  /* Below 4 CPUs a second shard would share a core with the activity
   * threads: one shard, the rest for activities. Above 16 shards, each with
   * its own connection and pollers, more shards add load on the server
   * rather than throughput. */
  unsigned shards = cpus < 4 ? 1 : cpus / 2;
  if (shards > MAX_SHARDS) shards = MAX_SHARDS;
  unsigned left = cpus > shards ? cpus - shards : 1;
  /* Activities block (I/O, remote calls): several threads per CPU. */
  unsigned act = left * ACTIVITY_THREADS_PER_CPU;
  if (act < MIN_ACTIVITY_THREADS) act = MIN_ACTIVITY_THREADS;
  if (act > MAX_ACTIVITY_THREADS) act = MAX_ACTIVITY_THREADS;
  *shard_threads = shards;
  *activity_threads = act;
}

/* Reads a positive integer from the environment: 1 when set, 0 when not,
 * -EINVAL when set to anything else. */
static int env_uint(const twe_cpu_plan_options_t *o, const char *name, unsigned *out) {
  if (o->ignore_env) return 0;
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  char *end;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno || *end || n == 0 || n > MAX_OVERRIDE || v[0] == '-') return -EINVAL;
  *out = (unsigned)n;
  return 1;
}

int twe__cpu_plan_make(const twe_cpumask_t *mask, unsigned online_cpus, const twe_cgroup_t *cgroup,
                       const twe_cpu_plan_options_t *options, twe_cpu_plan_t *plan) {
  static const twe_cpu_plan_options_t no_options;
  const twe_cpu_plan_options_t *o = options ? options : &no_options;
  memset(plan, 0, sizeof *plan);
  plan->quota_millicpus = -1;
  plan->memory_limit = -1;
  plan->cgroup.cpu_quota_us = -1;
  plan->cgroup.memory_limit = -1;
  if (cgroup) {
    plan->cgroup = *cgroup;
    plan->memory_limit = cgroup->memory_limit;
  }

  unsigned cpus;
  if (mask && twe__cpumask_count(mask) > 0) {
    plan->affinity = *mask;
    plan->affinity_cpus = twe__cpumask_count(mask);
    cpus = plan->affinity_cpus;
    plan->source = TWE_CPU_FROM_AFFINITY;
  } else {
    cpus = online_cpus ? online_cpus : 1;
    plan->source = TWE_CPU_FROM_ONLINE;
  }
  if (cgroup && cgroup->cpu_quota_us > 0 && cgroup->cpu_period_us > 0) {
    int64_t q = cgroup->cpu_quota_us, p = cgroup->cpu_period_us;
    /* Quotas are microseconds per period: times 1000 stays far from
     * overflow for any period the kernel accepts (<= 1 s). */
    plan->quota_millicpus = (q * 1000 + p - 1) / p;
    if (plan->quota_millicpus < (int64_t)cpus * 1000) {
      cpus = (unsigned)((plan->quota_millicpus + 999) / 1000);
      if (cpus == 0) cpus = 1;
      plan->source = TWE_CPU_FROM_CGROUP;
    }
  }
  plan->discovered_cpus = cpus;

  unsigned v;
  int r;
  if (o->cpus) {
    if (o->cpus > MAX_OVERRIDE) return -EINVAL;
    cpus = o->cpus;
    plan->source = TWE_CPU_FROM_OPTION;
  } else if ((r = env_uint(o, "TWE_CPUS", &v)) != 0) {
    if (r < 0) return r;
    cpus = v;
    plan->source = TWE_CPU_FROM_ENV;
  }
  plan->cpus = cpus;

  twe__cpu_plan_split(cpus, &plan->shard_threads, &plan->activity_threads);
  if (o->shard_threads) {
    plan->shard_threads = o->shard_threads;
  } else if ((r = env_uint(o, "TWE_SHARD_THREADS", &v)) != 0) {
    if (r < 0) return r;
    plan->shard_threads = v;
  }
  if (o->activity_threads) {
    plan->activity_threads = o->activity_threads;
    plan->activity_threads_fixed = true;
  } else if ((r = env_uint(o, "TWE_ACTIVITY_THREADS", &v)) != 0) {
    if (r < 0) return r;
    plan->activity_threads = v;
    plan->activity_threads_fixed = true;
  }
  if (plan->shard_threads > MAX_OVERRIDE || plan->activity_threads > MAX_OVERRIDE) return -EINVAL;

  twe_pin_mode_t pin = o->pin;
  if (pin == TWE_PIN_AUTO && !o->ignore_env) {
    const char *e = getenv("TWE_PIN_SHARDS");
    if (e && *e) {
      if (strcmp(e, "1") == 0)
        pin = TWE_PIN_ON;
      else if (strcmp(e, "0") == 0)
        pin = TWE_PIN_OFF;
      else
        return -EINVAL;
    }
  }
  switch (pin) {
  case TWE_PIN_ON:
    /* Pinning needs CPU ids. */
    if (plan->affinity_cpus == 0) return -EINVAL;
    plan->shards_pinned = true;
    break;
  case TWE_PIN_OFF:
    plan->shards_pinned = false;
    break;
  default:
    /* Dedicated cores: the count is the mask's own (a quota is time, spread
     * over every CPU of the mask; an override says nothing about which
     * cores), and the activity threads keep at least one CPU. */
    plan->shards_pinned = plan->source == TWE_CPU_FROM_AFFINITY &&
                          plan->shard_threads < plan->affinity_cpus;
    break;
  }

  plan->activity_cpus = plan->affinity;
  if (plan->shards_pinned) {
    for (unsigned i = 0; i < plan->shard_threads && i < plan->affinity_cpus; i++)
      twe__cpumask_clear(&plan->activity_cpus, (unsigned)twe__cpu_plan_shard_cpu(plan, i));
    if (twe__cpumask_count(&plan->activity_cpus) == 0) plan->activity_cpus = plan->affinity;
  }
  return 0;
}

int twe__cpu_plan_shard_cpu(const twe_cpu_plan_t *plan, unsigned index) {
  if (!plan->shards_pinned || plan->affinity_cpus == 0) return -1;
  return twe__cpumask_nth(&plan->affinity, index % plan->affinity_cpus);
}

/* The affinity mask of the calling thread, in a set large enough for the
 * machine. Returns 0 or a negative errno. */
static int read_affinity(twe_cpumask_t *mask) {
  memset(mask, 0, sizeof *mask);
  for (int n = CPU_SETSIZE; n <= (1 << 16); n *= 2) {
    cpu_set_t *set = CPU_ALLOC(n);
    if (!set) return -ENOMEM;
    size_t sz = CPU_ALLOC_SIZE(n);
    if (sched_getaffinity(0, sz, set) == 0) {
      for (unsigned c = 0; c < TWE_CPUMASK_MAX && c < (unsigned)n; c++)
        if (CPU_ISSET_S(c, sz, set)) twe__cpumask_set(mask, c);
      CPU_FREE(set);
      return 0;
    }
    int e = errno;
    CPU_FREE(set);
    if (e != EINVAL) return -e;
  }
  return -EINVAL;
}

int twe__cpu_plan_discover(const twe_cpu_plan_options_t *options, twe_cpu_plan_t *plan) {
  static const twe_cpu_plan_options_t no_options;
  const twe_cpu_plan_options_t *o = options ? options : &no_options;
  twe_cpumask_t mask;
  bool have_mask = read_affinity(&mask) == 0 && twe__cpumask_count(&mask) > 0;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  twe_cgroup_t *cg = malloc(sizeof *cg); /* ~16 KiB of paths: not on the stack */
  if (!cg) return -ENOMEM;
  twe__cgroup_discover(o->cgroup_root, cg);
  int r = twe__cpu_plan_make(have_mask ? &mask : NULL, online > 0 ? (unsigned)online : 1, cg, o,
                             plan);
  free(cg);
  return r;
}

/* --- the log line ------------------------------------------------------------------ */

struct out {
  char *buf;
  size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->len < o->size ? o->size - o->len : 0;
  int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
}

static void put_millicpus(struct out *o, int64_t m) {
  put(o, "%lld.%02lld", (long long)(m / 1000), (long long)(m % 1000 / 10));
}

/* Writes CPU ids as ranges: 0-3,8,10-11. */
static void put_cpus(struct out *o, const twe_cpumask_t *m, unsigned first_n) {
  unsigned done = 0;
  bool any = false;
  for (unsigned c = 0; c < TWE_CPUMASK_MAX && done < first_n; c++) {
    if (!twe__cpumask_has(m, c)) continue;
    unsigned e = c;
    while (e + 1 < TWE_CPUMASK_MAX && twe__cpumask_has(m, e + 1) && done + (e - c) + 1 < first_n)
      e++;
    put(o, any ? ",%u" : "%u", c);
    if (e > c) put(o, "-%u", e);
    done += e - c + 1;
    any = true;
    c = e;
  }
}

int twe__cpu_plan_format(const twe_cpu_plan_t *plan, char *buf, size_t size) {
  struct out o = {buf, size, 0};
  if (size) buf[0] = '\0';
  const twe_cgroup_t *cg = &plan->cgroup;
  put(&o, "cpu plan: %u CPU%s from ", plan->cpus, plan->cpus == 1 ? "" : "s");
  switch (plan->source) {
  case TWE_CPU_FROM_AFFINITY:
    put(&o, "the affinity mask (");
    put_cpus(&o, &plan->affinity, TWE_CPUMASK_MAX);
    if (plan->quota_millicpus >= 0) {
      put(&o, "; cgroup v%d quota ", cg->cpu_version);
      put_millicpus(&o, plan->quota_millicpus);
      put(&o, " CPUs does not bind)");
    } else {
      put(&o, "; no cgroup CPU quota)");
    }
    break;
  case TWE_CPU_FROM_CGROUP:
    put(&o, "the cgroup v%d CPU quota (", cg->cpu_version);
    put_millicpus(&o, plan->quota_millicpus);
    put(&o, " CPUs: %lld/%lld us in %s; affinity mask %u CPUs)", (long long)cg->cpu_quota_us,
        (long long)cg->cpu_period_us, cg->cpu_limit_dir, plan->affinity_cpus);
    break;
  case TWE_CPU_FROM_OPTION:
    put(&o, "the worker options (discovered: %u)", plan->discovered_cpus);
    break;
  case TWE_CPU_FROM_ENV:
    put(&o, "TWE_CPUS (discovered: %u)", plan->discovered_cpus);
    break;
  case TWE_CPU_FROM_ONLINE:
    put(&o, "the online CPUs (affinity mask unreadable");
    if (plan->quota_millicpus >= 0) {
      put(&o, "; cgroup quota ");
      put_millicpus(&o, plan->quota_millicpus);
      put(&o, " CPUs");
    }
    put(&o, ")");
    break;
  }
  put(&o, "; %u workflow shard thread%s", plan->shard_threads, plan->shard_threads == 1 ? "" : "s");
  if (plan->shards_pinned) {
    twe_cpumask_t pinned = {{0}};
    for (unsigned i = 0; i < plan->shard_threads && i < plan->affinity_cpus; i++)
      twe__cpumask_set(&pinned, (unsigned)twe__cpu_plan_shard_cpu(plan, i));
    put(&o, " pinned to CPU%s ", twe__cpumask_count(&pinned) == 1 ? "" : "s");
    put_cpus(&o, &pinned, TWE_CPUMASK_MAX);
  } else {
    put(&o, " (not pinned)");
  }
  put(&o, ", %u activity thread%s; memory limit ", plan->activity_threads,
      plan->activity_threads == 1 ? "" : "s");
  if (plan->memory_limit >= 0)
    put(&o, "%.1f MiB (cgroup v%d)", (double)plan->memory_limit / (1024.0 * 1024.0),
        cg->memory_version);
  else
    put(&o, "none");
  if (cg->cpu_err || cg->memory_err) {
    put(&o, "; cgroup read errors:");
    if (cg->cpu_err) put(&o, " cpu %s", twe_err_name(cg->cpu_err));
    if (cg->memory_err) put(&o, " memory %s", twe_err_name(cg->memory_err));
  }
  return (int)o.len;
}
