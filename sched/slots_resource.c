/* sched/slots_resource.c — the resource-based slot supplier of
 * sched/slots_resource.h: the grant rule (try_reserve) and the sampler
 * thread that reads the counters. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/slots_resource.h"

/* Raw counters at one moment; -1 where unread. */
struct snap {
  int64_t t_ns;
  int64_t usage_ns, nr_periods, nr_throttled; /* the cgroup's cpu.stat */
  int64_t psi_us;
  int64_t host_busy, host_total; /* /proc/stat ticks */
};

#define RING 64
#define MEMORY_EVERY_NS (250ll * 1000000ll)

struct twe_resource {
  twe_slots_t *slots;
  twe_resource_options_t o;
  twe_cgroup_t cg;
  char throttle_dir[PATH_MAX]; /* o.throttle_dir, or "" */
  double quota_cpus; /* 0: no quota */
  /* The usage the cgroup reports is the quota's cgroup's own (v2: the
   * process's cgroup holds the quota; v1: cpu and cpuacct mounted together
   * at the same place). Otherwise (a quota on an ancestor, cpuacct mounted
   * apart, where the process's cpuacct group may be the root's) the
   * process's own CPU time stands for it. */
  bool cgroup_usage;
  /* Slots granted per kind, and the most at once. Relaxed: counts; the
   * handshake with watchers is sched/slots.c's. */
  _Atomic int64_t used[TWE_SLOT_KINDS];
  _Atomic int64_t peak[TWE_SLOT_KINDS];
  _Atomic int64_t refused[TWE_SLOT_KINDS];
  /* Beyond min: when the last slot above the high-water mark was granted
   * (CLOCK_MONOTONIC ns), and that mark: the most in use since the CPU or
   * memory was last over its target. Slots up to it are granted again
   * without the ramp (their load was measured already); a sample over a
   * target brings it down to what is in use. */
  _Atomic int64_t last_grant_ns[TWE_SLOT_KINDS];
  _Atomic int64_t high[TWE_SLOT_KINDS];
  /* Set when a slot above min of an elastic kind is asked for; the
   * sampler takes it each tick and ticks fast for a window after. */
  _Atomic int wanted;
  /* The latest sample's verdict, read by try_reserve: 1 under both
   * targets, 0 not (or no sample yet). */
  _Atomic int headroom;
  pthread_mutex_t mu; /* sample */
  twe_resource_sample_t sample;
  /* The sampler thread's (unshared). */
  struct snap ring[RING];
  unsigned ring_n, ring_head;
  double memory; /* the last memory share read, and when */
  int64_t memory_at_ns;
  int64_t wanted_at_ns; /* when the sampler last took `wanted` set */
  twe_counter_files_t *files;
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t stop_mu;
  pthread_cond_t stop_cv;
  bool stop;
};

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void raise_peak(_Atomic int64_t *peak, int64_t v) {
  int64_t cur = atomic_load_explicit(peak, memory_order_relaxed);
  while (v > cur &&
         !atomic_compare_exchange_weak_explicit(peak, &cur, v, memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

/* --- the grant rule ----------------------------------------------------------- */

static int res_try_reserve(void *ctx, twe_slot_kind_t kind) {
  twe_resource_t *r = ctx;
  const twe_resource_options_t *o = &r->o;
  int64_t n = atomic_load_explicit(&r->used[kind], memory_order_relaxed);
  for (;;) {
    if (n >= o->max[kind]) return -EAGAIN;
    bool above_min = o->elastic[kind] && n >= o->min[kind];
    if (above_min && !atomic_load_explicit(&r->wanted, memory_order_relaxed))
      atomic_store_explicit(&r->wanted, 1, memory_order_relaxed);
    if (above_min && !atomic_load_explicit(&r->headroom, memory_order_relaxed)) {
      atomic_fetch_add_explicit(&r->refused[kind], 1, memory_order_relaxed);
      return -EAGAIN;
    }
    if (atomic_compare_exchange_weak_explicit(&r->used[kind], &n, n + 1, memory_order_relaxed,
                                              memory_order_relaxed))
      break;
  }
  if (n >= r->o.min[kind] && o->elastic[kind] &&
      n >= atomic_load_explicit(&r->high[kind], memory_order_relaxed)) {
    /* One grant above the mark per ramp: the samples have not seen what
     * the last one brought yet. */
    int64_t now = mono_ns(), last = atomic_load_explicit(&r->last_grant_ns[kind],
                                                          memory_order_relaxed);
    if (now - last < o->ramp_ns ||
        !atomic_compare_exchange_strong_explicit(&r->last_grant_ns[kind], &last, now,
                                                 memory_order_relaxed, memory_order_relaxed)) {
      atomic_fetch_sub_explicit(&r->used[kind], 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&r->refused[kind], 1, memory_order_relaxed);
      return -EAGAIN;
    }
  }
  raise_peak(&r->peak[kind], n + 1);
  raise_peak(&r->high[kind], n + 1);
  return 0;
}

static void res_release(void *ctx, twe_slot_kind_t kind, twe_slot_release_reason_t reason) {
  (void)reason;
  twe_resource_t *r = ctx;
  atomic_fetch_sub_explicit(&r->used[kind], 1, memory_order_relaxed);
}

static int64_t res_available(void *ctx, twe_slot_kind_t kind) {
  twe_resource_t *r = ctx;
  int64_t n = atomic_load_explicit(&r->used[kind], memory_order_relaxed);
  int64_t cap = r->o.max[kind];
  if (r->o.elastic[kind] && !atomic_load_explicit(&r->headroom, memory_order_relaxed))
    cap = r->o.min[kind];
  return cap > n ? cap - n : 0;
}

/* --- samples ------------------------------------------------------------------- */

void twe__resource_feed(twe_resource_t *r, const twe_resource_sample_t *s) {
  pthread_mutex_lock(&r->mu);
  r->sample = *s;
  pthread_mutex_unlock(&r->mu);
  bool room = s->at_ns > 0 && s->cpu < r->o.cpu_target && s->memory < r->o.memory_target;
  atomic_store_explicit(&r->headroom, room ? 1 : 0, memory_order_relaxed);
  if (!room)
    for (int k = 0; k < TWE_SLOT_KINDS; k++)
      atomic_store_explicit(&r->high[k], atomic_load_explicit(&r->used[k], memory_order_relaxed),
                            memory_order_relaxed);
  if (!room || !r->slots) return;
  for (int k = 0; k < TWE_SLOT_KINDS; k++)
    if (r->o.elastic[k]) twe__slots_notify(r->slots, (twe_slot_kind_t)k);
}

void twe__resource_last(twe_resource_t *r, twe_resource_sample_t *out) {
  pthread_mutex_lock(&r->mu);
  *out = r->sample;
  pthread_mutex_unlock(&r->mu);
}

int64_t twe__resource_peak(const twe_resource_t *r, twe_slot_kind_t kind) {
  return atomic_load_explicit(&r->peak[kind], memory_order_relaxed);
}

int64_t twe__resource_refused(const twe_resource_t *r, twe_slot_kind_t kind) {
  return atomic_load_explicit(&r->refused[kind], memory_order_relaxed);
}

static void read_snap(twe_resource_t *r, struct snap *s) {
  s->t_ns = mono_ns();
  /* cpu.stat serves a quota only (compute): without one it is not read. */
  twe_cpu_stat_t cs = {.usage_ns = -1, .nr_periods = -1, .nr_throttled = -1};
  if (r->quota_cpus > 0 && twe__cgroup_cpu_stat(&r->cg, r->files, r->throttle_dir, &cs) != 0)
    cs.usage_ns = cs.nr_periods = cs.nr_throttled = -1;
  s->usage_ns = cs.usage_ns;
  if (r->quota_cpus > 0 && !r->cgroup_usage) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    s->usage_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  s->nr_periods = cs.nr_periods;
  s->nr_throttled = cs.nr_throttled;
  if (twe__cgroup_cpu_pressure_us(&r->cg, r->files, r->o.root, &s->psi_us) != 0) s->psi_us = -1;
  s->host_busy = s->host_total = -1;
  if (r->quota_cpus <= 0 || s->usage_ns < 0)
    if (twe__host_cpu_ticks(r->files, r->o.root, &s->host_busy, &s->host_total) != 0)
      s->host_busy = s->host_total = -1;
}

static double share(int64_t part, int64_t whole) {
  return whole > 0 && part >= 0 ? (double)part / (double)whole : -1;
}

/* The sample from the oldest snapshot within the window to the newest. */
static void compute(twe_resource_t *r, const struct snap *a, const struct snap *b,
                    twe_resource_sample_t *out) {
  int64_t dt = b->t_ns - a->t_ns;
  out->at_ns = b->t_ns;
  out->cpu_usage = out->throttled = out->pressure = -1;
  if (r->quota_cpus > 0 && a->usage_ns >= 0 && b->usage_ns >= 0 && dt > 0)
    out->cpu_usage = (double)(b->usage_ns - a->usage_ns) / ((double)dt * r->quota_cpus);
  else if (a->host_total >= 0 && b->host_total >= 0)
    out->cpu_usage = share(b->host_busy - a->host_busy, b->host_total - a->host_total);
  if (r->quota_cpus > 0 && a->nr_periods >= 0 && b->nr_periods >= 0)
    out->throttled = share(b->nr_throttled - a->nr_throttled, b->nr_periods - a->nr_periods);
  if (a->psi_us >= 0 && b->psi_us >= 0 && dt > 0)
    out->pressure = (double)(b->psi_us - a->psi_us) * 1000.0 / (double)dt;
  out->cpu = out->cpu_usage;
  if (out->throttled > out->cpu) out->cpu = out->throttled;
  if (out->pressure > out->cpu) out->cpu = out->pressure;
  if (out->cpu < 0) out->cpu = 0; /* nothing readable: CPU never refuses */
  /* Memory moves slowly and costs two reads: every MEMORY_EVERY_NS. */
  if (!r->memory_at_ns || b->t_ns - r->memory_at_ns >= MEMORY_EVERY_NS) {
    int64_t used, total, avail;
    r->memory = 0;
    if (r->cg.memory_limit > 0 && twe__cgroup_memory_used(&r->cg, r->files, &used) == 0)
      r->memory = (double)used / (double)r->cg.memory_limit;
    else if (twe__host_memory(r->files, r->o.root, &total, &avail) == 0)
      r->memory = 1.0 - (double)avail / (double)total;
    r->memory_at_ns = b->t_ns;
  }
  out->memory = r->memory;
}

/* tick_ns while the samples matter (a slot above min asked for in the last
 * window, or slots above min in use), else idle_tick_ns. */
static int64_t next_tick_ns(twe_resource_t *r, int64_t now) {
  if (atomic_exchange_explicit(&r->wanted, 0, memory_order_relaxed)) r->wanted_at_ns = now;
  if (r->wanted_at_ns && now - r->wanted_at_ns < r->o.window_ns) return r->o.tick_ns;
  for (int k = 0; k < TWE_SLOT_KINDS; k++)
    if (r->o.elastic[k] && atomic_load_explicit(&r->used[k], memory_order_relaxed) > r->o.min[k])
      return r->o.tick_ns;
  return r->o.idle_tick_ns;
}

static void *sampler_main(void *arg) {
  twe_resource_t *r = arg;
  pthread_setname_np(pthread_self(), "twe-slots");
  pthread_mutex_lock(&r->stop_mu);
  while (!r->stop) {
    pthread_mutex_unlock(&r->stop_mu);
    struct snap *s = &r->ring[r->ring_head];
    read_snap(r, s);
    r->ring_head = (r->ring_head + 1) % RING;
    if (r->ring_n < RING) r->ring_n++;
    /* The oldest snapshot still within the window (or the oldest kept). */
    const struct snap *old = NULL;
    for (unsigned k = r->ring_n; k >= 2 && !old; k--) {
      const struct snap *c = &r->ring[(r->ring_head + RING - k) % RING];
      if (s->t_ns - c->t_ns <= r->o.window_ns) old = c;
    }
    if (old && old != s) {
      twe_resource_sample_t sample;
      compute(r, old, s, &sample);
      twe__resource_feed(r, &sample);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + next_tick_ns(r, s->t_ns);
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&r->stop_mu);
    while (!r->stop && pthread_cond_timedwait(&r->stop_cv, &r->stop_mu, &until) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&r->stop_mu);
  return NULL;
}

/* --- life ------------------------------------------------------------------------ */

static void res_destroy(void *ctx) {
  twe_resource_t *r = ctx;
  if (r->thread_started) {
    pthread_mutex_lock(&r->stop_mu);
    r->stop = true;
    pthread_cond_signal(&r->stop_cv);
    pthread_mutex_unlock(&r->stop_mu);
    pthread_join(r->thread, NULL);
  }
  twe__counter_files_destroy(r->files);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->stop_mu);
  pthread_cond_destroy(&r->stop_cv);
  free(r);
}

static const twe_slot_supplier_ops_t RESOURCE_OPS = {
  .try_reserve = res_try_reserve,
  .release = res_release,
  .available = res_available,
  .destroy = res_destroy,
};

int twe__slots_create_resource(const twe_resource_options_t *o, twe_slots_t **out,
                               twe_resource_t **res) {
  if (!o || !out || !res) return -EINVAL;
  for (int k = 0; k < TWE_SLOT_KINDS; k++)
    if (o->min[k] < 0 || o->max[k] < o->min[k]) return -EINVAL;
  if (o->cpu_target < 0 || o->cpu_target > 1 || o->memory_target < 0 || o->memory_target > 1)
    return -EINVAL;
  twe_resource_t *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->o = *o;
  if (!r->o.cpu_target) r->o.cpu_target = TWE_RESOURCE_CPU_TARGET;
  if (!r->o.memory_target) r->o.memory_target = TWE_RESOURCE_MEMORY_TARGET;
  if (!r->o.ramp_ns) r->o.ramp_ns = TWE_RESOURCE_RAMP_NS;
  if (!r->o.tick_ns) r->o.tick_ns = TWE_RESOURCE_TICK_NS;
  if (!r->o.window_ns) r->o.window_ns = TWE_RESOURCE_WINDOW_NS;
  if (r->o.idle_tick_ns < r->o.tick_ns)
    r->o.idle_tick_ns = r->o.idle_tick_ns ? r->o.tick_ns : 10 * r->o.tick_ns;
  if (o->cgroup)
    r->cg = *o->cgroup;
  else
    twe__cgroup_discover(o->root, &r->cg);
  r->o.cgroup = NULL;
  if (o->throttle_dir) snprintf(r->throttle_dir, sizeof r->throttle_dir, "%s", o->throttle_dir);
  r->o.throttle_dir = NULL;
  if (r->cg.cpu_quota_us > 0 && r->cg.cpu_period_us > 0)
    r->quota_cpus = (double)r->cg.cpu_quota_us / (double)r->cg.cpu_period_us;
  r->cgroup_usage = r->cg.cpu_version == 2
                        ? strcmp(r->cg.cpu_dir, r->cg.cpu_limit_dir) == 0
                        : r->cg.cpuacct_dir[0] && strcmp(r->cg.cpuacct_dir, r->cg.cpu_limit_dir) == 0;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->stop_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_cond_init(&r->stop_cv, &ca);
  pthread_condattr_destroy(&ca);
  int rc = twe__slots_create(&RESOURCE_OPS, r, out); /* destroys r on failure */
  if (rc < 0) return rc;
  r->slots = *out;
  if (r->o.tick_ns > 0) {
    /* Without the cache the sampler reads as before (open, read, close). */
    if (twe__counter_files_create(&r->files) < 0) r->files = NULL;
    int e = pthread_create(&r->thread, NULL, sampler_main, r);
    if (e) {
      twe__slots_destroy(*out);
      *out = NULL;
      return -e;
    }
    r->thread_started = true;
  }
  *res = r;
  return 0;
}
