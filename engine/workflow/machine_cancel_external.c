/* engine/workflow/machine_cancel_external.c — the machine of a cancel
 * request sent to another workflow (twe_workflow_cancel_external): a
 * REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION command, its _INITIATED event,
 * then EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED (the future succeeds:
 * the request reached it; the workflow decides how it ends) or
 * REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED (it fails, naming the
 * cause).
 *
 *   CREATED --SENT--> COMMAND_SENT --..._INITIATED--> INITIATED
 *   CREATED --..._INITIATED--> INITIATED                     (replay)
 *   INITIATED --EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED--> REQUESTED
 *   INITIATED --REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED--> FAILED
 *
 * Replay compares the target workflow id. */
#include <errno.h>
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

enum { CREATED, COMMAND_SENT, INITIATED, REQUESTED, FAILED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "INITIATED",
                                                  "REQUESTED", "FAILED"};

typedef struct cancel_machine {
  twe__machine_t m; /* first: the common part */
  twe_future_t *future;
} cancel_machine_t;

static int act_requested(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  return twe__run_resolve_ok(run, ((cancel_machine_t *)m)->future, NULL);
}

static int act_failed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &temporal__api__enums__v1__cancel_external_workflow_execution_failed_cause__descriptor,
      (int)e->request_cancel_external_workflow_execution_failed_event_attributes->cause);
  char msg[256];
  snprintf(msg, sizeof msg, "cancel request to an external workflow failed: %s",
           v ? v->name : "unknown cause");
  return twe__run_resolve_error(run, ((cancel_machine_t *)m)->future,
                                "CancelExternalWorkflowFailed", msg);
}

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), INITIATED,
     twe__machine_act_initiated},
    {COMMAND_SENT, EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), INITIATED,
     twe__machine_act_initiated},
    {INITIATED, EV(EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED), REQUESTED, act_requested},
    {INITIATED, EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED), FAILED, act_failed},
};
TWE__MKIND_HITS(hits, rows);

static int64_t ref_requested(const twe_event_pb_t *e) {
  return e->external_workflow_execution_cancel_requested_event_attributes->initiated_event_id;
}
static int64_t ref_failed(const twe_event_pb_t *e) {
  return e->request_cancel_external_workflow_execution_failed_event_attributes
      ->initiated_event_id;
}

static const twe__mfollow_up_t follow_ups[] = {
    {EV(EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED),
     ATTR(EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED), ref_requested, "initiated"},
    {EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED),
     ATTR(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED), ref_failed, "initiated"},
};

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m;
  const char *a = c->request_cancel_external_workflow_execution_command_attributes->workflow_id;
  const Temporal__Api__History__V1__RequestCancelExternalWorkflowExecutionInitiatedEventAttributes
      *b = e->request_cancel_external_workflow_execution_initiated_event_attributes;
  const char *bid = b->workflow_execution ? b->workflow_execution->workflow_id : NULL;
  return strcmp(a ? a : "", bid ? bid : "") == 0;
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  snprintf(buf, len, "cancel of workflow %s",
           m->origin->request_cancel_external_workflow_execution_command_attributes->workflow_id);
}

const twe__mkind_t twe__mk_cancel_external = {
    .name = "cancel external",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .follow_ups = follow_ups,
    .n_follow_ups = sizeof follow_ups / sizeof follow_ups[0],
    .same_key = same_key,
    .describe = describe,
    .hits = hits,
};

int twe__run_cancel_external(twe_run_t *run, const char *workflow_id, const char *run_id,
                             const char *reason, bool child_only, twe_future_t **out) {
  int rc;
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__RequestCancelExternalWorkflowExecutionCommandAttributes *r =
      twe__arena_alloc(a, sizeof *r);
  twe_future_t *f = twe__future_new(run);
  cancel_machine_t *cm = twe__machine_new(run, &twe__mk_cancel_external, sizeof *cm);
  if (!c || !r || !f || !cm) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__request_cancel_external_workflow_execution_command_attributes__init(
      r);
  r->workflow_id = twe__str(a, workflow_id);
  r->run_id = twe__str(a, run_id ? run_id : "");
  r->reason = twe__str(a, reason ? reason : "");
  r->child_workflow_only = child_only;
  if (!r->workflow_id || !r->run_id || !r->reason) return twe__arena_error(a);
  c->command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION);
  c->request_cancel_external_workflow_execution_command_attributes = r;
  cm->future = f;
  f->machine = &cm->m;
  if ((rc = twe__machine_command(run, &cm->m, c)) < 0) return rc;
  if (out) *out = f;
  return 0;
}

int twe_workflow_cancel_external(twe_workflow_t *wf, const char *workflow_id, const char *run_id,
                                 const char *reason, twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (out) *out = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!workflow_id || !*workflow_id || run->closed) return -EINVAL;
  return twe__run_cancel_external(run, workflow_id, run_id, reason, false, out);
}
