/* twe/worker.h — a worker: polls one task queue of one namespace, runs the
 * workflows and activities registered with it.
 *
 * Life cycle: create (from a client) -> register types -> start -> ...
 * -> stop -> wait -> destroy; or run (start + wait) and stop from a signal
 * handler or another thread.
 *
 * Inside, a worker is shard threads (twe-shard-N, pinned per core when the
 * cores are dedicated), each with its own connection, pollers, sticky task
 * queue and workflow cache, and per-shard activity thread pools
 * (twe-act-N-M): activities never run on a shard thread, so they cannot
 * delay workflow tasks. The CPU plan (how many of each) follows the CPUs the
 * process may use — affinity and cgroup quota — and is printed at start.
 *
 * Thread: create, register, start and destroy from one thread (the one that
 * owns the worker); stop and stats from any thread; wait from any thread but
 * a worker's own. */
#ifndef TWE_WORKER_H
#define TWE_WORKER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twe/activity.h"
#include "twe/client.h"
#include "twe/common.h"
#include "twe/workflow.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct twe_worker twe_worker_t;

typedef struct twe_worker_options {
  const char *task_queue;  /* required */
  const char *identity;    /* NULL: the client's ("<pid>@<host>") */
  /* Workflow runs kept in memory across tasks, over all shards (each shard
   * keeps its share in an LRU). 0 disables the cache: every workflow task
   * replays the run's full history. Default (TWE_CACHE_DEFAULT): 10000. */
  long max_cached_workflows;
  /* Threads (0: from the CPU plan; TWE_SHARD_THREADS / TWE_ACTIVITY_THREADS
   * override). activity_threads is the most activities running at once. */
  unsigned shard_threads;
  unsigned activity_threads;
  /* Concurrent polls per shard on the normal workflow queue (0: 2) and on
   * the activity queue (0: 2). The sticky queue always gets one. */
  unsigned workflow_pollers;
  unsigned activity_pollers;
  /* How long the server waits for this worker to take a task from its
   * sticky queue before handing it to any worker (0: 10 s). */
  uint64_t sticky_schedule_to_start_timeout_ns;
  /* Stack of each workflow fiber (0: 64 KiB). Stacks are carved from shared
   * slabs; only touched pages cost memory. */
  size_t fiber_stack_size;
  /* On stop, how long running activities get to finish before they are
   * asked to cancel (0: 10 s). */
  uint64_t graceful_stop_timeout_ns;
} twe_worker_options_t;
#define TWE_CACHE_DEFAULT (-1L)

/* Fills opts with the defaults (task_queue NULL: set it). */
TWE_EXPORT void twe_worker_options_init(twe_worker_options_t *opts);

/* Creates a worker on client (which must outlive it). client may be NULL for
 * a worker used only to replay histories. Returns 0, -EINVAL (no task
 * queue), -ENOMEM. */
TWE_EXPORT int twe_worker_create(twe_client_t *client, const twe_worker_options_t *opts,
                                 twe_worker_t **out);
/* Registers workflow type `name` (copied). Returns 0, -EEXIST, -EBUSY (after
 * start), -ENOMEM. */
TWE_EXPORT int twe_worker_register_workflow(twe_worker_t *w, const char *name,
                                            twe_workflow_fn fn, void *user);
/* Registers activity type `name` (copied). Same returns. */
TWE_EXPORT int twe_worker_register_activity(twe_worker_t *w, const char *name,
                                            twe_activity_fn fn, void *user);

/* Starts the shard threads and polling. Returns 0, -EALREADY, or a negative
 * code with the reason on stderr (threads, connections). */
TWE_EXPORT int twe_worker_start(twe_worker_t *w);
/* Asks the worker to stop: polls end, workflow tasks in flight finish,
 * running activities get graceful_stop_timeout_ns, then are cancelled; the
 * sticky queues are handed back to the server (ShutdownWorker). Returns at
 * once. Thread: any, also a signal handler (async-signal-safe). */
TWE_EXPORT void twe_worker_stop(twe_worker_t *w);
/* Waits until a started worker has stopped. Returns 0. */
TWE_EXPORT int twe_worker_wait(twe_worker_t *w);
/* start + wait. */
TWE_EXPORT int twe_worker_run(twe_worker_t *w);
/* Frees a stopped (or never started) worker. NULL is a no-op. */
TWE_EXPORT void twe_worker_destroy(twe_worker_t *w);

/* Counters since start, summed over shards. Thread: any (values may be a
 * moment old). */
typedef struct twe_worker_stats {
  uint64_t workflow_tasks_completed;  /* RespondWorkflowTaskCompleted sent and accepted */
  uint64_t workflow_tasks_failed;     /* RespondWorkflowTaskFailed sent */
  uint64_t nondeterminism_errors;
  uint64_t cache_hits;                /* a task found its run in the cache */
  uint64_t cache_misses;              /* a task had to replay from the full history */
  uint64_t cache_evictions;           /* runs dropped: LRU, stale, failed, closed */
  uint64_t cached_workflows;          /* runs in the caches now */
  uint64_t history_pages_fetched;     /* GetWorkflowExecutionHistory pages */
  uint64_t activities_completed;
  uint64_t activities_failed;
  uint64_t activities_running;
  uint64_t heartbeats_sent;
} twe_worker_stats_t;
TWE_EXPORT void twe_worker_stats(twe_worker_t *w, twe_worker_stats_t *out);

/* Replays a workflow history exported as JSON (`temporal workflow show
 * --output json`, or the JSON of a GetWorkflowExecutionHistory response)
 * against the workflows registered on w, without a server. Returns 0 when
 * the code matches the history; TWE_ENONDETERMINISM with the message (naming
 * the event id and type and the command the code produced) in err;
 * TWE_ENOTREGISTERED; TWE_EJSON / TWE_EDECODE for an unreadable file.
 * Thread: the worker's owner, before start or after wait. */
TWE_EXPORT int twe_worker_replay_json(twe_worker_t *w, const char *json_text, size_t len,
                                      char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* TWE_WORKER_H */
