/* engine/workflow/run_internal.h — the insides of a workflow run, shared by
 * run.c (history -> activations), futures.c (futures, waits, the ready
 * queue), machine.c and machine_<kind>.c (the state machines and the calls
 * that create them) and workflow_api.c (the rest of the workflow calls).
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
#include "engine/log.h"
#include "engine/fiber.h"
#include "engine/json_values.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run.h"
#include "engine/values.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/update/v1/message.pb-c.h"
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
  /* Called when it resolves, after the waiting fibers were woken (a local
   * activity's backoff timer starts the next attempt). Returns 0 or a
   * fatal status. */
  int (*on_resolve)(twe_run_t *run, twe_future_t *f, void *arg);
  void *on_resolve_arg;
  bool ready, failed;
  twe_payload_t result; /* when ready && !failed; data in the run arena */
  twe_error_info_t error; /* when ready && failed; strings in the run arena */
};

/* What a suspended fiber waits for: any or all of fs[0..n). fs is the
 * caller's array (on the suspended fiber's own stack, which stays put).
 * TWE__WAIT_CONDITION: a predicate (twe_workflow_wait_condition) that the
 * fiber itself re-evaluates when the scheduler rechecks it, plus an
 * optional timer future in fs[0] whose resolution wakes it. */
typedef enum twe__wait_mode {
  TWE__WAIT_NONE,
  TWE__WAIT_ANY,
  TWE__WAIT_ALL,
  TWE__WAIT_CONDITION
} twe__wait_mode_t;

/* A cancellation scope (scopes.c): the machines started in it and its
 * child scopes. In the run arena. */
struct twe_scope {
  twe_run_t *run;
  twe_scope_t *parent;
  bool shielded, cancelled;
  twe__machine_t *machines;           /* linked by scope_next */
  twe_scope_t *children, *next_child; /* its scopes; the parent's list */
};

/* One coroutine of the run: the workflow function (root) or a handler. */
typedef struct twe__wfiber twe__wfiber_t;
struct twe__wfiber {
  twe_run_t *run;
  twe_fiber_t *fiber; /* NULL once finished and returned to the pool */
  bool root;          /* runs the workflow function */
  bool in_ready;      /* queued in run->ready */
  /* What it runs (user code, between twe__watch_user_enter and _leave),
   * and what __stack_trace calls it ("workflow function", "signal handler
   * \"approve\" (signal 1)"). */
  void (*body)(twe__wfiber_t *w);
  void *body_arg;
  const char *label;
  twe_scope_t *scope; /* its current cancellation scope */
  /* TWE__WAIT_CONDITION: queued by the scheduler to look at its predicate
   * again; set by the fiber when it did, found it false and changed
   * nothing. */
  bool rechecking, recheck_idle;
  twe__wait_mode_t wait_mode;
  twe_future_t *const *wait_fs;
  size_t wait_n;
  size_t wait_next; /* TWE__WAIT_ALL: fs before this index are ready */
  struct twe__wfiber *next_ready;
  struct twe__wfiber *next_all; /* every live fiber, in creation order */
  twe_fiber_stowed_t *stowed;   /* its stack's copy while the run is stowed */
};

/* Query handlers by name (queries.c). */
typedef struct twe__query_handler {
  const char *name;
  twe_query_fn fn;
  void *user;
  struct twe__query_handler *next;
} twe__query_handler_t;

/* Updates (machine_update.c): handlers by name, requests waiting to be
 * delivered, every update of the run, and the protocol messages for the
 * task's answer. */
typedef struct twe__update twe__update_t;
typedef struct twe__update_handler {
  const char *name;
  twe_update_fn fn;
  twe_update_validator_fn validator;
  void *user;
  struct twe__update_handler *next;
} twe__update_handler_t;
typedef struct twe__update_request {
  const char *message_id;
  int64_t sequencing_event_id;
  Temporal__Api__Update__V1__Request *request; /* run arena */
  struct twe__update_request *next;
} twe__update_request_t;
typedef struct twe__message {
  Temporal__Api__Protocol__V1__Message *pb; /* run arena */
  struct twe__message *next;
} twe__message_t;

/* Patches (machine_patch.c): a list of ids (with the answer, for the
 * memo). */
typedef struct twe__patch {
  const char *id;
  bool result;
  struct twe__patch *next;
} twe__patch_t;

/* Side effects a replayed task's markers hold (machine_side_effect.c). */
typedef struct twe__side_effect {
  int64_t id;
  twe_payload_t value; /* run arena */
  struct twe__side_effect *next;
} twe__side_effect_t;

/* Local activities (machine_local_activity.c). */
typedef struct twe__local_machine twe__local_machine_t;
typedef struct twe__local_marker twe__local_marker_t;

/* Signals (signals.c): handlers by name, and signals no handler took yet. */
typedef struct twe__signal_handler {
  const char *name; /* NULL: the catch-all */
  twe_signal_fn fn;
  void *user;
  struct twe__signal_handler *next;
} twe__signal_handler_t;

typedef struct twe__signal {
  twe_signal_t pub;
  twe_signal_fn fn; /* the handler it was given to */
  void *user;
  struct twe__signal *next;
} twe__signal_t;

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
  twe__wfiber_t *all_fibers, *all_fibers_tail;
  twe__wfiber_t *ready_head, *ready_tail;
  twe__wfiber_t *current; /* the fiber running right now, else NULL */
  bool code_started;      /* the root fiber exists (or the input failed) */
  bool stowed;            /* some fibers' stacks are stowed (twe__run_stow) */
  /* A fiber ran since the last time condition waiters were rechecked. */
  bool cond_changed;

  /* Queries: a query handler is running (the API refuses what would change
   * the run), and the first call it was refused ("twe_workflow_sleep"). */
  twe__query_handler_t *query_handlers;
  bool in_query;
  const char *query_refused;
  twe__wfiber_t query_fiber; /* the coroutine of the query being answered */

  /* Updates. live_messages: the protocol messages of the task being
   * processed (the caller's memory), taken when its activation begins. */
  twe__update_handler_t *update_handlers;
  twe__update_request_t *requests_head, *requests_tail;
  twe__update_t *updates;
  twe__message_t *messages_head, *messages_tail;
  size_t n_messages;
  Temporal__Api__Protocol__V1__Message *const *live_messages;
  size_t n_live_messages;

  /* Cancellation: the root scope (every coroutine starts in it), whether
   * cancellation was requested and is still to be applied (at the next
   * activation: a job, like the SDKs'), the cancellation future, and
   * whether the workflow ends CANCELED. */
  twe_scope_t root_scope;
  bool cancel_requested, cancel_pending, end_canceled;
  twe_future_t *cancellation;
  /* twe_workflow_continue_as_new's attributes (run arena), or NULL. */
  Temporal__Api__Command__V1__ContinueAsNewWorkflowExecutionCommandAttributes *continue_as_new;

  /* Patches: decided ones (memo), those a replayed task's markers hold,
   * and the ids TemporalChangeVersion lists (newest first). */
  twe__patch_t *patch_memo, *task_patches, *change_versions;
  /* Go-style versions (machine_version.c): decided ones, newest first,
   * and those a replayed task's markers hold. */
  struct twe__version *version_memo, *task_versions;
  /* Mutable side effects (machine_mutable_side_effect.c): the values
   * recorded so far, those a replayed task's markers hold, and the calls
   * made per id. */
  struct twe__mutable *mutables, *task_mutables, *mutable_calls;
  /* Side effects: the last id given (they count from 1), and the values
   * the task being replayed recorded. */
  int64_t side_effect_seq;
  twe__side_effect_t *task_side_effects;

  /* Local activities: the last sequence number given (they count from 1),
   * every machine, oldest first (linked by next_local), the markers of the
   * task being replayed in history order, the results the worker handed
   * back that no activation delivered yet, the requests for the worker,
   * and how many requested attempts have not come back. */
  uint32_t local_seq;
  twe__local_machine_t *locals_head, *locals_tail;
  twe__local_marker_t *task_locals;
  twe__local_marker_t *arrived_head, *arrived_tail;
  twe_local_request_t *local_req_head, *local_req_tail;
  size_t locals_in_flight;

  /* The memo the run started with, and its search attributes: what it
   * started with and each upsert since, newest first (workflow_api.c). */
  Temporal__Api__Common__V1__Memo *memo;
  struct twe__sa_set {
    Temporal__Api__Common__V1__SearchAttributes *sa; /* run arena */
    struct twe__sa_set *next;
  } *search_attributes;

  /* Documents twe_workflow_unpack parsed: alive until the run ends. */
  twe__json_keep_t *json_keep;

  /* Signals. */
  twe__signal_handler_t *signal_handlers;
  twe__signal_t *signals_head, *signals_tail; /* buffered: no handler yet */
  uint64_t signals_received;

  /* Commands no event has matched yet, oldest first (machine.c). */
  twe__command_t *pending_head, *pending_tail;
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

  /* The first fatal problem: the run is unusable after it. message is in
   * the run arena (at most TWE__RUN_MESSAGE_MAX bytes), set with status:
   * a healthy run keeps no room for one. */
  int status;
  twe__task_cause_t cause;
  const char *message;
};

/* The longest failure message a run keeps, NUL included. */
#define TWE__RUN_MESSAGE_MAX 1024

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
/* Puts the run's stowed fiber stacks back (twe__run_stow); a no-op when
 * none is. Every entry point that runs code or reads its state calls it. */
void twe__run_unstow(twe_run_t *run);
/* A line about run in its worker's log (engine/log.h: held back when the
 * same fmt repeats), with the run's shard, type, id and run id. */
void twe__run_log(twe_run_t *run, twe_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A deep copy of msg in the run's arena (NULL when out of memory). */
void *twe__run_copy_msg(twe_run_t *run, const ProtobufCMessage *msg);

/* --- futures.c --- */
/* A new unresolved future of run (arena), or NULL. */
twe_future_t *twe__future_new(twe_run_t *run);
/* Cancels what f waits for (twe_future_cancel). Returns 0, -ENOTSUP (its
 * kind cannot be cancelled) or a fatal status. */
int twe__future_cancel(twe_run_t *run, twe_future_t *f);
/* Resolves a future: with the first payload of result (binary/null when
 * NULL or empty), or with failure. Both are copied into the run arena.
 * Fibers waiting on it become ready, in the order of resolution. Returns 0 or
 * a fatal status. */
int twe__run_resolve_ok(twe_run_t *run, twe_future_t *f, const twe_payloads_pb_t *result);
int twe__run_resolve_failed(twe_run_t *run, twe_future_t *f, const twe_failure_pb_t *failure);
/* Resolves f with a value (copied), or as failed with an error (copied),
 * both from workflow code (twe_workflow_go). */
int twe__run_resolve_value(twe_run_t *run, twe_future_t *f, const twe_payload_t *value);
int twe__run_resolve_error_info(twe_run_t *run, twe_future_t *f, const twe_error_info_t *error);
/* Resolves f as failed with an error the engine makes up (type, message). */
int twe__run_resolve_error(twe_run_t *run, twe_future_t *f, const char *type,
                           const char *message);

/* Suspends the current fiber until fs[0..n) satisfy mode. On the run's
 * fiber only. */
void twe__run_wait(twe_run_t *run, twe__wait_mode_t mode, twe_future_t *const *fs, size_t n);
/* The ready queue: push (no-op when queued), push at the front (the fiber a
 * slice interrupted runs first), pop (NULL when empty). */
void twe__run_ready_push(twe_run_t *run, twe__wfiber_t *w);
void twe__run_ready_push_front(twe_run_t *run, twe__wfiber_t *w);
twe__wfiber_t *twe__run_ready_pop(twe_run_t *run);

/* --- run.c --- */
/* A new coroutine that runs body(w) (w->body_arg = arg), called label
 * (kept: a static string or the run arena's), queued ready. Returns 0 or a
 * fatal status. */
int twe__run_spawn(twe_run_t *run, void (*body)(twe__wfiber_t *w), void *arg, const char *label);

/* Fills w (zeroed first) to run body(w) with arg, called label, and
 * creates its fiber, linked nowhere: twe__run_spawn's first half. Returns 0
 * or a fatal status. */
int twe__run_fiber_init(twe_run_t *run, twe__wfiber_t *w, void (*body)(twe__wfiber_t *w),
                        void *arg, const char *label);

/* --- queries.c --- */
/* In a query handler: refuses fn (a call that would change the run), and
 * remembers it to fail the query with. Returns -EPERM; 0 outside a query. */
int twe__run_refuse_in_query(twe_run_t *run, const char *fn);
/* Runs body(w) (w->body_arg = arg) read-only, to its end, on the run's
 * query coroutine, nothing else of the run running (query handlers, update
 * validators). run->query_refused says what it was refused. Returns 0 or a
 * fatal status (the watchdog stopped it). */
int twe__run_readonly_call(twe_run_t *run, void (*body)(twe__wfiber_t *w), void *arg,
                           const char *label);
/* --- scopes.c --- */
/* m was started by the current coroutine: it joins that coroutine's scope
 * (cancelled at once when the scope already is). Returns 0 or a fatal
 * status. */
int twe__scope_adopt(twe_run_t *run, twe__machine_t *m);
/* m joins scope s (NULL: the current coroutine's). */
int twe__scope_adopt_in(twe_run_t *run, twe_scope_t *s, twe__machine_t *m);
/* WORKFLOW_EXECUTION_CANCEL_REQUESTED: noted, applied by the next
 * activation (twe__scope_apply_cancel_request). */
void twe__scope_cancel_requested(twe_run_t *run);
int twe__scope_apply_cancel_request(twe_run_t *run);

/* --- machine_cancel_workflow.c, machine_continue_as_new.c --- */
int twe__cancel_workflow_command(twe_run_t *run);
int twe__continue_as_new_command(twe_run_t *run);

/* --- machine_patch.c, machine_upsert_search_attributes.c --- */
/* Replay: the patch ids of the core_patch markers the task recorded (its
 * command events from events[from]). Returns 0 or a fatal status. */
int twe__patches_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n);
/* Replay: the values of the SideEffect markers the task recorded. Returns
 * 0 or a fatal status. */
int twe__side_effects_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from,
                                size_t n);
/* Queues an upsert of one search attribute (json, its type). Returns 0 or
 * the arena's error. */
int twe__upsert_search_attribute(twe_run_t *run, const char *name, const char *type,
                                 const char *json, size_t len);

/* --- machine_version.c --- */
/* Replay: the Version markers the task recorded. Returns 0 or a fatal
 * status. */
int twe__versions_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n);

/* --- machine_mutable_side_effect.c --- */
/* Replay: the MutableSideEffect markers the task recorded. Returns 0 or a
 * fatal status. */
int twe__mutables_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n);

/* --- machine_local_activity.c --- */
/* Replay: the core_local_activity markers the task recorded, in history
 * order. Returns 0 or a fatal status. */
int twe__locals_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n);
/* Hands one result to the local activity waiting for it: the next marker
 * of the task being replayed, or the next result the worker handed back.
 * Returns 1 if it did, 0 if there was none, or a fatal status. */
int twe__locals_deliver(twe_run_t *run);
/* The task being processed is live: local activities that replay left
 * waiting for a marker the history does not have (the worker that ran
 * them is gone) run now. Returns 0 or a fatal status. */
int twe__locals_execute_waiting(twe_run_t *run);

/* --- workflow_api.c --- */
/* sa (run arena) is the newest set of search attributes the code sees
 * (the start's, or an upsert's). Returns 0 or a fatal status. */
int twe__search_attributes_note(twe_run_t *run, Temporal__Api__Common__V1__SearchAttributes *sa);

/* --- machine_cancel_external.c --- */
/* Queues a cancel request to workflow workflow_id (a child's when
 * child_only), its future in *out (may be NULL). Returns 0 or the arena's
 * error. */
int twe__run_cancel_external(twe_run_t *run, const char *workflow_id, const char *run_id,
                             const char *reason, bool child_only, twe_future_t **out);

/* --- machine_update.c --- */
/* The task's protocol messages (update requests) become requests to
 * deliver. Returns 0 or a fatal status. */
int twe__updates_take_messages(twe_run_t *run, Temporal__Api__Protocol__V1__Message *const *msgs,
                               size_t n);
/* Replay: the requests of the task whose WORKFLOW_TASK_COMPLETED precedes
 * events[from], rebuilt from the UPDATE_ACCEPTED events up to the next
 * workflow task. Returns 0 or a fatal status. */
int twe__updates_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n);
/* Delivers the waiting requests (validate, accept or reject, start the
 * handlers). Returns 1 if there were any, 0 if none, or a fatal status. */
int twe__updates_deliver(twe_run_t *run);

/* --- signals.c --- */
/* A WORKFLOW_EXECUTION_SIGNALED event: buffered, and handed to its handler
 * if there is one. Returns 0 or a fatal status. */
int twe__signals_on_event(twe_run_t *run, const twe_event_pb_t *e);
/* The workflow ends: one warning line naming the signals no handler took
 * (not while replaying: the live run said it). */
void twe__signals_report_unhandled(twe_run_t *run);

/* --- the kinds' calls (machine_<kind>.c) --- */
/* A timer of duration_ns (rounded up to whole ms) and its future in *out.
 * Returns 0, -EINVAL (zero duration, the workflow ended), or the arena's
 * error. */
int twe__run_start_timer(twe_run_t *run, uint64_t duration_ns, twe_future_t **out);
/* The same, the timer joining scope (NULL: the current coroutine's). */
int twe__run_start_timer_in(twe_run_t *run, uint64_t duration_ns, twe_scope_t *scope,
                            twe_future_t **out);
/* The close command once the workflow function returned: complete (with
 * run->result) or fail (with run->failure). Set run->closed. Return 0 or a
 * fatal status. */
int twe__complete_workflow_command(twe_run_t *run);
int twe__fail_workflow_command(twe_run_t *run);

/* The run of wf, checking that the caller is workflow code of that run
 * running on one of its fibers; aborts with a message naming fn otherwise
 * (a programming error: there is nothing sensible to return). */
twe_run_t *twe__run_of(twe_workflow_t *wf, const char *fn);

#endif /* TWE_ENGINE_RUN_INTERNAL_H */
