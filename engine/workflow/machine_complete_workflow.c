/* engine/workflow/machine_complete_workflow.c — the machine of a workflow
 * that completes: its COMPLETE_WORKFLOW_EXECUTION command (with the result
 * twe_workflow_complete set, or null), built when the workflow function
 * returns, and the WORKFLOW_EXECUTION_COMPLETED event recorded for it.
 *
 *   CREATED --SENT--> COMMAND_SENT --WORKFLOW_EXECUTION_COMPLETED--> COMPLETED
 *   CREATED --WORKFLOW_EXECUTION_COMPLETED--> COMPLETED   (replay)
 *
 * One per run, so it has no key: matched by its event type alone. */
#include <string.h>

#include "engine/values.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

enum { CREATED, COMMAND_SENT, COMPLETED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "COMPLETED"};

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(WORKFLOW_EXECUTION_COMPLETED), COMPLETED, NULL},
    {COMMAND_SENT, EV(WORKFLOW_EXECUTION_COMPLETED), COMPLETED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m, (void)c, (void)e;
  return true;
}

const twe__mkind_t twe__mk_complete_workflow = {
    .name = "complete workflow",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .hits = hits,
};

int twe__complete_workflow_command(twe_run_t *run) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__CompleteWorkflowExecutionCommandAttributes *done =
      twe__arena_alloc(a, sizeof *done);
  twe__machine_t *m = twe__machine_new(run, &twe__mk_complete_workflow, sizeof *m);
  if (!c || !done || !m) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__complete_workflow_execution_command_attributes__init(done);
  twe_payload_pb_t *result = run->result;
  if (!result && twe__payload_new_null(a, &result) < 0) return twe__run_oom(run);
  if (twe__payloads_new(a, &result, 1, &done->result) < 0) return twe__run_oom(run);
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(COMPLETE_WORKFLOW_EXECUTION);
  c->complete_workflow_execution_command_attributes = done;
  if (twe__machine_command(run, m, c) < 0) return twe__run_oom(run);
  run->closed = true;
  return 0;
}
