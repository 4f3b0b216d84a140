/* engine/workflow/run_internal.h — the insides of a workflow run, shared by run.c
 * (history -> activations), machines.c (the command/event state machines)
 * and workflow_api.c (the calls workflow code makes).
 *
 * Everything a run keeps lives in its arena: the struct itself is malloc'd,
 * but futures, machines, commands, copies of payloads and failures, fiber
 * records and the machine index are arena memory, freed in one go when the
 * run is destroyed.
 *
 * Thread: the run's shard thread, like engine/workflow/run.h. */
#ifndef TWE_ENGINE_RUN_INTERNAL_H
#define TWE_ENGINE_RUN_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/fiber.h"
#include "engine/workflow/machines.h"
#include "engine/workflow/run.h"
#include "engine/values.h"
#include "twe/workflow.h"

typedef Temporal__Api__Enums__V1__WorkflowTaskFailedCause twe__task_cause_t;

/* What workflow code holds: a handle embedded in its run. The magic catches
 * pointers that are not one. */
#define TWE__WORKFLOW_MAGIC 0x74776566u /* "twef" */
struct twe_workflow {
  uint32_t magic;
  twe_run_t *run;
};

struct twe_future {
  twe_run_t *run;
  twe__machine_t *machine; /* what resolves it */
  bool ready, failed;
  twe_payload_t result; /* when ready && !failed; data in the run arena */
  twe_error_info_t error; /* when ready && failed; strings in the run arena */
};

/* What a suspended fiber waits for: any or all of fs[0..n). fs is the
 * caller's array (on the suspended fiber's own stack, which stays put). */
typedef enum twe__wait_mode { TWE__WAIT_NONE, TWE__WAIT_ANY, TWE__WAIT_ALL } twe__wait_mode_t;

/* One coroutine of the run. */
typedef struct twe__wfiber {
  twe_run_t *run;
  twe_fiber_t *fiber; /* NULL once finished and returned to the pool */
  bool root;          /* runs the workflow function */
  bool in_ready;      /* queued in run->ready */
  twe__wait_mode_t wait_mode;
  twe_future_t *const *wait_fs;
  size_t wait_n;
  size_t wait_next; /* TWE__WAIT_ALL: fs before this index are ready */
  struct twe__wfiber *next_ready;
  struct twe__wfiber *next_all; /* every live fiber, in creation order */
} twe__wfiber_t;

/* Open machines by their initiating event id (scheduled / started event).
 * Linear probing with backward-shift deletion; slots in the run arena. */
typedef struct twe__machine_index {
  int64_t *keys; /* 0: empty */
  twe__machine_t **vals;
  size_t cap, count; /* cap a power of two (or 0) */
} twe__machine_index_t;

struct twe_run {
  twe_workflow_t wf;
  twe_arena_t arena;
  twe_run_env_t env;
  twe_workflow_info_t info;
  const twe_registered_workflow_t *registered;
  twe_payload_t *args;
  size_t nargs;
  /* Set when an input claims json/plain but is not JSON: the workflow fails
   * with this message instead of running (deterministically, on replay too). */
  char *input_error;

  /* History position. */
  int64_t next_event_id;
  int64_t last_started_event_id;   /* last WORKFLOW_TASK_STARTED applied */
  int64_t last_completed_event_id; /* last WORKFLOW_TASK_COMPLETED applied */
  /* The last event that paired with a command, or the last
   * WORKFLOW_TASK_COMPLETED if later: where a missing event was expected. */
  int64_t match_point_event_id;
  bool started_seen;               /* WORKFLOW_EXECUTION_STARTED applied */
  /* The last activation was the task being processed (its answer went out):
   * the next event must be that task's WORKFLOW_TASK_COMPLETED. */
  bool answered_last_task;
  int64_t history_size_bytes;
  bool suggest_continue_as_new;

  /* Deterministic context. */
  int64_t now_ns;
  bool replaying;
  uint64_t rng[4];

  /* Fibers. */
  twe__wfiber_t *all_fibers;
  twe__wfiber_t *ready_head, *ready_tail;
  twe__wfiber_t *current; /* the fiber running right now, else NULL */
  bool code_started;      /* the root fiber exists (or the input failed) */

  /* Machines whose command no event has matched yet, oldest first. */
  twe__machine_t *pending_head, *pending_tail;
  size_t pending_count;
  twe__machine_index_t index;
  uint32_t seq; /* one sequence for activity and timer ids: "1", "2", ... */

  /* How the workflow function ended. */
  bool closed; /* the close command was produced: no more commands */
  twe_payload_pb_t *result;   /* set by twe_workflow_complete, else NULL */
  twe_failure_pb_t *failure;  /* set by twe_workflow_fail, else NULL */

  /* Events ignored because their feature is missing (logged once). */
  uint64_t ignored_events;
  bool ignored_logged;

  /* The batch of events being applied (twe__run_apply), kept while a slice
   * ended in its middle: the next event to apply, whether the activation
   * of event i is under way (a fiber was switched out at the slice's end,
   * or more are ready), and whether the task was answered. */
  struct twe__run_batch {
    twe_event_pb_t *const *events;
    size_t n, i;
    twe_arena_t *out_arena;
    bool in_activation, answered, active;
  } batch;

  /* The first fatal problem: the run is unusable after it. */
  int status;
  twe__task_cause_t cause;
  char message[1024];
};

/* Records the run's first fatal problem (later ones are dropped: the first
 * is the cause) and returns status. */
int twe__run_fail(twe_run_t *run, int status, twe__task_cause_t cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* twe__run_fail with TWE_ENONDETERMINISM, NON_DETERMINISTIC_ERROR and the
 * prefix `non-deterministic workflow "<type>" (run <id>): `. */
int twe__run_nondeterminism(twe_run_t *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* -ENOMEM (or TWE_ELIMIT) recorded as fatal. */
int twe__run_oom(twe_run_t *run);

/* A deep copy of msg in the run's arena (NULL when out of memory). */
void *twe__run_copy_msg(twe_run_t *run, const ProtobufCMessage *msg);

/* Appends a machine of kind for command (in the run arena) to the pending
 * queue; future may be NULL. Returns the machine or NULL (out of memory). */
twe__machine_t *twe__run_add_command(twe_run_t *run, twe__mkind_t kind,
                                     twe_command_pb_t *command, twe_future_t *future);
/* Indexes m under its initiating event id, so follow-up events find it. */
int twe__run_index_machine(twe_run_t *run, int64_t event_id, twe__machine_t *m);
void twe__run_unindex_machine(twe_run_t *run, int64_t event_id);

/* Resolves a future: with the first payload of result (binary/null when
 * NULL or empty), or with failure. Both are copied into the run arena.
 * Fibers waiting on it become ready, in the order of resolution. Returns 0 or
 * a fatal status. */
int twe__run_resolve_ok(twe_run_t *run, twe_future_t *f, const twe_payloads_pb_t *result);
int twe__run_resolve_failed(twe_run_t *run, twe_future_t *f, const twe_failure_pb_t *failure);
/* Resolves f as failed with an error the engine makes up (type, message). */
int twe__run_resolve_error(twe_run_t *run, twe_future_t *f, const char *type,
                           const char *message);

/* Suspends the current fiber until fs[0..n) satisfy mode. On the run's
 * fiber only. */
void twe__run_wait(twe_run_t *run, twe__wait_mode_t mode, twe_future_t *const *fs, size_t n);

/* The run of wf, checking that the caller is workflow code of that run
 * running on one of its fibers; aborts with a message naming fn otherwise
 * (a programming error: there is nothing sensible to return). */
twe_run_t *twe__run_of(twe_workflow_t *wf, const char *fn);

#endif /* TWE_ENGINE_RUN_INTERNAL_H */
