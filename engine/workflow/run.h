/* engine/workflow/run.h — one workflow run in memory: its history applied so far,
 * its state machines, its fibers and its arena. The worker feeds it the
 * events of each workflow task; it answers with the commands to send, or
 * with why the task must fail.
 *
 * History is applied one workflow-task sequence at a time: events up to a
 * WORKFLOW_TASK_STARTED resolve machines (an activity completed, a timer
 * fired) and wake the fibers waiting on them; at each WORKFLOW_TASK_STARTED
 * that a WORKFLOW_TASK_COMPLETED follows, the code runs (replay) and the
 * commands it produces must match, in order, the command events that
 * follow; at the last WORKFLOW_TASK_STARTED (the task being processed) the
 * code runs and the commands it produced and the history does not show yet
 * are the answer. A mismatch is non-determinism, reported with the event id,
 * its type and the command the code produced.
 *
 * Thread: a run belongs to its shard's thread; everything here is called
 * there. Workflow code runs on the run's fibers inside twe__run_apply. */
#ifndef TWE_ENGINE_RUN_H
#define TWE_ENGINE_RUN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/fiber.h"
#include "engine/registry.h"
#include "proto/arena.h"
#include "temporal/api/command/v1/message.pb-c.h"
#include "temporal/api/enums/v1/failed_cause.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/failure/v1/message.pb-c.h"
#include "twe/value.h"
#include "twe/workflow.h"

typedef struct twe_run twe_run_t;
typedef Temporal__Api__History__V1__HistoryEvent twe_event_pb_t;
typedef Temporal__Api__Command__V1__Command twe_command_pb_t;

/* What a run needs from its shard. Borrowed; must outlive the run. */
typedef struct twe_run_env {
  const char *namespace_name;
  const char *task_queue;     /* the worker's (normal) task queue */
  const twe_registry_t *registry;
  twe_fiber_pool_t *fibers;
  /* twe_workflow_log's hook (NULL: the worker's log) and least level. */
  twe_workflow_log_fn log;
  void *log_user;
  twe_log_level_t log_level;
  /* The worker whose log (engine/log.h) gets the engine's lines about the
   * run (NULL: stderr, as text), and the shard the run is on (-1: none). */
  struct twe_worker *worker;
  int shard;
} twe_run_env_t;

/* The answer to one workflow task. */
typedef struct twe_run_outcome {
  /* 0: send RespondWorkflowTaskCompleted with commands[0..n_commands).
   * < 0: send RespondWorkflowTaskFailed with cause and message, and evict
   * the run (TWE_ENONDETERMINISM, TWE_ENOTREGISTERED, TWE_EDECODE for a
   * history that breaks the protocol, -ENOMEM). */
  int status;
  Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause;
  char message[1024];
  /* Commands in the run's arena (the array in out_arena of twe__run_apply);
   * valid until the next twe__run_apply or twe__run_destroy. */
  twe_command_pb_t **commands;
  size_t n_commands;
  /* Protocol messages (update acceptances, rejections, completions) for the
   * completion's messages, in the run's arena; valid as commands are. */
  Temporal__Api__Protocol__V1__Message **messages;
  size_t n_messages;
  /* The commands close the workflow (complete or fail): evict after the
   * completion was accepted. */
  bool closes_workflow;
  /* The last event applied was not a WORKFLOW_TASK_STARTED (a closed
   * workflow's full history, for the replayer): no task was processed and
   * commands is empty. */
  bool replay_only;
} twe_run_outcome_t;

/* Creates an empty run for workflow_id/run_id (copied). The first
 * twe__run_apply must begin with event 1 (WORKFLOW_EXECUTION_STARTED).
 * Returns 0 or -ENOMEM. */
int twe__run_create(const twe_run_env_t *env, const char *workflow_id, const char *run_id,
                    twe_run_t **out);
/* Abandons the run's fibers (wherever they are suspended) and frees its
 * arena. NULL is a no-op. */
void twe__run_destroy(twe_run_t *run);

/* twe__run_apply's answer when the watchdog ended the task's time slice
 * (engine/watchdog.h) before it was done: nothing is answered yet; call
 * twe__run_resume later, with the same events and arena still alive. */
#define TWE__RUN_SLICED 1

/* Applies events[0..n) (contiguous: the first is twe__run_next_event_id)
 * and, when the last one is a WORKFLOW_TASK_STARTED, runs the code for that
 * task and fills *out. The events (and their arena) are the caller's and are
 * not referenced after return (but after TWE__RUN_SLICED or
 * TWE__RUN_WAITING: until the batch is done): the run copies what it keeps.
 * out_arena holds the outcome's command array. Returns out->status: 0,
 * TWE__RUN_SLICED (only on a shard thread whose task was begun sliceable),
 * TWE__RUN_WAITING (local activities; see below), or < 0: the run is
 * unusable; destroy it. */
int twe__run_apply(twe_run_t *run, twe_event_pb_t *const *events, size_t n,
                   twe_arena_t *out_arena, twe_run_outcome_t *out);
/* The protocol messages of the task the next twe__run_apply answers (the
 * poll response's messages[]: update requests), delivered in its
 * activation. msgs stay the caller's until that apply (or its resume)
 * returns an answer. */
void twe__run_set_messages(twe_run_t *run, Temporal__Api__Protocol__V1__Message *const *msgs,
                           size_t n);

/* Carries on with the batch that twe__run_apply (or an earlier resume) left
 * at TWE__RUN_SLICED: the fiber switched out at the end of the slice runs
 * first, exactly where it stopped, so the order the code sees is the one an
 * uninterrupted task would have had. Same returns. */
int twe__run_resume(twe_run_t *run, twe_run_outcome_t *out);

/* For the replayer, after the last twe__run_apply of a whole history that
 * ended without a task to answer: fails (TWE_ENONDETERMINISM, message in
 * out) when a command the code produced found no event. Returns
 * out->status. */
int twe__run_check_replayed(twe_run_t *run, twe_run_outcome_t *out);

/* --- local activities (machine_local_activity.c) -------------------------- */
/* twe__run_apply's (or resume's) answer when the task's code is idle but
 * waits on local activities the worker runs: nothing is answered yet. Hand
 * the run's requests (twe__run_take_local_requests) to the worker, feed it
 * their results (twe__run_local_result) and call twe__run_resume; or, when
 * the task must be answered before they finish (its timeout nears),
 * twe__run_answer_now. */
#define TWE__RUN_WAITING 2

/* An attempt of a local activity for the worker to run, or (cancel) a
 * request to stop the one running for seq. In the run arena: valid until
 * the next apply, resume or destroy; the worker copies what it keeps. */
typedef struct twe_local_request {
  bool cancel; /* only seq is set */
  uint32_t seq;
  uint32_t attempt; /* 1, or the attempt after a backoff timer */
  const char *activity_id, *activity_type;
  const twe_payload_t *args;
  size_t nargs;
  uint64_t schedule_to_close_timeout_ns, start_to_close_timeout_ns;
  twe_retry_policy_t retry; /* zero fields: the defaults */
  uint64_t local_retry_threshold_ns;
  int64_t original_schedule_time_ns; /* Unix ns; 0: this attempt is the first */
  struct twe_local_request *next;
} twe_local_request_t;

/* How the worker's attempts of a local activity ended. */
typedef enum twe_local_status {
  TWE_LOCAL_COMPLETED, /* result */
  TWE_LOCAL_FAILED,    /* failure: for good (not retryable, out of attempts or time,
                          cancelled) */
  TWE_LOCAL_BACKOFF,   /* failure, and the next attempt is due after backoff_ns, longer
                          than the local retry threshold: a durable timer waits */
} twe_local_status_t;

typedef struct twe_local_result {
  uint32_t seq;
  uint32_t attempt; /* the last attempt's number */
  twe_local_status_t status;
  const twe_payload_t *result;              /* COMPLETED; NULL: null */
  const Temporal__Api__Failure__V1__Failure *failure; /* FAILED, BACKOFF */
  uint64_t backoff_ns;                      /* BACKOFF */
  int64_t original_schedule_time_ns;        /* Unix ns, of the first attempt */
} twe_local_result_t;

/* The requests the code made since the last call, oldest first (NULL:
 * none). */
twe_local_request_t *twe__run_take_local_requests(twe_run_t *run);
/* A result from the worker (copied): kept until an activation delivers it
 * to the code (the next resume, or the next task's activation). A result
 * for an attempt the run no longer waits for (cancelled, a run replayed
 * meanwhile) is dropped. Returns 0 or a fatal status. */
int twe__run_local_result(twe_run_t *run, const twe_local_result_t *r);
/* Local activities requested whose result has not come back yet. */
size_t twe__run_locals_in_flight(const twe_run_t *run);
/* After TWE__RUN_WAITING: answers the task now with the commands so far
 * (a workflow task heartbeat: the worker asks the server for a new task
 * at once, force_create_new_workflow_task); the results still to come are
 * delivered in a later task. Same returns as twe__run_apply. */
int twe__run_answer_now(twe_run_t *run, twe_run_outcome_t *out);

/* Answers query name (args may be NULL) from the run's state as of its
 * last activation (queries.c): the handler runs on a coroutine of its own,
 * nothing else of the run runs, and it may change nothing. Fills *res: the
 * answer (Payloads in out), or failed with a message. Returns 0, or a fatal
 * status (the watchdog stopped the handler): the run is unusable, destroy
 * it. */
typedef struct twe_run_query_result {
  bool failed;
  Temporal__Api__Common__V1__Payloads *answer;
  char message[1024];
} twe_run_query_result_t;
int twe__run_answer_query(twe_run_t *run, const char *name,
                          const Temporal__Api__Common__V1__Payloads *args, twe_arena_t *out,
                          twe_run_query_result_t *res);

/* When the workflow execution started (Unix ns; 0: not known yet). */
int64_t twe__run_start_time_ns(const twe_run_t *run);
/* The workflow task timeout the run was started with (0: not known). */
uint64_t twe__run_task_timeout_ns(const twe_run_t *run);
/* The id of the next event the run expects (1 for a new run). */
int64_t twe__run_next_event_id(const twe_run_t *run);
/* The event id of the last WORKFLOW_TASK_STARTED applied (0: none). A task
 * whose previous_started_event_id differs finds the cached run stale. */
int64_t twe__run_last_started_event_id(const twe_run_t *run);
const char *twe__run_workflow_type(const twe_run_t *run);
const char *twe__run_id(const twe_run_t *run);
/* History events ignored because what they carry is not supported yet
 * (cancellation requests, updates ...); the first is logged. */
uint64_t twe__run_ignored_events(const twe_run_t *run);
/* Bytes the run holds: its allocation (the struct and the first block of
 * its arena, one malloc), its further arena blocks, and its fibers' stacks
 * (a stowed one's copy, else the pages from its stack pointer up): for
 * cache accounting (max_cached_bytes) and metrics. */
size_t twe__run_memory(const twe_run_t *run);
/* Stows the stacks of the run's suspended fibers (engine/fiber.h): for a
 * run parked in the cache between tasks, whose fibers' pages then go back
 * to the kernel. Only an idle run is stowed: no batch under way, no local
 * activity out, no fiber running; otherwise nothing happens. A fiber that
 * cannot be stowed (no memory) stays as it is. Every call that may run the
 * run's code or read its state (apply, resume, answer_now, check_replayed,
 * local_result, answer_query, destroy) unstows it first. Returns whether
 * any fiber is stowed now. */
bool twe__run_stow(twe_run_t *run);
/* Whether some of the run's fibers are stowed now. */
bool twe__run_stowed(const twe_run_t *run);

#endif /* TWE_ENGINE_RUN_H */
