/* engine/worker_internal.h — the worker's insides, shared by the files that
 * make it up: worker.c (life cycle, shard threads), shard_health.c (a
 * shard's tick, connection, calls and polls, for the log and the health
 * endpoints), workflow_poller.c and its companions (workflow tasks, sticky
 * cache), activity_worker.c (activity tasks on the pools, heartbeats).
 *
 * One twe_wshard_t per shard thread. Everything in it belongs to that thread
 * except the fields marked otherwise (atomic statistics and the stop flag,
 * which other threads read or set). */
#ifndef TWE_ENGINE_WORKER_INTERNAL_H
#define TWE_ENGINE_WORKER_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/fiber.h"
#include "engine/offenders.h"
#include "engine/registry.h"
#include "engine/watchdog.h"
#include "io/grpc_channel.h"
#include "io/reactor.h"
#include "sched/cpumask.h"
#include "sched/pool.h"
#include "sched/slots.h"
#include "sched/shard.h"
#include "twe/worker.h"

typedef struct twe_wshard twe_wshard_t;
struct twe__wf_side;  /* workflow_poller.c */
struct twe__act_side; /* activity_worker.c */
struct twe__local;    /* local_activities.c */

/* Statistics one shard counts. Written by the shard thread only (relaxed
 * stores: a statistic orders nothing), read by any thread. */
typedef struct twe__shard_counters {
  _Atomic uint64_t workflow_tasks_completed, workflow_tasks_failed, nondeterminism_errors;
  _Atomic uint64_t cache_hits, cache_misses, cache_evictions, cached_workflows;
  _Atomic uint64_t history_pages_fetched, history_events_held_max, activities_eager;
  _Atomic uint64_t activities_completed, activities_failed, activities_running;
  _Atomic uint64_t activity_threads, activity_threads_peak, poller_scaling_decisions;
  _Atomic uint64_t heartbeats_sent, workflows_eager;
  _Atomic uint64_t workflow_tasks_in_flight;
  _Atomic uint64_t workflow_tasks_held, workflow_task_slices;
  _Atomic uint64_t local_activity_attempts, workflow_task_heartbeats;
  _Atomic uint64_t connection_losses, reconnects, calls_failed, polls_failed;
  _Atomic uint64_t cache_forced_evictions, cached_bytes, cached_runs_stowed, cache_stows;
  _Atomic uint64_t normal_polls_held;
} twe__shard_counters_t;

/* engine/shard_health.c: the shard's tick (alive for /healthz, connected
 * for /readyz, the loop's lag), its connection's losses and returns, its
 * calls (request metrics) and polls (the "polls failing" log lines).
 * twe__health_attach once the shard has its reactor and channel;
 * twe__health_detach at its stop; twe__health_poll after every poll's
 * answer (OK, with or without a task, or a failure). Shard thread. */
void twe__health_attach(twe_wshard_t *s);
void twe__health_detach(twe_wshard_t *s);
void twe__health_poll(twe_wshard_t *s, const char *what, int code, const char *message);
/* How long a poller waits before polling again after its poll failed for
 * good (a code the channel does not retry, or its deadline passed) for the
 * `failures`-th time in a row: the SDKs' poll backoff, from 200 ms doubling
 * to 10 s with jitter (RESOURCE_EXHAUSTED from 1 s), so a namespace that
 * is gone is not asked several times a second. */
uint64_t twe__health_poll_backoff_ns(int failures, int code);

/* CLOCK_MONOTONIC in ns (engine/worker.c). Async-signal-safe. */
int64_t twe__mono_ns(void);
/* CLOCK_REALTIME in ns (Unix time), for latencies against the server's
 * timestamps. */
int64_t twe__wall_ns(void);

static inline void twe__count(_Atomic uint64_t *c, int64_t delta) {
  /* Only the owning shard writes: load + store is enough, relaxed. */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)delta,
                        memory_order_relaxed);
}

struct twe_wshard {
  twe_worker_t *worker;
  unsigned index;
  twe_shard_t *thread;
  twe_reactor_t *reactor;      /* created on the shard thread in on_start */
  twe_grpc_channel_t *channel; /* this shard's own connection */
  twe_pool_t *pool;            /* this shard's activity threads */
  unsigned pool_threads;       /* ... kept however idle (more start as the
                                * worker's slots allow) */
  int slot_watcher;            /* this shard's watcher id in worker->slots */
  twe_fiber_pool_t *fibers;
  char sticky_queue[160];      /* this shard's sticky task queue */
  size_t cache_capacity;       /* runs this shard keeps */
  size_t cache_max_bytes;      /* ... and bytes they may hold (0: no bound) */
  struct twe__wf_side *wf;
  struct twe__act_side *act;
  /* First workflow tasks of eager starts (engine/workflow_eager.c), pushed
   * by client threads, taken by this shard. */
  _Atomic(struct twe__eager_wft *) eager_in;
  /* Metrics (engine/metrics.h): the shard's block, written by the shard
   * only; the last time its loop turned (CLOCK_MONOTONIC ns, a 1 s tick)
   * and whether its connection is up, for /healthz and /readyz. */
  struct twe__metrics *metrics;
  _Atomic int64_t alive_ns;
  atomic_bool connected;
  /* engine/shard_health.c: the 1 s tick and how late its last one came
   * (the loop's lag), and the largest lag of the last minute. */
  twe_timer_t tick_timer;
  int64_t tick_due_ns;
  unsigned ticks;
  _Atomic int64_t loop_lag_ns, loop_lag_max_ns;
  int64_t lag_max_now_ns;
  /* When the connection went down (CLOCK_MONOTONIC ns; 0: up), for the
   * log line of its return, and when the log last said it is still away. */
  int64_t down_since_ns, down_said_ns;
  /* Polls failing (engine/shard_health.c): since when (0: they succeed),
   * how many, whether the log said so, when it last did, and the last
   * error. */
  int64_t polls_failing_since_ns, polls_failing_said_ns;
  uint64_t polls_failing_n;
  bool polls_failing_logged;
  char polls_failing_error[200];
  /* Local activities running for this shard's runs
   * (engine/local_activities.c). */
  struct twe__local *locals;
  /* Shutdown, on the shard thread: set when the shard saw the worker's stop
   * flag and began draining. */
  bool draining;
  /* Set by twe_worker_wait once the thread is joined, or once it gave up
   * on it at the stop deadline (owner thread). */
  bool joined, abandoned;
  /* The watchdog's record of the thread running the shard now (replaced
   * when a stuck thread is retired), and, while a replacement takes over,
   * the retired thread's record (written by the watchdog before it starts
   * the replacement, read by the replacement). */
  twe__watched_t *watch;
  twe__watched_t *retiring;
  /* Fiber stacks of runs a retired thread may still be on: the fiber pool
   * cannot be freed while such a thread lives (set at stop). */
  bool fibers_pinned;
  twe__shard_counters_t counters;
};

struct twe_worker {
  twe_client_t *client;                 /* NULL: replay only */
  twe_worker_options_t opts;            /* strings below are owned copies */
  char *task_queue;
  char *identity;
  const char *namespace_name;           /* the client's */
  twe_registry_t registry;
  twe_wshard_t *shards;
  unsigned shard_count;
  int64_t stow_after_ns; /* cached runs idle this long are stowed (< 0: never) */
  /* Set by twe_worker_stop (any thread, a signal handler too); read by the
   * shards each round. Release/acquire: nothing else is published with it. */
  atomic_int stop_requested;
  atomic_int started;
  /* Shards that finished their shutdown; twe_worker_wait joins them. */
  atomic_uint shards_done;
  twe__watchdog_t *watchdog; /* NULL: every budget off */
  /* Runs the watchdog stopped (engine/offenders.h); NULL with no watchdog.
   * cpu_budget_ns: the default CPU budget, which offenders get less of. */
  twe__offenders_t *offenders;
  int64_t cpu_budget_ns;
  /* When the first stop was requested (CLOCK_MONOTONIC ns; 0: not yet),
   * set by twe_worker_stop (any thread, a signal handler too). */
  _Atomic int64_t stop_requested_ns;
  /* A shard lost its thread for good (the watchdog's lost_shard hook): the
   * worker stops, and twe_worker_wait says why. */
  atomic_int shard_lost;
  /* From the CPU plan, written by start before the threads exist: the
   * process's CPUs (empty when unknown) and those left to activities. */
  twe_cpumask_t cpus, activity_cpus;
  /* Metrics: where each shard's block keeps what (set at start), and the
   * HTTP endpoint (NULL: off; engine/metrics_http.h) and its address. */
  struct twe__metrics_layout *metrics_layout;
  struct twe__http *http;
  char *metrics_address;
  /* The process's cgroup, found at start, for the throttling metrics (NULL
   * when out of memory). */
  struct twe_cgroup *cgroup;
  /* Activity and local activity slots, shared by the shards
   * (engine/worker_slots.c): the supplier (resource-based, or fixed at
   * act_slots_max) and its handle for samples and peaks. */
  twe_slots_t *slots;
  struct twe_resource *resource;
  unsigned act_slots_max;
  /* The activity threads' own CPU group (sched/cpu_group.h), or NULL where
   * there is none (off, no v1 quota, not writable). */
  struct twe_cpu_group *act_group;
  /* Poll counts follow the server's decisions (the option, or
   * TWE_POLLER_AUTOSCALING=1; engine/poll_scaler.h). */
  bool poller_autoscaling;
  /* Eager workflow start (engine/workflow_eager.c): the client's list of
   * its started workers (guarded by the client), and the shard the next
   * eager task goes to. */
  twe_worker_t *client_next;
  bool client_listed;
  atomic_uint eager_next;
  /* engine/log.c: messages written lately, for holding back repeats. */
  pthread_mutex_t log_mu;
#define TWE__LOG_REPEATS 32
  struct twe__log_repeat {
    uint64_t key; /* the message's text and workflow (0: a free slot) */
    int64_t last_ns;
    unsigned held;
  } log_repeats[TWE__LOG_REPEATS];
};

/* The worker's activity slots from the CPU plan and the options
 * (engine/worker_slots.c): 0, or -EINVAL (a bad option, logged) or
 * -ENOMEM. Destroy after the shards are gone. Owner thread. */
struct twe_cpu_plan;
/* Workflow task slots per shard by default: the shard's pollers
 * (engine/workflow_poller_internal.h, MAX_POLLERS). */
#define TWE__WFT_SLOTS_PER_SHARD 16
int twe__worker_slots_start(twe_worker_t *w, const struct twe_cpu_plan *plan);
void twe__worker_slots_destroy(twe_worker_t *w);

/* The client's options and identity (engine/client.c). */
const twe_connection_options_t *twe__client_options(const twe_client_t *client);
const char *twe__client_identity(const twe_client_t *client);
/* The client's list of started workers, for eager workflow start
 * (engine/client.c): added once its shards run, removed first thing in
 * twe_worker_destroy (waiting for a start that may hand it a task). */
void twe__client_add_worker(twe_client_t *client, twe_worker_t *w);
void twe__client_remove_worker(twe_client_t *client, twe_worker_t *w);

/* --- eager workflow start (workflow_eager.c) ----------------------------- */
/* Takes a workflow task slot of w for a start's eager task: false when
 * none is free or w is not running (stopping, not started). Thread: any. */
bool twe__wf_eager_reserve(twe_worker_t *w, twe_slot_t *permit);
/* Hands the task an eager start brought (a PollWorkflowTaskQueueResponse,
 * copied) and its slot to one of w's shards. Returns 0, or -ENOMEM (the
 * slot went back; the server hands the task out again after its timeout).
 * Thread: any (the caller keeps w alive: the client's list). */
int twe__wf_eager_deliver(twe_worker_t *w, twe_slot_t *permit, const ProtobufCMessage *task);
/* Gives up the shard's eager tasks not taken yet, with their slots (at the
 * shard's stop, and after the join). */
void twe__wf_eager_drain(twe_wshard_t *s);

/* --- activity side (activity_worker.c); all on the shard thread --------- */
/* Sets up the activity side after the channel and pool exist, and starts
 * polling. Returns 0 or -ENOMEM. */
int twe__act_side_start(twe_wshard_t *s);
/* Called every shard round: (re)issues polls while the pool has idle
 * threads, sends due heartbeats. Returns work items handled. */
size_t twe__act_side_poll(twe_wshard_t *s, size_t budget);
/* Eager activities (the workflow side asks for them in a completion):
 * reserve promises a pool thread beyond the polls in flight (false when
 * none is free or the side stops); release gives back n promises the
 * server did not use; take runs a task that came in the completion's
 * answer (copied; it uses up one promise). Shard thread. */
bool twe__act_eager_reserve(twe_wshard_t *s);
void twe__act_eager_release(twe_wshard_t *s, unsigned n);
void twe__act_eager_take(twe_wshard_t *s, const ProtobufCMessage *task);
/* Begins shutdown: cancels polls; running activities get the grace period
 * (worker option), then are cancelled. */
void twe__act_side_begin_stop(twe_wshard_t *s);
/* Whether nothing is left in flight (no poll, no running activity, no
 * respond or heartbeat call). */
bool twe__act_side_idle(const twe_wshard_t *s);
/* Frees the activity side (after idle, or at the end regardless). */
void twe__act_side_destroy(twe_wshard_t *s);

/* --- workflow side (workflow_poller.c); all on the shard thread --------- */
int twe__wf_side_start(twe_wshard_t *s);
/* Applies workflow tasks whose history is complete (workflow code runs
 * here, in a round of the shard's loop, never inside an I/O callback: a
 * thread stuck in it leaves the reactor and the connection at rest for a
 * replacement), and frees what retired threads left once they are gone.
 * Returns work items handled (budget: there may be more). */
size_t twe__wf_side_run(twe_wshard_t *s, size_t budget);
/* On a replacement thread, first thing: the task the retired thread
 * `retired` was applying fails with retired->message; its run is set aside
 * until that thread is gone. */
void twe__wf_side_takeover(twe_wshard_t *s, twe__watched_t *retired);
void twe__wf_side_begin_stop(twe_wshard_t *s);
bool twe__wf_side_idle(const twe_wshard_t *s);
/* The shard's 1 s tick (engine/shard_health.c): stows the cached runs idle
 * for the worker's stow_after_ns. */
void twe__wf_side_tick(twe_wshard_t *s, int64_t now_ns);
void twe__wf_side_destroy(twe_wshard_t *s);

#endif /* TWE_ENGINE_WORKER_INTERNAL_H */
