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

/* A line of the worker's own log. shard: -1 when not a shard's; the
 * workflow fields NULL when not about a workflow. */
typedef struct twe_log_record {
  twe_log_level_t level;
  int shard;
  const char *workflow_type, *workflow_id, *run_id;
  const char *message;
} twe_log_record_t;
typedef void (*twe_log_fn)(void *user, const twe_log_record_t *record);
typedef enum twe_log_format { TWE_LOG_TEXT = 0, TWE_LOG_LOGFMT = 1, TWE_LOG_JSON = 2 } twe_log_format_t;

typedef struct twe_worker_options {
  const char *task_queue;  /* required */
  const char *identity;    /* NULL: the client's ("<pid>@<host>") */
  /* Workflow runs kept in memory across tasks, over all shards (each shard
   * keeps its share in an LRU). 0 (TWE_CACHE_DEFAULT): 10000, like every
   * other zero here. TWE_CACHE_OFF: no cache, every workflow task replays
   * the run's full history. */
  long max_cached_workflows;
  /* The cache's bound in bytes, over all shards (each shard keeps its
   * share): when the runs it keeps hold more (each counted as of its last
   * task: its allocation, arena and fiber stacks, stowed or not), the least
   * recently used are evicted, as for max_cached_workflows, whichever bound
   * is reached first. 0: no byte bound (TWE_MAX_CACHED_BYTES sets one). */
  size_t max_cached_bytes;
  /* A cached run idle this long has its fibers' stacks stowed: copied off
   * their pages (about 1 KiB each for a shallow wait instead of a 4 KiB
   * page), and copied back at its next task. 0: 1000 ms
   * (TWE_CACHE_STOW_AFTER_MS overrides, where 0 stows at once); < 0: never. */
  long cache_stow_after_ms;
  /* Threads (0: from the CPU plan; TWE_SHARD_THREADS / TWE_ACTIVITY_THREADS
   * override). */
  unsigned shard_threads;
  /* Activity slots: how many activities (and local activities) run at
   * once, each on a thread of its own. Set (or TWE_ACTIVITY_THREADS):
   * exactly that many. 0: resource-based, as the SDKs' resource-based
   * tuner: the CPU plan's activity threads, and a slot for each activity
   * poll of every shard, always; more up to
   * activity_threads_max (0: TWE_ACTIVITY_THREADS_MAX, else 500), one every
   * 20 ms while the CPU the worker may use (its cgroup quota, or the host)
   * stays under activity_cpu_target (0: TWE_ACTIVITY_CPU_TARGET, else 0.9;
   * throttling and CPU pressure count) and memory under
   * activity_memory_target (0: TWE_ACTIVITY_MEMORY_TARGET, else 0.8).
   * Activities that block get the threads they need; activities that burn
   * CPU stop getting more once it is saturated, and threads idle for 5 s
   * above the floor exit. */
  unsigned activity_threads;
  unsigned activity_threads_max;
  double activity_cpu_target;
  double activity_memory_target;
  /* Activity threads in a CPU group of their own, where the worker's
   * cgroup v1 cpu group has a quota and the worker may write it (README,
   * "Activity CPU group"): its child "twe-activities" with this share of the
   * quota (0: TWE_ACTIVITY_CPU_GROUP, "off" or a share in (0, 1), else
   * 0.9; < 0: off). Activities that saturate the quota are then stopped in
   * their group at the end of its share, and the shard threads keep the rest
   * of each period instead of being stopped with them. Elsewhere the
   * threads stay in the worker's group, and the start-up line says why. */
  double activity_cpu_group_share;
  /* Concurrent polls per shard on the normal workflow queue (0: 2) and on
   * the activity queue (0: 2). The sticky queue gets two, and up to 3 more
   * while the server reports a backlog on it. A workflow poll that brings a
   * task is replaced at once while the shard has fewer than 16 workflow
   * tasks in flight. */
  unsigned workflow_pollers;
  unsigned activity_pollers;
  /* Workflow tasks in the worker at once, polls waiting for one included
   * (each takes a workflow task slot first; the SDKs'
   * MaxConcurrentWorkflowTaskExecutionSize). 0: 16 per shard, each shard's
   * most. */
  unsigned max_concurrent_workflow_tasks;
  /* Poller autoscaling, as the SDKs' PollerBehaviorAutoscaling (also
   * TWE_POLLER_AUTOSCALING=1): the polls on the normal workflow queue and
   * on the activity queue start at the counts above and follow the
   * server's PollerScalingDecision, one fewer after an empty poll once the
   * server has sent a decision, half after RESOURCE_EXHAUSTED; per shard
   * and queue between pollers_min (0: 1) and pollers_max (0: 15 workflow,
   * 16 activity; at most 15 on the workflow side). Off: the counts stay. */
  bool poller_autoscaling;
  unsigned pollers_min, pollers_max;
  /* Eager activities: a workflow task's completion asks the server to hand
   * the activities it schedules on this task queue straight back in its
   * answer, while a pool thread is free for each (the server must allow
   * it: system.enableActivityEagerExecution). true: never ask. */
  bool disable_eager_activities;
  /* How long the server waits for this worker to take a task from its
   * sticky queue before handing it to any worker (0: 10 s). */
  uint64_t sticky_schedule_to_start_timeout_ns;
  /* Stack of each workflow fiber (0: 64 KiB). Stacks are carved from shared
   * slabs; only touched pages cost memory. */
  size_t fiber_stack_size;
  /* On stop, how long running activities get to finish before they are
   * asked to cancel (0: 10 s). */
  uint64_t graceful_stop_timeout_ns;

  /* The watchdog (README, "Watchdog"). Two budgets per workflow task,
   * charged while a shard thread applies the task (replay plus workflow
   * code), neither of them wall time:
   *   cpu     — the thread's CPU time (a runaway loop);
   *   blocked — the time the thread sleeps in a system call (workflow code
   *             doing I/O or sleeping, which it must not do).
   * Time the thread is runnable but waiting for a CPU (a busy machine, a
   * throttling CPU quota) counts for neither. Crossing a warning threshold
   * logs the workflow type, run id, time used and where the code is, once
   * per task, and counts it; crossing a budget preempts the task: its run
   * is abandoned and evicted, the task fails (RespondWorkflowTaskFailed,
   * WORKFLOW_WORKER_UNHANDLED_FAILURE, naming type, run, time used, budget
   * and location) and its slot is free at once. 0: the default;
   * TWE_WATCHDOG_OFF: not checked. */
  int64_t workflow_cpu_warning_ns;     /* 0: 1 s */
  int64_t workflow_cpu_budget_ns;      /* 0: 5 s */
  int64_t workflow_blocked_warning_ns; /* 0: 100 ms */
  int64_t workflow_blocked_budget_ns;  /* 0: 1 s */
  /* Workflow code stuck where it cannot be abandoned safely (blocked in a
   * system call, inside libc or the allocator) costs its shard thread: the
   * thread is retired (it exits when the code comes back, if ever) and a new
   * thread takes over the shard. A run that cost a thread is not run again
   * while that thread is alive, nor until a hold that doubles per offence
   * has passed: its tasks fail at once (README, "Watchdog"). Retirements
   * past max_retired_threads alive (0: 4) are logged as over the limit;
   * retired_threads_hard_cap (0: 64) is the most ever alive: a shard stuck
   * at the cap cannot get a thread, and the worker stops (twe_worker_wait
   * returns TWE_ESTUCK) rather than hang. */
  unsigned max_retired_threads;
  unsigned retired_threads_hard_cap;
  /* A task that runs long gives its shard up after this much CPU (0:
   * 10 ms; TWE_WATCHDOG_OFF: never) at a safe point, lets the shard serve
   * other tasks and resumes after them; its budgets count across slices. */
  int64_t workflow_time_slice_ns;
  /* How long a stop may take, from the first twe_worker_stop to the return
   * of twe_worker_wait (0: graceful_stop_timeout_ns + 5 s). Past it the
   * worker leaves any shard still stuck in workflow code behind (logging
   * the run and where it is) and twe_worker_wait returns TWE_ESTUCK. */
  uint64_t stop_deadline_ns;
  /* How activity threads yield to shard threads, so that activities
   * saturating every CPU do not delay workflow tasks. */
  enum twe_activity_priority {
    TWE_ACTIVITY_PRIORITY_IDLE = 0, /* default: SCHED_IDLE, run when a CPU
                                     * is otherwise idle (within the
                                     * process's cgroup) */
    TWE_ACTIVITY_PRIORITY_NICE,     /* SCHED_OTHER at nice activity_nice */
    TWE_ACTIVITY_PRIORITY_NORMAL,   /* same as the shard threads */
  } activity_priority;
  int activity_nice; /* 1..19 with TWE_ACTIVITY_PRIORITY_NICE (0: 10) */
  /* Serve /metrics (Prometheus), /healthz and /readyz at this address
   * ("127.0.0.1:9464", ":9464"; port 0 picks one, see
   * twe_worker_metrics_port). NULL: TWE_METRICS_ADDRESS from the
   * environment, else off. */
  const char *metrics_address;
  /* The worker's own log (connections lost and back, polls failing, task
   * failures, watchdog preemptions and retirements, forced evictions ...):
   * records go to log (NULL: stderr, one line each, in log_format: text
   * "twe: shard 0: workflow T id run R: warning: message", logfmt or JSON;
   * TWE_LOG_FORMAT=text|logfmt|json overrides it). The same message (the
   * same text about the same workflow) repeated within 10 s is written
   * once, and the next one says how many were held back. Called on the thread that logs (a shard's, the
   * watchdog's, the owner's): keep it short and thread-safe. */
  twe_log_fn log;
  void *log_user;
  twe_log_format_t log_format;
  /* Where twe_workflow_log lines go (NULL: the worker's log above, never
   * held back), called on the shard thread running the code; and the least
   * level written (0: DEBUG, so everything; TWE_WORKFLOW_LOG_LEVEL in the
   * environment overrides it: debug, info, warn, error). */
  twe_workflow_log_fn workflow_log;
  void *workflow_log_user;
  twe_log_level_t workflow_log_level;
} twe_worker_options_t;
#define TWE_CACHE_DEFAULT 0L
#define TWE_CACHE_OFF (-1L)
#define TWE_WATCHDOG_OFF (-1LL)

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
/* Waits until a started worker has stopped. Returns 0; or TWE_ESTUCK when
 * the stop ran past stop_deadline_ns with a shard thread still in workflow
 * code, or a shard lost its thread (the reason is on stderr): the worker
 * then leaves that thread behind, and twe_worker_destroy frees nothing it
 * may still touch (exit the process soon). */
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
  uint64_t history_events_held_max;   /* the most history events one task held at once
                                         while its pages came (a long replay is applied
                                         page by page, and the pages freed) */
  uint64_t activities_completed;
  uint64_t activities_eager;          /* activity tasks that came in a workflow task
                                         completion's answer (eager execution) */
  uint64_t activities_failed;
  uint64_t activities_running;
  uint64_t workflows_eager;           /* workflows whose first task came in the answer to
                                         a start on this worker's client (eager start) */
  uint64_t activity_slots_in_use;     /* activity and local activity slots taken now
                                         (polls waiting for a task hold one) */
  uint64_t activity_slots_peak;       /* the most taken at once */
  uint64_t activity_slots_refused;    /* refused below the maximum: the CPU or memory
                                         was over its target (resource-based) */
  uint64_t activity_threads;          /* activity threads alive now, all shards */
  uint64_t activity_threads_peak;     /* the most each shard had at once, summed */
  uint64_t poller_scaling_decisions;  /* poll answers that carried the server's
                                         PollerScalingDecision */
  uint64_t heartbeats_sent;
  uint64_t workflow_tasks_in_flight;  /* workflow tasks held now */
  uint64_t workflow_task_slots_in_use; /* workflow task slots taken now (the tasks
                                         above and the polls waiting for one) */
  uint64_t watchdog_cpu_warnings;     /* tasks past the CPU warning threshold */
  uint64_t watchdog_blocked_warnings; /* tasks past the blocked warning threshold */
  uint64_t watchdog_preemptions;      /* tasks preempted (either budget) */
  uint64_t threads_retired;           /* shard threads retired so far */
  uint64_t retired_threads_alive;     /* of those, not exited yet */
  uint64_t workflow_tasks_held;       /* failed at once: their run blocked a thread before */
  uint64_t workflow_task_slices;      /* slices that ended with the task not done */
  uint64_t offending_runs;            /* runs the watchdog stopped, remembered now */
  uint64_t local_activity_attempts;   /* local activity attempts run */
  uint64_t workflow_task_heartbeats;  /* tasks answered early: local activities ran long */
  uint64_t connection_losses;         /* a shard's connection to the server lost */
  uint64_t reconnects;                /* ... and back */
  uint64_t calls_failed;              /* gRPC calls that ended in an error (a stop's own
                                         cancellations aside) */
  uint64_t polls_failed;              /* of those, polls */
  uint64_t cache_forced_evictions;    /* of cache_evictions, runs evicted because the
                                         cache was full (max_cached_workflows) or over
                                         its byte bound (max_cached_bytes) */
  uint64_t cached_bytes;              /* what the cached runs hold, each as of its last
                                         task or stowing (twe_worker_options_t) */
  uint64_t cached_runs_stowed;        /* cached runs whose fibers are stowed now */
  uint64_t cache_stows;               /* idle cached runs stowed so far
                                         (cache_stow_after_ms) */
  uint64_t normal_polls_held;         /* times the normal queue's polls were held back
                                         while the sticky queue had a backlog (runs under
                                         way go first) */
} twe_worker_stats_t;
TWE_EXPORT void twe_worker_stats(twe_worker_t *w, twe_worker_stats_t *out);
/* The port the metrics endpoint listens on (after twe_worker_start), or
 * -ENOENT when it is off. */
TWE_EXPORT int twe_worker_metrics_port(twe_worker_t *w);

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
