/* engine/workflow/machine_cancel_workflow.c — the machine of a workflow
 * that ends CANCELED (twe_workflow_end_canceled): its
 * CANCEL_WORKFLOW_EXECUTION command, built when the workflow function
 * returns, and the WORKFLOW_EXECUTION_CANCELED event recorded for it.
 *
 *   CREATED --SENT--> COMMAND_SENT --WORKFLOW_EXECUTION_CANCELED--> CANCELED
 *   CREATED --WORKFLOW_EXECUTION_CANCELED--> CANCELED   (replay)
 *
 * One per run, so it has no key: matched by its event type alone. */
#include <string.h>

#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

enum { CREATED, COMMAND_SENT, CANCELED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "CANCELED"};

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(WORKFLOW_EXECUTION_CANCELED), CANCELED, NULL},
    {COMMAND_SENT, EV(WORKFLOW_EXECUTION_CANCELED), CANCELED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m, (void)c, (void)e;
  return true;
}

const twe__mkind_t twe__mk_cancel_workflow = {
    .name = "cancel workflow",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .hits = hits,
};

int twe__cancel_workflow_command(twe_run_t *run) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__CancelWorkflowExecutionCommandAttributes *attrs =
      twe__arena_alloc(a, sizeof *attrs);
  twe__machine_t *m = twe__machine_new(run, &twe__mk_cancel_workflow, sizeof *m);
  if (!c || !attrs || !m) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__cancel_workflow_execution_command_attributes__init(attrs);
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(CANCEL_WORKFLOW_EXECUTION);
  c->cancel_workflow_execution_command_attributes = attrs;
  if (twe__machine_command(run, m, c) < 0) return twe__run_oom(run);
  run->closed = true;
  return 0;
}
