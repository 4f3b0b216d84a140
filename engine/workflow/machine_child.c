/* engine/workflow/machine_child.c — the child workflow machine
 * (twe_workflow_start_child): a START_CHILD_WORKFLOW_EXECUTION command, its
 * _INITIATED event, then CHILD_WORKFLOW_EXECUTION_STARTED (the start future
 * succeeds with the child's run id) or START_CHILD_WORKFLOW_EXECUTION_FAILED
 * (both futures fail), then how the child ended (the result future).
 *
 *   CREATED --SENT--> START_SENT --..._INITIATED--> INITIATED
 *   CREATED --..._INITIATED--> INITIATED                       (replay)
 *   INITIATED --CHILD_WORKFLOW_EXECUTION_STARTED--> STARTED
 *   INITIATED --START_CHILD_WORKFLOW_EXECUTION_FAILED--> START_FAILED
 *   STARTED --CHILD_WORKFLOW_EXECUTION_COMPLETED / _FAILED / _CANCELED /
 *     _TIMED_OUT / _TERMINATED--> COMPLETED / FAILED / CANCELED /
 *     TIMED_OUT / TERMINATED
 *   CREATED --CANCEL--> ABANDONED_UNSENT   (nothing goes out)
 *
 * Cancelling a child that started (twe_future_cancel on either future, or
 * its scope cancelled) asks it to cancel (a cancel external command, child
 * only) and, by the cancellation type: waits for how it ends (the SDKs'
 * default), fails the result at once (try), or once the request reached
 * the child (wait requested); abandon asks nothing and fails the result at
 * once. One cancelled while its start is under way is asked once it has
 * started. Events of a child whose result failed early change nothing. A child's
 * failure reaches the parent as its own failure (type and message), so
 * the parent can fail with the cause.
 *
 * Replay compares the child's workflow type, and its id when the code chose
 * it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "temporal/api/enums/v1/failed_cause.pb-c.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define ATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

enum {
  CREATED,
  START_SENT,
  INITIATED,
  STARTED,
  START_FAILED,
  COMPLETED,
  FAILED,
  CANCELED,
  TIMED_OUT,
  TERMINATED,
  ABANDONED_UNSENT,
  N_STATES
};
static const char *const state_names[N_STATES] = {
    "CREATED", "START_SENT", "INITIATED", "STARTED",    "START_FAILED",    "COMPLETED",
    "FAILED",  "CANCELED",   "TIMED_OUT", "TERMINATED", "ABANDONED_UNSENT"};

typedef struct child_machine {
  twe__machine_t m; /* first: the common part */
  twe_future_t *started, *result;
  const char *workflow_id, *type; /* run arena */
  const char *run_id;             /* once started */
  bool cancel_when_started;
  int cancellation_type; /* enum twe_child_cancellation_type */
} child_machine_t;

/* --- actions ------------------------------------------------------------------ */

static int canceled(twe_run_t *run, twe_future_t *f) {
  return f->ready ? 0 : twe__run_resolve_error(run, f, "CanceledError", "child workflow canceled");
}

/* WAIT_REQUESTED: the cancel request reached the child (or failed to). */
static int on_requested(twe_run_t *run, twe_future_t *f, void *arg) {
  (void)f;
  return canceled(run, ((child_machine_t *)arg)->result);
}

static int ask_cancel(twe_run_t *run, child_machine_t *cm) {
  if (cm->cancellation_type == TWE_CHILD_CANCEL_ABANDON) return 0;
  twe_future_t *req = NULL;
  int rc = twe__run_cancel_external(run, cm->workflow_id, cm->run_id, "the parent cancelled it",
                                    true, &req);
  if (rc < 0 || cm->cancellation_type != TWE_CHILD_CANCEL_WAIT_REQUESTED) return rc;
  req->on_resolve = on_requested;
  req->on_resolve_arg = cm;
  return 0;
}

/* A cancellation the type settles at once (try, abandon). */
static int cancel_now(twe_run_t *run, child_machine_t *cm) {
  return cm->cancellation_type == TWE_CHILD_CANCEL_TRY ||
                 cm->cancellation_type == TWE_CHILD_CANCEL_ABANDON
             ? canceled(run, cm->result)
             : 0;
}

static int act_started(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  child_machine_t *cm = (child_machine_t *)m;
  const Temporal__Api__History__V1__ChildWorkflowExecutionStartedEventAttributes *a =
      e->child_workflow_execution_started_event_attributes;
  const char *rid = a->workflow_execution && a->workflow_execution->run_id
                        ? a->workflow_execution->run_id
                        : "";
  if (!(cm->run_id = twe__str(&run->arena, rid))) return twe__run_oom(run);
  char json[128];
  snprintf(json, sizeof json, "\"%s\"", cm->run_id);
  twe_payload_t v = twe_payload_json(json);
  twe_payloads_pb_t *pb;
  if (twe__values_to_payloads(&run->arena, &v, 1, &pb) < 0) return twe__run_oom(run);
  int rc = twe__run_resolve_ok(run, cm->started, pb);
  if (rc == 0 && cm->cancel_when_started) rc = ask_cancel(run, cm);
  return rc;
}

static int act_start_failed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  child_machine_t *cm = (child_machine_t *)m;
  twe__machine_unindex(run, m->initiated_event_id);
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &temporal__api__enums__v1__start_child_workflow_execution_failed_cause__descriptor,
      (int)e->start_child_workflow_execution_failed_event_attributes->cause);
  char msg[300];
  snprintf(msg, sizeof msg, "child workflow %s (%s) did not start: %s", cm->workflow_id,
           cm->type, v ? v->name : "unknown cause");
  int rc = twe__run_resolve_error(run, cm->started, "StartChildWorkflowFailed", msg);
  return rc < 0 ? rc : twe__run_resolve_error(run, cm->result, "StartChildWorkflowFailed", msg);
}

static int ended(twe_run_t *run, twe__machine_t *m) {
  twe__machine_unindex(run, m->initiated_event_id);
  return 0;
}

static int act_completed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  ended(run, m);
  child_machine_t *cm = (child_machine_t *)m;
  if (cm->result->ready) return 0; /* cancelled without waiting */
  return twe__run_resolve_ok(run, cm->result,
                             e->child_workflow_execution_completed_event_attributes->result);
}

static int act_failed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  ended(run, m);
  const twe_failure_pb_t *f = e->child_workflow_execution_failed_event_attributes->failure;
  child_machine_t *cm = (child_machine_t *)m;
  if (cm->result->ready) return 0;
  return f ? twe__run_resolve_failed(run, cm->result, f)
           : twe__run_resolve_error(run, cm->result, "ChildWorkflowFailed", "child workflow failed");
}

static int act_ended(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e;
  ended(run, m);
  const char *type = *to == CANCELED    ? "CanceledError"
                     : *to == TIMED_OUT ? "TimeoutError"
                                        : "TerminatedError";
  const char *what = *to == CANCELED    ? "child workflow canceled"
                     : *to == TIMED_OUT ? "child workflow timed out"
                                        : "child workflow terminated";
  child_machine_t *cm = (child_machine_t *)m;
  return cm->result->ready ? 0 : twe__run_resolve_error(run, cm->result, type, what);
}

static int act_cancel_unsent(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  child_machine_t *cm = (child_machine_t *)m;
  twe__machine_drop_command(run, m);
  int rc = twe__run_resolve_error(run, cm->started, "CanceledError", "child workflow canceled");
  return rc < 0 ? rc
                : twe__run_resolve_error(run, cm->result, "CanceledError",
                                         "child workflow canceled");
}

static int cancel(twe_run_t *run, twe__machine_t *m) {
  child_machine_t *cm = (child_machine_t *)m;
  switch (m->state) {
    case CREATED:
      return twe__machine_input(run, m, TWE__IN_CANCEL, NULL);
    case START_SENT:
    case INITIATED:
      if (cm->cancel_when_started) return 0;
      cm->cancel_when_started = true;
      return cancel_now(run, cm);
    case STARTED:
      if (cm->cancel_when_started) return 0;
      cm->cancel_when_started = true; /* asked once */
      int rc = ask_cancel(run, cm);
      return rc < 0 ? rc : cancel_now(run, cm);
    default:
      return 0;
  }
}

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, START_SENT, NULL},
    {CREATED, EV(START_CHILD_WORKFLOW_EXECUTION_INITIATED), INITIATED, twe__machine_act_initiated},
    {START_SENT, EV(START_CHILD_WORKFLOW_EXECUTION_INITIATED), INITIATED,
     twe__machine_act_initiated},
    {INITIATED, EV(CHILD_WORKFLOW_EXECUTION_STARTED), STARTED, act_started},
    {INITIATED, EV(START_CHILD_WORKFLOW_EXECUTION_FAILED), START_FAILED, act_start_failed},
    {STARTED, EV(CHILD_WORKFLOW_EXECUTION_COMPLETED), COMPLETED, act_completed},
    {STARTED, EV(CHILD_WORKFLOW_EXECUTION_FAILED), FAILED, act_failed},
    {STARTED, EV(CHILD_WORKFLOW_EXECUTION_CANCELED), CANCELED, act_ended},
    {STARTED, EV(CHILD_WORKFLOW_EXECUTION_TIMED_OUT), TIMED_OUT, act_ended},
    {STARTED, EV(CHILD_WORKFLOW_EXECUTION_TERMINATED), TERMINATED, act_ended},
    {CREATED, TWE__IN_CANCEL, ABANDONED_UNSENT, act_cancel_unsent},
};
TWE__MKIND_HITS(hits, rows);

/* --- events ------------------------------------------------------------------- */

#define REF(name, member)                                                  \
  static int64_t ref_##name(const twe_event_pb_t *e) {                     \
    return e->member->initiated_event_id;                                  \
  }
REF(started, child_workflow_execution_started_event_attributes)
REF(start_failed, start_child_workflow_execution_failed_event_attributes)
REF(completed, child_workflow_execution_completed_event_attributes)
REF(failed, child_workflow_execution_failed_event_attributes)
REF(canceled, child_workflow_execution_canceled_event_attributes)
REF(timed_out, child_workflow_execution_timed_out_event_attributes)
REF(terminated, child_workflow_execution_terminated_event_attributes)

static const twe__mfollow_up_t follow_ups[] = {
    {EV(CHILD_WORKFLOW_EXECUTION_STARTED), ATTR(CHILD_WORKFLOW_EXECUTION_STARTED), ref_started,
     "initiated"},
    {EV(START_CHILD_WORKFLOW_EXECUTION_FAILED), ATTR(START_CHILD_WORKFLOW_EXECUTION_FAILED),
     ref_start_failed, "initiated"},
    {EV(CHILD_WORKFLOW_EXECUTION_COMPLETED), ATTR(CHILD_WORKFLOW_EXECUTION_COMPLETED),
     ref_completed, "initiated"},
    {EV(CHILD_WORKFLOW_EXECUTION_FAILED), ATTR(CHILD_WORKFLOW_EXECUTION_FAILED), ref_failed,
     "initiated"},
    {EV(CHILD_WORKFLOW_EXECUTION_CANCELED), ATTR(CHILD_WORKFLOW_EXECUTION_CANCELED), ref_canceled,
     "initiated"},
    {EV(CHILD_WORKFLOW_EXECUTION_TIMED_OUT), ATTR(CHILD_WORKFLOW_EXECUTION_TIMED_OUT),
     ref_timed_out, "initiated"},
    {EV(CHILD_WORKFLOW_EXECUTION_TERMINATED), ATTR(CHILD_WORKFLOW_EXECUTION_TERMINATED),
     ref_terminated, "initiated"},
};

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  const Temporal__Api__Command__V1__StartChildWorkflowExecutionCommandAttributes *a =
      c->start_child_workflow_execution_command_attributes;
  const Temporal__Api__History__V1__StartChildWorkflowExecutionInitiatedEventAttributes *b =
      e->start_child_workflow_execution_initiated_event_attributes;
  return (m->id_generated || twe__str_eq(a->workflow_id, b->workflow_id)) &&
         twe__str_eq(a->workflow_type ? a->workflow_type->name : NULL,
                b->workflow_type ? b->workflow_type->name : NULL);
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const child_machine_t *cm = (const child_machine_t *)m;
  snprintf(buf, len, "child workflow %s (id %s)", cm->type, cm->workflow_id);
}

const twe__mkind_t twe__mk_child = {
    .name = "child workflow",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .follow_ups = follow_ups,
    .n_follow_ups = sizeof follow_ups / sizeof follow_ups[0],
    .same_key = same_key,
    .cancel = cancel,
    .describe = describe,
    .hits = hits,
};

/* --- the call ------------------------------------------------------------------ */

int twe_workflow_start_child(twe_workflow_t *wf, const char *type,
                             const twe_child_options_t *opts, const twe_payload_t *args,
                             size_t nargs, twe_future_t **started, twe_future_t **result) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (started) *started = NULL;
  if (result) *result = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!type || !*type || (nargs && !args) || run->closed) return -EINVAL;
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__StartChildWorkflowExecutionCommandAttributes *s =
      twe__arena_alloc(a, sizeof *s);
  Temporal__Api__Common__V1__WorkflowType *wt = twe__arena_alloc(a, sizeof *wt);
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = twe__arena_alloc(a, sizeof *tq);
  child_machine_t *cm = twe__machine_new(run, &twe__mk_child, sizeof *cm);
  twe_future_t *fs = twe__future_new(run), *fr = twe__future_new(run);
  if (!c || !s || !wt || !tq || !cm || !fs || !fr) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__start_child_workflow_execution_command_attributes__init(s);
  temporal__api__common__v1__workflow_type__init(wt);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  /* A generated id: the parent's id and a sequence number (the same on
   * replay; not compared, like activity ids). */
  uint32_t seq = run->seq + 1;
  char idbuf[300];
  snprintf(idbuf, sizeof idbuf, "%s-child-%u", run->info.workflow_id, seq);
  bool own_id = opts && opts->workflow_id && *opts->workflow_id;
  s->workflow_id = twe__str(a, own_id ? opts->workflow_id : idbuf);
  wt->name = twe__str(a, type);
  tq->name = twe__str(a, opts && opts->task_queue && *opts->task_queue ? opts->task_queue
                                                                     : run->info.task_queue);
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  if (!s->workflow_id || !wt->name || !tq->name) return twe__arena_error(a);
  s->workflow_type = wt;
  s->task_queue = tq;
  if (nargs && (rc = twe__values_to_payloads(a, args, nargs, &s->input)) < 0) return rc;
  if (opts) {
    if ((opts->execution_timeout_ns &&
         !(s->workflow_execution_timeout = twe__duration_pb(a, opts->execution_timeout_ns))) ||
        (opts->run_timeout_ns &&
         !(s->workflow_run_timeout = twe__duration_pb(a, opts->run_timeout_ns))) ||
        (opts->task_timeout_ns &&
         !(s->workflow_task_timeout = twe__duration_pb(a, opts->task_timeout_ns))))
      return twe__arena_error(a);
    if (opts->retry_policy &&
        (rc = twe__retry_policy_to_pb(a, opts->retry_policy, &s->retry_policy)) < 0)
      return rc;
    s->parent_close_policy = (Temporal__Api__Enums__V1__ParentClosePolicy)opts->parent_close_policy;
    s->workflow_id_reuse_policy =
        (Temporal__Api__Enums__V1__WorkflowIdReusePolicy)opts->id_reuse_policy;
    if ((rc = twe__memo_pb(a, opts->memo, opts->memo_count, &s->memo)) < 0 ||
        (rc = twe__search_attributes_pb(a, opts->search_attributes,
                                        opts->search_attributes_count, &s->search_attributes)) <
            0)
      return rc;
  }
  c->command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(START_CHILD_WORKFLOW_EXECUTION);
  c->start_child_workflow_execution_command_attributes = s;
  cm->workflow_id = s->workflow_id;
  cm->type = wt->name;
  cm->cancellation_type = opts ? (int)opts->cancellation_type : 0;
  cm->started = fs;
  cm->result = fr;
  cm->m.id_generated = !own_id;
  fs->machine = &cm->m;
  fr->machine = &cm->m;
  if ((rc = twe__machine_command(run, &cm->m, c)) < 0) return rc;
  run->seq = seq;
  if ((rc = twe__scope_adopt(run, &cm->m)) < 0) return rc;
  if (started) *started = fs;
  if (result) *result = fr;
  return 0;
}
