/* engine/workflow/machine_signal_external.c — the machine of a signal sent
 * to another workflow (twe_workflow_signal_external): a
 * SIGNAL_EXTERNAL_WORKFLOW_EXECUTION command, its _INITIATED event, then
 * EXTERNAL_WORKFLOW_EXECUTION_SIGNALED (the future succeeds) or
 * SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED (it fails, naming the cause).
 *
 *   CREATED --SENT--> COMMAND_SENT --..._INITIATED--> INITIATED
 *   CREATED --..._INITIATED--> INITIATED                     (replay)
 *   INITIATED --EXTERNAL_WORKFLOW_EXECUTION_SIGNALED--> SIGNALED
 *   INITIATED --SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED--> FAILED
 *
 * Replay compares the target workflow id and the signal name. */
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

enum { CREATED, COMMAND_SENT, INITIATED, SIGNALED, FAILED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "INITIATED",
                                                  "SIGNALED", "FAILED"};

typedef struct signal_machine {
  twe__machine_t m; /* first: the common part */
  twe_future_t *future;
} signal_machine_t;

static int act_signaled(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  return twe__run_resolve_ok(run, ((signal_machine_t *)m)->future, NULL);
}

static int act_failed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)to;
  twe__machine_unindex(run, m->initiated_event_id);
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &temporal__api__enums__v1__signal_external_workflow_execution_failed_cause__descriptor,
      (int)e->signal_external_workflow_execution_failed_event_attributes->cause);
  char msg[256];
  snprintf(msg, sizeof msg, "signal to an external workflow failed: %s",
           v ? v->name : "unknown cause");
  return twe__run_resolve_error(run, ((signal_machine_t *)m)->future,
                                "SignalExternalWorkflowFailed", msg);
}

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), INITIATED,
     twe__machine_act_initiated},
    {COMMAND_SENT, EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), INITIATED,
     twe__machine_act_initiated},
    {INITIATED, EV(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED), SIGNALED, act_signaled},
    {INITIATED, EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED), FAILED, act_failed},
};
TWE__MKIND_HITS(hits, rows);

static int64_t ref_signaled(const twe_event_pb_t *e) {
  return e->external_workflow_execution_signaled_event_attributes->initiated_event_id;
}
static int64_t ref_failed(const twe_event_pb_t *e) {
  return e->signal_external_workflow_execution_failed_event_attributes->initiated_event_id;
}

static const twe__mfollow_up_t follow_ups[] = {
    {EV(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED), ATTR(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED),
     ref_signaled, "initiated"},
    {EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED), ATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED),
     ref_failed, "initiated"},
};

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m;
  const Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *a =
      c->signal_external_workflow_execution_command_attributes;
  const Temporal__Api__History__V1__SignalExternalWorkflowExecutionInitiatedEventAttributes *b =
      e->signal_external_workflow_execution_initiated_event_attributes;
  return twe__str_eq(a->signal_name, b->signal_name) &&
         twe__str_eq(a->execution ? a->execution->workflow_id : NULL,
                b->workflow_execution ? b->workflow_execution->workflow_id : NULL);
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *a =
      m->origin->signal_external_workflow_execution_command_attributes;
  snprintf(buf, len, "signal %s to workflow %s", a->signal_name, a->execution->workflow_id);
}

const twe__mkind_t twe__mk_signal_external = {
    .name = "signal external",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .follow_ups = follow_ups,
    .n_follow_ups = sizeof follow_ups / sizeof follow_ups[0],
    .same_key = same_key,
    .describe = describe,
    .hits = hits,
};

int twe_workflow_signal_external(twe_workflow_t *wf, const char *workflow_id, const char *run_id,
                                 const char *name, const twe_payload_t *args, size_t nargs,
                                 twe_future_t **out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (out) *out = NULL;
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!workflow_id || !*workflow_id || !name || !*name || (nargs && !args) || run->closed)
    return -EINVAL;
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *s =
      twe__arena_alloc(a, sizeof *s);
  Temporal__Api__Common__V1__WorkflowExecution *ex = twe__arena_alloc(a, sizeof *ex);
  twe_future_t *f = twe__future_new(run);
  signal_machine_t *sm = twe__machine_new(run, &twe__mk_signal_external, sizeof *sm);
  if (!c || !s || !ex || !f || !sm) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__signal_external_workflow_execution_command_attributes__init(s);
  temporal__api__common__v1__workflow_execution__init(ex);
  ex->workflow_id = twe__str(a, workflow_id);
  ex->run_id = twe__str(a, run_id ? run_id : "");
  s->signal_name = twe__str(a, name);
  if (!ex->workflow_id || !ex->run_id || !s->signal_name) return twe__arena_error(a);
  s->execution = ex;
  if (nargs && (rc = twe__values_to_payloads(a, args, nargs, &s->input)) < 0) return rc;
  c->command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION);
  c->signal_external_workflow_execution_command_attributes = s;
  sm->future = f;
  f->machine = &sm->m;
  if ((rc = twe__machine_command(run, &sm->m, c)) < 0) return rc;
  if (out) *out = f;
  return 0;
}
