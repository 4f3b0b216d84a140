/* twe/workflow.h — the API workflow code calls.
 *
 * A workflow function is plain C that runs on a fiber of the shard that owns
 * its run. It must be deterministic: given the same history it must make the
 * same calls in the same order, because twe re-runs it from the history
 * (replay) whenever the run is not in the cache. So: no I/O, no threads, no
 * clocks or random numbers of its own — use twe_workflow_now and
 * twe_workflow_random — and no global state that outlives the run. Work with
 * side effects belongs in activities.
 *
 * Calls that wait (twe_future_wait, twe_workflow_sleep, ...) suspend the
 * fiber until the history says the awaited thing happened; the shard runs
 * other workflows meanwhile.
 *
 * Memory: everything twe hands out here (arguments, results, errors, info)
 * lives in the run's arena until the run ends or leaves the cache; copy what
 * must outlive it. twe_workflow_alloc gives the workflow memory from that
 * arena too, and twe_workflow_pack / _unpack work in it. Use them rather
 * than malloc for anything held across a wait: when a run leaves the cache
 * (evicted, or its workflow closed) its coroutines are abandoned where they
 * wait, not unwound, so memory they malloc'd and would free after the wait
 * is never freed; the run's own memory is.
 *
 * Thread: every function here may be called only by workflow code, on the
 * fiber of the run whose twe_workflow_t it was given. */
#ifndef TWE_WORKFLOW_H
#define TWE_WORKFLOW_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twe/common.h"
#include "twe/value.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct twe_workflow twe_workflow_t;
typedef struct twe_future twe_future_t;
typedef struct twe_scope twe_scope_t;

/* A workflow type's code. Returns when the workflow is done: with the result
 * set by twe_workflow_complete (binary/null if never called), or failed by
 * twe_workflow_fail. user: the pointer given at registration. */
typedef void (*twe_workflow_fn)(twe_workflow_t *wf, void *user);

typedef struct twe_workflow_info {
  const char *namespace_name;
  const char *workflow_id;
  const char *run_id;
  const char *workflow_type;
  const char *task_queue;
  int32_t attempt;           /* 1 for the first run */
  int64_t start_time_ns;     /* Unix ns when the execution started */
  uint64_t execution_timeout_ns, run_timeout_ns, task_timeout_ns; /* 0: none */
  /* The run this one continued as new from ("" for a chain's first run),
   * and the chain's first run (this run's id when it is the first). */
  const char *continued_from_run_id;
  const char *first_execution_run_id;
  /* The parent of a child workflow ("" for a workflow with none). */
  const char *parent_namespace, *parent_workflow_id, *parent_run_id;
  /* The cron schedule it was started with ("" for none). */
  const char *cron_schedule;
} twe_workflow_info_t;

/* Figures that grow as the run goes, as of the workflow task being
 * processed (the same on replay): how many events its history holds, how
 * many bytes, and whether the server suggests continuing as new (the
 * history is getting long). */
TWE_EXPORT int64_t twe_workflow_history_length(twe_workflow_t *wf);
TWE_EXPORT int64_t twe_workflow_history_size_bytes(twe_workflow_t *wf);
TWE_EXPORT bool twe_workflow_continue_as_new_suggested(twe_workflow_t *wf);

/* A log line from workflow code that is quiet while the code replays (it
 * said it when it first ran), as the SDKs' workflow loggers are. The line
 * names the workflow type, id and run id; it goes to the worker's
 * workflow_log hook, or to stderr as "twe: workflow <type> <id> run <run>:
 * LEVEL: message". */
typedef enum twe_log_level {
  TWE_LOG_DEBUG = 0,
  TWE_LOG_INFO = 1,
  TWE_LOG_WARN = 2,
  TWE_LOG_ERROR = 3,
} twe_log_level_t;
typedef struct twe_workflow_log_record {
  twe_log_level_t level;
  const char *workflow_type, *workflow_id, *run_id;
  const char *message;
} twe_workflow_log_record_t;
typedef void (*twe_workflow_log_fn)(void *user, const twe_workflow_log_record_t *record);
TWE_EXPORT void twe_workflow_log(twe_workflow_t *wf, twe_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The run's info. Never NULL. */
TWE_EXPORT const twe_workflow_info_t *twe_workflow_info(twe_workflow_t *wf);
/* How many arguments the workflow was started with. */
TWE_EXPORT size_t twe_workflow_arg_count(twe_workflow_t *wf);
/* Argument i (0-based) in *out. JSON arguments were checked when the task
 * arrived: invalid JSON fails the workflow before the code runs. Returns 0 or
 * -ERANGE. */
TWE_EXPORT int twe_workflow_arg(twe_workflow_t *wf, size_t i, twe_payload_t *out);

/* Deterministic time: Unix ns of the workflow task being processed (the same
 * on every replay). */
TWE_EXPORT int64_t twe_workflow_now(twe_workflow_t *wf);
/* Deterministic random numbers, seeded from the run (the same sequence on
 * every replay). */
TWE_EXPORT uint64_t twe_workflow_random(twe_workflow_t *wf);
/* Whether the code is being replayed from history (for logging only: never
 * branch on it). */
TWE_EXPORT bool twe_workflow_is_replaying(twe_workflow_t *wf);
/* size bytes from the run's arena, freed with the run. NULL when out of
 * memory. */
TWE_EXPORT void *twe_workflow_alloc(twe_workflow_t *wf, size_t size);

/* --- JSON ------------------------------------------------------------------- */
/* Packs a json/plain payload with jansson's json_pack format (e.g.
 * "{s:s, s:i}", "name", name, "count", n) into *out; its text is the run's
 * (freed with it). Returns 0 or TWE_EJSON with the reason in *err (may be
 * NULL), -ENOMEM. */
TWE_EXPORT int twe_workflow_pack(twe_workflow_t *wf, twe_payload_t *out, twe_error_info_t *err,
                                 const char *fmt, ...);
/* Unpacks a json/plain payload with jansson's json_unpack format (e.g.
 * "{s:s, s?i}", "name", &name, "count", &n). Strings and json_t pointers it
 * hands out stay valid for the run's life; nothing to free. Returns 0, or
 * TWE_EJSON when p is not JSON or not what fmt says (*err, may be NULL,
 * says what, as a non-retryable twe.InvalidArgument ready for
 * twe_workflow_fail), -ENOMEM. */
TWE_EXPORT int twe_workflow_unpack(twe_workflow_t *wf, const twe_payload_t *p,
                                   twe_error_info_t *err, const char *fmt, ...);
/* twe_workflow_unpack of argument i (-ERANGE when there is none). */
TWE_EXPORT int twe_workflow_unpack_arg(twe_workflow_t *wf, size_t i, twe_error_info_t *err,
                                       const char *fmt, ...);

/* --- activities ---------------------------------------------------------- */
/* What cancelling an activity does. */
typedef enum twe_cancellation_type {
  /* Ask the server to cancel it (REQUEST_CANCEL_ACTIVITY_TASK); its future
   * fails with a CanceledError at once. The default. */
  TWE_CANCEL_TRY = 0,
  /* Ask, and wait: the future fails when the activity reports it was
   * cancelled (ACTIVITY_TASK_CANCELED), or ends as the activity did if it
   * finished first. */
  TWE_CANCEL_WAIT = 1,
  /* Ask nothing: the future fails at once; the activity runs on. */
  TWE_CANCEL_ABANDON = 2,
} twe_cancellation_type_t;

typedef struct twe_activity_options {
  /* NULL: a sequence number, unique in the run. */
  const char *activity_id;
  /* NULL: the workflow's task queue. */
  const char *task_queue;
  /* Timeouts (0: unset). At least schedule_to_close or start_to_close must be
   * set; the server derives the others. */
  uint64_t schedule_to_close_timeout_ns;
  uint64_t schedule_to_start_timeout_ns;
  uint64_t start_to_close_timeout_ns;
  uint64_t heartbeat_timeout_ns;
  /* NULL: the server's default policy (retry forever, 1 s x2). */
  const twe_retry_policy_t *retry_policy;
  /* What cancelling it does (twe_future_cancel, or its scope cancelled). */
  twe_cancellation_type_t cancellation_type;
} twe_activity_options_t;

/* Schedules activity `type` with args (copied) and hands its future out in
 * *out (NULL on failure). Returns 0, -EINVAL (no timeout, bad options, the
 * workflow already ended), -ENOMEM. The future lives with the run. */
TWE_EXPORT int twe_workflow_start_activity(twe_workflow_t *wf, const char *type,
                                           const twe_activity_options_t *options,
                                           const twe_payload_t *args, size_t nargs,
                                           twe_future_t **out);
/* Starts a timer of duration_ns (at least 1 ms, rounded up to whole ms) and
 * hands its future out in *out. Returns as above. */
TWE_EXPORT int twe_workflow_start_timer(twe_workflow_t *wf, uint64_t duration_ns,
                                        twe_future_t **out);

/* --- futures ------------------------------------------------------------- */
/* Whether f has its outcome. */
TWE_EXPORT bool twe_future_ready(const twe_future_t *f);
/* Suspends the workflow until f is ready. Returns 0 when it succeeded (an
 * activity completed, a timer fired), TWE_EFAILED when it failed (read
 * twe_future_error). */
TWE_EXPORT int twe_future_wait(twe_workflow_t *wf, twe_future_t *f);
/* Suspends until one of fs[0..n) is ready; returns its index (the lowest
 * ready one). n must be >= 1. */
TWE_EXPORT size_t twe_future_wait_any(twe_workflow_t *wf, twe_future_t *const *fs, size_t n);
/* Suspends until all of fs[0..n) are ready. Returns 0 if all succeeded, else
 * TWE_EFAILED (check each). */
TWE_EXPORT int twe_future_wait_all(twe_workflow_t *wf, twe_future_t *const *fs, size_t n);
/* Cancels what f waits for. A timer is cancelled at once: f fails with a
 * CanceledError and, when the timer had started, a CANCEL_TIMER command goes
 * out (TIMER_CANCELED in history). An activity as its cancellation_type
 * says. Something cancelled before its command went out leaves no trace. A
 * no-op once f is ready. Returns 0, -ENOTSUP for a future that cannot be
 * cancelled (the workflow's cancellation), or -ENOMEM (the task then
 * fails). */
TWE_EXPORT int twe_future_cancel(twe_workflow_t *wf, twe_future_t *f);
/* The activity's result (binary/null for a timer) once ready and succeeded.
 * Returns 0, -EAGAIN (not ready) or TWE_EFAILED. */
TWE_EXPORT int twe_future_result(const twe_future_t *f, twe_payload_t *out);
/* The failure once ready and failed: for an activity, the cause the activity
 * failed with (its application error, or a TimeoutError / CanceledError),
 * with the activity's message when there is no cause. Returns 0, -EAGAIN or
 * -ENOENT (it did not fail). */
TWE_EXPORT int twe_future_error(const twe_future_t *f, twe_error_info_t *out);

/* Runs activity `type` and waits for it: start_activity + wait + result.
 * Returns 0 and the result in *result (may be NULL), TWE_EFAILED with the
 * error in *error (may be NULL), or a negative errno from start_activity. */
TWE_EXPORT int twe_workflow_execute_activity(twe_workflow_t *wf, const char *type,
                                             const twe_activity_options_t *options,
                                             const twe_payload_t *args, size_t nargs,
                                             twe_payload_t *result, twe_error_info_t *error);
/* Sleeps duration_ns of workflow time (a durable timer). Returns 0 or a
 * negative errno from start_timer. */
TWE_EXPORT int twe_workflow_sleep(twe_workflow_t *wf, uint64_t duration_ns);

/* --- local activities ----------------------------------------------------- */
/* A local activity runs on this worker's activity threads, within the
 * workflow task, without a round trip through the server: its result is
 * recorded in history as a marker (sdk-core's "core_local_activity"), read
 * back on replay. For short work (a lookup, a small call) where an
 * activity's scheduling would cost more than the work. The type must be
 * registered on this worker (twe_worker_register_activity). */
typedef struct twe_local_activity_options {
  /* NULL: its sequence number in the run ("1", "2", ...). */
  const char *activity_id;
  /* At least one must be set. start_to_close bounds one attempt;
   * schedule_to_close all attempts, backoffs included. */
  uint64_t schedule_to_close_timeout_ns;
  uint64_t start_to_close_timeout_ns;
  /* NULL: retry forever, 1 s x2, at most 100 s apart (the server's
   * defaults for activities). */
  const twe_retry_policy_t *retry_policy;
  /* A backoff up to this long waits inside the workflow task; a longer one
   * is a durable timer, after which the next attempt runs. 0: 1 minute. */
  uint64_t local_retry_threshold_ns;
  /* What cancelling it does: TRY (the default) and ABANDON fail the future
   * at once (TRY tells the code, twe_activity_cancelled); WAIT tells the
   * code and fails the future when the code returns. */
  twe_cancellation_type_t cancellation_type;
} twe_local_activity_options_t;

/* Starts local activity `type` with args (copied) and hands its future out
 * in *out. It fails as the activity's own error (or TimeoutError,
 * CanceledError) once retries are over. Returns 0, -EINVAL (no timeout,
 * the workflow already ended), -ENOMEM. */
TWE_EXPORT int twe_workflow_start_local_activity(twe_workflow_t *wf, const char *type,
                                                 const twe_local_activity_options_t *options,
                                                 const twe_payload_t *args, size_t nargs,
                                                 twe_future_t **out);
/* start_local_activity + wait + result, as twe_workflow_execute_activity. */
TWE_EXPORT int twe_workflow_execute_local_activity(twe_workflow_t *wf, const char *type,
                                                   const twe_local_activity_options_t *options,
                                                   const twe_payload_t *args, size_t nargs,
                                                   twe_payload_t *result,
                                                   twe_error_info_t *error);

/* --- continue-as-new --------------------------------------------------------- */
/* What the next run of a continue-as-new differs in (NULL / 0: as this
 * run). */
typedef struct twe_continue_as_new_options {
  const char *workflow_type;
  const char *task_queue;
  uint64_t run_timeout_ns, task_timeout_ns;
  /* The next run's memo and search attributes (NULL/0: this run's, as the
   * server carries them over). */
  const twe_field_t *memo;
  size_t memo_count;
  const twe_field_t *search_attributes;
  size_t search_attributes_count;
} twe_continue_as_new_options_t;

/* Ends this run, when its function returns, by continuing the workflow as
 * a new run (same workflow id, a fresh history) started with args (copied)
 * and opts (may be NULL). Returns 0, -EINVAL, -ENOMEM (-EPERM in a query
 * handler). */
TWE_EXPORT int twe_workflow_continue_as_new(twe_workflow_t *wf,
                                            const twe_continue_as_new_options_t *opts,
                                            const twe_payload_t *args, size_t nargs);

/* --- side effects -------------------------------------------------------------- */
/* Computes a value outside determinism (set *value, JSON or null, and
 * return 0). Runs once, in the run that first gets there; it must not call
 * twe_workflow_* calls that wait or start things. A non-zero return fails
 * the workflow task (it is retried): a value that was not recorded could
 * not be replayed. */
typedef int (*twe_side_effect_fn)(twe_workflow_t *wf, void *arg, twe_payload_t *value);

/* Runs fn once and records its value in history (a "SideEffect" marker
 * with the Go SDK's name and keys); on replay the recorded value is handed back and fn
 * is not called. *out is the run's memory. Returns 0, -EINVAL, -ENOMEM, or
 * the task's failure (fn failed; on replay, no marker for it). */
TWE_EXPORT int twe_workflow_side_effect(twe_workflow_t *wf, twe_side_effect_fn fn, void *arg,
                                        twe_payload_t *out);

/* Computes a value outside determinism each time the code asks (a setting
 * that may change), and records it only when it differs (same encoding
 * and bytes) from the last value recorded for id: a "MutableSideEffect"
 * marker in the Go SDK's format (its MutableSideEffect; a Go SDK history
 * replays). On replay the recorded values come back and fn is not called.
 * *out is the run's memory. Returns as twe_workflow_side_effect. */
TWE_EXPORT int twe_workflow_mutable_side_effect(twe_workflow_t *wf, const char *id,
                                                twe_side_effect_fn fn, void *arg,
                                                twe_payload_t *out);

/* --- versioning and search attributes ------------------------------------------ */
/* Whether this run takes the code of patch id (*out): true for a run that
 * runs it for the first time, and on replay only when the history shows the
 * patch was taken then; the same answer for the same id for the rest of the
 * run. A true answer records a "core_patch" marker and upserts the
 * TemporalChangeVersion search attribute, as the Python and TypeScript SDKs
 * do, so histories recorded by either replay here. Pattern:
 *   bool p; twe_workflow_patched(wf, "new-step", &p);
 *   if (p) { new code } else { old code }
 * Returns 0, -EINVAL, -ENOMEM. */
TWE_EXPORT int twe_workflow_patched(twe_workflow_t *wf, const char *id, bool *out);
/* Versioning as the Go SDK's GetVersion: the version of change_id this
 * run takes (*out), between min_supported and max_supported. A run that
 * runs the call for the first time takes max_supported and records a
 * "Version" marker (and TemporalChangeVersion "<id>-<version>"); on
 * replay the version the history recorded, or TWE_DEFAULT_VERSION (-1)
 * when the run began before the change. The same answer for the same id
 * for the rest of the run. A version outside [min, max] fails the task as
 * non-deterministic. Pattern:
 *   int v; twe_workflow_get_version(wf, "step", TWE_DEFAULT_VERSION, 1, &v);
 *   if (v == 1) { new code } else { old code }
 * Returns 0, -EINVAL, -ENOMEM, TWE_ENONDETERMINISM. */
#define TWE_DEFAULT_VERSION (-1)
TWE_EXPORT int twe_workflow_get_version(twe_workflow_t *wf, const char *change_id,
                                        int min_supported, int max_supported, int *out);

/* A memo field the workflow was started with. *out is the run's memory.
 * Returns 0, -ENOENT, -ENOMEM. */
TWE_EXPORT int twe_workflow_memo(twe_workflow_t *wf, const char *name, twe_payload_t *out);
/* A search attribute's value (JSON) as the code sees it now: as started,
 * or as it last upserted it; *type (may be NULL) its type ("" when the
 * server did not say). Returns 0, -ENOENT, -ENOMEM. */
TWE_EXPORT int twe_workflow_search_attribute(twe_workflow_t *wf, const char *name,
                                             twe_payload_t *out, const char **type);
/* The patch's second step, once no run of the old code is left: the old
 * branch is gone, and this call stays where `patched` was. A run records
 * the patch's marker with "deprecated": true (live), so histories recorded
 * with `patched` or with this call replay, and so do histories without the
 * marker; the step after removes the call (a deprecated marker is then
 * ignored on replay). As sdk-core's deprecate_patch. Returns 0, -EINVAL,
 * -ENOMEM. */
TWE_EXPORT int twe_workflow_deprecate_patch(twe_workflow_t *wf, const char *id);
/* Upserts search attribute name of type ("Keyword", "Text", "Int",
 * "Double", "Bool", "Datetime", "KeywordList") with value (JSON: "\"x\"",
 * "3", "[\"a\",\"b\"]"). Returns 0, -EINVAL, -ENOMEM. */
TWE_EXPORT int twe_workflow_upsert_search_attribute(twe_workflow_t *wf, const char *name,
                                                    const char *type,
                                                    const twe_payload_t *value);

/* --- child workflows ------------------------------------------------------------ */
typedef struct twe_child_options {
  /* NULL: "<parent id>-child-<n>", n a sequence number of the run. */
  const char *workflow_id;
  /* NULL: the parent's task queue. */
  const char *task_queue;
  uint64_t execution_timeout_ns, run_timeout_ns, task_timeout_ns; /* 0: the server's */
  const twe_retry_policy_t *retry_policy;                          /* NULL: none */
  /* What happens to the child when the parent closes (Temporal's
   * ParentClosePolicy: 0 the server's default, which is 1 TERMINATE; 2
   * ABANDON; 3 REQUEST_CANCEL). */
  int parent_close_policy;
  /* Temporal's WorkflowIdReusePolicy (0: the server's default). */
  int id_reuse_policy;
  /* What cancelling the child (either future, or its scope) does, as the
   * SDKs' ChildWorkflowCancellationType: */
  enum twe_child_cancellation_type {
    /* ask the child to cancel, and the result future ends as the child
     * does (the default) */
    TWE_CHILD_CANCEL_WAIT_COMPLETED = 0,
    /* ask, and fail the result future with a CanceledError at once */
    TWE_CHILD_CANCEL_TRY = 1,
    /* ask, and fail it once the request reached the child */
    TWE_CHILD_CANCEL_WAIT_REQUESTED = 2,
    /* ask nothing (the child runs on); fail it at once */
    TWE_CHILD_CANCEL_ABANDON = 3,
  } cancellation_type;
  /* The child's memo and search attributes (copied; may be NULL/0). */
  const twe_field_t *memo;
  size_t memo_count;
  const twe_field_t *search_attributes;
  size_t search_attributes_count;
} twe_child_options_t;

/* Starts child workflow `type` with args (copied). *started (may be NULL)
 * succeeds with the child's run id (a JSON string) once it started, or
 * fails (StartChildWorkflowFailed: an id already running ...); *result
 * (may be NULL) ends as the child did: its result, or its own failure
 * (type and message of the child's error), or CanceledError, TimeoutError,
 * TerminatedError. Cancelling either future (or the scope it was started
 * in) does what opts->cancellation_type says (by default: asks the child
 * to cancel and waits for how it ends). To signal a
 * child, twe_workflow_signal_external with its id. Returns 0, -EINVAL,
 * -ENOMEM. */
TWE_EXPORT int twe_workflow_start_child(twe_workflow_t *wf, const char *type,
                                        const twe_child_options_t *opts,
                                        const twe_payload_t *args, size_t nargs,
                                        twe_future_t **started, twe_future_t **result);

/* --- other workflows ----------------------------------------------------------- */
/* Sends signal `name` with args (copied) to workflow workflow_id (run_id
 * NULL: its latest run) and hands out a future that succeeds once the
 * signal was delivered, or fails (type SignalExternalWorkflowFailed, the
 * server's cause in the message: no such workflow ...). Returns 0,
 * -EINVAL, -ENOMEM. */
TWE_EXPORT int twe_workflow_signal_external(twe_workflow_t *wf, const char *workflow_id,
                                            const char *run_id, const char *name,
                                            const twe_payload_t *args, size_t nargs,
                                            twe_future_t **out);
/* Asks workflow workflow_id (run_id NULL: its latest run) to cancel (reason
 * may be NULL); the future succeeds once the request reached it (how it
 * ends is its choice), or fails (CancelExternalWorkflowFailed). Returns as
 * above. */
TWE_EXPORT int twe_workflow_cancel_external(twe_workflow_t *wf, const char *workflow_id,
                                            const char *run_id, const char *reason,
                                            twe_future_t **out);

/* --- cancellation ------------------------------------------------------------ */
/* Whether cancellation of the workflow was requested (`temporal workflow
 * cancel`, a client, a parent). The request cancels the root scope: the
 * timers and activities started in it and in its scopes that are not
 * shielded. The workflow decides how it ends: twe_workflow_end_canceled
 * (CANCELED), or complete or fail as usual. */
TWE_EXPORT bool twe_workflow_cancel_requested(twe_workflow_t *wf);
/* A future that becomes ready (succeeds) when cancellation of the workflow
 * is requested: to wait on it beside other futures. The same future each
 * call. Returns 0 or -ENOMEM. */
TWE_EXPORT int twe_workflow_cancellation(twe_workflow_t *wf, twe_future_t **out);
/* Ends the workflow CANCELED (CANCEL_WORKFLOW_EXECUTION) when its function
 * returns. Returns 0 (-EPERM in a query handler). */
TWE_EXPORT int twe_workflow_end_canceled(twe_workflow_t *wf);

/* Opens a cancellation scope inside the calling coroutine's current one and
 * makes it current: timers and activities started from here belong to it.
 * Cancelling a scope (twe_workflow_scope_cancel, or its parent's
 * cancellation) cancels what belongs to it and its own scopes; a shielded
 * scope is not reached by its parent's cancellation (cleanup that must run
 * after the workflow was cancelled), only by its own cancel. Returns 0 or
 * -ENOMEM; the scope is the run's (freed with it). */
TWE_EXPORT int twe_workflow_scope_open(twe_workflow_t *wf, bool shielded, twe_scope_t **out);
/* Makes s's parent current again (s must be the current scope). Returns 0
 * or -EINVAL. */
TWE_EXPORT int twe_workflow_scope_close(twe_workflow_t *wf, twe_scope_t *s);
/* Cancels s and what is in it. Returns 0 (a no-op when already cancelled). */
TWE_EXPORT int twe_workflow_scope_cancel(twe_workflow_t *wf, twe_scope_t *s);
/* Whether s was cancelled. */
TWE_EXPORT bool twe_workflow_scope_cancelled(const twe_scope_t *s);

/* --- signals -------------------------------------------------------------- */
/* A signal as its handler sees it. Everything lives in the run's arena. */
typedef struct twe_signal {
  const char *name;
  const twe_payload_t *args; /* the signal's input, one value per argument */
  size_t nargs;
  /* Non-NULL when an argument claims json/plain but is not JSON: what is
   * wrong with it (args still hold the bytes as sent). The handler decides
   * what to do; the workflow goes on either way. */
  const char *input_error;
  const char *identity; /* of the sender, as the server recorded it ("" if none) */
  uint64_t seq;         /* 1 for the run's first signal, 2 for the next ... */
} twe_signal_t;

/* A signal handler. It runs on a coroutine of its own, so it may start
 * activities and timers and wait, like the workflow function; it must be
 * deterministic in the same way. */
typedef void (*twe_signal_fn)(twe_workflow_t *wf, const twe_signal_t *sig, void *user);

/* Sets the handler of signals called name (copied), or of every signal no
 * named handler takes when name is NULL (the catch-all); fn NULL removes it.
 * Signals that arrived before their handler existed are buffered, never
 * dropped, and handed to it now, in the order they arrived; each handler
 * call starts once the calling coroutine next waits or returns. Signals no
 * handler took when the workflow ends are named in one warning line in the
 * worker's log. Returns 0, -EINVAL or -ENOMEM. */
TWE_EXPORT int twe_workflow_set_signal_handler(twe_workflow_t *wf, const char *name,
                                               twe_signal_fn fn, void *user);

/* --- queries -------------------------------------------------------------- */
/* A query as its handler sees it. Everything lives in memory that ends with
 * the query: copy what must outlive it. */
typedef struct twe_query {
  const char *name;
  const twe_payload_t *args;
  size_t nargs;
  const char *input_error; /* as in twe_signal_t */
  void *twe_private;       /* twe's: for twe_query_alloc */
} twe_query_t;

/* A query handler: reads the workflow's state and answers. It is read-only:
 * starting an activity or a timer, waiting, cancelling, setting handlers or
 * ending the workflow returns -EPERM and fails the query with a message
 * naming the call (twe_future_wait_any returns 0 at once); twe_workflow_random
 * returns a number without moving the sequence. Set *result (null when left
 * alone) and return 0, or return non-zero to fail the query with
 * error->message (set it; a default otherwise). Both are copied after the
 * handler returns, so they must not point to its own stack: build them in
 * twe_query_alloc memory (or the workflow's state, or static strings).
 * Memory from twe_workflow_alloc stays with the run: avoid it here. */
typedef int (*twe_query_fn)(twe_workflow_t *wf, const twe_query_t *q, void *user,
                            twe_payload_t *result, twe_error_info_t *error);

/* size bytes that live until the query's answer is sent (then freed). For
 * a handler's result and message. NULL when out of memory. */
TWE_EXPORT void *twe_query_alloc(const twe_query_t *q, size_t size);

/* Sets the handler of queries called name (copied); fn NULL removes it.
 * Queries are answered from the run's state as of its last workflow task:
 * from the cached run, or after replaying the history (a run not in the
 * cache, a closed workflow). Built in: "__stack_trace" (each coroutine and
 * what it waits on) and "__temporal_workflow_metadata" (the handlers). An
 * unknown name fails with the known ones listed. Returns 0, -EINVAL or
 * -ENOMEM. */
TWE_EXPORT int twe_workflow_set_query_handler(twe_workflow_t *wf, const char *name,
                                              twe_query_fn fn, void *user);

/* --- updates --------------------------------------------------------------- */
/* An update as its validator and handler see it (run arena). */
typedef struct twe_update {
  const char *name;
  const char *id;       /* the update id the caller chose (or the server) */
  const twe_payload_t *args;
  size_t nargs;
  const char *input_error; /* as in twe_signal_t */
  const char *identity;    /* of the caller ("" if none) */
} twe_update_t;

/* Decides whether to accept an update, before anything is recorded:
 * read-only like a query handler. Return 0 to accept; non-zero rejects it
 * with error->message (static, or in the workflow's state: it is copied
 * after the validator returns). A rejection leaves no event in history. */
typedef int (*twe_update_validator_fn)(twe_workflow_t *wf, const twe_update_t *u, void *user,
                                       twe_error_info_t *error);
/* Runs an accepted update on a coroutine of its own (it may run activities
 * and wait). Return 0 with *result set (null when left alone), or non-zero
 * with *error set: the update completes with that failure and the workflow
 * goes on. Both are copied after the handler returns, so they must not
 * point to its own stack (use twe_workflow_alloc or the workflow's state). */
typedef int (*twe_update_fn)(twe_workflow_t *wf, const twe_update_t *u, void *user,
                             twe_payload_t *result, twe_error_info_t *error);

/* Sets the handler (and validator, may be NULL) of updates called name
 * (copied); fn NULL removes it. Updates are delivered once the workflow's
 * coroutines have run as far as they can in a task, so handlers set at the
 * start of the workflow see updates that came with its first task. An
 * update with no handler then is rejected naming the known ones. Returns 0,
 * -EINVAL or -ENOMEM. */
TWE_EXPORT int twe_workflow_set_update_handler(twe_workflow_t *wf, const char *name,
                                               twe_update_fn fn,
                                               twe_update_validator_fn validator, void *user);

/* --- coroutines ------------------------------------------------------------- */
/* The body of a coroutine started with twe_workflow_go: workflow code like
 * the workflow function (it may start activities, timers and children, and
 * wait). Return 0 with *result set (null when left alone), or non-zero with
 * *error set: the coroutine's future succeeds or fails with them (copied
 * when the function returns, so they must not point to its own stack). */
typedef int (*twe_coroutine_fn)(twe_workflow_t *wf, void *arg, twe_payload_t *result,
                                twe_error_info_t *error);

/* Starts fn(wf, arg) on a coroutine of the workflow's own, beside the
 * calling one (the SDKs' workflow.Go, an asyncio task): it first runs once
 * the caller waits or returns, in the order coroutines were started, and
 * starts in the caller's current cancellation scope (cancel the scope to
 * cancel what it started; its future cannot be cancelled itself). name
 * (may be NULL) labels it in __stack_trace. *out resolves when fn
 * returns; wait for it with twe_future_wait / _wait_all. Returns 0,
 * -EINVAL, -EPERM (in a query) or -ENOMEM. */
TWE_EXPORT int twe_workflow_go(twe_workflow_t *wf, const char *name, twe_coroutine_fn fn,
                               void *arg, twe_future_t **out);

/* --- waiting on a condition --------------------------------------------------- */
/* A predicate over the workflow's own state. Called on the workflow's
 * coroutines (it may call twe_workflow_* functions that do not wait); it
 * must not wait, and should be cheap: it runs after every change the run
 * sees until it is true. */
typedef bool (*twe_condition_fn)(twe_workflow_t *wf, void *arg);

/* Suspends until cond(wf, arg) is true, re-evaluated whenever the run's
 * coroutines have run (a signal handled, an activity resolved ...). With a
 * timeout_ns (0: none), a durable timer runs beside it: cancelled (TIMER_
 * CANCELED in history) when the condition comes true first. Returns 0 when
 * the condition is true (checked first, also when the timer fired in the
 * same task), -ETIMEDOUT when the timeout passed, -ECANCELED when the
 * timeout's scope was cancelled first, or a negative errno from starting
 * the timer. */
TWE_EXPORT int twe_workflow_wait_condition(twe_workflow_t *wf, twe_condition_fn cond, void *arg,
                                           uint64_t timeout_ns);

/* --- ending the run ------------------------------------------------------ */
/* Sets the workflow's result (copied); the workflow completes when its
 * function returns. Returns 0 or -ENOMEM. */
TWE_EXPORT int twe_workflow_complete(twe_workflow_t *wf, const twe_payload_t *result);
/* Makes the workflow fail with err (copied) when its function returns,
 * instead of completing. Returns 0 or -ENOMEM. */
TWE_EXPORT int twe_workflow_fail(twe_workflow_t *wf, const twe_error_info_t *err);

#ifdef __cplusplus
}
#endif
#endif /* TWE_WORKFLOW_H */
