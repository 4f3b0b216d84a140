/* engine/worker.c — twe_worker_*: the worker's life cycle. Plans the CPUs,
 * starts one shard thread per workflow core (each with its reactor, its own
 * connection, fiber stacks, activity pool, workflow and activity pollers),
 * and stops them gracefully: polls end, tasks in flight are answered,
 * activities get their grace period, sticky queues are handed back.
 *
 * The shard thread's loop is sched/shard.c's, sleeping in the shard's
 * reactor (io_uring or epoll): network completions, timers, pool results
 * and the stop request all wake the same wait.
 *
 * A stop always ends: twe_worker_wait gives up on a shard whose thread is
 * still in workflow code at the stop deadline, says which run and where,
 * and leaves it behind (with everything it may touch). */
#define _GNU_SOURCE /* getrandom (sys/random.h) and strdup under -std=c11 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include "engine/activity_internal.h"
#include "engine/metrics.h"
#include "engine/log.h"
#include "engine/metrics_http.h"
#include "sched/cgroup.h"
#include "engine/worker_internal.h"
#include "sched/cpu_plan.h"
#include "sched/slots_resource.h"
#include "twe/error.h"

int64_t twe__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int64_t twe__wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- the shard's loop is its reactor ------------------------------------ */

static int reactor_loop_run_once(void *ctx, int64_t timeout_ns) {
  return twe__reactor_run_once(ctx, timeout_ns);
}
static void reactor_loop_wake(void *ctx) { twe__reactor_wake(ctx); }
static const twe_shard_loop_ops_t reactor_loop_ops = {reactor_loop_run_once, reactor_loop_wake};

/* --- options and registration ------------------------------------------- */

void twe_worker_options_init(twe_worker_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_cached_workflows = TWE_CACHE_DEFAULT;
}

int twe_worker_create(twe_client_t *client, const twe_worker_options_t *opts,
                      twe_worker_t **out) {
  if (!opts || !opts->task_queue || !*opts->task_queue) return -EINVAL;
  twe_worker_t *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  w->client = client;
  w->opts = *opts;
  if (w->opts.max_cached_workflows == TWE_CACHE_DEFAULT) w->opts.max_cached_workflows = 10000;
  const char *mb = getenv("TWE_MAX_CACHED_BYTES");
  if (mb && *mb) w->opts.max_cached_bytes = (size_t)strtoull(mb, NULL, 10);
  const char *stow = getenv("TWE_CACHE_STOW_AFTER_MS");
  if (stow && *stow) {
    long ms = strtol(stow, NULL, 10);
    w->stow_after_ns = ms < 0 ? -1 : (int64_t)ms * 1000000;
  } else {
    long ms = w->opts.cache_stow_after_ms;
    w->stow_after_ns = ms < 0 ? -1 : ms == 0 ? 1000000000 : (int64_t)ms * 1000000;
  }
  const char *maddr = opts->metrics_address ? opts->metrics_address : getenv("TWE_METRICS_ADDRESS");
  if (maddr && *maddr && !(w->metrics_address = strdup(maddr))) {
    free(w);
    return -ENOMEM;
  }
  w->opts.metrics_address = w->metrics_address;
  const char *level = getenv("TWE_WORKFLOW_LOG_LEVEL");
  if (level) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
      if (strcasecmp(level, names[i]) == 0) w->opts.workflow_log_level = (twe_log_level_t)i;
  }
  const char *identity = opts->identity                  ? opts->identity
                         : client                        ? twe__client_identity(client)
                                                         : "twe-replayer";
  w->task_queue = strdup(opts->task_queue);
  w->identity = strdup(identity);
  w->namespace_name = client ? twe_client_namespace(client) : "default";
  w->opts.task_queue = w->task_queue;
  w->opts.identity = w->identity;
  twe__registry_init(&w->registry);
  twe__log_init(w);
  if (!w->task_queue || !w->identity) {
    twe_worker_destroy(w);
    return -ENOMEM;
  }
  *out = w;
  return 0;
}

int twe_worker_register_workflow(twe_worker_t *w, const char *name, twe_workflow_fn fn,
                                 void *user) {
  if (atomic_load(&w->started)) return -EBUSY;
  return twe__registry_add_workflow(&w->registry, name, fn, user);
}

int twe_worker_register_activity(twe_worker_t *w, const char *name, twe_activity_fn fn,
                                 void *user) {
  if (atomic_load(&w->started)) return -EBUSY;
  return twe__registry_add_activity(&w->registry, name, fn, user);
}

/* --- one shard ----------------------------------------------------------- */

/* Runs every round of the shard's loop: notices the stop request, lets the
 * activity side issue polls and heartbeats, and ends the loop once a
 * stopping shard has nothing in flight. */
static size_t shard_round(void *arg, size_t budget) {
  twe_wshard_t *s = arg;
  /* Acquire: pairs with the release in twe_worker_stop (nothing else is
   * published with the flag; this is for form). */
  if (!s->draining && atomic_load_explicit(&s->worker->stop_requested, memory_order_acquire)) {
    s->draining = true;
    twe__wf_side_begin_stop(s);
    if (s->act) twe__act_side_begin_stop(s);
  }
  size_t n = s->act ? twe__act_side_poll(s, budget) : 0;
  /* Workflow code runs here, at the top of a round (see
   * twe__wf_side_run). */
  n += twe__wf_side_run(s, budget);
  if (s->draining) {
    /* Both every round: the workflow side hands its sticky queue back as
     * soon as its own tasks are answered, not after the activities' grace
     * period. */
    bool wf_idle = twe__wf_side_idle(s);
    bool act_idle = !s->act || twe__act_side_idle(s);
    if (wf_idle && act_idle) twe__shard_stop(s->thread);
  }
  return n;
}

static void shard_fail(twe_wshard_t *s, const char *what, int rc, const char *detail) {
  twe__log(s->worker, TWE_LOG_ERROR, (int)s->index, NULL, NULL, NULL,
           "%s: %s%s%s; the worker stops", what, twe_strerror(rc),
           detail && *detail ? ": " : "", detail ? detail : "");
  /* A shard that cannot work stops the worker: half a worker would look
   * healthy while dropping its share of the task queue. */
  twe_worker_stop(s->worker);
  twe__shard_stop(s->thread);
}

static void shard_on_start(twe_shard_t *shard, void *arg) {
  twe_wshard_t *s = arg;
  twe_worker_t *w = s->worker;
  char err[256] = "";
  s->watch = twe__watch_attach(w->watchdog, s->index);
  atomic_store_explicit(&s->alive_ns, twe__mono_ns(), memory_order_relaxed);
  int rc = twe__reactor_create(&s->reactor, NULL);
  if (rc < 0) return shard_fail(s, "reactor", rc, NULL);
  twe__shard_set_loop(shard, &reactor_loop_ops, s->reactor);
  rc = twe__grpc_channel_create(s->reactor, twe__client_options(w->client), &s->channel, err,
                                sizeof err);
  if (rc < 0) return shard_fail(s, "connection", rc, err);
  twe__health_attach(s);
  rc = twe__fiber_pool_create(w->opts.fiber_stack_size, &s->fibers);
  if (rc < 0) return shard_fail(s, "fiber stacks", rc, NULL);
  /* The pool keeps its share of the worker's floor and may grow to every
   * slot the worker has: the slots decide how many run. */
  twe_pool_options_t po = {.threads = w->act_slots_max, .min_threads = s->pool_threads,
                           .id = s->index};
  switch (w->opts.activity_priority) {
  case TWE_ACTIVITY_PRIORITY_NICE: po.priority = TWE_POOL_PRIORITY_NICE; break;
  case TWE_ACTIVITY_PRIORITY_NORMAL: po.priority = TWE_POOL_PRIORITY_NORMAL; break;
  default: po.priority = TWE_POOL_PRIORITY_IDLE; break;
  }
  po.nice = w->opts.activity_nice;
  po.cpu_group = w->act_group;
  /* Set explicitly: a pool created here would inherit this shard thread's
   * pinning. At SCHED_IDLE activity threads may use every CPU of the
   * process, the shard's too, since they run only when it does not;
   * otherwise they keep to the CPUs the plan leaves them. */
  const twe_cpumask_t *cpus =
      po.priority == TWE_POOL_PRIORITY_IDLE ? &w->cpus : &w->activity_cpus;
  if (twe__cpumask_count(cpus) > 0) po.cpus = cpus;
  rc = twe__pool_create(&po, twe__shard_waiter(shard), &s->pool);
  if (rc < 0) return shard_fail(s, "activity pool", rc, NULL);
  s->slot_watcher = twe__slots_add_watcher(w->slots, twe__shard_waiter(shard));
  if (s->slot_watcher < 0) return shard_fail(s, "activity slots", s->slot_watcher, NULL);
  if ((rc = twe__shard_add_poller(shard, twe__pool_poll, s->pool)) < 0 ||
      (rc = twe__shard_add_poller(shard, shard_round, s)) < 0)
    return shard_fail(s, "pollers", rc, NULL);
  if ((rc = twe__wf_side_start(s)) < 0) return shard_fail(s, "workflow pollers", rc, NULL);
  if ((rc = twe__act_side_start(s)) < 0) return shard_fail(s, "activity pollers", rc, NULL);
}

static void shard_on_stop(twe_shard_t *shard, void *arg) {
  (void)shard;
  twe_wshard_t *s = arg;
  /* Normally everything is idle by now; after a failed start or a forced
   * stop, this order lets every callback find what it needs: pool results
   * may start calls, the channel's close completes calls, and only then do
   * the sides that own the calls go away. */
  twe__health_detach(s);
  if (s->pool) twe__pool_stop(s->pool, 0, 0);
  if (s->channel) twe__grpc_channel_destroy(s->channel);
  s->channel = NULL;
  twe__local_shard_destroy(s);
  if (s->act) twe__act_side_destroy(s);
  twe__wf_side_destroy(s);
  if (s->pool) {
    unsigned abandoned = twe__pool_destroy(s->pool);
    if (abandoned)
      twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
               "%u activity thread(s) still in user code were abandoned", abandoned);
    s->pool = NULL;
  }
  if (s->fibers && !s->fibers_pinned) twe__fiber_pool_destroy(s->fibers);
  s->fibers = NULL;
  twe__watch_detach(s->watch);
  s->watch = NULL;
  /* The reactor stays: it is the loop the shard's waiter wakes, and
   * twe_worker_stop (any thread, a signal handler) may still be inside that
   * wake-up. twe_worker_destroy frees it after the join. */
  atomic_fetch_add_explicit(&s->worker->shards_done, 1, memory_order_release);
}

/* --- the watchdog's hooks ------------------------------------------------- */

/* On the replacement thread of a shard whose thread was retired: watch
 * this thread instead, and fail the task the old one was stuck in. */
static void shard_on_takeover(twe_shard_t *shard, void *arg) {
  (void)shard;
  twe_wshard_t *s = arg;
  s->watch = twe__watch_attach(s->worker->watchdog, s->index);
  twe__wf_side_takeover(s, s->retiring);
  s->retiring = NULL;
}

/* On the watchdog thread. */
static int replace_shard_thread(void *arg, twe__watched_t *rec) {
  twe_worker_t *w = arg;
  if (rec->shard >= w->shard_count) return -EINVAL;
  twe_wshard_t *s = &w->shards[rec->shard];
  s->retiring = rec; /* published to the new thread by its creation */
  pthread_t old;
  return twe__shard_replace_thread(s->thread, shard_on_takeover, s, &old);
}

/* On the watchdog thread: a shard is stuck for good (no thread can be
 * given to it). A worker that cannot serve its task queue stops and says
 * so, rather than look alive while it hangs. */
static void shard_lost(void *arg, twe__watched_t *rec) {
  twe_worker_t *w = arg;
  twe__log(w, TWE_LOG_ERROR, (int)rec->shard, NULL, NULL, NULL,
           "the shard is lost (%s); the worker stops (restart the process: twe_worker_wait "
           "returns TWE_ESTUCK)", rec->message);
  atomic_store_explicit(&w->shard_lost, 1, memory_order_relaxed);
  twe_worker_stop(w);
}

/* On the watchdog thread: a retired thread exited; its shard may free
 * what it left (twe__wf_side_run checks every round it is woken). */
static void retired_thread_gone(void *arg, twe__watched_t *rec) {
  twe_worker_t *w = arg;
  if (rec->shard < w->shard_count && w->shards[rec->shard].thread)
    twe__waiter_notify(twe__shard_waiter(w->shards[rec->shard].thread));
}

/* On the watchdog thread: its warnings and retirements, in the worker's
 * log. */
static void watchdog_log(void *arg, int level, unsigned shard, const char *type,
                         const char *run, const char *message) {
  twe_log_record_t r = {(twe_log_level_t)level, (int)shard, type && *type ? type : NULL, NULL,
                        run && *run ? run : NULL, message};
  /* Each line is about its own task: none is held back. */
  twe__log_record(arg, &r);
}

static int64_t budget_or(int64_t v, int64_t dflt) {
  return v == 0 ? dflt : v < 0 ? 0 : v;
}

static int watchdog_start(twe_worker_t *w) {
  const twe_worker_options_t *o = &w->opts;
  twe__watchdog_options_t wo = {
      .cpu_warning_ns = budget_or(o->workflow_cpu_warning_ns, 1000000000ll),
      .cpu_budget_ns = budget_or(o->workflow_cpu_budget_ns, 5000000000ll),
      .blocked_warning_ns = budget_or(o->workflow_blocked_warning_ns, 100000000ll),
      .blocked_budget_ns = budget_or(o->workflow_blocked_budget_ns, 1000000000ll),
      .max_retired = o->max_retired_threads ? o->max_retired_threads : 4,
      .hard_max_retired = o->retired_threads_hard_cap ? o->retired_threads_hard_cap : 64,
      .slice_ns = budget_or(o->workflow_time_slice_ns, 10000000ll),
  };
  if (wo.hard_max_retired < wo.max_retired) wo.hard_max_retired = wo.max_retired;
  /* A default warning at or above a budget set lower would never fire:
   * warn at half the budget instead. */
  if (o->workflow_cpu_warning_ns == 0 && wo.cpu_budget_ns > 0 &&
      wo.cpu_warning_ns >= wo.cpu_budget_ns)
    wo.cpu_warning_ns = wo.cpu_budget_ns / 2;
  if (o->workflow_blocked_warning_ns == 0 && wo.blocked_budget_ns > 0 &&
      wo.blocked_warning_ns >= wo.blocked_budget_ns)
    wo.blocked_warning_ns = wo.blocked_budget_ns / 2;
  if (!wo.cpu_warning_ns && !wo.cpu_budget_ns && !wo.blocked_warning_ns && !wo.blocked_budget_ns)
    return 0; /* all off: no thread */
  twe__watchdog_hooks_t hooks = {replace_shard_thread, retired_thread_gone, shard_lost,
                                 watchdog_log, w};
  int rc = twe__offenders_create(NULL, &w->offenders);
  if (rc == 0) rc = twe__watchdog_create(&wo, &hooks, &w->watchdog);
  if (rc < 0) {
    twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL, "watchdog: %s", twe_strerror(rc));
    twe__offenders_destroy(w->offenders);
    w->offenders = NULL;
    return rc;
  }
  w->cpu_budget_ns = wo.cpu_budget_ns;
  char slice[48] = "no time slices", fig[4][16];
  if (wo.slice_ns > 0)
    snprintf(slice, sizeof slice, "time slice %.0f ms", (double)wo.slice_ns / 1e6);
  const int64_t figs[4] = {wo.cpu_budget_ns, wo.cpu_warning_ns, wo.blocked_budget_ns,
                           wo.blocked_warning_ns};
  for (int i = 0; i < 4; i++) {
    if (figs[i] > 0) snprintf(fig[i], sizeof fig[i], "%.2f s", (double)figs[i] / 1e9);
    else snprintf(fig[i], sizeof fig[i], "off");
  }
  twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL,
           "watchdog: workflow task budgets: cpu %s (warning %s), blocked %s (warning %s); %s; "
           "retired threads: %u before warnings, at most %u",
          fig[0], fig[1], fig[2], fig[3], slice, wo.max_retired, wo.hard_max_retired);
  return 0;
}

/* --- start, stop --------------------------------------------------------- */

int twe_worker_start(twe_worker_t *w) {
  if (!w->client) return -EINVAL;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&w->started, &expected, 1)) return -EALREADY;
  twe_cpu_plan_options_t po = {.shard_threads = w->opts.shard_threads,
                               .activity_threads = w->opts.activity_threads};
  twe_cpu_plan_t plan;
  int rc = twe__cpu_plan_discover(&po, &plan);
  if (plan.affinity_cpus > 0) {
    w->cpus = plan.affinity;
    w->activity_cpus = plan.activity_cpus;
  }
  if (rc < 0) {
    twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL, "cpu plan: %s", twe_strerror(rc));
    atomic_store(&w->started, 0);
    return rc;
  }
  char line[512];
  twe__cpu_plan_format(&plan, line, sizeof line);
  twe__log_record(w, &(twe_log_record_t){TWE_LOG_INFO, -1, NULL, NULL, NULL, line});
  if ((rc = twe__worker_slots_start(w, &plan)) < 0) {
    atomic_store(&w->started, 0);
    return rc;
  }

  unsigned n = plan.shard_threads ? plan.shard_threads : 1;
  w->shards = calloc(n, sizeof *w->shards);
  /* Every type is registered by now: the metrics' layout is fixed. Without
   * an endpoint nothing is recorded (each shard's block stays NULL, and
   * twe__m_* do nothing). */
  bool ok = w->shards != NULL;
  if (ok && w->metrics_address) {
    ok = (w->metrics_layout = calloc(1, sizeof *w->metrics_layout)) != NULL;
    if (ok) twe__metrics_layout_init(w->metrics_layout, &w->registry);
    for (unsigned i = 0; ok && i < n; i++)
      ok = (w->shards[i].metrics = twe__metrics_new(w->metrics_layout)) != NULL;
  }
  if (!ok) {
    for (unsigned i = 0; w->shards && i < n; i++) free(w->shards[i].metrics);
    free(w->shards);
    free(w->metrics_layout);
    w->shards = NULL;
    w->metrics_layout = NULL;
    atomic_store(&w->started, 0);
    return -ENOMEM;
  }
  w->shard_count = n;
  if ((rc = watchdog_start(w)) < 0) {
    free(w->shards);
    w->shards = NULL;
    w->shard_count = 0;
    atomic_store(&w->started, 0);
    return rc;
  }
  long cache = w->opts.max_cached_workflows;
  uint64_t tag;
  if (getrandom(&tag, sizeof tag, 0) != (ssize_t)sizeof tag) tag = (uint64_t)(uintptr_t)w;
  for (unsigned i = 0; i < n; i++) {
    twe_wshard_t *s = &w->shards[i];
    s->worker = w;
    s->index = i;
    s->cache_capacity = cache < 0 ? 0 : (size_t)((cache + n - 1) / n); /* < 0: TWE_CACHE_OFF */
    s->cache_max_bytes = w->opts.max_cached_bytes ? (w->opts.max_cached_bytes + n - 1) / n : 0;
    s->pool_threads = plan.activity_threads / n ? plan.activity_threads / n : 1;
    /* Alive from the start: /healthz must not fail before the loop's
     * first tick. */
    atomic_store_explicit(&s->alive_ns, twe__mono_ns(), memory_order_relaxed);
    snprintf(s->sticky_queue, sizeof s->sticky_queue, "%s-twe-%u-%016" PRIx64, w->identity, i,
             tag);
  }
  char cache_bytes_note[48] = "";
  if (w->shards[0].cache_max_bytes)
    snprintf(cache_bytes_note, sizeof cache_bytes_note, " or %zu bytes",
             w->shards[0].cache_max_bytes);
  twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL,
           "worker on task queue \"%s\" (namespace %s): %u shard(s), %u activity thread(s) kept "
           "each, cache %zu run(s)%s per shard",
          w->task_queue, w->namespace_name, n, w->shards[0].pool_threads,
          w->shards[0].cache_capacity, cache_bytes_note);
  for (unsigned i = 0; i < n; i++) {
    twe_wshard_t *s = &w->shards[i];
    twe_shard_options_t so = {.index = i,
                              .cpu = twe__cpu_plan_shard_cpu(&plan, i),
                              .on_start = shard_on_start,
                              .on_stop = shard_on_stop,
                              .hook_arg = s};
    rc = twe__shard_create(&so, &s->thread);
    if (rc == 0) rc = twe__shard_start(s->thread);
    if (rc < 0) {
      twe__log(w, TWE_LOG_ERROR, (int)i, NULL, NULL, NULL, "thread: %s", twe_strerror(rc));
      if (s->thread) twe__shard_destroy(s->thread);
      s->thread = NULL;
      /* Shards before this one run; stop and join them. Their structs go
       * in twe_worker_destroy. */
      twe_worker_stop(w);
      twe_worker_wait(w);
      return rc;
    }
  }
  if (w->metrics_address) {
    if ((w->cgroup = malloc(sizeof *w->cgroup))) twe__cgroup_discover(NULL, w->cgroup);
    rc = twe__http_start(w, w->metrics_address, &w->http);
    if (rc < 0) {
      twe__log(w, TWE_LOG_ERROR, -1, NULL, NULL, NULL, "metrics endpoint at %s: %s",
               w->metrics_address, twe_strerror(rc));
      twe_worker_stop(w);
      twe_worker_wait(w);
      return rc;
    }
    twe__log(w, TWE_LOG_INFO, -1, NULL, NULL, NULL,
             "metrics endpoint on port %u (%s): /metrics, /healthz, /readyz",
             twe__http_port(w->http), w->metrics_address);
  }
  /* Its client's starts may hand it their first tasks (eager start). */
  twe__client_add_worker(w->client, w);
  return 0;
}

int twe_worker_metrics_port(twe_worker_t *w) {
  return w->http ? (int)twe__http_port(w->http) : -ENOENT;
}

void twe_worker_stop(twe_worker_t *w) {
  /* The first request starts the stop deadline (clock_gettime and a
   * compare-and-swap: async-signal-safe; relaxed: twe_worker_wait only
   * needs the value). */
  int64_t none = 0;
  atomic_compare_exchange_strong_explicit(&w->stop_requested_ns, &none, twe__mono_ns(),
                                          memory_order_relaxed, memory_order_relaxed);
  /* Release: pairs with the acquire in shard_round. Then wake every shard
   * (an atomic exchange and at most one eventfd write each: both
   * async-signal-safe). shards and shard_count are written before the
   * threads start and never change while they run. */
  atomic_store_explicit(&w->stop_requested, 1, memory_order_release);
  for (unsigned i = 0; i < w->shard_count; i++)
    if (w->shards[i].thread) twe__waiter_notify(twe__shard_waiter(w->shards[i].thread));
}

/* The stop deadline once a stop was requested, else -1. */
static int64_t stop_deadline(const twe_worker_t *w) {
  int64_t at = atomic_load_explicit(&w->stop_requested_ns, memory_order_relaxed);
  if (!at) return -1;
  uint64_t d = w->opts.stop_deadline_ns;
  if (!d) d = (w->opts.graceful_stop_timeout_ns ? w->opts.graceful_stop_timeout_ns
                                                : 10000000000ull) + 5000000000ull;
  return at + (int64_t)d;
}

int twe_worker_wait(twe_worker_t *w) {
  int rc = 0;
  for (unsigned i = 0; i < w->shard_count; i++) {
    twe_wshard_t *s = &w->shards[i];
    if (!s->thread || s->joined) continue;
    if (s->abandoned) {
      rc = TWE_ESTUCK;
      continue;
    }
    for (;;) {
      /* Until a stop is asked for, look again every 100 ms for one. */
      int64_t deadline = stop_deadline(w);
      int64_t until = deadline >= 0 ? deadline : twe__mono_ns() + 100000000ll;
      int r = twe__shard_join_until(s->thread, until);
      if (r == 0) {
        s->joined = true;
        break;
      }
      if (r != -ETIMEDOUT || deadline < 0) {
        if (r != -ETIMEDOUT) {
          twe__log(w, TWE_LOG_ERROR, (int)i, NULL, NULL, NULL, "joining the shard's thread: %s",
                   twe_strerror(r));
          rc = r;
          break;
        }
        continue;
      }
      char what[1024] = "the watchdog is off: nothing is known of the thread";
      if (w->watchdog) twe__watchdog_describe_shard(w->watchdog, i, what, sizeof what);
      twe__log(w, TWE_LOG_ERROR, (int)i, NULL, NULL, NULL,
               "the stop deadline (%.1f s) passed and the shard has not stopped: %s; it is "
               "left behind",
               (double)(deadline - atomic_load_explicit(&w->stop_requested_ns,
                                                        memory_order_relaxed)) / 1e9,
               what);
      s->abandoned = true;
      rc = TWE_ESTUCK;
      break;
    }
  }
  if (rc == 0 && atomic_load_explicit(&w->shard_lost, memory_order_relaxed)) rc = TWE_ESTUCK;
  return rc;
}

int twe_worker_run(twe_worker_t *w) {
  int rc = twe_worker_start(w);
  if (rc < 0) return rc;
  return twe_worker_wait(w);
}

void twe_worker_destroy(twe_worker_t *w) {
  if (!w) return;
  /* First: a start on the client may be handing this worker a task (it
   * holds the client's list until the task is in a shard's inbox). */
  if (w->client) twe__client_remove_worker(w->client, w);
  /* Then the endpoint: it reads the shards. */
  twe__http_stop(w->http);
  w->http = NULL;
  if (atomic_load(&w->started)) {
    twe_worker_stop(w);
    twe_worker_wait(w);
  }
  /* A shard left behind at the stop deadline may still run on everything
   * below (its reactor, cache, fibers, the registry, the watchdog's record
   * of it): all of it stays. */
  for (unsigned i = 0; i < w->shard_count; i++)
    if (w->shards[i].abandoned) {
      twe__log(w, TWE_LOG_WARN, (int)i, NULL, NULL, NULL,
               "the shard was left behind at stop; the worker's memory is not freed");
      return;
    }
  /* Joined threads: their shard structs and reactors are ours now. */
  for (unsigned i = 0; i < w->shard_count; i++) {
    twe_wshard_t *s = &w->shards[i];
    twe__wf_eager_drain(s); /* tasks a start handed over after the shard's stop */
    if (s->thread) twe__shard_destroy(s->thread);
    if (s->reactor) twe__reactor_destroy(s->reactor);
  }
  /* After the shard threads: they detached from it as they ended. */
  twe__watchdog_destroy(w->watchdog);
  twe__offenders_destroy(w->offenders);
  twe__worker_slots_destroy(w);
  for (unsigned i = 0; i < w->shard_count; i++) free(w->shards[i].metrics);
  free(w->metrics_layout);
  free(w->metrics_address);
  free(w->cgroup);
  twe__log_destroy(w);
  free(w->shards);
  twe__registry_destroy(&w->registry);
  free(w->task_queue);
  free(w->identity);
  free(w);
}

void twe_worker_stats(twe_worker_t *w, twe_worker_stats_t *out) {
  memset(out, 0, sizeof *out);
  for (unsigned i = 0; i < w->shard_count; i++) {
    twe__shard_counters_t *c = &w->shards[i].counters;
#define SUM(f) out->f += atomic_load_explicit(&c->f, memory_order_relaxed)
    SUM(workflow_tasks_completed);
    SUM(workflow_tasks_failed);
    SUM(nondeterminism_errors);
    SUM(cache_hits);
    SUM(cache_misses);
    SUM(cache_evictions);
    SUM(cached_workflows);
    SUM(history_pages_fetched);
    SUM(activities_eager);
    SUM(workflows_eager);
    uint64_t held = atomic_load_explicit(&c->history_events_held_max, memory_order_relaxed);
    if (held > out->history_events_held_max) out->history_events_held_max = held;
    SUM(activities_completed);
    SUM(activities_failed);
    SUM(activities_running);
    SUM(activity_threads);
    SUM(activity_threads_peak);
    SUM(poller_scaling_decisions);
    SUM(heartbeats_sent);
    SUM(workflow_tasks_in_flight);
    SUM(workflow_tasks_held);
    SUM(workflow_task_slices);
    SUM(local_activity_attempts);
    SUM(workflow_task_heartbeats);
    SUM(connection_losses);
    SUM(reconnects);
    SUM(calls_failed);
    SUM(polls_failed);
    SUM(cache_forced_evictions);
    SUM(cached_bytes);
    SUM(cached_runs_stowed);
    SUM(cache_stows);
    SUM(normal_polls_held);
#undef SUM
  }
  if (w->watchdog) {
    const twe__watchdog_counters_t *c = twe__watchdog_counters(w->watchdog);
#define WD(f, g) out->f = atomic_load_explicit(&c->g, memory_order_relaxed)
    WD(watchdog_cpu_warnings, cpu_warnings);
    WD(watchdog_blocked_warnings, blocked_warnings);
    WD(watchdog_preemptions, preemptions);
    WD(threads_retired, threads_retired);
    WD(retired_threads_alive, retired_alive);
#undef WD
  }
  out->offending_runs = twe__offenders_count(w->offenders);
  if (w->slots) {
    int64_t used = twe__slots_outstanding(w->slots, TWE_SLOT_ACTIVITY);
    out->activity_slots_in_use = used > 0 ? (uint64_t)used : 0;
    out->activity_slots_peak = (uint64_t)twe__resource_peak(w->resource, TWE_SLOT_ACTIVITY);
    out->activity_slots_refused = (uint64_t)twe__resource_refused(w->resource, TWE_SLOT_ACTIVITY);
    int64_t wft = twe__slots_outstanding(w->slots, TWE_SLOT_WORKFLOW_TASK);
    out->workflow_task_slots_in_use = wft > 0 ? (uint64_t)wft : 0;
  }
}
